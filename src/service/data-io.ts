/**
 * READ and WRITE of one ReadFile/WriteFile: a large transfer (at least
 * {@link SPLIT_THRESHOLD} bytes) goes as several requests of
 * {@link PART_SIZE} bytes in flight at once, so the device and the server
 * work on its parts together, where virtio-win sends one request and waits
 * (the baseline keeps that: its session sends one at a time whatever is
 * asked of it, baseline.ts).
 *
 * Results are what one request would have answered: the bytes before the
 * first short part (end of file, or a short write). Parts beyond a short one
 * may have transferred too: for a read that only fills more of the caller's
 * buffer than reported, for a write it can leave data beyond the reported
 * end, as a failed WRITE split by the FUSE layer itself can.
 */
import type { FuseSession } from "../guest/session.js";

/** Transfers at least this large are split. */
export const SPLIT_THRESHOLD = 256 * 1024;

/** The size of each part of a split transfer (further cut to the session's limits). */
export const PART_SIZE = 256 * 1024;

/** The byte count of parts `counts` of `sizes`: their sum up to the first short one. */
function contiguous(counts: readonly number[], sizes: readonly number[]): number {
  let total = 0;
  for (let i = 0; i < counts.length; i++) {
    total += counts[i]!;
    if (counts[i]! < sizes[i]!) break;
  }
  return total;
}

/** The [start, end) offsets of the parts of a transfer of `length` bytes. */
function partsOf(length: number): Array<[number, number]> {
  if (length < SPLIT_THRESHOLD) return [[0, length]];
  const out: Array<[number, number]> = [];
  for (let at = 0; at < length; at += PART_SIZE) out.push([at, Math.min(length, at + PART_SIZE)]);
  return out;
}

/** `transfer` of each part of `buffer` (all in flight together); the bytes one request would have reported. */
async function inParts(buffer: Uint8Array, offset: bigint, transfer: (at: bigint, part: Uint8Array) => Promise<number>): Promise<number> {
  const parts = partsOf(buffer.length);
  if (parts.length === 1) return transfer(offset, buffer);
  const counts = await Promise.all(parts.map(([from, to]) => transfer(offset + BigInt(from), buffer.subarray(from, to))));
  return contiguous(
    counts,
    parts.map(([from, to]) => to - from),
  );
}

/** READ into `target` at `offset` (split, see the module comment); resolves with the bytes read. */
export function readSplit(session: FuseSession, nodeid: bigint, fh: bigint, offset: bigint, target: Uint8Array): Promise<number> {
  return inParts(target, offset, (at, part) => session.readInto(nodeid, fh, at, part));
}

/** WRITE `data` at `offset` (split, see the module comment); resolves with the bytes written. */
export function writeSplit(session: FuseSession, nodeid: bigint, fh: bigint, offset: bigint, data: Uint8Array): Promise<number> {
  return inParts(data, offset, (at, part) => session.write(nodeid, fh, at, part));
}
