/**
 * `viofs serve --poll-max`: a request queue the daemon has just drained is
 * polled for a while before it sleeps (host/device.ts), with the driver's
 * kicks suppressed meanwhile. Seen from a real guest driver: requests that
 * follow one another closely need no kick once the window has grown, and
 * with --poll-max=0 every request is kicked. Requests are answered the same
 * either way.
 *
 * The requests come a millisecond apart. Back to back, a driver on the daemon's
 * CPU often queues its next request before the daemon has re-enabled
 * notifications (the daemon yields its CPU after each reply's interrupt:
 * host/device.ts, HAND_OFF), and needs no kick even unpolled.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FUSE_ROOT_ID } from "../../src/fuse/abi.js";
import { VirtioFsDriver } from "../../src/guest/driver.js";
import { FuseSession } from "../../src/guest/session.js";
import { scratchDir } from "../scratch.js";
import { start, stopAtEnd } from "./viofs-process.js";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Requests counted, after as many uncounted ones (a fresh client and daemon run their first requests slowly, while they compile). */
const REQUESTS = 400;

/** Serves a fresh share with `--poll-max=pollUs`, sends LOOKUP and GETATTR one at a time, a millisecond apart, and returns the request queue's kicks for the last REQUESTS. */
async function kicksFor(t: TestContext, pollUs: number): Promise<{ kicks: number; submitted: number }> {
  const dir = scratchDir(t, "viofs-poll-");
  const share = join(dir, "share");
  mkdirSync(share);
  writeFileSync(join(share, "f"), "x");
  const socket = join(dir, "vhost.sock");
  const server = stopAtEnd(t, start(["serve", `--socket-path=${socket}`, `--shared-dir=${share}`, "--sandbox=none", "--warmup=0", `--poll-max=${pollUs}`]));
  await server.waitFor(/waiting for a vhost-user connection/);
  const driver = await VirtioFsDriver.connect(socket);
  try {
    const session = await FuseSession.init(driver, { forgetDelayMs: 0 });
    let before = driver.queueStats()[1]!;
    for (let i = 0; i < REQUESTS; i++) {
      if (i === REQUESTS / 2) before = driver.queueStats()[1]!;
      await sleep(1);
      const entry = await session.lookup(FUSE_ROOT_ID, "f");
      assert.equal(entry.attr.size, 1n);
      await sleep(1);
      const attr = await session.getattr(entry.nodeid);
      assert.equal(attr.attr.size, 1n);
    }
    const after = driver.queueStats()[1]!;
    await session.close();
    return { kicks: after.kicks - before.kicks, submitted: after.submitted - before.submitted };
  } finally {
    driver.close();
  }
}

test("--poll-max: a polled queue takes requests a millisecond apart without kicks; with 0, each request is kicked", async (t) => {
  const off = await kicksFor(t, 0);
  // The window starts at 4 µs and doubles after each wait it missed that was shorter than the maximum;
  // a generous maximum keeps this independent of how fast this machine turns a reply into the next request.
  const on = await kicksFor(t, 20_000);
  assert.equal(off.submitted, REQUESTS);
  assert.equal(on.submitted, REQUESTS);
  // A kick is decided after the request is queued: one the daemon already took needs none, even unpolled.
  assert.ok(off.kicks >= REQUESTS * 0.75, `unpolled: ${off.kicks} kicks for ${REQUESTS} requests`);
  assert.ok(on.kicks < REQUESTS / 2 && on.kicks < off.kicks / 2, `polled: ${on.kicks} kicks for ${REQUESTS} requests (unpolled: ${off.kicks})`);
});
