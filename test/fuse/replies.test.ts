import { test } from "node:test";
import assert from "node:assert/strict";
import { Opcode, opcodeName } from "../../src/fuse/abi.js";
import {
  decodeOutHeader,
  decodeReply,
  encodeErrorReply,
  encodeReply,
  encodeReplyBytes,
  hasReply,
  initOutSize,
  NO_REPLY_OPCODES,
  type ReplyBodyMap,
  type ReplyOpcode,
  type Request,
  type WireOptions,
} from "../../src/fuse/messages.js";
import { DirentEncoder } from "../../src/fuse/dirent.js";
import { Errno } from "../../src/common/errno.js";
import { ProtocolErrorCode } from "../../src/common/errors.js";
import { cat, i32, raw, sample, u32, u64, zeros } from "./layouts.js";
import { headerFor, requestFor } from "./vectors.js";

interface ReplyVector {
  label: string;
  opcode: ReplyOpcode;
  req: Request;
  body: unknown;
  bytes: Uint8Array;
  opts?: WireOptions;
}

function outHeaderBytes(len: number, error: number, unique: bigint): Uint8Array {
  return cat(u32(len), i32(error), u64(unique));
}

function rv(label: string, opcode: ReplyOpcode, body: unknown, parts: Uint8Array[], opts?: WireOptions, req = requestFor(opcode)): ReplyVector {
  const payload = cat(...parts);
  return { label, opcode, req, body, bytes: cat(outHeaderBytes(16 + payload.byteLength, 0, req.header.unique), payload), ...(opts ? { opts } : {}) };
}

const s = <T = Record<string, unknown>>(name: string, seed = 1, overrides: Record<string, number | bigint> = {}) => sample<T>(name, overrides, seed);

function vectors(): ReplyVector[] {
  const O = Opcode;
  const out: ReplyVector[] = [];
  const entry = s("EntryOut");
  const attrOut = s("AttrOut");
  const open = s("OpenOut");
  for (const op of [O.LOOKUP, O.SYMLINK, O.MKNOD, O.MKDIR, O.LINK] as const) out.push(rv(opcodeName(op), op, entry.value, [entry.bytes]));
  out.push(rv("GETATTR", O.GETATTR, attrOut.value, [attrOut.bytes]));
  out.push(rv("SETATTR", O.SETATTR, attrOut.value, [attrOut.bytes]));
  out.push(rv("READLINK", O.READLINK, Buffer.from("../some/where"), [raw("../some/where")]));
  for (const op of [
    O.UNLINK, O.RMDIR, O.RENAME, O.RELEASE, O.FSYNC, O.SETXATTR, O.REMOVEXATTR, O.FLUSH, O.RELEASEDIR, O.FSYNCDIR,
    O.SETLK, O.SETLKW, O.ACCESS, O.INTERRUPT, O.DESTROY, O.FALLOCATE, O.RENAME2, O.SETUPMAPPING, O.REMOVEMAPPING, O.SYNCFS,
  ] as const) {
    out.push(rv(opcodeName(op), op, undefined, []));
  }
  out.push(rv("OPEN", O.OPEN, open.value, [open.bytes]));
  out.push(rv("OPENDIR", O.OPENDIR, open.value, [open.bytes]));
  const data = new Uint8Array([5, 4, 3, 2, 1, 0, 0xff]);
  out.push(rv("READ", O.READ, data, [data]));
  const wo = s("WriteOut");
  out.push(rv("WRITE", O.WRITE, wo.value, [wo.bytes]));
  out.push(rv("COPY_FILE_RANGE", O.COPY_FILE_RANGE, wo.value, [wo.bytes]));
  const statfs = s("StatfsOut");
  out.push(rv("STATFS", O.STATFS, statfs.value, [statfs.bytes]));
  const value = new Uint8Array([0, 1, 2]);
  out.push(rv("GETXATTR (value)", O.GETXATTR, value, [value]));
  const names = new Uint8Array(Buffer.from("user.a\0user.b\0"));
  out.push(rv("LISTXATTR (names)", O.LISTXATTR, names, [names]));
  const gx = s("GetxattrOut");
  const size0 = (op: typeof O.GETXATTR | typeof O.LISTXATTR): Request => {
    const r = requestFor(op) as Extract<Request, { opcode: typeof op }>;
    return { ...r, arg: { size: 0 } } as Request;
  };
  out.push(rv("GETXATTR (size query)", O.GETXATTR, gx.value, [gx.bytes], undefined, size0(O.GETXATTR)));
  out.push(rv("LISTXATTR (size query)", O.LISTXATTR, gx.value, [gx.bytes], undefined, size0(O.LISTXATTR)));
  const init = s("InitOut", 1, { major: 7, minor: 38 });
  out.push(rv("INIT", O.INIT, init.value, [init.bytes]));
  const dirents = new DirentEncoder(4096);
  dirents.add({ ino: 5n, off: 1n, type: 4, name: Buffer.from(".") });
  dirents.add({ ino: 6n, off: 2n, type: 8, name: Buffer.from("file") });
  out.push(rv("READDIR", O.READDIR, dirents.finish(), [dirents.finish()]));
  out.push(rv("READDIRPLUS", O.READDIRPLUS, new Uint8Array(0), []));
  const lk = s("LkOut");
  out.push(rv("GETLK", O.GETLK, lk.value, [lk.bytes]));
  out.push(rv("CREATE", O.CREATE, { entry: entry.value, open: open.value }, [entry.bytes, open.bytes]));
  out.push(rv("TMPFILE", O.TMPFILE, { entry: entry.value, open: open.value }, [entry.bytes, open.bytes]));
  const bmap = s("BmapOut");
  out.push(rv("BMAP", O.BMAP, bmap.value, [bmap.bytes]));
  const ioctl = s("IoctlOut");
  const ioctlData = new Uint8Array([7, 7, 7]);
  out.push(rv("IOCTL", O.IOCTL, { out: ioctl.value, data: ioctlData }, [ioctl.bytes, ioctlData]));
  const poll = s("PollOut");
  out.push(rv("POLL", O.POLL, poll.value, [poll.bytes]));
  const lseek = s("LseekOut");
  out.push(rv("LSEEK", O.LSEEK, lseek.value, [lseek.bytes]));
  const statx = s("StatxOut");
  out.push(rv("STATX", O.STATX, statx.value, [statx.bytes]));

  // Compat sizes.
  const old = (minor: number): WireOptions => ({ minor, setxattrExt: false });
  const entryCompat = { ...entry.value, attr: { ...(entry.value as { attr: object }).attr, blksize: 0, flags: 0 } };
  out.push(rv("LOOKUP (7.8: 120-byte entry)", O.LOOKUP, entryCompat, [entry.bytes.subarray(0, 120)], old(8)));
  out.push(rv("CREATE (7.8: 120-byte entry)", O.CREATE, { entry: entryCompat, open: open.value }, [entry.bytes.subarray(0, 120), open.bytes], old(8)));
  const attrCompat = { ...attrOut.value, attr: { ...(attrOut.value as { attr: object }).attr, blksize: 0, flags: 0 } };
  out.push(rv("GETATTR (7.8: 96-byte attr_out)", O.GETATTR, attrCompat, [attrOut.bytes.subarray(0, 96)], old(8)));
  const statfsCompat = s("StatfsOut", 1, { "st.frsize": 0 });
  out.push(rv("STATFS (7.3: 48 bytes)", O.STATFS, statfsCompat.value, [statfsCompat.bytes.subarray(0, 48)], old(3)));
  const init8 = s("InitOut", 1, { major: 7, minor: 4, maxReadahead: 0, flags: 0, maxBackground: 0, congestionThreshold: 0, maxWrite: 0, timeGran: 0, maxPages: 0, mapAlignment: 0, flags2: 0, maxStackDepth: 0, requestTimeout: 0 });
  out.push(rv("INIT (7.4: 8 bytes)", O.INIT, init8.value, [init8.bytes.subarray(0, 8)], old(4)));
  const init24 = s("InitOut", 1, { major: 7, minor: 22, timeGran: 0, maxPages: 0, mapAlignment: 0, flags2: 0, maxStackDepth: 0, requestTimeout: 0 });
  out.push(rv("INIT (7.22: 24 bytes)", O.INIT, init24.value, [init24.bytes.subarray(0, 24)], old(22)));
  return out;
}

const VECTORS = vectors();

test("every opcode with a reply has a reply vector; FORGET, BATCH_FORGET, NOTIFY_REPLY have none", () => {
  const covered = new Set(VECTORS.map((v) => v.opcode));
  for (const n of Object.values(Opcode)) {
    assert.equal(hasReply(n), !NO_REPLY_OPCODES.has(n), opcodeName(n));
    if (hasReply(n)) assert.ok(covered.has(n), `no reply vector for ${opcodeName(n)}`);
  }
  assert.equal(covered.size, 47);
});

for (const v of VECTORS) {
  test(`reply ${v.label}: byte-exact and round trip`, () => {
    const unique = v.req.header.unique;
    const enc = encodeReplyBytes(unique, v.opcode, v.body as ReplyBodyMap[typeof v.opcode], v.opts);
    assert.deepEqual(enc, v.bytes, "encode");
    assert.deepEqual(decodeReply(v.req, v.bytes, v.opts), { ok: true, unique, body: v.body }, "decode");
  });
}

test("INIT reply size follows the driver's minor", () => {
  assert.equal(initOutSize(4), 8);
  assert.equal(initOutSize(5), 24);
  assert.equal(initOutSize(22), 24);
  assert.equal(initOutSize(23), 64);
  assert.equal(initOutSize(38), 64);
});

test("bulk reply data is passed through as its own chunk", () => {
  const data = new Uint8Array(1 << 16).fill(3);
  const chunks = encodeReply(9n, Opcode.READ, data);
  assert.equal(chunks.length, 2);
  assert.deepEqual(chunks[0], outHeaderBytes(16 + data.byteLength, 0, 9n));
  assert.equal(chunks[1], data);
  assert.deepEqual(encodeReply(9n, Opcode.READ, new Uint8Array(0)), [outHeaderBytes(16, 0, 9n)], "empty read: header only");
  const back = decodeReply({ ...requestFor(Opcode.READ), header: headerFor(0) } as Request, cat(outHeaderBytes(16 + 4, 0, headerFor(0).unique), new Uint8Array([1, 2, 3, 4])));
  assert.ok(back.ok && !Buffer.isBuffer(back.body));
});

test("error replies: header only, -errno; errnos the client would refuse become EIO", () => {
  assert.deepEqual(encodeErrorReply(0x55n, Errno.ENOENT), outHeaderBytes(16, -2, 0x55n));
  assert.deepEqual(encodeErrorReply(0x55n, 511), outHeaderBytes(16, -511, 0x55n));
  for (const bad of [0, -3, 512, 1.5, NaN]) {
    assert.deepEqual(encodeErrorReply(1n, bad), outHeaderBytes(16, -Errno.EIO, 1n), `errno ${bad}`);
  }
  const req = requestFor(Opcode.LOOKUP);
  assert.deepEqual(decodeReply(req, outHeaderBytes(16, -Errno.ENOENT, req.header.unique)), {
    ok: false,
    unique: req.header.unique,
    errno: Errno.ENOENT,
  });
});

test("reply header checks", () => {
  const req = requestFor(Opcode.LOOKUP);
  const u = req.header.unique;
  const cases: [string, Uint8Array, string][] = [
    ["short header", outHeaderBytes(16, 0, u).subarray(0, 15), ProtocolErrorCode.SHORT],
    ["len too big", outHeaderBytes(17, -2, u), ProtocolErrorCode.LENGTH],
    ["len too small", cat(outHeaderBytes(16, -2, u), zeros(8)), ProtocolErrorCode.LENGTH],
    ["positive error", outHeaderBytes(16, 2, u), ProtocolErrorCode.VALUE],
    ["error -512", outHeaderBytes(16, -512, u), ProtocolErrorCode.VALUE],
    ["error with a body", cat(outHeaderBytes(24, -2, u), zeros(8)), ProtocolErrorCode.LENGTH],
    ["other unique", outHeaderBytes(16, -2, u + 1n), ProtocolErrorCode.VALUE],
    ["notification (unique 0)", outHeaderBytes(16, 1, 0n), ProtocolErrorCode.VALUE],
    ["entry cut short", cat(outHeaderBytes(16 + 127, 0, u), zeros(127)), ProtocolErrorCode.SHORT],
    ["entry too long", cat(outHeaderBytes(16 + 129, 0, u), zeros(129)), ProtocolErrorCode.LONG],
    ["empty success", outHeaderBytes(16, 0, u), ProtocolErrorCode.SHORT],
  ];
  for (const [label, bytes, code] of cases) assert.throws(() => decodeReply(req, bytes), { code }, label);
  // A notification header is fine for decodeOutHeader: error is the notify code.
  assert.deepEqual(decodeOutHeader(outHeaderBytes(16, 3, 0n)), { len: 16, error: 3, unique: 0n });
});

test("reply bodies are bounded by the request", () => {
  const read = requestFor(Opcode.READ) as Extract<Request, { opcode: typeof Opcode.READ }>;
  const small = { ...read, arg: { ...read.arg, size: 4 } };
  const u = read.header.unique;
  assert.deepEqual(decodeReply(small, cat(outHeaderBytes(20, 0, u), zeros(4))), { ok: true, unique: u, body: zeros(4) });
  assert.throws(() => decodeReply(small, cat(outHeaderBytes(21, 0, u), zeros(5))), { code: ProtocolErrorCode.LENGTH });

  const gx = requestFor(Opcode.GETXATTR) as Extract<Request, { opcode: typeof Opcode.GETXATTR }>;
  const query = { ...gx, arg: { size: 0 } };
  assert.throws(() => decodeReply(query, cat(outHeaderBytes(32, 0, gx.header.unique), zeros(16))), { code: ProtocolErrorCode.LONG });
  const two = { ...gx, arg: { size: 2 } };
  assert.throws(() => decodeReply(two, cat(outHeaderBytes(19, 0, gx.header.unique), zeros(3))), { code: ProtocolErrorCode.LENGTH });

  const ioctl = requestFor(Opcode.IOCTL) as Extract<Request, { opcode: typeof Opcode.IOCTL }>;
  const none = { ...ioctl, arg: { ...ioctl.arg, outSize: 0 } };
  assert.throws(() => decodeReply(none, cat(outHeaderBytes(33, 0, ioctl.header.unique), zeros(17))), { code: ProtocolErrorCode.LENGTH });

  const init = requestFor(Opcode.INIT);
  for (const n of [0, 7, 16, 32, 63, 65]) {
    const code = ProtocolErrorCode.LENGTH;
    assert.throws(() => decodeReply(init, cat(outHeaderBytes(16 + n, 0, init.header.unique), zeros(n))), { code }, `INIT reply of ${n}`);
  }

  const forget = requestFor(Opcode.FORGET);
  assert.throws(() => decodeReply(forget, outHeaderBytes(16, 0, forget.header.unique)), { code: ProtocolErrorCode.STATE });
});
