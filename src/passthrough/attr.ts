/**
 * Host statx results as FUSE attributes (`fuse_attr`, `fuse_statx`), and the
 * device-number encodings on both sides of the wire.
 */
import type { Attr, Statx as FuseStatx, SxTime } from "../fuse/structs.js";
import type { Statx, Timespec } from "../sys/fs.js";
import { makedev } from "../sys/fs.js";

/** A signed time in seconds as the u64 the wire carries (the client reads it back as s64). */
function wireSeconds(sec: bigint): bigint {
  return BigInt.asUintN(64, sec);
}

/** The kernel's `new_encode_dev`: the 32-bit device number `fuse_attr.rdev` carries. */
export function encodeDev(major: number, minor: number): number {
  return ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12)) >>> 0;
}

/** The kernel's `new_decode_dev` of a 32-bit device number, as glibc's `dev_t` for mknodat. */
export function decodeDev(dev: number): bigint {
  const major = (dev & 0xfff00) >>> 8;
  const minor = (dev & 0xff) | ((dev >>> 12) & 0xfff00);
  return makedev(major, minor);
}

/** `fuse_attr` from a statx result; `flags` are FUSE_ATTR_* (SUBMOUNT). */
export function toAttr(st: Statx, flags = 0): Attr {
  return {
    ino: st.ino,
    size: st.size,
    blocks: st.blocks,
    atime: wireSeconds(st.atime.sec),
    mtime: wireSeconds(st.mtime.sec),
    ctime: wireSeconds(st.ctime.sec),
    atimensec: st.atime.nsec,
    mtimensec: st.mtime.nsec,
    ctimensec: st.ctime.nsec,
    mode: st.mode,
    nlink: st.nlink,
    uid: st.uid,
    gid: st.gid,
    rdev: encodeDev(st.rdevMajor, st.rdevMinor),
    blksize: st.blksize,
    flags,
  };
}

function sxTime(time: Timespec | undefined): SxTime {
  return time === undefined ? { tvSec: 0n, tvNsec: 0 } : { tvSec: time.sec, tvNsec: time.nsec };
}

/** `fuse_statx` from a statx result (birth time when the host file system keeps one). */
export function toFuseStatx(st: Statx): FuseStatx {
  return {
    mask: st.mask,
    blksize: st.blksize,
    attributes: st.attributes,
    nlink: st.nlink,
    uid: st.uid,
    gid: st.gid,
    mode: st.mode,
    ino: st.ino,
    size: st.size,
    blocks: st.blocks,
    attributesMask: st.attributesMask,
    atime: sxTime(st.atime),
    btime: sxTime(st.btime),
    ctime: sxTime(st.ctime),
    mtime: sxTime(st.mtime),
    rdevMajor: st.rdevMajor,
    rdevMinor: st.rdevMinor,
    devMajor: st.devMajor,
    devMinor: st.devMinor,
  };
}
