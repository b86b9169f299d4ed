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
import { Socket, type SocketConstructorOpts } from "node:net";
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
  F_DUPFD_CLOEXEC,
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

// ---------------------------------------------------------------------------
// Reading an fd on the main loop

/** The part of node's internal `pipe_wrap` binding {@link LoopReader} uses. */
interface PipeBinding {
  Pipe: new (type: number) => { open(fd: number): number };
  constants: { SOCKET: number };
}

let pipeBinding: PipeBinding | null | undefined;

/** Node's `pipe_wrap` binding, or null when this Node does not expose it. */
function pipes(): PipeBinding | null {
  if (pipeBinding === undefined) {
    try {
      // process.binding is typed loosely; what is used of it is checked below.
      const binding = (process as unknown as { binding(name: string): Partial<PipeBinding> }).binding("pipe_wrap");
      pipeBinding = typeof binding.Pipe === "function" && typeof binding.constants?.SOCKET === "number" ? (binding as PipeBinding) : null;
    } catch {
      pipeBinding = null;
    }
  }
  return pipeBinding;
}

/** Bytes one read of a {@link LoopReader} takes (an eventfd read is 8). */
const LOOP_READ_SIZE = 64;

/**
 * Reads an fd of any kind that epoll can watch (an eventfd above all, also a
 * pipe or a socket) on the main thread, from libuv's own epoll: a write by
 * the peer wakes the event loop directly, with one read(2) per wake-up and
 * no worker thread. An {@link FdPoller} instead waits on a libuv worker and
 * hands each readiness to the main thread, two thread hand-offs per event
 * (measured: a round trip through a vhost-user ring more than twice as slow).
 *
 * libuv would not take an eventfd through node's public API (node:net
 * refuses fds of unknown type), so the reader opens a duplicate of `fd` as a
 * pipe handle of node's `pipe_wrap` binding; libuv reads a pipe handle with
 * plain read(2), which is all an eventfd needs. The duplicate shares the
 * open file description, which libuv makes O_NONBLOCK, and is closed by
 * {@link close}; `fd` itself stays the caller's. {@link LoopReader.supported}
 * says whether this Node has the binding; use an FdPoller when it does not.
 */
export class LoopReader {
  readonly #socket: Socket;
  #closed = false;

  /** Whether this Node lets an fd of unknown type be read on the main loop. */
  static get supported(): boolean {
    return pipes() !== null;
  }

  /**
   * Starts reading. `onRead(length, buffer)` runs on the main thread after
   * each read: the read's bytes are `buffer[0, length)` (at most 64; an
   * eventfd's read returns its counter and resets it), valid until the call
   * returns; the buffer is the reader's own, so a wake-up allocates nothing.
   * `onEnd(error)` runs once if the fd reports end of file or
   * fails (the reader is then closed). Throws ENOTSUP when not
   * {@link supported}, and the errno of fcntl or of libuv's open.
   */
  constructor(fd: number, onRead: (length: number, buffer: Uint8Array) => void, onEnd: (error: Error | null) => void = () => undefined) {
    const binding = pipes();
    if (binding === null) throw new ErrnoError(Errno.ENOTSUP, "LoopReader");
    const dup = libc.check(libc.fcntlInt(fd, F_DUPFD_CLOEXEC, 0), "fcntl(F_DUPFD_CLOEXEC)");
    const handle = new binding.Pipe(binding.constants.SOCKET);
    const status = handle.open(dup);
    if (status !== 0) {
      libc.close(dup);
      // libuv errors are negated errnos.
      throw new ErrnoError(-status, "uv_pipe_open");
    }
    const buffer = Buffer.alloc(LOOP_READ_SIZE);
    const end = (error: Error | null): void => {
      if (this.#closed) return;
      this.close();
      onEnd(error);
    };
    // The handle (and so the duplicate fd) now belongs to the socket: destroy() closes it.
    this.#socket = new Socket({
      handle,
      readable: true,
      writable: false,
      onread: {
        buffer,
        callback: (n: number): boolean => {
          if (!this.#closed && n > 0) onRead(n, buffer);
          return true;
        },
      },
    } as SocketConstructorOpts);
    this.#socket.on("error", end);
    this.#socket.on("end", () => end(null));
  }

  /** Stops reading and closes the duplicate fd. No `onRead` runs after this returns. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.destroy();
  }
}
