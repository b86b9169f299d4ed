/**
 * Replies of the FuseServer into what a transport gives it, as the
 * {@link ReplyTarget} contract of src/fuse/reply-target.ts says:
 *
 * - virtio wants the reply written into the driver's writable buffers: the
 *   {@link ChainReply} adapter writes through a descriptor-chain writer
 *   (`Writer` of src/virtio/chain-io.ts fits {@link ChainWriter}) and lets
 *   READ data land in guest memory with no intermediate copy.
 * - a message-based client (tests, in-process) wants each reply as one
 *   buffer: {@link MessageReply}.
 *
 * /dev/fuse has its own target (src/fusedev/mount.ts): one `write(2)` per
 * reply.
 */
import { ProtocolError, ProtocolErrorCode } from "../common/errors.js";
import type { DataSegments, ReplyTarget } from "../fuse/reply-target.js";
import { OutHeader } from "../fuse/structs.js";

export type { ReplyTarget } from "../fuse/reply-target.js";

/** Size of `fuse_out_header`. */
export const OUT_HEADER_SIZE = OutHeader.SIZE;

// ---------------------------------------------------------------------------
// Replies into a descriptor chain

/**
 * The writer of a descriptor chain's device-writable buffers, as
 * src/virtio/chain-io.ts `Writer` provides it (structurally: this layer does
 * not import the virtio layer).
 */
export interface ChainWriter {
  /** Room left, in bytes. */
  readonly available: number;
  /** Writes all of `src`, or throws (LENGTH) and writes nothing. */
  write(src: Uint8Array): void;
  /** Sets aside the next `n` bytes and returns a writer over exactly them. */
  reserve(n: number): ChainWriter;
  /** Live views of the next `n` bytes, without moving. */
  peekViews(n: number): Uint8Array[];
  /** The next `n` bytes as spans of the chain's buffers, without moving. */
  peekSegments(n: number): DataSegments;
  /** Counts `n` bytes filled through `peekViews` or `peekSegments` as written. */
  advance(n: number): void;
}

function tooSmall(what: string, need: number, room: number): ProtocolError {
  return new ProtocolError(ProtocolErrorCode.LENGTH, `${what}: ${need} bytes do not fit the ${room} writable bytes the driver gave`);
}

/**
 * A {@link ReplyTarget} over a descriptor chain. After the request, the
 * transport reports the writer's `bytesWritten` as the used length (0 when
 * nothing was sent).
 */
export class ChainReply implements ReplyTarget {
  /** The header room reserved by {@link dataBuffers}. */
  private head: ChainWriter | null = null;

  constructor(private readonly writer: ChainWriter) {}

  send(chunks: readonly Uint8Array[]): void {
    const head = this.head;
    if (head !== null) {
      // A data reply was begun: only a header-only (error) reply can follow.
      const only = chunks.length === 1 ? chunks[0]! : null;
      if (only === null || only.length !== OUT_HEADER_SIZE) {
        throw new Error("ChainReply: only a header-only reply may follow dataBuffers or dataSegments");
      }
      head.write(only);
      this.head = null;
      return;
    }
    let total = 0;
    for (const c of chunks) total += c.length;
    const room = this.writer.available;
    if (total > room) throw tooSmall("reply", total, room);
    for (const c of chunks) this.writer.write(c);
  }

  dataBuffers(max: number): readonly Uint8Array[] {
    const n = this.beginData(max);
    return n > 0 ? this.writer.peekViews(n) : [];
  }

  dataSegments(max: number): DataSegments {
    return this.writer.peekSegments(this.beginData(max));
  }

  /** Reserves the header of a data reply; returns the room for data, up to `max`. */
  private beginData(max: number): number {
    const room = this.writer.available;
    if (room < OUT_HEADER_SIZE) throw tooSmall("reply header", OUT_HEADER_SIZE, room);
    this.head = this.writer.reserve(OUT_HEADER_SIZE);
    return Math.min(max, room - OUT_HEADER_SIZE);
  }

  sendData(header: Uint8Array, length: number): void {
    const head = this.head;
    if (head === null) throw new Error("ChainReply: sendData without dataBuffers");
    this.writer.advance(length);
    head.write(header);
    this.head = null;
  }
}

// ---------------------------------------------------------------------------
// Replies as whole messages

/**
 * A {@link ReplyTarget} that collects each reply as one message and hands it
 * to `deliver`. For tests, in-process clients and message-based transports;
 * READ data is gathered in a buffer of `max` + 16 bytes, so `deliver`
 * receives a view of it without a further copy.
 */
export class MessageReply implements ReplyTarget {
  private data: Uint8Array | null = null;

  /** @param deliver receives every reply; `limit` caps a reply's size (default: no cap). */
  constructor(
    private readonly deliver: (message: Uint8Array) => void | Promise<void>,
    private readonly limit = Number.MAX_SAFE_INTEGER,
  ) {}

  send(chunks: readonly Uint8Array[]): void | Promise<void> {
    this.data = null;
    let total = 0;
    for (const c of chunks) total += c.length;
    if (total > this.limit) throw tooSmall("reply", total, this.limit);
    if (chunks.length === 1) return this.deliver(chunks[0]!.slice()); // the caller's again once send returns
    const message = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      message.set(c, at);
      at += c.length;
    }
    return this.deliver(message);
  }

  dataBuffers(max: number): readonly Uint8Array[] {
    const n = Math.max(0, Math.min(max, this.limit - OUT_HEADER_SIZE));
    const data = new Uint8Array(OUT_HEADER_SIZE + n);
    this.data = data;
    return n > 0 ? [data.subarray(OUT_HEADER_SIZE)] : [];
  }

  sendData(header: Uint8Array, length: number): void | Promise<void> {
    const data = this.data;
    if (data === null) throw new Error("MessageReply: sendData without dataBuffers");
    this.data = null;
    data.set(header, 0);
    return this.deliver(data.subarray(0, OUT_HEADER_SIZE + length));
  }
}
