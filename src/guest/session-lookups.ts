/**
 * Lookup-count bookkeeping for a FUSE client session.
 *
 * The server counts, per node, every reply that handed the client that node
 * (LOOKUP, MKNOD, MKDIR, SYMLINK, LINK, CREATE, TMPFILE, each READDIRPLUS
 * entry with a non-zero nodeid) and keeps the node, and the host resources
 * behind it (an O_PATH fd in virtiofsd), until FORGETs bring the count back
 * to zero. A client that never forgets makes the host hold one fd per file it
 * ever saw: virtio-win's service forgets only after a delete, and users see
 * the share die after about a million files.
 *
 * {@link LookupTable} holds, per node, the references the session handed to
 * its user (one per counted reply). When the user has dropped all of a
 * node's references, the node's whole count is queued in a
 * {@link ForgetBatcher}, which sends it in BATCH_FORGET messages (on the
 * hiprio queue) when a batch is full or a short delay has passed.
 */
import type { ForgetOne } from "../fuse/structs.js";

/** Per node: the lookups the server has counted, and how many of them the user still holds. */
interface NodeCount {
  lookups: number;
  refs: number;
}

/** References the session's user holds, per nodeid. */
export class LookupTable {
  private readonly nodes = new Map<bigint, NodeCount>();

  /** Counts one more lookup of `nodeid`, held by the user (a reply handed it out). Nodeid 0 is never counted. */
  add(nodeid: bigint): void {
    if (nodeid === 0n) return;
    const node = this.nodes.get(nodeid);
    if (node === undefined) this.nodes.set(nodeid, { lookups: 1, refs: 1 });
    else {
      node.lookups++;
      node.refs++;
    }
  }

  /**
   * Drops `count` references to `nodeid`. Returns the number of lookups to
   * forget now: every lookup counted since the node was last forgotten when
   * this was its last reference, else 0. Dropping more references than are
   * held is a RangeError (a bug in the caller, which would make the server
   * free a node still in use).
   */
  drop(nodeid: bigint, count: number): number {
    if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`forget count ${count} is not a positive integer`);
    const node = this.nodes.get(nodeid);
    const held = node?.refs ?? 0;
    if (node === undefined || count > held) throw new RangeError(`forget of ${count} references to node ${nodeid}, which has ${held}`);
    node.refs -= count;
    if (node.refs > 0) return 0;
    this.nodes.delete(nodeid);
    return node.lookups;
  }

  /** References held to `nodeid` (0 when none). */
  count(nodeid: bigint): number {
    return this.nodes.get(nodeid)?.refs ?? 0;
  }

  /** Nodes with at least one reference. */
  get size(): number {
    return this.nodes.size;
  }

  /** Drops everything without forgetting (the connection is gone, and the server's counts with it). */
  clear(): void {
    this.nodes.clear();
  }
}

export interface ForgetBatcherOptions {
  /** Entries per BATCH_FORGET message; a full batch is sent at once. */
  readonly batchSize: number;
  /** How long a partial batch waits for company, in ms (0: sent on the next tick). */
  readonly delayMs: number;
  /** Sends one batch; resolves when the device has taken it. */
  readonly send: (forgets: ForgetOne[]) => Promise<void>;
}

/** Collects forgets and sends them in batches. */
export class ForgetBatcher {
  private pending: ForgetOne[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  private sentEntries = 0;
  private sentBatches = 0;

  constructor(private readonly options: ForgetBatcherOptions) {
    if (!Number.isSafeInteger(options.batchSize) || options.batchSize < 1) throw new RangeError("forget batch size must be >= 1");
  }

  /** Queues a forget of `nlookup` lookups of `nodeid`. */
  queue(nodeid: bigint, nlookup: number): void {
    this.pending.push({ nodeid, nlookup: BigInt(nlookup) });
    if (this.pending.length >= this.options.batchSize) {
      this.sendFull();
    } else if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.sendAll();
      }, this.options.delayMs);
      this.timer.unref();
    }
  }

  /** Forgets queued and not yet sent. */
  get pendingCount(): number {
    return this.pending.length;
  }

  /** Forget entries and BATCH_FORGET messages sent so far. */
  get sent(): { entries: number; batches: number } {
    return { entries: this.sentEntries, batches: this.sentBatches };
  }

  /** Sends everything queued now and resolves when the device has taken every batch sent so far. */
  async flush(): Promise<void> {
    this.sendAll();
    await Promise.all([...this.inFlight]);
  }

  /** Drops what is queued, unsent (the connection is gone). */
  discard(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.pending = [];
  }

  private sendFull(): void {
    while (this.pending.length >= this.options.batchSize) this.sendBatch(this.pending.splice(0, this.options.batchSize));
    if (this.pending.length === 0 && this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private sendAll(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    while (this.pending.length > 0) this.sendBatch(this.pending.splice(0, this.options.batchSize));
  }

  private sendBatch(batch: ForgetOne[]): void {
    this.sentEntries += batch.length;
    this.sentBatches++;
    // A failed send means the connection is gone, and the server's counts with it: nothing to retry.
    const sending = this.options.send(batch).catch(() => undefined);
    this.inFlight.add(sending);
    void sending.then(() => this.inFlight.delete(sending));
  }
}
