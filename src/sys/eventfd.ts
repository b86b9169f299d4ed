/**
 * eventfd(2): the kick and call notifiers of vhost-user virtqueues. An
 * eventfd holds a 64-bit counter; a write adds to it, a read returns it and
 * resets it to zero (or, with EFD_SEMAPHORE, returns 1 and decrements it).
 */
import { ErrnoError } from "../common/errors.js";
import { Errno } from "../common/errno.js";
import * as libc from "./libc.js";
import { EFD_CLOEXEC, EFD_NONBLOCK, EPOLL_CLOEXEC, EPOLL_CTL_ADD, EPOLLET, EPOLLIN } from "./constants.js";
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

/** `struct epoll_event` is packed on x86_64: u32 events, u64 data. */
const EPOLL_EVENT_SIZE = 12;

/**
 * A blocking wait for any of a fixed list of non-blocking eventfds, on an
 * epoll(7) set of its own with edge-triggered registrations. Every write to
 * an eventfd is an edge, so a wait needs no read to re-arm: a wake-up costs
 * one system call (measured in VM boots: a cold LOOKUP's read of the kick was
 * one of four koffi calls on its path). The counters stay where they are, for
 * whoever reads them (the event loop's reader of the same fd, whose one
 * spurious event on its next turn is harmless).
 *
 * A signal that comes while nobody waits is kept and answers the next wait at
 * once. Closing an fd of the list takes it out of the set for good (epoll
 * forgets a closed file): {@link close} the set before closing one, and make
 * a new set for the new list.
 */
export class EventFdWaitSet {
  readonly fds: readonly number[];
  #epfd: number;
  readonly #event = Buffer.alloc(EPOLL_EVENT_SIZE);

  /** Registers `fds` (at most 2^31); throws the errno when one cannot be watched (epoll refuses regular files). */
  constructor(fds: readonly number[]) {
    if (fds.length === 0) throw new RangeError("EventFdWaitSet needs an fd to watch");
    this.fds = [...fds];
    this.#epfd = libc.check(libc.epoll_create1(EPOLL_CLOEXEC), "epoll_create1");
    const event = Buffer.alloc(EPOLL_EVENT_SIZE);
    try {
      for (let i = 0; i < fds.length; i++) {
        event.writeUInt32LE((EPOLLIN | EPOLLET) >>> 0, 0);
        event.writeUInt32LE(i, 4);
        event.writeUInt32LE(0, 8);
        libc.check(libc.epoll_ctl(this.#epfd, EPOLL_CTL_ADD, fds[i]!, event), "epoll_ctl");
      }
    } catch (error) {
      this.close();
      throw error;
    }
  }

  /** Whether `fd` is one of the set's. */
  has(fd: number): boolean {
    return this.fds.includes(fd);
  }

  /**
   * Blocks the calling thread (on the main thread: the event loop too) for at
   * most `timeoutMs` until one of the fds has been signalled since the last
   * wait that answered it. Returns its index in {@link fds}, or -1: the time
   * passed, a signal came (EINTR, which the event loop must then handle), the
   * set is closed, or the fd reported more than readability (an error or a
   * hang-up: a peer may send anything as a kick fd; not for this wait to sort
   * out).
   */
  wait(timeoutMs: number): number {
    if (this.#epfd < 0) return -1;
    const event = this.#event;
    if (libc.epoll_wait(this.#epfd, event, 1, Math.ceil(timeoutMs)) !== 1) return -1;
    if ((event.readUInt32LE(0) & ~EPOLLIN) !== 0) return -1;
    const index = event.readUInt32LE(4);
    return index < this.fds.length ? index : -1;
  }

  /** Closes the epoll set (not the fds); a later wait answers -1 at once. */
  close(): void {
    if (this.#epfd < 0) return;
    libc.close(this.#epfd);
    this.#epfd = -1;
  }
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
