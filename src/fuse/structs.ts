/**
 * One TypeScript interface per C struct of `include/uapi/linux/fuse.h`, each
 * paired with a same-named {@link Struct} value holding its `SIZE` and its
 * `encode`/`decode`. Fields are camelCase; `u64`/`s64` fields are `bigint`,
 * smaller ones `number`. Padding, `dummy` and `unused` fields are not exposed:
 * they are written as zeros and ignored when read. Fields that later minors
 * gave a meaning (e.g. `fuse_attr.flags`, `fuse_open_out.backing_id`) are
 * exposed under that meaning.
 *
 * Each layout is a list of fields in C order; its size is checked against the
 * C size when the module loads, so a missing or extra field cannot go unnoticed.
 * The layout is the only description of a struct: {@link defineStruct} turns
 * it, once, into a straight-line reader and writer with fixed offsets (nested
 * structs inlined), so encoding or decoding a struct walks no field list and
 * builds each value as one object literal.
 */
import { ProtocolError, ProtocolErrorCode } from "../common/errors.js";
import { loadI64, loadU64, valueError, WireReader, WireWriter } from "./wire.js";

type NumberKind = "u8" | "u16" | "u32" | "i32";
type BigKind = "u64" | "i64";
type KindOf<V> = V extends bigint ? BigKind : V extends number ? NumberKind : Struct<V>;

/** One entry of a layout: `[field, kind]`, or a number of padding bytes. */
export type FieldSpec<T> = { [K in keyof T]-?: readonly [K & string, KindOf<T[K]>] }[keyof T] | number;

/** A C struct's layout and codec. */
export interface Struct<T> {
  /** The C name, e.g. `fuse_attr`. */
  readonly NAME: string;
  /** `sizeof` the C struct. */
  readonly SIZE: number;
  /** Reads `SIZE` bytes. */
  decode(r: WireReader): T;
  /**
   * Reads the struct at `at` of `bytes`, without a reader; SHORT (labelled
   * `what`) when fewer than `SIZE` bytes are there.
   */
  decodeAt(bytes: Uint8Array, at: number, what?: string): T;
  /** Writes `SIZE` bytes. */
  encode(w: WireWriter, v: T): void;
  /**
   * Writes `v` at `at` of `target`, without a writer: the `SIZE` bytes there
   * must be zero (padding is not written). A RangeError when they lie outside
   * `target`; VALUE as {@link encode}. `words`, when given, is `target`'s
   * memory as little-endian 64-bit words (word `i` is its bytes `8i..8i+7`):
   * u64 fields that fall 8-aligned in it are stored through it (a
   * `BigUint64Array` element store costs a sixth of `setBigUint64`).
   */
  encodeAt(target: DataView, at: number, v: T, words?: BigUint64Array | null): void;
  /**
   * Reads the first `size` bytes of the struct (a compat size of an older
   * minor); the fields past them read as zero.
   */
  decodePrefix(r: WireReader, size: number): T;
  /** Writes the first `size` bytes of the struct (a compat size). */
  encodePrefix(w: WireWriter, v: T, size: number): void;
  /** `SIZE` (or `size`) bytes for `v`. */
  toBytes(v: T, size?: number): Uint8Array;
  /** Decodes exactly `bytes`, which must be `SIZE` (or `size`) long; SHORT or LONG otherwise. */
  fromBytes(bytes: Uint8Array, size?: number): T;
  /** A value with every field zero. */
  zero(): T;
}

const scalarSize: Record<NumberKind | BigKind, number> = { u8: 1, u16: 2, u32: 4, i32: 4, u64: 8, i64: 8 };

type AnyField = number | readonly [string, NumberKind | BigKind | Struct<unknown>];

/** The layout of every struct {@link defineStruct} made, for inlining it into the structs that contain it. */
const layouts = new WeakMap<Struct<unknown>, { name: string; fields: readonly AnyField[] }>();

function fieldSize(f: AnyField): number {
  if (typeof f === "number") return f;
  const kind = f[1];
  return typeof kind === "string" ? scalarSize[kind] : kind.SIZE;
}

// ---------------------------------------------------------------------------
// Compiling a layout

/** Reads a struct at `at` of `b`; the caller has checked that `SIZE` bytes are there. */
type ReadFn<T> = (b: Uint8Array, at: number) => T;
/**
 * Checks every field of `v` (VALUE) and writes it at `at` of `d`, whose
 * `SIZE` bytes there are zero. `q`, when given, is `d`'s memory as
 * little-endian 64-bit words: 8-aligned u64 fields are stored through it.
 */
type WriteFn<T> = (d: DataView, at: number, v: T, q: BigUint64Array | null) => void;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Little-endian loads of each scalar kind at byte `o` of `b`, as JavaScript source. */
function loadSource(kind: NumberKind | BigKind, o: string): string {
  const byte = (i: number): string => `b[${o} + ${i}]`;
  const word = `${byte(0)} | (${byte(1)} << 8) | (${byte(2)} << 16) | (${byte(3)} << 24)`;
  switch (kind) {
    case "u8":
      return byte(0);
    case "u16":
      return `(${byte(0)} | (${byte(1)} << 8))`;
    case "u32":
      return `((${word}) >>> 0)`;
    case "i32":
      return `(${word})`;
    case "u64":
      return `loadU64(b, ${o})`;
    case "i64":
      return `loadI64(b, ${o})`;
  }
}

/** The range check of each scalar kind (true when `x` does not fit), as in {@link WireWriter}. */
const misfitSource: Record<NumberKind | BigKind, string> = {
  u8: "(x & 0xff) !== x",
  u16: "(x & 0xffff) !== x",
  u32: "x >>> 0 !== x",
  i32: "(x | 0) !== x",
  u64: "BigInt.asUintN(64, x) !== x",
  i64: "BigInt.asIntN(64, x) !== x",
};

const storeName: Record<NumberKind | BigKind, string> = {
  u8: "setUint8",
  u16: "setUint16",
  u32: "setUint32",
  i32: "setInt32",
  u64: "setBigUint64",
  i64: "setBigInt64",
};

/**
 * Generates the reader and writer of a layout. The source is built from the
 * field table alone (names checked to be identifiers); error labels such as
 * `fuse_attr.ino` are made once, here, and used only when a value is refused.
 */
function compile<T>(name: string, fields: readonly AnyField[]): { read: ReadFn<T>; write: WriteFn<T> } {
  const labels: string[] = [];
  const kinds: string[] = [];
  const writes: string[] = [];
  let locals = 0;

  const objectSource = (structName: string, list: readonly AnyField[], base: number, value: string): string => {
    const parts: string[] = [];
    let off = base;
    for (const f of list) {
      if (typeof f === "number") {
        off += f;
        continue;
      }
      const [key, kind] = f;
      if (!IDENTIFIER.test(key) || key === "__proto__") throw new Error(`struct ${structName}: bad field name ${key}`);
      if (typeof kind === "string") {
        parts.push(`${key}: ${loadSource(kind, `at + ${off}`)}`);
        const i = labels.length;
        labels.push(`${structName}.${key}`);
        kinds.push(kind);
        const little = kind === "u8" ? "" : ", true";
        const store = `d.${storeName[kind]}(at + ${off}, x${little});`;
        // A u64 at an 8-aligned offset of the struct is 8-aligned in memory when the struct is.
        const word = kind === "u64" && off % 8 === 0 ? `if (w) q[(at + ${off}) / 8] = x; else ` : "";
        writes.push(`x = ${value}.${key};`, `if (${misfitSource[kind]}) throw bad(${i}, x);`, `${word}${store}`);
        off += scalarSize[kind];
      } else {
        const inner = layouts.get(kind);
        if (inner === undefined) throw new Error(`struct ${structName}: field ${key} is not a defineStruct struct`);
        const local = `v${++locals}`;
        writes.push(`const ${local} = ${value}.${key};`);
        parts.push(`${key}: ${objectSource(inner.name, inner.fields, off, local)}`);
        off += kind.SIZE;
      }
    }
    return `{ ${parts.join(", ")} }`;
  };

  if (!IDENTIFIER.test(name)) throw new Error(`struct ${name}: the C name is not an identifier`);
  const literal = objectSource(name, fields, 0, "v");
  // Named, with a source URL, so profiles and stack traces say which struct.
  const fn = (verb: string, args: string, body: string): string =>
    `return function ${verb}_${name}(${args}) {\n  ${body}\n};\n//# sourceURL=fuse-struct:${name}.${verb}`;
  const bad = (i: number, x: number | bigint): Error => valueError(labels[i]!, x, kinds[i]!);
  // The only place a function is made from source: the field table is this module's, checked above.
  const makeRead = new Function("loadU64", "loadI64", fn("read", "b, at", `return ${literal};`)) as (
    u64: typeof loadU64,
    i64: typeof loadI64,
  ) => ReadFn<T>;
  const makeWrite = new Function("bad", fn("write", "d, at, v, q", ["let x;", "const w = q !== null && at % 8 === 0;", ...writes].join("\n  "))) as (
    failure: typeof bad,
  ) => WriteFn<T>;
  return { read: makeRead(loadU64, loadI64), write: makeWrite(bad) };
}

/** Builds a {@link Struct} from its C name, C size and fields in C order. */
export function defineStruct<T>(name: string, size: number, fields: readonly FieldSpec<T>[]): Struct<T> {
  const list = fields as readonly AnyField[];
  const total = list.reduce<number>((sum, f) => sum + fieldSize(f), 0);
  if (total !== size) throw new Error(`struct ${name}: fields add up to ${total} bytes, not ${size}`);
  const seen = new Set<string>();
  for (const f of list) {
    if (typeof f === "number") continue;
    if (seen.has(f[0])) throw new Error(`struct ${name}: field ${f[0]} twice`);
    seen.add(f[0]);
  }
  const { read, write } = compile<T>(name, list);

  const decode = (r: WireReader): T => read(r.bytes, r.take(size, name));
  const encode = (w: WireWriter, v: T): void => write(w.target, w.take(size), v, w.words);

  const zeroBytes = new Uint8Array(size);
  const struct: Struct<T> = {
    NAME: name,
    SIZE: size,
    decode,
    decodeAt(bytes, at, what = name) {
      if (at >>> 0 !== at) throw new RangeError(`${name}: offset ${at}`);
      const left = bytes.length - at;
      if (size > left) {
        throw new ProtocolError(ProtocolErrorCode.SHORT, `${what}: ${name} needs ${size} bytes at offset ${at}, ${left} left`);
      }
      return read(bytes, at);
    },
    encode,
    encodeAt(target, at, v, words = null) {
      if (at >>> 0 !== at || size > target.byteLength - at) {
        throw new RangeError(`${name}: ${size} bytes at ${at} outside ${target.byteLength}`);
      }
      write(target, at, v, words);
    },
    decodePrefix(r, prefix) {
      if (prefix === size) return decode(r);
      const part = r.bytesView(prefix, name);
      const full = new Uint8Array(size);
      full.set(part);
      return read(full, 0);
    },
    encodePrefix(w, v, prefix) {
      if (prefix === size) return encode(w, v);
      const full = new WireWriter(size);
      encode(full, v);
      w.bytesIn(full.finish().subarray(0, prefix));
    },
    toBytes(v, prefix = size) {
      const w = new WireWriter(prefix);
      struct.encodePrefix(w, v, prefix);
      return w.finish();
    },
    fromBytes(bytes, prefix = size) {
      const r = new WireReader(bytes, name);
      const v = struct.decodePrefix(r, prefix);
      r.end();
      return v;
    },
    zero() {
      return read(zeroBytes, 0);
    },
  };
  layouts.set(struct as Struct<unknown>, { name, fields: list });
  return struct;
}

// ---------------------------------------------------------------------------
// Headers

/** `struct fuse_in_header` (40 bytes): the start of every request. */
export interface InHeader {
  /** Total length of the request, this header included. */
  len: number;
  opcode: number;
  unique: bigint;
  nodeid: bigint;
  uid: number;
  gid: number;
  pid: number;
  /** Length of the trailing extensions, in 8-byte units (7.38). */
  totalExtlen: number;
}
export const InHeader = defineStruct<InHeader>("fuse_in_header", 40, [
  ["len", "u32"],
  ["opcode", "u32"],
  ["unique", "u64"],
  ["nodeid", "u64"],
  ["uid", "u32"],
  ["gid", "u32"],
  ["pid", "u32"],
  ["totalExtlen", "u16"],
  2,
]);

/** `struct fuse_out_header` (16 bytes): the start of every reply and notification. */
export interface OutHeader {
  /** Total length of the reply, this header included. */
  len: number;
  /** 0 or a negated errno in (-512, 0); the notify code when `unique` is 0. */
  error: number;
  unique: bigint;
}
export const OutHeader = defineStruct<OutHeader>("fuse_out_header", 16, [
  ["len", "u32"],
  ["error", "i32"],
  ["unique", "u64"],
]);

// ---------------------------------------------------------------------------
// Attributes

/** `struct fuse_attr` (88 bytes). */
export interface Attr {
  ino: bigint;
  size: bigint;
  blocks: bigint;
  atime: bigint;
  mtime: bigint;
  ctime: bigint;
  atimensec: number;
  mtimensec: number;
  ctimensec: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  /** 7.9 */
  blksize: number;
  /** `AttrFlag` bits (7.32; padding before). */
  flags: number;
}
export const Attr = defineStruct<Attr>("fuse_attr", 88, [
  ["ino", "u64"],
  ["size", "u64"],
  ["blocks", "u64"],
  ["atime", "u64"],
  ["mtime", "u64"],
  ["ctime", "u64"],
  ["atimensec", "u32"],
  ["mtimensec", "u32"],
  ["ctimensec", "u32"],
  ["mode", "u32"],
  ["nlink", "u32"],
  ["uid", "u32"],
  ["gid", "u32"],
  ["rdev", "u32"],
  ["blksize", "u32"],
  ["flags", "u32"],
]);

/** `struct fuse_sx_time` (16 bytes), as in statx(2). */
export interface SxTime {
  tvSec: bigint;
  tvNsec: number;
}
export const SxTime = defineStruct<SxTime>("fuse_sx_time", 16, [["tvSec", "i64"], ["tvNsec", "u32"], 4]);

/** `struct fuse_statx` (256 bytes), bit-for-bit statx(2)'s `struct statx`. */
export interface Statx {
  mask: number;
  blksize: number;
  attributes: bigint;
  nlink: number;
  uid: number;
  gid: number;
  mode: number;
  ino: bigint;
  size: bigint;
  blocks: bigint;
  attributesMask: bigint;
  atime: SxTime;
  btime: SxTime;
  ctime: SxTime;
  mtime: SxTime;
  rdevMajor: number;
  rdevMinor: number;
  devMajor: number;
  devMinor: number;
}
export const Statx = defineStruct<Statx>("fuse_statx", 256, [
  ["mask", "u32"],
  ["blksize", "u32"],
  ["attributes", "u64"],
  ["nlink", "u32"],
  ["uid", "u32"],
  ["gid", "u32"],
  ["mode", "u16"],
  2,
  ["ino", "u64"],
  ["size", "u64"],
  ["blocks", "u64"],
  ["attributesMask", "u64"],
  ["atime", SxTime],
  ["btime", SxTime],
  ["ctime", SxTime],
  ["mtime", SxTime],
  ["rdevMajor", "u32"],
  ["rdevMinor", "u32"],
  ["devMajor", "u32"],
  ["devMinor", "u32"],
  112,
]);

/** `struct fuse_kstatfs` (80 bytes). */
export interface Kstatfs {
  blocks: bigint;
  bfree: bigint;
  bavail: bigint;
  files: bigint;
  ffree: bigint;
  bsize: number;
  namelen: number;
  /** 7.4 */
  frsize: number;
}
export const Kstatfs = defineStruct<Kstatfs>("fuse_kstatfs", 80, [
  ["blocks", "u64"],
  ["bfree", "u64"],
  ["bavail", "u64"],
  ["files", "u64"],
  ["ffree", "u64"],
  ["bsize", "u32"],
  ["namelen", "u32"],
  ["frsize", "u32"],
  4,
  24,
]);

/** `struct fuse_file_lock` (24 bytes). */
export interface FileLock {
  start: bigint;
  end: bigint;
  /** `LockType`. */
  type: number;
  /** The owner's thread-group id. */
  pid: number;
}
export const FileLock = defineStruct<FileLock>("fuse_file_lock", 24, [
  ["start", "u64"],
  ["end", "u64"],
  ["type", "u32"],
  ["pid", "u32"],
]);

// ---------------------------------------------------------------------------
// Entries and attributes out

/** `struct fuse_entry_out` (128 bytes; 120 before 7.9). */
export interface EntryOut {
  /** 0 means a negative entry (cached absence). */
  nodeid: bigint;
  generation: bigint;
  entryValid: bigint;
  attrValid: bigint;
  entryValidNsec: number;
  attrValidNsec: number;
  attr: Attr;
}
export const EntryOut = defineStruct<EntryOut>("fuse_entry_out", 128, [
  ["nodeid", "u64"],
  ["generation", "u64"],
  ["entryValid", "u64"],
  ["attrValid", "u64"],
  ["entryValidNsec", "u32"],
  ["attrValidNsec", "u32"],
  ["attr", Attr],
]);

/** `struct fuse_forget_in` (8 bytes). */
export interface ForgetIn {
  nlookup: bigint;
}
export const ForgetIn = defineStruct<ForgetIn>("fuse_forget_in", 8, [["nlookup", "u64"]]);

/** `struct fuse_forget_one` (16 bytes). */
export interface ForgetOne {
  nodeid: bigint;
  nlookup: bigint;
}
export const ForgetOne = defineStruct<ForgetOne>("fuse_forget_one", 16, [
  ["nodeid", "u64"],
  ["nlookup", "u64"],
]);

/** `struct fuse_batch_forget_in` (8 bytes), followed by `count` {@link ForgetOne}. */
export interface BatchForgetIn {
  count: number;
}
export const BatchForgetIn = defineStruct<BatchForgetIn>("fuse_batch_forget_in", 8, [["count", "u32"], 4]);

/** `struct fuse_getattr_in` (16 bytes; absent before 7.9). */
export interface GetattrIn {
  /** `FUSE_GETATTR_FH`. */
  getattrFlags: number;
  fh: bigint;
}
export const GetattrIn = defineStruct<GetattrIn>("fuse_getattr_in", 16, [["getattrFlags", "u32"], 4, ["fh", "u64"]]);

/** `struct fuse_attr_out` (104 bytes; 96 before 7.9). */
export interface AttrOut {
  attrValid: bigint;
  attrValidNsec: number;
  attr: Attr;
}
export const AttrOut = defineStruct<AttrOut>("fuse_attr_out", 104, [
  ["attrValid", "u64"],
  ["attrValidNsec", "u32"],
  4,
  ["attr", Attr],
]);

/** `struct fuse_statx_in` (24 bytes). */
export interface StatxIn {
  /** `FUSE_GETATTR_FH`. */
  getattrFlags: number;
  fh: bigint;
  /** `StatxSync` (AT_STATX_*) flags. */
  sxFlags: number;
  /** `StatxMask` bits wanted. */
  sxMask: number;
}
export const StatxIn = defineStruct<StatxIn>("fuse_statx_in", 24, [
  ["getattrFlags", "u32"],
  4,
  ["fh", "u64"],
  ["sxFlags", "u32"],
  ["sxMask", "u32"],
]);

/** `struct fuse_statx_out` (288 bytes). */
export interface StatxOut {
  attrValid: bigint;
  attrValidNsec: number;
  flags: number;
  stat: Statx;
}
export const StatxOut = defineStruct<StatxOut>("fuse_statx_out", 288, [
  ["attrValid", "u64"],
  ["attrValidNsec", "u32"],
  ["flags", "u32"],
  16,
  ["stat", Statx],
]);

// ---------------------------------------------------------------------------
// Creating, renaming, linking

/** `struct fuse_mknod_in` (16 bytes; 8 before 7.12). */
export interface MknodIn {
  mode: number;
  rdev: number;
  /** 7.12 */
  umask: number;
}
export const MknodIn = defineStruct<MknodIn>("fuse_mknod_in", 16, [
  ["mode", "u32"],
  ["rdev", "u32"],
  ["umask", "u32"],
  4,
]);

/** `struct fuse_mkdir_in` (8 bytes). */
export interface MkdirIn {
  mode: number;
  umask: number;
}
export const MkdirIn = defineStruct<MkdirIn>("fuse_mkdir_in", 8, [
  ["mode", "u32"],
  ["umask", "u32"],
]);

/** `struct fuse_rename_in` (8 bytes). */
export interface RenameIn {
  newdir: bigint;
}
export const RenameIn = defineStruct<RenameIn>("fuse_rename_in", 8, [["newdir", "u64"]]);

/** `struct fuse_rename2_in` (16 bytes). */
export interface Rename2In {
  newdir: bigint;
  /** `RenameFlag` bits. */
  flags: number;
}
export const Rename2In = defineStruct<Rename2In>("fuse_rename2_in", 16, [["newdir", "u64"], ["flags", "u32"], 4]);

/** `struct fuse_link_in` (8 bytes). */
export interface LinkIn {
  oldnodeid: bigint;
}
export const LinkIn = defineStruct<LinkIn>("fuse_link_in", 8, [["oldnodeid", "u64"]]);

/** `struct fuse_setattr_in` (88 bytes). */
export interface SetattrIn {
  /** `FAttr` bits: which of the fields below to apply. */
  valid: number;
  fh: bigint;
  size: bigint;
  lockOwner: bigint;
  atime: bigint;
  mtime: bigint;
  ctime: bigint;
  atimensec: number;
  mtimensec: number;
  ctimensec: number;
  mode: number;
  uid: number;
  gid: number;
}
export const SetattrIn = defineStruct<SetattrIn>("fuse_setattr_in", 88, [
  ["valid", "u32"],
  4,
  ["fh", "u64"],
  ["size", "u64"],
  ["lockOwner", "u64"],
  ["atime", "u64"],
  ["mtime", "u64"],
  ["ctime", "u64"],
  ["atimensec", "u32"],
  ["mtimensec", "u32"],
  ["ctimensec", "u32"],
  ["mode", "u32"],
  4,
  ["uid", "u32"],
  ["gid", "u32"],
  4,
]);

// ---------------------------------------------------------------------------
// Open files

/** `struct fuse_open_in` (8 bytes). */
export interface OpenIn {
  /** open(2) flags (`OpenFlag`). */
  flags: number;
  /** `FUSE_OPEN_KILL_SUIDGID`. */
  openFlags: number;
}
export const OpenIn = defineStruct<OpenIn>("fuse_open_in", 8, [
  ["flags", "u32"],
  ["openFlags", "u32"],
]);

/** `struct fuse_create_in` (16 bytes; 8 before 7.12). Also TMPFILE's argument. */
export interface CreateIn {
  flags: number;
  mode: number;
  umask: number;
  openFlags: number;
}
export const CreateIn = defineStruct<CreateIn>("fuse_create_in", 16, [
  ["flags", "u32"],
  ["mode", "u32"],
  ["umask", "u32"],
  ["openFlags", "u32"],
]);

/** `struct fuse_open_out` (16 bytes). */
export interface OpenOut {
  fh: bigint;
  /** `FOpen` bits. */
  openFlags: number;
  /** 7.40 passthrough backing id; 0 otherwise. */
  backingId: number;
}
export const OpenOut = defineStruct<OpenOut>("fuse_open_out", 16, [
  ["fh", "u64"],
  ["openFlags", "u32"],
  ["backingId", "i32"],
]);

/** `struct fuse_release_in` (24 bytes). RELEASE and RELEASEDIR. */
export interface ReleaseIn {
  fh: bigint;
  flags: number;
  /** `ReleaseFlag` bits. */
  releaseFlags: number;
  lockOwner: bigint;
}
export const ReleaseIn = defineStruct<ReleaseIn>("fuse_release_in", 24, [
  ["fh", "u64"],
  ["flags", "u32"],
  ["releaseFlags", "u32"],
  ["lockOwner", "u64"],
]);

/** `struct fuse_flush_in` (24 bytes). */
export interface FlushIn {
  fh: bigint;
  lockOwner: bigint;
}
export const FlushIn = defineStruct<FlushIn>("fuse_flush_in", 24, [["fh", "u64"], 8, ["lockOwner", "u64"]]);

/** `struct fuse_read_in` (40 bytes). READ, READDIR and READDIRPLUS. */
export interface ReadIn {
  fh: bigint;
  offset: bigint;
  size: number;
  /** `FUSE_READ_LOCKOWNER`. */
  readFlags: number;
  lockOwner: bigint;
  flags: number;
}
export const ReadIn = defineStruct<ReadIn>("fuse_read_in", 40, [
  ["fh", "u64"],
  ["offset", "u64"],
  ["size", "u32"],
  ["readFlags", "u32"],
  ["lockOwner", "u64"],
  ["flags", "u32"],
  4,
]);

/** `struct fuse_write_in` (40 bytes; 24 before 7.9). `size` bytes of data follow. */
export interface WriteIn {
  fh: bigint;
  offset: bigint;
  size: number;
  /** `WriteFlag` bits. */
  writeFlags: number;
  lockOwner: bigint;
  flags: number;
}
export const WriteIn = defineStruct<WriteIn>("fuse_write_in", 40, [
  ["fh", "u64"],
  ["offset", "u64"],
  ["size", "u32"],
  ["writeFlags", "u32"],
  ["lockOwner", "u64"],
  ["flags", "u32"],
  4,
]);

/** `struct fuse_write_out` (8 bytes). WRITE and COPY_FILE_RANGE. */
export interface WriteOut {
  size: number;
}
export const WriteOut = defineStruct<WriteOut>("fuse_write_out", 8, [["size", "u32"], 4]);

/** `struct fuse_statfs_out` (80 bytes; 48 before 7.4). */
export interface StatfsOut {
  st: Kstatfs;
}
export const StatfsOut = defineStruct<StatfsOut>("fuse_statfs_out", 80, [["st", Kstatfs]]);

/** `struct fuse_fsync_in` (16 bytes). FSYNC and FSYNCDIR. */
export interface FsyncIn {
  fh: bigint;
  /** `FUSE_FSYNC_FDATASYNC`. */
  fsyncFlags: number;
}
export const FsyncIn = defineStruct<FsyncIn>("fuse_fsync_in", 16, [["fh", "u64"], ["fsyncFlags", "u32"], 4]);

// ---------------------------------------------------------------------------
// Extended attributes

/** `struct fuse_setxattr_in` (16 bytes with SETXATTR_EXT; 8 otherwise). Name and `size` value bytes follow. */
export interface SetxattrIn {
  size: number;
  /** `XattrFlag` bits. */
  flags: number;
  /** `FUSE_SETXATTR_ACL_KILL_SGID` (extended form only). */
  setxattrFlags: number;
}
export const SetxattrIn = defineStruct<SetxattrIn>("fuse_setxattr_in", 16, [
  ["size", "u32"],
  ["flags", "u32"],
  ["setxattrFlags", "u32"],
  4,
]);

/** `struct fuse_getxattr_in` (8 bytes). GETXATTR and LISTXATTR. */
export interface GetxattrIn {
  /** Buffer size; 0 asks for the size only. */
  size: number;
}
export const GetxattrIn = defineStruct<GetxattrIn>("fuse_getxattr_in", 8, [["size", "u32"], 4]);

/** `struct fuse_getxattr_out` (8 bytes): the reply to a size-0 GETXATTR/LISTXATTR. */
export interface GetxattrOut {
  size: number;
}
export const GetxattrOut = defineStruct<GetxattrOut>("fuse_getxattr_out", 8, [["size", "u32"], 4]);

// ---------------------------------------------------------------------------
// Locks, access, init, misc

/** `struct fuse_lk_in` (48 bytes). GETLK, SETLK, SETLKW. */
export interface LkIn {
  fh: bigint;
  owner: bigint;
  lk: FileLock;
  /** `FUSE_LK_FLOCK`. */
  lkFlags: number;
}
export const LkIn = defineStruct<LkIn>("fuse_lk_in", 48, [
  ["fh", "u64"],
  ["owner", "u64"],
  ["lk", FileLock],
  ["lkFlags", "u32"],
  4,
]);

/** `struct fuse_lk_out` (24 bytes). */
export interface LkOut {
  lk: FileLock;
}
export const LkOut = defineStruct<LkOut>("fuse_lk_out", 24, [["lk", FileLock]]);

/** `struct fuse_access_in` (8 bytes). */
export interface AccessIn {
  /** `AccessMask` bits. */
  mask: number;
}
export const AccessIn = defineStruct<AccessIn>("fuse_access_in", 8, [["mask", "u32"], 4]);

/** `struct fuse_init_in` (64 bytes; 16 before 7.36). */
export interface InitIn {
  major: number;
  minor: number;
  maxReadahead: number;
  /** Low 32 INIT flag bits. */
  flags: number;
  /** High 32 INIT flag bits (7.36; valid only with INIT_EXT in `flags`). */
  flags2: number;
}
export const InitIn = defineStruct<InitIn>("fuse_init_in", 64, [
  ["major", "u32"],
  ["minor", "u32"],
  ["maxReadahead", "u32"],
  ["flags", "u32"],
  ["flags2", "u32"],
  44,
]);

/** `struct fuse_init_out` (64 bytes; 24 before 7.23; 8 before 7.5). */
export interface InitOut {
  major: number;
  minor: number;
  maxReadahead: number;
  flags: number;
  maxBackground: number;
  congestionThreshold: number;
  maxWrite: number;
  /** 7.23 */
  timeGran: number;
  /** 7.28 */
  maxPages: number;
  /** 7.31 */
  mapAlignment: number;
  /** 7.36 */
  flags2: number;
  /** 7.40 */
  maxStackDepth: number;
  /** 7.43 */
  requestTimeout: number;
}
export const InitOut = defineStruct<InitOut>("fuse_init_out", 64, [
  ["major", "u32"],
  ["minor", "u32"],
  ["maxReadahead", "u32"],
  ["flags", "u32"],
  ["maxBackground", "u16"],
  ["congestionThreshold", "u16"],
  ["maxWrite", "u32"],
  ["timeGran", "u32"],
  ["maxPages", "u16"],
  ["mapAlignment", "u16"],
  ["flags2", "u32"],
  ["maxStackDepth", "u32"],
  ["requestTimeout", "u16"],
  22,
]);

/** `struct fuse_interrupt_in` (8 bytes). */
export interface InterruptIn {
  /** The `unique` of the request to interrupt. */
  unique: bigint;
}
export const InterruptIn = defineStruct<InterruptIn>("fuse_interrupt_in", 8, [["unique", "u64"]]);

/** `struct fuse_bmap_in` (16 bytes). */
export interface BmapIn {
  block: bigint;
  blocksize: number;
}
export const BmapIn = defineStruct<BmapIn>("fuse_bmap_in", 16, [["block", "u64"], ["blocksize", "u32"], 4]);

/** `struct fuse_bmap_out` (8 bytes). */
export interface BmapOut {
  block: bigint;
}
export const BmapOut = defineStruct<BmapOut>("fuse_bmap_out", 8, [["block", "u64"]]);

/** `struct fuse_ioctl_in` (32 bytes). `in_size` bytes of input follow. */
export interface IoctlIn {
  fh: bigint;
  /** `IoctlFlag` bits. */
  flags: number;
  cmd: number;
  arg: bigint;
  inSize: number;
  outSize: number;
}
export const IoctlIn = defineStruct<IoctlIn>("fuse_ioctl_in", 32, [
  ["fh", "u64"],
  ["flags", "u32"],
  ["cmd", "u32"],
  ["arg", "u64"],
  ["inSize", "u32"],
  ["outSize", "u32"],
]);

/** `struct fuse_ioctl_iovec` (16 bytes). */
export interface IoctlIovec {
  base: bigint;
  len: bigint;
}
export const IoctlIovec = defineStruct<IoctlIovec>("fuse_ioctl_iovec", 16, [
  ["base", "u64"],
  ["len", "u64"],
]);

/** `struct fuse_ioctl_out` (16 bytes). Output data (or iovecs on RETRY) follow. */
export interface IoctlOut {
  result: number;
  /** `IoctlFlag` bits. */
  flags: number;
  inIovs: number;
  outIovs: number;
}
export const IoctlOut = defineStruct<IoctlOut>("fuse_ioctl_out", 16, [
  ["result", "i32"],
  ["flags", "u32"],
  ["inIovs", "u32"],
  ["outIovs", "u32"],
]);

/** `struct fuse_poll_in` (24 bytes). */
export interface PollIn {
  fh: bigint;
  kh: bigint;
  /** `FUSE_POLL_SCHEDULE_NOTIFY`. */
  flags: number;
  events: number;
}
export const PollIn = defineStruct<PollIn>("fuse_poll_in", 24, [
  ["fh", "u64"],
  ["kh", "u64"],
  ["flags", "u32"],
  ["events", "u32"],
]);

/** `struct fuse_poll_out` (8 bytes). */
export interface PollOut {
  revents: number;
}
export const PollOut = defineStruct<PollOut>("fuse_poll_out", 8, [["revents", "u32"], 4]);

/** `struct fuse_fallocate_in` (32 bytes). */
export interface FallocateIn {
  fh: bigint;
  offset: bigint;
  length: bigint;
  /** `Falloc` bits. */
  mode: number;
}
export const FallocateIn = defineStruct<FallocateIn>("fuse_fallocate_in", 32, [
  ["fh", "u64"],
  ["offset", "u64"],
  ["length", "u64"],
  ["mode", "u32"],
  4,
]);

/** `struct fuse_lseek_in` (24 bytes). */
export interface LseekIn {
  fh: bigint;
  offset: bigint;
  /** `Whence`. */
  whence: number;
}
export const LseekIn = defineStruct<LseekIn>("fuse_lseek_in", 24, [
  ["fh", "u64"],
  ["offset", "u64"],
  ["whence", "u32"],
  4,
]);

/** `struct fuse_lseek_out` (8 bytes). */
export interface LseekOut {
  offset: bigint;
}
export const LseekOut = defineStruct<LseekOut>("fuse_lseek_out", 8, [["offset", "u64"]]);

/** `struct fuse_copy_file_range_in` (56 bytes). Replied with {@link WriteOut}. */
export interface CopyFileRangeIn {
  fhIn: bigint;
  offIn: bigint;
  nodeidOut: bigint;
  fhOut: bigint;
  offOut: bigint;
  len: bigint;
  flags: bigint;
}
export const CopyFileRangeIn = defineStruct<CopyFileRangeIn>("fuse_copy_file_range_in", 56, [
  ["fhIn", "u64"],
  ["offIn", "u64"],
  ["nodeidOut", "u64"],
  ["fhOut", "u64"],
  ["offOut", "u64"],
  ["len", "u64"],
  ["flags", "u64"],
]);

/** `struct fuse_setupmapping_in` (40 bytes). */
export interface SetupmappingIn {
  /** An already open handle. */
  fh: bigint;
  /** Offset into the file. */
  foffset: bigint;
  len: bigint;
  /** `SetupMappingFlag` bits. */
  flags: bigint;
  /** Offset into the DAX window. */
  moffset: bigint;
}
export const SetupmappingIn = defineStruct<SetupmappingIn>("fuse_setupmapping_in", 40, [
  ["fh", "u64"],
  ["foffset", "u64"],
  ["len", "u64"],
  ["flags", "u64"],
  ["moffset", "u64"],
]);

/** `struct fuse_removemapping_in` (4 bytes), followed by `count` {@link RemovemappingOne}. */
export interface RemovemappingIn {
  count: number;
}
export const RemovemappingIn = defineStruct<RemovemappingIn>("fuse_removemapping_in", 4, [["count", "u32"]]);

/** `struct fuse_removemapping_one` (16 bytes). */
export interface RemovemappingOne {
  moffset: bigint;
  len: bigint;
}
export const RemovemappingOne = defineStruct<RemovemappingOne>("fuse_removemapping_one", 16, [
  ["moffset", "u64"],
  ["len", "u64"],
]);

/** `struct fuse_syncfs_in` (8 bytes of padding). */
export type SyncfsIn = Record<string, never>;
export const SyncfsIn = defineStruct<SyncfsIn>("fuse_syncfs_in", 8, [8]);

// ---------------------------------------------------------------------------
// Directory entries

/** `struct fuse_dirent` without its name (24 bytes = `FUSE_NAME_OFFSET`). */
export interface DirentHeader {
  ino: bigint;
  /** The offset to resume reading after this entry. */
  off: bigint;
  namelen: number;
  /** `DirentType`. */
  type: number;
}
export const DirentHeader = defineStruct<DirentHeader>("fuse_dirent", 24, [
  ["ino", "u64"],
  ["off", "u64"],
  ["namelen", "u32"],
  ["type", "u32"],
]);

// ---------------------------------------------------------------------------
// Notifications (device to driver, `unique` 0) and NOTIFY_REPLY

/** `struct fuse_notify_poll_wakeup_out` (8 bytes). */
export interface NotifyPollWakeupOut {
  kh: bigint;
}
export const NotifyPollWakeupOut = defineStruct<NotifyPollWakeupOut>("fuse_notify_poll_wakeup_out", 8, [["kh", "u64"]]);

/** `struct fuse_notify_inval_inode_out` (24 bytes). */
export interface NotifyInvalInodeOut {
  ino: bigint;
  off: bigint;
  len: bigint;
}
export const NotifyInvalInodeOut = defineStruct<NotifyInvalInodeOut>("fuse_notify_inval_inode_out", 24, [
  ["ino", "u64"],
  ["off", "i64"],
  ["len", "i64"],
]);

/** `struct fuse_notify_inval_entry_out` (16 bytes), followed by the name. */
export interface NotifyInvalEntryOut {
  parent: bigint;
  namelen: number;
  /** `FUSE_EXPIRE_ONLY`. */
  flags: number;
}
export const NotifyInvalEntryOut = defineStruct<NotifyInvalEntryOut>("fuse_notify_inval_entry_out", 16, [
  ["parent", "u64"],
  ["namelen", "u32"],
  ["flags", "u32"],
]);

/** `struct fuse_notify_delete_out` (24 bytes), followed by the name. */
export interface NotifyDeleteOut {
  parent: bigint;
  child: bigint;
  namelen: number;
}
export const NotifyDeleteOut = defineStruct<NotifyDeleteOut>("fuse_notify_delete_out", 24, [
  ["parent", "u64"],
  ["child", "u64"],
  ["namelen", "u32"],
  4,
]);

/** `struct fuse_notify_store_out` (24 bytes), followed by `size` bytes. */
export interface NotifyStoreOut {
  nodeid: bigint;
  offset: bigint;
  size: number;
}
export const NotifyStoreOut = defineStruct<NotifyStoreOut>("fuse_notify_store_out", 24, [
  ["nodeid", "u64"],
  ["offset", "u64"],
  ["size", "u32"],
  4,
]);

/** `struct fuse_notify_retrieve_out` (32 bytes). */
export interface NotifyRetrieveOut {
  notifyUnique: bigint;
  nodeid: bigint;
  offset: bigint;
  size: number;
}
export const NotifyRetrieveOut = defineStruct<NotifyRetrieveOut>("fuse_notify_retrieve_out", 32, [
  ["notifyUnique", "u64"],
  ["nodeid", "u64"],
  ["offset", "u64"],
  ["size", "u32"],
  4,
]);

/** `struct fuse_notify_retrieve_in` (40 bytes, the size of `fuse_write_in`): NOTIFY_REPLY's argument. */
export interface NotifyRetrieveIn {
  offset: bigint;
  size: number;
}
export const NotifyRetrieveIn = defineStruct<NotifyRetrieveIn>("fuse_notify_retrieve_in", 40, [
  8,
  ["offset", "u64"],
  ["size", "u32"],
  4,
  16,
]);

// ---------------------------------------------------------------------------
// Request extensions (7.38)

/** `struct fuse_ext_header` (8 bytes); also `fuse_secctx_header` when `type` ≤ 31. */
export interface ExtHeader {
  /** Size of this extension, header included. */
  size: number;
  /** `ExtType`, or the number of security contexts when ≤ 31. */
  type: number;
}
export const ExtHeader = defineStruct<ExtHeader>("fuse_ext_header", 8, [
  ["size", "u32"],
  ["type", "u32"],
]);

/** `struct fuse_secctx` (8 bytes), followed by the NUL-terminated name and `size` bytes of context. */
export interface Secctx {
  size: number;
}
export const Secctx = defineStruct<Secctx>("fuse_secctx", 8, [["size", "u32"], 4]);
