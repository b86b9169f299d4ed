/**
 * Whole FUSE messages: requests (driver to device) and replies (device to
 * driver), encoded and decoded by both sides.
 *
 * A request is `fuse_in_header` + the opcode's arguments + optional
 * extensions (7.38, `total_extlen` 8-byte units at the very end). A reply is
 * `fuse_out_header` + the opcode's result, or the header alone with a negated
 * errno.
 *
 * Contracts:
 * - Decoders take a private copy of the message (copied once out of shared
 *   memory) and read every field once. Any malformed input (short, long,
 *   inconsistent lengths, bad names, unknown opcode) throws a
 *   {@link ProtocolError} with a stable code, and nothing else.
 * - Variable parts (WRITE data, READ reply data, xattr values, names) are
 *   views into the decoded message, not copies. Names are `Buffer`s of raw
 *   bytes without the NUL; data are plain `Uint8Array`s.
 * - Encoders return chunks (`Uint8Array[]`): the header and fixed arguments in
 *   the first, bulk data passed through uncopied in the next, so a transport
 *   can scatter them into descriptors without concatenating. Lengths that the
 *   wire repeats (WRITE `size`, SETXATTR `size`, IOCTL `in_size`, counts) are
 *   taken from the data, not from the argument struct. Encoders throw
 *   ProtocolError (VALUE, STRING) for values that cannot be encoded.
 */
import { Buffer } from "node:buffer";
import { ProtocolError, ProtocolErrorCode } from "../common/errors.js";
import { Errno } from "../common/errno.js";
import {
  FUSE_COMPAT_22_INIT_OUT_SIZE,
  FUSE_COMPAT_ATTR_OUT_SIZE,
  FUSE_COMPAT_CREATE_IN_SIZE,
  FUSE_COMPAT_ENTRY_OUT_SIZE,
  FUSE_COMPAT_INIT_IN_SIZE,
  FUSE_COMPAT_INIT_OUT_SIZE,
  FUSE_COMPAT_MKNOD_IN_SIZE,
  FUSE_COMPAT_SETXATTR_IN_SIZE,
  FUSE_COMPAT_STATFS_SIZE,
  FUSE_COMPAT_WRITE_IN_SIZE,
  FUSE_INIT_BSWAP_RESERVED,
  FUSE_KERNEL_MINOR_VERSION,
  InitFlag,
  NotifyCode,
  Opcode,
  opcodeName,
} from "./abi.js";
import {
  AccessIn,
  AttrOut,
  BatchForgetIn,
  BmapIn,
  BmapOut,
  CopyFileRangeIn,
  CreateIn,
  EntryOut,
  FallocateIn,
  FlushIn,
  ForgetIn,
  ForgetOne,
  FsyncIn,
  GetattrIn,
  GetxattrIn,
  GetxattrOut,
  InHeader,
  InitIn,
  InitOut,
  InterruptIn,
  IoctlIn,
  IoctlOut,
  LinkIn,
  LkIn,
  LkOut,
  LseekIn,
  LseekOut,
  MkdirIn,
  MknodIn,
  NotifyDeleteOut,
  NotifyInvalEntryOut,
  NotifyInvalInodeOut,
  NotifyPollWakeupOut,
  NotifyRetrieveIn,
  NotifyRetrieveOut,
  NotifyStoreOut,
  OpenIn,
  OpenOut,
  OutHeader,
  PollIn,
  PollOut,
  ReadIn,
  ReleaseIn,
  RemovemappingIn,
  RemovemappingOne,
  Rename2In,
  RenameIn,
  SetattrIn,
  SetupmappingIn,
  SetxattrIn,
  StatfsOut,
  StatxIn,
  StatxOut,
  SyncfsIn,
  WriteIn,
  WriteOut,
  type Struct,
} from "./structs.js";
import { checkName, WireReader, WireWriter, type WireMemory } from "./wire.js";

// ---------------------------------------------------------------------------
// Options

/** What the codec needs to know about the session to pick struct sizes. */
export interface WireOptions {
  /**
   * The negotiated minor: min(driver's, device's). Before INIT completes, the
   * peer's announced minor (or {@link FUSE_KERNEL_MINOR_VERSION}).
   */
  readonly minor: number;
  /** FUSE_SETXATTR_EXT was negotiated: SETXATTR carries the 16-byte `fuse_setxattr_in`. */
  readonly setxattrExt: boolean;
}

/** Options for a session with the negotiated `minor` and INIT flags (`flags | flags2 << 32`). */
export function wireOptions(minor: number, flags: bigint): WireOptions {
  return { minor, setxattrExt: (flags & InitFlag.SETXATTR_EXT) !== 0n };
}

/**
 * Protocol 7.38 without SETXATTR_EXT. Made by {@link wireOptions}, not
 * frozen: every options object then has one shape, and the codecs' optimised
 * code, which reads them for every message, stays valid when a session moves
 * from these defaults to its negotiated options (a second shape deoptimised
 * the request path at a new session's first requests). `readonly` guards it.
 */
export const DEFAULT_WIRE_OPTIONS: WireOptions = wireOptions(FUSE_KERNEL_MINOR_VERSION, 0n);

// ---------------------------------------------------------------------------
// Requests

/** The caller-visible part of `fuse_in_header`; `len`, `opcode` and `total_extlen` follow from the message. */
export interface RequestHeader {
  unique: bigint;
  /** The inode the request is about (the parent directory for name operations). */
  nodeid: bigint;
  uid: number;
  gid: number;
  pid: number;
}

type Empty = Record<never, never>;

/** The arguments of each request opcode, beside `opcode`, `header` and `extensions`. */
export interface RequestBodyMap {
  [Opcode.LOOKUP]: { name: Buffer };
  [Opcode.FORGET]: { arg: ForgetIn };
  /** Before 7.9 the request has no argument; `arg` then decodes as zeros. */
  [Opcode.GETATTR]: { arg: GetattrIn };
  [Opcode.SETATTR]: { arg: SetattrIn };
  [Opcode.READLINK]: Empty;
  /** `name` is the new entry, `target` the link's contents. */
  [Opcode.SYMLINK]: { name: Buffer; target: Buffer };
  [Opcode.MKNOD]: { arg: MknodIn; name: Buffer };
  [Opcode.MKDIR]: { arg: MkdirIn; name: Buffer };
  [Opcode.UNLINK]: { name: Buffer };
  [Opcode.RMDIR]: { name: Buffer };
  /** From (`header.nodeid`, `name`) to (`arg.newdir`, `newName`). */
  [Opcode.RENAME]: { arg: RenameIn; name: Buffer; newName: Buffer };
  /** Links `arg.oldnodeid` as (`header.nodeid`, `name`). */
  [Opcode.LINK]: { arg: LinkIn; name: Buffer };
  [Opcode.OPEN]: { arg: OpenIn };
  [Opcode.READ]: { arg: ReadIn };
  /** `arg.size` is `data.byteLength`. */
  [Opcode.WRITE]: { arg: WriteIn; data: Uint8Array };
  [Opcode.STATFS]: Empty;
  [Opcode.RELEASE]: { arg: ReleaseIn };
  [Opcode.FSYNC]: { arg: FsyncIn };
  /** `arg.size` is `value.byteLength`; `arg.setxattrFlags` travels only with SETXATTR_EXT. */
  [Opcode.SETXATTR]: { arg: SetxattrIn; name: Buffer; value: Uint8Array };
  [Opcode.GETXATTR]: { arg: GetxattrIn; name: Buffer };
  [Opcode.LISTXATTR]: { arg: GetxattrIn };
  [Opcode.REMOVEXATTR]: { name: Buffer };
  [Opcode.FLUSH]: { arg: FlushIn };
  /** 16 bytes before 7.36 (`flags2` then 0), 64 after. */
  [Opcode.INIT]: { arg: InitIn };
  [Opcode.OPENDIR]: { arg: OpenIn };
  [Opcode.READDIR]: { arg: ReadIn };
  [Opcode.RELEASEDIR]: { arg: ReleaseIn };
  [Opcode.FSYNCDIR]: { arg: FsyncIn };
  [Opcode.GETLK]: { arg: LkIn };
  [Opcode.SETLK]: { arg: LkIn };
  [Opcode.SETLKW]: { arg: LkIn };
  [Opcode.ACCESS]: { arg: AccessIn };
  [Opcode.CREATE]: { arg: CreateIn; name: Buffer };
  [Opcode.INTERRUPT]: { arg: InterruptIn };
  [Opcode.BMAP]: { arg: BmapIn };
  [Opcode.DESTROY]: Empty;
  /** `arg.inSize` is `data.byteLength`. */
  [Opcode.IOCTL]: { arg: IoctlIn; data: Uint8Array };
  [Opcode.POLL]: { arg: PollIn };
  /** The driver's answer to NOTIFY_RETRIEVE (`header.unique` is the notify unique); `arg.size` is `data.byteLength`. */
  [Opcode.NOTIFY_REPLY]: { arg: NotifyRetrieveIn; data: Uint8Array };
  [Opcode.BATCH_FORGET]: { forgets: ForgetOne[] };
  [Opcode.FALLOCATE]: { arg: FallocateIn };
  [Opcode.READDIRPLUS]: { arg: ReadIn };
  [Opcode.RENAME2]: { arg: Rename2In; name: Buffer; newName: Buffer };
  [Opcode.LSEEK]: { arg: LseekIn };
  [Opcode.COPY_FILE_RANGE]: { arg: CopyFileRangeIn };
  [Opcode.SETUPMAPPING]: { arg: SetupmappingIn };
  [Opcode.REMOVEMAPPING]: { mappings: RemovemappingOne[] };
  [Opcode.SYNCFS]: { arg: SyncfsIn };
  /** The kernel sends the name "/" for the unnamed file. */
  [Opcode.TMPFILE]: { arg: CreateIn; name: Buffer };
  [Opcode.STATX]: { arg: StatxIn };
}

export type RequestOpcode = keyof RequestBodyMap;

/** The request of one opcode. */
export type RequestOf<O extends RequestOpcode> = {
  opcode: O;
  header: RequestHeader;
  /**
   * The raw extension area (a multiple of 8 bytes), present only when the
   * request carries one; parse it with `decodeExtensions`.
   */
  extensions?: Uint8Array;
} & RequestBodyMap[O];

/** Any request: a union discriminated by `opcode`. */
export type Request = { [O in RequestOpcode]: RequestOf<O> }[RequestOpcode];

/** Opcodes whose requests get no reply. */
export const NO_REPLY_OPCODES: ReadonlySet<number> = new Set([Opcode.FORGET, Opcode.BATCH_FORGET, Opcode.NOTIFY_REPLY]);

// ---------------------------------------------------------------------------
// Replies

/** `fuse_entry_out` + `fuse_open_out`: the reply to CREATE and TMPFILE. */
export interface CreateOut {
  entry: EntryOut;
  open: OpenOut;
}

/** `fuse_ioctl_out` + output data (or iovecs when `out.flags` has RETRY). */
export interface IoctlReply {
  out: IoctlOut;
  data: Uint8Array;
}

/** The successful reply body of each opcode that has one. `void` is an empty body. */
export interface ReplyBodyMap {
  [Opcode.LOOKUP]: EntryOut;
  [Opcode.GETATTR]: AttrOut;
  [Opcode.SETATTR]: AttrOut;
  /** The link target, without a NUL. */
  [Opcode.READLINK]: Buffer;
  [Opcode.SYMLINK]: EntryOut;
  [Opcode.MKNOD]: EntryOut;
  [Opcode.MKDIR]: EntryOut;
  [Opcode.UNLINK]: void;
  [Opcode.RMDIR]: void;
  [Opcode.RENAME]: void;
  [Opcode.LINK]: EntryOut;
  [Opcode.OPEN]: OpenOut;
  /** At most the requested size; shorter means end of file. */
  [Opcode.READ]: Uint8Array;
  [Opcode.WRITE]: WriteOut;
  [Opcode.STATFS]: StatfsOut;
  [Opcode.RELEASE]: void;
  [Opcode.FSYNC]: void;
  [Opcode.SETXATTR]: void;
  /** `GetxattrOut` answers a size-0 request; the value (≤ the requested size) answers the others. */
  [Opcode.GETXATTR]: GetxattrOut | Uint8Array;
  /** Like GETXATTR; the data is a sequence of NUL-terminated names. */
  [Opcode.LISTXATTR]: GetxattrOut | Uint8Array;
  [Opcode.REMOVEXATTR]: void;
  [Opcode.FLUSH]: void;
  [Opcode.INIT]: InitOut;
  [Opcode.OPENDIR]: OpenOut;
  /** A `fuse_dirent` stream (see dirent.ts), at most the requested size. */
  [Opcode.READDIR]: Uint8Array;
  [Opcode.RELEASEDIR]: void;
  [Opcode.FSYNCDIR]: void;
  [Opcode.GETLK]: LkOut;
  [Opcode.SETLK]: void;
  [Opcode.SETLKW]: void;
  [Opcode.ACCESS]: void;
  [Opcode.CREATE]: CreateOut;
  /** Normally answered only with an error (EAGAIN) or not at all. */
  [Opcode.INTERRUPT]: void;
  [Opcode.BMAP]: BmapOut;
  [Opcode.DESTROY]: void;
  [Opcode.IOCTL]: IoctlReply;
  [Opcode.POLL]: PollOut;
  [Opcode.FALLOCATE]: void;
  /** A `fuse_direntplus` stream (see dirent.ts), at most the requested size. */
  [Opcode.READDIRPLUS]: Uint8Array;
  [Opcode.RENAME2]: void;
  [Opcode.LSEEK]: LseekOut;
  [Opcode.COPY_FILE_RANGE]: WriteOut;
  [Opcode.SETUPMAPPING]: void;
  [Opcode.REMOVEMAPPING]: void;
  [Opcode.SYNCFS]: void;
  [Opcode.TMPFILE]: CreateOut;
  [Opcode.STATX]: StatxOut;
}

export type ReplyOpcode = keyof ReplyBodyMap;

/** A request that is answered. */
export type RepliedRequest = Extract<Request, { opcode: ReplyOpcode }>;

/** A decoded reply: a body, or a (positive) errno. */
export type ReplyOf<O extends ReplyOpcode> =
  | { ok: true; unique: bigint; body: ReplyBodyMap[O] }
  | { ok: false; unique: bigint; errno: number };

// ---------------------------------------------------------------------------
// Body codecs

/** A part of an encoded message: written into the head buffer, or (a Uint8Array) passed through as its own chunk. */
type Piece = { readonly size: number; write(w: WireWriter): void } | Uint8Array;

function st<T>(s: Struct<T>, v: T, size = s.SIZE): Piece {
  return { size, write: (w) => s.encodePrefix(w, v, size) };
}

function nm(name: Uint8Array, field: string): Piece {
  checkName(name, field);
  return { size: name.length + 1, write: (w) => w.name(name, field) };
}

function arr<T>(s: Struct<T>, items: readonly T[]): Piece {
  return { size: s.SIZE * items.length, write: (w) => items.forEach((v) => s.encode(w, v)) };
}

/** The fields a decoded request starts with. */
interface Head {
  opcode: number;
  header: RequestHeader;
}

/**
 * A request's arguments. `decode` returns the whole request, `opcode` and
 * `header` first, built as one object literal per opcode (no spreading of a
 * body object on the request path).
 */
interface RequestCodec<B> {
  decode(r: WireReader, o: WireOptions, opcode: number, header: RequestHeader): Head & B;
  encode(b: B, o: WireOptions): Piece[];
}

/** A notification's body. */
interface BodyCodec<B> {
  decode(r: WireReader, o: WireOptions): B;
  encode(b: B, o: WireOptions): Piece[];
}

/** A reply body whose size depends on the session only: written straight into the reply's one buffer. */
interface FixedBody<B> {
  size(o: WireOptions): number;
  write(w: WireWriter, b: B, o: WireOptions): void;
}

interface ReplyCodec<B, R> {
  decode(r: WireReader, o: WireOptions, req: R): B;
  encode(b: B, o: WireOptions): Piece[];
  /** Present for bodies of a fixed size: {@link encodeReply}'s fast path. */
  fixed?: FixedBody<B>;
}

function lengthError(what: string, declared: number, actual: number): ProtocolError {
  return new ProtocolError(ProtocolErrorCode.LENGTH, `${what} declares ${declared} bytes, message holds ${actual}`);
}

/** Checks a declared length against the data that followed. */
function declared(what: string, size: number, data: Uint8Array): void {
  if (size !== data.length) throw lengthError(what, size, data.length);
}

/** A count of fixed-size records that must fill the rest of the message exactly. */
function records<T>(r: WireReader, s: Struct<T>, count: number, what: string): T[] {
  if (count * s.SIZE !== r.remaining) throw lengthError(`${what} count ${count}`, count * s.SIZE, r.remaining);
  const out: T[] = new Array<T>(count);
  for (let i = 0; i < count; i++) out[i] = s.decode(r);
  return out;
}

/** A reply's data must not exceed what the request asked for. */
function atMost(what: string, limit: number, data: Uint8Array): Uint8Array {
  if (data.length > limit) {
    throw new ProtocolError(ProtocolErrorCode.LENGTH, `${what}: ${data.length} bytes exceed the requested ${limit}`);
  }
  return data;
}

function fixed<T>(s: Struct<T>): RequestCodec<{ arg: T }> {
  return { decode: (r, _o, opcode, header) => ({ opcode, header, arg: s.decode(r) }), encode: (b) => [st(s, b.arg)] };
}

const none: RequestCodec<Empty> = { decode: (_r, _o, opcode, header) => ({ opcode, header }), encode: () => [] };

const oneName: RequestCodec<{ name: Buffer }> = {
  decode: (r, _o, opcode, header) => ({ opcode, header, name: r.lastName("name") }),
  encode: (b) => [nm(b.name, "name")],
};

function argAndName<T>(s: Struct<T>, size: (o: WireOptions) => number = () => s.SIZE): RequestCodec<{ arg: T; name: Buffer }> {
  return {
    decode: (r, o, opcode, header) => ({ opcode, header, arg: s.decodePrefix(r, size(o)), name: r.lastName("name") }),
    encode: (b, o) => [st(s, b.arg, size(o)), nm(b.name, "name")],
  };
}

function argAndTwoNames<T>(s: Struct<T>): RequestCodec<{ arg: T; name: Buffer; newName: Buffer }> {
  return {
    decode: (r, _o, opcode, header) => ({
      opcode,
      header,
      arg: s.decode(r),
      name: r.name("old name"),
      newName: r.lastName("new name"),
    }),
    encode: (b) => [st(s, b.arg), nm(b.name, "old name"), nm(b.newName, "new name")],
  };
}

const mknodSize = (o: WireOptions): number => (o.minor < 12 ? FUSE_COMPAT_MKNOD_IN_SIZE : MknodIn.SIZE);
const createSize = (o: WireOptions): number => (o.minor < 12 ? FUSE_COMPAT_CREATE_IN_SIZE : CreateIn.SIZE);
const writeInSize = (o: WireOptions): number => (o.minor < 9 ? FUSE_COMPAT_WRITE_IN_SIZE : WriteIn.SIZE);
const setxattrSize = (o: WireOptions): number => (o.setxattrExt ? SetxattrIn.SIZE : FUSE_COMPAT_SETXATTR_IN_SIZE);
const initInSize = (arg: InitIn): number => (arg.minor < 36 ? FUSE_COMPAT_INIT_IN_SIZE : InitIn.SIZE);

type RequestCodecs = { [O in RequestOpcode]: RequestCodec<RequestBodyMap[O]> };

const requestCodecs: RequestCodecs = {
  [Opcode.LOOKUP]: oneName,
  [Opcode.FORGET]: fixed(ForgetIn),
  [Opcode.GETATTR]: {
    decode: (r, o, opcode, header) => ({ opcode, header, arg: o.minor < 9 ? GetattrIn.zero() : GetattrIn.decode(r) }),
    encode: (b, o) => (o.minor < 9 ? [] : [st(GetattrIn, b.arg)]),
  },
  [Opcode.SETATTR]: fixed(SetattrIn),
  [Opcode.READLINK]: none,
  [Opcode.SYMLINK]: {
    decode: (r, _o, opcode, header) => ({ opcode, header, name: r.name("name"), target: r.lastName("link target") }),
    encode: (b) => [nm(b.name, "name"), nm(b.target, "link target")],
  },
  [Opcode.MKNOD]: argAndName(MknodIn, mknodSize),
  [Opcode.MKDIR]: argAndName(MkdirIn),
  [Opcode.UNLINK]: oneName,
  [Opcode.RMDIR]: oneName,
  [Opcode.RENAME]: argAndTwoNames(RenameIn),
  [Opcode.LINK]: argAndName(LinkIn),
  [Opcode.OPEN]: fixed(OpenIn),
  [Opcode.READ]: fixed(ReadIn),
  [Opcode.WRITE]: {
    decode: (r, o, opcode, header) => {
      const arg = WriteIn.decodePrefix(r, writeInSize(o));
      const data = r.rest();
      declared("WRITE size", arg.size, data);
      return { opcode, header, arg, data };
    },
    encode: (b, o) => [st(WriteIn, { ...b.arg, size: b.data.byteLength }, writeInSize(o)), b.data],
  },
  [Opcode.STATFS]: none,
  [Opcode.RELEASE]: fixed(ReleaseIn),
  [Opcode.FSYNC]: fixed(FsyncIn),
  [Opcode.SETXATTR]: {
    decode: (r, o, opcode, header) => {
      const arg = SetxattrIn.decodePrefix(r, setxattrSize(o));
      const name = r.name("xattr name");
      const value = r.rest();
      declared("SETXATTR size", arg.size, value);
      return { opcode, header, arg, name, value };
    },
    encode: (b, o) => [
      st(SetxattrIn, { ...b.arg, size: b.value.byteLength }, setxattrSize(o)),
      nm(b.name, "xattr name"),
      b.value,
    ],
  },
  [Opcode.GETXATTR]: {
    decode: (r, _o, opcode, header) => ({ opcode, header, arg: GetxattrIn.decode(r), name: r.lastName("xattr name") }),
    encode: (b) => [st(GetxattrIn, b.arg), nm(b.name, "xattr name")],
  },
  [Opcode.LISTXATTR]: fixed(GetxattrIn),
  [Opcode.REMOVEXATTR]: {
    decode: (r, _o, opcode, header) => ({ opcode, header, name: r.lastName("xattr name") }),
    encode: (b) => [nm(b.name, "xattr name")],
  },
  [Opcode.FLUSH]: fixed(FlushIn),
  [Opcode.INIT]: {
    decode: (r, _o, opcode, header) => ({
      opcode,
      header,
      arg: r.remaining <= FUSE_COMPAT_INIT_IN_SIZE ? InitIn.decodePrefix(r, FUSE_COMPAT_INIT_IN_SIZE) : InitIn.decode(r),
    }),
    encode: (b) => [st(InitIn, b.arg, initInSize(b.arg))],
  },
  [Opcode.OPENDIR]: fixed(OpenIn),
  [Opcode.READDIR]: fixed(ReadIn),
  [Opcode.RELEASEDIR]: fixed(ReleaseIn),
  [Opcode.FSYNCDIR]: fixed(FsyncIn),
  [Opcode.GETLK]: fixed(LkIn),
  [Opcode.SETLK]: fixed(LkIn),
  [Opcode.SETLKW]: fixed(LkIn),
  [Opcode.ACCESS]: fixed(AccessIn),
  [Opcode.CREATE]: argAndName(CreateIn, createSize),
  [Opcode.INTERRUPT]: fixed(InterruptIn),
  [Opcode.BMAP]: fixed(BmapIn),
  [Opcode.DESTROY]: none,
  [Opcode.IOCTL]: {
    decode: (r, _o, opcode, header) => {
      const arg = IoctlIn.decode(r);
      const data = r.rest();
      declared("IOCTL in_size", arg.inSize, data);
      return { opcode, header, arg, data };
    },
    encode: (b) => [st(IoctlIn, { ...b.arg, inSize: b.data.byteLength }), b.data],
  },
  [Opcode.POLL]: fixed(PollIn),
  [Opcode.NOTIFY_REPLY]: {
    decode: (r, _o, opcode, header) => {
      const arg = NotifyRetrieveIn.decode(r);
      const data = r.rest();
      declared("NOTIFY_REPLY size", arg.size, data);
      return { opcode, header, arg, data };
    },
    encode: (b) => [st(NotifyRetrieveIn, { ...b.arg, size: b.data.byteLength }), b.data],
  },
  [Opcode.BATCH_FORGET]: {
    decode: (r, _o, opcode, header) => {
      const { count } = BatchForgetIn.decode(r);
      return { opcode, header, forgets: records(r, ForgetOne, count, "BATCH_FORGET") };
    },
    encode: (b) => [st(BatchForgetIn, { count: b.forgets.length }), arr(ForgetOne, b.forgets)],
  },
  [Opcode.FALLOCATE]: fixed(FallocateIn),
  [Opcode.READDIRPLUS]: fixed(ReadIn),
  [Opcode.RENAME2]: argAndTwoNames(Rename2In),
  [Opcode.LSEEK]: fixed(LseekIn),
  [Opcode.COPY_FILE_RANGE]: fixed(CopyFileRangeIn),
  [Opcode.SETUPMAPPING]: fixed(SetupmappingIn),
  [Opcode.REMOVEMAPPING]: {
    decode: (r, _o, opcode, header) => {
      const { count } = RemovemappingIn.decode(r);
      return { opcode, header, mappings: records(r, RemovemappingOne, count, "REMOVEMAPPING") };
    },
    encode: (b) => [st(RemovemappingIn, { count: b.mappings.length }), arr(RemovemappingOne, b.mappings)],
  },
  [Opcode.SYNCFS]: fixed(SyncfsIn),
  [Opcode.TMPFILE]: argAndName(CreateIn),
  [Opcode.STATX]: fixed(StatxIn),
};

const entryOutSize = (o: WireOptions): number => (o.minor < 9 ? FUSE_COMPAT_ENTRY_OUT_SIZE : EntryOut.SIZE);
const attrOutSize = (o: WireOptions): number => (o.minor < 9 ? FUSE_COMPAT_ATTR_OUT_SIZE : AttrOut.SIZE);
const statfsOutSize = (o: WireOptions): number => (o.minor < 4 ? FUSE_COMPAT_STATFS_SIZE : StatfsOut.SIZE);
/** The size of the INIT reply to a driver of `minor`. */
export function initOutSize(minor: number): number {
  if (minor < 5) return FUSE_COMPAT_INIT_OUT_SIZE;
  if (minor < 23) return FUSE_COMPAT_22_INIT_OUT_SIZE;
  return InitOut.SIZE;
}

/** A reply codec for a fixed-size body, its generic encoder made from the fixed one. */
function fixedReply<B>(decode: ReplyCodec<B, unknown>["decode"], fixed: FixedBody<B>): ReplyCodec<B, unknown> {
  return {
    decode,
    encode: (b, o) => [{ size: fixed.size(o), write: (w) => fixed.write(w, b, o) }],
    fixed,
  };
}

function out<T>(s: Struct<T>, size: (o: WireOptions) => number = () => s.SIZE): ReplyCodec<T, unknown> {
  return fixedReply((r, o) => s.decodePrefix(r, size(o)), { size, write: (w, b, o) => s.encodePrefix(w, b, size(o)) });
}

const empty: ReplyCodec<void, unknown> = fixedReply(() => undefined, { size: () => 0, write: () => {} });

function bulk(what: string, limit: (req: RequestOf<typeof Opcode.READ | typeof Opcode.READDIR | typeof Opcode.READDIRPLUS>) => number) {
  return {
    decode: (r: WireReader, _o: WireOptions, req: RequestOf<typeof Opcode.READ | typeof Opcode.READDIR | typeof Opcode.READDIRPLUS>) =>
      atMost(what, limit(req), r.rest()),
    encode: (b: Uint8Array) => [b],
  };
}

function xattrReply(what: string): ReplyCodec<GetxattrOut | Uint8Array, { arg: GetxattrIn }> {
  return {
    decode: (r, _o, req) => (req.arg.size === 0 ? GetxattrOut.decode(r) : atMost(what, req.arg.size, r.rest())),
    encode: (b) => (b instanceof Uint8Array ? [b] : [st(GetxattrOut, b)]),
  };
}

const entryReply = out(EntryOut, entryOutSize);
const attrReply = out(AttrOut, attrOutSize);
const createReply: ReplyCodec<CreateOut, unknown> = fixedReply(
  (r, o) => ({ entry: EntryOut.decodePrefix(r, entryOutSize(o)), open: OpenOut.decode(r) }),
  {
    size: (o) => entryOutSize(o) + OpenOut.SIZE,
    write: (w, b, o) => {
      EntryOut.encodePrefix(w, b.entry, entryOutSize(o));
      OpenOut.encode(w, b.open);
    },
  },
);

type ReplyCodecs = { [O in ReplyOpcode]: ReplyCodec<ReplyBodyMap[O], RequestOf<O>> };

const replyCodecs: ReplyCodecs = {
  [Opcode.LOOKUP]: entryReply,
  [Opcode.GETATTR]: attrReply,
  [Opcode.SETATTR]: attrReply,
  [Opcode.READLINK]: {
    decode: (r) => {
      const v = r.rest();
      return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    },
    encode: (b) => [b],
  },
  [Opcode.SYMLINK]: entryReply,
  [Opcode.MKNOD]: entryReply,
  [Opcode.MKDIR]: entryReply,
  [Opcode.UNLINK]: empty,
  [Opcode.RMDIR]: empty,
  [Opcode.RENAME]: empty,
  [Opcode.LINK]: entryReply,
  [Opcode.OPEN]: out(OpenOut),
  [Opcode.READ]: bulk("READ reply", (req) => req.arg.size),
  [Opcode.WRITE]: out(WriteOut),
  [Opcode.STATFS]: out(StatfsOut, statfsOutSize),
  [Opcode.RELEASE]: empty,
  [Opcode.FSYNC]: empty,
  [Opcode.SETXATTR]: empty,
  [Opcode.GETXATTR]: xattrReply("GETXATTR reply"),
  [Opcode.LISTXATTR]: xattrReply("LISTXATTR reply"),
  [Opcode.REMOVEXATTR]: empty,
  [Opcode.FLUSH]: empty,
  [Opcode.INIT]: {
    decode: (r) => {
      const size = r.remaining;
      if (size !== FUSE_COMPAT_INIT_OUT_SIZE && size !== FUSE_COMPAT_22_INIT_OUT_SIZE && size !== InitOut.SIZE) {
        throw new ProtocolError(ProtocolErrorCode.LENGTH, `INIT reply of ${size} bytes (expected 8, 24 or 64)`);
      }
      return InitOut.decodePrefix(r, size);
    },
    encode: (b, o) => [st(InitOut, b, initOutSize(o.minor))],
  },
  [Opcode.OPENDIR]: out(OpenOut),
  [Opcode.READDIR]: bulk("READDIR reply", (req) => req.arg.size),
  [Opcode.RELEASEDIR]: empty,
  [Opcode.FSYNCDIR]: empty,
  [Opcode.GETLK]: out(LkOut),
  [Opcode.SETLK]: empty,
  [Opcode.SETLKW]: empty,
  [Opcode.ACCESS]: empty,
  [Opcode.CREATE]: createReply,
  [Opcode.INTERRUPT]: empty,
  [Opcode.BMAP]: out(BmapOut),
  [Opcode.DESTROY]: empty,
  [Opcode.IOCTL]: {
    decode: (r, _o, req) => ({ out: IoctlOut.decode(r), data: atMost("IOCTL reply", req.arg.outSize, r.rest()) }),
    encode: (b) => [st(IoctlOut, b.out), b.data],
  },
  [Opcode.POLL]: out(PollOut),
  [Opcode.FALLOCATE]: empty,
  [Opcode.READDIRPLUS]: bulk("READDIRPLUS reply", (req) => req.arg.size),
  [Opcode.RENAME2]: empty,
  [Opcode.LSEEK]: out(LseekOut),
  [Opcode.COPY_FILE_RANGE]: out(WriteOut),
  [Opcode.SETUPMAPPING]: empty,
  [Opcode.REMOVEMAPPING]: empty,
  [Opcode.SYNCFS]: empty,
  [Opcode.TMPFILE]: createReply,
  [Opcode.STATX]: out(StatxOut),
};

/** The codecs indexed by opcode, for a lookup without hashing; holes are undefined. */
const REQUEST_CODECS: readonly (RequestCodec<unknown> | undefined)[] = dense(requestCodecs);
const REPLY_CODECS: readonly (ReplyCodec<unknown, unknown> | undefined)[] = dense(replyCodecs);

function dense<V>(table: Record<number, V>): (V | undefined)[] {
  const out: (V | undefined)[] = [];
  for (const [k, v] of Object.entries(table)) out[Number(k)] = v;
  for (let i = 0; i < out.length; i++) out[i] ??= undefined;
  return out;
}

/** True when `opcode` is answered with a reply (not FORGET, BATCH_FORGET, NOTIFY_REPLY). */
export function hasReply(opcode: number): opcode is ReplyOpcode {
  return Object.hasOwn(replyCodecs, opcode);
}

// ---------------------------------------------------------------------------
// Assembly

function view(bytes: Uint8Array, start: number, end: number): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset + start, end - start);
}

/** Writes a header and pieces: one head chunk, then each pass-through chunk (empty ones dropped). */
function assemble(
  headerSize: number,
  writeHeader: (w: WireWriter, total: number) => void,
  pieces: Piece[],
  tail?: Uint8Array,
  memory: WireMemory = "own",
): Uint8Array[] {
  let head = headerSize;
  let total = headerSize;
  let passing = false;
  for (const p of pieces) {
    if (p instanceof Uint8Array) {
      passing = true;
      total += p.length;
    } else {
      if (passing) throw new Error("fuse codec: fixed piece after bulk data");
      head += p.size;
      total += p.size;
    }
  }
  if (tail) total += tail.length;
  if (total > 0xffff_ffff) throw new ProtocolError(ProtocolErrorCode.LIMIT, `message of ${total} bytes`);
  const w = new WireWriter(head, memory);
  writeHeader(w, total);
  const chunks: Uint8Array[] = [];
  for (const p of pieces) {
    if (p instanceof Uint8Array) {
      if (p.length > 0) chunks.push(p);
    } else {
      p.write(w);
    }
  }
  chunks.unshift(w.finish());
  if (tail && tail.length > 0) chunks.push(tail);
  return chunks;
}

/** Concatenates chunks into one message. */
export function concatChunks(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Request entry points

/**
 * Reads the `fuse_in_header` at the start of a message without judging the
 * rest: for a device that must answer a request it could not decode (it
 * needs `unique` and `opcode`). SHORT when fewer than 40 bytes.
 */
export function decodeInHeader(bytes: Uint8Array): InHeader {
  return InHeader.decodeAt(bytes, 0, "fuse_in_header");
}

/** The label of each opcode's request in error messages ("LOOKUP request"), made once. */
const REQUEST_WHAT: readonly string[] = labels((o) => `${opcodeName(o)} request`);
/** The same for replies. */
const REPLY_WHAT: readonly string[] = labels((o) => `${opcodeName(o)} reply`);

function labels(label: (opcode: number) => string): string[] {
  const out: string[] = [];
  for (const o of Object.values(Opcode)) out[o] = label(o);
  return out;
}

/**
 * Decodes one whole request. Throws ProtocolError:
 * SHORT (message or argument cut short), LENGTH (`len` is not the message
 * length, extensions overrun the body, or a declared size/count disagrees with
 * the data), LONG (bytes after the arguments), STRING (a name without its
 * NUL, empty, or holding a NUL), UNKNOWN (an opcode outside 1–52, or a
 * byte-swapped INIT). A device answers UNKNOWN with ENOSYS.
 */
export function decodeRequest(bytes: Uint8Array, opts: WireOptions = DEFAULT_WIRE_OPTIONS): Request {
  const h = decodeInHeader(bytes);
  if (h.len !== bytes.length) throw lengthError("fuse_in_header.len", h.len, bytes.length);
  const opcode = h.opcode;
  const codec = (opcode < REQUEST_CODECS.length ? REQUEST_CODECS[opcode] : undefined) as RequestCodec<object> | undefined;
  if (codec === undefined) {
    const why = opcode === FUSE_INIT_BSWAP_RESERVED ? " (a byte-swapped INIT: other-endian peer)" : "";
    throw new ProtocolError(ProtocolErrorCode.UNKNOWN, `unknown opcode ${opcode}${why}`);
  }
  const extLen = h.totalExtlen * 8;
  const bodyEnd = bytes.length - extLen;
  if (bodyEnd < InHeader.SIZE) {
    throw lengthError("fuse_in_header.total_extlen", extLen, bytes.length - InHeader.SIZE);
  }
  // The arguments are read in place: a view of them would cost more than decoding them.
  const r = new WireReader(bytes, REQUEST_WHAT[opcode], InHeader.SIZE, bodyEnd);
  const header: RequestHeader = { unique: h.unique, nodeid: h.nodeid, uid: h.uid, gid: h.gid, pid: h.pid };
  const req = codec.decode(r, opts, opcode, header) as Request;
  r.end();
  if (extLen > 0) req.extensions = view(bytes, bodyEnd, bytes.length);
  return req;
}

/** Encodes a request as chunks (head with header and arguments, then bulk data, then extensions). */
export function encodeRequest(req: Request, opts: WireOptions = DEFAULT_WIRE_OPTIONS): Uint8Array[] {
  const codec = requestCodecs[req.opcode] as RequestCodec<Request>;
  const ext = req.extensions;
  if (ext && (ext.byteLength % 8 !== 0 || ext.byteLength / 8 > 0xffff)) {
    throw new ProtocolError(ProtocolErrorCode.VALUE, `extensions of ${ext.byteLength} bytes (must be 8-byte units, < 512 KiB)`);
  }
  const h = req.header;
  return assemble(
    InHeader.SIZE,
    (w, total) =>
      InHeader.encode(w, {
        len: total,
        opcode: req.opcode,
        unique: h.unique,
        nodeid: h.nodeid,
        uid: h.uid,
        gid: h.gid,
        pid: h.pid,
        totalExtlen: ext ? ext.byteLength / 8 : 0,
      }),
    codec.encode(req, opts),
    ext,
  );
}

/** {@link encodeRequest} as one buffer. */
export function encodeRequestBytes(req: Request, opts: WireOptions = DEFAULT_WIRE_OPTIONS): Uint8Array {
  return concatChunks(encodeRequest(req, opts));
}

// ---------------------------------------------------------------------------
// Reply entry points

/** The largest errno a reply may carry: the Linux client refuses `error <= -512`. */
export const MAX_REPLY_ERRNO = 511;

/**
 * Encodes the successful reply to a request of `opcode`, as chunks (head with
 * the header and fixed result, then bulk data such as READ data or dirents,
 * uncopied). Struct sizes follow `opts.minor` (entry/attr before 7.9, statfs
 * before 7.4, INIT by the driver's minor).
 *
 * The chunks are for sending at once (copying into a descriptor chain,
 * writing to /dev/fuse): the head chunk is a view of memory shared with other
 * replies (see {@link WireMemory}), to be read through its own `byteOffset`
 * and `byteLength`. {@link encodeReplyBytes} gives a buffer of its own.
 */
export function encodeReply<O extends ReplyOpcode>(
  unique: bigint,
  opcode: O,
  body: ReplyBodyMap[O],
  opts: WireOptions = DEFAULT_WIRE_OPTIONS,
): Uint8Array[] {
  const codec = (opcode < REPLY_CODECS.length ? REPLY_CODECS[opcode] : undefined) as
    | ReplyCodec<ReplyBodyMap[O], unknown>
    | undefined;
  if (codec === undefined) throw new ProtocolError(ProtocolErrorCode.UNKNOWN, `opcode ${opcode} has no reply`);
  const fixed = codec.fixed;
  if (fixed !== undefined) {
    // Header and body in one buffer of the exact size.
    const len = OutHeader.SIZE + fixed.size(opts);
    const w = new WireWriter(len, "shared");
    OutHeader.encode(w, { len, error: 0, unique });
    fixed.write(w, body, opts);
    return [w.finish()];
  }
  return assemble(
    OutHeader.SIZE,
    (w, total) => OutHeader.encode(w, { len: total, error: 0, unique }),
    codec.encode(body, opts),
    undefined,
    "shared",
  );
}

/** {@link encodeReply} as one buffer of its own. */
export function encodeReplyBytes<O extends ReplyOpcode>(
  unique: bigint,
  opcode: O,
  body: ReplyBodyMap[O],
  opts: WireOptions = DEFAULT_WIRE_OPTIONS,
): Uint8Array {
  const chunks = encodeReply(unique, opcode, body, opts);
  return chunks.length === 1 ? chunks[0]!.slice() : concatChunks(chunks);
}

/**
 * A header-only error reply carrying `-errno`. An errno the Linux client would
 * refuse (not an integer in 1–511) is sent as EIO. Like {@link encodeReply}'s
 * head chunk, a view of memory shared with other replies.
 */
export function encodeErrorReply(unique: bigint, errno: number): Uint8Array {
  const e = Number.isInteger(errno) && errno >= 1 && errno <= MAX_REPLY_ERRNO ? errno : Errno.EIO;
  return encodeOutHeader(OutHeader.SIZE, -e, unique);
}

/**
 * A `fuse_out_header` alone: `len` the whole reply's length (this header
 * and what follows it), `error` 0 or a negated errno. The head of a reply
 * whose body is sent as chunks of its own (READ's data), or all of an empty
 * one; like {@link encodeReply}'s head chunk, a view of memory shared with
 * other replies.
 */
export function encodeOutHeader(len: number, error: number, unique: bigint): Uint8Array {
  const w = new WireWriter(OutHeader.SIZE, "shared");
  OutHeader.encode(w, { len, error, unique });
  return w.finish();
}

/**
 * Reads and checks the `fuse_out_header` of a reply or notification: SHORT
 * below 16 bytes, LENGTH when `len` is not the message length, VALUE when a
 * reply's (unique ≠ 0) error is positive or ≤ -512, LENGTH when an error reply
 * carries a body. With `unique` 0 the message is a notification and `error`
 * its code.
 */
export function decodeOutHeader(bytes: Uint8Array): OutHeader {
  const h = OutHeader.decodeAt(bytes, 0, "fuse_out_header");
  if (h.len !== bytes.length) throw lengthError("fuse_out_header.len", h.len, bytes.length);
  if (h.unique !== 0n) {
    if (h.error > 0 || h.error <= -(MAX_REPLY_ERRNO + 1)) {
      throw new ProtocolError(ProtocolErrorCode.VALUE, `reply error ${h.error} outside (-512, 0]`);
    }
    if (h.error !== 0 && h.len !== OutHeader.SIZE) {
      throw new ProtocolError(ProtocolErrorCode.LENGTH, `error reply of ${h.len} bytes carries a body`);
    }
  }
  return h;
}

/**
 * Decodes the reply to `req` (the request as sent: its opcode picks the
 * layout, its sizes bound READ/READDIR/xattr/ioctl data). Besides the header
 * checks of {@link decodeOutHeader}: VALUE when `unique` is not the request's,
 * SHORT/LONG when the result does not fill the body exactly, LENGTH when data
 * exceed the requested size or INIT's reply is not 8, 24 or 64 bytes, STATE
 * for a request that takes no reply.
 */
export function decodeReply<R extends Request>(
  req: R,
  bytes: Uint8Array,
  opts: WireOptions = DEFAULT_WIRE_OPTIONS,
): ReplyOf<Extract<R["opcode"], ReplyOpcode>> {
  const h = decodeOutHeader(bytes);
  if (h.unique !== req.header.unique) {
    throw new ProtocolError(ProtocolErrorCode.VALUE, `reply unique ${h.unique} is not the request's ${req.header.unique}`);
  }
  if (!hasReply(req.opcode)) {
    throw new ProtocolError(ProtocolErrorCode.STATE, `${opcodeName(req.opcode)} takes no reply`);
  }
  if (h.error !== 0) return { ok: false, unique: h.unique, errno: -h.error };
  const codec = replyCodecs[req.opcode] as ReplyCodec<ReplyBodyMap[Extract<R["opcode"], ReplyOpcode>], R>;
  const r = new WireReader(bytes, REPLY_WHAT[req.opcode], OutHeader.SIZE);
  const body = codec.decode(r, opts, req);
  r.end();
  return { ok: true, unique: h.unique, body };
}

// ---------------------------------------------------------------------------
// Notifications (device to driver, unsolicited: `unique` 0, `error` = code)

/** The body of each notification. Names travel as `namelen` bytes plus a NUL. */
export interface NotifyBodyMap {
  [NotifyCode.POLL]: NotifyPollWakeupOut;
  [NotifyCode.INVAL_INODE]: NotifyInvalInodeOut;
  /** `arg.namelen` is `name.byteLength`. */
  [NotifyCode.INVAL_ENTRY]: { arg: NotifyInvalEntryOut; name: Buffer };
  /** `arg.size` is `data.byteLength`. */
  [NotifyCode.STORE]: { arg: NotifyStoreOut; data: Uint8Array };
  [NotifyCode.RETRIEVE]: NotifyRetrieveOut;
  /** `arg.namelen` is `name.byteLength`. */
  [NotifyCode.DELETE]: { arg: NotifyDeleteOut; name: Buffer };
  /** 7.40: no body. */
  [NotifyCode.RESEND]: void;
}

export type NotifyCodeValue = keyof NotifyBodyMap;

/** A decoded notification, discriminated by `code`. */
export type Notification = { [C in NotifyCodeValue]: { code: C; body: NotifyBodyMap[C] } }[NotifyCodeValue];

/** A name of `namelen` bytes followed by a NUL that ends the message. */
function countedName(r: WireReader, namelen: number): Buffer {
  if (namelen + 1 !== r.remaining) throw lengthError("notification namelen", namelen + 1, r.remaining);
  const name = r.lastName("notification name");
  if (name.byteLength !== namelen) throw new ProtocolError(ProtocolErrorCode.STRING, "notification name holds a NUL byte");
  return name;
}

const notifyCodecs: { [C in NotifyCodeValue]: BodyCodec<NotifyBodyMap[C]> } = {
  [NotifyCode.POLL]: { decode: (r) => NotifyPollWakeupOut.decode(r), encode: (b) => [st(NotifyPollWakeupOut, b)] },
  [NotifyCode.INVAL_INODE]: { decode: (r) => NotifyInvalInodeOut.decode(r), encode: (b) => [st(NotifyInvalInodeOut, b)] },
  [NotifyCode.INVAL_ENTRY]: {
    decode: (r) => {
      const arg = NotifyInvalEntryOut.decode(r);
      return { arg, name: countedName(r, arg.namelen) };
    },
    encode: (b) => [st(NotifyInvalEntryOut, { ...b.arg, namelen: b.name.byteLength }), nm(b.name, "name")],
  },
  [NotifyCode.STORE]: {
    decode: (r) => {
      const arg = NotifyStoreOut.decode(r);
      const data = r.rest();
      declared("NOTIFY_STORE size", arg.size, data);
      return { arg, data };
    },
    encode: (b) => [st(NotifyStoreOut, { ...b.arg, size: b.data.byteLength }), b.data],
  },
  [NotifyCode.RETRIEVE]: { decode: (r) => NotifyRetrieveOut.decode(r), encode: (b) => [st(NotifyRetrieveOut, b)] },
  [NotifyCode.DELETE]: {
    decode: (r) => {
      const arg = NotifyDeleteOut.decode(r);
      return { arg, name: countedName(r, arg.namelen) };
    },
    encode: (b) => [st(NotifyDeleteOut, { ...b.arg, namelen: b.name.byteLength }), nm(b.name, "name")],
  },
  [NotifyCode.RESEND]: { decode: () => undefined, encode: () => [] },
};

/** Encodes a notification as chunks (STORE data passed through). */
export function encodeNotification(n: Notification): Uint8Array[] {
  const codec = notifyCodecs[n.code] as BodyCodec<unknown>;
  return assemble(OutHeader.SIZE, (w, total) => OutHeader.encode(w, { len: total, error: n.code, unique: 0n }), codec.encode(n.body, DEFAULT_WIRE_OPTIONS));
}

/**
 * Decodes a notification (`unique` 0). SHORT/LENGTH/LONG as for replies,
 * VALUE when `unique` is not 0, UNKNOWN for an unknown code, LENGTH when
 * `namelen` or `size` disagrees with the message.
 */
export function decodeNotification(bytes: Uint8Array): Notification {
  const h = decodeOutHeader(bytes);
  if (h.unique !== 0n) throw new ProtocolError(ProtocolErrorCode.VALUE, `notification with unique ${h.unique}`);
  if (!Object.hasOwn(notifyCodecs, h.error)) {
    throw new ProtocolError(ProtocolErrorCode.UNKNOWN, `unknown notification code ${h.error}`);
  }
  const code = h.error as NotifyCodeValue;
  const r = new WireReader(bytes, `notification ${code}`, OutHeader.SIZE);
  const body = (notifyCodecs[code] as BodyCodec<unknown>).decode(r, DEFAULT_WIRE_OPTIONS);
  r.end();
  return { code, body } as Notification;
}
