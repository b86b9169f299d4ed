/**
 * The vhost-user backend: the host-device side, the role virtiofsd plays for
 * QEMU's `vhost-user-fs-pci`. Device-agnostic: it negotiates features, maps
 * guest memory from the frontend's fds, tracks each vring's configuration and
 * lifecycle, and hands running rings to a {@link VhostUserDevice}, which does
 * the actual virtqueue processing (for virtio-fs: a FUSE server over
 * DeviceQueues from `src/virtio/`).
 *
 * Ring lifecycle (vhost-user.rst "Ring states"): a ring runs once it has a
 * size, addresses, a kick eventfd, guest memory, and is enabled: with
 * VHOST_USER_F_PROTOCOL_FEATURES negotiated rings start disabled until
 * SET_VRING_ENABLE(1), without it they count as enabled. GET_VRING_BASE stops
 * the ring, drops its kick fd and answers the next available index. Changing
 * the memory table, a ring's addresses or its kick fd while it runs stops it
 * and starts it again, so the device always sees a consistent stop/start pair.
 *
 * Messages are handled one at a time, in order, each to completion (a handler
 * may wait for the device to stop a ring). A malformed or refused request is
 * answered (a REPLY_ACK failure, or an empty or failing reply for requests
 * that always have one), reported through `onError`, and the connection goes
 * on; a framing error or EOF ends the connection, after which every ring is
 * stopped, all memory unmapped, every fd closed, the device reset and
 * {@link VhostUserBackend.closed} resolved.
 */
import { performance } from "node:perf_hooks";
import { Errno } from "../common/errno.js";
import { ErrnoError, ProtocolError, ProtocolErrorCode } from "../common/errors.js";
import { log } from "../common/log.js";
import { GuestMemory } from "../virtio/memory.js";
import { availRingSize, descTableSize, hasFeature, isValidQueueSize, usedRingSize } from "../virtio/ring.js";
import { Channel, guestRegionsOf, type Disconnect, type Mapping, type SystemIO, type Transport } from "./channel.js";
import {
  FRONTEND_REQUESTS,
  FrontendRequest,
  ProtocolFeature,
  VRING_F_LOG,
  VhostFeature,
  bit,
  checkFrontendRequest,
  decodeConfig,
  decodeLog,
  decodeMemRegMsg,
  decodeMemoryTable,
  decodeU64,
  decodeVringAddr,
  decodeVringFile,
  decodeVringState,
  encodeConfig,
  encodeReply,
  encodeU64,
  encodeVringState,
  frontendRequestName,
  hasBit,
  needsReply,
  type MemoryRegionDesc,
  type Message,
  type RequestSpec,
  type VringAddr,
} from "./messages.js";

/** A running ring, as the device receives it. Addresses are guest-physical. */
export interface Vring {
  readonly index: number;
  /** Queue size (a power of two). */
  readonly size: number;
  /** The guest memory the ring and its buffers live in. */
  readonly memory: GuestMemory;
  readonly descAddr: bigint;
  readonly availAddr: bigint;
  readonly usedAddr: bigint;
  /** The first available-ring index to process (from SET_VRING_BASE, or where the device stopped). */
  readonly nextAvail: number;
  /** The virtio features the frontend acknowledged (EVENT_IDX, INDIRECT_DESC, ...). */
  readonly features: bigint;
  /** Signals the driver that used buffers are ready (the call eventfd). A no-op once the ring stopped. */
  notify(): void;
  /** Signals a ring error to the frontend (the err eventfd), e.g. a malformed chain. A no-op once stopped. */
  signalError(): void;
  /**
   * Optional for the backend to give: resets the ring's kick eventfd if
   * the kick that woke the device is still unread, which is the case when
   * the device serves from the backend's blocking wait (see
   * BackendOptions.kickWaitMs, VhostUserDevice.queueKicked). The device calls it
   * before its last look at the available ring before it sleeps, never
   * after: a kick for a chain that look misses must stay to be seen.
   */
  clearKick?(): void;
  /**
   * Optional for the backend to give: lets the thread that the last
   * notify() woke run now if it waits for this CPU, before the caller goes
   * on (sched_yield). The device calls it once its replies are out and it has
   * only its own bookkeeping left before it sleeps: a scheduler that puts a
   * woken thread on its waker's CPU (as Linux did on the benchmark host,
   * whose CPUs report no shared cache) would otherwise hold the frontend's
   * interrupt back until then.
   */
  handOff?(): void;
}

/**
 * The device behind a backend. The backend calls these one at a time and
 * never concurrently with itself.
 */
export interface VhostUserDevice {
  /** Number of virtqueues (virtio-fs: 1 hiprio + the request queues). Answered to GET_QUEUE_NUM. */
  readonly numQueues: number;
  /** Largest queue size accepted by SET_VRING_NUM (a power of two, ≤ 32768). */
  readonly maxQueueSize: number;
  /**
   * Virtio feature bits offered: VERSION_1, RING_INDIRECT_DESC, RING_EVENT_IDX,
   * device bits. The backend adds VHOST_USER_F_PROTOCOL_FEATURES itself.
   */
  readonly features: bigint;
  /**
   * The device's config space (virtio-fs: `tag[36]`, `num_request_queues`
   * le32), read by GET_CONFIG. When absent the CONFIG protocol feature is not
   * offered: QEMU 7.1 to 8.0 fail when a vhost-user-fs backend offers it.
   */
  readonly config?: Uint8Array;
  /** Ring `vring.index` runs: process what is already available, then on each kick. */
  queueStarted(vring: Vring): void;
  /**
   * The kick eventfd of a running ring was signalled. Its counter is read
   * already, except with {@link clearsKicks}: see there.
   */
  queueKicked(index: number): void;
  /**
   * The device calls each ring's `Vring.clearKick()` before its last look
   * at the available ring before it sleeps. The backend may then pass on a
   * kick from its blocking wait unread and leave the read to that call: a
   * system call less between the kick and the reply. Otherwise it reads
   * every kick before queueKicked.
   */
  readonly clearsKicks?: boolean;
  /**
   * Stop ring `index`. Once the result resolves the device must not touch the
   * ring or guest memory on its behalf (finish or drop in-flight requests
   * first): the memory may be unmapped right after. Returns the next
   * available-ring index it would have processed (0..65535).
   */
  queueStopped(index: number): number | Promise<number>;
  /** Back to the initial state: RESET_DEVICE, or the connection ended. Every ring is stopped already. */
  reset?(): void | Promise<void>;
  /**
   * Whether everything taken from the rings so far is answered and nothing
   * the device does waits for the event loop (a promise, a timer it set to
   * go on): only then may the backend block the loop to wait for a kick (see
   * BackendOptions.kickWaitMs). Absent: never.
   */
  settled?(): boolean;
}

export interface BackendOptions {
  device: VhostUserDevice;
  transport: Transport;
  system: SystemIO;
  /**
   * Protocol features to offer. Default: MQ, REPLY_ACK, CONFIGURE_MEM_SLOTS,
   * RESET_DEVICE, plus CONFIG when the device has a config space. STATUS and
   * LOG_SHMFD are handled when offered here.
   */
  protocolFeatures?: bigint;
  /** Answer to GET_MAX_MEM_SLOTS (default 509, as Rust virtiofsd). */
  maxMemSlots?: number;
  /** Names the peer in messages (the socket path). */
  peer?: string;
  /** A request was refused or a ring failed; the connection goes on. */
  onError?: (error: Error, request: string) => void;
  /**
   * After serving a kick, wait up to this long (ms) for the rings' next kick
   * in a blocking wait, and serve it from there, as virtiofsd's queue
   * threads do, instead of going back to the event loop between requests;
   * 0 (the default): never. Only where the driver is another process: a
   * driver in this one cannot kick while its event loop is blocked. See
   * {@link KICK_WAIT_TURN_MS}.
   */
  kickWaitMs?: number;
}

/**
 * The longest one run of kick waits (see BackendOptions.kickWaitMs) keeps
 * the event loop blocked before it lets it turn once: timers and
 * vhost-user messages wait at most about this long while a guest is busy
 * (a signal ends a wait at once).
 */
export const KICK_WAIT_TURN_MS = 20;

/** Default protocol features (CONFIG is added when the device has a config space). */
export const DEFAULT_PROTOCOL_FEATURES =
  bit(ProtocolFeature.MQ) | bit(ProtocolFeature.REPLY_ACK) | bit(ProtocolFeature.CONFIGURE_MEM_SLOTS) | bit(ProtocolFeature.RESET_DEVICE);

/** Protocol features this backend can honour at all. */
const SUPPORTED_PROTOCOL_FEATURES =
  DEFAULT_PROTOCOL_FEATURES | bit(ProtocolFeature.CONFIG) | bit(ProtocolFeature.STATUS) | bit(ProtocolFeature.LOG_SHMFD);

/** Messages waiting to be handled before the connection is dropped as flooding. */
const MAX_QUEUED_MESSAGES = 1024;

/** Said when SET_MEM_TABLE comes without fds: the guest RAM is not shareable. */
export const MEMORY_NOT_SHARED =
  "guest memory is not shared: SET_MEM_TABLE carried no file descriptors. Start QEMU with shareable RAM, e.g. " +
  "-object memory-backend-memfd,id=mem,size=<RAM size>,share=on -numa node,memdev=mem (or -machine memory-backend=mem)";

/** A mapped guest memory region. */
interface MappedRegion {
  readonly desc: MemoryRegionDesc;
  readonly mapping: Mapping;
}

/** The backend's view of one vring. */
interface RingSlot {
  size: number;
  nextAvail: number;
  addr: VringAddr | null;
  kickFd: number;
  callFd: number;
  errFd: number;
  enabled: boolean;
  /** Set while the ring runs; cleared (so stale notify() calls do nothing) when it stops. */
  live: { running: boolean } | null;
  unwatch: (() => void) | null;
  /** The blocking wait saw the kick eventfd signalled and has not read it yet (see Vring.clearKick). */
  kickUnread: boolean;
}

function emptySlot(): RingSlot {
  return { size: 0, nextAvail: 0, addr: null, kickFd: -1, callFd: -1, errFd: -1, enabled: false, live: null, unwatch: null, kickUnread: false };
}

/** A snapshot of a ring's state, for diagnostics and tests. */
export interface RingStatus {
  size: number;
  nextAvail: number;
  enabled: boolean;
  running: boolean;
  hasKick: boolean;
  hasCall: boolean;
  hasErr: boolean;
}

function refused(code: (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode], message: string): ProtocolError {
  return new ProtocolError(code, message);
}

/** One vhost-user connection, backend side. */
export class VhostUserBackend {
  /** Resolves when the connection has ended and everything was released. */
  readonly closed: Promise<Disconnect>;

  private readonly device: VhostUserDevice;
  private readonly system: SystemIO;
  private readonly channel: Channel;
  private readonly offeredFeatures: bigint;
  private readonly offeredProtocol: bigint;
  private readonly maxMemSlots: number;
  private readonly onError: (error: Error, request: string) => void;
  private readonly kickWaitMs: number;
  /** A run of kick waits is under way (kicks served from it must not start another). */
  private waitingKicks = false;
  /** A kick fd the blocking wait saw readable did not read as an eventfd: the run of waits ends there. */
  private kickReadFailed = false;

  private ackedFeatures = 0n;
  private ackedProtocol = 0n;
  private featuresSet = false;
  private owner = false;
  private status = 0;
  private regions: MappedRegion[] = [];
  private guestMemory: GuestMemory | null = null;
  private logMapping: Mapping | null = null;
  private logFd = -1;
  private readonly rings: RingSlot[];

  private tail: Promise<void> = Promise.resolve();
  private queued = 0;
  private disconnecting = false;
  private resolveClosed!: (disconnect: Disconnect) => void;

  constructor(options: BackendOptions) {
    const { device, system } = options;
    if (!Number.isInteger(device.numQueues) || device.numQueues < 1 || device.numQueues > 256) {
      throw new RangeError(`a vhost-user device has 1 to 256 queues, not ${device.numQueues}`);
    }
    if (!isValidQueueSize(device.maxQueueSize)) throw new RangeError(`maxQueueSize ${device.maxQueueSize} is not a valid queue size`);
    this.device = device;
    this.system = system;
    this.offeredFeatures = device.features | bit(VhostFeature.PROTOCOL_FEATURES);
    const protocol = options.protocolFeatures ?? DEFAULT_PROTOCOL_FEATURES | (device.config ? bit(ProtocolFeature.CONFIG) : 0n);
    if ((protocol & ~SUPPORTED_PROTOCOL_FEATURES) !== 0n) throw new RangeError(`protocol features 0x${protocol.toString(16)} include some this backend cannot honour`);
    if (hasBit(protocol, ProtocolFeature.CONFIG) && !device.config) throw new RangeError("the CONFIG protocol feature needs a device config space");
    this.offeredProtocol = protocol;
    this.maxMemSlots = options.maxMemSlots ?? 509;
    this.onError = options.onError ?? ((error, request) => log.warn(`vhost-user ${request}: ${error.message}`));
    const kickWaitMs = options.kickWaitMs ?? 0;
    if (!(kickWaitMs >= 0 && kickWaitMs <= KICK_WAIT_TURN_MS)) throw new RangeError(`kickWaitMs must be 0 to ${KICK_WAIT_TURN_MS}, not ${kickWaitMs}`);
    this.kickWaitMs = kickWaitMs;
    this.rings = Array.from({ length: device.numQueues }, emptySlot);
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.channel = new Channel(
      options.transport,
      system,
      {
        message: (message) => this.enqueue(message),
        closed: (disconnect) => this.onClosed(disconnect),
      },
      options.peer,
    );
  }

  /** Starts reading requests. */
  start(): void {
    this.channel.start();
  }

  /** Ends the connection from this side; {@link closed} resolves once everything is released. */
  close(): void {
    this.channel.close(null);
  }

  /** Whether SET_OWNER has been received. */
  get owned(): boolean {
    return this.owner;
  }

  /** The guest memory currently mapped, or null. */
  get memory(): GuestMemory | null {
    return this.guestMemory;
  }

  /** The virtio features the frontend acknowledged. */
  get features(): bigint {
    return this.ackedFeatures;
  }

  /** The protocol features the frontend acknowledged. */
  get protocolFeatures(): bigint {
    return this.ackedProtocol;
  }

  /** A snapshot of ring `index`. */
  ring(index: number): RingStatus {
    const slot = this.rings[index];
    if (!slot) throw new RangeError(`no ring ${index}`);
    return {
      size: slot.size,
      nextAvail: slot.nextAvail,
      enabled: slot.enabled,
      running: slot.live !== null,
      hasKick: slot.kickFd >= 0,
      hasCall: slot.callFd >= 0,
      hasErr: slot.errFd >= 0,
    };
  }

  // ─── Message pump ────────────────────────────────────────────────────────

  private enqueue(message: Message): void {
    if (this.queued >= MAX_QUEUED_MESSAGES) {
      this.closeFds(message.fds);
      this.channel.close(refused(ProtocolErrorCode.LIMIT, `more than ${MAX_QUEUED_MESSAGES} vhost-user requests waiting`));
      return;
    }
    this.queued++;
    this.tail = this.tail.then(async () => {
      this.queued--;
      if (this.disconnecting) {
        this.closeFds(message.fds);
        return;
      }
      await this.dispatch(message);
    });
  }

  private async dispatch(message: Message): Promise<void> {
    const name = frontendRequestName(message.request);
    const spec: RequestSpec | undefined = FRONTEND_REQUESTS.get(message.request);
    let reply: Uint8Array | undefined;
    let failure: Error | null = null;
    try {
      if (message.request === FrontendRequest.SET_MEM_TABLE && message.fds.length === 0) {
        throw refused(ProtocolErrorCode.FDS, MEMORY_NOT_SHARED);
      }
      checkFrontendRequest(message);
      if (log.enabled("debug")) log.debug(`vhost-user <- ${name} flags=0x${message.flags.toString(16)} size=${message.payload.length} fds=${message.fds.length}`);
      reply = await this.handle(message);
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error));
    } finally {
      this.closeFds(message.fds);
    }
    if (failure) {
      this.onError(failure, name);
      if (spec?.alwaysReplies) reply = FAILURE_REPLIES.get(message.request) ?? new Uint8Array(0);
      else if (needsReply(message)) reply = encodeU64(1);
    } else if (reply === undefined && needsReply(message)) {
      reply = encodeU64(0);
    }
    if (reply !== undefined) await this.reply(message.request, reply);
  }

  private async reply(request: number, payload: Uint8Array): Promise<void> {
    try {
      await this.channel.send(encodeReply(request, payload));
    } catch {
      // The channel has closed; its closed() handler releases everything.
    }
  }

  /** Handles one checked request; returns the explicit reply payload, if the request has one. */
  private async handle(message: Message): Promise<Uint8Array | undefined> {
    const { payload } = message;
    const R = FrontendRequest;
    switch (message.request) {
      case R.GET_FEATURES:
        return encodeU64(this.offeredFeatures);
      case R.SET_FEATURES: {
        const features = decodeU64(payload);
        const extra = features & ~this.offeredFeatures;
        if (extra !== 0n) throw refused(ProtocolErrorCode.VALUE, `features 0x${extra.toString(16)} were not offered`);
        this.ackedFeatures = features;
        this.featuresSet = true;
        return undefined;
      }
      case R.GET_PROTOCOL_FEATURES:
        return encodeU64(this.offeredProtocol);
      case R.SET_PROTOCOL_FEATURES: {
        const features = decodeU64(payload);
        const extra = features & ~this.offeredProtocol;
        if (extra !== 0n) throw refused(ProtocolErrorCode.VALUE, `protocol features 0x${extra.toString(16)} were not offered`);
        this.ackedProtocol = features;
        return undefined;
      }
      case R.SET_OWNER:
        this.owner = true;
        return undefined;
      case R.RESET_OWNER:
        // Deprecated; the spec recommends ignoring it or disabling every ring.
        for (let i = 0; i < this.rings.length; i++) {
          await this.stopRing(i);
          this.rings[i]!.enabled = false;
        }
        return undefined;
      case R.RESET_DEVICE:
        this.requireProtocol(ProtocolFeature.RESET_DEVICE, "RESET_DEVICE");
        await this.resetDevice();
        return undefined;
      case R.GET_QUEUE_NUM:
        return encodeU64(this.device.numQueues);
      case R.GET_MAX_MEM_SLOTS:
        this.requireProtocol(ProtocolFeature.CONFIGURE_MEM_SLOTS, "GET_MAX_MEM_SLOTS");
        return encodeU64(this.maxMemSlots);
      case R.SET_MEM_TABLE:
        await this.setMemTable(message);
        return undefined;
      case R.ADD_MEM_REG:
        this.requireProtocol(ProtocolFeature.CONFIGURE_MEM_SLOTS, "ADD_MEM_REG");
        await this.addMemReg(message);
        return undefined;
      case R.REM_MEM_REG:
        this.requireProtocol(ProtocolFeature.CONFIGURE_MEM_SLOTS, "REM_MEM_REG");
        await this.remMemReg(decodeMemRegMsg(payload));
        return undefined;
      case R.SET_VRING_NUM: {
        const { index, num } = decodeVringState(payload);
        const slot = this.slot(index);
        if (slot.live) throw refused(ProtocolErrorCode.STATE, `ring ${index} is running`);
        if (!isValidQueueSize(num) || num > this.device.maxQueueSize) {
          throw refused(ProtocolErrorCode.VALUE, `queue size ${num} is not a power of two from 1 to ${this.device.maxQueueSize}`);
        }
        slot.size = num;
        return undefined;
      }
      case R.SET_VRING_BASE: {
        const { index, num } = decodeVringState(payload);
        const slot = this.slot(index);
        if (slot.live) throw refused(ProtocolErrorCode.STATE, `ring ${index} is running`);
        if (num > 0xffff) throw refused(ProtocolErrorCode.VALUE, `ring base ${num} is not a 16-bit index (packed rings are not supported)`);
        slot.nextAvail = num;
        return undefined;
      }
      case R.SET_VRING_ADDR: {
        const addr = decodeVringAddr(payload);
        const slot = this.slot(addr.index);
        if ((addr.flags & ~VRING_F_LOG) !== 0) throw refused(ProtocolErrorCode.VALUE, `unknown vring flags 0x${addr.flags.toString(16)}`);
        if (this.guestMemory) this.translate(this.guestMemory, addr, slot.size || 1);
        const wasRunning = await this.stopRing(addr.index);
        slot.addr = addr;
        if (wasRunning) this.startRing(addr.index);
        return undefined;
      }
      case R.GET_VRING_BASE: {
        const { index } = decodeVringState(payload);
        const slot = this.slot(index);
        await this.stopRing(index);
        this.replaceFd(slot, "kickFd", -1);
        return encodeVringState({ index, num: slot.nextAvail });
      }
      case R.SET_VRING_KICK: {
        const file = decodeVringFile(payload);
        const slot = this.slot(file.index);
        await this.stopRing(file.index);
        this.replaceFd(slot, "kickFd", file.noFd ? -1 : message.fds.shift()!);
        if (file.noFd) this.onError(refused(ProtocolErrorCode.VALUE, `ring ${file.index}: polling (no kick fd) is not supported; the ring stays stopped`), "SET_VRING_KICK");
        this.startRing(file.index);
        return undefined;
      }
      case R.SET_VRING_CALL: {
        const file = decodeVringFile(payload);
        this.replaceFd(this.slot(file.index), "callFd", file.noFd ? -1 : message.fds.shift()!);
        return undefined;
      }
      case R.SET_VRING_ERR: {
        const file = decodeVringFile(payload);
        this.replaceFd(this.slot(file.index), "errFd", file.noFd ? -1 : message.fds.shift()!);
        return undefined;
      }
      case R.SET_VRING_ENABLE: {
        const { index, num } = decodeVringState(payload);
        const slot = this.slot(index);
        if (num !== 0 && num !== 1) throw refused(ProtocolErrorCode.VALUE, `SET_VRING_ENABLE ${num}: expected 0 or 1`);
        slot.enabled = num === 1;
        if (slot.enabled) this.startRing(index);
        else await this.stopRing(index);
        return undefined;
      }
      case R.GET_CONFIG: {
        this.requireProtocol(ProtocolFeature.CONFIG, "GET_CONFIG");
        const access = decodeConfig(payload);
        const config = this.device.config!;
        const data = new Uint8Array(access.size);
        if (access.offset < config.length) data.set(config.subarray(access.offset, Math.min(config.length, access.offset + access.size)));
        return encodeConfig({ offset: access.offset, flags: access.flags, data });
      }
      case R.SET_CONFIG:
        this.requireProtocol(ProtocolFeature.CONFIG, "SET_CONFIG");
        decodeConfig(payload);
        throw refused(ProtocolErrorCode.VALUE, "the device config space is read-only");
      case R.SET_LOG_BASE: {
        this.requireProtocol(ProtocolFeature.LOG_SHMFD, "SET_LOG_BASE");
        const desc = decodeLog(payload);
        if (message.fds.length !== 1) throw refused(ProtocolErrorCode.FDS, "SET_LOG_BASE with LOG_SHMFD needs the log fd");
        const mapping = this.system.map(message.fds[0]!, desc.mmapOffset, desc.mmapSize);
        this.logMapping?.unmap();
        this.logMapping = mapping;
        return encodeU64(0);
      }
      case R.SET_LOG_FD:
        this.requireProtocol(ProtocolFeature.LOG_SHMFD, "SET_LOG_FD");
        if (this.logFd >= 0) this.system.closeFd(this.logFd);
        this.logFd = message.fds.shift()!;
        return undefined;
      case R.SET_STATUS: {
        this.requireProtocol(ProtocolFeature.STATUS, "SET_STATUS");
        const status = decodeU64(payload);
        if (status > 0xffn) throw refused(ProtocolErrorCode.VALUE, `device status 0x${status.toString(16)} is not a byte`);
        this.status = Number(status);
        return undefined;
      }
      case R.GET_STATUS:
        this.requireProtocol(ProtocolFeature.STATUS, "GET_STATUS");
        return encodeU64(this.status);
      default:
        throw refused(ProtocolErrorCode.UNKNOWN, `${frontendRequestName(message.request)} is not supported by this backend`);
    }
  }

  // ─── Memory ──────────────────────────────────────────────────────────────

  private async setMemTable(message: Message): Promise<void> {
    const table = decodeMemoryTable(message.payload);
    if (table.length === 0) throw refused(ProtocolErrorCode.VALUE, MEMORY_NOT_SHARED);
    const mapped: MappedRegion[] = [];
    try {
      table.forEach((desc, i) => mapped.push({ desc, mapping: this.system.map(message.fds[i]!, desc.mmapOffset, desc.memorySize) }));
      await this.replaceMemory(mapped);
    } catch (error) {
      for (const region of mapped) region.mapping.unmap();
      throw error;
    }
  }

  private async addMemReg(message: Message): Promise<void> {
    const desc = decodeMemRegMsg(message.payload);
    if (this.regions.length >= this.maxMemSlots) throw refused(ProtocolErrorCode.LIMIT, `all ${this.maxMemSlots} memory slots are in use`);
    const region = { desc, mapping: this.system.map(message.fds[0]!, desc.mmapOffset, desc.memorySize) };
    try {
      await this.replaceMemory([...this.regions, region]);
    } catch (error) {
      region.mapping.unmap();
      throw error;
    }
  }

  private async remMemReg(desc: MemoryRegionDesc): Promise<void> {
    const found = this.regions.find(
      (r) => r.desc.guestPhysAddr === desc.guestPhysAddr && r.desc.userspaceAddr === desc.userspaceAddr && r.desc.memorySize === desc.memorySize,
    );
    if (!found) throw refused(ProtocolErrorCode.VALUE, `no memory region at guest 0x${desc.guestPhysAddr.toString(16)} of size 0x${desc.memorySize.toString(16)}`);
    await this.replaceMemory(this.regions.filter((r) => r !== found));
  }

  /**
   * Installs a new set of regions: validates it as a GuestMemory first (a
   * rejected table changes nothing), stops the running rings, swaps, unmaps
   * the regions no longer present, and starts every ring that can run.
   */
  private async replaceMemory(regions: MappedRegion[]): Promise<void> {
    const memory =
      regions.length === 0
        ? null
        : new GuestMemory(regions.flatMap((r) => guestRegionsOf(r.mapping, r.desc.guestPhysAddr, r.desc.userspaceAddr, r.desc.memorySize)));
    await this.stopAllRings();
    const old = this.regions;
    this.regions = regions;
    this.guestMemory = memory;
    for (const region of old) if (!regions.includes(region)) region.mapping.unmap();
    for (let i = 0; i < this.rings.length; i++) this.startRing(i);
  }

  private unmapAll(): void {
    for (const region of this.regions) region.mapping.unmap();
    this.regions = [];
    this.guestMemory = null;
    this.logMapping?.unmap();
    this.logMapping = null;
    if (this.logFd >= 0) this.system.closeFd(this.logFd);
    this.logFd = -1;
  }

  // ─── Rings ───────────────────────────────────────────────────────────────

  private slot(index: number): RingSlot {
    const slot = this.rings[index];
    if (!slot) throw refused(ProtocolErrorCode.VALUE, `vring index ${index} out of range: the device has ${this.rings.length} queues`);
    return slot;
  }

  private requireProtocol(feature: number, request: string): void {
    if (!hasBit(this.ackedProtocol, feature)) {
      throw refused(ProtocolErrorCode.STATE, `${request} needs a protocol feature (bit ${feature}) that was not negotiated`);
    }
  }

  /** Closes the fd in `slot[key]` (if any) and stores `fd`. */
  private replaceFd(slot: RingSlot, key: "kickFd" | "callFd" | "errFd", fd: number): void {
    if (slot[key] >= 0) this.system.closeFd(slot[key]);
    slot[key] = fd;
  }

  /** Translates a ring's user addresses to guest-physical ones; ADDRESS error if any part is outside one region. */
  private translate(memory: GuestMemory, addr: VringAddr, size: number): { desc: bigint; avail: bigint; used: bigint } {
    const eventIdx = hasFeature(this.ackedFeatures, "RING_EVENT_IDX");
    return {
      desc: memory.userToGuest(addr.descUserAddr, descTableSize(size)),
      avail: memory.userToGuest(addr.availUserAddr, availRingSize(size, eventIdx)),
      used: memory.userToGuest(addr.usedUserAddr, usedRingSize(size, eventIdx)),
    };
  }

  private isEnabled(slot: RingSlot): boolean {
    return slot.enabled || !(this.featuresSet && hasBit(this.ackedFeatures, VhostFeature.PROTOCOL_FEATURES));
  }

  /** Starts ring `index` if it has everything it needs and is not running. */
  private startRing(index: number): void {
    const slot = this.rings[index]!;
    const memory = this.guestMemory;
    if (slot.live || this.disconnecting || !memory || !slot.addr || slot.size === 0 || slot.kickFd < 0 || !this.isEnabled(slot)) return;
    const live = { running: true };
    let where: { desc: bigint; avail: bigint; used: bigint };
    try {
      where = this.translate(memory, slot.addr, slot.size);
    } catch (error) {
      this.ringFailed(index, slot, error);
      return;
    }
    const system = this.system;
    const vring: Vring = {
      index,
      size: slot.size,
      memory,
      descAddr: where.desc,
      availAddr: where.avail,
      usedAddr: where.used,
      nextAvail: slot.nextAvail,
      features: this.ackedFeatures,
      notify: () => {
        if (live.running && slot.callFd >= 0) this.signal(slot.callFd, `call of ring ${index}`);
      },
      signalError: () => {
        if (live.running && slot.errFd >= 0) this.signal(slot.errFd, `error of ring ${index}`);
      },
      clearKick: () => this.clearKick(slot),
      handOff: () => {
        if (live.running) system.yieldCpu?.();
      },
    };
    slot.live = live;
    slot.unwatch = system.watchEventFd(slot.kickFd, () => {
      if (!live.running) return;
      this.kicked(index, slot);
      if (this.kickWaitMs > 0) this.waitForKicks();
    });
    try {
      this.device.queueStarted(vring);
    } catch (error) {
      live.running = false;
      slot.live = null;
      slot.unwatch();
      slot.unwatch = null;
      this.ringFailed(index, slot, error);
    }
  }

  private kicked(index: number, slot: RingSlot): void {
    try {
      this.device.queueKicked(index);
    } catch (error) {
      this.ringFailed(index, slot, error);
    }
  }

  /**
   * Serves the running rings' kicks from a blocking wait (see
   * BackendOptions.kickWaitMs) while the device is settled, until a wait
   * times out, a signal comes, or KICK_WAIT_TURN_MS have passed. A guest
   * that sends its requests one at a time is then served without a turn of
   * the event loop for each: measured in VM boots (medians), the daemon's
   * kick-to-call time fell from 43-50 µs to 40-44 µs, and the time from
   * the call to the daemon's next wait from 13-14 µs to 9-10 µs.
   *
   * With a device that clears kicks (VhostUserDevice.clearsKicks), a kick
   * is read after the device has served it, not before: a system call less
   * between the kick and the reply.
   */
  private waitForKicks(): void {
    const wait = this.system.waitEventFd;
    if (this.waitingKicks || wait === undefined || this.system.clearEventFd === undefined || this.device.settled === undefined) return;
    this.waitingKicks = true;
    try {
      const fds: number[] = [];
      const indexes: number[] = [];
      for (let i = 0; i < this.rings.length; i++) {
        const slot = this.rings[i]!;
        if (slot.live?.running && slot.kickFd >= 0) {
          fds.push(slot.kickFd);
          indexes.push(i);
        }
      }
      if (fds.length === 0) return;
      const late = this.device.clearsKicks === true;
      const turnAt = performance.now() + KICK_WAIT_TURN_MS;
      while (this.device.settled() && !this.disconnecting) {
        const ready = wait.call(this.system, fds, this.kickWaitMs);
        if (ready < 0) return;
        const index = indexes[ready]!;
        const slot = this.rings[index]!;
        // Stopped meanwhile (the ring's own failure): the kick has nobody to go to.
        if (!slot.live?.running || slot.kickFd !== fds[ready]) return;
        slot.kickUnread = true;
        // A device that does not clear kicks gets this one read first.
        if (!late) this.clearKick(slot);
        if (!this.kickReadFailed) this.kicked(index, slot);
        // Read by now, or the device did not get as far as its last look at the ring (a drain left for the event
        // loop's next turn, which looks at the ring again; a stopped ring): read it here.
        this.clearKick(slot);
        if (this.kickReadFailed || performance.now() >= turnAt) return;
      }
    } finally {
      this.waitingKicks = false;
      this.kickReadFailed = false;
    }
  }

  /** Reads ring `slot`'s kick if the blocking wait left it unread (Vring.clearKick). */
  private clearKick(slot: RingSlot): void {
    if (!slot.kickUnread) return;
    slot.kickUnread = false;
    if (!slot.live?.running) return;
    if (!this.system.clearEventFd!(slot.kickFd)) this.kickReadFailed = true;
  }

  /** Stops ring `index` if it runs; returns whether it was running. */
  private async stopRing(index: number): Promise<boolean> {
    const slot = this.rings[index]!;
    const live = slot.live;
    if (!live) return false;
    live.running = false;
    slot.live = null;
    slot.unwatch?.();
    slot.unwatch = null;
    try {
      const next = await this.device.queueStopped(index);
      if (!Number.isInteger(next) || next < 0 || next > 0xffff) throw new RangeError(`device returned next avail index ${next}`);
      slot.nextAvail = next;
    } catch (error) {
      this.onError(error instanceof Error ? error : new Error(String(error)), `stop ring ${index}`);
    }
    return true;
  }

  /**
   * Signals an eventfd the frontend gave (a ring's call or error fd). The
   * frontend may have given anything that takes a write, and a write that
   * fails is never thrown at whoever completed a request, which would end
   * the daemon. EPIPE or ECONNRESET (a socket or pipe whose reader has gone)
   * says the frontend has left: our own guest driver gives socketpair ends as
   * call fds (guest/notify.ts), and requests that complete after it closed,
   * before this process has read the end of the vhost-user stream, meet
   * exactly that. Nobody is left to wake, and the disconnect follows from the
   * stream; nothing is reported. Any other failure is.
   */
  private signal(fd: number, what: string): void {
    try {
      this.system.signalEventFd(fd);
    } catch (error) {
      if (ErrnoError.is(error) && (error.errno === Errno.EPIPE || error.errno === Errno.ECONNRESET)) return;
      this.onError(error instanceof Error ? error : new Error(String(error)), `signalling the ${what}`);
    }
  }

  private ringFailed(index: number, slot: RingSlot, error: unknown): void {
    if (slot.errFd >= 0) this.signal(slot.errFd, `error of ring ${index}`);
    this.onError(error instanceof Error ? error : new Error(String(error)), `start ring ${index}`);
  }

  private async stopAllRings(): Promise<void> {
    for (let i = 0; i < this.rings.length; i++) await this.stopRing(i);
  }

  private releaseRings(): void {
    for (const slot of this.rings) {
      this.replaceFd(slot, "kickFd", -1);
      this.replaceFd(slot, "callFd", -1);
      this.replaceFd(slot, "errFd", -1);
      Object.assign(slot, emptySlot());
    }
  }

  private async resetDevice(): Promise<void> {
    await this.stopAllRings();
    this.releaseRings();
    this.unmapAll();
    this.ackedFeatures = 0n;
    this.featuresSet = false;
    this.status = 0;
    await this.device.reset?.();
  }

  // ─── Teardown ────────────────────────────────────────────────────────────

  private onClosed(disconnect: Disconnect): void {
    this.disconnecting = true;
    this.tail = this.tail.then(async () => {
      try {
        await this.stopAllRings();
        this.releaseRings();
        this.unmapAll();
        await this.device.reset?.();
      } catch (error) {
        this.onError(error instanceof Error ? error : new Error(String(error)), "disconnect");
      }
      this.resolveClosed(disconnect);
    });
  }

  private closeFds(fds: number[]): void {
    for (const fd of fds.splice(0)) this.system.closeFd(fd);
  }
}

/** The reply sent when a request that always has a reply is refused. */
const FAILURE_REPLIES: ReadonlyMap<number, Uint8Array> = new Map([
  // vhost-user.rst: "zero length of payload to indicate an error".
  [FrontendRequest.GET_CONFIG, new Uint8Array(0)],
  // u64 results where non-zero means failure.
  [FrontendRequest.IOTLB_MSG, encodeU64(1)],
  [FrontendRequest.POSTCOPY_END, encodeU64(1)],
  [FrontendRequest.SET_DEVICE_STATE_FD, encodeU64(0x1 | 0x100)],
  [FrontendRequest.CHECK_DEVICE_STATE, encodeU64(1)],
]);
