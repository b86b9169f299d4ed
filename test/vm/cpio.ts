/**
 * A writer for the cpio "newc" format (magic `070701`), the format the Linux
 * kernel unpacks an initramfs from (Documentation/driver-api/early-userspace/
 * buffer-format.rst).
 *
 * Each entry is a 110-byte ASCII header (the magic, then 13 fields of 8 hex
 * digits), the NUL-terminated name padded to a multiple of 4 bytes counted
 * from the header's start, then the data padded to a multiple of 4. The
 * archive ends with an entry named `TRAILER!!!`. Output is deterministic:
 * inode numbers are assigned in order and every mtime is 0, so equal inputs
 * give equal bytes (the image cache keys on them).
 */

/** File-type bits of `st_mode` (linux/stat.h). */
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

const MAGIC = "070701";
const HEADER_SIZE = 110;
const TRAILER = "TRAILER!!!";

export type CpioEntry =
  | { kind: "dir"; path: string; mode?: number }
  | { kind: "file"; path: string; data: Uint8Array | string; mode?: number }
  | { kind: "symlink"; path: string; target: string }
  | { kind: "chardev"; path: string; major: number; minor: number; mode?: number };

/** Builds one archive. Paths are relative (`bin/sh`, not `/bin/sh`); parents must come first. */
export class CpioWriter {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private nextIno = 1;
  private finished = false;
  private readonly paths = new Set<string>();

  add(entry: CpioEntry): this {
    if (this.finished) throw new Error("cpio: add after finish");
    const path = entry.path.replace(/^\/+/, "");
    if (path === "" || path === TRAILER) throw new Error(`cpio: bad path ${JSON.stringify(entry.path)}`);
    if (this.paths.has(path)) throw new Error(`cpio: duplicate path ${path}`);
    this.paths.add(path);
    switch (entry.kind) {
      case "dir":
        this.entry(path, S_IFDIR | (entry.mode ?? 0o755), 2, Buffer.alloc(0), 0, 0);
        break;
      case "file":
        this.entry(path, S_IFREG | (entry.mode ?? 0o644), 1, Buffer.from(entry.data), 0, 0);
        break;
      case "symlink":
        this.entry(path, S_IFLNK | 0o777, 1, Buffer.from(entry.target), 0, 0);
        break;
      case "chardev":
        this.entry(path, S_IFCHR | (entry.mode ?? 0o600), 1, Buffer.alloc(0), entry.major, entry.minor);
        break;
    }
    return this;
  }

  /** Appends the trailer and returns the archive; its length is a multiple of 4. */
  finish(): Buffer {
    if (!this.finished) {
      this.header(TRAILER, 0, 0, 0, 0, 0, 0);
      this.finished = true;
    }
    return Buffer.concat(this.chunks, this.size);
  }

  private entry(path: string, mode: number, nlink: number, data: Buffer, rdevMajor: number, rdevMinor: number): void {
    this.header(path, this.nextIno++, mode, nlink, data.length, rdevMajor, rdevMinor);
    this.push(data);
    this.pad();
  }

  private header(
    name: string,
    ino: number,
    mode: number,
    nlink: number,
    fileSize: number,
    rdevMajor: number,
    rdevMinor: number,
  ): void {
    const nameBytes = Buffer.from(`${name}\0`);
    // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
    const fields = [ino, mode, 0, 0, nlink, 0, fileSize, 0, 0, rdevMajor, rdevMinor, nameBytes.length, 0];
    const text = MAGIC + fields.map((v) => hex8(v)).join("");
    if (text.length !== HEADER_SIZE) throw new Error("cpio: header size");
    this.push(Buffer.from(text, "latin1"));
    this.push(nameBytes);
    this.pad();
  }

  private push(b: Buffer): void {
    this.chunks.push(b);
    this.size += b.length;
  }

  private pad(): void {
    const rem = this.size % 4;
    if (rem !== 0) this.push(Buffer.alloc(4 - rem));
  }
}

function hex8(value: number): string {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new Error(`cpio: field out of range: ${value}`);
  return value.toString(16).padStart(8, "0");
}
