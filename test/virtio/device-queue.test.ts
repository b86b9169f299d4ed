import { test } from "node:test";
import assert from "node:assert/strict";
import { ProtocolError, ProtocolErrorCode } from "../../src/common/errors.js";
import { DeviceQueue, type DescriptorChain } from "../../src/virtio/device-queue.js";
import {
  VIRTQ_AVAIL_F_NO_INTERRUPT,
  VIRTQ_DESC_F_INDIRECT as INDIRECT,
  VIRTQ_DESC_F_NEXT as NEXT,
  VIRTQ_DESC_F_WRITE as WRITE,
  VIRTQ_USED_F_NO_NOTIFY,
} from "../../src/virtio/ring.js";
import { MockSplitQueue, makeMemory, type RawDescriptor } from "./mock-driver.js";

const DATA = 0x10000; // buffers live from here in the default 1 MiB memory

function expectError(dev: DeviceQueue, code: string, pattern: RegExp): ProtocolError {
  let caught: unknown;
  try {
    dev.pop();
  } catch (e) {
    caught = e;
  }
  assert.ok(ProtocolError.is(caught), `expected a ProtocolError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.match(caught.message, pattern);
  return caught;
}

/** Offers a valid 2-descriptor chain at `at`, `at+1` and checks the device serves it. */
function servesValidChain(q: MockSplitQueue, dev: DeviceQueue, at = 8): void {
  q.memory.slice(BigInt(DATA), 4).set([1, 2, 3, 4]);
  q.writeDesc(at, { addr: DATA, len: 4, flags: NEXT, next: at + 1 });
  q.writeDesc(at + 1, { addr: DATA + 0x100, len: 8, flags: WRITE });
  q.offer(at);
  const chain = dev.pop();
  assert.ok(chain, "a valid chain after the bad one");
  assert.equal(chain.head, at);
  assert.deepEqual([...chain.reader().readAll()], [1, 2, 3, 4]);
  chain.writer().write(Uint8Array.of(9, 9));
  dev.push(chain.head, 2);
  assert.deepEqual(q.takeUsed(), [{ id: at, len: 2 }]);
  assert.equal(q.memory.slice(BigInt(DATA + 0x100), 1)[0], 9);
  assert.equal(dev.pop(), null);
  assert.ok(!dev.broken);
}

/** A bad chain: the specific error, its head completed with length 0, and service goes on. */
function badChain(descs: readonly RawDescriptor[], code: string, pattern: RegExp, setup?: (q: MockSplitQueue) => void): void {
  const q = new MockSplitQueue({ size: 16 });
  descs.forEach((d, i) => q.writeDesc(i, d));
  setup?.(q);
  q.offer(0);
  const dev = q.device();
  expectError(dev, code, pattern);
  assert.deepEqual(q.takeUsed(), [{ id: 0, len: 0 }], "bad chain returned with length 0");
  assert.equal(dev.badChainCount, 1);
  assert.ok(!dev.broken);
  servesValidChain(q, dev);
}

test("a valid chain: readable views then writable views, with lengths", () => {
  const q = new MockSplitQueue({ size: 16 });
  q.writeDesc(3, { addr: DATA, len: 40, flags: NEXT, next: 7 });
  q.writeDesc(7, { addr: DATA + 0x1000, len: 10, flags: NEXT, next: 1 });
  q.writeDesc(1, { addr: DATA + 0x2000, len: 16, flags: NEXT | WRITE, next: 2 });
  q.writeDesc(2, { addr: DATA + 0x3000, len: 0, flags: WRITE });
  q.offer(3);
  const dev = q.device();
  const chain = dev.pop() as DescriptorChain;
  assert.equal(chain.head, 3);
  assert.deepEqual(
    chain.readable.map((b) => b.byteLength),
    [40, 10],
  );
  assert.deepEqual(
    chain.writable.map((b) => b.byteLength),
    [16, 0],
  );
  assert.equal(chain.readableLength, 50);
  assert.equal(chain.writableLength, 16);
  assert.equal(chain.readable[1]!.byteOffset, DATA + 0x1000);
  // The guest rewriting the descriptor afterwards does not change what was taken.
  q.writeDesc(3, { addr: 0, len: 0xffff_ffff, flags: 0 });
  assert.equal(chain.readable[0]!.byteLength, 40);
  assert.equal(dev.pop(), null);
  dev.push(chain.head, 16);
  assert.deepEqual(q.takeUsed(), [{ id: 3, len: 16 }]);
  assert.equal(dev.lastAvailIdx, 1);
  assert.equal(dev.usedIdx, 1);
});

test("hostile chain: a loop (2-cycle and self-loop) is CHAIN", () => {
  badChain(
    [
      { addr: DATA, len: 8, flags: NEXT, next: 1 },
      { addr: DATA, len: 8, flags: NEXT, next: 0 },
    ],
    ProtocolErrorCode.CHAIN,
    /more than 16 descriptors .*loop/,
  );
  badChain([{ addr: DATA, len: 8, flags: NEXT | WRITE, next: 0 }], ProtocolErrorCode.CHAIN, /loop/);
});

test("hostile chain: NEXT pointing outside the queue is CHAIN", () => {
  badChain([{ addr: DATA, len: 8, flags: NEXT, next: 16 }], ProtocolErrorCode.CHAIN, /next index 16 outside the queue of 16/);
  badChain([{ addr: DATA, len: 8, flags: NEXT, next: 0xffff }], ProtocolErrorCode.CHAIN, /next index 65535/);
});

test("hostile chain: addresses outside memory and huge lengths are ADDRESS", () => {
  const end = 1 << 20;
  badChain([{ addr: end - 4, len: 16 }], ProtocolErrorCode.ADDRESS, /buffer at 0xffffc\+0x10 is not inside/);
  badChain([{ addr: DATA, len: 0xffff_ffff }], ProtocolErrorCode.ADDRESS, /\+0xffffffff/);
  badChain([{ addr: 0xffff_ffff_ffff_fff0n, len: 0x20, flags: WRITE }], ProtocolErrorCode.ADDRESS, /0xfffffffffffffff0/);
  badChain([{ addr: 2n ** 53n, len: 1 }], ProtocolErrorCode.ADDRESS, /not inside/);
  badChain([{ addr: end, len: 1 }], ProtocolErrorCode.ADDRESS, /not inside/);
});

test("hostile chain: a buffer crossing two adjacent regions is ADDRESS, and touches nothing", () => {
  const memory = makeMemory([
    { guestAddr: 0n, size: 0x10000 },
    { guestAddr: 0x10000n, size: 0x10000 },
  ]);
  const q = new MockSplitQueue({ memory, size: 16 });
  q.writeDesc(0, { addr: 0xfff8, len: 16, flags: WRITE });
  q.offer(0);
  const dev = q.device();
  expectError(dev, ProtocolErrorCode.ADDRESS, /0xfff8\+0x10 is not inside one memory region/);
  assert.deepEqual(q.takeUsed(), [{ id: 0, len: 0 }]);
  q.writeDesc(1, { addr: 0x10000, len: 16, flags: WRITE });
  q.offer(1);
  assert.equal(dev.pop()!.writableLength, 16);
});

test("hostile chain: total length above 2^32-1 is LENGTH", () => {
  // Five 1 GiB buffers, all inside one (lazily allocated) 1 GiB region.
  const GiB = 2 ** 30;
  const memory = makeMemory([{ guestAddr: 0n, size: GiB }]);
  const q = new MockSplitQueue({ memory, size: 16 });
  for (let i = 0; i < 5; i++) q.writeDesc(i, { addr: 0, len: GiB, flags: (i < 4 ? NEXT : 0) | WRITE, next: i + 1 });
  q.offer(0);
  const dev = q.device();
  expectError(dev, ProtocolErrorCode.LENGTH, /total length exceeds 2\^32-1/);
  assert.deepEqual(q.takeUsed(), [{ id: 0, len: 0 }]);
  // Four of them (exactly 2^32 bytes) are also one too many.
  q.writeDesc(3, { addr: 0, len: GiB, flags: WRITE });
  q.offer(0);
  expectError(dev, ProtocolErrorCode.LENGTH, /2\^32-1/);
  q.writeDesc(3, { addr: 0, len: GiB - 1, flags: WRITE });
  q.offer(0);
  assert.equal(dev.pop()!.writableLength, 2 ** 32 - 1);
});

test("hostile chain: a readable buffer after a writable one is CHAIN", () => {
  badChain(
    [
      { addr: DATA, len: 8, flags: NEXT, next: 1 },
      { addr: DATA, len: 8, flags: NEXT | WRITE, next: 2 },
      { addr: DATA, len: 8, flags: 0 },
    ],
    ProtocolErrorCode.CHAIN,
    /readable buffer after a device-writable/,
  );
});

test("hostile chain: malformed indirect tables", () => {
  const table = BigInt(DATA + 0x8000);
  const entry = { addr: DATA, len: 8 };
  // Indirect inside indirect.
  badChain([{ addr: table, len: 32, flags: INDIRECT }], ProtocolErrorCode.CHAIN, /indirect descriptor inside an indirect table/, (q) =>
    q.writeTable(table, [{ ...entry, flags: NEXT, next: 1 }, { addr: table, len: 32, flags: INDIRECT }]),
  );
  // INDIRECT together with NEXT.
  badChain([{ addr: table, len: 16, flags: INDIRECT | NEXT, next: 1 }], ProtocolErrorCode.CHAIN, /indirect descriptor with NEXT/, (q) =>
    q.writeTable(table, [entry]),
  );
  // Length not a multiple of 16, and zero.
  badChain([{ addr: table, len: 24, flags: INDIRECT }], ProtocolErrorCode.CHAIN, /table length 24 is not a non-zero multiple of 16/);
  badChain([{ addr: table, len: 0, flags: INDIRECT }], ProtocolErrorCode.CHAIN, /table length 0/);
  // More entries than the cap.
  badChain([{ addr: table, len: 16 * 4097, flags: INDIRECT }], ProtocolErrorCode.LIMIT, /4097 entries exceeds 4096/);
  // Table outside memory.
  badChain([{ addr: (1 << 20) - 16, len: 32, flags: INDIRECT }], ProtocolErrorCode.ADDRESS, /indirect table at .* not inside/);
  // A loop inside the table, and next beyond it.
  badChain([{ addr: table, len: 32, flags: INDIRECT }], ProtocolErrorCode.CHAIN, /more than 2 descriptors in the indirect table/, (q) =>
    q.writeTable(table, [
      { ...entry, flags: NEXT, next: 1 },
      { ...entry, flags: NEXT, next: 0 },
    ]),
  );
  badChain([{ addr: table, len: 32, flags: INDIRECT }], ProtocolErrorCode.CHAIN, /next index 2 outside the indirect table of 2/, (q) =>
    q.writeTable(table, [
      { ...entry, flags: NEXT, next: 1 },
      { ...entry, flags: NEXT, next: 2 },
    ]),
  );
});

test("indirect chains: direct descriptors, then one indirect table; its WRITE flag is ignored", () => {
  const q = new MockSplitQueue({ size: 4 });
  const table = BigInt(DATA + 0x8000);
  q.writeDesc(0, { addr: DATA, len: 40, flags: NEXT, next: 2 });
  q.writeDesc(2, { addr: table, len: 16 * 300, flags: INDIRECT | WRITE });
  const entries: RawDescriptor[] = [];
  for (let i = 0; i < 300; i++) {
    entries.push({ addr: DATA + 0x10000 + i * 0x100, len: 0x80, flags: (i < 299 ? NEXT : 0) | (i >= 1 ? WRITE : 0), next: i + 1 });
  }
  q.writeTable(table, entries);
  q.offer(0);
  const chain = q.device().pop()!;
  assert.equal(chain.readable.length, 2);
  assert.equal(chain.writable.length, 299);
  assert.equal(chain.readableLength, 40 + 0x80);
  assert.equal(chain.writableLength, 299 * 0x80);
});

test("hostile ring: available index jumping more than the queue size breaks the queue", () => {
  const q = new MockSplitQueue({ size: 16 });
  q.writeDesc(0, { addr: DATA, len: 8 });
  q.offer(0);
  const dev = q.device();
  assert.ok(dev.pop());
  q.setAvailIdx(1 + 17);
  expectError(dev, ProtocolErrorCode.VALUE, /available index 18 is 17 entries past 1, more than the queue size 16/);
  assert.ok(dev.broken);
  assert.equal(dev.brokenReason!.code, ProtocolErrorCode.VALUE);
  assert.equal(dev.pop(), null, "a broken queue serves nothing");
  assert.equal(dev.hasAvailable(), false);
  dev.push(0, 0); // chains already taken can still be completed
  assert.deepEqual(q.takeUsed(), [{ id: 0, len: 0 }]);
  // Exactly `size` ahead is legal.
  const q2 = new MockSplitQueue({ size: 16 });
  for (let i = 0; i < 16; i++) {
    q2.writeDesc(i, { addr: DATA, len: 8 });
    q2.offer(i);
  }
  const dev2 = q2.device();
  for (let i = 0; i < 16; i++) assert.equal(dev2.pop()!.head, i);
  assert.equal(dev2.pop(), null);
});

test("hostile ring: a head index outside the queue breaks the queue", () => {
  const q = new MockSplitQueue({ size: 16 });
  q.offer(16);
  const dev = q.device();
  expectError(dev, ProtocolErrorCode.CHAIN, /names head 16, outside the queue/);
  assert.ok(dev.broken);
  assert.equal(dev.pop(), null);
});

test("configuration is validated: size, alignment, rings inside memory", () => {
  const memory = makeMemory([{ guestAddr: 0n, size: 0x10000 }]);
  const base = { memory, descAddr: 0n, availAddr: 0x1000n, usedAddr: 0x2000n };
  const proto = (code: string, re: RegExp) => (e: unknown) => ProtocolError.is(e) && e.code === code && re.test(e.message);
  for (const size of [0, 3, 65536]) {
    assert.throws(() => new DeviceQueue({ ...base, size }), proto(ProtocolErrorCode.VALUE, /queue size/));
  }
  assert.throws(() => new DeviceQueue({ ...base, size: 16, descAddr: 8n }), proto(ProtocolErrorCode.ADDRESS, /16-byte aligned/));
  assert.throws(() => new DeviceQueue({ ...base, size: 16, availAddr: 0x1001n }), proto(ProtocolErrorCode.ADDRESS, /2-byte aligned/));
  assert.throws(() => new DeviceQueue({ ...base, size: 16, usedAddr: 0x2002n }), proto(ProtocolErrorCode.ADDRESS, /4-byte aligned/));
  assert.throws(() => new DeviceQueue({ ...base, size: 16, usedAddr: 0xffc0n }), proto(ProtocolErrorCode.ADDRESS, /not inside/));
  assert.throws(() => new DeviceQueue({ ...base, size: 8192 }), proto(ProtocolErrorCode.ADDRESS, /not inside/));
  assert.throws(() => new DeviceQueue({ ...base, size: 16, lastAvailIdx: 65536 }), proto(ProtocolErrorCode.VALUE, /not a u16/));
  assert.throws(() => new DeviceQueue({ ...base, size: 16, maxIndirect: 0 }), RangeError);
  assert.ok(new DeviceQueue({ ...base, size: 16, eventIdx: true }));
});

test("push writes the element, then the index; needsNotify honours NO_INTERRUPT", () => {
  const q = new MockSplitQueue({ size: 4 });
  const dev = q.device();
  assert.equal(dev.needsNotify(), false, "nothing pushed");
  dev.push(2, 100);
  assert.equal(q.usedIdx, 1);
  assert.equal(dev.needsNotify(), true);
  q.setAvailFlags(VIRTQ_AVAIL_F_NO_INTERRUPT);
  dev.push(3, 5);
  assert.equal(dev.needsNotify(), false);
  assert.deepEqual(q.takeUsed(), [
    { id: 2, len: 100 },
    { id: 3, len: 5 },
  ]);
  assert.throws(() => dev.push(4, 0), RangeError);
  assert.throws(() => dev.push(0, 2 ** 32), RangeError);
});

test("notification suppression from the device: NO_NOTIFY flag, or avail_event with EVENT_IDX", () => {
  const q = new MockSplitQueue({ size: 8 });
  const dev = q.device();
  dev.disableNotification();
  assert.equal(q.usedFlags & VIRTQ_USED_F_NO_NOTIFY, VIRTQ_USED_F_NO_NOTIFY);
  assert.equal(dev.enableNotification(), false);
  assert.equal(q.usedFlags, 0);
  q.writeDesc(0, { addr: DATA, len: 1 });
  q.offer(0);
  assert.equal(dev.enableNotification(), true, "a buffer arrived: drain again");

  const e = new MockSplitQueue({ size: 8, eventIdx: true, startIdx: 0xfffe });
  const edev = e.device();
  assert.equal(e.availEvent, 0xfffe, "published at start");
  for (let i = 0; i < 3; i++) {
    e.writeDesc(i, { addr: DATA, len: 1 });
    e.offer(i);
  }
  edev.pop();
  assert.equal(e.availEvent, 0xfffe, "stays while the device drains");
  edev.pop();
  edev.pop();
  assert.equal(e.availEvent, 0xfffe, "stays across the wrap");
  assert.equal(edev.enableNotification(), false);
  assert.equal(e.availEvent, 1, "published when the drain ends, wrapped");
  edev.suppressKicks();
  assert.equal(e.availEvent, 0, "one behind while polling");
  e.writeDesc(3, { addr: DATA, len: 1 });
  e.offer(3);
  edev.pop();
  assert.equal(e.availEvent, 0, "a pop while polling leaves it there");
  assert.equal(edev.enableNotification(), false);
  assert.equal(e.availEvent, 2);
});

test("a queue resumed from a base near 65535 wraps its indices", () => {
  const q = new MockSplitQueue({ size: 4, startIdx: 65533 });
  const dev = q.device();
  assert.equal(dev.lastAvailIdx, 65533);
  assert.equal(dev.usedIdx, 65533, "used index read from the ring");
  for (let round = 0; round < 10; round++) {
    for (let i = 0; i < 4; i++) {
      q.writeDesc(i, { addr: DATA + i, len: 1 });
      q.offer(i);
    }
    for (let i = 0; i < 4; i++) {
      const c = dev.pop()!;
      assert.equal(c.head, i);
      dev.push(c.head, 0);
    }
    assert.equal(dev.pop(), null);
    assert.equal(q.takeUsed().length, 4);
  }
  assert.equal(dev.lastAvailIdx, (65533 + 40) & 0xffff);
  assert.equal(q.usedIdx, (65533 + 40) & 0xffff);
});
