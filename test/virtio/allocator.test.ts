import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { GuestAllocator } from "../../src/virtio/allocator.js";

test("alloc aligns, splits and runs out; free merges back", () => {
  const a = new GuestAllocator(0x10000n, 0x1000);
  const x = a.alloc(100);
  assert.equal(x, 0x10000);
  const y = a.alloc(16, 256);
  assert.equal(y % 256, 0);
  assert.equal(a.freeBytes, 0x1000 - 112 - 16);
  assert.equal(a.alloc(0x1000), -1);
  a.free(x, 100);
  a.free(y, 16);
  assert.equal(a.freeBytes, 0x1000);
  assert.equal(a.alloc(0x1000), 0x10000, "fully merged again");
  assert.throws(() => a.free(0x10000, 0x1000 + 16), RangeError);
  a.free(0x10000, 0x1000);
  assert.throws(() => a.free(0x10000, 16), /double free/);
  assert.throws(() => a.alloc(0), RangeError);
});

test("property: live allocations never overlap, stay inside, and all memory comes back", () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant("alloc" as const), len: fc.integer({ min: 1, max: 700 }), align: fc.constantFrom(16, 64, 4096) }),
    fc.record({ kind: fc.constant("free" as const), pick: fc.nat() }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
      const base = 0x200000;
      const size = 0x4000;
      const a = new GuestAllocator(base, size);
      const live: { at: number; len: number }[] = [];
      for (const o of ops) {
        if (o.kind === "alloc") {
          const at = a.alloc(o.len, o.align);
          if (at < 0) continue;
          assert.equal(at % o.align, 0);
          assert.ok(at >= base && at + o.len <= base + size);
          for (const l of live) assert.ok(at + o.len <= l.at || l.at + l.len <= at, "overlap");
          live.push({ at, len: o.len });
        } else if (live.length > 0) {
          const [l] = live.splice(o.pick % live.length, 1);
          a.free(l!.at, l!.len);
        }
      }
      for (const l of live) a.free(l.at, l.len);
      assert.equal(a.freeBytes, size);
      assert.equal(a.alloc(size), base);
    }),
    { numRuns: 300 },
  );
});
