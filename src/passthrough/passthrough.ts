/**
 * The passthrough file system: a host directory served to a guest, one FUSE
 * operation per method, over the libc layer (src/sys/) and node:fs for data.
 *
 * Confinement. Every inode is an O_PATH|O_NOFOLLOW fd (inodes.ts), and every
 * name from the guest is one checked path component (names.ts) resolved
 * relative to its parent's fd with openat(O_NOFOLLOW) and the *at calls: one
 * component walks nothing but itself. No host symlink is ever
 * followed: a symlink is looked up as itself, read with READLINK, and never
 * opened. Files are opened for I/O by re-opening their O_PATH fd through
 * /proc/self/fd, and only regular files and directories are (EBADF for
 * FIFOs, sockets, devices and symlinks, as virtiofsd: CVE-2020-35517).
 * ".." resolves inside the share only (the root's ".." is the root). An
 * operation on a node acts on the inode its fd holds, wherever that inode was
 * moved since; what this cannot confine is a directory the host itself moves
 * out of the share while the guest holds it, which is what virtiofsd's mount
 * namespace sandbox is for (the launcher's business, not this class's).
 *
 * Ids. Nodeids and fhs are keys this class issues into its own tables; an id
 * it did not issue, or has forgotten or released, is EBADF, and so is a
 * handle used with another node than its own.
 *
 * Threads. Metadata calls are synchronous on the JavaScript thread (one or
 * two system calls each: LOOKUP is one openat and one statx). Data calls
 * (READ, WRITE, FSYNC, FALLOCATE, COPY_FILE_RANGE, SYNCFS) run on the thread
 * pool with the handle pinned so its fd cannot be closed and reused under them;
 * with {@link PassthroughIo.inline}, READ and WRITE run on the JavaScript
 * thread instead (virtiofsd's `--thread-pool-size=0`: no thread hand-off, but
 * a read from the disk or a throttled write holds every queue meanwhile).
 * SETLKW waits without holding a thread (locks.ts).
 *
 * Closes. A FLUSH (each close(2) in the guest) drops the closing owner's
 * POSIX locks and closes a duplicate of the fd, as virtiofsd's, for host
 * file systems that act on a close (NFS writes back and reports errors).
 * Where that does nothing, the OPEN or CREATE reply carries FOPEN_NOFLUSH
 * and the guest's close costs no round trip: a regular file on the share
 * root's file system when that is tmpfs, ext2/3/4, xfs or btrfs, while the
 * guest has taken no POSIX lock in the session (`flush: "always"` turns
 * this off). A Linux guest's create of a file is then four requests, not
 * five. Locks taken through a handle opened before the first are dropped at
 * its RELEASE instead of at each close: with the file open twice in one
 * process (or shared with a child), closing one of them leaves them held
 * until the last close, where POSIX drops them at the first.
 *
 * Credentials. Creating operations run as the caller (credentials.ts).
 * SUID/SGID are cleared as the kernel would for an unprivileged writer: a
 * WRITE, a truncating SETATTR or an O_TRUNC OPEN clears S_ISUID, and S_ISGID
 * when the group may execute, when the request carries the KILL_SUIDGID flag
 * or comes from a uid other than 0 (a page-cache writeback only when flagged:
 * the client cleared them when the data entered its cache); a chown clears
 * them on the host by itself.
 * The check costs nothing unless the mode last seen has one of the bits, so a
 * bit set on the host since then (not through this file system) can survive
 * one write.
 */
import { Buffer } from "node:buffer";
import * as nodefs from "node:fs";
import { ErrnoError, errno } from "../common/errors.js";
import { Errno } from "../common/errno.js";
import {
  AccessMask,
  AttrFlag,
  FAttr,
  FOpen,
  FUSE_FSYNC_FDATASYNC,
  FUSE_LK_FLOCK,
  FUSE_OPEN_KILL_SUIDGID,
  FUSE_ROOT_ID,
  InitFlag,
  LockType,
  ReleaseFlag,
  RenameFlag,
  WriteFlag,
} from "../fuse/abi.js";
import type { CreateOut } from "../fuse/messages.js";
import type {
  Attr,
  AttrOut,
  CopyFileRangeIn,
  EntryOut,
  FallocateIn,
  FileLock,
  FlushIn,
  FsyncIn,
  Kstatfs,
  LkIn,
  LseekIn,
  OpenOut,
  ReadIn,
  ReleaseIn,
  SetattrIn,
  StatxIn,
  StatxOut,
  WriteIn,
} from "../fuse/structs.js";
import type { DataSegments } from "../fuse/reply-target.js";
import {
  FileSystemBase,
  NO_ENTRY,
  NO_XATTR,
  dataLength,
  dataViews,
  isSegments,
  type Answer,
  type Context,
  type DirEntry,
  type DirSink,
  type InitAnswer,
  type InitParams,
  type ReadTarget,
  type WriteSource,
} from "../server/filesystem.js";
import {
  AT_EMPTY_PATH,
  AT_FDCWD,
  AT_REMOVEDIR,
  AT_STATX_FORCE_SYNC,
  AT_STATX_DONT_SYNC,
  AT_SYMLINK_FOLLOW,
  AT_SYMLINK_NOFOLLOW,
  BTRFS_SUPER_MAGIC,
  EXT4_SUPER_MAGIC,
  F_DUPFD_CLOEXEC,
  LOCK_UN,
  O_ACCMODE,
  O_CLOEXEC,
  O_APPEND,
  O_CREAT,
  O_DIRECT,
  O_DIRECTORY,
  O_DSYNC,
  O_EXCL,
  O_LARGEFILE,
  O_NOATIME,
  O_NOFOLLOW,
  O_NONBLOCK,
  O_PATH,
  O_RDONLY,
  O_RDWR,
  O_SYNC,
  O_TMPFILE,
  O_TRUNC,
  O_WRONLY,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  S_ISGID,
  S_ISUID,
  STATX_BASIC_STATS,
  STATX_BTIME,
  STATX_MNT_ID,
  TMPFS_MAGIC,
  XATTR_CREATE,
  XFS_SUPER_MAGIC,
  XATTR_REPLACE,
  XATTR_SIZE_MAX,
} from "../sys/constants.js";
import * as sys from "../sys/fs.js";
import { preadvSpans, pwritevSpans } from "../sys/io.js";
import type { TimeArg } from "../sys/fs.js";
import * as libc from "../sys/libc.js";
import type { CStr } from "../sys/libc.js";
import { cstring, display } from "../sys/path.js";
import { decodeDev, toFuseStatx } from "./attr.js";
import { CallerCredentials } from "./credentials.js";
import { cursorAt, drainInto, peek, take } from "./dir.js";
import { FdBudget } from "./fd-budget.js";
import { HandleTable, type Handle } from "./handles.js";
import { HostStat, type HostIdentity } from "./host-stat.js";
import { InodeStore, type Inode } from "./inodes.js";
import { LockManager } from "./locks.js";
import { checkEntryName, checkLookupName, isDot, isDotDot } from "./names.js";
import { cachePolicy, type CachePolicy, type PassthroughOptions } from "./options.js";

/** Group execute permission. */
const S_IXGRP = 0o010;
/** statx of an O_PATH fd itself. */
const SELF = AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW;
/** The open(2) flags a guest may ask for; the others are dropped. */
const GUEST_OPEN_FLAGS = O_ACCMODE | O_TRUNC | O_APPEND | O_NONBLOCK | O_DSYNC | O_SYNC | O_DIRECT | O_NOATIME | O_LARGEFILE;
/** The largest offset node:fs takes as a number; reads beyond go one buffer at a time with bigint positions. */
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** The largest off_t. */
const INT64_MAX = 0x7fff_ffff_ffff_ffffn;
/** The most bytes one COPY_FILE_RANGE moves (its reply carries a u32). */
const COPY_MAX = 1 << 30;
/** The range of PassthroughFs's lookup score, and the score from which a lookup tries statx by name first. */
const REUSE_MAX = 16;
const REUSE_PROBE = 8;

const ACL_NAMES = ["system.posix_acl_access", "system.posix_acl_default"].map((n) => Buffer.from(n));

// One buffer for every GETXATTR and LISTXATTR: the result is copied out at once.
const xattrScratch = Buffer.alloc(XATTR_SIZE_MAX);

function isErrno(error: unknown, code: number): boolean {
  return ErrnoError.is(error) && error.errno === code;
}

/** A node:fs error as an ErrnoError (libuv errors are negated errnos on Linux). */
function fromNode(error: unknown, call: string): ErrnoError {
  if (ErrnoError.is(error)) return error;
  const n = (error as { errno?: unknown }).errno;
  return new ErrnoError(typeof n === "number" && n < 0 ? -n : Errno.EIO, call);
}

/** The buffers of `list` cut to `size` bytes in all. */
function clip(list: readonly Uint8Array[], size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let left = size;
  for (const buffer of list) {
    if (left <= 0) break;
    out.push(buffer.length <= left ? buffer : buffer.subarray(0, left));
    left -= Math.min(left, buffer.length);
  }
  return out;
}

/** {@link clip} of spans: the first `size` bytes of them (the same object when they hold no more). */
function clipSegments(data: DataSegments, size: number): DataSegments {
  const { segs, spans } = data;
  if (size <= 0) return { segs: [], spans: [] };
  let left = size;
  for (let i = 0; i < segs.length; i++) {
    const length = spans[2 * i + 1]!;
    if (length < left) {
      left -= length;
      continue;
    }
    if (length === left && i === segs.length - 1) return data;
    const out = spans.slice(0, 2 * i + 2);
    out[2 * i + 1] = left;
    return { segs: segs.slice(0, i + 1), spans: out };
  }
  return data;
}

/** A node:fs call with a callback as a promise; a synchronous throw (argument validation) rejects too. */
function nodeCall(call: string, start: (done: (error: unknown, n: number) => void) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    try {
      start((error, n) => (error ? reject(fromNode(error, call)) : resolve(n)));
    } catch (error) {
      reject(fromNode(error, call));
    }
  });
}

function preadOne(fd: number, buffer: Uint8Array, position: number | bigint): Promise<number> {
  return nodeCall("pread", (done) => nodefs.read(fd, buffer, 0, buffer.length, position, done));
}

function pwriteOne(fd: number, buffer: Uint8Array, position: number): Promise<number> {
  return nodeCall("pwrite", (done) => nodefs.write(fd, buffer, 0, buffer.length, position, done));
}

/** preadv into `buffers` from `offset`: one system call for offsets node:fs takes as numbers. */
async function preadInto(fd: number, buffers: Uint8Array[], offset: bigint): Promise<number> {
  if (buffers.length === 1) return preadOne(fd, buffers[0]!, offset <= MAX_SAFE ? Number(offset) : offset);
  if (offset + BigInt(buffers.reduce((n, b) => n + b.length, 0)) <= MAX_SAFE) {
    return nodeCall("preadv", (done) => nodefs.readv(fd, buffers, Number(offset), done));
  }
  let total = 0;
  for (const buffer of buffers) {
    const n = await preadOne(fd, buffer, offset + BigInt(total));
    total += n;
    if (n < buffer.length) break;
  }
  return total;
}

/**
 * pwritev of `buffers` at `offset` (a file opened O_APPEND appends, as Linux
 * pwrite does). Past 2^53 bytes (8 PiB: beyond ext4's 16 TiB, and beyond the
 * number positions node:fs takes) it is EFBIG.
 */
function pwriteFrom(fd: number, buffers: Uint8Array[], offset: bigint): Promise<number> {
  const total = buffers.reduce((n, b) => n + b.length, 0);
  if (offset + BigInt(total) > MAX_SAFE) return Promise.reject(errno("EFBIG", "pwrite"));
  if (buffers.length === 1) return pwriteOne(fd, buffers[0]!, Number(offset));
  return nodeCall("pwritev", (done) => nodefs.writev(fd, buffers, Number(offset), done));
}

/** preadv now, on this thread: {@link preadInto} without the thread pool. */
function preadIntoSync(fd: number, buffers: Uint8Array[], offset: bigint): number {
  try {
    if (buffers.length === 1) {
      const buffer = buffers[0]!;
      return nodefs.readSync(fd, buffer, 0, buffer.length, offset <= MAX_SAFE ? Number(offset) : offset);
    }
    if (offset + BigInt(buffers.reduce((n, b) => n + b.length, 0)) <= MAX_SAFE) return nodefs.readvSync(fd, buffers, Number(offset));
    let total = 0;
    for (const buffer of buffers) {
      const n = nodefs.readSync(fd, buffer, 0, buffer.length, offset + BigInt(total));
      total += n;
      if (n < buffer.length) break;
    }
    return total;
  } catch (error) {
    throw fromNode(error, "preadv");
  }
}

/** pwritev now, on this thread: {@link pwriteFrom} without the thread pool. */
function pwriteFromSync(fd: number, buffers: Uint8Array[], offset: bigint): number {
  const total = buffers.reduce((n, b) => n + b.length, 0);
  if (offset + BigInt(total) > MAX_SAFE) throw errno("EFBIG", "pwrite");
  try {
    if (buffers.length === 1) return nodefs.writeSync(fd, buffers[0]!, 0, total, Number(offset));
    return nodefs.writevSync(fd, buffers, Number(offset));
  } catch (error) {
    throw fromNode(error, "pwritev");
  }
}

/** How {@link PassthroughFs} runs its data calls. */
export interface PassthroughIo {
  /**
   * READ and WRITE on the JavaScript thread, with synchronous system calls
   * (default false: on the libuv thread pool). Saves two thread hand-offs per
   * request (measured: a 4 KiB read or write through a virtqueue in half the
   * time and CPU), at the price of stalling every other request while one
   * waits for the disk: what virtiofsd does with `--thread-pool-size=0`.
   */
  readonly inline?: boolean;
}

/**
 * File systems whose regular files have no `flush` operation: a close(2) of
 * an fd does nothing there that a FLUSH could report (NFS, CIFS, FUSE, f2fs
 * and overlayfs do have one).
 */
const FLUSHLESS_FILE_SYSTEMS: ReadonlySet<number> = new Set([TMPFS_MAGIC, EXT4_SUPER_MAGIC, XFS_SUPER_MAGIC, BTRFS_SUPER_MAGIC]);

/** Lock owners a FOPEN_NOFLUSH handle remembers before it forgets those without locks (see #noteLockOwner). */
const LOCK_OWNERS_KEPT = 64;

/** Whether a request's caller loses SUID/SGID on what it writes: flagged so, or not root. */
function killsPrivileges(ctx: Context, flagged: boolean): boolean {
  return flagged || ctx.uid !== 0;
}

/** Whether `list[at, end)` is `name`. */
function sliceIs(list: Buffer, at: number, end: number, name: Buffer): boolean {
  return end - at === name.length && list.compare(name, 0, name.length, at, end) === 0;
}

/** The passthrough file system. See the module comment for what it promises. */
export class PassthroughFs extends FileSystemBase {
  readonly options: PassthroughOptions;
  readonly #policy: CachePolicy;
  readonly #budget: FdBudget;
  readonly #locks: LockManager;
  readonly #inodes: InodeStore;
  readonly #handles: HandleTable;
  readonly #creds = new CallerCredentials();
  /** The last hot-path statx (see host-stat.ts). */
  readonly #host = new HostStat();
  #writeback = false;
  #submounts = false;
  /** The guest took a POSIX lock in this session: opens from then on keep FLUSH, which drops a closing owner's locks. */
  #posixLockTaken = false;
  /** The host device (the share root's) whose regular files need no FLUSH, or null: see {@link #noFlush}. */
  #flushlessDev: number | bigint | null = null;
  readonly #inlineIo: boolean;
  /** Recent lookups' outcome, 0..REUSE_MAX: high when they found nodes already open (see #lookupIn). */
  #reuse = 0;

  /** Opens the shared directory (throws when it cannot); INIT starts a session on it. */
  constructor(options: PassthroughOptions, io: PassthroughIo = {}) {
    super();
    this.options = options;
    this.#inlineIo = io.inline ?? false;
    this.#policy = cachePolicy(options.cache);
    this.#budget = new FdBudget(options.fdBudget ?? Infinity);
    this.#locks = new LockManager(this.#budget);
    this.#inodes = new InodeStore(this.#budget, (inode) => this.#locks.closeInode(inode), options.retention);
    this.#handles = new HandleTable(this.#budget, this.#inodes);
    sys.procSelfFd(); // opened once for the process, before any sandboxing hides /proc
    this.#openRoot();
  }

  /** Whether creates run with the caller's uid and gid (the daemon is root). */
  get createsAsCaller(): boolean {
    return this.#creds.enabled;
  }

  /** What the session holds: nodes the guest can name, open handles, the fds the guest holds (budget), and forgotten nodes' fds retained. */
  stats(): { nodes: number; handles: number; fds: number; retained: number } {
    const retained = this.#inodes.retainedFds;
    return { nodes: this.#inodes.size, handles: this.#handles.size, fds: this.#budget.used - retained, retained };
  }

  // ---- session ----

  override async init(params: InitParams): Promise<InitAnswer> {
    await this.destroy();
    this.#openRoot();
    const o = this.options;
    let want = InitFlag.ATOMIC_O_TRUNC | InitFlag.EXPORT_SUPPORT | InitFlag.CREATE_SUPP_GROUP;
    if (this.#policy.readdirplus) want |= InitFlag.DO_READDIRPLUS | InitFlag.READDIRPLUS_AUTO;
    if (o.writeback) want |= InitFlag.WRITEBACK_CACHE;
    if (o.posixLocks) want |= InitFlag.POSIX_LOCKS;
    if (o.flock) want |= InitFlag.FLOCK_LOCKS;
    if (o.announceSubmounts) want |= InitFlag.SUBMOUNTS;
    if (o.killprivV2) want |= InitFlag.HANDLE_KILLPRIV_V2;
    const flags = want & params.clientFlags;
    this.#writeback = (flags & InitFlag.WRITEBACK_CACHE) !== 0n;
    this.#submounts = (flags & InitFlag.SUBMOUNTS) !== 0n;
    return { flags };
  }

  /** Closes every fd of the session: handles (pinned ones when their request ends), lock descriptions, inodes. */
  override async destroy(): Promise<void> {
    this.#handles.clear();
    this.#locks.destroy();
    this.#inodes.clear();
    this.#writeback = false;
    this.#submounts = false;
    this.#posixLockTaken = false;
    // Large files' last fds close on the thread pool (inodes.ts closeNodeFd): the session ends when they are closed.
    await sys.backgroundClosesDone();
  }

  #openRoot(): void {
    if (this.#inodes.size > 0) return;
    const fd = sys.openat(AT_FDCWD, this.options.root, O_PATH | O_DIRECTORY);
    let st: HostStat;
    try {
      st = this.#host.of(fd, STATX_BASIC_STATS | STATX_MNT_ID);
    } catch (error) {
      libc.close(fd);
      throw error;
    }
    const root = this.#inodes.setRoot(fd, st);
    this.#flushlessDev = this.options.flush !== "always" && FLUSHLESS_FILE_SYSTEMS.has(sys.fstatfs(fd).type) ? root.dev : null;
  }

  // ---- names ----

  /**
   * Answers synchronously; a missing name is {@link NO_ENTRY}, not an
   * exception (a common answer: every create looks its name up first).
   */
  override lookup(_ctx: Context, parent: bigint, name: Uint8Array): Answer<EntryOut> {
    const dir = this.#inodes.get(parent, "lookup");
    checkLookupName(name, "lookup");
    if (isDot(name)) return this.#entryOf(dir, dir);
    if (isDotDot(name)) return this.#lookupParent(dir);
    return this.#find(dir, name, "lookup");
  }

  override forget(nodeid: bigint, nlookup: bigint): void {
    this.#inodes.forget(nodeid, nlookup);
  }

  /**
   * LOOKUP of `name` in `dir`, counted; ENOENT thrown when it is not there.
   * A node the table has (or a retained fd of one) needs only the name's
   * statx, a new one an openat and a statx of the fd; which to try first
   * follows what recent lookups found (see {@link #countReuse}). Creating
   * calls (mkdir, symlink, ...) pass `fresh`: their inode is new.
   */
  #lookupIn(dir: Inode, name: Uint8Array, op: string, fresh = false): EntryOut {
    if (fresh) return this.#adopt(dir, this.#openAt(dir, name, O_PATH), op, name);
    const entry = this.#find(dir, name, op);
    if (entry === NO_ENTRY) throw errno("ENOENT", op, display(name));
    return entry;
  }

  /**
   * {@link #lookupIn} of a name that may not be there: NO_ENTRY when it is
   * not (ENOENT, answered without an exception), and the other failures
   * thrown. Counts what it found for {@link #reuse}.
   */
  #find(dir: Inode, name: Uint8Array, op: string): EntryOut {
    const path = cstring(name, op);
    if (this.#reuse >= REUSE_PROBE) {
      const st = this.#host;
      if (!st.tryAt(dir.fd, path, STATX_BASIC_STATS | STATX_MNT_ID)) return this.#missing("statx", name);
      const inode = this.#inodes.revive(st, dir, name);
      this.#countReuse(inode !== undefined ? 2 : -1);
      if (inode !== undefined) return this.#entry(inode, st.attr(this.#attrFlags(dir, st)));
    }
    const fd = this.#tryOpenAt(dir, path, O_PATH);
    if (fd < 0) return this.#missing("openat", name);
    const entry = this.#adopt(dir, fd, op, name);
    this.#countReuse(this.#inodes.reused ? 2 : -1);
    return entry;
  }

  /** After a failed lookup call: NO_ENTRY for ENOENT (counted), else throws the errno. */
  #missing(call: string, name: Uint8Array): EntryOut {
    const e = libc.lastErrno();
    if (e !== Errno.ENOENT) throw new ErrnoError(e, call, display(name));
    this.#countReuse(1);
    return NO_ENTRY;
  }

  /**
   * Statx by name first pays when a third of lookups find a node already
   * open: it costs one call on such a hit and three on a miss (found, not
   * open: statx, openat, statx of the fd), against three and two opening
   * first; a hit counts +2, a miss -1. A name that is not there counts +1:
   * both ways cost one call then, and a failing statx is the cheaper
   * (measured: 2.8 µs against 4.6 µs for openat).
   */
  #countReuse(delta: number): void {
    this.#reuse = Math.max(0, Math.min(REUSE_MAX, this.#reuse + delta));
  }

  /** Counts a lookup of the O_PATH `fd` (which this call takes over) found below `dir`. */
  #adopt(dir: Inode, fd: number, op: string, name?: Uint8Array): EntryOut {
    let st: HostStat;
    try {
      st = this.#host.of(fd, STATX_BASIC_STATS | STATX_MNT_ID);
    } catch (error) {
      libc.close(fd);
      throw error;
    }
    const inode = this.#inodes.adopt(fd, st, op, dir, name);
    return this.#entry(inode, st.attr(this.#attrFlags(dir, st)));
  }

  /** "." (the node itself), counted. */
  #entryOf(dir: Inode, inode: Inode): EntryOut {
    const st = this.#stat(inode);
    inode.lookups++;
    return this.#entry(inode, st.attr(this.#attrFlags(dir, st)));
  }

  /**
   * "..": the root's is the root; another directory's parent is looked up
   * only when it is inside the share (ENOENT otherwise: the directory was
   * moved out of it on the host).
   */
  #lookupParent(dir: Inode): EntryOut {
    const root = this.#inodes.get(FUSE_ROOT_ID, "lookup");
    if (dir === root) return this.#entryOf(root, root);
    if (dir.type !== S_IFDIR) throw errno("ENOTDIR", "lookup");
    const fd = sys.openat(dir.fd, "..", O_PATH | O_DIRECTORY | O_NOFOLLOW);
    try {
      if (!this.#insideShare(fd, root)) throw errno("ENOENT", "lookup", "..");
    } catch (error) {
      libc.close(fd);
      throw error;
    }
    return this.#adopt(dir, fd, "lookup");
  }

  /** Whether walking up from directory `fd` reaches the root (at most 4096 levels). */
  #insideShare(fd: number, root: Inode): boolean {
    const host = this.#host;
    let current = fd;
    host.of(current, STATX_BASIC_STATS);
    let dev = host.dev;
    let ino = host.ino;
    try {
      for (let depth = 0; depth < 4096; depth++) {
        if (dev === root.dev && ino === root.ino) return true;
        const up = sys.openat(current, "..", O_PATH | O_DIRECTORY | O_NOFOLLOW);
        if (current !== fd) libc.close(current);
        current = up;
        host.of(current, STATX_BASIC_STATS);
        if (host.dev === dev && host.ino === ino) return false; // the host's "/": its ".." is itself
        dev = host.dev;
        ino = host.ino;
      }
      return false;
    } finally {
      if (current !== fd) libc.close(current);
    }
  }

  /**
   * Opens `name` below `dir` without following any symlink. `name` is one
   * component checked by names.ts (no '/', no NUL, not ".."; "." only for
   * O_TMPFILE), so openat(O_NOFOLLOW) cannot leave `dir`: nothing is walked
   * but the name itself, and a symlink there is opened as itself (O_PATH) or
   * refused (ELOOP). openat2's RESOLVE_* flags would add nothing for one
   * component and cost more (measured here: openat2 + close 7.1 µs, openat +
   * close 4.0 µs).
   */
  #openAt(dir: Inode, name: Uint8Array | string, flags: number, mode = 0): number {
    const fd = this.#tryOpenAt(dir, cstring(name, "openat"), flags, mode);
    if (fd < 0) libc.fail("openat", display(name));
    return fd;
  }

  /** {@link #openAt} of a name already made a C string, without the throw: -1 on failure, the errno in `libc.lastErrno()`. */
  #tryOpenAt(dir: Inode, path: CStr, flags: number, mode = 0): number {
    // libc directly: sys.openat would format the name for its error message on success too.
    return libc.openat(dir.fd, path, flags | O_NOFOLLOW | O_CLOEXEC, mode);
  }

  #attrFlags(dir: Inode, st: HostIdentity): number {
    if (!this.#submounts || (st.mode & S_IFMT) !== S_IFDIR) return 0;
    const otherDevice = st.devMajor !== dir.devMajor || st.devMinor !== dir.devMinor;
    const otherMount = st.mntId !== 0 && dir.mntId !== 0 && st.mntId !== dir.mntId;
    return otherDevice || otherMount ? AttrFlag.SUBMOUNT : 0;
  }

  #entry(inode: Inode, attr: Attr): EntryOut {
    const timeout = this.#policy.timeout;
    return {
      nodeid: inode.id,
      // Nodeids are reused (see IdTable): the pair is what stays unique, for NFS export of the guest's mount.
      generation: inode.generation === 0 ? 0n : BigInt(inode.generation),
      entryValid: timeout,
      attrValid: timeout,
      entryValidNsec: 0,
      attrValidNsec: 0,
      attr,
    };
  }

  /** statx of a node into the scratch result (read it before the next); refreshes the mode kept. */
  #stat(inode: Inode): HostStat {
    const st = this.#host.of(inode.fd, STATX_BASIC_STATS);
    inode.mode = st.mode;
    inode.size = st.size;
    return st;
  }

  #attrOut(st: HostStat): AttrOut {
    return { attrValid: this.#policy.timeout, attrValidNsec: 0, attr: st.attr() };
  }

  // ---- attributes ----

  override getattr(_ctx: Context, nodeid: bigint, _fh: bigint | undefined): Answer<AttrOut> {
    try {
      return this.#attrOut(this.#stat(this.#inodes.get(nodeid, "getattr")));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  override statx(_ctx: Context, nodeid: bigint, arg: StatxIn): Answer<StatxOut> {
    try {
      const inode = this.#inodes.get(nodeid, "statx");
      const sync = arg.sxFlags & (AT_STATX_FORCE_SYNC | AT_STATX_DONT_SYNC);
      const st = sys.statx(inode.fd, "", SELF | sync, (arg.sxMask | STATX_BASIC_STATS | STATX_BTIME) & 0xffff);
      inode.mode = st.mode;
      return { attrValid: this.#policy.timeout, attrValidNsec: 0, flags: 0, stat: toFuseStatx(st) };
    } catch (error) {
      return Promise.reject(error);
    }
  }

  override setattr(ctx: Context, nodeid: bigint, arg: SetattrIn): Answer<AttrOut> {
    try {
      const op = "setattr";
      const inode = this.#inodes.get(nodeid, op);
      const valid = arg.valid;
      const handle = valid & FAttr.FH ? this.#handles.get(arg.fh, nodeid, op) : undefined;

      if (valid & FAttr.MODE) this.#chmod(inode, arg.mode & 0o7777);

      if (valid & (FAttr.UID | FAttr.GID)) {
        const uid = valid & FAttr.UID ? arg.uid : -1;
        const gid = valid & FAttr.GID ? arg.gid : -1;
        // The host kernel clears SUID/SGID of a non-directory on chown, as for any caller.
        sys.fchownat(inode.fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
      }

      if (valid & FAttr.SIZE) {
        if (arg.size > INT64_MAX) throw errno("EINVAL", op);
        if (handle !== undefined && !handle.isDir) {
          sys.ftruncate(handle.fd, arg.size);
        } else {
          if (inode.type === S_IFDIR) throw errno("EISDIR", op);
          const fd = this.#reopen(inode, O_RDWR | O_NONBLOCK, op);
          try {
            sys.ftruncate(fd, arg.size);
          } finally {
            libc.close(fd);
          }
        }
        if (killsPrivileges(ctx, (valid & FAttr.KILL_SUIDGID) !== 0)) this.#killPrivileges(inode);
      }

      if (valid & (FAttr.ATIME | FAttr.MTIME | FAttr.ATIME_NOW | FAttr.MTIME_NOW)) {
        const atime: TimeArg =
          valid & FAttr.ATIME_NOW ? "now" : valid & FAttr.ATIME ? { sec: BigInt.asIntN(64, arg.atime), nsec: arg.atimensec } : "omit";
        const mtime: TimeArg =
          valid & FAttr.MTIME_NOW ? "now" : valid & FAttr.MTIME ? { sec: BigInt.asIntN(64, arg.mtime), nsec: arg.mtimensec } : "omit";
        this.#utimens(inode, atime, mtime);
      }
      // FATTR_CTIME: the host sets ctime itself on every change; FATTR_LOCKOWNER: nothing to do.
      return this.#attrOut(this.#stat(inode));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** utimensat of a node itself; kernels without AT_EMPTY_PATH there go through its /proc/self/fd link. */
  #utimens(inode: Inode, atime: TimeArg, mtime: TimeArg): void {
    try {
      sys.utimensat(inode.fd, "", atime, mtime, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
    } catch (error) {
      if (!isErrno(error, Errno.EINVAL) || inode.type === S_IFLNK) throw error;
      sys.utimensat(sys.procSelfFd(), String(inode.fd), atime, mtime, 0);
    }
  }

  /** chmod of a node through its /proc/self/fd link (works on any kernel); a symlink's mode is fixed (EOPNOTSUPP). */
  #chmod(inode: Inode, mode: number): void {
    if (inode.type === S_IFLNK) throw errno("EOPNOTSUPP", "chmod");
    libc.check(libc.fchmodat(sys.procSelfFd(), String(inode.fd), mode, 0), "fchmodat");
    inode.mode = (inode.mode & S_IFMT) | mode;
  }

  /** Clears S_ISUID, and S_ISGID if the group may execute, of a regular file (as a write by an unprivileged caller does). */
  #killPrivileges(inode: Inode): void {
    if (inode.type !== S_IFREG || (inode.mode & (S_ISUID | S_ISGID)) === 0) return;
    const mode = this.#stat(inode).mode;
    let kept = mode & ~S_ISUID;
    if (mode & S_IXGRP) kept &= ~S_ISGID;
    if (kept !== mode) this.#chmod(inode, kept & 0o7777);
  }

  override readlink(_ctx: Context, nodeid: bigint): Answer<Uint8Array> {
    try {
      const inode = this.#inodes.get(nodeid, "readlink");
      if (inode.type !== S_IFLNK) throw errno("EINVAL", "readlink");
      return sys.readlinkat(inode.fd, "");
    } catch (error) {
      return Promise.reject(error);
    }
  }

  override statfs(_ctx: Context, nodeid: bigint): Answer<Kstatfs> {
    try {
      const s = sys.fstatfs(this.#inodes.get(nodeid, "statfs").fd);
      return {
        blocks: s.blocks,
        bfree: s.bfree,
        bavail: s.bavail,
        files: s.files,
        ffree: s.ffree,
        bsize: s.bsize,
        namelen: s.namelen,
        frsize: s.frsize,
      };
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** ACCESS, judged from the mode bits for the caller's uid and gid (supplementary groups unknown), as virtiofsd. */
  override access(ctx: Context, nodeid: bigint, mask: number): Answer<void> {
    try {
      const st = this.#stat(this.#inodes.get(nodeid, "access"));
      const want = mask & (AccessMask.R_OK | AccessMask.W_OK | AccessMask.X_OK);
      if (want === 0) return;
      const root = ctx.uid === 0;
      const owner = st.uid === ctx.uid;
      const group = st.gid === ctx.gid;
      const allows = (bit: number): boolean =>
        (owner && (st.mode & (bit << 6)) !== 0) || (group && (st.mode & (bit << 3)) !== 0) || (st.mode & bit) !== 0;
      if (want & AccessMask.R_OK && !root && !allows(AccessMask.R_OK)) throw errno("EACCES", "access");
      if (want & AccessMask.W_OK && !root && !allows(AccessMask.W_OK)) throw errno("EACCES", "access");
      // Even root may execute only what someone may execute.
      if (want & AccessMask.X_OK && (root ? (st.mode & 0o111) === 0 : !allows(AccessMask.X_OK))) {
        throw errno("EACCES", "access");
      }
    } catch (error) {
      return Promise.reject(error);
    }
  }

  // ---- creating and removing ----

  override mkdir(ctx: Context, parent: bigint, name: Uint8Array, mode: number, umask: number): Answer<EntryOut> {
    try {
      const dir = this.#inodes.get(parent, "mkdir");
      checkEntryName(name, "mkdir");
      this.#creds.run(ctx, { umask, mode }, () => sys.mkdirat(dir.fd, name, mode & 0o7777));
      return this.#lookupIn(dir, name, "mkdir", true);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  override mknod(ctx: Context, parent: bigint, name: Uint8Array, mode: number, rdev: number, umask: number): Answer<EntryOut> {
    try {
      const dir = this.#inodes.get(parent, "mknod");
      checkEntryName(name, "mknod");
      this.#creds.run(ctx, { umask, mode }, () => sys.mknodat(dir.fd, name, mode & (S_IFMT | 0o7777), decodeDev(rdev)));
      return this.#lookupIn(dir, name, "mknod", true);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  override symlink(ctx: Context, parent: bigint, name: Uint8Array, target: Uint8Array): Answer<EntryOut> {
    try {
      const dir = this.#inodes.get(parent, "symlink");
      checkEntryName(name, "symlink");
      this.#creds.run(ctx, undefined, () => sys.symlinkat(target, dir.fd, name));
      return this.#lookupIn(dir, name, "symlink", true);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  override link(_ctx: Context, nodeid: bigint, newParent: bigint, newName: Uint8Array): Answer<EntryOut> {
    try {
      const inode = this.#inodes.get(nodeid, "link");
      const dir = this.#inodes.get(newParent, "link");
      checkEntryName(newName, "link");
      // The /proc/self/fd link leads to the inode itself (a symlink stays a symlink).
      sys.linkat(sys.procSelfFd(), String(inode.fd), dir.fd, newName, AT_SYMLINK_FOLLOW);
      return this.#lookupIn(dir, newName, "link");
    } catch (error) {
      return Promise.reject(error);
    }
  }

  override unlink(_ctx: Context, parent: bigint, name: Uint8Array): Answer<void> {
    try {
      const dir = this.#inodes.get(parent, "unlink");
      checkEntryName(name, "unlink");
      sys.unlinkat(dir.fd, name, 0);
      // Its node's fd must close when the guest forgets it, not be retained.
      this.#inodes.unlinked(parent, name);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  override rmdir(_ctx: Context, parent: bigint, name: Uint8Array): Answer<void> {
    try {
      const dir = this.#inodes.get(parent, "rmdir");
      checkEntryName(name, "rmdir");
      sys.unlinkat(dir.fd, name, AT_REMOVEDIR);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** RENAME and RENAME2 with NOREPLACE or EXCHANGE; WHITEOUT (a device node left behind) and unknown flags are EINVAL. */
  override rename(
    _ctx: Context,
    parent: bigint,
    name: Uint8Array,
    newParent: bigint,
    newName: Uint8Array,
    flags: number,
  ): Answer<void> {
    try {
      const from = this.#inodes.get(parent, "rename");
      const to = this.#inodes.get(newParent, "rename");
      checkEntryName(name, "rename");
      checkEntryName(newName, "rename");
      if ((flags & ~(RenameFlag.NOREPLACE | RenameFlag.EXCHANGE)) !== 0) throw errno("EINVAL", "rename");
      sys.renameat2(from.fd, name, to.fd, newName, flags);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  // ---- opening ----

  /** The open(2) flags for an fd serving guest `flags`. */
  #ioFlags(flags: number, op: string): number {
    let f = flags & GUEST_OPEN_FLAGS;
    if ((f & O_ACCMODE) === O_ACCMODE) throw errno("EINVAL", op);
    if (this.#writeback) {
      // The client may read back pages of a file it opened write-only, and handles appends itself.
      if ((f & O_ACCMODE) === O_WRONLY) f = (f & ~O_ACCMODE) | O_RDWR;
      f &= ~O_APPEND;
    }
    if (!this.options.allowDirectIo) f &= ~O_DIRECT;
    if (!this.options.preserveNoatime) f &= ~O_NOATIME;
    return f;
  }

  /** A new fd for I/O on a regular file or directory node (EBADF for any other type). */
  #reopen(inode: Inode, flags: number, op: string): number {
    if ((inode.type !== S_IFREG && inode.type !== S_IFDIR) || inode.closed) throw errno("EBADF", op);
    return sys.reopen(inode.fd, flags);
  }

  #openOut(handle: Handle): OpenOut {
    if (handle.isDir) return { fh: handle.id, openFlags: this.#policy.dirFlags, backingId: 0 };
    handle.noFlush = this.#noFlush(handle.node);
    return { fh: handle.id, openFlags: handle.noFlush ? this.#policy.fileFlags | FOpen.NOFLUSH : this.#policy.fileFlags, backingId: 0 };
  }

  /**
   * Whether a new open of regular file `inode` may tell the client to close
   * it without a FLUSH (FOPEN_NOFLUSH): when a FLUSH would do nothing. Its
   * close(dup(fd)) does nothing on a file system without a `flush`
   * operation (the share root's, when {@link FLUSHLESS_FILE_SYSTEMS} has
   * it; not a submount's). Its other work, dropping the closing owner's
   * POSIX locks, is needed once the guest has taken one: opens from then on
   * keep FLUSH, and a handle opened before drops at its RELEASE the locks
   * taken through it. With a writeback cache the client flushes anyway.
   */
  #noFlush(inode: Inode): boolean {
    return inode.dev === this.#flushlessDev && !this.#writeback && !this.#posixLockTaken;
  }

  override open(ctx: Context, nodeid: bigint, flags: number, openFlags: number): Answer<OpenOut> {
    try {
      return this.#open(ctx, nodeid, flags, openFlags);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #open(ctx: Context, nodeid: bigint, flags: number, openFlags: number): OpenOut {
    const inode = this.#inodes.get(nodeid, "open");
    const io = this.#ioFlags(flags, "open");
    const fd = this.#reopen(inode, io, "open");
    try {
      if (io & O_TRUNC && killsPrivileges(ctx, (openFlags & FUSE_OPEN_KILL_SUIDGID) !== 0)) this.#killPrivileges(inode);
    } catch (error) {
      libc.close(fd);
      throw error;
    }
    return this.#openOut(this.#handles.add(inode, fd, io, inode.type === S_IFDIR, "open"));
  }

  override create(
    ctx: Context,
    parent: bigint,
    name: Uint8Array,
    flags: number,
    mode: number,
    umask: number,
    openFlags: number,
  ): Answer<CreateOut> {
    try {
      return this.#create(ctx, parent, name, flags, mode, umask, openFlags);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #create(ctx: Context, parent: bigint, name: Uint8Array, flags: number, mode: number, umask: number, openFlags: number): CreateOut {
    const dir = this.#inodes.get(parent, "create");
    checkEntryName(name, "create");
    const io = this.#ioFlags(flags, "create");
    let fd: number;
    try {
      // Always O_EXCL: an existing name is opened as OPEN would (never a special file).
      fd = this.#creds.run(ctx, { umask, mode }, () => this.#openAt(dir, name, io | O_CREAT | O_EXCL, mode & 0o7777));
    } catch (error) {
      if (!isErrno(error, Errno.EEXIST) || flags & O_EXCL) throw error;
      const entry = this.#lookupIn(dir, name, "create");
      try {
        return { entry, open: this.#open(ctx, entry.nodeid, flags, openFlags) };
      } catch (openError) {
        this.forget(entry.nodeid, 1n);
        throw openError;
      }
    }
    return this.#opened(dir, fd, io, "create", name);
  }

  override tmpfile(ctx: Context, parent: bigint, flags: number, mode: number, umask: number): Answer<CreateOut> {
    try {
      const dir = this.#inodes.get(parent, "tmpfile");
      const io = this.#ioFlags(flags, "tmpfile");
      const fd = this.#creds.run(ctx, { umask, mode }, () => this.#openAt(dir, ".", io | O_TMPFILE, mode & 0o7777));
      return this.#opened(dir, fd, io, "tmpfile");
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The entry and handle of a file just created and opened as `fd` (which this call takes over). */
  #opened(dir: Inode, fd: number, io: number, op: string, name?: Uint8Array): CreateOut {
    let entry: EntryOut;
    try {
      // The node's O_PATH fd comes from the open fd itself: no second resolution of the name.
      entry = this.#adopt(dir, sys.reopen(fd, O_PATH), op, name);
    } catch (error) {
      libc.close(fd);
      throw error;
    }
    try {
      const handle = this.#handles.add(this.#inodes.get(entry.nodeid, op), fd, io, false, op);
      return { entry, open: this.#openOut(handle) };
    } catch (error) {
      this.forget(entry.nodeid, 1n);
      throw error;
    }
  }

  override opendir(_ctx: Context, nodeid: bigint, flags: number): Answer<OpenOut> {
    try {
      const inode = this.#inodes.get(nodeid, "opendir");
      if (inode.type !== S_IFDIR) throw errno("ENOTDIR", "opendir");
      const io = O_RDONLY | O_DIRECTORY | (flags & O_NONBLOCK);
      const handle = this.#handles.add(inode, this.#reopen(inode, io, "opendir"), io, true, "opendir");
      return this.#openOut(handle);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  // ---- data ----

  override read(_ctx: Context, nodeid: bigint, arg: ReadIn, target: ReadTarget): Answer<number> {
    try {
      const handle = this.#handles.get(arg.fh, nodeid, "read");
      if (arg.offset > INT64_MAX) throw errno("EINVAL", "read"); // a negative off_t
      // Inline, the handle needs no pin: nothing can release it before the call returns.
      if (this.#inlineIo && isSegments(target) && arg.offset <= MAX_SAFE) {
        const { segs, spans } = clipSegments(target, arg.size);
        return segs.length === 0 ? 0 : preadvSpans(handle.fd, segs, spans, Number(arg.offset));
      }
      const buffers = clip(dataViews(target), arg.size);
      if (buffers.length === 0) return 0;
      if (this.#inlineIo) return preadIntoSync(handle.fd, buffers, arg.offset);
      return this.#handles.use(handle, (h) => preadInto(h.fd, buffers, arg.offset));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  override write(ctx: Context, nodeid: bigint, arg: WriteIn, source: WriteSource): Answer<number> {
    try {
      const handle = this.#handles.get(arg.fh, nodeid, "write");
      // What the file may hold now, for how its last fd is closed (an estimate: a failed write counts too).
      const end = Number(arg.offset) + arg.size;
      if (end > handle.node.size) handle.node.size = end;
      const flagged = (arg.writeFlags & WriteFlag.KILL_SUIDGID) !== 0;
      // A page-cache write is the client's writeback, not the caller's write: the client
      // cleared the bits when the caller wrote into its cache, so only the flag counts.
      if (arg.writeFlags & WriteFlag.CACHE ? flagged : killsPrivileges(ctx, flagged)) this.#killPrivileges(handle.node);
      if (arg.size === 0 || dataLength(source) === 0) return 0;
      // A page-cache write carries its offset even to a file opened O_APPEND.
      const fd = handle.flags & O_APPEND && arg.writeFlags & WriteFlag.CACHE ? this.#positionedFd(handle) : handle.fd;
      if (this.#inlineIo && isSegments(source) && end <= Number.MAX_SAFE_INTEGER) {
        const { segs, spans } = clipSegments(source, arg.size);
        return pwritevSpans(fd, segs, spans, Number(arg.offset));
      }
      const buffers = clip(dataViews(source), arg.size);
      if (this.#inlineIo) return pwriteFromSync(fd, buffers, arg.offset);
      return this.#handles.use(handle, () => pwriteFrom(fd, buffers, arg.offset));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #positionedFd(handle: Handle): number {
    if (handle.positionedFd < 0) {
      const fd = sys.reopen(handle.fd, handle.flags & ~(O_APPEND | O_TRUNC));
      this.#handles.addPositionedFd(handle, fd, "write");
    }
    return handle.positionedFd;
  }

  /** FLUSH (a close(2) in the guest): drops the closing owner's POSIX locks, and closes a duplicate fd as close(2) would. */
  override flush(_ctx: Context, nodeid: bigint, arg: FlushIn): Answer<void> {
    try {
      const handle = this.#handles.get(arg.fh, nodeid, "flush");
      if (this.options.posixLocks) this.#locks.dropOwner(handle.node, arg.lockOwner);
      const dup = libc.check(libc.fcntlInt(handle.fd, F_DUPFD_CLOEXEC, 0), "fcntl(F_DUPFD_CLOEXEC)");
      libc.check(libc.close(dup), "close");
    } catch (error) {
      return Promise.reject(error);
    }
  }

  override release(_ctx: Context, nodeid: bigint, arg: ReleaseIn): Answer<void> {
    try {
      const handle = this.#handles.get(arg.fh, nodeid, "release");
      if (arg.releaseFlags & ReleaseFlag.FLOCK_UNLOCK) libc.flock(handle.fd, LOCK_UN);
      if (arg.releaseFlags & ReleaseFlag.FLUSH && this.options.posixLocks) this.#locks.dropOwner(handle.node, arg.lockOwner);
      // No FLUSH came for the locks taken through a handle opened with FOPEN_NOFLUSH (see #noFlush).
      if (handle.lockOwners !== null) for (const owner of handle.lockOwners) this.#locks.dropOwner(handle.node, owner);
      this.#handles.release(arg.fh, nodeid, "release");
      this.#locks.wake(handle.node);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  override async fsync(_ctx: Context, nodeid: bigint, arg: FsyncIn): Promise<void> {
    const handle = this.#handles.get(arg.fh, nodeid, "fsync");
    const dataOnly = (arg.fsyncFlags & FUSE_FSYNC_FDATASYNC) !== 0;
    await this.#handles.use(handle, (h) => (dataOnly ? sys.fdatasyncAsync(h.fd) : sys.fsyncAsync(h.fd)));
  }

  override async fallocate(ctx: Context, nodeid: bigint, arg: FallocateIn): Promise<void> {
    const handle = this.#handles.get(arg.fh, nodeid, "fallocate");
    if (arg.offset > INT64_MAX || arg.length > INT64_MAX) throw errno("EINVAL", "fallocate");
    if (killsPrivileges(ctx, false)) this.#killPrivileges(handle.node);
    await this.#handles.use(handle, (h) => sys.fallocateAsync(h.fd, arg.mode, arg.offset, arg.length));
  }

  override lseek(_ctx: Context, nodeid: bigint, arg: LseekIn): Answer<bigint> {
    try {
      const handle = this.#handles.get(arg.fh, nodeid, "lseek");
      const result = libc.lseek(handle.fd, BigInt.asIntN(64, arg.offset), arg.whence);
      if (Number(result) < 0) libc.fail("lseek");
      if (handle.isDir) handle.dir = undefined; // READDIR must seek again
      return BigInt(result);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  override copyFileRange(ctx: Context, nodeid: bigint, arg: CopyFileRangeIn): Answer<number> {
    try {
      const op = "copy_file_range";
      const from = this.#handles.get(arg.fhIn, nodeid, op);
      const to = this.#handles.get(arg.fhOut, arg.nodeidOut, op);
      if (arg.flags !== 0n) throw errno("EINVAL", op);
      if (arg.offIn > INT64_MAX || arg.offOut > INT64_MAX) throw errno("EINVAL", op);
      if (killsPrivileges(ctx, false)) this.#killPrivileges(to.node);
      const length = Number(arg.len < BigInt(COPY_MAX) ? arg.len : BigInt(COPY_MAX));
      return this.#handles.use(from, () =>
        this.#handles.use(to, () => sys.copyFileRangeAsync(from.fd, arg.offIn, to.fd, arg.offOut, length)),
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  override async syncfs(_ctx: Context, nodeid: bigint): Promise<void> {
    const inode = this.#inodes.get(nodeid, "syncfs");
    const fd = this.#reopen(inode, O_RDONLY | O_NONBLOCK, "syncfs");
    try {
      await sys.syncfsAsync(fd);
    } finally {
      libc.close(fd);
    }
  }

  // ---- directories ----

  override readdir(_ctx: Context, nodeid: bigint, fh: bigint, offset: bigint, sink: DirSink): Answer<void> {
    try {
      this.#readdir(nodeid, fh, offset, sink, false);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  override readdirplus(_ctx: Context, nodeid: bigint, fh: bigint, offset: bigint, sink: DirSink): Answer<void> {
    try {
      this.#readdir(nodeid, fh, offset, sink, true);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #readdir(nodeid: bigint, fh: bigint, offset: bigint, sink: DirSink, plus: boolean): void {
    const op = plus ? "readdirplus" : "readdir";
    const handle = this.#handles.get(fh, nodeid, op);
    if (!handle.isDir) throw errno("ENOTDIR", op);
    const cursor = cursorAt(handle, offset);
    if (!plus) return drainInto(handle, cursor, sink);
    for (let entry = peek(handle, cursor); entry !== undefined; entry = peek(handle, cursor)) {
      // A getdents64 record is a DirEntry as it is: no copy of it per entry.
      if (!this.#addPlus(handle.node, entry, sink)) return;
      take(cursor, entry);
    }
  }

  /** One READDIRPLUS entry: "." and "..", and names that vanished meanwhile, go without attributes. */
  #addPlus(dir: Inode, entry: DirEntry, sink: DirSink): boolean {
    if (isDot(entry.name) || isDotDot(entry.name)) return sink.add(entry);
    let out: EntryOut;
    try {
      out = this.#lookupIn(dir, entry.name, "readdirplus");
    } catch {
      return sink.add(entry);
    }
    if (sink.addPlus(entry, out)) return true;
    this.#inodes.forget(out.nodeid, 1n); // refused: the lookup does not count
    return false;
  }

  override releasedir(_ctx: Context, nodeid: bigint, arg: ReleaseIn): Answer<void> {
    try {
      this.#handles.release(arg.fh, nodeid, "releasedir");
    } catch (error) {
      return Promise.reject(error);
    }
  }

  override fsyncdir(ctx: Context, nodeid: bigint, arg: FsyncIn): Answer<void> {
    try {
      return this.fsync(ctx, nodeid, arg);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  // ---- extended attributes ----

  #xattrTarget(nodeid: bigint, name: Uint8Array | undefined, op: string): { fd: number; name: Uint8Array | string } {
    if (!this.options.xattr) throw errno("ENOSYS", op);
    const inode = this.#inodes.get(nodeid, op);
    let cname: Uint8Array | string = "";
    if (name !== undefined) {
      if (name.length === 0) throw errno("ERANGE", op);
      if (ACL_NAMES.some((acl) => acl.equals(name))) throw errno("EOPNOTSUPP", op);
      cname = cstring(name, op);
    }
    // Through the /proc/self/fd link (relative: from that directory's fd, or inside sys.inProcFdDir),
    // which leads to the inode itself: a symlink's own xattrs, never its target's; it works inside the sandbox too.
    return { fd: inode.fd, name: cname };
  }

  override setxattr(
    _ctx: Context,
    nodeid: bigint,
    name: Uint8Array,
    value: Uint8Array,
    flags: number,
    _setxattrFlags: number,
  ): Answer<void> {
    try {
      const target = this.#xattrTarget(nodeid, name, "setxattr");
      if ((flags & ~(XATTR_CREATE | XATTR_REPLACE)) !== 0) throw errno("EINVAL", "setxattr");
      sys.inProcFdDir(() => libc.check(libc.setxattr(String(target.fd), target.name, value, value.byteLength, flags), "setxattr"));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Fails synchronously; an attribute not set (a common answer: see NO_XATTR) is no exception. */
  override getxattr(_ctx: Context, nodeid: bigint, name: Uint8Array): Answer<Uint8Array> {
    const target = this.#xattrTarget(nodeid, name, "getxattr");
    const n = sys.getxattrOfFd(target.fd, target.name, xattrScratch);
    if (n === -Errno.ENODATA) return NO_XATTR;
    if (n < 0) throw new ErrnoError(-n, "getxattr");
    return Buffer.from(xattrScratch.subarray(0, n));
  }

  override listxattr(_ctx: Context, nodeid: bigint): Answer<Uint8Array> {
    try {
      const target = this.#xattrTarget(nodeid, undefined, "listxattr");
      const n = sys.inProcFdDir(() => libc.check(libc.listxattr(String(target.fd), xattrScratch, xattrScratch.length), "listxattr"));
      const kept: Buffer[] = [];
      for (let at = 0; at < n; ) {
        let end = xattrScratch.indexOf(0, at);
        if (end < 0 || end >= n) end = n;
        if (end > at && !ACL_NAMES.some((acl) => sliceIs(xattrScratch, at, end, acl))) {
          kept.push(xattrScratch.subarray(at, Math.min(end + 1, n)));
        }
        at = end + 1;
      }
      return Buffer.concat(kept);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  override removexattr(_ctx: Context, nodeid: bigint, name: Uint8Array): Answer<void> {
    try {
      const target = this.#xattrTarget(nodeid, name, "removexattr");
      sys.inProcFdDir(() => libc.check(libc.removexattr(String(target.fd), target.name), "removexattr"));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  // ---- locks ----

  override getlk(_ctx: Context, nodeid: bigint, arg: LkIn): Answer<FileLock> {
    try {
      if (!this.options.posixLocks) throw errno("ENOSYS", "getlk");
      if (arg.lkFlags & FUSE_LK_FLOCK) throw errno("EINVAL", "getlk");
      const handle = this.#handles.get(arg.fh, nodeid, "getlk");
      return this.#locks.getlk(handle.node, handle, arg.owner, arg.lk);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Remembers that `owner` locks through `handle`, opened with FOPEN_NOFLUSH,
   * for its RELEASE to drop. Owners that hold no lock on the node any more
   * are forgotten once {@link LOCK_OWNERS_KEPT} are remembered, so a guest
   * cycling through owners cannot grow the set past those holding locks
   * (each holds an fd of the budget).
   */
  #noteLockOwner(handle: Handle, owner: bigint): void {
    const owners = (handle.lockOwners ??= new Set());
    if (owners.size >= LOCK_OWNERS_KEPT && !owners.has(owner)) {
      for (const held of owners) if (!this.#locks.holds(handle.node, held)) owners.delete(held);
    }
    owners.add(owner);
  }

  override setlk(ctx: Context, nodeid: bigint, arg: LkIn, wait: boolean): Answer<void> {
    try {
      const op = wait ? "setlkw" : "setlk";
      const flockLock = (arg.lkFlags & FUSE_LK_FLOCK) !== 0;
      if (flockLock ? !this.options.flock : !this.options.posixLocks) throw errno("ENOSYS", op);
      const handle = this.#handles.get(arg.fh, nodeid, op);
      if (flockLock) return this.#locks.flock(handle.node, handle, arg.lk.type, wait, ctx.signal);
      if (arg.lk.type !== LockType.F_UNLCK) {
        this.#posixLockTaken = true;
        if (handle.noFlush) this.#noteLockOwner(handle, arg.owner);
      }
      return this.#locks.setlk(handle.node, handle, arg.owner, arg.lk, wait, ctx.signal);
    } catch (error) {
      return Promise.reject(error);
    }
  }
}
