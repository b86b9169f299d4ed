/**
 * Sandboxing of `viofs serve`, after virtiofsd's `sandbox.rs` and `limits.rs`.
 *
 * - `namespace` (default): the server runs in new mount, pid and network
 *   namespaces whose root is the shared directory (pivot_root), with no way
 *   back to the host's tree.
 * - `chroot`: chroot(2) into the shared directory, for containers that may
 *   not create namespaces (root only, as in virtiofsd).
 * - `none`: no isolation.
 *
 * Node runs threads (libuv's pool, koffi's async calls) beside the main
 * thread, and unshare(2) moves only the calling thread; CLONE_NEWPID needs a
 * fork besides. So the namespaces are made by a launcher: the first process
 * creates the listening socket in the host's namespaces (where QEMU finds
 * its path), then runs itself again under util-linux `unshare --mount --pid
 * --net --fork` with the listening fd inherited and {@link SANDBOX_ENV} set.
 * That second process is in the new namespaces from its first instruction,
 * every thread included; it loads all its modules (static imports: our code
 * and koffi's native library), then makes the mounts and pivots the root
 * from the main thread, which moves every thread of the namespace. The first
 * process waits, forwards SIGTERM/SIGINT/SIGHUP, removes the socket file at
 * the end and exits with the second one's code.
 *
 * Inside, /proc is replaced by a small tmpfs holding only `/proc/self/fd`,
 * a bind of the new pid namespace's fd directory, opened once through
 * {@link procSelfFd} before pivot_root (the passthrough layer reopens
 * O_PATH inodes through it). After the old root is detached, that bind is a
 * mount of its own: `..` from it leads nowhere, as virtiofsd's bind of
 * /proc/self/fd over /proc.
 */
import { spawn, spawnSync } from "node:child_process";
import { closeSync, fstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync, writeSync } from "node:fs";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { log } from "../common/log.js";
import { ErrnoError } from "../common/errors.js";
import { Errno, errnoMessage } from "../common/errno.js";
import { UsageError } from "../common/usage.js";
import {
  AT_FDCWD,
  MNT_DETACH,
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_REC,
  MS_RELATIME,
  MS_SLAVE,
  O_DIRECTORY,
  O_PATH,
  O_RDONLY,
  RLIMIT_NOFILE,
} from "../sys/constants.js";
import { chroot, getNoNewPrivs, getrlimit, limitCapabilities, mount, openat, pivotRoot, procSelfFd, renewProcSelfFd, reopen, setNoNewPrivs, setParentDeathSignal, setrlimit, umount2 } from "../sys/index.js";

export type SandboxMode = "namespace" | "chroot" | "none";

/** The environment variable that tells the re-executed process it runs inside the namespaces. */
export const SANDBOX_ENV = "VIOFS_SANDBOX";

/** Set to 1, the served process prints a {@link SandboxView} as JSON on stdout once sandboxed, and exits 0 (a test hook). */
export const SANDBOX_PROBE_ENV = "VIOFS_SANDBOX_PROBE";

/** The fds the launcher gives the process inside: the listening socket and a report channel. */
const CHILD_LISTEN_FD = 3;
const CHILD_REPORT_FD = 4;

/** virtiofsd's MAX_MEM_SLOTS + 100: fds kept for memory regions, eventfds and the process itself. */
export const INTERNAL_FD_RESERVE = 509 + 100;
/** The open-file limit virtiofsd sets when none is asked for (lowered to fs.nr_open). */
export const DEFAULT_NOFILE = 1_000_000;

/** What the launcher hands the process inside the namespaces (through {@link SANDBOX_ENV}). */
interface SandboxMarker {
  listenFd: number;
  reportFd: number;
  /** The launcher's mount namespace (`/proc/self/ns/mnt`): the child must be in another one. */
  mountNamespace: string;
}

/** The process inside the namespaces, as {@link sandboxChild} finds it. */
export interface SandboxChild {
  /** The inherited listening socket. */
  listenFd: number;
  /** Tells the launcher this process's pid (in the launcher's pid namespace), so that it can forward signals. */
  reportPid(): void;
  /** Tells the launcher the sandbox is entered, and closes the report channel. */
  reportReady(): void;
}

// ---- open-file limit ----

export interface FileLimit {
  /** RLIMIT_NOFILE now in force (soft = hard). */
  limit: number;
  /** How many fds the guest may make the server hold: the limit less {@link INTERNAL_FD_RESERVE} and one per pool thread. */
  fdBudget: number;
}

/**
 * Sets RLIMIT_NOFILE as virtiofsd does: `requested` (soft and hard), or by
 * default min(1,000,000, /proc/sys/fs/nr_open) unless the soft limit is
 * already higher; when the default cannot be set, the soft limit is raised
 * to the hard one. Returns the limit and the guest's fd budget. Call before
 * the sandbox hides /proc.
 */
export function setupFileLimit(requested: number | undefined, threadPoolSize: number): FileLimit {
  const current = getrlimit(RLIMIT_NOFILE);
  const max = Number(readFileSync("/proc/sys/fs/nr_open", "utf8").trim());
  let limit: number;
  if (requested === undefined && current.soft >= BigInt(DEFAULT_NOFILE)) {
    limit = Number(current.soft);
  } else {
    const target = requested ?? Math.min(DEFAULT_NOFILE, max);
    if (target > max) {
      throw new UsageError(`--rlimit-nofile=${target} is above the system's maximum of ${max} (/proc/sys/fs/nr_open); ask for less`, 1);
    }
    try {
      setrlimit(RLIMIT_NOFILE, { soft: BigInt(target), hard: BigInt(target) });
      limit = target;
    } catch (error) {
      if (requested !== undefined) {
        throw new UsageError(`cannot set the open-file limit to ${requested}: ${describe(error)}; run as root or ask for at most ${current.hard}`, 1);
      }
      log.warn(`cannot raise the open-file limit to ${target} (${describe(error)}); using the hard limit ${current.hard}`);
      setrlimit(RLIMIT_NOFILE, { soft: current.hard, hard: current.hard });
      limit = Number(current.hard);
    }
  }
  const reserve = INTERNAL_FD_RESERVE + Math.max(threadPoolSize, 1);
  const fdBudget = limit - reserve;
  if (fdBudget <= 0) throw new UsageError(`the open-file limit ${limit} is too small; it must be above ${reserve} (raise --rlimit-nofile)`, 1);
  if (fdBudget < 128) log.warn(`the open-file limit leaves only ${fdBudget} fds for the guest`);
  return { limit, fdBudget };
}

// ---- privileges ----

/**
 * Drops supplementary groups when running as root (CVE-2022-0358: a
 * server keeping root's groups lets a guest create setgid files of them).
 */
export function dropSupplementaryGroups(): void {
  if (process.geteuid?.() !== 0 || !process.setgroups) return;
  if ((process.getgroups?.() ?? []).length === 0) return;
  process.setgroups([]);
}

/**
 * The last step before serving: no privileges through execve any more
 * (PR_SET_NO_NEW_PRIVS), SIGTERM when the parent dies (for the process a
 * launcher started), and only `capabilities` left to the calling thread
 * (virtiofsd's set by default: without CAP_SYS_ADMIN a guest cannot set
 * `trusted.*` or `security.*` xattrs).
 */
export function restrictPrivileges(options: { parentDeathSignal?: NodeJS.Signals; capabilities?: bigint } = {}): void {
  setNoNewPrivs();
  if (options.parentDeathSignal) setParentDeathSignal(options.parentDeathSignal);
  if (options.capabilities !== undefined) limitCapabilities(options.capabilities);
}

// ---- namespace: the launcher side ----

export interface LaunchOptions {
  /** The listening fd, passed on as fd 3. */
  listenFd: number;
  /** The command that runs viofs again: node, its options, the script and the same arguments. */
  command: string[];
  /** Called once the process inside has the fd (the launcher then closes its own copy). */
  spawned(): void;
}

/**
 * Runs `command` in new mount, pid and network namespaces through util-linux
 * `unshare`, with the listening fd inherited, and waits for it. SIGTERM,
 * SIGINT and SIGHUP are forwarded to it. Resolves with its exit code (0
 * when it ended because a signal asked it to).
 */
export async function runInNamespaces(options: LaunchOptions): Promise<number> {
  const unshareArgs = ["--mount", "--pid", "--net", "--fork", "--kill-child"];
  checkNamespacesAllowed(unshareArgs);
  const [program, ...args] = options.command;
  const marker: SandboxMarker = {
    listenFd: CHILD_LISTEN_FD,
    reportFd: CHILD_REPORT_FD,
    mountNamespace: readlinkSync("/proc/self/ns/mnt"),
  };
  const child = spawn("unshare", [...unshareArgs, "--", program!, ...args], {
    stdio: ["inherit", "inherit", "inherit", options.listenFd, "pipe"],
    env: { ...process.env, [SANDBOX_ENV]: JSON.stringify(marker) },
  });
  options.spawned();

  let innerPid: number | null = null;
  let stopSignal: NodeJS.Signals | null = null;
  const report = child.stdio[CHILD_REPORT_FD] as Readable | null;
  if (report) {
    createInterface({ input: report }).on("line", (line) => {
      try {
        const message = JSON.parse(line) as { pid?: number };
        if (typeof message.pid === "number") {
          innerPid = message.pid;
          if (stopSignal) signalQuietly(innerPid, stopSignal);
        }
      } catch {
        log.debug(`sandbox: unreadable report '${line}'`);
      }
    });
  }
  const forward = (signal: NodeJS.Signals): void => {
    stopSignal ??= signal;
    // Before the process inside has its handlers it may not take SIGTERM
    // (a pid namespace's init ignores signals it does not handle): kill the
    // unshare process instead, whose --kill-child then sends SIGKILL.
    if (innerPid !== null) signalQuietly(innerPid, signal);
    else child.kill("SIGKILL");
  };
  const signals: NodeJS.Signals[] = ["SIGTERM", "SIGINT", "SIGHUP"];
  for (const signal of signals) process.on(signal, forward);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once("error", (error) => reject(error));
      child.once("exit", (code, signal) => {
        if (code !== null) resolve(code);
        else if (stopSignal !== null) resolve(0);
        else {
          log.error(`the sandboxed server was killed by ${signal}`);
          resolve(1);
        }
      });
    });
  } finally {
    for (const signal of signals) process.off(signal, forward);
  }
}

/** Refuses, in one line, when `unshare` is missing or namespaces may not be created here. */
function checkNamespacesAllowed(unshareArgs: string[]): void {
  const probe = spawnSync("unshare", [...unshareArgs, "true"], { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  if (probe.error) {
    const code = (probe.error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      throw new UsageError("--sandbox=namespace needs util-linux's 'unshare', which is not in PATH; install util-linux, or use --sandbox=chroot or --sandbox=none", 1);
    }
    throw new UsageError(`cannot run 'unshare' for --sandbox=namespace: ${code ?? probe.error.message}`, 1);
  }
  if (probe.status !== 0) {
    const reason = (probe.stderr ?? "").trim().split("\n")[0]?.replace(/^unshare:\s*/, "") || `exit status ${probe.status}`;
    throw new UsageError(`cannot create namespaces for --sandbox=namespace (${reason}); run as root, or use --sandbox=chroot or --sandbox=none`, 1);
  }
}

// ---- namespace: the process inside ----

/**
 * When this process was started by {@link runInNamespaces}: its fds and
 * report channel. Checks that it really is inside new namespaces (pid 1, a
 * mount namespace other than the launcher's) before anything is mounted,
 * so that a stray environment variable cannot make it pivot the host's
 * root. Returns null when {@link SANDBOX_ENV} is not set. Removes the
 * variable from the environment.
 */
export function sandboxChild(): SandboxChild | null {
  const text = process.env[SANDBOX_ENV];
  if (text === undefined) return null;
  delete process.env[SANDBOX_ENV];
  let marker: SandboxMarker;
  try {
    marker = JSON.parse(text) as SandboxMarker;
  } catch {
    throw new UsageError(`${SANDBOX_ENV} is set but unreadable; unset it`, 1);
  }
  const mountNamespace = readlinkSync("/proc/self/ns/mnt");
  if (process.pid !== 1 || mountNamespace === marker.mountNamespace || !Number.isInteger(marker.listenFd) || !Number.isInteger(marker.reportFd)) {
    throw new UsageError(`${SANDBOX_ENV} is set but this process is not inside new namespaces; unset it`, 1);
  }
  const send = (message: object): void => {
    try {
      writeSync(marker.reportFd, `${JSON.stringify(message)}\n`);
    } catch {
      // The launcher is gone; PR_SET_PDEATHSIG ends this process.
    }
  };
  let reportOpen = true;
  return {
    listenFd: marker.listenFd,
    reportPid: () => {
      // /proc still is the launcher's procfs here: "self" names this process in the launcher's pid namespace.
      if (reportOpen) send({ pid: Number(readlinkSync("/proc/self")) });
    },
    reportReady: () => {
      if (!reportOpen) return;
      send({ ready: true });
      reportOpen = false;
      closeSync(marker.reportFd);
    },
  };
}

/**
 * Inside new mount and pid namespaces: makes `sharedDir` the root. Every
 * mount stays in this namespace (MS_SLAVE); /proc becomes a tmpfs with only
 * the bind of /proc/self/fd, whose fd {@link procSelfFd} keeps; the shared
 * directory, bound onto itself (with its submounts), becomes `/` by
 * pivot_root and the old root is detached.
 */
export function enterNamespaceRoot(sharedDir: string): void {
  const root = realpathSync(sharedDir);
  step("make the mounts private to the sandbox", () => mount(null, "/", null, MS_SLAVE | MS_REC));
  const flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  step("mount a tmpfs on /proc", () => mount("tmpfs", "/proc", "tmpfs", flags, "mode=0755,size=64k"));
  mkdirSync("/proc/self/fd", { recursive: true });
  mkdirSync("/proc/.proc");
  step("mount a fresh proc", () => mount("proc", "/proc/.proc", "proc", flags | MS_RELATIME));
  step("bind /proc/self/fd", () => mount("/proc/.proc/self/fd", "/proc/self/fd", null, MS_BIND));
  step("detach the fresh proc", () => umount2("/proc/.proc", MNT_DETACH));
  // Not an fd kept from before (the warm-up reopens files too): this namespace's.
  renewProcSelfFd();
  if (root !== "/") {
    step(`bind ${root} onto itself`, () => mount(root, root, null, MS_BIND | MS_REC));
    process.chdir(root);
    step("pivot_root into the shared directory", () => pivotRoot(".", "."));
    // "." now resolves to the old root, stacked on the new one.
    step("keep the old root's unmount private", () => mount(null, ".", null, MS_SLAVE | MS_REC));
    step("detach the old root", () => umount2(".", MNT_DETACH));
  }
  process.chdir("/");
}

/** chroot(2) into `sharedDir` (after keeping an fd of /proc/self/fd for reopening inodes). Needs CAP_SYS_CHROOT. */
export function enterChroot(sharedDir: string): void {
  const root = realpathSync(sharedDir);
  renewProcSelfFd();
  try {
    chroot(root);
  } catch (error) {
    if (ErrnoError.is(error) && error.errno === Errno.EPERM) {
      throw new UsageError("--sandbox=chroot needs root (CAP_SYS_CHROOT); run as root or use --sandbox=none", 1);
    }
    throw error;
  }
  process.chdir("/");
}

/** Runs one sandbox step; a failure is one line naming the step. */
function step(what: string, action: () => void): void {
  try {
    action();
  } catch (error) {
    const reason = ErrnoError.is(error) ? errnoMessage(error.errno) : String(error);
    throw new UsageError(`cannot set up the namespace sandbox: ${what}: ${reason}; use --sandbox=chroot or --sandbox=none where namespaces are not allowed`, 1);
  }
}

// ---- the test hook ----

/** What the served process sees once sandboxed (printed for {@link SANDBOX_PROBE_ENV}). */
export interface SandboxView {
  /** The names in `/`, sorted. */
  root: string[];
  /** `/etc/passwd` can be reached. */
  etcPasswd: boolean;
  /** `/proc/1/root/etc` can be reached (a way out through procfs). */
  procRootEtc: boolean;
  /** This process's pid in its own namespace. */
  pid: number;
  /** An O_PATH fd can be reopened through /proc/self/fd (what the passthrough needs). */
  reopenWorks: boolean;
  /** `..` of the kept /proc/self/fd fd is that same directory (no way up into procfs). */
  procFdContained: boolean;
  /** PR_SET_NO_NEW_PRIVS is set. */
  noNewPrivs: boolean;
}

export function sandboxView(): SandboxView {
  const exists = (path: string): boolean => {
    try {
      statSync(path);
      return true;
    } catch {
      return false;
    }
  };
  let reopenWorks = false;
  try {
    const inode = openat(AT_FDCWD, "/", O_PATH | O_DIRECTORY);
    closeSync(reopen(inode, O_RDONLY | O_DIRECTORY));
    closeSync(inode);
    reopenWorks = true;
  } catch {
    reopenWorks = false;
  }
  let procFdContained = false;
  try {
    const up = openat(procSelfFd(), "..", O_PATH | O_DIRECTORY);
    procFdContained = fstatSync(up).ino === fstatSync(procSelfFd()).ino;
    closeSync(up);
  } catch {
    procFdContained = false;
  }
  return {
    root: readdirSync("/").sort(),
    etcPasswd: exists("/etc/passwd"),
    procRootEtc: exists("/proc/1/root/etc"),
    pid: process.pid,
    reopenWorks,
    procFdContained,
    noNewPrivs: getNoNewPrivs(),
  };
}

function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

function describe(error: unknown): string {
  return ErrnoError.is(error) ? errnoMessage(error.errno) : String(error);
}
