import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ProtocolError, ProtocolErrorCode } from "../../src/common/errors.js";
import { GuestMemory, type GuestRegion } from "../../src/virtio/memory.js";
import { makeMemory } from "./mock-driver.js";

function region(guestAddr: bigint, size: number, userAddr = guestAddr + 0x1000_0000_0000n): GuestRegion {
  return { guestAddr, size: BigInt(size), userAddr, bytes: new Uint8Array(size) };
}

function rejects(fn: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => ProtocolError.is(e) && e.code === code && pattern.test(e.message));
}

test("regions are validated: overlap, zero size, size mismatch, u64 overflow, 2^53", () => {
  rejects(() => new GuestMemory([region(0n, 0x2000), region(0x1000n, 0x1000)]), ProtocolErrorCode.ADDRESS, /overlap/);
  rejects(
    () => new GuestMemory([region(0n, 0x1000, 0x5000n), region(0x4000n, 0x1000, 0x5800n)]),
    ProtocolErrorCode.ADDRESS,
    /user .* overlap/,
  );
  rejects(() => new GuestMemory([{ ...region(0n, 16), size: 0n, bytes: new Uint8Array(0) }]), ProtocolErrorCode.VALUE, /zero size/);
  rejects(() => new GuestMemory([{ ...region(0n, 16), size: 32n }]), ProtocolErrorCode.LENGTH, /size 32 but 16/);
  rejects(() => new GuestMemory([region(0xffff_ffff_ffff_fff0n, 32, 0n)]), ProtocolErrorCode.ADDRESS, /guest address .* overflows u64/);
  rejects(() => new GuestMemory([region(0n, 32, 0xffff_ffff_ffff_fff0n)]), ProtocolErrorCode.ADDRESS, /user address .* overflows u64/);
  rejects(() => new GuestMemory([region(2n ** 53n - 16n, 32)]), ProtocolErrorCode.LIMIT, /2\^53/);
  rejects(() => new GuestMemory([region(-1n, 32)]), ProtocolErrorCode.VALUE, /not a u64/);
  // Adjacent regions are fine, in any order.
  const m = new GuestMemory([region(0x1000n, 0x1000), region(0n, 0x1000)]);
  assert.deepEqual(
    m.regions.map((r) => r.guestAddr),
    [0n, 0x1000n],
  );
});

test("slice: a range inside one region gives a live view; anything else is ADDRESS", () => {
  const m = makeMemory([
    { guestAddr: 0x10000n, size: 0x1000 },
    { guestAddr: 0x11000n, size: 0x1000 },
    { guestAddr: 0x100000n, size: 0x100 },
  ]);
  const v = m.slice(0x10ff0n, 16);
  assert.equal(v.byteLength, 16);
  v[0] = 42;
  assert.equal(m.regions[0]!.bytes[0xff0], 42);
  assert.equal(m.slice(0x11000, 0x1000).byteLength, 0x1000);
  assert.equal(m.slice(0x100100n, 0).byteLength, 0, "empty range at a region's end");
  rejects(() => m.slice(0x10ff8n, 16), ProtocolErrorCode.ADDRESS, /not inside one memory region/); // crosses adjacent regions
  rejects(() => m.slice(0xfff0n, 32), ProtocolErrorCode.ADDRESS, /not inside/);
  rejects(() => m.slice(0x1000f8n, 16), ProtocolErrorCode.ADDRESS, /not inside/);
  rejects(() => m.slice(0x20000n, 1), ProtocolErrorCode.ADDRESS, /not inside/);
  rejects(() => m.slice(2n ** 64n - 1n, 1), ProtocolErrorCode.ADDRESS, /not inside/);
  rejects(() => m.slice(0x10000n, 2n ** 60n), ProtocolErrorCode.ADDRESS, /not inside/);
  rejects(() => m.slice(-16, 16), ProtocolErrorCode.ADDRESS, /not inside/);
  rejects(() => m.slice(0.5, 16), ProtocolErrorCode.VALUE, /not an integer/);
});

test("userToGuest translates frontend addresses, whole range in one region", () => {
  const m = makeMemory([
    { guestAddr: 0n, size: 0x10000, userAddr: 0x7f00_0000_0000n },
    { guestAddr: 0x100000n, size: 0x10000, userAddr: 0x7f00_0001_0000n },
  ]);
  assert.equal(m.userToGuest(0x7f00_0000_1234n), 0x1234n);
  assert.equal(m.userToGuest(0x7f00_0001_0010n, 0x100n), 0x100010n);
  rejects(() => m.userToGuest(0x7f00_0000_fff0n, 0x20n), ProtocolErrorCode.ADDRESS, /user range/);
  rejects(() => m.userToGuest(0x1234n), ProtocolErrorCode.ADDRESS, /user range/);
});

test("guestAddressOf maps a view back to its guest address, and refuses foreign buffers", () => {
  const m = makeMemory([
    { guestAddr: 0x4000n, size: 0x1000 },
    { guestAddr: 0x9000n, size: 0x1000 },
  ]);
  assert.equal(m.guestAddressOf(m.slice(0x9010n, 8)), 0x9010);
  assert.equal(m.guestAddressOf(m.slice(0x4000n, 0x1000)), 0x4000);
  rejects(() => m.guestAddressOf(new Uint8Array(8)), ProtocolErrorCode.ADDRESS, /not a view of guest memory/);
});

test("find agrees with a brute-force check for arbitrary ranges", () => {
  const specs = [
    { guestAddr: 0x1000n, size: 0x1000 },
    { guestAddr: 0x2000n, size: 0x800 },
    { guestAddr: 0x10000n, size: 0x40 },
    { guestAddr: 2n ** 52n, size: 0x1000 },
  ];
  const m = makeMemory(specs);
  const addr = fc.oneof(
    fc.integer({ min: 0, max: 0x20000 }),
    fc.constantFrom(0x1000, 0x1fff, 0x2000, 0x27ff, 0x2800, 0x10040, 2 ** 52, 2 ** 52 + 0xfff, 2 ** 53 - 1),
  );
  const len = fc.oneof(fc.integer({ min: 0, max: 0x1100 }), fc.constantFrom(0, 1, 0x800, 0x1000, 2 ** 32 - 1));
  fc.assert(
    fc.property(addr, len, (a, n) => {
      const fits = (s: (typeof specs)[number]) => a >= Number(s.guestAddr) && a + n <= Number(s.guestAddr) + s.size;
      const got = m.find(a, n);
      // An empty range at the seam of two adjacent regions fits either.
      if (specs.some(fits)) assert.ok(got >= 0 && fits(specs[got]!), `find(${a}, ${n}) = ${got}`);
      else assert.equal(got, -1);
      if (got >= 0) {
        const v = m.slice(BigInt(a), n);
        assert.equal(v.buffer, m.regionBytes(got).buffer);
        assert.equal(v.byteLength, n);
      }
    }),
    { numRuns: 2000 },
  );
});
