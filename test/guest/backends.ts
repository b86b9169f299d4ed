/**
 * vhost-user-fs backends the guest-side tests run against, each as a
 * factory: QEMU's C virtiofsd first (the reference), then `viofs serve` once
 * the CLI has that command (it needs the compiled `dist/`). Every test starts
 * its own daemon on a fresh directory; both daemons serve one connection and
 * exit when it ends.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_RETENTION } from "../../src/passthrough/inodes.js";

export const VIRTIOFSD = "/usr/lib/qemu/virtiofsd";

/** A running backend. */
export interface Backend {
  readonly name: string;
  /** The shared directory (the host side of the share). */
  readonly dir: string;
  readonly socketPath: string;
  readonly child: ChildProcess;
  /** Settles when the daemon exits: its exit code, or the signal's name. */
  readonly exited: Promise<number | string>;
  /** Everything the daemon printed. */
  log(): string;
  /**
   * The pid of the process that serves requests: the daemon, or the
   * sandboxed child it forked (virtiofsd's namespace sandbox forks once).
   */
  servingPid(): number;
  /** Open fds of the serving process. */
  fdCount(): number;
  /** Sends `signal` to the daemon and its children (SIGKILL by default; SIGSTOP/SIGCONT pause and resume it). */
  kill(signal?: NodeJS.Signals): void;
  /**
   * SIGSTOP to the daemon and its children, resolving once every thread of
   * each is stopped. Stopping is asynchronous (each thread stops when the
   * kernel next handles its signals), so a request sent right after
   * `kill("SIGSTOP")` could still be served by a thread not yet stopped.
   */
  pause(): Promise<void>;
  /** Waits for the daemon to exit (SIGKILL after `graceMs`), then removes the directory. */
  stop(graceMs?: number): Promise<void>;
}

export interface BackendFactory {
  readonly name: string;
  /** Operations the backend answers ENOSYS (the suite checks that, and the behaviour of the rest). */
  readonly enosys: ReadonlySet<Operation>;
  /** Whether the backend survives INTERRUPTs (QEMU 7.2's virtiofsd does not: see SessionOptions.interrupts). */
  readonly interruptSafe: boolean;
  /** How long the backend keeps a forgotten inode's fd open (viofs serve retains them, see src/passthrough/inodes.ts; 0: closed at FORGET). */
  readonly forgottenFdMs: number;
  start(): Promise<Backend>;
}

/** Optional operations whose support differs between backends. */
export type Operation = "tmpfile" | "statx" | "posixLocks" | "access" | "bmap" | "poll" | "ioctl";

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("test/guest: cannot find the repository root");
    dir = up;
  }
  return dir;
}

/** The children of every thread of `pid` (a child forked by another thread than the first is listed under that thread only). */
function children(pid: number): number[] {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const task of tasks) {
    try {
      out.push(...readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

/** `pid` and its descendants, parents first. */
function tree(pid: number): number[] {
  const pids = [pid];
  for (let i = 0; i < pids.length; i++) pids.push(...children(pids[i]!));
  return pids;
}

/** Whether every thread of `pid` is stopped (state T or t), or the process is gone. */
function allStopped(pid: number): boolean {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return true;
  }
  return tasks.every((task) => {
    try {
      // The state follows the parenthesised command name, which may itself hold spaces or parentheses.
      const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, "utf8");
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      return state === "T" || state === "t";
    } catch {
      return true;
    }
  });
}

async function launch(name: string, argv: string[], dir: string, socketPath: string): Promise<Backend> {
  const [program, ...args] = argv as [string, ...string[]];
  const child = spawn(program, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (s: string) => (output += s));
  child.stderr!.setEncoding("utf8").on("data", (s: string) => (output += s));
  let done = false;
  const exited = new Promise<number | string>((resolve) =>
    child.on("close", (code, signal) => {
      done = true;
      resolve(code ?? signal ?? "unknown");
    }),
  );
  const deadline = Date.now() + 15_000;
  for (;;) {
    let ready = false;
    try {
      ready = statSync(socketPath).isSocket();
    } catch {
      ready = false;
    }
    if (ready) break;
    if (done || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${name} did not listen on ${socketPath}:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  let serving: number | null = null;
  const backend: Backend = {
    name,
    dir,
    socketPath,
    child,
    exited,
    log: () => output,
    servingPid() {
      if (serving !== null) return serving;
      let pid = child.pid!;
      for (let kids = children(pid); kids.length > 0; kids = children(pid)) pid = kids[0]!;
      serving = pid;
      return pid;
    },
    fdCount() {
      return readdirSync(`/proc/${backend.servingPid()}/fd`).length;
    },
    kill(signal = "SIGKILL") {
      for (const pid of tree(child.pid!).reverse()) {
        try {
          process.kill(pid, signal);
        } catch {
          // Already gone.
        }
      }
    },
    async pause() {
      backend.kill("SIGSTOP");
      const deadline = Date.now() + 5000;
      while (!tree(child.pid!).every(allStopped)) {
        if (Date.now() > deadline) throw new Error(`${name}: not every thread stopped 5 s after SIGSTOP`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    async stop(graceMs = 5000) {
      const timer = setTimeout(() => backend.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return backend;
}

function scratch(name: string): { dir: string; share: string; socketPath: string } {
  const dir = mkdtempSync(join(tmpdir(), `viofs-guest-${name}-`));
  const share = join(dir, "share");
  mkdirSync(share);
  return { dir, share, socketPath: join(dir, "vhost.sock") };
}

/** Launches a backend whose scratch directory is `dir`: its stop removes `dir`, and so does a launch that fails. */
async function launchIn(dir: string, name: string, argv: string[], share: string, socketPath: string): Promise<Backend> {
  let backend: Backend;
  try {
    backend = await launch(name, argv, share, socketPath);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const stop = backend.stop;
  return {
    ...backend,
    async stop(graceMs?: number) {
      await stop.call(backend, graceMs);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** QEMU's C virtiofsd, as libvirt starts it for a cache=auto share with xattrs. */
export const virtiofsd: BackendFactory = {
  name: "virtiofsd",
  // QEMU 7.2's daemon: FUSE 7.36 (no TMPFILE, no STATX), remote POSIX locks off by default, no ACCESS handler.
  enosys: new Set<Operation>(["tmpfile", "statx", "posixLocks", "access", "bmap", "poll", "ioctl"]),
  interruptSafe: false,
  forgottenFdMs: 0,
  async start() {
    const { dir, share, socketPath } = scratch("virtiofsd");
    return launchIn(dir, "virtiofsd", [VIRTIOFSD, `--socket-path=${socketPath}`, "-o", `source=${share}`, "-o", "cache=auto", "-o", "xattr"], share, socketPath);
  },
};

/** This project's `viofs serve` (compiled `dist/`) with the flags that mirror virtiofsd's (`--cache=auto --xattr --sandbox=none`), and `extraArgs`. */
export function viofsServeWith(extraArgs: readonly string[], name = `viofs serve ${extraArgs.join(" ")}`.trim()): BackendFactory {
  return {
    name,
    enosys: new Set<Operation>(["bmap", "poll", "ioctl"]),
    interruptSafe: true,
    forgottenFdMs: DEFAULT_RETENTION.ms,
    async start() {
      const { dir, share, socketPath } = scratch("viofs");
      const bin = join(repoRoot(), "bin", "viofs.js");
      return launchIn(
        dir,
        name,
        [process.execPath, bin, "serve", `--socket-path=${socketPath}`, `--shared-dir=${share}`, "--cache=auto", "--xattr", "--sandbox=none", ...extraArgs],
        share,
        socketPath,
      );
    },
  };
}

/** `viofs serve` as the tests run it. */
export const viofsServe: BackendFactory = viofsServeWith([]);

/** Whether the compiled CLI has a `serve` command yet. */
function viofsServeAvailable(): boolean {
  const bin = join(repoRoot(), "bin", "viofs.js");
  if (!existsSync(join(repoRoot(), "dist", "src", "cli", "main.js"))) return false;
  const help = spawnSync(process.execPath, [bin, "help"], { encoding: "utf8" });
  return /^\s+serve\s/m.test(help.stdout ?? "");
}

/** The backends every guest-side test runs against: virtiofsd first. */
export const BACKENDS: readonly BackendFactory[] = [virtiofsd, ...(viofsServeAvailable() ? [viofsServe] : [])];
