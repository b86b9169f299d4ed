import { test } from "node:test";
import assert from "node:assert/strict";
import { Opcode, opcodeName, isOpcode, CUSE_INIT, FUSE_INIT_BSWAP_RESERVED } from "../../src/fuse/abi.js";
import {
  decodeInHeader,
  decodeRequest,
  encodeRequest,
  encodeRequestBytes,
  DEFAULT_WIRE_OPTIONS,
  wireOptions,
  type Request,
} from "../../src/fuse/messages.js";
import { decodeExtensions, encodeExtensions } from "../../src/fuse/extensions.js";
import { InitFlag } from "../../src/fuse/abi.js";
import { ProtocolErrorCode } from "../../src/common/errors.js";
import { REQUEST_VECTORS, inHeaderBytes, requestFor } from "./vectors.js";
import { cat } from "./layouts.js";

/** The opcodes of fuse.h's enum fuse_opcode from 1 to 52 (7 and 19 are holes). */
const FUSE_H_OPCODES: Record<string, number> = {
  LOOKUP: 1, FORGET: 2, GETATTR: 3, SETATTR: 4, READLINK: 5, SYMLINK: 6, MKNOD: 8, MKDIR: 9, UNLINK: 10,
  RMDIR: 11, RENAME: 12, LINK: 13, OPEN: 14, READ: 15, WRITE: 16, STATFS: 17, RELEASE: 18, FSYNC: 20,
  SETXATTR: 21, GETXATTR: 22, LISTXATTR: 23, REMOVEXATTR: 24, FLUSH: 25, INIT: 26, OPENDIR: 27, READDIR: 28,
  RELEASEDIR: 29, FSYNCDIR: 30, GETLK: 31, SETLK: 32, SETLKW: 33, ACCESS: 34, CREATE: 35, INTERRUPT: 36,
  BMAP: 37, DESTROY: 38, IOCTL: 39, POLL: 40, NOTIFY_REPLY: 41, BATCH_FORGET: 42, FALLOCATE: 43,
  READDIRPLUS: 44, RENAME2: 45, LSEEK: 46, COPY_FILE_RANGE: 47, SETUPMAPPING: 48, REMOVEMAPPING: 49,
  SYNCFS: 50, TMPFILE: 51, STATX: 52,
};

test("Opcode matches fuse.h for 1–52, with holes at 7 and 19", () => {
  assert.deepEqual({ ...Opcode }, FUSE_H_OPCODES);
  for (let n = 1; n <= 52; n++) {
    assert.equal(isOpcode(n), n !== 7 && n !== 19, `opcode ${n}`);
  }
  assert.equal(opcodeName(45), "RENAME2");
  assert.equal(opcodeName(7), "OPCODE_7");
  assert.equal(CUSE_INIT, 4096);
});

test("every opcode 1–52 has a byte-exact request vector", () => {
  const covered = new Set(REQUEST_VECTORS.map((v) => v.req.opcode));
  for (const [name, n] of Object.entries(FUSE_H_OPCODES)) assert.ok(covered.has(n as Request["opcode"]), `no vector for ${name}`);
  assert.equal(covered.size, 50);
});

for (const v of REQUEST_VECTORS) {
  test(`request ${v.label}: encode gives the C bytes, decode gives the request`, () => {
    assert.deepEqual(encodeRequestBytes(v.req, v.opts), v.bytes, "encode");
    assert.deepEqual(decodeRequest(v.bytes, v.opts), v.req, "decode");
    // Round trip from the other side too.
    assert.deepEqual(decodeRequest(encodeRequestBytes(v.req, v.opts), v.opts), v.req, "round trip");
  });
}

test("bulk data travels as its own chunk, uncopied, both ways", () => {
  const write = requestFor(Opcode.WRITE) as Extract<Request, { opcode: typeof Opcode.WRITE }>;
  const chunks = encodeRequest(write);
  assert.equal(chunks.length, 2);
  assert.equal(chunks[0]!.byteLength, 80);
  assert.equal(chunks[1], write.data);
  const bytes = encodeRequestBytes(write);
  const back = decodeRequest(bytes) as typeof write;
  assert.equal(back.data.buffer, bytes.buffer, "WRITE data is a view into the message");
  assert.equal(back.data.byteOffset, bytes.byteOffset + 80);
  assert.ok(!Buffer.isBuffer(back.data), "data is a plain Uint8Array");
  const lookup = decodeRequest(encodeRequestBytes(requestFor(Opcode.LOOKUP))) as Extract<Request, { opcode: 1 }>;
  assert.ok(Buffer.isBuffer(lookup.name), "names are Buffers");
});

test("a message inside a larger buffer decodes from its own bytes only", () => {
  const v = REQUEST_VECTORS.find((x) => x.label === "RENAME")!;
  const big = new Uint8Array(v.bytes.byteLength + 64).fill(0x55);
  big.set(v.bytes, 32);
  assert.deepEqual(decodeRequest(big.subarray(32, 32 + v.bytes.byteLength)), v.req);
});

test("decodeInHeader reads the header alone (for answering undecodable requests)", () => {
  const bytes = cat(inHeaderBytes(7, 1000), new Uint8Array(3));
  const h = decodeInHeader(bytes);
  assert.equal(h.opcode, 7);
  assert.equal(h.len, 1000);
  assert.throws(() => decodeInHeader(bytes.subarray(0, 39)), { code: ProtocolErrorCode.SHORT });
});

test("unknown opcodes are UNKNOWN (a device answers ENOSYS)", () => {
  for (const op of [0, 7, 19, 53, 99, CUSE_INIT, FUSE_INIT_BSWAP_RESERVED, 0xffff_ffff]) {
    assert.throws(() => decodeRequest(inHeaderBytes(op, 40)), { code: ProtocolErrorCode.UNKNOWN }, `opcode ${op}`);
  }
  assert.throws(() => decodeRequest(inHeaderBytes(FUSE_INIT_BSWAP_RESERVED, 40)), /byte-swapped/);
});

test("wireOptions derives SETXATTR_EXT from the negotiated flags", () => {
  assert.deepEqual(wireOptions(38, InitFlag.SETXATTR_EXT | InitFlag.ASYNC_READ), { minor: 38, setxattrExt: true });
  assert.deepEqual(wireOptions(31, InitFlag.ASYNC_READ), { minor: 31, setxattrExt: false });
  assert.deepEqual(DEFAULT_WIRE_OPTIONS, { minor: 38, setxattrExt: false });
});

test("extensions: decoded from and encoded to the 7.38 layout", () => {
  const v = REQUEST_VECTORS.find((x) => x.label === "MKDIR with extensions")!;
  const ext = v.req.extensions!;
  const list = decodeExtensions(ext);
  assert.deepEqual(list, [
    { kind: "secctx", contexts: [{ name: Buffer.from("security.selinux"), value: new Uint8Array(Buffer.from("unconfine")) }] },
    { kind: "groups", groups: [1000] },
  ]);
  assert.deepEqual(encodeExtensions(list), ext);
  const odd = [
    { kind: "secctx" as const, contexts: [] },
    { kind: "groups" as const, groups: [1, 2, 3] },
    { kind: "unknown" as const, type: 77, data: new Uint8Array([1, 2, 3]) },
  ];
  const bytes = encodeExtensions(odd);
  assert.equal(bytes.byteLength % 8, 0);
  assert.deepEqual(decodeExtensions(bytes), [odd[0], odd[1], { kind: "unknown", type: 77, data: new Uint8Array([1, 2, 3, 0, 0, 0, 0, 0]) }]);
});
