/**
 * The inode table: each inode the guest knows is an O_PATH|O_NOFOLLOW fd,
 * found by its nodeid (an opaque key this table issues, never an fd or an
 * index into anything else) and by its identity on the host (device and inode
 * number), so two names of one file share one node.
 *
 * Lifetime: a node lives while the guest holds lookups on it (FORGET to zero
 * removes it from the table, and the guest can no longer name it) and while
 * open handles use it; its fd closes when both are gone. The root (nodeid 1)
 * lives until {@link InodeStore.clear}.
 */
import { errno } from "../common/errors.js";
import { FUSE_ROOT_ID } from "../fuse/abi.js";
import { S_IFMT } from "../sys/constants.js";
import type { Statx } from "../sys/fs.js";
import { close } from "../sys/libc.js";
import type { FdBudget } from "./fd-budget.js";

/** One inode the guest can name. */
export class Inode {
  /** Lookups the guest holds (LOOKUP and friends add, FORGET subtracts). */
  lookups = 0n;
  /** Open handles (and other holders) that keep the fd open after the guest forgot the node. */
  holds = 0;
  /** The mode last seen (file type and permission bits); the type never changes. */
  mode: number;
  /** Whether the guest can still name this node. */
  named = true;
  /** Per-node state the lock manager keeps (see locks.ts). */
  locks: unknown;

  constructor(
    /** The nodeid. */
    readonly id: bigint,
    /** The O_PATH fd; -1 once closed. */
    public fd: number,
    /** `dev:ino` on the host. */
    readonly key: string,
    st: Statx,
  ) {
    this.mode = st.mode;
    this.type = st.mode & S_IFMT;
    this.devMajor = st.devMajor;
    this.devMinor = st.devMinor;
    this.mntId = st.mntId;
  }

  /** S_IFREG, S_IFDIR, ... */
  readonly type: number;
  readonly devMajor: number;
  readonly devMinor: number;
  /** The mount id (0 when statx did not report it). */
  readonly mntId: bigint;

  get closed(): boolean {
    return this.fd < 0;
  }
}

/** The table key of an inode: its device and inode number. */
export function inodeKey(st: Statx): string {
  return `${st.devMajor}:${st.devMinor}:${st.ino}`;
}

export class InodeStore {
  readonly #byId = new Map<bigint, Inode>();
  readonly #byKey = new Map<string, Inode>();
  #next = FUSE_ROOT_ID + 1n;

  constructor(
    private readonly budget: FdBudget,
    /** Called once when an inode's fd is about to close (to drop its locks). */
    private readonly onClose: (inode: Inode) => void,
  ) {}

  /** Nodes the guest can name. */
  get size(): number {
    return this.#byId.size;
  }

  /** Installs the root node from its O_PATH fd (which then belongs to the table). */
  setRoot(fd: number, st: Statx): Inode {
    try {
      this.budget.acquire("init");
    } catch (error) {
      close(fd);
      throw error;
    }
    const root = new Inode(FUSE_ROOT_ID, fd, inodeKey(st), st);
    root.lookups = 1n;
    this.#byId.set(root.id, root);
    this.#byKey.set(root.key, root);
    return root;
  }

  /** The node `id`, or EBADF for an id this table never issued or has forgotten. */
  get(id: bigint, op: string): Inode {
    const inode = this.#byId.get(id);
    if (inode === undefined) throw errno("EBADF", op);
    return inode;
  }

  /**
   * Counts a lookup of the inode `fd` (an O_PATH fd the caller opened) refers
   * to: on the node that already has it, closing `fd`, or on a new node that
   * takes `fd` over. `fd` is closed on every failure (ENFILE past the budget).
   */
  adopt(fd: number, st: Statx, op: string): Inode {
    const key = inodeKey(st);
    const existing = this.#byKey.get(key);
    if (existing !== undefined) {
      close(fd);
      existing.lookups++;
      existing.mode = st.mode;
      return existing;
    }
    try {
      this.budget.acquire(op);
    } catch (error) {
      close(fd);
      throw error;
    }
    const inode = new Inode(this.#next++, fd, key, st);
    inode.lookups = 1n;
    this.#byId.set(inode.id, inode);
    this.#byKey.set(key, inode);
    return inode;
  }

  /** Drops `count` lookups of `id` (saturating); at zero the guest can no longer name it. Unknown ids and the root are ignored. */
  forget(id: bigint, count: bigint): void {
    if (id === FUSE_ROOT_ID) return;
    const inode = this.#byId.get(id);
    if (inode === undefined) return;
    inode.lookups = count >= inode.lookups ? 0n : inode.lookups - count;
    if (inode.lookups > 0n) return;
    this.#unname(inode);
    if (inode.holds === 0) this.#close(inode);
  }

  /** Keeps `inode`'s fd open until {@link release} (an open handle). */
  hold(inode: Inode): void {
    inode.holds++;
  }

  /** Ends a {@link hold}; closes the fd of a node the guest has forgotten once nothing holds it. */
  release(inode: Inode): void {
    if (inode.holds > 0) inode.holds--;
    if (inode.holds === 0 && !inode.named) this.#close(inode);
  }

  /** Every node, for inspection. */
  values(): IterableIterator<Inode> {
    return this.#byId.values();
  }

  /** Closes every node's fd and empties the table. */
  clear(): void {
    for (const inode of this.#byId.values()) {
      inode.named = false;
      this.#close(inode);
    }
    this.#byId.clear();
    this.#byKey.clear();
  }

  #unname(inode: Inode): void {
    inode.named = false;
    this.#byId.delete(inode.id);
    if (this.#byKey.get(inode.key) === inode) this.#byKey.delete(inode.key);
  }

  #close(inode: Inode): void {
    if (inode.closed) return;
    this.onClose(inode);
    close(inode.fd);
    inode.fd = -1;
    this.budget.release();
  }
}
