/**
 * The {@link DirSink}s READDIR and READDIRPLUS hand to the file system: they
 * encode entries into the reply body up to the size the client asked for,
 * each record padded to 8 bytes, and refuse (return false, keep nothing) the
 * first entry that does not fit whole.
 *
 * In a READDIRPLUS stream every record is a `fuse_direntplus`: an entry added
 * with `add` (".", "..", or anything the file system does not look up) goes
 * out with a zeroed `fuse_entry_out` (nodeid 0: the client counts no lookup),
 * carrying only the inode number and the file type, as virtiofsd sends them.
 */
import { DirentEncoder, DirentplusEncoder } from "../fuse/dirent.js";
import { Attr, EntryOut } from "../fuse/structs.js";
import { loadU64 } from "../fuse/wire.js";
import type { DirEntry, DirSink } from "./filesystem.js";

const ZERO_ATTR = Attr.zero();

/** The `fuse_entry_out` of a READDIRPLUS record added without a lookup. */
function unlookedEntry(entry: DirEntry): EntryOut {
  return {
    nodeid: 0n,
    generation: 0n,
    entryValid: 0n,
    attrValid: 0n,
    entryValidNsec: 0,
    attrValidNsec: 0,
    attr: { ...ZERO_ATTR, ino: entry.ino, mode: (entry.type & 0xf) << 12 },
  };
}

/** The {@link DirEntry} that {@link DirSink.addFields}' arguments describe; its name a view of `src`. */
export function entryOfFields(src: Uint8Array, inoAt: number, offAt: number, type: number, nameAt: number, nameLength: number): DirEntry {
  return { ino: loadU64(src, inoAt), off: loadU64(src, offAt), type, name: src.subarray(nameAt, nameAt + nameLength) };
}

/** A sink for one READDIR or READDIRPLUS request; closed once the reply is built. */
export class ReplyDirSink implements DirSink {
  private readonly plain: DirentEncoder | null;
  private readonly plus: DirentplusEncoder | null;
  private closed = false;

  /** @param size the client's buffer size (`fuse_read_in.size`); `plus` for READDIRPLUS. */
  constructor(size: number, plus: boolean) {
    this.plain = plus ? null : new DirentEncoder(size);
    this.plus = plus ? new DirentplusEncoder(size) : null;
  }

  add(entry: DirEntry): boolean {
    if (this.closed) return false;
    // The encoders take the entry as it is (its name need not be a Buffer).
    if (this.plus !== null) return this.plus.add({ entry: unlookedEntry(entry), dirent: entry });
    return this.plain!.add(entry);
  }

  addFields(src: Uint8Array, inoAt: number, offAt: number, type: number, nameAt: number, nameLength: number): boolean {
    if (this.closed) return false;
    if (this.plus !== null) {
      const entry = entryOfFields(src, inoAt, offAt, type, nameAt, nameLength);
      return this.plus.add({ entry: unlookedEntry(entry), dirent: entry });
    }
    return this.plain!.addFields(src, inoAt, offAt, type, nameAt, nameLength);
  }

  addPlus(entry: DirEntry, out: EntryOut): boolean {
    if (this.closed) return false;
    if (this.plus === null) {
      // A lookup the client would never learn of: refuse loudly (a bug in the file system).
      throw new Error("DirSink.addPlus called during READDIR (use add)");
    }
    return this.plus.add({ entry: out, dirent: entry });
  }

  /** Entries accepted so far. */
  get count(): number {
    return (this.plus ?? this.plain!).count;
  }

  /** The encoded stream; the sink accepts nothing afterwards. */
  finish(): Uint8Array {
    this.closed = true;
    return (this.plus ?? this.plain!).finish();
  }

  /** The stream {@link finish} returned has been sent: its memory may serve another reply. */
  recycle(): void {
    this.closed = true;
    (this.plus ?? this.plain!).recycle();
  }
}
