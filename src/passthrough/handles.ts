/**
 * The handle table: each OPEN, CREATE, TMPFILE or OPENDIR gives the guest an
 * fh, an opaque key into this table for an fd opened for I/O. Every use
 * names the node too, and a handle used with a node it was not opened on is
 * EBADF, as is an unknown or released one.
 *
 * An fd can be in use by a request running on the thread pool (a pread, an
 * fsync) when the guest releases its handle. Closing it then would let the
 * fd number be reused under that request, so a handle is pinned for the
 * length of such a request and closes when the last pin goes.
 */
import { errno } from "../common/errors.js";
import { close } from "../sys/libc.js";
import type { FdBudget } from "./fd-budget.js";
import { IdTable } from "./id-table.js";
import { ID_REUSE_AFTER, closeNodeFd, idKey, type Inode, type InodeStore } from "./inodes.js";

/** A READDIR position kept between requests on one directory handle. */
export interface DirCursor {
  /** The `off` of the last entry handed out: where the fd's stream stands. */
  last: bigint;
  /**
   * The getdents64 records read from the fd last (a copy of their own, in
   * `room`); those from `at` on are not handed out yet. The next read
   * overwrites them: an entry's name is valid until then.
   */
  records: Uint8Array;
  at: number;
  /** The memory `records` lies in, kept for the next read (and a cursor after a seek). */
  room: Uint8Array;
}

/** One record of getdents64 (a DirEntry as the file-system interface hands it over). */
export interface RawDirent {
  readonly ino: bigint;
  readonly off: bigint;
  readonly type: number;
  /** A view of the cursor's records, never of the shared getdents buffer; valid until the cursor's next read. */
  readonly name: Uint8Array;
  /** Where the next record starts in the cursor's records. */
  readonly next: number;
}

export class Handle {
  #pins = 0;
  released = false;
  /** READDIR state (directories). */
  dir: DirCursor | undefined;
  /**
   * For a file opened O_APPEND: a twin fd without O_APPEND, opened on first
   * need, for the page-cache writes (FUSE_WRITE_CACHE) that carry their own offset.
   */
  positionedFd = -1;
  /** Opened with FOPEN_NOFLUSH: the client closes it without a FLUSH. */
  noFlush = false;
  /** For a {@link noFlush} handle: the lock owners that took POSIX locks through it, whose locks its RELEASE drops. */
  lockOwners: Set<bigint> | null = null;

  constructor(
    readonly id: bigint,
    readonly node: Inode,
    /** The fd opened for I/O; -1 once closed. */
    public fd: number,
    /** The open(2) flags the fd has (after the file system's adjustments). */
    readonly flags: number,
    readonly isDir: boolean,
  ) {}

  get pinned(): boolean {
    return this.#pins > 0;
  }

  pin(): void {
    this.#pins++;
  }

  /** Ends a {@link pin}; true when the handle was released meanwhile and is now free to close. */
  unpin(): boolean {
    this.#pins--;
    return this.#pins === 0 && this.released;
  }
}

export class HandleTable {
  /** Under the fh as a number: an index, no hashing per request. */
  readonly #byId = new IdTable<Handle>({ first: 1, reuseAfter: ID_REUSE_AFTER });

  constructor(
    private readonly budget: FdBudget,
    private readonly inodes: InodeStore,
  ) {}

  /** Open handles. */
  get size(): number {
    return this.#byId.size;
  }

  /**
   * A new handle for `fd` (opened for I/O on `node`), which then belongs to the
   * table. `fd` is closed when there is no slot for it (ENFILE).
   */
  add(node: Inode, fd: number, flags: number, isDir: boolean, op: string): Handle {
    try {
      this.budget.acquire(op);
    } catch (error) {
      close(fd);
      throw error;
    }
    const handle = this.#byId.add((num) => new Handle(BigInt(num), node, fd, flags, isDir));
    this.inodes.hold(node);
    return handle;
  }

  /** The handle `fh`, which must belong to node `nodeid`; EBADF otherwise. */
  get(fh: bigint, nodeid: bigint, op: string): Handle {
    const handle = this.#byId.get(idKey(fh));
    if (handle === undefined || handle.node.id !== nodeid) throw errno("EBADF", op);
    return handle;
  }

  /** Runs `fn` with the handle pinned: its fds stay open until `fn` settles. */
  async use<T>(handle: Handle, fn: (handle: Handle) => Promise<T>): Promise<T> {
    handle.pin();
    try {
      return await fn(handle);
    } finally {
      if (handle.unpin()) this.#close(handle);
    }
  }

  /** Takes `fh` (of node `nodeid`) out of the table; its fds close now, or when the last pin goes. */
  release(fh: bigint, nodeid: bigint, op: string): Handle {
    const handle = this.get(fh, nodeid, op);
    this.#byId.delete(idKey(fh));
    handle.released = true;
    if (!handle.pinned) this.#close(handle);
    return handle;
  }

  /** Extra fds a handle holds count against the budget too. */
  addPositionedFd(handle: Handle, fd: number, op: string): void {
    try {
      this.budget.acquire(op);
    } catch (error) {
      close(fd);
      throw error;
    }
    handle.positionedFd = fd;
  }

  /** Releases every handle (closing those not pinned now, the others when unpinned). */
  clear(): void {
    for (const handle of this.#byId.values()) {
      handle.released = true;
      if (!handle.pinned) this.#close(handle);
    }
    this.#byId.clear();
  }

  #close(handle: Handle): void {
    if (handle.fd < 0) return;
    // The last fd of a file deleted while open may be this one.
    closeNodeFd(handle.fd, handle.node);
    handle.fd = -1;
    this.budget.release();
    if (handle.positionedFd >= 0) {
      closeNodeFd(handle.positionedFd, handle.node);
      handle.positionedFd = -1;
      this.budget.release();
    }
    this.inodes.release(handle.node);
  }
}
