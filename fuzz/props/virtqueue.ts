/**
 * The device-side virtqueue under arbitrary driver input (shared by
 * `npm run fuzz` and test/virtio/device-fuzz.test.ts): whatever the driver
 * writes into the descriptor table, an indirect table and the available ring
 * (loops, out-of-range addresses, huge lengths, readable after writable,
 * indirect within indirect, buffers crossing regions), `pop()` only ever
 * throws ProtocolErrors; every view it yields lies inside one memory region;
 * writing every writable byte and reading every readable one leaves the guard
 * bytes around the regions untouched; a bad chain is answered with a
 * zero-length used element or the ring is marked broken (and then stays
 * quiet); and when the ring is not broken, a good chain offered afterwards is
 * still served.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { ProtocolError } from "../../src/common/errors.js";
import { GuestMemory, type GuestRegion } from "../../src/virtio/memory.js";
import { MockSplitQueue, type RawDescriptor } from "../../test/virtio/mock-driver.js";

export const SIZE = 8;
const TABLE = 0x1000n; // where indirect tables usually point
const GUARD = 64;
const GUARD_BYTE = 0xa5;

/** Regions of the scenario: two adjacent (a buffer may cross from one to the other) and one apart. */
const REGIONS = [
  { guestAddr: 0n, size: 0x2000 },
  { guestAddr: 0x2000n, size: 0x1000 },
  { guestAddr: 0x10000n, size: 0x100 },
] as const;

/** Guest memory whose regions sit in one ArrayBuffer between guard bytes; `guardsIntact` checks them. */
export function guardedMemory(): { memory: GuestMemory; backing: Uint8Array; guardsIntact(): boolean } {
  let total = GUARD;
  const offsets: number[] = [];
  for (const r of REGIONS) {
    offsets.push(total);
    total += r.size + GUARD;
  }
  const backing = new Uint8Array(total).fill(GUARD_BYTE);
  const regions: GuestRegion[] = REGIONS.map((r, i) => {
    const bytes = backing.subarray(offsets[i]!, offsets[i]! + r.size);
    bytes.fill(0);
    return { guestAddr: r.guestAddr, size: BigInt(r.size), userAddr: r.guestAddr + 0x7f00_0000_0000n, bytes };
  });
  const guards: [number, number][] = [[0, GUARD]];
  REGIONS.forEach((r, i) => guards.push([offsets[i]! + r.size, offsets[i]! + r.size + GUARD]));
  return {
    memory: new GuestMemory(regions),
    backing,
    guardsIntact() {
      for (const [from, to] of guards) for (let i = from; i < to; i++) if (backing[i] !== GUARD_BYTE) return false;
      return true;
    },
  };
}

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
  addr: fc.oneof(fc.bigInt({ min: 0x1100n, max: 0x1f00n }), fc.bigInt({ min: 0x1f80n, max: 0x2f00n }), fc.bigInt({ min: 0x10000n, max: 0x100c0n }), fc.constant(TABLE)),
  len: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.constantFrom(16, 32, 64, 128, 256)),
  flags: fc.constantFrom(0, 0, 1, 1, 2, 3, 3, 4, 6),
  next: fc.integer({ min: 0, max: SIZE - 1 }),
});
const descArb = fc.oneof({ arbitrary: plausibleDesc, weight: 4 }, { arbitrary: wildDesc, weight: 1 });

export const scenario = fc.record({
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

export type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

/** What one scenario did, for the campaign's figures. */
export interface ScenarioCounts {
  chains: number;
  errors: number;
  broken: number;
  servedAfter: number;
}

/** Runs one scenario and checks the properties of the module comment; adds to `counts`. */
export function checkScenario(s: Scenario, counts: ScenarioCounts): void {
  const { memory, guardsIntact } = guardedMemory();
  const q = new MockSplitQueue({ memory, size: SIZE, eventIdx: s.eventIdx, startIdx: s.lastAvail });
  if (s.table.raw) q.descTableBytes().set(s.table.raw);
  else s.table.descs!.forEach((d, i) => q.writeDesc(i, d));
  if (s.indirect.raw) memory.slice(TABLE, 256).set(s.indirect.raw);
  else q.writeTable(TABLE, s.indirect.descs!);
  const structured = !(s.avail instanceof Uint8Array);
  if (s.avail instanceof Uint8Array) {
    q.availRingBytes().set(s.avail);
  } else {
    for (let i = 0; i < s.avail.ahead; i++) q.offer(s.avail.heads[i % SIZE]!);
  }
  const dev = q.device({ maxIndirect: s.maxIndirect });
  const ringsEnd = Number(q.end);
  const drain = (rounds: number, onChain?: (head: number, r: number, w: number) => void): void => {
    for (let round = 0; round < rounds; round++) {
      const usedBefore = q.usedIdx;
      let chain;
      try {
        chain = dev.pop();
      } catch (e) {
        assert.ok(ProtocolError.is(e), `not a ProtocolError: ${String(e)}`);
        counts.errors++;
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
      counts.chains++;
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
      // Reading everything and filling every writable byte stays in bounds (the
      // rings themselves are left alone, so that the "still served" check means something).
      assert.equal(chain.reader().readAll().length, r);
      for (const v of chain.writable) if (memory.guestAddressOf(v) >= ringsEnd) v.fill(0x5a);
      onChain?.(chain.head, r, w);
      dev.push(chain.head, w);
      q.takeUsed();
    }
  };
  drain(2 * SIZE);
  assert.ok(guardsIntact(), "guard bytes around the regions changed");
  if (dev.broken) {
    counts.broken++;
    assert.equal(dev.pop(), null);
    return;
  }
  if (!structured) return;
  // Other requests go on being served: a good chain offered now comes back whole.
  q.writeDesc(0, { addr: 0x1100n, len: 16, flags: 0, next: 0 });
  q.offer(0);
  let served = false;
  drain(SIZE + 4, (head, r, w) => {
    if (head === 0 && r === 16 && w === 0) served = true;
  });
  if (!dev.broken) {
    assert.ok(served, "a good chain after the bad ones was not served");
    counts.servedAfter++;
  }
}
