/**
 * The small synchronization tools the I/O layer needs on one event loop:
 * a FIFO async mutex (the FSD serializes namespace-changing requests the way
 * WinFsp's rename resource and per-node resources do), a deferred promise
 * (pending IRPs: waiting locks, granted oplocks, change notifications) and a
 * sleep.
 */

/** A promise with its resolve function exposed. */
export class Deferred<T> {
  readonly promise: Promise<T>;
  resolve!: (value: T) => void;
  settled = false;
  constructor() {
    this.promise = new Promise<T>((resolve) => {
      this.resolve = (value: T) => {
        if (this.settled) return;
        this.settled = true;
        resolve(value);
      };
    });
  }
}

/** A FIFO mutex: `run` calls its function once every earlier holder is done. */
export class AsyncMutex {
  private tail: Promise<void> = Promise.resolve();
  private held = 0;

  /** Runs `fn` with the mutex held; the mutex is released when its promise settles. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    await previous;
    this.held++;
    try {
      return await fn();
    } finally {
      this.held--;
      release();
    }
  }

  /** Waits for the mutex and answers the function that releases it (call it exactly once). */
  async acquire(): Promise<() => void> {
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    await previous;
    this.held++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held--;
      release();
    };
  }

  /** True while some `run` is executing (for assertions in tests). */
  get locked(): boolean {
    return this.held > 0;
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
