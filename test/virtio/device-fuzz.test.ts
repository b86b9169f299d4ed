/**
 * Property: whatever the driver writes into the descriptor table, an indirect
 * table and the available ring, `pop()` only ever throws ProtocolErrors,
 * every view it yields lies inside one memory region, a bad chain is always
 * answered with a zero-length used element, and a broken queue stays quiet.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ProtocolError } from "../../src/common/errors.js";
import type { GuestMemory } from "../../src/virtio/memory.js";
import { MockSplitQueue, makeMemory, type RawDescriptor } from "./mock-driver.js";

const SIZE = 8;
const TABLE = 0x1000n; // where indirect tables usually point

function inside(memory: GuestMemory, v: Uint8Array): boolean {
  return memory.regions.some(
    (r) => r.bytes.buffer === v.buffer && v.byteOffset >= r.bytes.byteOffset && v.byteOffset + v.byteLength <= r.bytes.byteOffset + r.bytes.byteLength,
  );
}

const addrArb = fc.oneof(
  fc.constantFrom(0x1000n, 0x1010n, 0x1020n, 0x1ff8n, 0x2000n, 0x2ff0n, 0x3000n, 0x10000n, 0x100f8n, 0x1_0000_0000n, 2n ** 53n, 0xffff_ffff_ffff_fff0n),
  fc.bigInt({ min: 0n, max: 0x11000n }),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
);
const lenArb = fc.oneof(fc.constantFrom(0, 1, 8, 16, 32, 48, 0x100, 0x1000, 0x7fff_ffff, 0xffff_fff0, 0xffff_ffff), fc.integer({ min: 0, max: 0xffff_ffff }));
const wildDesc: fc.Arbitrary<RawDescriptor> = fc.record({
  addr: addrArb,
  len: lenArb,
  flags: fc.oneof(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 0xffff })),
  next: fc.oneof(fc.integer({ min: 0, max: SIZE + 2 }), fc.integer({ min: 0, max: 0xffff })),
});
/** Mostly plausible descriptors, so that valid chains and subtle faults both occur. */
const plausibleDesc: fc.Arbitrary<RawDescriptor> = fc.record({
  addr: fc.oneof(fc.bigInt({ min: 0x1100n, max: 0x1f00n }), fc.bigInt({ min: 0x2000n, max: 0x2f00n }), fc.bigInt({ min: 0x10000n, max: 0x100c0n }), fc.constant(TABLE)),
  len: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.constantFrom(16, 32, 64, 128, 256)),
  flags: fc.constantFrom(0, 0, 1, 1, 2, 3, 3, 4, 6),
  next: fc.integer({ min: 0, max: SIZE - 1 }),
});
const descArb = fc.oneof({ arbitrary: plausibleDesc, weight: 4 }, { arbitrary: wildDesc, weight: 1 });

const scenario = fc.record({
  eventIdx: fc.boolean(),
  lastAvail: fc.oneof(fc.constant(0), fc.constant(0xfffe), fc.integer({ min: 0, max: 0xffff })),
  maxIndirect: fc.constantFrom(4, 16, 4096),
  table: fc.oneof(
    fc.array(descArb, { minLength: SIZE, maxLength: SIZE }).map((d) => ({ raw: null, descs: d })),
    fc.uint8Array({ minLength: SIZE * 16, maxLength: SIZE * 16 }).map((b) => ({ raw: b, descs: null })),
  ),
  indirect: fc.oneof(
    fc.array(descArb, { minLength: 16, maxLength: 16 }).map((d) => ({ raw: null, descs: d })),
    fc.uint8Array({ minLength: 256, maxLength: 256 }).map((b) => ({ raw: b, descs: null })),
  ),
  avail: fc.oneof(
    fc.record({ ahead: fc.integer({ min: 0, max: SIZE + 3 }), heads: fc.array(fc.integer({ min: 0, max: SIZE }), { minLength: SIZE, maxLength: SIZE }) }),
    fc.uint8Array({ minLength: 6 + 2 * SIZE, maxLength: 6 + 2 * SIZE }),
  ),
});

test("property: arbitrary descriptor tables and available rings never escape ProtocolError or memory", () => {
  let chains = 0;
  let errors = 0;
  fc.assert(
    fc.property(scenario, (s) => {
      const memory = makeMemory([
        { guestAddr: 0n, size: 0x2000 },
        { guestAddr: 0x2000n, size: 0x1000 },
        { guestAddr: 0x10000n, size: 0x100 },
      ]);
      const q = new MockSplitQueue({ memory, size: SIZE, eventIdx: s.eventIdx, startIdx: s.lastAvail });
      if (s.table.raw) q.descTableBytes().set(s.table.raw);
      else s.table.descs!.forEach((d, i) => q.writeDesc(i, d));
      if (s.indirect.raw) memory.slice(TABLE, 256).set(s.indirect.raw);
      else q.writeTable(TABLE, s.indirect.descs!);
      if (s.avail instanceof Uint8Array) {
        q.availRingBytes().set(s.avail);
      } else {
        for (let i = 0; i < s.avail.ahead; i++) q.offer(s.avail.heads[i % SIZE]!);
      }
      const dev = q.device({ maxIndirect: s.maxIndirect });
      for (let round = 0; round < 2 * SIZE; round++) {
        const usedBefore = q.usedIdx;
        let chain;
        try {
          chain = dev.pop();
        } catch (e) {
          assert.ok(ProtocolError.is(e), `not a ProtocolError: ${String(e)}`);
          errors++;
          if (dev.broken) {
            assert.equal(q.usedIdx, usedBefore, "a broken ring publishes nothing");
          } else {
            assert.equal(q.usedIdx, (usedBefore + 1) & 0xffff, "a bad chain is completed");
            const [u] = q.takeUsed();
            assert.ok(u!.id < SIZE);
            assert.equal(u!.len, 0);
          }
          continue;
        }
        if (chain === null) break;
        chains++;
        let r = 0;
        let w = 0;
        for (const v of chain.readable) {
          assert.ok(inside(memory, v), "readable view inside a region");
          r += v.byteLength;
        }
        for (const v of chain.writable) {
          assert.ok(inside(memory, v), "writable view inside a region");
          w += v.byteLength;
        }
        assert.equal(r, chain.readableLength);
        assert.equal(w, chain.writableLength);
        assert.ok(r + w <= 0xffff_ffff);
        assert.ok(chain.head < SIZE);
        // Exercise the stream views too: reading everything stays in bounds.
        assert.equal(chain.reader().readAll().length, r);
        dev.push(chain.head, 0);
        q.takeUsed();
      }
      if (dev.broken) assert.equal(dev.pop(), null);
    }),
    { numRuns: 2000 },
  );
  assert.ok(chains > 100, `only ${chains} valid chains generated`);
  assert.ok(errors > 100, `only ${errors} errors generated`);
});
