/**
 * Bounds-checked little-endian reading and writing of FUSE messages.
 *
 * {@link WireReader} works over a `Uint8Array` the caller has already copied
 * out of shared memory: every field is read once, every read is checked
 * against the end of the message, and every failure is a {@link ProtocolError}
 * (never a `RangeError` from a typed array). {@link WireWriter} fills a
 * zeroed buffer of a size computed up front.
 *
 * Speed notes (the codec is on every request's path): reads index the bytes
 * directly rather than through a `DataView`, because a `DataView` (like
 * `.buffer` or `subarray`) makes V8 move a small message off its heap, which
 * costs more than decoding it. Replies are written into views of a shared,
 * write-once block ({@link WireMemory} "shared"), so a reply costs a view, not
 * an allocation of its own.
 */
import { Buffer } from "node:buffer";
import { ProtocolError, ProtocolErrorCode } from "../common/errors.js";
import { HOST_IS_LITTLE_ENDIAN } from "../common/endian.js";

// ---------------------------------------------------------------------------
// Little-endian loads from bytes (the caller has checked the bounds)

/** The u16 at `at` of `b`. */
export function loadU16(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8);
}

/** The u32 at `at` of `b`. */
export function loadU32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

/** The i32 at `at` of `b`. */
export function loadI32(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24);
}

/** 2^32, and the high word below which a u64 is a safe integer. */
const TWO_32 = 0x1_0000_0000;
const SAFE_HIGH = 0x20_0000;

/**
 * Eight bytes seen as one 64-bit word of each signedness: on a little-endian
 * host a u64 or i64 is copied in byte by byte and read back as an element,
 * a BigInt that optimized code makes inline, where `BigInt(number)` is a call
 * into V8's runtime (30 ns against 77–92 ns a load, node 20).
 */
const wordBytes = new Uint8Array(8);
const wordU64 = new BigUint64Array(wordBytes.buffer);
const wordI64 = new BigInt64Array(wordBytes.buffer);

function copyWord(b: Uint8Array, at: number): void {
  wordBytes[0] = b[at]!;
  wordBytes[1] = b[at + 1]!;
  wordBytes[2] = b[at + 2]!;
  wordBytes[3] = b[at + 3]!;
  wordBytes[4] = b[at + 4]!;
  wordBytes[5] = b[at + 5]!;
  wordBytes[6] = b[at + 6]!;
  wordBytes[7] = b[at + 7]!;
}

/** The u64 at `at` of `b`. */
export function loadU64(b: Uint8Array, at: number): bigint {
  if (HOST_IS_LITTLE_ENDIAN) {
    copyWord(b, at);
    return wordU64[0]!;
  }
  const lo = loadU32(b, at);
  const hi = loadU32(b, at + 4);
  return hi < SAFE_HIGH ? BigInt(hi * TWO_32 + lo) : (BigInt(hi) << 32n) | BigInt(lo);
}

/** The i64 at `at` of `b`. */
export function loadI64(b: Uint8Array, at: number): bigint {
  if (HOST_IS_LITTLE_ENDIAN) {
    copyWord(b, at);
    return wordI64[0]!;
  }
  const lo = loadU32(b, at);
  const hi = loadI32(b, at + 4);
  return hi < SAFE_HIGH && hi >= -SAFE_HIGH ? BigInt(hi * TWO_32 + lo) : (BigInt(hi) << 32n) | BigInt(lo);
}

// ---------------------------------------------------------------------------
// Reading

/** Reads fields in order from a private copy of one message. */
export class WireReader {
  private pos: number;
  private readonly start: number;
  private readonly limit: number;

  /**
   * @param bytes the message; the reader never looks outside it, nor outside
   *   [`start`, `end`) when those are given (a part of the message, read
   *   without making a view of it). It must not be memory another party can
   *   still change.
   * @param what a label for error messages, e.g. `"LOOKUP request"`.
   */
  constructor(
    readonly bytes: Uint8Array,
    readonly what = "message",
    start = 0,
    end = bytes.length,
  ) {
    if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= bytes.length)) {
      throw new RangeError(`WireReader: range ${start}..${end} outside ${bytes.length} bytes`);
    }
    this.pos = start;
    this.start = start;
    this.limit = end;
  }

  /** Bytes read so far. */
  get offset(): number {
    return this.pos - this.start;
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.limit - this.pos;
  }

  /** Fails with SHORT unless `n` more bytes are available. */
  need(n: number, field = "field"): void {
    if (n > this.limit - this.pos) throw this.short(n, field);
  }

  private short(n: number, field: string): ProtocolError {
    return new ProtocolError(
      ProtocolErrorCode.SHORT,
      `${this.what}: ${field} needs ${n} bytes at offset ${this.offset}, ${this.remaining} left`,
    );
  }

  /**
   * Consumes `n` bytes (SHORT unless available) and returns the index in
   * {@link bytes} where they start, for a caller that reads them itself.
   */
  take(n: number, field = "field"): number {
    const at = this.pos;
    if (n > this.limit - at) throw this.short(n, field);
    this.pos = at + n;
    return at;
  }

  u8(): number {
    return this.bytes[this.take(1)]!;
  }

  u16(): number {
    return loadU16(this.bytes, this.take(2));
  }

  u32(): number {
    return loadU32(this.bytes, this.take(4));
  }

  i32(): number {
    return loadI32(this.bytes, this.take(4));
  }

  u64(): bigint {
    return loadU64(this.bytes, this.take(8));
  }

  i64(): bigint {
    return loadI64(this.bytes, this.take(8));
  }

  /** Skips `n` bytes (padding). */
  skip(n: number, field = "padding"): void {
    this.take(n, field);
  }

  /** The next `n` bytes as a `Uint8Array` view (no copy). */
  bytesView(n: number, field = "data"): Uint8Array {
    const at = this.take(n, field);
    return new Uint8Array(this.bytes.buffer, this.bytes.byteOffset + at, n);
  }

  /** Everything left, as a `Uint8Array` view (no copy). */
  rest(): Uint8Array {
    return this.bytesView(this.remaining);
  }

  /** The index of the first NUL from the current position, or -1 when none is left before the end. */
  private nul(): number {
    const i = this.bytes.indexOf(0, this.pos);
    return i < this.limit ? i : -1;
  }

  /**
   * A NUL-terminated name that other fields follow: the bytes up to the first
   * NUL, as a `Buffer` view without the terminator. Fails with STRING when no
   * NUL is left in the message or the name is empty.
   */
  name(field = "name"): Buffer {
    return this.nameTo(this.nul(), field);
  }

  private nameTo(end: number, field: string): Buffer {
    if (end < 0) {
      throw new ProtocolError(ProtocolErrorCode.STRING, `${this.what}: ${field} is not NUL-terminated`);
    }
    if (end === this.pos) {
      throw new ProtocolError(ProtocolErrorCode.STRING, `${this.what}: ${field} is empty`);
    }
    const v = Buffer.from(this.bytes.buffer, this.bytes.byteOffset + this.pos, end - this.pos);
    this.pos = end + 1;
    return v;
  }

  /**
   * A NUL-terminated name that ends the message part: its terminator must be
   * the last byte, so a NUL inside the name is a STRING error, not trailing
   * bytes.
   */
  lastName(field = "name"): Buffer {
    const end = this.nul();
    if (end >= 0 && end !== this.limit - 1) {
      throw new ProtocolError(ProtocolErrorCode.STRING, `${this.what}: ${field} holds a NUL byte`);
    }
    return this.nameTo(end, field);
  }

  /** Fails with LONG when bytes are left after everything the message declares. */
  end(): void {
    if (this.pos !== this.limit) {
      throw new ProtocolError(
        ProtocolErrorCode.LONG,
        `${this.what}: ${this.remaining} unexpected bytes after offset ${this.offset}`,
      );
    }
  }
}

// ---------------------------------------------------------------------------
// Writing

/**
 * Zeroed memory for small messages, handed out once each: a view of a shared
 * 8 KiB block costs far less than an `ArrayBuffer` of its own (V8 gives a
 * typed array over 64 bytes separately allocated memory, which costs more
 * than encoding the message). A block lives while any view of it does.
 */
const SLAB_SIZE = 8192;
/** Shared memory is handed out up to this size; larger messages get a buffer of their own. */
const SLAB_MAX = 1024;
let slab = new ArrayBuffer(SLAB_SIZE);
let slabView = new DataView(slab);
/**
 * The same block as 64-bit words, for u64 fields at 8-aligned offsets: on
 * node 20 a BigUint64Array element store is inlined (about 4 ns) and
 * DataView's setBigUint64 is a builtin call (about 24 ns). Little-endian
 * hosts only (null elsewhere: the DataView path then writes every field).
 */
let slabWords: BigUint64Array | null = HOST_IS_LITTLE_ENDIAN ? new BigUint64Array(slab) : null;
let slabUsed = 0;

/**
 * `size` zeroed bytes, handed out once: up to 1 KiB a view of a block shared
 * with other messages (see {@link WireMemory} "shared"), above that a buffer
 * of their own. For private copies of small incoming messages: a view of an
 * existing block costs less than a small typed array whose `.buffer` (or a
 * subarray of it) is ever taken.
 */
export function sharedBytes(size: number): Uint8Array {
  if (size > SLAB_MAX) return new Uint8Array(size);
  const at = slabTake(size);
  return new Uint8Array(slab, at, size);
}

/** Reserves `size` bytes (at most {@link SLAB_MAX}) of the current block, 8-byte aligned; returns their offset. */
function slabTake(size: number): number {
  if (slabUsed + size > SLAB_SIZE) {
    slab = new ArrayBuffer(SLAB_SIZE);
    slabView = new DataView(slab);
    slabWords = HOST_IS_LITTLE_ENDIAN ? new BigUint64Array(slab) : null;
    slabUsed = 0;
  }
  const at = slabUsed;
  slabUsed += (size + 7) & ~7;
  return at;
}

/** Where a {@link WireWriter} takes its memory from. */
export type WireMemory =
  /** A buffer of its own, at offset 0. */
  | "own"
  /** A view of a block shared with other messages (for replies, which are copied or written out at once). */
  | "shared";

/** The VALUE error for a value that does not fit its field (`kind` is `u32`, `i64`, ...). */
export function valueError(field: string, v: number | bigint, kind: string): ProtocolError {
  return new ProtocolError(ProtocolErrorCode.VALUE, `cannot encode ${field} = ${v} as ${kind}`);
}

/**
 * Writes fields in order into a zeroed buffer of a fixed size. Values out of
 * their field's range are refused (VALUE) rather than wrapped.
 */
export class WireWriter {
  /**
   * The message being written (what {@link finish} returns). With "shared"
   * memory it is a view of a block other messages share: use it through its
   * `byteOffset` and `byteLength`, and never write through, transfer or
   * detach its `buffer`.
   */
  readonly bytes: Uint8Array;
  /** A view of the memory {@link bytes} lies in; `bytes[0]` is at {@link base}. */
  readonly target: DataView;
  /** Where `bytes[0]` lies in {@link target}. */
  readonly base: number;
  /** {@link target}'s memory as little-endian 64-bit words (word `i` is bytes `8i..8i+7`), or null. */
  readonly words: BigUint64Array | null;
  private pos: number;
  private readonly limit: number;

  constructor(size: number, memory: WireMemory = "own") {
    if (memory === "shared" && size <= SLAB_MAX) {
      const at = slabTake(size);
      this.base = at;
      this.bytes = new Uint8Array(slab, at, size);
      this.target = slabView;
      this.words = slabWords;
    } else {
      this.base = 0;
      this.bytes = new Uint8Array(size);
      this.target = new DataView(this.bytes.buffer);
      this.words = null;
    }
    this.pos = this.base;
    this.limit = this.base + size;
  }

  /** Bytes written so far. */
  get offset(): number {
    return this.pos - this.base;
  }

  private room(n: number): number {
    const at = this.pos;
    if (n > this.limit - at) {
      throw new RangeError(`WireWriter overflow: ${n} bytes at ${at - this.base} of ${this.bytes.length}`);
    }
    this.pos = at + n;
    return at;
  }

  /**
   * Claims the next `n` bytes (zeros until written) and returns where they
   * start in {@link target}, for a caller that writes them itself; a
   * RangeError when they do not fit.
   */
  take(n: number): number {
    return this.room(n);
  }

  u8(v: number, field = "u8"): void {
    if ((v & 0xff) !== v) throw valueError(field, v, "u8");
    this.target.setUint8(this.room(1), v);
  }

  u16(v: number, field = "u16"): void {
    if ((v & 0xffff) !== v) throw valueError(field, v, "u16");
    this.target.setUint16(this.room(2), v, true);
  }

  u32(v: number, field = "u32"): void {
    if (v >>> 0 !== v) throw valueError(field, v, "u32");
    this.target.setUint32(this.room(4), v, true);
  }

  i32(v: number, field = "i32"): void {
    if ((v | 0) !== v) throw valueError(field, v, "i32");
    this.target.setInt32(this.room(4), v, true);
  }

  u64(v: bigint, field = "u64"): void {
    if (BigInt.asUintN(64, v) !== v) throw valueError(field, v, "u64");
    this.target.setBigUint64(this.room(8), v, true);
  }

  i64(v: bigint, field = "i64"): void {
    if (BigInt.asIntN(64, v) !== v) throw valueError(field, v, "i64");
    this.target.setBigInt64(this.room(8), v, true);
  }

  /** Leaves `n` zero bytes (padding). */
  skip(n: number): void {
    this.room(n);
  }

  /** Copies `src` in. */
  bytesIn(src: Uint8Array): void {
    const at = this.room(src.length);
    this.bytes.set(src, at - this.base);
  }

  /** A name and its NUL terminator; see {@link checkName}. */
  name(name: Uint8Array, field = "name"): void {
    checkName(name, field);
    this.bytesIn(name);
    this.skip(1);
  }

  /** The filled buffer; it must be exactly full. */
  finish(): Uint8Array {
    if (this.pos !== this.limit) {
      throw new RangeError(`WireWriter underfill: wrote ${this.offset} of ${this.bytes.length} bytes`);
    }
    return this.bytes;
  }
}

/**
 * Refuses (STRING) a name that cannot travel as a NUL-terminated string:
 * empty, or holding a NUL byte. Names are raw bytes (Linux names need not be
 * UTF-8); `/` is not refused here because TMPFILE carries the name "/".
 */
export function checkName(name: Uint8Array, field = "name"): void {
  if (name.length === 0) {
    throw new ProtocolError(ProtocolErrorCode.STRING, `${field} is empty`);
  }
  if (name.indexOf(0) >= 0) {
    throw new ProtocolError(ProtocolErrorCode.STRING, `${field} holds a NUL byte`);
  }
}
