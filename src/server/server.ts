/**
 * The FUSE server: decodes requests, keeps the session state (INIT
 * negotiation, in-flight requests for INTERRUPT), calls the
 * {@link FileSystem} with typed arguments and encodes its answers. It knows
 * nothing of transports: each request comes as bytes already copied out of
 * shared memory, and its reply goes to a {@link ReplyTarget} the transport
 * supplies (virtio descriptor chain or /dev/fuse).
 *
 * Request sanity (libfuse `fuse_lowlevel.c`, virtiofsd `server.rs`):
 * - A request shorter than `fuse_in_header` cannot be answered (no `unique`):
 *   it is logged and dropped; the transport sees no reply.
 * - FORGET, BATCH_FORGET and NOTIFY_REPLY are never answered.
 * - A request longer than `maxWrite` + 4 KiB: ENOMEM (nothing is decoded).
 * - Before INIT (and after DESTROY) every request but INIT: EIO. A second
 *   INIT: EIO (or a new session, with `restartOnInit`).
 * - Unknown opcodes: ENOSYS. A malformed request: EINVAL (a malformed INIT:
 *   EPROTO). Never an exception out of {@link FuseServer.handle}.
 * - The file system's `ErrnoError` becomes `-errno`; anything else it throws
 *   is a bug, answered EIO and logged (EINTR when the request was interrupted).
 */
import { Buffer } from "node:buffer";
import { log } from "../common/log.js";
import { Errno, errnoName } from "../common/errno.js";
import { ErrnoError, ProtocolError, ProtocolErrorCode, errno } from "../common/errors.js";
import {
  FUSE_GETATTR_FH,
  FUSE_KERNEL_MINOR_VERSION,
  FUSE_KERNEL_VERSION,
  FUSE_NAME_MAX,
  InitFlag,
  Opcode,
  RenameFlag,
  combineInitFlags,
  initFlagNames,
  opcodeName,
  splitInitFlags,
} from "../fuse/abi.js";
import {
  DEFAULT_WIRE_OPTIONS,
  MAX_REPLY_ERRNO,
  NO_REPLY_OPCODES,
  decodeRequest,
  encodeErrorReply,
  encodeOutHeader,
  encodeReply,
  wireOptions,
  type ReplyBodyMap,
  type ReplyOpcode,
  type Request,
  type RequestOf,
  type RequestOpcode,
  type WireOptions,
} from "../fuse/messages.js";
import { decodeExtensions } from "../fuse/extensions.js";
import type { DataSegments } from "../fuse/reply-target.js";
import { InHeader, WriteIn, type InitOut } from "../fuse/structs.js";
import { loadU32, loadU64, sharedBytes, WireReader } from "../fuse/wire.js";
import { ReplyDirSink } from "./dir-sink.js";
import { NO_ENTRY, NO_XATTR, dataLength, type Answer, type Context, type FileSystem, type ReadTarget, type WriteSource } from "./filesystem.js";
import { OUT_HEADER_SIZE, type ReplyTarget } from "./reply.js";

// ---------------------------------------------------------------------------
// Options and limits

/** Size of `fuse_in_header`. */
export const IN_HEADER_SIZE = InHeader.SIZE;
/** Room for headers and arguments on top of `max_write` (virtiofsd's `FUSE_BUFFER_HEADER_SIZE`). */
export const FUSE_BUFFER_HEADER_SIZE = 0x1000;
/** The page size `max_pages` counts in (x86_64, arm64 with 4 KiB pages). */
export const PAGE_SIZE = 4096;
/** The lowest client minor accepted by default (virtiofsd's `MIN_KERNEL_MINOR_VERSION`). */
export const DEFAULT_MIN_MINOR = 27;
/** Longest symlink target (PATH_MAX with its NUL). */
const SYMLINK_MAX = 4095;
/** Linux XATTR_NAME_MAX and XATTR_SIZE_MAX. */
const XATTR_NAME_MAX = 255;
const XATTR_SIZE_MAX = 65536;

export interface FuseServerOptions {
  /** `max_write` offered at INIT; also bounds READ and READDIR sizes (default 1 MiB). */
  maxWrite?: number;
  /** Offer DO_READDIRPLUS | READDIRPLUS_AUTO (default true). */
  readdirplus?: boolean;
  /** Offer WRITEBACK_CACHE (default false). */
  writeback?: boolean;
  /** Offer POSIX_LOCKS: GETLK/SETLK/SETLKW reach the file system (default false). */
  posixLocks?: boolean;
  /** Offer FLOCK_LOCKS (default false). */
  flock?: boolean;
  /** Offer SUBMOUNTS (default false; the file system must flag submount roots in `attr.flags`). */
  announceSubmounts?: boolean;
  /** Offer HANDLE_KILLPRIV_V2 (default false). */
  killprivV2?: boolean;
  /** Offer POSIX_ACL and DONT_MASK (default false). */
  posixAcl?: boolean;
  /** Offer DIRECT_IO_ALLOW_MMAP (default false). */
  allowMmap?: boolean;
  /** `max_background` (default 65535, as virtiofsd). */
  maxBackground?: number;
  /** `congestion_threshold` (default 3/4 of `maxBackground`). */
  congestionThreshold?: number;
  /** `time_gran` in ns (default 1). */
  timeGran?: number;
  /** `max_readahead` (default: the client's). */
  maxReadahead?: number;
  /** The lowest client minor accepted (default 27; older get EPROTO). */
  minMinor?: number;
  /**
   * An INIT during a session ends it (as DESTROY would) and starts a new
   * one, instead of being refused with EIO (libfuse's rule). For virtio,
   * where a guest driver that restarts without a device reset (a Windows
   * service restart) sends INIT again; virtiofsd accepts that too.
   */
  restartOnInit?: boolean;
}

/** Flags the server enables whenever the client offers them: they concern the protocol, not the file system. */
export const PROTOCOL_INIT_FLAGS: bigint =
  InitFlag.ASYNC_READ |
  InitFlag.PARALLEL_DIROPS |
  InitFlag.BIG_WRITES |
  InitFlag.AUTO_INVAL_DATA |
  InitFlag.ASYNC_DIO |
  InitFlag.HAS_IOCTL_DIR |
  InitFlag.MAX_PAGES |
  InitFlag.INIT_EXT;

/** Flags enabled only when the file system asks for them in its INIT answer (and the client offers them). */
export const FS_INIT_FLAGS: bigint =
  InitFlag.ATOMIC_O_TRUNC |
  InitFlag.EXPORT_SUPPORT |
  InitFlag.NO_OPEN_SUPPORT |
  InitFlag.NO_OPENDIR_SUPPORT |
  InitFlag.CACHE_SYMLINKS |
  InitFlag.CREATE_SUPP_GROUP |
  InitFlag.SETXATTR_EXT;

/** What INIT settled. */
export interface Negotiated {
  /** The client's minor. */
  readonly clientMinor: number;
  /** The minor both speak: min(client's, 38). */
  readonly minor: number;
  /** The enabled INIT flags (`flags | flags2 << 32`). */
  readonly flags: bigint;
  readonly maxWrite: number;
}

// ---------------------------------------------------------------------------
// Per-request context

/** The {@link Context} of one request; its AbortSignal is made only if someone asks for it. */
class RequestContext implements Context {
  readonly unique: bigint;
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
  suppGroup?: number;
  interrupted = false;
  private controller: AbortController | null = null;
  /** Neighbours in the server's list of requests in flight. */
  newer: RequestContext | null = null;
  older: RequestContext | null = null;

  constructor(h: { unique: bigint; uid: number; gid: number; pid: number }) {
    this.unique = h.unique;
    this.uid = h.uid;
    this.gid = h.gid;
    this.pid = h.pid;
  }

  get signal(): AbortSignal {
    return (this.controller ??= new AbortController()).signal;
  }

  interrupt(): void {
    if (this.interrupted) return;
    this.interrupted = true;
    (this.controller ??= new AbortController()).abort(errno("EINTR", "interrupt"));
  }
}

/** What happened to a request, for tracing: 0 OK, an errno sent, or no reply. */
const NO_REPLY = -1;

/**
 * What a handler returns: nothing once its reply has gone, a promise that
 * settles after it goes, or the errno it has already answered with (through
 * {@link FuseServer.fail}, when the file system answered a failure without
 * throwing; a promise of it when that send was asynchronous).
 */
type Handled = void | number | Promise<unknown>;

/** Serves one decoded request; `payload` is WRITE data left in place (see {@link FuseServer.handle}). */
type Handler = (
  s: FuseServer,
  req: Request,
  ctx: RequestContext,
  reply: ReplyTarget,
  payload: WriteSource | undefined,
) => Handled;

// ---------------------------------------------------------------------------
// Small replies (the hot ones)

/** A success reply without a body. */
function emptyReply(unique: bigint): Uint8Array[] {
  return [encodeOutHeader(OUT_HEADER_SIZE, 0, unique)];
}

/** The reply to WRITE: header + `fuse_write_out`. */
function writeReply(unique: bigint, size: number): Uint8Array[] {
  return encodeReply(unique, Opcode.WRITE, { size });
}

function fsBug(what: string): Error {
  return new Error(`file system bug: ${what}`);
}

/** A name of a directory entry: ENAMETOOLONG beyond what the Linux client would send. */
function checkEntryName(name: Uint8Array): void {
  if (name.length > FUSE_NAME_MAX) throw errno("ENAMETOOLONG", "name");
}

function checkXattrName(name: Uint8Array): void {
  if (name.length > XATTR_NAME_MAX) throw errno("ERANGE", "xattr name");
}

// ---------------------------------------------------------------------------
// The server

type Phase = "new" | "initializing" | "ready";

/**
 * Serves one FUSE session for one {@link FileSystem}. A transport calls
 * {@link handle} (or {@link handleChain}) for every request, concurrently as
 * it likes; each call settles after the request's reply was handed over.
 */
export class FuseServer {
  readonly maxWrite: number;
  /** The longest request accepted: `maxWrite` + 4 KiB. */
  readonly requestLimit: number;
  /** The largest READ (and READDIR buffer) served: `max_pages` pages. */
  readonly readLimit: number;
  private readonly maxPages: number;
  private readonly offered: bigint;
  private readonly minMinor: number;
  private phase: Phase = "new";
  private wire: WireOptions = DEFAULT_WIRE_OPTIONS;
  private session: Negotiated | null = null;
  /**
   * Requests being served, newest first. A list rather than a map by
   * `unique`: entering and leaving it allocate nothing (a map that churns a
   * bigint key per request costs more than the rest of the request on a busy
   * heap), and INTERRUPT, which searches it, is rare.
   */
  private newest: RequestContext | null = null;
  private flying = 0;

  constructor(
    readonly fs: FileSystem,
    private readonly options: FuseServerOptions = {},
  ) {
    const maxWrite = options.maxWrite ?? 1 << 20;
    if (!Number.isInteger(maxWrite) || maxWrite < PAGE_SIZE || maxWrite > 1 << 24) {
      throw new RangeError(`maxWrite ${maxWrite} outside ${PAGE_SIZE}..${1 << 24}`);
    }
    this.maxWrite = maxWrite;
    this.maxPages = Math.ceil(maxWrite / PAGE_SIZE);
    this.readLimit = this.maxPages * PAGE_SIZE;
    this.requestLimit = maxWrite + FUSE_BUFFER_HEADER_SIZE;
    this.minMinor = options.minMinor ?? DEFAULT_MIN_MINOR;
    let offered = PROTOCOL_INIT_FLAGS | FS_INIT_FLAGS;
    if (options.readdirplus ?? true) offered |= InitFlag.DO_READDIRPLUS | InitFlag.READDIRPLUS_AUTO;
    if (options.writeback) offered |= InitFlag.WRITEBACK_CACHE;
    if (options.posixLocks) offered |= InitFlag.POSIX_LOCKS;
    if (options.flock) offered |= InitFlag.FLOCK_LOCKS;
    if (options.announceSubmounts) offered |= InitFlag.SUBMOUNTS;
    if (options.killprivV2) offered |= InitFlag.HANDLE_KILLPRIV_V2;
    if (options.posixAcl) offered |= InitFlag.POSIX_ACL | InitFlag.DONT_MASK;
    if (options.allowMmap) offered |= InitFlag.DIRECT_IO_ALLOW_MMAP;
    this.offered = offered;
  }

  /** What INIT settled, or null before INIT (and after DESTROY). */
  get negotiated(): Negotiated | null {
    return this.session;
  }

  /** The codec options of the session (protocol 7.38 defaults before INIT). */
  get wireOptions(): WireOptions {
    return this.wire;
  }

  /** Every INIT flag this server may enable (before intersecting with the client's and the file system's). */
  get offeredFlags(): bigint {
    return this.offered;
  }

  /** Requests being served now. */
  get inFlightCount(): number {
    return this.flying;
  }

  /**
   * Serves one request. `request` is a private copy of the message (it must
   * not change while the call runs). `payload`, when given, are the bytes
   * that follow `request` in the message, left in place (live views or spans
   * of guest memory): only WRITE data may travel that way (see
   * {@link handleChain}).
   * Never rejects.
   */
  handle(request: Uint8Array, reply: ReplyTarget, payload?: WriteSource): Promise<void> {
    const done = this.serveNow(request, reply, payload);
    return done === undefined ? Promise.resolve() : done;
  }

  /**
   * {@link handle} without the promise when the request was served at once:
   * undefined when its reply was handed over before the call returned (the
   * file system answered synchronously, or the request needed no file
   * system), else a promise that settles after that. Never throws or rejects.
   */
  serveNow(request: Uint8Array, reply: ReplyTarget, payload?: WriteSource): void | Promise<void> {
    if (request.length < IN_HEADER_SIZE) {
      log.warn(`fuse: dropped a request of ${request.length} bytes (shorter than fuse_in_header): no reply possible`);
      return undefined;
    }
    // Header fields are read in place: a DataView would move a small request off V8's heap first.
    const opcode = loadU32(request, 4);
    if (log.enabled("debug")) return this.traced(request, reply, payload, opcode);
    const result = this.serve(request, reply, payload, opcode);
    // The number (what happened) only matters for tracing.
    return typeof result === "number" ? undefined : (result as Promise<unknown> as Promise<void>);
  }

  private async traced(
    request: Uint8Array,
    reply: ReplyTarget,
    payload: WriteSource | undefined,
    opcode: number,
  ): Promise<void> {
    const start = performance.now();
    const result = await this.serve(request, reply, payload, opcode);
    const us = Math.round((performance.now() - start) * 1000);
    log.debug(traceLine(opcode, loadU64(request, 16), loadU64(request, 8), result, us));
  }

  /**
   * Serves one request read from a descriptor chain's device-readable part
   * (`Reader` of src/virtio/chain-io.ts fits {@link ChainReader}): copies the
   * header and arguments out once and, for WRITE, leaves the data in guest
   * memory for the file system to write from. Readable bytes after the
   * header's `len` are ignored, as virtiofsd does. Returns undefined when
   * the reply was handed over before the call returned, else a promise that
   * settles after that (see {@link serveNow}). Never throws or rejects.
   */
  handleChain(reader: ChainReader, reply: ReplyTarget): void | Promise<void> {
    let request: Uint8Array;
    let payload: WriteSource | undefined;
    try {
      const total = reader.remaining;
      if (total < IN_HEADER_SIZE) return this.serveNow(reader.readBytes(total), reply);
      // What sizes the copy is read in place; the copy holds these fields again, and what is
      // decoded and checked is the copy's (a guest that changed them meanwhile gets EINVAL).
      const len = reader.peekU32(0);
      // Refused lengths are answered from the header alone (ENOMEM, or EINVAL for the mismatch).
      if (len < IN_HEADER_SIZE || len > total || len > this.requestLimit) return this.serveNow(reader.readBytes(IN_HEADER_SIZE), reply);
      const opcode = reader.peekU32(4);
      const writeIn = this.wire.minor < 9 ? 24 : WriteIn.SIZE;
      // total_extlen is the u16 at 36.
      const split = opcode === Opcode.WRITE && (reader.peekU32(36) & 0xffff) === 0 && this.phase === "ready" && len > IN_HEADER_SIZE + writeIn;
      // Small copies share memory blocks (see sharedBytes); the decoder's name and data views point into them.
      request = sharedBytes(split ? IN_HEADER_SIZE + writeIn : len);
      reader.readInto(request);
      if (split) payload = reader.segments !== undefined ? reader.segments(len - request.length) : reader.views(len - request.length);
    } catch (error) {
      // Only the reader can fail here: the chain is shorter than it said.
      log.warn(`fuse: unreadable request chain: ${describe(error)}`);
      return undefined;
    }
    return this.serveNow(request, reply, payload);
  }

  /**
   * Interrupts every request in flight, as an INTERRUPT of each would: what
   * waits (SETLKW) ends with EINTR, the rest finishes. For a transport that
   * stops and must see its requests complete first (a ring stopping).
   */
  interruptAll(): void {
    for (let ctx = this.newest; ctx !== null; ctx = ctx.older) ctx.interrupt();
  }

  /**
   * Ends the session as DESTROY would, for a transport whose client went away
   * without one (device reset, unmount): the file system drops every node and
   * handle, and the next request must be INIT.
   */
  async reset(): Promise<void> {
    const wasActive = this.phase !== "new";
    this.endSession();
    for (let ctx = this.newest; ctx !== null; ctx = ctx.older) ctx.interrupt();
    if (wasActive) await this.fs.destroy();
  }

  // -------------------------------------------------------------------------

  private endSession(): void {
    this.phase = "new";
    this.wire = DEFAULT_WIRE_OPTIONS;
    this.session = null;
  }

  /**
   * Serves a request whose header is readable; answers 0, the errno sent, or
   * NO_REPLY: at once when everything on the way was synchronous, else as a
   * promise. Never throws or rejects.
   */
  private serve(
    request: Uint8Array,
    reply: ReplyTarget,
    payload: WriteSource | undefined,
    opcode: number,
  ): number | Promise<number> {
    const unique = loadU64(request, 8);
    if (NO_REPLY_OPCODES.has(opcode)) {
      this.noReply(request, opcode);
      return NO_REPLY;
    }
    let total = request.length;
    if (payload !== undefined) total += dataLength(payload);
    if (total > this.requestLimit || loadU32(request, 0) > this.requestLimit) {
      return this.fail(reply, unique, Errno.ENOMEM);
    }
    if (this.phase !== "ready") {
      if (opcode !== Opcode.INIT || this.phase === "initializing") return this.fail(reply, unique, Errno.EIO);
    } else if (opcode === Opcode.INIT) {
      if (!this.options.restartOnInit) return this.fail(reply, unique, Errno.EIO);
      return this.restart(request, reply, payload, opcode);
    }

    let req: Request;
    try {
      req = payload !== undefined ? this.decodeSplit(request, payload) : decodeRequest(request, this.wire);
    } catch (error) {
      if (!ProtocolError.is(error)) {
        log.error(`fuse: decoding ${opcodeName(opcode)} (unique ${unique}) failed: ${describe(error, true)}`);
        return this.fail(reply, unique, Errno.EIO);
      }
      log.debug(`fuse: malformed ${opcodeName(opcode)} request (unique ${unique}): ${error.code}: ${error.message}`);
      const e = error.code === ProtocolErrorCode.UNKNOWN ? Errno.ENOSYS : opcode === Opcode.INIT ? Errno.EPROTO : Errno.EINVAL;
      return this.fail(reply, unique, e);
    }

    switch (req.opcode) {
      case Opcode.INIT:
        return this.init(req, reply);
      case Opcode.DESTROY:
        return this.destroy(req, reply);
      case Opcode.INTERRUPT: {
        const target = this.inFlightWith(req.arg.unique);
        if (target === undefined) return this.fail(reply, unique, Errno.EAGAIN);
        target.interrupt();
        return NO_REPLY;
      }
    }

    const handler = HANDLERS[req.opcode];
    if (handler === undefined) return this.fail(reply, unique, Errno.ENOSYS);
    const ctx = new RequestContext(req.header);
    if (req.extensions !== undefined && CREATING.has(req.opcode)) {
      try {
        this.applyExtensions(ctx, req.extensions);
      } catch (error) {
        log.debug(`fuse: bad extensions in ${opcodeName(opcode)} (unique ${unique}): ${describe(error)}`);
        return this.fail(reply, unique, Errno.EINVAL);
      }
    }
    this.enter(ctx);
    let done: Handled;
    try {
      done = handler(this, req, ctx, reply, payload);
    } catch (error) {
      this.leave(ctx);
      return this.fail(reply, unique, this.errnoOf(error, ctx, req.opcode));
    }
    if (done === undefined || typeof done === "number") {
      this.leave(ctx);
      return done ?? 0;
    }
    const op = req.opcode;
    return done.then(
      (result) => {
        this.leave(ctx);
        return typeof result === "number" ? result : 0;
      },
      (error: unknown) => {
        this.leave(ctx);
        return this.fail(reply, unique, this.errnoOf(error, ctx, op));
      },
    );
  }

  /** An INIT during a session (with `restartOnInit`): ends the session, then serves the INIT as the first request. */
  private async restart(
    request: Uint8Array,
    reply: ReplyTarget,
    payload: WriteSource | undefined,
    opcode: number,
  ): Promise<number> {
    log.info("fuse: INIT during a session: ending it and starting a new one");
    this.endSession();
    await this.fs.destroy().catch((error: unknown) => log.error(`fuse: destroy failed: ${describe(error, true)}`));
    return this.serve(request, reply, payload, opcode);
  }

  private enter(ctx: RequestContext): void {
    const newest = this.newest;
    ctx.older = newest;
    if (newest !== null) newest.newer = ctx;
    this.newest = ctx;
    this.flying++;
  }

  private leave(ctx: RequestContext): void {
    const { newer, older } = ctx;
    if (newer !== null) newer.older = older;
    else this.newest = older;
    if (older !== null) older.newer = newer;
    ctx.newer = ctx.older = null;
    this.flying--;
  }

  /** The newest request in flight with this `unique` (a client's duplicate hides an older one, as a map would). */
  private inFlightWith(unique: bigint): RequestContext | undefined {
    for (let ctx = this.newest; ctx !== null; ctx = ctx.older) if (ctx.unique === unique) return ctx;
    return undefined;
  }

  /** FORGET, BATCH_FORGET, NOTIFY_REPLY: no reply, whatever happens. */
  private noReply(request: Uint8Array, opcode: number): void {
    if (this.phase !== "ready") return;
    let req: Request;
    try {
      req = decodeRequest(request, this.wire);
    } catch (error) {
      log.debug(`fuse: malformed ${opcodeName(opcode)} dropped: ${describe(error)}`);
      return;
    }
    try {
      if (req.opcode === Opcode.FORGET) this.fs.forget(req.header.nodeid, req.arg.nlookup);
      else if (req.opcode === Opcode.BATCH_FORGET) this.fs.batchForget(req.forgets);
      // NOTIFY_REPLY answers a NOTIFY_RETRIEVE, which this server never sends.
    } catch (error) {
      log.error(`fuse: ${opcodeName(opcode)} failed in the file system: ${describe(error, true)}`);
    }
  }

  /**
   * WRITE whose data stayed in place: `request` is the header and
   * `fuse_write_in`, `payload` the data (the handler takes it from there).
   */
  private decodeSplit(request: Uint8Array, payload: WriteSource): Request {
    const size = dataLength(payload);
    const r = new WireReader(request, "WRITE request");
    const h = InHeader.decode(r);
    if (h.opcode !== Opcode.WRITE) {
      throw new ProtocolError(ProtocolErrorCode.VALUE, `${opcodeName(h.opcode)} request with detached payload`);
    }
    if (h.totalExtlen !== 0) throw new ProtocolError(ProtocolErrorCode.VALUE, "WRITE request with extensions");
    const arg = WriteIn.decodePrefix(r, this.wire.minor < 9 ? 24 : WriteIn.SIZE);
    r.end();
    if (h.len !== request.length + size) {
      throw new ProtocolError(ProtocolErrorCode.LENGTH, `fuse_in_header.len declares ${h.len} bytes, message holds ${request.length + size}`);
    }
    if (arg.size !== size) throw new ProtocolError(ProtocolErrorCode.LENGTH, `WRITE size declares ${arg.size} bytes, message holds ${size}`);
    const header = { unique: h.unique, nodeid: h.nodeid, uid: h.uid, gid: h.gid, pid: h.pid };
    return { opcode: Opcode.WRITE, header, arg, data: EMPTY };
  }

  private applyExtensions(ctx: RequestContext, area: Uint8Array): void {
    for (const ext of decodeExtensions(area)) {
      if (ext.kind === "groups") {
        if (this.session === null || (this.session.flags & InitFlag.CREATE_SUPP_GROUP) === 0n) {
          throw new ProtocolError(ProtocolErrorCode.STATE, "supplementary groups without CREATE_SUPP_GROUP");
        }
        if (ext.groups.length > 0) ctx.suppGroup = ext.groups[0]!;
      }
      // Security contexts are never negotiated (SECURITY_CTX is not offered); other types are ignored.
    }
  }

  /** The errno for whatever a handler threw. */
  private errnoOf(error: unknown, ctx: RequestContext, opcode: number): number {
    if (ErrnoError.is(error)) {
      const e = error.errno;
      if (Number.isInteger(e) && e >= 1 && e <= MAX_REPLY_ERRNO) return e;
      log.error(`fuse: ${opcodeName(opcode)}: file system answered errno ${e}, sent as EIO`);
      return Errno.EIO;
    }
    if (ctx.interrupted) return Errno.EINTR;
    if (ProtocolError.is(error)) {
      log.warn(`fuse: ${opcodeName(opcode)} (unique ${ctx.unique}): reply not sent: ${error.code}: ${error.message}`);
    } else {
      log.error(`fuse: ${opcodeName(opcode)} (unique ${ctx.unique}) failed: ${describe(error, true)}`);
    }
    return Errno.EIO;
  }

  /**
   * Sends a header-only error reply; returns `e` (a promise of it only when
   * the send is asynchronous, so a synchronous one costs no microtask turn).
   * Handlers use it for a failure the file system answered without throwing
   * (see {@link Handled}).
   */
  fail(reply: ReplyTarget, unique: bigint, e: number): number | Promise<number> {
    try {
      const sent = reply.send([encodeErrorReply(unique, e)]);
      if (sent !== undefined) return sent.then(() => e, (error: unknown) => unsent(e, unique, error));
    } catch (error) {
      return unsent(e, unique, error);
    }
    return e;
  }

  private async init(req: RequestOf<typeof Opcode.INIT>, reply: ReplyTarget): Promise<number> {
    const { major, minor, maxReadahead } = req.arg;
    const unique = req.header.unique;
    if (major < FUSE_KERNEL_VERSION) {
      log.error(`fuse: INIT from a client of protocol ${major}.${minor}: unsupported`);
      return this.fail(reply, unique, Errno.EPROTO);
    }
    if (major > FUSE_KERNEL_VERSION) {
      // Tell the client our major and wait for its INIT of that major.
      const out: InitOut = { ...ZERO_INIT_OUT, major: FUSE_KERNEL_VERSION, minor: FUSE_KERNEL_MINOR_VERSION };
      return this.sendOrFail(reply, unique, encodeReply(unique, Opcode.INIT, out, DEFAULT_WIRE_OPTIONS));
    }
    if (minor < this.minMinor) {
      log.error(`fuse: INIT from a client of protocol 7.${minor}: the oldest accepted is 7.${this.minMinor}`);
      return this.fail(reply, unique, Errno.EPROTO);
    }
    const clientFlags = combineInitFlags(req.arg.flags, req.arg.flags2);
    this.phase = "initializing";
    let wanted: bigint;
    try {
      wanted = (await this.fs.init({ minor, clientFlags })).flags;
    } catch (error) {
      this.phase = "new";
      return this.fail(reply, unique, ErrnoError.is(error) ? error.errno : Errno.EIO);
    }
    const enabled = clientFlags & this.offered & (PROTOCOL_INIT_FLAGS | wanted);
    const { flags, flags2 } = splitInitFlags(enabled);
    const maxBackground = this.options.maxBackground ?? 0xffff;
    const out: InitOut = {
      ...ZERO_INIT_OUT,
      major: FUSE_KERNEL_VERSION,
      minor: FUSE_KERNEL_MINOR_VERSION,
      maxReadahead: this.options.maxReadahead ?? maxReadahead,
      flags,
      flags2,
      maxBackground,
      congestionThreshold: this.options.congestionThreshold ?? Math.floor((maxBackground * 3) / 4),
      maxWrite: this.maxWrite,
      timeGran: this.options.timeGran ?? 1,
      maxPages: this.maxPages,
    };
    const negotiatedMinor = Math.min(minor, FUSE_KERNEL_MINOR_VERSION);
    // The session starts before the reply leaves: the client may send at once.
    this.session = { clientMinor: minor, minor: negotiatedMinor, flags: enabled, maxWrite: this.maxWrite };
    this.wire = wireOptions(negotiatedMinor, enabled);
    this.phase = "ready";
    log.info(`fuse: session of protocol 7.${negotiatedMinor}, flags ${initFlagNames(enabled).join(",") || "none"}`);
    const result = await this.sendOrFail(
      reply,
      unique,
      encodeReply(unique, Opcode.INIT, out, { minor, setxattrExt: false }),
    );
    if (result !== 0) {
      this.endSession();
      await this.fs.destroy().catch((error: unknown) => log.error(`fuse: destroy failed: ${describe(error, true)}`));
    }
    return result;
  }

  private async destroy(req: RequestOf<typeof Opcode.DESTROY>, reply: ReplyTarget): Promise<number> {
    this.endSession();
    try {
      await this.fs.destroy();
    } catch (error) {
      log.error(`fuse: DESTROY failed in the file system: ${describe(error, true)}`);
    }
    return this.sendOrFail(reply, req.header.unique, emptyReply(req.header.unique));
  }

  /** Sends a success reply, or an EIO reply when it cannot go; returns 0 or EIO. */
  private async sendOrFail(reply: ReplyTarget, unique: bigint, chunks: Uint8Array[]): Promise<number> {
    try {
      await reply.send(chunks);
      return 0;
    } catch (error) {
      log.warn(`fuse: reply to request ${unique} not sent: ${describe(error)}`);
      return this.fail(reply, unique, Errno.EIO);
    }
  }
}

/** The device-readable side of a descriptor chain, as src/virtio/chain-io.ts `Reader` provides it. */
export interface ChainReader {
  /** Bytes not read yet. */
  readonly remaining: number;
  /** The little-endian u32 `ahead` bytes on, read in place without consuming it. */
  peekU32(ahead: number): number;
  /** A private copy of the next `n` bytes. */
  readBytes(n: number): Uint8Array;
  /** Fills `dst` from byte `at` (default 0) to its end with a private copy of the next bytes. */
  readInto(dst: Uint8Array, at?: number): void;
  /** Live views of the next `n` bytes (opaque payload only). */
  views(n: number): Uint8Array[];
  /** The next `n` bytes as spans of the chain's buffers, without a view of each (opaque payload only). */
  segments?(n: number): DataSegments;
}

const EMPTY = new Uint8Array(0);

const ZERO_INIT_OUT: InitOut = {
  major: 0,
  minor: 0,
  maxReadahead: 0,
  flags: 0,
  maxBackground: 0,
  congestionThreshold: 0,
  maxWrite: 0,
  timeGran: 0,
  maxPages: 0,
  mapAlignment: 0,
  flags2: 0,
  maxStackDepth: 0,
  requestTimeout: 0,
};

/** Logs an error reply that could not be sent; returns its errno. */
function unsent(e: number, unique: bigint, error: unknown): number {
  log.warn(`fuse: cannot send the ${errnoName(e)} reply to request ${unique}: ${describe(error)}`);
  return e;
}

function describe(error: unknown, stack = false): string {
  if (error instanceof Error) return stack && error.stack ? error.stack : `${error.name}: ${error.message}`;
  return String(error);
}

/**
 * The trace line of one request: `LOOKUP node=1 unique=8 ENOENT 42us`
 * (result: OK, the errno name sent, or `no-reply`).
 */
export function traceLine(opcode: number, nodeid: bigint, unique: bigint, result: number, us: number): string {
  const outcome = result === 0 ? "OK" : result === NO_REPLY ? "no-reply" : errnoName(result);
  return `${opcodeName(opcode)} node=${nodeid} unique=${unique} ${outcome} ${us}us`;
}

// ---------------------------------------------------------------------------
// Per-opcode handlers

/** Opcodes whose requests may carry the supplementary-group extension. */
const CREATING: ReadonlySet<number> = new Set([Opcode.CREATE, Opcode.MKDIR, Opcode.MKNOD, Opcode.SYMLINK, Opcode.TMPFILE]);

const HANDLERS: (Handler | undefined)[] = [];

/**
 * Registers the handler of `opcode`. Handlers are plain functions that go on
 * from the file system's answer with {@link andThen} and end with `return
 * reply.send(...)` (or `return ok(...)`): when the file system and the
 * transport are synchronous, the whole request is served before the
 * transport's call returns, without a turn of the microtask queue.
 */
function on<O extends RequestOpcode>(
  opcode: O,
  fn: (
    s: FuseServer,
    req: RequestOf<O>,
    ctx: RequestContext,
    reply: ReplyTarget,
    payload: WriteSource | undefined,
  ) => Handled,
): void {
  HANDLERS[opcode] = fn as unknown as Handler;
}

/**
 * Goes on with the file system's answer: at once when it came synchronously
 * (no microtask turn), else when its promise fulfils (a rejection passes
 * through to the server, which answers it).
 */
function andThen<T>(answer: Answer<T>, next: (value: T) => Handled): Handled {
  return answer instanceof Promise ? answer.then(next) : next(answer);
}

function ok<O extends ReplyOpcode>(
  s: FuseServer,
  reply: ReplyTarget,
  unique: bigint,
  opcode: O,
  body: ReplyBodyMap[O],
): void | Promise<void> {
  return reply.send(encodeReply(unique, opcode, body, s.wireOptions));
}

on(Opcode.LOOKUP, (s, req, ctx, reply) => {
  checkEntryName(req.name);
  return andThen(s.fs.lookup(ctx, req.header.nodeid, req.name), (entry) =>
    entry === NO_ENTRY ? s.fail(reply, ctx.unique, Errno.ENOENT) : ok(s, reply, ctx.unique, Opcode.LOOKUP, entry),
  );
});

on(Opcode.GETATTR, (s, req, ctx, reply) => {
  const fh = (req.arg.getattrFlags & FUSE_GETATTR_FH) !== 0 ? req.arg.fh : undefined;
  return andThen(s.fs.getattr(ctx, req.header.nodeid, fh), (out) => ok(s, reply, ctx.unique, Opcode.GETATTR, out));
});

on(Opcode.SETATTR, (s, req, ctx, reply) => {
  return andThen(s.fs.setattr(ctx, req.header.nodeid, req.arg), (out) => ok(s, reply, ctx.unique, Opcode.SETATTR, out));
});

on(Opcode.STATX, (s, req, ctx, reply) => {
  return andThen(s.fs.statx(ctx, req.header.nodeid, req.arg), (out) => ok(s, reply, ctx.unique, Opcode.STATX, out));
});

on(Opcode.READLINK, async (s, req, ctx, reply) => {
  const target = await s.fs.readlink(ctx, req.header.nodeid);
  const body = Buffer.isBuffer(target) ? target : Buffer.from(target.buffer, target.byteOffset, target.byteLength);
  return ok(s, reply, ctx.unique, Opcode.READLINK, body);
});

on(Opcode.SYMLINK, (s, req, ctx, reply) => {
  checkEntryName(req.name);
  if (req.target.byteLength > SYMLINK_MAX) throw errno("ENAMETOOLONG", "symlink target");
  return andThen(s.fs.symlink(ctx, req.header.nodeid, req.name, req.target), (out) => ok(s, reply, ctx.unique, Opcode.SYMLINK, out));
});

on(Opcode.MKNOD, (s, req, ctx, reply) => {
  checkEntryName(req.name);
  const { mode, rdev, umask } = req.arg;
  return andThen(s.fs.mknod(ctx, req.header.nodeid, req.name, mode, rdev, umask), (out) => ok(s, reply, ctx.unique, Opcode.MKNOD, out));
});

on(Opcode.MKDIR, (s, req, ctx, reply) => {
  checkEntryName(req.name);
  const { mode, umask } = req.arg;
  return andThen(s.fs.mkdir(ctx, req.header.nodeid, req.name, mode, umask), (out) => ok(s, reply, ctx.unique, Opcode.MKDIR, out));
});

on(Opcode.UNLINK, (s, req, ctx, reply) => {
  checkEntryName(req.name);
  return andThen(s.fs.unlink(ctx, req.header.nodeid, req.name), () => reply.send(emptyReply(ctx.unique)));
});

on(Opcode.RMDIR, (s, req, ctx, reply) => {
  checkEntryName(req.name);
  return andThen(s.fs.rmdir(ctx, req.header.nodeid, req.name), () => reply.send(emptyReply(ctx.unique)));
});

const RENAME_FLAGS = RenameFlag.NOREPLACE | RenameFlag.EXCHANGE | RenameFlag.WHITEOUT;

function rename(
  s: FuseServer,
  req: RequestOf<typeof Opcode.RENAME> | RequestOf<typeof Opcode.RENAME2>,
  flags: number,
  ctx: RequestContext,
  reply: ReplyTarget,
): Handled {
  checkEntryName(req.name);
  checkEntryName(req.newName);
  if ((flags & ~RENAME_FLAGS) !== 0) throw errno("EINVAL", "rename flags");
  return andThen(s.fs.rename(ctx, req.header.nodeid, req.name, req.arg.newdir, req.newName, flags), () => reply.send(emptyReply(ctx.unique)));
}

on(Opcode.RENAME, (s, req, ctx, reply) => rename(s, req, 0, ctx, reply));
on(Opcode.RENAME2, (s, req, ctx, reply) => rename(s, req, req.arg.flags, ctx, reply));

on(Opcode.LINK, (s, req, ctx, reply) => {
  checkEntryName(req.name);
  return andThen(s.fs.link(ctx, req.arg.oldnodeid, req.header.nodeid, req.name), (out) => ok(s, reply, ctx.unique, Opcode.LINK, out));
});

on(Opcode.OPEN, (s, req, ctx, reply) => {
  return andThen(s.fs.open(ctx, req.header.nodeid, req.arg.flags, req.arg.openFlags), (out) => ok(s, reply, ctx.unique, Opcode.OPEN, out));
});

on(Opcode.CREATE, (s, req, ctx, reply) => {
  checkEntryName(req.name);
  const { flags, mode, umask, openFlags } = req.arg;
  return andThen(s.fs.create(ctx, req.header.nodeid, req.name, flags, mode, umask, openFlags), (out) =>
    ok(s, reply, ctx.unique, Opcode.CREATE, out),
  );
});

on(Opcode.TMPFILE, (s, req, ctx, reply) => {
  const { flags, mode, umask } = req.arg;
  return andThen(s.fs.tmpfile(ctx, req.header.nodeid, flags, mode, umask), (out) => ok(s, reply, ctx.unique, Opcode.TMPFILE, out));
});

on(Opcode.READ, (s, req, ctx, reply) => {
  let arg = req.arg;
  if (arg.size > s.readLimit) throw errno("ENOMEM", "read size");
  // Pages of guest memory as spans, where the transport has them: no view per page.
  const target: ReadTarget = reply.dataSegments !== undefined ? reply.dataSegments(arg.size) : reply.dataBuffers(arg.size);
  const room = dataLength(target);
  if (room < arg.size) arg = { ...arg, size: room };
  return andThen(s.fs.read(ctx, req.header.nodeid, arg, target), (n) => {
    if (!Number.isSafeInteger(n) || n < 0 || n > room) throw fsBug(`read returned ${n} for ${room} bytes of room`);
    return reply.sendData(encodeOutHeader(OUT_HEADER_SIZE + n, 0, ctx.unique), n);
  });
});

on(Opcode.WRITE, (s, req, ctx, reply, payload) => {
  const source: WriteSource = payload ?? [req.data];
  return andThen(s.fs.write(ctx, req.header.nodeid, req.arg, source), (n) => {
    if (!Number.isSafeInteger(n) || n < 0 || n > req.arg.size) throw fsBug(`write returned ${n} for ${req.arg.size} bytes`);
    return reply.send(writeReply(ctx.unique, n));
  });
});

on(Opcode.STATFS, (s, req, ctx, reply) => {
  return andThen(s.fs.statfs(ctx, req.header.nodeid), (v) => ok(s, reply, ctx.unique, Opcode.STATFS, { st: v }));
});

on(Opcode.RELEASE, (s, req, ctx, reply) => {
  return andThen(s.fs.release(ctx, req.header.nodeid, req.arg), () => reply.send(emptyReply(ctx.unique)));
});

on(Opcode.FSYNC, (s, req, ctx, reply) => {
  return andThen(s.fs.fsync(ctx, req.header.nodeid, req.arg), () => reply.send(emptyReply(ctx.unique)));
});

on(Opcode.SETXATTR, (s, req, ctx, reply) => {
  checkXattrName(req.name);
  if (req.value.byteLength > XATTR_SIZE_MAX) throw errno("E2BIG", "setxattr");
  return andThen(s.fs.setxattr(ctx, req.header.nodeid, req.name, req.value, req.arg.flags, req.arg.setxattrFlags), () => reply.send(emptyReply(ctx.unique)));
});

/** GETXATTR/LISTXATTR size rules: size 0 asks for the length; a value longer than `size` is ERANGE. */
function xattrReply(size: number, value: Uint8Array): { size: number } | Uint8Array {
  if (size === 0) return { size: value.byteLength };
  if (value.byteLength > size) throw errno("ERANGE", "xattr value larger than the buffer");
  return value;
}

on(Opcode.GETXATTR, (s, req, ctx, reply) => {
  checkXattrName(req.name);
  return andThen(s.fs.getxattr(ctx, req.header.nodeid, req.name), (value) =>
    value === NO_XATTR ? s.fail(reply, ctx.unique, Errno.ENODATA) : ok(s, reply, ctx.unique, Opcode.GETXATTR, xattrReply(req.arg.size, value)),
  );
});

on(Opcode.LISTXATTR, async (s, req, ctx, reply) => {
  const names = await s.fs.listxattr(ctx, req.header.nodeid);
  return ok(s, reply, ctx.unique, Opcode.LISTXATTR, xattrReply(req.arg.size, names));
});

on(Opcode.REMOVEXATTR, (s, req, ctx, reply) => {
  checkXattrName(req.name);
  return andThen(s.fs.removexattr(ctx, req.header.nodeid, req.name), () => reply.send(emptyReply(ctx.unique)));
});

on(Opcode.FLUSH, (s, req, ctx, reply) => {
  return andThen(s.fs.flush(ctx, req.header.nodeid, req.arg), () => reply.send(emptyReply(ctx.unique)));
});

on(Opcode.OPENDIR, (s, req, ctx, reply) => {
  return andThen(s.fs.opendir(ctx, req.header.nodeid, req.arg.flags), (out) => ok(s, reply, ctx.unique, Opcode.OPENDIR, out));
});

async function readdir(
  s: FuseServer,
  req: RequestOf<typeof Opcode.READDIR> | RequestOf<typeof Opcode.READDIRPLUS>,
  plus: boolean,
  ctx: RequestContext,
  reply: ReplyTarget,
): Promise<void> {
  // A larger buffer than we serve is no error: fewer entries fit, and the client continues from the last offset.
  const sink = new ReplyDirSink(Math.min(req.arg.size, s.readLimit), plus);
  try {
    if (plus) await s.fs.readdirplus(ctx, req.header.nodeid, req.arg.fh, req.arg.offset, sink);
    else await s.fs.readdir(ctx, req.header.nodeid, req.arg.fh, req.arg.offset, sink);
  } catch (error) {
    // Entries already accepted were counted as lookups: they must reach the client.
    if (!plus || sink.count === 0) throw error;
    log.debug(`fuse: READDIRPLUS failed after ${sink.count} entries, sending those: ${describe(error)}`);
  }
  const body = sink.finish();
  try {
    return reply.send([encodeOutHeader(OUT_HEADER_SIZE + body.length, 0, ctx.unique), body]);
  } finally {
    sink.recycle(); // send has copied or written the body
  }
}

on(Opcode.READDIR, (s, req, ctx, reply) => readdir(s, req, false, ctx, reply));
on(Opcode.READDIRPLUS, (s, req, ctx, reply) => readdir(s, req, true, ctx, reply));

on(Opcode.RELEASEDIR, (s, req, ctx, reply) => {
  return andThen(s.fs.releasedir(ctx, req.header.nodeid, req.arg), () => reply.send(emptyReply(ctx.unique)));
});

on(Opcode.FSYNCDIR, (s, req, ctx, reply) => {
  return andThen(s.fs.fsyncdir(ctx, req.header.nodeid, req.arg), () => reply.send(emptyReply(ctx.unique)));
});

on(Opcode.GETLK, (s, req, ctx, reply) => {
  return andThen(s.fs.getlk(ctx, req.header.nodeid, req.arg), (v) => ok(s, reply, ctx.unique, Opcode.GETLK, { lk: v }));
});

on(Opcode.SETLK, (s, req, ctx, reply) => {
  return andThen(s.fs.setlk(ctx, req.header.nodeid, req.arg, false), () => reply.send(emptyReply(ctx.unique)));
});

on(Opcode.SETLKW, (s, req, ctx, reply) => {
  return andThen(s.fs.setlk(ctx, req.header.nodeid, req.arg, true), () => reply.send(emptyReply(ctx.unique)));
});

on(Opcode.ACCESS, (s, req, ctx, reply) => {
  return andThen(s.fs.access(ctx, req.header.nodeid, req.arg.mask), () => reply.send(emptyReply(ctx.unique)));
});

on(Opcode.BMAP, (s, req, ctx, reply) => {
  return andThen(s.fs.bmap(ctx, req.header.nodeid, req.arg), (v) => ok(s, reply, ctx.unique, Opcode.BMAP, { block: v }));
});

on(Opcode.IOCTL, async (s, req, ctx, reply) => {
  const { result, data } = await s.fs.ioctl(ctx, req.header.nodeid, req.arg, req.data);
  if (data.byteLength > req.arg.outSize) throw fsBug(`ioctl returned ${data.byteLength} bytes for ${req.arg.outSize}`);
  return ok(s, reply, ctx.unique, Opcode.IOCTL, { out: { result, flags: 0, inIovs: 0, outIovs: 0 }, data });
});

on(Opcode.POLL, (s, req, ctx, reply) => {
  return andThen(s.fs.poll(ctx, req.header.nodeid, req.arg), (v) => ok(s, reply, ctx.unique, Opcode.POLL, { revents: v }));
});

on(Opcode.FALLOCATE, (s, req, ctx, reply) => {
  return andThen(s.fs.fallocate(ctx, req.header.nodeid, req.arg), () => reply.send(emptyReply(ctx.unique)));
});

on(Opcode.LSEEK, (s, req, ctx, reply) => {
  return andThen(s.fs.lseek(ctx, req.header.nodeid, req.arg), (v) => ok(s, reply, ctx.unique, Opcode.LSEEK, { offset: v }));
});

on(Opcode.COPY_FILE_RANGE, async (s, req, ctx, reply) => {
  const n = await s.fs.copyFileRange(ctx, req.header.nodeid, req.arg);
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xffff_ffff || BigInt(n) > req.arg.len) {
    throw fsBug(`copy_file_range returned ${n} for ${req.arg.len} bytes`);
  }
  return ok(s, reply, ctx.unique, Opcode.COPY_FILE_RANGE, { size: n });
});

on(Opcode.SYNCFS, (s, req, ctx, reply) => {
  return andThen(s.fs.syncfs(ctx, req.header.nodeid), () => reply.send(emptyReply(ctx.unique)));
});

// SETUPMAPPING and REMOVEMAPPING (DAX) have no handler: ENOSYS.
