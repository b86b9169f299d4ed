/**
 * Directory listings for ReadDirectory: a snapshot of the directory taken
 * when a scan starts (marker `null`), sorted in the volume's own stable
 * order, from which each ReadDirectory answer takes the entries after its
 * marker that fit. Resumable: a marker names an entry, not a position, so
 * any context (or a new snapshot, after the directory changed) continues
 * after it.
 *
 * The snapshot is built with READDIRPLUS: every entry arrives with its
 * attributes, and its node goes into the name cache (bounded), so building
 * the FileInfo of the entries of one answer rarely costs a LOOKUP. The
 * snapshot itself holds names only, never nodes, so a directory of a
 * million files does not pin a million host descriptors.
 *
 * Order: ordinal (UTF-16 code unit) order of the comparison key, the name
 * itself on case-sensitive volumes and its upper case otherwise, as
 * MemoryFileSystem lists.
 */
import type { FuseSession } from "../guest/session.js";
import { foldName, windowsNameOf } from "./names.js";
import { deadlineOf, type DentryCache, type NodeTable, type ServiceNode } from "./nodes.js";

/** One entry of a snapshot. */
export interface ListedName {
  /** The Windows name (stored case). */
  readonly name: string;
  /** The host name. */
  readonly host: string;
  /** The comparison key. */
  readonly key: string;
}

/** A sorted snapshot of a directory. */
export class Listing {
  constructor(readonly entries: readonly ListedName[]) {}

  /** Index of the first entry whose key is greater than `key`. */
  after(key: string): number {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid]!.key <= key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function ordinal(a: ListedName, b: ListedName): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** The comparison key of a name on this volume. */
export function listingKey(name: string, caseInsensitive: boolean): string {
  return caseInsensitive ? foldName(name) : name;
}

/**
 * Reads the whole directory with READDIRPLUS (through `fh`, an OPENDIR
 * handle), caches each entry's node, and answers the sorted snapshot.
 * Names that are not valid UTF-8 have no Windows spelling and are left out.
 */
export async function snapshotDirectory(
  session: FuseSession,
  nodes: NodeTable,
  dentries: DentryCache,
  dir: ServiceNode,
  fh: bigint,
  caseInsensitive: boolean,
): Promise<Listing> {
  const out: ListedName[] = [];
  let offset = 0n;
  for (;;) {
    const page = await session.readdirplus(dir.nodeid, fh, offset);
    if (page.length === 0) break;
    for (const e of page) {
      offset = e.dirent.off;
      const host = e.dirent.name.toString("utf8");
      const name = windowsNameOf(e.dirent.name);
      if (e.entry.nodeid !== 0n) {
        const node = nodes.adopt(e.entry);
        if (name !== undefined) dentries.set(dir, host, node, deadlineOf(e.entry.entryValid, e.entry.entryValidNsec, nodes.maxCacheMs));
        nodes.release(node);
      }
      if (name !== undefined) out.push({ name, host, key: listingKey(name, caseInsensitive) });
    }
  }
  out.sort(ordinal);
  return new Listing(out);
}

/** Whether a directory has entries other than `.` and `..` (one READDIR page at most). */
export async function directoryIsEmpty(session: FuseSession, dir: ServiceNode): Promise<boolean> {
  const open = await session.opendir(dir.nodeid);
  try {
    let offset = 0n;
    for (;;) {
      const page = await session.readdir(dir.nodeid, open.fh, offset, { size: 4096 });
      if (page.length === 0) return true;
      for (const d of page) {
        const n = d.name.toString("latin1");
        if (n !== "." && n !== "..") return false;
        offset = d.off;
      }
    }
  } finally {
    await session.releasedir(dir.nodeid, open.fh).catch(() => undefined);
  }
}
