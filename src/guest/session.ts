/**
 * A FUSE client session over a {@link FuseTransport}: the guest side of
 * virtio-fs in user space. It negotiates INIT, then offers one typed async
 * method per opcode, with request ids, errno errors, per-call timeouts and
 * cancellation (INTERRUPT on the hiprio queue), lookup-count bookkeeping with
 * batched forgets, and reads and writes split to what the server accepts.
 *
 * Contracts:
 * - A reply with an error is an {@link ErrnoError} whose `syscall` is the
 *   opcode (`FUSE_LOOKUP`) and whose `path` is the name involved, if any. A
 *   malformed reply is a {@link ProtocolError}. A gone transport is ENOTCONN.
 * - References: every method that returns an entry (lookup, mknod, mkdir,
 *   symlink, link, create, tmpfile, and each readdirplus entry with a
 *   non-zero nodeid) hands the caller one reference to that node. The caller
 *   gives it back with {@link FuseSession.forget}; when a node's references
 *   are all given back, the session forgets its whole lookup count with the
 *   server (BATCH_FORGET, batched; a batch of one as FORGET). The root
 *   (nodeid 1) is usable without a lookup; replies that name it are counted
 *   and forgotten like any other.
 * - Cancellation: when `signal` aborts or `timeoutMs` passes, the call
 *   rejects at once (EINTR or ETIMEDOUT) and, with `interrupts` on, the
 *   session sends INTERRUPT for the request on the hiprio queue. The
 *   request's buffers stay with the device until it answers; if that late
 *   answer succeeded, the session undoes what nobody will see: it forgets the
 *   entries and releases the opened handles.
 * - {@link FuseSession.request} sends raw bytes and does no bookkeeping.
 */
import { ErrnoError, ProtocolError, ProtocolErrorCode } from "../common/errors.js";
import { Errno } from "../common/errno.js";
import {
  FUSE_FSYNC_FDATASYNC,
  FUSE_GETATTR_FH,
  FUSE_KERNEL_MINOR_VERSION,
  FUSE_KERNEL_VERSION,
  FUSE_LK_FLOCK,
  FUSE_READ_LOCKOWNER,
  FUSE_ROOT_ID,
  FAttr,
  InitFlag,
  OpenFlag,
  Opcode,
  ReleaseFlag,
  StatxMask,
  WriteFlag,
  combineInitFlags,
  opcodeName,
  splitInitFlags,
} from "../fuse/abi.js";
import { decodeDirentplus, decodeDirents, type Dirent, type Direntplus } from "../fuse/dirent.js";
import {
  DEFAULT_WIRE_OPTIONS,
  decodeOutHeader,
  decodeReply,
  encodeRequest,
  wireOptions,
  type CreateOut,
  type IoctlReply,
  type ReplyBodyMap,
  type ReplyOpcode,
  type Request,
  type RequestBodyMap,
  type RequestOf,
  type RequestOpcode,
  type WireOptions,
} from "../fuse/messages.js";
import {
  AttrOut,
  BmapOut,
  EntryOut,
  GetxattrOut,
  InHeader,
  InitOut,
  LkOut,
  LseekOut,
  OpenOut,
  OutHeader,
  PollOut,
  StatfsOut,
  StatxOut,
  WriteOut,
  IoctlOut,
  type FileLock,
  type ForgetOne,
  type Kstatfs,
} from "../fuse/structs.js";
import { ForgetBatcher, LookupTable } from "./session-lookups.js";
import type { FuseTransport, QueueKind } from "./transport.js";

/** The oldest protocol minor the session works with (virtio-win speaks 7.31). */
export const MIN_SERVER_MINOR = 31;

/** INIT flags offered by default: what a user-space client can honour without a page cache. */
export const DEFAULT_INIT_FLAGS: bigint =
  InitFlag.ASYNC_READ |
  InitFlag.POSIX_LOCKS |
  InitFlag.ATOMIC_O_TRUNC |
  InitFlag.EXPORT_SUPPORT |
  InitFlag.BIG_WRITES |
  InitFlag.DONT_MASK |
  InitFlag.FLOCK_LOCKS |
  InitFlag.DO_READDIRPLUS |
  InitFlag.READDIRPLUS_AUTO |
  InitFlag.ASYNC_DIO |
  InitFlag.PARALLEL_DIROPS |
  InitFlag.MAX_PAGES |
  InitFlag.SETXATTR_EXT |
  InitFlag.INIT_EXT;

/** Pages per request when the server does not negotiate MAX_PAGES (Linux FUSE_DEFAULT_MAX_PAGES_PER_REQ). */
const DEFAULT_MAX_PAGES = 32;
const PAGE_SIZE = 4096;
/** Largest xattr value or list (Linux XATTR_SIZE_MAX / XATTR_LIST_MAX). */
const XATTR_MAX = 65536;
/** Room for a READLINK answer (PATH_MAX). */
const PATH_MAX = 4096;
/** Bit set in the unique of an INTERRUPT (Linux FUSE_INT_REQ_BIT). */
const INTERRUPT_BIT = 1n;
const OUT = OutHeader.SIZE;

/** Per-call options. */
export interface CallOptions {
  /** Aborting rejects the call with EINTR (and sends INTERRUPT when the session's `interrupts` is on). */
  readonly signal?: AbortSignal;
  /** Milliseconds before the call rejects with ETIMEDOUT, like an abort (0: never). Default: the session's. */
  readonly timeoutMs?: number;
  /** Credentials for the request header. Default: the session's. */
  readonly uid?: number;
  readonly gid?: number;
  readonly pid?: number;
}

export interface SessionOptions {
  /** Credentials put in request headers (default: this process's). */
  readonly uid?: number;
  readonly gid?: number;
  readonly pid?: number;
  /** INIT flags offered (default {@link DEFAULT_INIT_FLAGS}); what is used is these ∩ the server's answer. */
  readonly initFlags?: bigint;
  /** `fuse_init_in.max_readahead` (default 128 KiB). */
  readonly maxReadahead?: number;
  /** Default timeout of every call, ms (default 0: none). */
  readonly timeoutMs?: number;
  /** Timeout of INIT, ms (default 10000). */
  readonly initTimeoutMs?: number;
  /** Forgets per BATCH_FORGET (default 256; a batch of one goes as FORGET). */
  readonly forgetBatchSize?: number;
  /** How long a partial forget batch waits, ms (default 10). */
  readonly forgetDelayMs?: number;
  /** Buffer size of READDIR/READDIRPLUS requests (default 32 KiB). */
  readonly readdirSize?: number;
  /**
   * Send INTERRUPT for cancelled calls (default false). Off by default
   * because the Linux virtio-fs driver never sends it and servers differ:
   * Rust virtiofsd ignores it, and QEMU 7.2's C virtiofsd dies on the next
   * request after an INTERRUPT for a request it had already answered (its
   * libfuse code answers the stale INTERRUPT EAGAIN through a freed queue
   * element), a race no client can avoid. Turn it on for servers that honour
   * it, such as `viofs serve`.
   */
  readonly interrupts?: boolean;
}

/** What INIT established. */
export interface SessionInfo {
  /** The server's answer, as received. */
  readonly init: InitOut;
  /** The minor both sides speak: min(ours, the server's). */
  readonly minor: number;
  /** INIT flags in effect: offered ∩ answered. */
  readonly flags: bigint;
  /** Largest WRITE payload sent in one request. */
  readonly maxWrite: number;
  /** Largest READ asked for in one request. */
  readonly maxRead: number;
  /** Pages per request (`max_pages`, or 32 without MAX_PAGES). */
  readonly maxPages: number;
}

/** A time for SETATTR: seconds and nanoseconds, or the server's "now". */
export type SetTime = { readonly sec: bigint; readonly nsec: number } | "now";

/** What SETATTR changes; unset fields are left alone. */
export interface SetattrChanges {
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly size?: bigint | number;
  readonly atime?: SetTime;
  readonly mtime?: SetTime;
  readonly ctime?: { readonly sec: bigint; readonly nsec: number };
  /** The open handle the change is made through (ftruncate, futimens). */
  readonly fh?: bigint;
  readonly lockOwner?: bigint;
  /** Clear setuid/setgid (FATTR_KILL_SUIDGID). */
  readonly killSuidgid?: boolean;
}

/** A raw reply from {@link FuseSession.request}. */
export interface RawReply {
  readonly unique: bigint;
  /** The positive errno, or 0. */
  readonly errno: number;
  /** The reply body after `fuse_out_header`. */
  readonly body: Uint8Array;
}

/** What a reply does to the session: count it, and undo it if nobody is waiting any more. */
interface Effects<B> {
  account?(body: B): void;
  orphan?(body: B): void;
}

type Body<O extends ReplyOpcode> = ReplyBodyMap[O];
type Name = string | Uint8Array;

function nameBytes(name: Name): Buffer {
  if (typeof name === "string") return Buffer.from(name, "utf8");
  return Buffer.isBuffer(name) ? name : Buffer.from(name.buffer, name.byteOffset, name.byteLength);
}

function display(name: Name): string {
  return typeof name === "string" ? name : Buffer.from(name.buffer, name.byteOffset, name.byteLength).toString("utf8");
}

function timeFields(t: SetTime | undefined): { sec: bigint; nsec: number } {
  return t === undefined || t === "now" ? { sec: 0n, nsec: 0 } : t;
}

/** A FUSE session with one server. Create it with {@link FuseSession.init}. */
export class FuseSession {
  /** What INIT established. */
  readonly info: SessionInfo;
  /** Node references handed out and not yet given back. */
  private readonly lookups = new LookupTable();
  private readonly forgets: ForgetBatcher;
  private readonly appendHandles = new Set<bigint>();
  private readonly wire: WireOptions;
  private readonly uid: number;
  private readonly gid: number;
  private readonly pid: number;
  private readonly timeoutMs: number;
  private readonly readdirSize: number;
  private readonly sendInterrupts: boolean;
  private nextUnique: bigint;
  private interrupts = 0;
  private destroyed = false;

  private readonly entryEffects: Effects<EntryOut>;
  /** For the entries of MKNOD, MKDIR, SYMLINK and LINK: as entryEffects, but nodeid 0 is malformed. */
  private readonly newEntryEffects: Effects<EntryOut>;
  private readonly createEffects: Effects<CreateOut>;
  /** Gives back the lookups of a READDIRPLUS reply nobody waits for any more. */
  private readonly forgetPlusReply: (bytes: Uint8Array) => void;

  private constructor(
    readonly transport: FuseTransport,
    info: SessionInfo,
    options: SessionOptions,
    nextUnique: bigint,
  ) {
    this.info = info;
    this.wire = wireOptions(info.minor, info.flags);
    this.uid = options.uid ?? process.getuid?.() ?? 0;
    this.gid = options.gid ?? process.getgid?.() ?? 0;
    this.pid = options.pid ?? process.pid;
    this.timeoutMs = options.timeoutMs ?? 0;
    this.readdirSize = options.readdirSize ?? 32768;
    this.sendInterrupts = options.interrupts ?? false;
    this.nextUnique = nextUnique;
    this.forgets = new ForgetBatcher({
      batchSize: options.forgetBatchSize ?? 256,
      delayMs: options.forgetDelayMs ?? 10,
      send: (batch) => this.sendForgets(batch),
    });
    const forgetEntry = (nodeid: bigint): void => {
      if (nodeid !== 0n) this.forget(nodeid);
    };
    this.entryEffects = {
      account: (e) => this.lookups.add(e.nodeid),
      orphan: (e) => forgetEntry(e.nodeid),
    };
    // Only LOOKUP may answer nodeid 0 (a negative entry); a new object without a
    // nodeid is a malformed reply (Linux: invalid_nodeid() in create_new_entry gives EIO).
    const mustHaveNodeid = (e: EntryOut): void => {
      if (e.nodeid === 0n) throw new ProtocolError(ProtocolErrorCode.VALUE, "a new entry with nodeid 0");
    };
    this.newEntryEffects = {
      account: (e) => {
        mustHaveNodeid(e);
        this.lookups.add(e.nodeid);
      },
      orphan: (e) => forgetEntry(e.nodeid),
    };
    this.createEffects = {
      account: (c) => {
        mustHaveNodeid(c.entry);
        this.lookups.add(c.entry.nodeid);
      },
      orphan: (c) => {
        forgetEntry(c.entry.nodeid);
        void this.release(c.entry.nodeid, c.open.fh).catch(() => undefined);
      },
    };
    this.forgetPlusReply = (bytes) => {
      for (const e of decodeDirentplus(bytes)) forgetEntry(e.entry.nodeid);
    };
    void transport.closed.then(() => {
      this.forgets.discard();
      this.lookups.clear();
    });
  }

  /**
   * Opens a session: sends INIT (protocol 7.38, `options.initFlags`) and
   * checks the answer. Rejects with a ProtocolError VALUE when the server
   * speaks another major or a minor older than {@link MIN_SERVER_MINOR}, and
   * with the transport's error when it fails.
   */
  static async init(transport: FuseTransport, options: SessionOptions = {}): Promise<FuseSession> {
    const offered = options.initFlags ?? DEFAULT_INIT_FLAGS;
    const { flags, flags2 } = splitInitFlags(offered);
    const unique = 2n;
    const req: RequestOf<typeof Opcode.INIT> = {
      opcode: Opcode.INIT,
      header: { unique, nodeid: 0n, uid: options.uid ?? process.getuid?.() ?? 0, gid: options.gid ?? process.getgid?.() ?? 0, pid: options.pid ?? process.pid },
      arg: {
        major: FUSE_KERNEL_VERSION,
        minor: FUSE_KERNEL_MINOR_VERSION,
        maxReadahead: options.maxReadahead ?? 131072,
        flags,
        flags2,
      },
    };
    const timeoutMs = options.initTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ErrnoError(Errno.ETIMEDOUT, "FUSE_INIT")), timeoutMs);
    });
    let bytes: Uint8Array;
    try {
      bytes = await Promise.race([transport.submit(encodeRequest(req, DEFAULT_WIRE_OPTIONS), OUT + InitOut.SIZE), timeout]);
    } finally {
      clearTimeout(timer);
    }
    const reply = decodeReply(req, bytes, DEFAULT_WIRE_OPTIONS);
    if (!reply.ok) throw new ErrnoError(reply.errno, "FUSE_INIT");
    const init = reply.body;
    if (init.major !== FUSE_KERNEL_VERSION) {
      throw new ProtocolError(ProtocolErrorCode.VALUE, `FUSE server speaks protocol ${init.major}.${init.minor}; this client needs 7.${MIN_SERVER_MINOR} or later`);
    }
    if (init.minor < MIN_SERVER_MINOR) {
      throw new ProtocolError(ProtocolErrorCode.VALUE, `FUSE server speaks protocol 7.${init.minor}; this client needs 7.${MIN_SERVER_MINOR} or later`);
    }
    const minor = Math.min(init.minor, FUSE_KERNEL_MINOR_VERSION);
    const agreed = offered & combineInitFlags(init.flags, init.flags2);
    const maxPages = (agreed & InitFlag.MAX_PAGES) !== 0n ? Math.max(1, init.maxPages) : DEFAULT_MAX_PAGES;
    const pageBytes = maxPages * PAGE_SIZE;
    const bigWrites = (agreed & InitFlag.BIG_WRITES) !== 0n;
    // Room for the largest request header in front of WRITE data (fuse_in_header + fuse_write_in).
    const writeOverhead = InHeader.SIZE + 40;
    const maxWrite = Math.max(
      1,
      Math.min(bigWrites ? Math.max(PAGE_SIZE, init.maxWrite) : PAGE_SIZE, pageBytes, transport.maxRequestSize - writeOverhead),
    );
    const maxRead = Math.max(1, Math.min(pageBytes, transport.maxReplySize - OUT));
    return new FuseSession(transport, { init, minor, flags: agreed, maxWrite, maxRead, maxPages }, options, unique + 2n);
  }

  // ─── Session state ──────────────────────────────────────────────────────

  /** Resolves with the reason when the transport ends. */
  get closed(): Promise<Error> {
    return this.transport.closed;
  }

  /** References held to `nodeid` through this session (0 when none). */
  lookupCount(nodeid: bigint): number {
    return this.lookups.count(nodeid);
  }

  /** Nodes this session holds references to. */
  get trackedNodes(): number {
    return this.lookups.size;
  }

  /** Forget, interrupt and batch counters, for tests and statistics. */
  get stats(): { forgetEntries: number; forgetBatches: number; pendingForgets: number; interrupts: number } {
    const sent = this.forgets.sent;
    return { forgetEntries: sent.entries, forgetBatches: sent.batches, pendingForgets: this.forgets.pendingCount, interrupts: this.interrupts };
  }

  /**
   * Gives back `count` references to `nodeid` (see the module contract).
   * When the node has none left, its lookup count is queued for BATCH_FORGET (FORGET when alone).
   * Giving back more than is held is a RangeError.
   */
  forget(nodeid: bigint, count = 1): void {
    const nlookup = this.lookups.drop(nodeid, count);
    if (nlookup > 0 && this.transport.closeReason === null) this.forgets.queue(nodeid, nlookup);
  }

  /** Gives back the reference of every READDIRPLUS entry that carried one. */
  forgetEntries(entries: readonly Direntplus[]): void {
    for (const e of entries) if (e.entry.nodeid !== 0n) this.forget(e.entry.nodeid);
  }

  /** Sends the queued forgets now; resolves when the device has taken them. */
  flushForgets(): Promise<void> {
    return this.forgets.flush();
  }

  /**
   * Ends the session: sends the queued forgets, then DESTROY (unless `destroy`
   * is false), then closes the transport. Idempotent.
   */
  async close(options: { destroy?: boolean } = {}): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.transport.closeReason === null) {
      await this.forgets.flush();
      if (options.destroy ?? true) await this.call(this.make(Opcode.DESTROY, 0n, {}, undefined), OUT, { timeoutMs: 5000 }).catch(() => undefined);
    }
    this.transport.close();
  }

  // ─── Names and nodes ────────────────────────────────────────────────────

  /** LOOKUP `name` in `parent`. A negative entry (nodeid 0) is ENOENT. Holds one reference. */
  async lookup(parent: bigint, name: Name, o?: CallOptions): Promise<EntryOut> {
    const entry = await this.call(this.make(Opcode.LOOKUP, parent, { name: nameBytes(name) }, o), OUT + EntryOut.SIZE, o, this.entryEffects, name);
    if (entry.nodeid === 0n) throw new ErrnoError(Errno.ENOENT, "FUSE_LOOKUP", display(name));
    return entry;
  }

  /** GETATTR, through the open handle `fh` when given. */
  getattr(nodeid: bigint, fh?: bigint, o?: CallOptions): Promise<AttrOut> {
    const arg = { getattrFlags: fh === undefined ? 0 : FUSE_GETATTR_FH, fh: fh ?? 0n };
    return this.call(this.make(Opcode.GETATTR, nodeid, { arg }, o), OUT + AttrOut.SIZE, o);
  }

  /** SETATTR: changes the fields given. */
  setattr(nodeid: bigint, changes: SetattrChanges, o?: CallOptions): Promise<AttrOut> {
    let valid = 0;
    if (changes.mode !== undefined) valid |= FAttr.MODE;
    if (changes.uid !== undefined) valid |= FAttr.UID;
    if (changes.gid !== undefined) valid |= FAttr.GID;
    if (changes.size !== undefined) valid |= FAttr.SIZE;
    if (changes.atime !== undefined) valid |= changes.atime === "now" ? FAttr.ATIME | FAttr.ATIME_NOW : FAttr.ATIME;
    if (changes.mtime !== undefined) valid |= changes.mtime === "now" ? FAttr.MTIME | FAttr.MTIME_NOW : FAttr.MTIME;
    if (changes.ctime !== undefined) valid |= FAttr.CTIME;
    if (changes.fh !== undefined) valid |= FAttr.FH;
    if (changes.lockOwner !== undefined) valid |= FAttr.LOCKOWNER;
    if (changes.killSuidgid) valid |= FAttr.KILL_SUIDGID;
    const atime = timeFields(changes.atime);
    const mtime = timeFields(changes.mtime);
    const ctime = timeFields(changes.ctime);
    const arg = {
      valid,
      fh: changes.fh ?? 0n,
      size: BigInt(changes.size ?? 0),
      lockOwner: changes.lockOwner ?? 0n,
      atime: atime.sec,
      mtime: mtime.sec,
      ctime: ctime.sec,
      atimensec: atime.nsec,
      mtimensec: mtime.nsec,
      ctimensec: ctime.nsec,
      mode: changes.mode ?? 0,
      uid: changes.uid ?? 0,
      gid: changes.gid ?? 0,
    };
    return this.call(this.make(Opcode.SETATTR, nodeid, { arg }, o), OUT + AttrOut.SIZE, o);
  }

  /** STATX (protocol 7.39; older servers answer ENOSYS). */
  statx(nodeid: bigint, request: { fh?: bigint; mask?: number; flags?: number } = {}, o?: CallOptions): Promise<StatxOut> {
    const arg = {
      getattrFlags: request.fh === undefined ? 0 : FUSE_GETATTR_FH,
      fh: request.fh ?? 0n,
      sxFlags: request.flags ?? 0,
      sxMask: request.mask ?? StatxMask.BASIC_STATS | StatxMask.BTIME,
    };
    return this.call(this.make(Opcode.STATX, nodeid, { arg }, o), OUT + StatxOut.SIZE, o);
  }

  /** READLINK: the link's target bytes. */
  readlink(nodeid: bigint, o?: CallOptions): Promise<Buffer> {
    return this.call(this.make(Opcode.READLINK, nodeid, {}, o), OUT + PATH_MAX, o);
  }

  /** SYMLINK: a new link `name` in `parent` pointing at `target`. Holds one reference. */
  symlink(parent: bigint, name: Name, target: Name, o?: CallOptions): Promise<EntryOut> {
    const body = { name: nameBytes(name), target: nameBytes(target) };
    return this.call(this.make(Opcode.SYMLINK, parent, body, o), OUT + EntryOut.SIZE, o, this.newEntryEffects, name);
  }

  /** MKNOD (`mode` includes the file type). Holds one reference. */
  mknod(parent: bigint, name: Name, mode: number, rdev = 0, umask = 0, o?: CallOptions): Promise<EntryOut> {
    const body = { arg: { mode, rdev, umask }, name: nameBytes(name) };
    return this.call(this.make(Opcode.MKNOD, parent, body, o), OUT + EntryOut.SIZE, o, this.newEntryEffects, name);
  }

  /** MKDIR. Holds one reference. */
  mkdir(parent: bigint, name: Name, mode: number, umask = 0, o?: CallOptions): Promise<EntryOut> {
    const body = { arg: { mode, umask }, name: nameBytes(name) };
    return this.call(this.make(Opcode.MKDIR, parent, body, o), OUT + EntryOut.SIZE, o, this.newEntryEffects, name);
  }

  /** UNLINK `name` from `parent`. */
  async unlink(parent: bigint, name: Name, o?: CallOptions): Promise<void> {
    await this.call(this.make(Opcode.UNLINK, parent, { name: nameBytes(name) }, o), OUT, o, undefined, name);
  }

  /** RMDIR `name` from `parent`. */
  async rmdir(parent: bigint, name: Name, o?: CallOptions): Promise<void> {
    await this.call(this.make(Opcode.RMDIR, parent, { name: nameBytes(name) }, o), OUT, o, undefined, name);
  }

  /** RENAME (no flags). */
  async rename(parent: bigint, name: Name, newParent: bigint, newName: Name, o?: CallOptions): Promise<void> {
    const body = { arg: { newdir: newParent }, name: nameBytes(name), newName: nameBytes(newName) };
    await this.call(this.make(Opcode.RENAME, parent, body, o), OUT, o, undefined, name);
  }

  /** RENAME2 with `RenameFlag` bits (NOREPLACE, EXCHANGE, WHITEOUT). */
  async rename2(parent: bigint, name: Name, newParent: bigint, newName: Name, flags: number, o?: CallOptions): Promise<void> {
    const body = { arg: { newdir: newParent, flags }, name: nameBytes(name), newName: nameBytes(newName) };
    await this.call(this.make(Opcode.RENAME2, parent, body, o), OUT, o, undefined, name);
  }

  /** LINK: a new name for `nodeid`. Holds one reference. */
  link(nodeid: bigint, newParent: bigint, newName: Name, o?: CallOptions): Promise<EntryOut> {
    const body = { arg: { oldnodeid: nodeid }, name: nameBytes(newName) };
    return this.call(this.make(Opcode.LINK, newParent, body, o), OUT + EntryOut.SIZE, o, this.newEntryEffects, newName);
  }

  // ─── Files ──────────────────────────────────────────────────────────────

  /** OPEN with open(2) `flags`; `openFlags` are FUSE_OPEN_* bits. */
  async open(nodeid: bigint, flags: number, openFlags = 0, o?: CallOptions): Promise<OpenOut> {
    const effects: Effects<OpenOut> = { orphan: (out) => void this.release(nodeid, out.fh, { flags }).catch(() => undefined) };
    const out = await this.call(this.make(Opcode.OPEN, nodeid, { arg: { flags, openFlags } }, o), OUT + OpenOut.SIZE, o, effects);
    if ((flags & OpenFlag.O_APPEND) !== 0) this.appendHandles.add(out.fh);
    return out;
  }

  /** CREATE and open `name` in `parent`. Holds one reference. */
  async create(parent: bigint, name: Name, mode: number, flags: number, umask = 0, o?: CallOptions): Promise<CreateOut> {
    const body = { arg: { flags, mode, umask, openFlags: 0 }, name: nameBytes(name) };
    const out = await this.call(this.make(Opcode.CREATE, parent, body, o), OUT + EntryOut.SIZE + OpenOut.SIZE, o, this.createEffects, name);
    if ((flags & OpenFlag.O_APPEND) !== 0) this.appendHandles.add(out.open.fh);
    return out;
  }

  /** TMPFILE: an unnamed open file in `parent`. Holds one reference. */
  tmpfile(parent: bigint, mode: number, flags: number, umask = 0, o?: CallOptions): Promise<CreateOut> {
    const body = { arg: { flags, mode, umask, openFlags: 0 }, name: Buffer.from("/") };
    return this.call(this.make(Opcode.TMPFILE, parent, body, o), OUT + EntryOut.SIZE + OpenOut.SIZE, o, this.createEffects);
  }

  /**
   * READ up to `size` bytes at `offset`. Larger sizes than one request takes
   * are split into requests sent together; the result ends at the first short
   * answer (end of file).
   */
  async read(nodeid: bigint, fh: bigint, offset: bigint | number, size: number, o?: ReadOptions): Promise<Uint8Array> {
    const max = this.info.maxRead;
    if (size <= max) {
      return this.call(this.make(Opcode.READ, nodeid, { arg: this.readArg(fh, BigInt(offset), size, o) }, o), OUT + size, o);
    }
    const target = new Uint8Array(size);
    const n = await this.readInto(nodeid, fh, offset, target, o);
    return n === size ? target : target.subarray(0, n);
  }

  /**
   * READ into `target`, the data copied once from the device's buffer into
   * it. Split like {@link read}; resolves with the bytes read (fewer than
   * `target.length` at end of file).
   */
  async readInto(nodeid: bigint, fh: bigint, offset: bigint | number, target: Uint8Array, o?: ReadOptions): Promise<number> {
    const max = this.info.maxRead;
    const start = BigInt(offset);
    const parts: Promise<number>[] = [];
    for (let at = 0; at < target.length || parts.length === 0; at += max) {
      const sink = target.subarray(at, Math.min(target.length, at + max));
      parts.push(this.readPart(nodeid, fh, start + BigInt(at), sink, o));
    }
    const counts = await Promise.all(parts);
    let total = 0;
    for (let i = 0; i < counts.length; i++) {
      total += counts[i]!;
      if (counts[i]! < Math.min(max, target.length - i * max)) break;
    }
    return total;
  }

  /**
   * WRITE `data` at `offset`. Larger data than one request takes is split
   * into requests sent together (one after another on an O_APPEND handle);
   * resolves with the bytes written, which stop at the first short write.
   */
  async write(nodeid: bigint, fh: bigint, offset: bigint | number, data: Uint8Array, o?: WriteOptions): Promise<number> {
    const max = this.info.maxWrite;
    const start = BigInt(offset);
    if (data.length <= max) return this.writePart(nodeid, fh, start, data, o);
    if (this.appendHandles.has(fh)) {
      let total = 0;
      for (let at = 0; at < data.length; at += max) {
        const part = data.subarray(at, Math.min(data.length, at + max));
        const n = await this.writePart(nodeid, fh, start + BigInt(at), part, o);
        total += n;
        if (n < part.length) break;
      }
      return total;
    }
    const parts: Promise<number>[] = [];
    for (let at = 0; at < data.length; at += max) parts.push(this.writePart(nodeid, fh, start + BigInt(at), data.subarray(at, Math.min(data.length, at + max)), o));
    const counts = await Promise.all(parts);
    let total = 0;
    for (let i = 0; i < counts.length; i++) {
      total += counts[i]!;
      if (counts[i]! < Math.min(max, data.length - i * max)) break;
    }
    return total;
  }

  /** FLUSH (close(2) of one descriptor of the handle). */
  async flush(nodeid: bigint, fh: bigint, lockOwner = 0n, o?: CallOptions): Promise<void> {
    await this.call(this.make(Opcode.FLUSH, nodeid, { arg: { fh, lockOwner } }, o), OUT, o);
  }

  /** RELEASE the handle `fh` (its last close). */
  async release(nodeid: bigint, fh: bigint, r: { flags?: number; releaseFlags?: number; lockOwner?: bigint } = {}, o?: CallOptions): Promise<void> {
    this.appendHandles.delete(fh);
    const lockOwner = r.lockOwner ?? 0n;
    const releaseFlags = (r.releaseFlags ?? 0) | (r.lockOwner !== undefined ? ReleaseFlag.FLUSH : 0);
    await this.call(this.make(Opcode.RELEASE, nodeid, { arg: { fh, flags: r.flags ?? 0, releaseFlags, lockOwner } }, o), OUT, o);
  }

  /** FSYNC the handle; `datasync` syncs data only. */
  async fsync(nodeid: bigint, fh: bigint, datasync = false, o?: CallOptions): Promise<void> {
    await this.call(this.make(Opcode.FSYNC, nodeid, { arg: { fh, fsyncFlags: datasync ? FUSE_FSYNC_FDATASYNC : 0 } }, o), OUT, o);
  }

  /** FALLOCATE with `Falloc` mode bits. */
  async fallocate(nodeid: bigint, fh: bigint, offset: bigint | number, length: bigint | number, mode = 0, o?: CallOptions): Promise<void> {
    const arg = { fh, offset: BigInt(offset), length: BigInt(length), mode };
    await this.call(this.make(Opcode.FALLOCATE, nodeid, { arg }, o), OUT, o);
  }

  /** LSEEK (SEEK_DATA / SEEK_HOLE are what servers implement): the resulting offset. */
  async lseek(nodeid: bigint, fh: bigint, offset: bigint | number, whence: number, o?: CallOptions): Promise<bigint> {
    const out = await this.call(this.make(Opcode.LSEEK, nodeid, { arg: { fh, offset: BigInt(offset), whence } }, o), OUT + LseekOut.SIZE, o);
    return out.offset;
  }

  /** COPY_FILE_RANGE: bytes copied. */
  async copyFileRange(
    from: { nodeid: bigint; fh: bigint; offset: bigint | number },
    to: { nodeid: bigint; fh: bigint; offset: bigint | number },
    length: bigint | number,
    flags = 0n,
    o?: CallOptions,
  ): Promise<number> {
    const arg = { fhIn: from.fh, offIn: BigInt(from.offset), nodeidOut: to.nodeid, fhOut: to.fh, offOut: BigInt(to.offset), len: BigInt(length), flags };
    const out = await this.call(this.make(Opcode.COPY_FILE_RANGE, from.nodeid, { arg }, o), OUT + WriteOut.SIZE, o);
    return out.size;
  }

  // ─── Directories ────────────────────────────────────────────────────────

  /** OPENDIR. */
  opendir(nodeid: bigint, flags = 0, o?: CallOptions): Promise<OpenOut> {
    const effects: Effects<OpenOut> = { orphan: (out) => void this.releasedir(nodeid, out.fh).catch(() => undefined) };
    return this.call(this.make(Opcode.OPENDIR, nodeid, { arg: { flags, openFlags: 0 } }, o), OUT + OpenOut.SIZE, o, effects);
  }

  /** READDIR from `offset` (0, or an entry's `off`): the entries that fit in `size` bytes; empty at the end. */
  async readdir(nodeid: bigint, fh: bigint, offset: bigint | number = 0n, o?: CallOptions & { size?: number }): Promise<Dirent[]> {
    const size = Math.min(o?.size ?? this.readdirSize, this.info.maxRead);
    const arg = { fh, offset: BigInt(offset), size, readFlags: 0, lockOwner: 0n, flags: 0 };
    return decodeDirents(await this.call(this.make(Opcode.READDIR, nodeid, { arg }, o), OUT + size, o));
  }

  /**
   * READDIRPLUS: entries with their attributes. Every entry whose nodeid is
   * not 0 holds one reference; give them back with {@link forgetEntries}.
   */
  async readdirplus(nodeid: bigint, fh: bigint, offset: bigint | number = 0n, o?: CallOptions & { size?: number }): Promise<Direntplus[]> {
    const size = Math.min(o?.size ?? this.readdirSize, this.info.maxRead);
    const arg = { fh, offset: BigInt(offset), size, readFlags: 0, lockOwner: 0n, flags: 0 };
    // The reply is decoded once: the lookups are counted from the same entries the caller gets.
    let entries: Direntplus[] | undefined;
    const effects: Effects<Uint8Array> = {
      account: (bytes) => {
        entries = decodeDirentplus(bytes);
        for (const e of entries) this.lookups.add(e.entry.nodeid);
      },
      orphan: this.forgetPlusReply,
    };
    const bytes = await this.call(this.make(Opcode.READDIRPLUS, nodeid, { arg }, o), OUT + size, o, effects);
    return entries ?? decodeDirentplus(bytes);
  }

  /** RELEASEDIR. */
  async releasedir(nodeid: bigint, fh: bigint, o?: CallOptions): Promise<void> {
    await this.call(this.make(Opcode.RELEASEDIR, nodeid, { arg: { fh, flags: 0, releaseFlags: 0, lockOwner: 0n } }, o), OUT, o);
  }

  /** FSYNCDIR. */
  async fsyncdir(nodeid: bigint, fh: bigint, datasync = false, o?: CallOptions): Promise<void> {
    await this.call(this.make(Opcode.FSYNCDIR, nodeid, { arg: { fh, fsyncFlags: datasync ? FUSE_FSYNC_FDATASYNC : 0 } }, o), OUT, o);
  }

  // ─── File system ────────────────────────────────────────────────────────

  /** STATFS of the file system holding `nodeid`. */
  async statfs(nodeid: bigint = FUSE_ROOT_ID, o?: CallOptions): Promise<Kstatfs> {
    return (await this.call(this.make(Opcode.STATFS, nodeid, {}, o), OUT + StatfsOut.SIZE, o)).st;
  }

  /** ACCESS with `AccessMask` bits. */
  async access(nodeid: bigint, mask: number, o?: CallOptions): Promise<void> {
    await this.call(this.make(Opcode.ACCESS, nodeid, { arg: { mask } }, o), OUT, o);
  }

  /** SYNCFS of the whole file system. */
  async syncfs(o?: CallOptions): Promise<void> {
    await this.call(this.make(Opcode.SYNCFS, FUSE_ROOT_ID, { arg: {} }, o), OUT, o);
  }

  /** BMAP (block devices only; most servers answer ENOSYS). */
  async bmap(nodeid: bigint, block: bigint, blocksize: number, o?: CallOptions): Promise<bigint> {
    return (await this.call(this.make(Opcode.BMAP, nodeid, { arg: { block, blocksize } }, o), OUT + BmapOut.SIZE, o)).block;
  }

  /** IOCTL (restricted form): `data` in, up to `outSize` bytes out. */
  ioctl(nodeid: bigint, fh: bigint, cmd: number, arg: bigint, data: Uint8Array, outSize: number, flags = 0, o?: CallOptions): Promise<IoctlReply> {
    const body = { arg: { fh, flags, cmd, arg, inSize: data.length, outSize }, data };
    return this.call(this.make(Opcode.IOCTL, nodeid, body, o), OUT + IoctlOut.SIZE + outSize, o);
  }

  /** POLL: the ready events. */
  async poll(nodeid: bigint, fh: bigint, events: number, o?: CallOptions): Promise<number> {
    const out = await this.call(this.make(Opcode.POLL, nodeid, { arg: { fh, kh: 0n, flags: 0, events } }, o), OUT + PollOut.SIZE, o);
    return out.revents;
  }

  // ─── Extended attributes ────────────────────────────────────────────────

  /** SETXATTR with `XattrFlag` bits. */
  async setxattr(nodeid: bigint, name: Name, value: Uint8Array, flags = 0, o?: CallOptions): Promise<void> {
    const body = { arg: { size: value.length, flags, setxattrFlags: 0 }, name: nameBytes(name), value };
    await this.call(this.make(Opcode.SETXATTR, nodeid, body, o), OUT, o, undefined, name);
  }

  /** GETXATTR: the value (ERANGE when longer than `size`, default 64 KiB). */
  async getxattr(nodeid: bigint, name: Name, size = XATTR_MAX, o?: CallOptions): Promise<Uint8Array> {
    if (size < 1) throw new RangeError("getxattr size must be at least 1; use getxattrSize");
    const out = await this.call(this.make(Opcode.GETXATTR, nodeid, { arg: { size }, name: nameBytes(name) }, o), OUT + size, o, undefined, name);
    return out as Uint8Array;
  }

  /** GETXATTR with size 0: the value's length. */
  async getxattrSize(nodeid: bigint, name: Name, o?: CallOptions): Promise<number> {
    const out = await this.call(this.make(Opcode.GETXATTR, nodeid, { arg: { size: 0 }, name: nameBytes(name) }, o), OUT + GetxattrOut.SIZE, o, undefined, name);
    return (out as GetxattrOut).size;
  }

  /** LISTXATTR: the names (ERANGE when the list is longer than `size`, default 64 KiB). */
  async listxattr(nodeid: bigint, size = XATTR_MAX, o?: CallOptions): Promise<string[]> {
    if (size < 1) throw new RangeError("listxattr size must be at least 1; use listxattrSize");
    const out = (await this.call(this.make(Opcode.LISTXATTR, nodeid, { arg: { size } }, o), OUT + size, o)) as Uint8Array;
    const names = Buffer.from(out.buffer, out.byteOffset, out.byteLength).toString("utf8").split("\0");
    if (names[names.length - 1] === "") names.pop();
    return names;
  }

  /** LISTXATTR with size 0: the length of the name list. */
  async listxattrSize(nodeid: bigint, o?: CallOptions): Promise<number> {
    const out = await this.call(this.make(Opcode.LISTXATTR, nodeid, { arg: { size: 0 } }, o), OUT + GetxattrOut.SIZE, o);
    return (out as GetxattrOut).size;
  }

  /** REMOVEXATTR. */
  async removexattr(nodeid: bigint, name: Name, o?: CallOptions): Promise<void> {
    await this.call(this.make(Opcode.REMOVEXATTR, nodeid, { name: nameBytes(name) }, o), OUT, o, undefined, name);
  }

  // ─── Locks ──────────────────────────────────────────────────────────────

  /** GETLK: the first lock that would conflict with `lock`, or `lock` with type F_UNLCK. */
  async getlk(nodeid: bigint, fh: bigint, owner: bigint, lock: FileLock, flock = false, o?: CallOptions): Promise<FileLock> {
    const arg = { fh, owner, lk: lock, lkFlags: flock ? FUSE_LK_FLOCK : 0 };
    return (await this.call(this.make(Opcode.GETLK, nodeid, { arg }, o), OUT + LkOut.SIZE, o)).lk;
  }

  /** SETLK (or SETLKW when `wait`): take or drop `lock`; EAGAIN when it conflicts and `wait` is false. */
  async setlk(nodeid: bigint, fh: bigint, owner: bigint, lock: FileLock, opts: { wait?: boolean; flock?: boolean } = {}, o?: CallOptions): Promise<void> {
    const arg = { fh, owner, lk: lock, lkFlags: opts.flock ? FUSE_LK_FLOCK : 0 };
    const opcode = opts.wait ? Opcode.SETLKW : Opcode.SETLK;
    await this.call(this.make(opcode, nodeid, { arg }, o), OUT, o);
  }

  /** SETLKW: waits for `lock`. Cancel it with `signal` or `timeoutMs` (and INTERRUPT, when on). */
  setlkw(nodeid: bigint, fh: bigint, owner: bigint, lock: FileLock, flock = false, o?: CallOptions): Promise<void> {
    return this.setlk(nodeid, fh, owner, lock, { wait: true, flock }, o);
  }

  // ─── Raw ────────────────────────────────────────────────────────────────

  /**
   * Sends a request built from raw bytes: `fuse_in_header` (filled in here:
   * length, opcode, a fresh unique, `nodeid`, credentials) followed by
   * `body`. Resolves with the reply's errno and body; no bookkeeping is done
   * (entries returned are not counted). `replyCapacity` 0 (the default for
   * FORGET and BATCH_FORGET) expects no reply and resolves once the device
   * took the request. `signal` and `timeoutMs` work as for the typed calls.
   */
  async request(
    opcode: number,
    nodeid: bigint,
    body: Uint8Array,
    o: CallOptions & { replyCapacity?: number; queue?: QueueKind } = {},
  ): Promise<RawReply> {
    const unique = this.newUnique();
    const noReply = opcode === Opcode.FORGET || opcode === Opcode.BATCH_FORGET;
    const capacity = o.replyCapacity ?? (noReply ? 0 : OUT + 65536);
    const header = InHeader.toBytes({
      len: InHeader.SIZE + body.length,
      opcode,
      unique,
      nodeid,
      uid: o.uid ?? this.uid,
      gid: o.gid ?? this.gid,
      pid: o.pid ?? this.pid,
      totalExtlen: 0,
    });
    if (o.signal?.aborted) throw new ErrnoError(Errno.EINTR, `FUSE_${opcodeName(opcode)}`);
    const submitted = this.transport.submit([header, body], capacity, o.queue ?? (noReply ? "hiprio" : "request"));
    const bytes = capacity === 0 ? await submitted : await this.guard(unique, `FUSE_${opcodeName(opcode)}`, submitted, o);
    if (capacity === 0) return { unique, errno: 0, body: bytes };
    const h = decodeOutHeader(bytes);
    if (h.unique !== unique) throw new ProtocolError(ProtocolErrorCode.VALUE, `reply unique ${h.unique} is not the request's ${unique}`);
    return { unique, errno: h.error === 0 ? 0 : -h.error, body: bytes.subarray(OUT) };
  }

  /**
   * A request id from this session's id space (even, never reused, never
   * one the session itself sends or has sent), for a caller that sends its
   * own raw requests over {@link transport} (the mount relay). Its INTERRUPT
   * is `id | 1`.
   */
  reserveUnique(): bigint {
    return this.newUnique();
  }

  // ─── Internals ──────────────────────────────────────────────────────────

  private newUnique(): bigint {
    const unique = this.nextUnique;
    this.nextUnique += 2n;
    return unique;
  }

  private make<O extends RequestOpcode>(opcode: O, nodeid: bigint, body: RequestBodyMap[O], o: CallOptions | undefined): RequestOf<O> {
    const header = { unique: this.newUnique(), nodeid, uid: o?.uid ?? this.uid, gid: o?.gid ?? this.gid, pid: o?.pid ?? this.pid };
    return { opcode, header, ...body } as RequestOf<O>;
  }

  private readArg(fh: bigint, offset: bigint, size: number, o: ReadOptions | undefined) {
    const lockOwner = o?.lockOwner;
    return { fh, offset, size, readFlags: lockOwner === undefined ? 0 : FUSE_READ_LOCKOWNER, lockOwner: lockOwner ?? 0n, flags: o?.flags ?? 0 };
  }

  private async readPart(nodeid: bigint, fh: bigint, offset: bigint, sink: Uint8Array, o: ReadOptions | undefined): Promise<number> {
    if (o?.signal?.aborted) throw new ErrnoError(Errno.EINTR, "FUSE_READ");
    const req = this.make(Opcode.READ, nodeid, { arg: this.readArg(fh, offset, sink.length, o) }, o);
    const head = new Uint8Array(OUT);
    const used = await this.guard(req.header.unique, "FUSE_READ", this.transport.submitInto(encodeRequest(req, this.wire), head, sink), o);
    const h = OutHeader.fromBytes(head.subarray(0, Math.min(used, OUT)));
    if (h.len !== used) throw new ProtocolError(ProtocolErrorCode.LENGTH, `fuse_out_header.len declares ${h.len} bytes, message holds ${used}`);
    if (h.unique !== req.header.unique) throw new ProtocolError(ProtocolErrorCode.VALUE, `reply unique ${h.unique} is not the request's ${req.header.unique}`);
    if (h.error > 0 || h.error <= -512) throw new ProtocolError(ProtocolErrorCode.VALUE, `reply error ${h.error} outside (-512, 0]`);
    if (h.error !== 0) {
      if (used !== OUT) throw new ProtocolError(ProtocolErrorCode.LENGTH, `error reply of ${used} bytes carries a body`);
      throw new ErrnoError(-h.error, "FUSE_READ");
    }
    return used - OUT;
  }

  private async writePart(nodeid: bigint, fh: bigint, offset: bigint, data: Uint8Array, o: WriteOptions | undefined): Promise<number> {
    const lockOwner = o?.lockOwner;
    const writeFlags = (lockOwner === undefined ? 0 : WriteFlag.LOCKOWNER) | (o?.killSuidgid ? WriteFlag.KILL_SUIDGID : 0);
    const arg = { fh, offset, size: data.length, writeFlags, lockOwner: lockOwner ?? 0n, flags: o?.flags ?? 0 };
    const out = await this.call(this.make(Opcode.WRITE, nodeid, { arg, data }, o), OUT + WriteOut.SIZE, o);
    if (out.size > data.length) throw new ProtocolError(ProtocolErrorCode.VALUE, `WRITE reply claims ${out.size} bytes written of ${data.length}`);
    return out.size;
  }

  /**
   * Sends a request and decodes its reply. `effects.account` runs on every
   * successful reply, even one nobody waits for any more; `effects.orphan`
   * runs after it on such an abandoned reply.
   */
  private call<O extends ReplyOpcode>(
    req: RequestOf<O>,
    capacity: number,
    o: CallOptions | undefined,
    effects?: Effects<Body<O>>,
    name?: Name,
  ): Promise<Body<O>> {
    if (o?.signal?.aborted) return Promise.reject(new ErrnoError(Errno.EINTR, `FUSE_${opcodeName(req.opcode)}`));
    let chunks: Uint8Array[];
    try {
      chunks = encodeRequest(req as Request, this.wire);
    } catch (error) {
      return Promise.reject(error);
    }
    const reply = this.transport.submit(chunks, capacity).then((bytes) => {
      const r = decodeReply(req as Request, bytes, this.wire) as { ok: true; body: Body<O> } | { ok: false; errno: number };
      if (!r.ok) throw new ErrnoError(r.errno, `FUSE_${opcodeName(req.opcode)}`, name === undefined ? undefined : display(name));
      effects?.account?.(r.body);
      return r.body;
    });
    const timeoutMs = o?.timeoutMs ?? this.timeoutMs;
    if (o?.signal === undefined && !timeoutMs) return reply;
    return this.guard(req.header.unique, `FUSE_${opcodeName(req.opcode)}`, reply, o, effects?.orphan);
  }

  /**
   * Races `reply` against the call's signal and timeout. On either, rejects
   * (EINTR / ETIMEDOUT) and sends INTERRUPT for `unique`; the reply, when
   * it comes, is then handed to `orphan` (if it succeeded) and dropped.
   */
  private guard<T>(unique: bigint, what: string, reply: Promise<T>, o: CallOptions | undefined, orphan?: (body: T) => void): Promise<T> {
    const signal = o?.signal;
    const timeoutMs = o?.timeoutMs ?? this.timeoutMs;
    if (signal === undefined && !timeoutMs) return reply;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (): void => {
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      const abandon = (errnoValue: number): void => {
        if (settled) return;
        finish();
        this.interrupt(unique);
        reject(new ErrnoError(errnoValue, what));
      };
      const onAbort = (): void => abandon(Errno.EINTR);
      reply.then(
        (body) => {
          if (settled) {
            orphan?.(body);
            return;
          }
          finish();
          resolve(body);
        },
        (error: unknown) => {
          if (settled) return;
          finish();
          reject(error);
        },
      );
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      if (timeoutMs) timer = setTimeout(() => abandon(Errno.ETIMEDOUT), timeoutMs);
    });
  }

  /** Sends INTERRUPT for `unique` on the hiprio queue (no reply), when `interrupts` is on. */
  private interrupt(unique: bigint): void {
    if (!this.sendInterrupts || this.transport.closeReason !== null) return;
    this.interrupts++;
    const req: RequestOf<typeof Opcode.INTERRUPT> = {
      opcode: Opcode.INTERRUPT,
      header: { unique: unique | INTERRUPT_BIT, nodeid: 0n, uid: this.uid, gid: this.gid, pid: this.pid },
      arg: { unique },
    };
    this.transport.submit(encodeRequest(req, this.wire), 0, "hiprio").catch(() => undefined);
  }

  /** A batch of one goes as FORGET, as Linux sends it (the kernel's /dev/fuse does the same). */
  private async sendForgets(forgets: ForgetOne[]): Promise<void> {
    const one = forgets.length === 1 ? forgets[0]! : null;
    const request =
      one !== null
        ? encodeRequest(this.make(Opcode.FORGET, one.nodeid, { arg: { nlookup: one.nlookup } }, undefined), this.wire)
        : encodeRequest(this.make(Opcode.BATCH_FORGET, 0n, { forgets }, undefined), this.wire);
    await this.transport.submit(request, 0, "hiprio");
  }
}

/** Options of READ calls. */
export interface ReadOptions extends CallOptions {
  /** The lock owner, for servers that check mandatory locks (sets FUSE_READ_LOCKOWNER). */
  readonly lockOwner?: bigint;
  /** The open(2) flags of the descriptor read through. */
  readonly flags?: number;
}

/** Options of WRITE calls. */
export interface WriteOptions extends CallOptions {
  /** The lock owner (sets FUSE_WRITE_LOCKOWNER). */
  readonly lockOwner?: bigint;
  /** The open(2) flags of the descriptor written through. */
  readonly flags?: number;
  /** Ask the server to clear setuid/setgid (FUSE_WRITE_KILL_SUIDGID). */
  readonly killSuidgid?: boolean;
}
