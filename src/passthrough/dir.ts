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
import type { DirSink } from "../server/filesystem.js";

// One buffer for every directory: records are copied out before the next read.
const scratch = new Uint8Array(32 * 1024);

const NO_RECORDS = new Uint8Array(0);

/** linux_dirent64: d_ino at 0, d_off at 8, d_reclen at 16, d_type at 18, the NUL-terminated name at 19. */
const OFF = 8;
const RECLEN = 16;
const TYPE = 18;
const NAME = 19;

/**
 * The linux_dirent64 record at `at` of `records`, or undefined past the last
 * whole one. Records are parsed one at a time, as READDIR takes them: an
 * entry lives only while the sink encodes it, where a batch parsed ahead
 * (about 1,000 entries of 32 KiB, a fifth of them left for the next request)
 * outlived V8's young generation and had the scavenger copy it (15% of the
 * daemon's time while guests listed directories).
 */
export function recordAt(records: Uint8Array, at: number): RawDirent | undefined {
  const reclen = recordLength(records, at);
  if (reclen === 0) return undefined;
  const end = nameEnd(records, at, reclen);
  return { ino: loadU64(records, at), off: loadU64(records, at + OFF), type: records[at + TYPE]!, name: records.subarray(at + NAME, end), next: at + reclen };
}

/** The length of the whole linux_dirent64 record at `at` of `records`, or 0 where none is. */
function recordLength(records: Uint8Array, at: number): number {
  if (at + NAME > records.length) return 0;
  const reclen = loadU16(records, at + RECLEN);
  return reclen <= NAME || at + reclen > records.length ? 0 : reclen;
}

/** Where the name of the record at `at` (of `reclen` bytes) ends: its NUL, or the record's end. */
function nameEnd(records: Uint8Array, at: number, reclen: number): number {
  let end = at + NAME;
  const limit = at + reclen;
  while (end < limit && records[end] !== 0) end++;
  return end;
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
  const fresh: DirCursor = { last: offset, records: NO_RECORDS, at: 0, room: current?.room ?? NO_RECORDS };
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
    // A read that holds no whole record ends the listing, as an empty one does.
    return refill(handle, cursor) ? recordAt(cursor.records, 0) : undefined;
  }
  return entry;
}

/** The cursor's next records, read from the fd once those it has are all taken; false at the end. */
function refill(handle: Handle, cursor: DirCursor): boolean {
  const length = getdents64(handle.fd, scratch);
  if (length === 0) return false;
  // A copy of its own: the scratch buffer serves every directory. Into the
  // cursor's last buffer when it is large enough (the records there are all
  // taken): a new one per read was zeroed by the allocator, and that memset
  // was 7% of the daemon's time while the guest driver listed a large directory.
  let room = cursor.room;
  if (room.length < length) {
    room = new Uint8Array(length);
    cursor.room = room;
  }
  room.set(scratch.subarray(0, length));
  cursor.records = room.subarray(0, length);
  cursor.at = 0;
  return true;
}

/**
 * READDIR: the entries from `cursor` on, into `sink` until it refuses one or
 * the directory ends, each handed over as the fields of its record
 * ({@link DirSink.addFields}) with no object or BigInt per entry (getdents64
 * writes d_ino and d_off in the host's byte order, which is FUSE's on the
 * little-endian hosts virtio-fs runs on). The cursor moves past each entry
 * taken, as {@link take} would, also when the sink throws.
 */
export function drainInto(handle: Handle, cursor: DirCursor, sink: DirSink): void {
  let records = cursor.records;
  let at = cursor.at;
  // The record last taken since the cursor was last brought up to date, or -1.
  let taken = -1;
  try {
    for (;;) {
      let reclen = recordLength(records, at);
      if (reclen === 0) {
        // All taken: the cursor up to date before its records are replaced (as the finally below).
        if (taken >= 0) {
          cursor.last = loadU64(records, taken + OFF);
          cursor.at = at;
          taken = -1;
        }
        if (!refill(handle, cursor)) return;
        records = cursor.records;
        at = 0;
        reclen = recordLength(records, 0);
        if (reclen === 0) return;
      }
      const name = at + NAME;
      if (!sink.addFields(records, at, at + OFF, records[at + TYPE]!, name, nameEnd(records, at, reclen) - name)) return;
      taken = at;
      at += reclen;
    }
  } finally {
    if (taken >= 0) {
      cursor.last = loadU64(records, taken + OFF);
      cursor.at = at;
    }
  }
}

/** Takes `entry`, which {@link peek} of `cursor` just returned. */
export function take(cursor: DirCursor, entry: RawDirent): void {
  cursor.last = entry.off;
  cursor.at = entry.next;
}
