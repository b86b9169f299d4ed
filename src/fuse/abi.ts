/**
 * FUSE ABI constants, by name, as virtio-fs uses them: protocol 7.38 and the
 * compatible older minors. Facts from Linux `include/uapi/linux/fuse.h`
 * (plus the few kernel-internal limits and generic Linux values the protocol
 * carries, each marked where it comes from).
 *
 * Flag sets are plain `const` objects of numbers; the INIT flags are bigints
 * because they span `flags | flags2 << 32`.
 */

/** Major version of the protocol. A peer with another major is answered with ours. */
export const FUSE_KERNEL_VERSION = 7;
/** The minor version this codec speaks; older minors are handled through compat sizes. */
export const FUSE_KERNEL_MINOR_VERSION = 38;
/** The node ID of the root inode. */
export const FUSE_ROOT_ID = 1n;

/** Request opcodes (`enum fuse_opcode`), 1–52. 7 and 19 are holes (never used). */
export const Opcode = {
  LOOKUP: 1,
  /** No reply. */
  FORGET: 2,
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  SYMLINK: 6,
  MKNOD: 8,
  MKDIR: 9,
  UNLINK: 10,
  RMDIR: 11,
  RENAME: 12,
  LINK: 13,
  OPEN: 14,
  READ: 15,
  WRITE: 16,
  STATFS: 17,
  RELEASE: 18,
  FSYNC: 20,
  SETXATTR: 21,
  GETXATTR: 22,
  LISTXATTR: 23,
  REMOVEXATTR: 24,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  FSYNCDIR: 30,
  GETLK: 31,
  SETLK: 32,
  SETLKW: 33,
  ACCESS: 34,
  CREATE: 35,
  INTERRUPT: 36,
  BMAP: 37,
  DESTROY: 38,
  IOCTL: 39,
  POLL: 40,
  /** The client's answer to a NOTIFY_RETRIEVE notification. No reply. */
  NOTIFY_REPLY: 41,
  /** No reply. */
  BATCH_FORGET: 42,
  FALLOCATE: 43,
  READDIRPLUS: 44,
  RENAME2: 45,
  LSEEK: 46,
  COPY_FILE_RANGE: 47,
  SETUPMAPPING: 48,
  REMOVEMAPPING: 49,
  SYNCFS: 50,
  TMPFILE: 51,
  /** Protocol 7.39; accepted here because it only adds an opcode. */
  STATX: 52,
} as const;
export type OpcodeName = keyof typeof Opcode;
export type OpcodeValue = (typeof Opcode)[OpcodeName];

/** CUSE's INIT opcode. Not part of virtio-fs: a request carrying it is unknown to the codec. */
export const CUSE_INIT = 4096;
/** `FUSE_INIT` byte-swapped: what a peer of the other endianness sends first. */
export const FUSE_INIT_BSWAP_RESERVED = 436207616;
/** `CUSE_INIT` byte-swapped. */
export const CUSE_INIT_BSWAP_RESERVED = 1048576;

const opcodeNames = new Map<number, OpcodeName>(
  (Object.entries(Opcode) as [OpcodeName, OpcodeValue][]).map(([name, value]) => [value, name]),
);

/** True when `n` is one of the opcodes in {@link Opcode}. */
export function isOpcode(n: number): n is OpcodeValue {
  return opcodeNames.has(n);
}

/** The name of an opcode (`"LOOKUP"`), or `"OPCODE_<n>"` for a value outside the table. */
export function opcodeName(n: number): string {
  return opcodeNames.get(n) ?? `OPCODE_${n}`;
}

/** Notification codes (`enum fuse_notify_code`), carried in `fuse_out_header.error` when `unique` is 0. */
export const NotifyCode = {
  POLL: 1,
  INVAL_INODE: 2,
  INVAL_ENTRY: 3,
  STORE: 4,
  RETRIEVE: 5,
  DELETE: 6,
  /** 7.40 */
  RESEND: 7,
} as const;

/**
 * INIT flags, as bit values of the 64-bit set `flags | flags2 << 32`
 * (bits 32–63 travel in `fuse_init_in.flags2` / `fuse_init_out.flags2`,
 * which are only meaningful when {@link InitFlag.INIT_EXT} is set).
 * Use {@link combineInitFlags} / {@link splitInitFlags} to convert.
 */
export const InitFlag = {
  /** Asynchronous read requests. */
  ASYNC_READ: 1n << 0n,
  /** Remote locking for POSIX file locks. */
  POSIX_LOCKS: 1n << 1n,
  /** Kernel sends file handle for fstat etc. (not supported by Linux). */
  FILE_OPS: 1n << 2n,
  /** The file system handles O_TRUNC in OPEN. */
  ATOMIC_O_TRUNC: 1n << 3n,
  /** The file system handles lookups of "." and "..". */
  EXPORT_SUPPORT: 1n << 4n,
  /** The file system accepts writes larger than 4 KiB. */
  BIG_WRITES: 1n << 5n,
  /** Do not apply the umask to the mode of created files. */
  DONT_MASK: 1n << 6n,
  SPLICE_WRITE: 1n << 7n,
  SPLICE_MOVE: 1n << 8n,
  SPLICE_READ: 1n << 9n,
  /** Remote locking for BSD-style (flock) locks. */
  FLOCK_LOCKS: 1n << 10n,
  /** Kernel supports ioctl on directories. */
  HAS_IOCTL_DIR: 1n << 11n,
  /** Automatically invalidate cached pages. */
  AUTO_INVAL_DATA: 1n << 12n,
  /** Use READDIRPLUS. */
  DO_READDIRPLUS: 1n << 13n,
  /** Adaptive READDIRPLUS. */
  READDIRPLUS_AUTO: 1n << 14n,
  /** Asynchronous direct I/O submission. */
  ASYNC_DIO: 1n << 15n,
  /** Writeback cache for buffered writes. */
  WRITEBACK_CACHE: 1n << 16n,
  /** Kernel supports zero-message opens. */
  NO_OPEN_SUPPORT: 1n << 17n,
  /** Allow parallel lookups and readdir. */
  PARALLEL_DIROPS: 1n << 18n,
  /** The file system kills suid/sgid/caps on write/chown/truncate. */
  HANDLE_KILLPRIV: 1n << 19n,
  /** The file system supports POSIX ACLs. */
  POSIX_ACL: 1n << 20n,
  /** Reading the device after abort returns ECONNABORTED. */
  ABORT_ERROR: 1n << 21n,
  /** `fuse_init_out.max_pages` is valid. */
  MAX_PAGES: 1n << 22n,
  /** Cache READLINK replies. */
  CACHE_SYMLINKS: 1n << 23n,
  /** Kernel supports zero-message opendir. */
  NO_OPENDIR_SUPPORT: 1n << 24n,
  /** Only invalidate cached pages on explicit request. */
  EXPLICIT_INVAL_DATA: 1n << 25n,
  /** `fuse_init_out.map_alignment` is valid (log2 of the DAX mapping alignment). */
  MAP_ALIGNMENT: 1n << 26n,
  /** Kernel supports auto-mounting directory submounts. */
  SUBMOUNTS: 1n << 27n,
  /** The file system kills suid/sgid/caps like the Linux VFS does. */
  HANDLE_KILLPRIV_V2: 1n << 28n,
  /** The server accepts the extended (16-byte) `fuse_setxattr_in`. */
  SETXATTR_EXT: 1n << 29n,
  /** `flags2` is valid (extended `fuse_init_in`/`fuse_init_out`). */
  INIT_EXT: 1n << 30n,
  /** Reserved, do not use. */
  INIT_RESERVED: 1n << 31n,
  /** Security context with create, mkdir, symlink and mknod. */
  SECURITY_CTX: 1n << 32n,
  /** Per-inode DAX. */
  HAS_INODE_DAX: 1n << 33n,
  /** Supplementary group extension with create, mkdir, symlink and mknod. */
  CREATE_SUPP_GROUP: 1n << 34n,
  /** Kernel supports expiry-only entry invalidation. */
  HAS_EXPIRE_ONLY: 1n << 35n,
  /** 7.39: allow shared mmap in FOPEN_DIRECT_IO mode. */
  DIRECT_IO_ALLOW_MMAP: 1n << 36n,
  /** 7.40: passthrough read/write. */
  PASSTHROUGH: 1n << 37n,
  /** 7.40: explicitly disable export support. */
  NO_EXPORT_SUPPORT: 1n << 38n,
  /** 7.40: kernel resends pending requests; the top bit of `unique` marks a resend. */
  HAS_RESEND: 1n << 39n,
  /** 7.41: allow idmapped mounts. */
  ALLOW_IDMAP: 1n << 40n,
  /** 7.42: io-uring transport. */
  OVER_IO_URING: 1n << 41n,
  /** 7.43: `fuse_init_out.request_timeout` is valid. */
  REQUEST_TIMEOUT: 1n << 42n,
} as const;
export type InitFlagName = keyof typeof InitFlag;

/** `flags | flags2 << 32` as one 64-bit set. `flags2` counts only when `flags` has INIT_EXT. */
export function combineInitFlags(flags: number, flags2: number): bigint {
  const low = BigInt(flags >>> 0);
  return (low & InitFlag.INIT_EXT) !== 0n ? low | (BigInt(flags2 >>> 0) << 32n) : low;
}

/** Splits a 64-bit INIT flag set into the `flags` and `flags2` words. */
export function splitInitFlags(all: bigint): { flags: number; flags2: number } {
  return { flags: Number(all & 0xffff_ffffn), flags2: Number((all >> 32n) & 0xffff_ffffn) };
}

/** Names of the INIT flags set in `all` (unknown bits as `bit<n>`), for logs. */
export function initFlagNames(all: bigint): string[] {
  const names: string[] = [];
  let rest = all;
  for (const [name, bit] of Object.entries(InitFlag)) {
    if ((all & bit) !== 0n) {
      names.push(name);
      rest &= ~bit;
    }
  }
  for (let i = 0n; rest !== 0n && i < 64n; i++) {
    if ((rest & (1n << i)) !== 0n) names.push(`bit${i}`);
    rest &= ~(1n << i);
  }
  return names;
}

/** CUSE INIT flag. */
export const CUSE_UNRESTRICTED_IOCTL = 1 << 0;

/** `fuse_open_out.open_flags`. */
export const FOpen = {
  /** Bypass the page cache for this open file. */
  DIRECT_IO: 1 << 0,
  /** Do not invalidate the data cache on open. */
  KEEP_CACHE: 1 << 1,
  /** The file is not seekable. */
  NONSEEKABLE: 1 << 2,
  /** Allow caching this directory. */
  CACHE_DIR: 1 << 3,
  /** The file is stream-like (no file position at all). */
  STREAM: 1 << 4,
  /** Do not flush the data cache on close (unless WRITEBACK_CACHE). */
  NOFLUSH: 1 << 5,
  /** Allow concurrent direct writes on the same inode. */
  PARALLEL_DIRECT_WRITES: 1 << 6,
  /** 7.40: passthrough read/write for this open file. */
  PASSTHROUGH: 1 << 7,
} as const;

/** `fuse_setattr_in.valid`: which fields to set. */
export const FAttr = {
  MODE: 1 << 0,
  UID: 1 << 1,
  GID: 1 << 2,
  SIZE: 1 << 3,
  ATIME: 1 << 4,
  MTIME: 1 << 5,
  FH: 1 << 6,
  ATIME_NOW: 1 << 7,
  MTIME_NOW: 1 << 8,
  LOCKOWNER: 1 << 9,
  CTIME: 1 << 10,
  KILL_SUIDGID: 1 << 11,
} as const;

/** `fuse_attr.flags`. */
export const AttrFlag = {
  /** The object is a submount root. */
  SUBMOUNT: 1 << 0,
  /** Enable DAX for this file in per-inode DAX mode. */
  DAX: 1 << 1,
} as const;

/** `fuse_open_in.open_flags` / `fuse_create_in.open_flags`. */
export const FUSE_OPEN_KILL_SUIDGID = 1 << 0;

/** `fuse_release_in.release_flags`. */
export const ReleaseFlag = {
  FLUSH: 1 << 0,
  FLOCK_UNLOCK: 1 << 1,
} as const;

/** `fuse_getattr_in.getattr_flags` / `fuse_statx_in.getattr_flags`: `fh` is valid. */
export const FUSE_GETATTR_FH = 1 << 0;

/** `fuse_lk_in.lk_flags`: a BSD flock rather than a POSIX lock. */
export const FUSE_LK_FLOCK = 1 << 0;

/** `fuse_write_in.write_flags`. */
export const WriteFlag = {
  /** Delayed write from the page cache; the file handle is guessed. */
  CACHE: 1 << 0,
  /** `lock_owner` is valid. */
  LOCKOWNER: 1 << 1,
  /** Kill suid and sgid bits (formerly KILL_PRIV). */
  KILL_SUIDGID: 1 << 2,
} as const;

/** `fuse_read_in.read_flags`: `lock_owner` is valid. */
export const FUSE_READ_LOCKOWNER = 1 << 1;

/** `fuse_ioctl_in.flags` / `fuse_ioctl_out.flags`. */
export const IoctlFlag = {
  /** 32-bit compat ioctl on a 64-bit machine. */
  COMPAT: 1 << 0,
  /** Not restricted to well-formed ioctls; retry allowed. */
  UNRESTRICTED: 1 << 1,
  /** Retry with new iovecs. */
  RETRY: 1 << 2,
  /** 32-bit ioctl. */
  BIT32: 1 << 3,
  /** The target is a directory. */
  DIR: 1 << 4,
  /** x32 compat ioctl on a 64-bit machine. */
  COMPAT_X32: 1 << 5,
} as const;
/** Maximum of in_iovs + out_iovs. */
export const FUSE_IOCTL_MAX_IOV = 256;

/** `fuse_poll_in.flags`: request a poll notification. */
export const FUSE_POLL_SCHEDULE_NOTIFY = 1 << 0;

/** `fuse_fsync_in.fsync_flags`: sync data only, not metadata. */
export const FUSE_FSYNC_FDATASYNC = 1 << 0;

/** `fuse_setxattr_in.setxattr_flags`: clear SGID when system.posix_acl_access is set. */
export const FUSE_SETXATTR_ACL_KILL_SGID = 1 << 0;

/** `fuse_notify_inval_entry_out.flags`: only expire the entry. */
export const FUSE_EXPIRE_ONLY = 1 << 0;

/** `fuse_setupmapping_in.flags` (u64). */
export const SetupMappingFlag = {
  WRITE: 1n << 0n,
  READ: 1n << 1n,
} as const;

/** Top bit of `fuse_in_header.unique`: the request is a resend (7.40, with HAS_RESEND). */
export const FUSE_UNIQUE_RESEND = 1n << 63n;
/** `fuse_in_header.uid/gid` when an idmapped mount cannot map the caller (7.41). */
export const FUSE_INVALID_UIDGID = 0xffff_ffff;

/** Extension types in the trailing extension area of a request (`enum fuse_ext_type`). */
export const ExtType = {
  /** Types 0..31 are a `fuse_secctx_header` whose second word is the number of contexts. */
  MAX_NR_SECCTX: 31,
  /** `fuse_supp_groups`. */
  GROUPS: 32,
} as const;

/** The read buffer of a FUSE device must be at least this large. */
export const FUSE_MIN_READ_BUFFER = 8192;
/** Maximum length of a CUSE device info string. */
export const CUSE_INIT_INFO_MAX = 4096;
/**
 * Longest name component the Linux client sends or accepts in a dirent
 * (kernel-internal `FUSE_NAME_MAX` of the 7.38 era, fs/fuse/fuse_i.h).
 */
export const FUSE_NAME_MAX = 1024;

/** Compat sizes of structs that grew: the size a peer of an older minor uses. */
export const FUSE_COMPAT_ENTRY_OUT_SIZE = 120;
export const FUSE_COMPAT_ATTR_OUT_SIZE = 96;
export const FUSE_COMPAT_MKNOD_IN_SIZE = 8;
export const FUSE_COMPAT_WRITE_IN_SIZE = 24;
export const FUSE_COMPAT_STATFS_SIZE = 48;
export const FUSE_COMPAT_SETXATTR_IN_SIZE = 8;
export const FUSE_COMPAT_INIT_OUT_SIZE = 8;
export const FUSE_COMPAT_22_INIT_OUT_SIZE = 24;
/** `fuse_init_in` before 7.36 (major, minor, max_readahead, flags). */
export const FUSE_COMPAT_INIT_IN_SIZE = 16;
/** `fuse_create_in` before 7.12 was a `fuse_open_in` of (flags, mode). */
export const FUSE_COMPAT_CREATE_IN_SIZE = 8;

/** Records in READDIR/READDIRPLUS replies are aligned to this many bytes. */
export const FUSE_REC_ALIGNMENT = 8;
/** `x` rounded up to the record alignment (`FUSE_REC_ALIGN`). */
export function fuseRecAlign(x: number): number {
  return (x + 7) & ~7;
}
/** `offsetof(struct fuse_dirent, name)`. */
export const FUSE_NAME_OFFSET = 24;
/** `offsetof(struct fuse_direntplus, dirent.name)`. */
export const FUSE_NAME_OFFSET_DIRENTPLUS = 152;

/** `fuse_dirent.type`: `(mode & S_IFMT) >> 12` (the DT_* values of dirent.h). */
export const DirentType = {
  UNKNOWN: 0,
  FIFO: 1,
  CHR: 2,
  DIR: 4,
  BLK: 6,
  REG: 8,
  LNK: 10,
  SOCK: 12,
  WHT: 14,
} as const;

/** File type and mode bits of `fuse_attr.mode` (Linux `stat.h`, octal). */
export const Mode = {
  S_IFMT: 0o170000,
  S_IFSOCK: 0o140000,
  S_IFLNK: 0o120000,
  S_IFREG: 0o100000,
  S_IFBLK: 0o060000,
  S_IFDIR: 0o040000,
  S_IFCHR: 0o020000,
  S_IFIFO: 0o010000,
  S_ISUID: 0o4000,
  S_ISGID: 0o2000,
  S_ISVTX: 0o1000,
} as const;

/** `fuse_rename2_in.flags` (Linux `renameat2`). */
export const RenameFlag = {
  NOREPLACE: 1 << 0,
  EXCHANGE: 1 << 1,
  WHITEOUT: 1 << 2,
} as const;

/** `fuse_setxattr_in.flags` (Linux `setxattr`). */
export const XattrFlag = {
  CREATE: 1,
  REPLACE: 2,
} as const;

/** `fuse_file_lock.type` (Linux `fcntl.h`, the generic values). */
export const LockType = {
  F_RDLCK: 0,
  F_WRLCK: 1,
  F_UNLCK: 2,
} as const;

/** `fuse_fallocate_in.mode` (Linux `falloc.h`). */
export const Falloc = {
  KEEP_SIZE: 0x01,
  PUNCH_HOLE: 0x02,
  NO_HIDE_STALE: 0x04,
  COLLAPSE_RANGE: 0x08,
  ZERO_RANGE: 0x10,
  INSERT_RANGE: 0x20,
  UNSHARE_RANGE: 0x40,
} as const;

/** `fuse_lseek_in.whence`. */
export const Whence = {
  SEEK_SET: 0,
  SEEK_CUR: 1,
  SEEK_END: 2,
  SEEK_DATA: 3,
  SEEK_HOLE: 4,
} as const;

/** `fuse_access_in.mask` (Linux `unistd.h`). */
export const AccessMask = {
  F_OK: 0,
  X_OK: 1,
  W_OK: 2,
  R_OK: 4,
} as const;

/**
 * `fuse_open_in.flags` / `fuse_create_in.flags`: the caller's open(2) flags,
 * passed through unchanged. These are the x86-64 / asm-generic values (the
 * ones virtio-fs guests on x86 send); arm and arm64 differ for DIRECTORY,
 * NOFOLLOW, DIRECT and LARGEFILE.
 */
export const OpenFlag = {
  O_ACCMODE: 0o3,
  O_RDONLY: 0o0,
  O_WRONLY: 0o1,
  O_RDWR: 0o2,
  O_CREAT: 0o100,
  O_EXCL: 0o200,
  O_NOCTTY: 0o400,
  O_TRUNC: 0o1000,
  O_APPEND: 0o2000,
  O_NONBLOCK: 0o4000,
  O_DSYNC: 0o10000,
  O_ASYNC: 0o20000,
  O_DIRECT: 0o40000,
  O_LARGEFILE: 0o100000,
  O_DIRECTORY: 0o200000,
  O_NOFOLLOW: 0o400000,
  O_NOATIME: 0o1000000,
  O_CLOEXEC: 0o2000000,
  O_SYNC: 0o4010000,
  O_PATH: 0o10000000,
  O_TMPFILE: 0o20200000,
} as const;

/** `fuse_statx_in.sx_mask` / `fuse_statx.mask` (Linux `stat.h` STATX_*). */
export const StatxMask = {
  TYPE: 0x1,
  MODE: 0x2,
  NLINK: 0x4,
  UID: 0x8,
  GID: 0x10,
  ATIME: 0x20,
  MTIME: 0x40,
  CTIME: 0x80,
  INO: 0x100,
  SIZE: 0x200,
  BLOCKS: 0x400,
  BASIC_STATS: 0x7ff,
  BTIME: 0x800,
  MNT_ID: 0x1000,
  DIOALIGN: 0x2000,
} as const;

/** `fuse_statx_in.sx_flags`: the AT_STATX_* sync modes (Linux `fcntl.h`). */
export const StatxSync = {
  AT_STATX_SYNC_TYPE: 0x6000,
  AT_STATX_SYNC_AS_STAT: 0x0000,
  AT_STATX_FORCE_SYNC: 0x2000,
  AT_STATX_DONT_SYNC: 0x4000,
} as const;
