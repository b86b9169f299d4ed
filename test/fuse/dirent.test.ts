import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeDirentplus,
  decodeDirents,
  direntplusSize,
  direntSize,
  direntType,
  DirentEncoder,
  DirentplusEncoder,
  type Dirent,
} from "../../src/fuse/dirent.js";
import { DirentType, FUSE_NAME_OFFSET, FUSE_NAME_OFFSET_DIRENTPLUS, Mode } from "../../src/fuse/abi.js";
import type { EntryOut } from "../../src/fuse/structs.js";
import { ProtocolErrorCode } from "../../src/common/errors.js";
import { cat, raw, sample, u32, u64, zeros } from "./layouts.js";

const C = ProtocolErrorCode;

function d(ino: bigint, off: bigint, type: number, name: string | Buffer): Dirent {
  return { ino, off, type, name: typeof name === "string" ? Buffer.from(name, "latin1") : name };
}

/** A fuse_dirent record written field by field: ino, off, namelen, type, name, zero padding to 8. */
function rec(ino: bigint, off: bigint, type: number, name: string): Uint8Array {
  const n = raw(name);
  const pad = (8 - ((24 + n.byteLength) % 8)) % 8;
  return cat(u64(ino), u64(off), u32(n.byteLength), u32(type), n, zeros(pad));
}

test("sizes and offsets", () => {
  assert.equal(FUSE_NAME_OFFSET, 24);
  assert.equal(FUSE_NAME_OFFSET_DIRENTPLUS, 152);
  assert.equal(direntSize(1), 32);
  assert.equal(direntSize(8), 32);
  assert.equal(direntSize(9), 40);
  assert.equal(direntplusSize(1), 160);
  assert.equal(direntplusSize(8), 160);
  assert.equal(direntplusSize(9), 168);
  assert.equal(direntType(Mode.S_IFDIR | 0o755), DirentType.DIR);
  assert.equal(direntType(Mode.S_IFLNK | 0o777), DirentType.LNK);
  assert.equal(direntType(Mode.S_IFREG), DirentType.REG);
});

/** Entries of every record size class, with an ino and an off that use all 8 bytes. */
const SAMPLE = [
  d(0x1111n, 1n, DirentType.DIR, "."),
  d(0x2222n, 2n, DirentType.DIR, ".."),
  d(0x3333n, 3n, DirentType.REG, "exactly8"),
  d(0x0123_4567_89ab_cdefn, 0xffff_ffff_ffff_fff0n, DirentType.LNK, "nine-char"),
  d(0x5555n, 5n, DirentType.REG, Buffer.from([0xc3, 0x28, 0xff])), // not UTF-8
];

test("dirent stream: byte-exact, 8-byte aligned, round trip", () => {
  const entries = SAMPLE;
  const enc = new DirentEncoder(4096);
  for (const e of entries) assert.ok(enc.add(e));
  const expected = cat(
    rec(0x1111n, 1n, 4, "."),
    rec(0x2222n, 2n, 4, ".."),
    rec(0x3333n, 3n, 8, "exactly8"),
    rec(0x0123_4567_89ab_cdefn, 0xffff_ffff_ffff_fff0n, 10, "nine-char"),
    rec(0x5555n, 5n, 8, "\xc3\x28\xff"),
  );
  assert.deepEqual(enc.finish(), expected);
  assert.equal(enc.count, 5);
  assert.equal(enc.size, 32 + 32 + 32 + 40 + 32);
  assert.deepEqual(decodeDirents(expected), entries);
});

test("direntplus stream: entry_out then dirent, aligned, round trip", () => {
  const e1 = sample<EntryOut>("EntryOut", {}, 1);
  const e2 = sample<EntryOut>("EntryOut", {}, 50);
  const enc = new DirentplusEncoder(1 << 20);
  assert.ok(enc.add({ entry: e1.value, dirent: d(7n, 1n, 8, "a") }));
  assert.ok(enc.add({ entry: e2.value, dirent: d(8n, 2n, 4, "subdirectory") }));
  const expected = cat(e1.bytes, rec(7n, 1n, 8, "a"), e2.bytes, rec(8n, 2n, 4, "subdirectory"));
  assert.deepEqual(enc.finish(), expected);
  assert.equal(expected.byteLength, 160 + 168);
  assert.deepEqual(decodeDirentplus(expected), [
    { entry: e1.value, dirent: d(7n, 1n, 8, "a") },
    { entry: e2.value, dirent: d(8n, 2n, 4, "subdirectory") },
  ]);
});

test("the encoder stops at the entry that would exceed the requested size", () => {
  const enc = new DirentEncoder(100);
  assert.ok(enc.add(d(1n, 1n, 8, "a"))); // 32
  assert.ok(enc.add(d(2n, 2n, 8, "b"))); // 64
  assert.ok(!enc.add(d(3n, 3n, 8, "0123456789"))); // 40 more would make 104
  assert.ok(enc.add(d(4n, 4n, 8, "c"))); // 96: a smaller one still fits
  assert.ok(!enc.add(d(5n, 5n, 8, "d")));
  assert.equal(enc.size, 96);
  assert.equal(enc.finish().byteLength, 96);
  assert.equal(decodeDirents(enc.finish()).length, 3);

  const tiny = new DirentEncoder(31);
  assert.ok(!tiny.add(d(1n, 1n, 8, "a")), "a record of 32 does not fit 31, even unpadded");
  assert.equal(tiny.finish().byteLength, 0);

  const plus = new DirentplusEncoder(159);
  assert.ok(!plus.add({ entry: sample<EntryOut>("EntryOut").value, dirent: d(1n, 1n, 8, "a") }));
});

test("the encoder grows past its first buffer", () => {
  const enc = new DirentEncoder(1 << 20);
  const names: string[] = [];
  for (let i = 0; i < 2000; i++) {
    const name = `entry-${i}`;
    names.push(name);
    assert.ok(enc.add(d(BigInt(i + 10), BigInt(i + 1), 8, name)));
  }
  const back = decodeDirents(enc.finish());
  assert.deepEqual(
    back.map((x) => x.name.toString()),
    names,
  );
});

test("encoder refuses names the client would refuse", () => {
  const enc = new DirentEncoder(1 << 16);
  assert.throws(() => enc.add(d(1n, 1n, 8, "")), { code: C.VALUE });
  assert.throws(() => enc.add(d(1n, 1n, 8, "a/b")), { code: C.STRING });
  assert.throws(() => enc.add(d(1n, 1n, 8, "a\0b")), { code: C.STRING });
  assert.throws(() => enc.add(d(1n, 1n, 8, "x".repeat(1025))), { code: C.LIMIT });
  assert.ok(enc.add(d(1n, 1n, 8, "x".repeat(1024))));
  assert.equal(enc.count, 1);
});

test("decoder: malformed streams are protocol errors", () => {
  const good = rec(1n, 1n, 8, "name");
  const cases: [string, Uint8Array, string][] = [
    ["header cut", good.subarray(0, 23), C.SHORT],
    ["trailing partial header", cat(good, zeros(8)), C.SHORT],
    ["name overruns", cat(u64(1n), u64(1n), u32(20), u32(8), raw("short")), C.LENGTH],
    ["padding missing", good.subarray(0, 28), C.LENGTH],
    ["namelen 0", cat(u64(1n), u64(1n), u32(0), u32(8)), C.VALUE],
    ["namelen 2^32-1", cat(u64(1n), u64(1n), u32(0xffff_ffff), u32(8)), C.LIMIT],
    ["namelen 1025", cat(u64(1n), u64(1n), u32(1025), u32(8), zeros(1032)), C.LIMIT],
    ["slash in name", rec(1n, 1n, 8, "a/b"), C.STRING],
    ["NUL in name", rec(1n, 1n, 8, "a\0b"), C.STRING],
  ];
  for (const [label, bytes, code] of cases) assert.throws(() => decodeDirents(bytes), { code }, label);
  assert.throws(() => decodeDirentplus(good), { code: C.SHORT }, "dirent where direntplus expected");
  assert.throws(() => decodeDirentplus(cat(zeros(128), good.subarray(0, 30))), { code: C.LENGTH });
  assert.deepEqual(decodeDirents(new Uint8Array(0)), []);
  // Padding content is not judged.
  const dirty = good.slice();
  dirty.fill(0xaa, 28);
  assert.deepEqual(decodeDirents(dirty), [d(1n, 1n, 8, "name")]);
});

/** Entries laid out as getdents64 records are (ino at 0, off at 8, type at 18, name at 19), with where each field is. */
function fieldsOf(entries: readonly Dirent[]): { src: Uint8Array; at: number[] } {
  const at: number[] = [];
  let size = 0;
  for (const e of entries) {
    at.push(size);
    size += (19 + e.name.length + 1 + 7) & ~7;
  }
  const src = new Uint8Array(size).fill(0xee); // no zeros a sloppy encoder could lean on
  const view = new DataView(src.buffer);
  entries.forEach((e, i) => {
    view.setBigUint64(at[i]!, e.ino, true);
    view.setBigUint64(at[i]! + 8, e.off, true);
    src[at[i]! + 18] = e.type;
    src.set(e.name, at[i]! + 19);
  });
  return { src, at };
}

test("addFields writes the stream add writes, without a Dirent", () => {
  const entries = [...SAMPLE, d(6n, 6n, DirentType.REG, "x".repeat(1024))];
  const { src, at } = fieldsOf(entries);
  const byFields = new DirentEncoder(8192);
  entries.forEach((e, i) => assert.ok(byFields.addFields(src, at[i]!, at[i]! + 8, e.type, at[i]! + 19, e.name.length)));
  const byAdd = new DirentEncoder(8192);
  for (const e of entries) assert.ok(byAdd.add(e));
  assert.deepEqual(byFields.finish(), byAdd.finish());
  assert.equal(byFields.count, entries.length);
  assert.deepEqual(decodeDirents(byFields.finish()), entries);
});

test("addFields refuses what add refuses, and leaves the stream as it was", () => {
  const bad = [d(1n, 1n, 8, "a/b"), d(1n, 1n, 8, "ab\0"), d(1n, 1n, 8, "x".repeat(1025)), d(1n, 1n, 8, "")];
  const codes = [C.STRING, C.STRING, C.LIMIT, C.VALUE];
  const good = d(9n, 9n, 8, "after");
  const { src, at } = fieldsOf([...bad, good]);
  const enc = new DirentEncoder(1 << 16);
  bad.forEach((e, i) => {
    assert.throws(() => enc.addFields(src, at[i]!, at[i]! + 8, 8, at[i]! + 19, e.name.length), { code: codes[i] });
  });
  assert.equal(enc.count, 0);
  assert.ok(enc.addFields(src, at[4]!, at[4]! + 8, 8, at[4]! + 19, 5));
  assert.deepEqual(enc.finish(), rec(9n, 9n, 8, "after"), "no byte of a refused record left behind");
  // Full: nothing added.
  const small = new DirentEncoder(31);
  assert.ok(!small.addFields(src, at[4]!, at[4]! + 8, 8, at[4]! + 19, 5));
  assert.equal(small.finish().byteLength, 0);
});

test("a recycled buffer serves the next encoder with zeros where the last one wrote", () => {
  // Long names first, so that short ones after them would show any stale byte in their padding.
  const first = new DirentEncoder(32 * 1024);
  for (let i = 0; i < 500; i++) assert.ok(first.add(d(BigInt(i), BigInt(i), 8, `a-long-name-${"y".repeat(i % 40)}`)));
  first.recycle();
  assert.ok(!first.add(d(1n, 1n, 8, "late")), "a recycled encoder takes nothing");
  const next = new DirentEncoder(32 * 1024);
  const short = Array.from({ length: 600 }, (_, i) => d(BigInt(i), BigInt(i + 1), 8, `s${i % 7}`));
  for (const e of short) assert.ok(next.add(e));
  assert.deepEqual(next.finish(), cat(...short.map((e) => rec(e.ino, e.off, 8, e.name.toString("latin1")))));
  next.recycle();
  // A request for less than the spare buffer holds still stops at its own size.
  const capped = new DirentEncoder(64);
  assert.ok(capped.add(d(1n, 1n, 8, "a")));
  assert.ok(capped.add(d(2n, 2n, 8, "b")));
  assert.ok(!capped.add(d(3n, 3n, 8, "c")));
});
