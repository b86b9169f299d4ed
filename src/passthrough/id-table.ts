/**
 * Values under small integer ids the table issues, as C virtiofsd's
 * `lo_map` keeps its inodes and handles: an id is an index into an array,
 * and a freed id goes back into use. A JavaScript Map under ids that come
 * and go (a file created, then forgotten) reallocates its hash table every
 * few hundred changes, and a long-lived Map's new table goes straight to the
 * old generation (measured: about 57 bytes of old space per add and delete
 * pair in a Map of 1,000 entries; a CREATE, RELEASE, UNLINK and FORGET made
 * 410 bytes of old space through such Maps). An array slot costs nothing to
 * fill or empty.
 *
 * Freed ids wait in a queue and are issued again, oldest first, only once
 * more than {@link IdTableOptions.reuseAfter} of them wait: an id does not
 * name a new value right after it stopped naming an old one, and the array
 * stays within `reuseAfter` slots of the most values ever held at once.
 * {@link generation} counts the times an id was issued (from 0), for a
 * protocol that pairs ids with generations (FUSE's nodeid and generation).
 */
export interface IdTableOptions {
  /** The first id issued (the ones below are never issued). */
  first: number;
  /** Freed ids issued again only while more than this many wait. */
  reuseAfter: number;
}

export class IdTable<T> {
  /** Index: the id; undefined: free or never issued. */
  readonly #slots: (T | undefined)[] = [];
  /** How many times each id was issued, minus 1. */
  readonly #generations: number[] = [];
  /** Freed ids, a ring: `#freeHead` the oldest, `#freeCount` of them. */
  #free = new Int32Array(64);
  #freeHead = 0;
  #freeCount = 0;
  #size = 0;
  readonly #first: number;
  readonly #reuseAfter: number;

  constructor(options: IdTableOptions) {
    if (!Number.isSafeInteger(options.first) || options.first < 0) throw new RangeError(`first id ${options.first}`);
    this.#first = options.first;
    this.#reuseAfter = Math.max(0, options.reuseAfter);
    for (let id = 0; id < this.#first; id++) {
      this.#slots.push(undefined);
      this.#generations.push(0);
    }
  }

  /** Values held. */
  get size(): number {
    return this.#size;
  }

  /** The value under `id`; undefined for an id not in use (any number, integer or not). */
  get(id: number): T | undefined {
    // A number that is not an index (negative, fractional, huge) reads no element.
    return id >= 0 && id < this.#slots.length ? this.#slots[id] : undefined;
  }

  /** Stores the value `make` returns for a new id (and that id's {@link generation}) under that id; returns the value. */
  add(make: (id: number, generation: number) => T): T {
    let id: number;
    if (this.#freeCount > this.#reuseAfter) {
      id = this.#free[this.#freeHead]!;
      this.#freeHead = (this.#freeHead + 1) % this.#free.length;
      this.#freeCount--;
      this.#generations[id]!++;
    } else {
      id = this.#slots.length;
      this.#slots.push(undefined);
      this.#generations.push(0);
    }
    let value: T;
    try {
      value = make(id, this.#generations[id]!);
    } catch (error) {
      // Not issued after all: back to the queue (its generation stays counted).
      this.#enqueueFree(id);
      throw error;
    }
    this.#slots[id] = value;
    this.#size++;
    return value;
  }

  /**
   * Puts `value` under `id`, which must be free and below the ids {@link add}
   * issues ({@link IdTableOptions.first}): for ids fixed by a protocol (the
   * FUSE root's nodeid 1).
   */
  setFixed(id: number, value: T): void {
    if (!(id >= 0 && id < this.#first) || this.#slots[id] !== undefined) throw new RangeError(`id ${id} is not a free fixed id`);
    this.#slots[id] = value;
    this.#size++;
  }

  /** Frees `id`; false when it held nothing. */
  delete(id: number): boolean {
    if (this.get(id) === undefined) return false;
    this.#slots[id] = undefined;
    this.#size--;
    if (id >= this.#first) this.#enqueueFree(id);
    return true;
  }

  /** How many times `id` was issued before its current use (0 the first time). */
  generation(id: number): number {
    return this.get(id) === undefined ? 0 : this.#generations[id]!;
  }

  /** Every value held, by id. */
  *values(): IterableIterator<T> {
    const slots = this.#slots;
    for (let id = 0; id < slots.length; id++) {
      const value = slots[id];
      if (value !== undefined) yield value;
    }
  }

  /** Frees every id (their generations go on counting). */
  clear(): void {
    const slots = this.#slots;
    for (let id = 0; id < slots.length; id++) if (slots[id] !== undefined) this.delete(id);
  }

  #enqueueFree(id: number): void {
    if (this.#freeCount === this.#free.length) {
      const grown = new Int32Array(this.#free.length * 2);
      for (let i = 0; i < this.#freeCount; i++) grown[i] = this.#free[(this.#freeHead + i) % this.#free.length]!;
      this.#free = grown;
      this.#freeHead = 0;
    }
    this.#free[(this.#freeHead + this.#freeCount) % this.#free.length] = id;
    this.#freeCount++;
  }
}
