/**
 * Host errors as NTSTATUS values. Every FUSE call of the service rejects
 * with an {@link ErrnoError} on failure; this module turns it into the
 * status Windows programs expect (src/windows/ntstatus.ts, with the call's
 * context), and names in the log every errno that has no mapping instead of
 * flattening it silently. Anything that is not an ErrnoError is a bug and
 * propagates (the caller answers STATUS_INTERNAL_ERROR).
 */
import { ErrnoError } from "../common/errors.js";
import type { Logger } from "../common/log.js";
import { errnoToNtStatus, type ErrnoContext } from "../windows/ntstatus.js";

/** The NTSTATUS for a failed host call; rethrows what is not an ErrnoError. */
export function statusOfError(error: unknown, log: Logger, context: ErrnoContext = "generic"): number {
  if (!ErrnoError.is(error)) throw error;
  const mapped = errnoToNtStatus(error.errno, context);
  if (!mapped.known) log.warn(`service: ${error.message}: errno ${mapped.errnoName} has no NTSTATUS; answering STATUS_UNSUCCESSFUL`);
  else if (log.enabled("debug")) log.debug(`service: ${error.message} -> 0x${mapped.status.toString(16)}`);
  return mapped.status;
}

/** True when `error` is an ErrnoError with one of `errnos`. */
export function isErrno(error: unknown, ...errnos: number[]): error is ErrnoError {
  return ErrnoError.is(error) && errnos.includes(error.errno);
}
