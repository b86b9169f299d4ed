/**
 * The real-kernel side of the vhost-user seams: {@link HostSystem} implements
 * {@link FrontendSystem} (so also {@link SystemIO}) with `src/sys/` (mmap,
 * memfd, eventfd, one epoll {@link FdPoller}), and {@link SocketTransport}
 * implements {@link Transport} over a non-blocking AF_UNIX stream socket with
 * SCM_RIGHTS. Plus the helpers that open connections: {@link connectFrontend}
 * (the guest driver dialling a backend's socket) and {@link VhostUserListener}
 * (a backend waiting for QEMU).
 */
import { closeSync } from "node:fs";
import { ErrnoError, ProtocolError, ProtocolErrorCode } from "../common/errors.js";
import { log } from "../common/log.js";
import { Errno } from "../common/errno.js";
import {
  EPOLLERR,
  EPOLLHUP,
  EPOLLIN,
  EPOLLOUT,
  FdPoller,
  LoopReader,
  acceptAsync,
  connectUnix,
  eventfd,
  eventfdRead,
  eventfdClear,
  eventfdPoll,
  eventfdWrite,
  listenUnix,
  memfdCreate,
  mmap,
  recvmsg,
  sendmsg,
  sharedPoller,
  yieldCpu,
} from "../sys/index.js";
import type { Mapping, Transport, TransportReceiver } from "./channel.js";
import { VhostUserFrontend, type FrontendDevice, type FrontendOptions, type FrontendSetup, type FrontendSystem } from "./frontend.js";
import { HEADER_SIZE, MAX_FDS, MAX_PAYLOAD_SIZE } from "./messages.js";

/**
 * File offsets given to mmap are aligned down to this (a multiple of every
 * base page size and of 2 MiB huge pages); the view then skips the difference.
 */
const MAP_ALIGN = 2n << 20n;

/** {@link FrontendSystem} over the real kernel. */
export class HostSystem implements FrontendSystem {
  /**
   * Listeners per watched eventfd: one reader or poller registration serves
   * them all. Each list is replaced, never changed, when a listener comes or
   * goes: a signal runs the list it finds without copying it (one signal per
   * kick of a ring), and a listener added or removed meanwhile does not
   * change the round under way.
   */
  private readonly watched = new Map<number, { listeners: readonly (() => void)[] }>();
  /** How to stop watching each fd of {@link watched}. */
  private readonly unwatchers = new Map<number, () => void>();

  /**
   * @param poller watches eventfds when they cannot be read on the main loop
   * @param loopReads read eventfds on the main loop where possible (default true; false: always the poller)
   */
  constructor(
    private readonly poller: FdPoller = sharedPoller(),
    private readonly loopReads = true,
  ) {}

  closeFd(fd: number): void {
    try {
      closeSync(fd);
    } catch {
      // Already closed: nothing left to release.
    }
  }

  map(fd: number, offset: bigint, size: bigint): Mapping {
    if (offset < 0n || size <= 0n || size > BigInt(Number.MAX_SAFE_INTEGER)) throw new ErrnoError(Errno.EINVAL, "mmap");
    const skip = offset % MAP_ALIGN;
    const mapping = mmap(fd, offset - skip, Number(size + skip));
    const delta = Number(skip);
    const length = Number(size);
    return {
      length,
      address: mapping.address + skip,
      view: (at, n) => {
        if (!Number.isSafeInteger(at) || !Number.isSafeInteger(n) || at < 0 || n < 0 || at + n > length) throw new ErrnoError(Errno.EINVAL, "Mapping.view");
        return mapping.view(delta + at, n);
      },
      unmap: () => mapping.unmap(),
    };
  }

  /**
   * Kicks are read on the main loop ({@link LoopReader}: the wake-up costs
   * one read(2) and no thread hand-off) where this Node allows it, else
   * through the poller.
   */
  watchEventFd(fd: number, onEvent: () => void): () => void {
    let entry = this.watched.get(fd);
    if (!entry) {
      const watch = { listeners: [] as readonly (() => void)[] };
      entry = watch;
      const fire = (): void => {
        const listeners = watch.listeners;
        for (let i = 0; i < listeners.length; i++) listeners[i]!();
      };
      this.watched.set(fd, watch);
      this.unwatchers.set(fd, this.watchOnLoop(fd, fire) ?? this.watchOnPoller(fd, fire));
    }
    // A closure of its own: the same function watched twice is two listeners, each removed once.
    const mine = (): void => onEvent();
    entry.listeners = [...entry.listeners, mine];
    return () => {
      const watch = this.watched.get(fd);
      if (watch === undefined || !watch.listeners.includes(mine)) return;
      watch.listeners = watch.listeners.filter((l) => l !== mine);
      if (watch.listeners.length > 0) return;
      this.watched.delete(fd);
      const stop = this.unwatchers.get(fd);
      this.unwatchers.delete(fd);
      stop?.();
    };
  }

  /** Reads `fd` on the main loop; null when that is not possible here (then the poller serves). */
  private watchOnLoop(fd: number, fire: () => void): (() => void) | null {
    if (!this.loopReads || !LoopReader.supported) return null;
    let reader: LoopReader;
    try {
      // An eventfd never ends; should the read fail all the same, the ring would stop hearing kicks: say so.
      reader = new LoopReader(fd, fire, (error) => log.warn(`eventfd ${fd}: no longer read: ${error?.message ?? "end of file"}`));
    } catch {
      return null;
    }
    return () => reader.close();
  }

  private watchOnPoller(fd: number, fire: () => void): () => void {
    this.poller.add(fd, EPOLLIN, () => {
      let value: bigint | null;
      try {
        value = eventfdRead(fd);
      } catch {
        value = null;
      }
      if (value !== null) fire();
    });
    return () => this.poller.remove(fd);
  }

  signalEventFd(fd: number): void {
    try {
      eventfdWrite(fd, 1n);
    } catch (error) {
      // EAGAIN: the counter is at its maximum, so the peer will wake anyway.
      if (!(ErrnoError.is(error) && error.errno === Errno.EAGAIN)) throw error;
    }
  }

  waitEventFd(fds: readonly number[], timeoutMs: number): number {
    return eventfdPoll(fds, timeoutMs);
  }

  clearEventFd(fd: number): boolean {
    return eventfdClear(fd);
  }

  yieldCpu(): void {
    yieldCpu();
  }

  createMemfd(name: string, size: bigint): number {
    return memfdCreate(name, size);
  }

  createEventFd(): number {
    return eventfd();
  }
}

interface PendingSend {
  bytes: Uint8Array;
  fds: readonly number[];
  resolve(): void;
  reject(error: Error): void;
}

/** The most reads one readiness callback does before letting the event loop run. */
const READS_PER_WAKE = 64;

/**
 * A {@link Transport} over a connected non-blocking AF_UNIX stream socket.
 * One poller registration serves both directions: EPOLLIN always, EPOLLOUT
 * while a send waits for room. Each read takes at most what the receiver
 * wants, so fds stay with their message. The socket fd is owned: closed by
 * {@link close}.
 */
export class SocketTransport implements Transport {
  private receiver: TransportReceiver | null = null;
  private readonly sends: PendingSend[] = [];
  private readonly buffer = new Uint8Array(HEADER_SIZE + MAX_PAYLOAD_SIZE);
  private interest = 0;
  private closed = false;
  private ended = false;

  constructor(
    readonly fd: number,
    private readonly poller: FdPoller = sharedPoller(),
  ) {}

  send(bytes: Uint8Array, fds: readonly number[]): Promise<void> {
    if (this.closed) return Promise.reject(new ErrnoError(Errno.EPIPE, "sendmsg"));
    return new Promise((resolve, reject) => {
      this.sends.push({ bytes, fds, resolve, reject });
      if (this.sends.length === 1) this.flush();
    });
  }

  start(receiver: TransportReceiver): void {
    if (this.receiver) throw new Error("transport already started");
    this.receiver = receiver;
    if (!this.closed) this.watch();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.interest !== 0) this.poller.remove(this.fd);
    this.interest = 0;
    closeSync(this.fd);
    const error = new ErrnoError(Errno.EPIPE, "sendmsg");
    for (const pending of this.sends.splice(0)) pending.reject(error);
    this.end(null);
  }

  private watch(): void {
    const want = (this.receiver ? EPOLLIN : 0) | (this.sends.length > 0 ? EPOLLOUT : 0);
    if (want === this.interest || this.closed) return;
    if (this.interest === 0) this.poller.add(this.fd, want, (events) => this.ready(events));
    else if (want === 0) this.poller.remove(this.fd);
    else this.poller.modify(this.fd, want);
    this.interest = want;
  }

  private ready(events: number): void {
    if (events & EPOLLOUT) this.flush();
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) this.read();
  }

  private read(): void {
    for (let i = 0; i < READS_PER_WAKE && !this.closed && !this.ended; i++) {
      const receiver = this.receiver!;
      const want = Math.min(this.buffer.length, Math.max(1, receiver.maxBytes()));
      let got;
      try {
        got = recvmsg(this.fd, this.buffer.subarray(0, want), MAX_FDS);
      } catch (error) {
        this.fail(error as Error);
        return;
      }
      if (got === null) return;
      if (got.length === 0 && got.fds.length === 0) {
        this.fail(null);
        return;
      }
      if (got.fdsTruncated) {
        for (const fd of got.fds) closeSync(fd);
        this.fail(new ProtocolError(ProtocolErrorCode.FDS, `more than ${MAX_FDS} fds on one vhost-user message`));
        return;
      }
      receiver.data(this.buffer.slice(0, got.length), got.fds);
    }
  }

  private flush(): void {
    while (this.sends.length > 0 && !this.closed) {
      const pending = this.sends[0]!;
      let sent: number | null;
      try {
        sent = sendmsg(this.fd, pending.bytes, pending.fds);
      } catch (error) {
        this.sends.shift();
        pending.reject(error as Error);
        continue;
      }
      if (sent === null) break;
      pending.fds = [];
      pending.bytes = pending.bytes.subarray(sent);
      if (pending.bytes.length === 0) {
        this.sends.shift();
        pending.resolve();
      }
    }
    if (this.receiver) this.watch();
    else if (this.sends.length > 0 && this.interest === 0) {
      this.poller.add(this.fd, EPOLLOUT, (events) => this.ready(events));
      this.interest = EPOLLOUT;
    }
  }

  /** The stream ended (EOF: null) or failed; the socket stays open until {@link close}. */
  private fail(error: Error | null): void {
    if (this.interest !== 0 && !this.closed) {
      this.poller.remove(this.fd);
      this.interest = 0;
    }
    this.end(error);
  }

  private end(error: Error | null): void {
    if (this.ended || !this.receiver) return;
    this.ended = true;
    this.receiver.end(error);
  }
}

/** Connects to a vhost-user backend's socket and runs the frontend handshake. */
export async function connectFrontend(
  path: string,
  setup: FrontendSetup,
  options: Omit<FrontendOptions, "transport" | "system" | "peer"> & { system?: HostSystem; poller?: FdPoller } = {},
): Promise<{ frontend: VhostUserFrontend; device: FrontendDevice }> {
  const poller = options.poller ?? sharedPoller();
  const transport = new SocketTransport(connectUnix(path), poller);
  const frontend = new VhostUserFrontend({
    ...options,
    transport,
    system: options.system ?? new HostSystem(poller),
    peer: path,
  });
  try {
    return { frontend, device: await frontend.start(setup) };
  } catch (error) {
    frontend.close();
    throw error;
  }
}

/** A listening vhost-user socket (the backend side: QEMU connects to it). */
export class VhostUserListener {
  private readonly fd: number;
  private readonly abort = new AbortController();
  private closed = false;

  constructor(
    readonly path: string,
    private readonly poller: FdPoller = sharedPoller(),
  ) {
    this.fd = listenUnix(path);
  }

  /** Waits for the next connection. Rejects once {@link close} is called. */
  async accept(): Promise<SocketTransport> {
    const fd = await acceptAsync(this.fd, { poller: this.poller, signal: this.abort.signal });
    return new SocketTransport(fd, this.poller);
  }

  /** Stops listening (the socket file is left for the caller to remove). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort(new ErrnoError(Errno.ECANCELED, "accept", this.path));
    closeSync(this.fd);
  }
}
