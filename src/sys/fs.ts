/**
 * File-system calls node:fs lacks, for the passthrough file system: the *at
 * family relative to directory fds (O_PATH inodes), openat2 with RESOLVE_*,
 * statx with birth time, xattrs, file handles, OFD locks, flock, fallocate,
 * SEEK_DATA/SEEK_HOLE, copy_file_range.
 *
 * Already in node:fs, and not repeated here: pread/pwrite (readSync /
 * writeSync with a position), close, fstat, fchmod/fchown/futimes on real fds,
 * fsync/fdatasync/ftruncate as Node calls (the ones here throw ErrnoError and
 * have koffi-async forms). O_PATH fds are refused by most of those (EBADF);
 * use the *at calls below with AT_EMPTY_PATH, or {@link reopen}.
 *
 * Paths are a string (UTF-8) or raw bytes (a FUSE name need not be UTF-8);
 * see path.ts. Every failure throws an ErrnoError with the call and path.
 */
import { Buffer } from "node:buffer";
import { close as closeOnPool } from "node:fs";
import { ErrnoError } from "../common/errors.js";
import { Errno } from "../common/errno.js";
import * as libc from "./libc.js";
import {
  AT_FDCWD,
  F_GETFL,
  F_OFD_GETLK,
  F_OFD_SETLK,
  F_OFD_SETLKW,
  F_SETFL,
  LOCK_NB,
  MAX_HANDLE_SZ,
  O_CLOEXEC,
  O_CREAT,
  O_DIRECTORY,
  O_EXCL,
  O_NOFOLLOW,
  O_PATH,
  SEEK_SET,
  STATX_BASIC_STATS,
  STATX_BTIME,
  UTIME_NOW,
  UTIME_OMIT,
  XATTR_LIST_MAX,
  XATTR_SIZE_MAX,
} from "./constants.js";
import { cstring, display, type PathLike } from "./path.js";

/** A point in time as the kernel keeps it: seconds since the epoch and nanoseconds (0 to 999 999 999). */
export interface Timespec {
  sec: bigint;
  nsec: number;
}

/** Nanoseconds since the epoch. */
export function timespecToNs(time: Timespec): bigint {
  return time.sec * 1_000_000_000n + BigInt(time.nsec);
}

/** A {@link Timespec} from nanoseconds since the epoch (negative: before it). */
export function timespecFromNs(ns: bigint): Timespec {
  let sec = ns / 1_000_000_000n;
  let nsec = ns % 1_000_000_000n;
  if (nsec < 0n) {
    sec -= 1n;
    nsec += 1_000_000_000n;
  }
  return { sec, nsec: Number(nsec) };
}

/** glibc's dev_t encoding of a device number, as mknodat takes it. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

/** The major number of a glibc dev_t. */
export function major(dev: bigint): number {
  return Number(((dev >> 32n) & 0xfffff000n) | ((dev >> 8n) & 0xfffn));
}

/** The minor number of a glibc dev_t. */
export function minor(dev: bigint): number {
  return Number(((dev >> 12n) & 0xffffff00n) | (dev & 0xffn));
}

// Scratch memory for out-structures; every call here is synchronous.
const scratch = Buffer.alloc(256);

function timespecAt(buffer: Buffer, at: number): Timespec {
  return { sec: buffer.readBigInt64LE(at), nsec: buffer.readUInt32LE(at + 8) };
}

// ---- opening ----

/** {@link closeInBackground} calls whose fd is not closed yet, and who waits for them all. */
let backgroundCloses = 0;
let closesDone: (() => void)[] = [];

/**
 * Closes `fd` on libuv's thread pool, for a last close that may take long:
 * the last fd of a deleted file frees its data then (about 60 ms a GiB on
 * tmpfs here), which would hold up everything else on the main thread. The
 * fd stays open until a pool thread gets to it; errors are ignored (the
 * caller has no use for the fd any more either way). Costs about twice a
 * synchronous close in CPU, so only for fds whose close may be slow.
 */
export function closeInBackground(fd: number): void {
  backgroundCloses++;
  closeOnPool(fd, () => {
    if (--backgroundCloses > 0) return;
    const waiting = closesDone;
    closesDone = [];
    for (const resolve of waiting) resolve();
  });
}

/**
 * Resolves once no {@link closeInBackground} call is pending any more (those
 * made meanwhile included): for an end of session that must leave no fd
 * open behind it.
 */
export function backgroundClosesDone(): Promise<void> {
  if (backgroundCloses === 0) return Promise.resolve();
  return new Promise((resolve) => closesDone.push(resolve));
}

/**
 * `result`, or (negative) the call's ErrnoError naming `path`. The name is
 * decoded for the message only then: decoding it before every call (a
 * Buffer and a UTF-8 decode) cost more than some of the calls.
 */
function checkPath(result: number, call: string, path: PathLike): number {
  if (result < 0) libc.fail(call, display(path));
  return result;
}

/** openat(2). `flags` are O_*; O_CLOEXEC is always added. Returns the fd. */
export function openat(dirfd: number, path: PathLike, flags: number, mode = 0): number {
  return checkPath(libc.openat(dirfd, cstring(path, "openat"), flags | O_CLOEXEC, mode), "openat", path);
}

/** The `struct open_how` of openat2(2). */
export interface OpenHow {
  /** O_* (O_CLOEXEC is always added). */
  flags: number;
  /** The mode for O_CREAT / O_TMPFILE; must be 0 otherwise. */
  mode?: number;
  /** RESOLVE_* */
  resolve?: number;
}

const openHow = Buffer.alloc(24);

/**
 * openat2(2): open with path-resolution limits. RESOLVE_BENEATH refuses any
 * `..` or absolute symlink that leaves `dirfd` (EXDEV); RESOLVE_IN_ROOT
 * treats `dirfd` as `/`; RESOLVE_NO_SYMLINKS / RESOLVE_NO_MAGICLINKS refuse
 * (ELOOP) any symlink / any /proc magic link on the way.
 */
export function openat2(dirfd: number, path: PathLike, how: OpenHow): number {
  openHow.writeBigUInt64LE(BigInt((how.flags | O_CLOEXEC) >>> 0), 0);
  openHow.writeBigUInt64LE(BigInt(how.mode ?? 0), 8);
  openHow.writeBigUInt64LE(BigInt(how.resolve ?? 0), 16);
  return checkPath(libc.openat2(dirfd, cstring(path, "openat2"), openHow, 24), "openat2", path);
}

let procFd: number | undefined;

/**
 * An O_PATH fd of this process's `/proc/self/fd`, opened once and kept (it
 * stays valid after pivot_root or chroot).
 */
export function procSelfFd(): number {
  procFd ??= openat(AT_FDCWD, "/proc/self/fd", O_PATH | O_DIRECTORY);
  return procFd;
}

/**
 * Closes the kept fd of `/proc/self/fd` (if any) and opens the one the path
 * names now: what a sandbox calls once its own /proc is in place, so that an
 * fd kept from before (the host's procfs, whose `..` leads to every process
 * and root) is not the one reopening goes through.
 */
export function renewProcSelfFd(): number {
  if (procFd !== undefined) libc.close(procFd);
  procFd = undefined;
  return procSelfFd();
}

/**
 * Opens the inode an fd (typically O_PATH) refers to anew, with `flags`, by
 * way of its /proc/self/fd magic link: how an O_PATH inode is opened for I/O.
 * O_NOFOLLOW, O_CREAT and O_EXCL are dropped (the magic link must be
 * followed). A symlink or a socket cannot be opened this way (ELOOP, ENXIO).
 */
export function reopen(fd: number, flags: number): number {
  const name = String(fd);
  const effective = (flags & ~(O_NOFOLLOW | O_CREAT | O_EXCL)) | O_CLOEXEC;
  const opened = libc.openat(procSelfFd(), name, effective, 0);
  if (opened < 0) libc.fail("openat", `/proc/self/fd/${name}`);
  return opened;
}

// ---- status ----

/** statx(2)'s answer. Fields outside `mask` are whatever the kernel left (usually 0). */
export interface Statx {
  /** STATX_* bits for the fields that are valid. */
  mask: number;
  blksize: number;
  /** STATX_ATTR_* */
  attributes: bigint;
  attributesMask: bigint;
  nlink: number;
  uid: number;
  gid: number;
  /** File type and permission bits (S_IF* | 0o7777). */
  mode: number;
  ino: bigint;
  size: bigint;
  /** 512-byte blocks. */
  blocks: bigint;
  atime: Timespec;
  /** Birth time: present only when the file system reports one (mask & STATX_BTIME). */
  btime?: Timespec;
  ctime: Timespec;
  mtime: Timespec;
  rdevMajor: number;
  rdevMinor: number;
  devMajor: number;
  devMinor: number;
  /** With STATX_MNT_ID. */
  mntId: bigint;
}

/**
 * statx(2). For an O_PATH fd itself: `statx(fd, "", AT_EMPTY_PATH |
 * AT_SYMLINK_NOFOLLOW)`. `mask` defaults to STATX_BASIC_STATS | STATX_BTIME.
 */
export function statx(
  dirfd: number,
  path: PathLike,
  flags: number,
  mask: number = STATX_BASIC_STATS | STATX_BTIME,
): Statx {
  const b = scratch;
  checkPath(libc.statx(dirfd, cstring(path, "statx"), flags, mask, b), "statx", path);
  const got = b.readUInt32LE(0);
  const result: Statx = {
    mask: got,
    blksize: b.readUInt32LE(4),
    attributes: b.readBigUInt64LE(8),
    nlink: b.readUInt32LE(16),
    uid: b.readUInt32LE(20),
    gid: b.readUInt32LE(24),
    mode: b.readUInt16LE(28),
    ino: b.readBigUInt64LE(32),
    size: b.readBigUInt64LE(40),
    blocks: b.readBigUInt64LE(48),
    attributesMask: b.readBigUInt64LE(56),
    atime: timespecAt(b, 64),
    ctime: timespecAt(b, 96),
    mtime: timespecAt(b, 112),
    rdevMajor: b.readUInt32LE(128),
    rdevMinor: b.readUInt32LE(132),
    devMajor: b.readUInt32LE(136),
    devMinor: b.readUInt32LE(140),
    mntId: b.readBigUInt64LE(144),
  };
  if (got & STATX_BTIME) result.btime = timespecAt(b, 80);
  return result;
}

/** `struct stat` as fstatat(2) fills it. */
export interface Stat {
  dev: bigint;
  ino: bigint;
  nlink: number;
  mode: number;
  uid: number;
  gid: number;
  rdev: bigint;
  size: bigint;
  blksize: number;
  blocks: bigint;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
}

/** fstatat(2) (glibc's x86_64 `struct stat`, 144 bytes). */
export function fstatat(dirfd: number, path: PathLike, flags: number): Stat {
  const b = scratch;
  checkPath(libc.fstatat(dirfd, cstring(path, "fstatat"), b, flags), "fstatat", path);
  return {
    dev: b.readBigUInt64LE(0),
    ino: b.readBigUInt64LE(8),
    nlink: Number(b.readBigUInt64LE(16)),
    mode: b.readUInt32LE(24),
    uid: b.readUInt32LE(28),
    gid: b.readUInt32LE(32),
    rdev: b.readBigUInt64LE(40),
    size: b.readBigInt64LE(48),
    blksize: Number(b.readBigInt64LE(56)),
    blocks: b.readBigInt64LE(64),
    atime: timespecAt(b, 72),
    mtime: timespecAt(b, 88),
    ctime: timespecAt(b, 104),
  };
}

/** `struct statfs` as fstatfs(2) fills it. */
export interface Statfs {
  /** The file-system magic (EXT4_SUPER_MAGIC, TMPFS_MAGIC, ...). */
  type: number;
  bsize: number;
  blocks: bigint;
  bfree: bigint;
  bavail: bigint;
  files: bigint;
  ffree: bigint;
  fsid: [number, number];
  namelen: number;
  frsize: number;
  /** ST_* mount flags. */
  flags: number;
}

/** fstatfs(2); works on O_PATH fds. */
export function fstatfs(fd: number): Statfs {
  const b = scratch;
  libc.check(libc.fstatfs(fd, b), "fstatfs");
  return {
    type: Number(b.readBigInt64LE(0)),
    bsize: Number(b.readBigInt64LE(8)),
    blocks: b.readBigUInt64LE(16),
    bfree: b.readBigUInt64LE(24),
    bavail: b.readBigUInt64LE(32),
    files: b.readBigUInt64LE(40),
    ffree: b.readBigUInt64LE(48),
    fsid: [b.readInt32LE(56), b.readInt32LE(60)],
    namelen: Number(b.readBigInt64LE(64)),
    frsize: Number(b.readBigInt64LE(72)),
    flags: Number(b.readBigInt64LE(80)),
  };
}

// ---- directory entries ----

/** mkdirat(2). */
export function mkdirat(dirfd: number, path: PathLike, mode: number): void {
  checkPath(libc.mkdirat(dirfd, cstring(path, "mkdirat"), mode), "mkdirat", path);
}

/** mknodat(2): `mode` includes the file type (S_IFREG, S_IFIFO, S_IFCHR, ...); `dev` from {@link makedev}. */
export function mknodat(dirfd: number, path: PathLike, mode: number, dev: bigint = 0n): void {
  checkPath(libc.mknodat(dirfd, cstring(path, "mknodat"), mode, dev), "mknodat", path);
}

/** unlinkat(2); AT_REMOVEDIR removes a directory. */
export function unlinkat(dirfd: number, path: PathLike, flags = 0): void {
  checkPath(libc.unlinkat(dirfd, cstring(path, "unlinkat"), flags), "unlinkat", path);
}

/** renameat2(2); `flags` RENAME_NOREPLACE, RENAME_EXCHANGE or RENAME_WHITEOUT. */
export function renameat2(olddirfd: number, oldpath: PathLike, newdirfd: number, newpath: PathLike, flags = 0): void {
  checkPath(
    libc.renameat2(olddirfd, cstring(oldpath, "renameat2"), newdirfd, cstring(newpath, "renameat2"), flags),
    "renameat2",
    oldpath,
  );
}

/**
 * linkat(2). To link an O_PATH fd itself: `linkat(fd, "", newdirfd, name,
 * AT_EMPTY_PATH)` (needs CAP_DAC_READ_SEARCH), or through
 * `/proc/self/fd/N` with AT_SYMLINK_FOLLOW.
 */
export function linkat(olddirfd: number, oldpath: PathLike, newdirfd: number, newpath: PathLike, flags = 0): void {
  checkPath(
    libc.linkat(olddirfd, cstring(oldpath, "linkat"), newdirfd, cstring(newpath, "linkat"), flags),
    "linkat",
    newpath,
  );
}

/** symlinkat(2): creates `linkpath` in `newdirfd` pointing at `target`. */
export function symlinkat(target: PathLike, newdirfd: number, linkpath: PathLike): void {
  checkPath(
    libc.symlinkat(cstring(target, "symlinkat"), newdirfd, cstring(linkpath, "symlinkat")),
    "symlinkat",
    linkpath,
  );
}

/**
 * readlinkat(2): the raw bytes of a symlink's target (not necessarily
 * UTF-8). For an O_PATH fd of the symlink itself, `path` is "".
 */
export function readlinkat(dirfd: number, path: PathLike): Buffer {
  const name = cstring(path, "readlinkat");
  for (let size = 256; ; size *= 4) {
    const buffer = Buffer.allocUnsafe(size);
    const length = checkPath(libc.readlinkat(dirfd, name, buffer, size), "readlinkat", path);
    if (length < size) return buffer.subarray(0, length);
    if (size >= 1 << 16) throw new ErrnoError(Errno.ENAMETOOLONG, "readlinkat", display(path));
  }
}

// ---- attributes ----

let hasFchmodat2 = true;

/**
 * fchmodat(2), through the fchmodat2 system call (Linux 6.6) so that
 * AT_SYMLINK_NOFOLLOW and AT_EMPTY_PATH (an O_PATH fd itself) work; on older
 * kernels falls back to glibc's fchmodat. A symlink's mode cannot be changed
 * (EOPNOTSUPP).
 */
export function fchmodat(dirfd: number, path: PathLike, mode: number, flags = 0): void {
  const name = cstring(path, "fchmodat");
  if (hasFchmodat2) {
    if (libc.fchmodat2(dirfd, name, mode, flags) >= 0) return;
    if (libc.lastErrno() !== Errno.ENOSYS) libc.fail("fchmodat2", display(path));
    hasFchmodat2 = false;
  }
  checkPath(libc.fchmodat(dirfd, name, mode, flags), "fchmodat", path);
}

/** fchownat(2); -1 leaves the uid or gid as is. AT_EMPTY_PATH works on O_PATH fds. */
export function fchownat(dirfd: number, path: PathLike, uid: number, gid: number, flags = 0): void {
  checkPath(libc.fchownat(dirfd, cstring(path, "fchownat"), uid >>> 0, gid >>> 0, flags), "fchownat", path);
}

/** A time for utimensat: a Timespec, nanoseconds since the epoch, now, or "leave as is". */
export type TimeArg = Timespec | bigint | "now" | "omit";

const utimes = Buffer.alloc(32);

function writeTime(at: number, time: TimeArg): void {
  if (time === "now" || time === "omit") {
    utimes.writeBigInt64LE(0n, at);
    utimes.writeBigInt64LE(BigInt(time === "now" ? UTIME_NOW : UTIME_OMIT), at + 8);
    return;
  }
  const spec = typeof time === "bigint" ? timespecFromNs(time) : time;
  utimes.writeBigInt64LE(spec.sec, at);
  utimes.writeBigInt64LE(BigInt(spec.nsec), at + 8);
}

/**
 * utimensat(2): sets access and modification times with nanosecond
 * precision. For an O_PATH fd itself: `path` "" with AT_EMPTY_PATH.
 */
export function utimensat(dirfd: number, path: PathLike, atime: TimeArg, mtime: TimeArg, flags = 0): void {
  writeTime(0, atime);
  writeTime(16, mtime);
  checkPath(libc.utimensat(dirfd, cstring(path, "utimensat"), utimes, flags), "utimensat", path);
}

/** umask(2): sets the process's file-creation mask and returns the previous one. */
export function umask(mask: number): number {
  return libc.umask(mask & 0o777);
}

// ---- extended attributes ----
//
// Two families. f*xattr work on an fd opened for I/O (O_RDONLY is enough)
// and fail with EBADF on an O_PATH fd. proc*xattr take any fd, O_PATH
// included, and act on the inode it refers to through the
// /proc/self/fd/N magic link (getxattr, following the link: the link leads
// to the inode itself, not to a symlink's target). On symlinks and special
// files the kernel refuses user.* attributes (EPERM) whichever is used.

function readSized(call: string, name: string | undefined, probe: (buffer: Buffer | null, size: number) => number): Buffer {
  for (let attempt = 0; ; attempt++) {
    const size = probe(null, 0);
    if (size < 0) libc.fail(call, name);
    if (size === 0) return Buffer.alloc(0);
    const buffer = Buffer.allocUnsafe(size);
    const length = probe(buffer, size);
    if (length >= 0) return buffer.subarray(0, length);
    // ERANGE: it grew between the two calls; ask again.
    if (libc.lastErrno() !== Errno.ERANGE || attempt > 8) libc.fail(call, name);
  }
}

function splitNames(list: Buffer): string[] {
  const names: string[] = [];
  let start = 0;
  for (let i = 0; i < list.length; i++) {
    if (list[i] === 0) {
      if (i > start) names.push(list.toString("utf8", start, i));
      start = i + 1;
    }
  }
  return names;
}

/**
 * Runs `fn` with the working directory set to this process's /proc/self/fd
 * (through the fd {@link procSelfFd} keeps), so that `String(fd)` names the
 * magic link of `fd`; then goes back to the directory it came from.
 *
 * This is how virtiofsd reaches O_PATH fds with path-based calls: it works
 * after pivot_root or chroot hid /proc, and never resolves a path inside the
 * shared directory (where a guest could have made `proc/self/fd/N`). The
 * working directory is process-wide: `fn` must be synchronous, and nothing
 * else may rely on a relative path meanwhile (nothing in viofs does).
 */
export function inProcFdDir<T>(fn: () => T): T {
  const back = libc.check(libc.openat(AT_FDCWD, ".", O_PATH | O_DIRECTORY | O_CLOEXEC, 0), "openat", ".");
  try {
    libc.check(libc.fchdir(procSelfFd()), "fchdir", "/proc/self/fd");
    try {
      return fn();
    } finally {
      libc.check(libc.fchdir(back), "fchdir", ".");
    }
  } finally {
    libc.close(back);
  }
}

let hasGetxattrat = true;

/** Makes {@link getxattrOfFd} take its pre-6.13 path (`false`) or try getxattrat again (`true`): for tests of both. */
export function useGetxattrat(use: boolean): void {
  hasGetxattrat = use;
}

/** getxattrat's struct xattr_args. */
const xattrArgs = Buffer.alloc(16);

/**
 * getxattr(2) of `name` into `value` on the inode that `fd` (any fd of this
 * process, O_PATH ones too) holds, through its /proc/self/fd entry: the
 * inode itself, a symlink's own xattrs and never its target's. Returns the
 * value's length, or a negated errno (-ENODATA: no such attribute), so that
 * the common "not set" costs no exception. One getxattrat(2) from the
 * /proc/self/fd directory (Linux 6.13); before that kernel, getxattr(2)
 * inside {@link inProcFdDir} (four more system calls).
 */
export function getxattrOfFd(fd: number, name: libc.CStr, value: Buffer): number {
  const path = String(fd);
  if (hasGetxattrat) {
    xattrArgs.writeBigUInt64LE(libc.addressOf(value), 0);
    xattrArgs.writeUInt32LE(value.length, 8);
    xattrArgs.writeUInt32LE(0, 12);
    const n = libc.getxattrat(procSelfFd(), path, 0, name, xattrArgs, xattrArgs.length);
    if (n >= 0) return n;
    const error = libc.lastErrno();
    if (error !== Errno.ENOSYS) return -error;
    hasGetxattrat = false;
  }
  return inProcFdDir(() => {
    const n = libc.getxattr(path, name, value, value.length);
    return n >= 0 ? n : -libc.lastErrno();
  });
}

/** The value of xattr `name`. Throws ENODATA when there is none. */
export function fgetxattr(fd: number, name: string): Buffer {
  const cname = cstring(name, "fgetxattr");
  return readSized("fgetxattr", name, (buffer, size) => libc.fgetxattr(fd, cname, buffer, size));
}

/** Sets xattr `name`; `flags` XATTR_CREATE (EEXIST if present) or XATTR_REPLACE (ENODATA if absent). */
export function fsetxattr(fd: number, name: string, value: Uint8Array, flags = 0): void {
  if (value.length > XATTR_SIZE_MAX) throw new ErrnoError(Errno.E2BIG, "fsetxattr", name);
  libc.check(libc.fsetxattr(fd, cstring(name, "fsetxattr"), value, value.length, flags), "fsetxattr", name);
}

/** The raw list of xattr names: each NUL-terminated, as FUSE LISTXATTR returns it. */
export function flistxattrRaw(fd: number): Buffer {
  return readSized("flistxattr", undefined, (buffer, size) => libc.flistxattr(fd, buffer, size));
}

/** The xattr names of a file. */
export function flistxattr(fd: number): string[] {
  return splitNames(flistxattrRaw(fd));
}

/** Removes xattr `name`. Throws ENODATA when there is none. */
export function fremovexattr(fd: number, name: string): void {
  libc.check(libc.fremovexattr(fd, cstring(name, "fremovexattr")), "fremovexattr", name);
}

/** {@link fgetxattr} for any fd, O_PATH included (through /proc/self/fd). */
export function procGetxattr(fd: number, name: string): Buffer {
  const cname = cstring(name, "getxattr");
  return inProcFdDir(() => readSized("getxattr", name, (buffer, size) => libc.getxattr(String(fd), cname, buffer, size)));
}

/** {@link fsetxattr} for any fd, O_PATH included (through /proc/self/fd). */
export function procSetxattr(fd: number, name: string, value: Uint8Array, flags = 0): void {
  if (value.length > XATTR_SIZE_MAX) throw new ErrnoError(Errno.E2BIG, "setxattr", name);
  const cname = cstring(name, "setxattr");
  inProcFdDir(() => libc.check(libc.setxattr(String(fd), cname, value, value.length, flags), "setxattr", name));
}

/** {@link flistxattrRaw} for any fd, O_PATH included (through /proc/self/fd). */
export function procListxattrRaw(fd: number): Buffer {
  const list = inProcFdDir(() => readSized("listxattr", undefined, (buffer, size) => libc.listxattr(String(fd), buffer, size)));
  if (list.length > XATTR_LIST_MAX) throw new ErrnoError(Errno.E2BIG, "listxattr");
  return list;
}

/** {@link flistxattr} for any fd, O_PATH included (through /proc/self/fd). */
export function procListxattr(fd: number): string[] {
  return splitNames(procListxattrRaw(fd));
}

/** {@link fremovexattr} for any fd, O_PATH included (through /proc/self/fd). */
export function procRemovexattr(fd: number, name: string): void {
  const cname = cstring(name, "removexattr");
  inProcFdDir(() => libc.check(libc.removexattr(String(fd), cname), "removexattr", name));
}

// ---- file handles ----

/** An opaque kernel file handle (`struct file_handle`). */
export interface FileHandle {
  type: number;
  bytes: Buffer;
}

/**
 * name_to_handle_at(2): a handle that names the inode for as long as it
 * exists, and the id of the mount it is on. For an O_PATH fd itself: `path`
 * "" with AT_EMPTY_PATH. EOPNOTSUPP on file systems without handles.
 */
export function nameToHandleAt(dirfd: number, path: PathLike, flags = 0): { handle: FileHandle; mountId: number } {
  const raw = Buffer.alloc(8 + MAX_HANDLE_SZ);
  raw.writeUInt32LE(MAX_HANDLE_SZ, 0);
  const mountId = new Int32Array(1);
  checkPath(
    libc.name_to_handle_at(dirfd, cstring(path, "name_to_handle_at"), raw, mountId, flags),
    "name_to_handle_at",
    path,
  );
  const size = raw.readUInt32LE(0);
  if (size > MAX_HANDLE_SZ) throw new ErrnoError(Errno.EOVERFLOW, "name_to_handle_at", display(path));
  return { handle: { type: raw.readInt32LE(4), bytes: Buffer.from(raw.subarray(8, 8 + size)) }, mountId: mountId[0]! };
}

/**
 * open_by_handle_at(2): opens the inode a handle names; `mountFd` is any fd
 * on the same mount. Needs CAP_DAC_READ_SEARCH; ESTALE when the inode is gone.
 */
export function openByHandleAt(mountFd: number, handle: FileHandle, flags: number): number {
  if (handle.bytes.length > MAX_HANDLE_SZ) throw new ErrnoError(Errno.EINVAL, "open_by_handle_at");
  const raw = Buffer.alloc(8 + handle.bytes.length);
  raw.writeUInt32LE(handle.bytes.length, 0);
  raw.writeInt32LE(handle.type, 4);
  handle.bytes.copy(raw, 8);
  return libc.check(libc.open_by_handle_at(mountFd, raw, flags | O_CLOEXEC), "open_by_handle_at");
}

// ---- data ----

/** ftruncate(2). */
export function ftruncate(fd: number, length: number | bigint): void {
  libc.check(libc.ftruncate(fd, length), "ftruncate");
}

/** fallocate(2); `mode` is 0 or FALLOC_FL_*. */
export function fallocate(fd: number, mode: number, offset: number | bigint, length: number | bigint): void {
  libc.check(libc.fallocate(fd, mode, offset, length), "fallocate");
}

/** {@link fallocate} on a worker thread (allocating can take long). */
export async function fallocateAsync(fd: number, mode: number, offset: number | bigint, length: number | bigint): Promise<void> {
  await libc.checkAsync(libc.fallocate, [fd, mode, offset, length], "fallocate");
}

/**
 * lseek(2) with SEEK_SET/CUR/END/DATA/HOLE. SEEK_DATA past the last data,
 * and SEEK_HOLE/SEEK_DATA at or past the end, throw ENXIO.
 */
export function lseek(fd: number, offset: number | bigint, whence: number = SEEK_SET): number {
  const result = libc.lseek(fd, offset, whence);
  if (result < 0) libc.fail("lseek");
  return Number(result);
}

const copyOffsets = new BigInt64Array(2);

/**
 * copy_file_range(2): copies up to `length` bytes in the kernel. An offset
 * of `null` uses and advances the fd's file position. Returns the bytes
 * copied (0 at the end of the input).
 */
export function copyFileRange(
  fdIn: number,
  offsetIn: number | bigint | null,
  fdOut: number,
  offsetOut: number | bigint | null,
  length: number,
  flags = 0,
): number {
  const offIn = offsetIn === null ? null : copyOffsets.subarray(0, 1);
  const offOut = offsetOut === null ? null : copyOffsets.subarray(1, 2);
  if (offIn) offIn[0] = BigInt(offsetIn!);
  if (offOut) offOut[0] = BigInt(offsetOut!);
  return libc.check(libc.copy_file_range(fdIn, offIn, fdOut, offOut, length, flags), "copy_file_range");
}

/** {@link copyFileRange} on a worker thread. */
export function copyFileRangeAsync(
  fdIn: number,
  offsetIn: number | bigint | null,
  fdOut: number,
  offsetOut: number | bigint | null,
  length: number,
  flags = 0,
): Promise<number> {
  const offIn = offsetIn === null ? null : BigInt64Array.of(BigInt(offsetIn));
  const offOut = offsetOut === null ? null : BigInt64Array.of(BigInt(offsetOut));
  return libc.checkAsync(libc.copy_file_range, [fdIn, offIn, fdOut, offOut, length, flags], "copy_file_range");
}

/** fsync(2). Blocks the calling thread until the data is on disk: prefer {@link fsyncAsync}. */
export function fsync(fd: number): void {
  libc.check(libc.fsync(fd), "fsync");
}

/** fsync(2) on a worker thread. */
export async function fsyncAsync(fd: number): Promise<void> {
  await libc.checkAsync(libc.fsync, [fd], "fsync");
}

/** fdatasync(2). */
export function fdatasync(fd: number): void {
  libc.check(libc.fdatasync(fd), "fdatasync");
}

/** fdatasync(2) on a worker thread. */
export async function fdatasyncAsync(fd: number): Promise<void> {
  await libc.checkAsync(libc.fdatasync, [fd], "fdatasync");
}

/** syncfs(2) on a worker thread: flushes the whole file system `fd` is on. */
export async function syncfsAsync(fd: number): Promise<void> {
  await libc.checkAsync(libc.syncfs, [fd], "syncfs");
}

// ---- locks ----

/** A byte-range lock (`struct flock`). */
export interface Lock {
  /** F_RDLCK, F_WRLCK or F_UNLCK. */
  type: number;
  /** SEEK_SET (default), SEEK_CUR or SEEK_END. */
  whence?: number;
  start: bigint;
  /** 0: to the end of the file, however far it grows. */
  length: bigint;
  /** In a conflicting lock from ofdGetLock: -1 for an OFD lock, else the owning pid. */
  pid?: number;
}

function flockStruct(lock: Lock): Buffer {
  const b = Buffer.alloc(32);
  b.writeInt16LE(lock.type, 0);
  b.writeInt16LE(lock.whence ?? SEEK_SET, 2);
  b.writeBigInt64LE(lock.start, 8);
  b.writeBigInt64LE(lock.length, 16);
  b.writeInt32LE(0, 24); // l_pid must be 0 for OFD locks
  return b;
}

/**
 * F_OFD_GETLK: the first lock that would conflict with `lock`, or a lock of
 * type F_UNLCK when there is none.
 */
export function ofdGetLock(fd: number, lock: Lock): Lock {
  const b = flockStruct(lock);
  libc.check(libc.fcntlPtr(fd, F_OFD_GETLK, b), "fcntl(F_OFD_GETLK)");
  return {
    type: b.readInt16LE(0),
    whence: b.readInt16LE(2),
    start: b.readBigInt64LE(8),
    length: b.readBigInt64LE(16),
    pid: b.readInt32LE(24),
  };
}

/**
 * F_OFD_SETLK: takes, changes or (F_UNLCK) releases an open-file-description
 * lock. A conflict throws EAGAIN at once. OFD locks belong to the open file
 * description, so two opens of the same file in this process do conflict,
 * and closing one dup of the fd does not release them.
 */
export function ofdSetLock(fd: number, lock: Lock): void {
  libc.check(libc.fcntlPtr(fd, F_OFD_SETLK, flockStruct(lock)), "fcntl(F_OFD_SETLK)");
}

/**
 * F_OFD_SETLKW on a worker thread: waits for a conflicting lock to go. The
 * wait holds one libuv thread-pool thread until it ends and cannot be
 * cancelled; use it sparingly (or poll with {@link ofdSetLock}).
 */
export async function ofdSetLockWait(fd: number, lock: Lock): Promise<void> {
  await libc.checkAsync(libc.fcntlPtr, [fd, F_OFD_SETLKW, flockStruct(lock)], "fcntl(F_OFD_SETLKW)");
}

/**
 * flock(2) without waiting: LOCK_SH, LOCK_EX or LOCK_UN (LOCK_NB is always
 * added). A conflict throws EWOULDBLOCK (EAGAIN).
 */
export function flock(fd: number, operation: number): void {
  libc.check(libc.flock(fd, operation | LOCK_NB), "flock");
}

/** flock(2) that waits for a conflicting lock to go, on a worker thread (see {@link ofdSetLockWait}). */
export async function flockWait(fd: number, operation: number): Promise<void> {
  await libc.checkAsync(libc.flock, [fd, operation & ~LOCK_NB], "flock");
}

/** An fd's open flags (F_GETFL). */
export function getFileFlags(fd: number): number {
  return libc.check(libc.fcntlInt(fd, F_GETFL, 0), "fcntl(F_GETFL)");
}

/** Sets an fd's status flags (F_SETFL: O_APPEND, O_NONBLOCK, O_DIRECT, O_NOATIME, O_ASYNC). */
export function setFileFlags(fd: number, flags: number): void {
  libc.check(libc.fcntlInt(fd, F_SETFL, flags), "fcntl(F_SETFL)");
}

/**
 * getdents64(2): fills `buffer` with `struct linux_dirent64` records from the
 * directory fd's current position and returns the bytes written (0 at the end).
 */
export function getdents64(fd: number, buffer: Uint8Array): number {
  return libc.check(libc.getdents64(fd, buffer, buffer.length), "getdents64");
}
