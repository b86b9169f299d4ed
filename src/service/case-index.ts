/**
 * Per-directory name indexes for case-insensitive volumes: folded name →
 * the stored spellings, in READDIR order. A lookup that misses the exact
 * spelling asks the index instead of scanning the directory, so opening a
 * wrong-case name costs O(1) requests, amortised:
 *
 * - an index is built from one READDIR pass and stamped with the
 *   directory's mtime and ctime;
 * - before use, the stamp is compared with the directory's attributes (as
 *   cached for the server's attribute timeout): a change made on the host
 *   shows there, and the index is rebuilt;
 * - our own creates, deletes and renames update the index in place and mark
 *   it to adopt the next stamp seen, so they cost no rebuild.
 *
 * At most `capacity` indexes are kept (least recently used first out); each
 * keeps its directory's node alive, so its nodeid cannot be reused for
 * another directory while the index exists.
 */
import { foldName } from "./names.js";
import type { HostAttr, NodeTable, ServiceNode } from "./nodes.js";

/** One directory's index. */
export class CaseIndex {
  private readonly byKey = new Map<string, string[]>();
  /** Adopt the next stamp seen instead of rebuilding (after our own change). */
  adoptNext = false;

  constructor(
    public stamp: string,
    names: Iterable<string>,
  ) {
    for (const n of names) this.add(n);
  }

  /** The stored spelling for `name`: the exact one if present, else the first that folds equal. */
  find(name: string): string | undefined {
    const list = this.byKey.get(foldName(name));
    if (list === undefined) return undefined;
    return list.includes(name) ? name : list[0];
  }

  add(name: string): void {
    const key = foldName(name);
    const list = this.byKey.get(key);
    if (list === undefined) this.byKey.set(key, [name]);
    else if (!list.includes(name)) list.push(name);
  }

  remove(name: string): void {
    const key = foldName(name);
    const list = this.byKey.get(key);
    if (list === undefined) return;
    const rest = list.filter((n) => n !== name);
    if (rest.length === 0) this.byKey.delete(key);
    else this.byKey.set(key, rest);
  }

  get size(): number {
    return this.byKey.size;
  }
}

/** The stamp of a directory's contents: mtime and ctime. */
export function directoryStamp(attr: HostAttr): string {
  return `${attr.mtimeNs}:${attr.ctimeNs}`;
}

/** The indexes of the directories seen (see the module comment). */
export class CaseIndexes {
  private readonly indexes = new Map<ServiceNode, CaseIndex>();
  /** READDIR passes made to build indexes (for statistics and tests). */
  builds = 0;

  constructor(
    private readonly nodes: NodeTable,
    readonly capacity: number,
  ) {}

  get size(): number {
    return this.indexes.size;
  }

  /** The index of `dir` if it is current for `attr` (or adopts it), else undefined. */
  current(dir: ServiceNode, attr: HostAttr): CaseIndex | undefined {
    const index = this.indexes.get(dir);
    if (index === undefined) return undefined;
    const stamp = directoryStamp(attr);
    if (index.stamp !== stamp) {
      if (!index.adoptNext) {
        this.drop(dir);
        return undefined;
      }
      index.stamp = stamp;
    }
    index.adoptNext = false;
    this.indexes.delete(dir);
    this.indexes.set(dir, index);
    return index;
  }

  /** Keeps a freshly built index for `dir`. */
  store(dir: ServiceNode, attr: HostAttr, names: Iterable<string>): CaseIndex {
    this.drop(dir);
    const index = new CaseIndex(directoryStamp(attr), names);
    this.builds++;
    this.indexes.set(dir, index);
    this.nodes.retain(dir);
    while (this.indexes.size > this.capacity) this.drop(this.indexes.keys().next().value as ServiceNode);
    return index;
  }

  /** Our own change in `dir`: `added` now exists, `removed` no longer does. */
  noteChange(dir: ServiceNode, change: { added?: string; removed?: string }): void {
    const index = this.indexes.get(dir);
    if (index === undefined) return;
    if (change.removed !== undefined) index.remove(change.removed);
    if (change.added !== undefined) index.add(change.added);
    index.adoptNext = true;
  }

  /** Drops every index. */
  clear(): void {
    for (const dir of [...this.indexes.keys()]) this.drop(dir);
  }

  private drop(dir: ServiceNode): void {
    if (!this.indexes.delete(dir)) return;
    this.nodes.release(dir);
  }
}
