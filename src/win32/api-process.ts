/**
 * kernel32's memory-mapping, synchronization, process and token functions,
 * as far as the file-system tests use them: file mappings over the FSD's
 * data sections (mm.ts), events and semaphores, emulated processes that run
 * an image from a volume, and the caller's token and privileges.
 */
import { NtStatus, Win32ErrorCode as W, ntStatusToWin32 } from "../windows/ntstatus.js";
import { AccessMask } from "../windows/security.js";
import { CreateDisposition, CreateOption } from "../winfsp/constants.js";
import {
  ALLOCATION_GRANULARITY,
  ERROR_INVALID_ADDRESS,
  ERROR_MAPPED_ALIGNMENT,
  ERROR_NOT_ALL_ASSIGNED,
  ERROR_TOO_MANY_POSTS,
  FILE_MAP_WRITE,
  FILE_SHARE_DELETE,
  FILE_SHARE_READ,
  PAGE_EXECUTE_READ,
  PAGE_READONLY,
  PAGE_READWRITE,
  SE_PRIVILEGE_ENABLED,
  STILL_ACTIVE,
  WAIT_OBJECT_0,
  WAIT_TIMEOUT,
  INFINITE,
} from "./constants.js";
import { Win32Error } from "./errors.js";
import type { MappedView } from "./mm.js";
import { dosPathToNtPath } from "./names.js";
import { NtClose, NtCreateFile, fileHandle } from "./ntapi.js";
import {
  Win32ChildProcess,
  Win32Event,
  Win32Semaphore,
  currentProcess,
  programOfImage,
  type HANDLE,
  type Waitable,
} from "./process.js";

const A = AccessMask;

function fail(code: number, call: string, status?: number): never {
  currentProcess().lastError = code;
  throw new Win32Error(code, { call, ...(status !== undefined ? { status } : {}) });
}

function succeed(): void {
  currentProcess().lastError = 0;
}

// ---------------------------------------------------------------- mapping

/** CreateFileMappingW over a file handle (no page-file mappings, no names). */
export async function CreateFileMappingW(
  hFile: HANDLE,
  lpFileMappingAttributes: unknown,
  flProtect: number,
  dwMaximumSizeHigh: number,
  dwMaximumSizeLow: number,
  lpName: string | null = null,
): Promise<HANDLE> {
  void lpFileMappingAttributes;
  void lpName;
  const call = "CreateFileMappingW";
  const f = fileHandle(hFile);
  if (f === null) fail(W.ERROR_INVALID_HANDLE, call);
  const protect = flProtect & 0xff;
  if (protect !== PAGE_READONLY && protect !== PAGE_READWRITE && protect !== PAGE_EXECUTE_READ) fail(W.ERROR_INVALID_PARAMETER, call);
  const writable = protect === PAGE_READWRITE;
  const granted = f.fileObject.grantedAccess;
  if ((granted & A.FILE_READ_DATA) === 0 || (writable && (granted & A.FILE_WRITE_DATA) === 0)) fail(W.ERROR_ACCESS_DENIED, call);
  const size = (BigInt(dwMaximumSizeHigh >>> 0) << 32n) | BigInt(dwMaximumSizeLow >>> 0);
  const r = await f.volume.fsd.createSection(f.fileObject, size, writable);
  if (r.value === undefined) fail(ntStatusToWin32(r.status), call, r.status);
  const h = currentProcess().insert({ kind: "mapping", section: r.value, volume: f.volume, writable });
  succeed();
  return h;
}

/** MapViewOfFile: a view onto the mapping; its `bytes` are the file's pages. */
export async function MapViewOfFile(
  hFileMappingObject: HANDLE,
  dwDesiredAccess: number,
  dwFileOffsetHigh: number,
  dwFileOffsetLow: number,
  dwNumberOfBytesToMap: number,
): Promise<MappedView> {
  const call = "MapViewOfFile";
  const o = currentProcess().get(hFileMappingObject);
  if (o === undefined || o.kind !== "mapping") fail(W.ERROR_INVALID_HANDLE, call);
  const offset = Number((BigInt(dwFileOffsetHigh >>> 0) << 32n) | BigInt(dwFileOffsetLow >>> 0));
  if (offset % ALLOCATION_GRANULARITY !== 0) fail(ERROR_MAPPED_ALIGNMENT, call);
  const writable = (dwDesiredAccess & FILE_MAP_WRITE) !== 0;
  if (writable && !o.writable) fail(W.ERROR_ACCESS_DENIED, call);
  const section = o.section;
  if (offset >= section.size) fail(W.ERROR_ACCESS_DENIED, call);
  const length = dwNumberOfBytesToMap === 0 ? section.size - offset : dwNumberOfBytesToMap;
  if (offset + length > section.size) fail(W.ERROR_ACCESS_DENIED, call);
  const view = await o.volume.fsd.sectionOp(async () => section.map(offset, length, writable));
  views.set(view, o.volume);
  succeed();
  return view;
}

const views = new Map<MappedView, { fsd: { sectionOp<T>(fn: () => Promise<T>): Promise<T> } }>();

/** UnmapViewOfFile: the view's modified pages are written to the file. */
export async function UnmapViewOfFile(lpBaseAddress: MappedView): Promise<void> {
  const v = views.get(lpBaseAddress);
  if (v === undefined) fail(ERROR_INVALID_ADDRESS, "UnmapViewOfFile");
  views.delete(lpBaseAddress);
  await v.fsd.sectionOp(() => lpBaseAddress.section.unmap(lpBaseAddress));
  succeed();
}

/** FlushViewOfFile: writes the view's modified pages. */
export async function FlushViewOfFile(lpBaseAddress: MappedView, dwNumberOfBytesToFlush = 0): Promise<void> {
  const v = views.get(lpBaseAddress);
  if (v === undefined) fail(ERROR_INVALID_ADDRESS, "FlushViewOfFile");
  const length = dwNumberOfBytesToFlush === 0 ? lpBaseAddress.length : dwNumberOfBytesToFlush;
  await v.fsd.sectionOp(() => lpBaseAddress.section.flush(lpBaseAddress.offset, length));
  succeed();
}

// -------------------------------------------------------- synchronization

/** CreateEventW. */
export function CreateEventW(lpEventAttributes: unknown, bManualReset: boolean, bInitialState: boolean, lpName: string | null = null): HANDLE {
  void lpEventAttributes;
  void lpName;
  succeed();
  return currentProcess().insert({ kind: "event", event: new Win32Event(bManualReset, bInitialState) });
}

/** SetEvent. */
export function SetEvent(hEvent: HANDLE): void {
  const o = currentProcess().get(hEvent);
  if (o === undefined || o.kind !== "event") fail(W.ERROR_INVALID_HANDLE, "SetEvent");
  o.event.set();
  succeed();
}

/** ResetEvent. */
export function ResetEvent(hEvent: HANDLE): void {
  const o = currentProcess().get(hEvent);
  if (o === undefined || o.kind !== "event") fail(W.ERROR_INVALID_HANDLE, "ResetEvent");
  o.event.reset();
  succeed();
}

/** CreateSemaphoreW. */
export function CreateSemaphoreW(lpSemaphoreAttributes: unknown, lInitialCount: number, lMaximumCount: number, lpName: string | null = null): HANDLE {
  void lpSemaphoreAttributes;
  void lpName;
  if (lInitialCount < 0 || lMaximumCount <= 0 || lInitialCount > lMaximumCount) fail(W.ERROR_INVALID_PARAMETER, "CreateSemaphoreW");
  succeed();
  return currentProcess().insert({ kind: "semaphore", semaphore: new Win32Semaphore(lInitialCount, lMaximumCount) });
}

/** ReleaseSemaphore: answers the previous count. */
export function ReleaseSemaphore(hSemaphore: HANDLE, lReleaseCount: number): number {
  const o = currentProcess().get(hSemaphore);
  if (o === undefined || o.kind !== "semaphore") fail(W.ERROR_INVALID_HANDLE, "ReleaseSemaphore");
  const previous = o.semaphore.release(lReleaseCount);
  if (previous === null) fail(ERROR_TOO_MANY_POSTS, "ReleaseSemaphore");
  succeed();
  return previous;
}

/** WaitForSingleObject: WAIT_OBJECT_0 or WAIT_TIMEOUT (`dwMilliseconds` INFINITE waits forever). */
export async function WaitForSingleObject(hHandle: HANDLE, dwMilliseconds: number): Promise<number> {
  const o = currentProcess().get(hHandle);
  let w: Waitable;
  if (o === undefined) fail(W.ERROR_INVALID_HANDLE, "WaitForSingleObject");
  switch (o.kind) {
    case "event":
      w = o.event;
      break;
    case "semaphore":
      w = o.semaphore;
      break;
    case "process":
    case "thread":
      w = o.process;
      break;
    default:
      fail(W.ERROR_INVALID_HANDLE, "WaitForSingleObject");
  }
  const ms = dwMilliseconds >>> 0 === INFINITE ? Number.POSITIVE_INFINITY : dwMilliseconds;
  const signalled = await w.wait(ms);
  succeed();
  return signalled ? WAIT_OBJECT_0 : WAIT_TIMEOUT;
}

/** Sleep. */
export function Sleep(dwMilliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, dwMilliseconds));
}

// -------------------------------------------------------------- processes

/** PROCESS_INFORMATION. */
export interface PROCESS_INFORMATION {
  readonly hProcess: HANDLE;
  readonly hThread: HANDLE;
  readonly dwProcessId: number;
  readonly dwThreadId: number;
}

/**
 * CreateProcessW: opens the image for execute (sharing read and delete, as
 * the loader does), maps it as an image section (so the file is a running
 * image until the process exits), and runs the program the image names
 * with the command line. Not an image of a registered program:
 * ERROR_BAD_EXE_FORMAT.
 */
export async function CreateProcessW(
  lpApplicationName: string | null,
  lpCommandLine: string | null,
  lpProcessAttributes: unknown = null,
  lpThreadAttributes: unknown = null,
  bInheritHandles = false,
): Promise<PROCESS_INFORMATION> {
  void lpProcessAttributes;
  void lpThreadAttributes;
  void bInheritHandles;
  const call = "CreateProcessW";
  const p = currentProcess();
  let application = lpApplicationName;
  if (application === null) {
    const m = /^\s*(?:"([^"]*)"|(\S+))/.exec(lpCommandLine ?? "");
    application = m?.[1] ?? m?.[2] ?? null;
  }
  if (application === null) fail(W.ERROR_FILE_NOT_FOUND, call);
  const nt = dosPathToNtPath(application, p.currentDirectory);
  if (nt === null) fail(W.ERROR_INVALID_NAME, call);
  const opened = await NtCreateFile(
    A.FILE_READ_DATA | A.FILE_EXECUTE | A.SYNCHRONIZE,
    { ObjectName: nt },
    0n,
    0,
    FILE_SHARE_READ | FILE_SHARE_DELETE,
    CreateDisposition.FILE_OPEN,
    CreateOption.FILE_NON_DIRECTORY_FILE | CreateOption.FILE_SYNCHRONOUS_IO_NONALERT,
  );
  if (opened.FileHandle === null) fail(ntStatusToWin32(opened.Status), call, opened.Status);
  const f = fileHandle(opened.FileHandle)!;
  const fsd = f.volume.fsd;
  const node = f.fileObject.node!;
  const image = await fsd.mapImage(f.fileObject);
  await NtClose(opened.FileHandle);
  if (image.value === undefined) fail(ntStatusToWin32(image.status), call, image.status);
  const program = programOfImage(image.value);
  if (program === null) {
    await fsd.unmapImage(node);
    fail(W.ERROR_BAD_EXE_FORMAT, call, NtStatus.STATUS_INVALID_IMAGE_FORMAT);
  }
  const child = new Win32ChildProcess();
  const hProcess = p.insert({ kind: "process", process: child });
  const hThread = p.insert({ kind: "thread", process: child });
  const commandLine = lpCommandLine ?? `"${application}"`;
  void (async () => {
    let code: number;
    try {
      code = await program(commandLine, p);
    } catch {
      code = 1;
    }
    await fsd.unmapImage(node);
    child.exit(code);
  })();
  succeed();
  return { hProcess, hThread, dwProcessId: child.id, dwThreadId: child.id + 1 };
}

/** GetExitCodeProcess: STILL_ACTIVE while running. */
export function GetExitCodeProcess(hProcess: HANDLE): number {
  const o = currentProcess().get(hProcess);
  if (o === undefined || o.kind !== "process") fail(W.ERROR_INVALID_HANDLE, "GetExitCodeProcess");
  succeed();
  return o.process.exitCode ?? STILL_ACTIVE;
}

// ------------------------------------------------------------------ tokens

/** GetCurrentProcess: the pseudo-handle. */
export function GetCurrentProcess(): HANDLE {
  return -1;
}

/** OpenProcessToken (of the current process). */
export function OpenProcessToken(ProcessHandle: HANDLE, DesiredAccess: number): HANDLE {
  void DesiredAccess;
  if (ProcessHandle !== -1) fail(W.ERROR_INVALID_HANDLE, "OpenProcessToken");
  succeed();
  return currentProcess().insert({ kind: "token", token: currentProcess().token });
}

/** LookupPrivilegeValueW: privileges are identified by name here. */
export function LookupPrivilegeValueW(lpSystemName: string | null, lpName: string): string {
  void lpSystemName;
  succeed();
  return lpName;
}

/** TOKEN_PRIVILEGES. */
export interface TOKEN_PRIVILEGES {
  readonly Privileges: readonly { readonly Luid: string; readonly Attributes: number }[];
}

/**
 * AdjustTokenPrivileges: enables or disables held privileges. Succeeds with
 * last error ERROR_NOT_ALL_ASSIGNED when some are not held.
 */
export function AdjustTokenPrivileges(TokenHandle: HANDLE, DisableAllPrivileges: boolean, NewState: TOKEN_PRIVILEGES | null): void {
  const o = currentProcess().get(TokenHandle);
  if (o === undefined || o.kind !== "token") fail(W.ERROR_INVALID_HANDLE, "AdjustTokenPrivileges");
  let all = true;
  if (DisableAllPrivileges) for (const p of o.token.privilegeList()) o.token.setEnabled(p.name, false);
  else for (const p of NewState?.Privileges ?? []) all = o.token.setEnabled(p.Luid, (p.Attributes & SE_PRIVILEGE_ENABLED) !== 0) && all;
  currentProcess().lastError = all ? 0 : ERROR_NOT_ALL_ASSIGNED;
}

/** PrivilegeCheck: are all the privileges held and enabled? */
export function PrivilegeCheck(ClientToken: HANDLE, RequiredPrivileges: TOKEN_PRIVILEGES): boolean {
  const o = currentProcess().get(ClientToken);
  if (o === undefined || o.kind !== "token") fail(W.ERROR_INVALID_HANDLE, "PrivilegeCheck");
  succeed();
  return RequiredPrivileges.Privileges.every((p) => o.token.enabled(p.Luid));
}
