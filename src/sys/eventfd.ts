/**
 * eventfd(2): the kick and call notifiers of vhost-user virtqueues. An
 * eventfd holds a 64-bit counter; a write adds to it, a read returns it and
 * resets it to zero (or, with EFD_SEMAPHORE, returns 1 and decrements it).
 */
import { ErrnoError } from "../common/errors.js";
import { Errno } from "../common/errno.js";
import * as libc from "./libc.js";
import { EFD_CLOEXEC, EFD_NONBLOCK, EPOLLIN, POLLIN } from "./constants.js";
import { sharedPoller, type FdPoller } from "./poller.js";

const counter = Buffer.alloc(8);
/** The 8 bytes of the count 1, what a signal adds. */
const ONE = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]);

/**
 * A new eventfd with counter `initval`. `flags` are EFD_* and default to
 * EFD_CLOEXEC | EFD_NONBLOCK, which {@link eventfdRead} and
 * {@link eventfdReadAsync} expect. Returns the fd; the caller closes it.
 */
export function eventfd(initval = 0, flags: number = EFD_CLOEXEC | EFD_NONBLOCK): number {
  return libc.check(libc.eventfd(initval, flags), "eventfd");
}

/**
 * Adds `value` (1 to 2^64-2, default 1) to the counter. Throws EAGAIN when
 * the counter would overflow on a non-blocking eventfd (a blocking one would
 * block the event loop there; use non-blocking eventfds).
 */
export function eventfdWrite(fd: number, value: bigint | number = 1n): void {
  let bytes = ONE;
  // A signal (the common case) writes a constant: converting 1n to bytes allocates.
  if (value !== 1n && value !== 1) {
    counter.writeBigUInt64LE(BigInt(value));
    bytes = counter;
  }
  const written = libc.write(fd, bytes, 8);
  if (written < 0) libc.fail("write", "eventfd");
  if (written !== 8) throw new ErrnoError(Errno.EIO, "write", "eventfd");
}

/**
 * Reads and resets the counter of a non-blocking eventfd: its value, or
 * `null` when it is zero (nothing signalled since the last read).
 */
export function eventfdRead(fd: number): bigint | null {
  const count = libc.read(fd, counter, 8);
  if (count < 0) {
    if (libc.lastErrno() === Errno.EAGAIN) return null;
    libc.fail("read", "eventfd");
  }
  if (count !== 8) throw new ErrnoError(Errno.EIO, "read", "eventfd");
  return counter.readBigUInt64LE(0);
}

/** `struct pollfd`: int fd, short events, short revents. */
const POLLFD_SIZE = 8;
/** {@link eventfdPoll}'s array of them, grown as needed. */
let pollfds = Buffer.alloc(4 * POLLFD_SIZE);

/**
 * Blocks the calling thread (on the main thread: the event loop too) in
 * poll(2) for at most `timeoutMs` until one of the non-blocking eventfds
 * `fds` is readable, and answers the first such fd's index in `fds`, without
 * reading it: {@link eventfdClear} resets the counter when the caller is
 * ready to (a daemon serves a kick first and reads it after). -1: the time
 * passed, a signal came (EINTR, which the event loop must then handle), poll
 * failed, or an fd reported an error or was not open.
 */
export function eventfdPoll(fds: readonly number[], timeoutMs: number): number {
  if (fds.length === 0) throw new RangeError("eventfdPoll needs an fd to watch");
  if (pollfds.byteLength < fds.length * POLLFD_SIZE) pollfds = Buffer.alloc(fds.length * POLLFD_SIZE);
  for (let i = 0; i < fds.length; i++) {
    pollfds.writeInt32LE(fds[i]!, i * POLLFD_SIZE);
    pollfds.writeInt32LE(POLLIN, i * POLLFD_SIZE + 4);
  }
  if (!(timeoutMs > 0) || libc.poll(pollfds, fds.length, Math.ceil(timeoutMs)) <= 0) return -1;
  for (let i = 0; i < fds.length; i++) {
    const revents = pollfds.readUInt16LE(i * POLLFD_SIZE + 6);
    // POLLERR, POLLHUP, POLLNVAL (an fd closed meanwhile): not for this wait to sort out.
    if ((revents & ~POLLIN) !== 0) return -1;
    if (revents !== 0) return i;
  }
  return -1;
}

/**
 * Resets the counter of a non-blocking eventfd, as {@link eventfdRead}
 * without making a bigint of it: true when it held a count; false when it
 * was zero, and when the fd reads as no eventfd does (a peer may pass
 * anything as a kick fd: the caller's event loop then deals with that fd as
 * it always does). Never throws.
 */
export function eventfdClear(fd: number): boolean {
  return libc.read(fd, counter, 8) === 8;
}

/**
 * Waits, without blocking the event loop, until a non-blocking eventfd is
 * signalled, and reads it. Uses `poller` (default: the shared poller), so the
 * fd must not be watched there already. For a queue's kick that fires many
 * times, prefer `poller.add(fd, EPOLLIN, () => eventfdRead(fd))`.
 */
export async function eventfdReadAsync(fd: number, poller: FdPoller = sharedPoller(), signal?: AbortSignal): Promise<bigint> {
  for (;;) {
    const value = eventfdRead(fd);
    if (value !== null) return value;
    await poller.wait(fd, EPOLLIN, signal);
  }
}
