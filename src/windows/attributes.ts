/**
 * DOS file attributes and the `user.DOSATTRIB` xattr in Samba's format.
 *
 * Layout (Samba `librpc/idl/xattr.idl`, hand-written push/pull in
 * `librpc/ndr/ndr_xattr.c`; all little-endian, NDR alignment counted from the
 * start of the value, padding zero):
 *
 * ```
 * attrib_hex  ASCII, NUL-terminated: "0x%x" of attrib for v1–v3, "" for v4/v5
 * pad to 2; u16 version; u16 level (== version); pad to 4; then the body:
 * v1  u32 attrib, u32 ea_size, u64 size, u64 alloc_size, NTTIME create, NTTIME change
 * v2  u32 flags, u32 attrib, u32 ea_size, u64 size, u64 alloc, NTTIME create,
 *     NTTIME change, NTTIME write, utf8 name NUL-terminated
 * v3  u32 valid_flags, u32 attrib, u32 ea_size, u64 size, u64 alloc, NTTIME create, NTTIME change
 * v4  u32 valid_flags, u32 attrib, NTTIME itime, NTTIME create
 * v5  u32 valid_flags, u32 attrib, NTTIME create
 * ```
 * A value that ends after `attrib_hex` (with or without its NUL) is the
 * pre-3.5 hex-only form, which Samba calls version 0xFFFF and Wine writes.
 *
 * Samba 4.17 writes v5 (`set_ea_dos_attribute`: valid_flags ATTRIB|CREATE_TIME)
 * and reads every form; it takes the create time from v1 when non-zero and
 * from v3–v5 when CREATE_TIME is valid and the time non-zero, never from v2.
 * We write v3 by default: Samba 3.5 to today and Wine (which only parses the
 * `0x` prefix) read it.
 */
import { ProtocolErrorCode } from "../common/errors.js";
import { ByteReader, ByteWriter, malformed } from "./bytes.js";
import { unixNsToFiletime } from "./filetime.js";

/** FILE_ATTRIBUTE_* values (winnt.h). */
export const FileAttribute = {
  FILE_ATTRIBUTE_READONLY: 0x00000001,
  FILE_ATTRIBUTE_HIDDEN: 0x00000002,
  FILE_ATTRIBUTE_SYSTEM: 0x00000004,
  FILE_ATTRIBUTE_DIRECTORY: 0x00000010,
  FILE_ATTRIBUTE_ARCHIVE: 0x00000020,
  FILE_ATTRIBUTE_DEVICE: 0x00000040,
  FILE_ATTRIBUTE_NORMAL: 0x00000080,
  FILE_ATTRIBUTE_TEMPORARY: 0x00000100,
  FILE_ATTRIBUTE_SPARSE_FILE: 0x00000200,
  FILE_ATTRIBUTE_REPARSE_POINT: 0x00000400,
  FILE_ATTRIBUTE_COMPRESSED: 0x00000800,
  FILE_ATTRIBUTE_OFFLINE: 0x00001000,
  FILE_ATTRIBUTE_NOT_CONTENT_INDEXED: 0x00002000,
  FILE_ATTRIBUTE_ENCRYPTED: 0x00004000,
  FILE_ATTRIBUTE_INTEGRITY_STREAM: 0x00008000,
  FILE_ATTRIBUTE_VIRTUAL: 0x00010000,
  FILE_ATTRIBUTE_NO_SCRUB_DATA: 0x00020000,
  FILE_ATTRIBUTE_RECALL_ON_OPEN: 0x00040000,
  FILE_ATTRIBUTE_PINNED: 0x00080000,
  FILE_ATTRIBUTE_UNPINNED: 0x00100000,
  FILE_ATTRIBUTE_RECALL_ON_DATA_ACCESS: 0x00400000,
} as const;

/** "No change" in SetBasicInfo, and GetFileAttributes' failure value. */
export const INVALID_FILE_ATTRIBUTES = 0xffffffff;

const A = FileAttribute;

/**
 * The bits Samba 4.17 shows from a stored DOSATTRIB
 * (`SAMBA_ATTRIBUTES_MASK | FILE_ATTRIBUTE_SPARSE_FILE`); everything else it
 * masks out on read and drops when it rewrites the xattr.
 */
export const SAMBA_417_VISIBLE_ATTRIBUTES =
  A.FILE_ATTRIBUTE_READONLY |
  A.FILE_ATTRIBUTE_HIDDEN |
  A.FILE_ATTRIBUTE_SYSTEM |
  A.FILE_ATTRIBUTE_DIRECTORY |
  A.FILE_ATTRIBUTE_ARCHIVE |
  A.FILE_ATTRIBUTE_OFFLINE |
  A.FILE_ATTRIBUTE_SPARSE_FILE;

/** The xattr Samba (source3) keeps DOS attributes in. */
export const DOSATTRIB_XATTR = "user.DOSATTRIB";

/** `xattr_DosInfoValidFlags`. */
export const DosInfoValid = {
  ATTRIB: 0x01,
  EA_SIZE: 0x02,
  SIZE: 0x04,
  ALLOC_SIZE: 0x08,
  CREATE_TIME: 0x10,
  CHANGE_TIME: 0x20,
  ITIME: 0x40,
} as const;

/** 0xFFFF is the hex-only form. */
export type DosAttribVersion = 0xffff | 1 | 2 | 3 | 4 | 5;

/** What a `user.DOSATTRIB` value says, as Samba interprets it. */
export interface DosAttrib {
  readonly version: DosAttribVersion;
  /** The attribute dword exactly as stored (Samba masks it on read; see {@link SAMBA_417_VISIBLE_ATTRIBUTES}). */
  readonly attributes: number;
  /** The creation time (FILETIME) when the value carries one Samba would use, else undefined. */
  readonly createTime: bigint | undefined;
  /** valid_flags of v3–v5; undefined for the other versions. */
  readonly validFlags: number | undefined;
}

const WHAT = DOSATTRIB_XATTR;

/** `sscanf("%x")` as Samba applies it to attrib_hex: optional space, optional 0x, hex digits. */
function parseHex(text: Uint8Array): number {
  const s = Buffer.from(text).toString("latin1");
  const m = /^[ \t\n\v\f\r]*(?:0[xX])?([0-9a-fA-F]+)/.exec(s);
  if (!m) malformed(ProtocolErrorCode.VALUE, WHAT, `attrib_hex ${JSON.stringify(s)} holds no hex number`);
  const digits = m[1]!.replace(/^0+(?=.)/, "");
  if (digits.length > 8) malformed(ProtocolErrorCode.VALUE, WHAT, `attrib_hex ${JSON.stringify(s)} exceeds 32 bits`);
  return parseInt(digits, 16) >>> 0;
}

/**
 * Decodes a `user.DOSATTRIB` value: the hex-only form (with or without the
 * NUL) and v1–v5. Bytes after the body are ignored, as Samba's
 * `ndr_pull_struct_blob` ignores them. Throws {@link ProtocolError} on an
 * empty value, a truncated body, an unknown version or a level ≠ version.
 */
export function decodeDosAttrib(value: Uint8Array): DosAttrib {
  if (value.byteLength === 0) malformed(ProtocolErrorCode.SHORT, WHAT, "empty value");
  const nul = value.indexOf(0);
  if (nul < 0 || nul + 1 >= value.byteLength) {
    const hex = nul < 0 ? value : value.subarray(0, nul);
    return { version: 0xffff, attributes: parseHex(hex), createTime: undefined, validFlags: undefined };
  }
  const r = new ByteReader(value, WHAT, nul + 1);
  r.align(2);
  const version = r.u16("version");
  const level = r.u16("union level");
  if (level !== version) malformed(ProtocolErrorCode.VALUE, WHAT, `union level ${level} differs from version ${version}`);
  r.align(4);
  switch (version) {
    case 1: {
      const attributes = r.u32("attrib");
      r.u32("ea_size");
      r.u64("size");
      r.u64("alloc_size");
      const create = r.u64("create_time");
      r.u64("change_time");
      return { version, attributes, createTime: create !== 0n ? create : undefined, validFlags: undefined };
    }
    case 2: {
      r.u32("flags");
      const attributes = r.u32("attrib");
      r.u32("ea_size");
      r.u64("size");
      r.u64("alloc_size");
      r.u64("create_time");
      r.u64("change_time");
      r.u64("write_time");
      r.cstring("name");
      return { version, attributes, createTime: undefined, validFlags: undefined };
    }
    case 3: {
      const validFlags = r.u32("valid_flags");
      const attributes = r.u32("attrib");
      r.u32("ea_size");
      r.u64("size");
      r.u64("alloc_size");
      const create = r.u64("create_time");
      r.u64("change_time");
      return { version, attributes, createTime: usableCreate(validFlags, create), validFlags };
    }
    case 4: {
      const validFlags = r.u32("valid_flags");
      const attributes = r.u32("attrib");
      r.u64("itime");
      const create = r.u64("create_time");
      return { version, attributes, createTime: usableCreate(validFlags, create), validFlags };
    }
    case 5: {
      const validFlags = r.u32("valid_flags");
      const attributes = r.u32("attrib");
      const create = r.u64("create_time");
      return { version, attributes, createTime: usableCreate(validFlags, create), validFlags };
    }
    default:
      return malformed(ProtocolErrorCode.VALUE, WHAT, `unknown version ${version}`);
  }
}

function usableCreate(validFlags: number, create: bigint): bigint | undefined {
  return (validFlags & DosInfoValid.CREATE_TIME) !== 0 && create !== 0n ? create : undefined;
}

/** What {@link encodeDosAttrib} writes. */
export interface DosAttribInput {
  /** The full attribute dword to store (DIRECTORY included for directories, as Samba stores it). */
  readonly attributes: number;
  /** The creation time, FILETIME; must be non-zero to be honoured by Samba. */
  readonly createTime: bigint;
}

/**
 * Encodes `user.DOSATTRIB` with valid_flags ATTRIB|CREATE_TIME.
 *
 * - v3 (default): `"0x%x\0"`, pad, `3,3`, pad, then the v3 body with zero
 *   ea_size/size/alloc_size/change_time: 52 bytes for a one-digit attribute,
 *   56 for two to five digits.
 * - v5: byte-identical to what Samba ≥ 4.17 writes (24 bytes).
 */
export function encodeDosAttrib(input: DosAttribInput, version: 3 | 5 = 3): Uint8Array {
  const attributes = input.attributes >>> 0;
  const w = new ByteWriter(64);
  if (version === 3) w.bytes(Buffer.from(`0x${attributes.toString(16)}`, "latin1"));
  w.u8(0);
  w.align(2);
  w.u16(version);
  w.u16(version);
  w.align(4);
  w.u32(DosInfoValid.ATTRIB | DosInfoValid.CREATE_TIME);
  w.u32(attributes);
  if (version === 3) {
    w.u32(0); // ea_size
    w.u64(0n); // size
    w.u64(0n); // alloc_size
    w.u64(input.createTime);
    w.u64(0n); // change_time
  } else {
    w.u64(input.createTime);
  }
  return w.finish();
}

/** The file-type bits of st_mode. */
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IWUSR = 0o200;

/** The times Samba's calculated creation time looks at, in Unix nanoseconds. */
export interface PosixTimes {
  readonly atimeNs: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
}

/**
 * Samba's calculated creation time (`calc_create_time_stat`,
 * `source3/lib/system.c`): min(ctime, mtime, atime); if that minimum is zero
 * (an unset atime), min(ctime, mtime). Returned as FILETIME. Samba on Linux
 * never uses statx btime, so this is what it shows for a file without a
 * stored create time.
 */
export function calculatedCreateTime(t: PosixTimes): bigint {
  const cm = t.ctimeNs < t.mtimeNs ? t.ctimeNs : t.mtimeNs;
  const cma = cm < t.atimeNs ? cm : t.atimeNs;
  return unixNsToFiletime(cma !== 0n ? cma : cm);
}

/** Options of {@link effectiveDosAttributes}, named after Samba's parameters. */
export interface DosModeOptions {
  /** `hide dot files` (Samba default yes): a name starting with `.` (not `.`/`..`) reads as HIDDEN. */
  readonly hideDotFiles?: boolean;
  /**
   * Without a stored value, derive READONLY from a missing owner write bit, as
   * `dos_mode_from_sbuf` does under `map readonly = yes`. Default false: with
   * `store dos attributes = yes` (Samba's default since 4.9) Samba never
   * consults the mode, so a file without the xattr is not read-only.
   */
  readonly readonlyFromMode?: boolean;
}

/**
 * The attributes and creation time Windows should see for a file, from its
 * name, its stat and its decoded `user.DOSATTRIB` (undefined when absent),
 * following Samba's `fdos_mode`/`dos_mode_post`:
 *
 * - the stored dword (all of it: we keep TEMPORARY, NOT_CONTENT_INDEXED… that
 *   Samba would mask), minus DIRECTORY and NORMAL, which are derived;
 * - HIDDEN for dot-names when {@link DosModeOptions.hideDotFiles};
 * - DIRECTORY for directories; a file with no other bit reads as NORMAL;
 * - creation time: the stored one, else {@link calculatedCreateTime}.
 *
 * @param name the last path component.
 */
export function effectiveDosAttributes(
  name: string,
  stat: PosixTimes & { readonly mode: number },
  stored: DosAttrib | undefined,
  options: DosModeOptions = {},
): { attributes: number; createTime: bigint } {
  const isDir = (stat.mode & S_IFMT) === S_IFDIR;
  let attributes = 0;
  if (stored !== undefined) {
    attributes = stored.attributes & ~(A.FILE_ATTRIBUTE_DIRECTORY | A.FILE_ATTRIBUTE_NORMAL);
  } else if (options.readonlyFromMode === true && (stat.mode & S_IWUSR) === 0) {
    attributes = A.FILE_ATTRIBUTE_READONLY;
  }
  if ((options.hideDotFiles ?? true) && isDotName(name)) attributes |= A.FILE_ATTRIBUTE_HIDDEN;
  if (isDir) attributes |= A.FILE_ATTRIBUTE_DIRECTORY;
  else if (attributes === 0) attributes = A.FILE_ATTRIBUTE_NORMAL;
  return { attributes: attributes >>> 0, createTime: stored?.createTime ?? calculatedCreateTime(stat) };
}

/** True for names Samba's `hide dot files` hides: a leading dot, except `.` and `..`. */
export function isDotName(name: string): boolean {
  return name.startsWith(".") && name !== "." && name !== "..";
}
