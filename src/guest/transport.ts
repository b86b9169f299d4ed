/**
 * What a FUSE client session needs from the thing that carries its messages
 * to a virtio-fs device: submit a request, get the reply back. The session
 * knows nothing of virtqueues, guest memory or sockets; the virtio-fs driver
 * (`driver.ts`) implements this over vhost-user, and tests implement it with
 * an in-process responder.
 *
 * Contract, for every implementation:
 * - A request is the concatenation of its chunks (as `encodeRequest` returns
 *   them). The transport copies them before `submit` returns; the caller may
 *   reuse the chunks at once.
 * - `replyCapacity` is the room offered for the reply (`fuse_out_header` plus
 *   the largest body the request allows). A request with capacity 0 (FORGET,
 *   BATCH_FORGET, INTERRUPT) gets no reply: its promise resolves with an
 *   empty array once the device has taken it.
 * - The reply resolves with exactly the bytes the device says it wrote (the
 *   used length), in memory the caller owns. It is not validated: that is the
 *   session's work.
 * - Many requests may be in flight at once, in any order of completion. When
 *   the device has no room (queue full, no buffer memory), a request waits
 *   for room; it never fails for that reason.
 * - When the transport ends (the backend went away, or {@link close}), every
 *   request not yet answered rejects with an ENOTCONN `ErrnoError` that names
 *   the cause, `closed` resolves with that error, and later submits reject
 *   the same way. Nothing waits forever.
 */

/** The queue a request travels on: `hiprio` is for FORGET, BATCH_FORGET and INTERRUPT. */
export type QueueKind = "request" | "hiprio";

export interface FuseTransport {
  /** The largest request (sum of chunk lengths) this transport can carry. */
  readonly maxRequestSize: number;
  /** The largest reply capacity this transport can offer one request. */
  readonly maxReplySize: number;

  /**
   * Sends one request and resolves with its reply (see the module contract).
   * Rejects with ErrnoError E2BIG when the request or the capacity exceeds
   * {@link maxRequestSize} / {@link maxReplySize}, and ENOTCONN once closed.
   */
  submit(request: readonly Uint8Array[], replyCapacity: number, queue?: QueueKind): Promise<Uint8Array>;

  /**
   * Like {@link submit}, for a reply that is a header and then bulk data
   * (READ): the first `head.length` bytes of the reply land in `head`, the
   * rest in `sink`, each copied once from the device's buffer. Resolves with
   * the total length of the reply (the used length); the capacity offered is
   * `head.length + sink.length`.
   */
  submitInto(request: readonly Uint8Array[], head: Uint8Array, sink: Uint8Array, queue?: QueueKind): Promise<number>;

  /** Resolves, once, with the reason the transport ended (never rejects). */
  readonly closed: Promise<Error>;
  /** The reason the transport ended, or null while it is open. */
  readonly closeReason: Error | null;

  /** Ends the transport; pending requests reject with ENOTCONN. Idempotent. */
  close(): void;
}
