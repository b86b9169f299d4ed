/**
 * statx of an inode's O_PATH fd, for the hot paths (LOOKUP, GETATTR, CREATE):
 * one system call into scratch memory, read back only as far as the caller
 * needs. `sys.statx` (src/sys/fs.ts) decodes every field into a `Statx`
 * object, eight BigInts and four time objects per call; here the identity
 * (device, inode number) and the mode are plain numbers, and `fuse_attr`
 * takes its six 64-bit fields straight from the buffer.
 *
 * A {@link HostStat} holds the last result only: read it before the next
 * {@link HostStat.of} (every use here is synchronous).
 */
import { Buffer } from "node:buffer";
import type { Attr } from "../fuse/structs.js";
// One BigInt a field (Buffer's readBigUInt64LE builds each from its halves, four BigInts a call).
// Plain loads, not Buffer's read methods: on node 20 every method of a Buffer is looked up
// through V8's generic LoadIC (Buffer.prototype is not inlined), about 7 ns a call more.
import { loadU16, loadU32, loadU64 } from "../fuse/wire.js";
import { AT_EMPTY_PATH, AT_NO_AUTOMOUNT, AT_SYMLINK_NOFOLLOW } from "../sys/constants.js";
import * as libc from "../sys/libc.js";
import type { CStr } from "../sys/libc.js";
import { encodeDev } from "./attr.js";

/** statx of an O_PATH fd itself. */
const SELF = AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW;
const TWO_32 = 2 ** 32;
/** A high word at or above this puts a u64 at or above 2^53. */
const HI_LIMIT = 0x20_0000;

/** Offsets in `struct statx` (linux/stat.h). */
const At = {
  BLKSIZE: 4,
  NLINK: 16,
  UID: 20,
  GID: 24,
  MODE: 28,
  INO: 32,
  SIZE: 40,
  BLOCKS: 48,
  ATIME: 64,
  CTIME: 96,
  MTIME: 112,
  RDEV_MAJOR: 128,
  RDEV_MINOR: 132,
  DEV_MAJOR: 136,
  DEV_MINOR: 140,
  MNT_ID: 144,
} as const;

/** A u64 of `b` at `at` as a number (exact below 2^53, rounded above). */
function u64Number(b: Buffer, at: number): number {
  return loadU32(b, at + 4) * TWO_32 + loadU32(b, at);
}

/** A u64 of `b` at `at`: a number when below 2^53, else a bigint (so equal values always have one form). */
function u64Key(b: Buffer, at: number): number | bigint {
  const hi = loadU32(b, at + 4);
  return hi < HI_LIMIT ? hi * TWO_32 + loadU32(b, at) : b.readBigUInt64LE(at);
}

/** What the inode table keeps of a host inode. */
export interface HostIdentity {
  /** Device, as a key ({@link HostStat.dev}). */
  readonly dev: number | bigint;
  /** Inode number, as a key (a number below 2^53). */
  readonly ino: number | bigint;
  readonly mode: number;
  readonly devMajor: number;
  readonly devMinor: number;
  /** The mount id (0 when statx did not report it); a number, exact below 2^53. */
  readonly mntId: number;
  /** The size in bytes (a number: exact below 2^53). */
  readonly size: number;
}

/** The last statx result of one caller; see the module comment. */
export class HostStat implements HostIdentity {
  private readonly b = Buffer.alloc(256);

  /**
   * statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | `flags`, `mask`):
   * the inode `fd` refers to, never a symlink's target. Throws ErrnoError.
   */
  of(fd: number, mask: number, flags = 0): this {
    if (libc.statx(fd, "", SELF | flags, mask, this.b) < 0) libc.fail("statx");
    return this;
  }

  /**
   * statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, `mask`): the
   * inode a name in the directory `dirfd` names, never a symlink's target.
   * `name` is one component the caller has checked (no "/"). No throw (a
   * missing name is a common answer): false on failure, the errno then in
   * `libc.lastErrno()`.
   */
  tryAt(dirfd: number, name: CStr, mask: number): boolean {
    return libc.statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, mask, this.b) >= 0;
  }

  get mode(): number {
    return loadU16(this.b, At.MODE);
  }
  get uid(): number {
    return loadU32(this.b, At.UID);
  }
  get gid(): number {
    return loadU32(this.b, At.GID);
  }
  get devMajor(): number {
    return loadU32(this.b, At.DEV_MAJOR);
  }
  get devMinor(): number {
    return loadU32(this.b, At.DEV_MINOR);
  }
  /** The device as one key: major * 2^32 + minor (a bigint in the impossible case of a major >= 2^21). */
  get dev(): number | bigint {
    const major = this.devMajor;
    const minor = this.devMinor;
    return major < HI_LIMIT ? major * TWO_32 + minor : (BigInt(major) << 32n) | BigInt(minor);
  }
  get ino(): number | bigint {
    return u64Key(this.b, At.INO);
  }
  get size(): number {
    return u64Number(this.b, At.SIZE);
  }
  get mntId(): number {
    return u64Number(this.b, At.MNT_ID);
  }

  /**
   * `fuse_attr` of the result; `flags` are FUSE_ATTR_*. Times go over the
   * wire as the u64 bit pattern of the signed seconds, as `toAttr` sends them.
   */
  attr(flags = 0): Attr {
    const b = this.b;
    return {
      ino: loadU64(b, At.INO),
      size: loadU64(b, At.SIZE),
      blocks: loadU64(b, At.BLOCKS),
      atime: loadU64(b, At.ATIME),
      mtime: loadU64(b, At.MTIME),
      ctime: loadU64(b, At.CTIME),
      atimensec: loadU32(b, At.ATIME + 8),
      mtimensec: loadU32(b, At.MTIME + 8),
      ctimensec: loadU32(b, At.CTIME + 8),
      mode: loadU16(b, At.MODE),
      nlink: loadU32(b, At.NLINK),
      uid: loadU32(b, At.UID),
      gid: loadU32(b, At.GID),
      rdev: encodeDev(loadU32(b, At.RDEV_MAJOR), loadU32(b, At.RDEV_MINOR)),
      blksize: loadU32(b, At.BLKSIZE),
      flags,
    };
  }
}
