/**
 * eventfd(2): the kick and call notifiers of vhost-user virtqueues. An
 * eventfd holds a 64-bit counter; a write adds to it, a read returns it and
 * resets it to zero (or, with EFD_SEMAPHORE, returns 1 and decrements it).
 */
import { ErrnoError } from "../common/errors.js";
import { Errno } from "../common/errno.js";
import * as libc from "./libc.js";
import { EFD_CLOEXEC, EFD_NONBLOCK, EPOLLIN } from "./constants.js";
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
