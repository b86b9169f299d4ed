/**
 * The vhost-user frontend: the VMM side, played by our user-space guest
 * driver. It connects to any vhost-user-fs backend (QEMU's C virtiofsd, Rust
 * virtiofsd, or ours), allocates guest RAM as memfds it shares, lays out the
 * split rings at the start of the first region, hands the backend each ring
 * with its kick, call and err eventfds, and exposes what the layer above (the
 * FUSE session, through DriverQueues from `src/virtio/`) needs.
 *
 * The handshake follows QEMU's order: GET_FEATURES, SET_OWNER,
 * GET/SET_PROTOCOL_FEATURES, GET_QUEUE_NUM (MQ), GET_CONFIG (CONFIG),
 * SET_FEATURES, SET_MEM_TABLE, then per ring SET_VRING_NUM, _BASE, _ADDR,
 * _KICK, _CALL, _ERR, and SET_VRING_ENABLE last. With REPLY_ACK negotiated
 * every request without a reply of its own asks for an ack, so a refusal is
 * seen at the request that caused it.
 *
 * When the backend goes away (EOF, ECONNRESET, EPIPE, a malformed reply) the
 * pending request rejects, `closed` resolves and `onDisconnected` is called
 * with the error. The memory and eventfds stay valid until {@link close}.
 */
import { ProtocolError, ProtocolErrorCode } from "../common/errors.js";
import { log } from "../common/log.js";
import { GuestMemory } from "../virtio/memory.js";
import { VirtioFeature, hasFeature, isValidQueueSize, splitQueueLayout } from "../virtio/ring.js";
import { Channel, guestRegionsOf, type Disconnect, type Mapping, type SystemIO, type Transport } from "./channel.js";
import {
  ConfigFlag,
  FrontendRequest,
  ProtocolFeature,
  U64_SIZE,
  VRING_STATE_SIZE,
  VhostFeature,
  bit,
  checkReply,
  decodeConfig,
  decodeU64,
  decodeVringState,
  encodeConfig,
  encodeMemoryTable,
  encodeRequest,
  encodeU64,
  encodeVringAddr,
  encodeVringFile,
  encodeVringState,
  frontendRequestName,
  hasBit,
  type MemoryRegionDesc,
  type Message,
} from "./messages.js";

/** What the frontend needs from the system beyond {@link SystemIO}. */
export interface FrontendSystem extends SystemIO {
  /** A new memfd of `size` zero bytes; the caller closes it. */
  createMemfd(name: string, size: bigint): number;
  /** A new non-blocking eventfd; the caller closes it. */
  createEventFd(): number;
}

/** One region of guest RAM to allocate. */
export interface RamRegion {
  /** Guest-physical address of its first byte. */
  guestAddr: bigint;
  /** Bytes; a multiple of 4096. */
  size: number;
}

export interface FrontendSetup {
  /** Guest RAM, one memfd per region (at most 8). The rings are placed at the start of the first region. */
  memory: readonly RamRegion[];
  /** One size per queue to set up, e.g. `[128, 1024]` for virtio-fs hiprio + one request queue. */
  queueSizes: readonly number[];
  /** Virtio features wanted; acknowledged are these ∩ offered. Default VERSION_1, RING_INDIRECT_DESC, RING_EVENT_IDX. */
  features?: bigint;
  /** Protocol features wanted; acknowledged are these ∩ offered. Default REPLY_ACK, MQ, CONFIG. */
  protocolFeatures?: bigint;
  /** Bytes of config space read by GET_CONFIG (default 40: virtio-fs `tag[36]` + `num_request_queues`). */
  configSize?: number;
}

/** One ring as set up with the backend. Addresses are guest-physical. */
export interface FrontendQueue {
  readonly index: number;
  readonly size: number;
  readonly descAddr: bigint;
  readonly availAddr: bigint;
  readonly usedAddr: bigint;
  /** Ours to signal when buffers are added (see {@link kick}). */
  readonly kickFd: number;
  /** The backend signals it when buffers are used (see {@link onCall}). */
  readonly callFd: number;
  /** The backend signals it on a ring error. */
  readonly errFd: number;
  /** Signals the kick eventfd. */
  kick(): void;
  /** Calls `listener` each time the call eventfd is signalled; returns the unsubscribe function. */
  onCall(listener: () => void): () => void;
  /** Calls `listener` each time the err eventfd is signalled; returns the unsubscribe function. */
  onError(listener: () => void): () => void;
}

/** What the handshake established. */
export interface FrontendDevice {
  /** Guest RAM, shared with the backend. */
  readonly memory: GuestMemory;
  /** The rings, in queue order. */
  readonly queues: readonly FrontendQueue[];
  /** Guest RAM left for buffers after the rings: `[guestAddr, guestAddr + size)` inside the first region. */
  readonly heap: { readonly guestAddr: bigint; readonly size: number };
  /** Virtio features offered by the backend. */
  readonly offeredFeatures: bigint;
  /** Virtio features acknowledged (without VHOST_USER_F_PROTOCOL_FEATURES). */
  readonly features: bigint;
  /** Protocol features acknowledged. */
  readonly protocolFeatures: bigint;
  /** GET_QUEUE_NUM's answer, when MQ was negotiated. */
  readonly maxQueues?: number;
  /** The config space read by GET_CONFIG, when CONFIG was negotiated and the backend answered. */
  readonly config?: Uint8Array;
}

export interface FrontendOptions {
  transport: Transport;
  system: FrontendSystem;
  /** Names the backend in errors, e.g. the socket path. */
  peer?: string;
  /** The backend went away (or sent something malformed). */
  onDisconnected?: (error: Error) => void;
}

export const DEFAULT_FRONTEND_FEATURES = bit(VirtioFeature.VERSION_1) | bit(VirtioFeature.RING_INDIRECT_DESC) | bit(VirtioFeature.RING_EVENT_IDX);
export const DEFAULT_FRONTEND_PROTOCOL_FEATURES = bit(ProtocolFeature.REPLY_ACK) | bit(ProtocolFeature.MQ) | bit(ProtocolFeature.CONFIG);
/** virtio-fs config space: `tag[36]` + le32 `num_request_queues`. */
export const VIRTIO_FS_CONFIG_SIZE = 40;

const PAGE = 4096;
const alignUp = (n: number, to: number): number => Math.ceil(n / to) * to;
/** Where invented userspace addresses start when the system does not tell mapping addresses. */
const SYNTHETIC_USER_BASE = 0x7e00_0000_0000n;

interface Waiter {
  resolve(message: Message): void;
  reject(error: Error): void;
}

/** One vhost-user connection, frontend side. */
export class VhostUserFrontend {
  /** Resolves when the connection has ended (error null: {@link close} was called). */
  readonly closed: Promise<Disconnect>;

  private readonly system: FrontendSystem;
  private readonly channel: Channel;
  private readonly peer: string;
  private readonly onDisconnected: (error: Error) => void;
  private readonly waiters: Waiter[] = [];
  private lock: Promise<unknown> = Promise.resolve();
  private disconnect: Disconnect | null = null;
  private resolveClosed!: (disconnect: Disconnect) => void;
  private ackedProtocol = 0n;
  private readonly mappings: Mapping[] = [];
  private readonly ownedFds: number[] = [];
  private readonly unwatchers = new Set<() => void>();
  private released = false;
  private device_: FrontendDevice | null = null;

  constructor(options: FrontendOptions) {
    this.system = options.system;
    this.peer = options.peer ?? "vhost-user backend";
    this.onDisconnected = options.onDisconnected ?? ((error) => log.warn(`vhost-user backend ${this.peer} disconnected: ${error.message}`));
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.channel = new Channel(
      options.transport,
      options.system,
      { message: (message) => this.onMessage(message), closed: (disconnect) => this.onClosed(disconnect) },
      this.peer,
    );
    this.channel.start();
  }

  /** The device set up by {@link start}, or null before. */
  get device(): FrontendDevice | null {
    return this.device_;
  }

  /** Whether the connection has ended. */
  get isDisconnected(): boolean {
    return this.disconnect !== null;
  }

  /**
   * Runs the handshake: negotiates, shares guest RAM, sets up every ring and
   * enables it. Rejects with the first failure (a refusal, a malformed reply,
   * the backend gone); the connection is then closed.
   */
  async start(setup: FrontendSetup): Promise<FrontendDevice> {
    if (this.device_) throw new Error("the frontend is already started");
    try {
      this.device_ = await this.handshake(setup);
      return this.device_;
    } catch (error) {
      this.channel.close(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
  }

  /** GET_VRING_BASE: stops ring `index` in the backend and returns its next available index. */
  async getVringBase(index: number): Promise<number> {
    const reply = await this.call(FrontendRequest.GET_VRING_BASE, encodeVringState({ index, num: 0 }), [], VRING_STATE_SIZE);
    const state = decodeVringState(reply!.payload);
    if (state.index !== index || state.num > 0xffff) {
      throw new ProtocolError(ProtocolErrorCode.VALUE, `GET_VRING_BASE for ring ${index} answered ring ${state.index} index ${state.num}`);
    }
    return state.num;
  }

  /** SET_VRING_ENABLE for ring `index`. */
  async setVringEnable(index: number, enabled: boolean): Promise<void> {
    await this.call(FrontendRequest.SET_VRING_ENABLE, encodeVringState({ index, num: enabled ? 1 : 0 }));
  }

  /**
   * Closes the connection and releases everything: eventfd watches, the
   * eventfds, the memfds and the guest RAM mappings. The layer above must not
   * touch the memory afterwards. Idempotent.
   */
  close(): void {
    this.channel.close(null);
    this.release();
  }

  // ─── Handshake ───────────────────────────────────────────────────────────

  private async handshake(setup: FrontendSetup): Promise<FrontendDevice> {
    const R = FrontendRequest;
    if (setup.queueSizes.length < 1 || setup.queueSizes.length > 256) throw new RangeError(`${setup.queueSizes.length} queues: expected 1 to 256`);
    for (const size of setup.queueSizes) if (!isValidQueueSize(size)) throw new RangeError(`queue size ${size} is not a power of two from 1 to 32768`);
    if (setup.memory.length < 1 || setup.memory.length > 8) throw new RangeError(`${setup.memory.length} memory regions: expected 1 to 8`);

    const offered = decodeU64((await this.call(R.GET_FEATURES, undefined, [], U64_SIZE))!.payload);
    if (!hasFeature(offered, "VERSION_1")) throw new ProtocolError(ProtocolErrorCode.VALUE, `backend ${this.peer} does not offer VIRTIO_F_VERSION_1 (features 0x${offered.toString(16)})`);
    await this.call(R.SET_OWNER);

    let protocol = 0n;
    let maxQueues: number | undefined;
    let config: Uint8Array | undefined;
    const hasProtocol = hasBit(offered, VhostFeature.PROTOCOL_FEATURES);
    if (hasProtocol) {
      const offeredProtocol = decodeU64((await this.call(R.GET_PROTOCOL_FEATURES, undefined, [], U64_SIZE))!.payload);
      protocol = offeredProtocol & (setup.protocolFeatures ?? DEFAULT_FRONTEND_PROTOCOL_FEATURES);
      await this.call(R.SET_PROTOCOL_FEATURES, encodeU64(protocol));
      // Acks are asked for from the next request on.
      this.ackedProtocol = protocol;
      if (hasBit(protocol, ProtocolFeature.MQ)) {
        const n = decodeU64((await this.call(R.GET_QUEUE_NUM, undefined, [], U64_SIZE))!.payload);
        maxQueues = n > 0xffffn ? 0xffff : Number(n);
        if (maxQueues < setup.queueSizes.length) {
          throw new ProtocolError(ProtocolErrorCode.VALUE, `backend ${this.peer} supports ${maxQueues} queues, ${setup.queueSizes.length} wanted`);
        }
      }
      if (hasBit(protocol, ProtocolFeature.CONFIG)) config = await this.readConfig(setup.configSize ?? VIRTIO_FS_CONFIG_SIZE);
    }

    const features = offered & (setup.features ?? DEFAULT_FRONTEND_FEATURES) & ~bit(VhostFeature.PROTOCOL_FEATURES);
    await this.call(R.SET_FEATURES, encodeU64(features | (hasProtocol ? bit(VhostFeature.PROTOCOL_FEATURES) : 0n)));

    const memory = this.allocateMemory(setup.memory);
    await this.call(R.SET_MEM_TABLE, encodeMemoryTable(memory.table), memory.fds);

    const first = memory.guest.regions.find((r) => r.guestAddr === setup.memory[0]!.guestAddr)!;
    // The rings, page-aligned one after the other at the start of the first region (its first piece).
    let offset = 0;
    const queues: FrontendQueue[] = [];
    for (const [index, size] of setup.queueSizes.entries()) {
      const layout = splitQueueLayout(size, BigInt(offset));
      offset = alignUp(Number(layout.end), PAGE);
      if (offset > first.bytes.length) throw new RangeError(`the first memory region (${first.bytes.length} bytes) cannot hold the rings`);
      const at = { desc: Number(layout.descAddr), avail: Number(layout.availAddr), used: Number(layout.usedAddr) };
      queues.push(await this.setUpQueue(index, size, first.guestAddr, first.userAddr, at));
    }
    if (hasProtocol) for (const queue of queues) await this.setVringEnable(queue.index, true);

    return {
      memory: memory.guest,
      queues,
      heap: { guestAddr: first.guestAddr + BigInt(offset), size: first.bytes.length - offset },
      offeredFeatures: offered,
      features,
      protocolFeatures: protocol,
      ...(maxQueues !== undefined ? { maxQueues } : {}),
      ...(config !== undefined ? { config } : {}),
    };
  }

  private async readConfig(size: number): Promise<Uint8Array | undefined> {
    const reply = await this.call(FrontendRequest.GET_CONFIG, encodeConfig({ offset: 0, flags: ConfigFlag.FRONTEND, data: new Uint8Array(size) }), [], null);
    if (reply!.payload.length === 0) {
      log.warn(`vhost-user backend ${this.peer} refused GET_CONFIG`);
      return undefined;
    }
    const access = decodeConfig(reply!.payload, "GET_CONFIG reply");
    if (access.offset !== 0 || access.size !== size) {
      throw new ProtocolError(ProtocolErrorCode.LENGTH, `GET_CONFIG reply covers ${access.offset}+${access.size}, asked 0+${size}`);
    }
    return access.data;
  }

  private allocateMemory(regions: readonly RamRegion[]): { guest: GuestMemory; table: MemoryRegionDesc[]; fds: number[] } {
    const table: MemoryRegionDesc[] = [];
    const fds: number[] = [];
    const guestRegions = [];
    let synthetic = SYNTHETIC_USER_BASE;
    for (const [i, region] of regions.entries()) {
      if (!Number.isSafeInteger(region.size) || region.size <= 0 || region.size % PAGE !== 0) {
        throw new RangeError(`memory region ${i}: size ${region.size} is not a positive multiple of ${PAGE}`);
      }
      const size = BigInt(region.size);
      const fd = this.system.createMemfd(`viofs-guest-ram-${i}`, size);
      this.ownedFds.push(fd);
      const mapping = this.system.map(fd, 0n, size);
      this.mappings.push(mapping);
      const userAddr = mapping.address ?? synthetic;
      synthetic += BigInt(alignUp(region.size, 1 << 21));
      fds.push(fd);
      table.push({ guestPhysAddr: region.guestAddr, memorySize: size, userspaceAddr: userAddr, mmapOffset: 0n });
      guestRegions.push(...guestRegionsOf(mapping, region.guestAddr, userAddr, size));
    }
    return { guest: new GuestMemory(guestRegions), table, fds };
  }

  private async setUpQueue(
    index: number,
    size: number,
    regionGuest: bigint,
    regionUser: bigint,
    at: { desc: number; avail: number; used: number },
  ): Promise<FrontendQueue> {
    const R = FrontendRequest;
    const kickFd = this.newEventFd();
    const callFd = this.newEventFd();
    const errFd = this.newEventFd();
    await this.call(R.SET_VRING_NUM, encodeVringState({ index, num: size }));
    await this.call(R.SET_VRING_BASE, encodeVringState({ index, num: 0 }));
    await this.call(
      R.SET_VRING_ADDR,
      encodeVringAddr({
        index,
        flags: 0,
        descUserAddr: regionUser + BigInt(at.desc),
        usedUserAddr: regionUser + BigInt(at.used),
        availUserAddr: regionUser + BigInt(at.avail),
        logGuestAddr: 0n,
      }),
    );
    await this.call(R.SET_VRING_KICK, encodeVringFile({ index, noFd: false }), [kickFd]);
    await this.call(R.SET_VRING_CALL, encodeVringFile({ index, noFd: false }), [callFd]);
    await this.call(R.SET_VRING_ERR, encodeVringFile({ index, noFd: false }), [errFd]);
    const system = this.system;
    const watch = (fd: number, listener: () => void): (() => void) => {
      if (this.released) throw new Error("the frontend is closed");
      const stop = system.watchEventFd(fd, listener);
      const unwatch = (): void => {
        if (this.unwatchers.delete(unwatch)) stop();
      };
      this.unwatchers.add(unwatch);
      return unwatch;
    };
    return {
      index,
      size,
      descAddr: regionGuest + BigInt(at.desc),
      availAddr: regionGuest + BigInt(at.avail),
      usedAddr: regionGuest + BigInt(at.used),
      kickFd,
      callFd,
      errFd,
      kick: () => {
        if (!this.released) system.signalEventFd(kickFd);
      },
      onCall: (listener) => watch(callFd, listener),
      onError: (listener) => watch(errFd, listener),
    };
  }

  private newEventFd(): number {
    const fd = this.system.createEventFd();
    this.ownedFds.push(fd);
    return fd;
  }

  // ─── Requests ────────────────────────────────────────────────────────────

  /**
   * Sends one request and waits for what it brings back, one request at a
   * time. `replySize`: a number (the reply's exact payload size), `null` (a
   * reply of any size), or undefined (no reply of its own: an ack is asked
   * for when REPLY_ACK is negotiated, and a non-zero ack rejects).
   */
  private call(request: number, payload?: Uint8Array, fds: readonly number[] = [], replySize?: number | null): Promise<Message | undefined> {
    const run = async (): Promise<Message | undefined> => {
      if (this.disconnect) throw this.disconnect.error ?? new ProtocolError(ProtocolErrorCode.STATE, `vhost-user connection to ${this.peer} is closed`);
      const name = frontendRequestName(request);
      const hasReply = replySize !== undefined;
      const ack = !hasReply && hasBit(this.ackedProtocol, ProtocolFeature.REPLY_ACK);
      const answer = hasReply || ack ? this.nextMessage() : null;
      answer?.catch(() => undefined);
      if (log.enabled("debug")) log.debug(`vhost-user -> ${name} size=${payload?.length ?? 0} fds=${fds.length}${ack ? " need_reply" : ""}`);
      await this.channel.send(encodeRequest(request, payload, ack), fds);
      if (!answer) return undefined;
      const reply = await answer;
      try {
        if (ack) {
          checkReply(reply, request, U64_SIZE);
          const status = decodeU64(reply.payload);
          if (status !== 0n) throw new ProtocolError(ProtocolErrorCode.VALUE, `backend ${this.peer} refused ${name} (ack ${status})`);
          return undefined;
        }
        checkReply(reply, request, replySize ?? undefined);
        return reply;
      } catch (error) {
        for (const fd of reply.fds.splice(0)) this.system.closeFd(fd);
        throw error;
      }
    };
    const result = this.lock.then(run);
    this.lock = result.catch(() => undefined);
    return result;
  }

  private nextMessage(): Promise<Message> {
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private onMessage(message: Message): void {
    const waiter = this.waiters.shift();
    if (!waiter) {
      for (const fd of message.fds) this.system.closeFd(fd);
      this.channel.close(new ProtocolError(ProtocolErrorCode.STATE, `unsolicited ${frontendRequestName(message.request)} from backend ${this.peer}`));
      return;
    }
    waiter.resolve(message);
  }

  private onClosed(disconnect: Disconnect): void {
    this.disconnect = disconnect;
    const error = disconnect.error ?? new ProtocolError(ProtocolErrorCode.STATE, `vhost-user connection to ${this.peer} is closed`);
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
    if (disconnect.error) this.onDisconnected(disconnect.error);
    this.resolveClosed(disconnect);
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    for (const unwatch of [...this.unwatchers]) unwatch();
    for (const mapping of this.mappings.splice(0)) mapping.unmap();
    for (const fd of this.ownedFds.splice(0)) this.system.closeFd(fd);
  }
}
