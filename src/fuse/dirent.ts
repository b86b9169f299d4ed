/**
 * READDIR and READDIRPLUS reply bodies: streams of `fuse_dirent` (24-byte
 * header, name) or `fuse_direntplus` (`fuse_entry_out`, then a `fuse_dirent`),
 * each record padded with zeros to 8 bytes (`FUSE_REC_ALIGN`).
 *
 * The encoders fill up to the size the driver asked for and refuse the entry
 * that would not fit whole, so a device can stop reading the directory there
 * and resume at that entry's predecessor's `off`.
 */
import { HOST_IS_LITTLE_ENDIAN } from "../common/endian.js";
import { ProtocolError, ProtocolErrorCode } from "../common/errors.js";
import { FUSE_NAME_MAX, FUSE_NAME_OFFSET, FUSE_NAME_OFFSET_DIRENTPLUS, fuseRecAlign, Mode } from "./abi.js";
import { DirentHeader, EntryOut } from "./structs.js";
import { WireReader } from "./wire.js";

/** What the encoders take of a directory entry. */
export interface DirentFields {
  readonly ino: bigint;
  /** The cookie to pass as `fuse_read_in.offset` to continue after this entry. */
  readonly off: bigint;
  /** `DirentType` (DT_*). */
  readonly type: number;
  /** The name: raw bytes, 1–1024 of them, without NUL or `/`. */
  readonly name: Uint8Array;
}

/** One directory entry, as decoded. */
export interface Dirent extends DirentFields {
  ino: bigint;
  off: bigint;
  type: number;
  name: Buffer;
}

/** What the READDIRPLUS encoder takes of an entry: a lookup result plus the directory entry. */
export interface DirentplusFields {
  /** As a LOOKUP reply; the driver counts a lookup for it unless `nodeid` is 0. */
  readonly entry: EntryOut;
  readonly dirent: DirentFields;
}

/** One READDIRPLUS entry, as decoded. */
export interface Direntplus extends DirentplusFields {
  entry: EntryOut;
  dirent: Dirent;
}

/** `FUSE_DIRENT_SIZE`: bytes a `fuse_dirent` record with a name of `nameLen` bytes takes. */
export function direntSize(nameLen: number): number {
  return fuseRecAlign(FUSE_NAME_OFFSET + nameLen);
}

/** `FUSE_DIRENTPLUS_SIZE`: bytes a `fuse_direntplus` record with a name of `nameLen` bytes takes. */
export function direntplusSize(nameLen: number): number {
  return fuseRecAlign(FUSE_NAME_OFFSET_DIRENTPLUS + nameLen);
}

/** The dirent type (DT_*) of a file mode. */
export function direntType(mode: number): number {
  return (mode & Mode.S_IFMT) >>> 12;
}

const SLASH = 0x2f;

/** Refuses a name the Linux client would refuse in a dirent: empty, longer than 1024, with NUL or `/`. */
function checkDirentName(name: Uint8Array, what: string): void {
  // `length`: `byteLength` is a call V8 does not inline, per entry.
  const n = name.length;
  if (n === 0) throw new ProtocolError(ProtocolErrorCode.VALUE, `${what}: empty name`);
  if (n > FUSE_NAME_MAX) {
    throw new ProtocolError(ProtocolErrorCode.LIMIT, `${what}: name of ${n} bytes (max ${FUSE_NAME_MAX})`);
  }
  refuseNulOrSlash(name, what);
}

/** STRING for a name that holds NUL or '/' (a loop: a Buffer's `indexOf` is a call V8 does not inline). */
function refuseNulOrSlash(name: Uint8Array, what: string): void {
  for (let i = 0; i < name.length; i++) {
    const b = name[i]!;
    if (b === 0 || b === SLASH) throw new ProtocolError(ProtocolErrorCode.STRING, `${what}: name holds NUL or '/'`);
  }
}

/** `bytes`' memory as little-endian 64-bit words (see Struct.encodeAt), or null where the host is big-endian. */
function wordsOf(bytes: Uint8Array): BigUint64Array | null {
  return HOST_IS_LITTLE_ENDIAN ? new BigUint64Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 3) : null;
}

/**
 * The buffer an encoder starts with: the size our FUSE session asks for by
 * default (and glibc's readdir passes to getdents64), so that a full reply
 * is one allocation (growing from 4 KiB took four, 6% of the daemon's time
 * while the guest driver listed a 10,000-entry directory).
 */
const FIRST_BUFFER = 32 * 1024;

/**
 * Buffers of {@link FIRST_BUFFER} bytes, all zeros, that finished encoders
 * gave back ({@link RecordEncoder.recycle}). A new 32 KiB buffer per READDIR
 * was 8% of the daemon's time while the guest driver listed a large
 * directory.
 */
const spare: Uint8Array[] = [];
const NO_BYTES = new Uint8Array(0);
const SPARE_MAX = 4;

/** Accumulates records into a buffer that grows up to `maxSize`; each record is written in place. */
abstract class RecordEncoder<T> {
  private buf: Uint8Array;
  private view: DataView;
  /** `buf` as little-endian 64-bit words (records start 8-aligned), or null. */
  private words: BigUint64Array | null;
  private used = 0;
  private recycled = false;
  private entries = 0;

  /** @param maxSize the size the driver asked for (`fuse_read_in.size`); the stream never exceeds it. */
  constructor(readonly maxSize: number) {
    // A spare buffer may be larger than maxSize: reserve() keeps to maxSize.
    this.buf = spare.pop() ?? new Uint8Array(Math.min(maxSize, FIRST_BUFFER));
    this.view = new DataView(this.buf.buffer);
    this.words = wordsOf(this.buf);
  }

  protected abstract recordSize(item: T): number;
  /**
   * Writes `item`'s record at `at` of `buf` (zeros there; `view` and `words`
   * are over the same memory, padding left alone).
   */
  protected abstract write(buf: Uint8Array, view: DataView, words: BigUint64Array | null, at: number, item: T): void;

  /** Appends `item` if its whole record fits; false (and nothing added) otherwise. */
  add(item: T): boolean {
    const size = this.recordSize(item);
    const at = this.reserve(size);
    if (at < 0) return false;
    try {
      this.write(this.buf, this.view, this.words, at, item);
    } catch (error) {
      this.refuse(at, size);
      throw error;
    }
    this.commit(at + size);
    return true;
  }

  /**
   * Where a record of `size` bytes goes (zeros there, the buffer grown to hold
   * it), or -1 when it would take the stream past `maxSize`. Nothing counts
   * until {@link commit}.
   */
  protected reserve(size: number): number {
    const at = this.used;
    if (at + size > this.maxSize || this.recycled) return -1;
    if (at + size > this.buf.length) {
      let cap = this.buf.length * 2 || 4096;
      while (cap < at + size) cap *= 2;
      const grown = new Uint8Array(Math.min(cap, this.maxSize));
      grown.set(this.buf.subarray(0, at));
      this.buf = grown;
      this.view = new DataView(grown.buffer);
      this.words = wordsOf(grown);
    }
    return at;
  }

  /** The buffer a {@link reserve}d record is written into. */
  protected get bytes(): Uint8Array {
    return this.buf;
  }

  /** Takes the record reserved at the stream's end, which ends at `end`. */
  protected commit(end: number): void {
    this.used = end;
    this.entries++;
  }

  /** A refused value: the reserved room zeroed again for the next record's padding. */
  protected refuse(at: number, size: number): void {
    this.buf.fill(0, at, at + size);
  }

  /** Bytes used so far. */
  get size(): number {
    return this.used;
  }

  /** Entries added so far. */
  get count(): number {
    return this.entries;
  }

  /** The stream: a view of the bytes used. */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.used);
  }

  /**
   * Gives the buffer back for another encoder: the stream {@link finish}
   * returned must no longer be in use (a transport's `send` has copied or
   * written it). The encoder takes nothing afterwards.
   */
  recycle(): void {
    if (this.recycled) return;
    this.recycled = true;
    const buf = this.buf;
    this.buf = NO_BYTES;
    this.view = new DataView(NO_BYTES.buffer);
    this.words = null;
    if (buf.length !== FIRST_BUFFER || spare.length >= SPARE_MAX) return;
    buf.fill(0, 0, this.used);
    spare.push(buf);
  }
}

/** Builds a READDIR reply body. */
export class DirentEncoder extends RecordEncoder<DirentFields> {
  protected recordSize(d: DirentFields): number {
    checkDirentName(d.name, "dirent");
    return direntSize(d.name.length);
  }
  protected write(buf: Uint8Array, view: DataView, words: BigUint64Array | null, at: number, d: DirentFields): void {
    DirentHeader.encodeAt(view, at, { ino: d.ino, off: d.off, namelen: d.name.length, type: d.type }, words);
    buf.set(d.name, at + FUSE_NAME_OFFSET);
  }

  /**
   * {@link add} for an entry whose fields lie in `src` as they will on the
   * wire: `ino` and `off` as little-endian 64-bit words at `inoAt` and
   * `offAt`, the name's `nameLength` bytes at `nameAt`. Byte copies, no
   * BigInt and no object per entry: the loop a directory of thousands of
   * names goes through. Refuses what {@link add} refuses.
   */
  addFields(src: Uint8Array, inoAt: number, offAt: number, type: number, nameAt: number, nameLength: number): boolean {
    if (nameLength === 0 || nameLength > FUSE_NAME_MAX) checkDirentName(src.subarray(nameAt, nameAt + nameLength), "dirent");
    const size = direntSize(nameLength);
    const at = this.reserve(size);
    if (at < 0) return false;
    const buf = this.bytes;
    for (let i = 0; i < 8; i++) {
      buf[at + i] = src[inoAt + i]!;
      buf[at + 8 + i] = src[offAt + i]!;
    }
    buf[at + 16] = nameLength & 0xff;
    buf[at + 17] = nameLength >>> 8;
    buf[at + 20] = type & 0xff;
    buf[at + 21] = (type >>> 8) & 0xff;
    buf[at + 22] = (type >>> 16) & 0xff;
    buf[at + 23] = type >>> 24;
    const name = at + FUSE_NAME_OFFSET;
    for (let i = 0; i < nameLength; i++) {
      const b = src[nameAt + i]!;
      if (b === 0 || b === SLASH) {
        this.refuse(at, size);
        throw new ProtocolError(ProtocolErrorCode.STRING, "dirent: name holds NUL or '/'");
      }
      buf[name + i] = b;
    }
    this.commit(at + size);
    return true;
  }
}

/** Builds a READDIRPLUS reply body. */
export class DirentplusEncoder extends RecordEncoder<DirentplusFields> {
  protected recordSize(e: DirentplusFields): number {
    checkDirentName(e.dirent.name, "direntplus");
    return direntplusSize(e.dirent.name.length);
  }
  protected write(buf: Uint8Array, view: DataView, words: BigUint64Array | null, at: number, e: DirentplusFields): void {
    EntryOut.encodeAt(view, at, e.entry, words);
    const d = e.dirent;
    DirentHeader.encodeAt(view, at + EntryOut.SIZE, { ino: d.ino, off: d.off, namelen: d.name.length, type: d.type }, words);
    buf.set(d.name, at + FUSE_NAME_OFFSET_DIRENTPLUS);
  }
}

function readDirent(r: WireReader): Dirent {
  const h = DirentHeader.decode(r);
  if (h.namelen === 0 || h.namelen > FUSE_NAME_MAX) {
    throw new ProtocolError(
      h.namelen === 0 ? ProtocolErrorCode.VALUE : ProtocolErrorCode.LIMIT,
      `${r.what}: namelen ${h.namelen} outside 1..${FUSE_NAME_MAX}`,
    );
  }
  const padded = fuseRecAlign(FUSE_NAME_OFFSET + h.namelen) - FUSE_NAME_OFFSET;
  if (padded > r.remaining) {
    throw new ProtocolError(
      ProtocolErrorCode.LENGTH,
      `${r.what}: record of namelen ${h.namelen} needs ${padded} bytes, ${r.remaining} left`,
    );
  }
  const bytes = r.bytesView(h.namelen, "name");
  r.skip(padded - h.namelen);
  const name = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  refuseNulOrSlash(name, r.what);
  return { ino: h.ino, off: h.off, type: h.type, name };
}

/**
 * Decodes a READDIR reply body. Throws ProtocolError: SHORT (a record header
 * cut off), LENGTH (a name or its padding overruns the stream), VALUE/LIMIT
 * (namelen 0 or over 1024), STRING (NUL or `/` in a name).
 */
export function decodeDirents(bytes: Uint8Array): Dirent[] {
  const r = new WireReader(bytes, "READDIR stream");
  const out: Dirent[] = [];
  while (r.remaining > 0) out.push(readDirent(r));
  return out;
}

/** Decodes a READDIRPLUS reply body; errors as {@link decodeDirents}. */
export function decodeDirentplus(bytes: Uint8Array): Direntplus[] {
  const r = new WireReader(bytes, "READDIRPLUS stream");
  const out: Direntplus[] = [];
  while (r.remaining > 0) {
    const entry = EntryOut.decode(r);
    out.push({ entry, dirent: readDirent(r) });
  }
  return out;
}
