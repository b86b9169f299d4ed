/**
 * Values by host identity, (device, inode number): the inode table's second
 * key. Open addressing with linear probing, and deletion by moving the
 * entries after a freed slot back (no tombstones): a table that values come
 * into and leave all the time (a file created, then forgotten) allocates
 * nothing; it only grows, by doubling, when it holds more than before. A
 * JavaScript Map of Maps under the same churn reallocated its table every few
 * hundred changes, in the old generation once the Map was old (see
 * id-table.ts).
 *
 * Identities are numbers below 2^53 (HostIdentity gives a bigint above);
 * the rare bigint identities go to a Map of their own.
 */
const MIN_CAPACITY = 64;

/** The key of a bigint identity (either part a bigint). */
const bigKey = (dev: number | bigint, ino: number | bigint): string => `${dev}:${ino}`;

export class IdentityIndex<V> {
  #devs!: Float64Array;
  #inos!: Float64Array;
  /** undefined: a free slot. */
  #values!: (V | undefined)[];
  #mask = 0;
  #count = 0;
  readonly #big = new Map<string, V>();

  constructor() {
    this.#allocate(MIN_CAPACITY);
  }

  get size(): number {
    return this.#count + this.#big.size;
  }

  get(dev: number | bigint, ino: number | bigint): V | undefined {
    if (typeof dev !== "number" || typeof ino !== "number") return this.#big.get(bigKey(dev, ino));
    const slot = this.#find(dev, ino);
    return slot < 0 ? undefined : this.#values[slot];
  }

  /** Stores `value` under the identity, replacing what was there. */
  set(dev: number | bigint, ino: number | bigint, value: V): void {
    if (typeof dev !== "number" || typeof ino !== "number") {
      this.#big.set(bigKey(dev, ino), value);
      return;
    }
    const found = this.#find(dev, ino);
    if (found >= 0) {
      this.#values[found] = value;
      return;
    }
    // At most half full: probes stay short.
    if (2 * (this.#count + 1) > this.#values.length) this.#grow();
    this.#place(dev, ino, value);
    this.#count++;
  }

  /** Removes the identity; false when it was not there. */
  delete(dev: number | bigint, ino: number | bigint): boolean {
    if (typeof dev !== "number" || typeof ino !== "number") return this.#big.delete(bigKey(dev, ino));
    let hole = this.#find(dev, ino);
    if (hole < 0) return false;
    const values = this.#values;
    const mask = this.#mask;
    values[hole] = undefined;
    this.#count--;
    // Entries after the hole whose home is not between the hole and them move back into it.
    for (let slot = (hole + 1) & mask; values[slot] !== undefined; slot = (slot + 1) & mask) {
      const home = this.#home(this.#devs[slot]!, this.#inos[slot]!);
      // Cyclic distances from each entry's home: it may move back only as far as its home.
      if (((slot - home) & mask) >= ((slot - hole) & mask)) {
        this.#devs[hole] = this.#devs[slot]!;
        this.#inos[hole] = this.#inos[slot]!;
        values[hole] = values[slot];
        values[slot] = undefined;
        hole = slot;
      }
    }
    return true;
  }

  /** Every value, in no particular order. */
  *values(): IterableIterator<V> {
    for (const value of this.#values) if (value !== undefined) yield value;
    yield* this.#big.values();
  }

  clear(): void {
    this.#allocate(MIN_CAPACITY);
    this.#count = 0;
    this.#big.clear();
  }

  /** The slot holding the identity, or -1. */
  #find(dev: number, ino: number): number {
    const values = this.#values;
    for (let slot = this.#home(dev, ino); values[slot] !== undefined; slot = (slot + 1) & this.#mask) {
      if (this.#inos[slot] === ino && this.#devs[slot] === dev) return slot;
    }
    return -1;
  }

  /** Where probing for the identity starts: a multiplicative hash of both numbers' 32-bit halves. */
  #home(dev: number, ino: number): number {
    let h = Math.imul(ino >>> 0, 0x9e3779b1);
    h = Math.imul(h ^ (ino / 0x1_0000_0000) ^ Math.imul(dev >>> 0, 0x85ebca6b), 0x9e3779b1);
    h ^= h >>> 15;
    return h & this.#mask;
  }

  /** Empty arrays of `capacity` slots (a power of two). */
  #allocate(capacity: number): void {
    this.#devs = new Float64Array(capacity);
    this.#inos = new Float64Array(capacity);
    this.#values = new Array<V | undefined>(capacity).fill(undefined);
    this.#mask = capacity - 1;
  }

  /** Stores an identity known to be absent in the first free slot from its home. */
  #place(dev: number, ino: number, value: V): void {
    let slot = this.#home(dev, ino);
    while (this.#values[slot] !== undefined) slot = (slot + 1) & this.#mask;
    this.#devs[slot] = dev;
    this.#inos[slot] = ino;
    this.#values[slot] = value;
  }

  #grow(): void {
    const devs = this.#devs;
    const inos = this.#inos;
    const values = this.#values;
    this.#allocate(values.length * 2);
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      if (value !== undefined) this.#place(devs[i]!, inos[i]!, value);
    }
  }
}
