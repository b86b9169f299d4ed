/** Shared pieces of the guest-side tests: a connected session per backend, and small waits. */
import type { TestContext } from "node:test";
import { ErrnoError } from "../../src/common/errors.js";
import { Errno } from "../../src/common/errno.js";
import { VirtioFsDriver, type DriverOptions } from "../../src/guest/driver.js";
import { FuseSession, type SessionOptions } from "../../src/guest/session.js";
import type { Backend, BackendFactory } from "./backends.js";

export interface Connected {
  backend: Backend;
  driver: VirtioFsDriver;
  session: FuseSession;
}

/**
 * Starts `factory`'s daemon, connects a driver and opens a session; the
 * test's teardown closes the session and waits for the daemon to exit.
 */
export async function connect(
  t: TestContext,
  factory: BackendFactory,
  options: { driver?: DriverOptions; session?: SessionOptions } = {},
): Promise<Connected> {
  const backend = await factory.start();
  let driver: VirtioFsDriver | undefined;
  t.after(async () => {
    driver?.close();
    await backend.stop();
  });
  driver = await connectDriver(backend.socketPath, options.driver);
  const session = await FuseSession.init(driver, options.session);
  return { backend, driver, session };
}

/**
 * Runs `connect`, again while it fails with ECONNREFUSED, for up to 5 s: a
 * daemon's socket file appears at bind(), a moment before it listens.
 * Every other failure, and the last refusal, is the caller's.
 */
export async function whileRefused<T>(connect: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      return await connect();
    } catch (error) {
      if (!(ErrnoError.is(error) && error.errno === Errno.ECONNREFUSED) || Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** Connects a driver, retrying while the daemon has bound its socket but is not listening yet. */
export function connectDriver(socketPath: string, options?: DriverOptions): Promise<VirtioFsDriver> {
  return whileRefused(() => VirtioFsDriver.connect(socketPath, options));
}

/** Polls `test` every 10 ms until it holds, or fails after `ms` with `what`. */
export async function until(test: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Resolves with how a promise settled, without throwing. */
export async function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    return { ok: false, error };
  }
}
