/**
 * The mount relay: this host's kernel ⇄ a virtio-fs backend. It mounts a
 * FUSE file system through /dev/fuse and carries the kernel's requests, as
 * raw bytes, over a {@link FuseTransport} (the user-space virtio-fs driver),
 * and the backend's replies back, so that a share served to VMs can be used
 * here with every POSIX tool.
 *
 * Per message:
 * - INIT is negotiated on both sides: the kernel's INIT is answered only
 *   after the backend's INIT (through {@link FuseSession.init}) offered the
 *   kernel's flags minus those that cannot cross a relay
 *   ({@link RELAYED_INIT_FLAGS}). Both peers then see the same flags and
 *   minor: minor = min(kernel's, backend's, 38), flags = kernel's ∩ relayed
 *   ∩ backend's, max_write and max_pages bounded by the backend's and by
 *   what the transport carries.
 * - Every other request is forwarded unchanged but for `unique`, which is
 *   rewritten into the backend session's id space
 *   ({@link FuseSession.reserveUnique}) and restored on the reply.
 *   Node ids pass through (the backend issued them; the kernel's FORGETs
 *   give them back). The reply room offered is the most the request allows.
 * - FORGET and BATCH_FORGET go on the hiprio queue and get no reply.
 *   INTERRUPT goes there too, naming the backend's id of the interrupted
 *   request, and only while that request still waits for the backend.
 * - Each reply is checked (`fuse_out_header`: length, error range, id) and
 *   written to /dev/fuse in one write(2). A malformed reply, or a request
 *   the transport refuses, is answered with an error, never left hanging.
 * - Read-only relays refuse every mutating request with EROFS themselves
 *   (the mount is MS_RDONLY as well).
 *
 * The device itself (mounting, non-blocking reads through the poller, one
 * write per reply, unmounting, ENODEV) is `FuseDevMount`
 * (`src/fusedev/mount.ts`), shared with the host side; the relay is its
 * handler. Many requests are in flight at once (reading never pauses: the
 * transport's queues hold back).
 *
 * When the backend goes away, pending and later requests are answered
 * ENOTCONN, the mount is detached (lazily) and {@link FuseRelay.closed}
 * resolves with cause "backend". Nothing in this process may touch the
 * mount with synchronous calls: the replies come from this event loop.
 */
import { ErrnoError, ProtocolError, ProtocolErrorCode } from "../common/errors.js";
import { Errno } from "../common/errno.js";
import { log } from "../common/log.js";
import {
  FUSE_KERNEL_MINOR_VERSION,
  FUSE_KERNEL_VERSION,
  FUSE_MIN_READ_BUFFER,
  InitFlag,
  OpenFlag,
  Opcode,
  combineInitFlags,
  initFlagNames,
  isOpcode,
  opcodeName,
  splitInitFlags,
} from "../fuse/abi.js";
import { decodeInHeader, decodeOutHeader, decodeRequest, encodeErrorReply, encodeReply, encodeRequest, MAX_REPLY_ERRNO } from "../fuse/messages.js";
import {
  AttrOut,
  BmapOut,
  EntryOut,
  GetxattrIn,
  GetxattrOut,
  InHeader,
  InitIn,
  InitOut,
  InterruptIn,
  IoctlIn,
  IoctlOut,
  LkOut,
  LseekOut,
  OpenIn,
  OpenOut,
  OutHeader,
  PollOut,
  ReadIn,
  StatfsOut,
  StatxOut,
  WriteOut,
} from "../fuse/structs.js";
import { FuseDevMount, type FuseDevHandler } from "../fusedev/mount.js";
import type { ReplyTarget } from "../fuse/reply-target.js";
import type { FdPoller } from "../sys/poller.js";
import { FuseSession, MIN_SERVER_MINOR } from "./session.js";
import type { FuseTransport, QueueKind } from "./transport.js";

/**
 * INIT flags that mean the same on both sides of the relay: the kernel may
 * have them if the backend agrees. Left out, because they concern the
 * transport between kernel and daemon rather than the file system, or need
 * shared memory a relay does not have: FILE_OPS, SPLICE_*, ABORT_ERROR
 * (the relay's own /dev/fuse), MAP_ALIGNMENT and HAS_INODE_DAX (DAX
 * windows), and everything after protocol 7.38 (DIRECT_IO_ALLOW_MMAP,
 * PASSTHROUGH, NO_EXPORT_SUPPORT, HAS_RESEND, ALLOW_IDMAP, OVER_IO_URING,
 * REQUEST_TIMEOUT), since the minor is capped at 38.
 */
export const RELAYED_INIT_FLAGS: bigint =
  InitFlag.ASYNC_READ |
  InitFlag.POSIX_LOCKS |
  InitFlag.ATOMIC_O_TRUNC |
  InitFlag.EXPORT_SUPPORT |
  InitFlag.BIG_WRITES |
  InitFlag.DONT_MASK |
  InitFlag.FLOCK_LOCKS |
  InitFlag.HAS_IOCTL_DIR |
  InitFlag.AUTO_INVAL_DATA |
  InitFlag.DO_READDIRPLUS |
  InitFlag.READDIRPLUS_AUTO |
  InitFlag.ASYNC_DIO |
  InitFlag.WRITEBACK_CACHE |
  InitFlag.NO_OPEN_SUPPORT |
  InitFlag.PARALLEL_DIROPS |
  InitFlag.HANDLE_KILLPRIV |
  InitFlag.POSIX_ACL |
  InitFlag.MAX_PAGES |
  InitFlag.CACHE_SYMLINKS |
  InitFlag.NO_OPENDIR_SUPPORT |
  InitFlag.EXPLICIT_INVAL_DATA |
  InitFlag.SUBMOUNTS |
  InitFlag.HANDLE_KILLPRIV_V2 |
  InitFlag.SETXATTR_EXT |
  InitFlag.INIT_EXT |
  InitFlag.SECURITY_CTX |
  InitFlag.CREATE_SUPP_GROUP |
  InitFlag.HAS_EXPIRE_ONLY;

/** Requests a read-only relay answers EROFS (OPEN and CREATE-like flags are judged separately). */
const MUTATING: ReadonlySet<number> = new Set([
  Opcode.SETATTR,
  Opcode.SYMLINK,
  Opcode.MKNOD,
  Opcode.MKDIR,
  Opcode.UNLINK,
  Opcode.RMDIR,
  Opcode.RENAME,
  Opcode.RENAME2,
  Opcode.LINK,
  Opcode.WRITE,
  Opcode.SETXATTR,
  Opcode.REMOVEXATTR,
  Opcode.CREATE,
  Opcode.TMPFILE,
  Opcode.FALLOCATE,
  Opcode.COPY_FILE_RANGE,
]);

/** Opcodes that cannot cross the relay: DAX mapping needs a shared window. Answered ENOSYS. */
const NOT_RELAYED: ReadonlySet<number> = new Set([Opcode.SETUPMAPPING, Opcode.REMOVEMAPPING]);

/** Reply bodies of a fixed size, by opcode (requests not listed get a header-only reply). */
const FIXED_REPLY: ReadonlyMap<number, number> = new Map([
  [Opcode.LOOKUP, EntryOut.SIZE],
  [Opcode.MKNOD, EntryOut.SIZE],
  [Opcode.MKDIR, EntryOut.SIZE],
  [Opcode.SYMLINK, EntryOut.SIZE],
  [Opcode.LINK, EntryOut.SIZE],
  [Opcode.GETATTR, AttrOut.SIZE],
  [Opcode.SETATTR, AttrOut.SIZE],
  [Opcode.OPEN, OpenOut.SIZE],
  [Opcode.OPENDIR, OpenOut.SIZE],
  [Opcode.CREATE, EntryOut.SIZE + OpenOut.SIZE],
  [Opcode.TMPFILE, EntryOut.SIZE + OpenOut.SIZE],
  [Opcode.WRITE, WriteOut.SIZE],
  [Opcode.COPY_FILE_RANGE, WriteOut.SIZE],
  [Opcode.STATFS, StatfsOut.SIZE],
  [Opcode.GETLK, LkOut.SIZE],
  [Opcode.BMAP, BmapOut.SIZE],
  [Opcode.POLL, PollOut.SIZE],
  [Opcode.LSEEK, LseekOut.SIZE],
  [Opcode.STATX, StatxOut.SIZE],
  // The kernel reads a link target into one page.
  [Opcode.READLINK, 4096],
]);

const PAGE_SIZE = 4096;
/** The kernel's default pages per request, without MAX_PAGES. */
const DEFAULT_MAX_PAGES = 32;
/** Room for request headers in front of WRITE data in the read buffer (libfuse's convention). */
const HEADER_ROOM = 4096;
/** Bit 0 of `unique` marks an INTERRUPT (Linux FUSE_INT_REQ_BIT). */
const INTERRUPT_BIT = 1n;

export interface RelayOptions {
  /** Mount read-only (MS_RDONLY) and refuse mutating requests with EROFS. */
  readonly readOnly?: boolean;
  /** The source shown in /proc/mounts (default "viofs"). */
  readonly fsName?: string;
  /** The mount's type is `fuse.<subtype>` (default "viofs"). */
  readonly subtype?: string;
  /** Forward the kernel's INTERRUPTs (default true; see the module comment). */
  readonly interrupts?: boolean;
  /** How long to wait for the kernel's INIT and then the backend's answer, ms (default 10000). */
  readonly initTimeoutMs?: number;
  /** How long {@link FuseRelay.unmount} waits for a busy mount before aborting the connection, ms (default 2000). */
  readonly unmountTimeoutMs?: number;
  /** The FUSE device (default /dev/fuse). */
  readonly devicePath?: string;
  /** The poller that watches the device (default: the shared one). */
  readonly poller?: FdPoller;
}

/** Why a relay ended. */
export interface RelayEnd {
  /**
   * "unmounted": the kernel ended the connection (umount, or {@link FuseRelay.unmount});
   * "backend": the transport ended first (the backend went away);
   * "failed": reading the device failed.
   */
  readonly cause: "unmounted" | "backend" | "failed";
  /** The transport's reason ("backend") or the read error ("failed"). */
  readonly error: Error | null;
}

/** What the two INITs established. */
export interface RelayInit {
  /** The kernel's INIT, as received. */
  readonly kernel: InitIn;
  /** The session with the backend (its `info.init` is the backend's answer). */
  readonly session: FuseSession;
  /** The answer sent to the kernel. */
  readonly reply: InitOut;
  /** INIT flags in effect on both sides. */
  readonly flags: bigint;
}

/** Counters, for tests and statistics. */
export interface RelayStats {
  /** Requests forwarded that expect a reply. */
  forwarded: number;
  /** FORGET and BATCH_FORGET messages forwarded. */
  forgets: number;
  /** INTERRUPTs forwarded / dropped (their request had been answered, or interrupts are off). */
  interrupts: number;
  interruptsDropped: number;
  /** Requests answered by the relay itself: EROFS, ENOSYS, ENOTCONN after the backend left. */
  refused: number;
  /** Replies replaced by EIO because they were malformed. */
  malformed: number;
}

type State = "init" | "ready" | "closed";

/** A request's bytes are free once its handling settles. */
const DONE: Promise<void> = Promise.resolve();

/** A FUSE mount whose requests go to a virtio-fs backend. Create it with {@link FuseRelay.mount}. */
export class FuseRelay {
  /** Resolves once, when the connection has ended and the transport is closed; never rejects. */
  readonly closed: Promise<RelayEnd>;
  readonly stats: RelayStats = { forwarded: 0, forgets: 0, interrupts: 0, interruptsDropped: 0, refused: 0, malformed: 0 };

  private state: State = "init";
  /** The read buffer size the kernel needs: the minimum until INIT, then room for a whole WRITE. */
  private bufferSize = FUSE_MIN_READ_BUFFER;
  /** Kernel id → backend id, for every request waiting for the backend. */
  private readonly inFlight = new Map<bigint, bigint>();
  private init_: RelayInit | null = null;
  /** Why INIT failed; null while it may still succeed. */
  private initError: Error | null = null;
  private backendGone: Error | null = null;
  private device: FuseDevMount | null = null;
  private resolveClosed!: (end: RelayEnd) => void;
  private readonly readOnly: boolean;
  private readonly interrupts: boolean;

  private constructor(
    readonly transport: FuseTransport,
    readonly mountpoint: string,
    private readonly options: RelayOptions,
  ) {
    this.readOnly = options.readOnly ?? false;
    this.interrupts = options.interrupts ?? true;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  /** The relay as {@link FuseDevMount} sees it. */
  private readonly handler: FuseDevHandler = ((relay: FuseRelay): FuseDevHandler => ({
    get requestLimit() {
      return relay.bufferSize;
    },
    readLimit: 0,
    get negotiated() {
      return relay.init_;
    },
    get initError() {
      return relay.initError;
    },
    handle: (request, reply) => relay.handle(request, reply),
    reset: () => relay.reset(),
  }))(this);

  /**
   * Mounts a FUSE file system at `mountpoint` (type `fuse.<subtype>`,
   * nosuid, nodev, allow_other, default_permissions, and ro with
   * `readOnly`) and relays it to `transport`, which the relay owns from now
   * on: it is closed when the relay ends, or when mounting fails. Resolves
   * once both INITs are done. Rejects with the open/mount ErrnoError
   * (ENOENT for a missing device, EPERM without privilege, …), or, after
   * unmounting, with the reason INIT failed.
   */
  static async mount(transport: FuseTransport, mountpoint: string, options: RelayOptions = {}): Promise<FuseRelay> {
    const relay = new FuseRelay(transport, mountpoint, options);
    void transport.closed.then((reason) => relay.onTransportClosed(reason));
    try {
      relay.device = await FuseDevMount.mount(relay.handler, mountpoint, {
        fsName: options.fsName ?? "viofs",
        subtype: options.subtype ?? "viofs",
        readOnly: options.readOnly ?? false,
        maxInFlight: Infinity,
        initTimeoutMs: options.initTimeoutMs ?? 10_000,
        unmountTimeoutMs: options.unmountTimeoutMs ?? 2000,
        devicePath: options.devicePath ?? "/dev/fuse",
        ...(options.poller !== undefined ? { poller: options.poller } : {}),
      });
    } catch (error) {
      transport.close();
      throw error;
    }
    void relay.device.closed.then((failure) => relay.ended(failure));
    // The backend may have gone between INIT and here.
    if (relay.backendGone !== null) void relay.unmount();
    return relay;
  }

  /** What the two INITs established (null until then). */
  get init(): RelayInit | null {
    return this.init_;
  }

  /** Requests waiting for the backend. */
  get pending(): number {
    return this.inFlight.size;
  }

  /**
   * Detaches the mount (MNT_DETACH) and waits for the kernel to end the
   * connection; a mount still busy after `unmountTimeoutMs` is aborted by
   * closing the device. Then closes the transport. Idempotent; safe after
   * someone else unmounted.
   */
  async unmount(): Promise<RelayEnd> {
    await this.device?.unmount();
    return this.closed;
  }

  // ─── The device's handler ───────────────────────────────────────────────

  private handle(request: Uint8Array, reply: ReplyTarget): Promise<void> {
    let header: InHeader;
    try {
      header = decodeInHeader(request);
    } catch (error) {
      // Nothing to answer: without a header there is no id.
      log.warn(`relay: a request from the kernel without a header: ${String(error)}`);
      return DONE;
    }
    if (this.state === "init") return this.initialize(header, request, reply);
    return this.relay(header, request, reply);
  }

  /** Writes one reply; a reply the kernel refuses (EINVAL) is logged: it has failed the request (EIO) itself. */
  private write(reply: ReplyTarget, bytes: Uint8Array): void {
    try {
      void reply.send([bytes]);
    } catch (error) {
      log.warn(`relay: the kernel refused a reply of ${bytes.length} bytes: ${String(error)}`);
    }
  }

  private answer(reply: ReplyTarget, unique: bigint, errno: number): void {
    this.write(reply, encodeErrorReply(unique, errno));
  }

  // ─── INIT ───────────────────────────────────────────────────────────────

  private async initialize(header: InHeader, request: Uint8Array, reply: ReplyTarget): Promise<void> {
    const unique = header.unique;
    if (header.opcode !== Opcode.INIT) {
      log.warn(`relay: ${opcodeName(header.opcode)} before INIT`);
      this.answer(reply, unique, Errno.EIO);
      return;
    }
    let arg: InitIn;
    try {
      const req = decodeRequest(request);
      if (req.opcode !== Opcode.INIT) throw new ProtocolError(ProtocolErrorCode.VALUE, "not an INIT");
      arg = req.arg;
    } catch (error) {
      this.answer(reply, unique, Errno.EPROTO);
      this.initFailed(error as Error);
      return;
    }
    if (arg.major > FUSE_KERNEL_VERSION) {
      // Name our major; the kernel sends INIT again in it.
      const out: InitOut = { ...InitOut.zero(), major: FUSE_KERNEL_VERSION, minor: FUSE_KERNEL_MINOR_VERSION };
      this.write(reply, encodeReply(unique, Opcode.INIT, out, { minor: FUSE_KERNEL_MINOR_VERSION, setxattrExt: false })[0]!);
      return;
    }
    if (arg.major < FUSE_KERNEL_VERSION || arg.minor < MIN_SERVER_MINOR) {
      this.answer(reply, unique, Errno.EPROTO);
      this.initFailed(new ProtocolError(ProtocolErrorCode.VALUE, `the kernel speaks FUSE ${arg.major}.${arg.minor}; the relay needs 7.${MIN_SERVER_MINOR} or later`));
      return;
    }
    const kernelFlags = combineInitFlags(arg.flags, arg.flags2);
    let session: FuseSession;
    try {
      session = await FuseSession.init(this.transport, {
        initFlags: kernelFlags & RELAYED_INIT_FLAGS,
        maxReadahead: arg.maxReadahead,
        uid: header.uid,
        gid: header.gid,
        pid: header.pid,
        initTimeoutMs: this.options.initTimeoutMs ?? 10_000,
      });
    } catch (error) {
      this.answer(reply, unique, ErrnoError.is(error) ? error.errno : Errno.EPROTO);
      this.initFailed(error as Error);
      return;
    }
    const info = session.info;
    const flags = info.flags;
    // Pages per request: the backend's, no more than one reply can carry.
    const pages = (flags & InitFlag.MAX_PAGES) !== 0n ? Math.max(1, Math.min(info.maxPages, Math.floor(info.maxRead / PAGE_SIZE))) : DEFAULT_MAX_PAGES;
    const maxWrite = Math.max(PAGE_SIZE, Math.min(info.maxWrite, pages * PAGE_SIZE));
    const { flags: low, flags2: high } = splitInitFlags(flags);
    const backend = info.init;
    const out: InitOut = {
      ...InitOut.zero(),
      major: FUSE_KERNEL_VERSION,
      minor: Math.min(arg.minor, info.minor),
      maxReadahead: Math.min(arg.maxReadahead, backend.maxReadahead),
      flags: low,
      flags2: high,
      maxBackground: backend.maxBackground,
      congestionThreshold: backend.congestionThreshold,
      maxWrite,
      timeGran: backend.timeGran,
      maxPages: (flags & InitFlag.MAX_PAGES) !== 0n ? pages : 0,
    };
    // The kernel insists on a read buffer with room for a whole WRITE (the device reads requestLimit once INIT is done).
    this.bufferSize = Math.max(FUSE_MIN_READ_BUFFER, HEADER_ROOM + maxWrite);
    this.init_ = { kernel: arg, session, reply: out, flags };
    this.state = "ready";
    log.info(
      `relay: ${this.mountpoint}: FUSE 7.${out.minor}, max_write ${maxWrite}, max_pages ${pages}, flags ${initFlagNames(flags).join(",") || "none"}`,
    );
    this.write(reply, encodeReply(unique, Opcode.INIT, out, { minor: arg.minor, setxattrExt: false })[0]!);
  }

  /** INIT failed: the device's mount() rejects with `error` (only the first counts). */
  private initFailed(error: Error): void {
    if (this.state === "init" && this.initError === null) this.initError = error;
  }

  // ─── Requests ───────────────────────────────────────────────────────────

  /** Forwards one request; settles once its reply (or the relay's answer) was written. */
  private relay(header: InHeader, request: Uint8Array, reply: ReplyTarget): Promise<void> {
    const opcode = header.opcode;
    const unique = header.unique;
    if (opcode === Opcode.FORGET || opcode === Opcode.BATCH_FORGET) {
      if (this.backendGone !== null) return DONE;
      setUnique(request, this.newUnique());
      this.stats.forgets++;
      // The transport copies the request before submit returns: the device may reuse the bytes at once.
      submit(this.transport, [request], 0, "hiprio").catch(() => undefined);
      return DONE;
    }
    if (opcode === Opcode.INTERRUPT) {
      this.interrupt(header, request);
      return DONE;
    }
    if (opcode === Opcode.NOTIFY_REPLY) {
      // Only an answer to a NOTIFY_RETRIEVE, which the relay never sends.
      return DONE;
    }
    const refusal = this.refusal(opcode, request);
    if (refusal !== 0) {
      this.answerRefused(reply, unique, refusal);
      return DONE;
    }
    let capacity: number;
    try {
      capacity = OutHeader.SIZE + replyRoom(opcode, request);
    } catch (error) {
      log.warn(`relay: ${opcodeName(opcode)} request: ${String(error)}`);
      this.answerRefused(reply, unique, Errno.EIO);
      return DONE;
    }
    const backendUnique = this.newUnique();
    setUnique(request, backendUnique);
    this.inFlight.set(unique, backendUnique);
    this.stats.forwarded++;
    return submit(this.transport, [request], capacity, "request").then(
      (bytes) => {
        this.inFlight.delete(unique);
        this.deliver(reply, unique, backendUnique, opcode, bytes);
      },
      (error: unknown) => {
        this.inFlight.delete(unique);
        const e = ErrnoError.is(error) && error.errno <= MAX_REPLY_ERRNO ? error.errno : Errno.EIO;
        if (e !== Errno.ENOTCONN) log.warn(`relay: ${opcodeName(opcode)} not carried: ${String(error)}`);
        this.answer(reply, unique, e);
      },
    );
  }

  /** The errno the relay answers for `opcode` itself, or 0 when it goes to the backend. */
  private refusal(opcode: number, request: Uint8Array): number {
    if (this.backendGone !== null) return Errno.ENOTCONN;
    if (!isOpcode(opcode) || NOT_RELAYED.has(opcode) || opcode === Opcode.INIT) return Errno.ENOSYS;
    if (this.readOnly && writes(opcode, request)) return Errno.EROFS;
    return 0;
  }

  private answerRefused(reply: ReplyTarget, unique: bigint, errno: number): void {
    this.stats.refused++;
    this.answer(reply, unique, errno);
  }

  /** Checks the backend's reply, gives it the kernel's id and writes it. */
  private deliver(reply: ReplyTarget, unique: bigint, backendUnique: bigint, opcode: number, bytes: Uint8Array): void {
    try {
      const h = decodeOutHeader(bytes);
      if (h.unique !== backendUnique) throw new ProtocolError(ProtocolErrorCode.VALUE, `reply unique ${h.unique} is not the request's ${backendUnique}`);
    } catch (error) {
      this.stats.malformed++;
      log.warn(`relay: malformed ${opcodeName(opcode)} reply from the backend (${String(error)}): answering EIO`);
      this.answer(reply, unique, Errno.EIO);
      return;
    }
    setUnique(bytes, unique);
    this.write(reply, bytes);
  }

  /** Forwards an INTERRUPT while the request it names still waits for the backend. */
  private interrupt(header: InHeader, request: Uint8Array): void {
    let target: bigint;
    try {
      target = InterruptIn.decodeAt(request, InHeader.SIZE, "INTERRUPT request").unique;
    } catch {
      return;
    }
    // A turn of the event loop first: a reply the backend has already sent is
    // taken meanwhile, and no INTERRUPT then names a request it answered
    // (QEMU 7.2's virtiofsd does not survive that; see SessionOptions.interrupts).
    setImmediate(() => this.forwardInterrupt(header, target));
  }

  private forwardInterrupt(header: InHeader, target: bigint): void {
    const backendUnique = this.inFlight.get(target);
    if (!this.interrupts || backendUnique === undefined || this.backendGone !== null || this.state === "closed") {
      this.stats.interruptsDropped++;
      return;
    }
    this.stats.interrupts++;
    const chunks = encodeRequest({
      opcode: Opcode.INTERRUPT,
      header: { unique: backendUnique | INTERRUPT_BIT, nodeid: 0n, uid: header.uid, gid: header.gid, pid: header.pid },
      arg: { unique: backendUnique },
    });
    submit(this.transport, chunks, 0, "hiprio").catch(() => undefined);
  }

  /** A backend id from the session's id space, so the relay's and the session's requests never share one. */
  private newUnique(): bigint {
    return this.init_!.session.reserveUnique();
  }

  // ─── The end ────────────────────────────────────────────────────────────

  /** The backend went away: answer what waits, detach the mount. */
  private onTransportClosed(reason: Error): void {
    if (this.state === "closed") return;
    this.backendGone = reason;
    log.debug(`relay: ${this.mountpoint}: the transport ended (${reason.message})`);
    this.initFailed(reason);
    if (this.state === "ready" && this.device !== null) void this.unmount();
  }

  /** The device's connection ended (reading stopped, the device is closed): close the transport. */
  private reset(): Promise<void> {
    this.state = "closed";
    this.transport.close();
    return DONE;
  }

  /** The device is closed and the transport too: say why the relay ended. */
  private ended(failure: Error | null): void {
    const backendGone = this.backendGone;
    this.resolveClosed(
      failure !== null
        ? { cause: "failed", error: failure }
        : backendGone !== null
          ? { cause: "backend", error: backendGone }
          : { cause: "unmounted", error: null },
    );
  }
}

// ─── Message helpers ──────────────────────────────────────────────────────

/** `transport.submit`, with a synchronous throw turned into a rejection (the relay runs in a poller callback). */
function submit(transport: FuseTransport, chunks: readonly Uint8Array[], capacity: number, queue: QueueKind): Promise<Uint8Array> {
  try {
    return transport.submit(chunks, capacity, queue);
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Sets `unique`, at offset 8 of both `fuse_in_header` and `fuse_out_header`. */
function setUnique(message: Uint8Array, unique: bigint): void {
  new DataView(message.buffer, message.byteOffset, message.byteLength).setBigUint64(8, unique, true);
}

/** The largest reply body `request` allows (what the kernel will accept). */
function replyRoom(opcode: number, request: Uint8Array): number {
  const fixed = FIXED_REPLY.get(opcode);
  if (fixed !== undefined) return fixed;
  const what = `${opcodeName(opcode)} request`;
  switch (opcode) {
    case Opcode.READ:
    case Opcode.READDIR:
    case Opcode.READDIRPLUS:
      return ReadIn.decodeAt(request, InHeader.SIZE, what).size;
    case Opcode.GETXATTR:
    case Opcode.LISTXATTR: {
      const size = GetxattrIn.decodeAt(request, InHeader.SIZE, what).size;
      return size === 0 ? GetxattrOut.SIZE : size;
    }
    case Opcode.IOCTL:
      return IoctlOut.SIZE + IoctlIn.decodeAt(request, InHeader.SIZE, what).outSize;
    default:
      return 0;
  }
}

/** Whether `request` would change the file system (for read-only relays). */
function writes(opcode: number, request: Uint8Array): boolean {
  if (MUTATING.has(opcode)) return true;
  if (opcode !== Opcode.OPEN) return false;
  try {
    const flags = OpenIn.decodeAt(request, InHeader.SIZE, "OPEN request").flags;
    return (flags & OpenFlag.O_ACCMODE) !== OpenFlag.O_RDONLY || (flags & OpenFlag.O_TRUNC) !== 0;
  } catch {
    return true;
  }
}
