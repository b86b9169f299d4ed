/**
 * kernel32's file API over the emulated I/O path: the functions keep
 * kernel32's names, parameter order and constants; what kernel32 writes to
 * pointers is returned instead; a failure rejects with a {@link Win32Error}
 * (`code` the Win32 error, `name` its symbol) and sets the last error
 * GetLastError() reports. Each function translates to the native calls
 * kernelbase makes (ntapi.ts), so the FSD sees the requests Windows would
 * send: CreateFileW adds SYNCHRONIZE and FILE_READ_ATTRIBUTES,
 * DeleteFileW tries a POSIX disposition before the legacy one, MoveFileExW
 * renames through an open of the source with DELETE, FindFirstFileW
 * translates DOS wildcards, and so on.
 *
 * Overlapped I/O: a handle opened with FILE_FLAG_OVERLAPPED takes an
 * {@link OVERLAPPED} giving the offset. A request the FSD completes at once
 * resolves as kernel32's TRUE; one that stays pending (a waiting lock, a
 * granted oplock, a change notification) rejects with ERROR_IO_PENDING and
 * completes through the OVERLAPPED (GetOverlappedResult, or its
 * `completion` promise).
 */
import { FileAttribute, INVALID_FILE_ATTRIBUTES } from "../windows/attributes.js";
import { systemTimeAsFileTime } from "./clock.js";
import { NtStatus, Win32ErrorCode as W, ntStatusToWin32, ntSuccess } from "../windows/ntstatus.js";
import { SYMLINK_FLAG_RELATIVE, encodeReparseBuffer } from "../windows/reparse.js";
import { formatSddl, parseSddl } from "../windows/sddl.js";
import {
  AccessMask,
  SecurityInformation,
  decodeSecurityDescriptor,
  encodeSecurityDescriptor,
  sidEquals,
  type Acl,
  type SecurityDescriptor,
  type Sid,
} from "../windows/security.js";
import { CreateDisposition, CreateOption, CreateResult } from "../winfsp/constants.js";
import {
  CREATE_ALWAYS,
  CREATE_NEW,
  FILE_BEGIN,
  FILE_CURRENT,
  FILE_END,
  FILE_FLAG_BACKUP_SEMANTICS,
  FILE_FLAG_DELETE_ON_CLOSE,
  FILE_FLAG_NO_BUFFERING,
  FILE_FLAG_OPEN_NO_RECALL,
  FILE_FLAG_OPEN_REPARSE_POINT,
  FILE_FLAG_OVERLAPPED,
  FILE_FLAG_RANDOM_ACCESS,
  FILE_FLAG_SEQUENTIAL_SCAN,
  FILE_FLAG_WRITE_THROUGH,
  FILE_NAME_OPENED,
  FILE_SHARE_DELETE,
  FILE_SHARE_READ,
  FILE_SHARE_WRITE,
  FILE_TYPE_DISK,
  FileAllocationInfo,
  FileAttributeTagInfo,
  FileBasicInfo,
  FileDispositionInfo,
  FileDispositionInfoEx,
  FileEndOfFileInfo,
  FileInformationClass,
  FileNameInfo,
  FileNormalizedNameInfo,
  FileRenameInfo,
  FileRenameInfoEx,
  FileStandardInfo,
  FileStreamInfo,
  LOCKFILE_EXCLUSIVE_LOCK,
  LOCKFILE_FAIL_IMMEDIATELY,
  MOVEFILE_REPLACE_EXISTING,
  OPEN_ALWAYS,
  OPEN_EXISTING,
  SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE,
  SYMBOLIC_LINK_FLAG_DIRECTORY,
  TRUNCATE_EXISTING,
  VOLUME_NAME_DOS,
  VOLUME_NAME_GUID,
  VOLUME_NAME_NONE,
  VOLUME_NAME_NT,
  FindExInfoBasic,
  ERROR_IO_INCOMPLETE,
  ERROR_NEGATIVE_SEEK,
  ERROR_DIR_NOT_ROOT,
} from "./constants.js";
import { readDirectoryEntries, type DirectoryEntry } from "./dirinfo.js";
import { Win32Error } from "./errors.js";
import { FSCTL_SET_REPARSE_POINT } from "./constants.js";
import { encodeOplockOutput, type FileObject, type QueryInformationValue } from "./fsd.js";
import { dosPathToNtPath, win32PatternToNt } from "./names.js";
import {
  NtClose,
  NtCreateFile,
  NtQueryDirectoryFile,
  NtQueryInformationFile,
  NtQueryVolumeInformationFile,
  NtSetInformationFile,
  fileHandle,
  selfRelative,
  streamNames,
  type FILE_INFORMATION_INPUT,
  type SECURITY_DESCRIPTOR_INPUT,
} from "./ntapi.js";
import { notifyRecordSize, type NotifyRecord } from "./notify.js";
import { currentProcess, type HANDLE } from "./process.js";
import { Privilege } from "./token.js";
import { volumeAtDrive } from "./volume.js";

const S = NtStatus;
const A = AccessMask;
const O = CreateOption;

// ----------------------------------------------------------------- errors

/** The last error of the current process (set by every function here; 0 after success unless stated). */
export function GetLastError(): number {
  return currentProcess().lastError;
}

export function SetLastError(code: number): void {
  currentProcess().lastError = code >>> 0;
}

function fail(code: number, call: string, status?: number, output?: unknown): never {
  currentProcess().lastError = code;
  throw new Win32Error(code, { call, ...(status !== undefined ? { status } : {}), output });
}

function failStatus(status: number, call: string, output?: unknown): never {
  fail(ntStatusToWin32(status), call, status >>> 0, output);
}

function succeed(lastError = 0): void {
  currentProcess().lastError = lastError;
}

/** The NT path of a Win32 path against the current directory; ERROR_INVALID_NAME / PATH_NOT_FOUND otherwise. */
function ntPathOf(path: string, call: string): string {
  const nt = dosPathToNtPath(path, currentProcess().currentDirectory);
  if (nt === null) fail(path.length === 0 ? W.ERROR_PATH_NOT_FOUND : W.ERROR_INVALID_NAME, call);
  return nt;
}

function fileOf(h: HANDLE, call: string): ReturnType<typeof fileHandle> & object {
  const f = fileHandle(h);
  if (f === null) fail(W.ERROR_INVALID_HANDLE, call);
  return f;
}

// ------------------------------------------------------------- OVERLAPPED

/** What an overlapped request completed with. */
export interface OverlappedResult {
  readonly status: number;
  readonly bytesTransferred: number;
  readonly output: Uint8Array | null;
}

/**
 * OVERLAPPED: the offset of a positioned request, and, once a request went
 * pending, its completion.
 */
export class OVERLAPPED {
  Offset: number;
  OffsetHigh: number;
  /** Internal: the completion of the pending request, or the result of a completed one. */
  private pendingResult: Promise<OverlappedResult> | null = null;
  private done: OverlappedResult | null = null;

  constructor(offset: bigint | number = 0) {
    const o = BigInt(offset);
    this.Offset = Number(o & 0xffffffffn);
    this.OffsetHigh = Number(o >> 32n);
  }

  get offset(): bigint {
    return (BigInt(this.OffsetHigh >>> 0) << 32n) | BigInt(this.Offset >>> 0);
  }

  /** The completion of the request started with this OVERLAPPED (resolves, never rejects). */
  get completion(): Promise<OverlappedResult> {
    if (this.done !== null) return Promise.resolve(this.done);
    if (this.pendingResult !== null) return this.pendingResult;
    return Promise.resolve({ status: S.STATUS_SUCCESS, bytesTransferred: 0, output: null });
  }

  /** The output of the last completed request (the data of a ReadFile, DeviceIoControl's out buffer). */
  get output(): Uint8Array | null {
    return this.done?.output ?? null;
  }

  /** Internal: a request completed at once. */
  complete(r: OverlappedResult): void {
    this.done = r;
    this.pendingResult = null;
  }

  /** Internal: a request went pending. */
  pend(p: Promise<OverlappedResult>): void {
    this.done = null;
    this.pendingResult = p.then((r) => {
      this.done = r;
      return r;
    });
  }

  /** Internal: whether a request is still pending. */
  get isPending(): boolean {
    return this.pendingResult !== null && this.done === null;
  }
}

/**
 * GetOverlappedResult: the bytes transferred by the request; with `bWait`
 * false and the request pending, ERROR_IO_INCOMPLETE. A failed request
 * rejects with its error (ERROR_HANDLE_EOF, ERROR_LOCK_VIOLATION, …).
 */
export async function GetOverlappedResult(hFile: HANDLE, lpOverlapped: OVERLAPPED, bWait: boolean): Promise<number> {
  fileOf(hFile, "GetOverlappedResult");
  if (lpOverlapped.isPending && !bWait) fail(ERROR_IO_INCOMPLETE, "GetOverlappedResult");
  const r = await lpOverlapped.completion;
  if (!ntSuccess(r.status)) failStatus(r.status, "GetOverlappedResult");
  succeed();
  return r.bytesTransferred;
}

/** Answers a request on an overlapped handle: at once, or (pending) through the OVERLAPPED. */
async function overlappedOrWait<T>(
  call: string,
  overlapped: OVERLAPPED | null,
  pending: Promise<OverlappedResult>,
  onDone: (r: OverlappedResult) => T,
): Promise<T> {
  if (overlapped !== null) {
    overlapped.pend(pending);
    fail(W.ERROR_IO_PENDING, call);
  }
  const r = await pending;
  if (!ntSuccess(r.status)) failStatus(r.status, call);
  succeed();
  return onDone(r);
}

// ---------------------------------------------------------------- handles

/** SECURITY_ATTRIBUTES: only the descriptor matters here. */
export interface SECURITY_ATTRIBUTES {
  readonly lpSecurityDescriptor?: SECURITY_DESCRIPTOR_INPUT | null;
  readonly bInheritHandle?: boolean;
}

/** The attribute bits CreateFileW passes on (FILE_ATTRIBUTE_VALID_FLAGS). */
const FILE_ATTRIBUTE_VALID_FLAGS = 0x7fa7;

/**
 * CreateFileW. Dispositions map to FILE_CREATE, FILE_OVERWRITE_IF,
 * FILE_OPEN, FILE_OPEN_IF and FILE_OVERWRITE; a collision under CREATE_NEW
 * is ERROR_FILE_EXISTS; CREATE_ALWAYS and OPEN_ALWAYS on an existing file
 * succeed with last error ERROR_ALREADY_EXISTS.
 */
export async function CreateFileW(
  lpFileName: string,
  dwDesiredAccess: number,
  dwShareMode: number,
  lpSecurityAttributes: SECURITY_ATTRIBUTES | null,
  dwCreationDisposition: number,
  dwFlagsAndAttributes: number,
  hTemplateFile: HANDLE | null = null,
): Promise<HANDLE> {
  void hTemplateFile;
  const call = "CreateFileW";
  let disposition: number;
  switch (dwCreationDisposition) {
    case CREATE_NEW:
      disposition = CreateDisposition.FILE_CREATE;
      break;
    case CREATE_ALWAYS:
      disposition = CreateDisposition.FILE_OVERWRITE_IF;
      break;
    case OPEN_EXISTING:
      disposition = CreateDisposition.FILE_OPEN;
      break;
    case OPEN_ALWAYS:
      disposition = CreateDisposition.FILE_OPEN_IF;
      break;
    case TRUNCATE_EXISTING:
      disposition = CreateDisposition.FILE_OVERWRITE;
      break;
    default:
      fail(W.ERROR_INVALID_PARAMETER, call);
  }
  const flags = dwFlagsAndAttributes >>> 0;
  let access = (dwDesiredAccess | A.SYNCHRONIZE | A.FILE_READ_ATTRIBUTES) >>> 0;
  let options = 0;
  if ((flags & FILE_FLAG_OVERLAPPED) === 0) options |= O.FILE_SYNCHRONOUS_IO_NONALERT;
  if (flags & FILE_FLAG_WRITE_THROUGH) options |= O.FILE_WRITE_THROUGH;
  if (flags & FILE_FLAG_NO_BUFFERING) options |= O.FILE_NO_INTERMEDIATE_BUFFERING;
  if (flags & FILE_FLAG_RANDOM_ACCESS) options |= O.FILE_RANDOM_ACCESS;
  if (flags & FILE_FLAG_SEQUENTIAL_SCAN) options |= O.FILE_SEQUENTIAL_ONLY;
  if (flags & FILE_FLAG_DELETE_ON_CLOSE) {
    options |= O.FILE_DELETE_ON_CLOSE;
    access |= A.DELETE;
  }
  if (flags & FILE_FLAG_BACKUP_SEMANTICS) options |= O.FILE_OPEN_FOR_BACKUP_INTENT;
  else options |= O.FILE_NON_DIRECTORY_FILE;
  if (flags & FILE_FLAG_OPEN_REPARSE_POINT) options |= O.FILE_OPEN_REPARSE_POINT;
  if (flags & FILE_FLAG_OPEN_NO_RECALL) options |= O.FILE_OPEN_NO_RECALL;
  const nt = ntPathOf(lpFileName, call);
  const r = await NtCreateFile(
    access,
    { ObjectName: nt, SecurityDescriptor: lpSecurityAttributes?.lpSecurityDescriptor ?? null },
    0n,
    flags & FILE_ATTRIBUTE_VALID_FLAGS,
    dwShareMode,
    disposition,
    options,
  );
  if (r.FileHandle === null) {
    if (r.Status === S.STATUS_OBJECT_NAME_COLLISION && dwCreationDisposition === CREATE_NEW) fail(W.ERROR_FILE_EXISTS, call, r.Status);
    failStatus(r.Status, call);
  }
  const existed =
    (dwCreationDisposition === CREATE_ALWAYS || dwCreationDisposition === OPEN_ALWAYS) &&
    (r.Information === CreateResult.FILE_OPENED || r.Information === CreateResult.FILE_OVERWRITTEN || r.Information === CreateResult.FILE_SUPERSEDED);
  succeed(existed ? W.ERROR_ALREADY_EXISTS : 0);
  return r.FileHandle;
}

/** CloseHandle: files (cleanup, then close), mappings, events, find handles, processes, tokens. */
export async function CloseHandle(hObject: HANDLE): Promise<void> {
  const p = currentProcess();
  const o = p.get(hObject);
  if (o === undefined) fail(W.ERROR_INVALID_HANDLE, "CloseHandle");
  switch (o.kind) {
    case "file":
      await NtClose(hObject);
      break;
    case "mapping":
      p.remove(hObject);
      await o.volume.fsd.sectionOp(() => o.section.closeHandle(o.writable));
      break;
    case "find":
      p.remove(hObject);
      await CloseHandle(o.state.directory).catch(() => undefined);
      break;
    default:
      p.remove(hObject);
  }
  succeed();
}

/** GetFileType: FILE_TYPE_DISK for every file of these volumes (the FSD reports FILE_DEVICE_DISK). */
export function GetFileType(hFile: HANDLE): number {
  fileOf(hFile, "GetFileType");
  succeed();
  return FILE_TYPE_DISK;
}

// ------------------------------------------------------------- read/write

function positionOf(f: { fileObject: FileObject; overlapped: boolean }, ov: OVERLAPPED | null, call: string): bigint {
  if (ov !== null) return ov.offset;
  if (f.overlapped) fail(W.ERROR_INVALID_PARAMETER, call);
  return f.fileObject.currentByteOffset;
}

/**
 * ReadFile: up to `nNumberOfBytesToRead` bytes from the file position (or
 * the OVERLAPPED's offset). At end of file a synchronous read answers no
 * bytes; a read with an OVERLAPPED fails with ERROR_HANDLE_EOF.
 */
export async function ReadFile(hFile: HANDLE, nNumberOfBytesToRead: number, lpOverlapped: OVERLAPPED | null = null): Promise<Uint8Array> {
  const call = "ReadFile";
  const f = fileOf(hFile, call);
  const offset = positionOf(f, lpOverlapped, call);
  const r = await f.volume.fsd.read(f.fileObject, offset, nNumberOfBytesToRead);
  if (r.value === undefined) {
    if (r.status === S.STATUS_END_OF_FILE && lpOverlapped === null) {
      succeed();
      return new Uint8Array(0);
    }
    lpOverlapped?.complete({ status: r.status, bytesTransferred: 0, output: null });
    failStatus(r.status, call);
  }
  if (!f.overlapped) f.fileObject.currentByteOffset = offset + BigInt(r.value.length);
  lpOverlapped?.complete({ status: S.STATUS_SUCCESS, bytesTransferred: r.value.length, output: r.value });
  succeed();
  return r.value;
}

/**
 * WriteFile: at the file position (or the OVERLAPPED's offset); a handle
 * with FILE_APPEND_DATA and not FILE_WRITE_DATA always writes at end of
 * file. Answers the bytes written.
 */
export async function WriteFile(hFile: HANDLE, lpBuffer: Uint8Array, lpOverlapped: OVERLAPPED | null = null): Promise<number> {
  const call = "WriteFile";
  const f = fileOf(hFile, call);
  const g = f.fileObject.grantedAccess;
  const appendOnly = (g & A.FILE_WRITE_DATA) === 0 && (g & A.FILE_APPEND_DATA) !== 0;
  const offset = appendOnly ? null : positionOf(f, lpOverlapped, call);
  const r = await f.volume.fsd.write(f.fileObject, lpBuffer, offset);
  if (r.value === undefined) {
    lpOverlapped?.complete({ status: r.status, bytesTransferred: 0, output: null });
    failStatus(r.status, call);
  }
  if (!f.overlapped) f.fileObject.currentByteOffset = r.value.offset + BigInt(r.value.written);
  lpOverlapped?.complete({ status: S.STATUS_SUCCESS, bytesTransferred: r.value.written, output: null });
  succeed();
  return r.value.written;
}

/** FlushFileBuffers (a volume handle flushes the volume). */
export async function FlushFileBuffers(hFile: HANDLE): Promise<void> {
  const f = fileOf(hFile, "FlushFileBuffers");
  const r = await f.volume.fsd.flushBuffers(f.fileObject);
  if (!ntSuccess(r.status)) failStatus(r.status, "FlushFileBuffers");
  succeed();
}

async function query(h: HANDLE, infoClass: number, call: string): Promise<QueryInformationValue> {
  fileOf(h, call);
  const r = await NtQueryInformationFile(h, infoClass);
  if (r.FileInformation === null) failStatus(r.Status, call);
  return r.FileInformation;
}

async function setInfo(h: HANDLE, info: FILE_INFORMATION_INPUT, infoClass: number, call: string): Promise<void> {
  fileOf(h, call);
  const r = await NtSetInformationFile(h, info, infoClass);
  if (!ntSuccess(r.Status)) failStatus(r.Status, call);
  succeed();
}

/** GetFileSizeEx. */
export async function GetFileSizeEx(hFile: HANDLE): Promise<bigint> {
  const v = await query(hFile, FileInformationClass.FileStandardInformation, "GetFileSizeEx");
  succeed();
  return v.class === "standard" ? v.standard.endOfFile : 0n;
}

/** SetFilePointerEx: answers the new position. */
export async function SetFilePointerEx(hFile: HANDLE, liDistanceToMove: bigint, dwMoveMethod: number): Promise<bigint> {
  const call = "SetFilePointerEx";
  const f = fileOf(hFile, call);
  let base: bigint;
  switch (dwMoveMethod) {
    case FILE_BEGIN:
      base = 0n;
      break;
    case FILE_CURRENT:
      base = f.fileObject.currentByteOffset;
      break;
    case FILE_END:
      base = await GetFileSizeEx(hFile);
      break;
    default:
      fail(W.ERROR_INVALID_PARAMETER, call);
  }
  const position = base + liDistanceToMove;
  if (position < 0n) fail(ERROR_NEGATIVE_SEEK, call);
  await setInfo(hFile, { CurrentByteOffset: position }, FileInformationClass.FilePositionInformation, call);
  return position;
}

/** SetFilePointer (the 32-bit form; the high part is not used here). */
export async function SetFilePointer(hFile: HANDLE, lDistanceToMove: number, dwMoveMethod: number): Promise<number> {
  return Number(await SetFilePointerEx(hFile, BigInt(lDistanceToMove), dwMoveMethod));
}

/** SetEndOfFile: end of file at the file position. */
export async function SetEndOfFile(hFile: HANDLE): Promise<void> {
  const f = fileOf(hFile, "SetEndOfFile");
  await setInfo(hFile, { EndOfFile: f.fileObject.currentByteOffset }, FileInformationClass.FileEndOfFileInformation, "SetEndOfFile");
}

/** FILETIMEs as SetFileTime takes them: null leaves a time alone. */
export async function SetFileTime(
  hFile: HANDLE,
  lpCreationTime: bigint | null,
  lpLastAccessTime: bigint | null,
  lpLastWriteTime: bigint | null,
): Promise<void> {
  await setInfo(
    hFile,
    {
      CreationTime: lpCreationTime ?? 0n,
      LastAccessTime: lpLastAccessTime ?? 0n,
      LastWriteTime: lpLastWriteTime ?? 0n,
      ChangeTime: 0n,
      FileAttributes: 0,
    },
    FileInformationClass.FileBasicInformation,
    "SetFileTime",
  );
}

/** GetFileTime. */
export async function GetFileTime(hFile: HANDLE): Promise<{ ftCreationTime: bigint; ftLastAccessTime: bigint; ftLastWriteTime: bigint }> {
  const v = await query(hFile, FileInformationClass.FileBasicInformation, "GetFileTime");
  succeed();
  const i = v.class === "basic" ? v.info : null;
  return { ftCreationTime: i?.creationTime ?? 0n, ftLastAccessTime: i?.lastAccessTime ?? 0n, ftLastWriteTime: i?.lastWriteTime ?? 0n };
}

/** GetSystemTimeAsFileTime: the wall clock as of the last tick, the clock files are stamped with. */
export function GetSystemTimeAsFileTime(): bigint {
  return systemTimeAsFileTime();
}

// ------------------------------------------------------- file information

/** FILE_BASIC_INFO. */
export interface FILE_BASIC_INFO {
  readonly CreationTime: bigint;
  readonly LastAccessTime: bigint;
  readonly LastWriteTime: bigint;
  readonly ChangeTime: bigint;
  readonly FileAttributes: number;
}

/** FILE_STANDARD_INFO. */
export interface FILE_STANDARD_INFO {
  readonly AllocationSize: bigint;
  readonly EndOfFile: bigint;
  readonly NumberOfLinks: number;
  readonly DeletePending: boolean;
  readonly Directory: boolean;
}

/** FILE_NAME_INFO (FileNameLength in bytes). */
export interface FILE_NAME_INFO {
  readonly FileNameLength: number;
  readonly FileName: string;
}

/** FILE_ATTRIBUTE_TAG_INFO. */
export interface FILE_ATTRIBUTE_TAG_INFO {
  readonly FileAttributes: number;
  readonly ReparseTag: number;
}

/** FILE_STREAM_INFO (one entry). */
export interface FILE_STREAM_INFO {
  readonly StreamSize: bigint;
  readonly StreamAllocationSize: bigint;
  readonly StreamName: string;
}

/** sizeof(FILE_NAME_INFO): a DWORD and one WCHAR, padded. */
const FILE_NAME_INFO_SIZE = 8;

/** Attributes as Win32 reports them: 0 reads as FILE_ATTRIBUTE_NORMAL. */
function reportedAttributes(a: number): number {
  return a === 0 ? FileAttribute.FILE_ATTRIBUTE_NORMAL : a >>> 0;
}

/**
 * GetFileInformationByHandleEx for FileBasicInfo, FileStandardInfo,
 * FileNameInfo, FileNormalizedNameInfo, FileAttributeTagInfo and
 * FileStreamInfo. `dwBufferSize` (default: large enough) matters for
 * FileNameInfo: a name that does not fit fails with ERROR_MORE_DATA, the
 * error's `output` holding the FILE_NAME_INFO with the full FileNameLength.
 */
export async function GetFileInformationByHandleEx(
  hFile: HANDLE,
  FileInformationClassValue: number,
  dwBufferSize: number = Number.MAX_SAFE_INTEGER,
): Promise<FILE_BASIC_INFO | FILE_STANDARD_INFO | FILE_NAME_INFO | FILE_ATTRIBUTE_TAG_INFO | FILE_STREAM_INFO[]> {
  const call = "GetFileInformationByHandleEx";
  const C = FileInformationClass;
  switch (FileInformationClassValue) {
    case FileBasicInfo: {
      const v = await query(hFile, C.FileBasicInformation, call);
      if (v.class !== "basic") fail(W.ERROR_INVALID_PARAMETER, call);
      succeed();
      return {
        CreationTime: v.info.creationTime,
        LastAccessTime: v.info.lastAccessTime,
        LastWriteTime: v.info.lastWriteTime,
        ChangeTime: v.info.changeTime,
        FileAttributes: reportedAttributes(v.info.fileAttributes),
      };
    }
    case FileStandardInfo: {
      const v = await query(hFile, C.FileStandardInformation, call);
      if (v.class !== "standard") fail(W.ERROR_INVALID_PARAMETER, call);
      succeed();
      const s = v.standard;
      return { AllocationSize: s.allocationSize, EndOfFile: s.endOfFile, NumberOfLinks: s.numberOfLinks, DeletePending: s.deletePending, Directory: s.directory };
    }
    case FileNameInfo:
    case FileNormalizedNameInfo: {
      if (dwBufferSize < 4) fail(W.ERROR_BAD_LENGTH, call);
      const v = await query(hFile, FileInformationClassValue === FileNameInfo ? C.FileNameInformation : C.FileNormalizedNameInformation, call);
      if (v.class !== "name") fail(W.ERROR_INVALID_PARAMETER, call);
      const full = v.fileName.length * 2;
      if (4 + full > dwBufferSize) {
        const fits = Math.max(0, Math.floor((dwBufferSize - 4) / 2));
        fail(W.ERROR_MORE_DATA, call, S.STATUS_BUFFER_OVERFLOW, { FileNameLength: full, FileName: v.fileName.slice(0, fits) } satisfies FILE_NAME_INFO);
      }
      succeed();
      return { FileNameLength: full, FileName: v.fileName };
    }
    case FileAttributeTagInfo: {
      const v = await query(hFile, C.FileAttributeTagInformation, call);
      if (v.class !== "attribute-tag") fail(W.ERROR_INVALID_PARAMETER, call);
      succeed();
      return { FileAttributes: reportedAttributes(v.fileAttributes), ReparseTag: v.reparseTag };
    }
    case FileStreamInfo: {
      const v = await query(hFile, C.FileStreamInformation, call);
      if (v.class !== "stream") fail(W.ERROR_INVALID_PARAMETER, call);
      if (v.streams.length === 0) fail(W.ERROR_HANDLE_EOF, call);
      succeed();
      return streamNames(v.streams).map((s) => ({ StreamSize: s.size, StreamAllocationSize: s.allocationSize, StreamName: s.name }));
    }
    default:
      fail(W.ERROR_INVALID_PARAMETER, call);
  }
}

/** FILE_NAME_INFO's size, for callers reproducing a buffer of exactly that size. */
export const SIZEOF_FILE_NAME_INFO = FILE_NAME_INFO_SIZE;

/** What SetFileInformationByHandle takes, by class. */
export type SET_FILE_INFO =
  | FILE_BASIC_INFO
  | { readonly ReplaceIfExists?: boolean; readonly Flags?: number; readonly RootDirectory?: HANDLE | null; readonly FileName: string }
  | { readonly DeleteFile: boolean }
  | { readonly Flags: number }
  | { readonly AllocationSize: bigint }
  | { readonly EndOfFile: bigint };

/**
 * SetFileInformationByHandle for FileBasicInfo, FileRenameInfo(Ex) (the
 * name as NtSetInformationFile takes it: an NT path, or a bare name for the
 * same directory), FileDispositionInfo(Ex), FileAllocationInfo and
 * FileEndOfFileInfo.
 */
export async function SetFileInformationByHandle(hFile: HANDLE, FileInformationClassValue: number, lpFileInformation: SET_FILE_INFO): Promise<void> {
  const call = "SetFileInformationByHandle";
  const C = FileInformationClass;
  const map: Record<number, number> = {
    [FileBasicInfo]: C.FileBasicInformation,
    [FileRenameInfo]: C.FileRenameInformation,
    [FileRenameInfoEx]: C.FileRenameInformationEx,
    [FileDispositionInfo]: C.FileDispositionInformation,
    [FileDispositionInfoEx]: C.FileDispositionInformationEx,
    [FileAllocationInfo]: C.FileAllocationInformation,
    [FileEndOfFileInfo]: C.FileEndOfFileInformation,
  };
  const nt = map[FileInformationClassValue];
  if (nt === undefined) fail(W.ERROR_INVALID_PARAMETER, call);
  await setInfo(hFile, lpFileInformation as FILE_INFORMATION_INPUT, nt, call);
}

/** BY_HANDLE_FILE_INFORMATION. */
export interface BY_HANDLE_FILE_INFORMATION {
  readonly dwFileAttributes: number;
  readonly ftCreationTime: bigint;
  readonly ftLastAccessTime: bigint;
  readonly ftLastWriteTime: bigint;
  readonly dwVolumeSerialNumber: number;
  readonly nFileSizeHigh: number;
  readonly nFileSizeLow: number;
  readonly nNumberOfLinks: number;
  readonly nFileIndexHigh: number;
  readonly nFileIndexLow: number;
}

/** GetFileInformationByHandle. */
export async function GetFileInformationByHandle(hFile: HANDLE): Promise<BY_HANDLE_FILE_INFORMATION> {
  const call = "GetFileInformationByHandle";
  const v = await query(hFile, FileInformationClass.FileAllInformation, call);
  if (v.class !== "all") fail(W.ERROR_INVALID_PARAMETER, call);
  const vol = await NtQueryVolumeInformationFile(hFile);
  if (vol.Volume === null) failStatus(vol.Status, call);
  succeed();
  return {
    dwFileAttributes: reportedAttributes(v.info.fileAttributes),
    ftCreationTime: v.info.creationTime,
    ftLastAccessTime: v.info.lastAccessTime,
    ftLastWriteTime: v.info.lastWriteTime,
    dwVolumeSerialNumber: vol.Volume.volumeSerialNumber,
    nFileSizeHigh: Number(v.info.fileSize >> 32n),
    nFileSizeLow: Number(v.info.fileSize & 0xffffffffn),
    nNumberOfLinks: v.standard.numberOfLinks,
    nFileIndexHigh: Number((v.info.indexNumber >> 32n) & 0xffffffffn),
    nFileIndexLow: Number(v.info.indexNumber & 0xffffffffn),
  };
}

/**
 * GetFinalPathNameByHandleW: the FSD's name for the handle
 * (FILE_NAME_OPENED: FileNameInformation; FILE_NAME_NORMALIZED:
 * FileNormalizedNameInformation) behind `\\?\X:` (VOLUME_NAME_DOS), the
 * device name (VOLUME_NAME_NT) or nothing (VOLUME_NAME_NONE).
 */
export async function GetFinalPathNameByHandleW(hFile: HANDLE, dwFlags: number): Promise<string> {
  const call = "GetFinalPathNameByHandleW";
  const f = fileOf(hFile, call);
  const v = await query(
    hFile,
    (dwFlags & FILE_NAME_OPENED) !== 0 ? FileInformationClass.FileNameInformation : FileInformationClass.FileNormalizedNameInformation,
    call,
  );
  if (v.class !== "name") fail(W.ERROR_INVALID_PARAMETER, call);
  succeed();
  switch (dwFlags & 0x7) {
    case VOLUME_NAME_NONE:
      return v.fileName;
    case VOLUME_NAME_NT:
      return f.volume.deviceName + v.fileName;
    case VOLUME_NAME_DOS:
      if (f.volume.drive === null) fail(W.ERROR_PATH_NOT_FOUND, call);
      return `\\\\?\\${f.volume.drive}${v.fileName}`;
    case VOLUME_NAME_GUID:
    default:
      fail(W.ERROR_INVALID_PARAMETER, call);
  }
}

// ------------------------------------------------------- paths and names

/** Opens a path the way kernelbase's helpers do; answers the handle or rejects. */
async function openPath(path: string, access: number, share: number, options: number, call: string, disposition: number = CreateDisposition.FILE_OPEN): Promise<HANDLE> {
  const r = await NtCreateFile(access, { ObjectName: ntPathOf(path, call) }, 0n, 0, share, disposition, options);
  if (r.FileHandle === null) failStatus(r.Status, call);
  return r.FileHandle;
}

const SHARE_ALL = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;

/** GetFileAttributesW (NtQueryAttributesFile: an open for FILE_READ_ATTRIBUTES alone, following reparse points). */
export async function GetFileAttributesW(lpFileName: string): Promise<number> {
  const call = "GetFileAttributesW";
  const h = await openPath(lpFileName, A.FILE_READ_ATTRIBUTES, SHARE_ALL, O.FILE_OPEN_FOR_BACKUP_INTENT | O.FILE_SYNCHRONOUS_IO_NONALERT, call);
  try {
    const v = await query(h, FileInformationClass.FileBasicInformation, call);
    if (v.class !== "basic") fail(W.ERROR_INVALID_PARAMETER, call);
    succeed();
    return reportedAttributes(v.info.fileAttributes);
  } finally {
    await NtClose(h);
  }
}

/** SetFileAttributesW: FileBasicInformation with only the attributes. */
export async function SetFileAttributesW(lpFileName: string, dwFileAttributes: number): Promise<void> {
  const call = "SetFileAttributesW";
  const h = await openPath(
    lpFileName,
    A.FILE_WRITE_ATTRIBUTES | A.SYNCHRONIZE,
    SHARE_ALL,
    O.FILE_OPEN_FOR_BACKUP_INTENT | O.FILE_OPEN_REPARSE_POINT | O.FILE_SYNCHRONOUS_IO_NONALERT,
    call,
  );
  try {
    await setInfo(h, { CreationTime: 0n, LastAccessTime: 0n, LastWriteTime: 0n, ChangeTime: 0n, FileAttributes: dwFileAttributes }, FileInformationClass.FileBasicInformation, call);
  } finally {
    await NtClose(h);
  }
}

/**
 * DeleteFileW / RemoveDirectoryW: an open for DELETE that does not follow
 * reparse points, FileDispositionInformationEx (DELETE | POSIX_SEMANTICS),
 * and on any failure the legacy FileDispositionInformation.
 */
async function deleteByName(path: string, directory: boolean, call: string): Promise<void> {
  const nt = ntPathOf(path, call);
  const kind = directory ? O.FILE_DIRECTORY_FILE : O.FILE_NON_DIRECTORY_FILE;
  const open = (access: number, reparse: boolean) =>
    NtCreateFile(access, { ObjectName: nt }, 0n, 0, SHARE_ALL, CreateDisposition.FILE_OPEN,
      kind | O.FILE_OPEN_FOR_BACKUP_INTENT | O.FILE_SYNCHRONOUS_IO_NONALERT | (reparse ? O.FILE_OPEN_REPARSE_POINT : 0));
  let r = await open(A.DELETE | A.FILE_READ_ATTRIBUTES, true);
  if (r.FileHandle === null && r.Status === S.STATUS_ACCESS_DENIED) {
    // Maybe no FILE_READ_ATTRIBUTES: again, without querying attributes.
    r = await open(A.DELETE, true);
  } else if (r.FileHandle !== null) {
    // A reparse point that is not a name surrogate is deleted through its handler, if it has one.
    const tag = await NtQueryInformationFile(r.FileHandle, FileInformationClass.FileAttributeTagInformation);
    const v = tag.FileInformation;
    if (v !== null && v.class === "attribute-tag" && (v.fileAttributes & FileAttribute.FILE_ATTRIBUTE_REPARSE_POINT) !== 0 && (v.reparseTag & 0x20000000) === 0) {
      await NtClose(r.FileHandle);
      r = await open(A.DELETE, false);
      if (r.FileHandle === null && r.Status === S.STATUS_IO_REPARSE_TAG_NOT_HANDLED) r = await open(A.DELETE, true);
    }
  }
  if (r.FileHandle === null) failStatus(r.Status, call);
  const h = r.FileHandle;
  try {
    let r = await NtSetInformationFile(h, { Flags: 0x1 | 0x2 }, FileInformationClass.FileDispositionInformationEx);
    if (!ntSuccess(r.Status)) r = await NtSetInformationFile(h, { DeleteFile: true }, FileInformationClass.FileDispositionInformation);
    if (!ntSuccess(r.Status)) failStatus(r.Status, call);
  } finally {
    await NtClose(h);
  }
  succeed();
}

/** DeleteFileW. */
export function DeleteFileW(lpFileName: string): Promise<void> {
  return deleteByName(lpFileName, false, "DeleteFileW");
}

/** RemoveDirectoryW. */
export function RemoveDirectoryW(lpPathName: string): Promise<void> {
  return deleteByName(lpPathName, true, "RemoveDirectoryW");
}

/** CreateDirectoryW (a name in use: ERROR_ALREADY_EXISTS). */
export async function CreateDirectoryW(lpPathName: string, lpSecurityAttributes: SECURITY_ATTRIBUTES | null = null): Promise<void> {
  const call = "CreateDirectoryW";
  const r = await NtCreateFile(
    A.FILE_LIST_DIRECTORY | A.SYNCHRONIZE,
    { ObjectName: ntPathOf(lpPathName, call), SecurityDescriptor: lpSecurityAttributes?.lpSecurityDescriptor ?? null },
    0n,
    FileAttribute.FILE_ATTRIBUTE_NORMAL,
    FILE_SHARE_READ | FILE_SHARE_WRITE,
    CreateDisposition.FILE_CREATE,
    O.FILE_DIRECTORY_FILE | O.FILE_SYNCHRONOUS_IO_NONALERT | O.FILE_OPEN_FOR_BACKUP_INTENT,
  );
  if (r.FileHandle === null) failStatus(r.Status, call);
  await NtClose(r.FileHandle);
  succeed();
}

/**
 * MoveFileExW: opens the source for DELETE (not following reparse points)
 * and renames it to the target's NT path; MOVEFILE_REPLACE_EXISTING is
 * ReplaceIfExists. Copying across volumes is not offered (ERROR_NOT_SAME_DEVICE).
 */
export async function MoveFileExW(lpExistingFileName: string, lpNewFileName: string, dwFlags: number): Promise<void> {
  const call = "MoveFileExW";
  const target = ntPathOf(lpNewFileName, call);
  const h = await openPath(
    lpExistingFileName,
    A.DELETE | A.SYNCHRONIZE,
    SHARE_ALL,
    O.FILE_OPEN_FOR_BACKUP_INTENT | O.FILE_OPEN_REPARSE_POINT | O.FILE_SYNCHRONOUS_IO_NONALERT,
    call,
  );
  try {
    const r = await NtSetInformationFile(
      h,
      { ReplaceIfExists: (dwFlags & MOVEFILE_REPLACE_EXISTING) !== 0, FileName: target },
      FileInformationClass.FileRenameInformation,
    );
    if (!ntSuccess(r.Status)) failStatus(r.Status, call);
  } finally {
    await NtClose(h);
  }
  succeed();
}

/** MoveFileW. */
export function MoveFileW(lpExistingFileName: string, lpNewFileName: string): Promise<void> {
  return MoveFileExW(lpExistingFileName, lpNewFileName, 0);
}

/** CreateHardLinkW: FileLinkInformation, which WinFsp does not implement (ERROR_NOT_SUPPORTED). */
export async function CreateHardLinkW(lpFileName: string, lpExistingFileName: string, lpSecurityAttributes: SECURITY_ATTRIBUTES | null = null): Promise<void> {
  void lpSecurityAttributes;
  const call = "CreateHardLinkW";
  const target = ntPathOf(lpFileName, call);
  const h = await openPath(lpExistingFileName, A.SYNCHRONIZE | A.FILE_WRITE_ATTRIBUTES, SHARE_ALL, O.FILE_OPEN_REPARSE_POINT | O.FILE_SYNCHRONOUS_IO_NONALERT, call);
  try {
    const r = await NtSetInformationFile(h, { FileName: target }, FileInformationClass.FileLinkInformation);
    if (!ntSuccess(r.Status)) failStatus(r.Status, call);
  } finally {
    await NtClose(h);
  }
  succeed();
}

/**
 * CreateSymbolicLinkW: needs SeCreateSymbolicLinkPrivilege, or developer
 * mode with SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE
 * (ERROR_PRIVILEGE_NOT_HELD otherwise). A relative or rooted target is
 * stored as given with SYMLINK_FLAG_RELATIVE; an absolute one as its NT
 * path. The link is created, then made a reparse point; a failure removes it.
 */
export async function CreateSymbolicLinkW(lpSymlinkFileName: string, lpTargetFileName: string, dwFlags: number): Promise<void> {
  const call = "CreateSymbolicLinkW";
  const p = currentProcess();
  if ((dwFlags & ~(SYMBOLIC_LINK_FLAG_DIRECTORY | SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE)) !== 0) fail(W.ERROR_INVALID_PARAMETER, call);
  const unprivileged = (dwFlags & SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE) !== 0 && p.developerMode;
  if (!unprivileged && !p.token.holds(Privilege.SE_CREATE_SYMBOLIC_LINK_NAME)) fail(W.ERROR_PRIVILEGE_NOT_HELD, call);
  const directory = (dwFlags & SYMBOLIC_LINK_FLAG_DIRECTORY) !== 0;
  const first = lpTargetFileName.charCodeAt(0);
  const second = lpTargetFileName.charCodeAt(1);
  const relative =
    !(lpTargetFileName.length >= 2 && second === 0x3a) && !((first === 0x5c || first === 0x2f) && (second === 0x5c || second === 0x2f));
  const substituteName = relative ? lpTargetFileName.replace(/\//g, "\\") : ntPathOf(lpTargetFileName, call);
  const buffer = encodeReparseBuffer({ kind: "symlink", substituteName, printName: lpTargetFileName, flags: relative ? SYMLINK_FLAG_RELATIVE : 0 });
  const r = await NtCreateFile(
    A.FILE_WRITE_ATTRIBUTES | A.DELETE | A.SYNCHRONIZE,
    { ObjectName: ntPathOf(lpSymlinkFileName, call) },
    0n,
    FileAttribute.FILE_ATTRIBUTE_NORMAL,
    0,
    CreateDisposition.FILE_CREATE,
    O.FILE_OPEN_REPARSE_POINT | O.FILE_SYNCHRONOUS_IO_NONALERT | (directory ? O.FILE_DIRECTORY_FILE : O.FILE_NON_DIRECTORY_FILE),
  );
  if (r.FileHandle === null) {
    if (r.Status === S.STATUS_OBJECT_NAME_COLLISION) fail(W.ERROR_ALREADY_EXISTS, call, r.Status);
    failStatus(r.Status, call);
  }
  const h = r.FileHandle;
  const f = fileOf(h, call);
  const set = await f.volume.fsd.fsctl(f.fileObject, FSCTL_SET_REPARSE_POINT, buffer, 0);
  const status = "pending" in set ? S.STATUS_INTERNAL_ERROR : set.status;
  if (!ntSuccess(status)) {
    await NtSetInformationFile(h, { DeleteFile: true }, FileInformationClass.FileDispositionInformation);
    await NtClose(h);
    failStatus(status, call);
  }
  await NtClose(h);
  succeed();
}

// -------------------------------------------------------- enumerations

/** WIN32_FIND_DATAW. */
export interface WIN32_FIND_DATAW {
  readonly dwFileAttributes: number;
  readonly ftCreationTime: bigint;
  readonly ftLastAccessTime: bigint;
  readonly ftLastWriteTime: bigint;
  readonly nFileSizeHigh: number;
  readonly nFileSizeLow: number;
  /** The reparse tag when FILE_ATTRIBUTE_REPARSE_POINT is set. */
  readonly dwReserved0: number;
  readonly dwReserved1: number;
  readonly cFileName: string;
  readonly cAlternateFileName: string;
}

function findData(e: DirectoryEntry): WIN32_FIND_DATAW {
  return {
    dwFileAttributes: e.fileAttributes,
    ftCreationTime: e.creationTime,
    ftLastAccessTime: e.lastAccessTime,
    ftLastWriteTime: e.lastWriteTime,
    nFileSizeHigh: Number(e.endOfFile >> 32n),
    nFileSizeLow: Number(e.endOfFile & 0xffffffffn),
    dwReserved0: (e.fileAttributes & FileAttribute.FILE_ATTRIBUTE_REPARSE_POINT) !== 0 ? e.eaSize : 0,
    dwReserved1: 0,
    cFileName: e.fileName,
    cAlternateFileName: "",
  };
}

/** The buffer FindFirstFile asks for per query. */
const FIND_BUFFER_SIZE = 4096;

async function findQuery(dir: HANDLE, infoClass: number, pattern: string | null, restart: boolean): Promise<{ status: number; entries: WIN32_FIND_DATAW[] }> {
  const r = await NtQueryDirectoryFile(dir, FIND_BUFFER_SIZE, infoClass, false, pattern, restart);
  if (!ntSuccess(r.Status)) return { status: r.Status, entries: [] };
  return { status: r.Status, entries: readDirectoryEntries(r.Buffer, r.Information, infoClass).map(findData) };
}

/**
 * FindFirstFileExW: opens the directory part, and asks for the last
 * component as the pattern (DOS wildcards translated). No match:
 * ERROR_FILE_NOT_FOUND. Answers the find handle and the first entry.
 */
export async function FindFirstFileExW(
  lpFileName: string,
  fInfoLevelId: number,
  fSearchOp = 0,
  dwAdditionalFlags = 0,
): Promise<{ hFindFile: HANDLE; FindFileData: WIN32_FIND_DATAW }> {
  void fSearchOp;
  void dwAdditionalFlags;
  const call = "FindFirstFileW";
  const slash = Math.max(lpFileName.lastIndexOf("\\"), lpFileName.lastIndexOf("/"));
  const last = lpFileName.slice(slash + 1);
  if (last.length === 0) fail(W.ERROR_FILE_NOT_FOUND, call);
  let directory = slash < 0 ? "." : lpFileName.slice(0, slash + 1);
  if (/^[A-Za-z]:$/.test(directory)) directory += "\\";
  const verbatim = lpFileName.startsWith("\\\\?\\");
  const pattern = verbatim ? last : win32PatternToNt(last);
  const r = await NtCreateFile(
    A.FILE_LIST_DIRECTORY | A.SYNCHRONIZE,
    { ObjectName: ntPathOf(directory, call) },
    0n,
    0,
    SHARE_ALL,
    CreateDisposition.FILE_OPEN,
    O.FILE_DIRECTORY_FILE | O.FILE_SYNCHRONOUS_IO_NONALERT | O.FILE_OPEN_FOR_BACKUP_INTENT,
  );
  if (r.FileHandle === null) failStatus(r.Status === S.STATUS_OBJECT_NAME_NOT_FOUND ? S.STATUS_OBJECT_PATH_NOT_FOUND : r.Status, call);
  const infoClass = fInfoLevelId === FindExInfoBasic ? FileInformationClass.FileFullDirectoryInformation : FileInformationClass.FileBothDirectoryInformation;
  const q = await findQuery(r.FileHandle, infoClass, pattern, true);
  if (q.entries.length === 0) {
    await NtClose(r.FileHandle);
    failStatus(q.status === S.STATUS_NO_MORE_FILES ? S.STATUS_NO_SUCH_FILE : q.status, call);
  }
  const pending: unknown[] = q.entries.slice(1);
  const hFindFile = currentProcess().insert({ kind: "find", state: { directory: r.FileHandle, pending, ended: false } });
  findInfoClass.set(hFindFile, infoClass);
  succeed();
  return { hFindFile, FindFileData: q.entries[0]! };
}

const findInfoClass = new Map<HANDLE, number>();

/** FindFirstFileW. */
export function FindFirstFileW(lpFileName: string): Promise<{ hFindFile: HANDLE; FindFileData: WIN32_FIND_DATAW }> {
  return FindFirstFileExW(lpFileName, 0);
}

/** FindNextFileW: the next entry; at the end ERROR_NO_MORE_FILES. */
export async function FindNextFileW(hFindFile: HANDLE): Promise<WIN32_FIND_DATAW> {
  const call = "FindNextFileW";
  const o = currentProcess().get(hFindFile);
  if (o === undefined || o.kind !== "find") fail(W.ERROR_INVALID_HANDLE, call);
  const st = o.state;
  if (st.pending.length === 0 && !st.ended) {
    const q = await findQuery(st.directory, findInfoClass.get(hFindFile) ?? FileInformationClass.FileBothDirectoryInformation, null, false);
    if (q.entries.length === 0) {
      st.ended = true;
      failStatus(q.status === S.STATUS_NO_SUCH_FILE ? S.STATUS_NO_MORE_FILES : q.status, call);
    }
    st.pending.push(...q.entries);
  }
  const next = st.pending.shift() as WIN32_FIND_DATAW | undefined;
  if (next === undefined) fail(W.ERROR_NO_MORE_FILES, call);
  succeed();
  return next;
}

/** FindClose (find and find-stream handles). */
export async function FindClose(hFindFile: HANDLE): Promise<void> {
  const o = currentProcess().get(hFindFile);
  if (o === undefined || (o.kind !== "find" && o.kind !== "find-stream")) fail(W.ERROR_INVALID_HANDLE, "FindClose");
  findInfoClass.delete(hFindFile);
  await CloseHandle(hFindFile);
}

/** WIN32_FIND_STREAM_DATA. */
export interface WIN32_FIND_STREAM_DATA {
  readonly StreamSize: bigint;
  readonly cStreamName: string;
}

/** FindFirstStreamW: the file's streams (`::$DATA`, `:name:$DATA`); none: ERROR_HANDLE_EOF. */
export async function FindFirstStreamW(
  lpFileName: string,
  InfoLevel = 0,
  dwFlags = 0,
): Promise<{ hFindStream: HANDLE; FindStreamData: WIN32_FIND_STREAM_DATA }> {
  void InfoLevel;
  void dwFlags;
  const call = "FindFirstStreamW";
  const h = await openPath(lpFileName, A.FILE_READ_ATTRIBUTES | A.SYNCHRONIZE, SHARE_ALL, O.FILE_OPEN_FOR_BACKUP_INTENT | O.FILE_SYNCHRONOUS_IO_NONALERT, call);
  let streams: WIN32_FIND_STREAM_DATA[];
  try {
    const v = await query(h, FileInformationClass.FileStreamInformation, call);
    if (v.class !== "stream") fail(W.ERROR_INVALID_PARAMETER, call);
    streams = streamNames(v.streams).map((s) => ({ StreamSize: s.size, cStreamName: s.name }));
  } finally {
    await NtClose(h);
  }
  if (streams.length === 0) fail(W.ERROR_HANDLE_EOF, call);
  const hFindStream = currentProcess().insert({ kind: "find-stream", state: { pending: streams.slice(1) } });
  succeed();
  return { hFindStream, FindStreamData: streams[0]! };
}

/** FindNextStreamW; at the end ERROR_HANDLE_EOF. */
export async function FindNextStreamW(hFindStream: HANDLE): Promise<WIN32_FIND_STREAM_DATA> {
  const call = "FindNextStreamW";
  const o = currentProcess().get(hFindStream);
  if (o === undefined || o.kind !== "find-stream") fail(W.ERROR_INVALID_HANDLE, call);
  const next = o.state.pending.shift() as WIN32_FIND_STREAM_DATA | undefined;
  if (next === undefined) fail(W.ERROR_HANDLE_EOF, call);
  succeed();
  return next;
}

// -------------------------------------------------------------- security

function securityAccess(info: number, set: boolean): number {
  const I = SecurityInformation;
  let access = 0;
  if (set) {
    if (info & (I.OWNER | I.GROUP | I.LABEL)) access |= A.WRITE_OWNER;
    if (info & I.DACL) access |= A.WRITE_DAC;
  } else if (info & (I.OWNER | I.GROUP | I.DACL | I.LABEL)) access |= A.READ_CONTROL;
  if (info & I.SACL) access |= A.ACCESS_SYSTEM_SECURITY;
  return access;
}

/**
 * GetKernelObjectSecurity (for a file handle): the parts `RequestedInformation`
 * selects, self-relative. With `nLength` smaller than the answer: rejects
 * ERROR_INSUFFICIENT_BUFFER, the error's `output` being `{ lpnLengthNeeded }`.
 */
export async function GetKernelObjectSecurity(Handle: HANDLE, RequestedInformation: number, nLength: number = Number.MAX_SAFE_INTEGER): Promise<Uint8Array> {
  const call = "GetKernelObjectSecurity";
  const f = fileOf(Handle, call);
  const needed = securityAccess(RequestedInformation, false);
  if ((f.fileObject.grantedAccess & needed) !== needed) fail(W.ERROR_ACCESS_DENIED, call, S.STATUS_ACCESS_DENIED);
  const r = await f.volume.fsd.querySecurity(f.fileObject, RequestedInformation, nLength);
  if (r.value === undefined) {
    if (r.status === S.STATUS_BUFFER_TOO_SMALL) fail(W.ERROR_INSUFFICIENT_BUFFER, call, r.status, { lpnLengthNeeded: r.information });
    failStatus(r.status, call);
  }
  succeed();
  return r.value;
}

/** SetKernelObjectSecurity (for a file handle). */
export async function SetKernelObjectSecurity(Handle: HANDLE, SecurityInformationValue: number, SecurityDescriptor: SECURITY_DESCRIPTOR_INPUT): Promise<void> {
  const call = "SetKernelObjectSecurity";
  const f = fileOf(Handle, call);
  const needed = securityAccess(SecurityInformationValue, true);
  if ((f.fileObject.grantedAccess & needed) !== needed) fail(W.ERROR_ACCESS_DENIED, call, S.STATUS_ACCESS_DENIED);
  const r = await f.volume.fsd.setSecurity(f.fileObject, SecurityInformationValue, selfRelative(SecurityDescriptor)!);
  if (!ntSuccess(r.status)) failStatus(r.status, call);
  succeed();
}

/** GetFileSecurityW. */
export async function GetFileSecurityW(lpFileName: string, RequestedInformation: number, nLength: number = Number.MAX_SAFE_INTEGER): Promise<Uint8Array> {
  const call = "GetFileSecurityW";
  const h = await openPath(lpFileName, securityAccess(RequestedInformation, false) | A.SYNCHRONIZE, SHARE_ALL, O.FILE_OPEN_FOR_BACKUP_INTENT | O.FILE_SYNCHRONOUS_IO_NONALERT, call);
  try {
    return await GetKernelObjectSecurity(h, RequestedInformation, nLength);
  } finally {
    await NtClose(h);
  }
}

/** SetFileSecurityW. */
export async function SetFileSecurityW(lpFileName: string, SecurityInformationValue: number, pSecurityDescriptor: SECURITY_DESCRIPTOR_INPUT): Promise<void> {
  const call = "SetFileSecurityW";
  const h = await openPath(lpFileName, securityAccess(SecurityInformationValue, true) | A.SYNCHRONIZE, SHARE_ALL, O.FILE_OPEN_FOR_BACKUP_INTENT | O.FILE_SYNCHRONOUS_IO_NONALERT, call);
  try {
    await SetKernelObjectSecurity(h, SecurityInformationValue, pSecurityDescriptor);
  } finally {
    await NtClose(h);
  }
}

/** ConvertStringSecurityDescriptorToSecurityDescriptorW: a self-relative descriptor. */
export function ConvertStringSecurityDescriptorToSecurityDescriptorW(StringSecurityDescriptor: string, StringSDRevision = 1): Uint8Array {
  if (StringSDRevision !== 1) fail(W.ERROR_UNKNOWN_REVISION, "ConvertStringSecurityDescriptorToSecurityDescriptorW");
  try {
    const sd = encodeSecurityDescriptor(parseSddl(StringSecurityDescriptor));
    succeed();
    return sd;
  } catch {
    fail(W.ERROR_INVALID_PARAMETER, "ConvertStringSecurityDescriptorToSecurityDescriptorW");
  }
}

/** ConvertSecurityDescriptorToStringSecurityDescriptorW. */
export function ConvertSecurityDescriptorToStringSecurityDescriptorW(
  SecurityDescriptor: SECURITY_DESCRIPTOR_INPUT,
  RequestedStringSDRevision: number,
  SecurityInformationValue: number,
): string {
  if (RequestedStringSDRevision !== 1) fail(W.ERROR_UNKNOWN_REVISION, "ConvertSecurityDescriptorToStringSecurityDescriptorW");
  try {
    const sd = SecurityDescriptor instanceof Uint8Array ? decodeSecurityDescriptor(SecurityDescriptor) : SecurityDescriptor;
    succeed();
    return formatSddl(sd, SecurityInformationValue);
  } catch {
    fail(W.ERROR_INVALID_SECURITY_DESCR, "ConvertSecurityDescriptorToStringSecurityDescriptorW");
  }
}

/**
 * An absolute security descriptor under construction
 * (InitializeSecurityDescriptor, SetSecurityDescriptorOwner/Group/Dacl); it
 * can be passed wherever a descriptor is taken.
 */
export class ABSOLUTE_SECURITY_DESCRIPTOR implements SecurityDescriptor {
  control = 0;
  owner?: Sid;
  group?: Sid;
  dacl?: Acl | null;
  sacl?: Acl | null;
}

/** InitializeSecurityDescriptor. */
export function InitializeSecurityDescriptor(): ABSOLUTE_SECURITY_DESCRIPTOR {
  return new ABSOLUTE_SECURITY_DESCRIPTOR();
}

/** SetSecurityDescriptorOwner. */
export function SetSecurityDescriptorOwner(pSecurityDescriptor: ABSOLUTE_SECURITY_DESCRIPTOR, pOwner: Sid | null, bOwnerDefaulted: boolean): void {
  if (pOwner === null) delete pSecurityDescriptor.owner;
  else pSecurityDescriptor.owner = pOwner;
  pSecurityDescriptor.control = bOwnerDefaulted ? pSecurityDescriptor.control | 0x1 : pSecurityDescriptor.control & ~0x1;
}

/** SetSecurityDescriptorGroup. */
export function SetSecurityDescriptorGroup(pSecurityDescriptor: ABSOLUTE_SECURITY_DESCRIPTOR, pGroup: Sid | null, bGroupDefaulted: boolean): void {
  if (pGroup === null) delete pSecurityDescriptor.group;
  else pSecurityDescriptor.group = pGroup;
  pSecurityDescriptor.control = bGroupDefaulted ? pSecurityDescriptor.control | 0x2 : pSecurityDescriptor.control & ~0x2;
}

/** SetSecurityDescriptorDacl. */
export function SetSecurityDescriptorDacl(pSecurityDescriptor: ABSOLUTE_SECURITY_DESCRIPTOR, bDaclPresent: boolean, pDacl: Acl | null, bDaclDefaulted: boolean): void {
  if (!bDaclPresent) delete pSecurityDescriptor.dacl;
  else pSecurityDescriptor.dacl = pDacl;
  pSecurityDescriptor.control = bDaclDefaulted ? pSecurityDescriptor.control | 0x8 : pSecurityDescriptor.control & ~0x8;
}

function asDescriptor(sd: SECURITY_DESCRIPTOR_INPUT): SecurityDescriptor {
  return sd instanceof Uint8Array ? decodeSecurityDescriptor(sd) : sd;
}

/** GetSecurityDescriptorOwner: the owner SID (null when absent). */
export function GetSecurityDescriptorOwner(pSecurityDescriptor: SECURITY_DESCRIPTOR_INPUT): { pOwner: Sid | null; lpbOwnerDefaulted: boolean } {
  const sd = asDescriptor(pSecurityDescriptor);
  return { pOwner: sd.owner ?? null, lpbOwnerDefaulted: (sd.control & 0x1) !== 0 };
}

/** GetSecurityDescriptorGroup. */
export function GetSecurityDescriptorGroup(pSecurityDescriptor: SECURITY_DESCRIPTOR_INPUT): { pGroup: Sid | null; lpbGroupDefaulted: boolean } {
  const sd = asDescriptor(pSecurityDescriptor);
  return { pGroup: sd.group ?? null, lpbGroupDefaulted: (sd.control & 0x2) !== 0 };
}

/** GetSecurityDescriptorDacl. */
export function GetSecurityDescriptorDacl(pSecurityDescriptor: SECURITY_DESCRIPTOR_INPUT): { lpbDaclPresent: boolean; pDacl: Acl | null; lpbDaclDefaulted: boolean } {
  const sd = asDescriptor(pSecurityDescriptor);
  return { lpbDaclPresent: sd.dacl !== undefined, pDacl: sd.dacl ?? null, lpbDaclDefaulted: (sd.control & 0x8) !== 0 };
}

/** GetSecurityDescriptorSacl. */
export function GetSecurityDescriptorSacl(pSecurityDescriptor: SECURITY_DESCRIPTOR_INPUT): { lpbSaclPresent: boolean; pSacl: Acl | null } {
  const sd = asDescriptor(pSecurityDescriptor);
  return { lpbSaclPresent: sd.sacl !== undefined, pSacl: sd.sacl ?? null };
}

/** EqualSid. */
export function EqualSid(pSid1: Sid, pSid2: Sid): boolean {
  return sidEquals(pSid1, pSid2);
}

// ----------------------------------------------------------------- locks

async function lockRequest(call: string, hFile: HANDLE, offset: bigint, length: bigint, exclusive: boolean, failImmediately: boolean, ov: OVERLAPPED | null): Promise<void> {
  const f = fileOf(hFile, call);
  const r = f.volume.fsd.lock(f.fileObject, offset, length, exclusive, failImmediately);
  if ("status" in r) {
    ov?.complete({ status: r.status, bytesTransferred: 0, output: null });
    if (!ntSuccess(r.status)) failStatus(r.status, call);
    succeed();
    return;
  }
  const pending = r.pending.then((status) => ({ status, bytesTransferred: 0, output: null }));
  await overlappedOrWait(call, f.overlapped ? ov : null, pending, () => undefined);
}

/** LockFile: an exclusive lock that fails at once on a conflict. */
export function LockFile(hFile: HANDLE, dwFileOffsetLow: number, dwFileOffsetHigh: number, nNumberOfBytesToLockLow: number, nNumberOfBytesToLockHigh: number): Promise<void> {
  return lockRequest("LockFile", hFile, join64(dwFileOffsetLow, dwFileOffsetHigh), join64(nNumberOfBytesToLockLow, nNumberOfBytesToLockHigh), true, true, null);
}

/** LockFileEx: the offset comes from the OVERLAPPED; without LOCKFILE_FAIL_IMMEDIATELY a conflict waits. */
export function LockFileEx(
  hFile: HANDLE,
  dwFlags: number,
  dwReserved: number,
  nNumberOfBytesToLockLow: number,
  nNumberOfBytesToLockHigh: number,
  lpOverlapped: OVERLAPPED,
): Promise<void> {
  void dwReserved;
  return lockRequest(
    "LockFileEx",
    hFile,
    lpOverlapped.offset,
    join64(nNumberOfBytesToLockLow, nNumberOfBytesToLockHigh),
    (dwFlags & LOCKFILE_EXCLUSIVE_LOCK) !== 0,
    (dwFlags & LOCKFILE_FAIL_IMMEDIATELY) !== 0,
    lpOverlapped,
  );
}

function unlockRequest(call: string, hFile: HANDLE, offset: bigint, length: bigint, ov: OVERLAPPED | null): void {
  const f = fileOf(hFile, call);
  const status = f.volume.fsd.unlock(f.fileObject, offset, length);
  ov?.complete({ status, bytesTransferred: 0, output: null });
  if (!ntSuccess(status)) failStatus(status, call);
  succeed();
}

/** UnlockFile. */
export async function UnlockFile(hFile: HANDLE, dwFileOffsetLow: number, dwFileOffsetHigh: number, nNumberOfBytesToUnlockLow: number, nNumberOfBytesToUnlockHigh: number): Promise<void> {
  unlockRequest("UnlockFile", hFile, join64(dwFileOffsetLow, dwFileOffsetHigh), join64(nNumberOfBytesToUnlockLow, nNumberOfBytesToUnlockHigh), null);
}

/** UnlockFileEx. */
export async function UnlockFileEx(hFile: HANDLE, dwReserved: number, nNumberOfBytesToUnlockLow: number, nNumberOfBytesToUnlockHigh: number, lpOverlapped: OVERLAPPED): Promise<void> {
  void dwReserved;
  unlockRequest("UnlockFileEx", hFile, lpOverlapped.offset, join64(nNumberOfBytesToUnlockLow, nNumberOfBytesToUnlockHigh), lpOverlapped);
}

function join64(low: number, high: number): bigint {
  return (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0);
}

// -------------------------------------------------------- device control

/**
 * DeviceIoControl: FSCTLs (device type 9) go to the FSD's file-system
 * control, other codes to the file system's Control. Answers the output
 * bytes; a request that stays pending (an oplock) completes through the
 * OVERLAPPED on an overlapped handle, and is awaited on a synchronous one.
 */
export async function DeviceIoControl(
  hDevice: HANDLE,
  dwIoControlCode: number,
  lpInBuffer: Uint8Array | null,
  nOutBufferSize: number,
  lpOverlapped: OVERLAPPED | null = null,
): Promise<Uint8Array> {
  const call = "DeviceIoControl";
  const f = fileOf(hDevice, call);
  const code = dwIoControlCode >>> 0;
  const input = lpInBuffer ?? new Uint8Array(0);
  if (code >>> 16 === 9) {
    const r = await f.volume.fsd.fsctl(f.fileObject, code, input, nOutBufferSize);
    if ("pending" in r) {
      const pending = r.pending.then((c) => ({
        status: c.status,
        bytesTransferred: c.output !== null ? 20 : c.information,
        output: c.output !== null ? encodeOplockOutput(c.output) : null,
        information: c.information,
      }));
      return overlappedOrWait(call, f.overlapped ? lpOverlapped : null, pending, (x) => x.output ?? new Uint8Array(0));
    }
    lpOverlapped?.complete({ status: r.status, bytesTransferred: r.information, output: r.output });
    if (!ntSuccess(r.status) && r.status !== S.STATUS_BUFFER_OVERFLOW) failStatus(r.status, call);
    if (r.status === S.STATUS_BUFFER_OVERFLOW) fail(W.ERROR_MORE_DATA, call, r.status, r.output);
    succeed();
    return r.output ?? new Uint8Array(0);
  }
  const r = await f.volume.fsd.deviceControl(f.fileObject, code, input, nOutBufferSize);
  lpOverlapped?.complete({ status: r.status, bytesTransferred: r.information, output: r.value ?? null });
  if (r.value === undefined) failStatus(r.status, call);
  succeed();
  return r.value;
}

// ----------------------------------------------------------------- volume

async function openRoot(lpRootPathName: string, call: string): Promise<HANDLE> {
  const drive = /^([A-Za-z]:)\\?$/.exec(lpRootPathName) ?? /^\\\\\?\\([A-Za-z]:)\\?$/.exec(lpRootPathName);
  if (drive === null) fail(ERROR_DIR_NOT_ROOT, call);
  if (volumeAtDrive(drive[1]!) === undefined) fail(W.ERROR_PATH_NOT_FOUND, call);
  return openPath(`${drive[1]}\\`, A.SYNCHRONIZE, FILE_SHARE_READ | FILE_SHARE_WRITE, O.FILE_OPEN_FOR_BACKUP_INTENT | O.FILE_DIRECTORY_FILE | O.FILE_SYNCHRONOUS_IO_NONALERT, call);
}

async function volumeInfo(h: HANDLE, call: string) {
  const r = await NtQueryVolumeInformationFile(h);
  if (r.Volume === null) failStatus(r.Status, call);
  return r.Volume;
}

/** What GetVolumeInformationW writes. */
export interface VOLUME_INFORMATION {
  readonly lpVolumeNameBuffer: string;
  readonly lpVolumeSerialNumber: number;
  readonly lpMaximumComponentLength: number;
  readonly lpFileSystemFlags: number;
  readonly lpFileSystemNameBuffer: string;
}

/** GetVolumeInformationW (`X:\`). */
export async function GetVolumeInformationW(lpRootPathName: string): Promise<VOLUME_INFORMATION> {
  const call = "GetVolumeInformationW";
  const h = await openRoot(lpRootPathName, call);
  try {
    return await GetVolumeInformationByHandleW(h);
  } finally {
    await NtClose(h);
  }
}

/** GetVolumeInformationByHandleW. */
export async function GetVolumeInformationByHandleW(hFile: HANDLE): Promise<VOLUME_INFORMATION> {
  const v = await volumeInfo(hFile, "GetVolumeInformationByHandleW");
  succeed();
  return {
    lpVolumeNameBuffer: v.volumeLabel,
    lpVolumeSerialNumber: v.volumeSerialNumber,
    lpMaximumComponentLength: v.maximumComponentNameLength,
    lpFileSystemFlags: v.fileSystemAttributes,
    lpFileSystemNameBuffer: v.fileSystemName,
  };
}

/** GetDiskFreeSpaceW. */
export async function GetDiskFreeSpaceW(
  lpRootPathName: string,
): Promise<{ lpSectorsPerCluster: number; lpBytesPerSector: number; lpNumberOfFreeClusters: number; lpTotalNumberOfClusters: number }> {
  const call = "GetDiskFreeSpaceW";
  const h = await openRoot(lpRootPathName, call);
  try {
    const v = await volumeInfo(h, call);
    succeed();
    const clamp = (n: bigint): number => Number(n > 0xffffffffn ? 0xffffffffn : n);
    return {
      lpSectorsPerCluster: v.sectorsPerAllocationUnit,
      lpBytesPerSector: v.bytesPerSector,
      lpNumberOfFreeClusters: clamp(v.availableAllocationUnits),
      lpTotalNumberOfClusters: clamp(v.totalAllocationUnits),
    };
  } finally {
    await NtClose(h);
  }
}

/** GetDiskFreeSpaceExW. */
export async function GetDiskFreeSpaceExW(
  lpDirectoryName: string,
): Promise<{ lpFreeBytesAvailableToCaller: bigint; lpTotalNumberOfBytes: bigint; lpTotalNumberOfFreeBytes: bigint }> {
  const call = "GetDiskFreeSpaceExW";
  const h = await openPath(lpDirectoryName, A.SYNCHRONIZE, FILE_SHARE_READ | FILE_SHARE_WRITE, O.FILE_OPEN_FOR_BACKUP_INTENT | O.FILE_SYNCHRONOUS_IO_NONALERT, call);
  try {
    const v = await volumeInfo(h, call);
    succeed();
    const unit = BigInt(v.bytesPerSector * v.sectorsPerAllocationUnit);
    return {
      lpFreeBytesAvailableToCaller: v.availableAllocationUnits * unit,
      lpTotalNumberOfBytes: v.totalAllocationUnits * unit,
      lpTotalNumberOfFreeBytes: v.availableAllocationUnits * unit,
    };
  } finally {
    await NtClose(h);
  }
}

/** SetVolumeLabelW. */
export async function SetVolumeLabelW(lpRootPathName: string, lpVolumeName: string): Promise<void> {
  const call = "SetVolumeLabelW";
  const h = await openRoot(lpRootPathName, call);
  try {
    const f = fileOf(h, call);
    const r = await f.volume.fsd.setVolumeLabel(lpVolumeName);
    if (!ntSuccess(r.status)) failStatus(r.status, call);
    succeed();
  } finally {
    await NtClose(h);
  }
}

// ---------------------------------------------------- change notification

/** FILE_NOTIFY_INFORMATION, as it would lie in the buffer. */
export interface FILE_NOTIFY_INFORMATION {
  readonly NextEntryOffset: number;
  readonly Action: number;
  /** In bytes. */
  readonly FileNameLength: number;
  readonly FileName: string;
}

function notifyInformation(records: readonly NotifyRecord[]): FILE_NOTIFY_INFORMATION[] {
  return records.map((r, i) => ({
    NextEntryOffset: i + 1 < records.length ? notifyRecordSize(r.fileName) : 0,
    Action: r.action,
    FileNameLength: 2 * r.fileName.length,
    FileName: r.fileName,
  }));
}

/**
 * ReadDirectoryChangesW: the changes under the directory since the last
 * call (or the next one to happen). A buffer overflow answers no records,
 * as Windows does.
 */
export async function ReadDirectoryChangesW(
  hDirectory: HANDLE,
  nBufferLength: number,
  bWatchSubtree: boolean,
  dwNotifyFilter: number,
  lpOverlapped: OVERLAPPED | null = null,
): Promise<FILE_NOTIFY_INFORMATION[]> {
  const call = "ReadDirectoryChangesW";
  const f = fileOf(hDirectory, call);
  if ((f.fileObject.grantedAccess & A.FILE_LIST_DIRECTORY) === 0) fail(W.ERROR_ACCESS_DENIED, call, S.STATUS_ACCESS_DENIED);
  let records: FILE_NOTIFY_INFORMATION[] = [];
  const pending = f.volume.fsd.notifyChangeDirectory(f.fileObject, dwNotifyFilter, bWatchSubtree, nBufferLength).then((c) => {
    records = c.status === S.STATUS_NOTIFY_ENUM_DIR ? [] : notifyInformation(c.records);
    const bytes = records.reduce((n, r) => n + notifyRecordSize(r.FileName), 0);
    return { status: c.status === S.STATUS_NOTIFY_ENUM_DIR ? S.STATUS_SUCCESS : c.status, bytesTransferred: bytes, output: null };
  });
  return overlappedOrWait(call, f.overlapped ? lpOverlapped : null, pending, () => records);
}

// ----------------------------------------------------- current directory

/** SetCurrentDirectoryW: the directory must open as one. */
export async function SetCurrentDirectoryW(lpPathName: string): Promise<void> {
  const call = "SetCurrentDirectoryW";
  const nt = ntPathOf(lpPathName, call);
  const h = await openPath(lpPathName, A.FILE_TRAVERSE | A.SYNCHRONIZE, SHARE_ALL, O.FILE_DIRECTORY_FILE | O.FILE_SYNCHRONOUS_IO_NONALERT | O.FILE_OPEN_FOR_BACKUP_INTENT, call);
  await NtClose(h);
  let dos = nt.slice(4);
  if (dos.length > 3 && dos.endsWith("\\")) dos = dos.slice(0, -1);
  if (dos.length === 2) dos += "\\";
  currentProcess().currentDirectory = dos;
  succeed();
}

/** GetCurrentDirectoryW. */
export function GetCurrentDirectoryW(): string {
  succeed();
  return currentProcess().currentDirectory;
}

/** GetFileAttributes' failure value, for callers that compare with it. */
export { INVALID_FILE_ATTRIBUTES };
