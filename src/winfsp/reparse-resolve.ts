/**
 * The reparse-point helpers WinFsp's DLL offers file systems (src/dll/fsop.c),
 * rewritten over strings: {@link findReparsePoint} (for GetSecurityByName),
 * {@link resolveReparsePoints} (for ResolveReparsePoints) and
 * {@link canReplaceReparsePoint} (for Set/DeleteReparsePoint). A file system
 * supplies one callback, "the reparse data of this name", and gets WinFsp's
 * symbolic-link resolution: at most 32 links, `.` and `..` folded as they
 * are met, links inside the volume followed, absolute NT targets handed back
 * to the I/O manager, and any other tag handed back as data.
 */
import { NtStatus } from "../windows/ntstatus.js";
import {
  REPARSE_DATA_BUFFER_HEADER_SIZE,
  REPARSE_GUID_DATA_BUFFER_HEADER_SIZE,
  ReparseTag,
  SYMLINK_FLAG_RELATIVE,
  isReparseTagMicrosoft,
} from "./constants.js";
import { ntFail, ntOk, type NtResult, type NtStatusCode, type ReparseResolution } from "./interface.js";

/**
 * WinFsp's GetReparsePointByName callback: the reparse buffer of the main
 * file or directory `fileName` (never a stream), STATUS_NOT_A_REPARSE_POINT
 * when it is not one, STATUS_OBJECT_NAME_NOT_FOUND when it does not exist.
 * `isDirectory` is true when more components follow (the name is used as a
 * directory).
 */
export type GetReparsePointByName = (fileName: string, isDirectory: boolean) => NtResult<Uint8Array>;

/** The most links followed in one resolution (FspFileSystemResolveReparsePoints' MaxTries). */
export const MAX_REPARSE_HOPS = 32;

/**
 * The largest resolved name, in UTF-16 units, that fits the DLL's 16 KiB
 * response buffer after the 20-byte symbolic-link header.
 */
export const MAX_RESOLVED_NAME = (16 * 1024 - 20 - 64) / 2;

/** Offset of PathBuffer in a symbolic-link REPARSE_DATA_BUFFER. */
const SYMLINK_PATH_BUFFER = 20;

/** The tag (first 4 bytes, little-endian) of a reparse buffer, or `null` if it is shorter. */
export function reparseTagOf(buffer: Uint8Array): number | null {
  if (buffer.length < 4) return null;
  return (buffer[0]! | (buffer[1]! << 8) | (buffer[2]! << 16) | (buffer[3]! << 24)) >>> 0;
}

/**
 * FspFileSystemFindReparsePoint: the UTF-16 index in `fileName` of the first
 * component that is a reparse point, looking only at components followed by
 * `\` (not the last, and not past a `:`); `null` if there is none or the
 * walk meets a missing component first.
 */
export function findReparsePoint(getReparsePointByName: GetReparsePointByName, fileName: string): number | null {
  let i = 0;
  for (;;) {
    while (fileName.charCodeAt(i) === 0x5c) i++;
    const start = i;
    while (i < fileName.length && fileName.charCodeAt(i) !== 0x5c) {
      if (fileName.charCodeAt(i) === 0x3a) return null;
      i++;
    }
    if (i >= fileName.length) return null;
    const r = getReparsePointByName(fileName.slice(0, i), true);
    if (r.ok) return start;
    if (r.status !== NtStatus.STATUS_NOT_A_REPARSE_POINT) return null;
  }
}

/**
 * FspFileSystemResolveReparsePoints: resolves the symbolic links in
 * `fileName` starting at the component at `reparsePointIndex`. The last
 * component is resolved only when `resolveLastPathComponent` (the caller did
 * not ask for FILE_OPEN_REPARSE_POINT).
 *
 * Answers, with status STATUS_REPARSE:
 * - a symbolic-link buffer holding the resolved name: SYMLINK_FLAG_RELATIVE
 *   for a name in this volume (to be opened again), no flag for an absolute
 *   NT path (for the I/O manager);
 * - or, on meeting a reparse point that is not a symbolic link, that
 *   reparse point's own buffer with `information` its tag (for a mount
 *   point, Reserved holds the bytes of the name left after it).
 *
 * Failures: STATUS_REPARSE_POINT_NOT_RESOLVED after 32 links or when the
 * name outgrows the response buffer; STATUS_OBJECT_NAME_NOT_FOUND for a
 * missing component in the middle; STATUS_OBJECT_PATH_NOT_FOUND for any
 * other failure of the callback; STATUS_IO_REPARSE_DATA_INVALID for a
 * malformed symbolic-link buffer.
 */
export function resolveReparsePoints(
  getReparsePointByName: GetReparsePointByName,
  fileName: string,
  reparsePointIndex: number,
  resolveLastPathComponent: boolean,
): NtResult<ReparseResolution> {
  if (fileName.length > MAX_RESOLVED_NAME) return ntFail(NtStatus.STATUS_REPARSE_POINT_NOT_RESOLVED);
  let path = fileName;
  let i = Math.max(0, Math.min(reparsePointIndex, path.length));
  let resolveLast = resolveLastPathComponent;
  let hops = MAX_REPARSE_HOPS;
  let relative = true;

  for (;;) {
    while (path.charCodeAt(i) === 0x5c) i++;
    const start = i;
    let last = false;
    while (i < path.length && path.charCodeAt(i) !== 0x5c) {
      if (path.charCodeAt(i) === 0x3a) break;
      i++;
    }
    if (i >= path.length || path.charCodeAt(i) === 0x3a) {
      if (!resolveLast) break;
      resolveLast = false;
      last = true;
    }

    const component = path.slice(start, i);
    let replaceFrom: number;
    let replacement: string;
    if (component === "." || component === "..") {
      // Fold the dot entries: `.` goes, `..` takes the previous component with it.
      replaceFrom = start;
      if (component === "..") {
        while (replaceFrom > 0) {
          replaceFrom--;
          if (path.charCodeAt(replaceFrom) !== 0x5c) break;
        }
      }
      while (replaceFrom > 0) {
        replaceFrom--;
        if (path.charCodeAt(replaceFrom) === 0x5c) break;
      }
      replacement = "";
    } else {
      const r = getReparsePointByName(path.slice(0, i), !last && path.charCodeAt(i) === 0x5c);
      if (!r.ok) {
        if (r.status === NtStatus.STATUS_NOT_A_REPARSE_POINT) continue;
        if (r.status === NtStatus.STATUS_OBJECT_NAME_NOT_FOUND && path.charCodeAt(i) !== 0x5c) break;
        return ntFail(
          r.status === NtStatus.STATUS_OBJECT_NAME_NOT_FOUND
            ? NtStatus.STATUS_OBJECT_NAME_NOT_FOUND
            : NtStatus.STATUS_OBJECT_PATH_NOT_FOUND,
        );
      }
      const data = r.value;
      const tag = reparseTagOf(data);
      if (tag !== ReparseTag.SYMLINK) {
        if (tag === null) return ntFail(NtStatus.STATUS_IO_REPARSE_DATA_INVALID);
        const buffer = data.slice();
        if (tag === ReparseTag.MOUNT_POINT && buffer.length >= REPARSE_DATA_BUFFER_HEADER_SIZE) {
          const rest = 2 * (path.length - i);
          buffer[6] = rest & 0xff;
          buffer[7] = (rest >>> 8) & 0xff;
        }
        return ntOk({ information: tag, buffer }, NtStatus.STATUS_REPARSE);
      }
      if (--hops === 0) return ntFail(NtStatus.STATUS_REPARSE_POINT_NOT_RESOLVED);
      const link = decodeSymlinkTarget(data);
      if (link === null) return ntFail(NtStatus.STATUS_IO_REPARSE_DATA_INVALID);
      replacement = link.substituteName;
      replaceFrom = replacement.charCodeAt(0) === 0x5c ? 0 : start;
      if (!link.relative && replacement.charCodeAt(0) === 0x5c) {
        path = path.slice(0, replaceFrom) + replacement + path.slice(i);
        relative = false;
        break;
      }
    }
    path = path.slice(0, replaceFrom) + replacement + path.slice(i);
    if (path.length > MAX_RESOLVED_NAME) return ntFail(NtStatus.STATUS_REPARSE_POINT_NOT_RESOLVED);
    resolveLast = resolveLastPathComponent;
    i = replaceFrom;
  }

  if (path.length > MAX_RESOLVED_NAME) return ntFail(NtStatus.STATUS_REPARSE_POINT_NOT_RESOLVED);
  return ntOk(
    { information: ReparseTag.SYMLINK, buffer: encodeSymlinkBuffer(path, relative) },
    NtStatus.STATUS_REPARSE,
  );
}

/**
 * FspFileSystemCanReplaceReparsePoint: may `replacement` replace (or, as a
 * header-only buffer, delete) `current`? The tags must be equal
 * (STATUS_IO_REPARSE_TAG_MISMATCH), and for non-Microsoft tags so must the
 * GUIDs (STATUS_REPARSE_ATTRIBUTE_CONFLICT). Answers STATUS_SUCCESS or the error.
 */
export function canReplaceReparsePoint(current: Uint8Array, replacement: Uint8Array): NtStatusCode {
  const a = reparseTagOf(current);
  const b = reparseTagOf(replacement);
  if (a === null || b === null) return NtStatus.STATUS_IO_REPARSE_DATA_INVALID;
  if (a !== b) return NtStatus.STATUS_IO_REPARSE_TAG_MISMATCH;
  if (!isReparseTagMicrosoft(a)) {
    if (current.length < REPARSE_GUID_DATA_BUFFER_HEADER_SIZE || replacement.length < REPARSE_GUID_DATA_BUFFER_HEADER_SIZE)
      return NtStatus.STATUS_REPARSE_ATTRIBUTE_CONFLICT;
    for (let k = 8; k < REPARSE_GUID_DATA_BUFFER_HEADER_SIZE; k++)
      if (current[k] !== replacement[k]) return NtStatus.STATUS_REPARSE_ATTRIBUTE_CONFLICT;
  }
  return NtStatus.STATUS_SUCCESS;
}

/** A symbolic-link REPARSE_DATA_BUFFER whose substitute and print names are both `path`. */
export function encodeSymlinkBuffer(path: string, relative: boolean): Uint8Array {
  const nameBytes = 2 * path.length;
  const out = new Uint8Array(SYMLINK_PATH_BUFFER + nameBytes);
  const view = new DataView(out.buffer);
  view.setUint32(0, ReparseTag.SYMLINK, true);
  view.setUint16(4, SYMLINK_PATH_BUFFER - REPARSE_DATA_BUFFER_HEADER_SIZE + nameBytes, true);
  view.setUint16(8, 0, true); // SubstituteNameOffset
  view.setUint16(10, nameBytes, true);
  view.setUint16(12, 0, true); // PrintNameOffset
  view.setUint16(14, nameBytes, true);
  view.setUint32(16, relative ? SYMLINK_FLAG_RELATIVE : 0, true);
  for (let k = 0; k < path.length; k++) view.setUint16(SYMLINK_PATH_BUFFER + 2 * k, path.charCodeAt(k), true);
  return out;
}

/** The substitute name and relative flag of a symbolic-link buffer; `null` if a field points outside it. */
export function decodeSymlinkTarget(buffer: Uint8Array): { substituteName: string; relative: boolean } | null {
  if (buffer.length < SYMLINK_PATH_BUFFER) return null;
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const offset = view.getUint16(8, true);
  const length = view.getUint16(10, true);
  const flags = view.getUint32(16, true);
  if (offset % 2 !== 0 || length % 2 !== 0 || SYMLINK_PATH_BUFFER + offset + length > buffer.length) return null;
  let name = "";
  for (let k = 0; k < length; k += 2) name += String.fromCharCode(view.getUint16(SYMLINK_PATH_BUFFER + offset + k, true));
  return { substituteName: name, relative: (flags & SYMLINK_FLAG_RELATIVE) !== 0 };
}
