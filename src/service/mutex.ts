/**
 * A promise-chain mutex: read-modify-write sequences on one file (its
 * `user.DOSATTRIB`, a stream xattr, an append at end of file) run one at a
 * time within the service. Nothing here protects against the host, which
 * may change the same xattr between our read and our write.
 */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  /** Runs `fn` after every earlier `run` of this mutex has settled. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}
