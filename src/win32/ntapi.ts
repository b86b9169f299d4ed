/**
 * The native API the Win32 functions are built on (ntdll's Nt* calls), over
 * the FSD: every function answers an IO_STATUS_BLOCK-like `{ Status,
 * Information }` with its outputs, and never throws for a failure the call
 * can report (an unknown handle is STATUS_INVALID_HANDLE). The tests that
 * assert NTSTATUS values (EA queries, directory buffers, POSIX
 * dispositions) call these directly, as winfsp-tests calls ntdll.
 */
import { NtStatus } from "../windows/ntstatus.js";
import { AccessMask, encodeSecurityDescriptor, type SecurityDescriptor } from "../windows/security.js";
import { CreateDisposition, CreateOption } from "../winfsp/constants.js";
import type { StreamInfo } from "../winfsp/interface.js";
import { FILE_SHARE_READ, FILE_SHARE_WRITE, FileInformationClass } from "./constants.js";
import type { FileObject, QueryInformationValue, VolumeInformation } from "./fsd.js";
import { directoryInfoBaseLength } from "./dirinfo.js";
import { ioCreateFile } from "./iomgr.js";
import { currentProcess, type HANDLE } from "./process.js";
import type { Volume } from "./volume.js";

const S = NtStatus;

/** IO_STATUS_BLOCK. */
export interface IO_STATUS_BLOCK {
  readonly Status: number;
  readonly Information: number;
}

/** A security descriptor as callers give one: self-relative bytes, or an absolute (structured) one. */
export type SECURITY_DESCRIPTOR_INPUT = Uint8Array | SecurityDescriptor;

/** Self-relative bytes of a descriptor the caller gave in either form (RtlAbsoluteToSelfRelativeSD). */
export function selfRelative(sd: SECURITY_DESCRIPTOR_INPUT | null | undefined): Uint8Array | null {
  if (sd === null || sd === undefined) return null;
  return sd instanceof Uint8Array ? sd : encodeSecurityDescriptor(sd);
}

/** OBJECT_ATTRIBUTES: the name (an NT path, or relative to RootDirectory) and a security descriptor. */
export interface OBJECT_ATTRIBUTES {
  readonly ObjectName: string;
  readonly RootDirectory?: HANDLE | null;
  readonly SecurityDescriptor?: SECURITY_DESCRIPTOR_INPUT | null;
}

/** A file handle's objects, or null. */
export function fileHandle(h: HANDLE): { fileObject: FileObject; volume: Volume; overlapped: boolean; ntPath: string } | null {
  const o = currentProcess().get(h);
  return o !== undefined && o.kind === "file" ? o : null;
}

/** NtCreateFile. `EaBuffer` is a FILE_FULL_EA_INFORMATION buffer. */
export async function NtCreateFile(
  DesiredAccess: number,
  ObjectAttributes: OBJECT_ATTRIBUTES,
  AllocationSize: bigint,
  FileAttributes: number,
  ShareAccess: number,
  CreateDispositionValue: number,
  CreateOptions: number,
  EaBuffer: Uint8Array | null = null,
): Promise<IO_STATUS_BLOCK & { FileHandle: HANDLE | null }> {
  return ntCreate(DesiredAccess, ObjectAttributes, AllocationSize, FileAttributes, ShareAccess, CreateDispositionValue, CreateOptions, EaBuffer, false);
}

/** NtOpenFile: NtCreateFile with FILE_OPEN. */
export function NtOpenFile(
  DesiredAccess: number,
  ObjectAttributes: OBJECT_ATTRIBUTES,
  ShareAccess: number,
  OpenOptions: number,
): Promise<IO_STATUS_BLOCK & { FileHandle: HANDLE | null }> {
  return NtCreateFile(DesiredAccess, ObjectAttributes, 0n, 0, ShareAccess, CreateDisposition.FILE_OPEN, OpenOptions);
}

/** The shared body of NtCreateFile and the I/O manager's target-directory open. */
export async function ntCreate(
  desiredAccess: number,
  oa: OBJECT_ATTRIBUTES,
  allocationSize: bigint,
  fileAttributes: number,
  shareAccess: number,
  disposition: number,
  options: number,
  eaBuffer: Uint8Array | null,
  openTargetDirectory: boolean,
): Promise<IO_STATUS_BLOCK & { FileHandle: HANDLE | null }> {
  const process = currentProcess();
  let root: { fileObject: FileObject; volume: Volume } | null = null;
  if (oa.RootDirectory !== undefined && oa.RootDirectory !== null) {
    const r = fileHandle(oa.RootDirectory);
    if (r === null) return { Status: S.STATUS_INVALID_HANDLE, Information: 0, FileHandle: null };
    root = r;
  }
  const r = await ioCreateFile({
    name: oa.ObjectName,
    root,
    desiredAccess,
    fileAttributes,
    shareAccess,
    createDisposition: disposition,
    createOptions: options,
    allocationSize,
    securityDescriptor: selfRelative(oa.SecurityDescriptor),
    eaBuffer,
    openTargetDirectory,
    token: process.token,
  });
  if (r.fileObject === undefined) return { Status: r.status, Information: r.information, FileHandle: null };
  const ntPath = root !== null ? `${root.volume.deviceName}${r.fileObject.node?.fileName ?? ""}` : oa.ObjectName;
  const handle = process.insert({
    kind: "file",
    fileObject: r.fileObject,
    volume: r.volume,
    overlapped: (options & (CreateOption.FILE_SYNCHRONOUS_IO_ALERT | CreateOption.FILE_SYNCHRONOUS_IO_NONALERT)) === 0,
    ntPath,
  });
  return { Status: r.status, Information: r.information, FileHandle: handle };
}

/** NtClose of a file handle: cleanup, then close once unreferenced. */
export async function NtClose(h: HANDLE): Promise<number> {
  const f = fileHandle(h);
  if (f === null) return S.STATUS_INVALID_HANDLE;
  currentProcess().remove(h);
  await f.volume.fsd.closeHandle(f.fileObject);
  return S.STATUS_SUCCESS;
}

/** NtQueryInformationFile, decoded (FileStreamInformation names formatted `:name:$DATA` by the FSD's rules). */
export async function NtQueryInformationFile(
  h: HANDLE,
  FileInformationClassValue: number,
): Promise<IO_STATUS_BLOCK & { FileInformation: QueryInformationValue | null }> {
  const f = fileHandle(h);
  if (f === null) return { Status: S.STATUS_INVALID_HANDLE, Information: 0, FileInformation: null };
  if (FileInformationClassValue === FileInformationClass.FilePositionInformation) {
    return {
      Status: S.STATUS_SUCCESS,
      Information: 8,
      FileInformation: { class: "position", position: f.fileObject.currentByteOffset },
    };
  }
  const r = await f.volume.fsd.queryInformation(f.fileObject, FileInformationClassValue);
  return { Status: r.status, Information: r.information, FileInformation: r.value ?? null };
}

/** The stream names FileStreamInformation reports for a file system's stream list. */
export function streamNames(streams: readonly StreamInfo[]): { name: string; size: bigint; allocationSize: bigint }[] {
  return streams.map((s) => ({ name: `:${s.streamName}:$DATA`, size: s.streamSize, allocationSize: s.streamAllocationSize }));
}

/** What NtSetInformationFile takes, by class. */
export type FILE_INFORMATION_INPUT =
  | { readonly CreationTime: bigint; readonly LastAccessTime: bigint; readonly LastWriteTime: bigint; readonly ChangeTime: bigint; readonly FileAttributes: number }
  | { readonly ReplaceIfExists?: boolean; readonly Flags?: number; readonly RootDirectory?: HANDLE | null; readonly FileName: string }
  | { readonly DeleteFile: boolean }
  | { readonly Flags: number }
  | { readonly EndOfFile: bigint }
  | { readonly AllocationSize: bigint }
  | { readonly CurrentByteOffset: bigint };

/** NtSetInformationFile for the classes the FSD handles (and FilePositionInformation, the I/O manager's). */
export async function NtSetInformationFile(h: HANDLE, FileInformation: FILE_INFORMATION_INPUT, FileInformationClassValue: number): Promise<IO_STATUS_BLOCK> {
  const f = fileHandle(h);
  if (f === null) return { Status: S.STATUS_INVALID_HANDLE, Information: 0 };
  const fsd = f.volume.fsd;
  const fo = f.fileObject;
  const C = FileInformationClass;
  const i = FileInformation as Record<string, unknown>;
  const done = (r: { status: number; information: number }): IO_STATUS_BLOCK => ({ Status: r.status, Information: r.information });
  switch (FileInformationClassValue) {
    case C.FileBasicInformation:
      return done(
        await fsd.setBasicInformation(fo, {
          fileAttributes: Number(i.FileAttributes ?? 0),
          creationTime: BigInt((i.CreationTime as bigint | undefined) ?? 0n),
          lastAccessTime: BigInt((i.LastAccessTime as bigint | undefined) ?? 0n),
          lastWriteTime: BigInt((i.LastWriteTime as bigint | undefined) ?? 0n),
          changeTime: BigInt((i.ChangeTime as bigint | undefined) ?? 0n),
        }),
      );
    case C.FileEndOfFileInformation:
      return done(await fsd.setFileSize(fo, i.EndOfFile as bigint, false));
    case C.FileAllocationInformation:
      return done(await fsd.setFileSize(fo, i.AllocationSize as bigint, true));
    case C.FileDispositionInformation:
      return done(await fsd.setDisposition(fo, i.DeleteFile === true ? 1 : 0, false));
    case C.FileDispositionInformationEx:
      return done(await fsd.setDisposition(fo, Number(i.Flags ?? 0), true));
    case C.FilePositionInformation:
      fo.currentByteOffset = i.CurrentByteOffset as bigint;
      return { Status: S.STATUS_SUCCESS, Information: 0 };
    case C.FileLinkInformation:
      return { Status: S.STATUS_NOT_SUPPORTED, Information: 0 };
    case C.FileRenameInformation:
    case C.FileRenameInformationEx:
      return rename(f, i, FileInformationClassValue);
    default:
      return { Status: S.STATUS_INVALID_INFO_CLASS, Information: 0 };
  }
}

/**
 * The I/O manager's rename (IopOpenLinkOrRenameTarget): a name with a
 * backslash, or a RootDirectory, makes it open the target's directory with
 * SL_OPEN_TARGET_DIRECTORY (which must be on the same volume); a bare name
 * renames within the same directory.
 */
async function rename(
  f: { fileObject: FileObject; volume: Volume },
  i: Record<string, unknown>,
  infoClass: number,
): Promise<IO_STATUS_BLOCK> {
  const fileName = String(i.FileName ?? "");
  const flags = Number(i.Flags ?? 0);
  const replace = infoClass === FileInformationClass.FileRenameInformationEx ? (flags & 1) !== 0 : i.ReplaceIfExists === true;
  const rootDirectory = (i.RootDirectory as HANDLE | null | undefined) ?? null;
  let target: { handle: HANDLE; fileObject: FileObject; volume: Volume } | null = null;
  if (rootDirectory !== null || fileName.includes("\\")) {
    const isDirectory = f.fileObject.node?.isDirectory === true;
    const t = await ntCreate(
      (isDirectory ? AccessMask.FILE_ADD_SUBDIRECTORY : AccessMask.FILE_ADD_FILE) | AccessMask.SYNCHRONIZE,
      { ObjectName: fileName, RootDirectory: rootDirectory },
      0n,
      0,
      FILE_SHARE_READ | FILE_SHARE_WRITE,
      CreateDisposition.FILE_OPEN,
      CreateOption.FILE_OPEN_FOR_BACKUP_INTENT | CreateOption.FILE_SYNCHRONOUS_IO_NONALERT,
      null,
      true,
    );
    if (t.FileHandle === null) return { Status: t.Status, Information: 0 };
    const th = fileHandle(t.FileHandle)!;
    target = { handle: t.FileHandle, fileObject: th.fileObject, volume: th.volume };
    if (th.volume !== f.volume) {
      await NtClose(t.FileHandle);
      return { Status: S.STATUS_NOT_SAME_DEVICE, Information: 0 };
    }
  }
  try {
    const r = await f.volume.fsd.setRename(f.fileObject, {
      infoClass,
      replaceIfExists: replace,
      flags,
      targetDirectory: target?.fileObject ?? null,
      fileName,
      token: currentProcess().token,
    });
    return { Status: r.status, Information: r.information };
  } finally {
    if (target !== null) await NtClose(target.handle);
  }
}

/** NtQueryDirectoryFile: the packed buffer (Information bytes valid). */
export async function NtQueryDirectoryFile(
  h: HANDLE,
  Length: number,
  FileInformationClassValue: number,
  ReturnSingleEntry: boolean,
  FileName: string | null,
  RestartScan: boolean,
  IndexSpecified = false,
): Promise<IO_STATUS_BLOCK & { Buffer: Uint8Array }> {
  const f = fileHandle(h);
  if (f === null) return { Status: S.STATUS_INVALID_HANDLE, Information: 0, Buffer: new Uint8Array(0) };
  // The I/O manager's check: at least sizeof the class's structure (IopQueryOperationLength).
  const base = directoryInfoBaseLength(FileInformationClassValue);
  if (base !== null && Length < ((base + 2 + 7) & ~7)) return { Status: S.STATUS_INFO_LENGTH_MISMATCH, Information: 0, Buffer: new Uint8Array(0) };
  const r = await f.volume.fsd.queryDirectory(f.fileObject, {
    infoClass: FileInformationClassValue,
    length: Length,
    returnSingleEntry: ReturnSingleEntry,
    fileName: FileName,
    restartScan: RestartScan,
    indexSpecified: IndexSpecified,
  });
  return { Status: r.status, Information: r.information, Buffer: r.value ?? new Uint8Array(0) };
}

/** NtQueryEaFile. `EaList` is a FILE_GET_EA_INFORMATION buffer; `EaIndex` null unless SL_INDEX_SPECIFIED. */
export async function NtQueryEaFile(
  h: HANDLE,
  Length: number,
  ReturnSingleEntry: boolean,
  EaList: Uint8Array | null,
  EaIndex: number | null,
  RestartScan: boolean,
): Promise<IO_STATUS_BLOCK & { Buffer: Uint8Array }> {
  const f = fileHandle(h);
  if (f === null) return { Status: S.STATUS_INVALID_HANDLE, Information: 0, Buffer: new Uint8Array(0) };
  const r = await f.volume.fsd.queryEa(f.fileObject, { length: Length, returnSingleEntry: ReturnSingleEntry, eaList: EaList, eaIndex: EaIndex, restartScan: RestartScan });
  return { Status: r.status, Information: r.information, Buffer: r.value ?? new Uint8Array(0) };
}

/** NtSetEaFile. */
export async function NtSetEaFile(h: HANDLE, Buffer: Uint8Array): Promise<IO_STATUS_BLOCK> {
  const f = fileHandle(h);
  if (f === null) return { Status: S.STATUS_INVALID_HANDLE, Information: 0 };
  const r = await f.volume.fsd.setEa(f.fileObject, Buffer);
  return { Status: r.status, Information: r.information };
}

/** NtQueryVolumeInformationFile, all the classes Win32 uses at once. */
export async function NtQueryVolumeInformationFile(h: HANDLE): Promise<IO_STATUS_BLOCK & { Volume: VolumeInformation | null }> {
  const f = fileHandle(h);
  if (f === null) return { Status: S.STATUS_INVALID_HANDLE, Information: 0, Volume: null };
  const r = await f.volume.fsd.queryVolumeInformation();
  return { Status: r.status, Information: r.information, Volume: r.value ?? null };
}
