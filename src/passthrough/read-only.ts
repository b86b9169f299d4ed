/**
 * A read-only view of any {@link FileSystem}: every operation that would
 * change the tree fails with EROFS, and the others pass through unchanged
 * (virtiofsd's `PassthroughFsRo`). Opening for writing or truncating is
 * EROFS; CREATE of an existing file opens it read-only, and of a missing one
 * is EROFS; ACCESS for W_OK is EROFS. Locks are allowed: they change nothing.
 *
 * Like `--readonly` in virtiofsd this does not make the host mount
 * read-only: reading still updates access times there.
 */
import { ErrnoError, errno } from "../common/errors.js";
import { Errno } from "../common/errno.js";
import { AccessMask, OpenFlag } from "../fuse/abi.js";
import type { CreateOut } from "../fuse/messages.js";
import type {
  AttrOut,
  BmapIn,
  CopyFileRangeIn,
  EntryOut,
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
import { NO_ENTRY, type Answer, type Context, type DirSink, type FileSystem, type InitAnswer, type InitParams, type ReadTarget, type WriteSource } from "../server/filesystem.js";

const erofs = (op: string): Promise<never> => Promise.reject(errno("EROFS", op));

/** Flags an OPEN of a read-only tree may not carry. */
function checkOpenFlags(flags: number, op: string): number {
  if ((flags & OpenFlag.O_ACCMODE) !== OpenFlag.O_RDONLY || flags & OpenFlag.O_TRUNC) throw errno("EROFS", op);
  return flags & ~(OpenFlag.O_CREAT | OpenFlag.O_EXCL);
}

export class ReadOnlyFs implements FileSystem {
  constructor(readonly inner: FileSystem) {}

  init(params: InitParams): Promise<InitAnswer> {
    return this.inner.init(params);
  }
  destroy(): Promise<void> {
    return this.inner.destroy();
  }

  lookup(ctx: Context, parent: bigint, name: Uint8Array): Answer<EntryOut> {
    return this.inner.lookup(ctx, parent, name);
  }
  forget(nodeid: bigint, nlookup: bigint): void {
    this.inner.forget(nodeid, nlookup);
  }
  batchForget(forgets: readonly ForgetOne[]): void {
    this.inner.batchForget(forgets);
  }
  getattr(ctx: Context, nodeid: bigint, fh: bigint | undefined): Answer<AttrOut> {
    return this.inner.getattr(ctx, nodeid, fh);
  }
  setattr(_ctx: Context, _nodeid: bigint, _arg: SetattrIn): Answer<AttrOut> {
    return erofs("setattr");
  }
  statx(ctx: Context, nodeid: bigint, arg: StatxIn): Answer<StatxOut> {
    return this.inner.statx(ctx, nodeid, arg);
  }
  readlink(ctx: Context, nodeid: bigint): Answer<Uint8Array> {
    return this.inner.readlink(ctx, nodeid);
  }
  symlink(_ctx: Context, _parent: bigint, _name: Uint8Array, _target: Uint8Array): Answer<EntryOut> {
    return erofs("symlink");
  }
  mknod(_ctx: Context, _parent: bigint, _name: Uint8Array, _mode: number, _rdev: number, _umask: number): Answer<EntryOut> {
    return erofs("mknod");
  }
  mkdir(_ctx: Context, _parent: bigint, _name: Uint8Array, _mode: number, _umask: number): Answer<EntryOut> {
    return erofs("mkdir");
  }
  unlink(_ctx: Context, _parent: bigint, _name: Uint8Array): Answer<void> {
    return erofs("unlink");
  }
  rmdir(_ctx: Context, _parent: bigint, _name: Uint8Array): Answer<void> {
    return erofs("rmdir");
  }
  rename(_ctx: Context, _parent: bigint, _name: Uint8Array, _newParent: bigint, _newName: Uint8Array, _flags: number): Answer<void> {
    return erofs("rename");
  }
  link(_ctx: Context, _nodeid: bigint, _newParent: bigint, _newName: Uint8Array): Answer<EntryOut> {
    return erofs("link");
  }

  async open(ctx: Context, nodeid: bigint, flags: number, openFlags: number): Promise<OpenOut> {
    return this.inner.open(ctx, nodeid, checkOpenFlags(flags, "open"), openFlags);
  }
  /** An existing file opens read-only (its lookup counted); a missing one cannot be created. */
  async create(
    ctx: Context,
    parent: bigint,
    name: Uint8Array,
    flags: number,
    _mode: number,
    _umask: number,
    openFlags: number,
  ): Promise<CreateOut> {
    const openAs = checkOpenFlags(flags, "create");
    if (flags & OpenFlag.O_EXCL) throw errno("EROFS", "create");
    let entry: EntryOut;
    try {
      entry = await this.inner.lookup(ctx, parent, name);
    } catch (error) {
      if (ErrnoError.is(error) && error.errno === Errno.ENOENT) throw errno("EROFS", "create");
      throw error;
    }
    if (entry === NO_ENTRY) throw errno("EROFS", "create");
    try {
      return { entry, open: await this.inner.open(ctx, entry.nodeid, openAs, openFlags) };
    } catch (error) {
      this.inner.forget(entry.nodeid, 1n);
      throw error;
    }
  }
  tmpfile(_ctx: Context, _parent: bigint, _flags: number, _mode: number, _umask: number): Answer<CreateOut> {
    return erofs("tmpfile");
  }
  read(ctx: Context, nodeid: bigint, arg: ReadIn, target: ReadTarget): Answer<number> {
    return this.inner.read(ctx, nodeid, arg, target);
  }
  write(_ctx: Context, _nodeid: bigint, _arg: WriteIn, _source: WriteSource): Answer<number> {
    return erofs("write");
  }
  flush(ctx: Context, nodeid: bigint, arg: FlushIn): Answer<void> {
    return this.inner.flush(ctx, nodeid, arg);
  }
  release(ctx: Context, nodeid: bigint, arg: ReleaseIn): Answer<void> {
    return this.inner.release(ctx, nodeid, arg);
  }
  fsync(ctx: Context, nodeid: bigint, arg: FsyncIn): Answer<void> {
    return this.inner.fsync(ctx, nodeid, arg);
  }
  fallocate(_ctx: Context, _nodeid: bigint, _arg: FallocateIn): Answer<void> {
    return erofs("fallocate");
  }
  lseek(ctx: Context, nodeid: bigint, arg: LseekIn): Answer<bigint> {
    return this.inner.lseek(ctx, nodeid, arg);
  }
  copyFileRange(_ctx: Context, _nodeid: bigint, _arg: CopyFileRangeIn): Answer<number> {
    return erofs("copy_file_range");
  }

  async opendir(ctx: Context, nodeid: bigint, flags: number): Promise<OpenOut> {
    return this.inner.opendir(ctx, nodeid, checkOpenFlags(flags, "opendir"));
  }
  readdir(ctx: Context, nodeid: bigint, fh: bigint, offset: bigint, sink: DirSink): Answer<void> {
    return this.inner.readdir(ctx, nodeid, fh, offset, sink);
  }
  readdirplus(ctx: Context, nodeid: bigint, fh: bigint, offset: bigint, sink: DirSink): Answer<void> {
    return this.inner.readdirplus(ctx, nodeid, fh, offset, sink);
  }
  releasedir(ctx: Context, nodeid: bigint, arg: ReleaseIn): Answer<void> {
    return this.inner.releasedir(ctx, nodeid, arg);
  }
  fsyncdir(ctx: Context, nodeid: bigint, arg: FsyncIn): Answer<void> {
    return this.inner.fsyncdir(ctx, nodeid, arg);
  }

  statfs(ctx: Context, nodeid: bigint): Answer<Kstatfs> {
    return this.inner.statfs(ctx, nodeid);
  }
  async access(ctx: Context, nodeid: bigint, mask: number): Promise<void> {
    if (mask & AccessMask.W_OK) throw errno("EROFS", "access");
    return this.inner.access(ctx, nodeid, mask);
  }

  setxattr(_ctx: Context, _nodeid: bigint, _name: Uint8Array, _value: Uint8Array, _flags: number, _setxattrFlags: number): Answer<void> {
    return erofs("setxattr");
  }
  getxattr(ctx: Context, nodeid: bigint, name: Uint8Array): Answer<Uint8Array> {
    return this.inner.getxattr(ctx, nodeid, name);
  }
  listxattr(ctx: Context, nodeid: bigint): Answer<Uint8Array> {
    return this.inner.listxattr(ctx, nodeid);
  }
  removexattr(_ctx: Context, _nodeid: bigint, _name: Uint8Array): Answer<void> {
    return erofs("removexattr");
  }

  getlk(ctx: Context, nodeid: bigint, arg: LkIn): Answer<FileLock> {
    return this.inner.getlk(ctx, nodeid, arg);
  }
  setlk(ctx: Context, nodeid: bigint, arg: LkIn, wait: boolean): Answer<void> {
    return this.inner.setlk(ctx, nodeid, arg, wait);
  }
  bmap(ctx: Context, nodeid: bigint, arg: BmapIn): Answer<bigint> {
    return this.inner.bmap(ctx, nodeid, arg);
  }
  ioctl(ctx: Context, nodeid: bigint, arg: IoctlIn, data: Uint8Array): Answer<{ result: number; data: Uint8Array }> {
    return this.inner.ioctl(ctx, nodeid, arg, data);
  }
  poll(ctx: Context, nodeid: bigint, arg: PollIn): Answer<number> {
    return this.inner.poll(ctx, nodeid, arg);
  }
  syncfs(ctx: Context, nodeid: bigint): Answer<void> {
    return this.inner.syncfs(ctx, nodeid);
  }
}
