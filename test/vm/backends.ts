/**
 * vhost-user-fs backends the VM tests boot a guest against: QEMU's C
 * virtiofsd (the reference) and `viofs serve` (the device under test). Both
 * take the same inputs (a shared directory and a socket path to listen on),
 * so a test switches backend by name and nothing else.
 */
import { execFileSync, spawn, type StdioOptions } from "node:child_process";
import { closeSync, rmSync, statSync } from "node:fs";
import { listenUnix } from "../../src/sys/socket.js";
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

export type BackendName = "virtiofsd" | "viofs" | "viofs-libvirt";

export interface Backend {
  readonly name: BackendName;
  start(sharedDir: string, socketPath: string): Promise<BackendHandle>;
}

/** QEMU's C virtiofsd, as libvirt would start it for a cache=auto share with xattrs. */
export function startVirtiofsd(sharedDir: string, socketPath: string): Promise<BackendHandle> {
  return spawnDaemon("virtiofsd", [
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
  return spawnDaemon("viofs", [
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

/**
 * `viofs serve` started the way libvirt starts virtiofsd: `--print-capabilities`
 * first, then the daemon gets a socket libvirt already bound and listens on
 * (`--fd=3`) and C virtiofsd's `-o` option list, with the default (namespace)
 * sandbox.
 */
export async function startViofsLibvirt(sharedDir: string, socketPath: string): Promise<BackendHandle> {
  const bin = join(repoRoot(), "bin", "viofs.js");
  const caps = execFileSync(process.execPath, [bin, "serve", "--print-capabilities"], { encoding: "utf8" });
  const parsed = JSON.parse(caps) as { type?: unknown };
  if (parsed.type !== "fs") throw new Error(`test/vm: viofs serve --print-capabilities printed ${caps}`);
  rmSync(socketPath, { force: true });
  const listenFd = listenUnix(socketPath);
  return spawnDaemon(
    "viofs-libvirt",
    [process.execPath, bin, "serve", "--fd=3", "-o", `source=${sharedDir},cache=auto,xattr`, "--thread-pool-size=0"],
    sharedDir,
    socketPath,
    listenFd,
  );
}

export const BACKENDS: Record<BackendName, Backend> = {
  virtiofsd: { name: "virtiofsd", start: startVirtiofsd },
  viofs: { name: "viofs", start: startViofsServe },
  "viofs-libvirt": { name: "viofs-libvirt", start: startViofsLibvirt },
};

/** How long a daemon may take to create its socket. */
const READY_TIMEOUT_MS = 15_000;

/**
 * Spawns a daemon and resolves once `socketPath` is a socket (rejecting with
 * its output when it exits first or takes longer than 15 s).
 */
export async function spawnDaemon(
  name: BackendName,
  argv: string[],
  sharedDir: string,
  socketPath: string,
  /** A socket already listening at `socketPath`, handed to the daemon as fd 3 (and closed here). */
  listenFd?: number,
): Promise<BackendHandle> {
  if (listenFd === undefined) rmSync(socketPath, { force: true }); // a stale socket would look ready
  const [program, ...args] = argv as [string, ...string[]];
  const stdio: StdioOptions = listenFd === undefined ? ["ignore", "pipe", "pipe"] : ["ignore", "pipe", "pipe", listenFd];
  const child = spawn(program, args, { stdio });
  if (listenFd !== undefined) closeSync(listenFd);
  let output = "";
  const collect = (chunk: Buffer): void => {
    output += chunk.toString("utf8");
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
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
