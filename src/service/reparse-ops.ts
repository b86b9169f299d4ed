/**
 * Reparse points as the service keeps them on the host (see
 * reparse-store.ts for the formats): resolving names through symbolic links
 * (WinFsp's helpers in src/winfsp/reparse-resolve.ts, fed asynchronously),
 * and making or removing reparse points, which for symlinks and NFS special
 * files replaces the file's inode.
 */
import { ProtocolError } from "../common/errors.js";
import { Errno } from "../common/errno.js";
import { Mode, OpenFlag } from "../fuse/abi.js";
import type { EntryOut } from "../fuse/structs.js";
import { FileAttribute } from "../windows/attributes.js";
import { dateToFiletime } from "../windows/filetime.js";
import { NtStatus } from "../windows/ntstatus.js";
import { REPARSE_XATTR, SYMLINK_FLAG_RELATIVE, canReplaceReparsePoint, decodeReparseBuffer, mknodForNfsReparse } from "../windows/reparse.js";
import { NT_OK, ntFail, type NtResult, type ReparseResolution } from "../winfsp/interface.js";
import { findReparsePoint, reparseTagOf, resolveReparsePoints } from "../winfsp/reparse-resolve.js";
import type { FuseFileContext, Handles } from "./context.js";
import { directoryIsEmpty } from "./directory.js";
import { storedAttributes } from "./metadata.js";
import { hostNameOf, joinWindowsPath, lastComponent, longNameValue, parseWindowsPath } from "./names.js";
import type { ServiceNode } from "./nodes.js";
import { hostSymlinkTarget, isDirectoryLinkTarget, type ReparseStore } from "./reparse-store.js";
import { isErrno } from "./status.js";
import type { Volume } from "./volume.js";

const A = FileAttribute;

/** A name for the new inode while it is made, in the same directory. */
function temporaryName(): string {
  return `.viofs-${Math.random().toString(36).slice(2, 10)}`;
}

export class ReparseOps {
  constructor(
    private readonly v: Volume,
    private readonly store: ReparseStore,
    private readonly handles: Handles,
  ) {}

  /** FspFileSystemFindReparsePoint over the host: the index of the first reparse-point component of `fileName`, or null. */
  findIndex(fileName: string): Promise<number | null> {
    return this.withNames((byName) => findReparsePoint(byName, fileName));
  }

  /** Whether a symlink resolves (inside the volume) to a directory; a dangling or outside link is not. */
  async linkIsDirectory(node: ServiceNode, names: readonly string[]): Promise<boolean> {
    const cached = node.linkIsDirectory;
    if (cached !== null && cached.deadline > performance.now()) return cached.value;
    if (isDirectoryLinkTarget(await this.store.linkTarget(node))) {
      node.linkIsDirectory = { value: true, deadline: Number.POSITIVE_INFINITY };
      return true;
    }
    let value = false;
    const resolved = await this.resolve(joinWindowsPath(names), 0, true);
    if (resolved.ok) {
      try {
        const link = decodeReparseBuffer(resolved.value.buffer);
        if (link.kind === "symlink" && (link.flags & SYMLINK_FLAG_RELATIVE) !== 0) {
          const target = parseWindowsPath(link.substituteName);
          if (target.ok) {
            const w = await this.v.resolver.walk(target.value.components);
            if (w.ok) {
              value = w.value.node.kind === "directory";
              this.v.nodes.release(w.value.node);
            }
          }
        }
      } catch (error) {
        if (!ProtocolError.is(error)) throw error;
      }
    }
    node.linkIsDirectory = { value, deadline: performance.now() + this.v.options.maxCacheMs };
    return value;
  }

  /** GetReparsePointByName: the reparse buffer of a main file or directory by name. */
  private async byName(fileName: string): Promise<NtResult<Uint8Array>> {
    const parsed = parseWindowsPath(fileName);
    if (!parsed.ok) return parsed;
    const w = await this.v.resolver.walk(parsed.value.components);
    if (!w.ok) return w;
    try {
      return await this.store.bufferOf(w.value.node);
    } finally {
      this.v.nodes.release(w.value.node);
    }
  }

  /**
   * Runs a synchronous helper of reparse-resolve.ts that asks for reparse
   * points by name: names it asks for that are not known yet are fetched
   * (all of one round together) and the helper is run again, until it ran
   * without asking for anything new.
   */
  private async withNames<T>(run: (byName: (name: string) => NtResult<Uint8Array>) => T): Promise<T> {
    const known = new Map<string, NtResult<Uint8Array>>();
    for (let round = 0; ; round++) {
      const missing = new Set<string>();
      const result = run((name) => {
        const k = known.get(name);
        if (k !== undefined) return k;
        missing.add(name);
        return ntFail(NtStatus.STATUS_NOT_A_REPARSE_POINT);
      });
      if (missing.size === 0 || round > 64) return result;
      const fetched = await Promise.all([...missing].map(async (name) => [name, await this.byName(name)] as const));
      for (const [name, r] of fetched) known.set(name, r);
    }
  }

  /** FspFileSystemResolveReparsePoints over the host (see the ResolveReparsePoints member). */
  resolve(fileName: string, index: number, resolveLast: boolean): Promise<NtResult<ReparseResolution>> {
    return this.withNames((byName) => resolveReparsePoints(byName, fileName, index, resolveLast));
  }

  /**
   * Makes the context's file a reparse point (see the module comment):
   * the same tag (and GUID) as an existing one, an empty directory.
   */
  async set(ctx: FuseFileContext, buffer: Uint8Array): Promise<NtResult<void>> {
    const node = ctx.node;
    const tag = reparseTagOf(buffer);
    if (tag === null) return ntFail(NtStatus.STATUS_IO_REPARSE_DATA_INVALID);
    const existing = await this.store.bufferOf(node);
    if (existing.ok) {
      const status = canReplaceReparsePoint(existing.value, buffer);
      if (status !== NtStatus.STATUS_SUCCESS) return ntFail(status);
    }
    if (node.kind === "directory" && !(await directoryIsEmpty(this.v.session, node))) return ntFail(NtStatus.STATUS_DIRECTORY_NOT_EMPTY);
    let point;
    try {
      point = decodeReparseBuffer(buffer);
    } catch (error) {
      if (ProtocolError.is(error)) return ntFail(NtStatus.STATUS_IO_REPARSE_DATA_INVALID);
      throw error;
    }
    if (point.kind === "symlink") {
      // Set on a directory: a directory link (SYMBOLIC_LINK_FLAG_DIRECTORY); a link being replaced keeps its kind.
      const directory = node.kind === "directory" || (node.kind === "symlink" && isDirectoryLinkTarget(await this.store.linkTarget(node)));
      const target = hostSymlinkTarget(point.substituteName, point.flags, ctx.names, this.store.hostRoot, directory);
      if (!target.ok) return target;
      return this.replaceInode(ctx, (parent, temp) => this.v.session.symlink(parent.nodeid, temp, target.value, this.v.creds));
    }
    if (point.kind === "nfs") {
      const made = mknodForNfsReparse(point);
      if (made === undefined) {
        const target = point.target ?? "";
        if (target.length === 0) return ntFail(NtStatus.STATUS_IO_REPARSE_DATA_INVALID);
        return this.replaceInode(ctx, (parent, temp) => this.v.session.symlink(parent.nodeid, temp, target, this.v.creds));
      }
      return this.replaceInode(ctx, (parent, temp) =>
        this.v.session.mknod(parent.nodeid, temp, made.fileType | this.v.options.fileMode, Number(made.rdev), 0, this.v.creds),
      );
    }
    if (!node.holdsXattrs) return ntFail(NtStatus.STATUS_IO_REPARSE_TAG_MISMATCH);
    if (!this.v.metadata.xattrsSupported) return ntFail(NtStatus.STATUS_NOT_SUPPORTED);
    return node.lock.run(async () => {
      await this.v.session.setxattr(node.nodeid, REPARSE_XATTR, buffer);
      const meta = await this.v.metadata.meta(node);
      meta.reparse = buffer.slice();
      meta.names.add(REPARSE_XATTR);
      const attr = await this.v.metadata.attr(node);
      const attributes = storedAttributes(meta) | A.FILE_ATTRIBUTE_REPARSE_POINT;
      await this.v.metadata.writeDos(node, attributes, this.v.metadata.creationTime(attr, meta));
      return NT_OK;
    });
  }

  /**
   * DeleteReparsePoint: same tag (and GUID) as set. A symlink or special
   * file becomes an empty file again (an empty directory for a link to a
   * directory); a stored reparse point loses its xattr and attribute.
   */
  async delete(ctx: FuseFileContext, buffer: Uint8Array): Promise<NtResult<void>> {
    const node = ctx.node;
    const existing = await this.store.bufferOf(node);
    if (!existing.ok) return existing;
    const status = canReplaceReparsePoint(existing.value, buffer);
    if (status !== NtStatus.STATUS_SUCCESS) return ntFail(status);
    if (node.holdsXattrs) {
      return node.lock.run(async () => {
        try {
          await this.v.session.removexattr(node.nodeid, REPARSE_XATTR);
        } catch (error) {
          if (!isErrno(error, Errno.ENODATA)) throw error;
        }
        const meta = await this.v.metadata.meta(node);
        meta.reparse = undefined;
        meta.names.delete(REPARSE_XATTR);
        const attr = await this.v.metadata.attr(node);
        await this.v.metadata.writeDos(node, storedAttributes(meta) & ~A.FILE_ATTRIBUTE_REPARSE_POINT, this.v.metadata.creationTime(attr, meta));
        return NT_OK;
      });
    }
    const asDirectory = node.kind === "symlink" && (await this.linkIsDirectory(node, ctx.names));
    const replaced = await this.replaceInode(ctx, async (parent, temp) => {
      if (asDirectory) return this.v.session.mkdir(parent.nodeid, temp, this.v.options.directoryMode, 0, this.v.creds);
      const created = await this.v.session.create(parent.nodeid, temp, Mode.S_IFREG | this.v.options.fileMode, OpenFlag.O_CREAT | OpenFlag.O_EXCL | OpenFlag.O_WRONLY, 0, this.v.creds);
      await this.v.session.release(created.entry.nodeid, created.open.fh).catch(() => undefined);
      return created.entry;
    });
    if (!replaced.ok) return replaced;
    await this.v.metadata.writeDos(node, asDirectory ? 0 : A.FILE_ATTRIBUTE_ARCHIVE, dateToFiletime(new Date()));
    return NT_OK;
  }

  /**
   * Replaces the inode behind a context's name with one `make` creates (under
   * a temporary name in the same directory, then renamed over the name; a
   * directory on either side is removed first, as rename cannot replace
   * across kinds). The context's node is rebound to the new inode.
   */
  private async replaceInode(
    ctx: FuseFileContext,
    make: (parent: ServiceNode, temp: string) => Promise<EntryOut>,
  ): Promise<NtResult<void>> {
    const node = ctx.node;
    if (node.pinned || ctx.names.length === 0) return ntFail(NtStatus.STATUS_ACCESS_DENIED);
    const parentWalk = await this.v.resolver.walkParent(ctx.names);
    if (!parentWalk.ok) return parentWalk;
    const parent = parentWalk.value.node;
    try {
      const name = lastComponent(ctx.names);
      const host = hostNameOf(name);
      if (!host.ok) return host;
      const temp = temporaryName();
      const entry = await make(parent, temp);
      const newIsDirectory = (entry.attr.mode & Mode.S_IFMT) === Mode.S_IFDIR;
      const long = longNameValue(name);
      if (long !== null && !newIsDirectory && (entry.attr.mode & Mode.S_IFMT) !== Mode.S_IFREG) {
        // A symlink or special file holds no user.* xattrs, so it cannot keep a long name.
        await this.v.session.unlink(parent.nodeid, temp).catch(() => undefined);
        this.v.session.forget(entry.nodeid, 1);
        return ntFail(NtStatus.STATUS_OBJECT_NAME_INVALID);
      }
      try {
        if (node.kind === "directory" || newIsDirectory) {
          if (node.kind === "directory") await this.v.session.rmdir(parent.nodeid, host.value);
          else await this.v.session.unlink(parent.nodeid, host.value);
        }
        await this.v.session.rename(parent.nodeid, temp, parent.nodeid, host.value);
      } catch (error) {
        await (newIsDirectory ? this.v.session.rmdir(parent.nodeid, temp) : this.v.session.unlink(parent.nodeid, temp)).catch(() => undefined);
        this.v.session.forget(entry.nodeid, 1);
        throw error;
      }
      await this.handles.drop(ctx);
      this.v.resolver.noteRemoved(parent, name, host.value);
      this.v.nodes.rebind(node, entry);
      if (long !== null && !(await this.v.longNames.store(node, long))) this.v.log.warn(`service: ${joinWindowsPath(ctx.names)} lost its long name (listed by its host name)`);
      this.v.resolver.noteAdded(parent, name, host.value, node, entry);
      return NT_OK;
    } finally {
      this.v.nodes.release(parent);
    }
  }
}
