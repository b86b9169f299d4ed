/**
 * A FUSE connection on /dev/fuse: mounts, reads the kernel's requests and
 * writes the replies for a {@link FuseDevHandler}. Two handlers use it: the
 * host's `FuseServer` (serving a file system to this host's own kernel, see
 * `src/host/fusedev.ts`) and the guest side's mount relay (forwarding the
 * kernel's requests to a virtio-fs backend, `src/guest/relay.ts`). It sits
 * below both: it imports only `common`, `sys` and `fuse` (whose `ReplyTarget`
 * is the contract with a handler).
 *
 * - The device fd is non-blocking and watched by the process's FdPoller:
 *   when the kernel has requests, they are read on the main thread until
 *   none is left, each into a buffer of the handler's limits (at least
 *   FUSE_MIN_READ_BUFFER; the kernel refuses smaller ones; re-read once INIT
 *   is done, since a relay learns its limits then), and served
 *   concurrently, up to `maxInFlight`; beyond that reading pauses until
 *   some complete.
 * - Small requests are copied out of the read buffer; a large one (WRITE)
 *   keeps the buffer until its `handle` settles, and reading continues into
 *   another from a pool.
 * - Each reply is one write(2) (writev for a chunk list). READ data is read
 *   by the file system into a pooled buffer right after header room, so the
 *   reply leaves in one write without a copy.
 * - A write that fails with ENOENT is a reply to a request the kernel
 *   already gave up (interrupted): dropped. ENODEV, on read or write, means
 *   the connection is gone (unmounted, aborted): reading stops, the device
 *   is closed, the handler is reset and {@link FuseDevMount.closed} resolves.
 *
 * The process must be allowed to mount (root, or CAP_SYS_ADMIN). Nothing
 * in this process may touch the mount with synchronous calls: the replies
 * come from this process's event loop.
 */
import { closeSync } from "node:fs";
import { ErrnoError } from "../common/errors.js";
import { Errno } from "../common/errno.js";
import { log } from "../common/log.js";
import { FUSE_MIN_READ_BUFFER } from "../fuse/abi.js";
import { EPOLLIN, MS_NODEV, MS_NOSUID, MS_RDONLY, O_NONBLOCK } from "../sys/constants.js";
import { getFileFlags, setFileFlags } from "../sys/fs.js";
import { read as readNow, write as writeFd } from "../sys/io.js";
import { sharedPoller, type FdPoller } from "../sys/poller.js";
import { mountFuse, openFuseDevice, unmountLazy } from "../sys/process.js";
import { OutHeader } from "../fuse/structs.js";
import type { ReplyTarget } from "../fuse/reply-target.js";

/** Room for `fuse_out_header` in front of READ data. */
const OUT_HEADER_SIZE = OutHeader.SIZE;

/**
 * What {@link FuseDevMount} needs from whatever answers the kernel's
 * requests. `FuseServer` satisfies it as it is.
 */
export interface FuseDevHandler {
  /** The largest request the handler accepts (read buffers are at least this large). */
  readonly requestLimit: number;
  /** The largest READ data a reply carries (READ buffers have this plus header room). */
  readonly readLimit: number;
  /** Non-null once the kernel's INIT was answered and accepted. */
  readonly negotiated: object | null;
  /**
   * Why INIT failed, for handlers that say so: null while INIT may still
   * succeed (e.g. the kernel was asked to retry in another major). A handler
   * without it has failed INIT when the first request was served and
   * {@link negotiated} is still null.
   */
  readonly initError?: Error | null;
  /**
   * Serves one request (INIT included), answering through `reply` (at most
   * once; requests without a reply, such as FORGET, are not answered).
   * Settles when the request's bytes are no longer needed. Never rejects.
   */
  handle(request: Uint8Array, reply: ReplyTarget): Promise<void>;
  /** The connection ended: forget its state. Called once. */
  reset(): Promise<void>;
}

export interface FuseDevMountOptions {
  /** The source shown in /proc/mounts (default "viofs"). */
  fsName?: string;
  /** The mount's type is `fuse.<subtype>` (default "viofs"). */
  subtype?: string;
  /** The kernel checks permissions from the modes, as virtio-fs guests do (default true). */
  defaultPermissions?: boolean;
  /** Users other than the mounter may enter (default true). */
  allowOther?: boolean;
  /** Mount read-only (MS_RDONLY). */
  readOnly?: boolean;
  /** Requests served at once before reading pauses (default 64; Infinity: never pause). */
  maxInFlight?: number;
  /** How long `unmount` waits for the kernel to end the connection before closing the device (default 2000 ms). */
  unmountTimeoutMs?: number;
  /** How long `mount` waits for INIT (default 10000 ms). */
  initTimeoutMs?: number;
  /** The FUSE device (default /dev/fuse). */
  devicePath?: string;
  /** The poller to watch the device with (default: the process's shared one). */
  poller?: FdPoller;
}

/** Requests up to this size are copied out of the read buffer; larger ones keep it. */
const COPY_LIMIT = 16 * 1024;
/** Requests read in one readiness callback before yielding to the event loop. */
const BURST = 64;
/** Large buffers kept for reuse. */
const POOL_MAX = 8;

type State = "serving" | "closed";

/** The reply to one request read from /dev/fuse. */
class DevReply implements ReplyTarget {
  private data: Uint8Array | null = null;

  constructor(private readonly dev: FuseDevMount) {}

  send(chunks: readonly Uint8Array[]): void {
    this.release();
    this.dev.writeReply(chunks.length === 1 ? chunks[0]! : chunks);
  }

  dataBuffers(max: number): readonly Uint8Array[] {
    const buffer = this.dev.takeBuffer();
    this.data = buffer;
    const n = Math.min(max, buffer.byteLength - OUT_HEADER_SIZE);
    return n > 0 ? [buffer.subarray(OUT_HEADER_SIZE, OUT_HEADER_SIZE + n)] : [];
  }

  sendData(header: Uint8Array, length: number): void {
    const buffer = this.data;
    if (buffer === null) throw new Error("DevReply: sendData without dataBuffers");
    buffer.set(header, 0);
    try {
      this.dev.writeReply(buffer.subarray(0, OUT_HEADER_SIZE + length));
    } finally {
      this.release();
    }
  }

  /** Gives a data buffer that was taken back to the pool. */
  release(): void {
    if (this.data !== null) {
      this.dev.giveBuffer(this.data);
      this.data = null;
    }
  }
}

/** A FUSE mount served on /dev/fuse by a handler `H` (the `server`). */
export class FuseDevMount<H extends FuseDevHandler = FuseDevHandler> {
  /**
   * Settles when the connection has ended and the handler was reset, with
   * the error reading the device failed with, or null (unmounted, aborted);
   * never rejects.
   */
  readonly closed: Promise<Error | null>;

  private state: State = "serving";
  private watching = false;
  private inFlight = 0;
  private unmounting = false;
  private size: number;
  private readBuffer: Uint8Array;
  private readonly pool: Uint8Array[] = [];
  private readonly maxInFlight: number;
  private readonly poller: FdPoller;
  private resolveClosed!: (failure: Error | null) => void;
  private initWaiter: { resolve: () => void; reject: (error: Error) => void } | null = null;

  private constructor(
    readonly server: H,
    readonly mountpoint: string,
    /** The /dev/fuse fd (closed once {@link closed} settles). */
    readonly fd: number,
    private readonly options: FuseDevMountOptions,
  ) {
    this.size = bufferSizeFor(server);
    this.readBuffer = new Uint8Array(this.size);
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 64);
    this.poller = options.poller ?? sharedPoller();
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  /**
   * Opens /dev/fuse, mounts it at `mountpoint` (type `fuse.viofs`, nosuid,
   * nodev, allow_other, default_permissions) and serves `server` on it.
   * Resolves once the kernel's INIT was answered and accepted. Rejects with
   * the open/mount ErrnoError, or (after unmounting, which resets `server`)
   * with the handler's `initError`, an Error saying INIT was refused, or
   * ETIMEDOUT when it did not come.
   */
  static async mount<H extends FuseDevHandler>(server: H, mountpoint: string, options: FuseDevMountOptions = {}): Promise<FuseDevMount<H>> {
    const fd = openFuseDevice(options.devicePath ?? "/dev/fuse");
    try {
      setFileFlags(fd, getFileFlags(fd) | O_NONBLOCK);
      mountFuse(mountpoint, {
        fd,
        fsname: options.fsName ?? "viofs",
        subtype: options.subtype ?? "viofs",
        defaultPermissions: options.defaultPermissions ?? true,
        allowOther: options.allowOther ?? true,
        flags: MS_NOSUID | MS_NODEV | (options.readOnly ? MS_RDONLY : 0),
      });
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    const mount = new FuseDevMount(server, mountpoint, fd, options);
    const initialized = new Promise<void>((resolve, reject) => (mount.initWaiter = { resolve, reject }));
    mount.watch();
    const timeoutMs = options.initTimeoutMs ?? 10_000;
    const timer = setTimeout(() => mount.initFailed(new ErrnoError(Errno.ETIMEDOUT, "FUSE_INIT", `${mountpoint}: no INIT within ${timeoutMs} ms`)), timeoutMs);
    try {
      await initialized;
    } catch (error) {
      await mount.unmount();
      throw error;
    } finally {
      clearTimeout(timer);
    }
    return mount;
  }

  /** Requests being served now. */
  get pending(): number {
    return this.inFlight;
  }

  /** Size of every request and READ buffer (the handler's limits, read again once INIT is done). */
  get bufferSize(): number {
    return this.size;
  }

  /**
   * Detaches the mount (MNT_DETACH) and waits for the connection to end;
   * if the kernel keeps it (the mount is still busy) past the timeout, the
   * device is closed, which aborts it. Idempotent; safe after the mount was
   * removed by someone else.
   */
  async unmount(): Promise<Error | null> {
    if (this.state !== "closed" && !this.unmounting) {
      this.unmounting = true;
      try {
        unmountLazy(this.mountpoint);
      } catch (error) {
        const e = ErrnoError.is(error) ? error.errno : 0;
        if (e !== Errno.EINVAL && e !== Errno.ENOENT) log.warn(`fuse: unmounting ${this.mountpoint}: ${String(error)}`);
      }
      const timeoutMs = this.options.unmountTimeoutMs ?? 2000;
      const timer = setTimeout(() => {
        log.warn(`fuse: ${this.mountpoint} still busy after ${timeoutMs} ms: closing the device`);
        this.finish(null);
      }, timeoutMs);
      await this.closed;
      clearTimeout(timer);
    }
    return this.closed;
  }

  // ---- used by DevReply ----

  /** Writes one reply in one system call; drops replies nobody waits for. */
  writeReply(data: Uint8Array | readonly Uint8Array[]): void {
    if (this.state === "closed") return;
    try {
      writeFd(this.fd, data);
    } catch (error) {
      const e = ErrnoError.is(error) ? error.errno : 0;
      if (e === Errno.ENOENT) return; // the kernel no longer waits for this request (interrupted)
      if (e === Errno.ENODEV) {
        this.finish(null);
        return;
      }
      throw error; // e.g. EINVAL: the server answers with an error reply instead
    }
  }

  /** A buffer of {@link bufferSize} bytes (pooled). */
  takeBuffer(): Uint8Array {
    return this.pool.pop() ?? new Uint8Array(this.size);
  }

  /** Returns a buffer to the pool (one of an outdated size is dropped). */
  giveBuffer(buffer: Uint8Array): void {
    if (buffer.length === this.size && this.pool.length < POOL_MAX) this.pool.push(buffer);
  }

  // ---- reading ----

  private watch(): void {
    if (this.watching || this.state !== "serving") return;
    this.watching = true;
    this.poller.add(this.fd, EPOLLIN, this.onReadable);
  }

  private unwatch(): void {
    if (!this.watching) return;
    this.watching = false;
    this.poller.remove(this.fd);
  }

  private readonly onReadable = (): void => {
    for (let i = 0; i < BURST && this.state === "serving"; i++) {
      if (this.inFlight >= this.maxInFlight) {
        this.unwatch();
        return;
      }
      let n: number | null;
      try {
        n = readNow(this.fd, this.readBuffer);
      } catch (error) {
        const e = ErrnoError.is(error) ? error.errno : 0;
        if (e === Errno.EINTR || e === Errno.ENOENT) continue; // interrupted before we read it: read again
        this.finish(e === Errno.ENODEV ? null : error);
        return;
      }
      if (n === null) return; // nothing left for now
      if (n === 0) {
        this.finish(null);
        return;
      }
      this.dispatch(n);
    }
  };

  private dispatch(n: number): void {
    let request: Uint8Array;
    let owned: Uint8Array | null = null;
    if (n <= COPY_LIMIT) {
      request = this.readBuffer.slice(0, n);
    } else {
      owned = this.readBuffer;
      request = owned.subarray(0, n);
      this.readBuffer = this.takeBuffer();
    }
    this.inFlight++;
    void this.serve(request, owned);
  }

  private async serve(request: Uint8Array, owned: Uint8Array | null): Promise<void> {
    const reply = new DevReply(this);
    await this.server.handle(request, reply);
    reply.release();
    if (owned !== null) this.giveBuffer(owned);
    this.inFlight--;
    if (this.initWaiter !== null) {
      const initError = this.server.initError;
      if (this.server.negotiated !== null) {
        this.resize();
        this.initWaiter.resolve();
        this.initWaiter = null;
      } else if (initError !== null) {
        this.initFailed(initError ?? new Error(`FUSE mount at ${this.mountpoint}: the kernel's INIT was refused`));
      }
    }
    if (!this.watching && this.inFlight < this.maxInFlight) this.watch();
  }

  /** Takes the handler's limits as negotiated: buffers of the old size are dropped. */
  private resize(): void {
    const size = bufferSizeFor(this.server);
    if (size === this.size) return;
    this.size = size;
    this.pool.length = 0;
    this.readBuffer = new Uint8Array(size);
  }

  private initFailed(error: Error): void {
    const waiter = this.initWaiter;
    this.initWaiter = null;
    waiter?.reject(error);
  }

  /** Ends the connection: stops reading, closes the device, resets the server's session. */
  private finish(error: unknown): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.unwatch();
    if (error !== null) log.error(`fuse: reading ${this.mountpoint}: ${String(error)}`);
    try {
      closeSync(this.fd);
    } catch (e) {
      log.warn(`fuse: closing /dev/fuse: ${String(e)}`);
    }
    this.initFailed(new ErrnoError(Errno.ENODEV, "FUSE_INIT", `${this.mountpoint}: the connection ended`));
    const failure = error === null ? null : error instanceof Error ? error : new Error(String(error));
    this.server
      .reset()
      .catch((e: unknown) => log.error(`fuse: resetting the file system: ${String(e)}`))
      .finally(() => this.resolveClosed(failure));
  }
}

/** Request and READ buffer size for `handler`'s limits. */
function bufferSizeFor(handler: FuseDevHandler): number {
  return Math.max(handler.requestLimit, handler.readLimit + OUT_HEADER_SIZE, FUSE_MIN_READ_BUFFER);
}
