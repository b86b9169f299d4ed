/**
 * Split-virtqueue layout, flags, feature bits and the event-index test, in one
 * place (VIRTIO 1.2 §2.7 and §6; Linux `include/uapi/linux/virtio_ring.h`).
 *
 * All ring fields are little-endian. Offsets below are relative to the start of
 * each structure; `n` is the queue size (a power of two, at most 32768).
 *
 * ```
 * struct virtq_desc  { le64 addr; le32 len; le16 flags; le16 next; }        16 bytes, table aligned 16
 * struct virtq_avail { le16 flags; le16 idx; le16 ring[n]; le16 used_event; } aligned 2
 * struct virtq_used  { le16 flags; le16 idx; { le32 id; le32 len; } ring[n]; le16 avail_event; } aligned 4
 * ```
 *
 * `used_event` and `avail_event` exist only when VIRTIO_F_RING_EVENT_IDX is
 * negotiated; the size helpers take that into account.
 */

/** Largest split-queue size the specification allows. */
export const VIRTQ_MAX_SIZE = 32768;

/** Size of one descriptor, in the table and in indirect tables. */
export const VIRTQ_DESC_SIZE = 16;
/** Offsets inside one descriptor. */
export const VIRTQ_DESC_ADDR = 0;
export const VIRTQ_DESC_LEN = 8;
export const VIRTQ_DESC_FLAGS = 12;
export const VIRTQ_DESC_NEXT = 14;

/** The buffer continues in the descriptor named by `next`. */
export const VIRTQ_DESC_F_NEXT = 1;
/** The buffer is device-writable (otherwise device-readable). */
export const VIRTQ_DESC_F_WRITE = 2;
/** The buffer holds a table of descriptors (VIRTIO_F_RING_INDIRECT_DESC). */
export const VIRTQ_DESC_F_INDIRECT = 4;

/** Offsets inside the available ring. */
export const VIRTQ_AVAIL_FLAGS = 0;
export const VIRTQ_AVAIL_IDX = 2;
export const VIRTQ_AVAIL_RING = 4;
/** Size of one available-ring entry (a descriptor head index). */
export const VIRTQ_AVAIL_ELEM_SIZE = 2;
/** Driver → device: do not interrupt me when you use buffers (without EVENT_IDX). */
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;

/** Offsets inside the used ring. */
export const VIRTQ_USED_FLAGS = 0;
export const VIRTQ_USED_IDX = 2;
export const VIRTQ_USED_RING = 4;
/** Size of one used-ring element `{ le32 id; le32 len; }`. */
export const VIRTQ_USED_ELEM_SIZE = 8;
/** Device → driver: do not kick me when you add buffers (without EVENT_IDX). */
export const VIRTQ_USED_F_NO_NOTIFY = 1;

/** Alignment the specification requires of each part (VIRTIO 1.2 §2.7). */
export const VIRTQ_DESC_ALIGN = 16;
export const VIRTQ_AVAIL_ALIGN = 2;
export const VIRTQ_USED_ALIGN = 4;

/** Feature bit numbers (VIRTIO 1.2 §6), as bit positions in the 64-bit feature word. */
export const VirtioFeature = {
  RING_INDIRECT_DESC: 28,
  RING_EVENT_IDX: 29,
  VERSION_1: 32,
  ACCESS_PLATFORM: 33,
  RING_PACKED: 34,
  IN_ORDER: 35,
  NOTIFICATION_DATA: 38,
  RING_RESET: 40,
} as const;
export type VirtioFeatureName = keyof typeof VirtioFeature;

/** The 64-bit mask of one feature bit: `featureMask("VERSION_1") === 1n << 32n`. */
export function featureMask(name: VirtioFeatureName): bigint {
  return 1n << BigInt(VirtioFeature[name]);
}

/** Whether `features` has the bit of `name` set. */
export function hasFeature(features: bigint, name: VirtioFeatureName): boolean {
  return (features & featureMask(name)) !== 0n;
}

/** True if `size` is a valid split-queue size: a power of two in [1, 32768]. */
export function isValidQueueSize(size: number): boolean {
  return Number.isInteger(size) && size >= 1 && size <= VIRTQ_MAX_SIZE && (size & (size - 1)) === 0;
}

/** Bytes of the descriptor table of a queue of `size` entries. */
export function descTableSize(size: number): number {
  return VIRTQ_DESC_SIZE * size;
}

/** Bytes of the available ring, with the trailing `used_event` when `eventIdx`. */
export function availRingSize(size: number, eventIdx = true): number {
  return VIRTQ_AVAIL_RING + VIRTQ_AVAIL_ELEM_SIZE * size + (eventIdx ? 2 : 0);
}

/** Bytes of the used ring, with the trailing `avail_event` when `eventIdx`. */
export function usedRingSize(size: number, eventIdx = true): number {
  return VIRTQ_USED_RING + VIRTQ_USED_ELEM_SIZE * size + (eventIdx ? 2 : 0);
}

/** Offset of `used_event` inside the available ring. */
export function usedEventOffset(size: number): number {
  return VIRTQ_AVAIL_RING + VIRTQ_AVAIL_ELEM_SIZE * size;
}

/** Offset of `avail_event` inside the used ring. */
export function availEventOffset(size: number): number {
  return VIRTQ_USED_RING + VIRTQ_USED_ELEM_SIZE * size;
}

/** Guest addresses of the three parts of a queue laid out back to back. */
export interface SplitQueueLayout {
  readonly descAddr: bigint;
  readonly availAddr: bigint;
  readonly usedAddr: bigint;
  /** First byte after the used ring. */
  readonly end: bigint;
}

/**
 * Lays out a queue of `size` entries from `base` (which must be 16-aligned):
 * descriptor table, then the available ring, then the used ring aligned to
 * `usedAlign` (4 by default; legacy drivers use 4096).
 */
export function splitQueueLayout(size: number, base: bigint, usedAlign = VIRTQ_USED_ALIGN): SplitQueueLayout {
  if (!isValidQueueSize(size)) throw new RangeError(`invalid queue size ${size}`);
  if (base % BigInt(VIRTQ_DESC_ALIGN) !== 0n) throw new RangeError("queue base must be 16-aligned");
  const align = BigInt(usedAlign);
  const descAddr = base;
  const availAddr = descAddr + BigInt(descTableSize(size));
  const availEnd = availAddr + BigInt(availRingSize(size));
  const usedAddr = ((availEnd + align - 1n) / align) * align;
  const end = usedAddr + BigInt(usedRingSize(size));
  return { descAddr, availAddr, usedAddr, end };
}

/**
 * Linux `vring_need_event`: whether moving an index from `oldIdx` to `newIdx`
 * crossed `eventIdx`, i.e. whether the peer asked to be notified when the entry
 * at `eventIdx` is published. All three are u16 ring indices; the comparison is
 * done modulo 2^16, so it works across wraparound.
 */
export function needEvent(eventIdx: number, newIdx: number, oldIdx: number): boolean {
  return ((newIdx - eventIdx - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
}

export { HOST_IS_LITTLE_ENDIAN } from "../common/endian.js";
