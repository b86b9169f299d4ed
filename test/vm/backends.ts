/**
 * vhost-user-fs backends the VM tests boot a guest against: QEMU's C
 * virtiofsd (the reference) and `viofs serve` (the device under test). Both
 * take the same inputs (a shared directory and a socket path to listen on),
 * so a test switches backend by name and nothing else.
 */
import { spawn } from "node:child_process";
import { rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { repoRoot } from "./image.js";

export const VIRTIOFSD = "/usr/lib/qemu/virtiofsd";

export interface BackendExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A running backend, listening on `socketPath`. */
export interface BackendHandle {
  readonly name: BackendName;
  readonly socketPath: string;
  readonly sharedDir: string;
  readonly pid: number;
  /** Settles when the process exits. Both daemons exit by themselves when their one client (QEMU) disconnects. */
  readonly exited: Promise<BackendExit>;
  /** Everything the process wrote to stdout and stderr so far. */
  log(): string;
  /** Waits up to `graceMs` (default 2000) for the process to exit, then SIGTERM, then SIGKILL after 2 s more. */
  stop(graceMs?: number): Promise<BackendExit>;
}

export type BackendName = "virtiofsd" | "viofs";

export interface Backend {
  readonly name: BackendName;
  start(sharedDir: string, socketPath: string): Promise<BackendHandle>;
}

/** QEMU's C virtiofsd, as libvirt would start it for a cache=auto share with xattrs. */
export function startVirtiofsd(sharedDir: string, socketPath: string): Promise<BackendHandle> {
  return startDaemon("virtiofsd", [
    VIRTIOFSD,
    `--socket-path=${socketPath}`,
    "-o", `source=${sharedDir}`,
    "-o", "cache=auto",
    "-o", "xattr",
  ], sharedDir, socketPath);
}

/**
 * This project's host device, `viofs serve`, with the flags that mirror
 * {@link startVirtiofsd}'s. Runs `bin/viofs.js`, which loads the compiled
 * `dist/src` (so build first: `npx tsc -p .`). The namespace sandbox is off so
 * that the host paths the tests check are the paths the daemon used.
 */
export function startViofsServe(sharedDir: string, socketPath: string): Promise<BackendHandle> {
  return startDaemon("viofs", [
    process.execPath,
    join(repoRoot(), "bin", "viofs.js"),
    "serve",
    `--socket-path=${socketPath}`,
    `--shared-dir=${sharedDir}`,
    "--cache=auto",
    "--xattr",
    "--sandbox=none",
  ], sharedDir, socketPath);
}

export const BACKENDS: Record<BackendName, Backend> = {
  virtiofsd: { name: "virtiofsd", start: startVirtiofsd },
  viofs: { name: "viofs", start: startViofsServe },
};

/** How long a daemon may take to create its socket. */
const READY_TIMEOUT_MS = 15_000;

async function startDaemon(
  name: BackendName,
  argv: string[],
  sharedDir: string,
  socketPath: string,
): Promise<BackendHandle> {
  rmSync(socketPath, { force: true }); // a stale socket would look ready
  const [program, ...args] = argv as [string, ...string[]];
  const child = spawn(program, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const collect = (chunk: Buffer): void => {
    output += chunk.toString("utf8");
  };
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  let done: BackendExit | undefined;
  const exited = new Promise<BackendExit>((resolve) => {
    child.on("close", (code, signal) => {
      done = { code, signal };
      resolve(done);
    });
    child.on("error", (e) => {
      output += `spawn ${program}: ${e.message}\n`;
      done = { code: null, signal: null };
      resolve(done);
    });
  });
  const describe = (): string => `${argv.join(" ")}\n--- output:\n${output.trim()}`;

  const deadline = performance.now() + READY_TIMEOUT_MS;
  while (!isSocket(socketPath)) {
    if (done) throw new Error(`test/vm: ${name} exited (${done.signal ?? `status ${done.code}`}) before listening:\n${describe()}`);
    if (performance.now() > deadline) {
      child.kill("SIGKILL");
      await exited;
      throw new Error(`test/vm: ${name} did not create ${socketPath} within ${READY_TIMEOUT_MS} ms:\n${describe()}`);
    }
    await sleep(20);
  }

  return {
    name,
    socketPath,
    sharedDir,
    pid: child.pid ?? -1,
    exited,
    log: () => output,
    async stop(graceMs = 2000): Promise<BackendExit> {
      const settled = (ms: number): Promise<boolean> =>
        Promise.race([exited.then(() => true), sleep(ms).then(() => false)]);
      if (done || (await settled(graceMs))) return exited;
      child.kill("SIGTERM");
      if (await settled(2000)) return exited;
      child.kill("SIGKILL");
      return exited;
    },
  };
}

function isSocket(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}
