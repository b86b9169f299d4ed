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
import { Errno } from "../common/errno.js";
import type { FuseSession } from "../guest/session.js";
import { NtStatus } from "../windows/ntstatus.js";
import { DirInfoPacker, dirInfoPackedSize } from "../winfsp/fsctl.js";
import { ntFail, ntOk, type DirInfo, type DirectoryChunk, type FileInfo, type NtResult } from "../winfsp/interface.js";
import { isNameInExpression } from "../winfsp/wildcard.js";
import type { FuseFileContext } from "./context.js";
import type { LongNames } from "./long-names.js";
import { foldName, windowsNameOf } from "./names.js";
import { deadlineOf, type DentryCache, type NodeTable, type ServiceNode } from "./nodes.js";
import { isErrno } from "./status.js";
import type { Volume } from "./volume.js";

/** How many entries of one ReadDirectory answer are looked up at once. */
const LISTING_CONCURRENCY = 32;

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
 * Names that are not valid UTF-8 have no Windows spelling and are left out;
 * long names are read back from their xattr (long-names.ts).
 */
export async function snapshotDirectory(
  session: FuseSession,
  longNames: LongNames,
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
      let name = windowsNameOf(e.dirent.name);
      if (e.entry.nodeid !== 0n) {
        const node = nodes.adopt(e.entry);
        try {
          if (name !== undefined) {
            name = await longNames.listedName(dir, host, node.nodeid);
            dentries.set(dir, host, node, deadlineOf(e.entry.entryValid, e.entry.entryValidNsec, nodes.maxCacheMs));
          }
        } finally {
          nodes.release(node);
        }
      } else if (name !== undefined) name = await longNames.listedName(dir, host, 0n);
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

/**
 * ReadDirectory and GetDirInfoByName: answers from a context's snapshot
 * (dots first in non-root directories), each entry's FileInfo built as
 * GetFileInfo builds it, those of one answer fetched together.
 */
export class DirectoryReader {
  constructor(
    private readonly v: Volume,
    /** FileInfo of a main file or directory reached by `names`. */
    private readonly info: (node: ServiceNode, names: readonly string[]) => Promise<FileInfo>,
  ) {}

  /** ReadDirectory (see the module comment). */
  async read(ctx: FuseFileContext, pattern: string | null, marker: string | null, length: number): Promise<NtResult<DirectoryChunk>> {
    const dir = ctx.node;
    if (ctx.stream !== null || dir.kind !== "directory") return ntFail(NtStatus.STATUS_NOT_A_DIRECTORY);
    const ci = this.v.options.caseInsensitive;
    if (marker === null || ctx.listing === null) {
      const open = await this.v.session.opendir(dir.nodeid);
      try {
        ctx.listing = await snapshotDirectory(this.v.session, this.v.longNames, this.v.nodes, this.v.dentries, dir, open.fh, ci);
      } finally {
        await this.v.session.releasedir(dir.nodeid, open.fh).catch(() => undefined);
      }
    }
    const listing = ctx.listing;
    const packer = new DirInfoPacker(length);
    const matches = (name: string): boolean => pattern === null || isNameInExpression(pattern, name, ci);

    if (!dir.pinned) {
      if (marker === null && matches(".")) {
        if (!packer.add({ fileName: ".", fileInfo: await this.info(dir, ctx.names) })) return ntOk(packer.chunk());
      }
      if (marker === null || marker === ".") {
        if (matches("..")) {
          const parentNames = ctx.names.slice(0, -1);
          const w = await this.v.resolver.walk(parentNames);
          if (!w.ok) return w;
          let info: FileInfo;
          try {
            info = await this.info(w.value.node, parentNames);
          } finally {
            this.v.nodes.release(w.value.node);
          }
          if (!packer.add({ fileName: "..", fileInfo: info })) return ntOk(packer.chunk());
        }
        marker = null;
      } else if (marker === "..") marker = null;
    }

    const from = marker === null ? 0 : listing.after(listingKey(marker, ci));
    // The entries that can fit, by name length; their information is fetched together.
    const candidates: number[] = [];
    let budget = length - packer.bytesTransferred;
    let reachedEnd = true;
    for (let i = from; i < listing.entries.length; i++) {
      const e = listing.entries[i]!;
      if (!matches(e.name)) continue;
      const size = dirInfoPackedSize(e.name);
      if (size > budget) {
        reachedEnd = false;
        break;
      }
      budget -= size;
      candidates.push(i);
    }
    const infos = new Array<FileInfo | null>(candidates.length).fill(null);
    for (let start = 0; start < candidates.length; start += LISTING_CONCURRENCY) {
      const batch = candidates.slice(start, start + LISTING_CONCURRENCY);
      await Promise.all(
        batch.map(async (index, j) => {
          infos[start + j] = await this.entryInfo(dir, ctx.names, listing.entries[index]!.name, listing.entries[index]!.host);
        }),
      );
    }
    for (let k = 0; k < candidates.length; k++) {
      const info = infos[k];
      // An entry that vanished since the snapshot is left out.
      if (info === null || info === undefined) continue;
      if (!packer.add({ fileName: listing.entries[candidates[k]!]!.name, fileInfo: info })) return ntOk(packer.chunk());
    }
    if (reachedEnd) packer.end();
    return ntOk(packer.chunk());
  }

  /** FileInfo of a listed entry, or null when it is gone. */
  private async entryInfo(dir: ServiceNode, dirNames: readonly string[], name: string, host: string): Promise<FileInfo | null> {
    let node = this.v.dentries.get(dir, host);
    if (node === undefined) {
      try {
        const entry = await this.v.session.lookup(dir.nodeid, host);
        node = this.v.nodes.adopt(entry);
      } catch (error) {
        if (isErrno(error, Errno.ENOENT)) return null;
        throw error;
      }
    }
    try {
      return await this.info(node, [...dirNames, name]);
    } finally {
      this.v.nodes.release(node);
    }
  }

  /** GetDirInfoByName: one child of a directory, with its stored-case name. */
  async byName(parentCtx: FuseFileContext, fileName: string): Promise<NtResult<DirInfo>> {
    const dir = parentCtx.node;
    if (parentCtx.stream !== null || dir.kind !== "directory") return ntFail(NtStatus.STATUS_NOT_A_DIRECTORY);
    const found = await this.v.resolver.child(dir, fileName);
    if (!found.ok) return found;
    if (found.value === null) return ntFail(NtStatus.STATUS_OBJECT_NAME_NOT_FOUND);
    try {
      const info = await this.info(found.value.node, [...parentCtx.names, found.value.name]);
      return ntOk({ fileName: found.value.name, fileInfo: info });
    } finally {
      this.v.nodes.release(found.value.node);
    }
  }
}
