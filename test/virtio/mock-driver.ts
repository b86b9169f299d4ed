/**
 * A mock driver over ArrayBuffers, for tests and fuzzers of the device side
 * (here and in the host-device tests): it builds guest memory, lays out a
 * split queue, and writes raw descriptors and ring entries, valid or not.
 * For well-formed traffic use `DriverQueue` instead.
 *
 * ```ts
 * const q = new MockSplitQueue({ size: 16 });
 * q.writeDesc(0, { addr: 0x8000, len: 40, flags: VIRTQ_DESC_F_NEXT, next: 1 });
 * q.writeDesc(1, { addr: 0x9000, len: 64, flags: VIRTQ_DESC_F_WRITE });
 * q.offer(0);
 * const dev = q.device();
 * const chain = dev.pop();
 * ```
 */
import { DeviceQueue, type DeviceQueueConfig } from "../../src/virtio/device-queue.js";
import { GuestMemory, type GuestRegion } from "../../src/virtio/memory.js";
import {
  VIRTQ_DESC_SIZE,
  availEventOffset,
  availRingSize,
  splitQueueLayout,
  usedEventOffset,
  usedRingSize,
  descTableSize,
} from "../../src/virtio/ring.js";

export interface RegionSpec {
  readonly guestAddr: bigint;
  readonly size: number;
  /** Default: guestAddr + 0x7f00_0000_0000. */
  readonly userAddr?: bigint;
}

/** Guest memory backed by fresh ArrayBuffers (zeroed), one per region. */
export function makeMemory(specs: readonly RegionSpec[]): GuestMemory {
  const regions: GuestRegion[] = specs.map((s) => ({
    guestAddr: s.guestAddr,
    size: BigInt(s.size),
    userAddr: s.userAddr ?? s.guestAddr + 0x7f00_0000_0000n,
    bytes: new Uint8Array(new ArrayBuffer(s.size)),
  }));
  return new GuestMemory(regions);
}

export interface RawDescriptor {
  readonly addr: bigint | number;
  readonly len: number;
  readonly flags?: number;
  readonly next?: number;
}

export interface MockSplitQueueOptions {
  /** Default: one 1 MiB region at guest address 0. */
  readonly memory?: GuestMemory;
  /** Default 16. */
  readonly size?: number;
  /** Where the rings start; default 0. */
  readonly base?: bigint;
  readonly eventIdx?: boolean;
  /** Initial available and used index; default 0. */
  readonly startIdx?: number;
}

export class MockSplitQueue {
  readonly memory: GuestMemory;
  readonly size: number;
  readonly eventIdx: boolean;
  readonly descAddr: bigint;
  readonly availAddr: bigint;
  readonly usedAddr: bigint;
  /** First guest address after the rings: free for buffers in the default memory. */
  readonly end: bigint;
  private readonly avail: DataView;
  private readonly used: DataView;
  /** The index both rings started at. */
  readonly startIdx: number;
  private nextAvail: number;
  private seenUsed: number;

  constructor(options: MockSplitQueueOptions = {}) {
    this.memory = options.memory ?? makeMemory([{ guestAddr: 0n, size: 1 << 20 }]);
    this.size = options.size ?? 16;
    this.eventIdx = options.eventIdx ?? false;
    const layout = splitQueueLayout(this.size, options.base ?? 0n);
    this.descAddr = layout.descAddr;
    this.availAddr = layout.availAddr;
    this.usedAddr = layout.usedAddr;
    this.end = layout.end;
    const desc = this.memory.slice(this.descAddr, descTableSize(this.size));
    const avail = this.memory.slice(this.availAddr, availRingSize(this.size));
    const used = this.memory.slice(this.usedAddr, usedRingSize(this.size));
    desc.fill(0);
    avail.fill(0);
    used.fill(0);
    this.avail = new DataView(avail.buffer, avail.byteOffset, avail.byteLength);
    this.used = new DataView(used.buffer, used.byteOffset, used.byteLength);
    const start = options.startIdx ?? 0;
    this.startIdx = start;
    this.nextAvail = start;
    this.seenUsed = start;
    this.avail.setUint16(2, start, true);
    this.used.setUint16(2, start, true);
    this.avail.setUint16(usedEventOffset(this.size), start, true);
  }

  /** The configuration a DeviceQueue needs for this queue. */
  config(extra: Partial<DeviceQueueConfig> = {}): DeviceQueueConfig {
    return {
      memory: this.memory,
      size: this.size,
      descAddr: this.descAddr,
      availAddr: this.availAddr,
      usedAddr: this.usedAddr,
      eventIdx: this.eventIdx,
      lastAvailIdx: this.startIdx,
      ...extra,
    };
  }

  /** A DeviceQueue over this queue, starting at `startIdx` (so it sees everything offered). */
  device(extra: Partial<DeviceQueueConfig> = {}): DeviceQueue {
    return new DeviceQueue(this.config(extra));
  }

  /** Writes descriptor `index` of the table at `table` (default: the queue's table). */
  writeDesc(index: number, d: RawDescriptor, table: bigint = this.descAddr): void {
    const bytes = this.memory.slice(table + BigInt(index * VIRTQ_DESC_SIZE), VIRTQ_DESC_SIZE);
    const v = new DataView(bytes.buffer, bytes.byteOffset, VIRTQ_DESC_SIZE);
    v.setBigUint64(0, BigInt(d.addr), true);
    v.setUint32(8, d.len >>> 0, true);
    v.setUint16(12, d.flags ?? 0, true);
    v.setUint16(14, d.next ?? 0, true);
  }

  /** Writes a whole table of descriptors at `table`. */
  writeTable(table: bigint, descs: readonly RawDescriptor[]): void {
    descs.forEach((d, i) => this.writeDesc(i, d, table));
  }

  /** Puts `head` in the next available slot and publishes the index. */
  offer(head: number): void {
    this.avail.setUint16(4 + 2 * (this.nextAvail % this.size), head, true);
    this.nextAvail = (this.nextAvail + 1) & 0xffff;
    this.avail.setUint16(2, this.nextAvail, true);
  }

  /** Overwrites the published available index (e.g. to jump ahead). */
  setAvailIdx(idx: number): void {
    this.avail.setUint16(2, idx & 0xffff, true);
  }

  get availIdx(): number {
    return this.nextAvail;
  }

  setAvailFlags(flags: number): void {
    this.avail.setUint16(0, flags, true);
  }

  setUsedEvent(value: number): void {
    this.avail.setUint16(usedEventOffset(this.size), value & 0xffff, true);
  }

  get availEvent(): number {
    return this.used.getUint16(availEventOffset(this.size), true);
  }

  get usedFlags(): number {
    return this.used.getUint16(0, true);
  }

  get usedIdx(): number {
    return this.used.getUint16(2, true);
  }

  /** Used elements published since the last call. */
  takeUsed(): { id: number; len: number }[] {
    const out: { id: number; len: number }[] = [];
    const idx = this.usedIdx;
    while (this.seenUsed !== idx) {
      const slot = this.seenUsed % this.size;
      out.push({ id: this.used.getUint32(4 + 8 * slot, true), len: this.used.getUint32(8 + 8 * slot, true) });
      this.seenUsed = (this.seenUsed + 1) & 0xffff;
    }
    return out;
  }

  /** The raw bytes of the descriptor table (to fill with fuzz input). */
  descTableBytes(): Uint8Array {
    return this.memory.slice(this.descAddr, descTableSize(this.size));
  }

  /** The raw bytes of the available ring (to fill with fuzz input). */
  availRingBytes(): Uint8Array {
    return this.memory.slice(this.availAddr, availRingSize(this.size));
  }
}
