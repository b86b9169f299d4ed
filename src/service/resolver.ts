/**
 * Windows paths to FUSE nodes: one LOOKUP per component not in the name
 * cache, and on case-insensitive volumes a fall-back through the
 * directory's name index (case-index.ts) when the exact spelling is missing.
 *
 * Every node a method answers is retained for the caller, who releases it
 * (NodeTable.release) when done; intermediate directories are held only
 * while their child is looked up.
 *
 * Failure statuses follow MemoryFileSystem: a missing or non-directory
 * ancestor is STATUS_OBJECT_PATH_NOT_FOUND, except that the immediate parent
 * being a file is STATUS_NOT_A_DIRECTORY; a missing last component is
 * STATUS_OBJECT_NAME_NOT_FOUND; a name the host cannot hold is
 * STATUS_OBJECT_NAME_INVALID.
 */
import { Errno } from "../common/errno.js";
import type { Logger } from "../common/log.js";
import type { FuseSession } from "../guest/session.js";
import { NtStatus } from "../windows/ntstatus.js";
import { ntFail, ntOk, type NtResult } from "../winfsp/interface.js";
import type { CaseIndex, CaseIndexes } from "./case-index.js";
import type { LongNames } from "./long-names.js";
import type { MetadataStore } from "./metadata.js";
import { BASELINE_READDIR_SIZE } from "./baseline.js";
import { foldName, hostNameOf, windowsNameOf } from "./names.js";
import { deadlineOf, type DentryCache, type NodeTable, type ServiceNode } from "./nodes.js";
import { isErrno, statusOfError } from "./status.js";

/** A node found by name, retained for the caller, with its stored-case name. */
export interface Found {
  readonly node: ServiceNode;
  /** The name as stored (differs from the request only in case, on case-insensitive volumes). */
  readonly name: string;
}

/** A node found by path, retained for the caller, with the stored-case components. */
export interface Walked {
  readonly node: ServiceNode;
  readonly names: readonly string[];
}

export class Resolver {
  /** Index builds in progress, by directory. */
  private readonly building = new Map<ServiceNode, Promise<CaseIndex>>();

  constructor(
    private readonly session: FuseSession,
    private readonly log: Logger,
    private readonly nodes: NodeTable,
    private readonly dentries: DentryCache,
    private readonly metadata: MetadataStore,
    private readonly longNames: LongNames,
    /** Present on case-insensitive volumes, unless `scanOnMiss`. */
    private readonly indexes: CaseIndexes | null,
    /**
     * Case-insensitive without an index (the virtio-win baseline): a miss of
     * the exact spelling reads the whole directory (READDIR in 4 KiB pages).
     */
    private readonly scanOnMiss = false,
  ) {}

  get caseInsensitive(): boolean {
    return this.indexes !== null || this.scanOnMiss;
  }

  /**
   * The child `name` of directory `dir`, or null when there is none (the
   * exact spelling first; on case-insensitive volumes then any spelling).
   */
  async child(dir: ServiceNode, name: string): Promise<NtResult<Found | null>> {
    const host = hostNameOf(name);
    if (!host.ok) return host;
    const exact = await this.lookupHost(dir, host.value);
    if (!exact.ok || exact.value !== null || !this.caseInsensitive) {
      return exact.ok ? ntOk(exact.value === null ? null : { node: exact.value, name }) : exact;
    }
    if (this.indexes === null) return this.scan(dir, name);
    const index = await this.indexOf(dir);
    if (!index.ok) return index;
    const stored = index.value.find(name);
    if (stored === undefined || stored === name) return ntOk(null);
    const storedHost = hostNameOf(stored);
    if (!storedHost.ok) return ntOk(null);
    const found = await this.lookupHost(dir, storedHost.value);
    if (!found.ok) return found;
    if (found.value === null) {
      // The index was stale after all (a host change within one timestamp tick).
      index.value.remove(stored);
      return ntOk(null);
    }
    return ntOk({ node: found.value, name: stored });
  }

  /** The baseline's miss: every name of `dir` read and compared, then a LOOKUP of the match. */
  private async scan(dir: ServiceNode, name: string): Promise<NtResult<Found | null>> {
    let names: string[];
    try {
      names = await this.listNames(dir, BASELINE_READDIR_SIZE);
    } catch (error) {
      return ntFail(statusOfError(error, this.log));
    }
    const key = foldName(name);
    const stored = names.find((n) => n !== name && foldName(n) === key);
    if (stored === undefined) return ntOk(null);
    const storedHost = hostNameOf(stored);
    if (!storedHost.ok) return ntOk(null);
    const found = await this.lookupHost(dir, storedHost.value);
    if (!found.ok || found.value === null) return found.ok ? ntOk(null) : found;
    return ntOk({ node: found.value, name: stored });
  }

  /** LOOKUP of a host name through the name cache; null for ENOENT. */
  private async lookupHost(dir: ServiceNode, host: string): Promise<NtResult<ServiceNode | null>> {
    const cached = this.dentries.get(dir, host);
    if (cached !== undefined) return ntOk(cached);
    try {
      const entry = await this.session.lookup(dir.nodeid, host);
      const node = this.nodes.adopt(entry);
      this.dentries.set(dir, host, node, deadlineOf(entry.entryValid, entry.entryValidNsec, this.nodes.maxCacheMs));
      return ntOk(node);
    } catch (error) {
      if (isErrno(error, Errno.ENOENT)) return ntOk(null);
      return ntFail(statusOfError(error, this.log, "lookup"));
    }
  }

  /** The case index of `dir`, rebuilt when the directory changed. */
  async indexOf(dir: ServiceNode): Promise<NtResult<CaseIndex>> {
    const indexes = this.indexes!;
    try {
      const attr = await this.metadata.attr(dir);
      const current = indexes.current(dir, attr);
      if (current !== undefined) return ntOk(current);
      // Misses in the same directory at the same time share one READDIR pass.
      let building = this.building.get(dir);
      if (building === undefined) {
        building = this.listNames(dir).then((names) => indexes.store(dir, attr, names));
        const done = (): void => void this.building.delete(dir);
        building.then(done, done);
        this.building.set(dir, building);
      }
      return ntOk(await building);
    } catch (error) {
      return ntFail(statusOfError(error, this.log));
    }
  }

  /** The Windows names in a directory (READDIR, no references taken; long names read back), in READDIR order. */
  async listNames(dir: ServiceNode, pageSize?: number): Promise<string[]> {
    const open = await this.session.opendir(dir.nodeid);
    try {
      const names: string[] = [];
      let offset = 0n;
      for (;;) {
        const page = await this.session.readdir(dir.nodeid, open.fh, offset, pageSize === undefined ? undefined : { size: pageSize });
        if (page.length === 0) return names;
        for (const d of page) {
          offset = d.off;
          const host = windowsNameOf(d.name) === undefined ? undefined : d.name.toString("utf8");
          if (host === undefined) continue;
          const name = await this.longNames.listedName(dir, host, 0n);
          if (name !== undefined) names.push(name);
        }
      }
    } finally {
      await this.session.releasedir(dir.nodeid, open.fh).catch(() => undefined);
    }
  }

  /**
   * The directory holding the last of `components` (the root for a single
   * component), retained, with the stored-case names of the path to it.
   */
  async walkParent(components: readonly string[]): Promise<NtResult<Walked>> {
    let dir = this.nodes.retain(this.nodes.root);
    const names: string[] = [];
    for (let i = 0; i < components.length - 1; i++) {
      const r = await this.child(dir, components[i]!);
      this.nodes.release(dir);
      if (!r.ok) return r.status === NtStatus.STATUS_NOT_A_DIRECTORY ? ntFail(NtStatus.STATUS_OBJECT_PATH_NOT_FOUND) : r;
      if (r.value === null) return ntFail(NtStatus.STATUS_OBJECT_PATH_NOT_FOUND);
      dir = r.value.node;
      names.push(r.value.name);
      if (dir.kind !== "directory") {
        this.nodes.release(dir);
        return ntFail(i === components.length - 2 ? NtStatus.STATUS_NOT_A_DIRECTORY : NtStatus.STATUS_OBJECT_PATH_NOT_FOUND);
      }
    }
    return ntOk({ node: dir, names });
  }

  /** The node named by `components` (the root for none), retained. */
  async walk(components: readonly string[]): Promise<NtResult<Walked>> {
    if (components.length === 0) return ntOk({ node: this.nodes.retain(this.nodes.root), names: [] });
    const parent = await this.walkParent(components);
    if (!parent.ok) return parent;
    const r = await this.child(parent.value.node, components[components.length - 1]!);
    this.nodes.release(parent.value.node);
    if (!r.ok) return r;
    if (r.value === null) return ntFail(NtStatus.STATUS_OBJECT_NAME_NOT_FOUND);
    return ntOk({ node: r.value.node, names: [...parent.value.names, r.value.name] });
  }

  /**
   * Whether `name` is free in `dir`: STATUS_OBJECT_NAME_COLLISION when it
   * exists, or (case-insensitive volumes) another spelling of it does.
   */
  async checkFree(dir: ServiceNode, name: string): Promise<NtResult<void>> {
    const r = await this.child(dir, name);
    if (!r.ok) return r;
    if (r.value !== null) {
      this.nodes.release(r.value.node);
      return ntFail(NtStatus.STATUS_OBJECT_NAME_COLLISION);
    }
    return ntOk(undefined);
  }

  /** Our own create of `name` (host spelling `host`) in `dir`. */
  noteAdded(dir: ServiceNode, name: string, host: string, node: ServiceNode, entry: { entryValid: bigint; entryValidNsec: number }): void {
    this.dentries.set(dir, host, node, deadlineOf(entry.entryValid, entry.entryValidNsec, this.nodes.maxCacheMs));
    this.indexes?.noteChange(dir, { added: name });
    this.metadata.expireAttr(dir);
  }

  /** Our own removal of `name` from `dir`. */
  noteRemoved(dir: ServiceNode, name: string, host: string): void {
    this.dentries.delete(dir, host);
    this.indexes?.noteChange(dir, { removed: name });
    this.metadata.expireAttr(dir);
  }
}
