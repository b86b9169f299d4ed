/**
 * Host metadata as Windows sees it: attributes from GETATTR (or STATX, for
 * the birth time), the xattrs Samba keeps Windows metadata in, and the
 * FSP_FSCTL_FILE_INFO built from both.
 *
 * - Attributes are trusted for the server's attribute timeout (capped by the
 *   service option), as a kernel FUSE client trusts them.
 * - The xattr-derived part ({@link XattrMeta}) is read with one LISTXATTR
 *   and the few values that matter, and kept while the node's ctime stays
 *   the same: every xattr change on Linux moves the ctime. Our own changes
 *   update it in place and adopt the next ctime seen. Summaries also
 *   outlive their nodes, by inode number and ctime (bounded, least recently
 *   used first out), so listing a directory again after its nodes were
 *   forgotten asks for none whose file did not change.
 * - DOS attributes and the creation time live in `user.DOSATTRIB` (read: every
 *   version; write: v3 with the creation time, or v5 by option). Without
 *   it, Samba's defaults: no attribute beyond DIRECTORY, HIDDEN for dot
 *   names (option), and the creation time from STATX's birth time when the
 *   backend has one, else Samba's calculated min(ctime, mtime, atime).
 * - Mode bits are never changed for READONLY: it lives in the xattr only.
 */
import { ProtocolError } from "../common/errors.js";
import { Errno } from "../common/errno.js";
import type { Logger } from "../common/log.js";
import { StatxMask } from "../fuse/abi.js";
import type { AttrOut, EntryOut } from "../fuse/structs.js";
import type { FuseSession } from "../guest/session.js";
import {
  DOSATTRIB_XATTR,
  FileAttribute,
  calculatedCreateTime,
  decodeDosAttrib,
  encodeDosAttrib,
  isDotName,
  type DosAttrib,
} from "../windows/attributes.js";
import { eaNameOfXattr, isListableEaValue } from "../windows/ea.js";
import { unixNsToFiletime } from "../windows/filetime.js";
import { REPARSE_XATTR, ReparseTag } from "../windows/reparse.js";
import { listStreams } from "../windows/streams.js";
import type { FileInfo } from "../winfsp/interface.js";
import { reparseTagOf } from "../winfsp/reparse-resolve.js";
import { deadlineOf, hostAttrFromFuse, hostAttrFromStatx, type HostAttr, type ServiceNode, type XattrMeta } from "./nodes.js";
import { isErrno } from "./status.js";

const A = FileAttribute;

/**
 * Errnos of xattr calls that mean "not here": ENOSYS is the whole backend
 * (virtiofsd without `--xattr`), EOPNOTSUPP the host file system of one file.
 */
export const NO_XATTR_SUPPORT = [Errno.ENOSYS, Errno.EOPNOTSUPP] as const;

/** How the store behaves. */
export interface MetadataOptions {
  /** `user.DOSATTRIB` version written: 3 (default; Samba 3.5+ and Wine read it) or 5 (Samba 4.17+'s own). */
  readonly dosAttribVersion: 3 | 5;
  /** Samba's `hide dot files`: names starting with `.` read as HIDDEN. */
  readonly hideDotFiles: boolean;
  /** The allocation unit (sector size × sectors per unit). */
  readonly allocationUnit: bigint;
  /** Longest time attributes are trusted, ms. */
  readonly maxCacheMs: number;
  /** Most xattr summaries kept for nodes no longer held, by inode and ctime (0: none). */
  readonly metaCacheSize: number;
}

/** An XattrMeta for nodes without xattrs. */
function emptyMeta(): XattrMeta {
  return { names: new Set(), dos: undefined, reparse: undefined, eaSize: 0, streams: [] };
}

/** The attributes a DOSATTRIB holds for a node, with NORMAL and DIRECTORY taken out (they are derived). */
export function storedAttributes(meta: XattrMeta): number {
  return (meta.dos?.attributes ?? 0) & ~(A.FILE_ATTRIBUTE_NORMAL | A.FILE_ATTRIBUTE_DIRECTORY);
}

/** Reads and writes the metadata of nodes through the session. */
export class MetadataStore {
  /** Whether the backend answers STATX; undefined until the first try. */
  private statxSupported: boolean | undefined = undefined;
  /** Whether the backend keeps xattrs at all (false when it answers ENOSYS to them). */
  xattrsSupported = true;
  /** Summaries by `ino:ctime` (see the module comment), least recently used first. */
  private readonly known = new Map<string, XattrMeta>();

  constructor(
    private readonly session: FuseSession,
    private readonly log: Logger,
    readonly options: MetadataOptions,
  ) {}

  /** True once the backend answered a STATX (birth times are available). */
  get hasStatx(): boolean {
    return this.statxSupported === true;
  }

  /** The node's attributes, fetched again when the cached ones expired. */
  async attr(node: ServiceNode, fh?: bigint): Promise<HostAttr> {
    if (performance.now() < node.attrDeadline) return node.attr;
    return this.refreshAttr(node, fh);
  }

  /** The node's attributes, fetched now (STATX where the backend has it, for the birth time). */
  async refreshAttr(node: ServiceNode, fh?: bigint): Promise<HostAttr> {
    if (this.statxSupported !== false) {
      try {
        const out = await this.session.statx(node.nodeid, { ...(fh === undefined ? {} : { fh }), mask: StatxMask.BASIC_STATS | StatxMask.BTIME });
        this.statxSupported = true;
        node.attr = hostAttrFromStatx(out.stat);
        node.attrDeadline = deadlineOf(out.attrValid, out.attrValidNsec, this.options.maxCacheMs);
        return node.attr;
      } catch (error) {
        if (!isErrno(error, Errno.ENOSYS)) throw error;
        this.statxSupported = false;
      }
    }
    const out = await this.session.getattr(node.nodeid, fh);
    this.noteAttr(node, out);
    return node.attr;
  }

  /** Takes the attributes of a GETATTR/SETATTR reply (a birth time already known is kept: it never changes). */
  noteAttr(node: ServiceNode, out: AttrOut): void {
    const attr = hostAttrFromFuse(out.attr);
    const btime = node.attr.btimeNs;
    node.attr = btime === undefined ? attr : { ...attr, btimeNs: btime };
    node.attrDeadline = deadlineOf(out.attrValid, out.attrValidNsec, this.options.maxCacheMs);
  }

  /** Takes the attributes of an entry reply. */
  noteEntry(node: ServiceNode, entry: EntryOut): void {
    this.noteAttr(node, { attrValid: entry.attrValid, attrValidNsec: entry.attrValidNsec, attr: entry.attr });
  }

  /**
   * Our own WRITE ended at `end`: the cached size grows to it and the write
   * and change times move to now, without asking the host (its own times
   * come with the next refresh, when the cached attributes expire). Data
   * writes leave xattrs alone, so metadata current before the write stays
   * current: it adopts the next ctime seen.
   */
  noteWrite(node: ServiceNode, end: bigint): void {
    const before = node.attr;
    const now = BigInt(Date.now()) * 1_000_000n;
    node.attr = { ...before, size: end > before.size ? end : before.size, mtimeNs: now, ctimeNs: now };
    if (node.meta !== null && node.metaStamp === before.ctimeNs) {
      node.metaStamp = now;
      node.metaAdopt = true;
    }
  }

  /** Forces the next {@link attr} to ask the host. */
  expireAttr(node: ServiceNode): void {
    node.attrDeadline = 0;
  }

  /** Marks `node.meta`, just changed by us, as current: the next ctime seen is adopted, and attributes are re-read. */
  noteOwnXattrChange(node: ServiceNode): void {
    node.metaAdopt = true;
    node.attrDeadline = 0;
  }

  /** The xattr-derived metadata of a node (empty for nodes that cannot hold xattrs). */
  async meta(node: ServiceNode): Promise<XattrMeta> {
    if (!node.holdsXattrs || !this.xattrsSupported) return (node.meta ??= emptyMeta());
    const attr = await this.attr(node);
    if (node.meta !== null) {
      if (node.metaStamp === attr.ctimeNs) return node.meta;
      if (node.metaAdopt) {
        node.metaAdopt = false;
        node.metaStamp = attr.ctimeNs;
        return node.meta;
      }
    }
    const key = `${attr.ino}:${attr.ctimeNs}`;
    let meta = this.known.get(key);
    if (meta !== undefined) this.known.delete(key);
    else meta = await this.readMeta(node);
    if (this.options.metaCacheSize > 0) {
      this.known.set(key, meta);
      if (this.known.size > this.options.metaCacheSize) this.known.delete(this.known.keys().next().value as string);
    }
    node.meta = meta;
    node.metaStamp = attr.ctimeNs;
    node.metaAdopt = false;
    return meta;
  }

  /** Forgets the node's xattr summary (after a change it does not reflect): the next {@link meta} reads it again. */
  dropMeta(node: ServiceNode): void {
    if (node.metaStamp !== null) this.known.delete(`${node.attr.ino}:${node.metaStamp}`);
    node.meta = null;
    node.metaStamp = null;
  }

  /** Forgets every summary kept for nodes no longer held. */
  clearMeta(): void {
    this.known.clear();
  }

  /**
   * An xattr's value, or undefined when the file has none (ENODATA). Asks
   * for `guess` bytes first and for the whole 64 KiB only when that was too
   * little (ERANGE), to keep guest buffers small.
   */
  async getXattr(node: ServiceNode, name: string, guess = 4096): Promise<Uint8Array | undefined> {
    try {
      try {
        return await this.session.getxattr(node.nodeid, name, guess);
      } catch (error) {
        if (!isErrno(error, Errno.ERANGE)) throw error;
        return await this.session.getxattr(node.nodeid, name);
      }
    } catch (error) {
      if (isErrno(error, Errno.ENODATA)) return undefined;
      throw error;
    }
  }

  private async readMeta(node: ServiceNode): Promise<XattrMeta> {
    let list: string[];
    try {
      list = await this.session.listxattr(node.nodeid);
    } catch (error) {
      if (!isErrno(error, ...NO_XATTR_SUPPORT)) throw error;
      if (error.errno === Errno.ENOSYS) this.noteNoXattrs(error.message);
      return emptyMeta();
    }
    const names = new Set(list);
    const meta: XattrMeta = { names, dos: undefined, reparse: undefined, eaSize: 0, streams: listStreams(list) };
    const work: Promise<void>[] = [];
    if (names.has(DOSATTRIB_XATTR)) {
      work.push(
        this.getXattr(node, DOSATTRIB_XATTR, 256).then((value) => {
          meta.dos = value === undefined ? undefined : this.decodeDos(node, value);
        }),
      );
    }
    if (names.has(REPARSE_XATTR)) {
      work.push(
        this.getXattr(node, REPARSE_XATTR, 16384).then((value) => {
          meta.reparse = value;
        }),
      );
    }
    for (const x of list) {
      const ea = eaNameOfXattr(x);
      if (ea === undefined) continue;
      work.push(
        this.session.getxattrSize(node.nodeid, x).then(
          (length) => {
            if (isListableEaValue(length)) meta.eaSize += 5 + Buffer.byteLength(ea, "latin1") + length;
          },
          (error: unknown) => {
            if (!isErrno(error, Errno.ENODATA)) throw error;
          },
        ),
      );
    }
    await Promise.all(work);
    return meta;
  }

  private decodeDos(node: ServiceNode, value: Uint8Array): DosAttrib | undefined {
    try {
      return decodeDosAttrib(value);
    } catch (error) {
      if (!ProtocolError.is(error)) throw error;
      // Samba ignores a value it cannot parse; so do we, and say so.
      this.log.warn(`service: node ${node.nodeid}: ignoring ${DOSATTRIB_XATTR}: ${error.message}`);
      return undefined;
    }
  }

  /** Notes, once, that the backend keeps no xattrs. */
  noteNoXattrs(why: string): void {
    if (!this.xattrsSupported) return;
    this.xattrsSupported = false;
    this.log.warn(`service: the backend keeps no xattrs (${why}); DOS attributes, ACLs, streams and EAs are not persisted`);
  }

  /**
   * Writes `user.DOSATTRIB` with `attributes` (DIRECTORY added for
   * directories, as Samba stores it) and `createTime`, and updates the
   * cached metadata. Throws the ErrnoError of a failed SETXATTR.
   */
  async writeDos(node: ServiceNode, attributes: number, createTime: bigint): Promise<void> {
    const meta = await this.meta(node);
    let stored = attributes & ~(A.FILE_ATTRIBUTE_NORMAL | A.FILE_ATTRIBUTE_DIRECTORY);
    if (node.kind === "directory") stored |= A.FILE_ATTRIBUTE_DIRECTORY;
    const value = encodeDosAttrib({ attributes: stored >>> 0, createTime }, this.options.dosAttribVersion);
    await this.session.setxattr(node.nodeid, DOSATTRIB_XATTR, value);
    meta.dos = decodeDosAttrib(value);
    meta.names.add(DOSATTRIB_XATTR);
    this.noteOwnXattrChange(node);
  }

  /** The creation time Windows sees: the stored one, else the birth time, else Samba's calculated one. */
  creationTime(attr: HostAttr, meta: XattrMeta): bigint {
    if (meta.dos?.createTime !== undefined) return meta.dos.createTime;
    if (attr.btimeNs !== undefined) return unixNsToFiletime(attr.btimeNs);
    return calculatedCreateTime(attr);
  }

  roundUp(size: bigint): bigint {
    const unit = this.options.allocationUnit;
    return ((size + unit - 1n) / unit) * unit;
  }

  /**
   * FSP_FSCTL_FILE_INFO of a main file or directory.
   *
   * @param name its last component (HIDDEN for dot names)
   * @param linkIsDirectory for a symlink: whether it resolves to a directory
   */
  fileInfo(node: ServiceNode, attr: HostAttr, meta: XattrMeta, name: string, linkIsDirectory = false): FileInfo {
    const kind = node.kind;
    let attributes = 0;
    let reparseTag = 0;
    if (kind === "file" || kind === "directory") {
      attributes = storedAttributes(meta);
      if ((attributes & A.FILE_ATTRIBUTE_REPARSE_POINT) !== 0) {
        const tag = meta.reparse === undefined ? null : reparseTagOf(meta.reparse);
        if (tag === null) attributes &= ~A.FILE_ATTRIBUTE_REPARSE_POINT;
        else reparseTag = tag;
      }
      if (kind === "directory") attributes |= A.FILE_ATTRIBUTE_DIRECTORY;
    } else if (kind === "symlink") {
      attributes = A.FILE_ATTRIBUTE_REPARSE_POINT | (linkIsDirectory ? A.FILE_ATTRIBUTE_DIRECTORY : 0);
      reparseTag = ReparseTag.IO_REPARSE_TAG_SYMLINK;
    } else {
      attributes = A.FILE_ATTRIBUTE_REPARSE_POINT;
      reparseTag = ReparseTag.IO_REPARSE_TAG_NFS;
    }
    if (this.options.hideDotFiles && isDotName(name)) attributes |= A.FILE_ATTRIBUTE_HIDDEN;
    const isFile = kind === "file";
    const fileSize = isFile ? attr.size : 0n;
    let allocationSize = isFile ? this.roundUp(fileSize) : 0n;
    if (isFile && node.allocationHint !== null && node.allocationHint > allocationSize) allocationSize = node.allocationHint;
    return {
      fileAttributes: attributes >>> 0,
      reparseTag,
      allocationSize,
      fileSize,
      creationTime: this.creationTime(attr, meta),
      lastAccessTime: unixNsToFiletime(attr.atimeNs),
      lastWriteTime: unixNsToFiletime(attr.mtimeNs),
      changeTime: unixNsToFiletime(attr.ctimeNs),
      indexNumber: attr.ino,
      hardLinks: 0,
      eaSize: meta.eaSize,
    };
  }

  /** A named stream's information: its main file's, without DIRECTORY, with the stream's own sizes. */
  streamInfo(main: FileInfo, streamSize: number): FileInfo {
    const size = BigInt(streamSize);
    return {
      ...main,
      fileAttributes: (main.fileAttributes & ~A.FILE_ATTRIBUTE_DIRECTORY) >>> 0,
      fileSize: size,
      allocationSize: this.roundUp(size),
    };
  }
}
