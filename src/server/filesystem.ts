/**
 * The FileSystem interface: one method per FUSE opcode, called by the
 * {@link FuseServer} with decoded, typed arguments. It knows nothing of
 * transports (virtqueues, /dev/fuse) and nothing of wire encoding.
 *
 * Contract, for every method:
 * - Failure is an `ErrnoError` (src/common/errors.ts); its errno goes to the
 *   client as `-errno`. Any other thrown value is a bug and is answered EIO.
 *   A method may throw it at once or return a promise that rejects with it;
 *   the server answers both alike. A synchronous failure is the cheaper one
 *   (no promise, no microtask turn, none of node's bookkeeping of a promise
 *   rejected before it has a handler), which counts where failing is the
 *   common answer: a LOOKUP of a name that is not there, a GETXATTR of an
 *   attribute that is not set.
 * - Node IDs and file handles come from an untrusted client (a guest). An
 *   implementation must look them up in tables it owns and answer EBADF /
 *   ENOENT / EINVAL for ones it never issued or has forgotten, and must check
 *   that a handle belongs to the node it is used with when that matters.
 * - The {@link FileSystemBase} default for every method rejects with ENOSYS,
 *   which the client reads as "not implemented" (for some opcodes, e.g. FLUSH,
 *   it then stops sending them).
 *
 * Lookup counts: every reply that carries an `EntryOut` with a non-zero
 * nodeid (LOOKUP, MKNOD, MKDIR, SYMLINK, LINK, CREATE, TMPFILE and each entry
 * READDIRPLUS actually sends) adds one to that node's lookup count. FORGET and
 * BATCH_FORGET subtract; at zero the node may be released. A node whose count
 * is not zero must stay valid even after it is unlinked. The root (nodeid 1)
 * is never forgotten. The server sends no reply for FORGET.
 */
import type {
  AttrOut,
  BmapIn,
  CopyFileRangeIn,
  FallocateIn,
  FileLock,
  FlushIn,
  ForgetOne,
  FsyncIn,
  IoctlIn,
  Kstatfs,
  LkIn,
  LseekIn,
  OpenOut,
  PollIn,
  ReadIn,
  ReleaseIn,
  SetattrIn,
  StatxIn,
  StatxOut,
  WriteIn,
} from "../fuse/structs.js";
import { Attr, EntryOut } from "../fuse/structs.js";
import type { CreateOut } from "../fuse/messages.js";
import type { DataSegments } from "../fuse/reply-target.js";
import { errno } from "../common/errors.js";
import { spanViews } from "../common/spans.js";

/** Who is asking: from `fuse_in_header` and the request's extensions. */
export interface Context {
  /** The request's unique id (for INTERRUPT matching and tracing). */
  readonly unique: bigint;
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
  /** The caller's supplementary group, when FUSE_CREATE_SUPP_GROUP sent one. */
  readonly suppGroup?: number;
  /** Aborted when the client INTERRUPTs this request. */
  readonly signal?: AbortSignal;
}

/** What the client offered at INIT, and what the server is going to answer. */
export interface InitParams {
  /** The client's protocol minor. */
  readonly minor: number;
  /** The client's INIT flags (`flags | flags2 << 32`). */
  readonly clientFlags: bigint;
}

/** The file system's answer to INIT, which the server combines with its own limits. */
export interface InitAnswer {
  /** Flags the file system wants, from among `clientFlags` (the server masks the rest away). */
  readonly flags: bigint;
}

/** A directory entry handed to a {@link DirSink}. */
export interface DirEntry {
  /** Raw bytes of the name; never contains '/' or NUL. */
  readonly name: Uint8Array;
  /** Inode number shown to the client (fuse_dirent.ino). */
  readonly ino: bigint;
  /** The offset at which the *next* READDIR resumes (fuse_dirent.off). */
  readonly off: bigint;
  /** `DirentType` (DT_*), 0 if unknown. */
  readonly type: number;
}

/**
 * Where READDIR/READDIRPLUS put entries. `add` returns false, and keeps
 * nothing, when the entry does not fit in the client's buffer: the file system
 * stops there and must not count a lookup for an entry that was refused.
 * An entry's bytes are the file system's again once the call returns: a sink
 * copies what it keeps.
 */
export interface DirSink {
  add(entry: DirEntry): boolean;
  /**
   * {@link add} for an entry whose fields lie in `src`: `ino` and `off` as
   * little-endian 64-bit words at `inoAt` and `offAt`, the name's
   * `nameLength` bytes at `nameAt`. For a file system that holds entries as
   * records (a getdents64 buffer): nothing to allocate per entry.
   */
  addFields(src: Uint8Array, inoAt: number, offAt: number, type: number, nameAt: number, nameLength: number): boolean;
  /** READDIRPLUS: the entry with its attributes; a lookup is counted only when this returns true. */
  addPlus(entry: DirEntry, out: EntryOut): boolean;
}

/**
 * The guest's buffers a READ writes into (scatter list) and how many bytes it
 * may write in all. Implementations fill them in order and return the count.
 * A transport whose buffers are pages of the guest's memory gives them as
 * spans of it (`DataSegments`: no typed array per page, for a vectored
 * system call); {@link dataViews} turns either form into views.
 */
export type ReadTarget = readonly Uint8Array[] | DataSegments;

/** The guest's bytes a WRITE takes (gather list), in order: views or spans, as {@link ReadTarget}. */
export type WriteSource = readonly Uint8Array[] | DataSegments;

/** Whether `data` is the spans form of a {@link ReadTarget} or {@link WriteSource}. */
export function isSegments(data: ReadTarget | WriteSource): data is DataSegments {
  return !Array.isArray(data);
}

/** The buffers of a {@link ReadTarget} or {@link WriteSource} as views, in order. */
export function dataViews(data: ReadTarget | WriteSource): readonly Uint8Array[] {
  return isSegments(data) ? spanViews(data.segs, data.spans) : (data as readonly Uint8Array[]);
}

/** The total length of a {@link ReadTarget} or {@link WriteSource}. */
export function dataLength(data: ReadTarget | WriteSource): number {
  let total = 0;
  if (!isSegments(data)) {
    for (const b of data as readonly Uint8Array[]) total += b.length;
    return total;
  }
  const spans = data.spans;
  for (let i = 1; i < spans.length; i += 2) total += spans[i]!;
  return total;
}

/**
 * What a method answers: the result itself when the file system finished at
 * once (the server then replies without a turn of the microtask queue), or a
 * promise of it. A failure may be thrown or be a rejected (native) promise.
 */
export type Answer<T> = T | Promise<T>;

/**
 * LOOKUP's answer for a name that is not there, without an exception: FUSE's
 * negative entry (nodeid 0), not to be cached. The server sends it as ENOENT,
 * as virtiofsd does. It means what throwing `ErrnoError(ENOENT)` means; it
 * only skips making an Error and unwinding to the server, which in a VM (where
 * every request finds the caches cold) cost more than the failed openat
 * itself. Compare by identity.
 */
const NO_ENTRY_ATTR = Object.freeze(Attr.zero());
export const NO_ENTRY: EntryOut = Object.freeze({ ...EntryOut.zero(), attr: NO_ENTRY_ATTR });

/**
 * GETXATTR's answer for an attribute that is not set, without an exception
 * (see {@link NO_ENTRY}): the server sends ENODATA. A Linux client asks for
 * security.capability before every WRITE while xattrs are served, so this is
 * the common answer. Compare by identity; an empty value is any other
 * zero-length array.
 */
export const NO_XATTR: Uint8Array = new Uint8Array(0);

/** The FUSE operations, one per opcode. See the module comment for the contract. */
export interface FileSystem {
  /** INIT: the features to enable. Called once per session, before any other method. */
  init(params: InitParams): Promise<InitAnswer>;
  /** DESTROY, or the session ended (client gone): drop every node and handle of the session. */
  destroy(): Promise<void>;

  /**
   * LOOKUP: resolve `name` in `parent`; counts a lookup. A missing name is
   * ENOENT: thrown, or answered as {@link NO_ENTRY}, which costs no exception.
   */
  lookup(ctx: Context, parent: bigint, name: Uint8Array): Answer<EntryOut>;
  /** FORGET: drop `nlookup` lookups of `nodeid`. Never fails, never replied. */
  forget(nodeid: bigint, nlookup: bigint): void;
  /** BATCH_FORGET: several FORGETs. */
  batchForget(forgets: readonly ForgetOne[]): void;

  /** GETATTR; `fh` is set when the client passed FUSE_GETATTR_FH. */
  getattr(ctx: Context, nodeid: bigint, fh: bigint | undefined): Answer<AttrOut>;
  /** SETATTR: apply the fields `arg.valid` names (FATTR_*), as one operation where the host allows. */
  setattr(ctx: Context, nodeid: bigint, arg: SetattrIn): Answer<AttrOut>;
  /** STATX: like GETATTR, with birth time and the statx mask. */
  statx(ctx: Context, nodeid: bigint, arg: StatxIn): Answer<StatxOut>;

  readlink(ctx: Context, nodeid: bigint): Answer<Uint8Array>;
  symlink(ctx: Context, parent: bigint, name: Uint8Array, target: Uint8Array): Answer<EntryOut>;
  /** MKNOD; `umask` is the caller's, applied by the file system (FUSE_DONT_MASK semantics are the server's concern). */
  mknod(ctx: Context, parent: bigint, name: Uint8Array, mode: number, rdev: number, umask: number): Answer<EntryOut>;
  mkdir(ctx: Context, parent: bigint, name: Uint8Array, mode: number, umask: number): Answer<EntryOut>;
  unlink(ctx: Context, parent: bigint, name: Uint8Array): Answer<void>;
  rmdir(ctx: Context, parent: bigint, name: Uint8Array): Answer<void>;
  /** RENAME and RENAME2; `flags` are RENAME_* (0 for RENAME). */
  rename(ctx: Context, parent: bigint, name: Uint8Array, newParent: bigint, newName: Uint8Array, flags: number): Answer<void>;
  /** LINK: a new name (`newParent`, `newName`) for `nodeid`; counts a lookup. */
  link(ctx: Context, nodeid: bigint, newParent: bigint, newName: Uint8Array): Answer<EntryOut>;

  /** OPEN: `flags` are open(2) flags; `openFlags` FUSE_OPEN_KILL_SUIDGID. */
  open(ctx: Context, nodeid: bigint, flags: number, openFlags: number): Answer<OpenOut>;
  /** CREATE: create and open `name`; counts a lookup. */
  create(ctx: Context, parent: bigint, name: Uint8Array, flags: number, mode: number, umask: number, openFlags: number): Answer<CreateOut>;
  /** TMPFILE: an unnamed file in `parent` (O_TMPFILE), open; counts a lookup. */
  tmpfile(ctx: Context, parent: bigint, flags: number, mode: number, umask: number): Answer<CreateOut>;
  /** READ: fill `target` from `arg.offset`, at most `arg.size` bytes; returns the count (short at end of file). */
  read(ctx: Context, nodeid: bigint, arg: ReadIn, target: ReadTarget): Answer<number>;
  /** WRITE: write `source` at `arg.offset` (clearing SUID/SGID as the kernel would); returns the count. */
  write(ctx: Context, nodeid: bigint, arg: WriteIn, source: WriteSource): Answer<number>;
  flush(ctx: Context, nodeid: bigint, arg: FlushIn): Answer<void>;
  /** RELEASE: the last close of `arg.fh`; releases the client's locks as `arg.releaseFlags` says. */
  release(ctx: Context, nodeid: bigint, arg: ReleaseIn): Answer<void>;
  fsync(ctx: Context, nodeid: bigint, arg: FsyncIn): Answer<void>;
  fallocate(ctx: Context, nodeid: bigint, arg: FallocateIn): Answer<void>;
  lseek(ctx: Context, nodeid: bigint, arg: LseekIn): Answer<bigint>;
  copyFileRange(ctx: Context, nodeid: bigint, arg: CopyFileRangeIn): Answer<number>;

  opendir(ctx: Context, nodeid: bigint, flags: number): Answer<OpenOut>;
  /** READDIR from `offset` (0 or an `off` this file system handed out). */
  readdir(ctx: Context, nodeid: bigint, fh: bigint, offset: bigint, sink: DirSink): Answer<void>;
  /** READDIRPLUS: like READDIR with `sink.addPlus`; "." and ".." are sent with `add` only. */
  readdirplus(ctx: Context, nodeid: bigint, fh: bigint, offset: bigint, sink: DirSink): Answer<void>;
  releasedir(ctx: Context, nodeid: bigint, arg: ReleaseIn): Answer<void>;
  fsyncdir(ctx: Context, nodeid: bigint, arg: FsyncIn): Answer<void>;

  statfs(ctx: Context, nodeid: bigint): Answer<Kstatfs>;
  /** ACCESS: `mask` is R_OK|W_OK|X_OK|F_OK. */
  access(ctx: Context, nodeid: bigint, mask: number): Answer<void>;

  setxattr(ctx: Context, nodeid: bigint, name: Uint8Array, value: Uint8Array, flags: number, setxattrFlags: number): Answer<void>;
  /**
   * GETXATTR: the value; the server answers a size-0 request with its length
   * and ERANGE when it exceeds `size`. Not set: ENODATA, thrown or answered
   * as {@link NO_XATTR}.
   */
  getxattr(ctx: Context, nodeid: bigint, name: Uint8Array): Answer<Uint8Array>;
  /** LISTXATTR: the names, each NUL-terminated; the server handles the size rules as for GETXATTR. */
  listxattr(ctx: Context, nodeid: bigint): Answer<Uint8Array>;
  removexattr(ctx: Context, nodeid: bigint, name: Uint8Array): Answer<void>;

  /** GETLK: the first lock that would conflict with `arg.lk`, or `arg.lk` with type F_UNLCK. */
  getlk(ctx: Context, nodeid: bigint, arg: LkIn): Answer<FileLock>;
  /** SETLK (`wait` false: EAGAIN on conflict) and SETLKW (`wait` true: until granted or interrupted). */
  setlk(ctx: Context, nodeid: bigint, arg: LkIn, wait: boolean): Answer<void>;

  bmap(ctx: Context, nodeid: bigint, arg: BmapIn): Answer<bigint>;
  ioctl(ctx: Context, nodeid: bigint, arg: IoctlIn, data: Uint8Array): Answer<{ result: number; data: Uint8Array }>;
  poll(ctx: Context, nodeid: bigint, arg: PollIn): Answer<number>;
  /** SYNCFS: flush the whole file system holding `nodeid`. */
  syncfs(ctx: Context, nodeid: bigint): Answer<void>;
}

const enosys = (op: string): Promise<never> => Promise.reject(errno("ENOSYS", op));

/**
 * Every method rejects with ENOSYS (FORGET and DESTROY do nothing), so an
 * implementation overrides only what it supports, and a file system with no
 * overrides at all (a NullFs) is a valid fuzzing target for the server.
 */
export class FileSystemBase implements FileSystem {
  init(_params: InitParams): Promise<InitAnswer> {
    return Promise.resolve({ flags: 0n });
  }
  destroy(): Promise<void> {
    return Promise.resolve();
  }
  lookup(_ctx: Context, _parent: bigint, _name: Uint8Array): Answer<EntryOut> {
    return enosys("lookup");
  }
  forget(_nodeid: bigint, _nlookup: bigint): void {}
  batchForget(forgets: readonly ForgetOne[]): void {
    for (const f of forgets) this.forget(f.nodeid, f.nlookup);
  }
  getattr(_ctx: Context, _nodeid: bigint, _fh: bigint | undefined): Answer<AttrOut> {
    return enosys("getattr");
  }
  setattr(_ctx: Context, _nodeid: bigint, _arg: SetattrIn): Answer<AttrOut> {
    return enosys("setattr");
  }
  statx(_ctx: Context, _nodeid: bigint, _arg: StatxIn): Answer<StatxOut> {
    return enosys("statx");
  }
  readlink(_ctx: Context, _nodeid: bigint): Answer<Uint8Array> {
    return enosys("readlink");
  }
  symlink(_ctx: Context, _parent: bigint, _name: Uint8Array, _target: Uint8Array): Answer<EntryOut> {
    return enosys("symlink");
  }
  mknod(_ctx: Context, _parent: bigint, _name: Uint8Array, _mode: number, _rdev: number, _umask: number): Answer<EntryOut> {
    return enosys("mknod");
  }
  mkdir(_ctx: Context, _parent: bigint, _name: Uint8Array, _mode: number, _umask: number): Answer<EntryOut> {
    return enosys("mkdir");
  }
  unlink(_ctx: Context, _parent: bigint, _name: Uint8Array): Answer<void> {
    return enosys("unlink");
  }
  rmdir(_ctx: Context, _parent: bigint, _name: Uint8Array): Answer<void> {
    return enosys("rmdir");
  }
  rename(_ctx: Context, _parent: bigint, _name: Uint8Array, _newParent: bigint, _newName: Uint8Array, _flags: number): Answer<void> {
    return enosys("rename");
  }
  link(_ctx: Context, _nodeid: bigint, _newParent: bigint, _newName: Uint8Array): Answer<EntryOut> {
    return enosys("link");
  }
  open(_ctx: Context, _nodeid: bigint, _flags: number, _openFlags: number): Answer<OpenOut> {
    return enosys("open");
  }
  create(_ctx: Context, _parent: bigint, _name: Uint8Array, _flags: number, _mode: number, _umask: number, _openFlags: number): Answer<CreateOut> {
    return enosys("create");
  }
  tmpfile(_ctx: Context, _parent: bigint, _flags: number, _mode: number, _umask: number): Answer<CreateOut> {
    return enosys("tmpfile");
  }
  read(_ctx: Context, _nodeid: bigint, _arg: ReadIn, _target: ReadTarget): Answer<number> {
    return enosys("read");
  }
  write(_ctx: Context, _nodeid: bigint, _arg: WriteIn, _source: WriteSource): Answer<number> {
    return enosys("write");
  }
  flush(_ctx: Context, _nodeid: bigint, _arg: FlushIn): Answer<void> {
    return enosys("flush");
  }
  release(_ctx: Context, _nodeid: bigint, _arg: ReleaseIn): Answer<void> {
    return enosys("release");
  }
  fsync(_ctx: Context, _nodeid: bigint, _arg: FsyncIn): Answer<void> {
    return enosys("fsync");
  }
  fallocate(_ctx: Context, _nodeid: bigint, _arg: FallocateIn): Answer<void> {
    return enosys("fallocate");
  }
  lseek(_ctx: Context, _nodeid: bigint, _arg: LseekIn): Answer<bigint> {
    return enosys("lseek");
  }
  copyFileRange(_ctx: Context, _nodeid: bigint, _arg: CopyFileRangeIn): Answer<number> {
    return enosys("copy_file_range");
  }
  opendir(_ctx: Context, _nodeid: bigint, _flags: number): Answer<OpenOut> {
    return enosys("opendir");
  }
  readdir(_ctx: Context, _nodeid: bigint, _fh: bigint, _offset: bigint, _sink: DirSink): Answer<void> {
    return enosys("readdir");
  }
  readdirplus(_ctx: Context, _nodeid: bigint, _fh: bigint, _offset: bigint, _sink: DirSink): Answer<void> {
    return enosys("readdirplus");
  }
  releasedir(_ctx: Context, _nodeid: bigint, _arg: ReleaseIn): Answer<void> {
    return enosys("releasedir");
  }
  fsyncdir(_ctx: Context, _nodeid: bigint, _arg: FsyncIn): Answer<void> {
    return enosys("fsyncdir");
  }
  statfs(_ctx: Context, _nodeid: bigint): Answer<Kstatfs> {
    return enosys("statfs");
  }
  access(_ctx: Context, _nodeid: bigint, _mask: number): Answer<void> {
    return enosys("access");
  }
  setxattr(_ctx: Context, _nodeid: bigint, _name: Uint8Array, _value: Uint8Array, _flags: number, _setxattrFlags: number): Answer<void> {
    return enosys("setxattr");
  }
  getxattr(_ctx: Context, _nodeid: bigint, _name: Uint8Array): Answer<Uint8Array> {
    return enosys("getxattr");
  }
  listxattr(_ctx: Context, _nodeid: bigint): Answer<Uint8Array> {
    return enosys("listxattr");
  }
  removexattr(_ctx: Context, _nodeid: bigint, _name: Uint8Array): Answer<void> {
    return enosys("removexattr");
  }
  getlk(_ctx: Context, _nodeid: bigint, _arg: LkIn): Answer<FileLock> {
    return enosys("getlk");
  }
  setlk(_ctx: Context, _nodeid: bigint, _arg: LkIn, _wait: boolean): Answer<void> {
    return enosys("setlk");
  }
  bmap(_ctx: Context, _nodeid: bigint, _arg: BmapIn): Answer<bigint> {
    return enosys("bmap");
  }
  ioctl(_ctx: Context, _nodeid: bigint, _arg: IoctlIn, _data: Uint8Array): Answer<{ result: number; data: Uint8Array }> {
    return enosys("ioctl");
  }
  poll(_ctx: Context, _nodeid: bigint, _arg: PollIn): Answer<number> {
    return enosys("poll");
  }
  syncfs(_ctx: Context, _nodeid: bigint): Answer<void> {
    return enosys("syncfs");
  }
}
