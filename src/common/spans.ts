/**
 * Buffers given as spans of larger ones: buffer `i` is bytes
 * `[spans[2i], spans[2i] + spans[2i+1])` of `segs[i]` (a descriptor chain's
 * pages in the guest memory they lie in). The virtio layer makes them; the
 * server and the file systems take them.
 */

/** Views of buffers `from` (default 0) to `to` (default all) of the spans, in order. */
export function spanViews(segs: readonly Uint8Array[], spans: readonly number[], from = 0, to = segs.length): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = from; i < to; i++) out.push(segs[i]!.subarray(spans[2 * i]!, spans[2 * i]! + spans[2 * i + 1]!));
  return out;
}
