/**
 * A FuseTransport that hands each request, decoded, to a function in the
 * test and carries back what it answers: for session tests that need exact
 * control of replies (their timing, their bytes) without a device.
 */
import { ErrnoError } from "../../src/common/errors.js";
import { Errno } from "../../src/common/errno.js";
import { FUSE_KERNEL_MINOR_VERSION, Opcode } from "../../src/fuse/abi.js";
import { concatChunks, decodeRequest, encodeErrorReply, encodeReplyBytes, type Request, type WireOptions } from "../../src/fuse/messages.js";
import { AttrOut, EntryOut, InitOut } from "../../src/fuse/structs.js";
import type { FuseTransport, QueueKind } from "../../src/guest/transport.js";

/** What the handler answers: reply bytes, or null for "not now" (answer later with `reply`). */
export type Answer = Uint8Array | null;

export interface Sent {
  readonly queue: QueueKind;
  readonly capacity: number;
  readonly bytes: Uint8Array;
  readonly request: Request;
}

interface Waiting {
  readonly unique: bigint;
  resolve(bytes: Uint8Array): void;
  reject(error: Error): void;
}

export class LoopbackTransport implements FuseTransport {
  readonly maxRequestSize: number;
  readonly maxReplySize: number;
  readonly closed: Promise<Error>;
  /** Every request, in the order sent. */
  readonly sent: Sent[] = [];
  /** How requests are decoded (set after INIT to the session's options). */
  wire: WireOptions | undefined;
  private reason: Error | null = null;
  private resolveClosed!: (error: Error) => void;
  private readonly waiting = new Map<bigint, Waiting>();

  constructor(
    private readonly handler: (request: Request, queue: QueueKind) => Answer,
    limits: { maxRequestSize?: number; maxReplySize?: number } = {},
  ) {
    this.maxRequestSize = limits.maxRequestSize ?? 4 << 20;
    this.maxReplySize = limits.maxReplySize ?? 4 << 20;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  get closeReason(): Error | null {
    return this.reason;
  }

  /** Requests of `opcode`, in order. */
  requests(opcode: number): Request[] {
    return this.sent.filter((s) => s.request.opcode === opcode).map((s) => s.request);
  }

  /** Requests sent and not answered yet. */
  get unanswered(): bigint[] {
    return [...this.waiting.keys()];
  }

  /** Answers a request the handler left waiting. */
  reply(unique: bigint, bytes: Uint8Array): void {
    const w = this.waiting.get(unique);
    if (!w) throw new Error(`no request ${unique} is waiting`);
    this.waiting.delete(unique);
    w.resolve(bytes);
  }

  submit(chunks: readonly Uint8Array[], capacity: number, queue: QueueKind = "request"): Promise<Uint8Array> {
    if (this.reason) return Promise.reject(this.reason);
    const bytes = concatChunks(chunks).slice();
    const request = decodeRequest(bytes, this.wire);
    this.sent.push({ queue, capacity, bytes, request });
    const answer = this.handler(request, queue);
    if (capacity === 0) return Promise.resolve(new Uint8Array(0));
    if (answer !== null) {
      if (answer.length > capacity) return Promise.reject(new Error(`reply of ${answer.length} bytes exceeds the ${capacity} offered`));
      return Promise.resolve(answer);
    }
    return new Promise((resolve, reject) => this.waiting.set(request.header.unique, { unique: request.header.unique, resolve, reject }));
  }

  async submitInto(chunks: readonly Uint8Array[], head: Uint8Array, sink: Uint8Array, queue: QueueKind = "request"): Promise<number> {
    const reply = await this.submit(chunks, head.length + sink.length, queue);
    head.set(reply.subarray(0, head.length));
    sink.set(reply.subarray(head.length));
    return reply.length;
  }

  close(): void {
    if (this.reason) return;
    this.reason = new ErrnoError(Errno.ENOTCONN, "loopback");
    for (const w of this.waiting.values()) w.reject(this.reason);
    this.waiting.clear();
    this.resolveClosed(this.reason);
  }
}

/** A 7.38 INIT answer with every flag the request offered, max_write 1 MiB, 256 pages; `over` replaces fields. */
export function initReply(request: Request, over: Partial<InitOut> = {}): Uint8Array {
  if (request.opcode !== Opcode.INIT) throw new Error("not INIT");
  const body: InitOut = {
    ...InitOut.zero(),
    major: 7,
    minor: FUSE_KERNEL_MINOR_VERSION,
    maxReadahead: request.arg.maxReadahead,
    flags: request.arg.flags,
    flags2: request.arg.flags2,
    maxWrite: 1 << 20,
    maxPages: 256,
    maxBackground: 64,
    congestionThreshold: 48,
    timeGran: 1,
    ...over,
  };
  return encodeReplyBytes(request.header.unique, Opcode.INIT, body);
}

/** An entry for `nodeid`. */
export function entryOut(nodeid: bigint, mode = 0o100644): EntryOut {
  const e = EntryOut.zero();
  return { ...e, nodeid, attr: { ...e.attr, ino: nodeid, mode, nlink: 1 } };
}

/** An attribute reply body. */
export function attrOut(size: bigint, mode = 0o100644): AttrOut {
  const a = AttrOut.zero();
  return { ...a, attr: { ...a.attr, size, mode, nlink: 1 } };
}

export const errorReply = encodeErrorReply;
export { encodeReplyBytes };
