/**
 * Dispatch: every opcode reaches its FileSystem method with the right
 * arguments, the ENOSYS defaults, malformed requests, the xattr size rules,
 * READDIR packing and the lookup-count contract, INTERRUPT, tracing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Errno } from "../../src/common/errno.js";
import { errno } from "../../src/common/errors.js";
import { log } from "../../src/common/log.js";
import { DirentType, FUSE_GETATTR_FH, Mode, Opcode, opcodeName } from "../../src/fuse/abi.js";
import { decodeDirentplus, decodeDirents } from "../../src/fuse/dirent.js";
import {
  NO_REPLY_OPCODES,
  decodeOutHeader,
  encodeRequestBytes,
  type CreateOut,
  type Request,
} from "../../src/fuse/messages.js";
import {
  Attr,
  AttrOut,
  FileLock,
  Kstatfs,
  OpenOut,
  StatxOut,
  type BmapIn,
  type CopyFileRangeIn,
  type EntryOut,
  type FallocateIn,
  type FlushIn,
  type ForgetOne,
  type FsyncIn,
  type IoctlIn,
  type LkIn,
  type LseekIn,
  type PollIn,
  type ReadIn,
  type ReleaseIn,
  type SetattrIn,
  type StatxIn,
  type WriteIn,
} from "../../src/fuse/structs.js";
import {
  FileSystemBase,
  NO_ENTRY,
  NO_XATTR,
  dataViews,
  type Answer,
  type Context,
  type DirSink,
  type ReadTarget,
  type WriteSource,
} from "../../src/server/filesystem.js";
import { FuseServer } from "../../src/server/server.js";
import { MessageReply } from "../../src/server/reply.js";
import { ALL_OPCODES, B, call, errnoOf, exchange, hdr, initReq, sampleRequest, send } from "./client.js";
import { MemFs } from "./memfs.js";

log.setLevel("off");

const entry = (nodeid: bigint): EntryOut => ({
  nodeid,
  generation: 0n,
  entryValid: 1n,
  attrValid: 1n,
  entryValidNsec: 0,
  attrValidNsec: 0,
  attr: { ...Attr.zero(), ino: nodeid, mode: Mode.S_IFREG | 0o644, nlink: 1 },
});
const open: OpenOut = { fh: 11n, openFlags: 0, backingId: 0 };

/** Records every call with its arguments (the Context replaced by its unique) and answers canned values. */
class RecordingFs extends FileSystemBase {
  readonly log: [string, unknown[]][] = [];
  private rec(name: string, args: unknown[]): void {
    this.log.push([name, args.map((a) => (a && typeof a === "object" && "unique" in a && "pid" in a ? "ctx" : a))]);
  }
  get last(): [string, unknown[]] {
    return this.log[this.log.length - 1]!;
  }
  override async lookup(c: Context, p: bigint, n: Uint8Array): Promise<EntryOut> {
    this.rec("lookup", [c, p, n]);
    return entry(7n);
  }
  override forget(n: bigint, k: bigint): void {
    this.rec("forget", [n, k]);
  }
  override batchForget(f: readonly ForgetOne[]): void {
    this.rec("batchForget", [f]);
  }
  override async getattr(c: Context, n: bigint, fh: bigint | undefined): Promise<AttrOut> {
    this.rec("getattr", [c, n, fh]);
    return AttrOut.zero();
  }
  override async setattr(c: Context, n: bigint, a: SetattrIn): Promise<AttrOut> {
    this.rec("setattr", [c, n, a]);
    return AttrOut.zero();
  }
  override async statx(c: Context, n: bigint, a: StatxIn): Promise<StatxOut> {
    this.rec("statx", [c, n, a]);
    return StatxOut.zero();
  }
  override async readlink(c: Context, n: bigint): Promise<Uint8Array> {
    this.rec("readlink", [c, n]);
    return B("tgt");
  }
  override async symlink(c: Context, p: bigint, n: Uint8Array, t: Uint8Array): Promise<EntryOut> {
    this.rec("symlink", [c, p, n, t]);
    return entry(8n);
  }
  override async mknod(c: Context, p: bigint, n: Uint8Array, m: number, r: number, u: number): Promise<EntryOut> {
    this.rec("mknod", [c, p, n, m, r, u]);
    return entry(8n);
  }
  override async mkdir(c: Context, p: bigint, n: Uint8Array, m: number, u: number): Promise<EntryOut> {
    this.rec("mkdir", [c, p, n, m, u]);
    return entry(8n);
  }
  override async unlink(c: Context, p: bigint, n: Uint8Array): Promise<void> {
    this.rec("unlink", [c, p, n]);
  }
  override async rmdir(c: Context, p: bigint, n: Uint8Array): Promise<void> {
    this.rec("rmdir", [c, p, n]);
  }
  override async rename(c: Context, p: bigint, n: Uint8Array, np: bigint, nn: Uint8Array, f: number): Promise<void> {
    this.rec("rename", [c, p, n, np, nn, f]);
  }
  override async link(c: Context, n: bigint, np: bigint, nn: Uint8Array): Promise<EntryOut> {
    this.rec("link", [c, n, np, nn]);
    return entry(n);
  }
  override async open(c: Context, n: bigint, f: number, o: number): Promise<OpenOut> {
    this.rec("open", [c, n, f, o]);
    return open;
  }
  override async create(c: Context, p: bigint, n: Uint8Array, f: number, m: number, u: number, o: number): Promise<CreateOut> {
    this.rec("create", [c, p, n, f, m, u, o]);
    return { entry: entry(8n), open };
  }
  override async tmpfile(c: Context, p: bigint, f: number, m: number, u: number): Promise<CreateOut> {
    this.rec("tmpfile", [c, p, f, m, u]);
    return { entry: entry(8n), open };
  }
  override async read(c: Context, n: bigint, a: ReadIn, t: ReadTarget): Promise<number> {
    this.rec("read", [c, n, a]);
    dataViews(t)[0]!.set([1, 2, 3]);
    return 3;
  }
  override async write(c: Context, n: bigint, a: WriteIn, s: WriteSource): Promise<number> {
    this.rec("write", [c, n, a, dataViews(s).map((x) => [...x])]);
    return a.size;
  }
  override async flush(c: Context, n: bigint, a: FlushIn): Promise<void> {
    this.rec("flush", [c, n, a]);
  }
  override async release(c: Context, n: bigint, a: ReleaseIn): Promise<void> {
    this.rec("release", [c, n, a]);
  }
  override async fsync(c: Context, n: bigint, a: FsyncIn): Promise<void> {
    this.rec("fsync", [c, n, a]);
  }
  override async fallocate(c: Context, n: bigint, a: FallocateIn): Promise<void> {
    this.rec("fallocate", [c, n, a]);
  }
  override async lseek(c: Context, n: bigint, a: LseekIn): Promise<bigint> {
    this.rec("lseek", [c, n, a]);
    return 5n;
  }
  override async copyFileRange(c: Context, n: bigint, a: CopyFileRangeIn): Promise<number> {
    this.rec("copyFileRange", [c, n, a]);
    return 10;
  }
  override async opendir(c: Context, n: bigint, f: number): Promise<OpenOut> {
    this.rec("opendir", [c, n, f]);
    return open;
  }
  override async readdir(c: Context, n: bigint, fh: bigint, off: bigint, _s: DirSink): Promise<void> {
    this.rec("readdir", [c, n, fh, off]);
  }
  override async readdirplus(c: Context, n: bigint, fh: bigint, off: bigint, _s: DirSink): Promise<void> {
    this.rec("readdirplus", [c, n, fh, off]);
  }
  override async releasedir(c: Context, n: bigint, a: ReleaseIn): Promise<void> {
    this.rec("releasedir", [c, n, a]);
  }
  override async fsyncdir(c: Context, n: bigint, a: FsyncIn): Promise<void> {
    this.rec("fsyncdir", [c, n, a]);
  }
  override async statfs(c: Context, n: bigint): Promise<Kstatfs> {
    this.rec("statfs", [c, n]);
    return Kstatfs.zero();
  }
  override async access(c: Context, n: bigint, m: number): Promise<void> {
    this.rec("access", [c, n, m]);
  }
  override async setxattr(c: Context, n: bigint, k: Uint8Array, v: Uint8Array, f: number, sf: number): Promise<void> {
    this.rec("setxattr", [c, n, k, v, f, sf]);
  }
  override async getxattr(c: Context, n: bigint, k: Uint8Array): Promise<Uint8Array> {
    this.rec("getxattr", [c, n, k]);
    return B("value");
  }
  override async listxattr(c: Context, n: bigint): Promise<Uint8Array> {
    this.rec("listxattr", [c, n]);
    return B("user.a\0user.b\0");
  }
  override async removexattr(c: Context, n: bigint, k: Uint8Array): Promise<void> {
    this.rec("removexattr", [c, n, k]);
  }
  override async getlk(c: Context, n: bigint, a: LkIn): Promise<FileLock> {
    this.rec("getlk", [c, n, a]);
    return { ...FileLock.zero(), type: 2 };
  }
  override async setlk(c: Context, n: bigint, a: LkIn, w: boolean): Promise<void> {
    this.rec("setlk", [c, n, a, w]);
  }
  override async bmap(c: Context, n: bigint, a: BmapIn): Promise<bigint> {
    this.rec("bmap", [c, n, a]);
    return 9n;
  }
  override async ioctl(c: Context, n: bigint, a: IoctlIn, d: Uint8Array): Promise<{ result: number; data: Uint8Array }> {
    this.rec("ioctl", [c, n, a, [...d]]);
    return { result: 3, data: Uint8Array.of(4, 5) };
  }
  override async poll(c: Context, n: bigint, a: PollIn): Promise<number> {
    this.rec("poll", [c, n, a]);
    return 1;
  }
  override async syncfs(c: Context, n: bigint): Promise<void> {
    this.rec("syncfs", [c, n]);
  }
}

/** Method each opcode reaches (undefined: handled by the server itself). */
const METHOD: Record<number, string | undefined> = {
  [Opcode.LOOKUP]: "lookup",
  [Opcode.FORGET]: "forget",
  [Opcode.GETATTR]: "getattr",
  [Opcode.SETATTR]: "setattr",
  [Opcode.READLINK]: "readlink",
  [Opcode.SYMLINK]: "symlink",
  [Opcode.MKNOD]: "mknod",
  [Opcode.MKDIR]: "mkdir",
  [Opcode.UNLINK]: "unlink",
  [Opcode.RMDIR]: "rmdir",
  [Opcode.RENAME]: "rename",
  [Opcode.LINK]: "link",
  [Opcode.OPEN]: "open",
  [Opcode.READ]: "read",
  [Opcode.WRITE]: "write",
  [Opcode.STATFS]: "statfs",
  [Opcode.RELEASE]: "release",
  [Opcode.FSYNC]: "fsync",
  [Opcode.SETXATTR]: "setxattr",
  [Opcode.GETXATTR]: "getxattr",
  [Opcode.LISTXATTR]: "listxattr",
  [Opcode.REMOVEXATTR]: "removexattr",
  [Opcode.FLUSH]: "flush",
  [Opcode.OPENDIR]: "opendir",
  [Opcode.READDIR]: "readdir",
  [Opcode.RELEASEDIR]: "releasedir",
  [Opcode.FSYNCDIR]: "fsyncdir",
  [Opcode.GETLK]: "getlk",
  [Opcode.SETLK]: "setlk",
  [Opcode.SETLKW]: "setlk",
  [Opcode.ACCESS]: "access",
  [Opcode.CREATE]: "create",
  [Opcode.INTERRUPT]: undefined,
  [Opcode.BMAP]: "bmap",
  [Opcode.DESTROY]: undefined,
  [Opcode.IOCTL]: "ioctl",
  [Opcode.POLL]: "poll",
  [Opcode.NOTIFY_REPLY]: undefined,
  [Opcode.BATCH_FORGET]: "batchForget",
  [Opcode.FALLOCATE]: "fallocate",
  [Opcode.READDIRPLUS]: "readdirplus",
  [Opcode.RENAME2]: "rename",
  [Opcode.LSEEK]: "lseek",
  [Opcode.COPY_FILE_RANGE]: "copyFileRange",
  [Opcode.SETUPMAPPING]: undefined,
  [Opcode.REMOVEMAPPING]: undefined,
  [Opcode.SYNCFS]: "syncfs",
  [Opcode.TMPFILE]: "tmpfile",
  [Opcode.STATX]: "statx",
};

async function ready<F extends FileSystemBase>(fs: F, options = {}): Promise<FuseServer> {
  const server = new FuseServer(fs, options);
  const r = await call(server, initReq());
  assert.ok(r.ok);
  return server;
}

test("every opcode reaches its FileSystem method, and each success reply decodes", async () => {
  const fs = new RecordingFs();
  const server = await ready(fs);
  for (const opcode of ALL_OPCODES) {
    if (opcode === Opcode.DESTROY) continue;
    const method = METHOD[opcode];
    const before = fs.log.length;
    const req = sampleRequest(opcode, 3n);
    const replies = await send(server, req);
    if (NO_REPLY_OPCODES.has(opcode)) {
      assert.equal(replies.length, 0, `${opcodeName(opcode)}: no reply`);
    } else {
      assert.equal(replies.length, 1, `${opcodeName(opcode)}: one reply`);
      const r = await call(server, sampleRequest(opcode, 3n));
      if (method !== undefined) assert.ok(r.ok, `${opcodeName(opcode)} succeeds`);
    }
    if (method === undefined) {
      assert.equal(fs.log.length, before, `${opcodeName(opcode)} reaches no method`);
    } else {
      assert.equal(fs.log[before]?.[0], method, `${opcodeName(opcode)} → ${method}`);
    }
  }
});

test("arguments reach the methods as the wire says", async () => {
  const fs = new RecordingFs();
  const server = await ready(fs);
  await call(server, { opcode: Opcode.GETATTR, header: hdr(4n), arg: { getattrFlags: 0, fh: 99n } });
  assert.deepEqual(fs.last, ["getattr", ["ctx", 4n, undefined]]);
  await call(server, { opcode: Opcode.GETATTR, header: hdr(4n), arg: { getattrFlags: FUSE_GETATTR_FH, fh: 99n } });
  assert.deepEqual(fs.last, ["getattr", ["ctx", 4n, 99n]]);
  await call(server, { opcode: Opcode.RENAME, header: hdr(4n), arg: { newdir: 5n }, name: B("a"), newName: B("b") });
  assert.deepEqual(fs.last, ["rename", ["ctx", 4n, B("a"), 5n, B("b"), 0]]);
  await call(server, { opcode: Opcode.RENAME2, header: hdr(4n), arg: { newdir: 5n, flags: 2 }, name: B("a"), newName: B("b") });
  assert.deepEqual(fs.last, ["rename", ["ctx", 4n, B("a"), 5n, B("b"), 2]]);
  await call(server, { opcode: Opcode.LINK, header: hdr(4n), arg: { oldnodeid: 9n }, name: B("h") });
  assert.deepEqual(fs.last, ["link", ["ctx", 9n, 4n, B("h")]]);
  await call(server, { opcode: Opcode.SYMLINK, header: hdr(4n), name: B("l"), target: B("/t") });
  assert.deepEqual(fs.last, ["symlink", ["ctx", 4n, B("l"), B("/t")]]);
  const lk = { fh: 1n, owner: 2n, lk: { start: 0n, end: 1n, type: 1, pid: 3 }, lkFlags: 0 };
  await call(server, { opcode: Opcode.SETLK, header: hdr(4n), arg: lk });
  assert.deepEqual(fs.last, ["setlk", ["ctx", 4n, lk, false]]);
  await call(server, { opcode: Opcode.SETLKW, header: hdr(4n), arg: lk });
  assert.deepEqual(fs.last, ["setlk", ["ctx", 4n, lk, true]]);
  const w = await call(server, {
    opcode: Opcode.WRITE,
    header: hdr(4n),
    arg: { fh: 1n, offset: 8n, size: 4, writeFlags: 0, lockOwner: 0n, flags: 0 },
    data: Uint8Array.of(9, 8, 7, 6),
  });
  assert.ok(w.ok && "size" in w.body && w.body.size === 4);
  assert.deepEqual(fs.last[1][3], [[9, 8, 7, 6]]);
  const r = await call(server, { ...sampleRequest(Opcode.READ, 4n), opcode: Opcode.READ } as Request);
  assert.ok(r.ok);
  assert.deepEqual([...(r.body as Uint8Array)], [1, 2, 3]);
  const io = await call(server, sampleRequest(Opcode.IOCTL, 4n));
  assert.ok(io.ok);
  assert.deepEqual(io.body, { out: { result: 3, flags: 0, inIovs: 0, outIovs: 0 }, data: Uint8Array.of(4, 5) });
  // RENAME2 flags outside RENAME_* are refused before the file system sees them.
  const n = fs.log.length;
  assert.equal(await errnoOf(server, { opcode: Opcode.RENAME2, header: hdr(4n), arg: { newdir: 5n, flags: 8 }, name: B("a"), newName: B("b") }), Errno.EINVAL);
  assert.equal(fs.log.length, n);
});

test("a FileSystemBase answers ENOSYS to every operation; FORGETs get no reply; DAX opcodes are ENOSYS", async () => {
  const server = await ready(new FileSystemBase());
  for (const opcode of ALL_OPCODES) {
    if (opcode === Opcode.DESTROY) continue;
    const replies = await send(server, sampleRequest(opcode));
    if (NO_REPLY_OPCODES.has(opcode)) {
      assert.equal(replies.length, 0, opcodeName(opcode));
      continue;
    }
    assert.equal(replies.length, 1, opcodeName(opcode));
    const h = decodeOutHeader(replies[0]!);
    const want = opcode === Opcode.INTERRUPT ? Errno.EAGAIN : Errno.ENOSYS;
    assert.equal(h.error, -want, `${opcodeName(opcode)} → ${want}`);
  }
});

test("malformed requests are answered (or, without a header, dropped) and never throw", async () => {
  const fs = new MemFs();
  const server = await ready(fs);
  // No header: nothing to answer.
  assert.deepEqual(await exchange(server, new Uint8Array(39)), []);
  // Unknown opcodes, holes included.
  for (const op of [0, 7, 19, 53, 4096, 0xffffffff]) {
    const bytes = encodeRequestBytes({ opcode: Opcode.STATFS, header: hdr() });
    new DataView(bytes.buffer).setUint32(4, op, true);
    const [reply] = await exchange(server, bytes);
    assert.equal(decodeOutHeader(reply!).error, -Errno.ENOSYS, `opcode ${op}`);
  }
  const lookup = encodeRequestBytes({ opcode: Opcode.LOOKUP, header: hdr(), name: B("abc") });
  const expect = async (bytes: Uint8Array, e: number, what: string): Promise<void> => {
    const replies = await exchange(server, bytes);
    assert.equal(replies.length, 1, what);
    const h = decodeOutHeader(replies[0]!);
    assert.equal(h.error, -e, what);
    assert.equal(h.unique, new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(8, true), what);
  };
  // len disagreeing with the message.
  const lied = lookup.slice();
  new DataView(lied.buffer).setUint32(0, lookup.byteLength + 1, true);
  await expect(lied, Errno.EINVAL, "len too large");
  // A name without its NUL, an empty name, a NUL inside.
  const noNul = lookup.slice(0, lookup.byteLength - 1);
  new DataView(noNul.buffer).setUint32(0, noNul.byteLength, true);
  await expect(noNul, Errno.EINVAL, "name without NUL");
  const inner = lookup.slice();
  inner[41] = 0;
  await expect(inner, Errno.EINVAL, "NUL inside the name");
  // Declared sizes that disagree with the data.
  const write = encodeRequestBytes(sampleRequest(Opcode.WRITE));
  new DataView(write.buffer).setUint32(40 + 16, 99, true);
  await expect(write, Errno.EINVAL, "WRITE size");
  // Too long a request: ENOMEM before any decoding.
  const huge = new Uint8Array(server.requestLimit + 1);
  huge.set(lookup.subarray(0, 40));
  new DataView(huge.buffer).setUint32(0, huge.byteLength, true);
  await expect(huge, Errno.ENOMEM, "over the request limit");
  // Names the Linux client would never send.
  assert.equal(await errnoOf(server, { opcode: Opcode.LOOKUP, header: hdr(), name: Buffer.alloc(1025, 0x61) }), Errno.ENAMETOOLONG);
  assert.equal(await errnoOf(server, { opcode: Opcode.SYMLINK, header: hdr(), name: B("l"), target: Buffer.alloc(4096, 0x61) }), Errno.ENAMETOOLONG);
  assert.equal(await errnoOf(server, { opcode: Opcode.GETXATTR, header: hdr(), arg: { size: 0 }, name: Buffer.alloc(256, 0x61) }), Errno.ERANGE);
  // A READ larger than max_pages pages.
  const read = sampleRequest(Opcode.READ) as Extract<Request, { opcode: typeof Opcode.READ }>;
  assert.equal(await errnoOf(server, { ...read, arg: { ...read.arg, size: server.readLimit + 1 } }), Errno.ENOMEM);
  assert.ok(!fs.calls.includes("lookup"), "none of these reached the file system");
});

test("a file system's bug is EIO (logged); its errno outside 1..511 is EIO", async () => {
  const lines: string[] = [];
  class Buggy extends FileSystemBase {
    override async statfs(): Promise<Kstatfs> {
      throw new TypeError("oops");
    }
    override async access(): Promise<void> {
      throw errno("ENOENT", "access");
    }
    override async getattr(): Promise<AttrOut> {
      return { ...AttrOut.zero(), attrValidNsec: -1 }; // cannot be encoded
    }
    override async readlink(): Promise<Uint8Array> {
      const e = errno("EPERM");
      Object.defineProperty(e, "errno", { value: 600 });
      throw e;
    }
  }
  const server = await ready(new Buggy());
  log.setLevel("error");
  log.setSink((_level, line) => void lines.push(line));
  try {
    assert.equal(await errnoOf(server, sampleRequest(Opcode.STATFS)), Errno.EIO);
    assert.equal(await errnoOf(server, sampleRequest(Opcode.ACCESS)), Errno.ENOENT);
    assert.equal(await errnoOf(server, sampleRequest(Opcode.GETATTR)), Errno.EIO);
    assert.equal(await errnoOf(server, sampleRequest(Opcode.READLINK)), Errno.EIO);
  } finally {
    log.setLevel("off");
  }
  assert.ok(lines.some((l) => l.includes("STATFS") && l.includes("TypeError: oops")), lines.join("\n"));
  assert.ok(!lines.some((l) => l.includes("ACCESS")), "an errno answer is not a bug");
});

test("a file system's synchronous failure is answered before the call returns, with its errno, as a rejection is later", async () => {
  class Throwing extends FileSystemBase {
    override lookup(): Answer<EntryOut> {
      throw errno("ENOENT", "lookup");
    }
    override getxattr(): Answer<Uint8Array> {
      throw errno("ENODATA", "getxattr");
    }
    override getattr(): Answer<AttrOut> {
      return Promise.reject(errno("ESTALE", "getattr"));
    }
  }
  const server = await ready(new Throwing());
  const answered = (req: Request): { errors: number[]; done: void | Promise<void> } => {
    const errors: number[] = [];
    const done = server.serveNow(encodeRequestBytes(req, server.wireOptions), new MessageReply((m) => void errors.push(-Buffer.from(m).readInt32LE(4))));
    return { errors, done };
  };
  for (const [req, e] of [
    [{ opcode: Opcode.LOOKUP, header: hdr(), name: B("missing") }, Errno.ENOENT],
    [{ opcode: Opcode.GETXATTR, header: hdr(), arg: { size: 64 }, name: B("user.none") }, Errno.ENODATA],
  ] as [Request, number][]) {
    const { errors, done } = answered(req);
    assert.equal(done, undefined, `opcode ${req.opcode}: served before serveNow returned`);
    assert.deepEqual(errors, [e]);
  }
  const { errors, done } = answered(sampleRequest(Opcode.GETATTR));
  assert.ok(done instanceof Promise, "a rejection is answered later");
  await done;
  assert.deepEqual(errors, [Errno.ESTALE]);
});

test("LOOKUP answered NO_ENTRY goes out as ENOENT, at once; another negative entry goes out as an entry", async () => {
  const cached: EntryOut = { ...NO_ENTRY, entryValid: 5n };
  class Negative extends FileSystemBase {
    override lookup(_ctx: Context, _parent: bigint, name: Uint8Array): Answer<EntryOut> {
      if (Buffer.from(name).toString() === "later") return Promise.resolve(NO_ENTRY);
      return Buffer.from(name).toString() === "cached" ? cached : NO_ENTRY;
    }
  }
  const server = await ready(new Negative());
  const replies: Buffer[] = [];
  const target = new MessageReply((m) => void replies.push(Buffer.from(m)));
  const lookup = (name: string): Uint8Array => encodeRequestBytes({ opcode: Opcode.LOOKUP, header: hdr(), name: B(name) }, server.wireOptions);
  assert.equal(server.serveNow(lookup("missing"), target), undefined, "served before serveNow returned");
  assert.equal(replies.length, 1);
  assert.equal(replies[0]!.byteLength, 16, "a header-only reply");
  assert.equal(replies[0]!.readInt32LE(4), -Errno.ENOENT);
  await server.serveNow(lookup("later"), target);
  assert.equal(replies[1]!.readInt32LE(4), -Errno.ENOENT, "NO_ENTRY through a promise too");
  const entry = await call(server, { opcode: Opcode.LOOKUP, header: hdr(), name: B("cached") });
  assert.ok(entry.ok, "a negative entry with a timeout is the file system's to send");
  assert.equal((entry.body as EntryOut).nodeid, 0n);
  assert.equal((entry.body as EntryOut).entryValid, 5n);
});

test("GETXATTR answered NO_XATTR goes out as ENODATA, also for a size-0 request; an empty value is a value", async () => {
  class Sparse extends FileSystemBase {
    override getxattr(_ctx: Context, _nodeid: bigint, name: Uint8Array): Answer<Uint8Array> {
      return Buffer.from(name).toString() === "user.empty" ? new Uint8Array(0) : NO_XATTR;
    }
  }
  const server = await ready(new Sparse());
  const get = (size: number, name: string): Request => ({ opcode: Opcode.GETXATTR, header: hdr(), arg: { size }, name: B(name) });
  assert.equal(await errnoOf(server, get(64, "user.none")), Errno.ENODATA);
  assert.equal(await errnoOf(server, get(0, "user.none")), Errno.ENODATA);
  const empty = await call(server, get(0, "user.empty"));
  assert.ok(empty.ok);
  assert.deepEqual(empty.body, { size: 0 });
});

test("GETXATTR/LISTXATTR size rules: 0 asks for the length, too small is ERANGE", async () => {
  const fs = new MemFs();
  const server = await ready(fs);
  fs.nodes.get(1n)!.xattrs.set("user.color", B("blue"));
  fs.nodes.get(1n)!.xattrs.set("user.x", B(""));
  const get = (size: number, name = "user.color"): Request => ({ opcode: Opcode.GETXATTR, header: hdr(), arg: { size }, name: B(name) });
  const list = (size: number): Request => ({ opcode: Opcode.LISTXATTR, header: hdr(), arg: { size } });
  const sized = await call(server, get(0));
  assert.ok(sized.ok);
  assert.deepEqual(sized.body, { size: 4 });
  assert.equal(await errnoOf(server, get(3)), Errno.ERANGE);
  const exact = await call(server, get(4));
  assert.ok(exact.ok);
  assert.equal(Buffer.from(exact.body as Uint8Array).toString(), "blue");
  const roomy = await call(server, get(100));
  assert.ok(roomy.ok);
  assert.equal(Buffer.from(roomy.body as Uint8Array).toString(), "blue");
  const empty = await call(server, get(10, "user.x"));
  assert.ok(empty.ok);
  assert.equal((empty.body as Uint8Array).byteLength, 0);
  assert.equal(await errnoOf(server, get(10, "user.none")), Errno.ENODATA);
  const names = "user.color\0user.x\0";
  const l0 = await call(server, list(0));
  assert.ok(l0.ok);
  assert.deepEqual(l0.body, { size: names.length });
  assert.equal(await errnoOf(server, list(names.length - 1)), Errno.ERANGE);
  const l1 = await call(server, list(names.length));
  assert.ok(l1.ok);
  assert.equal(Buffer.from(l1.body as Uint8Array).toString("latin1"), names);
});

test("READDIR packs 8-byte-aligned dirents up to the size asked, and resumes from an entry's off", async () => {
  const fs = new MemFs();
  for (let i = 0; i < 20; i++) fs.add(1n, `file-${String(i).padStart(2, "0")}`, Mode.S_IFREG | 0o644);
  const server = await ready(fs, { readdirplus: false });
  const readdir = (offset: bigint, size: number): Request => ({
    opcode: Opcode.READDIR,
    header: hdr(),
    arg: { fh: 1n, offset, size, readFlags: 0, lockOwner: 0n, flags: 0 },
  });
  // "." 32 + ".." 32 + "file-00" 32 = 96 bytes; a fourth does not fit 100.
  const first = await call(server, readdir(0n, 100));
  assert.ok(first.ok);
  const body = first.body as Uint8Array;
  assert.equal(body.byteLength, 96);
  const d = decodeDirents(body);
  assert.deepEqual(d.map((e) => e.name.toString()), [".", "..", "file-00"]);
  assert.deepEqual(d.map((e) => e.type), [DirentType.DIR, DirentType.DIR, DirentType.REG]);
  const rest = await call(server, readdir(d[2]!.off, 4096));
  assert.ok(rest.ok);
  const names = decodeDirents(rest.body as Uint8Array).map((e) => e.name.toString());
  assert.equal(names.length, 19);
  assert.equal(names[0], "file-01");
  // Too small for anything: an empty reply (end of stream for the client).
  const none = await call(server, readdir(0n, 20));
  assert.ok(none.ok);
  assert.equal((none.body as Uint8Array).byteLength, 0);
});

test("READDIRPLUS: '.' and '..' carry nodeid 0; lookups are counted only for entries that fit", async () => {
  const fs = new MemFs();
  const inos: bigint[] = [];
  for (let i = 0; i < 5; i++) inos.push(fs.add(1n, `file-${i}`, Mode.S_IFREG | 0o644));
  const server = await ready(fs);
  const plus = (offset: bigint, size: number): Request => ({
    opcode: Opcode.READDIRPLUS,
    header: hdr(),
    arg: { fh: 1n, offset, size, readFlags: 0, lockOwner: 0n, flags: 0 },
  });
  // Each record is 152 + name, padded: "." and ".." take 160 each, "file-N" 160.
  const r = await call(server, plus(0n, 479));
  assert.ok(r.ok);
  const entries = decodeDirentplus(r.body as Uint8Array);
  assert.deepEqual(entries.map((e) => e.dirent.name.toString()), [".", ".."]);
  for (const e of entries) {
    assert.equal(e.entry.nodeid, 0n);
    assert.equal(e.entry.attr.mode, Mode.S_IFDIR);
    assert.equal(e.entry.attr.ino, e.dirent.ino);
  }
  assert.deepEqual(inos.map((i) => fs.nodes.get(i)!.lookups), [0n, 0n, 0n, 0n, 0n], "the refused entry was not counted");
  const r2 = await call(server, plus(2n, 330));
  assert.ok(r2.ok);
  const more = decodeDirentplus(r2.body as Uint8Array);
  assert.deepEqual(more.map((e) => e.dirent.name.toString()), ["file-0", "file-1"]);
  assert.deepEqual(more.map((e) => e.entry.nodeid), [inos[0], inos[1]]);
  assert.deepEqual(inos.map((i) => fs.nodes.get(i)!.lookups), [1n, 1n, 0n, 0n, 0n]);
});

test("READDIRPLUS that fails after accepting entries still sends them (their lookups were counted)", async () => {
  class Flaky extends FileSystemBase {
    override async readdirplus(_c: Context, _n: bigint, _fh: bigint, _off: bigint, sink: DirSink): Promise<void> {
      assert.ok(sink.addPlus({ name: B("a"), ino: 5n, off: 1n, type: DirentType.REG }, entry(5n)));
      throw errno("EIO", "getdents");
    }
    override async readdir(_c: Context, _n: bigint, _fh: bigint, _off: bigint, sink: DirSink): Promise<void> {
      assert.throws(() => sink.addPlus({ name: B("a"), ino: 5n, off: 1n, type: DirentType.REG }, entry(5n)), /READDIR/);
      throw errno("EIO", "getdents");
    }
  }
  const server = await ready(new Flaky());
  const r = await call(server, sampleRequest(Opcode.READDIRPLUS));
  assert.ok(r.ok);
  assert.deepEqual(decodeDirentplus(r.body as Uint8Array).map((e) => e.entry.nodeid), [5n]);
  assert.equal(await errnoOf(server, sampleRequest(Opcode.READDIR)), Errno.EIO);
});

test("INTERRUPT aborts the request's signal (no reply to it); an unknown one is EAGAIN", async () => {
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  class Slow extends FileSystemBase {
    override statfs(ctx: Context): Promise<Kstatfs> {
      return new Promise((_resolve, reject) => {
        ctx.signal!.addEventListener("abort", () => reject(ctx.signal!.reason));
        started();
      });
    }
  }
  const server = await ready(new Slow());
  const req = sampleRequest(Opcode.STATFS);
  const pending = send(server, req);
  await running;
  assert.equal(server.inFlightCount, 1);
  const interrupt = { opcode: Opcode.INTERRUPT, header: hdr(0n, req.header.unique | 1n), arg: { unique: req.header.unique } } as Request;
  assert.deepEqual(await send(server, interrupt), []);
  const [reply] = await pending;
  assert.equal(decodeOutHeader(reply!).error, -Errno.EINTR);
  assert.equal(server.inFlightCount, 0);
  assert.equal(await errnoOf(server, interrupt), Errno.EAGAIN);
});

test("supplementary group extension reaches ctx.suppGroup when negotiated", async () => {
  const fs = new MemFs();
  fs.initFlags = 1n << 34n; // CREATE_SUPP_GROUP
  const server = await ready(fs);
  // fuse_ext_header {size 16, type 32}, nr_groups 1, group 777.
  const ext = new Uint8Array(16);
  const v = new DataView(ext.buffer);
  v.setUint32(0, 16, true);
  v.setUint32(4, 32, true);
  v.setUint32(8, 1, true);
  v.setUint32(12, 777, true);
  const r = await call(server, { opcode: Opcode.MKDIR, header: hdr(), arg: { mode: 0o755, umask: 0 }, name: B("d"), extensions: ext });
  assert.ok(r.ok);
  assert.equal((r.body as EntryOut).attr.gid, 777);
  const bad = ext.slice();
  new DataView(bad.buffer).setUint32(0, 24, true);
  assert.equal(await errnoOf(server, { opcode: Opcode.MKDIR, header: hdr(), arg: { mode: 0o755, umask: 0 }, name: B("e"), extensions: bad }), Errno.EINVAL);
});

test("tracing: one debug line per request with opcode, node, unique, result and µs", async () => {
  const fs = new MemFs();
  const server = await ready(fs);
  const lines: string[] = [];
  log.setSink((_level, line) => void lines.push(line));
  log.setLevel("debug");
  try {
    const miss = { opcode: Opcode.LOOKUP, header: hdr(1n), name: B("missing") } as Request;
    await send(server, miss);
    const hit = sampleRequest(Opcode.GETATTR, 1n);
    await send(server, hit);
    await send(server, sampleRequest(Opcode.FORGET, 1n));
    const traces = lines.filter((l) => /^viofs: [A-Z_0-9]+ node=/.test(l));
    assert.equal(traces.length, 3, lines.join("\n"));
    assert.match(traces[0]!, new RegExp(`^viofs: LOOKUP node=1 unique=${miss.header.unique} ENOENT \\d+us$`));
    assert.match(traces[1]!, new RegExp(`^viofs: GETATTR node=1 unique=${hit.header.unique} OK \\d+us$`));
    assert.match(traces[2]!, /^viofs: FORGET node=1 unique=\d+ no-reply \d+us$/);
  } finally {
    log.setLevel("off");
  }
  // Off: no line is built.
  lines.length = 0;
  await send(server, sampleRequest(Opcode.GETATTR, 1n));
  assert.deepEqual(lines, []);
});
