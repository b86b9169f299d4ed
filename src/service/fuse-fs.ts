/**
 * FuseWindowsFileSystem: WinFsp's FSP_FILE_SYSTEM_INTERFACE over FUSE
 * requests, through a {@link FuseSession} to a virtio-fs device (QEMU's
 * virtiofsd, Rust virtiofsd or `viofs serve`). The role virtio-win's
 * `virtiofs.exe` plays, with Windows metadata kept in the host's xattrs in
 * Samba's formats, so a Samba server sharing the same directory shows the
 * same attributes, creation times, ACLs, streams, EAs and reparse points.
 *
 * The semantics are MemoryFileSystem's (src/winfsp/memfs.ts) wherever the
 * host allows; where it does not, the member's comment says what differs.
 *
 * Shape:
 * - names.ts: Windows ↔ host names; resolver.ts: paths → nodes (name cache,
 *   case-insensitive fall-back through case-index.ts); nodes.ts: node
 *   lifetimes and FUSE lookup counts (every reference is given back, so the
 *   server's FORGETs flow); context.ts: file contexts and their FUSE handles;
 * - metadata.ts: attributes, `user.DOSATTRIB`, FileInfo; acl-store.ts:
 *   `security.NTACL` / `user.NTACL`; stream-store.ts: `user.DosStream.*`;
 *   ea-store.ts: `user.<EA>`; reparse-store.ts and reparse-ops.ts: symlinks,
 *   NFS special files, `user.SmbReparse`, link resolution; directory.ts:
 *   listings; rename.ts: Rename; volume.ts: the parts they share;
 * - this file: the interface members.
 *
 * File contexts: one {@link FuseFileContext} per open. A context on a
 * regular file holds a FUSE file handle when the opener was granted data
 * access (read and/or write), opened with the matching flags; directories
 * are opened (OPENDIR) only while a listing snapshot is taken. A context on
 * a named stream names its main file's node and the stream; its I/O is
 * read-modify-write of the stream's xattr (stream-store.ts).
 */
import type { Logger } from "../common/log.js";
import { log as processLog } from "../common/log.js";
import { ProtocolError } from "../common/errors.js";
import { Errno } from "../common/errno.js";
import { FUSE_ROOT_ID, Falloc, Mode, OpenFlag } from "../fuse/abi.js";
import type { CallOptions, FuseSession, SetTime } from "../guest/session.js";
import { FileAttribute, INVALID_FILE_ATTRIBUTES } from "../windows/attributes.js";
import { decodeSecurityDescriptor } from "../windows/security.js";
import { dateToFiletime, filetimeToUnixNs, unixNsToFiletime } from "../windows/filetime.js";
import { NtStatus } from "../windows/ntstatus.js";
import { CleanupFlag, CreateOption } from "../winfsp/constants.js";
import {
  NT_OK,
  VOLUME_LABEL_MAX,
  ntFail,
  ntOk,
  type BasicInfoIn,
  type CreateExIn,
  type CreateIn,
  type DirInfo,
  type DirectoryChunk,
  type FileInfo,
  type FileSystemInterface,
  type FullEa,
  type NtResult,
  type OpenIn,
  type OpenResult,
  type OverwriteExIn,
  type OverwriteIn,
  type ReparseResolution,
  type SecurityByName,
  type StreamInfo,
  type VolumeInfo,
  type VolumeParams,
  type WriteOut,
} from "../winfsp/interface.js";
import { applySecurityDescriptor } from "../winfsp/security-merge.js";
import { volumeParams } from "../winfsp/volume-params.js";
import { AclStore } from "./acl-store.js";
import { LongNames } from "./long-names.js";
import { serialSession } from "./baseline.js";
import { CaseIndexes } from "./case-index.js";
import { FuseFileContext, Handles, READ_ACCESS, WRITE_ACCESS } from "./context.js";
import { readSplit, writeSplit } from "./data-io.js";
import { DirectoryReader, directoryIsEmpty } from "./directory.js";
import { EaStore } from "./ea-store.js";
import { MetadataStore, NO_XATTR_SUPPORT, storedAttributes } from "./metadata.js";
import { foldName, hostNameOf, lastComponent, longNameValue, mayCreateName, parseWindowsPath } from "./names.js";
import { DentryCache, NodeTable, hostAttrFromFuse, type HostAttr, type ServiceNode } from "./nodes.js";
import { resolveOptions, type FuseWindowsOptions, type ResolvedOptions } from "./options.js";
import { ReparseStore } from "./reparse-store.js";
import { Renamer } from "./rename.js";
import { ReparseOps } from "./reparse-ops.js";
import { Resolver } from "./resolver.js";
import { isErrno, statusOfError } from "./status.js";
import { StreamStore } from "./stream-store.js";
import type { Volume } from "./volume.js";

export { FuseFileContext };

const A = FileAttribute;

/** DeviceIoControl codes the service answers (DeviceType 0x8000 + 'V', METHOD_BUFFERED, FILE_ANY_ACCESS). */
export const ViofsControl = {
  /** Drop every cached name, attribute and case index (after changes made on the host). No input, no output. */
  INVALIDATE_CACHES: 0x80560124,
  /** A UTF-8 JSON description of the share: tag, FUSE protocol, limits, where ACLs go. */
  QUERY_SHARE: 0x80560144,
} as const;

/** Attributes the caller may give; the rest follow from what the file is. */
const DERIVED = A.FILE_ATTRIBUTE_NORMAL | A.FILE_ATTRIBUTE_DIRECTORY | A.FILE_ATTRIBUTE_REPARSE_POINT;

/** Unix nanoseconds as a SETATTR time (seconds travel as u64; the server reads them back as time_t). */
function nsToSetTime(ns: bigint): { sec: bigint; nsec: number } {
  let sec = ns / 1_000_000_000n;
  let nsec = ns - sec * 1_000_000_000n;
  if (nsec < 0n) {
    sec -= 1n;
    nsec += 1_000_000_000n;
  }
  return { sec: BigInt.asUintN(64, sec), nsec: Number(nsec) };
}

function filetimeToSetTime(ft: bigint): { sec: bigint; nsec: number } {
  return nsToSetTime(filetimeToUnixNs(ft));
}

/** The Windows file-system service over one FUSE session. */
export class FuseWindowsFileSystem implements FileSystemInterface<FuseFileContext> {
  readonly volumeParams: VolumeParams;
  private readonly log: Logger;
  private readonly options: ResolvedOptions;
  private readonly nodes: NodeTable;
  private readonly dentries: DentryCache;
  private readonly indexes: CaseIndexes | null;
  private readonly metadata: MetadataStore;
  private readonly resolver: Resolver;
  private readonly longNames: LongNames;
  private readonly acls: AclStore;
  private readonly streams: StreamStore;
  private readonly eas: EaStore;
  private readonly reparse: ReparseStore;
  private readonly creds: CallOptions | undefined;
  private readonly allocationUnit: bigint;
  private readonly handles: Handles;
  private readonly links: ReparseOps;
  private readonly dirs: DirectoryReader;
  private readonly renamer: Renamer;
  private volumeLabel: string;
  private stopped: boolean | null = null;

  /** The session requests go through (one at a time under the virtio-win baseline). */
  readonly session: FuseSession;

  private constructor(
    session: FuseSession,
    options: FuseWindowsOptions,
    rootAttr: HostAttr,
    /** The share's name. */
    readonly tag: string | undefined,
    /** Whether the backend keeps xattrs (Windows metadata needs them). */
    xattrs: boolean,
  ) {
    this.options = resolveOptions(options);
    this.log = options.log ?? processLog;
    const o = this.options;
    if (o.baseline !== null) session = serialSession(session);
    this.session = session;
    this.allocationUnit = BigInt(o.sectorSize);
    this.nodes = new NodeTable(session, rootAttr, o.maxCacheMs);
    this.dentries = new DentryCache(this.nodes, o.nameCacheSize);
    this.indexes = o.caseInsensitive && o.baseline === null ? new CaseIndexes(this.nodes, o.caseIndexCount) : null;
    this.metadata = new MetadataStore(session, this.log, {
      dosAttribVersion: o.dosAttribVersion,
      hideDotFiles: o.hideDotFiles,
      allocationUnit: this.allocationUnit,
      maxCacheMs: o.maxCacheMs,
      metaCacheSize: 4 * o.nameCacheSize,
    });
    if (!xattrs) this.metadata.noteNoXattrs("it answers ENOSYS to LISTXATTR");
    this.longNames = new LongNames(session, this.log, this.metadata);
    this.resolver = new Resolver(session, this.log, this.nodes, this.dentries, this.metadata, this.longNames, this.indexes, o.caseInsensitive && o.baseline !== null);
    this.acls = new AclStore(session, this.log, this.metadata, options);
    this.streams = new StreamStore(session, this.log, this.metadata);
    this.eas = new EaStore(session, this.log, this.metadata);
    this.reparse = new ReparseStore(session, this.metadata, o.hostRoot);
    this.creds = options.owner === undefined ? undefined : { uid: options.owner.uid, gid: options.owner.gid };
    const volume: Volume = {
      session,
      log: this.log,
      options: o,
      nodes: this.nodes,
      dentries: this.dentries,
      metadata: this.metadata,
      resolver: this.resolver,
      longNames: this.longNames,
      creds: this.creds,
    };
    this.handles = new Handles(session, this.log);
    this.links = new ReparseOps(volume, this.reparse, this.handles);
    this.dirs = new DirectoryReader(volume, (node, names) => this.nodeInfo(node, names));
    this.renamer = new Renamer(volume);
    this.volumeLabel = (o.volumeLabel ?? tag ?? "VIOFS").slice(0, VOLUME_LABEL_MAX);
    const created = dateToFiletime(new Date());
    this.volumeParams = Object.freeze(
      volumeParams({
        sectorSize: o.sectorSize,
        sectorsPerAllocationUnit: 1,
        maxComponentLength: 255,
        volumeCreationTime: created,
        volumeSerialNumber: Number((created / 10_000_000n) & 0xffffffffn),
        fileInfoTimeout: o.fileInfoTimeout,
        caseSensitiveSearch: !o.caseInsensitive,
        casePreservedNames: true,
        unicodeOnDisk: true,
        persistentAcls: xattrs,
        reparsePoints: true,
        // As WinFsp's FUSE layer: whether a host symlink is a directory cannot always be known.
        umNoReparsePointsDirCheck: true,
        namedStreams: xattrs,
        extendedAttributes: xattrs,
        // The host is POSIX: an unlinked or renamed-over file stays open for its handles.
        supportsPosixUnlinkRename: true,
        // WSL metadata ($LXUID, $LXGID, $LXMOD, $LXDEV) travels as EAs, so it needs them.
        wslFeatures: xattrs,
        postCleanupWhenModifiedOnly: true,
        passQueryDirectoryFileName: true,
        flushAndPurgeOnCleanup: true,
        deviceControl: true,
        umFileContextIsUserContext2: true,
        fileSystemName: o.fileSystemName,
      }),
    );
  }

  /**
   * Mounts the service on an initialised session: reads the root's
   * attributes and answers the file system. `tag` names the share (the
   * default volume label).
   */
  static async mount(session: FuseSession, options: FuseWindowsOptions = {}, tag?: string): Promise<FuseWindowsFileSystem> {
    const root = await session.getattr(FUSE_ROOT_ID);
    let xattrs = true;
    try {
      await session.listxattr(FUSE_ROOT_ID);
    } catch (error) {
      if (!isErrno(error, Errno.ENOSYS)) throw error;
      xattrs = false;
    }
    return new FuseWindowsFileSystem(session, options, hostAttrFromFuse(root.attr), tag, xattrs);
  }

  /** Counters for tests and statistics. */
  get stats(): { nodes: number; cachedNames: number; caseIndexes: number; caseIndexBuilds: number } {
    return {
      nodes: this.nodes.size,
      cachedNames: this.dentries.size,
      caseIndexes: this.indexes?.size ?? 0,
      caseIndexBuilds: this.indexes?.builds ?? 0,
    };
  }

  /** Where security descriptors are written now (`security.NTACL`, or `user.NTACL` after the backend refused). */
  get ntaclXattr(): string {
    return this.acls.xattrName;
  }

  /** `null` until DispatcherStopped; then its `normally` argument. */
  get dispatcherStoppedNormally(): boolean | null {
    return this.stopped;
  }

  /**
   * Drops every cached name, attribute, xattr summary and case index, giving
   * their references back (FORGETs follow). Open contexts keep their nodes.
   */
  invalidateCaches(): void {
    this.dentries.clear();
    this.indexes?.clear();
    this.dirs.invalidate();
    this.metadata.clearMeta();
    for (const node of this.nodes.values()) {
      node.attrDeadline = 0;
      this.metadata.dropMeta(node);
      node.linkIsDirectory = null;
    }
  }

  // ---------------------------------------------------------------- helpers

  /**
   * Runs a member's body; a host failure becomes its NTSTATUS. An xattr call
   * the backend or the file's file system does not offer is
   * STATUS_NOT_SUPPORTED (and ENOSYS turns the xattr-backed features off); a
   * malformed reply from the device is STATUS_IO_DEVICE_ERROR, logged.
   */
  private async guarded<T>(body: () => Promise<NtResult<T>>): Promise<NtResult<T>> {
    try {
      return await body();
    } catch (error) {
      return ntFail(this.statusOf(error));
    }
  }

  /** The NTSTATUS of what a member's body threw (see {@link guarded}); bugs propagate. */
  private statusOf(error: unknown): number {
    if (ProtocolError.is(error)) {
      // A malformed answer from the device: its fault, not this file system's.
      this.log.error(`service: malformed reply from the device: ${error.message}`);
      return NtStatus.STATUS_IO_DEVICE_ERROR;
    }
    if (isErrno(error, ...NO_XATTR_SUPPORT) && (error.syscall ?? "").includes("XATTR")) {
      if (error.errno === Errno.ENOSYS) this.metadata.noteNoXattrs(error.message);
      return NtStatus.STATUS_NOT_SUPPORTED;
    }
    return statusOfError(error, this.log);
  }


  /** `{ fh }` for a SETATTR through the context's handle when it may write (ftruncate), else `{}` (truncate by node). */
  private writableHandle(ctx: FuseFileContext): { fh?: bigint } {
    return ctx.fh !== null && ctx.fhWritable && ctx.fhNodeid === ctx.node.nodeid ? { fh: ctx.fh } : {};
  }

  private roundUp(size: bigint): bigint {
    const unit = this.allocationUnit;
    return ((size + unit - 1n) / unit) * unit;
  }

  /** FileInfo of a main file or directory reached by `names`. */
  private async nodeInfo(node: ServiceNode, names: readonly string[]): Promise<FileInfo> {
    const attr = await this.metadata.attr(node);
    const meta = await this.metadata.meta(node);
    const linkDir = node.kind === "symlink" ? await this.links.linkIsDirectory(node, names) : false;
    return this.metadata.fileInfo(node, attr, meta, lastComponent(names), linkDir);
  }

  /** FileInfo of what a context has open. */
  private async contextInfo(ctx: FuseFileContext): Promise<NtResult<FileInfo>> {
    const main = await this.nodeInfo(ctx.node, ctx.names);
    if (ctx.stream === null) return ntOk(main);
    const size = await this.streams.size(ctx.node, ctx.stream);
    if (!size.ok) return size;
    return ntOk(this.metadata.streamInfo(main, size.value));
  }

  /** Stores the DOS attributes (and creation time) of a node, keeping what it derives. */
  private async storeAttributes(node: ServiceNode, attributes: number, createTime?: bigint): Promise<void> {
    const attr = await this.metadata.attr(node);
    const meta = await this.metadata.meta(node);
    const keepReparse = meta.reparse !== undefined ? storedAttributes(meta) & A.FILE_ATTRIBUTE_REPARSE_POINT : 0;
    const value = (attributes & ~DERIVED) | keepReparse;
    await this.metadata.writeDos(node, value, createTime ?? this.metadata.creationTime(attr, meta));
  }

  // ---------------------------------------------------------------- volume

  async getVolumeInfo(): Promise<NtResult<VolumeInfo>> {
    return this.guarded(async () => {
      const st = await this.session.statfs();
      const unit = BigInt(st.frsize || st.bsize);
      return ntOk({ totalSize: st.blocks * unit, freeSize: st.bavail * unit, volumeLabel: this.volumeLabel });
    });
  }

  /** SetVolumeLabel: kept in the service for the life of the mount (the host has no place for it). */
  async setVolumeLabel(volumeLabel: string): Promise<NtResult<VolumeInfo>> {
    this.volumeLabel = volumeLabel.slice(0, VOLUME_LABEL_MAX);
    return this.getVolumeInfo();
  }

  // ---------------------------------------------------------- create/open

  async getSecurityByName(fileName: string): Promise<NtResult<SecurityByName>> {
    return this.guarded<SecurityByName>(async () => {
      const parsed = parseWindowsPath(fileName);
      if (!parsed.ok) return parsed;
      const w = await this.resolver.walk(parsed.value.components);
      if (!w.ok) {
        if (w.status !== NtStatus.STATUS_OBJECT_NAME_INVALID) {
          const index = await this.links.findIndex(fileName);
          if (index !== null) return ntOk({ reparse: true, reparsePointIndex: index }, NtStatus.STATUS_REPARSE);
        }
        return w;
      }
      const { node, names } = w.value;
      try {
        const stream = parsed.value.stream;
        if (stream !== null && (await this.streams.find(node, stream)) === undefined) return ntFail(NtStatus.STATUS_OBJECT_NAME_NOT_FOUND);
        const info = await this.nodeInfo(node, names);
        const attributes = stream === null ? info.fileAttributes : info.fileAttributes & ~A.FILE_ATTRIBUTE_DIRECTORY;
        return ntOk({ reparse: false, fileAttributes: attributes >>> 0, securityDescriptor: await this.acls.get(node) });
      } finally {
        this.nodes.release(node);
      }
    });
  }

  async create(request: CreateIn): Promise<NtResult<OpenResult<FuseFileContext>>> {
    return this.createEx({ ...request, ea: null, reparseData: null });
  }

  /**
   * CreateEx. A new file gets `user.DOSATTRIB` at once (its attributes with
   * ARCHIVE, and its creation time, which Samba then shows too), the given
   * descriptor as NTACL v1, the EAs, and the allocation size (FALLOCATE
   * with KEEP_SIZE, so a full disk fails here). A failure after the host
   * file exists removes it again.
   */
  async createEx(request: CreateExIn): Promise<NtResult<OpenResult<FuseFileContext>>> {
    return this.guarded(async () => {
      const parsed = parseWindowsPath(request.fileName);
      if (!parsed.ok) return parsed;
      const { components, stream } = parsed.value;
      const isDirectory = (request.createOptions & CreateOption.FILE_DIRECTORY_FILE) !== 0;
      if (stream !== null) {
        if (isDirectory) return ntFail(NtStatus.STATUS_NOT_A_DIRECTORY);
        return this.createStream(components, stream);
      }
      if (components.length === 0) return ntFail(NtStatus.STATUS_OBJECT_NAME_COLLISION);
      if (request.securityDescriptor !== null && request.securityDescriptor.length > 0 && !isValidDescriptor(request.securityDescriptor)) {
        return ntFail(NtStatus.STATUS_INVALID_SECURITY_DESCR);
      }
      const parentWalk = await this.resolver.walkParent(components);
      if (!parentWalk.ok) return parentWalk;
      const parent = parentWalk.value.node;
      try {
        const name = lastComponent(components);
        const host = hostNameOf(name);
        if (!host.ok) return host;
        const long = longNameValue(name);
        if (!mayCreateName(name, host.value) || (long !== null && !this.metadata.xattrsSupported)) return ntFail(NtStatus.STATUS_OBJECT_NAME_INVALID);
        const free = await this.resolver.checkFree(parent, name);
        if (!free.ok) return free;

        let ctx: FuseFileContext;
        let entryCtime: bigint;
        try {
          if (isDirectory) {
            const entry = await this.session.mkdir(parent.nodeid, host.value, this.options.directoryMode, 0, this.creds);
            const node = this.nodes.adopt(entry);
            this.resolver.noteAdded(parent, name, host.value, node, entry);
            ctx = new FuseFileContext(node, [...parentWalk.value.names, name], null);
            entryCtime = node.attr.ctimeNs;
          } else {
            const flags = OpenFlag.O_CREAT | OpenFlag.O_EXCL | OpenFlag.O_RDWR;
            const created = await this.session.create(parent.nodeid, host.value, Mode.S_IFREG | this.options.fileMode, flags, 0, this.creds);
            const node = this.nodes.adopt(created.entry);
            this.resolver.noteAdded(parent, name, host.value, node, created.entry);
            ctx = new FuseFileContext(node, [...parentWalk.value.names, name], null);
            ctx.fh = created.open.fh;
            ctx.fhNodeid = node.nodeid;
            ctx.fhReadable = true;
            ctx.fhWritable = true;
            entryCtime = node.attr.ctimeNs;
          }
        } catch (error) {
          if (isErrno(error, Errno.EEXIST)) return ntFail(NtStatus.STATUS_OBJECT_NAME_COLLISION);
          if (isErrno(error, Errno.ENAMETOOLONG)) return ntFail(NtStatus.STATUS_OBJECT_NAME_INVALID);
          throw error;
        }

        if (long !== null && !(await this.longNames.store(ctx.node, long))) {
          // The one clear error for a name the host cannot keep.
          await this.undoCreate(ctx, parent, name, host.value);
          return ntFail(NtStatus.STATUS_OBJECT_NAME_INVALID);
        }
        const done = await this.initializeNew(ctx, request, entryCtime, isDirectory);
        if (!done.ok) {
          await this.undoCreate(ctx, parent, name, host.value);
          return done;
        }
        return this.opened(ctx);
      } finally {
        this.nodes.release(parent);
      }
    });
  }

  /** Applies a new file's attributes, descriptor, allocation, EAs and reparse data. */
  private async initializeNew(ctx: FuseFileContext, request: CreateExIn, ctimeNs: bigint, isDirectory: boolean): Promise<NtResult<void>> {
    const node = ctx.node;
    try {
      const given = request.fileAttributes & ~DERIVED;
      const attributes = isDirectory ? given : given | A.FILE_ATTRIBUTE_ARCHIVE;
      if (this.metadata.xattrsSupported) {
        try {
          await this.metadata.writeDos(node, attributes, unixNsToFiletime(ctimeNs));
        } catch (error) {
          // A host file system without xattrs keeps the file, without its DOS attributes.
          if (!isErrno(error, ...NO_XATTR_SUPPORT)) throw error;
          if (error.errno === Errno.ENOSYS) this.metadata.noteNoXattrs(error.message);
        }
      }
      if (request.securityDescriptor !== null && request.securityDescriptor.length > 0 && this.metadata.xattrsSupported) {
        await this.acls.set(node, request.securityDescriptor);
      }
      if (!isDirectory && request.allocationSize > 0n) {
        const grown = await this.allocate(ctx, this.roundUp(request.allocationSize));
        if (!grown.ok) return grown;
      }
      if (request.ea !== null) {
        const eas = await this.eas.apply(node, request.ea);
        if (!eas.ok) return eas;
      }
      if (request.reparseData !== null) {
        const set = await this.links.set(ctx, request.reparseData);
        if (!set.ok) return set;
      }
      return NT_OK;
    } catch (error) {
      return ntFail(this.statusOf(error));
    }
  }

  /** Removes a file just created whose set-up failed, and closes its context. */
  private async undoCreate(ctx: FuseFileContext, parent: ServiceNode, name: string, host: string): Promise<void> {
    try {
      if (ctx.node.kind === "directory") await this.session.rmdir(parent.nodeid, host);
      else await this.session.unlink(parent.nodeid, host);
    } catch (error) {
      this.log.warn(`service: removing ${ctx.fileName} after a failed create: ${String(error)}`);
    }
    this.resolver.noteRemoved(parent, name, host);
    await this.close(ctx);
  }

  /** A new named stream of an existing file or directory. */
  private async createStream(components: readonly string[], stream: string): Promise<NtResult<OpenResult<FuseFileContext>>> {
    const w = await this.resolver.walk(components);
    if (!w.ok) return w;
    const node = w.value.node;
    let created: NtResult<void>;
    try {
      created = await this.streams.create(node, stream);
    } catch (error) {
      this.nodes.release(node);
      throw error;
    }
    if (!created.ok) {
      this.nodes.release(node);
      return created;
    }
    return this.opened(this.streamContext(node, w.value.names, stream));
  }

  private streamContext(node: ServiceNode, names: readonly string[], stream: string): FuseFileContext {
    const key = foldName(stream);
    node.openStreams.set(key, (node.openStreams.get(key) ?? 0) + 1);
    return new FuseFileContext(node, names, stream);
  }

  /** The answer of Create/Open for a new context; the context is closed again if its information cannot be read. */
  private async opened(ctx: FuseFileContext): Promise<NtResult<OpenResult<FuseFileContext>>> {
    let info: NtResult<FileInfo>;
    try {
      info = await this.contextInfo(ctx);
    } catch (error) {
      await this.close(ctx);
      throw error;
    }
    if (!info.ok) {
      await this.close(ctx);
      return info;
    }
    // Case-insensitive volumes report the stored case (FSP_FSCTL_OPEN_FILE_INFO.NormalizedName).
    return ntOk({ fileContext: ctx, fileInfo: info.value, normalizedName: this.options.caseInsensitive ? ctx.fileName : null });
  }

  /**
   * Open. Regular files opened with data access get a FUSE handle with the
   * matching flags (a host refusal is the open's failure, as on Windows).
   */
  async open(request: OpenIn): Promise<NtResult<OpenResult<FuseFileContext>>> {
    return this.guarded(async () => {
      const parsed = parseWindowsPath(request.fileName);
      if (!parsed.ok) return parsed;
      const w = await this.resolver.walk(parsed.value.components);
      if (!w.ok) return w;
      const { node, names } = w.value;
      let ctx: FuseFileContext;
      if (parsed.value.stream !== null) {
        let stored: string | undefined;
        try {
          stored = await this.streams.find(node, parsed.value.stream);
        } catch (error) {
          this.nodes.release(node);
          throw error;
        }
        if (stored === undefined) {
          this.nodes.release(node);
          return ntFail(NtStatus.STATUS_OBJECT_NAME_NOT_FOUND);
        }
        ctx = this.streamContext(node, names, stored);
      } else {
        if ((request.createOptions & CreateOption.FILE_NO_EA_KNOWLEDGE) !== 0) {
          let needs: boolean;
          try {
            needs = await this.eas.needsEaKnowledge(node);
          } catch (error) {
            this.nodes.release(node);
            throw error;
          }
          if (needs) {
            this.nodes.release(node);
            return ntFail(NtStatus.STATUS_ACCESS_DENIED);
          }
        }
        ctx = new FuseFileContext(node, names, null);
        const read = (request.grantedAccess & READ_ACCESS) !== 0;
        const write = (request.grantedAccess & WRITE_ACCESS) !== 0;
        if (node.kind === "file" && (read || write)) {
          try {
            await this.handles.open(ctx, read, write);
          } catch (error) {
            await this.close(ctx);
            throw error;
          }
        }
      }
      return this.opened(ctx);
    });
  }

  async overwrite(ctx: FuseFileContext, request: OverwriteIn): Promise<NtResult<FileInfo>> {
    return this.overwriteEx(ctx, { ...request, ea: null });
  }

  /**
   * OverwriteEx: size 0 with the new allocation, attributes replaced or ORed
   * (plus ARCHIVE), named streams that are not open removed, EAs replaced.
   */
  async overwriteEx(ctx: FuseFileContext, request: OverwriteExIn): Promise<NtResult<FileInfo>> {
    return this.guarded(async () => {
      const node = ctx.node;
      if (ctx.stream !== null) {
        const r = await this.streams.setSize(node, ctx.stream, 0n);
        if (!r.ok) return r;
        return this.contextInfo(ctx);
      }
      if (node.kind === "file") {
        const out = await this.session.setattr(node.nodeid, { size: 0, atime: "now", mtime: "now", ...this.writableHandle(ctx) });
        this.metadata.noteAttr(node, out);
        node.allocationHint = null;
      }
      if (node.holdsXattrs && this.metadata.xattrsSupported) {
        for (const s of await this.streams.list(node)) {
          if (!node.openStreams.has(foldName(s))) {
            const removed = await this.streams.remove(node, s);
            if (!removed.ok) return removed;
          }
        }
        const cleared = await this.eas.clear(node);
        if (!cleared.ok) return cleared;
        if (request.ea !== null) {
          const set = await this.eas.apply(node, request.ea);
          if (!set.ok) return set;
        }
        const meta = await this.metadata.meta(node);
        const current = storedAttributes(meta);
        const given = request.fileAttributes & ~DERIVED;
        const kept = current & A.FILE_ATTRIBUTE_REPARSE_POINT;
        const next = request.replaceFileAttributes ? given | kept | A.FILE_ATTRIBUTE_ARCHIVE : current | given | A.FILE_ATTRIBUTE_ARCHIVE;
        await node.lock.run(() => this.storeAttributes(node, next));
      }
      if (node.kind === "file" && request.allocationSize > 0n) {
        const grown = await this.allocate(ctx, this.roundUp(request.allocationSize));
        if (!grown.ok) return grown;
      }
      return this.contextInfo(ctx);
    });
  }

  /**
   * Cleanup. Delete removes the name (UNLINK, or RMDIR for a directory, a
   * non-empty one being left alone) or the named stream. Attribute and time
   * flags act on the main file: ARCHIVE in `user.DOSATTRIB`, access and write
   * times set to now; the change time is the host's, which these updates
   * move. SetAllocationSize drops the allocation kept beyond the file size
   * (a truncate to the same size releases preallocated host blocks).
   */
  async cleanup(ctx: FuseFileContext, fileName: string | null, flags: number): Promise<void> {
    try {
      await this.cleanupInner(ctx, fileName, flags);
    } catch (error) {
      this.log.warn(`service: cleanup of ${ctx.fileName}: ${String(error)}`);
    }
  }

  private async cleanupInner(ctx: FuseFileContext, fileName: string | null, flags: number): Promise<void> {
    const node = ctx.node;
    const isDirectory = node.kind === "directory";
    let touched = false;
    if ((flags & CleanupFlag.SetArchiveBit) !== 0 && !isDirectory && node.holdsXattrs && this.metadata.xattrsSupported) {
      await node.lock.run(async () => {
        const meta = await this.metadata.meta(node);
        const current = storedAttributes(meta);
        if (meta.dos === undefined || (current & A.FILE_ATTRIBUTE_ARCHIVE) === 0) {
          await this.storeAttributes(node, current | A.FILE_ATTRIBUTE_ARCHIVE);
          touched = true;
        }
      });
    }
    const times: { atime?: SetTime; mtime?: SetTime } = {};
    if ((flags & CleanupFlag.SetLastAccessTime) !== 0) times.atime = "now";
    if ((flags & CleanupFlag.SetLastWriteTime) !== 0) times.mtime = "now";
    if (times.atime !== undefined || times.mtime !== undefined) {
      this.metadata.noteAttr(node, await this.session.setattr(node.nodeid, times));
      touched = true;
    }
    if ((flags & CleanupFlag.SetChangeTime) !== 0 && !touched) {
      // Setting the access time to what it is moves the host ctime to now and changes nothing else
      // (rewriting an xattr with the same value does not: ext4 skips it).
      const attr = await this.metadata.refreshAttr(node);
      const atime = nsToSetTime(attr.atimeNs);
      this.metadata.noteAttr(node, await this.session.setattr(node.nodeid, { atime }));
    }
    if ((flags & CleanupFlag.SetAllocationSize) !== 0 && ctx.stream === null && node.kind === "file") {
      const hint = node.allocationHint;
      node.allocationHint = null;
      const attr = await this.metadata.refreshAttr(node);
      if (hint !== null && hint > this.roundUp(attr.size)) {
        this.metadata.noteAttr(node, await this.session.setattr(node.nodeid, { size: attr.size }));
      }
    }
    if ((flags & CleanupFlag.Delete) !== 0) await this.deleteNow(ctx, fileName ?? ctx.fileName);
  }

  /** Removes what a context has open, by its current name; the name must still be that node's. */
  private async deleteNow(ctx: FuseFileContext, fileName: string): Promise<void> {
    const parsed = parseWindowsPath(fileName);
    if (!parsed.ok) return;
    if (ctx.stream !== null) {
      await this.streams.remove(ctx.node, ctx.stream);
      return;
    }
    const { components } = parsed.value;
    if (components.length === 0 || ctx.node.pinned) return;
    const parentWalk = await this.resolver.walkParent(components);
    if (!parentWalk.ok) return;
    const parent = parentWalk.value.node;
    try {
      const found = await this.resolver.child(parent, lastComponent(components));
      if (!found.ok || found.value === null) return;
      this.nodes.release(found.value.node);
      if (found.value.node !== ctx.node) {
        this.log.warn(`service: not deleting ${fileName}: the name now stands for another file`);
        return;
      }
      const host = hostNameOf(found.value.name);
      if (!host.ok) return;
      try {
        if (ctx.node.kind === "directory") await this.session.rmdir(parent.nodeid, host.value);
        else await this.session.unlink(parent.nodeid, host.value);
      } catch (error) {
        // A directory with children stays, silently (FILE_DELETE_ON_CLOSE is never checked by CanDelete).
        if (isErrno(error, Errno.ENOTEMPTY, Errno.EEXIST, Errno.ENOENT)) return;
        throw error;
      }
      this.resolver.noteRemoved(parent, found.value.name, host.value);
    } finally {
      this.nodes.release(parent);
    }
  }

  async close(ctx: FuseFileContext): Promise<void> {
    if (ctx.closed) return;
    ctx.closed = true;
    await this.handles.drop(ctx);
    ctx.listing = null;
    if (ctx.stream !== null) {
      const key = foldName(ctx.stream);
      const n = (ctx.node.openStreams.get(key) ?? 1) - 1;
      if (n > 0) ctx.node.openStreams.set(key, n);
      else ctx.node.openStreams.delete(key);
    }
    if (--ctx.node.opens <= 0) {
      ctx.node.opens = 0;
      ctx.node.allocationHint = null;
    }
    this.nodes.release(ctx.node);
  }

  // ---------------------------------------------------------------- data

  async read(ctx: FuseFileContext, buffer: Uint8Array, offset: bigint): Promise<NtResult<number>> {
    return this.guarded(async () => {
      if (ctx.stream !== null) return this.streams.read(ctx.node, ctx.stream, buffer, offset);
      if (ctx.node.kind !== "file") return ntFail(ctx.node.kind === "directory" ? NtStatus.STATUS_FILE_IS_A_DIRECTORY : NtStatus.STATUS_INVALID_DEVICE_REQUEST);
      const fh = await this.handles.handle(ctx, false);
      if (buffer.length === 0) {
        const attr = await this.metadata.refreshAttr(ctx.node, fh);
        return offset >= attr.size ? ntFail(NtStatus.STATUS_END_OF_FILE) : ntOk(0);
      }
      const n =
        this.options.baseline === null
          ? await readSplit(this.session, ctx.node.nodeid, fh, offset, buffer)
          : await this.session.readInto(ctx.node.nodeid, fh, offset, buffer);
      return n === 0 ? ntFail(NtStatus.STATUS_END_OF_FILE) : ntOk(n);
    });
  }

  async write(
    ctx: FuseFileContext,
    buffer: Uint8Array,
    offset: bigint,
    writeToEndOfFile: boolean,
    constrainedIo: boolean,
  ): Promise<NtResult<WriteOut>> {
    return this.guarded(async () => {
      const node = ctx.node;
      if (ctx.stream !== null) {
        const r = await this.streams.write(node, ctx.stream, buffer, offset, writeToEndOfFile, constrainedIo);
        if (!r.ok) return r;
        const info = await this.contextInfo(ctx);
        if (!info.ok) return info;
        return ntOk({ bytesTransferred: r.value.bytes, fileInfo: info.value });
      }
      if (node.kind !== "file") return ntFail(node.kind === "directory" ? NtStatus.STATUS_FILE_IS_A_DIRECTORY : NtStatus.STATUS_INVALID_DEVICE_REQUEST);
      const fh = await this.handles.handle(ctx, true);
      /** Writes; answers the bytes written and where they end. */
      const transfer = async (): Promise<{ n: number; end: bigint }> => {
        let at = offset;
        let data = buffer;
        if (constrainedIo || writeToEndOfFile) {
          const size = (await this.metadata.refreshAttr(node, fh)).size;
          if (constrainedIo) {
            if (at >= size) return { n: 0, end: at };
            if (at + BigInt(data.length) > size) data = data.subarray(0, Number(size - at));
          } else at = size;
        }
        if (data.length === 0) return { n: 0, end: at };
        const n =
          this.options.baseline === null
            ? await writeSplit(this.session, node.nodeid, fh, at, data)
            : await this.session.write(node.nodeid, fh, at, data);
        return { n, end: at + BigInt(n) };
      };
      // Appends and size-bounded writes read the size first: one at a time per file.
      const { n, end } = constrainedIo || writeToEndOfFile ? await node.lock.run(transfer) : await transfer();
      if (this.options.baseline !== null) {
        // virtio-win asks for the attributes after every write.
        await this.metadata.refreshAttr(node, fh);
        return ntOk({ bytesTransferred: n, fileInfo: await this.nodeInfo(node, ctx.names) });
      }
      // The reply's information from what the service knows and what the write did; the host's
      // attributes are fetched again when the cached ones expire (FileInfoTimeout).
      if (n > 0) this.metadata.noteWrite(node, end);
      return ntOk({ bytesTransferred: n, fileInfo: await this.nodeInfo(node, ctx.names) });
    });
  }

  /**
   * Flush: FSYNC of the file (FlushFileBuffers must reach the host's disk,
   * not just end a descriptor as FLUSH would), FSYNCDIR of a directory,
   * SYNCFS of the whole share for the volume.
   */
  async flush(ctx: FuseFileContext | null): Promise<NtResult<FileInfo | null>> {
    return this.guarded(async () => {
      if (ctx === null) {
        try {
          await this.session.syncfs();
        } catch (error) {
          if (!isErrno(error, Errno.ENOSYS)) throw error;
        }
        return ntOk(null);
      }
      const node = ctx.node;
      if (node.kind === "file") {
        if (ctx.fh !== null && ctx.fhNodeid === node.nodeid) await this.session.fsync(node.nodeid, ctx.fh);
        else {
          const out = await this.session.open(node.nodeid, OpenFlag.O_RDONLY);
          try {
            await this.session.fsync(node.nodeid, out.fh);
          } finally {
            await this.session.release(node.nodeid, out.fh).catch(() => undefined);
          }
        }
      } else if (node.kind === "directory") {
        const out = await this.session.opendir(node.nodeid);
        try {
          await this.session.fsyncdir(node.nodeid, out.fh);
        } finally {
          await this.session.releasedir(node.nodeid, out.fh).catch(() => undefined);
        }
      }
      this.metadata.expireAttr(node);
      return this.contextInfo(ctx);
    });
  }

  // ------------------------------------------------------------ metadata

  async getFileInfo(ctx: FuseFileContext): Promise<NtResult<FileInfo>> {
    return this.guarded(() => this.contextInfo(ctx));
  }

  /**
   * SetBasicInfo. Attributes and the creation time go to `user.DOSATTRIB`
   * (never to the mode bits); access and write times to the host's atime
   * and mtime. The change time cannot be set on Linux: it stays the host's
   * (which the update moves to now). Symlinks and special files cannot hold
   * xattrs: attribute and creation-time changes to them are not kept.
   */
  async setBasicInfo(ctx: FuseFileContext, request: BasicInfoIn): Promise<NtResult<FileInfo>> {
    return this.guarded(async () => {
      const node = ctx.node;
      const attributes = request.fileAttributes >>> 0;
      if ((attributes !== INVALID_FILE_ATTRIBUTES || request.creationTime !== 0n) && node.holdsXattrs) {
        if (!this.metadata.xattrsSupported) return ntFail(NtStatus.STATUS_NOT_SUPPORTED);
        await node.lock.run(async () => {
          const meta = await this.metadata.meta(node);
          const next = attributes === INVALID_FILE_ATTRIBUTES ? storedAttributes(meta) : attributes;
          await this.storeAttributes(node, next, request.creationTime !== 0n ? request.creationTime : undefined);
        });
      }
      const times: { atime?: { sec: bigint; nsec: number }; mtime?: { sec: bigint; nsec: number } } = {};
      if (request.lastAccessTime !== 0n) times.atime = filetimeToSetTime(request.lastAccessTime);
      if (request.lastWriteTime !== 0n) times.mtime = filetimeToSetTime(request.lastWriteTime);
      if (times.atime !== undefined || times.mtime !== undefined) {
        this.metadata.noteAttr(node, await this.session.setattr(node.nodeid, times));
      }
      return this.contextInfo(ctx);
    });
  }

  /**
   * SetFileSize. The end of file is the host file's size. The allocation
   * size is kept by the service while the file is open (reported as
   * max(round-up(size), allocation)) and reserved on the host with
   * FALLOCATE(KEEP_SIZE), so a full disk fails here (STATUS_DISK_FULL); a
   * smaller allocation than the size truncates. A named stream changes its
   * xattr's length.
   */
  async setFileSize(ctx: FuseFileContext, newSize: bigint, setAllocationSize: boolean): Promise<NtResult<FileInfo>> {
    return this.guarded(async () => {
      const node = ctx.node;
      if (ctx.stream !== null) {
        let target = newSize;
        if (setAllocationSize) {
          const current = await this.streams.size(node, ctx.stream);
          if (!current.ok) return current;
          const allocation = this.roundUp(newSize);
          target = BigInt(current.value) > allocation ? allocation : BigInt(current.value);
        }
        const r = await this.streams.setSize(node, ctx.stream, target);
        if (!r.ok) return r;
        return this.contextInfo(ctx);
      }
      if (node.kind !== "file") return ntFail(NtStatus.STATUS_INVALID_PARAMETER);
      const fh = this.writableHandle(ctx);
      if (!setAllocationSize) {
        this.metadata.noteAttr(node, await this.session.setattr(node.nodeid, { size: newSize, ...fh }));
        if (node.allocationHint !== null && node.allocationHint < this.roundUp(newSize)) node.allocationHint = null;
        return this.contextInfo(ctx);
      }
      const allocation = this.roundUp(newSize);
      const size = (await this.metadata.refreshAttr(node)).size;
      if (size > allocation) this.metadata.noteAttr(node, await this.session.setattr(node.nodeid, { size: allocation, ...fh }));
      const previous = node.allocationHint;
      const grown = await this.allocate(ctx, allocation);
      if (!grown.ok) return grown;
      if (previous !== null && allocation < previous) {
        // Give back preallocated host blocks beyond the new allocation.
        const current = (await this.metadata.refreshAttr(node)).size;
        this.metadata.noteAttr(node, await this.session.setattr(node.nodeid, { size: current, ...fh }));
      }
      return this.contextInfo(ctx);
    });
  }

  /** Sets the kept allocation and reserves it on the host (ENOSPC → STATUS_DISK_FULL; no FALLOCATE → just kept). */
  private async allocate(ctx: FuseFileContext, allocation: bigint): Promise<NtResult<void>> {
    const node = ctx.node;
    node.allocationHint = allocation;
    const size = (await this.metadata.attr(node)).size;
    if (allocation <= this.roundUp(size)) return NT_OK;
    try {
      const fh = await this.handles.handle(ctx, true);
      await this.session.fallocate(node.nodeid, fh, 0, allocation, Falloc.KEEP_SIZE);
    } catch (error) {
      if (isErrno(error, Errno.ENOSYS, Errno.EOPNOTSUPP)) return NT_OK;
      node.allocationHint = null;
      return ntFail(statusOfError(error, this.log));
    }
    this.metadata.expireAttr(node);
    return NT_OK;
  }

  // ------------------------------------------------------ delete/rename

  async canDelete(ctx: FuseFileContext, _fileName: string): Promise<NtResult<void>> {
    return this.guarded(async () => {
      if (ctx.stream === null && ctx.node.kind === "directory" && !(await directoryIsEmpty(this.session, ctx.node))) {
        return ntFail(NtStatus.STATUS_DIRECTORY_NOT_EMPTY);
      }
      return NT_OK;
    });
  }

  async setDelete(ctx: FuseFileContext, fileName: string, deleteFile: boolean): Promise<NtResult<void>> {
    return deleteFile ? this.canDelete(ctx, fileName) : NT_OK;
  }

  /**
   * Rename: RENAME2 with NOREPLACE unless replacing. On case-insensitive
   * volumes a target that differs only in case from an existing name is
   * that name (collision, or replaced and renamed to the new spelling); a
   * case-only change of the file itself is a rename. A directory target is
   * STATUS_ACCESS_DENIED (MemoryFileSystem's rule).
   */
  async rename(ctx: FuseFileContext, fileName: string, newFileName: string, replaceIfExists: boolean): Promise<NtResult<void>> {
    return this.guarded(() => this.renamer.rename(ctx, fileName, newFileName, replaceIfExists));
  }

  // ------------------------------------------------------------ security

  async getSecurity(ctx: FuseFileContext): Promise<NtResult<Uint8Array>> {
    return this.guarded(async () => ntOk(await this.acls.get(ctx.node)));
  }

  /**
   * SetSecurity: the descriptor merged as FspSetSecurityDescriptor does,
   * then stored as NTACL v1, so GetSecurity answers exactly what was set.
   * Owner and mode bits on the host are left alone.
   */
  async setSecurity(ctx: FuseFileContext, securityInformation: number, modificationDescriptor: Uint8Array): Promise<NtResult<void>> {
    return this.guarded(async () => {
      const node = ctx.node;
      if (!this.metadata.xattrsSupported) return ntFail(NtStatus.STATUS_NOT_SUPPORTED);
      return node.lock.run(async () => {
        const current = await this.acls.get(node);
        const merged = applySecurityDescriptor(current, securityInformation, modificationDescriptor);
        if (!merged.ok) return merged;
        await this.acls.set(node, merged.value);
        return NT_OK;
      });
    });
  }

  // ----------------------------------------------------------- directory

  async readDirectory(
    ctx: FuseFileContext,
    pattern: string | null,
    marker: string | null,
    length: number,
  ): Promise<NtResult<DirectoryChunk>> {
    return this.guarded(() => this.dirs.read(ctx, pattern, marker, length));
  }

  async getDirInfoByName(parentCtx: FuseFileContext, fileName: string): Promise<NtResult<DirInfo>> {
    return this.guarded(() => this.dirs.byName(parentCtx, fileName));
  }

  // ------------------------------------------------------- reparse points

  async resolveReparsePoints(fileName: string, reparsePointIndex: number, resolveLastPathComponent: boolean): Promise<NtResult<ReparseResolution>> {
    return this.guarded(() => this.links.resolve(fileName, reparsePointIndex, resolveLastPathComponent));
  }

  async getReparsePoint(ctx: FuseFileContext, _fileName: string): Promise<NtResult<Uint8Array>> {
    return this.guarded(() => this.reparse.bufferOf(ctx.node));
  }

  /**
   * SetReparsePoint. A symlink becomes a host symlink and an NFS special
   * file a host FIFO/socket/device (the file's inode is replaced: the new
   * one is made under a temporary name and renamed over it); any other tag
   * is stored in `user.SmbReparse` with REPARSE_POINT in `user.DOSATTRIB`.
   * Replacing needs the same tag (and GUID); a directory must be empty.
   */
  async setReparsePoint(ctx: FuseFileContext, _fileName: string, buffer: Uint8Array): Promise<NtResult<void>> {
    return this.guarded(() => this.links.set(ctx, buffer));
  }

  /**
   * DeleteReparsePoint: same tag (and GUID) as set. A symlink or special
   * file becomes an empty file again (an empty directory for a link to a
   * directory); a stored reparse point loses its xattr and attribute.
   */
  async deleteReparsePoint(ctx: FuseFileContext, _fileName: string, buffer: Uint8Array): Promise<NtResult<void>> {
    return this.guarded(() => this.links.delete(ctx, buffer));
  }

  // -------------------------------------------------------------- streams

  async getStreamInfo(ctx: FuseFileContext): Promise<NtResult<StreamInfo[]>> {
    return this.guarded(async () => {
      const node = ctx.node;
      const out: StreamInfo[] = [];
      if (node.kind !== "directory") {
        const info = await this.nodeInfo(node, ctx.names);
        out.push({ streamName: "", streamSize: info.fileSize, streamAllocationSize: info.allocationSize });
      }
      for (const name of await this.streams.list(node)) {
        const size = await this.streams.size(node, name);
        if (!size.ok) {
          if (size.status === NtStatus.STATUS_OBJECT_NAME_NOT_FOUND) continue;
          return size;
        }
        out.push({ streamName: name, streamSize: BigInt(size.value), streamAllocationSize: this.roundUp(BigInt(size.value)) });
      }
      return ntOk(out);
    });
  }

  // ------------------------------------------------------------------ EAs

  async getEa(ctx: FuseFileContext): Promise<NtResult<FullEa[]>> {
    return this.guarded(async () => ntOk(await this.eas.list(ctx.node)));
  }

  async setEa(ctx: FuseFileContext, ea: readonly FullEa[]): Promise<NtResult<FileInfo>> {
    return this.guarded(async () => {
      if (!ctx.node.holdsXattrs) return ntFail(NtStatus.STATUS_EAS_NOT_SUPPORTED);
      const r = await this.eas.apply(ctx.node, ea);
      if (!r.ok) return r;
      return this.contextInfo(ctx);
    });
  }

  // ------------------------------------------------------------- control

  /**
   * Control: {@link ViofsControl} codes; anything else is
   * STATUS_INVALID_DEVICE_REQUEST. An answer longer than `outputLength` is
   * STATUS_BUFFER_OVERFLOW.
   */
  async control(_ctx: FuseFileContext, controlCode: number, _input: Uint8Array, outputLength: number): Promise<NtResult<Uint8Array>> {
    switch (controlCode >>> 0) {
      case ViofsControl.INVALIDATE_CACHES:
        this.invalidateCaches();
        return ntOk(new Uint8Array(0));
      case ViofsControl.QUERY_SHARE: {
        const info = this.session.info;
        const text = JSON.stringify({
          tag: this.tag ?? null,
          fuse: `7.${info.minor}`,
          maxRead: info.maxRead,
          maxWrite: info.maxWrite,
          caseInsensitive: this.options.caseInsensitive,
          birthTime: this.metadata.hasStatx,
          xattrs: this.metadata.xattrsSupported,
          ntaclXattr: this.acls.xattrName,
        });
        const out = new Uint8Array(Buffer.from(text, "utf8"));
        if (out.length > outputLength) return ntFail(NtStatus.STATUS_BUFFER_OVERFLOW);
        return ntOk(out);
      }
      default:
        return ntFail(NtStatus.STATUS_INVALID_DEVICE_REQUEST);
    }
  }

  /** DispatcherStopped: drops the caches (their FORGETs are sent) and records how the dispatcher ended. */
  async dispatcherStopped(normally: boolean): Promise<void> {
    this.stopped = normally;
    this.invalidateCaches();
    await this.session.flushForgets().catch(() => undefined);
  }
}

/** Whether a self-relative security descriptor decodes. */
function isValidDescriptor(descriptor: Uint8Array): boolean {
  try {
    decodeSecurityDescriptor(descriptor);
    return true;
  } catch (error) {
    if (ProtocolError.is(error)) return false;
    throw error;
  }
}
