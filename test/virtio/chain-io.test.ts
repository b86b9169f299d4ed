import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ProtocolError, ProtocolErrorCode } from "../../src/common/errors.js";
import { Reader, Writer } from "../../src/virtio/chain-io.js";

function split(data: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, data.length]) {
    out.push(data.slice(prev, p));
    prev = p;
  }
  return out;
}

function isProto(code: string) {
  return (e: unknown) => ProtocolError.is(e) && e.code === code;
}

test("Reader reads across buffer boundaries and copies out", () => {
  const bufs = [Uint8Array.of(1, 2, 3), new Uint8Array(0), Uint8Array.of(4), Uint8Array.of(5, 6, 7, 8)];
  const r = new Reader(bufs);
  assert.equal(r.remaining, 8);
  const a = r.readBytes(2);
  assert.deepEqual([...a], [1, 2]);
  bufs[0]![0] = 99; // the guest changes memory afterwards: our copy does not move
  assert.deepEqual([...a], [1, 2]);
  assert.deepEqual([...r.readBytes(3)], [3, 4, 5]);
  assert.equal(r.bytesRead, 5);
  r.skip(1);
  assert.deepEqual([...r.readAll()], [7, 8]);
  assert.equal(r.remaining, 0);
  assert.equal(r.readBytes(0).length, 0);
});

test("Reader refuses short reads without consuming anything", () => {
  const r = new Reader([Uint8Array.of(1, 2), Uint8Array.of(3)]);
  r.readBytes(1);
  assert.throws(() => r.readBytes(3), isProto(ProtocolErrorCode.SHORT));
  assert.throws(() => r.skip(3), isProto(ProtocolErrorCode.SHORT));
  assert.throws(() => r.readInto(new Uint8Array(5)), isProto(ProtocolErrorCode.SHORT));
  assert.throws(() => r.readBytes(-1), isProto(ProtocolErrorCode.VALUE));
  assert.throws(() => r.readBytes(1.5), isProto(ProtocolErrorCode.VALUE));
  assert.equal(r.remaining, 2);
  assert.deepEqual([...r.readBytes(2)], [2, 3]);
});

test("Reader.views hands out live views for opaque payload", () => {
  const bufs = [new Uint8Array(10), new Uint8Array(10)];
  const r = new Reader(bufs);
  r.skip(4);
  const v = r.views(10);
  assert.deepEqual(
    v.map((x) => x.byteLength),
    [6, 4],
  );
  assert.equal(v[0]!.buffer, bufs[0]!.buffer);
  assert.equal(r.remaining, 6);
});

test("Writer writes across buffers; a write that does not fit changes nothing", () => {
  const bufs = [new Uint8Array(3), new Uint8Array(0), new Uint8Array(5)];
  const w = new Writer(bufs);
  assert.equal(w.available, 8);
  w.write(Uint8Array.of(1, 2));
  w.write(Uint8Array.of(3, 4, 5));
  assert.throws(() => w.write(new Uint8Array(4)), isProto(ProtocolErrorCode.LENGTH));
  assert.equal(w.bytesWritten, 5);
  w.zero(3);
  assert.deepEqual([...bufs[0]!, ...bufs[2]!], [1, 2, 3, 4, 5, 0, 0, 0]);
  assert.equal(w.available, 0);
  assert.throws(() => w.write(Uint8Array.of(1)), isProto(ProtocolErrorCode.LENGTH));
});

test("Writer.reserve leaves room for a header filled after the data", () => {
  const bufs = [new Uint8Array(10), new Uint8Array(30)];
  const w = new Writer(bufs);
  const header = w.reserve(16);
  w.write(new Uint8Array(20).fill(7));
  assert.equal(w.bytesWritten, 36, "reserved bytes count as written");
  const h = new Uint8Array(16);
  new DataView(h.buffer).setUint32(0, w.bytesWritten, true);
  header.write(h);
  assert.throws(() => header.write(Uint8Array.of(0)), isProto(ProtocolErrorCode.LENGTH));
  assert.equal(new DataView(bufs[0]!.buffer).getUint32(0, true), 36);
  assert.deepEqual([...bufs[1]!.subarray(6, 26)], new Array(20).fill(7));
  assert.throws(() => w.reserve(5), isProto(ProtocolErrorCode.LENGTH));
});

test("Writer.peekViews + advance: zero-copy fill of part of the room", () => {
  const bufs = [new Uint8Array(4), new Uint8Array(8)];
  const w = new Writer(bufs);
  w.write(Uint8Array.of(9));
  const views = w.peekViews(10);
  assert.deepEqual(
    views.map((v) => v.byteLength),
    [3, 7],
  );
  views[0]!.fill(1);
  views[1]!.subarray(0, 2).fill(2);
  w.advance(5); // only 5 bytes were actually filled
  assert.equal(w.bytesWritten, 6);
  w.write(Uint8Array.of(3));
  assert.deepEqual([...bufs[0]!, ...bufs[1]!], [9, 1, 1, 1, 2, 2, 3, 0, 0, 0, 0, 0]);
  assert.throws(() => w.peekViews(7), isProto(ProtocolErrorCode.LENGTH));
  assert.throws(() => w.advance(7), isProto(ProtocolErrorCode.LENGTH));
});

test("property: any split of the buffers and of the reads gives back the same bytes", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 300 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      fc.array(fc.integer({ min: 0, max: 80 }), { maxLength: 20 }),
      (data, cuts, reads) => {
        const r = new Reader(split(data, cuts));
        const out: number[] = [];
        for (const n of reads) {
          if (n <= r.remaining) out.push(...r.readBytes(n));
          else assert.throws(() => r.readBytes(n), isProto(ProtocolErrorCode.SHORT));
        }
        out.push(...r.readAll());
        assert.deepEqual(out, [...data]);

        const target = split(new Uint8Array(data.length), cuts);
        const w = new Writer(target);
        let pos = 0;
        for (const n of reads) {
          const k = Math.min(n, data.length - pos);
          w.write(data.subarray(pos, pos + k));
          pos += k;
        }
        w.write(data.subarray(pos));
        assert.equal(w.bytesWritten, data.length);
        assert.deepEqual(
          target.flatMap((b) => [...b]),
          [...data],
        );
      },
    ),
    { numRuns: 500 },
  );
});

test("property: peekU32 is the u32 a read from there would give, across any split, and consumes nothing", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 4, maxLength: 120 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      fc.nat(),
      fc.nat(),
      (data, cuts, skipSeed, aheadSeed) => {
        const r = new Reader(split(data, cuts));
        const skip = skipSeed % (data.length - 3);
        r.skip(skip);
        const ahead = aheadSeed % (r.remaining - 3);
        const at = skip + ahead;
        const want = (data[at]! | (data[at + 1]! << 8) | (data[at + 2]! << 16) | (data[at + 3]! << 24)) >>> 0;
        assert.equal(r.peekU32(ahead), want);
        assert.equal(r.remaining, data.length - skip);
        assert.equal(r.bytesRead, skip);
        // Four bytes past the end, or a bad offset: SHORT or VALUE, nothing consumed.
        assert.throws(() => r.peekU32(r.remaining - 3), isProto(ProtocolErrorCode.SHORT));
        assert.throws(() => r.peekU32(-1), isProto(ProtocolErrorCode.VALUE));
        assert.deepEqual([...r.readAll()], [...data.subarray(skip)]);
      },
    ),
    { numRuns: 500 },
  );
});

test("segments: a Reader and a Writer over ranges of shared bytes touch only those ranges", () => {
  // Two "regions"; the chain's buffers are ranges of them, readable ones first.
  const regionA = new Uint8Array(256).map((_, i) => i);
  const regionB = new Uint8Array(256);
  const chain = {
    segs: [regionA, regionA, regionB, regionB, regionA],
    // readable: A[10..50) (40 bytes), A[200..200) (empty), B[0..100) (100 bytes); writable: B[128..138), A[100..200)
    spans: [10, 40, 200, 0, 0, 100, 128, 10, 100, 100],
  };
  regionB.set(new Uint8Array(100).fill(0xee), 0);
  const r = new Reader(chain, 0, 140);
  const header = new Uint8Array(40);
  r.readInto(header); // 40 bytes: through set()
  assert.deepEqual([...header], [...regionA.subarray(10, 50)]);
  const rest = r.readBytes(100); // across the empty buffer into B
  assert.deepEqual([...rest], new Array(100).fill(0xee));
  assert.equal(r.remaining, 0);
  assert.throws(() => r.readBytes(1), isProto(ProtocolErrorCode.SHORT));

  const before = Uint8Array.from(regionA);
  const w = new Writer(chain, 3, 110);
  const head = w.reserve(16); // B[128..138) and 6 bytes of A[100..): byte by byte
  w.write(new Uint8Array(94).fill(7)); // the rest of A[100..200), through set()
  assert.throws(() => w.write(Uint8Array.of(1)), isProto(ProtocolErrorCode.LENGTH));
  head.write(new Uint8Array(16).fill(9));
  assert.deepEqual([...regionB.subarray(128, 138)], new Array(10).fill(9));
  assert.deepEqual([...regionA.subarray(100, 106)], new Array(6).fill(9));
  assert.deepEqual([...regionA.subarray(106, 200)], new Array(94).fill(7));
  // Nothing outside the writable ranges moved.
  assert.deepEqual([...regionA.subarray(0, 100)], [...before.subarray(0, 100)]);
  assert.deepEqual([...regionA.subarray(200)], [...before.subarray(200)]);
  assert.equal(regionB[127], 0, "B[100..128) untouched");
  assert.equal(regionB[138], 0);
});

test("segments: views and peekViews are live views of the ranges", () => {
  const region = new Uint8Array(64);
  const chain = { segs: [region, region], spans: [8, 4, 32, 8] };
  const r = new Reader(chain, 0, 12);
  r.skip(2);
  const v = r.views(6);
  assert.deepEqual(
    v.map((x) => [x.byteOffset, x.byteLength]),
    [
      [10, 2],
      [32, 4],
    ],
  );
  const w = new Writer(chain, 1, 8);
  const p = w.peekViews(8);
  assert.deepEqual(
    p.map((x) => [x.byteOffset, x.byteLength]),
    [[32, 8]],
  );
  p[0]!.fill(5);
  w.advance(8);
  assert.equal(w.bytesWritten, 8);
  assert.deepEqual([...region.subarray(32, 40)], new Array(8).fill(5));
});

test("segments: Reader.segments and Writer.peekSegments are the same ranges as spans, with no view made", () => {
  const region = new Uint8Array(64);
  const other = new Uint8Array(16);
  const chain = { segs: [region, other, region], spans: [8, 4, 0, 16, 32, 8] };
  const r = new Reader(chain, 0, 28);
  r.skip(2);
  const got = r.segments(20);
  assert.ok(got.segs[0] === region && got.segs[1] === other && got.segs[2] === region);
  assert.deepEqual(got.spans, [10, 2, 0, 16, 32, 2]);
  assert.equal(r.remaining, 6, "segments() moves on");
  assert.deepEqual(r.segments(6).spans, [34, 6]);
  assert.throws(() => r.segments(1), isProto(ProtocolErrorCode.SHORT));
  const w = new Writer(chain, 0, 28);
  w.write(Uint8Array.of(1, 2, 3));
  const p = w.peekSegments(10);
  assert.deepEqual(p.spans, [11, 1, 0, 9]);
  assert.equal(w.bytesWritten, 3, "peekSegments does not move");
  assert.deepEqual(w.peekSegments(0), { segs: [], spans: [] });
  assert.throws(() => w.peekSegments(26), isProto(ProtocolErrorCode.LENGTH));
  w.advance(25);
  assert.equal(w.available, 0);
});

test("segments: any window of any split (empty buffers too) covers exactly the stream's bytes, each span inside its buffer", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 64 }),
      fc.array(fc.nat(), { maxLength: 8 }),
      fc.nat(),
      fc.nat(),
      (data, cuts, a, b) => {
        const parts = split(data, cuts);
        // The parts laid out in one region with a gap after each, as a chain's buffers in guest memory.
        const region = new Uint8Array(data.length + 2 * parts.length);
        const spans: number[] = [];
        let at = 0;
        for (const part of parts) {
          region.set(part, at);
          spans.push(at, part.length);
          at += part.length + 2;
        }
        const chain = { segs: parts.map(() => region), spans };
        const from = a % (data.length + 1);
        const n = b % (data.length - from + 1);
        const r = new Reader(chain, 0, data.length);
        r.skip(from);
        const got = r.segments(n);
        assert.equal(got.segs.length * 2, got.spans.length);
        const bytes: number[] = [];
        for (let i = 0; i < got.segs.length; i++) {
          const start = got.spans[2 * i]!;
          const length = got.spans[2 * i + 1]!;
          assert.ok(start >= 0 && length >= 0 && start + length <= got.segs[i]!.length, "span inside its buffer");
          bytes.push(...got.segs[i]!.subarray(start, start + length));
        }
        assert.deepEqual(bytes, [...data.subarray(from, from + n)]);
        assert.equal(r.remaining, data.length - from - n);
        if (n > 0) assert.ok(got.spans[1]! > 0 && got.spans[got.spans.length - 1]! > 0, "no empty buffer at either end");
      },
    ),
    { numRuns: 500 },
  );
});

test("Reader.readInto from an offset fills the rest of the target and nothing before it", () => {
  const r = new Reader([Uint8Array.of(1, 2, 3), Uint8Array.of(4, 5)]);
  const dst = new Uint8Array(6).fill(9);
  r.readInto(dst, 2);
  assert.deepEqual([...dst], [9, 9, 1, 2, 3, 4]);
  assert.equal(r.remaining, 1);
  assert.throws(() => r.readInto(new Uint8Array(4), 2), isProto(ProtocolErrorCode.SHORT));
  assert.equal(r.remaining, 1, "a short read reads nothing");
  assert.throws(() => r.readInto(dst, 7), RangeError);
  assert.throws(() => r.readInto(dst, -1), RangeError);
  assert.throws(() => r.readInto(dst, 1.5), RangeError);
  r.readInto(dst, 6); // nothing to fill
  assert.equal(r.remaining, 1);
  r.readInto(dst, 5);
  assert.deepEqual([...dst], [9, 9, 1, 2, 3, 5]);
});
