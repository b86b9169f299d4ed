/**
 * Reading a directory handle: getdents64 records, and the cursor that lets
 * consecutive READDIRs continue where the last one stopped without seeking
 * and re-reading. An `off` handed to the guest is the host's own d_off
 * cookie, so a READDIR at any offset the guest was given seeks straight there.
 */
import { loadU16, loadU64 } from "../fuse/wire.js";
import { SEEK_SET } from "../sys/constants.js";
import { fail, lseek } from "../sys/libc.js";
import type { DirCursor, Handle, RawDirent } from "./handles.js";
import { getdents64 } from "../sys/fs.js";

// One buffer for every directory: records are copied out before the next read.
const scratch = new Uint8Array(32 * 1024);

const NO_RECORDS = new Uint8Array(0);

/**
 * The linux_dirent64 record at `at` of `records`, or undefined past the last
 * whole one. Records are parsed one at a time, as READDIR takes them: an
 * entry lives only while the sink encodes it, where a batch parsed ahead
 * (about 1,000 entries of 32 KiB, a fifth of them left for the next request)
 * outlived V8's young generation and had the scavenger copy it (15% of the
 * daemon's time while guests listed directories).
 */
export function recordAt(records: Uint8Array, at: number): RawDirent | undefined {
  const length = records.length;
  if (at + 19 > length) return undefined;
  const reclen = loadU16(records, at + 16);
  if (reclen < 20 || at + reclen > length) return undefined;
  let end = at + 19;
  const limit = at + reclen;
  while (end < limit && records[end] !== 0) end++;
  return { ino: loadU64(records, at), off: loadU64(records, at + 8), type: records[at + 18]!, name: records.subarray(at + 19, end), next: at + reclen };
}

/**
 * The cursor of `handle` positioned at `offset` (0, or an `off` this file
 * system handed out): the same cursor when it already stands there, else
 * a fresh one after seeking the fd.
 */
export function cursorAt(handle: Handle, offset: bigint): DirCursor {
  const current = handle.dir;
  if (current !== undefined && current.last === offset) return current;
  if (current !== undefined || offset !== 0n) {
    if (Number(lseek(handle.fd, BigInt.asIntN(64, offset), SEEK_SET)) < 0) fail("lseek");
  }
  const fresh: DirCursor = { last: offset, records: NO_RECORDS, at: 0 };
  handle.dir = fresh;
  return fresh;
}

/**
 * The next entry of `cursor` without taking it, reading more from the fd when
 * needed; undefined at the end. An entry not taken is parsed again by the
 * next peek (from the records kept: no second read).
 */
export function peek(handle: Handle, cursor: DirCursor): RawDirent | undefined {
  const entry = recordAt(cursor.records, cursor.at);
  if (entry === undefined) {
    const length = getdents64(handle.fd, scratch);
    if (length === 0) return undefined;
    // A copy of its own: the scratch buffer serves every directory, and names are views of it.
    const records = new Uint8Array(length);
    records.set(scratch.subarray(0, length));
    cursor.records = records;
    cursor.at = 0;
    // A read that holds no whole record ends the listing, as an empty one does.
    return recordAt(records, 0);
  }
  return entry;
}

/** Takes `entry`, which {@link peek} of `cursor` just returned. */
export function take(cursor: DirCursor, entry: RawDirent): void {
  cursor.last = entry.off;
  cursor.at = entry.next;
}
