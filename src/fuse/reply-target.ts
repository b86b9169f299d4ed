/**
 * Where a reply goes: the contract between whoever answers FUSE requests
 * (the host's FuseServer, the guest's mount relay) and the transport that
 * carries the replies (a virtio descriptor chain, /dev/fuse, a message).
 * The transport supplies one {@link ReplyTarget} per request.
 *
 * Protocol per request: at most one of
 * - `send(chunks)`: a whole reply (header first); or
 * - `dataBuffers(max)` (or `dataSegments(max)`) then exactly one of
 *   `sendData(header, n)` (success) or `send([errorHeader])` (failure; the
 *   header then takes the place the data reply's header would have had).
 * FORGET, BATCH_FORGET, NOTIFY_REPLY, an interrupt that found its request and
 * a request whose header cannot be read get no call at all.
 */

/**
 * Buffers given as spans of larger ones, without a view of each: buffer `i`
 * is bytes `[spans[2i], spans[2i] + spans[2i+1])` of `segs[i]`. What a
 * descriptor chain's pages are in the guest memory they lie in; a vectored
 * system call takes them as they are (no typed array per page).
 */
export interface DataSegments {
  readonly segs: readonly Uint8Array[];
  readonly spans: readonly number[];
}

/** Receives the reply to one request. */
export interface ReplyTarget {
  /**
   * Sends a whole reply: `chunks` in order (the first starts with the
   * 16-byte `fuse_out_header`), their lengths adding up to its `len`. Throws
   * a ProtocolError (LENGTH) and sends nothing when the reply does not fit
   * the room the client gave; the server then sends an error reply instead.
   * The chunks are the caller's again once `send` returns, whatever it
   * returns: a transport copies them or writes them out first.
   */
  send(chunks: readonly Uint8Array[]): void | Promise<void>;
  /**
   * Buffers for up to `max` bytes of reply data that will follow the header
   * (READ), in order; their total may be less than `max` when the client
   * gave less room. Called at most once per request.
   */
  dataBuffers(max: number): readonly Uint8Array[];
  /**
   * {@link dataBuffers} as spans (optional: a transport whose buffers are
   * pages of a larger memory offers it). The same protocol: called instead
   * of `dataBuffers`, at most once per request, then `sendData` or `send`.
   */
  dataSegments?(max: number): DataSegments;
  /**
   * Completes a reply begun with {@link dataBuffers}: `header` (16 bytes,
   * `len` = 16 + `length`) followed by the first `length` bytes of the data
   * buffers, which the file system has filled.
   */
  sendData(header: Uint8Array, length: number): void | Promise<void>;
}
