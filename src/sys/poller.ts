/**
 * FdPoller: readiness of many fds from one epoll(7) instance, without
 * blocking the event loop and with a single libuv worker thread in all.
 *
 * One `epoll_wait` at a time runs through koffi's `.async` on a worker
 * thread; when it returns, the callbacks of the ready fds run on the main
 * thread and the next `epoll_wait` is started after them. A private eventfd
 * in the same epoll set wakes a pending wait when the poller is closed or
 * its last fd is removed, so that the worker thread is given back and an
 * idle poller does not keep the process alive.
 *
 * add/modify/remove need no wake-up: epoll_ctl on a set another thread is
 * waiting on takes effect at once (an fd added while already ready wakes the
 * waiter). Events already collected for an fd that is then removed are
 * dropped: every registration carries its own token in `epoll_event.data`,
 * so a removed and re-added fd number never receives a stale event.
 */
import { ErrnoError } from "../common/errors.js";
import { Errno } from "../common/errno.js";
import * as libc from "./libc.js";
import {
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  EPOLL_CLOEXEC,
  EPOLL_CTL_ADD,
  EPOLL_CTL_DEL,
  EPOLL_CTL_MOD,
  EPOLLIN,
  EPOLLONESHOT,
} from "./constants.js";

/** Called on the main thread with the EPOLL* bits that are ready. */
export type ReadyCallback = (events: number) => void;

interface Registration {
  readonly fd: number;
  readonly token: number;
  events: number;
  callback: ReadyCallback;
}

/** `struct epoll_event` is packed on x86_64: u32 events, u64 data. */
const EVENT_SIZE = 12;
const WAKE_TOKEN = 0;

export interface FdPollerOptions {
  /** The most events one epoll_wait returns (default 64). */
  maxEvents?: number;
}

export class FdPoller {
  readonly #epfd: number;
  readonly #wakeFd: number;
  readonly #events: Buffer;
  readonly #maxEvents: number;
  readonly #scratch = Buffer.alloc(EVENT_SIZE);
  readonly #wakeValue = Buffer.alloc(8);
  readonly #byFd = new Map<number, Registration>();
  readonly #byToken = new Map<number, Registration>();
  #nextToken = WAKE_TOKEN + 1;
  /** An epoll_wait is running on a worker thread. */
  #waiting = false;
  /** The wake eventfd has been written since the last drain. */
  #woken = false;
  #closed = false;

  constructor(options: FdPollerOptions = {}) {
    this.#maxEvents = options.maxEvents ?? 64;
    this.#events = Buffer.alloc(this.#maxEvents * EVENT_SIZE);
    this.#epfd = libc.check(libc.epoll_create1(EPOLL_CLOEXEC), "epoll_create1");
    const wakeFd = libc.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wakeFd < 0) {
      const errno = libc.lastErrno();
      libc.close(this.#epfd);
      throw new ErrnoError(errno, "eventfd");
    }
    this.#wakeFd = wakeFd;
    this.#ctl(EPOLL_CTL_ADD, wakeFd, EPOLLIN, WAKE_TOKEN);
    this.#wakeValue.writeBigUInt64LE(1n);
  }

  /** The number of fds watched. */
  get size(): number {
    return this.#byFd.size;
  }

  /** Whether {@link close} has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Whether `fd` is watched. */
  has(fd: number): boolean {
    return this.#byFd.has(fd);
  }

  /**
   * Watches `fd` for `events` (EPOLLIN, EPOLLOUT, ...; EPOLLET and
   * EPOLLONESHOT allowed). Level-triggered by default: the callback must
   * consume the readiness (read until EAGAIN, or at least once) before it
   * returns, or it is called again at once. Throws EEXIST when `fd` is
   * already watched. Remove an fd before closing it.
   */
  add(fd: number, events: number, callback: ReadyCallback): void {
    this.#checkOpen("FdPoller.add");
    if (this.#byFd.has(fd)) throw new ErrnoError(Errno.EEXIST, "FdPoller.add");
    const registration: Registration = { fd, token: this.#nextToken++, events, callback };
    this.#ctl(EPOLL_CTL_ADD, fd, events, registration.token);
    this.#byFd.set(fd, registration);
    this.#byToken.set(registration.token, registration);
    this.#arm();
  }

  /** Changes the events (and, when given, the callback) of a watched fd. Throws ENOENT if not watched. */
  modify(fd: number, events: number, callback?: ReadyCallback): void {
    this.#checkOpen("FdPoller.modify");
    const registration = this.#byFd.get(fd);
    if (!registration) throw new ErrnoError(Errno.ENOENT, "FdPoller.modify");
    this.#ctl(EPOLL_CTL_MOD, fd, events, registration.token);
    registration.events = events;
    if (callback) registration.callback = callback;
  }

  /**
   * Stops watching `fd`; returns whether it was watched. No callback for it
   * runs after this returns. An fd that was already closed (and so dropped
   * from the epoll set by the kernel) is forgotten without an error.
   */
  remove(fd: number): boolean {
    const registration = this.#byFd.get(fd);
    if (!registration) return false;
    this.#forget(registration);
    if (!this.#closed && libc.epoll_ctl(this.#epfd, EPOLL_CTL_DEL, fd, null) < 0) {
      const errno = libc.lastErrno();
      if (errno !== Errno.EBADF && errno !== Errno.ENOENT) throw new ErrnoError(errno, "epoll_ctl");
    }
    if (this.#byFd.size === 0) this.#wake();
    return true;
  }

  /**
   * Resolves with the ready events once `fd` is ready for `events`, then
   * stops watching it (EPOLLONESHOT). Rejects with `signal.reason` when
   * aborted, and with EEXIST when `fd` is already watched.
   */
  wait(fd: number, events: number, signal?: AbortSignal): Promise<number> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = (): void => {
        this.remove(fd);
        reject(signal?.reason);
      };
      this.add(fd, events | EPOLLONESHOT, (ready) => {
        signal?.removeEventListener("abort", onAbort);
        this.remove(fd);
        resolve(ready);
      });
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * Stops watching everything and releases the epoll fd (at once, or when
   * the pending epoll_wait has been woken and returned). Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#byFd.clear();
    this.#byToken.clear();
    if (this.#waiting) this.#wake();
    else this.#release();
  }

  #checkOpen(call: string): void {
    if (this.#closed) throw new ErrnoError(Errno.EBADF, call);
  }

  #ctl(op: number, fd: number, events: number, token: number): void {
    const event = this.#scratch;
    event.writeUInt32LE(events >>> 0, 0);
    event.writeUInt32LE(token % 2 ** 32, 4);
    event.writeUInt32LE(Math.floor(token / 2 ** 32), 8);
    libc.check(libc.epoll_ctl(this.#epfd, op, fd, event), "epoll_ctl");
  }

  #forget(registration: Registration): void {
    this.#byFd.delete(registration.fd);
    this.#byToken.delete(registration.token);
  }

  #wake(): void {
    if (!this.#waiting || this.#woken) return;
    this.#woken = true;
    libc.check(libc.write(this.#wakeFd, this.#wakeValue, 8), "write", "FdPoller wake eventfd");
  }

  #release(): void {
    libc.close(this.#wakeFd);
    libc.close(this.#epfd);
  }

  /** Starts an epoll_wait when there is something to wait for and none runs. */
  #arm(): void {
    if (this.#waiting || this.#closed || this.#byFd.size === 0) return;
    this.#waiting = true;
    libc.epoll_wait.async(this.#epfd, this.#events, this.#maxEvents, -1, (error: unknown, count: number) => {
      const errno = count < 0 ? libc.lastErrno() : 0;
      this.#waiting = false;
      if (this.#closed) {
        this.#release();
        return;
      }
      if (error) throw error;
      if (count < 0) {
        if (errno !== Errno.EINTR) throw new ErrnoError(errno, "epoll_wait");
        this.#arm();
        return;
      }
      this.#dispatch(count);
    });
  }

  #dispatch(count: number): void {
    const events = this.#events;
    // Copy the results out before any callback can add, remove or re-arm.
    const ready: [number, number][] = [];
    for (let i = 0; i < count; i++) {
      const at = i * EVENT_SIZE;
      const token = events.readUInt32LE(at + 4) + events.readUInt32LE(at + 8) * 2 ** 32;
      ready.push([token, events.readUInt32LE(at)]);
    }
    let failure: { error: unknown } | undefined;
    for (const [token, bits] of ready) {
      if (token === WAKE_TOKEN) {
        libc.read(this.#wakeFd, this.#wakeValue, 8);
        this.#wakeValue.writeBigUInt64LE(1n);
        this.#woken = false;
        continue;
      }
      const registration = this.#byToken.get(token);
      if (!registration) continue;
      try {
        registration.callback(bits);
      } catch (error) {
        failure ??= { error };
      }
      if (this.#closed) break;
    }
    this.#arm();
    if (failure) throw failure.error;
  }
}

let shared: FdPoller | undefined;

/**
 * The process-wide poller that the async helpers of this layer
 * (`recvmsgAsync`, `acceptAsync`, `eventfdReadAsync`, ...) use by default.
 * It holds a worker thread only while some fd is waited on.
 */
export function sharedPoller(): FdPoller {
  if (!shared || shared.closed) shared = new FdPoller();
  return shared;
}
