/**
 * The reparse-point helpers WinFsp's DLL offers file systems (src/dll/fsop.c),
 * rewritten over strings: {@link findReparsePoint} (for GetSecurityByName)
 * and {@link resolveReparsePoints} (for ResolveReparsePoints); the buffer
 * codecs and FspFileSystemCanReplaceReparsePoint are in
 * src/windows/reparse.ts. A file system
 * supplies one callback, "the reparse data of this name", and gets WinFsp's
 * symbolic-link resolution: at most 32 links, `.` and `..` folded as they
 * are met, links inside the volume followed, absolute NT targets handed back
 * to the I/O manager, and any other tag handed back as data.
 */
import { ProtocolError } from "../common/errors.js";
import { NtStatus } from "../windows/ntstatus.js";
import {
  REPARSE_DATA_BUFFER_HEADER_SIZE,
  ReparseTag,
  SYMLINK_FLAG_RELATIVE,
  decodeReparseBuffer,
  encodeReparseBuffer,
} from "../windows/reparse.js";
import { ntFail, ntOk, type NtResult, type ReparseResolution } from "./interface.js";

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
 * The longest resolved name, in UTF-16 units: the answer carries it twice
 * (substitute and print name) after a 20-byte header, within the DLL's
 * 16 KiB response buffer.
 */
export const MAX_RESOLVED_NAME = 4000;

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
      if (tag !== ReparseTag.IO_REPARSE_TAG_SYMLINK) {
        if (tag === null) return ntFail(NtStatus.STATUS_IO_REPARSE_DATA_INVALID);
        const buffer = data.slice();
        if (tag === ReparseTag.IO_REPARSE_TAG_MOUNT_POINT && buffer.length >= REPARSE_DATA_BUFFER_HEADER_SIZE) {
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
    { information: ReparseTag.IO_REPARSE_TAG_SYMLINK, buffer: encodeSymlinkBuffer(path, relative) },
    NtStatus.STATUS_REPARSE,
  );
}

/** A symbolic-link REPARSE_DATA_BUFFER whose substitute and print names are both `path`. */
export function encodeSymlinkBuffer(path: string, relative: boolean): Uint8Array {
  return encodeReparseBuffer({
    kind: "symlink",
    substituteName: path,
    printName: path,
    flags: relative ? SYMLINK_FLAG_RELATIVE : 0,
  });
}

/** The substitute name and relative flag of a symbolic-link buffer; `null` if it does not decode. */
function decodeSymlinkTarget(buffer: Uint8Array): { substituteName: string; relative: boolean } | null {
  try {
    const p = decodeReparseBuffer(buffer);
    if (p.kind !== "symlink") return null;
    return { substituteName: p.substituteName, relative: (p.flags & SYMLINK_FLAG_RELATIVE) !== 0 };
  } catch (e) {
    if (ProtocolError.is(e)) return null;
    throw e;
  }
}
