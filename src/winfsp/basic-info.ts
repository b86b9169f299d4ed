/**
 * How the FSD turns a caller's FileBasicInformation (NtSetInformationFile
 * class 4, SetFileAttributes, SetFileTime) into SetBasicInfo's arguments
 * (src/sys/fileinfo.c, FspFsvolSetBasicInformation). The Win32 layer calls
 * this before SetBasicInfo; file systems then only ever see "0 / INVALID
 * means leave alone".
 */
import { FileAttribute, INVALID_FILE_ATTRIBUTES } from "../windows/attributes.js";
import { NtStatus } from "../windows/ntstatus.js";
import { ntFail, ntOk, type BasicInfoIn, type NtResult } from "./interface.js";

/** FILE_BASIC_INFORMATION as a caller passes it; times are LARGE_INTEGERs (-1 may be given as -1n or 2^64-1). */
export interface CallerBasicInfo {
  readonly fileAttributes: number;
  readonly creationTime: bigint;
  readonly lastAccessTime: bigint;
  readonly lastWriteTime: bigint;
  readonly changeTime: bigint;
}

const MINUS_ONE_UNSIGNED = 0xffffffffffffffffn;

/**
 * The FSD's mapping:
 * - TEMPORARY on a directory: STATUS_INVALID_PARAMETER.
 * - Attributes 0 become INVALID_FILE_ATTRIBUTES ("leave alone"); otherwise
 *   NORMAL and DIRECTORY are cleared and DIRECTORY set again for directories
 *   (so SetFileAttributes(NORMAL) clears everything, DIRECTORY|HIDDEN on a
 *   file gives HIDDEN).
 * - A time of -1 ("do not update this time on I/O through this handle")
 *   becomes 0 ("leave alone"); 0 stays 0.
 */
export function basicInfoRequest(caller: CallerBasicInfo, isDirectory: boolean): NtResult<BasicInfoIn> {
  let attributes = caller.fileAttributes >>> 0;
  if (isDirectory && (attributes & FileAttribute.FILE_ATTRIBUTE_TEMPORARY) !== 0)
    return ntFail(NtStatus.STATUS_INVALID_PARAMETER);
  if (attributes === 0) attributes = INVALID_FILE_ATTRIBUTES;
  else {
    attributes &= ~(FileAttribute.FILE_ATTRIBUTE_NORMAL | FileAttribute.FILE_ATTRIBUTE_DIRECTORY);
    if (isDirectory) attributes |= FileAttribute.FILE_ATTRIBUTE_DIRECTORY;
    attributes >>>= 0;
  }
  const time = (t: bigint): bigint => (t === -1n || t === MINUS_ONE_UNSIGNED ? 0n : t);
  return ntOk({
    fileAttributes: attributes,
    creationTime: time(caller.creationTime),
    lastAccessTime: time(caller.lastAccessTime),
    lastWriteTime: time(caller.lastWriteTime),
    changeTime: time(caller.changeTime),
  });
}
