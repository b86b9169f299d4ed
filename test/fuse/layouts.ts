/**
 * Test-side facts: every FUSE struct's C offsets, written out by hand from
 * `include/uapi/linux/fuse.h` (independently of the sequential field tables in
 * src/fuse/structs.ts), and helpers that build a value with distinct field
 * values together with the bytes the C layout gives it.
 */

export type Kind = "u8" | "u16" | "u32" | "i32" | "u64" | "i64";
/** [offset, kind, field path ("attr.ino" for nested)] */
export type Field = readonly [number, Kind, string];

export interface Layout {
  size: number;
  fields: readonly Field[];
}

function nest(prefix: string, base: number, l: Layout): Field[] {
  return l.fields.map(([off, kind, path]) => [base + off, kind, `${prefix}.${path}`] as const);
}

const attr: Layout = {
  size: 88,
  fields: [
    [0, "u64", "ino"],
    [8, "u64", "size"],
    [16, "u64", "blocks"],
    [24, "u64", "atime"],
    [32, "u64", "mtime"],
    [40, "u64", "ctime"],
    [48, "u32", "atimensec"],
    [52, "u32", "mtimensec"],
    [56, "u32", "ctimensec"],
    [60, "u32", "mode"],
    [64, "u32", "nlink"],
    [68, "u32", "uid"],
    [72, "u32", "gid"],
    [76, "u32", "rdev"],
    [80, "u32", "blksize"],
    [84, "u32", "flags"],
  ],
};

const sxTime: Layout = { size: 16, fields: [[0, "i64", "tvSec"], [8, "u32", "tvNsec"]] };

const statx: Layout = {
  size: 256,
  fields: [
    [0, "u32", "mask"],
    [4, "u32", "blksize"],
    [8, "u64", "attributes"],
    [16, "u32", "nlink"],
    [20, "u32", "uid"],
    [24, "u32", "gid"],
    [28, "u16", "mode"],
    [32, "u64", "ino"],
    [40, "u64", "size"],
    [48, "u64", "blocks"],
    [56, "u64", "attributesMask"],
    ...nest("atime", 64, sxTime),
    ...nest("btime", 80, sxTime),
    ...nest("ctime", 96, sxTime),
    ...nest("mtime", 112, sxTime),
    [128, "u32", "rdevMajor"],
    [132, "u32", "rdevMinor"],
    [136, "u32", "devMajor"],
    [140, "u32", "devMinor"],
  ],
};

const kstatfs: Layout = {
  size: 80,
  fields: [
    [0, "u64", "blocks"],
    [8, "u64", "bfree"],
    [16, "u64", "bavail"],
    [24, "u64", "files"],
    [32, "u64", "ffree"],
    [40, "u32", "bsize"],
    [44, "u32", "namelen"],
    [48, "u32", "frsize"],
  ],
};

const fileLock: Layout = {
  size: 24,
  fields: [
    [0, "u64", "start"],
    [8, "u64", "end"],
    [16, "u32", "type"],
    [20, "u32", "pid"],
  ],
};

const entryOut: Layout = {
  size: 128,
  fields: [
    [0, "u64", "nodeid"],
    [8, "u64", "generation"],
    [16, "u64", "entryValid"],
    [24, "u64", "attrValid"],
    [32, "u32", "entryValidNsec"],
    [36, "u32", "attrValidNsec"],
    ...nest("attr", 40, attr),
  ],
};

const readWrite = (flagName: string): Layout => ({
  size: 40,
  fields: [
    [0, "u64", "fh"],
    [8, "u64", "offset"],
    [16, "u32", "size"],
    [20, "u32", flagName],
    [24, "u64", "lockOwner"],
    [32, "u32", "flags"],
  ],
});

/** Keyed by the export name in src/fuse/structs.ts; `c` is the C struct name. */
export const LAYOUTS: Record<string, Layout & { c: string }> = {
  InHeader: {
    c: "fuse_in_header",
    size: 40,
    fields: [
      [0, "u32", "len"],
      [4, "u32", "opcode"],
      [8, "u64", "unique"],
      [16, "u64", "nodeid"],
      [24, "u32", "uid"],
      [28, "u32", "gid"],
      [32, "u32", "pid"],
      [36, "u16", "totalExtlen"],
    ],
  },
  OutHeader: {
    c: "fuse_out_header",
    size: 16,
    fields: [
      [0, "u32", "len"],
      [4, "i32", "error"],
      [8, "u64", "unique"],
    ],
  },
  Attr: { c: "fuse_attr", ...attr },
  SxTime: { c: "fuse_sx_time", ...sxTime },
  Statx: { c: "fuse_statx", ...statx },
  Kstatfs: { c: "fuse_kstatfs", ...kstatfs },
  FileLock: { c: "fuse_file_lock", ...fileLock },
  EntryOut: { c: "fuse_entry_out", ...entryOut },
  ForgetIn: { c: "fuse_forget_in", size: 8, fields: [[0, "u64", "nlookup"]] },
  ForgetOne: { c: "fuse_forget_one", size: 16, fields: [[0, "u64", "nodeid"], [8, "u64", "nlookup"]] },
  BatchForgetIn: { c: "fuse_batch_forget_in", size: 8, fields: [[0, "u32", "count"]] },
  GetattrIn: { c: "fuse_getattr_in", size: 16, fields: [[0, "u32", "getattrFlags"], [8, "u64", "fh"]] },
  AttrOut: {
    c: "fuse_attr_out",
    size: 104,
    fields: [[0, "u64", "attrValid"], [8, "u32", "attrValidNsec"], ...nest("attr", 16, attr)],
  },
  StatxIn: {
    c: "fuse_statx_in",
    size: 24,
    fields: [
      [0, "u32", "getattrFlags"],
      [8, "u64", "fh"],
      [16, "u32", "sxFlags"],
      [20, "u32", "sxMask"],
    ],
  },
  StatxOut: {
    c: "fuse_statx_out",
    size: 288,
    fields: [[0, "u64", "attrValid"], [8, "u32", "attrValidNsec"], [12, "u32", "flags"], ...nest("stat", 32, statx)],
  },
  MknodIn: {
    c: "fuse_mknod_in",
    size: 16,
    fields: [
      [0, "u32", "mode"],
      [4, "u32", "rdev"],
      [8, "u32", "umask"],
    ],
  },
  MkdirIn: { c: "fuse_mkdir_in", size: 8, fields: [[0, "u32", "mode"], [4, "u32", "umask"]] },
  RenameIn: { c: "fuse_rename_in", size: 8, fields: [[0, "u64", "newdir"]] },
  Rename2In: { c: "fuse_rename2_in", size: 16, fields: [[0, "u64", "newdir"], [8, "u32", "flags"]] },
  LinkIn: { c: "fuse_link_in", size: 8, fields: [[0, "u64", "oldnodeid"]] },
  SetattrIn: {
    c: "fuse_setattr_in",
    size: 88,
    fields: [
      [0, "u32", "valid"],
      [8, "u64", "fh"],
      [16, "u64", "size"],
      [24, "u64", "lockOwner"],
      [32, "u64", "atime"],
      [40, "u64", "mtime"],
      [48, "u64", "ctime"],
      [56, "u32", "atimensec"],
      [60, "u32", "mtimensec"],
      [64, "u32", "ctimensec"],
      [68, "u32", "mode"],
      [76, "u32", "uid"],
      [80, "u32", "gid"],
    ],
  },
  OpenIn: { c: "fuse_open_in", size: 8, fields: [[0, "u32", "flags"], [4, "u32", "openFlags"]] },
  CreateIn: {
    c: "fuse_create_in",
    size: 16,
    fields: [
      [0, "u32", "flags"],
      [4, "u32", "mode"],
      [8, "u32", "umask"],
      [12, "u32", "openFlags"],
    ],
  },
  OpenOut: {
    c: "fuse_open_out",
    size: 16,
    fields: [
      [0, "u64", "fh"],
      [8, "u32", "openFlags"],
      [12, "i32", "backingId"],
    ],
  },
  ReleaseIn: {
    c: "fuse_release_in",
    size: 24,
    fields: [
      [0, "u64", "fh"],
      [8, "u32", "flags"],
      [12, "u32", "releaseFlags"],
      [16, "u64", "lockOwner"],
    ],
  },
  FlushIn: { c: "fuse_flush_in", size: 24, fields: [[0, "u64", "fh"], [16, "u64", "lockOwner"]] },
  ReadIn: { c: "fuse_read_in", ...readWrite("readFlags") },
  WriteIn: { c: "fuse_write_in", ...readWrite("writeFlags") },
  WriteOut: { c: "fuse_write_out", size: 8, fields: [[0, "u32", "size"]] },
  StatfsOut: { c: "fuse_statfs_out", size: 80, fields: nest("st", 0, kstatfs) },
  FsyncIn: { c: "fuse_fsync_in", size: 16, fields: [[0, "u64", "fh"], [8, "u32", "fsyncFlags"]] },
  SetxattrIn: {
    c: "fuse_setxattr_in",
    size: 16,
    fields: [
      [0, "u32", "size"],
      [4, "u32", "flags"],
      [8, "u32", "setxattrFlags"],
    ],
  },
  GetxattrIn: { c: "fuse_getxattr_in", size: 8, fields: [[0, "u32", "size"]] },
  GetxattrOut: { c: "fuse_getxattr_out", size: 8, fields: [[0, "u32", "size"]] },
  LkIn: {
    c: "fuse_lk_in",
    size: 48,
    fields: [[0, "u64", "fh"], [8, "u64", "owner"], ...nest("lk", 16, fileLock), [40, "u32", "lkFlags"]],
  },
  LkOut: { c: "fuse_lk_out", size: 24, fields: nest("lk", 0, fileLock) },
  AccessIn: { c: "fuse_access_in", size: 8, fields: [[0, "u32", "mask"]] },
  InitIn: {
    c: "fuse_init_in",
    size: 64,
    fields: [
      [0, "u32", "major"],
      [4, "u32", "minor"],
      [8, "u32", "maxReadahead"],
      [12, "u32", "flags"],
      [16, "u32", "flags2"],
    ],
  },
  InitOut: {
    c: "fuse_init_out",
    size: 64,
    fields: [
      [0, "u32", "major"],
      [4, "u32", "minor"],
      [8, "u32", "maxReadahead"],
      [12, "u32", "flags"],
      [16, "u16", "maxBackground"],
      [18, "u16", "congestionThreshold"],
      [20, "u32", "maxWrite"],
      [24, "u32", "timeGran"],
      [28, "u16", "maxPages"],
      [30, "u16", "mapAlignment"],
      [32, "u32", "flags2"],
      [36, "u32", "maxStackDepth"],
      [40, "u16", "requestTimeout"],
    ],
  },
  InterruptIn: { c: "fuse_interrupt_in", size: 8, fields: [[0, "u64", "unique"]] },
  BmapIn: { c: "fuse_bmap_in", size: 16, fields: [[0, "u64", "block"], [8, "u32", "blocksize"]] },
  BmapOut: { c: "fuse_bmap_out", size: 8, fields: [[0, "u64", "block"]] },
  IoctlIn: {
    c: "fuse_ioctl_in",
    size: 32,
    fields: [
      [0, "u64", "fh"],
      [8, "u32", "flags"],
      [12, "u32", "cmd"],
      [16, "u64", "arg"],
      [24, "u32", "inSize"],
      [28, "u32", "outSize"],
    ],
  },
  IoctlIovec: { c: "fuse_ioctl_iovec", size: 16, fields: [[0, "u64", "base"], [8, "u64", "len"]] },
  IoctlOut: {
    c: "fuse_ioctl_out",
    size: 16,
    fields: [
      [0, "i32", "result"],
      [4, "u32", "flags"],
      [8, "u32", "inIovs"],
      [12, "u32", "outIovs"],
    ],
  },
  PollIn: {
    c: "fuse_poll_in",
    size: 24,
    fields: [
      [0, "u64", "fh"],
      [8, "u64", "kh"],
      [16, "u32", "flags"],
      [20, "u32", "events"],
    ],
  },
  PollOut: { c: "fuse_poll_out", size: 8, fields: [[0, "u32", "revents"]] },
  FallocateIn: {
    c: "fuse_fallocate_in",
    size: 32,
    fields: [
      [0, "u64", "fh"],
      [8, "u64", "offset"],
      [16, "u64", "length"],
      [24, "u32", "mode"],
    ],
  },
  LseekIn: {
    c: "fuse_lseek_in",
    size: 24,
    fields: [
      [0, "u64", "fh"],
      [8, "u64", "offset"],
      [16, "u32", "whence"],
    ],
  },
  LseekOut: { c: "fuse_lseek_out", size: 8, fields: [[0, "u64", "offset"]] },
  CopyFileRangeIn: {
    c: "fuse_copy_file_range_in",
    size: 56,
    fields: [
      [0, "u64", "fhIn"],
      [8, "u64", "offIn"],
      [16, "u64", "nodeidOut"],
      [24, "u64", "fhOut"],
      [32, "u64", "offOut"],
      [40, "u64", "len"],
      [48, "u64", "flags"],
    ],
  },
  SetupmappingIn: {
    c: "fuse_setupmapping_in",
    size: 40,
    fields: [
      [0, "u64", "fh"],
      [8, "u64", "foffset"],
      [16, "u64", "len"],
      [24, "u64", "flags"],
      [32, "u64", "moffset"],
    ],
  },
  RemovemappingIn: { c: "fuse_removemapping_in", size: 4, fields: [[0, "u32", "count"]] },
  RemovemappingOne: { c: "fuse_removemapping_one", size: 16, fields: [[0, "u64", "moffset"], [8, "u64", "len"]] },
  SyncfsIn: { c: "fuse_syncfs_in", size: 8, fields: [] },
  DirentHeader: {
    c: "fuse_dirent",
    size: 24,
    fields: [
      [0, "u64", "ino"],
      [8, "u64", "off"],
      [16, "u32", "namelen"],
      [20, "u32", "type"],
    ],
  },
  NotifyPollWakeupOut: { c: "fuse_notify_poll_wakeup_out", size: 8, fields: [[0, "u64", "kh"]] },
  NotifyInvalInodeOut: {
    c: "fuse_notify_inval_inode_out",
    size: 24,
    fields: [
      [0, "u64", "ino"],
      [8, "i64", "off"],
      [16, "i64", "len"],
    ],
  },
  NotifyInvalEntryOut: {
    c: "fuse_notify_inval_entry_out",
    size: 16,
    fields: [
      [0, "u64", "parent"],
      [8, "u32", "namelen"],
      [12, "u32", "flags"],
    ],
  },
  NotifyDeleteOut: {
    c: "fuse_notify_delete_out",
    size: 24,
    fields: [
      [0, "u64", "parent"],
      [8, "u64", "child"],
      [16, "u32", "namelen"],
    ],
  },
  NotifyStoreOut: {
    c: "fuse_notify_store_out",
    size: 24,
    fields: [
      [0, "u64", "nodeid"],
      [8, "u64", "offset"],
      [16, "u32", "size"],
    ],
  },
  NotifyRetrieveOut: {
    c: "fuse_notify_retrieve_out",
    size: 32,
    fields: [
      [0, "u64", "notifyUnique"],
      [8, "u64", "nodeid"],
      [16, "u64", "offset"],
      [24, "u32", "size"],
    ],
  },
  NotifyRetrieveIn: { c: "fuse_notify_retrieve_in", size: 40, fields: [[8, "u64", "offset"], [16, "u32", "size"]] },
  ExtHeader: { c: "fuse_ext_header", size: 8, fields: [[0, "u32", "size"], [4, "u32", "type"]] },
  Secctx: { c: "fuse_secctx", size: 8, fields: [[0, "u32", "size"]] },
};

/** Writes `v` at `off` in `view`, little-endian. */
export function put(view: DataView, off: number, kind: Kind, v: number | bigint): void {
  switch (kind) {
    case "u8":
      view.setUint8(off, v as number);
      break;
    case "u16":
      view.setUint16(off, v as number, true);
      break;
    case "u32":
      view.setUint32(off, v as number, true);
      break;
    case "i32":
      view.setInt32(off, v as number, true);
      break;
    case "u64":
      view.setBigUint64(off, v as bigint, true);
      break;
    case "i64":
      view.setBigInt64(off, v as bigint, true);
      break;
  }
}

/** Distinct values per field: every byte of a u64/u32 set, low byte unique per field, so a misplaced or byte-swapped field shows. */
export class Gen {
  private k: number;
  constructor(seed = 1) {
    this.k = seed;
  }
  next(kind: Kind): number | bigint {
    const k = this.k++ & 0x7f;
    switch (kind) {
      case "u8":
        return 0x80 + k;
      case "u16":
        return 0xa100 + k;
      case "u32":
        return 0xc1d2e300 + k;
      case "i32":
        return -(0x1020300 + k);
      case "u64":
        return 0xf1e2d3c4b5a69700n + BigInt(k);
      case "i64":
        return -(0x0102030405060700n + BigInt(k));
    }
  }
}

function setPath(obj: Record<string, unknown>, path: string, v: unknown): void {
  const parts = path.split(".");
  let o = obj;
  for (const p of parts.slice(0, -1)) {
    o[p] ??= {};
    o = o[p] as Record<string, unknown>;
  }
  o[parts[parts.length - 1]!] = v;
}

function getPath(obj: Record<string, unknown>, path: string): unknown {
  return path.split(".").reduce<unknown>((o, p) => (o as Record<string, unknown>)[p], obj);
}

/**
 * A value of struct `name` with distinct field values (some overridden) and
 * the bytes its C layout gives: the value is built from the layout's field
 * list, the bytes by writing each field at its C offset.
 */
export function sample<T>(name: string, overrides: Record<string, number | bigint> = {}, seed = 1): { value: T; bytes: Uint8Array } {
  const layout = LAYOUTS[name];
  if (!layout) throw new Error(`no layout ${name}`);
  const gen = new Gen(seed);
  const value: Record<string, unknown> = {};
  for (const [, kind, path] of layout.fields) setPath(value, path, overrides[path] ?? gen.next(kind));
  return { value: value as T, bytes: layoutBytes(name, value) };
}

/** The bytes of `value` in struct `name`'s C layout (padding zero). */
export function layoutBytes(name: string, value: object): Uint8Array {
  const layout = LAYOUTS[name]!;
  const bytes = new Uint8Array(layout.size);
  const view = new DataView(bytes.buffer);
  for (const [off, kind, path] of layout.fields) put(view, off, kind, getPath(value as Record<string, unknown>, path) as number | bigint);
  return bytes;
}

// Sequential byte builders for whole messages.

export function cat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}
export function u16(v: number): Uint8Array {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, v, true);
  return b;
}
export function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
}
export function i32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, v, true);
  return b;
}
export function u64(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  return b;
}
export function zeros(n: number): Uint8Array {
  return new Uint8Array(n);
}
/** A name's bytes plus NUL. */
export function cstr(s: string | Uint8Array): Uint8Array {
  return cat(typeof s === "string" ? Buffer.from(s, "latin1") : s, zeros(1));
}
export function raw(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, "latin1"));
}
