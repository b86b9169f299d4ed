/**
 * Process-wide system calls for the sandbox and for FUSE mounts: unshare,
 * mount, umount2, pivot_root, chroot, prctl, resource limits; and running
 * this program again in place (execv) with other Node flags.
 *
 * Threads: Node runs libuv thread-pool threads (node:fs async calls, koffi
 * `.async` calls, the FdPoller's epoll_wait) beside the main thread. unshare
 * acts on the calling thread only, and CLONE_NEWNS also gives that thread a
 * private copy of its root and working directory (CLONE_FS). After
 * `unshare(CLONE_NEWNS)` on the main thread, the thread pool still lives in
 * the old mount namespace with the old root: an fs.promises call does not
 * see mounts made since. CLONE_NEWUSER is refused outright (EINVAL) in a
 * process with threads. So enter namespaces before Node starts its threads'
 * work, the way a launcher does: call unshare on the main thread, then spawn
 * the real process (it inherits the namespaces in every thread, and
 * CLONE_NEWPID makes it pid 1 of the new namespace); that process sets up
 * mounts and pivot_root, which then apply to all of its threads.
 */
import { constants as osConstants } from "node:os";
import { ErrnoError } from "../common/errors.js";
import { Errno } from "../common/errno.js";
import * as libc from "./libc.js";
import {
  AT_FDCWD,
  F_SETFD,
  MNT_DETACH,
  MS_NODEV,
  MS_NOSUID,
  O_RDWR,
  _LINUX_CAPABILITY_VERSION_3,
  CAPABILITIES,
  PR_CAPBSET_DROP,
  PR_GET_NO_NEW_PRIVS,
  PR_SET_NO_NEW_PRIVS,
  PR_SET_PDEATHSIG,
} from "./constants.js";
import { openat } from "./fs.js";
import { cstring, type PathLike } from "./path.js";

const SIGPROF = osConstants.signals.SIGPROF;
/** signal(2)'s SIG_IGN. */
const SIG_IGN = 1;

/** unshare(2) with CLONE_* flags (see the module comment about threads). */
export function unshare(flags: number): void {
  libc.check(libc.unshare(flags), "unshare");
}

/**
 * mount(2). Bind: `mount(src, dst, null, MS_BIND | MS_REC)`; propagation:
 * `mount(null, "/", null, MS_REC | MS_SLAVE)`; proc:
 * `mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)`.
 */
export function mount(source: PathLike | null, target: PathLike, fstype: string | null, flags: number, data: string | null = null): void {
  libc.check(
    libc.mount(
      source === null ? null : cstring(source, "mount"),
      cstring(target, "mount"),
      fstype === null ? null : cstring(fstype, "mount"),
      flags,
      data === null ? null : cstring(data, "mount"),
    ),
    "mount",
    typeof target === "string" ? target : undefined,
  );
}

/** umount2(2); `flags` MNT_DETACH (lazy), MNT_FORCE, MNT_EXPIRE, UMOUNT_NOFOLLOW. */
export function umount2(target: PathLike, flags = 0): void {
  libc.check(libc.umount2(cstring(target, "umount2"), flags), "umount2", typeof target === "string" ? target : undefined);
}

/**
 * pivot_root(2): makes `newRoot` (a mount point) the root of the mount
 * namespace and moves the old root to `putOld` under it. With `putOld` "."
 * after `chdir(newRoot)`, the old root is stacked on the new one and is
 * detached with `umount2(".", MNT_DETACH)`.
 */
export function pivotRoot(newRoot: PathLike, putOld: PathLike): void {
  libc.check(libc.pivot_root(cstring(newRoot, "pivot_root"), cstring(putOld, "pivot_root")), "pivot_root");
}

/** chroot(2) (the calling thread's root, see the module comment). */
export function chroot(path: PathLike): void {
  libc.check(libc.chroot(cstring(path, "chroot")), "chroot", typeof path === "string" ? path : undefined);
}

/** PR_SET_NO_NEW_PRIVS: execve can no longer grant privileges (setuid bits, file capabilities). Irreversible. */
export function setNoNewPrivs(): void {
  libc.check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)");
}

/** The capability sets of the calling thread, one bit per capability number. */
export interface CapabilitySets {
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
}

function capabilityHeader(): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32LE(_LINUX_CAPABILITY_VERSION_3, 0); // pid 0: the calling thread
  return header;
}

/** capget(2) of the calling thread. */
export function capabilities(): CapabilitySets {
  const data = Buffer.alloc(24); // two __user_cap_data_struct: effective, permitted, inheritable (u32 each)
  libc.check(libc.capget(capabilityHeader(), data), "capget");
  const set = (at: number): bigint => BigInt(data.readUInt32LE(at)) | (BigInt(data.readUInt32LE(at + 12)) << 32n);
  return { effective: set(0), permitted: set(4), inheritable: set(8) };
}

/**
 * Keeps only the capabilities in `keep` (bits by capability number): drops
 * the rest from the bounding set (so that no execve can give them back), then
 * sets the calling thread's effective and permitted sets to what it had of
 * `keep`, and its inheritable set to none. Capabilities belong to a thread:
 * threads that already run keep theirs, so call this on the thread that makes
 * the calls to be limited. Irreversible.
 */
export function limitCapabilities(keep: bigint): void {
  const had = capabilities();
  if (had.effective & (1n << BigInt(CAPABILITIES.setpcap))) {
    // CAP_SETPCAP (in effect while we still have it) allows PR_CAPBSET_DROP; EINVAL past the kernel's last capability.
    for (let cap = 0; cap < 64; cap++) {
      if ((keep >> BigInt(cap)) & 1n) continue;
      if (libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
        if (libc.lastErrno() === Errno.EINVAL) break;
        libc.fail("prctl(PR_CAPBSET_DROP)");
      }
    }
  }
  const permitted = had.permitted & keep;
  const data = Buffer.alloc(24);
  const low = Number(permitted & 0xffff_ffffn);
  const high = Number(permitted >> 32n);
  data.writeUInt32LE(low, 0);
  data.writeUInt32LE(low, 4);
  data.writeUInt32LE(high, 12);
  data.writeUInt32LE(high, 16);
  libc.check(libc.capset(capabilityHeader(), data), "capset");
}

/** Whether PR_SET_NO_NEW_PRIVS is in force. */
export function getNoNewPrivs(): boolean {
  return libc.check(libc.prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), "prctl(PR_GET_NO_NEW_PRIVS)") === 1;
}

/**
 * PR_SET_PDEATHSIG: the signal this process gets when its parent dies
 * (0 clears). Note: "parent" is the thread that forked it, which for a
 * process Node spawned is Node's main thread.
 */
export function setParentDeathSignal(signal: NodeJS.Signals | number): void {
  const number = typeof signal === "number" ? signal : osConstants.signals[signal];
  if (number === undefined) throw new ErrnoError(Errno.EINVAL, "prctl(PR_SET_PDEATHSIG)");
  libc.check(libc.prctl(PR_SET_PDEATHSIG, number, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)");
}

/** A resource limit; RLIM_INFINITY (constants.ts) means none. */
export interface Rlimit {
  soft: bigint;
  hard: bigint;
}

/** getrlimit(2) for RLIMIT_*. */
export function getrlimit(resource: number): Rlimit {
  const b = Buffer.alloc(16);
  libc.check(libc.getrlimit(resource, b), "getrlimit");
  return { soft: b.readBigUInt64LE(0), hard: b.readBigUInt64LE(8) };
}

/** setrlimit(2) for RLIMIT_*. Raising the hard limit needs CAP_SYS_RESOURCE. */
export function setrlimit(resource: number, limit: Rlimit): void {
  const b = Buffer.alloc(16);
  b.writeBigUInt64LE(limit.soft, 0);
  b.writeBigUInt64LE(limit.hard, 8);
  libc.check(libc.setrlimit(resource, b), "setrlimit");
}

/** Raises a soft limit to the hard one (the `ulimit -n` a server wants for RLIMIT_NOFILE); returns the new limit. */
export function raiseSoftLimit(resource: number): Rlimit {
  const limit = getrlimit(resource);
  if (limit.soft !== limit.hard) setrlimit(resource, { soft: limit.hard, hard: limit.hard });
  return { soft: limit.hard, hard: limit.hard };
}

// ---- /dev/fuse ----

/** Opens /dev/fuse for a new FUSE connection (O_RDWR | O_CLOEXEC). */
export function openFuseDevice(path = "/dev/fuse"): number {
  return openat(AT_FDCWD, path, O_RDWR);
}

/** What a FUSE mount says about itself. */
export interface FuseMountOptions {
  /** The /dev/fuse fd of the connection. */
  fd: number;
  /** The source shown in /proc/mounts (default "viofs"). */
  fsname?: string;
  /** The type suffix: the mount is of type `fuse.<subtype>` (default "viofs"). */
  subtype?: string;
  /** The root's file mode with type bits (default S_IFDIR = 0o40000). */
  rootmode?: number;
  /** The uid and gid of the mount's owner (default this process's). */
  userId?: number;
  groupId?: number;
  /** Let the kernel check permissions from the modes (default_permissions). */
  defaultPermissions?: boolean;
  /** Let other users than the owner in (allow_other). */
  allowOther?: boolean;
  /** max_read=N, when set. */
  maxRead?: number;
  /** MS_* flags (default MS_NOSUID | MS_NODEV). */
  flags?: number;
}

/**
 * mount(2) of a FUSE file system served on `options.fd` at `target`. The
 * kernel then queues FUSE_INIT on the fd; the mount call itself does not
 * wait for it. Unmount with `umount2(target, MNT_DETACH)`.
 */
export function mountFuse(target: string, options: FuseMountOptions): void {
  const parts = [
    `fd=${options.fd}`,
    `rootmode=${(options.rootmode ?? 0o40000).toString(8)}`,
    `user_id=${options.userId ?? process.getuid?.() ?? 0}`,
    `group_id=${options.groupId ?? process.getgid?.() ?? 0}`,
  ];
  if (options.defaultPermissions) parts.push("default_permissions");
  if (options.allowOther) parts.push("allow_other");
  if (options.maxRead !== undefined) parts.push(`max_read=${options.maxRead}`);
  mount(options.fsname ?? "viofs", target, `fuse.${options.subtype ?? "viofs"}`, options.flags ?? MS_NOSUID | MS_NODEV, parts.join(","));
}

/** Detaches a mount lazily (MNT_DETACH): gone from the tree at once, freed when no longer busy. */
export function unmountLazy(target: string): void {
  umount2(target, MNT_DETACH);
}

/**
 * Replaces this process (same pid, same open fds) with this same program
 * run by Node with `nodeFlags` before the flags it was started with; the
 * script's own arguments stay as they were. Node marks the standard fds 0-2
 * close-on-exec at startup; they, and `keepFds`, are made inheritable first.
 * SIGPROF is ignored across the exec: under `node --cpu-prof` the sampler's
 * next tick, pending at the exec or sent before the new image has its
 * handler, would otherwise end the new process (the default action); the new
 * Node installs its own handler when it profiles.
 * Returns only when execv fails, with its errno (the process goes on as it
 * was, its fds then inheritable).
 */
export function reexecNode(nodeFlags: readonly string[], keepFds: readonly number[] = []): number {
  for (const fd of [0, 1, 2, ...keepFds]) libc.fcntlInt(fd, F_SETFD, 0);
  const argv = [process.execPath, ...nodeFlags, ...process.execArgv, ...process.argv.slice(1)];
  const previous = libc.signal(SIGPROF, SIG_IGN);
  libc.execv(process.execPath, [...argv, null]);
  const errno = libc.lastErrno();
  if (previous !== -1 && previous !== -1n) libc.signal(SIGPROF, previous);
  return errno;
}

/**
 * sched_yield(2): lets another thread that waits for this CPU run before the
 * caller goes on. The caller stays runnable, and when nothing else waits for
 * the CPU it returns at once (the cost of a system call). Never fails on Linux.
 */
export function yieldCpu(): void {
  libc.sched_yield();
}
