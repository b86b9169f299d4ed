/**
 * REPARSE_DATA_BUFFER and REPARSE_GUID_DATA_BUFFER ([MS-FSCC] §2.1.2), and
 * how reparse points map onto a POSIX host the way Samba ≥ 4.21 does it:
 *
 * - symlinks are real host symlinks, read back as IO_REPARSE_TAG_SYMLINK;
 * - FIFOs, sockets and devices are real special files, read back as
 *   IO_REPARSE_TAG_NFS buffers;
 * - any other tag on a regular file is the whole buffer, verbatim, in the
 *   xattr `user.SmbReparse`, with FILE_ATTRIBUTE_REPARSE_POINT set in
 *   `user.DOSATTRIB` (Samba `fsctl_set_reparse_point`, util_reparse.c).
 *
 * Layouts (little-endian):
 * ```
 * header   u32 tag, u16 ReparseDataLength, u16 Reserved, data[ReparseDataLength]
 * GUID     u32 tag, u16 ReparseDataLength, u16 Reserved, GUID, data   (tags with bit 31 clear)
 * SYMLINK  u16 SubstituteNameOffset, u16 SubstituteNameLength, u16 PrintNameOffset,
 *          u16 PrintNameLength, u32 Flags, PathBuffer (UTF-16; offsets from PathBuffer)
 * MOUNT_POINT  the same without Flags
 * NFS      u64 type; CHR/BLK: u32 major, u32 minor; LNK: UTF-16 target; FIFO/SOCK: nothing
 * ```
 */
import { ProtocolErrorCode } from "../common/errors.js";
import { ByteReader, ByteWriter, fromUtf16le, malformed, utf16le } from "./bytes.js";
import { readGuid, writeGuid } from "./guid.js";
import { NtStatus } from "./ntstatus.js";

/** Reparse tags (ntifs.h). */
export const ReparseTag = {
  IO_REPARSE_TAG_RESERVED_ZERO: 0x00000000,
  IO_REPARSE_TAG_RESERVED_ONE: 0x00000001,
  IO_REPARSE_TAG_MOUNT_POINT: 0xa0000003,
  IO_REPARSE_TAG_SYMLINK: 0xa000000c,
  IO_REPARSE_TAG_DEDUP: 0x80000013,
  IO_REPARSE_TAG_NFS: 0x80000014,
  IO_REPARSE_TAG_WOF: 0x80000017,
  IO_REPARSE_TAG_APPEXECLINK: 0x8000001b,
  IO_REPARSE_TAG_LX_SYMLINK: 0xa000001d,
  IO_REPARSE_TAG_AF_UNIX: 0x80000023,
  IO_REPARSE_TAG_LX_FIFO: 0x80000024,
  IO_REPARSE_TAG_LX_CHR: 0x80000025,
  IO_REPARSE_TAG_LX_BLK: 0x80000026,
} as const;

/** SymbolicLinkReparseBuffer.Flags: the substitute name is relative to the link's directory. */
export const SYMLINK_FLAG_RELATIVE = 0x1;
export const REPARSE_DATA_BUFFER_HEADER_SIZE = 8;
export const REPARSE_GUID_DATA_BUFFER_HEADER_SIZE = 24;
/** The largest buffer FSCTL_SET_REPARSE_POINT accepts. */
export const MAXIMUM_REPARSE_DATA_BUFFER_SIZE = 16384;

/** The NFS special-file types (u64 at the start of NFS reparse data). */
export const NfsSpecFile = {
  NFS_SPECFILE_LNK: 0x00000000014b4e4c,
  NFS_SPECFILE_CHR: 0x0000000000524843,
  NFS_SPECFILE_BLK: 0x00000000004b4c42,
  NFS_SPECFILE_FIFO: 0x000000004f464946,
  NFS_SPECFILE_SOCK: 0x000000004b434f53,
} as const;

/** The xattr Samba ≥ 4.21 keeps the buffer of other tags in. */
export const REPARSE_XATTR = "user.SmbReparse";

/** IsReparseTagMicrosoft: bit 31. Other tags need the GUID header. */
export function isMicrosoftTag(tag: number): boolean {
  return (tag & 0x80000000) !== 0;
}

/** IsReparseTagNameSurrogate: bit 29 (symlinks, mount points). */
export function isNameSurrogateTag(tag: number): boolean {
  return (tag & 0x20000000) !== 0;
}

export interface SymlinkReparse {
  readonly kind: "symlink";
  readonly substituteName: string;
  readonly printName: string;
  /** SYMLINK_FLAG_RELATIVE or 0. */
  readonly flags: number;
  /** The header's Reserved field (UnparsedPathLength in error responses); 0 normally. */
  readonly reserved?: number;
}

export interface MountPointReparse {
  readonly kind: "mount-point";
  readonly substituteName: string;
  readonly printName: string;
}

export type NfsType = "fifo" | "sock" | "chr" | "blk" | "lnk";

export interface NfsReparse {
  readonly kind: "nfs";
  readonly type: NfsType;
  /** CHR/BLK. */
  readonly major?: number;
  readonly minor?: number;
  /** LNK. */
  readonly target?: string;
}

/** A non-Microsoft tag: GUID header and opaque data. */
export interface GuidReparse {
  readonly kind: "guid";
  readonly tag: number;
  readonly guid: string;
  readonly data: Uint8Array;
  readonly reserved?: number;
}

/** Any other Microsoft tag: opaque data. */
export interface RawReparse {
  readonly kind: "raw";
  readonly tag: number;
  readonly data: Uint8Array;
  readonly reserved?: number;
}

export type ReparsePoint = SymlinkReparse | MountPointReparse | NfsReparse | GuidReparse | RawReparse;

/** The tag a reparse point carries. */
export function reparseTag(p: ReparsePoint): number {
  switch (p.kind) {
    case "symlink":
      return ReparseTag.IO_REPARSE_TAG_SYMLINK;
    case "mount-point":
      return ReparseTag.IO_REPARSE_TAG_MOUNT_POINT;
    case "nfs":
      return ReparseTag.IO_REPARSE_TAG_NFS;
    case "guid":
    case "raw":
      return p.tag;
  }
}

/**
 * The FSD's checks on an FSCTL_SET_REPARSE_POINT buffer
 * (FsRtlValidateReparsePointBuffer, as the WinFsp FSD and Samba's
 * `reparse_buffer_check` apply them): STATUS_SUCCESS or the status to fail with.
 */
export function validateReparseBuffer(buffer: Uint8Array): number {
  const n = buffer.byteLength;
  if (n === 0) return NtStatus.STATUS_INVALID_BUFFER_SIZE;
  if (n < REPARSE_DATA_BUFFER_HEADER_SIZE || n > MAXIMUM_REPARSE_DATA_BUFFER_SIZE) return NtStatus.STATUS_IO_REPARSE_DATA_INVALID;
  const view = new DataView(buffer.buffer, buffer.byteOffset, n);
  const tag = view.getUint32(0, true);
  const dataLength = view.getUint16(4, true);
  if (tag === ReparseTag.IO_REPARSE_TAG_RESERVED_ZERO || tag === ReparseTag.IO_REPARSE_TAG_RESERVED_ONE) {
    return NtStatus.STATUS_IO_REPARSE_TAG_INVALID;
  }
  const header = isMicrosoftTag(tag) ? REPARSE_DATA_BUFFER_HEADER_SIZE : REPARSE_GUID_DATA_BUFFER_HEADER_SIZE;
  if (n < header || dataLength !== n - header) return NtStatus.STATUS_IO_REPARSE_DATA_INVALID;
  return NtStatus.STATUS_SUCCESS;
}

const WHAT = "reparse buffer";

function readNames(r: ByteReader, pathStart: number, end: number): { substituteName: string; printName: string } {
  const subOff = r.u16("SubstituteNameOffset");
  const subLen = r.u16("SubstituteNameLength");
  const printOff = r.u16("PrintNameOffset");
  const printLen = r.u16("PrintNameLength");
  return {
    substituteName: nameAt(r, pathStart, end, subOff, subLen, "substitute name"),
    printName: nameAt(r, pathStart, end, printOff, printLen, "print name"),
  };
}

function nameAt(r: ByteReader, pathStart: number, end: number, off: number, len: number, field: string): string {
  if (pathStart + off + len > end) {
    malformed(ProtocolErrorCode.LENGTH, WHAT, `${field} (${off}+${len}) runs past the data (${end - pathStart} bytes of names)`);
  }
  return fromUtf16le(r.bytes.subarray(pathStart + off, pathStart + off + len), WHAT, field);
}

/**
 * Decodes a reparse buffer. The header length must match the buffer exactly
 * (GUID header for non-Microsoft tags); SYMLINK, MOUNT_POINT and NFS data are
 * parsed, other tags kept opaque. Throws {@link ProtocolError}.
 */
export function decodeReparseBuffer(buffer: Uint8Array): ReparsePoint {
  const r = new ByteReader(buffer, WHAT);
  const tag = r.u32("ReparseTag");
  const dataLength = r.u16("ReparseDataLength");
  const reserved = r.u16("Reserved");
  const headerEnd = isMicrosoftTag(tag) ? REPARSE_DATA_BUFFER_HEADER_SIZE : REPARSE_GUID_DATA_BUFFER_HEADER_SIZE;
  if (buffer.byteLength < headerEnd) malformed(ProtocolErrorCode.SHORT, WHAT, `${buffer.byteLength} bytes, header needs ${headerEnd}`);
  if (dataLength !== buffer.byteLength - headerEnd) {
    malformed(ProtocolErrorCode.LENGTH, WHAT, `ReparseDataLength ${dataLength} but ${buffer.byteLength - headerEnd} data bytes`);
  }
  const end = buffer.byteLength;
  const extra = reserved !== 0 ? { reserved } : {};
  if (!isMicrosoftTag(tag)) {
    const guid = readGuid(r, "ReparseGuid");
    return { kind: "guid", tag, guid, data: r.bytesCopy(r.remaining), ...extra };
  }
  switch (tag) {
    case ReparseTag.IO_REPARSE_TAG_SYMLINK: {
      r.need(12, "symlink header");
      const names = readNames(r, 20, end);
      const flags = r.u32("Flags");
      return { kind: "symlink", ...names, flags, ...extra };
    }
    case ReparseTag.IO_REPARSE_TAG_MOUNT_POINT: {
      r.need(8, "mount point header");
      const names = readNames(r, 16, end);
      return { kind: "mount-point", ...names };
    }
    case ReparseTag.IO_REPARSE_TAG_NFS: {
      const type = r.u64("NFS type");
      switch (Number(type)) {
        case NfsSpecFile.NFS_SPECFILE_FIFO:
          return nfsNoData(r, "fifo");
        case NfsSpecFile.NFS_SPECFILE_SOCK:
          return nfsNoData(r, "sock");
        case NfsSpecFile.NFS_SPECFILE_CHR:
        case NfsSpecFile.NFS_SPECFILE_BLK: {
          const major = r.u32("major");
          const minor = r.u32("minor");
          if (r.remaining !== 0) malformed(ProtocolErrorCode.LONG, WHAT, `${r.remaining} bytes after the device numbers`);
          return { kind: "nfs", type: Number(type) === NfsSpecFile.NFS_SPECFILE_CHR ? "chr" : "blk", major, minor };
        }
        case NfsSpecFile.NFS_SPECFILE_LNK:
          return { kind: "nfs", type: "lnk", target: fromUtf16le(r.bytesCopy(r.remaining), WHAT, "NFS link target") };
        default:
          return malformed(ProtocolErrorCode.VALUE, WHAT, `unknown NFS type 0x${type.toString(16)}`);
      }
    }
    default:
      return { kind: "raw", tag, data: r.bytesCopy(r.remaining), ...extra };
  }
}

function nfsNoData(r: ByteReader, type: "fifo" | "sock"): NfsReparse {
  if (r.remaining !== 0) malformed(ProtocolErrorCode.LONG, WHAT, `${r.remaining} bytes after an NFS ${type}`);
  return { kind: "nfs", type };
}

/**
 * Encodes a reparse buffer. Symlink names are laid out substitute first then
 * print, without terminators; mount-point names each NUL-terminated (as
 * junctions are written), the lengths excluding the NUL.
 */
export function encodeReparseBuffer(p: ReparsePoint): Uint8Array {
  const w = new ByteWriter(64);
  const tag = reparseTag(p);
  w.u32(tag);
  w.u16(0); // ReparseDataLength, patched
  w.u16(p.kind === "symlink" || p.kind === "guid" || p.kind === "raw" ? (p.reserved ?? 0) : 0);
  switch (p.kind) {
    case "symlink":
    case "mount-point": {
      const terminated = p.kind === "mount-point";
      const sub = utf16le(p.substituteName);
      const print = utf16le(p.printName);
      const gap = terminated ? 2 : 0;
      w.u16(0);
      w.u16(sub.byteLength);
      w.u16(sub.byteLength + gap);
      w.u16(print.byteLength);
      if (p.kind === "symlink") w.u32(p.flags);
      w.bytes(sub);
      if (terminated) w.u16(0);
      w.bytes(print);
      if (terminated) w.u16(0);
      break;
    }
    case "nfs":
      switch (p.type) {
        case "fifo":
          w.u64(BigInt(NfsSpecFile.NFS_SPECFILE_FIFO));
          break;
        case "sock":
          w.u64(BigInt(NfsSpecFile.NFS_SPECFILE_SOCK));
          break;
        case "chr":
        case "blk":
          w.u64(BigInt(p.type === "chr" ? NfsSpecFile.NFS_SPECFILE_CHR : NfsSpecFile.NFS_SPECFILE_BLK));
          w.u32(p.major ?? 0);
          w.u32(p.minor ?? 0);
          break;
        case "lnk":
          w.u64(BigInt(NfsSpecFile.NFS_SPECFILE_LNK));
          w.bytes(utf16le(p.target ?? ""));
          break;
      }
      break;
    case "guid":
      if (isMicrosoftTag(p.tag)) malformed(ProtocolErrorCode.VALUE, WHAT, `tag 0x${p.tag.toString(16)} is a Microsoft tag; it has no GUID`);
      writeGuid(w, p.guid);
      w.bytes(p.data);
      break;
    case "raw":
      if (!isMicrosoftTag(p.tag)) malformed(ProtocolErrorCode.VALUE, WHAT, `tag 0x${p.tag.toString(16)} needs a GUID header`);
      w.bytes(p.data);
      break;
  }
  const out = w.finish();
  const header = isMicrosoftTag(tag) ? REPARSE_DATA_BUFFER_HEADER_SIZE : REPARSE_GUID_DATA_BUFFER_HEADER_SIZE;
  const dataLength = out.byteLength - header;
  if (dataLength > 0xffff) malformed(ProtocolErrorCode.LIMIT, WHAT, `${dataLength} data bytes exceed 65535`);
  new DataView(out.buffer).setUint16(4, dataLength, true);
  return out;
}

/**
 * Whether a SET of `incoming` may replace the reparse point `existing`
 * (FspFileSystemCanReplaceReparsePoint; Samba checks the tag only):
 * STATUS_IO_REPARSE_TAG_MISMATCH for another tag,
 * STATUS_REPARSE_ATTRIBUTE_CONFLICT for another GUID, else success.
 */
export function canReplaceReparsePoint(existing: Uint8Array, incoming: Uint8Array): number {
  const a = new DataView(existing.buffer, existing.byteOffset, existing.byteLength);
  const b = new DataView(incoming.buffer, incoming.byteOffset, incoming.byteLength);
  if (existing.byteLength < 4 || incoming.byteLength < 4) return NtStatus.STATUS_IO_REPARSE_DATA_INVALID;
  const tag = a.getUint32(0, true);
  if (tag !== b.getUint32(0, true)) return NtStatus.STATUS_IO_REPARSE_TAG_MISMATCH;
  if (!isMicrosoftTag(tag)) {
    if (existing.byteLength < 24 || incoming.byteLength < 24) return NtStatus.STATUS_IO_REPARSE_DATA_INVALID;
    const ga = Buffer.from(existing.subarray(8, 24));
    if (!ga.equals(Buffer.from(incoming.subarray(8, 24)))) return NtStatus.STATUS_REPARSE_ATTRIBUTE_CONFLICT;
  }
  return NtStatus.STATUS_SUCCESS;
}

/**
 * Whether a DELETE buffer matches the reparse point `existing`: the buffer
 * must be the bare header (8 bytes, or 24 with the same GUID for
 * non-Microsoft tags) with ReparseDataLength 0 and the same tag.
 */
export function checkReparseDelete(existing: Uint8Array, request: Uint8Array): number {
  if (request.byteLength < REPARSE_DATA_BUFFER_HEADER_SIZE) return NtStatus.STATUS_IO_REPARSE_DATA_INVALID;
  const v = new DataView(request.buffer, request.byteOffset, request.byteLength);
  const tag = v.getUint32(0, true);
  if (tag === ReparseTag.IO_REPARSE_TAG_RESERVED_ZERO || tag === ReparseTag.IO_REPARSE_TAG_RESERVED_ONE) {
    return NtStatus.STATUS_IO_REPARSE_TAG_INVALID;
  }
  const header = isMicrosoftTag(tag) ? REPARSE_DATA_BUFFER_HEADER_SIZE : REPARSE_GUID_DATA_BUFFER_HEADER_SIZE;
  if (request.byteLength !== header || v.getUint16(4, true) !== 0) return NtStatus.STATUS_IO_REPARSE_DATA_INVALID;
  return canReplaceReparsePoint(existing, request);
}

// ---- POSIX special files ----

const S_IFMT = 0o170000;
const S_IFIFO = 0o010000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFSOCK = 0o140000;

/** Linux `major(dev)` and `minor(dev)` of a 64-bit dev_t (glibc's encoding). */
export function devMajorMinor(rdev: bigint | number): { major: number; minor: number } {
  const d = BigInt(rdev);
  const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn & 0xfffff000n));
  const minor = Number((d & 0xffn) | ((d >> 12n) & ~0xffn & 0xffffff00n));
  return { major, minor };
}

/** Linux `makedev(major, minor)`. */
export function makeDev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffn) << 8n) | ((ma & ~0xfffn) << 32n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n);
}

/**
 * The NFS reparse point a special file reads back as (Samba ≥ 4.21), or
 * undefined for other file types.
 */
export function nfsReparseForStat(mode: number, rdev: bigint | number): NfsReparse | undefined {
  switch (mode & S_IFMT) {
    case S_IFIFO:
      return { kind: "nfs", type: "fifo" };
    case S_IFSOCK:
      return { kind: "nfs", type: "sock" };
    case S_IFCHR:
      return { kind: "nfs", type: "chr", ...devMajorMinor(rdev) };
    case S_IFBLK:
      return { kind: "nfs", type: "blk", ...devMajorMinor(rdev) };
    default:
      return undefined;
  }
}

/**
 * The mknod arguments for an NFS reparse point (the file-type bits and the
 * device number), or undefined for LNK, which becomes a symlink instead.
 */
export function mknodForNfsReparse(p: NfsReparse): { fileType: number; rdev: bigint } | undefined {
  switch (p.type) {
    case "fifo":
      return { fileType: S_IFIFO, rdev: 0n };
    case "sock":
      return { fileType: S_IFSOCK, rdev: 0n };
    case "chr":
      return { fileType: S_IFCHR, rdev: makeDev(p.major ?? 0, p.minor ?? 0) };
    case "blk":
      return { fileType: S_IFBLK, rdev: makeDev(p.major ?? 0, p.minor ?? 0) };
    case "lnk":
      return undefined;
  }
}

/**
 * The symlink reparse point of a host symlink target: `/` becomes `\`, and
 * SYMLINK_FLAG_RELATIVE is set unless the target is absolute (the caller
 * translates absolute targets inside the share, as Samba does, before calling).
 */
export function symlinkReparseForTarget(target: string): SymlinkReparse {
  const name = target.replaceAll("/", "\\");
  return { kind: "symlink", substituteName: name, printName: name, flags: target.startsWith("/") ? 0 : SYMLINK_FLAG_RELATIVE };
}
