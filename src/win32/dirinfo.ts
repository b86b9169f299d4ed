/**
 * The directory-information classes of NtQueryDirectoryFile, packed the way
 * the WinFsp FSD packs them (src/sys/dirctl.c, FspFsvolQueryDirectoryCopy),
 * and read back the way Win32 FindFirstFile reads them.
 *
 * | class                          | FileName at | sizeof |
 * |--------------------------------|-------------|--------|
 * | FileDirectoryInformation (1)   | 64          | 72     |
 * | FileFullDirectoryInformation (2)| 68 (EaSize @64) | 72 |
 * | FileBothDirectoryInformation (3)| 94 (EaSize @64, ShortNameLength @68, ShortName @70) | 96 |
 * | FileNamesInformation (12)      | 12          | 16     |
 * | FileIdBothDirectoryInformation (37) | 104 (FileId @96) | 112 |
 * | FileIdFullDirectoryInformation (38) | 80 (EaSize @64, FileId @72) | 88 |
 *
 * Common head: u32 NextEntryOffset, u32 FileIndex, then (except names) i64
 * CreationTime, LastAccessTime, LastWriteTime, ChangeTime, EndOfFile,
 * AllocationSize, u32 FileAttributes, u32 FileNameLength (bytes). Entries
 * start 8-byte aligned; NextEntryOffset chains them (0 on the last).
 */
import { FileAttribute } from "../windows/attributes.js";
import type { FileInfo } from "../winfsp/interface.js";
import { FileInformationClass } from "./constants.js";

/** Where the FileName begins in each supported class (FIELD_OFFSET(…, FileName)). */
export function directoryInfoBaseLength(infoClass: number): number | null {
  switch (infoClass) {
    case FileInformationClass.FileDirectoryInformation:
      return 64;
    case FileInformationClass.FileFullDirectoryInformation:
      return 68;
    case FileInformationClass.FileBothDirectoryInformation:
      return 94;
    case FileInformationClass.FileNamesInformation:
      return 12;
    case FileInformationClass.FileIdBothDirectoryInformation:
      return 104;
    case FileInformationClass.FileIdFullDirectoryInformation:
      return 80;
    default:
      return null;
  }
}

/**
 * Writes one entry at `at` in `buffer` (which has room for the head and
 * `nameBytes` bytes of the name). `eaSize` is what the FSD reports in the
 * EaSize field (the EA size + 4, or the reparse tag for reparse points).
 */
export function writeDirectoryEntry(
  buffer: Uint8Array,
  at: number,
  infoClass: number,
  name: string,
  nameBytes: number,
  info: FileInfo,
  eaSize: number,
): void {
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const base = directoryInfoBaseLength(infoClass)!;
  buffer.fill(0, at, at + base);
  view.setUint32(at, 0, true);
  view.setUint32(at + 4, 0, true);
  if (infoClass === FileInformationClass.FileNamesInformation) {
    view.setUint32(at + 8, name.length * 2, true);
  } else {
    view.setBigInt64(at + 8, info.creationTime, true);
    view.setBigInt64(at + 16, info.lastAccessTime, true);
    view.setBigInt64(at + 24, info.lastWriteTime, true);
    view.setBigInt64(at + 32, info.changeTime, true);
    view.setBigInt64(at + 40, info.fileSize, true);
    view.setBigInt64(at + 48, info.allocationSize, true);
    view.setUint32(at + 56, info.fileAttributes !== 0 ? info.fileAttributes : FileAttribute.FILE_ATTRIBUTE_NORMAL, true);
    view.setUint32(at + 60, name.length * 2, true);
    if (infoClass !== FileInformationClass.FileDirectoryInformation) view.setUint32(at + 64, eaSize, true);
    if (infoClass === FileInformationClass.FileIdBothDirectoryInformation) view.setBigUint64(at + 96, info.indexNumber, true);
    if (infoClass === FileInformationClass.FileIdFullDirectoryInformation) view.setBigUint64(at + 72, info.indexNumber, true);
  }
  for (let i = 0; i * 2 < nameBytes; i++) {
    const c = name.charCodeAt(i);
    buffer[at + base + 2 * i] = c & 0xff;
    if (2 * i + 1 < nameBytes) buffer[at + base + 2 * i + 1] = c >>> 8;
  }
}

/** A decoded directory entry (the fields Win32 reports). */
export interface DirectoryEntry {
  readonly fileName: string;
  /** FileNameLength as stored (may exceed the bytes present after a STATUS_BUFFER_OVERFLOW). */
  readonly fileNameLength: number;
  readonly fileAttributes: number;
  readonly creationTime: bigint;
  readonly lastAccessTime: bigint;
  readonly lastWriteTime: bigint;
  readonly changeTime: bigint;
  readonly endOfFile: bigint;
  readonly allocationSize: bigint;
  readonly eaSize: number;
  readonly fileId: bigint;
}

/** Reads the entries of a directory buffer of `infoClass` (`length` valid bytes). */
export function readDirectoryEntries(buffer: Uint8Array, length: number, infoClass: number): DirectoryEntry[] {
  const base = directoryInfoBaseLength(infoClass);
  if (base === null) return [];
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const out: DirectoryEntry[] = [];
  let at = 0;
  for (;;) {
    if (at + base > length) break;
    const next = view.getUint32(at, true);
    const names = infoClass === FileInformationClass.FileNamesInformation;
    const fileNameLength = view.getUint32(at + (names ? 8 : 60), true);
    const present = Math.min(fileNameLength, length - at - base);
    let fileName = "";
    for (let i = 0; i + 1 < present; i += 2) fileName += String.fromCharCode(view.getUint16(at + base + i, true));
    out.push({
      fileName,
      fileNameLength,
      fileAttributes: names ? 0 : view.getUint32(at + 56, true),
      creationTime: names ? 0n : view.getBigInt64(at + 8, true),
      lastAccessTime: names ? 0n : view.getBigInt64(at + 16, true),
      lastWriteTime: names ? 0n : view.getBigInt64(at + 24, true),
      changeTime: names ? 0n : view.getBigInt64(at + 32, true),
      endOfFile: names ? 0n : view.getBigInt64(at + 40, true),
      allocationSize: names ? 0n : view.getBigInt64(at + 48, true),
      eaSize: names || infoClass === FileInformationClass.FileDirectoryInformation ? 0 : view.getUint32(at + 64, true),
      fileId:
        infoClass === FileInformationClass.FileIdBothDirectoryInformation
          ? view.getBigUint64(at + 96, true)
          : infoClass === FileInformationClass.FileIdFullDirectoryInformation
            ? view.getBigUint64(at + 72, true)
            : 0n,
    });
    if (next === 0) break;
    at += next;
  }
  return out;
}
