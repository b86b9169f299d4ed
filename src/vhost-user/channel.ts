/**
 * What both ends of a vhost-user connection share: the interfaces to the
 * operating system they need (a byte-stream transport with fds, fd closing,
 * memory mapping, eventfds), and {@link Channel}, which frames outgoing
 * messages and decodes incoming ones over a {@link Transport}.
 *
 * The interfaces keep the protocol code free of system calls, so the backend
 * and frontend state machines run in-process in tests; `system.ts` implements
 * them with `src/sys/` (AF_UNIX + SCM_RIGHTS, mmap, eventfd, epoll).
 */
import { errno } from "../common/errors.js";
import type { GuestRegion } from "../virtio/memory.js";
import { MessageDecoder, type Message } from "./messages.js";

/** Receives what a {@link Transport} reads. */
export interface TransportReceiver {
  /**
   * The most bytes the next read may take. Reading no more than this keeps
   * each message's fds (attached by the kernel to its first byte) with it.
   */
  maxBytes(): number;
  /** Bytes read, with the fds that came with them (now owned by the receiver). */
  data(bytes: Uint8Array, fds: number[]): void;
  /** The stream ended: `error` is null for an orderly EOF. Called once. */
  end(error: Error | null): void;
}

/** A connected stream socket that carries fds (AF_UNIX, SOCK_STREAM). */
export interface Transport {
  /**
   * Writes all of `bytes`, the fds attached to the first byte. The fds stay
   * the caller's (the kernel duplicates them). Rejects when the peer is gone.
   */
  send(bytes: Uint8Array, fds: readonly number[]): Promise<void>;
  /** Starts reading; `receiver.end` is called once, after which nothing more arrives. */
  start(receiver: TransportReceiver): void;
  /** Closes the socket (idempotent). If reading had started, `receiver.end(null)` follows. */
  close(): void;
}

/** A mapping of (part of) a file into memory. */
export interface Mapping {
  /** Bytes mapped. */
  readonly length: number;
  /**
   * A view of `[offset, offset + length)` of the mapping (offset 0 is the byte
   * at the offset requested from {@link SystemIO.map}); at most
   * {@link MAX_VIEW_LENGTH} bytes, as JavaScript typed arrays allow no more.
   */
  view(offset: number, length: number): Uint8Array;
  /** The address of the mapping's first byte in this process, when known (a frontend uses it as userspace_addr). */
  readonly address?: bigint;
  /** Unmaps. The caller guarantees nothing touches the views afterwards. Idempotent. */
  unmap(): void;
}

/** The longest typed array Node 20 allows (2^32 bytes). */
export const MAX_VIEW_LENGTH = 2 ** 32;
/** Regions longer than this are split into pieces of this size (see {@link guestRegionsOf}). */
export const REGION_PIECE = 2 ** 30;

/**
 * The {@link GuestRegion}s of a mapped region of `size` bytes at guest
 * address `guestAddr` and frontend address `userAddr`. A region longer than
 * a typed array can be is cut into {@link REGION_PIECE}-byte pieces at
 * 1 GiB offsets; GuestMemory then refuses a buffer that straddles a cut (as
 * it refuses one that crosses two regions), which only regions over 4 GiB risk.
 */
export function guestRegionsOf(mapping: Mapping, guestAddr: bigint, userAddr: bigint, size: bigint): GuestRegion[] {
  const total = Number(size);
  if (total <= MAX_VIEW_LENGTH) return [{ guestAddr, size, userAddr, bytes: mapping.view(0, total) }];
  const pieces: GuestRegion[] = [];
  for (let offset = 0; offset < total; offset += REGION_PIECE) {
    const length = Math.min(REGION_PIECE, total - offset);
    const at = BigInt(offset);
    pieces.push({ guestAddr: guestAddr + at, size: BigInt(length), userAddr: userAddr + at, bytes: mapping.view(offset, length) });
  }
  return pieces;
}

/** The system services the protocol code uses. */
export interface SystemIO {
  /** Closes an fd; errors are swallowed (the fd is gone either way). */
  closeFd(fd: number): void;
  /**
   * Maps `size` bytes of `fd` from `offset`, shared and read-write. Any
   * offset is accepted (the implementation aligns to pages itself). Throws an
   * ErrnoError on failure.
   */
  map(fd: number, offset: bigint, size: bigint): Mapping;
  /**
   * Calls `onEvent` each time eventfd `fd` is signalled, after reading (and so
   * resetting) its counter, until the returned function is called. The fd
   * stays the caller's.
   */
  watchEventFd(fd: number, onEvent: () => void): () => void;
  /** Adds 1 to eventfd `fd` (a kick or a call). */
  signalEventFd(fd: number): void;
  /**
   * Optional, with {@link clearEventFd}: blocks this thread (the event loop
   * with it) for at most `timeoutMs` until one of the eventfds `fds` is
   * signalled, without reading it. Returns its index in `fds`, or -1 (time
   * passed, a signal came, an error).
   */
  waitEventFd?(fds: readonly number[], timeoutMs: number): number;
  /** Resets eventfd `fd`'s counter: true if it held a count, false if not (or `fd` reads as no eventfd does). */
  clearEventFd?(fd: number): boolean;
  /** Optional: lets another thread that waits for this CPU run first (sched_yield); see Vring.handOff. */
  yieldCpu?(): void;
}

/** How a {@link Channel} ended: `error` is null when this side closed it. */
export interface Disconnect {
  readonly error: Error | null;
}

/** Receives decoded messages and the end of a {@link Channel}. */
export interface ChannelHandler {
  /** One message; the handler owns `message.fds` and must close those it does not keep. */
  message(message: Message): void;
  /** The channel closed (once). No message follows. */
  closed(disconnect: Disconnect): void;
}

/**
 * One end of a vhost-user connection. Incoming bytes go through a
 * {@link MessageDecoder}; a framing error (bad version, oversize payload, too
 * many fds) closes the channel with that ProtocolError, since the stream
 * cannot be resynchronised. An EOF reports ECONNRESET; an EOF inside a message
 * reports the decoder's ProtocolError.
 */
export class Channel {
  private readonly decoder: MessageDecoder;
  private ended: Disconnect | null = null;

  constructor(
    private readonly transport: Transport,
    private readonly system: Pick<SystemIO, "closeFd">,
    private readonly handler: ChannelHandler,
    /** Names the peer in errors, e.g. the socket path. */
    private readonly peer = "vhost-user peer",
  ) {
    this.decoder = new MessageDecoder({ closeFd: (fd) => system.closeFd(fd) });
  }

  /** Starts reading. */
  start(): void {
    this.transport.start({
      maxBytes: () => this.decoder.bytesWanted(),
      data: (bytes, fds) => this.receive(bytes, fds),
      end: (error) => this.onEnd(error),
    });
  }

  /** Whether the channel has ended. */
  get isClosed(): boolean {
    return this.ended !== null;
  }

  /**
   * Sends one encoded message with `fds` (which stay the caller's). Rejects
   * with the disconnect error if the channel has ended or the write fails.
   */
  async send(bytes: Uint8Array, fds: readonly number[] = []): Promise<void> {
    if (this.ended) throw this.ended.error ?? errno("ENOTCONN", "vhost-user send", this.peer);
    try {
      await this.transport.send(bytes, fds);
    } catch (error) {
      this.finish(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
  }

  /** Closes the channel from this side; `closed` is reported with `error` (null: a deliberate close). */
  close(error: Error | null = null): void {
    this.finish(error);
  }

  private receive(bytes: Uint8Array, fds: number[]): void {
    if (this.ended) {
      for (const fd of fds) this.system.closeFd(fd);
      return;
    }
    let messages: Message[];
    try {
      messages = this.decoder.push(bytes, fds);
    } catch (error) {
      this.finish(error as Error);
      return;
    }
    for (const message of messages) {
      if (this.ended) {
        for (const fd of message.fds) this.system.closeFd(fd);
        continue;
      }
      this.handler.message(message);
    }
  }

  private onEnd(error: Error | null): void {
    if (this.ended) return;
    let reason = error;
    if (reason === null) {
      try {
        this.decoder.end();
        reason = errno("ECONNRESET", "vhost-user connection closed by peer", this.peer);
      } catch (cut) {
        reason = cut as Error;
      }
    }
    this.finish(reason);
  }

  private finish(error: Error | null): void {
    if (this.ended) return;
    this.ended = { error };
    this.decoder.dispose();
    this.transport.close();
    this.handler.closed(this.ended);
  }
}
