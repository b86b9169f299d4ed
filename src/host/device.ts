/**
 * The vhost-user-fs device: what QEMU's `vhost-user-fs-pci` talks to.
 *
 * It joins three layers without knowing their insides: the vhost-user
 * backend (memory table, ring setup, kicks and calls), the device side of the
 * split virtqueues (descriptor chains in guest memory) and the FUSE server
 * (decode, dispatch to a FileSystem, encode). Queue 0 is the hiprio queue
 * (FORGET, BATCH_FORGET, INTERRUPT), queues 1..n the request queues; all go to
 * the same server, and many requests of a queue are in flight at once.
 */
import { Buffer } from "node:buffer";
import { performance } from "node:perf_hooks";
import { log } from "../common/log.js";
import { ProtocolError } from "../common/errors.js";
import { DeviceQueue, type DescriptorChain, type Writer } from "../virtio/device-queue.js";
import { featureMask, hasFeature } from "../virtio/ring.js";
import { VhostUserBackend, type Vring, type VhostUserDevice } from "../vhost-user/backend.js";
import { HostSystem, SocketTransport } from "../vhost-user/system.js";
import { ChainReply } from "../server/reply.js";
import { FuseServer } from "../server/server.js";
import { PassthroughFs, ReadOnlyFs } from "../passthrough/index.js";
import type { CacheMode, FlushMode } from "../passthrough/options.js";

/** virtio-fs device features: none of its own (no notification queue), only the transport's. */
const DEVICE_FEATURES = featureMask("VERSION_1") | featureMask("RING_INDIRECT_DESC") | featureMask("RING_EVENT_IDX");

/** The largest queue size accepted (virtiofsd's QUEUE_SIZE). */
export const MAX_QUEUE_SIZE = 32768;

/** Length of the tag field of `struct virtio_fs_config`. */
export const TAG_LENGTH = 36;

/** `struct virtio_fs_config`: tag[36] (NUL-padded, not terminated when 36 bytes) and le32 num_request_queues. */
export function virtioFsConfig(tag: string, requestQueues: number): Uint8Array {
  const bytes = Buffer.alloc(TAG_LENGTH + 4);
  const encoded = Buffer.from(tag, "utf8");
  if (encoded.byteLength < 1 || encoded.byteLength > TAG_LENGTH) throw new RangeError(`a virtio-fs tag is 1 to ${TAG_LENGTH} bytes`);
  encoded.copy(bytes, 0);
  bytes.writeUInt32LE(requestQueues, TAG_LENGTH);
  return bytes;
}

export interface VirtioFsDeviceOptions {
  /** Request queues besides hiprio (QEMU's vhost-user-fs-pci uses 1 unless num-request-queues says more). */
  requestQueues?: number;
  /** Serve GET_CONFIG with this tag (offers the CONFIG protocol feature). */
  tag?: string;
  /**
   * The longest a drained request queue is polled before the device sleeps
   * until a kick, in µs; 0 (the default): never polled. Only worth it when
   * the driver runs on another thread than the device.
   */
  pollMaxUs?: number;
  /** Interrupt coalescing within a drain (see NOTIFY_BATCH): at most this many completions (1: none) ... */
  notifyBatch?: number;
  /** ... or this much serving time, µs, before the driver is told. */
  notifyDelayUs?: number;
  /**
   * ... unless at least this many chains wait in the available ring (0: never),
   * then up to `notifyHoldUs` of serving (see NOTIFY_BACKLOG).
   */
  notifyBacklog?: number;
  notifyHoldUs?: number;
  /** How long a drain serves before it lets the event loop run, ms (see DRAIN_SLICE_MS). */
  drainSliceMs?: number;
  /** How often a long drain of a request queue serves the hiprio queue, ms (see HIPRIO_EVERY_MS). */
  hiprioEveryMs?: number;
}

/**
 * How often a running queue is looked at for a lost kick or interrupt. Event
 * suppression on both sides is a store then a load of the peer's index with
 * a full barrier between; a guest that runs without host barriers (QEMU's
 * single-threaded TCG elides them) can lose either signal, and a Linux guest
 * then hangs (seen as an unmount that never ends after a burst of FORGETs:
 * every used element returned, `used_event` left behind, no interrupt). C
 * virtiofsd hangs the same way; we look again.
 */
const WATCH_MS = 50;

/**
 * Adaptive polling, as QEMU's event loop polls (its `poll-max-ns`): after a
 * request queue runs dry the device watches the available index for a
 * while before it asks for a kick and sleeps. A guest that sends its next
 * request within that time costs neither a kick nor a wake-up of the
 * daemon, on a paravirtualised host the larger part of a small request's
 * cost. The window grows (from POLL_START_US, doubling) each time a wait
 * outlasted it yet ended within the maximum, and halves (to 0 below
 * POLL_START_US) each time a wait outlasted the maximum: a guest whose
 * requests come far apart (large I/O, an idle one, a slow TCG guest) is
 * soon not polled at all, and one pause of a busy guest does not end it.
 */
const POLL_START_US = 4;

/** Looks at the available index between two readings of the clock while polling (a look is a few ns). */
const POLL_CLOCK_EVERY = 32;

/** The default maximum, in µs: about a guest's turnaround between two small requests. */
export const DEFAULT_POLL_MAX_US = 50;

/** `viofs serve`'s wait for the next kick after serving, ms: a Linux guest under TCG kicks again within about 0.2 ms while busy. */
export const DEFAULT_KICK_WAIT_MS = 2;

/**
 * Interrupt coalescing: while a drain serves chains back to back, the
 * driver is interrupted once per NOTIFY_BATCH completions or once the
 * completions not yet told took NOTIFY_DELAY_US of serving between them
 * (and when the drain ends), not after the first of each batch it consumed.
 * A driver that keeps many small requests in flight then takes its replies
 * in groups, as from a NIC with interrupt moderation: fewer wake-ups on both
 * sides (each a system call here and a context switch there). A large
 * request (a 1 MiB READ) is told at once, so a driver waiting for its
 * buffer is not held up by the next ones; a lone request is too: the drain
 * ends after it.
 */
const NOTIFY_BATCH = 8;
const NOTIFY_DELAY_US = 30;

/**
 * While NOTIFY_BACKLOG chains or more wait in the available ring, the driver
 * still has requests queued for us and needs no news to keep us busy: the
 * completions not yet told may then take up to NOTIFY_HOLD_US of serving
 * (the batch still bounds their number). A driver that keeps 16 small
 * requests in flight against a busy device is woken about half as often
 * (measured: 0.25 interrupts per LOOKUP+GETATTR pair instead of 0.58, and
 * 0.38 instead of 1.1 per CREATE+RELEASE+UNLINK), and each wake-up costs
 * both processes several µs on a paravirtualised host. Requests that take
 * longer than the hold (large READs and WRITEs) are told one by one as before.
 */
const NOTIFY_BACKLOG = 4;
const NOTIFY_HOLD_US = 200;

/**
 * HAND_OFF: once a request queue has run dry and its replies' interrupt is
 * out, the device yields its CPU (Vring.handOff, sched_yield) before the
 * rest of its turn: the FORGETs that waited, the polling window, the kick's
 * read, re-enabling notifications, the way back to the wait. On the
 * benchmark host (2 CPUs that report no cache topology) Linux put the
 * thread an eventfd write wakes on the writer's CPU, so QEMU's main loop,
 * which turns the call into the guest's interrupt, waited for all of that.
 * In a VM's cold stat of 2,000 files (scheduler traces, p50), QEMU ran
 * 11 µs after viofs serve's call and 6 µs after C virtiofsd's; with the
 * hand-off, 4-7 µs, and the device's own work runs while the guest takes
 * its reply. Two boots with three devices (this
 * daemon with and without the hand-off, C virtiofsd), 15 passes each:
 * viofs serve ÷ C virtiofsd went from 0.919× and 0.937× to 0.962× and
 * 0.999×. When nothing waits for the CPU, the yield returns at once.
 *
 * A driver that keeps requests in flight (1 MiB WRITEs at QD16 through the
 * guest driver) queues its next one during the yield; the drain goes on,
 * runs dry after that one chain, and with a hand-off each time device and
 * driver took turns a chain at a time, an interrupt each (measured: 6,677
 * interrupts and 2,475 yields for 6,303 WRITEs; 2,961 for 6,144 without
 * hand-offs) instead of the batches that come with a kick once the device
 * sleeps. So a chain that comes after a hand-off and before the queue
 * sleeps makes the next HAND_OFF_SKIPS hand-offs be skipped (then 1,601
 * interrupts and 14 yields for 6,018 WRITEs).
 */
const HAND_OFF_SKIPS = 16;

/**
 * A drain serves chains for at most DRAIN_SLICE_MS before it lets the event
 * loop run (the vhost-user socket, signals, timers) and goes on from a
 * setImmediate: a driver that keeps a request queue full (sequential I/O at a
 * high queue depth) never lets it run dry, and nothing else would be served
 * meanwhile.
 *
 * The hiprio queue (FORGETs, INTERRUPTs: nothing waits for their replies) is
 * served when a request queue runs dry, and during a long drain at least
 * every HIPRIO_EVERY_MS: a FORGET held back for a whole drain kept a deleted
 * file's data allocated (measured: a 1 GiB file rewritten at QD16 then took
 * its pages from memory the host had not backed yet, at a tenth of the usual
 * speed). The hiprio queue's own drain serves a request queue with chains
 * waiting before each of its chains: a Linux guest sends each FORGET on its
 * own after dropping its caches, and a request behind a run of them waited
 * for all of them (in a VM, a LOOKUP's kick-to-interrupt time averaged 84 µs
 * when FORGETs came first, against 33 µs), while the daemon is idle anyway
 * once it has replied and the guest works on the reply.
 */
const DRAIN_SLICE_MS = 4;
const HIPRIO_EVERY_MS = 1;

/** One running queue. */
class RunningQueue {
  inFlight = 0;
  stopping: (() => void) | null = null;
  /** The used index at the previous look, and at the last interrupt sent for a stall. */
  watchedUsed = -1;
  recoveredAt = -1;
  watch: NodeJS.Timeout | null = null;
  /** Current polling window in ms (adaptive, see POLL_START_US), and when the queue last went to sleep (-1: serving). */
  pollMs = 0;
  sleptAt = -1;
  /** True while drain() serves chains; completions then wait (up to NOTIFY_BATCH) for its end to interrupt the driver. */
  draining = false;
  /** A drain's slice ended with chains left: the rest is served from the event loop's next turn. */
  resuming = false;
  /** Completions pushed since the last notify() (while draining), and the time they took to serve, ms. */
  unsignalled = 0;
  unsignalledMs = 0;
  /** While draining: when the chain being served began (the drain's start, a poll's success or the last completion), ms. */
  servedSince = 0;
  /** The driver was interrupted since the last handOff(). */
  woke = false;
  /** A hand-off was made, and no chain has come since nor has the queue slept; and the hand-offs still to skip (see HAND_OFF). */
  handedOff = false;
  handOffSkips = 0;

  constructor(
    readonly vring: Vring,
    readonly queue: DeviceQueue,
  ) {}

  /**
   * Tells the driver about the used buffers pushed since the last call, if it
   * wants to know. Called after each NOTIFY_BATCH completions of a drain, at
   * its end, and after every completion outside one (a thread-pool READ).
   * With EVENT_IDX the driver also asks for only one interrupt per batch it
   * has consumed: a call after that costs no system call.
   */
  notify(): void {
    this.unsignalled = 0;
    this.unsignalledMs = 0;
    if (this.queue.needsNotify()) {
      this.vring.notify();
      this.woke = true;
    }
  }

  /** After an interrupt, lets the driver's woken thread run first, unless a pipelining driver made it skip this one (see HAND_OFF). */
  handOff(): void {
    if (!this.woke) return;
    this.woke = false;
    if (this.handOffSkips > 0) {
      this.handOffSkips--;
      return;
    }
    this.handedOff = true;
    this.vring.handOff?.();
  }
}

export class VirtioFsDevice implements VhostUserDevice {
  readonly numQueues: number;
  readonly maxQueueSize = MAX_QUEUE_SIZE;
  readonly features = DEVICE_FEATURES;
  readonly config?: Uint8Array;
  /** drainQueue() clears a ring's kick before its last look at the ring. */
  readonly clearsKicks = true;

  private readonly queues: (RunningQueue | null)[];
  private readonly pollMaxMs: number;
  private readonly notifyBatch: number;
  private readonly notifyDelayMs: number;
  private readonly notifyBacklog: number;
  private readonly notifyHoldMs: number;
  private readonly drainSliceMs: number;
  private readonly hiprioEveryMs: number;

  constructor(
    private readonly server: FuseServer,
    options: VirtioFsDeviceOptions = {},
  ) {
    const requestQueues = options.requestQueues ?? 1;
    this.numQueues = 1 + requestQueues;
    if (options.tag !== undefined) this.config = virtioFsConfig(options.tag, requestQueues);
    this.queues = Array.from({ length: this.numQueues }, () => null);
    this.pollMaxMs = (options.pollMaxUs ?? 0) / 1000;
    this.notifyBatch = options.notifyBatch ?? NOTIFY_BATCH;
    this.notifyDelayMs = (options.notifyDelayUs ?? NOTIFY_DELAY_US) / 1000;
    this.notifyBacklog = options.notifyBacklog ?? NOTIFY_BACKLOG;
    this.notifyHoldMs = (options.notifyHoldUs ?? NOTIFY_HOLD_US) / 1000;
    this.drainSliceMs = options.drainSliceMs ?? DRAIN_SLICE_MS;
    this.hiprioEveryMs = options.hiprioEveryMs ?? HIPRIO_EVERY_MS;
  }

  queueStarted(vring: Vring): void {
    const queue = new DeviceQueue({
      memory: vring.memory,
      size: vring.size,
      descAddr: vring.descAddr,
      availAddr: vring.availAddr,
      usedAddr: vring.usedAddr,
      eventIdx: hasFeature(vring.features, "RING_EVENT_IDX"),
      lastAvailIdx: vring.nextAvail,
    });
    const running = new RunningQueue(vring, queue);
    this.queues[vring.index] = running;
    running.watch = setInterval(() => this.look(running), WATCH_MS);
    running.watch.unref();
    this.drain(running);
  }

  /**
   * The periodic look at a running queue: chains waiting while nothing is
   * served mean a lost kick (serve them); used elements the driver has not
   * come back for, with none returned since the last look, mean a lost
   * interrupt (send one, once per stall; a spare one is harmless).
   */
  private look(running: RunningQueue): void {
    if (this.queues[running.vring.index] !== running) {
      if (running.watch) clearInterval(running.watch);
      return;
    }
    if (running.inFlight === 0) this.drain(running);
    const used = running.queue.usedIdx;
    if (used === running.watchedUsed && used !== running.recoveredAt && !running.queue.driverCaughtUp()) {
      running.recoveredAt = used;
      running.vring.notify();
    }
    running.watchedUsed = used;
  }

  queueKicked(index: number): void {
    const running = this.queues[index];
    if (!running) return;
    if (running.sleptAt >= 0) this.adaptPoll(running, performance.now() - running.sleptAt);
    this.drain(running);
  }

  /** Drains request queue `q` if chains wait there. */
  private drainWaiting(q: number): void {
    const queue = this.queues[q];
    if (queue && queue.queue.hasAvailable()) this.drain(queue);
  }

  /** Resizes a request queue's polling window after a sleep of `sleptMs` ended with a kick. */
  private adaptPoll(running: RunningQueue, sleptMs: number): void {
    running.sleptAt = -1;
    if (running.vring.index === 0) return;
    if (sleptMs > this.pollMaxMs) running.pollMs = running.pollMs >= (2 * POLL_START_US) / 1000 ? running.pollMs / 2 : 0;
    else if (sleptMs > running.pollMs) running.pollMs = Math.min(this.pollMaxMs, running.pollMs > 0 ? running.pollMs * 2 : POLL_START_US / 1000);
  }

  /** Watches the available index for up to the queue's polling window, with kicks suppressed; true if a chain came. */
  private poll(running: RunningQueue): boolean {
    const { queue } = running;
    queue.suppressKicks();
    const until = performance.now() + running.pollMs;
    // The clock is read every POLL_CLOCK_EVERY looks: performance.now() allocates (an hrtime pair), a look does not.
    let looks = 0;
    do {
      if (queue.hasAvailable()) return true;
    } while (++looks % POLL_CLOCK_EVERY !== 0 || performance.now() < until);
    return false;
  }

  /** Every chain taken is answered, and no drain is under way or due from the event loop (see VhostUserDevice.settled). */
  settled(): boolean {
    for (const running of this.queues) {
      if (running !== null && (running.inFlight > 0 || running.draining || running.resuming)) return false;
    }
    return true;
  }

  queueStopped(index: number): number | Promise<number> {
    const running = this.queues[index];
    if (!running) return 0;
    this.queues[index] = null;
    if (running.watch) clearInterval(running.watch);
    if (running.inFlight === 0) return running.queue.lastAvailIdx;
    const stopped = new Promise<number>((resolve) => {
      running.stopping = () => resolve(running.queue.lastAvailIdx);
    });
    // A request that waits (SETLKW on a lock another owner holds) would hold the stop forever.
    this.server.interruptAll();
    return stopped;
  }

  async reset(): Promise<void> {
    await this.server.reset();
  }

  /**
   * Takes every available chain, then re-enables notifications and looks once
   * more (event-idx race); after DRAIN_SLICE_MS of serving, goes on from the
   * event loop's next turn instead.
   */
  private drain(running: RunningQueue): void {
    if (running.draining) return;
    running.draining = true;
    const start = performance.now();
    running.servedSince = start;
    let more = false;
    try {
      more = this.drainQueue(running, start);
    } finally {
      running.draining = false;
      if (running.unsignalled > 0) running.notify();
    }
    // Kicks stay off meanwhile: the driver's next chains wait for this.
    if (more && !running.resuming) {
      running.resuming = true;
      setImmediate(() => {
        running.resuming = false;
        this.drain(running);
      });
    }
  }

  /** Serves chains until the queue is empty (false) or the slice that began at `start` is over (true). */
  private drainQueue(running: RunningQueue, start: number): boolean {
    const { queue } = running;
    let hiprioDue = start + this.hiprioEveryMs;
    for (;;) {
      if (running.stopping || this.queues[running.vring.index] !== running) return false;
      const hiprio = this.queues[0];
      // The hiprio queue's own drain lets requests that came meanwhile go first (see HIPRIO_EVERY_MS).
      if (running === hiprio) for (let q = 1; q < this.queues.length; q++) this.drainWaiting(q);
      // A request queue's FORGETs: the hiprio queue, unless this is it.
      const forgets = hiprio !== running ? hiprio : null;
      // drain() itself refuses a queue already draining.
      if (forgets !== null && running.servedSince >= hiprioDue && forgets.queue.hasAvailable()) {
        // Inside the hiprio queue's drain (which let this queue go first): back to it, the rest from the next turn.
        if (forgets.draining) return true;
        this.drain(forgets);
        hiprioDue = running.servedSince + this.hiprioEveryMs;
      }
      let chain: DescriptorChain | null;
      try {
        chain = queue.pop();
      } catch (error) {
        // A bad chain was already returned with length 0; a broken ring stops here.
        this.reportRingError(running, error);
        if (queue.broken) return false;
        running.notify();
        continue;
      }
      if (chain === null) {
        // Not while a request of this queue waits (a thread-pool READ, a SETLKW): the loop must run to complete it.
        if (running.unsignalled > 0) running.notify();
        // Replies told: what is left before the sleep is this daemon's own, and need not hold the interrupt back.
        running.handOff();
        // Run dry, replies told: the FORGETs that waited behind it.
        if (forgets !== null && forgets.queue.hasAvailable()) this.drain(forgets);
        // No polling while FORGETs still wait (this drain runs inside the hiprio queue's).
        const forgetsWait = forgets !== null && forgets.queue.hasAvailable();
        if (running.pollMs > 0 && running.inFlight === 0 && !forgetsWait && this.poll(running)) {
          running.servedSince = performance.now();
          continue;
        }
        // The kick that woke this drain, if the backend left it unread: read now, after the reply's interrupt, and
        // before the last look at the ring (a kick for a chain that look misses stays to wake the next wait).
        running.vring.clearKick?.();
        if (queue.enableNotification()) continue;
        running.handedOff = false;
        running.sleptAt = performance.now();
        return false;
      }
      queue.disableNotification();
      if (running.handedOff) {
        // The driver queued more during the hand-off: it keeps requests in flight (see HAND_OFF).
        running.handedOff = false;
        running.handOffSkips = HAND_OFF_SKIPS;
      }
      this.serve(running, chain);
      // The time of the last completion: no clock reading of its own.
      if (running.servedSince - start >= this.drainSliceMs) return true;
    }
  }

  /** Serves one chain: completed before this returns when the server answered synchronously. */
  private serve(running: RunningQueue, chain: DescriptorChain): void {
    const writer = chain.writer();
    running.inFlight++;
    let done: void | Promise<void> = undefined;
    try {
      done = this.server.handleChain(chain.reader(), new ChainReply(writer));
    } catch (error) {
      // The server answers every failure it can; what reaches here is a transport-level fault.
      this.reportRingError(running, error);
    }
    if (done === undefined) {
      this.complete(running, chain.head, writer);
      return;
    }
    done.then(
      () => this.complete(running, chain.head, writer),
      (error: unknown) => {
        this.reportRingError(running, error);
        this.complete(running, chain.head, writer);
      },
    );
  }

  /**
   * Returns a served chain to the driver with what was written into it.
   * Within a drain the time since the previous completion counts as this
   * chain's serving (see NOTIFY_BATCH): one clock reading a chain, each
   * performance.now() allocating.
   */
  private complete(running: RunningQueue, head: number, writer: Writer): void {
    running.queue.push(head, writer.bytesWritten);
    running.inFlight--;
    if (running.stopping) {
      if (running.inFlight === 0) running.stopping();
      // Still notify: the driver may be waiting for these completions.
    } else if (running.draining) {
      const now = performance.now();
      running.unsignalledMs += now - running.servedSince;
      running.servedSince = now;
      if (++running.unsignalled < this.notifyBatch) {
        const held = running.unsignalledMs;
        if (held < this.notifyDelayMs) return;
        if (held < this.notifyHoldMs && this.notifyBacklog > 0 && running.queue.waiting() >= this.notifyBacklog) return;
      }
    }
    running.notify();
  }

  private reportRingError(running: RunningQueue, error: unknown): void {
    const what = ProtocolError.is(error) ? `${error.code}: ${error.message}` : String(error);
    log.warn(`virtio-fs queue ${running.vring.index}: ${what}`);
    if (running.queue.broken) running.vring.signalError();
  }
}

// ---------------------------------------------------------------------------
// One connection of `viofs serve`

/** The device-relevant part of `viofs serve`'s options. */
export interface DeviceOptions {
  cache: CacheMode;
  xattr: boolean;
  readdirplus: boolean;
  writeback: boolean;
  /** Remote POSIX (fcntl) byte-range locks, answered by the host. */
  posixLock: boolean;
  /** Remote flock(2) locks, answered by the host. */
  flock: boolean;
  readonly: boolean;
  announceSubmounts: boolean;
  killprivV2: boolean;
  /** "auto": FOPEN_NOFLUSH where a FLUSH would do nothing (see src/passthrough/passthrough.ts, "Closes"); "always": never. */
  flush: FlushMode;
  /** 0: READ and WRITE inline on the main thread (virtiofsd's default); more: on the libuv thread pool. */
  threadPoolSize: number;
  /** The longest a drained request queue is polled before sleeping, in µs (adaptive; 0: off). */
  pollMaxUs: number;
  /**
   * After serving, how long to wait for the guest's next kick in a blocking
   * wait before going back to the event loop, ms (0: never; see
   * BackendOptions.kickWaitMs). Never where the driver shares this process.
   */
  kickWaitMs: number;
  /** virtio-fs tag served through GET_CONFIG; also enables the CONFIG protocol feature. */
  tag?: string;
  /** The most fds the guest may make the daemon hold; ENFILE past it. */
  fdBudget?: number;
}

/** `viofs serve`'s defaults as device options (no flags given): cache=auto, no xattrs, remote POSIX and flock locks. */
export const DEFAULT_DEVICE_OPTIONS: Readonly<DeviceOptions> = {
  cache: "auto",
  xattr: false,
  readdirplus: true,
  writeback: false,
  posixLock: true,
  flock: true,
  readonly: false,
  announceSubmounts: false,
  killprivV2: false,
  flush: "auto",
  threadPoolSize: 0,
  pollMaxUs: DEFAULT_POLL_MAX_US,
  kickWaitMs: DEFAULT_KICK_WAIT_MS,
};

export interface DeviceConnection {
  /** Resolves once the connection ended and its inodes, fds and mappings are released. */
  readonly closed: Promise<{ error: Error | null }>;
  /** Ends the connection from this side. */
  close(): void;
}

/**
 * The FUSE server over a passthrough file system of `root`, as `viofs serve`
 * configures both from one set of options (the flags both sides negotiate
 * must agree: writeback, locks, submounts, killpriv).
 */
export function createServer(root: string, options: DeviceOptions): FuseServer {
  // createPassthrough, plus the I/O mode: `--thread-pool-size=0` (the default, as virtiofsd's) serves READ and WRITE inline.
  const passthrough = new PassthroughFs(
    {
      root,
      cache: options.cache,
      xattr: options.xattr,
      readonly: options.readonly,
      posixLocks: options.posixLock,
      flock: options.flock,
      announceSubmounts: options.announceSubmounts,
      writeback: options.writeback,
      killprivV2: options.killprivV2,
      flush: options.flush,
      ...(options.fdBudget !== undefined ? { fdBudget: options.fdBudget } : {}),
    },
    { inline: options.threadPoolSize === 0 },
  );
  const fs = options.readonly ? new ReadOnlyFs(passthrough) : passthrough;
  return new FuseServer(fs, {
    readdirplus: options.readdirplus && options.cache !== "never",
    writeback: options.writeback,
    posixLocks: options.posixLock,
    flock: options.flock,
    announceSubmounts: options.announceSubmounts,
    killprivV2: options.killprivV2,
    // A guest driver that restarts without a device reset (a Windows service restart) sends INIT again.
    restartOnInit: true,
  });
}

/**
 * Serves one accepted vhost-user connection (`fd`, owned from now on) for
 * the shared directory `root`: a passthrough file system, a FUSE server and
 * the virtio-fs device over a vhost-user backend. Everything the guest made
 * the daemon hold is released when the connection ends.
 */
export function serveConnection(fd: number, root: string, options: DeviceOptions): DeviceConnection {
  const server = createServer(root, options);
  const device = new VirtioFsDevice(server, { pollMaxUs: options.pollMaxUs, ...(options.tag !== undefined ? { tag: options.tag } : {}) });
  const backend = new VhostUserBackend({
    device,
    transport: new SocketTransport(fd),
    system: new HostSystem(),
    peer: "vhost-user frontend",
    kickWaitMs: options.kickWaitMs,
  });
  backend.start();
  // The backend resets the device (and so the server and file system) before `closed` resolves.
  const closed = backend.closed.then((disconnect) => ({ error: disconnect.error }));
  return { closed, close: () => backend.close() };
}
