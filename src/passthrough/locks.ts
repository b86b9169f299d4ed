/**
 * Remote locks: POSIX byte-range locks (GETLK, SETLK, SETLKW) and flock(2)
 * locks (SETLK/SETLKW with FUSE_LK_FLOCK), which virtiofsd does not serve.
 *
 * POSIX locks belong to a lock owner (a guest process) and an inode. Classic
 * fcntl locks would all belong to this daemon and merge, so each (inode,
 * owner) pair gets its own open file description, opened on first lock, and
 * takes open-file-description (OFD) locks on it: owners conflict with each
 * other and with processes on the host exactly as processes would. Closing
 * an owner's description drops all its locks, which is what FLUSH (a close(2)
 * in the guest) asks for. A shadow list of each owner's ranges tells GETLK
 * which guest pid holds a conflicting lock (OFD locks report none).
 *
 * flock locks belong to an open file description, and a FUSE handle is one
 * in the guest, so they are taken on the handle's own fd.
 *
 * Waiting (SETLKW) never blocks a thread: the attempt is retried
 * non-blocking, at once when a lock on the inode is dropped through this file
 * system, otherwise after a back-off (1 ms doubling to 100 ms) for locks held
 * on the host. INTERRUPT (the context's signal) ends the wait with EINTR, as
 * does the end of the session.
 */
import { ErrnoError, errno } from "../common/errors.js";
import { Errno } from "../common/errno.js";
import {
  F_RDLCK,
  F_UNLCK,
  F_WRLCK,
  LOCK_EX,
  LOCK_SH,
  LOCK_UN,
  O_ACCMODE,
  O_DIRECTORY,
  O_NONBLOCK,
  O_RDONLY,
  O_RDWR,
  O_WRONLY,
  S_IFDIR,
  S_IFREG,
} from "../sys/constants.js";
import { flock, ofdGetLock, ofdSetLock, reopen } from "../sys/fs.js";
import { close } from "../sys/libc.js";
import type { FileLock } from "../fuse/structs.js";
import type { FdBudget } from "./fd-budget.js";
import type { Handle } from "./handles.js";
import type { Inode } from "./inodes.js";

/** `OFFSET_MAX`: the `end` of a lock that runs to the end of the file, however far it grows. */
export const OFFSET_MAX = 0x7fff_ffff_ffff_ffffn;

/** A locked byte range, both ends included. */
export interface LockRange {
  start: bigint;
  end: bigint;
  /** F_RDLCK or F_WRLCK. */
  type: number;
}

/**
 * `ranges` after setting [start, end] to `type` (F_UNLCK removes it): the
 * parts of older ranges outside [start, end] stay, sorted by start.
 */
export function applyRange(ranges: readonly LockRange[], start: bigint, end: bigint, type: number): LockRange[] {
  const out: LockRange[] = [];
  for (const r of ranges) {
    if (r.end < start || r.start > end) {
      out.push(r);
      continue;
    }
    if (r.start < start) out.push({ start: r.start, end: start - 1n, type: r.type });
    if (r.end > end) out.push({ start: end + 1n, end: r.end, type: r.type });
  }
  if (type !== F_UNLCK) out.push({ start, end, type });
  return out.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
}

interface Owner {
  /** The owner's open file description on the inode. */
  fd: number;
  ranges: LockRange[];
  /** The guest pid of the owner's last lock request. */
  pid: number;
}

/** What a node keeps for the lock manager. */
class InodeLocks {
  readonly owners = new Map<bigint, Owner>();
  /** Wake-ups of the SETLKW requests waiting on this inode. */
  readonly waiters = new Set<() => void>();
}

function locksOf(inode: Inode): InodeLocks {
  if (!(inode.locks instanceof InodeLocks)) inode.locks = new InodeLocks();
  return inode.locks as InodeLocks;
}

function isAgain(error: unknown): boolean {
  return ErrnoError.is(error) && error.errno === Errno.EAGAIN;
}

/** A checked request range: `[start, end]` and the `struct flock` length (0: to the end). */
function checkRange(lk: FileLock, op: string): { start: bigint; end: bigint; length: bigint } {
  const { start, end } = lk;
  if (start > OFFSET_MAX || start > end || (end > OFFSET_MAX && end !== 0xffff_ffff_ffff_ffffn)) {
    throw errno("EINVAL", op);
  }
  const to = end >= OFFSET_MAX ? OFFSET_MAX : end;
  return { start, end: to, length: to === OFFSET_MAX ? 0n : to - start + 1n };
}

/** Whether a handle opened with `flags` may take a lock of `type` (EBADF otherwise, as fcntl). */
function checkAccess(flags: number, type: number, op: string): void {
  const mode = flags & O_ACCMODE;
  if (type === F_RDLCK && mode === O_WRONLY) throw errno("EBADF", op);
  if (type === F_WRLCK && mode === O_RDONLY) throw errno("EBADF", op);
}

export class LockManager {
  #session = new AbortController();

  constructor(private readonly budget: FdBudget) {}

  /** GETLK: the first lock that conflicts with `lk` for `owner`, or `lk` with type F_UNLCK. */
  getlk(inode: Inode, handle: Handle, owner: bigint, lk: FileLock): FileLock {
    const op = "getlk";
    if (lk.type !== F_RDLCK && lk.type !== F_WRLCK) throw errno("EINVAL", op);
    const { start, length } = checkRange(lk, op);
    const state = locksOf(inode);
    // The owner's own description does not conflict with its own locks; a
    // handle's fd holds no OFD locks at all, so it sees every other one.
    const fd = state.owners.get(owner)?.fd ?? handle.fd;
    const found = ofdGetLock(fd, { type: lk.type, start, length });
    if (found.type === F_UNLCK) return { start: lk.start, end: lk.end, type: F_UNLCK, pid: 0 };
    const end = found.length === 0n ? OFFSET_MAX : found.start + found.length - 1n;
    return { start: found.start, end, type: found.type, pid: this.#holder(state, owner, found.start, end, found.type) };
  }

  /**
   * SETLK / SETLKW of a POSIX lock for `owner` on `inode` through `handle`.
   * A conflict is EAGAIN, unless `wait`: then the request waits until it is
   * granted, `signal` aborts (EINTR) or the session ends (EINTR).
   */
  async setlk(inode: Inode, handle: Handle, owner: bigint, lk: FileLock, wait: boolean, signal?: AbortSignal): Promise<void> {
    const op = wait ? "setlkw" : "setlk";
    if (lk.type !== F_RDLCK && lk.type !== F_WRLCK && lk.type !== F_UNLCK) throw errno("EINVAL", op);
    const { start, end, length } = checkRange(lk, op);
    const state = locksOf(inode);
    if (lk.type === F_UNLCK) {
      const current = state.owners.get(owner);
      if (current === undefined) return;
      ofdSetLock(current.fd, { type: F_UNLCK, start, length });
      current.ranges = applyRange(current.ranges, start, end, F_UNLCK);
      if (current.ranges.length === 0) this.#dropOwner(state, owner);
      this.wake(inode);
      return;
    }
    checkAccess(handle.flags, lk.type, op);
    for (let delay = 1; ; delay = Math.min(delay * 2, 100)) {
      if (inode.closed) throw errno("EBADF", op);
      const entry = this.#owner(inode, state, owner, op);
      try {
        ofdSetLock(entry.fd, { type: lk.type, start, length });
        entry.ranges = applyRange(entry.ranges, start, end, lk.type);
        entry.pid = lk.pid;
        return;
      } catch (error) {
        if (entry.ranges.length === 0) this.#dropOwner(state, owner);
        if (!wait || !isAgain(error)) throw error;
      }
      await this.#sleep(state, delay, signal);
    }
  }

  /** SETLK / SETLKW with FUSE_LK_FLOCK: flock(2) on the handle's description. */
  async flock(inode: Inode, handle: Handle, type: number, wait: boolean, signal?: AbortSignal): Promise<void> {
    const op = wait ? "setlkw" : "setlk";
    const operation = type === F_RDLCK ? LOCK_SH : type === F_WRLCK ? LOCK_EX : type === F_UNLCK ? LOCK_UN : -1;
    if (operation < 0) throw errno("EINVAL", op);
    const state = locksOf(inode);
    for (let delay = 1; ; delay = Math.min(delay * 2, 100)) {
      if (handle.released || handle.fd < 0) throw errno("EBADF", op);
      try {
        flock(handle.fd, operation);
        if (operation !== LOCK_EX) this.wake(inode);
        return;
      } catch (error) {
        if (!wait || !isAgain(error)) throw error;
      }
      await this.#sleep(state, delay, signal);
    }
  }

  /** Whether `owner` holds a POSIX lock on `inode`. */
  holds(inode: Inode, owner: bigint): boolean {
    return inode.locks instanceof InodeLocks && inode.locks.owners.has(owner);
  }

  /** Drops every POSIX lock `owner` holds on `inode` (FLUSH: a close in the guest). */
  dropOwner(inode: Inode, owner: bigint): void {
    const state = inode.locks instanceof InodeLocks ? inode.locks : undefined;
    if (state?.owners.has(owner)) {
      this.#dropOwner(state, owner);
      this.wake(inode);
    }
  }

  /** Drops every POSIX lock on `inode` (its fd is closing). */
  closeInode(inode: Inode): void {
    if (!(inode.locks instanceof InodeLocks)) return;
    const state = inode.locks;
    for (const owner of [...state.owners.keys()]) this.#dropOwner(state, owner);
    this.wake(inode);
  }

  /** Lets waiting SETLKW requests on `inode` try again now (a lock there was dropped). */
  wake(inode: Inode): void {
    if (!(inode.locks instanceof InodeLocks)) return;
    for (const waiter of [...inode.locks.waiters]) waiter();
  }

  /** The session ended: every waiting SETLKW fails with EINTR. */
  destroy(): void {
    this.#session.abort();
    this.#session = new AbortController();
  }

  /** Owner fds open now (for inspection). */
  static ownerCount(inode: Inode): number {
    return inode.locks instanceof InodeLocks ? inode.locks.owners.size : 0;
  }

  #owner(inode: Inode, state: InodeLocks, owner: bigint, op: string): Owner {
    const existing = state.owners.get(owner);
    if (existing !== undefined) return existing;
    this.budget.acquire(op);
    let fd: number;
    try {
      fd = openDescription(inode, op);
    } catch (error) {
      this.budget.release();
      throw error;
    }
    const entry: Owner = { fd, ranges: [], pid: 0 };
    state.owners.set(owner, entry);
    return entry;
  }

  #dropOwner(state: InodeLocks, owner: bigint): void {
    const entry = state.owners.get(owner);
    if (entry === undefined) return;
    state.owners.delete(owner);
    close(entry.fd);
    this.budget.release();
  }

  /** The guest pid of the owner (other than `requester`) holding [start, end] with `type`; 0 when it is held on the host. */
  #holder(state: InodeLocks, requester: bigint, start: bigint, end: bigint, type: number): number {
    for (const [owner, entry] of state.owners) {
      if (owner === requester) continue;
      for (const r of entry.ranges) {
        if (r.type === type && r.start <= end && r.end >= start) return entry.pid;
      }
    }
    return 0;
  }

  #sleep(state: InodeLocks, ms: number, signal: AbortSignal | undefined): Promise<void> {
    const session = this.#session.signal;
    if (signal?.aborted || session.aborted) return Promise.reject(errno("EINTR", "setlkw"));
    return new Promise<void>((resolve, reject) => {
      const finish = (error?: ErrnoError): void => {
        clearTimeout(timer);
        state.waiters.delete(wakeUp);
        signal?.removeEventListener("abort", interrupted);
        session.removeEventListener("abort", interrupted);
        if (error) reject(error);
        else resolve();
      };
      const wakeUp = (): void => finish();
      const interrupted = (): void => finish(errno("EINTR", "setlkw"));
      const timer = setTimeout(wakeUp, ms);
      state.waiters.add(wakeUp);
      signal?.addEventListener("abort", interrupted, { once: true });
      session.addEventListener("abort", interrupted, { once: true });
    });
  }
}

/** A new open file description of `inode` for its locks: read-write when the host allows, else read-only. */
function openDescription(inode: Inode, op: string): number {
  if (inode.type === S_IFDIR) return reopen(inode.fd, O_RDONLY | O_DIRECTORY);
  if (inode.type !== S_IFREG) throw errno("EBADF", op);
  try {
    return reopen(inode.fd, O_RDWR | O_NONBLOCK);
  } catch (error) {
    if (!ErrnoError.is(error) || (error.errno !== Errno.EACCES && error.errno !== Errno.EROFS && error.errno !== Errno.ETXTBSY)) {
      throw error;
    }
    return reopen(inode.fd, O_RDONLY | O_NONBLOCK);
  }
}
