/**
 * The codec's fast paths: generated struct readers and writers at the
 * boundaries of every kind (the u64 loader switches methods at 2^53), readers
 * over a part of a message, `decodeAt`/`encodeAt`, shared reply memory, and
 * dirent records written in place.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Opcode } from "../../src/fuse/abi.js";
import { DirentplusEncoder } from "../../src/fuse/dirent.js";
import { encodeErrorReply, encodeReply, encodeReplyBytes } from "../../src/fuse/messages.js";
import { EntryOut, NotifyInvalInodeOut, OutHeader, SxTime, WriteOut } from "../../src/fuse/structs.js";
import { loadI64, loadU64, sharedBytes, WireReader, WireWriter } from "../../src/fuse/wire.js";
import { ProtocolError, ProtocolErrorCode } from "../../src/common/errors.js";
import { cat, cstr, raw, sample } from "./layouts.js";

const U64_EDGES = [0n, 1n, (1n << 32n) - 1n, 1n << 32n, (1n << 53n) - 1n, 1n << 53n, (1n << 53n) + 1n, (1n << 64n) - 1n];
const I64_EDGES = [0n, -1n, 1n, -(1n << 53n), -(1n << 53n) - 1n, (1n << 53n) - 1n, 1n << 53n, -(1n << 63n), (1n << 63n) - 1n];

test("u64 and i64 loads agree with DataView at the edges and at random", () => {
  const check = (u: bigint, i: bigint): void => {
    const b = new Uint8Array(24);
    const v = new DataView(b.buffer);
    v.setBigUint64(3, u, true);
    v.setBigInt64(13, i, true);
    assert.equal(loadU64(b, 3), u);
    assert.equal(loadI64(b, 13), i);
  };
  for (const u of U64_EDGES) for (const i of I64_EDGES) check(u, i);
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }), check),
    { numRuns: 2000 },
  );
});

test("generated codecs round-trip 64-bit fields at the edges, and refuse one past them", () => {
  for (const off of I64_EDGES) {
    for (const ino of U64_EDGES) {
      const v = { ino, off, len: -off };
      if (-off >= 1n << 63n) continue;
      assert.deepEqual(NotifyInvalInodeOut.fromBytes(NotifyInvalInodeOut.toBytes(v)), v);
    }
  }
  const refused = [
    () => NotifyInvalInodeOut.toBytes({ ino: 1n << 64n, off: 0n, len: 0n }),
    () => NotifyInvalInodeOut.toBytes({ ino: -1n, off: 0n, len: 0n }),
    () => SxTime.toBytes({ tvSec: -(1n << 63n) - 1n, tvNsec: 0 }),
  ];
  for (const f of refused) assert.throws(f, { code: ProtocolErrorCode.VALUE });
  assert.throws(() => WriteOut.toBytes({ size: 2 ** 32 }), { message: "cannot encode fuse_write_out.size = 4294967296 as u32" });
});

test("a reader over part of a message stays inside it", () => {
  // [guard "x\0"] [part: "ab"] [after: "\0"]: the NUL after the part is not the part's.
  const msg = cat(raw("x\0"), raw("ab"), raw("\0"));
  assert.throws(() => new WireReader(msg, "part", 2, 4).name(), { code: ProtocolErrorCode.STRING });
  assert.throws(() => new WireReader(msg, "part", 2, 4).lastName(), { code: ProtocolErrorCode.STRING });
  assert.deepEqual(new WireReader(msg, "part", 2, 5).lastName(), Buffer.from("ab"));
  const r = new WireReader(msg, "part", 2, 4);
  assert.equal(r.u8(), 0x61);
  assert.equal(r.offset, 1);
  assert.equal(r.remaining, 1);
  assert.throws(() => r.u16(), (e: unknown) => ProtocolError.is(e) && e.code === ProtocolErrorCode.SHORT && /offset 1, 1 left/.test(e.message));
  assert.throws(() => r.end(), { code: ProtocolErrorCode.LONG });
  // A name must end inside the part even when later bytes would complete it.
  const two = cat(cstr("a"), raw("b"));
  assert.throws(() => new WireReader(two, "part", 2, 3).name(), { code: ProtocolErrorCode.STRING });
  for (const [start, end] of [[-1, 2], [3, 2], [0, 8], [0.5, 2]] as const) {
    assert.throws(() => new WireReader(msg, "part", start, end), RangeError);
  }
});

test("decodeAt and encodeAt: same bytes and values as the reader and writer, bounds refused", () => {
  const { value, bytes } = sample<EntryOut>("EntryOut");
  const inside = cat(new Uint8Array(5), bytes, new Uint8Array(3));
  assert.deepEqual(EntryOut.decodeAt(inside, 5), value);
  assert.throws(
    () => EntryOut.decodeAt(inside, 9, "LOOKUP reply"),
    (e: unknown) => ProtocolError.is(e) && e.code === ProtocolErrorCode.SHORT && e.message === "LOOKUP reply: fuse_entry_out needs 128 bytes at offset 9, 127 left",
  );
  assert.throws(() => EntryOut.decodeAt(inside, -1), RangeError);
  const out = new Uint8Array(140);
  EntryOut.encodeAt(new DataView(out.buffer), 7, value);
  assert.deepEqual(out.subarray(7, 135), bytes);
  assert.ok(out.subarray(0, 7).every((b) => b === 0) && out.subarray(135).every((b) => b === 0), "nothing written outside");
  assert.throws(() => EntryOut.encodeAt(new DataView(out.buffer), 13, value), RangeError);
  assert.throws(() => EntryOut.encodeAt(new DataView(out.buffer), 0, { ...value, nodeid: -1n }), { code: ProtocolErrorCode.VALUE });
});

test("shared memory: zeroed, 8-byte aligned, never handed out twice; own memory starts at 0", () => {
  const seen: Uint8Array[] = [];
  for (let i = 0; i < 3000; i++) {
    const size = 1 + ((i * 37) % 300);
    const b = i % 2 === 0 ? sharedBytes(size) : new WireWriter(size, "shared").bytes;
    assert.equal(b.byteLength, size);
    assert.equal(b.byteOffset % 8, 0);
    assert.ok(b.every((x) => x === 0), "zeroed");
    b.fill(0xff);
    seen.push(b);
  }
  for (let i = 1; i < seen.length; i++) {
    const a = seen[i - 1]!;
    const b = seen[i]!;
    if (a.buffer === b.buffer) assert.ok(a.byteOffset + a.byteLength <= b.byteOffset, "no overlap");
  }
  assert.equal(sharedBytes(4096).byteOffset, 0, "large requests get memory of their own");
  const own = new WireWriter(24);
  assert.equal(own.bytes.byteOffset, 0);
  assert.equal(own.bytes.buffer.byteLength, 24);
});

test("replies: the head chunk in shared memory, encodeReplyBytes in a buffer of its own", () => {
  const { value } = sample<EntryOut>("EntryOut");
  const [head] = encodeReply(77n, Opcode.LOOKUP, value);
  const bytes = encodeReplyBytes(77n, Opcode.LOOKUP, value);
  assert.deepEqual(head, bytes);
  assert.equal(bytes.byteOffset, 0);
  assert.equal(bytes.buffer.byteLength, 16 + 128);
  assert.deepEqual(OutHeader.fromBytes(encodeErrorReply(5n, 2)), { len: 16, error: -2, unique: 5n });
  // A later reply leaves an earlier one as it was.
  const copy = head!.slice();
  for (let i = 0; i < 200; i++) encodeReply(BigInt(i), Opcode.LOOKUP, value);
  assert.deepEqual(head, copy);
});

test("a direntplus record refused for a bad value leaves no trace in the stream", () => {
  const { value: entry } = sample<EntryOut>("EntryOut");
  const dirent = (name: string, off: bigint) => ({ ino: 9n, off, type: 8, name: Buffer.from(name) });
  const enc = new DirentplusEncoder(4096);
  assert.equal(enc.add({ entry, dirent: dirent("a", 1n) }), true);
  const before = enc.finish().slice();
  // The entry is written before the dirent header refuses `off`.
  assert.throws(() => enc.add({ entry: { ...entry, nodeid: 5n }, dirent: dirent("a-long-name", -1n) }), { code: ProtocolErrorCode.VALUE });
  assert.equal(enc.count, 1);
  assert.deepEqual(enc.finish(), before);
  assert.equal(enc.add({ entry, dirent: dirent("b", 2n) }), true);
  const clean = new DirentplusEncoder(4096);
  clean.add({ entry, dirent: dirent("a", 1n) });
  clean.add({ entry, dirent: dirent("b", 2n) });
  assert.deepEqual(enc.finish(), clean.finish());
});
