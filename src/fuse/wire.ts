/**
 * Bounds-checked little-endian reading and writing of FUSE messages.
 *
 * {@link WireReader} works over a `Uint8Array` the caller has already copied
 * out of shared memory: every field is read once, every read is checked
 * against the end of the message, and every failure is a {@link ProtocolError}
 * (never a `RangeError` from a typed array). {@link WireWriter} fills a
 * preallocated, zeroed buffer of a size computed up front.
 */
import { ProtocolError, ProtocolErrorCode } from "../common/errors.js";

/** Reads fields in order from a private copy of one message. */
export class WireReader {
  private readonly view: DataView;
  private pos = 0;

  /**
   * @param bytes the message, or the part of it to read; the reader never
   *   looks outside it. It must not be memory another party can still change.
   * @param what a label for error messages, e.g. `"LOOKUP request"`.
   */
  constructor(
    readonly bytes: Uint8Array,
    readonly what = "message",
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Bytes read so far. */
  get offset(): number {
    return this.pos;
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.bytes.byteLength - this.pos;
  }

  /** Fails with SHORT unless `n` more bytes are available. */
  need(n: number, field = "field"): void {
    if (n > this.remaining) {
      throw new ProtocolError(
        ProtocolErrorCode.SHORT,
        `${this.what}: ${field} needs ${n} bytes at offset ${this.pos}, ${this.remaining} left`,
      );
    }
  }

  u8(): number {
    this.need(1);
    const v = this.view.getUint8(this.pos);
    this.pos += 1;
    return v;
  }

  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  i32(): number {
    this.need(4);
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }

  u64(): bigint {
    this.need(8);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }

  i64(): bigint {
    this.need(8);
    const v = this.view.getBigInt64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** Skips `n` bytes (padding). */
  skip(n: number, field = "padding"): void {
    this.need(n, field);
    this.pos += n;
  }

  /** The next `n` bytes as a `Uint8Array` view (no copy). */
  bytesView(n: number, field = "data"): Uint8Array {
    this.need(n, field);
    const v = new Uint8Array(this.bytes.buffer, this.bytes.byteOffset + this.pos, n);
    this.pos += n;
    return v;
  }

  /** Everything left, as a `Uint8Array` view (no copy). */
  rest(): Uint8Array {
    return this.bytesView(this.remaining);
  }

  /**
   * A NUL-terminated name that other fields follow: the bytes up to the first
   * NUL, as a `Buffer` view without the terminator. Fails with STRING when no
   * NUL is left in the message or the name is empty.
   */
  name(field = "name"): Buffer {
    const start = this.bytes.byteOffset + this.pos;
    const end = this.bytes.indexOf(0, this.pos);
    if (end < 0) {
      throw new ProtocolError(ProtocolErrorCode.STRING, `${this.what}: ${field} is not NUL-terminated`);
    }
    if (end === this.pos) {
      throw new ProtocolError(ProtocolErrorCode.STRING, `${this.what}: ${field} is empty`);
    }
    const v = Buffer.from(this.bytes.buffer, start, end - this.pos);
    this.pos = end + 1;
    return v;
  }

  /**
   * A NUL-terminated name that ends the message part: its terminator must be
   * the last byte, so a NUL inside the name is a STRING error, not trailing
   * bytes.
   */
  lastName(field = "name"): Buffer {
    const end = this.bytes.indexOf(0, this.pos);
    if (end >= 0 && end !== this.bytes.byteLength - 1) {
      throw new ProtocolError(ProtocolErrorCode.STRING, `${this.what}: ${field} holds a NUL byte`);
    }
    return this.name(field);
  }

  /** Fails with LONG when bytes are left after everything the message declares. */
  end(): void {
    if (this.remaining !== 0) {
      throw new ProtocolError(
        ProtocolErrorCode.LONG,
        `${this.what}: ${this.remaining} unexpected bytes after offset ${this.pos}`,
      );
    }
  }
}

function badValue(field: string, v: number | bigint, kind: string): ProtocolError {
  return new ProtocolError(ProtocolErrorCode.VALUE, `cannot encode ${field} = ${v} as ${kind}`);
}

/**
 * Writes fields in order into a zeroed buffer of a fixed size. Values out of
 * their field's range are refused (VALUE) rather than wrapped.
 */
export class WireWriter {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  private pos = 0;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }

  /** Bytes written so far. */
  get offset(): number {
    return this.pos;
  }

  private room(n: number): void {
    if (this.pos + n > this.bytes.byteLength) {
      throw new RangeError(`WireWriter overflow: ${n} bytes at ${this.pos} of ${this.bytes.byteLength}`);
    }
  }

  u8(v: number, field = "u8"): void {
    if ((v & 0xff) !== v) throw badValue(field, v, "u8");
    this.room(1);
    this.view.setUint8(this.pos, v);
    this.pos += 1;
  }

  u16(v: number, field = "u16"): void {
    if ((v & 0xffff) !== v) throw badValue(field, v, "u16");
    this.room(2);
    this.view.setUint16(this.pos, v, true);
    this.pos += 2;
  }

  u32(v: number, field = "u32"): void {
    if (v >>> 0 !== v) throw badValue(field, v, "u32");
    this.room(4);
    this.view.setUint32(this.pos, v, true);
    this.pos += 4;
  }

  i32(v: number, field = "i32"): void {
    if ((v | 0) !== v) throw badValue(field, v, "i32");
    this.room(4);
    this.view.setInt32(this.pos, v, true);
    this.pos += 4;
  }

  u64(v: bigint, field = "u64"): void {
    if (BigInt.asUintN(64, v) !== v) throw badValue(field, v, "u64");
    this.room(8);
    this.view.setBigUint64(this.pos, v, true);
    this.pos += 8;
  }

  i64(v: bigint, field = "i64"): void {
    if (BigInt.asIntN(64, v) !== v) throw badValue(field, v, "i64");
    this.room(8);
    this.view.setBigInt64(this.pos, v, true);
    this.pos += 8;
  }

  /** Leaves `n` zero bytes (padding). */
  skip(n: number): void {
    this.room(n);
    this.pos += n;
  }

  /** Copies `src` in. */
  bytesIn(src: Uint8Array): void {
    this.room(src.byteLength);
    this.bytes.set(src, this.pos);
    this.pos += src.byteLength;
  }

  /** A name and its NUL terminator; see {@link checkName}. */
  name(name: Uint8Array, field = "name"): void {
    checkName(name, field);
    this.bytesIn(name);
    this.skip(1);
  }

  /** The filled buffer; it must be exactly full. */
  finish(): Uint8Array {
    if (this.pos !== this.bytes.byteLength) {
      throw new RangeError(`WireWriter underfill: wrote ${this.pos} of ${this.bytes.byteLength} bytes`);
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
  if (name.byteLength === 0) {
    throw new ProtocolError(ProtocolErrorCode.STRING, `${field} is empty`);
  }
  if (name.indexOf(0) >= 0) {
    throw new ProtocolError(ProtocolErrorCode.STRING, `${field} holds a NUL byte`);
  }
}
