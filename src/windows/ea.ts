/**
 * Extended attributes: the FILE_FULL_EA_INFORMATION / FILE_GET_EA_INFORMATION
 * lists of the NT API ([MS-FSCC] §2.4.15, §2.4.15.1) and Samba's mapping of
 * Windows EAs to host xattrs (source3/smbd/smb2_trans2.c):
 *
 * - EA `NAME` is xattr `user.NAME`; only the `user.` namespace (matched
 *   case-insensitively) is exposed, without the prefix;
 * - Samba's private xattrs are hidden and refused (ACCESS_DENIED);
 * - names with a byte below 0x20 or one of `"*+,/:;<=>?[\]|` are hidden
 *   when listing and refused (INVALID_EA_NAME) when setting;
 * - a set whose name matches an existing EA case-insensitively reuses that
 *   spelling; a zero-length value deletes (and deleting a missing EA succeeds);
 * - zero-length and over-64-KiB values are never listed;
 * - EA flags (FILE_NEED_EA) are not stored.
 *
 * ```
 * FILE_FULL_EA_INFORMATION  u32 NextEntryOffset, u8 Flags, u8 EaNameLength,
 *                           u16 EaValueLength, name, NUL, value; entries 4-aligned
 * FILE_GET_EA_INFORMATION   u32 NextEntryOffset, u8 EaNameLength, name, NUL
 * ```
 */
import { ProtocolErrorCode } from "../common/errors.js";
import { ByteReader, ByteWriter, malformed } from "./bytes.js";
import { NtStatus } from "./ntstatus.js";
import { foldCase, STREAM_XATTR_PREFIX } from "./streams.js";

/** FILE_FULL_EA_INFORMATION.Flags: the file cannot be understood without this EA. */
export const FILE_NEED_EA = 0x80;
/** The largest EA value Samba lists (and the VFS xattr limit). */
export const EA_VALUE_MAX = 65536;
/** EaNameLength is a u8; Windows limits names to 254 bytes plus the NUL. */
export const EA_NAME_MAX = 254;

/** One EA of a FILE_FULL_EA_INFORMATION list. */
export interface FullEa {
  readonly name: string;
  readonly flags: number;
  readonly value: Uint8Array;
}

const WHAT = "EA list";

/** Name bytes ↔ string: byte-preserving (latin1), as names are single-byte on the wire. */
function nameBytes(name: string): Uint8Array {
  return Buffer.from(name, "latin1");
}

/**
 * Decodes a FILE_FULL_EA_INFORMATION list (an NtSetEaFile or NtCreateFile EA
 * buffer), as IoCheckEaBufferValidity checks it: each entry inside the
 * buffer, its name NUL-terminated, NextEntryOffset 4-aligned and past the
 * entry, the last entry's NextEntryOffset 0. Any violation is a
 * ProtocolError; the caller answers STATUS_EA_LIST_INCONSISTENT.
 */
export function decodeFullEaList(buffer: Uint8Array): FullEa[] {
  const out: FullEa[] = [];
  let at = 0;
  for (let i = 0; ; i++) {
    const r = new ByteReader(buffer, WHAT, at);
    const next = r.u32(`entry ${i} NextEntryOffset`);
    const flags = r.u8("Flags");
    const nameLength = r.u8("EaNameLength");
    const valueLength = r.u16("EaValueLength");
    const name = r.bytesCopy(nameLength, "EaName");
    if (r.u8("EaName terminator") !== 0) malformed(ProtocolErrorCode.STRING, WHAT, `entry ${i} name is not NUL-terminated`);
    if (name.includes(0)) malformed(ProtocolErrorCode.STRING, WHAT, `entry ${i} name holds a NUL`);
    const value = r.bytesCopy(valueLength, "EaValue");
    out.push({ name: Buffer.from(name).toString("latin1"), flags, value });
    if (next === 0) break;
    if (next % 4 !== 0 || next < r.offset - at) {
      malformed(ProtocolErrorCode.LENGTH, WHAT, `entry ${i} NextEntryOffset ${next} is unaligned or inside the entry`);
    }
    at += next;
    if (at >= buffer.byteLength) malformed(ProtocolErrorCode.LENGTH, WHAT, `entry ${i} NextEntryOffset ${next} leaves the buffer`);
  }
  return out;
}

/** Bytes one entry takes in a FILE_FULL_EA_INFORMATION list, before alignment. */
export function fullEaEntrySize(ea: { readonly name: string; readonly value: Uint8Array }): number {
  return 8 + nameBytes(ea.name).byteLength + 1 + ea.value.byteLength;
}

/**
 * The "packed" size NTFS counts in FileEaInformation.EaSize for one EA:
 * 5 + name length + value length (WinFsp's FspFileSystemGetEaPackedSize).
 */
export function eaPackedSize(ea: { readonly name: string; readonly value: Uint8Array }): number {
  return 5 + nameBytes(ea.name).byteLength + ea.value.byteLength;
}

/** Encodes a FILE_FULL_EA_INFORMATION list: entries 4-aligned, the last NextEntryOffset 0. */
export function encodeFullEaList(eas: readonly FullEa[]): Uint8Array {
  const w = new ByteWriter(64);
  let prev = -1;
  for (const ea of eas) {
    const name = nameBytes(ea.name);
    if (name.byteLength === 0 || name.byteLength > 255) malformed(ProtocolErrorCode.VALUE, WHAT, `name length ${name.byteLength}`);
    if (ea.value.byteLength > 0xffff) malformed(ProtocolErrorCode.LIMIT, WHAT, `value of ${ea.name} is ${ea.value.byteLength} bytes`);
    if (prev >= 0) {
      w.align(4);
      w.patchU32(prev, w.offset - prev);
    }
    prev = w.offset;
    w.u32(0);
    w.u8(ea.flags);
    w.u8(name.byteLength);
    w.u16(ea.value.byteLength);
    w.bytes(name);
    w.u8(0);
    w.bytes(ea.value);
  }
  return w.finish();
}

/** Decodes a FILE_GET_EA_INFORMATION list (the EaList of NtQueryEaFile). */
export function decodeGetEaList(buffer: Uint8Array): string[] {
  const out: string[] = [];
  let at = 0;
  for (let i = 0; ; i++) {
    const r = new ByteReader(buffer, "EA name list", at);
    const next = r.u32(`entry ${i} NextEntryOffset`);
    const nameLength = r.u8("EaNameLength");
    const name = r.bytesCopy(nameLength, "EaName");
    if (r.u8("EaName terminator") !== 0) malformed(ProtocolErrorCode.STRING, "EA name list", `entry ${i} name is not NUL-terminated`);
    out.push(Buffer.from(name).toString("latin1"));
    if (next === 0) break;
    if (next % 4 !== 0 || next < r.offset - at) {
      malformed(ProtocolErrorCode.LENGTH, "EA name list", `entry ${i} NextEntryOffset ${next} is unaligned or inside the entry`);
    }
    at += next;
    if (at >= buffer.byteLength) malformed(ProtocolErrorCode.LENGTH, "EA name list", `entry ${i} NextEntryOffset ${next} leaves the buffer`);
  }
  return out;
}

/** Encodes a FILE_GET_EA_INFORMATION list. */
export function encodeGetEaList(names: readonly string[]): Uint8Array {
  const w = new ByteWriter(64);
  let prev = -1;
  for (const n of names) {
    const name = nameBytes(n);
    if (name.byteLength > 255) malformed(ProtocolErrorCode.VALUE, "EA name list", `name length ${name.byteLength}`);
    if (prev >= 0) {
      w.align(4);
      w.patchU32(prev, w.offset - prev);
    }
    prev = w.offset;
    w.u32(0);
    w.u8(name.byteLength);
    w.bytes(name);
    w.u8(0);
  }
  return w.finish();
}

// ---- names ----

/** Bytes Samba (and the FAT-legal rule of the Windows FSD) refuse in an EA name. */
const INVALID_EA_CHARS = new Set('"*+,/:;<=>?[\\]|');

/**
 * Samba's `is_invalid_windows_ea_name` (equal to FsRtlIsAnsiCharacterLegalFat
 * without wildcards): true when a byte is below 0x20 or in `"*+,/:;<=>?[\]|`.
 */
export function isInvalidEaName(name: string): boolean {
  for (const ch of name) {
    if (ch.charCodeAt(0) < 0x20 || INVALID_EA_CHARS.has(ch)) return true;
  }
  return false;
}

/** A name NtSetEaFile accepts: 1–254 bytes and no invalid character. */
export function isValidEaName(name: string): boolean {
  const n = nameBytes(name).byteLength;
  return n >= 1 && n <= EA_NAME_MAX && !isInvalidEaName(name);
}

/**
 * The prefix of viofs's own xattrs (long names, EA flags, large streams).
 * The `:` makes them invalid Windows EA names, so Samba's EA listing skips
 * them as it skips every such name.
 */
export const VIOFS_XATTR_PREFIX = "user.viofs:";

/** The xattrs Samba keeps for itself (`samba_private_attr_name`), plus ours. */
export const PRIVATE_XATTRS: readonly string[] = [
  "user.SAMBA_PAI",
  "user.DOSATTRIB",
  "user.SAMBA_STREAMS",
  "security.NTACL",
  "user.org.netatalk.Metadata",
  // Samba ≥ 4.21 adds the reparse xattr; Samba 4.17 would still list it as an EA.
  "user.SmbReparse",
  // Our fallback for security.NTACL; Samba 4.17 lists it as an EA unless configured as security_acl_name.
  "user.NTACL",
];

/** Prefixes of private xattrs (compared case-insensitively, as Samba does). */
const PRIVATE_PREFIXES: readonly string[] = [STREAM_XATTR_PREFIX, "user.DosStreamExt.", VIOFS_XATTR_PREFIX];

/** True for an xattr Windows must never see or set as an EA. */
export function isPrivateXattr(xattr: string): boolean {
  const f = foldCase(xattr);
  return PRIVATE_XATTRS.some((p) => foldCase(p) === f) || PRIVATE_PREFIXES.some((p) => f.startsWith(foldCase(p)));
}

const USER_PREFIX = "user.";

/** The xattr an EA name maps to (no canonicalisation; see {@link canonicalEaXattr}). */
export function eaXattrName(name: string): string {
  return `${USER_PREFIX}${name}`;
}

/**
 * The EA name an xattr is listed as, or undefined when Samba would not list
 * it (another namespace, private, or an invalid Windows name). Values must
 * still be filtered with {@link isListableEaValue}.
 */
export function eaNameOfXattr(xattr: string): string | undefined {
  if (xattr.slice(0, USER_PREFIX.length).toLowerCase() !== USER_PREFIX) return undefined;
  if (isPrivateXattr(xattr) || isInvalidEaName(xattr)) return undefined;
  const name = xattr.slice(USER_PREFIX.length);
  return name === "" ? undefined : name;
}

/** Samba lists an EA only with a value of 1..65536 bytes. */
export function isListableEaValue(length: number): boolean {
  return length > 0 && length <= EA_VALUE_MAX;
}

/**
 * The xattr to write for EA `name` (Samba's `canonicalize_ea_name`): the
 * existing xattr whose EA name matches case-insensitively, else `user.<name>`.
 */
export function canonicalEaXattr(existingXattrs: Iterable<string>, name: string): string {
  const folded = foldCase(name);
  for (const x of existingXattrs) {
    const n = eaNameOfXattr(x);
    if (n !== undefined && foldCase(n) === folded) return x;
  }
  return eaXattrName(name);
}

/**
 * The status NtSetEaFile gives for one EA before touching anything:
 * INVALID_EA_NAME for a bad name, ACCESS_DENIED for a private xattr,
 * EA_TOO_LARGE for a value over 64 KiB, else success.
 */
export function checkSetEa(ea: { readonly name: string; readonly value: Uint8Array }): number {
  if (!isValidEaName(ea.name)) return NtStatus.STATUS_INVALID_EA_NAME;
  if (isPrivateXattr(eaXattrName(ea.name))) return NtStatus.STATUS_ACCESS_DENIED;
  if (ea.value.byteLength > EA_VALUE_MAX) return NtStatus.STATUS_EA_TOO_LARGE;
  return NtStatus.STATUS_SUCCESS;
}
