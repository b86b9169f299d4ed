/**
 * Reader and Writer over the buffers of a descriptor chain (after virtiofsd's
 * `descriptor_utils.rs`): a Reader walks the device-readable buffers, a Writer
 * the device-writable ones, each as one byte stream across buffer boundaries.
 *
 * - Reader methods COPY out of guest memory into private memory, so a value
 *   is read from shared memory once and the guest cannot change it afterwards.
 *   `views()` is the one exception, meant for opaque payload (FUSE_WRITE data
 *   handed to pwritev) that is never validated.
 * - Writer methods are all-or-nothing: a write that does not fit changes
 *   nothing and throws.
 * - Lengths are checked before use; every failure is a ProtocolError
 *   (SHORT when the request has fewer bytes than asked for, LENGTH when a reply
 *   does not fit the space the driver gave, VALUE for a negative or
 *   non-integer count).
 */
import { ProtocolError, ProtocolErrorCode } from "../common/errors.js";
import { spanViews } from "../common/spans.js";

/**
 * Copies of up to this many bytes go byte by byte; longer ones through `set`,
 * which needs a view of one side. Measured here (node 20, optimised code,
 * collection of the views included): a byte loop costs about 3 ns a byte, a
 * view and a `set` 70-145 ns whatever the length, so they meet at 24-40 bytes.
 */
const SMALL_COPY = 32;

function checkCount(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new ProtocolError(ProtocolErrorCode.VALUE, `${what}: invalid byte count ${n}`);
}

/**
 * The buffers of a chain, or of one direction of it, without a view of each:
 * buffer `i` is bytes `[spans[2i], spans[2i] + spans[2i+1])` of `segs[i]`
 * (for a descriptor chain, the bytes of the memory region it lies in, so
 * walking a chain makes no typed arrays; see DeviceQueue.pop).
 */
export interface Segments {
  readonly segs: readonly Uint8Array[];
  /** Start and length of each buffer in its segment, in pairs. */
  readonly spans: readonly number[];
}

/** Segments of plain views: each view is a buffer of its own, from its first byte. */
function segmentsOf(buffers: readonly Uint8Array[]): { segs: readonly Uint8Array[]; spans: number[]; total: number } {
  const spans: number[] = [];
  let total = 0;
  for (const b of buffers) {
    spans.push(0, b.length);
    total += b.length;
    if (total > Number.MAX_SAFE_INTEGER) throw new ProtocolError(ProtocolErrorCode.LENGTH, "buffer lengths overflow");
  }
  return { segs: buffers, spans, total };
}

/** A position in a list of buffers (from buffer `index` of the segments on) with a byte budget. */
abstract class ChainCursor {
  protected readonly segs: readonly Uint8Array[];
  protected readonly spans: readonly number[];
  protected index: number;
  protected offset = 0;
  /** Bytes left to the end of this cursor's window. */
  protected left: number;

  /** Over `buffers` (plain views, all of them), or over buffers `from` onwards of `segments`, `length` bytes of them. */
  protected constructor(buffers: readonly Uint8Array[] | Segments, from: number, length: number) {
    if (Array.isArray(buffers)) {
      const own = segmentsOf(buffers as readonly Uint8Array[]);
      this.segs = own.segs;
      this.spans = own.spans;
      this.index = 0;
      this.left = own.total;
    } else {
      const { segs, spans } = buffers as Segments;
      this.segs = segs;
      this.spans = spans;
      this.index = from;
      this.left = length;
    }
  }

  /** Copies `n` bytes between the chain and `mem[pos..]`; `toChain` chooses the direction. Caller checked `n <= left`. */
  protected transfer(mem: Uint8Array, pos: number, n: number, toChain: boolean): void {
    this.left -= n;
    const spans = this.spans;
    while (n > 0) {
      const i = this.index;
      const avail = spans[2 * i + 1]! - this.offset;
      if (avail === 0) {
        this.index = i + 1;
        this.offset = 0;
        continue;
      }
      const seg = this.segs[i]!;
      const k = avail < n ? avail : n;
      const at = spans[2 * i]! + this.offset;
      if (k <= SMALL_COPY) {
        if (toChain) for (let j = 0; j < k; j++) seg[at + j] = mem[pos + j]!;
        else for (let j = 0; j < k; j++) mem[pos + j] = seg[at + j]!;
      } else if (toChain) {
        // A whole source (a reply's one chunk) needs no view of it.
        seg.set(k === mem.length ? mem : mem.subarray(pos, pos + k), at);
      } else {
        mem.set(seg.subarray(at, at + k), pos);
      }
      this.offset += k;
      pos += k;
      n -= k;
    }
  }

  /** Moves forward `n` bytes (caller checked `n <= left`), collecting live views if `out` is given. */
  protected step(n: number, out: Uint8Array[] | null): void {
    this.left -= n;
    const spans = this.spans;
    while (n > 0) {
      const i = this.index;
      const avail = spans[2 * i + 1]! - this.offset;
      if (avail === 0) {
        this.index = i + 1;
        this.offset = 0;
        continue;
      }
      const k = avail < n ? avail : n;
      if (out !== null) {
        const at = spans[2 * i]! + this.offset;
        out.push(this.segs[i]!.subarray(at, at + k));
      }
      this.offset += k;
      n -= k;
    }
  }

  /** The byte `ahead` bytes past the position, without moving (caller checked `ahead < left`). */
  private byteAhead(ahead: number): number {
    const spans = this.spans;
    let index = this.index;
    let offset = this.offset + ahead;
    while (offset >= spans[2 * index + 1]!) offset -= spans[2 * index++ + 1]!;
    return this.segs[index]![spans[2 * index]! + offset]!;
  }

  /**
   * The little-endian u32 `ahead` bytes past the position, read in place
   * without moving (caller checked `ahead + 4 <= left`): for sizing a copy
   * from a field the copy will then hold (and be checked by) again.
   */
  protected u32Ahead(ahead: number): number {
    const i = this.index;
    const offset = this.offset + ahead;
    if (offset + 4 <= this.spans[2 * i + 1]!) {
      const seg = this.segs[i]!;
      const at = this.spans[2 * i]! + offset;
      return (seg[at]! | (seg[at + 1]! << 8) | (seg[at + 2]! << 16) | (seg[at + 3]! << 24)) >>> 0;
    }
    // Across buffers (or past the current one): byte by byte.
    return (this.byteAhead(ahead) | (this.byteAhead(ahead + 1) << 8) | (this.byteAhead(ahead + 2) << 16) | (this.byteAhead(ahead + 3) << 24)) >>> 0;
  }

  /**
   * The next `n` bytes as spans of the segments, without a view of each and
   * without moving (caller checked `n <= left`): what a vectored system call
   * takes (see `preadvSpans` in src/sys/io.ts).
   */
  protected segmentsAhead(n: number): Segments {
    const spans = this.spans;
    let first = this.index;
    let offset = this.offset;
    // Past a used-up buffer (and any empty ones) to the one the bytes start in.
    while (n > 0 && spans[2 * first + 1]! - offset === 0) {
      first++;
      offset = 0;
    }
    if (n === 0) return { segs: [], spans: [] };
    // The buffer the bytes end in, and how many of its bytes they take.
    let last = first;
    let tail = n;
    for (let avail = spans[2 * first + 1]! - offset; tail > avail; avail = spans[2 * last + 1]!) {
      tail -= avail;
      last++;
    }
    // Copies of exactly that range (arrays grown by push reallocated their store on the way: a READ's 32 pages
    // made about 1.5 KB of garbage), then the first and last spans cut to the bytes taken.
    const segs = this.segs.slice(first, last + 1);
    const out = spans.slice(2 * first, 2 * last + 2);
    out[0] = spans[2 * first]! + offset;
    if (last === first) out[1] = n;
    else {
      out[1] = spans[2 * first + 1]! - offset;
      out[out.length - 1] = tail;
    }
    return { segs, spans: out };
  }

  /** Live views of the next `n` bytes without moving (caller checked `n <= left`): {@link segmentsAhead} as views. */
  protected peek(n: number): Uint8Array[] {
    const { segs, spans } = this.segmentsAhead(n);
    return spanViews(segs, spans);
  }
}

/** Reads the device-readable part of a chain as one stream, copying out. */
export class Reader extends ChainCursor {
  private consumed = 0;

  /** A Reader over `buffers`, in order. */
  constructor(buffers: readonly Uint8Array[]);
  /** A Reader over buffers `from` onwards of `segments`, `length` bytes of them. */
  constructor(segments: Segments, from: number, length: number);
  constructor(buffers: readonly Uint8Array[] | Segments, from = 0, length = 0) {
    super(buffers, from, length);
  }

  /** Bytes not read yet. */
  get remaining(): number {
    return this.left;
  }

  /** Bytes read (or skipped) so far. */
  get bytesRead(): number {
    return this.consumed;
  }

  private need(n: number, what: string): void {
    checkCount(n, what);
    if (n > this.left) {
      throw new ProtocolError(ProtocolErrorCode.SHORT, `${what}: ${n} bytes wanted, ${this.left} left in the request`);
    }
    this.consumed += n;
  }

  /**
   * Fills `dst` from byte `at` (default 0) to its end from the stream, or
   * throws SHORT and reads nothing. A RangeError when `at` is not within
   * `dst`. (`at` spares a caller a view of the part to fill.)
   */
  readInto(dst: Uint8Array, at = 0): void {
    if (!Number.isInteger(at) || at < 0 || at > dst.length) throw new RangeError(`readInto: offset ${at} outside ${dst.length} bytes`);
    const n = dst.length - at;
    this.need(n, "readInto");
    this.transfer(dst, at, n, false);
  }

  /**
   * The little-endian u32 `ahead` bytes past the position, read in place
   * (guest memory, which may change before it is copied) without consuming
   * anything; SHORT unless those 4 bytes are in the stream.
   */
  peekU32(ahead: number): number {
    checkCount(ahead, "peekU32");
    if (ahead + 4 > this.left) {
      throw new ProtocolError(ProtocolErrorCode.SHORT, `peekU32: 4 bytes at ${ahead} wanted, ${this.left} left in the request`);
    }
    return this.u32Ahead(ahead);
  }

  /** A private copy of the next `n` bytes, or SHORT. */
  readBytes(n: number): Uint8Array {
    this.need(n, "readBytes");
    const out = new Uint8Array(n);
    this.transfer(out, 0, n, false);
    return out;
  }

  /** A private copy of everything left. */
  readAll(): Uint8Array {
    return this.readBytes(this.left);
  }

  /** Skips `n` bytes, or throws SHORT and skips nothing. */
  skip(n: number): void {
    this.need(n, "skip");
    this.step(n, null);
  }

  /**
   * Live views of the next `n` bytes of guest memory, consumed. Only for
   * opaque payload that is passed on and never validated (the guest can
   * change it while it is being used).
   */
  views(n: number): Uint8Array[] {
    this.need(n, "views");
    const out: Uint8Array[] = [];
    this.step(n, out);
    return out;
  }

  /** {@link views} as spans of the chain's buffers, without a view of each (see `preadvSpans` in src/sys/io.ts). */
  segments(n: number): Segments {
    this.need(n, "segments");
    const out = this.segmentsAhead(n);
    this.step(n, null);
    return out;
  }
}

/**
 * Writes into the device-writable part of a chain as one stream.
 *
 * `reserve(n)` sets aside the next `n` bytes (e.g. a FUSE out header whose
 * length is known only after the data) and returns a Writer limited to them;
 * the reserved bytes count as written here, so `bytesWritten` of the outer
 * Writer is the length to report in the used ring once the reservation is
 * filled.
 */
export class Writer extends ChainCursor {
  private written = 0;

  /** A Writer over `buffers`, in order. */
  constructor(buffers: readonly Uint8Array[]);
  /** A Writer over buffers `from` onwards of `segments`, with `length` bytes of room there. */
  constructor(segments: Segments, from: number, length: number);
  constructor(buffers: readonly Uint8Array[] | Segments, from = 0, length = 0) {
    super(buffers, from, length);
  }

  /** A Writer over `length` bytes of another one's buffers, from its position. */
  private static window(from: Writer, length: number): Writer {
    const w = new Writer({ segs: from.segs, spans: from.spans }, from.index, length);
    w.offset = from.offset;
    return w;
  }

  /** Bytes written (or reserved) so far. */
  get bytesWritten(): number {
    return this.written;
  }

  /** Room left. */
  get available(): number {
    return this.left;
  }

  private room(n: number, what: string): void {
    checkCount(n, what);
    if (n > this.left) {
      throw new ProtocolError(ProtocolErrorCode.LENGTH, `${what}: ${n} bytes do not fit the ${this.left} writable bytes left`);
    }
    this.written += n;
  }

  /** Writes all of `src`, or throws LENGTH and writes nothing. */
  write(src: Uint8Array): void {
    this.room(src.length, "write");
    this.transfer(src, 0, src.length, true);
  }

  /** Writes `n` zero bytes. */
  zero(n: number): void {
    this.room(n, "zero");
    for (const v of this.peek(n)) v.fill(0);
    this.step(n, null);
  }

  /** Sets aside the next `n` bytes and returns a Writer over exactly them. */
  reserve(n: number): Writer {
    this.room(n, "reserve");
    const w = Writer.window(this, n);
    this.step(n, null);
    return w;
  }

  /**
   * Live views of the next `n` bytes, without moving: for zero-copy fills
   * (preadv straight into guest memory). Follow with `advance(k)` for the
   * bytes actually filled. Throws LENGTH if `n` exceeds the room left.
   */
  peekViews(n: number): Uint8Array[] {
    checkCount(n, "peekViews");
    if (n > this.left) {
      throw new ProtocolError(ProtocolErrorCode.LENGTH, `peekViews: ${n} bytes do not fit the ${this.left} writable bytes left`);
    }
    return this.peek(n);
  }

  /** {@link peekViews} as spans of the chain's buffers, without a view of each (see `preadvSpans` in src/sys/io.ts). */
  peekSegments(n: number): Segments {
    checkCount(n, "peekSegments");
    if (n > this.left) {
      throw new ProtocolError(ProtocolErrorCode.LENGTH, `peekSegments: ${n} bytes do not fit the ${this.left} writable bytes left`);
    }
    return this.segmentsAhead(n);
  }

  /** Counts `n` bytes filled through `peekViews` or `peekSegments` as written. */
  advance(n: number): void {
    this.room(n, "advance");
    this.step(n, null);
  }
}
