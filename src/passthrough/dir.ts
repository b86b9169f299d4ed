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
import { getdents64 } from "./native.js";

// One buffer for every directory: records are copied out before the next read.
const scratch = new Uint8Array(32 * 1024);

/**
 * Parses the `length` bytes of linux_dirent64 records at the start of
 * `buffer`. The records are copied once, as a batch, and each name is a view
 * of that copy: `buffer` may be read into again while the entries wait (the
 * scratch buffer serves every directory), and a copy per name cost two views
 * and a pool allocation per entry.
 */
export function parseDirents(buffer: Uint8Array, length: number): RawDirent[] {
  // Not `buffer.slice`: on a Buffer that is a view.
  const batch = new Uint8Array(length);
  batch.set(buffer.subarray(0, length));
  const out: RawDirent[] = [];
  for (let at = 0; at + 19 <= length; ) {
    const reclen = loadU16(batch, at + 16);
    if (reclen < 20 || at + reclen > length) break;
    let end = at + 19;
    const limit = at + reclen;
    while (end < limit && batch[end] !== 0) end++;
    out.push({ ino: loadU64(batch, at), off: loadU64(batch, at + 8), type: batch[at + 18]!, name: batch.subarray(at + 19, end) });
    at += reclen;
  }
  return out;
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
  const fresh: DirCursor = { last: offset, pending: [], next: 0 };
  handle.dir = fresh;
  return fresh;
}

/** The next entry of `cursor` without taking it, reading more from the fd when needed; undefined at the end. */
export function peek(handle: Handle, cursor: DirCursor): RawDirent | undefined {
  if (cursor.next >= cursor.pending.length) {
    const length = getdents64(handle.fd, scratch);
    if (length === 0) return undefined;
    cursor.pending = parseDirents(scratch, length);
    cursor.next = 0;
  }
  return cursor.pending[cursor.next];
}

/** Takes the entry {@link peek} returned. */
export function take(cursor: DirCursor): void {
  const entry = cursor.pending[cursor.next];
  if (entry === undefined) return;
  cursor.last = entry.off;
  cursor.next++;
}
