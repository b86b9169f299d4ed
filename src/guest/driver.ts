/**
 * The virtio-fs driver, in user space: it plays the VMM and the guest driver
 * at once. It connects to a vhost-user-fs backend (QEMU's virtiofsd, Rust
 * virtiofsd, or `viofs serve`), shares guest RAM it allocates (a memfd),
 * lays out the hiprio queue and the request queues, and carries FUSE
 * messages through them: a {@link FuseTransport} for {@link FuseSession}.
 *
 * Data path, per request:
 * - the request's chunks are copied once into a bounce buffer in guest RAM,
 *   followed by room for the reply; small requests take a fixed-size cell
 *   (O(1)), larger ones a range from a first-fit allocator;
 * - the buffer goes into a descriptor chain: readable part, then writable
 *   part, each one descriptor (or several of at most `maxSegment` bytes, as a
 *   guest with scattered pages would send); long chains, or chains the ring
 *   has no room for, go through an indirect table (when negotiated);
 * - the avail index is published at once and the device kicked once per
 *   burst (a microtask later), only when it asked to be (EVENT_IDX);
 * - completions are taken from the used ring when the call eventfd fires
 *   (through the FdPoller), the reply copied out once, the buffer freed;
 * - when the ring or the bounce memory is full, requests wait in order and
 *   start as completions free room; a waiting request holds its own copy of
 *   the chunks (the caller may reuse them once submit returns), so only
 *   requests that wait pay a second copy. A request that can never fit is E2BIG.
 *
 * When the backend goes away (socket closed, daemon killed, malformed ring
 * use), every request in flight or waiting rejects with ENOTCONN naming the
 * cause, `closed` resolves, and guest RAM is released. A new driver can then
 * connect to a new backend.
 */
import { ErrnoError, ProtocolError } from "../common/errors.js";
import { Errno } from "../common/errno.js";
import { log } from "../common/log.js";
import { InHeader, OutHeader } from "../fuse/structs.js";
import type { FdPoller } from "../sys/poller.js";
import { GuestAllocator } from "../virtio/allocator.js";
import { DriverQueue } from "../virtio/driver-queue.js";
import { featureMask, hasFeature } from "../virtio/ring.js";
import type { FrontendDevice, FrontendQueue, VhostUserFrontend } from "../vhost-user/frontend.js";
import { DEFAULT_FRONTEND_FEATURES } from "../vhost-user/frontend.js";
import { connectFrontend, type HostSystem } from "../vhost-user/system.js";
import { LoopNotifySystem } from "./notify.js";
import type { FuseTransport, QueueKind } from "./transport.js";

export interface DriverOptions {
  /** Guest RAM shared with the backend, bytes (a multiple of 4096; default 128 MiB). */
  readonly memorySize?: number;
  /** Entries of each request queue (a power of two; default 1024). */
  readonly queueSize?: number;
  /** Entries of the hiprio queue (default 128). */
  readonly hiprioQueueSize?: number;
  /** Request queues (default 1; QEMU's C virtiofsd supports only one). */
  readonly requestQueues?: number;
  /**
   * Largest descriptor, bytes (default: unlimited, one descriptor per
   * direction). 4096 makes each buffer a chain of pages, as a real guest sends.
   */
  readonly maxSegment?: number;
  /**
   * Put the request's `fuse_in_header` (40 bytes) and the reply's
   * `fuse_out_header` (16 bytes) in descriptors of their own, before the
   * rest of each part (default false). Linux's virtio-fs driver lays chains
   * out so (header, then the arguments, then the data pages), and a device
   * then reads and writes across buffer boundaries at every request. The
   * hiprio queue's requests stay one buffer each, as Linux sends a FORGET.
   */
  readonly splitHeaders?: boolean;
  /** Negotiate VIRTIO_F_RING_INDIRECT_DESC when offered (default true). */
  readonly indirect?: boolean;
  /** Negotiate VIRTIO_F_RING_EVENT_IDX when offered (default true). */
  readonly eventIdx?: boolean;
  /** The poller that watches the call eventfds and the socket (default: the shared one). */
  readonly poller?: FdPoller;
  /**
   * The system services of the vhost-user frontend. Default: a
   * {@link LoopNotifySystem} on `poller`, whose completion notifications wake
   * the main loop directly; a plain HostSystem waits for them through epoll.
   */
  readonly system?: HostSystem;
  /**
   * Microseconds to keep polling the used rings (between event-loop turns)
   * after the last submission or completion while requests are in flight,
   * before relying on the call eventfd alone (default 200; 0: never poll).
   * The eventfd path costs two thread hand-offs per wake-up; polling can
   * answer short requests sooner when a core is free for it, but on a busy
   * machine it takes CPU time from the backend and is slower.
   */
  readonly pollMicros?: number;
}

/** Bounce cells: requests whose request + reply fit in one cell avoid the general allocator. */
const CELL_SIZE = 8192;
const MAX_CELLS = 1024;
/** Bytes reserved for indirect descriptor tables. */
const INDIRECT_AREA = 1 << 20;
/** The device's cap on indirect table entries we assume (libvhost-user maps at most 1024 per element). */
const MAX_INDIRECT = 1024;
const PAGE = 4096;
const IN_HEADER_SIZE = InHeader.SIZE;
const OUT_HEADER_SIZE = OutHeader.SIZE;
const EMPTY = new Uint8Array(0);

const enum Memory {
  None,
  Cell,
  Range,
}

/** One request, from submit to completion. */
class Pending {
  /** Offset of the bounce buffer in the heap, its allocated size and kind. */
  offset = 0;
  allocated = 0;
  memory = Memory.None;
  head = -1;
  constructor(
    /** The request, until it is copied into guest memory. */
    public chunks: readonly Uint8Array[] | null,
    readonly requestLength: number,
    readonly capacity: number,
    /** submitInto: the reply's head and bulk destinations. */
    readonly intoHead: Uint8Array | null,
    readonly intoSink: Uint8Array | null,
    readonly resolve: (value: Uint8Array | number) => void,
    readonly reject: (error: Error) => void,
  ) {}
}

/** A FIFO that does not shift arrays. */
class Fifo<T> {
  private items: (T | undefined)[] = [];
  private first = 0;
  get length(): number {
    return this.items.length - this.first;
  }
  push(item: T): void {
    this.items.push(item);
  }
  peek(): T | undefined {
    return this.items[this.first];
  }
  shift(): T | undefined {
    if (this.first >= this.items.length) return undefined;
    const item = this.items[this.first];
    this.items[this.first++] = undefined;
    if (this.first > 1024 && this.first * 2 > this.items.length) {
      this.items = this.items.slice(this.first);
      this.first = 0;
    }
    return item;
  }
  drain(): T[] {
    const rest = this.items.slice(this.first) as T[];
    this.items = [];
    this.first = 0;
    return rest;
  }
}

/** One virtqueue as the driver runs it. */
class Queue {
  readonly waiting = new Fifo<Pending>();
  readonly inFlight: (Pending | undefined)[];
  /** The used ring's `flags` and `idx`, for polling without taking. */
  readonly usedHeader: Uint16Array;
  kickScheduled = false;
  /** Counters for {@link VirtioFsDriver.queueStats}. */
  submitted = 0;
  completed = 0;
  kicks = 0;
  waited = 0;
  unwatch: (() => void) | null = null;
  unwatchErr: (() => void) | null = null;

  constructor(
    readonly name: string,
    readonly ring: DriverQueue<Pending>,
    readonly device: FrontendQueue,
  ) {
    this.inFlight = new Array<Pending | undefined>(ring.size).fill(undefined);
    const used = ring.memory.slice(device.usedAddr, 4);
    this.usedHeader = new Uint16Array(used.buffer, used.byteOffset, 2);
  }

  /** The device has published completions not yet taken. */
  get hasUsed(): boolean {
    return Atomics.load(this.usedHeader, 1) !== this.ring.lastUsedIdx;
  }
}

/** Mutable scratch segment (DriverQueue copies the values during `add`). */
interface Seg {
  gpa: number;
  len: number;
}

/** The virtio-fs driver over one vhost-user connection. */
export class VirtioFsDriver implements FuseTransport {
  readonly maxRequestSize: number;
  readonly maxReplySize: number;
  readonly closed: Promise<Error>;
  /** The device's tag (GET_CONFIG), when the backend offers one. */
  readonly tag: string | undefined;
  /** `num_request_queues` from the device's config space, when offered. */
  readonly deviceRequestQueues: number | undefined;

  private reason: Error | null = null;
  private resolveClosed!: (error: Error) => void;
  private readonly hiprio: Queue;
  private readonly requests: Queue[];
  private readonly heap: Uint8Array;
  private readonly heapBase: number;
  private readonly cells: number[] = [];
  private readonly ranges: GuestAllocator;
  private readonly rangeBase: number;
  private readonly maxSegment: number;
  private readonly splitHeaders: boolean;
  /** The longest chain a request may have (the ring size without indirect tables). */
  private readonly maxChain: number;
  /** Indirect descriptors were negotiated. */
  private readonly indirect: boolean;
  private readonly readSegs: Seg[] = [];
  private readonly writeSegs: Seg[] = [];
  private readList: Seg[] = [];
  private writeList: Seg[] = [];
  private nextRequestQueue = 0;
  private readonly queues: Queue[];
  private readonly pollBudgetMs: number;
  private polling = false;
  private pollSince = 0;

  private constructor(
    /** The socket path, for messages. */
    readonly peer: string,
    private readonly frontend: VhostUserFrontend,
    readonly device: FrontendDevice,
    options: DriverOptions,
  ) {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.maxSegment = options.maxSegment ?? Infinity;
    this.splitHeaders = options.splitHeaders ?? false;
    this.pollBudgetMs = (options.pollMicros ?? 0) / 1000;
    const heapStart = Math.ceil(Number(device.heap.guestAddr) / PAGE) * PAGE;
    const heapSize = Math.floor((Number(device.heap.guestAddr) + device.heap.size - heapStart) / PAGE) * PAGE;
    if (heapSize < INDIRECT_AREA + 4 * PAGE) throw new RangeError(`guest RAM leaves ${heapSize} bytes for buffers; give more memory`);
    this.heap = device.memory.slice(heapStart, heapSize);
    this.heapBase = heapStart;

    // [indirect tables][cells][ranges]
    const indirect = new GuestAllocator(heapStart, INDIRECT_AREA, 16);
    const rest = heapSize - INDIRECT_AREA;
    const cellCount = Math.min(MAX_CELLS, Math.floor(rest / 4 / CELL_SIZE));
    for (let i = cellCount - 1; i >= 0; i--) this.cells.push(INDIRECT_AREA + i * CELL_SIZE);
    this.rangeBase = INDIRECT_AREA + cellCount * CELL_SIZE;
    this.ranges = new GuestAllocator(heapStart + this.rangeBase, heapSize - this.rangeBase, 64);
    this.maxRequestSize = this.ranges.size - 64;
    this.maxReplySize = this.ranges.size - 64;

    const useIndirect = hasFeature(device.features, "RING_INDIRECT_DESC");
    const eventIdx = hasFeature(device.features, "RING_EVENT_IDX");
    const make = (index: number, name: string): Queue => {
      const q = device.queues[index]!;
      const ring = new DriverQueue<Pending>({
        memory: device.memory,
        size: q.size,
        descAddr: q.descAddr,
        availAddr: q.availAddr,
        usedAddr: q.usedAddr,
        eventIdx,
        ...(useIndirect ? { indirectAllocator: indirect, maxIndirect: MAX_INDIRECT } : {}),
      });
      return new Queue(name, ring, q);
    };
    this.hiprio = make(0, "hiprio");
    this.requests = [];
    for (let i = 1; i < device.queues.length; i++) this.requests.push(make(i, `request${i - 1}`));
    this.queues = [this.hiprio, ...this.requests];
    this.indirect = useIndirect;
    this.maxChain = useIndirect ? MAX_INDIRECT : Math.min(...this.queues.map((q) => q.ring.size));

    const config = device.config;
    if (config !== undefined && config.length >= 40) {
      const raw = config.subarray(0, 36);
      const end = raw.indexOf(0);
      const tag = Buffer.from(raw.subarray(0, end < 0 ? 36 : end)).toString("utf8");
      this.tag = tag.length > 0 ? tag : undefined;
      this.deviceRequestQueues = new DataView(config.buffer, config.byteOffset, config.length).getUint32(36, true);
    } else {
      this.tag = undefined;
      this.deviceRequestQueues = undefined;
    }
    for (const q of this.queues) {
      q.unwatch = q.device.onCall(() => this.drain(q));
      q.unwatchErr = q.device.onError(() => this.fail(new ErrnoError(Errno.EIO, "virtio-fs", `${this.peer}: the backend signalled an error on ${q.name}`)));
    }
  }

  /**
   * Connects to the vhost-user-fs backend listening on `socketPath`,
   * negotiates, shares guest RAM and sets up the queues. Rejects with the
   * connect error (ENOENT, ECONNREFUSED) or the handshake's failure.
   */
  static async connect(socketPath: string, options: DriverOptions = {}): Promise<VirtioFsDriver> {
    const memorySize = options.memorySize ?? 128 << 20;
    const queueSize = options.queueSize ?? 1024;
    const hiprioSize = options.hiprioQueueSize ?? 128;
    const requestQueues = options.requestQueues ?? 1;
    if (!Number.isSafeInteger(requestQueues) || requestQueues < 1) throw new RangeError(`requestQueues ${requestQueues} must be at least 1`);
    if (options.maxSegment !== undefined && (!Number.isSafeInteger(options.maxSegment) || options.maxSegment < 1)) {
      throw new RangeError(`maxSegment ${options.maxSegment} must be a positive integer`);
    }
    let features = DEFAULT_FRONTEND_FEATURES;
    if (options.indirect === false) features &= ~featureMask("RING_INDIRECT_DESC");
    if (options.eventIdx === false) features &= ~featureMask("RING_EVENT_IDX");
    let driver: VirtioFsDriver | null = null;
    let early: Error | null = null;
    const { frontend, device } = await connectFrontend(
      socketPath,
      {
        memory: [{ guestAddr: 0n, size: memorySize }],
        queueSizes: [hiprioSize, ...new Array<number>(requestQueues).fill(queueSize)],
        features,
      },
      {
        ...(options.poller ? { poller: options.poller } : {}),
        system: options.system ?? new LoopNotifySystem(options.poller),
        onDisconnected: (error) => {
          if (driver) driver.fail(error);
          else early = error;
        },
      },
    );
    try {
      driver = new VirtioFsDriver(socketPath, frontend, device, options);
    } catch (error) {
      frontend.close();
      throw error;
    }
    if (early !== null || frontend.isDisconnected) driver.fail(early ?? new ErrnoError(Errno.ECONNRESET, "vhost-user", socketPath));
    return driver;
  }

  get closeReason(): Error | null {
    return this.reason;
  }

  /** Requests in flight in the rings, and waiting for room. */
  get pending(): { inFlight: number; waiting: number } {
    if (this.reason !== null) return { inFlight: 0, waiting: 0 };
    let inFlight = 0;
    let waiting = 0;
    for (const q of this.queues) {
      inFlight += q.ring.inFlightRequests;
      waiting += q.waiting.length;
    }
    return { inFlight, waiting };
  }

  /**
   * Per queue (hiprio first): its size, requests added to the ring and
   * completed, kicks sent, requests that had to wait for room, and what is
   * in flight or waiting now.
   */
  queueStats(): { name: string; size: number; submitted: number; completed: number; kicks: number; waited: number; inFlight: number; waiting: number }[] {
    return this.queues.map((q) => ({
      name: q.name,
      size: q.ring.size,
      submitted: q.submitted,
      completed: q.completed,
      kicks: q.kicks,
      waited: q.waited,
      inFlight: this.reason === null ? q.ring.inFlightRequests : 0,
      waiting: q.waiting.length,
    }));
  }

  submit(request: readonly Uint8Array[], replyCapacity: number, queue: QueueKind = "request"): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      this.enqueue(request, replyCapacity, null, null, queue, resolve as (v: Uint8Array | number) => void, reject);
    });
  }

  submitInto(request: readonly Uint8Array[], head: Uint8Array, sink: Uint8Array, queue: QueueKind = "request"): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.enqueue(request, head.length + sink.length, head, sink, queue, resolve as (v: Uint8Array | number) => void, reject);
    });
  }

  /** Disconnects; everything pending rejects with ENOTCONN. Idempotent. */
  close(): void {
    this.fail(null);
  }

  // ─── Submission ─────────────────────────────────────────────────────────

  private enqueue(
    chunks: readonly Uint8Array[],
    capacity: number,
    head: Uint8Array | null,
    sink: Uint8Array | null,
    kind: QueueKind,
    resolve: (v: Uint8Array | number) => void,
    reject: (error: Error) => void,
  ): void {
    if (this.reason !== null) {
      reject(this.reason);
      return;
    }
    let length = 0;
    for (let i = 0; i < chunks.length; i++) length += chunks[i]!.length;
    if (length === 0 || length > this.maxRequestSize || !Number.isSafeInteger(capacity) || capacity < 0 || capacity > this.maxReplySize || length + capacity > this.maxRequestSize) {
      reject(new ErrnoError(Errno.E2BIG, "virtio-fs submit", `${this.peer}: request of ${length} bytes with ${capacity} bytes of reply room`));
      return;
    }
    const chain = this.chainLength({ requestLength: length, capacity }, this.splits(kind === "hiprio"));
    if (chain > this.maxChain) {
      reject(new ErrnoError(Errno.E2BIG, "virtio-fs submit", `${this.peer}: a chain of ${chain} descriptors exceeds the ${this.maxChain} the device takes`));
      return;
    }
    const p = new Pending(chunks, length, capacity, head, sink, resolve, reject);
    const q = kind === "hiprio" ? this.hiprio : this.pickRequestQueue();
    if (q.waiting.length > 0 || !this.start(q, p)) {
      // The transport contract lets the caller reuse its chunks once submit
      // returns: a request that must wait is copied now (one allocation, off
      // the fast path; a request that starts at once was copied into guest RAM).
      p.chunks = [concatChunks(p.chunks!, length)];
      q.waited++;
      q.waiting.push(p);
    }
  }

  /**
   * Whether a request's headers get descriptors of their own: with
   * `splitHeaders`, on the request queues only; Linux puts each hiprio
   * request (a FORGET) in one buffer, headers and all.
   */
  private splits(hiprio: boolean): boolean {
    return this.splitHeaders && !hiprio;
  }

  /** Descriptors a request's chain takes without an indirect table (`split`: headers in descriptors of their own). */
  private chainLength(p: { requestLength: number; capacity: number }, split: boolean): number {
    return this.partLength(p.requestLength, IN_HEADER_SIZE, split) + this.partLength(p.capacity, OUT_HEADER_SIZE, split);
  }

  /** Descriptors one part of `len` bytes takes: its header (when split) and pieces of at most `maxSegment`. */
  private partLength(len: number, header: number, split: boolean): number {
    if (!split || len <= header) return Math.ceil(len / this.maxSegment);
    return 1 + Math.ceil((len - header) / this.maxSegment);
  }

  private pickRequestQueue(): Queue {
    const queues = this.requests;
    if (queues.length === 1) return queues[0]!;
    // The least loaded queue, starting after the last one picked.
    let best = queues[this.nextRequestQueue % queues.length]!;
    for (let i = 1; i < queues.length; i++) {
      const q = queues[(this.nextRequestQueue + i) % queues.length]!;
      if (q.ring.inFlightRequests + q.waiting.length < best.ring.inFlightRequests + best.waiting.length) best = q;
    }
    this.nextRequestQueue++;
    return best;
  }

  /** Allocates bounce memory, copies the request in and adds the chain; false when there is no room now. */
  private start(q: Queue, p: Pending): boolean {
    const split = this.splits(q === this.hiprio);
    // No room in the ring: do not copy the request in only to take it out again.
    if (q.ring.numFree === 0 || (!this.indirect && q.ring.numFree < this.chainLength(p, split))) return false;
    if (!this.allocate(p)) return false;
    const heap = this.heap;
    const chunks = p.chunks!;
    let at = p.offset;
    for (let i = 0; i < chunks.length; i++) {
      const chunk = chunks[i]!;
      heap.set(chunk, at);
      at += chunk.length;
    }
    const gpa = this.heapBase + p.offset;
    const readable = this.segments(gpa, p.requestLength, this.readSegs, true, split);
    const writable = p.capacity > 0 ? this.segments(gpa + p.requestLength, p.capacity, this.writeSegs, false, split) : (this.writeList.length = 0, this.writeList);
    let headIndex: number;
    try {
      headIndex = q.ring.add(readable, writable, p);
    } catch (error) {
      this.free(p);
      p.reject(error as Error);
      // Refused for good (a chain that can never fit, or a broken ring); the caller learns why.
      if (q.ring.broken) this.fail(error as Error);
      return true;
    }
    if (headIndex < 0) {
      this.free(p);
      return false;
    }
    p.chunks = null;
    p.head = headIndex;
    q.inFlight[headIndex] = p;
    q.submitted++;
    this.scheduleKick(q);
    this.startPolling();
    return true;
  }

  /**
   * Fills the scratch list with segments covering `[gpa, gpa + len)`: the
   * part's header alone when `split`, then pieces of at most `maxSegment`
   * bytes.
   */
  private segments(gpa: number, len: number, pool: Seg[], readable: boolean, split: boolean): Seg[] {
    const list = readable ? this.readList : this.writeList;
    list.length = 0;
    const max = this.maxSegment;
    const header = split ? (readable ? IN_HEADER_SIZE : OUT_HEADER_SIZE) : 0;
    let i = 0;
    for (let at = 0; at < len; i++) {
      let seg = pool[i];
      if (seg === undefined) {
        seg = { gpa: 0, len: 0 };
        pool.push(seg);
      }
      const piece = i === 0 && header > 0 ? Math.min(header, len) : Math.min(max, len - at);
      seg.gpa = gpa + at;
      seg.len = piece;
      list.push(seg);
      at += piece;
    }
    return list;
  }

  private allocate(p: Pending): boolean {
    const size = p.requestLength + p.capacity;
    if (size <= CELL_SIZE && this.cells.length > 0) {
      p.offset = this.cells.pop()!;
      p.allocated = CELL_SIZE;
      p.memory = Memory.Cell;
      return true;
    }
    const gpa = this.ranges.alloc(size, 64);
    if (gpa < 0) return false;
    p.offset = gpa - this.heapBase;
    p.allocated = size;
    p.memory = Memory.Range;
    return true;
  }

  private free(p: Pending): void {
    if (p.memory === Memory.Cell) this.cells.push(p.offset);
    else if (p.memory === Memory.Range) this.ranges.free(this.heapBase + p.offset, p.allocated);
    p.memory = Memory.None;
  }

  private scheduleKick(q: Queue): void {
    if (q.kickScheduled) return;
    q.kickScheduled = true;
    queueMicrotask(() => {
      q.kickScheduled = false;
      if (this.reason === null && q.ring.kickNeeded()) {
        q.kicks++;
        q.device.kick();
      }
    });
  }

  // ─── Completion ─────────────────────────────────────────────────────────

  /** Polls the used rings on later event-loop turns (see `pollMicros`). */
  private startPolling(): void {
    this.pollSince = performance.now();
    if (this.polling || this.pollBudgetMs <= 0) return;
    this.polling = true;
    setImmediate(this.pollTick);
  }

  private readonly pollTick = (): void => {
    if (this.reason !== null) {
      this.polling = false;
      return;
    }
    let inFlight = 0;
    let took = false;
    for (const q of this.queues) {
      if (q.hasUsed) {
        this.drain(q);
        took = true;
      }
      inFlight += q.ring.inFlightRequests;
    }
    const now = performance.now();
    if (took) this.pollSince = now;
    if (this.reason !== null || inFlight === 0 || now - this.pollSince > this.pollBudgetMs) {
      this.polling = false;
      return;
    }
    setImmediate(this.pollTick);
  };

  /** Takes every completion of `q` (called when its call eventfd fires). */
  private drain(q: Queue): void {
    if (this.reason !== null) return;
    let freed = false;
    for (;;) {
      let done;
      try {
        done = q.ring.takeUsed();
      } catch (error) {
        this.fail(error as Error);
        return;
      }
      for (let i = 0; i < done.length; i++) {
        const { token: p, len } = done[i]!;
        q.inFlight[p.head] = undefined;
        q.completed++;
        this.complete(p, len);
        freed = true;
      }
      if (q.ring.broken) {
        this.fail(q.ring.brokenReason!);
        return;
      }
      // Re-arm, and take what arrived meanwhile instead of missing its interrupt.
      if (!q.ring.enableInterrupts()) break;
    }
    if (freed) this.pump();
  }

  private complete(p: Pending, len: number): void {
    const start = p.offset + p.requestLength;
    const heap = this.heap;
    if (p.intoHead !== null) {
      const headLen = Math.min(len, p.intoHead.length);
      p.intoHead.set(heap.subarray(start, start + headLen));
      if (len > headLen) p.intoSink!.set(heap.subarray(start + headLen, start + len));
      this.free(p);
      p.resolve(len);
      return;
    }
    const reply = len === 0 ? EMPTY : heap.slice(start, start + len);
    this.free(p);
    p.resolve(reply);
  }

  /** Starts waiting requests, in order, while there is room. */
  private pump(): void {
    for (const q of this.queues) {
      while (q.waiting.length > 0 && this.reason === null) {
        if (!this.start(q, q.waiting.peek()!)) break;
        q.waiting.shift();
      }
    }
  }

  // ─── The end ────────────────────────────────────────────────────────────

  /** Ends the connection: `cause` null is a deliberate close. */
  private fail(cause: Error | null): void {
    if (this.reason !== null) return;
    const why = cause === null ? "the driver was closed" : `the backend is gone (${cause.message})`;
    const reason = new ErrnoError(Errno.ENOTCONN, "virtio-fs", `${this.peer}: ${why}`);
    if (cause !== null) Object.defineProperty(reason, "cause", { value: cause, enumerable: false });
    this.reason = reason;
    if (cause !== null && !ProtocolError.is(cause)) log.debug(`virtio-fs ${this.peer}: ${why}`);
    else if (cause !== null) log.warn(`virtio-fs ${this.peer}: ${why}`);
    const failed: Pending[] = [];
    for (const q of this.queues) {
      q.unwatch?.();
      q.unwatchErr?.();
      for (let i = 0; i < q.inFlight.length; i++) {
        const p = q.inFlight[i];
        if (p !== undefined) {
          q.inFlight[i] = undefined;
          failed.push(p);
        }
      }
      failed.push(...q.waiting.drain());
    }
    // Release guest RAM before anyone can resubmit; nothing touches it after this.
    this.frontend.close();
    for (const p of failed) p.reject(reason);
    this.resolveClosed(reason);
  }
}

/** The chunks of a request, `length` bytes in all, in one new buffer. */
function concatChunks(chunks: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (let i = 0; i < chunks.length; i++) {
    out.set(chunks[i]!, at);
    at += chunks[i]!.length;
  }
  return out;
}
