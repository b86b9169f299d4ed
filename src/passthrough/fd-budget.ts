/**
 * The guest's fd budget: every fd the guest makes the file system hold (an
 * inode's O_PATH fd, an open handle, a lock owner's open file description)
 * takes a slot, and a request that would need one more than the budget fails
 * with ENFILE, so the daemon always keeps fds for itself (virtiofsd's guest
 * fd limit, derived from --rlimit-nofile). Short-lived fds a request opens and
 * closes before it answers are not counted.
 */
import { errno } from "../common/errors.js";

export class FdBudget {
  #used = 0;
  /** Frees one slot held by a cache (a retained fd) when the budget is full; false when there is none to free. */
  reclaim: (() => boolean) | null = null;

  /** `limit`: the most slots in use at once (Infinity: no limit). */
  constructor(readonly limit: number = Infinity) {
    if (!(limit >= 0)) throw new RangeError(`fd budget must be a number >= 0, not ${limit}`);
  }

  /** Slots in use. */
  get used(): number {
    return this.#used;
  }

  /** Takes a slot (after reclaiming a cached one when full), or throws ENFILE when none is left. */
  acquire(op: string): void {
    while (this.#used >= this.limit) if (this.reclaim?.() !== true) throw errno("ENFILE", op);
    this.#used++;
  }

  /** Gives a slot back. */
  release(): void {
    if (this.#used > 0) this.#used--;
  }

  /** Forgets every slot (the session ended and closed its fds). */
  reset(): void {
    this.#used = 0;
  }
}
