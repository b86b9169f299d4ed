import { test } from "node:test";
import assert from "node:assert/strict";
import * as structs from "../../src/fuse/structs.js";
import type { Struct } from "../../src/fuse/structs.js";
import { ProtocolError, ProtocolErrorCode } from "../../src/common/errors.js";
import { LAYOUTS, sample } from "./layouts.js";
import { WireWriter } from "../../src/fuse/wire.js";

const exported: [string, Struct<object>][] = [];
for (const [name, v] of Object.entries(structs) as [string, unknown][]) {
  if (typeof v === "object" && v !== null && "SIZE" in v) exported.push([name, v as Struct<object>]);
}

test("every exported struct has a C-offset vector, and only those", () => {
  assert.deepEqual(exported.map(([n]) => n).sort(), Object.keys(LAYOUTS).sort());
});

test("sizes named in fuse.h", () => {
  const { InHeader, OutHeader, Attr, EntryOut, InitIn, InitOut, Statx, AttrOut, StatxOut, Kstatfs } = structs;
  assert.equal(InHeader.SIZE, 40);
  assert.equal(OutHeader.SIZE, 16);
  assert.equal(Attr.SIZE, 88);
  assert.equal(EntryOut.SIZE, 128);
  assert.equal(AttrOut.SIZE, 104);
  assert.equal(InitIn.SIZE, 64);
  assert.equal(InitOut.SIZE, 64);
  assert.equal(Statx.SIZE, 256);
  assert.equal(StatxOut.SIZE, 288);
  assert.equal(Kstatfs.SIZE, 80);
  assert.equal(structs.RemovemappingIn.SIZE, 4);
  assert.equal(structs.NotifyRetrieveIn.SIZE, structs.WriteIn.SIZE);
});

for (const [name, s] of exported) {
  test(`${LAYOUTS[name]?.c ?? name}: byte-exact encode and decode`, () => {
    const layout = LAYOUTS[name]!;
    assert.equal(s.NAME, layout.c);
    assert.equal(s.SIZE, layout.size);
    const { value, bytes } = sample<object>(name);
    assert.deepEqual(s.toBytes(value), bytes, "encode");
    assert.deepEqual(s.fromBytes(bytes), value, "decode");
    // A different seed gives different bytes, so a field the codec dropped would show.
    const other = sample<object>(name, {}, 40);
    assert.deepEqual(s.fromBytes(other.bytes), other.value);
  });
}

test("padding is written as zeros and ignored when read", () => {
  const { value, bytes } = sample<structs.ReadIn>("ReadIn");
  const dirty = bytes.slice();
  dirty.fill(0xee, 36, 40); // fuse_read_in.padding
  assert.deepEqual(structs.ReadIn.fromBytes(dirty), value);
  assert.deepEqual([...structs.ReadIn.toBytes(value).subarray(36, 40)], [0, 0, 0, 0]);
});

test("compat prefixes: encode truncates, decode zero-fills", () => {
  const { value, bytes } = sample<structs.EntryOut>("EntryOut");
  const short = structs.EntryOut.toBytes(value, 120);
  assert.deepEqual(short, bytes.subarray(0, 120));
  const back = structs.EntryOut.fromBytes(short, 120);
  assert.deepEqual(back, { ...value, attr: { ...value.attr, blksize: 0, flags: 0 } });
});

test("fromBytes refuses a wrong length with SHORT or LONG", () => {
  const b = structs.ForgetIn.toBytes({ nlookup: 5n });
  assert.throws(() => structs.ForgetIn.fromBytes(b.subarray(0, 7)), { code: ProtocolErrorCode.SHORT });
  assert.throws(() => structs.ForgetIn.fromBytes(new Uint8Array(9)), { code: ProtocolErrorCode.LONG });
});

test("encode refuses out-of-range values instead of wrapping", () => {
  const bad = [
    () => structs.ForgetIn.toBytes({ nlookup: -1n }),
    () => structs.ForgetIn.toBytes({ nlookup: 1n << 64n }),
    () => structs.WriteOut.toBytes({ size: 2 ** 32 }),
    () => structs.WriteOut.toBytes({ size: -1 }),
    () => structs.WriteOut.toBytes({ size: 1.5 }),
    () => structs.IoctlOut.toBytes({ result: 2 ** 31, flags: 0, inIovs: 0, outIovs: 0 }),
    () => structs.InitOut.toBytes({ ...structs.InitOut.zero(), maxBackground: 0x10000 }),
    () => structs.SxTime.toBytes({ tvSec: 1n << 63n, tvNsec: 0 }),
  ];
  for (const f of bad) {
    assert.throws(f, (e: unknown) => ProtocolError.is(e) && e.code === ProtocolErrorCode.VALUE);
  }
  assert.deepEqual(structs.SxTime.fromBytes(structs.SxTime.toBytes({ tvSec: -5n, tvNsec: 7 })), { tvSec: -5n, tvNsec: 7 });
});

test("encoding into shared memory (u64 fields stored as words when aligned) gives the C layout at any offset", () => {
  for (const [name, s] of exported) {
    for (const seed of [1, 2, 3]) {
      const { value, bytes } = sample<object>(name, {}, seed);
      // At the start of a shared block (8-aligned), and 4 bytes in (u64 fields unaligned: the DataView path).
      for (const lead of [0, 4]) {
        const w = new WireWriter(lead + s.SIZE, "shared");
        if (lead > 0) w.u32(0xa5a5a5a5);
        s.encode(w, value);
        const out = w.finish();
        assert.deepEqual([...out.subarray(lead)], [...bytes], `${name} seed ${seed} at ${lead}`);
      }
    }
  }
});
