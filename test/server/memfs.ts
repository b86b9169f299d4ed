/**
 * A small in-memory FileSystem for the server and /dev/fuse tests: files,
 * directories, symlinks, xattrs, lookup counts. It keeps what a test needs to
 * check the server's side of the contracts (lookups counted, calls made).
 */
import { errno } from "../../src/common/errors.js";
import { DirentType, Mode, FAttr } from "../../src/fuse/abi.js";
import type { CreateOut } from "../../src/fuse/messages.js";
import type { Attr, AttrOut, EntryOut, Kstatfs, OpenOut, ReadIn, ReleaseIn, SetattrIn, WriteIn, FlushIn } from "../../src/fuse/structs.js";
import {
  FileSystemBase,
  dataViews,
  type Context,
  type DirSink,
  type InitAnswer,
  type InitParams,
  type ReadTarget,
  type WriteSource,
} from "../../src/server/filesystem.js";

interface Node {
  ino: bigint;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  data: Uint8Array;
  size: number;
  target?: Uint8Array;
  children?: Map<string, bigint>;
  parent: bigint;
  xattrs: Map<string, Uint8Array>;
  mtimeNs: bigint;
  lookups: bigint;
}

const key = (name: Uint8Array): string => Buffer.from(name).toString("latin1");

export class MemFs extends FileSystemBase {
  readonly nodes = new Map<bigint, Node>();
  /** Names of the methods called, in order (for routing tests). */
  readonly calls: string[] = [];
  /** INIT flags to ask for. */
  initFlags = 0n;
  initParams: InitParams | null = null;
  destroyed = 0;
  private nextIno = 2n;
  private nextFh = 1n;

  constructor() {
    super();
    this.nodes.set(1n, this.makeNode(1n, Mode.S_IFDIR | 0o755, 1n));
    this.nodes.get(1n)!.children = new Map();
  }

  private makeNode(ino: bigint, mode: number, parent: bigint): Node {
    return {
      ino,
      mode,
      uid: 0,
      gid: 0,
      nlink: (mode & Mode.S_IFMT) === Mode.S_IFDIR ? 2 : 1,
      data: new Uint8Array(0),
      size: 0,
      parent,
      xattrs: new Map(),
      mtimeNs: BigInt(Date.now()) * 1_000_000n,
      lookups: 0n,
    };
  }

  private node(nodeid: bigint): Node {
    const n = this.nodes.get(nodeid);
    if (!n) throw errno("ENOENT", "node");
    return n;
  }

  private dir(nodeid: bigint): Node {
    const n = this.node(nodeid);
    if (!n.children) throw errno("ENOTDIR", "dir");
    return n;
  }

  attr(n: Node): Attr {
    const sec = n.mtimeNs / 1_000_000_000n;
    const nsec = Number(n.mtimeNs % 1_000_000_000n);
    return {
      ino: n.ino,
      size: BigInt(n.size),
      blocks: BigInt(Math.ceil(n.size / 512)),
      atime: sec,
      mtime: sec,
      ctime: sec,
      atimensec: nsec,
      mtimensec: nsec,
      ctimensec: nsec,
      mode: n.mode,
      nlink: n.nlink,
      uid: n.uid,
      gid: n.gid,
      rdev: 0,
      blksize: 4096,
      flags: 0,
    };
  }

  entry(n: Node): EntryOut {
    n.lookups++;
    return { nodeid: n.ino, generation: 0n, entryValid: 1n, attrValid: 1n, entryValidNsec: 0, attrValidNsec: 0, attr: this.attr(n) };
  }

  /** Builds a tree directly (no lookups counted): `add(1n, "a", S_IFREG|0o644, bytes)`. */
  add(parent: bigint, name: string, mode: number, data?: Uint8Array): bigint {
    const p = this.dir(parent);
    const ino = this.nextIno++;
    const n = this.makeNode(ino, mode, parent);
    if ((mode & Mode.S_IFMT) === Mode.S_IFDIR) {
      n.children = new Map();
      p.nlink++;
    }
    if (data) {
      n.data = data.slice();
      n.size = data.byteLength;
    }
    this.nodes.set(ino, n);
    p.children!.set(name, ino);
    return ino;
  }

  private create_(parent: bigint, name: Uint8Array, mode: number, ctx: Context): Node {
    const p = this.dir(parent);
    if (p.children!.has(key(name))) throw errno("EEXIST", "create");
    const ino = this.add(parent, key(name), mode);
    const n = this.node(ino);
    n.uid = ctx.uid;
    n.gid = ctx.suppGroup ?? ctx.gid;
    return n;
  }

  override init(params: InitParams): Promise<InitAnswer> {
    this.calls.push("init");
    this.initParams = params;
    return Promise.resolve({ flags: this.initFlags });
  }
  override destroy(): Promise<void> {
    this.calls.push("destroy");
    this.destroyed++;
    return Promise.resolve();
  }
  override async lookup(_ctx: Context, parent: bigint, name: Uint8Array): Promise<EntryOut> {
    this.calls.push("lookup");
    const p = this.dir(parent);
    const ino = p.children!.get(key(name));
    if (ino === undefined) throw errno("ENOENT", "lookup");
    return this.entry(this.node(ino));
  }
  override forget(nodeid: bigint, nlookup: bigint): void {
    this.calls.push("forget");
    const n = this.nodes.get(nodeid);
    if (n) n.lookups -= nlookup;
  }
  override async getattr(_ctx: Context, nodeid: bigint, _fh: bigint | undefined): Promise<AttrOut> {
    this.calls.push("getattr");
    return { attrValid: 1n, attrValidNsec: 0, attr: this.attr(this.node(nodeid)) };
  }
  override async setattr(_ctx: Context, nodeid: bigint, arg: SetattrIn): Promise<AttrOut> {
    this.calls.push("setattr");
    const n = this.node(nodeid);
    if (arg.valid & FAttr.MODE) n.mode = (n.mode & Mode.S_IFMT) | (arg.mode & 0o7777);
    if (arg.valid & FAttr.SIZE) this.resize(n, Number(arg.size));
    if (arg.valid & FAttr.UID) n.uid = arg.uid;
    if (arg.valid & FAttr.GID) n.gid = arg.gid;
    return { attrValid: 1n, attrValidNsec: 0, attr: this.attr(n) };
  }
  override async readlink(_ctx: Context, nodeid: bigint): Promise<Uint8Array> {
    this.calls.push("readlink");
    const n = this.node(nodeid);
    if (!n.target) throw errno("EINVAL", "readlink");
    return n.target;
  }
  override async symlink(ctx: Context, parent: bigint, name: Uint8Array, target: Uint8Array): Promise<EntryOut> {
    this.calls.push("symlink");
    const n = this.create_(parent, name, Mode.S_IFLNK | 0o777, ctx);
    n.target = target.slice();
    n.size = target.byteLength;
    return this.entry(n);
  }
  override async mknod(ctx: Context, parent: bigint, name: Uint8Array, mode: number, _rdev: number, umask: number): Promise<EntryOut> {
    this.calls.push("mknod");
    return this.entry(this.create_(parent, name, mode & ~umask, ctx));
  }
  override async mkdir(ctx: Context, parent: bigint, name: Uint8Array, mode: number, umask: number): Promise<EntryOut> {
    this.calls.push("mkdir");
    return this.entry(this.create_(parent, name, Mode.S_IFDIR | (mode & ~umask & 0o7777), ctx));
  }
  override async unlink(_ctx: Context, parent: bigint, name: Uint8Array): Promise<void> {
    this.calls.push("unlink");
    const p = this.dir(parent);
    const ino = p.children!.get(key(name));
    if (ino === undefined) throw errno("ENOENT", "unlink");
    if (this.node(ino).children) throw errno("EISDIR", "unlink");
    p.children!.delete(key(name));
    this.node(ino).nlink--;
  }
  override async rmdir(_ctx: Context, parent: bigint, name: Uint8Array): Promise<void> {
    this.calls.push("rmdir");
    const p = this.dir(parent);
    const ino = p.children!.get(key(name));
    if (ino === undefined) throw errno("ENOENT", "rmdir");
    const n = this.node(ino);
    if (!n.children) throw errno("ENOTDIR", "rmdir");
    if (n.children.size > 0) throw errno("ENOTEMPTY", "rmdir");
    p.children!.delete(key(name));
    p.nlink--;
  }
  override async rename(_ctx: Context, parent: bigint, name: Uint8Array, newParent: bigint, newName: Uint8Array, flags: number): Promise<void> {
    this.calls.push(`rename:${flags}`);
    const p = this.dir(parent);
    const q = this.dir(newParent);
    const ino = p.children!.get(key(name));
    if (ino === undefined) throw errno("ENOENT", "rename");
    p.children!.delete(key(name));
    q.children!.set(key(newName), ino);
  }
  override async link(_ctx: Context, nodeid: bigint, newParent: bigint, newName: Uint8Array): Promise<EntryOut> {
    this.calls.push("link");
    const n = this.node(nodeid);
    this.dir(newParent).children!.set(key(newName), nodeid);
    n.nlink++;
    return this.entry(n);
  }
  override async open(_ctx: Context, nodeid: bigint, flags: number, _openFlags: number): Promise<OpenOut> {
    this.calls.push("open");
    const n = this.node(nodeid);
    if (flags & 0o1000) this.resize(n, 0);
    return { fh: this.nextFh++, openFlags: 0, backingId: 0 };
  }
  override async create(ctx: Context, parent: bigint, name: Uint8Array, _flags: number, mode: number, umask: number): Promise<CreateOut> {
    this.calls.push("create");
    const n = this.create_(parent, name, Mode.S_IFREG | (mode & ~umask & 0o7777), ctx);
    return { entry: this.entry(n), open: { fh: this.nextFh++, openFlags: 0, backingId: 0 } };
  }
  override async read(_ctx: Context, nodeid: bigint, arg: ReadIn, target: ReadTarget): Promise<number> {
    this.calls.push("read");
    const n = this.node(nodeid);
    let at = Number(arg.offset);
    let left = Math.max(0, Math.min(arg.size, n.size - at));
    let done = 0;
    for (const buf of dataViews(target)) {
      if (left === 0) break;
      const k = Math.min(left, buf.byteLength);
      buf.set(n.data.subarray(at, at + k));
      at += k;
      left -= k;
      done += k;
    }
    return done;
  }
  override async write(_ctx: Context, nodeid: bigint, arg: WriteIn, source: WriteSource): Promise<number> {
    this.calls.push("write");
    const n = this.node(nodeid);
    let at = Number(arg.offset);
    const views = dataViews(source);
    let total = 0;
    for (const s of views) total += s.byteLength;
    if (at + total > n.size) this.resize(n, at + total);
    for (const s of views) {
      n.data.set(s, at);
      at += s.byteLength;
    }
    n.mtimeNs = BigInt(Date.now()) * 1_000_000n;
    return total;
  }
  private resize(n: Node, size: number): void {
    if (size > n.data.byteLength) {
      const grown = new Uint8Array(Math.max(size, n.data.byteLength * 2));
      grown.set(n.data.subarray(0, n.size));
      n.data = grown;
    } else if (size < n.size) {
      n.data.fill(0, size, n.size);
    }
    n.size = size;
  }
  override async flush(_ctx: Context, _nodeid: bigint, _arg: FlushIn): Promise<void> {
    this.calls.push("flush");
  }
  override async release(_ctx: Context, _nodeid: bigint, _arg: ReleaseIn): Promise<void> {
    this.calls.push("release");
  }
  override async opendir(_ctx: Context, nodeid: bigint, _flags: number): Promise<OpenOut> {
    this.calls.push("opendir");
    this.dir(nodeid);
    return { fh: this.nextFh++, openFlags: 0, backingId: 0 };
  }
  override async releasedir(_ctx: Context, _nodeid: bigint, _arg: ReleaseIn): Promise<void> {
    this.calls.push("releasedir");
  }
  /** Entries with offsets 1.. ("." and ".." first). */
  private listing(nodeid: bigint): { name: Uint8Array; ino: bigint; type: number; node?: Node }[] {
    const d = this.dir(nodeid);
    const out: { name: Uint8Array; ino: bigint; type: number; node?: Node }[] = [
      { name: Buffer.from("."), ino: d.ino, type: DirentType.DIR },
      { name: Buffer.from(".."), ino: d.parent, type: DirentType.DIR },
    ];
    for (const [name, ino] of d.children!) {
      const n = this.node(ino);
      out.push({ name: Buffer.from(name, "latin1"), ino, type: (n.mode & Mode.S_IFMT) >>> 12, node: n });
    }
    return out;
  }
  override async readdir(_ctx: Context, nodeid: bigint, _fh: bigint, offset: bigint, sink: DirSink): Promise<void> {
    this.calls.push("readdir");
    const list = this.listing(nodeid);
    for (let i = Number(offset); i < list.length; i++) {
      const e = list[i]!;
      if (!sink.add({ name: e.name, ino: e.ino, off: BigInt(i + 1), type: e.type })) break;
    }
  }
  override async readdirplus(_ctx: Context, nodeid: bigint, _fh: bigint, offset: bigint, sink: DirSink): Promise<void> {
    this.calls.push("readdirplus");
    const list = this.listing(nodeid);
    for (let i = Number(offset); i < list.length; i++) {
      const e = list[i]!;
      const d = { name: e.name, ino: e.ino, off: BigInt(i + 1), type: e.type };
      if (!e.node) {
        if (!sink.add(d)) break;
        continue;
      }
      // Count the lookup only when the sink takes the entry.
      const out: EntryOut = { nodeid: e.node.ino, generation: 0n, entryValid: 1n, attrValid: 1n, entryValidNsec: 0, attrValidNsec: 0, attr: this.attr(e.node) };
      if (!sink.addPlus(d, out)) break;
      e.node.lookups++;
    }
  }
  override async statfs(_ctx: Context, _nodeid: bigint): Promise<Kstatfs> {
    this.calls.push("statfs");
    return { blocks: 1000n, bfree: 500n, bavail: 500n, files: 100n, ffree: 50n, bsize: 4096, namelen: 255, frsize: 4096 };
  }
  override async access(_ctx: Context, nodeid: bigint, _mask: number): Promise<void> {
    this.calls.push("access");
    this.node(nodeid);
  }
  override async setxattr(_ctx: Context, nodeid: bigint, name: Uint8Array, value: Uint8Array, flags: number): Promise<void> {
    this.calls.push("setxattr");
    const n = this.node(nodeid);
    if (flags === 1 && n.xattrs.has(key(name))) throw errno("EEXIST", "setxattr");
    n.xattrs.set(key(name), value.slice());
  }
  override async getxattr(_ctx: Context, nodeid: bigint, name: Uint8Array): Promise<Uint8Array> {
    this.calls.push("getxattr");
    const v = this.node(nodeid).xattrs.get(key(name));
    if (!v) throw errno("ENODATA", "getxattr");
    return v;
  }
  override async listxattr(_ctx: Context, nodeid: bigint): Promise<Uint8Array> {
    this.calls.push("listxattr");
    const names = [...this.node(nodeid).xattrs.keys()].map((k) => Buffer.concat([Buffer.from(k, "latin1"), Buffer.of(0)]));
    return Buffer.concat(names);
  }
  override async removexattr(_ctx: Context, nodeid: bigint, name: Uint8Array): Promise<void> {
    this.calls.push("removexattr");
    if (!this.node(nodeid).xattrs.delete(key(name))) throw errno("ENODATA", "removexattr");
  }
}
