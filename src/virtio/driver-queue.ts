/**
 * The driver side of a split virtqueue, for our user-space guest driver that
 * owns guest memory (it plays VMM and driver): lay out the rings, put request
 * buffers in descriptor chains (direct, or through an indirect table when a
 * chain is long or descriptors are short), publish them, decide when to kick
 * the device, and collect completions.
 *
 * Trust: the device may be hostile. Our bookkeeping (free list, chain links,
 * in-flight heads, tokens) lives in private memory, never read back from the
 * shared table. Each used element is read once; an index jump larger than
 * what is in flight, a used id out of range or not in flight, or a used length
 * above the writable space of that request marks the queue broken (like
 * Linux's BAD_RING): nothing is corrupted, completions read before the bad
 * element are still returned, and later calls throw the ProtocolError.
 */
import { ProtocolError, ProtocolErrorCode } from "../common/errors.js";
import type { GuestAllocator } from "./allocator.js";
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

/** A buffer of a request: a view of guest memory, or a guest address and length. */
export type Segment = Uint8Array | { readonly gpa: number | bigint; readonly len: number };

/** A completed request. */
export interface UsedBuffer<T> {
  /** What was passed to `add()`. */
  readonly token: T;
  /** Bytes the device says it wrote into the writable buffers. */
  readonly len: number;
}

export interface DriverQueueConfig {
  readonly memory: GuestMemory;
  /** Number of entries: a power of two, at most 32768. */
  readonly size: number;
  /** Guest-physical addresses of the three parts (see `splitQueueLayout`). */
  readonly descAddr: bigint;
  readonly availAddr: bigint;
  readonly usedAddr: bigint;
  /** VIRTIO_F_RING_EVENT_IDX was negotiated. */
  readonly eventIdx?: boolean;
  /**
   * Allocator for indirect tables; giving one means VIRTIO_F_RING_INDIRECT_DESC
   * was negotiated. Without it every chain is direct.
   */
  readonly indirectAllocator?: GuestAllocator;
  /** Chains of more than this many buffers go indirect; default 4. */
  readonly indirectThreshold?: number;
  /** The device's cap on indirect table entries; default 4096 (DeviceQueue's default). */
  readonly maxIndirect?: number;
  /** Initial available and used index (what SET_VRING_BASE will carry); default 0. */
  readonly startIdx?: number;
}

const TWO_32 = 2 ** 32;
const NONE = -1;

/** Driver side of one split virtqueue. */
export class DriverQueue<T = unknown> {
  readonly memory: GuestMemory;
  readonly size: number;
  readonly eventIdx: boolean;

  private readonly mask: number;
  private readonly descView: DataView;
  private readonly avail16: Uint16Array;
  private readonly used16: Uint16Array;
  private readonly used32: Uint32Array;
  private readonly usedEventIndex: number;
  private readonly availEventIndex: number;
  private readonly allocator: GuestAllocator | null;
  private readonly threshold: number;
  private readonly maxIndirect: number;

  /** Private free list and chain links: nextFree[i] is the descriptor after i. */
  private readonly nextFree: Uint16Array;
  private freeHead = 0;
  private free: number;
  /** Per head: in flight, descriptors used in the table, writable bytes, indirect table. */
  private readonly inFlight: Uint8Array;
  private readonly chainDescs: Uint16Array;
  private readonly writableBytes: Float64Array;
  private readonly indirectAddr: Float64Array;
  private readonly indirectLen: Uint32Array;
  private readonly tokens: (T | undefined)[];
  private inFlightCount = 0;

  private nextAvail: number;
  private lastUsed: number;
  private added = 0;
  private interrupts = true;
  private brokenBy: ProtocolError | null = null;

  /** Scratch for resolved segments (grown on demand, reused). */
  private segAddr = new Float64Array(16);
  private segLen = new Uint32Array(16);

  /**
   * Lays out and initialises the rings: zeroes the table and both rings,
   * sets both indices (and the event fields) to `startIdx`. Configuration
   * mistakes are RangeErrors; rings outside memory are ProtocolError ADDRESS.
   */
  constructor(config: DriverQueueConfig) {
    if (!HOST_IS_LITTLE_ENDIAN) throw new Error("virtqueues need a little-endian host");
    const { memory, size } = config;
    if (!isValidQueueSize(size)) throw new RangeError(`queue size ${size} is not a power of two in [1, 32768]`);
    const start = config.startIdx ?? 0;
    if (!Number.isInteger(start) || start < 0 || start > 0xffff) throw new RangeError(`start index ${start} is not a u16`);
    const eventIdx = config.eventIdx ?? false;
    if (config.descAddr % BigInt(VIRTQ_DESC_ALIGN) !== 0n) throw new RangeError("descriptor table is not 16-byte aligned");
    if (config.availAddr % BigInt(VIRTQ_AVAIL_ALIGN) !== 0n) throw new RangeError("available ring is not 2-byte aligned");
    if (config.usedAddr % BigInt(VIRTQ_USED_ALIGN) !== 0n) throw new RangeError("used ring is not 4-byte aligned");
    const desc = memory.slice(config.descAddr, descTableSize(size));
    const avail = memory.slice(config.availAddr, availRingSize(size, eventIdx));
    const used = memory.slice(config.usedAddr, usedRingSize(size, eventIdx));
    if (avail.byteOffset % 2 !== 0 || used.byteOffset % 4 !== 0) throw new RangeError("rings are not aligned in host memory");
    desc.fill(0);
    avail.fill(0);
    used.fill(0);

    this.memory = memory;
    this.size = size;
    this.mask = size - 1;
    this.eventIdx = eventIdx;
    this.descView = new DataView(desc.buffer, desc.byteOffset, desc.byteLength);
    this.avail16 = new Uint16Array(avail.buffer, avail.byteOffset, avail.byteLength / 2);
    this.used16 = new Uint16Array(used.buffer, used.byteOffset, used.byteLength >>> 1);
    this.used32 = new Uint32Array(used.buffer, used.byteOffset, used.byteLength >>> 2);
    this.usedEventIndex = usedEventOffset(size) / 2;
    this.availEventIndex = availEventOffset(size) / 2;
    this.allocator = config.indirectAllocator ?? null;
    this.threshold = config.indirectThreshold ?? 4;
    this.maxIndirect = config.maxIndirect ?? 4096;
    if (!Number.isInteger(this.threshold) || this.threshold < 1) throw new RangeError("indirectThreshold must be >= 1");
    if (!Number.isInteger(this.maxIndirect) || this.maxIndirect < 1 || this.maxIndirect > 65535) throw new RangeError("maxIndirect must be in [1, 65535]");

    this.nextFree = new Uint16Array(size);
    for (let i = 0; i < size; i++) this.nextFree[i] = (i + 1) & 0xffff;
    this.free = size;
    this.inFlight = new Uint8Array(size);
    this.chainDescs = new Uint16Array(size);
    this.writableBytes = new Float64Array(size);
    this.indirectAddr = new Float64Array(size).fill(NONE);
    this.indirectLen = new Uint32Array(size);
    this.tokens = new Array<T | undefined>(size).fill(undefined);

    this.nextAvail = start;
    this.lastUsed = start;
    Atomics.store(this.used16, 1, start);
    if (eventIdx) {
      Atomics.store(this.used16, this.availEventIndex, start);
      Atomics.store(this.avail16, this.usedEventIndex, start);
    }
    Atomics.store(this.avail16, 1, start);
  }

  /** Free descriptors in the table. */
  get numFree(): number {
    return this.free;
  }

  /** Requests added and not yet taken back. */
  get inFlightRequests(): number {
    return this.inFlightCount;
  }

  /** The next available index to publish. */
  get availIdx(): number {
    return this.nextAvail;
  }

  /** The next used index to consume. */
  get lastUsedIdx(): number {
    return this.lastUsed;
  }

  get broken(): boolean {
    return this.brokenBy !== null;
  }

  /** Why the device was found misbehaving, or null. */
  get brokenReason(): ProtocolError | null {
    return this.brokenBy;
  }

  private resolve(segments: readonly Segment[], at: number): number {
    let total = 0;
    for (let i = 0; i < segments.length; i++) {
      const s = segments[i]!;
      let gpa: number;
      let len: number;
      if (s instanceof Uint8Array) {
        gpa = this.memory.guestAddressOf(s);
        len = s.byteLength;
      } else {
        gpa = typeof s.gpa === "bigint" ? (s.gpa >= 0n && s.gpa < 2n ** 53n ? Number(s.gpa) : -1) : s.gpa;
        len = s.len;
        if (!Number.isInteger(len) || len < 0 || this.memory.find(gpa, len) < 0) {
          throw new ProtocolError(ProtocolErrorCode.ADDRESS, `segment 0x${s.gpa.toString(16)}+${len} is not inside one memory region`);
        }
      }
      if (len > 0xffff_ffff) throw new ProtocolError(ProtocolErrorCode.LENGTH, `segment of ${len} bytes exceeds a descriptor's u32 length`);
      this.segAddr[at + i] = gpa;
      this.segLen[at + i] = len;
      total += len;
    }
    return total;
  }

  /**
   * Adds a request: `readable` buffers (for the device to read), then
   * `writable` ones (for it to fill). Returns the head index, or -1 if there
   * is no room now (take completions and retry). A chain goes indirect when an
   * allocator was given, it has more than one buffer, and it has more than
   * `indirectThreshold` buffers or more than the free descriptors. Buffers
   * outside guest memory are ProtocolError ADDRESS; a chain that can never fit
   * (longer than the queue and than the indirect cap) is ProtocolError LIMIT.
   * The available index is published before returning; call `kickNeeded()`
   * after a batch.
   */
  add(readable: readonly Segment[], writable: readonly Segment[], token: T): number {
    if (this.brokenBy !== null) throw this.brokenBy;
    const nr = readable.length;
    const n = nr + writable.length;
    if (n === 0) throw new ProtocolError(ProtocolErrorCode.VALUE, "a request needs at least one buffer");
    if (this.segAddr.length < n) {
      let cap = this.segAddr.length;
      while (cap < n) cap *= 2;
      this.segAddr = new Float64Array(cap);
      this.segLen = new Uint32Array(cap);
    }
    const readBytes = this.resolve(readable, 0);
    const writeBytes = this.resolve(writable, nr);
    if (readBytes + writeBytes > 0xffff_ffff) throw new ProtocolError(ProtocolErrorCode.LENGTH, "a chain may not exceed 2^32-1 bytes");

    const canIndirect = this.allocator !== null && n > 1 && n <= this.maxIndirect;
    if (!canIndirect && n > this.size) {
      throw new ProtocolError(ProtocolErrorCode.LIMIT, `a chain of ${n} buffers fits neither the queue of ${this.size} nor an indirect table`);
    }
    if (this.free === 0) return -1;
    let head: number;
    if (canIndirect && (n > this.threshold || n > this.free)) {
      const table = this.allocator!.alloc(n * VIRTQ_DESC_SIZE, VIRTQ_DESC_SIZE);
      if (table >= 0) {
        head = this.addIndirect(table, n, nr);
      } else if (n <= this.free) {
        head = this.addDirect(n, nr);
      } else {
        return -1;
      }
    } else {
      if (n > this.free) return -1;
      head = this.addDirect(n, nr);
    }
    this.inFlight[head] = 1;
    this.writableBytes[head] = writeBytes;
    this.tokens[head] = token;
    this.inFlightCount++;
    // Publish: ring entry, then the index (Atomics: release).
    this.avail16[2 + (this.nextAvail & this.mask)] = head;
    this.nextAvail = (this.nextAvail + 1) & 0xffff;
    Atomics.store(this.avail16, 1, this.nextAvail);
    this.added++;
    return head;
  }

  private static writeDesc(view: DataView, off: number, addr: number, len: number, flags: number, next: number): void {
    view.setUint32(off, addr % TWO_32, true);
    view.setUint32(off + 4, Math.floor(addr / TWO_32), true);
    view.setUint32(off + 8, len, true);
    view.setUint16(off + 12, flags, true);
    view.setUint16(off + 14, next, true);
  }

  private takeDescriptors(count: number): number {
    const head = this.freeHead;
    let last = head;
    for (let i = 1; i < count; i++) last = this.nextFree[last]!;
    this.freeHead = this.nextFree[last]!;
    this.free -= count;
    return head;
  }

  private addDirect(n: number, nr: number): number {
    const head = this.takeDescriptors(n);
    const view = this.descView;
    let d = head;
    for (let i = 0; i < n; i++) {
      const last = i === n - 1;
      const next = last ? 0 : this.nextFree[d]!;
      const flags = (last ? 0 : VIRTQ_DESC_F_NEXT) | (i >= nr ? VIRTQ_DESC_F_WRITE : 0);
      DriverQueue.writeDesc(view, d * VIRTQ_DESC_SIZE, this.segAddr[i]!, this.segLen[i]!, flags, next);
      d = next;
    }
    this.chainDescs[head] = n;
    this.indirectAddr[head] = NONE;
    return head;
  }

  private addIndirect(table: number, n: number, nr: number): number {
    const len = n * VIRTQ_DESC_SIZE;
    const r = this.memory.find(table, len);
    if (r < 0) {
      this.allocator!.free(table, len);
      throw new ProtocolError(ProtocolErrorCode.ADDRESS, `indirect table at 0x${table.toString(16)} is not inside guest memory`);
    }
    const view = this.memory.regionView(r);
    const base = table - this.memory.regionStart(r);
    for (let i = 0; i < n; i++) {
      const last = i === n - 1;
      const flags = (last ? 0 : VIRTQ_DESC_F_NEXT) | (i >= nr ? VIRTQ_DESC_F_WRITE : 0);
      DriverQueue.writeDesc(view, base + i * VIRTQ_DESC_SIZE, this.segAddr[i]!, this.segLen[i]!, flags, last ? 0 : i + 1);
    }
    const head = this.takeDescriptors(1);
    DriverQueue.writeDesc(this.descView, head * VIRTQ_DESC_SIZE, table, len, VIRTQ_DESC_F_INDIRECT, 0);
    this.chainDescs[head] = 1;
    this.indirectAddr[head] = table;
    this.indirectLen[head] = len;
    return head;
  }

  /**
   * Whether the device must be kicked for the buffers added since the last
   * call: with EVENT_IDX, whether the published index crossed the device's
   * `avail_event`; otherwise, whether the device has not set
   * VIRTQ_USED_F_NO_NOTIFY. False if nothing was added.
   */
  kickNeeded(): boolean {
    const added = this.added;
    this.added = 0;
    if (added === 0) return false;
    if (this.eventIdx) {
      if (added >= 0x10000) return true;
      // The Atomics.store of the available index in add() orders this load after it.
      const availEvent = Atomics.load(this.used16, this.availEventIndex);
      return needEvent(availEvent, this.nextAvail, (this.nextAvail - added) & 0xffff);
    }
    return (Atomics.load(this.used16, 0) & VIRTQ_USED_F_NO_NOTIFY) === 0;
  }

  private fail(error: ProtocolError, done: UsedBuffer<T>[]): UsedBuffer<T>[] {
    this.brokenBy = error;
    if (done.length === 0) throw error;
    return done;
  }

  /**
   * Takes every completion the device published, in used-ring order, and
   * frees their descriptors (and indirect tables). If interrupts are enabled
   * and EVENT_IDX is on, asks to be interrupted at the next completion.
   * See the module comment for what a misbehaving device causes.
   */
  takeUsed(): UsedBuffer<T>[] {
    if (this.brokenBy !== null) throw this.brokenBy;
    const done: UsedBuffer<T>[] = [];
    const idx = Atomics.load(this.used16, 1);
    const pending = (idx - this.lastUsed) & 0xffff;
    if (pending > this.inFlightCount) {
      return this.fail(
        new ProtocolError(ProtocolErrorCode.VALUE, `used index ${idx} is ${pending} past ${this.lastUsed} with ${this.inFlightCount} requests in flight`),
        done,
      );
    }
    while (this.lastUsed !== idx) {
      const slot = this.lastUsed & this.mask;
      const id = this.used32[1 + 2 * slot]!;
      const len = this.used32[2 + 2 * slot]!;
      if (id >= this.size || this.inFlight[id] === 0) {
        return this.fail(new ProtocolError(ProtocolErrorCode.VALUE, `used element names ${id}, which is not an in-flight head`), done);
      }
      if (len > this.writableBytes[id]!) {
        return this.fail(
          new ProtocolError(ProtocolErrorCode.LENGTH, `used element ${id} claims ${len} bytes written into ${this.writableBytes[id]} writable`),
          done,
        );
      }
      this.lastUsed = (this.lastUsed + 1) & 0xffff;
      done.push({ token: this.release(id), len });
    }
    if (this.eventIdx && this.interrupts) Atomics.store(this.avail16, this.usedEventIndex, this.lastUsed);
    return done;
  }

  /** Frees the chain at `head` and returns its token. */
  private release(head: number): T {
    const token = this.tokens[head] as T;
    this.tokens[head] = undefined;
    this.inFlight[head] = 0;
    this.inFlightCount--;
    const count = this.chainDescs[head]!;
    let last = head;
    for (let i = 1; i < count; i++) last = this.nextFree[last]!;
    this.nextFree[last] = this.freeHead;
    this.freeHead = head;
    this.free += count;
    const table = this.indirectAddr[head]!;
    if (table !== NONE) {
      this.allocator!.free(table, this.indirectLen[head]!);
      this.indirectAddr[head] = NONE;
    }
    return token;
  }

  /**
   * Asks the device not to interrupt (advisory): sets
   * VIRTQ_AVAIL_F_NO_INTERRUPT, or with EVENT_IDX moves `used_event` half
   * the index space away.
   */
  disableInterrupts(): void {
    this.interrupts = false;
    if (this.eventIdx) Atomics.store(this.avail16, this.usedEventIndex, (this.lastUsed + 0x8000) & 0xffff);
    else Atomics.store(this.avail16, 0, VIRTQ_AVAIL_F_NO_INTERRUPT);
  }

  /**
   * Asks to be interrupted at the next completion, then re-reads the used
   * index. Returns true if completions are already waiting: take them
   * instead of sleeping, or an interrupt could be lost.
   */
  enableInterrupts(): boolean {
    this.interrupts = true;
    if (this.eventIdx) Atomics.store(this.avail16, this.usedEventIndex, this.lastUsed);
    else Atomics.store(this.avail16, 0, 0);
    return Atomics.load(this.used16, 1) !== this.lastUsed;
  }
}
