/**
 * The device side of a split virtqueue (the role virtiofsd plays): take
 * descriptor chains the driver made available, hand their buffers to the
 * request handler, return them through the used ring, and decide when the
 * driver must be interrupted.
 *
 * Trust: everything in the rings and tables is written by the driver, which
 * may be hostile. Each ring entry and each descriptor field is read from
 * shared memory once into a local and validated there; every buffer must lie
 * inside one guest memory region.
 *
 * Failure policy (tested in test/virtio/device-queue.test.ts):
 * - A bad CHAIN (index out of range, loop, nested or malformed indirect table,
 *   a buffer outside memory, readable after writable, total length above
 *   2^32-1) fails that request only. `pop()` returns the head to the used ring
 *   with length 0 (so the driver gets its descriptors back and sees an empty
 *   reply, which a virtio-fs driver treats as an error) and then throws the
 *   ProtocolError. The queue keeps serving the chains that follow.
 * - A bad RING (the available index jumps more than `size` past the last one
 *   seen, or the ring names a head index >= size, which no used element can
 *   answer) marks the queue broken: `pop()` throws the ProtocolError once,
 *   `broken` and `brokenReason` tell why, and later `pop()`s return null. The
 *   vhost-user layer should then report the device as needing reset. Chains
 *   already popped may still be completed with `push()`.
 *
 * Memory ordering: ring indices and event fields are accessed with `Atomics`
 * (sequentially consistent), ring entries and descriptors with plain loads
 * and stores ordered by those accesses, as the specification requires (entry
 * before index on publish, index before entry on consume, and a full barrier
 * between publishing and reading the peer's event index).
 */
import { ProtocolError, ProtocolErrorCode } from "../common/errors.js";
import { spanViews } from "../common/spans.js";
import { Reader, Writer, type Segments } from "./chain-io.js";
import type { GuestMemory } from "./memory.js";
import {
  HOST_IS_LITTLE_ENDIAN,
  VIRTQ_AVAIL_ALIGN,
  VIRTQ_AVAIL_F_NO_INTERRUPT,
  VIRTQ_DESC_ALIGN,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  VIRTQ_DESC_SIZE,
  VIRTQ_USED_ALIGN,
  VIRTQ_USED_F_NO_NOTIFY,
  availEventOffset,
  availRingSize,
  descTableSize,
  isValidQueueSize,
  needEvent,
  usedEventOffset,
  usedRingSize,
} from "./ring.js";

export { Reader, Writer, type Segments } from "./chain-io.js";

/** Default cap on the entries of one indirect table (16 MiB in 4 KiB pages). */
export const DEFAULT_MAX_INDIRECT = 4096;
/** The largest cap allowed: descriptor `next` fields are u16. */
export const MAX_INDIRECT_LIMIT = 65535;
/** The total length of a chain may not exceed this (VIRTIO 1.2 §2.7.5: "longer than 2^32 bytes"). */
export const MAX_CHAIN_BYTES = 0xffff_ffff;

const TWO_32 = 2 ** 32;
/** `hi` word at or above this puts an address at or above 2^53. */
const HI_LIMIT = 0x20_0000;

/** How the driver configured the queue (vhost-user SET_VRING_NUM/ADDR/BASE, features). */
export interface DeviceQueueConfig {
  readonly memory: GuestMemory;
  /** Number of entries: a power of two, at most 32768. */
  readonly size: number;
  /** Guest-physical addresses (translate vhost-user user addresses with `memory.userToGuest`). */
  readonly descAddr: bigint;
  readonly availAddr: bigint;
  readonly usedAddr: bigint;
  /** VIRTIO_F_RING_EVENT_IDX was negotiated. */
  readonly eventIdx?: boolean;
  /** The next available index to consume (SET_VRING_BASE); default 0. */
  readonly lastAvailIdx?: number;
  /** The next used index to publish; default: the `idx` now in the used ring. */
  readonly usedIdx?: number;
  /** Cap on entries of one indirect table; default {@link DEFAULT_MAX_INDIRECT}. */
  readonly maxIndirect?: number;
}

/**
 * One request taken from the queue: its head index and the guest buffers,
 * device-readable ones first, then device-writable ones, as segments (each
 * buffer a range of the bytes of the memory region it lies in: walking a
 * chain makes no view of each buffer). The buffers alias guest memory; read
 * them through a {@link Reader} (which copies) unless the bytes are opaque
 * payload.
 */
export class DescriptorChain implements Segments {
  constructor(
    /** Head descriptor index, to give back with `push()`. */
    readonly head: number,
    /** The region bytes each buffer lies in. */
    readonly segs: readonly Uint8Array[],
    /** Each buffer's start in its region and its length, in pairs. */
    readonly spans: readonly number[],
    /** How many buffers are device-readable (the first ones). */
    readonly readableCount: number,
    /** Sum of the readable buffer lengths. */
    readonly readableLength: number,
    /** Sum of the writable buffer lengths. */
    readonly writableLength: number,
  ) {}

  /** Views of the device-readable buffers. */
  get readable(): Uint8Array[] {
    return spanViews(this.segs, this.spans, 0, this.readableCount);
  }

  /** Views of the device-writable buffers. */
  get writable(): Uint8Array[] {
    return spanViews(this.segs, this.spans, this.readableCount);
  }

  /** A Reader over the readable buffers. */
  reader(): Reader {
    return new Reader(this, 0, this.readableLength);
  }

  /** A Writer over the writable buffers. */
  writer(): Writer {
    return new Writer(this, this.readableCount, this.writableLength);
  }
}

function configError(message: string): ProtocolError {
  return new ProtocolError(ProtocolErrorCode.ADDRESS, message);
}

/** A typed view over a ring slice; its host address must be aligned for the element type. */
function ringArray<T extends Uint16Array | Uint32Array>(
  ctor: { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; BYTES_PER_ELEMENT: number },
  bytes: Uint8Array,
  what: string,
): T {
  const el = ctor.BYTES_PER_ELEMENT;
  if (bytes.byteOffset % el !== 0) throw configError(`${what} is not ${el}-byte aligned in host memory`);
  return new ctor(bytes.buffer, bytes.byteOffset, Math.floor(bytes.byteLength / el));
}

/** Device side of one split virtqueue. See the module comment for the failure policy. */
export class DeviceQueue {
  readonly memory: GuestMemory;
  readonly size: number;
  readonly eventIdx: boolean;
  readonly maxIndirect: number;

  private readonly mask: number;
  /** Descriptor table: DataView of its region and the table's offset in it. */
  private readonly descView: DataView;
  private readonly descBase: number;
  /** Available ring as u16: [flags, idx, ring[size], used_event]. */
  private readonly avail16: Uint16Array;
  /** Used ring as u16 (flags, idx, avail_event) and as u32 (elements). */
  private readonly used16: Uint16Array;
  private readonly used32: Uint32Array;
  private readonly usedEventIndex: number;
  private readonly availEventIndex: number;

  private nextAvail: number;
  /** Available index last read from the ring (already validated). */
  private shadowAvail: number;
  private nextUsed: number;
  /** Used elements published since the last `needsNotify()`. */
  private added = 0;
  private brokenBy: ProtocolError | null = null;
  private badChains = 0;
  /**
   * Where walk() gathers a chain's segments before copying them into arrays
   * of the chain's exact length: grown by push, an array reallocates its
   * store two or three times on the way to a READ's 34 buffers (measured: about
   * 1.9 KB of garbage a chain, the largest share of a READ's), where two
   * slices of these allocate once each.
   *
   * The spans start as doubles (a fraction, overwritten by the first chain),
   * so that every queue's chains carry arrays of doubles, whatever values
   * they hold (a large guest's offsets exceed V8's small integers): the
   * warm-up's queues made their spans doubles, and a guest's queue whose
   * spans stayed small integers deoptimised walk, the chain readers and
   * ChainReply.send at its first request (seen with --trace-deopt).
   */
  private readonly walkSegs: Uint8Array[] = [new Uint8Array(0)];
  private readonly walkSpans: number[] = [0.5, 0.5];

  /**
   * Validates the configuration: size a power of two <= 32768; the table
   * 16-aligned, the available ring 2-aligned, the used ring 4-aligned; each
   * part inside one memory region. Violations are ProtocolErrors.
   */
  constructor(config: DeviceQueueConfig) {
    if (!HOST_IS_LITTLE_ENDIAN) throw new Error("virtqueues need a little-endian host");
    const { memory, size } = config;
    if (!isValidQueueSize(size)) throw new ProtocolError(ProtocolErrorCode.VALUE, `queue size ${size} is not a power of two in [1, 32768]`);
    const eventIdx = config.eventIdx ?? false;
    const maxIndirect = config.maxIndirect ?? DEFAULT_MAX_INDIRECT;
    if (!Number.isInteger(maxIndirect) || maxIndirect < 1 || maxIndirect > MAX_INDIRECT_LIMIT) {
      throw new RangeError(`maxIndirect ${maxIndirect} is not in [1, ${MAX_INDIRECT_LIMIT}]`);
    }
    const lastAvail = config.lastAvailIdx ?? 0;
    if (!Number.isInteger(lastAvail) || lastAvail < 0 || lastAvail > 0xffff) {
      throw new ProtocolError(ProtocolErrorCode.VALUE, `last available index ${lastAvail} is not a u16`);
    }
    if (config.descAddr % BigInt(VIRTQ_DESC_ALIGN) !== 0n) throw configError("descriptor table is not 16-byte aligned");
    if (config.availAddr % BigInt(VIRTQ_AVAIL_ALIGN) !== 0n) throw configError("available ring is not 2-byte aligned");
    if (config.usedAddr % BigInt(VIRTQ_USED_ALIGN) !== 0n) throw configError("used ring is not 4-byte aligned");

    const desc = memory.slice(config.descAddr, descTableSize(size));
    const avail = memory.slice(config.availAddr, availRingSize(size, eventIdx));
    const used = memory.slice(config.usedAddr, usedRingSize(size, eventIdx));

    this.memory = memory;
    this.size = size;
    this.mask = size - 1;
    this.eventIdx = eventIdx;
    this.maxIndirect = maxIndirect;
    this.descView = new DataView(desc.buffer, desc.byteOffset, desc.byteLength);
    this.descBase = 0;
    this.avail16 = ringArray(Uint16Array, avail, "available ring");
    this.used16 = ringArray(Uint16Array, used, "used ring");
    this.used32 = ringArray(Uint32Array, used.subarray(0, used.byteLength & ~3), "used ring");
    this.usedEventIndex = usedEventOffset(size) / 2;
    this.availEventIndex = availEventOffset(size) / 2;

    this.nextAvail = lastAvail;
    this.shadowAvail = lastAvail;
    const usedIdx = config.usedIdx ?? Atomics.load(this.used16, 1);
    if (!Number.isInteger(usedIdx) || usedIdx < 0 || usedIdx > 0xffff) {
      throw new ProtocolError(ProtocolErrorCode.VALUE, `used index ${usedIdx} is not a u16`);
    }
    this.nextUsed = usedIdx;
    if (eventIdx) Atomics.store(this.used16, this.availEventIndex, lastAvail);
  }

  /** The next available index to consume: the answer to GET_VRING_BASE. */
  get lastAvailIdx(): number {
    return this.nextAvail;
  }

  /** The next used index to publish. */
  get usedIdx(): number {
    return this.nextUsed;
  }

  /** True once the ring itself was found corrupt; see {@link brokenReason}. */
  get broken(): boolean {
    return this.brokenBy !== null;
  }

  /** Why the queue is broken, or null. */
  get brokenReason(): ProtocolError | null {
    return this.brokenBy;
  }

  /** How many bad chains were refused (and completed with length 0) so far. */
  get badChainCount(): number {
    return this.badChains;
  }

  private breakRing(error: ProtocolError): ProtocolError {
    this.brokenBy = error;
    return error;
  }

  /**
   * Takes the next available chain, or returns null if there is none (or the
   * queue is broken). Throws a ProtocolError for a bad chain (already
   * completed with length 0) or a bad ring (queue now broken).
   *
   * The available index is read (once, then validated) only when the entries
   * seen at the last read are used up, so a batch costs one shared read. With
   * EVENT_IDX a pop leaves `avail_event` where {@link enableNotification}
   * (or {@link suppressKicks}) put it, as rust-vmm's queue does: while the
   * device drains, the driver's index passes it at most once, so a driver
   * that keeps adding buffers kicks once a drain rather than once a pop. A
   * drain must therefore end with {@link enableNotification} (and drain
   * again when it says buffers came).
   */
  pop(): DescriptorChain | null {
    if (this.brokenBy !== null) return null;
    if (this.nextAvail === this.shadowAvail) {
      const idx = Atomics.load(this.avail16, 1);
      const pending = (idx - this.nextAvail) & 0xffff;
      if (pending > this.size) {
        throw this.breakRing(
          new ProtocolError(
            ProtocolErrorCode.VALUE,
            `available index ${idx} is ${pending} entries past ${this.nextAvail}, more than the queue size ${this.size}`,
          ),
        );
      }
      this.shadowAvail = idx;
      if (pending === 0) return null;
    }
    const head = this.avail16[2 + (this.nextAvail & this.mask)]!;
    this.nextAvail = (this.nextAvail + 1) & 0xffff;
    if (head >= this.size) {
      throw this.breakRing(
        new ProtocolError(ProtocolErrorCode.CHAIN, `available ring names head ${head}, outside the queue of ${this.size}`),
      );
    }
    try {
      return this.walk(head);
    } catch (error) {
      this.badChains++;
      this.push(head, 0);
      throw error;
    }
  }

  /** Reads and validates the chain at `head` (< size). Throws a ProtocolError for a bad chain. */
  private walk(head: number): DescriptorChain {
    const memory = this.memory;
    let view = this.descView;
    let base = this.descBase;
    let tableSize = this.size;
    let ttl = this.size;
    let index = head;
    let indirect = false;
    const segs = this.walkSegs;
    const spans = this.walkSpans;
    let count = 0;
    let readableCount = 0;
    let readableLength = 0;
    let writableLength = 0;
    for (;;) {
      if (index >= tableSize) {
        throw new ProtocolError(
          ProtocolErrorCode.CHAIN,
          `chain ${head}: next index ${index} outside the ${indirect ? "indirect table" : "queue"} of ${tableSize}`,
        );
      }
      if (ttl === 0) {
        throw new ProtocolError(
          ProtocolErrorCode.CHAIN,
          `chain ${head}: more than ${tableSize} descriptors in the ${indirect ? "indirect table" : "queue"} (a loop)`,
        );
      }
      ttl--;
      // One copy of the descriptor, field by field, into locals.
      const off = base + index * VIRTQ_DESC_SIZE;
      const lo = view.getUint32(off, true);
      const hi = view.getUint32(off + 4, true);
      const len = view.getUint32(off + 8, true);
      const flags = view.getUint16(off + 12, true);
      const next = view.getUint16(off + 14, true);
      const addr = hi < HI_LIMIT ? hi * TWO_32 + lo : -1;

      if ((flags & VIRTQ_DESC_F_INDIRECT) !== 0) {
        if (indirect) throw new ProtocolError(ProtocolErrorCode.CHAIN, `chain ${head}: indirect descriptor inside an indirect table`);
        if ((flags & VIRTQ_DESC_F_NEXT) !== 0) {
          throw new ProtocolError(ProtocolErrorCode.CHAIN, `chain ${head}: indirect descriptor with NEXT set`);
        }
        if (len === 0 || len % VIRTQ_DESC_SIZE !== 0) {
          throw new ProtocolError(ProtocolErrorCode.CHAIN, `chain ${head}: indirect table length ${len} is not a non-zero multiple of 16`);
        }
        const entries = len / VIRTQ_DESC_SIZE;
        if (entries > this.maxIndirect) {
          throw new ProtocolError(ProtocolErrorCode.LIMIT, `chain ${head}: indirect table of ${entries} entries exceeds ${this.maxIndirect}`);
        }
        const r = memory.find(addr, len);
        if (r < 0) throw outside(head, hi, lo, len, "indirect table");
        view = memory.regionView(r);
        base = addr - memory.regionStart(r);
        tableSize = entries;
        ttl = entries;
        index = 0;
        indirect = true;
        continue;
      }

      const r = memory.find(addr, len);
      if (r < 0) throw outside(head, hi, lo, len, "buffer");
      if ((flags & VIRTQ_DESC_F_WRITE) !== 0) {
        writableLength += len;
      } else {
        if (count !== readableCount) {
          throw new ProtocolError(ProtocolErrorCode.CHAIN, `chain ${head}: device-readable buffer after a device-writable one`);
        }
        readableCount++;
        readableLength += len;
      }
      // In place, or one past the end (which appends): the scratch arrays never get holes.
      segs[count] = memory.regionBytes(r);
      spans[2 * count] = addr - memory.regionStart(r);
      spans[2 * count + 1] = len;
      count++;
      if (readableLength + writableLength > MAX_CHAIN_BYTES) {
        throw new ProtocolError(ProtocolErrorCode.LENGTH, `chain ${head}: total length exceeds 2^32-1 bytes`);
      }
      if ((flags & VIRTQ_DESC_F_NEXT) === 0) break;
      index = next;
    }
    return new DescriptorChain(head, segs.slice(0, count), spans.slice(0, 2 * count), readableCount, readableLength, writableLength);
  }

  /**
   * Returns the chain `head` to the driver with `len` bytes written: the used
   * element first, then the used index (release). `head` must come from a
   * chain this queue popped; `len` is a u32 (caller bugs are RangeErrors).
   */
  push(head: number, len: number): void {
    if (!Number.isInteger(head) || head < 0 || head >= this.size) throw new RangeError(`head ${head} is not in the queue`);
    if (!Number.isInteger(len) || len < 0 || len > 0xffff_ffff) throw new RangeError(`used length ${len} is not a u32`);
    const slot = this.nextUsed & this.mask;
    this.used32[1 + 2 * slot] = head;
    this.used32[2 + 2 * slot] = len;
    this.nextUsed = (this.nextUsed + 1) & 0xffff;
    Atomics.store(this.used16, 1, this.nextUsed);
    this.added++;
  }

  /**
   * Whether the driver must be notified (interrupted) about the used
   * elements pushed since the last call. With EVENT_IDX: the driver's
   * `used_event` was crossed (`vring_need_event`); otherwise: the driver has
   * not set VIRTQ_AVAIL_F_NO_INTERRUPT. False if nothing was pushed.
   */
  needsNotify(): boolean {
    const added = this.added;
    this.added = 0;
    if (added === 0) return false;
    if (this.eventIdx) {
      if (added >= 0x10000) return true;
      // The Atomics.store of the used index in push() orders this load after it.
      const usedEvent = Atomics.load(this.avail16, this.usedEventIndex);
      return needEvent(usedEvent, this.nextUsed, (this.nextUsed - added) & 0xffff);
    }
    return (Atomics.load(this.avail16, 0) & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
  }

  /**
   * Whether the driver has come back for every used element, as far as the
   * device can tell: with EVENT_IDX, its `used_event` is the next used index
   * (it re-armed after taking them all). Always true without EVENT_IDX.
   */
  driverCaughtUp(): boolean {
    return !this.eventIdx || Atomics.load(this.avail16, this.usedEventIndex) === this.nextUsed;
  }

  /**
   * Asks the driver not to kick while we are busy draining the queue.
   * Without EVENT_IDX this sets VIRTQ_USED_F_NO_NOTIFY; with it, nothing is
   * needed: `avail_event` stays where the last {@link enableNotification}
   * put it, which the driver's index passes at most once.
   */
  disableNotification(): void {
    if (!this.eventIdx) Atomics.store(this.used16, 0, VIRTQ_USED_F_NO_NOTIFY);
  }

  /**
   * Asks the driver to kick again when it adds a buffer (clears NO_NOTIFY, or
   * publishes `avail_event` = the next index we will consume), then re-reads
   * the available index. Returns true if buffers arrived in between: the
   * caller must drain again instead of sleeping, or a kick could be lost.
   */
  enableNotification(): boolean {
    if (this.eventIdx) Atomics.store(this.used16, this.availEventIndex, this.nextAvail);
    else Atomics.store(this.used16, 0, 0);
    return this.hasAvailable();
  }

  /**
   * Asks the driver not to kick at all while the device polls the available
   * index: `avail_event` is set one behind the next index to consume, which
   * the driver's index has already passed (pops do not move it). A kick
   * the driver decided on before this store still arrives (harmless).
   * `enableNotification()` ends it.
   */
  suppressKicks(): void {
    if (this.eventIdx) {
      Atomics.store(this.used16, this.availEventIndex, (this.nextAvail - 1) & 0xffff);
    } else {
      Atomics.store(this.used16, 0, VIRTQ_USED_F_NO_NOTIFY);
    }
  }

  /** How many chains the driver has made available that were not popped yet (0 once the ring is broken). */
  waiting(): number {
    if (this.brokenBy !== null) return 0;
    return (Atomics.load(this.avail16, 1) - this.nextAvail) & 0xffff;
  }

  /** Whether the driver has made buffers available that were not popped yet. */
  hasAvailable(): boolean {
    return this.waiting() !== 0;
  }
}

function outside(head: number, hi: number, lo: number, len: number, what: string): ProtocolError {
  const addr = (BigInt(hi) << 32n) | BigInt(lo);
  return new ProtocolError(
    ProtocolErrorCode.ADDRESS,
    `chain ${head}: ${what} at 0x${addr.toString(16)}+0x${len.toString(16)} is not inside one memory region`,
  );
}
