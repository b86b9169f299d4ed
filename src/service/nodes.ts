/**
 * The FUSE nodes the service holds, and the name → node cache.
 *
 * Lifetimes, which must match the server's lookup counts exactly:
 * - {@link NodeTable} keeps one {@link ServiceNode} per nodeid in use, with a
 *   count of its local users (cache entries, open file contexts, calls in
 *   progress). It holds exactly one session reference per node: a reply
 *   that hands out another reference to a node already tracked gives it back
 *   at once (the session sends nothing then), and when the last user lets go
 *   the one reference is given back, so the session's batched FORGET reaches
 *   the server and the host can close what it kept open for that node.
 * - {@link DentryCache} maps (parent nodeid, host name) to a node for as long
 *   as the server's entry timeout allows, at most `capacity` entries (least
 *   recently used first out). Each entry is a user of the child and of the
 *   parent: the parent's nodeid in the key must not be freed, and reused by
 *   the server for another directory, while the entry exists.
 *
 * A node's kind (file type) never changes while we hold it: an inode keeps
 * its type, and a reused nodeid is a new node.
 */
import { Mode, FUSE_ROOT_ID } from "../fuse/abi.js";
import type { Attr, EntryOut, Statx } from "../fuse/structs.js";
import type { DosAttrib } from "../windows/attributes.js";
import type { FuseSession } from "../guest/session.js";
import { Mutex } from "./mutex.js";

/** What a node is on the host. */
export type NodeKind = "file" | "directory" | "symlink" | "special";

/** Host attributes, from GETATTR (`fuse_attr`) or STATX (`fuse_statx`), times in Unix nanoseconds. */
export interface HostAttr {
  readonly ino: bigint;
  readonly size: bigint;
  readonly blocks: bigint;
  readonly mode: number;
  readonly nlink: number;
  readonly uid: number;
  readonly gid: number;
  readonly rdev: number;
  readonly atimeNs: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  /** Birth time, when the backend answered STATX with STATX_BTIME. */
  readonly btimeNs: bigint | undefined;
}

const NS = 1_000_000_000n;

/** HostAttr from `fuse_attr` (seconds are carried as u64; pre-1970 times are negative as i64). */
export function hostAttrFromFuse(a: Attr): HostAttr {
  return {
    ino: a.ino,
    size: a.size,
    blocks: a.blocks,
    mode: a.mode,
    nlink: a.nlink,
    uid: a.uid,
    gid: a.gid,
    rdev: a.rdev,
    atimeNs: BigInt.asIntN(64, a.atime) * NS + BigInt(a.atimensec),
    mtimeNs: BigInt.asIntN(64, a.mtime) * NS + BigInt(a.mtimensec),
    ctimeNs: BigInt.asIntN(64, a.ctime) * NS + BigInt(a.ctimensec),
    btimeNs: undefined,
  };
}

/** STATX_BTIME (linux/stat.h). */
const STATX_BTIME = 0x800;

/** HostAttr from `fuse_statx`; the birth time only when the mask says it is valid. */
export function hostAttrFromStatx(s: Statx): HostAttr {
  const t = (x: { tvSec: bigint; tvNsec: number }): bigint => x.tvSec * NS + BigInt(x.tvNsec);
  return {
    ino: s.ino,
    size: s.size,
    blocks: s.blocks,
    mode: s.mode,
    nlink: s.nlink,
    uid: s.uid,
    gid: s.gid,
    // The kernel's new_encode_dev, as `fuse_attr.rdev` carries it.
    rdev: ((s.rdevMinor & 0xff) | ((s.rdevMajor & 0xfff) << 8) | ((s.rdevMinor & ~0xff) << 12)) >>> 0,
    atimeNs: t(s.atime),
    mtimeNs: t(s.mtime),
    ctimeNs: t(s.ctime),
    btimeNs: (s.mask & STATX_BTIME) !== 0 ? t(s.btime) : undefined,
  };
}

/** The kind of a `st_mode`. */
export function kindOfMode(mode: number): NodeKind {
  switch (mode & Mode.S_IFMT) {
    case Mode.S_IFREG:
      return "file";
    case Mode.S_IFDIR:
      return "directory";
    case Mode.S_IFLNK:
      return "symlink";
    default:
      return "special";
  }
}

/**
 * What the xattrs of a file or directory say, read in one go (LISTXATTR and
 * the few values that matter) and kept until the node's ctime changes: every
 * xattr change moves the ctime.
 */
export interface XattrMeta {
  /** Every xattr name, as listed. */
  readonly names: Set<string>;
  /** The decoded `user.DOSATTRIB`, when present and readable. */
  dos: DosAttrib | undefined;
  /** `user.SmbReparse`, the whole reparse buffer, when present. */
  reparse: Uint8Array | undefined;
  /** Sum of the packed sizes of the EAs Samba would list (FileInfo.eaSize). */
  eaSize: number;
  /** Stream names (`user.DosStream.<name>:$DATA`), stored spelling. */
  streams: string[];
}

/** One node in use. */
export class ServiceNode {
  /** Local users (see the module comment). */
  users = 0;
  /** Open file contexts on this node (a subset of the users). */
  opens = 0;
  attr: HostAttr;
  /** performance.now() after which `attr` must be fetched again. */
  attrDeadline: number;
  meta: XattrMeta | null = null;
  /** The ctime `meta` was read at. */
  metaStamp: bigint | null = null;
  /** Set after our own xattr change: the next ctime seen is the one `meta` already reflects. */
  metaAdopt = false;
  /** The allocation size set through the service (SetFileSize, Create), until the last cleanup resets it. */
  allocationHint: bigint | null = null;
  /** Named streams with open contexts, by folded name, with their counts. */
  readonly openStreams = new Map<string, number>();
  /** Serialises read-modify-write sequences on this node. */
  readonly lock = new Mutex();
  /** A symlink's target as read (symlink targets never change). */
  linkTarget: string | null = null;
  /** Whether a symlink resolves to a directory, and until when that answer holds. */
  linkIsDirectory: { value: boolean; deadline: number } | null = null;

  constructor(
    public nodeid: bigint,
    attr: HostAttr,
    attrDeadline: number,
    /** The root: held by the session itself, never forgotten. */
    readonly pinned: boolean,
  ) {
    this.attr = attr;
    this.attrDeadline = attrDeadline;
  }

  get kind(): NodeKind {
    return kindOfMode(this.attr.mode);
  }

  /** Regular files and directories hold `user.*` xattrs; symlinks and special files cannot (Linux). */
  get holdsXattrs(): boolean {
    const k = this.kind;
    return k === "file" || k === "directory";
  }
}

/** performance.now() plus a FUSE validity (seconds and nanoseconds), capped at `capMs`. */
export function deadlineOf(sec: bigint, nsec: number, capMs: number): number {
  const ms = Math.min(Number(sec) * 1000 + nsec / 1e6, capMs);
  return performance.now() + Math.max(0, ms);
}

/** The nodes in use (see the module comment). */
export class NodeTable {
  private readonly nodes = new Map<bigint, ServiceNode>();
  readonly root: ServiceNode;

  constructor(
    private readonly session: FuseSession,
    rootAttr: HostAttr,
    /** Longest time an attribute is trusted, ms (also capped by the server's timeouts). */
    readonly maxCacheMs: number,
  ) {
    this.root = new ServiceNode(FUSE_ROOT_ID, rootAttr, 0, true);
    this.nodes.set(FUSE_ROOT_ID, this.root);
  }

  /** Nodes tracked (the root included). */
  get size(): number {
    return this.nodes.size;
  }

  get(nodeid: bigint): ServiceNode | undefined {
    return this.nodes.get(nodeid);
  }

  /** Every tracked node. */
  values(): IterableIterator<ServiceNode> {
    return this.nodes.values();
  }

  /**
   * Takes over the reference an entry reply handed out and answers its node
   * with one more user (the caller's). Attributes are refreshed from the entry.
   */
  adopt(entry: EntryOut): ServiceNode {
    const attr = hostAttrFromFuse(entry.attr);
    const deadline = deadlineOf(entry.attrValid, entry.attrValidNsec, this.maxCacheMs);
    let node = this.nodes.get(entry.nodeid);
    if (node !== undefined) {
      // We hold a reference already; give this one back (nothing goes on the wire).
      this.session.forget(entry.nodeid, 1);
      const btime = node.attr.btimeNs;
      node.attr = btime === undefined ? attr : { ...attr, btimeNs: btime };
      node.attrDeadline = deadline;
    } else {
      node = new ServiceNode(entry.nodeid, attr, deadline, false);
      this.nodes.set(entry.nodeid, node);
    }
    node.users++;
    return node;
  }

  /** One more user of a tracked node. */
  retain(node: ServiceNode): ServiceNode {
    if (!node.pinned) {
      if (node.users <= 0) throw new RangeError(`retain of node ${node.nodeid}, which has no users`);
      node.users++;
    }
    return node;
  }

  /** One user fewer; the last one gives the session reference back. */
  release(node: ServiceNode): void {
    if (node.pinned) return;
    if (node.users <= 0) throw new RangeError(`release of node ${node.nodeid}, which has no users`);
    if (--node.users > 0) return;
    if (this.nodes.get(node.nodeid) === node) this.nodes.delete(node.nodeid);
    this.session.forget(node.nodeid, 1);
  }

  /**
   * The file `node` stood for was replaced by a new inode (a symlink or a
   * special file made from it): `node` now stands for `entry`, keeping its
   * users; the old nodeid's reference is given back.
   */
  rebind(node: ServiceNode, entry: EntryOut): void {
    if (node.pinned) throw new RangeError("the root cannot be rebound");
    if (this.nodes.has(entry.nodeid)) {
      // A fresh inode cannot be one we already track; keep the table consistent all the same.
      this.session.forget(entry.nodeid, 1);
      throw new RangeError(`node ${entry.nodeid} is already tracked`);
    }
    if (this.nodes.get(node.nodeid) === node) this.nodes.delete(node.nodeid);
    this.session.forget(node.nodeid, 1);
    node.nodeid = entry.nodeid;
    node.attr = hostAttrFromFuse(entry.attr);
    node.attrDeadline = deadlineOf(entry.attrValid, entry.attrValidNsec, this.maxCacheMs);
    node.meta = null;
    node.metaStamp = null;
    node.metaAdopt = false;
    node.linkTarget = null;
    node.linkIsDirectory = null;
    this.nodes.set(node.nodeid, node);
  }
}

interface Dentry {
  readonly parent: ServiceNode;
  readonly node: ServiceNode;
  readonly hostName: string;
  deadline: number;
}

/** (parent nodeid, host name) → node, bounded and timed (see the module comment). */
export class DentryCache {
  private readonly entries = new Map<string, Dentry>();

  constructor(
    private readonly nodes: NodeTable,
    readonly capacity: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  private static key(parent: bigint, hostName: string): string {
    return `${parent}/${hostName}`;
  }

  /** The cached child, retained for the caller, if the entry is still valid. */
  get(parent: ServiceNode, hostName: string): ServiceNode | undefined {
    const key = DentryCache.key(parent.nodeid, hostName);
    const d = this.entries.get(key);
    if (d === undefined) return undefined;
    if (d.deadline <= performance.now() || d.parent !== parent) {
      this.drop(key, d);
      return undefined;
    }
    // Most recently used last.
    this.entries.delete(key);
    this.entries.set(key, d);
    return this.nodes.retain(d.node);
  }

  /** Caches `node` as `hostName` in `parent` until `deadline`. */
  set(parent: ServiceNode, hostName: string, node: ServiceNode, deadline: number): void {
    const key = DentryCache.key(parent.nodeid, hostName);
    const old = this.entries.get(key);
    if (old !== undefined) this.drop(key, old);
    if (deadline <= performance.now() || this.capacity <= 0) return;
    this.entries.set(key, { parent: this.nodes.retain(parent), node: this.nodes.retain(node), hostName, deadline });
    while (this.entries.size > this.capacity) {
      const [firstKey, first] = this.entries.entries().next().value as [string, Dentry];
      this.drop(firstKey, first);
    }
  }

  /** Forgets the entry for `hostName` in `parent`, if any. */
  delete(parent: ServiceNode, hostName: string): void {
    const key = DentryCache.key(parent.nodeid, hostName);
    const d = this.entries.get(key);
    if (d !== undefined) this.drop(key, d);
  }

  /** Forgets every entry. */
  clear(): void {
    for (const [key, d] of [...this.entries]) this.drop(key, d);
  }

  private drop(key: string, d: Dentry): void {
    this.entries.delete(key);
    this.nodes.release(d.node);
    this.nodes.release(d.parent);
  }
}
