/**
 * Directory listings for ReadDirectory: a snapshot of the directory taken
 * when a scan starts (marker `null`), sorted in the volume's own stable
 * order, from which each ReadDirectory answer takes the entries after its
 * marker that fit. Resumable: a marker names an entry, not a position, so
 * any context (or a new snapshot, after the directory changed) continues
 * after it.
 *
 * The snapshot is WinFsp's directory buffer (FspFileSystemAcquireDirectoryBuffer):
 * filled once per enumeration and every later query of that enumeration
 * served from it without a request. It is built with READDIRPLUS: every
 * entry arrives with its node and attributes, and its FileInfo is built
 * then, while that reference is held (Windows metadata: one LISTXATTR, and
 * the values it lists that matter, unless the node's metadata is known
 * already), pages of entries in flight together with the next READDIRPLUS.
 * An entry READDIRPLUS gave no node for is looked up when first answered,
 * and its FileInfo kept too. The snapshot keeps names and FileInfos, never
 * nodes: a directory of a million files does not pin a million host
 * descriptors. A FileInfo is the entry as it was when the enumeration
 * started, as WinFsp's buffer shows it.
 *
 * Order: ordinal (UTF-16 code unit) order of the comparison key, the name
 * itself on case-sensitive volumes and its upper case otherwise, as
 * MemoryFileSystem lists.
 */
import { Errno } from "../common/errno.js";
import { ErrnoError } from "../common/errors.js";
import type { Direntplus } from "../fuse/dirent.js";
import type { FuseSession } from "../guest/session.js";
import { NtStatus } from "../windows/ntstatus.js";
import { DirInfoPacker, dirInfoPackedSize } from "../winfsp/fsctl.js";
import { ntFail, ntOk, type DirInfo, type DirectoryChunk, type FileInfo, type NtResult } from "../winfsp/interface.js";
import { isNameInExpression } from "../winfsp/wildcard.js";
import type { FuseFileContext } from "./context.js";
import { foldName, windowsNameOf } from "./names.js";
import { deadlineOf, type ServiceNode } from "./nodes.js";
import { isErrno } from "./status.js";
import type { Volume } from "./volume.js";

/** How many entries' FileInfos are fetched at once. */
const LISTING_CONCURRENCY = 64;

/** One entry of a snapshot. */
export interface ListedName {
  /** The Windows name (stored case). */
  readonly name: string;
  /** The host name. */
  readonly host: string;
  /** The comparison key. */
  readonly key: string;
  /** Its FileInfo once built (in the snapshot, or at its first answer); null before. */
  info: FileInfo | null;
}

/** FileInfo of a main file or directory reached by `names` (GetFileInfo's). */
export type NodeInfo = (node: ServiceNode, names: readonly string[]) => Promise<FileInfo>;

/** A sorted snapshot of a directory. */
export class Listing {
  /** The reader's cache epoch the FileInfos belong to (see {@link DirectoryReader.invalidate}). */
  epoch = 0;

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

/** Runs `tasks` at most `limit` at a time; rejects with the first failure once all have settled. */
async function runLimited(tasks: readonly (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) await tasks[next++]!();
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  for (const r of results) if (r.status === "rejected") throw r.reason;
}

/**
 * Reads the whole directory with READDIRPLUS (through `fh`, an OPENDIR
 * handle), caches each entry's node, builds each entry's FileInfo with
 * `info` (under the names `dirNames` + its name), and answers the sorted
 * snapshot. Names that are not valid UTF-8 have no Windows spelling and are
 * left out; long names are read back from their xattr (long-names.ts). An
 * entry whose FileInfo cannot be built now (gone, or no node given) keeps
 * `info` null and is fetched when answered.
 */
export async function snapshotDirectory(
  v: Pick<Volume, "session" | "longNames" | "nodes" | "dentries">,
  dir: ServiceNode,
  dirNames: readonly string[],
  fh: bigint,
  caseInsensitive: boolean,
  info: NodeInfo,
): Promise<Listing> {
  const { session, longNames, nodes, dentries } = v;
  const out: ListedName[] = [];
  /** Builds the listed entries of one page (holding each node meanwhile). */
  const fill = async (page: Direntplus[]): Promise<void> => {
    const tasks = page.map((e) => async (): Promise<void> => {
      const host = e.dirent.name.toString("utf8");
      let name = windowsNameOf(e.dirent.name);
      if (e.entry.nodeid === 0n) {
        if (name !== undefined) name = await longNames.listedName(dir, host, 0n);
        if (name !== undefined) out.push({ name, host, key: listingKey(name, caseInsensitive), info: null });
        return;
      }
      const node = nodes.adopt(e.entry);
      try {
        if (name === undefined) return;
        name = await longNames.listedName(dir, host, node.nodeid);
        if (name === undefined) return;
        dentries.set(dir, host, node, deadlineOf(e.entry.entryValid, e.entry.entryValidNsec, nodes.maxCacheMs));
        let fileInfo: FileInfo | null = null;
        try {
          fileInfo = await info(node, [...dirNames, name]);
        } catch (error) {
          // Gone since READDIRPLUS (or unreadable now): fetched again when answered.
          if (!ErrnoError.is(error)) throw error;
        }
        out.push({ name, host, key: listingKey(name, caseInsensitive), info: fileInfo });
      } finally {
        nodes.release(node);
      }
    });
    await runLimited(tasks, LISTING_CONCURRENCY);
  };
  let offset = 0n;
  let pending: Promise<void> = Promise.resolve();
  try {
    for (;;) {
      const page = await session.readdirplus(dir.nodeid, fh, offset);
      if (page.length === 0) break;
      offset = page[page.length - 1]!.dirent.off;
      // This page's metadata is fetched while the next page is read.
      const previous = pending;
      pending = previous.then(() => fill(page));
      // A failure shows at the await below; keep it from being unhandled meanwhile.
      pending.catch(() => undefined);
    }
  } finally {
    await pending.catch(() => undefined);
  }
  await pending;
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
  /** Moves on when every cache is dropped: FileInfos kept in open listings are fetched again. */
  private epoch = 0;

  constructor(
    private readonly v: Volume,
    /** FileInfo of a main file or directory reached by `names`. */
    private readonly info: NodeInfo,
  ) {}

  /**
   * Every cache was dropped (the host changed behind the service): open
   * listings keep their names, but fetch their entries' FileInfos again,
   * leaving out the ones gone since.
   */
  invalidate(): void {
    this.epoch++;
  }

  /** ReadDirectory (see the module comment). */
  async read(ctx: FuseFileContext, pattern: string | null, marker: string | null, length: number): Promise<NtResult<DirectoryChunk>> {
    const dir = ctx.node;
    if (ctx.stream !== null || dir.kind !== "directory") return ntFail(NtStatus.STATUS_NOT_A_DIRECTORY);
    const ci = this.v.options.caseInsensitive;
    if (marker === null || ctx.listing === null) {
      const open = await this.v.session.opendir(dir.nodeid);
      try {
        ctx.listing = null;
        const epoch = this.epoch;
        ctx.listing = await snapshotDirectory(this.v, dir, ctx.names, open.fh, ci, this.info);
        ctx.listing.epoch = epoch;
      } finally {
        await this.v.session.releasedir(dir.nodeid, open.fh).catch(() => undefined);
      }
    }
    const listing = ctx.listing;
    if (listing.epoch !== this.epoch) {
      for (const e of listing.entries) e.info = null;
      listing.epoch = this.epoch;
    }
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
    // Entries whose FileInfo the snapshot could not build are fetched now, together, and kept.
    const missing = candidates.filter((i) => listing.entries[i]!.info === null);
    await runLimited(
      missing.map((index) => async () => {
        const e = listing.entries[index]!;
        e.info = await this.entryInfo(dir, ctx.names, e.name, e.host);
      }),
      LISTING_CONCURRENCY,
    );
    for (const index of candidates) {
      const e = listing.entries[index]!;
      // An entry that vanished since the snapshot is left out.
      if (e.info === null) continue;
      if (!packer.add({ fileName: e.name, fileInfo: e.info })) return ntOk(packer.chunk());
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
