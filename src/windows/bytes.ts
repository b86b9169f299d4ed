/**
 * Bounds-checked little-endian access to Windows metadata blobs (xattr
 * values, reparse buffers, EA lists, security descriptors).
 *
 * The blobs come from a host xattr or from a Windows caller, so every read is
 * checked against the end of the blob and every failure is a
 * {@link ProtocolError} with a stable code, never a `RangeError`. Readers work
 * on absolute offsets inside one blob because NDR and self-relative security
 * descriptors address their parts by offset.
 */
import { ProtocolError, ProtocolErrorCode, type ProtocolErrorCodeValue } from "../common/errors.js";

/** Throws the protocol error every decoder in this folder uses. */
export function malformed(code: ProtocolErrorCodeValue, what: string, detail: string): never {
  throw new ProtocolError(code, `${what}: ${detail}`);
}

/** Reads fields from one blob, in order or at absolute offsets. */
export class ByteReader {
  private readonly view: DataView;
  private pos: number;

  /**
   * @param bytes the blob; the reader never looks outside it.
   * @param what a label for error messages, e.g. `"user.DOSATTRIB"`.
   * @param start the first offset to read.
   */
  constructor(
    readonly bytes: Uint8Array,
    readonly what: string,
    start = 0,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = start;
  }

  get offset(): number {
    return this.pos;
  }

  get length(): number {
    return this.bytes.byteLength;
  }

  get remaining(): number {
    return this.bytes.byteLength - this.pos;
  }

  /** Moves to an absolute offset, which must lie inside the blob (or at its end). */
  seek(offset: number, field = "offset"): void {
    if (!Number.isInteger(offset) || offset < 0 || offset > this.bytes.byteLength) {
      malformed(ProtocolErrorCode.LENGTH, this.what, `${field} ${offset} is outside the ${this.bytes.byteLength}-byte blob`);
    }
    this.pos = offset;
  }

  /** Fails with SHORT unless `n` more bytes are available. */
  need(n: number, field = "field"): void {
    if (n > this.remaining) {
      malformed(
        ProtocolErrorCode.SHORT,
        this.what,
        `${field} needs ${n} bytes at offset ${this.pos}, ${this.remaining} left`,
      );
    }
  }

  /**
   * Skips to the next multiple of `n` counted from `base` (NDR alignment). The
   * padding must exist; its content is not checked (Samba writes zeros).
   */
  align(n: number, base = 0, field = "padding"): void {
    const rel = this.pos - base;
    const pad = (n - (rel % n)) % n;
    this.need(pad, field);
    this.pos += pad;
  }

  u8(field = "u8"): number {
    this.need(1, field);
    const v = this.view.getUint8(this.pos);
    this.pos += 1;
    return v;
  }

  u16(field = "u16"): number {
    this.need(2, field);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }

  u32(field = "u32"): number {
    this.need(4, field);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  u64(field = "u64"): bigint {
    this.need(8, field);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }

  u32be(field = "u32"): number {
    this.need(4, field);
    const v = this.view.getUint32(this.pos, false);
    this.pos += 4;
    return v;
  }

  /** A copy of the next `n` bytes. */
  bytesCopy(n: number, field = "bytes"): Uint8Array {
    this.need(n, field);
    // A real copy (Buffer#slice would alias), and a plain Uint8Array.
    const out = new Uint8Array(this.bytes.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }

  /** A NUL-terminated byte string (the NUL is consumed, not returned). */
  cstring(field = "string"): Uint8Array {
    const end = this.bytes.indexOf(0, this.pos);
    if (end < 0) malformed(ProtocolErrorCode.STRING, this.what, `${field} at offset ${this.pos} has no NUL`);
    const out = new Uint8Array(this.bytes.subarray(this.pos, end));
    this.pos = end + 1;
    return out;
  }
}

/** Appends little-endian fields to a growing buffer. */
export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;

  constructor(initial = 64) {
    this.buf = new Uint8Array(Math.max(16, initial));
    this.view = new DataView(this.buf.buffer);
  }

  get offset(): number {
    return this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.byteLength) return;
    let size = this.buf.byteLength * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** Zero padding up to the next multiple of `n` counted from `base`. */
  align(n: number, base = 0): void {
    const pad = (n - ((this.pos - base) % n)) % n;
    this.zeros(pad);
  }

  zeros(n: number): void {
    this.ensure(n);
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
  }

  u8(v: number): void {
    this.ensure(1);
    this.view.setUint8(this.pos, v);
    this.pos += 1;
  }

  u16(v: number): void {
    this.ensure(2);
    this.view.setUint16(this.pos, v, true);
    this.pos += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, v >>> 0, true);
    this.pos += 4;
  }

  u64(v: bigint): void {
    this.ensure(8);
    this.view.setBigUint64(this.pos, BigInt.asUintN(64, v), true);
    this.pos += 8;
  }

  u32be(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, v >>> 0, false);
    this.pos += 4;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.byteLength);
    this.buf.set(b, this.pos);
    this.pos += b.byteLength;
  }

  /** Overwrites a u16 written earlier. */
  patchU16(at: number, v: number): void {
    this.view.setUint16(at, v, true);
  }

  /** Overwrites a u32 written earlier. */
  patchU32(at: number, v: number): void {
    this.view.setUint32(at, v >>> 0, true);
  }

  /** The bytes written, as a new buffer of exactly that size. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

/** UTF-16LE bytes of a string (lone surrogates are kept as-is). */
export function utf16le(s: string): Uint8Array {
  const out = new Uint8Array(s.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < s.length; i++) view.setUint16(i * 2, s.charCodeAt(i), true);
  return out;
}

/** Decodes UTF-16LE; an odd length is a protocol error. */
export function fromUtf16le(b: Uint8Array, what: string, field: string): string {
  if (b.byteLength % 2 !== 0) malformed(ProtocolErrorCode.STRING, what, `${field} has an odd byte length ${b.byteLength}`);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let s = "";
  for (let i = 0; i < b.byteLength; i += 2) s += String.fromCharCode(view.getUint16(i, true));
  return s;
}
