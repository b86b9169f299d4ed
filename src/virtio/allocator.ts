/**
 * A small allocator of guest-physical address ranges, for the memory a driver
 * owns: indirect descriptor tables, request and reply buffers. It hands out
 * numbers (guest addresses below 2^53) from one range with a sorted free list,
 * first fit, and merges neighbours on free. It never touches the bytes; get a
 * view with `GuestMemory.slice(gpa, len)`.
 */

export class GuestAllocator {
  /** First guest address managed. */
  readonly base: number;
  /** Bytes managed. */
  readonly size: number;
  /** Every allocation is a multiple of this and aligned to it (a power of two). */
  readonly granule: number;
  /** Free blocks, sorted by start, never adjacent (always merged). */
  private readonly starts: number[] = [];
  private readonly lengths: number[] = [];
  private freeTotal: number;

  constructor(base: bigint | number, size: number, granule = 16) {
    const b = Number(base);
    if (!Number.isSafeInteger(b) || b < 0) throw new RangeError(`allocator base ${base} is not a guest address`);
    if (!Number.isSafeInteger(size) || size <= 0 || !Number.isSafeInteger(b + size)) throw new RangeError(`allocator size ${size} is invalid`);
    if (!Number.isInteger(granule) || granule <= 0 || (granule & (granule - 1)) !== 0) throw new RangeError(`granule ${granule} is not a power of two`);
    if (b % granule !== 0) throw new RangeError(`allocator base 0x${b.toString(16)} is not ${granule}-aligned`);
    this.base = b;
    this.size = size - (size % granule);
    this.granule = granule;
    this.starts.push(b);
    this.lengths.push(this.size);
    this.freeTotal = this.size;
  }

  /** Bytes not allocated (possibly fragmented). */
  get freeBytes(): number {
    return this.freeTotal;
  }

  private round(len: number): number {
    const g = this.granule;
    return Math.ceil(len / g) * g;
  }

  /**
   * Allocates `len` bytes aligned to `align` (a power of two; at least the
   * granule). Returns the guest address, or -1 if no free block fits.
   */
  alloc(len: number, align = this.granule): number {
    if (!Number.isSafeInteger(len) || len <= 0) throw new RangeError(`allocation length ${len} is invalid`);
    if (!Number.isInteger(align) || align <= 0 || (align & (align - 1)) !== 0) throw new RangeError(`alignment ${align} is not a power of two`);
    const a = Math.max(align, this.granule);
    const n = this.round(len);
    const starts = this.starts;
    const lengths = this.lengths;
    for (let i = 0; i < starts.length; i++) {
      const s = starts[i]!;
      const l = lengths[i]!;
      if (l < n) continue;
      const at = Math.ceil(s / a) * a;
      const end = s + l;
      if (at + n > end) continue;
      const before = at - s;
      const after = end - (at + n);
      if (before === 0 && after === 0) {
        starts.splice(i, 1);
        lengths.splice(i, 1);
      } else if (before === 0) {
        starts[i] = at + n;
        lengths[i] = after;
      } else if (after === 0) {
        lengths[i] = before;
      } else {
        lengths[i] = before;
        starts.splice(i + 1, 0, at + n);
        lengths.splice(i + 1, 0, after);
      }
      this.freeTotal -= n;
      return at;
    }
    return -1;
  }

  /**
   * Returns `[gpa, gpa + len)` (as allocated) to the free list. Freeing a
   * range that is not wholly allocated (a double free) is a RangeError.
   */
  free(gpa: number, len: number): void {
    const n = this.round(len);
    if (!Number.isSafeInteger(gpa) || gpa < this.base || n <= 0 || gpa + n > this.base + this.size || gpa % this.granule !== 0) {
      throw new RangeError(`free of 0x${gpa.toString(16)}+${len} outside the allocator`);
    }
    const starts = this.starts;
    const lengths = this.lengths;
    // First free block starting after gpa.
    let lo = 0;
    let hi = starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid]! <= gpa) lo = mid + 1;
      else hi = mid;
    }
    const i = lo;
    const prevEnd = i > 0 ? starts[i - 1]! + lengths[i - 1]! : -1;
    const nextStart = i < starts.length ? starts[i]! : Infinity;
    if (prevEnd > gpa || gpa + n > nextStart) throw new RangeError(`double free of 0x${gpa.toString(16)}+${len}`);
    const joinPrev = prevEnd === gpa;
    const joinNext = gpa + n === nextStart;
    if (joinPrev && joinNext) {
      lengths[i - 1]! += n + lengths[i]!;
      starts.splice(i, 1);
      lengths.splice(i, 1);
    } else if (joinPrev) {
      lengths[i - 1]! += n;
    } else if (joinNext) {
      starts[i] = gpa;
      lengths[i]! += n;
    } else {
      starts.splice(i, 0, gpa);
      lengths.splice(i, 0, n);
    }
    this.freeTotal += n;
  }
}
