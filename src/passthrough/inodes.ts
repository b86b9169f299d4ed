/**
 * The inode table: each inode the guest knows is an O_PATH|O_NOFOLLOW fd,
 * found by its nodeid (a key this table issues: an index into its own id
 * table, never an fd or anything the host numbers) and by its identity on
 * the host (device and inode number), so two names of one file share one
 * node. A nodeid the guest has forgotten may be issued again later, with the
 * next FUSE generation (see {@link IdTable}).
 *
 * Lifetime: a node is named while the guest holds lookups on it (FORGET to
 * zero unnames it: the guest can no longer name it) and lives on while open
 * handles use it. When both are gone its fd is retained for a while (see
 * {@link Retention}) and then closed. The root (nodeid 1) lives until
 * {@link InodeStore.clear}.
 *
 * Retention: a guest forgets what it evicts from its caches (a Linux guest
 * under memory pressure, after `drop_caches`, or a client that forgets every
 * node at once) and often looks the same files up again soon after. A
 * forgotten node therefore stays in the table, unnamed, with its O_PATH fd
 * open, for up to {@link Retention.ms} and at most {@link Retention.max} of
 * them (the oldest closed first, and at once when the fd budget runs short);
 * a later lookup that finds that identity names the same node again, under
 * the same nodeid, instead of opening the name again. Holding the fd also
 * holds the host inode, so its number cannot be reused meanwhile: the
 * identity stays exact, and one nodeid always means one host inode. Locks
 * are dropped when the node is forgotten, as before; a retained node is only
 * a path handle.
 *
 * A forget and a new lookup of the same file (a guest's cache churning)
 * change no table: both tables hold a node from its first lookup until its fd
 * closes, and the retained nodes form a list through the nodes themselves.
 */
import { errno } from "../common/errors.js";
import { FUSE_ROOT_ID } from "../fuse/abi.js";
import { S_IFMT, S_IFREG } from "../sys/constants.js";
import { closeInBackground } from "../sys/fs.js";
import { close } from "../sys/libc.js";
import type { FdBudget } from "./fd-budget.js";
import type { HostIdentity } from "./host-stat.js";
import { IdTable } from "./id-table.js";
import { IdentityIndex } from "./identity-index.js";

/**
 * Freed nodeids and fhs are issued again once more than this many wait (see
 * {@link IdTable}): a nodeid the guest forgot is not reused before a
 * thousand others were.
 */
export const ID_REUSE_AFTER = 1024;

/**
 * The number key of an id this layer issues (a nodeid, an fh), or -1 for one
 * above 2^53 (never issued: the id tables issue array indices). Number()
 * rounds such an id to 2^53 or more, never below, and a number comparison is
 * cheaper than a bigint one.
 */
export function idKey(id: bigint): number {
  const n = Number(id);
  return n <= Number.MAX_SAFE_INTEGER ? n : -1;
}

/** How many forgotten nodes' fds are kept, and for how long (max 0: none). */
export interface Retention {
  readonly max: number;
  readonly ms: number;
}

/** The default: enough for a directory tree a guest re-reads after dropping its caches, for a few seconds. */
export const DEFAULT_RETENTION: Retention = { max: 4096, ms: 5000 };

/** How many unlinked names {@link InodeStore.unlinked} remembers at most (a power of two). */
const UNLINKED_NAMES_SLOTS = 1024;

/**
 * A bounded record of 32-bit keys ({@link nameKey}s), one slot per key's low
 * bits: a key replaces the one in its slot. Filling and emptying it
 * allocates nothing (a Set that churns reallocates its table, in the old
 * generation once the Set is old). Forgetting a key early, or matching
 * another key that hashed alike, only changes a cache decision.
 */
class RecentKeys {
  /** Per slot, the value #stored gives for its key (0: empty). */
  readonly #slots = new Uint32Array(UNLINKED_NAMES_SLOTS);
  #count = 0;

  /** What a slot holds for `key`: key + 1, never 0 (key 0xffffffff shares a value with key 0xfffffffe). */
  static #stored(key: number): number {
    return Math.min(key + 1, 0xffffffff);
  }

  add(key: number): void {
    const slot = key & (UNLINKED_NAMES_SLOTS - 1);
    if (this.#slots[slot] === 0) this.#count++;
    this.#slots[slot] = RecentKeys.#stored(key);
  }

  /** Whether `key` is recorded; removes it. */
  take(key: number): boolean {
    if (this.#count === 0) return false;
    const slot = key & (UNLINKED_NAMES_SLOTS - 1);
    if (this.#slots[slot] !== RecentKeys.#stored(key)) return false;
    this.#slots[slot] = 0;
    this.#count--;
    return true;
  }

  clear(): void {
    this.#slots.fill(0);
    this.#count = 0;
  }
}

/**
 * A directory's nodeid number and an entry name as one key: a 32-bit
 * FNV-1a hash of both (a string key cost two allocations per UNLINK and per
 * FORGET of an unlinked node). Two names that collide only change a cache
 * decision, never an answer: a node found under the other name is closed
 * instead of retained, or retained (for at most the retention time) instead
 * of closed.
 */
function nameKey(parent: number, name: Uint8Array): number {
  // The nodeid's low and high 32-bit halves, then the name's bytes.
  let h = fnv(fnv(0x811c9dc5, parent >>> 0), Math.floor(parent / 2 ** 32));
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name[i]!, 0x01000193);
  return h >>> 0;
}

/** FNV-1a of `h` continued over the 4 bytes of `word`, low byte first. */
function fnv(h: number, word: number): number {
  for (let shift = 0; shift < 32; shift += 8) h = Math.imul(h ^ ((word >>> shift) & 0xff), 0x01000193);
  return h;
}

/**
 * A regular file this large, as last seen, has its last fds closed on the
 * thread pool (see {@link closeNodeFd}): the close of a deleted file frees its
 * data, which takes long enough to hold up every other request (about 60 ms
 * for 1 GiB on tmpfs; a 1 GiB file rewritten at QD16 took a fifth longer).
 */
export const BACKGROUND_CLOSE_BYTES = 4 << 20;

/**
 * Closes an fd of `node`: on the thread pool when the node is a regular file
 * of BACKGROUND_CLOSE_BYTES or more (as last seen), else at once (a
 * synchronous close costs half as much).
 */
export function closeNodeFd(fd: number, node: { readonly type: number; readonly size: number }): void {
  if (node.type === S_IFREG && node.size >= BACKGROUND_CLOSE_BYTES) closeInBackground(fd);
  else close(fd);
}

/** One host inode the guest has looked up: named, held by handles, or retained. */
export class Inode {
  /** Lookups the guest holds (LOOKUP and friends add, FORGET subtracts); one per reply, so a number. */
  lookups = 0;
  /** Open handles (and other holders) that keep the fd open after the guest forgot the node. */
  holds = 0;
  /** The mode last seen (file type and permission bits); the type never changes. */
  mode: number;
  /**
   * The size last seen by a statx, or reached by a write through this file
   * system if larger (an estimate, never used as an attribute): decides how
   * the node's last fd is closed (see {@link closeNodeFd}).
   */
  size: number;
  /** Whether the guest can still name this node. */
  named = true;
  /** The directory and the name the node was last named under, as their {@link nameKey} (-1: not known): see {@link InodeStore.unlinked}. */
  foundAs = -1;
  /** Per-node state the lock manager keeps (see locks.ts). */
  locks: unknown;
  /** While retained: when (Date.now()), and the neighbours in the store's list, oldest first. */
  retainedAt = 0;
  olderRetained: Inode | null = null;
  newerRetained: Inode | null = null;

  /** The nodeid as a number (the table's key). */
  readonly num: number;
  /** S_IFREG, S_IFDIR, ... */
  readonly type: number;
  /** The host identity: device and inode number, as {@link HostIdentity} keys them. */
  readonly dev: number | bigint;
  readonly ino: number | bigint;
  readonly devMajor: number;
  readonly devMinor: number;
  /** The mount id (0 when statx did not report it). */
  readonly mntId: number;

  /** The nodeid. */
  readonly id: bigint;

  constructor(
    num: number,
    /** How many nodes had this nodeid before (FUSE's generation: a nodeid is reused, see {@link IdTable}). */
    readonly generation: number,
    /** The O_PATH fd; -1 once closed. */
    public fd: number,
    st: HostIdentity,
  ) {
    this.num = num;
    this.id = BigInt(num);
    const mode = st.mode;
    this.mode = mode;
    this.size = st.size;
    this.type = mode & S_IFMT;
    this.dev = st.dev;
    this.ino = st.ino;
    this.devMajor = st.devMajor;
    this.devMinor = st.devMinor;
    this.mntId = st.mntId;
  }

  get closed(): boolean {
    return this.fd < 0;
  }
}

/**
 * Nodes by nodeid and by host identity: the nodeid is an index into an
 * {@link IdTable}, the identity a key of an {@link IdentityIndex} (numbers
 * below 2^53), so a lookup hashes no string and no bigint, and nodes coming
 * and going allocate nothing in either. A node is in both from its first
 * lookup until its fd closes: named, held or retained.
 */
export class InodeStore {
  readonly #byId = new IdTable<Inode>({ first: Number(FUSE_ROOT_ID) + 1, reuseAfter: ID_REUSE_AFTER });
  /** (device, inode number) → node */
  readonly #byKey = new IdentityIndex<Inode>();
  /** Retained nodes, oldest first: a list through the nodes (see {@link Inode.olderRetained}). */
  #oldestRetained: Inode | null = null;
  #newestRetained: Inode | null = null;
  #retainedCount = 0;
  #namedCount = 0;
  /** Names unlinked through this file system lately, as {@link nameKey}s (see {@link unlinked}). */
  readonly #unlinkedNames = new RecentKeys();
  #sweep: NodeJS.Timeout | null = null;
  /** Whether the last {@link adopt} or {@link revive} found a node (no new inode was opened). */
  reused = false;

  constructor(
    private readonly budget: FdBudget,
    /** Called once when an inode is forgotten for good or its fd is about to close (to drop its locks). */
    private readonly onClose: (inode: Inode) => void,
    private readonly retention: Retention = DEFAULT_RETENTION,
  ) {
    budget.reclaim = () => this.#dropOldest();
  }

  /** Nodes the guest can name. */
  get size(): number {
    return this.#namedCount;
  }

  /**
   * `name` in the directory `parent` was unlinked through this file system:
   * the node last named under that name is not retained once the guest
   * forgets it, so the host frees the file when the guest lets go of it, as
   * without retention. The name is all that is known here (an identity would
   * cost a statx per UNLINK); a node found under another name, or renamed
   * since, is retained as usual, for at most the retention time.
   */
  unlinked(parent: bigint, name: Uint8Array): void {
    if (this.retention.max <= 0) return;
    // A bounded record: names whose nodes are never forgotten must not pile up.
    this.#unlinkedNames.add(nameKey(idKey(parent), name));
  }

  /** Forgotten nodes' fds still open (counted in the budget). */
  get retainedFds(): number {
    return this.#retainedCount;
  }

  /** Installs the root node from its O_PATH fd (which then belongs to the table). */
  setRoot(fd: number, st: HostIdentity): Inode {
    try {
      this.budget.acquire("init");
    } catch (error) {
      close(fd);
      throw error;
    }
    const root = new Inode(Number(FUSE_ROOT_ID), 0, fd, st);
    root.lookups = 1;
    this.#namedCount++;
    this.#byId.setFixed(root.num, root);
    this.#byKey.set(root.dev, root.ino, root);
    return root;
  }

  /** The node `id`, or EBADF for an id this table never issued or the guest has forgotten. */
  get(id: bigint, op: string): Inode {
    const inode = this.#byId.get(idKey(id));
    if (inode === undefined || !inode.named) throw errno("EBADF", op);
    return inode;
  }

  /** The node of a host inode, if the guest can name it. */
  find(dev: number | bigint, ino: number | bigint): Inode | undefined {
    const inode = this.#byKey.get(dev, ino);
    return inode?.named === true ? inode : undefined;
  }

  /**
   * Counts a lookup of the inode `fd` (an O_PATH fd the caller opened) refers
   * to: on the node that already has it, closing `fd`, or on a new node that
   * takes `fd` over. `fd` is closed on every failure (ENFILE past the budget).
   */
  adopt(fd: number, st: HostIdentity, op: string, parent?: Inode, name?: Uint8Array): Inode {
    const found = this.revive(st, parent, name);
    if (found !== undefined) {
      close(fd);
      return found;
    }
    try {
      this.budget.acquire(op);
    } catch (error) {
      close(fd);
      throw error;
    }
    const inode = this.#byId.add((num, generation) => new Inode(num, generation, fd, st));
    this.#name(inode, parent, name);
    this.#byKey.set(st.dev, st.ino, inode);
    return inode;
  }

  /**
   * Counts a lookup of the host inode `st` describes when it needs no new fd:
   * on the node that has it, named or not (a retained node is named again,
   * under its nodeid). Undefined when there is none (the caller opens it and
   * {@link adopt}s).
   */
  revive(st: HostIdentity, parent?: Inode, name?: Uint8Array): Inode | undefined {
    const inode = this.#byKey.get(st.dev, st.ino);
    if (inode === undefined) {
      this.reused = false;
      return undefined;
    }
    this.reused = true;
    inode.mode = st.mode;
    inode.size = st.size;
    if (inode.named) {
      inode.lookups++;
      return inode;
    }
    // Held by handles or retained; a retained node's budget slot stays its own.
    if (inode.retainedAt !== 0) this.#unretain(inode);
    this.#name(inode, parent, name);
    return inode;
  }

  /** Names `inode` (one lookup); `parent` and `name` say where it was found, when known. */
  #name(inode: Inode, parent?: Inode, name?: Uint8Array): void {
    inode.lookups = 1;
    inode.named = true;
    this.#namedCount++;
    // A hash, not a copy of the name: the node keeps no bytes of the request.
    if (parent !== undefined && name !== undefined) inode.foundAs = nameKey(parent.num, name);
  }

  /** Drops `count` lookups of `id` (saturating); at zero the guest can no longer name it. Unknown ids and the root are ignored. */
  forget(id: bigint, count: bigint): void {
    if (id === FUSE_ROOT_ID) return;
    const inode = this.#byId.get(idKey(id));
    if (inode === undefined || !inode.named) return;
    // Number(count) of a huge count is a huge number: still saturating.
    const n = Number(count);
    inode.lookups = n >= inode.lookups ? 0 : inode.lookups - n;
    if (inode.lookups > 0) return;
    inode.named = false;
    this.#namedCount--;
    if (inode.holds === 0) this.#retain(inode);
  }

  /** Keeps `inode`'s fd open until {@link release} (an open handle). */
  hold(inode: Inode): void {
    inode.holds++;
  }

  /** Ends a {@link hold}; retains the node the guest has forgotten once nothing holds it. */
  release(inode: Inode): void {
    if (inode.holds > 0) inode.holds--;
    if (inode.holds === 0 && !inode.named) this.#retain(inode);
  }

  /** Every node the guest can name, for inspection. */
  *values(): IterableIterator<Inode> {
    for (const inode of this.#byId.values()) if (inode.named) yield inode;
  }

  /** Closes every node's fd, retained ones included, and empties the table. */
  clear(): void {
    for (const inode of this.#byId.values()) {
      inode.named = false;
      this.#close(inode);
    }
    this.#byId.clear();
    this.#byKey.clear();
    this.#oldestRetained = this.#newestRetained = null;
    this.#retainedCount = 0;
    this.#namedCount = 0;
    this.#unlinkedNames.clear();
    if (this.#sweep !== null) clearTimeout(this.#sweep);
    this.#sweep = null;
  }

  /** Closes `inode`'s fd (once) and takes it out of the table. */
  #close(inode: Inode): void {
    if (inode.closed) return;
    if (inode.retainedAt !== 0) this.#unretain(inode);
    else this.onClose(inode);
    closeNodeFd(inode.fd, inode);
    inode.fd = -1;
    this.budget.release();
    // A node is in both tables from its first lookup to here, and alone under its identity.
    this.#byId.delete(inode.num);
    this.#byKey.delete(inode.dev, inode.ino);
  }

  /**
   * The end of a node nothing uses any more: its fd is retained or, when
   * retention is off or the name it was found under was unlinked, closed.
   */
  #retain(inode: Inode): void {
    if (inode.closed || inode.retainedAt !== 0) return;
    if (
      this.retention.max <= 0 ||
      (inode.foundAs >= 0 && this.#unlinkedNames.take(inode.foundAs))
    ) {
      this.#close(inode);
      return;
    }
    this.onClose(inode);
    inode.retainedAt = Date.now();
    const newest = this.#newestRetained;
    inode.olderRetained = newest;
    if (newest !== null) newest.newerRetained = inode;
    else this.#oldestRetained = inode;
    this.#newestRetained = inode;
    if (++this.#retainedCount > this.retention.max) this.#dropOldest();
    this.#sweep ??= this.#armSweep(this.retention.ms);
  }

  /** Takes `inode` off the retained list (its fd stays open). */
  #unretain(inode: Inode): void {
    const { olderRetained: older, newerRetained: newer } = inode;
    if (older !== null) older.newerRetained = newer;
    else this.#oldestRetained = newer;
    if (newer !== null) newer.olderRetained = older;
    else this.#newestRetained = older;
    inode.olderRetained = inode.newerRetained = null;
    inode.retainedAt = 0;
    this.#retainedCount--;
  }

  /** Closes the oldest retained node; false when there is none. */
  #dropOldest(): boolean {
    const oldest = this.#oldestRetained;
    if (oldest === null) return false;
    this.#close(oldest);
    return true;
  }

  /** Closes the retained nodes older than the retention time, then looks again when the next one is due. */
  #armSweep(delay: number): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.#sweep = null;
      const cutoff = Date.now() - this.retention.ms;
      for (let oldest = this.#oldestRetained; oldest !== null; oldest = this.#oldestRetained) {
        if (oldest.retainedAt > cutoff) {
          this.#sweep = this.#armSweep(oldest.retainedAt - cutoff);
          return;
        }
        this.#close(oldest);
      }
    }, delay);
    // Retained fds are a cache: they never keep the process alive.
    timer.unref();
    return timer;
  }
}
