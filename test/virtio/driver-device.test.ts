/**
 * The driver and device sides over one GuestMemory, talking to each other:
 * round trips, random chain shapes in bulk, out-of-order completion, u16
 * wraparound, indirect tables, notification suppression, and a hostile
 * device seen from the driver.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ProtocolError, ProtocolErrorCode } from "../../src/common/errors.js";
import { GuestAllocator } from "../../src/virtio/allocator.js";
import { DeviceQueue } from "../../src/virtio/device-queue.js";
import { DriverQueue, type Segment } from "../../src/virtio/driver-queue.js";
import type { GuestMemory } from "../../src/virtio/memory.js";
import { splitQueueLayout, usedRingSize } from "../../src/virtio/ring.js";
import { makeMemory } from "./mock-driver.js";

interface SystemOptions {
  size: number;
  eventIdx?: boolean;
  indirect?: boolean;
  indirectThreshold?: number;
  startIdx?: number;
  memBytes?: number;
  tableBytes?: number;
}

interface System<T> {
  memory: GuestMemory;
  driver: DriverQueue<T>;
  device: DeviceQueue;
  tables: GuestAllocator;
  data: GuestAllocator;
  usedAddr: bigint;
}

const TABLES = 0x40000;
const DATA = 0x80000;

function system<T>(o: SystemOptions): System<T> {
  const memBytes = o.memBytes ?? 4 << 20;
  const memory = makeMemory([{ guestAddr: 0n, size: memBytes }]);
  const layout = splitQueueLayout(o.size, 0n);
  assert.ok(layout.end <= BigInt(TABLES));
  const tables = new GuestAllocator(TABLES, o.tableBytes ?? DATA - TABLES);
  const data = new GuestAllocator(DATA, memBytes - DATA);
  const rings = { memory, size: o.size, descAddr: layout.descAddr, availAddr: layout.availAddr, usedAddr: layout.usedAddr, eventIdx: o.eventIdx ?? false };
  const driver = new DriverQueue<T>({
    ...rings,
    indirectAllocator: o.indirect ? tables : undefined,
    indirectThreshold: o.indirectThreshold,
    startIdx: o.startIdx,
  });
  const device = new DeviceQueue({ ...rings, lastAvailIdx: o.startIdx ?? 0 });
  return { memory, driver, device, tables, data, usedAddr: layout.usedAddr };
}

/** The device's answer to a request: the request bytes XOR 0x5a, then a counter, cut to the room given. */
function reply(input: Uint8Array, room: number): Uint8Array {
  const n = Math.min(room, input.length + 7);
  const out = new Uint8Array(n);
  for (let k = 0; k < n; k++) out[k] = (k < input.length ? input[k]! : k) ^ 0x5a;
  return out;
}

function serveOne(device: DeviceQueue): boolean {
  const chain = device.pop();
  if (chain === null) return false;
  const input = chain.reader().readAll();
  const w = chain.writer();
  w.write(reply(input, chain.writableLength));
  device.push(chain.head, w.bytesWritten);
  return true;
}

test("round trip: request bytes in, reply bytes out, token and length back", () => {
  const s = system<string>({ size: 8 });
  const req = s.memory.slice(BigInt(DATA), 5);
  req.set([104, 101, 108, 108, 111]);
  const rsp = s.memory.slice(BigInt(DATA + 0x100), 64);
  const head = s.driver.add([req], [{ gpa: BigInt(DATA + 0x100), len: 64 }], "hello");
  assert.ok(head >= 0);
  assert.equal(s.driver.kickNeeded(), true);
  assert.equal(s.driver.numFree, 6);
  const chain = s.device.pop()!;
  assert.equal(chain.head, head);
  assert.equal(new TextDecoder().decode(chain.reader().readAll()), "hello");
  const w = chain.writer();
  const hdr = w.reserve(4);
  w.write(new TextEncoder().encode("world"));
  hdr.write(Uint8Array.of(w.bytesWritten, 0, 0, 0));
  s.device.push(chain.head, w.bytesWritten);
  assert.equal(s.device.needsNotify(), true);
  assert.deepEqual(s.driver.takeUsed(), [{ token: "hello", len: 9 }]);
  assert.deepEqual([...rsp.subarray(0, 9)], [9, 0, 0, 0, ...new TextEncoder().encode("world")]);
  assert.equal(s.driver.numFree, 8);
  assert.equal(s.driver.inFlightRequests, 0);
  assert.deepEqual(s.driver.takeUsed(), []);
});

interface Req {
  r: number[];
  w: number[];
}

const reqArb: fc.Arbitrary<Req> = fc.record({
  r: fc.array(fc.integer({ min: 0, max: 200 }), { maxLength: 5 }),
  w: fc.array(fc.integer({ min: 0, max: 200 }), { maxLength: 5 }),
});

test("property: thousands of requests with random chain shapes, batches and completion order", () => {
  let total = 0;
  fc.assert(
    fc.property(
      fc.record({
        size: fc.constantFrom(1, 2, 4, 8, 16, 64),
        eventIdx: fc.boolean(),
        indirect: fc.boolean(),
        threshold: fc.integer({ min: 1, max: 6 }),
        startIdx: fc.oneof(fc.constant(0), fc.integer({ min: 0xfff0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff })),
        reqs: fc.array(reqArb, { minLength: 1, maxLength: 200, size: "max" }),
        bursts: fc.array(fc.integer({ min: 1, max: 70 }), { minLength: 1, maxLength: 8 }),
        serves: fc.array(fc.integer({ min: 0, max: 70 }), { minLength: 1, maxLength: 8 }),
        seed: fc.integer(),
      }),
      (p) => {
        const s = system<number>({ size: p.size, eventIdx: p.eventIdx, indirect: p.indirect, indirectThreshold: p.threshold, startIdx: p.startIdx });
        let rng = p.seed >>> 0 || 1;
        const rand = () => ((rng = (rng * 1103515245 + 12345) >>> 0) >>> 8) / 2 ** 24;
        const reqs = p.reqs.map((q) => {
          let r = q.r;
          let w = q.w;
          if (r.length + w.length === 0) r = [1];
          if (!p.indirect) {
            r = r.slice(0, p.size);
            w = w.slice(0, p.size - r.length);
          }
          return { r, w };
        });
        // Per request: its buffers, the bytes sent, and where the reply goes.
        const live = new Map<number, { segs: { gpa: number; len: number }[]; input: Uint8Array; writable: Uint8Array[] }>();
        let next = 0;
        let done = 0;
        let step = 0;
        const inFlight: Set<number> = new Set();
        while (done < reqs.length) {
          // Driver: add a burst.
          const burst = p.bursts[step % p.bursts.length]!;
          for (let k = 0; k < burst && next < reqs.length; k++) {
            const q = reqs[next]!;
            const segs = [...q.r, ...q.w].map((len) => ({ gpa: s.data.alloc(Math.max(len, 1)), len }));
            const readable: Segment[] = [];
            const writable: Segment[] = [];
            const input: number[] = [];
            segs.forEach((seg, i) => {
              assert.ok(seg.gpa >= 0);
              const view = s.memory.slice(seg.gpa, seg.len);
              if (i < q.r.length) {
                for (let j = 0; j < view.length; j++) view[j] = (next * 31 + input.length + j) & 0xff;
                input.push(...view);
                readable.push(rand() < 0.5 ? view : { gpa: BigInt(seg.gpa), len: seg.len });
              } else {
                view.fill(0);
                writable.push(rand() < 0.5 ? view : { gpa: seg.gpa, len: seg.len });
              }
            });
            const head = s.driver.add(readable, writable, next);
            if (head < 0) {
              for (const seg of segs) s.data.free(seg.gpa, Math.max(seg.len, 1));
              break;
            }
            live.set(next, { segs, input: Uint8Array.from(input), writable: writable.map((x) => (x instanceof Uint8Array ? x : s.memory.slice(x.gpa, x.len))) });
            inFlight.add(next);
            next++;
          }
          s.driver.kickNeeded();
          // Device: take some chains, complete them in a shuffled order.
          const serve = p.serves[step % p.serves.length]!;
          const taken = [];
          for (let k = 0; k < serve; k++) {
            const chain = s.device.pop();
            if (chain === null) break;
            taken.push(chain);
          }
          if (taken.length === 0 && s.driver.inFlightRequests > 0 && serve === 0) {
            const chain = s.device.pop();
            if (chain) taken.push(chain);
          }
          for (let k = taken.length - 1; k > 0; k--) {
            const j = Math.floor(rand() * (k + 1));
            [taken[k], taken[j]] = [taken[j]!, taken[k]!];
          }
          for (const chain of taken) {
            const input = chain.reader().readAll();
            const w = chain.writer();
            w.write(reply(input, chain.writableLength));
            s.device.push(chain.head, w.bytesWritten);
          }
          s.device.needsNotify();
          // Driver: collect and check.
          for (const { token, len } of s.driver.takeUsed()) {
            const l = live.get(token)!;
            assert.ok(inFlight.delete(token), "completed once");
            const q = reqs[token]!;
            const room = q.w.reduce((a, b) => a + b, 0);
            const want = reply(l.input, room);
            assert.equal(len, want.length);
            const got = l.writable.flatMap((v) => [...v]).slice(0, len);
            assert.deepEqual(got, [...want]);
            for (const seg of l.segs) s.data.free(seg.gpa, Math.max(seg.len, 1));
            live.delete(token);
            done++;
          }
          step++;
          assert.ok(step < 100_000, "no progress");
        }
        assert.equal(s.driver.numFree, p.size);
        assert.equal(s.tables.freeBytes, DATA - TABLES, "every indirect table freed");
        assert.equal(s.device.lastAvailIdx, (p.startIdx + reqs.length) & 0xffff);
        assert.equal(s.driver.lastUsedIdx, (p.startIdx + reqs.length) & 0xffff);
        assert.equal(s.device.badChainCount, 0);
        total += reqs.length;
      },
    ),
    { numRuns: 60 },
  );
  assert.ok(total >= 2000, `only ${total} requests`);
});

test("a 1 MiB read through a 128-entry queue: 259 segments in an indirect table, 8 in flight", () => {
  const PAGE = 4096;
  const s = system<number>({ size: 128, indirect: true, memBytes: 24 << 20 });
  const requests: { outHdr: number; pages: { gpa: number; len: number }[] }[] = [];
  for (let t = 0; t < 8; t++) {
    const inHdr = s.data.alloc(80);
    const outHdr = s.data.alloc(16);
    const area = s.data.alloc(512 * PAGE, PAGE);
    assert.ok(inHdr >= 0 && outHdr >= 0 && area >= 0);
    // Every other page: nothing is contiguous.
    const pages = Array.from({ length: 256 }, (_, i) => ({ gpa: area + 2 * i * PAGE, len: PAGE }));
    const head = s.driver.add(
      [
        { gpa: inHdr, len: 40 },
        { gpa: inHdr + 40, len: 40 },
      ],
      [{ gpa: outHdr, len: 16 }, ...pages],
      t,
    );
    assert.ok(head >= 0);
    requests.push({ outHdr, pages });
  }
  assert.equal(s.driver.numFree, 120, "one descriptor per request");
  for (let t = 0; t < 8; t++) {
    const chain = s.device.pop()!;
    assert.equal(chain.readable.length, 2);
    assert.equal(chain.writable.length, 257);
    assert.equal(chain.writableLength, 16 + (1 << 20));
    const w = chain.writer();
    const hdr = w.reserve(16);
    // Zero-copy fill: the views are guest memory.
    const views = w.peekViews(1 << 20);
    for (const v of views) v.fill(0x40 + t);
    w.advance(1 << 20);
    const h = new Uint8Array(16);
    new DataView(h.buffer).setUint32(0, w.bytesWritten, true);
    hdr.write(h);
    s.device.push(chain.head, w.bytesWritten);
  }
  const used = s.driver.takeUsed();
  assert.equal(used.length, 8);
  for (const { token, len } of used) {
    assert.equal(len, 16 + (1 << 20));
    const r = requests[token]!;
    assert.equal(new DataView(s.memory.slice(r.outHdr, 4).slice().buffer).getUint32(0, true), len);
    for (const p of [r.pages[0]!, r.pages[255]!]) assert.ok(s.memory.slice(p.gpa, p.len).every((b) => b === 0x40 + token));
    assert.equal(s.memory.slice(r.pages[0]!.gpa + PAGE, 1)[0], 0, "the gap pages are untouched");
  }
  assert.equal(s.driver.numFree, 128);
});

test("indirect falls back to direct when the table allocator is exhausted, and add returns -1 when full", () => {
  const s = system<number>({ size: 8, indirect: true, indirectThreshold: 1, tableBytes: 64 });
  const seg = (i: number) => ({ gpa: DATA + i * 16, len: 16 });
  const h1 = s.driver.add([seg(0), seg(1), seg(2)], [], 1); // table of 48 bytes
  assert.equal(s.driver.numFree, 7);
  const h2 = s.driver.add([seg(3), seg(4)], [], 2); // no room for 32 more: direct
  assert.equal(s.driver.numFree, 5);
  assert.equal(s.driver.add([seg(5), seg(6), seg(7), seg(8), seg(9), seg(10)], [], 3), -1, "6 > 5 free, no table");
  assert.ok(s.driver.add([seg(5)], [], 4) >= 0);
  assert.throws(
    () => s.driver.add(Array.from({ length: 9 }, (_, i) => seg(i)).concat(Array.from({ length: 5000 }, () => seg(0))), [], 5),
    (e: unknown) => ProtocolError.is(e) && e.code === ProtocolErrorCode.LIMIT,
  );
  assert.throws(() => s.driver.add([{ gpa: 4 << 20, len: 1 }], [], 6), (e: unknown) => ProtocolError.is(e) && e.code === ProtocolErrorCode.ADDRESS);
  assert.throws(() => s.driver.add([new Uint8Array(4)], [], 6), (e: unknown) => ProtocolError.is(e) && e.code === ProtocolErrorCode.ADDRESS);
  while (serveOne(s.device));
  assert.deepEqual(
    s.driver
      .takeUsed()
      .map((u) => u.token)
      .sort(),
    [1, 2, 4],
  );
  assert.ok(h1 >= 0 && h2 >= 0);
  assert.equal(s.driver.numFree, 8);
  assert.equal(s.tables.freeBytes, 64);
});

test("EVENT_IDX: kicks only when the device asked; interrupts only when the driver asked", () => {
  const s = system<number>({ size: 16, eventIdx: true, startIdx: 0xfffd });
  const seg = { gpa: DATA, len: 8 };
  // Device idle at 0xfffd: the first buffer needs a kick.
  s.driver.add([seg], [], 0);
  assert.equal(s.driver.kickNeeded(), true);
  // The device has not run: further buffers need no kick.
  for (let i = 1; i < 4; i++) {
    s.driver.add([seg], [], i);
    assert.equal(s.driver.kickNeeded(), false, `buffer ${i}`);
  }
  // The device drains; buffers added meanwhile need no kick (avail_event stays until the drain ends).
  const chains = [];
  for (let c = s.device.pop(); c !== null; c = s.device.pop()) {
    chains.push(c);
    if (chains.length === 2) {
      s.driver.add([seg], [], 4);
      assert.equal(s.driver.kickNeeded(), false, "added while the device drains");
    }
  }
  assert.equal(chains.length, 5);
  // It goes idle: the next buffer kicks again, across the wrap.
  assert.equal(s.device.enableNotification(), false);
  s.driver.add([seg], [], 5);
  assert.equal(s.driver.kickNeeded(), true);

  // Interrupts: used_event = the driver's last used index.
  s.device.push(chains[0]!.head, 0);
  assert.equal(s.device.needsNotify(), true, "first completion");
  s.device.push(chains[1]!.head, 0);
  assert.equal(s.device.needsNotify(), false, "the driver has not looked yet");
  assert.equal(s.driver.takeUsed().length, 2);
  s.device.push(chains[2]!.head, 0);
  assert.equal(s.device.needsNotify(), true, "the driver caught up and asked again");
  s.driver.disableInterrupts();
  s.device.push(chains[3]!.head, 0);
  assert.equal(s.device.needsNotify(), false, "interrupts disabled");
  assert.equal(s.driver.enableInterrupts(), true, "a completion is already waiting");
  assert.equal(s.driver.takeUsed().length, 2);
  assert.equal(s.driver.enableInterrupts(), false);
});

test("without EVENT_IDX: NO_NOTIFY and NO_INTERRUPT flags", () => {
  const s = system<number>({ size: 8 });
  const seg = { gpa: DATA, len: 8 };
  s.device.disableNotification();
  s.driver.add([seg], [], 0);
  assert.equal(s.driver.kickNeeded(), false);
  assert.equal(s.device.enableNotification(), true);
  s.driver.add([seg], [], 1);
  assert.equal(s.driver.kickNeeded(), true);
  s.driver.disableInterrupts();
  serveOne(s.device);
  assert.equal(s.device.needsNotify(), false);
  assert.equal(s.driver.enableInterrupts(), true);
  serveOne(s.device);
  assert.equal(s.device.needsNotify(), true);
  assert.equal(s.driver.takeUsed().length, 2);
});

/**
 * A pump: the driver submits bursts and kicks when told; the device runs the
 * standard loop (disable, drain, enable, drain again if more came) only when
 * kicked; interrupts are counted. Returns [kicks, interrupts, completions].
 */
function pump(eventIdx: boolean, bursts: number, burst: number, busy: (b: number) => boolean): [number, number, number] {
  const s = system<number>({ size: 64, eventIdx });
  const seg = { gpa: DATA, len: 8 };
  let kicks = 0;
  let interrupts = 0;
  let completed = 0;
  let kicked = false;
  for (let b = 0; b < bursts; b++) {
    for (let i = 0; i < burst; i++) {
      assert.ok(s.driver.add([seg], [], b * burst + i) >= 0);
      // In `busy` bursts the driver checks after each buffer, as an eager submitter would.
      if (busy(b) && s.driver.kickNeeded()) {
        kicks++;
        kicked = true;
      }
    }
    if (s.driver.kickNeeded()) {
      kicks++;
      kicked = true;
    }
    if (kicked) {
      kicked = false;
      s.device.disableNotification();
      for (;;) {
        while (serveOne(s.device));
        if (!s.device.enableNotification()) break;
      }
      if (s.device.needsNotify()) {
        interrupts++;
        completed += s.driver.takeUsed().length;
        s.driver.enableInterrupts();
      }
    }
  }
  completed += s.driver.takeUsed().length;
  return [kicks, interrupts, completed];
}

test("notification counts: one kick and one interrupt per burst, with or without EVENT_IDX", () => {
  const [k1, i1, c1] = pump(true, 50, 20, (b) => b % 5 === 0);
  assert.equal(c1, 1000);
  assert.equal(k1, 50, "EVENT_IDX: one kick per burst even when checking after every buffer");
  assert.equal(i1, 50);
  const [k2, i2, c2] = pump(false, 50, 20, () => false);
  assert.equal(c2, 1000);
  assert.equal(k2, 50);
  assert.equal(i2, 50);
  // Without suppression, a driver that checks after every buffer kicks for every buffer.
  const [k3] = pump(false, 50, 20, () => true);
  assert.equal(k3, 1000);
});

function hostileUsed(s: System<number>, entries: { id: number; len: number }[], idx: number): void {
  const used = s.memory.slice(s.usedAddr, usedRingSize(s.driver.size));
  const v = new DataView(used.buffer, used.byteOffset, used.byteLength);
  let at = s.driver.lastUsedIdx;
  for (const e of entries) {
    const slot = at % s.driver.size;
    v.setUint32(4 + 8 * slot, e.id, true);
    v.setUint32(8 + 8 * slot, e.len, true);
    at = (at + 1) & 0xffff;
  }
  v.setUint16(2, idx & 0xffff, true);
}

function isCode(code: string, re: RegExp) {
  return (e: unknown) => ProtocolError.is(e) && e.code === code && re.test(e.message);
}

test("hostile device: used id out of range, not in flight, length too big, index jump", () => {
  {
    const s = system<number>({ size: 8 });
    s.driver.add([], [{ gpa: DATA, len: 8 }], 1);
    hostileUsed(s, [{ id: 200, len: 0 }], 1);
    assert.throws(() => s.driver.takeUsed(), isCode(ProtocolErrorCode.VALUE, /names 200, which is not an in-flight head/));
    assert.ok(s.driver.broken);
    assert.throws(() => s.driver.add([{ gpa: DATA, len: 1 }], [], 2), isCode(ProtocolErrorCode.VALUE, /names 200/));
    assert.equal(s.driver.numFree, 7, "nothing freed that should not be");
  }
  {
    const s = system<number>({ size: 8 });
    const h1 = s.driver.add([{ gpa: DATA, len: 1 }, { gpa: DATA, len: 1 }], [], 1);
    s.driver.add([{ gpa: DATA, len: 1 }], [], 2);
    hostileUsed(
      s,
      [
        { id: h1, len: 0 },
        { id: h1, len: 0 },
      ],
      2,
    );
    assert.deepEqual(s.driver.takeUsed(), [{ token: 1, len: 0 }], "the valid completion before the bad one survives");
    assert.ok(s.driver.broken);
    assert.throws(() => s.driver.takeUsed(), isCode(ProtocolErrorCode.VALUE, /not an in-flight head/));
    assert.equal(s.driver.numFree, 7, "request 2 still holds its descriptor");
  }
  {
    const s = system<number>({ size: 8 });
    const h = s.driver.add([], [{ gpa: DATA, len: 8 }], 1);
    hostileUsed(s, [{ id: h, len: 9 }], 1);
    assert.throws(() => s.driver.takeUsed(), isCode(ProtocolErrorCode.LENGTH, /claims 9 bytes written into 8/));
  }
  {
    const s = system<number>({ size: 8, startIdx: 0xfffe });
    s.driver.add([{ gpa: DATA, len: 1 }], [], 1);
    hostileUsed(s, [], 0xfffe + 2);
    assert.throws(() => s.driver.takeUsed(), isCode(ProtocolErrorCode.VALUE, /used index 0 is 2 past 65534 with 1 requests in flight/));
  }
});

test("property: arbitrary used-ring contents only ever give ProtocolErrors and keep the free list whole", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 8 }), fc.uint8Array({ minLength: 4 + 8 * 8, maxLength: 4 + 8 * 8 }), (n, bytes) => {
      const s = system<number>({ size: 8, indirect: true, indirectThreshold: 2 });
      const descs = new Map<number, number>();
      for (let i = 0; i < n; i++) {
        const before = s.driver.numFree;
        const h = s.driver.add(
          Array.from({ length: 1 + (i % 4) }, () => ({ gpa: DATA, len: 4 })),
          [{ gpa: DATA, len: 64 }],
          i,
        );
        if (h >= 0) descs.set(i, before - s.driver.numFree);
      }
      s.memory.slice(s.usedAddr, bytes.length).set(bytes);
      let results: { token: number; len: number }[] = [];
      try {
        results = s.driver.takeUsed();
      } catch (e) {
        assert.ok(ProtocolError.is(e), String(e));
      }
      const returned = new Set<number>();
      for (const r of results) {
        assert.ok(descs.has(r.token) && !returned.has(r.token));
        assert.ok(r.len <= 64);
        returned.add(r.token);
      }
      let held = 0;
      for (const [token, count] of descs) if (!returned.has(token)) held += count;
      assert.equal(s.driver.numFree + held, 8);
      assert.equal(s.driver.inFlightRequests, descs.size - returned.size);
    }),
    { numRuns: 500 },
  );
});

test("polling (suppressKicks): no kick while the device polls, across the wrap; enableNotification ends it", () => {
  for (const eventIdx of [true, false]) {
    const s = system<number>({ size: 16, eventIdx, startIdx: 0xfffe });
    const seg = { gpa: DATA, len: 8 };
    s.driver.add([seg], [], 0);
    assert.equal(s.driver.kickNeeded(), true, "an idle device wants a kick");
    assert.ok(serveOne(s.device));
    s.device.suppressKicks();
    // The device watches the available index: buffers it pops meanwhile must not ask for kicks.
    for (let i = 1; i <= 5; i++) {
      s.driver.add([seg], [], i);
      assert.equal(s.driver.kickNeeded(), false, `eventIdx=${eventIdx} buffer ${i} while polling`);
      assert.equal(s.device.hasAvailable(), true);
      assert.ok(serveOne(s.device));
      assert.equal(s.device.hasAvailable(), false);
    }
    // A buffer added after the last look but before the device re-arms is seen by enableNotification.
    s.driver.add([seg], [], 6);
    assert.equal(s.driver.kickNeeded(), false);
    assert.equal(s.device.enableNotification(), true, `eventIdx=${eventIdx}: drain again`);
    assert.ok(serveOne(s.device));
    assert.equal(s.device.enableNotification(), false);
    s.driver.add([seg], [], 7);
    assert.equal(s.driver.kickNeeded(), true, `eventIdx=${eventIdx}: kicks again once the device sleeps`);
    assert.equal(s.driver.takeUsed().length, 7);
  }
});
