/**
 * The error the Win32 API rejects with: kernel32's last-error value as
 * `code` (2) and its symbol as `name` (`ERROR_FILE_NOT_FOUND`), with the
 * NTSTATUS it came from when there was one. It is not a ViofsError: those
 * carry string codes, and a Win32 caller compares numbers
 * (`e.code === ERROR_FILE_NOT_FOUND`), as GetLastError() callers do.
 */
import { ntStatusName, ntStatusToWin32, win32ErrorName } from "../windows/ntstatus.js";

const brand = Symbol.for("viofs.win32.error");

export class Win32Error extends Error {
  /** The Win32 error code (what GetLastError answers). */
  readonly code: number;
  /** The NTSTATUS the error was mapped from, when the failure came from below. */
  readonly status: number | undefined;
  /**
   * What kernel32 leaves in the caller's buffer on this failure, when that
   * matters: the needed length after ERROR_INSUFFICIENT_BUFFER, the
   * truncated name after ERROR_MORE_DATA.
   */
  readonly output: unknown;
  readonly [brand] = true;

  constructor(code: number, options: { status?: number; call?: string; output?: unknown } = {}) {
    const name = win32ErrorName(code);
    const from = options.status !== undefined ? ` (${ntStatusName(options.status)})` : "";
    super(`${options.call ?? "Win32"}: ${name}${from}`);
    this.code = code;
    this.name = name;
    this.status = options.status;
    this.output = options.output;
  }

  /** The error for an NTSTATUS, mapped as RtlNtStatusToDosError does. */
  static fromStatus(status: number, call?: string, output?: unknown): Win32Error {
    return new Win32Error(ntStatusToWin32(status), { status: status >>> 0, ...(call !== undefined ? { call } : {}), output });
  }

  static is(value: unknown): value is Win32Error {
    return typeof value === "object" && value !== null && brand in value;
  }
}
