/**
 * Byte-range locks with the semantics of the kernel's FILE_LOCK package
 * (FsRtlProcessFileLock, FsRtlCheckLockForReadAccess/WriteAccess), which is
 * all WinFsp's FSD uses: locks never reach the file system.
 *
 * - A lock is owned by a file object (handle); zero-length locks never
 *   conflict.
 * - An exclusive lock conflicts with every overlapping lock; a shared lock
 *   conflicts with overlapping exclusive locks of other owners.
 * - Reads conflict with other owners' exclusive locks. Writes conflict with
 *   other owners' exclusive locks and with every shared lock, the owner's
 *   own included.
 * - A conflicting request fails at once with STATUS_LOCK_NOT_GRANTED when
 *   FAIL_IMMEDIATELY, otherwise it waits until it can be granted (or its
 *   owner's handle is cleaned up: STATUS_RANGE_NOT_LOCKED is not used for
 *   that, the wait ends with STATUS_CANCELLED as an aborted IRP does).
 * - Unlock must name an existing lock of the same owner exactly (offset and
 *   length), else STATUS_RANGE_NOT_LOCKED.
 */
import { NtStatus } from "../windows/ntstatus.js";
import { Deferred } from "./sync.js";

interface Lock {
  readonly owner: object;
  readonly offset: bigint;
  readonly length: bigint;
  readonly exclusive: boolean;
}

interface Waiter extends Lock {
  readonly done: Deferred<number>;
}

function overlaps(a: { offset: bigint; length: bigint }, offset: bigint, length: bigint): boolean {
  if (a.length === 0n || length === 0n) return false;
  return a.offset < offset + length && offset < a.offset + a.length;
}

/** What a lock request answers: granted or failed now, or a wait that ends with a status. */
export type LockRequestResult = { readonly status: number } | { readonly pending: Promise<number> };

/** The locks of one file (one FSD file node). */
export class FileLockList {
  private locks: Lock[] = [];
  private waiters: Waiter[] = [];

  /** True when no lock is held (shared oplocks are refused otherwise). */
  get empty(): boolean {
    return this.locks.length === 0;
  }

  private conflicts(owner: object, offset: bigint, length: bigint, exclusive: boolean): boolean {
    for (const l of this.locks) {
      if (!overlaps(l, offset, length)) continue;
      if (exclusive || (l.exclusive && l.owner !== owner)) return true;
    }
    return false;
  }

  /** LockFileEx / NtLockFile. */
  lock(owner: object, offset: bigint, length: bigint, exclusive: boolean, failImmediately: boolean): LockRequestResult {
    if (offset < 0n || length < 0n) return { status: NtStatus.STATUS_INVALID_PARAMETER };
    if (!this.conflicts(owner, offset, length, exclusive)) {
      this.locks.push({ owner, offset, length, exclusive });
      return { status: NtStatus.STATUS_SUCCESS };
    }
    if (failImmediately) return { status: NtStatus.STATUS_LOCK_NOT_GRANTED };
    const done = new Deferred<number>();
    this.waiters.push({ owner, offset, length, exclusive, done });
    return { pending: done.promise };
  }

  /** UnlockFileEx / NtUnlockFile: the exact range of a lock this owner holds. */
  unlock(owner: object, offset: bigint, length: bigint): number {
    const i = this.locks.findIndex((l) => l.owner === owner && l.offset === offset && l.length === length);
    if (i < 0) return NtStatus.STATUS_RANGE_NOT_LOCKED;
    this.locks.splice(i, 1);
    this.grantWaiters();
    return NtStatus.STATUS_SUCCESS;
  }

  /** Releases every lock of an owner and ends its waits (FsRtlFastUnlockAll at cleanup). */
  unlockAll(owner: object): void {
    const before = this.locks.length;
    this.locks = this.locks.filter((l) => l.owner !== owner);
    for (const w of this.waiters.filter((x) => x.owner === owner)) w.done.resolve(NtStatus.STATUS_CANCELLED);
    this.waiters = this.waiters.filter((w) => w.owner !== owner);
    if (this.locks.length !== before) this.grantWaiters();
  }

  /** May `owner` read this range? */
  canRead(owner: object, offset: bigint, length: bigint): boolean {
    return !this.locks.some((l) => l.exclusive && l.owner !== owner && overlaps(l, offset, length));
  }

  /** May `owner` write this range? */
  canWrite(owner: object, offset: bigint, length: bigint): boolean {
    return !this.locks.some((l) => (!l.exclusive || l.owner !== owner) && overlaps(l, offset, length));
  }

  private grantWaiters(): void {
    let progress = true;
    while (progress) {
      progress = false;
      for (const w of this.waiters) {
        if (this.conflicts(w.owner, w.offset, w.length, w.exclusive)) continue;
        this.locks.push({ owner: w.owner, offset: w.offset, length: w.length, exclusive: w.exclusive });
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.done.resolve(NtStatus.STATUS_SUCCESS);
        progress = true;
        break;
      }
    }
  }
}
