/**
 * Guest memory as a set of mapped regions, with bounds-checked access.
 *
 * The regions come from a vhost-user memory table (SET_MEM_TABLE /
 * ADD_MEM_REG: `{guest_phys_addr, memory_size, userspace_addr, mmap_offset}`)
 * or from memory our own guest driver owns. Mapping is done elsewhere
 * (`src/sys/`); this layer receives each region's bytes as a `Uint8Array`
 * whose first byte is the region's first byte (i.e. the mapping already starts
 * at `mmap_offset`). No system calls here.
 *
 * Rules, taken from vm-memory's `find_region` + `get_slice` as used by
 * virtiofsd's Reader/Writer:
 * - a range is valid only if it lies inside ONE region; a buffer that crosses
 *   two adjacent regions is refused (ProtocolError ADDRESS);
 * - addresses enter as `bigint` (u64) and become `number` only after they were
 *   range-checked. Guest-physical addresses at or above 2^53 are refused when
 *   the table is built: no platform has them (x86-64 and arm64 physical
 *   addresses have at most 52 bits), and it lets every hot-path computation run
 *   on exact doubles.
 */
import { ProtocolError, ProtocolErrorCode } from "../common/errors.js";

/** One mapped region of guest memory. */
export interface GuestRegion {
  /** Guest-physical address of the first byte. */
  readonly guestAddr: bigint;
  /** Length in bytes; must equal `bytes.byteLength`. */
  readonly size: bigint;
  /** The frontend's (VMM's) virtual address of the first byte, used for ring addresses. */
  readonly userAddr: bigint;
  /** The mapped bytes of the region. */
  readonly bytes: Uint8Array;
}

const U64_LIMIT = 1n << 64n;
/** Exclusive upper bound of guest-physical addresses we accept (2^53). */
export const GUEST_ADDR_LIMIT = 2 ** 53;
const GUEST_ADDR_LIMIT_N = BigInt(GUEST_ADDR_LIMIT);

function addressError(message: string): ProtocolError {
  return new ProtocolError(ProtocolErrorCode.ADDRESS, message);
}

function hex(value: bigint | number): string {
  return `0x${value.toString(16)}`;
}

/**
 * An immutable set of non-overlapping guest memory regions.
 *
 * The hot-path API (`find`, `regionStart`, `regionView`, `regionBytes`) uses
 * plain numbers and returns region indices, so a descriptor can be resolved
 * without allocating. `slice` and `userToGuest` are the bigint edge.
 */
export class GuestMemory {
  /** The regions, sorted by guest address. */
  readonly regions: readonly GuestRegion[];
  private readonly starts: Float64Array;
  private readonly ends: Float64Array;
  private readonly views: DataView[];
  private lastHit = 0;

  /**
   * Validates and indexes `regions`. Each must have a non-zero size equal to
   * its byte length, `guestAddr + size` and `userAddr + size` must not pass
   * 2^64, guest addresses must stay below 2^53, and no two regions may
   * overlap in guest-physical or in user address space. Violations are
   * ProtocolErrors (the table comes from a peer).
   */
  constructor(regions: readonly GuestRegion[]) {
    for (const [i, r] of regions.entries()) {
      for (const key of ["guestAddr", "size", "userAddr"] as const) {
        if (typeof r[key] !== "bigint") throw new TypeError(`region ${i}: ${key} must be a bigint`);
        if (r[key] < 0n || r[key] >= U64_LIMIT) throw new ProtocolError(ProtocolErrorCode.VALUE, `region ${i}: ${key} is not a u64`);
      }
      if (!(r.bytes instanceof Uint8Array)) throw new TypeError(`region ${i}: bytes must be a Uint8Array`);
      if (r.size === 0n) throw new ProtocolError(ProtocolErrorCode.VALUE, `region ${i}: zero size`);
      if (r.size !== BigInt(r.bytes.byteLength)) {
        throw new ProtocolError(ProtocolErrorCode.LENGTH, `region ${i}: size ${r.size} but ${r.bytes.byteLength} bytes mapped`);
      }
      if (r.guestAddr + r.size > U64_LIMIT) throw addressError(`region ${i}: guest address ${hex(r.guestAddr)} + size ${hex(r.size)} overflows u64`);
      if (r.userAddr + r.size > U64_LIMIT) throw addressError(`region ${i}: user address ${hex(r.userAddr)} + size ${hex(r.size)} overflows u64`);
      if (r.guestAddr + r.size > GUEST_ADDR_LIMIT_N) throw new ProtocolError(ProtocolErrorCode.LIMIT, `region ${i}: ends above guest address 2^53`);
    }
    const sorted = [...regions].sort((a, b) => (a.guestAddr < b.guestAddr ? -1 : a.guestAddr > b.guestAddr ? 1 : 0));
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1]!;
      const cur = sorted[i]!;
      if (prev.guestAddr + prev.size > cur.guestAddr) {
        throw addressError(`regions at guest ${hex(prev.guestAddr)} and ${hex(cur.guestAddr)} overlap`);
      }
    }
    const byUser = [...regions].sort((a, b) => (a.userAddr < b.userAddr ? -1 : a.userAddr > b.userAddr ? 1 : 0));
    for (let i = 1; i < byUser.length; i++) {
      const prev = byUser[i - 1]!;
      const cur = byUser[i]!;
      if (prev.userAddr + prev.size > cur.userAddr) {
        throw addressError(`regions at user ${hex(prev.userAddr)} and ${hex(cur.userAddr)} overlap`);
      }
    }
    this.regions = Object.freeze(sorted);
    this.starts = new Float64Array(sorted.length);
    this.ends = new Float64Array(sorted.length);
    this.views = [];
    for (const [i, r] of sorted.entries()) {
      this.starts[i] = Number(r.guestAddr);
      this.ends[i] = Number(r.guestAddr + r.size);
      this.views.push(new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength));
    }
  }

  /** Number of regions. */
  get regionCount(): number {
    return this.regions.length;
  }

  /**
   * The index of the region holding all of `[gpa, gpa + len)`, or -1.
   * `gpa` and `len` must be non-negative integers (numbers); anything else
   * gives -1. An empty range is inside a region if `start <= gpa <= end`.
   * Does not allocate.
   */
  find(gpa: number, len: number): number {
    if (!(gpa >= 0 && gpa < GUEST_ADDR_LIMIT && len >= 0 && Number.isInteger(gpa) && Number.isInteger(len))) return -1;
    const starts = this.starts;
    const ends = this.ends;
    let i = this.lastHit;
    if (!(i < starts.length && starts[i]! <= gpa && gpa < ends[i]!)) {
      // Binary search for the last region starting at or before gpa.
      let lo = 0;
      let hi = starts.length - 1;
      i = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        if (starts[mid]! <= gpa) {
          i = mid;
          lo = mid + 1;
        } else {
          hi = mid - 1;
        }
      }
      if (i < 0) return -1;
    }
    const end = ends[i]!;
    // end - gpa is exact: both are integers below 2^53 (or gpa > end, caught first).
    if (gpa > end || len > end - gpa) return -1;
    this.lastHit = i;
    return i;
  }

  /** Guest-physical address of region `i`'s first byte, as a number. */
  regionStart(i: number): number {
    return this.starts[i]!;
  }

  /** The bytes of region `i`. */
  regionBytes(i: number): Uint8Array {
    return this.regions[i]!.bytes;
  }

  /** A DataView over region `i` (offset 0 is the region's first byte). */
  regionView(i: number): DataView {
    return this.views[i]!;
  }

  /**
   * A live view of `[gpa, gpa + len)`. The range must lie inside one region,
   * else ProtocolError ADDRESS. The view aliases guest memory: the guest can
   * change it at any time, so copy before validating what it holds.
   */
  slice(gpa: bigint | number, len: bigint | number): Uint8Array {
    const g = toIndex(gpa, "address");
    const n = toIndex(len, "length");
    const i = g < 0 || n < 0 ? -1 : this.find(g, n);
    if (i < 0) throw addressError(`guest range ${hex(gpa)}+${hex(len)} is not inside one memory region`);
    const off = g - this.starts[i]!;
    return this.regions[i]!.bytes.subarray(off, off + n);
  }

  /**
   * Translates a frontend (VMM) virtual address to a guest-physical one, as
   * vhost-user SET_VRING_ADDR requires; `[uva, uva + len)` must lie inside one
   * region, else ProtocolError ADDRESS.
   */
  userToGuest(uva: bigint, len: bigint | number = 1n): bigint {
    const n = BigInt(len);
    if (uva < 0n || n < 0n) throw addressError(`user range ${hex(uva)}+${hex(n)} is invalid`);
    for (const r of this.regions) {
      if (uva >= r.userAddr && uva - r.userAddr < r.size && n <= r.size - (uva - r.userAddr)) {
        return r.guestAddr + (uva - r.userAddr);
      }
    }
    throw addressError(`user range ${hex(uva)}+${hex(n)} is not inside one memory region`);
  }

  /**
   * The guest-physical address of a view that lies inside one region's bytes
   * (same ArrayBuffer, within its range), or ProtocolError ADDRESS.
   */
  guestAddressOf(view: Uint8Array): number {
    const regions = this.regions;
    for (let k = 0; k < regions.length; k++) {
      const i = (this.lastHit + k) % regions.length;
      const bytes = regions[i]!.bytes;
      if (bytes.buffer !== view.buffer) continue;
      const off = view.byteOffset - bytes.byteOffset;
      if (off >= 0 && view.byteLength <= bytes.byteLength - off) return this.starts[i]! + off;
    }
    throw addressError("buffer is not a view of guest memory");
  }
}

/** A bigint or number as a non-negative safe-integer number, or -1. */
function toIndex(value: bigint | number, what: string): number {
  if (typeof value === "bigint") {
    return value >= 0n && value < GUEST_ADDR_LIMIT_N ? Number(value) : -1;
  }
  if (!Number.isSafeInteger(value)) throw new ProtocolError(ProtocolErrorCode.VALUE, `${what} ${value} is not an integer`);
  return value >= 0 ? value : -1;
}
