/**
 * MemoryFileSystem: the in-memory reference implementation of
 * {@link FileSystemInterface}, with the semantics of WinFsp's MEMFS
 * (tst/memfs/memfs.cpp) that the winfsp-tests suite was written against.
 * It is the first backend of the Win32 layer's conformance suite, so where a
 * test depends on a MEMFS behaviour this file follows MEMFS; where MEMFS has
 * a plain bug (orphaned nodes, wrong EA size bookkeeping) this file does the
 * evident right thing and says so.
 *
 * Model:
 * - A tree of {@link MemNode}s. Directories keep their children in a map
 *   keyed by the name as compared (upper-cased on a case-insensitive volume),
 *   each child keeping its name in the case it was created with. Listings go
 *   in ordinal (UTF-16 code unit) order of those keys, which is the order
 *   markers are resolved in.
 * - Named streams are nodes hanging off their main file or directory
 *   (`\file:stream`). A stream reports its main file's attributes (without
 *   DIRECTORY), times, index number, EA size and reparse tag, and its own
 *   sizes; security, EAs, reparse data and basic info live on the main file.
 * - File contexts are per open ({@link MemfsFileContext}). A node deleted at
 *   Cleanup or replaced by a rename stays usable through the contexts still
 *   open on it until their Close, as in MEMFS.
 * - Limits: at most `maxFileNodes` nodes (root and streams included) →
 *   STATUS_CANNOT_MAKE; a stream's allocation above `maxFileSize`, or the
 *   total allocation above `totalSize` → STATUS_DISK_FULL; a full name of
 *   `maxPathLength` units or more → STATUS_OBJECT_NAME_INVALID.
 *
 * The caller (the FSD/DLL emulation) does name validation, share access,
 * access checks and delete-pending; this file trusts what the interface
 * contract says the caller guarantees, and checks the rest defensively.
 */
import { NtStatus } from "../windows/ntstatus.js";
import { dateToFiletime } from "../windows/filetime.js";
import { FileAttribute, INVALID_FILE_ATTRIBUTES } from "../windows/attributes.js";
import { FILE_NEED_EA, eaPackedSize } from "../windows/ea.js";
import { canReplaceReparsePoint } from "../windows/reparse.js";
import { CleanupFlag, CreateOption } from "./constants.js";
import { DirInfoPacker } from "./fsctl.js";
import {
  NT_OK,
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
  VOLUME_LABEL_MAX,
} from "./interface.js";
import { findReparsePoint, resolveReparsePoints, reparseTagOf } from "./reparse-resolve.js";
import { applySecurityDescriptor, defaultRootSecurityDescriptor } from "./security-merge.js";
import { isNameInExpression, upcase } from "./wildcard.js";

/**
 * STATUS_CANNOT_MAKE (0xC00002EA), which MEMFS answers when it is out of file
 * nodes. Not (yet) in src/windows/ntstatus.ts; kept here as a single named value.
 */
const STATUS_CANNOT_MAKE = 0xc00002ea;

/** The DeviceIoControl code MEMFS answers (ROT13 of the input): CTL_CODE(0x8000 + 'M', 'R', METHOD_BUFFERED, FILE_ANY_ACCESS). */
export const MEMFS_CONTROL_ROT13 = 0x804d0148;

/** How a MemoryFileSystem is set up. Every field has MEMFS's default. */
export interface MemoryFileSystemOptions {
  /** Compare names case-insensitively (keeping their case). Default false, as MEMFS. */
  readonly caseInsensitive?: boolean;
  /** Most nodes (root, files, directories, streams). Default 1024. */
  readonly maxFileNodes?: number;
  /** Largest allocation of one stream, rounded up to the allocation unit. Default 16 MiB. */
  readonly maxFileSize?: number;
  /** Largest total allocation of all streams. Default maxFileNodes × maxFileSize. */
  readonly totalSize?: bigint;
  /** Longest full name in UTF-16 units. Default 511 (MEMFS_MAX_PATH 512, exclusive). */
  readonly maxPathLength?: number;
  /** Default 512. */
  readonly sectorSize?: number;
  /** Default 1. */
  readonly sectorsPerAllocationUnit?: number;
  /** Default "MEMFS". */
  readonly volumeLabel?: string;
  /** Default "WinFsp-MEMFS". */
  readonly fileSystemName?: string;
  /** UNC prefix for a network volume (`\memfs\share`); default "" (disk). */
  readonly volumePrefix?: string;
  /** Default 0 (no caching). winfsp-tests also run 1000 and 0xFFFFFFFF. */
  readonly fileInfoTimeout?: number;
  /** Default false. */
  readonly flushAndPurgeOnCleanup?: boolean;
  /** Default true (MEMFS unless --legacy-unlink-rename). */
  readonly supportsPosixUnlinkRename?: boolean;
  /** Self-relative SD of the root; default from `O:BAG:BAD:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FA;;;WD)`. */
  readonly rootSecurityDescriptor?: Uint8Array;
  /** The clock, as FILETIME; default the system clock. */
  readonly now?: () => bigint;
}

/** One file, directory or named stream. */
class MemNode {
  /** Children of a directory, by comparison key. */
  readonly children: Map<string, MemNode> | null;
  /** Named streams of a main file or directory, by comparison key. */
  readonly streams = new Map<string, MemNode>();
  /** Children's keys in listing order; rebuilt after a change. */
  private sortedKeys: string[] | null = null;
  private sortedStreamKeys: string[] | null = null;

  /** Containing directory (main nodes other than the root). */
  parent: MemNode | null = null;
  fileAttributes: number;
  reparseTag = 0;
  allocationSize = 0n;
  fileSize = 0n;
  creationTime: bigint;
  lastAccessTime: bigint;
  lastWriteTime: bigint;
  changeTime: bigint;
  /** Backing store; its length is a capacity, at least fileSize. */
  data = new Uint8Array(0);
  securityDescriptor: Uint8Array | null = null;
  reparseData: Uint8Array | null = null;
  /** EAs by upper-cased name (EA names compare case-insensitively, as on NTFS). */
  readonly eas = new Map<string, FullEa>();
  eaSize = 0;
  /** Contexts not yet closed. */
  openCount = 0;
  /** In the namespace. */
  linked = true;

  constructor(
    /** The name as created: a component, or a stream's bare name. */
    public name: string,
    readonly isDirectory: boolean,
    /** The main file of a named stream. */
    readonly main: MemNode | null,
    readonly indexNumber: bigint,
    now: bigint,
  ) {
    this.children = isDirectory ? new Map() : null;
    this.fileAttributes = isDirectory ? FileAttribute.FILE_ATTRIBUTE_DIRECTORY : 0;
    this.creationTime = this.lastAccessTime = this.lastWriteTime = this.changeTime = now;
  }

  /** The node that holds attributes, times, security, EAs and reparse data. */
  get owner(): MemNode {
    return this.main ?? this;
  }

  hasChildren(): boolean {
    return this.children !== null && this.children.size > 0;
  }

  childKeysInOrder(): string[] {
    if (this.children === null) return [];
    this.sortedKeys ??= [...this.children.keys()].sort(ordinal);
    return this.sortedKeys;
  }

  streamKeysInOrder(): string[] {
    this.sortedStreamKeys ??= [...this.streams.keys()].sort(ordinal);
    return this.sortedStreamKeys;
  }

  addChild(key: string, child: MemNode): void {
    this.children!.set(key, child);
    child.parent = this;
    this.sortedKeys = null;
  }

  removeChild(key: string): void {
    this.children!.delete(key);
    this.sortedKeys = null;
  }

  addStream(key: string, stream: MemNode): void {
    this.streams.set(key, stream);
    this.sortedStreamKeys = null;
  }

  removeStream(key: string): void {
    this.streams.delete(key);
    this.sortedStreamKeys = null;
  }

  /** FSP_FSCTL_FILE_INFO of this node, as MemfsFileNodeGetFileInfo composes it. */
  fileInfo(): FileInfo {
    const o = this.owner;
    return {
      fileAttributes: this.main === null ? o.fileAttributes : o.fileAttributes & ~FileAttribute.FILE_ATTRIBUTE_DIRECTORY,
      reparseTag: o.reparseTag,
      allocationSize: this.allocationSize,
      fileSize: this.fileSize,
      creationTime: o.creationTime,
      lastAccessTime: o.lastAccessTime,
      lastWriteTime: o.lastWriteTime,
      changeTime: o.changeTime,
      indexNumber: o.indexNumber,
      hardLinks: 0,
      eaSize: o.eaSize,
    };
  }
}

/** A MemoryFileSystem file context: one per Create/Open, valid until Close. */
export class MemfsFileContext {
  closed = false;
  constructor(readonly node: MemNode) {}
}

/** A parsed volume-relative name: directory components, and the stream part if any. */
interface ParsedName {
  readonly components: string[];
  readonly stream: string | null;
}

function ordinal(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Index of the first key in sorted `keys` that is greater than `key`. */
function upperBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The in-memory reference file system. */
export class MemoryFileSystem implements FileSystemInterface<MemfsFileContext> {
  readonly volumeParams: VolumeParams;
  private readonly caseInsensitive: boolean;
  private readonly maxFileNodes: number;
  private readonly maxFileSize: bigint;
  private readonly totalSize: bigint;
  private readonly maxPathLength: number;
  private readonly allocationUnit: bigint;
  private readonly now: () => bigint;
  private readonly root: MemNode;
  private volumeLabel: string;
  private nextIndexNumber = 1n;
  /** Nodes in the namespace, root and streams included. */
  private nodeCount = 0;
  /** Sum of allocation sizes of every node not yet freed. */
  private allocated = 0n;
  private stopped: boolean | null = null;

  constructor(options: MemoryFileSystemOptions = {}) {
    this.now = options.now ?? (() => dateToFiletime(new Date()));
    this.caseInsensitive = options.caseInsensitive ?? false;
    this.maxFileNodes = options.maxFileNodes ?? 1024;
    const sectorSize = options.sectorSize ?? 512;
    const sectorsPerAllocationUnit = options.sectorsPerAllocationUnit ?? 1;
    this.allocationUnit = BigInt(sectorSize * sectorsPerAllocationUnit);
    this.maxFileSize = this.roundUp(BigInt(options.maxFileSize ?? 16 * 1024 * 1024));
    this.totalSize = options.totalSize ?? BigInt(this.maxFileNodes) * this.maxFileSize;
    this.maxPathLength = options.maxPathLength ?? 511;
    this.volumeLabel = (options.volumeLabel ?? "MEMFS").slice(0, VOLUME_LABEL_MAX);
    const created = this.now();
    this.volumeParams = Object.freeze({
      sectorSize,
      sectorsPerAllocationUnit,
      maxComponentLength: 255,
      volumeCreationTime: created,
      volumeSerialNumber: Number((created / 10_000_000n) & 0xffffffffn),
      transactTimeout: 0,
      irpTimeout: 0,
      irpCapacity: 0,
      fileInfoTimeout: options.fileInfoTimeout ?? 0,
      caseSensitiveSearch: !this.caseInsensitive,
      casePreservedNames: true,
      unicodeOnDisk: true,
      persistentAcls: true,
      reparsePoints: true,
      reparsePointsAccessCheck: false,
      namedStreams: true,
      hardLinks: false,
      extendedAttributes: true,
      readOnlyVolume: false,
      postCleanupWhenModifiedOnly: true,
      passQueryDirectoryPattern: false,
      alwaysUseDoubleBuffering: false,
      passQueryDirectoryFileName: true,
      flushAndPurgeOnCleanup: options.flushAndPurgeOnCleanup ?? false,
      deviceControl: true,
      umFileContextIsUserContext2: true,
      umFileContextIsFullContext: false,
      umNoReparsePointsDirCheck: false,
      allowOpenInKernelMode: true,
      casePreservedExtendedAttributes: false,
      wslFeatures: true,
      directoryMarkerAsNextOffset: false,
      rejectIrpPriorToTransact0: false,
      supportsPosixUnlinkRename: options.supportsPosixUnlinkRename ?? true,
      postDispositionWhenNecessaryOnly: true,
      prefix: options.volumePrefix ?? "",
      fileSystemName: options.fileSystemName ?? "WinFsp-MEMFS",
      fsextControlCode: 0,
    });
    this.root = this.newNode("", true, null, created);
    this.root.securityDescriptor = (options.rootSecurityDescriptor ?? defaultRootSecurityDescriptor()).slice();
    this.nodeCount = 1;
  }

  // ---------------------------------------------------------------- volume

  async getVolumeInfo(): Promise<NtResult<VolumeInfo>> {
    return ntOk(this.volumeInfo());
  }

  async setVolumeLabel(volumeLabel: string): Promise<NtResult<VolumeInfo>> {
    this.volumeLabel = volumeLabel.slice(0, VOLUME_LABEL_MAX);
    return ntOk(this.volumeInfo());
  }

  // ---------------------------------------------------------- create/open

  async getSecurityByName(fileName: string): Promise<NtResult<SecurityByName>> {
    const found = this.lookup(fileName);
    if (!found.ok) {
      if (found.status !== NtStatus.STATUS_OBJECT_NAME_INVALID) {
        const index = findReparsePoint((prefix) => this.reparsePointByName(prefix), fileName);
        if (index !== null) return ntOk({ reparse: true, reparsePointIndex: index }, NtStatus.STATUS_REPARSE);
      }
      return found;
    }
    const node = found.value;
    const owner = node.owner;
    return ntOk({
      reparse: false,
      fileAttributes: node.fileInfo().fileAttributes,
      securityDescriptor: owner.securityDescriptor === null ? null : owner.securityDescriptor.slice(),
    });
  }

  async create(request: CreateIn): Promise<NtResult<OpenResult<MemfsFileContext>>> {
    return this.createEx({ ...request, ea: null, reparseData: null });
  }

  async createEx(request: CreateExIn): Promise<NtResult<OpenResult<MemfsFileContext>>> {
    const parsed = this.parse(request.fileName);
    if (!parsed.ok) return parsed;
    const { components, stream } = parsed.value;
    const isDirectory = (request.createOptions & CreateOption.FILE_DIRECTORY_FILE) !== 0;
    if (components.length === 0 && stream === null) return ntFail(NtStatus.STATUS_OBJECT_NAME_COLLISION);

    let container: MemNode;
    let key: string;
    let name: string;
    if (stream !== null) {
      if (isDirectory) return ntFail(NtStatus.STATUS_NOT_A_DIRECTORY);
      const main = this.walk(components);
      if (!main.ok) return main;
      container = main.value;
      name = stream;
      key = this.key(stream);
      if (container.streams.has(key)) return ntFail(NtStatus.STATUS_OBJECT_NAME_COLLISION);
    } else {
      const parent = this.walkParent(components);
      if (!parent.ok) return parent;
      container = parent.value;
      name = components[components.length - 1]!;
      key = this.key(name);
      if (container.children!.has(key)) return ntFail(NtStatus.STATUS_OBJECT_NAME_COLLISION);
    }

    if (this.nodeCount >= this.maxFileNodes) return ntFail(STATUS_CANNOT_MAKE);
    const allocationSize = isDirectory ? 0n : this.roundUp(request.allocationSize);
    if (allocationSize > this.maxFileSize || this.allocated + allocationSize > this.totalSize)
      return ntFail(NtStatus.STATUS_DISK_FULL);

    const now = this.now();
    const node = this.newNode(name, isDirectory, stream !== null ? container : null, now);
    if (stream === null) {
      const given =
        request.fileAttributes & ~(FileAttribute.FILE_ATTRIBUTE_NORMAL | FileAttribute.FILE_ATTRIBUTE_DIRECTORY | FileAttribute.FILE_ATTRIBUTE_REPARSE_POINT);
      node.fileAttributes = isDirectory ? given | FileAttribute.FILE_ATTRIBUTE_DIRECTORY : given | FileAttribute.FILE_ATTRIBUTE_ARCHIVE;
      if (request.securityDescriptor !== null) node.securityDescriptor = request.securityDescriptor.slice();
    }
    if (request.ea !== null) this.applyEas(node.owner, request.ea);
    if (request.reparseData !== null) {
      const tag = reparseTagOf(request.reparseData);
      if (tag === null) return ntFail(NtStatus.STATUS_IO_REPARSE_DATA_INVALID);
      const owner = node.owner;
      owner.reparseData = request.reparseData.slice();
      owner.reparseTag = tag;
      owner.fileAttributes |= FileAttribute.FILE_ATTRIBUTE_REPARSE_POINT;
    }
    node.allocationSize = allocationSize;
    node.data = new Uint8Array(Number(allocationSize));
    this.allocated += allocationSize;

    if (stream !== null) container.addStream(key, node);
    else container.addChild(key, node);
    this.nodeCount++;
    this.touchDirectoryOf(node, now);
    return ntOk(this.openContext(node));
  }

  async open(request: OpenIn): Promise<NtResult<OpenResult<MemfsFileContext>>> {
    const found = this.lookup(request.fileName);
    if (!found.ok) return found;
    const node = found.value;
    if ((request.createOptions & CreateOption.FILE_NO_EA_KNOWLEDGE) !== 0 && node.main === null) {
      for (const ea of node.eas.values()) if ((ea.flags & FILE_NEED_EA) !== 0) return ntFail(NtStatus.STATUS_ACCESS_DENIED);
    }
    return ntOk(this.openContext(node));
  }

  async overwrite(fileContext: MemfsFileContext, request: OverwriteIn): Promise<NtResult<FileInfo>> {
    return this.overwriteEx(fileContext, { ...request, ea: null });
  }

  async overwriteEx(fileContext: MemfsFileContext, request: OverwriteExIn): Promise<NtResult<FileInfo>> {
    const node = fileContext.node;
    if (node.main === null) {
      // Named streams go, except those still open (the FSD shows them as delete-pending).
      for (const [key, stream] of [...node.streams]) {
        if (stream.openCount === 0) this.unlinkStream(node, key, stream);
      }
      node.eas.clear();
      node.eaSize = 0;
    }
    if (request.ea !== null) this.applyEas(node.owner, request.ea);
    const resized = this.setAllocationSize(node, request.allocationSize);
    if (!resized.ok) return resized;
    if (node.main === null) {
      const given =
        request.fileAttributes & ~(FileAttribute.FILE_ATTRIBUTE_NORMAL | FileAttribute.FILE_ATTRIBUTE_DIRECTORY | FileAttribute.FILE_ATTRIBUTE_REPARSE_POINT);
      const kept = node.fileAttributes & (FileAttribute.FILE_ATTRIBUTE_DIRECTORY | FileAttribute.FILE_ATTRIBUTE_REPARSE_POINT);
      node.fileAttributes = request.replaceFileAttributes
        ? given | kept | FileAttribute.FILE_ATTRIBUTE_ARCHIVE
        : node.fileAttributes | given | FileAttribute.FILE_ATTRIBUTE_ARCHIVE;
    }
    node.fileSize = 0n;
    const owner = node.owner;
    owner.lastAccessTime = owner.lastWriteTime = owner.changeTime = this.now();
    return ntOk(node.fileInfo());
  }

  async cleanup(fileContext: MemfsFileContext, _fileName: string | null, flags: number): Promise<void> {
    const node = fileContext.node;
    const owner = node.owner;
    if ((flags & CleanupFlag.SetArchiveBit) !== 0 && !owner.isDirectory) owner.fileAttributes |= FileAttribute.FILE_ATTRIBUTE_ARCHIVE;
    if ((flags & (CleanupFlag.SetLastAccessTime | CleanupFlag.SetLastWriteTime | CleanupFlag.SetChangeTime)) !== 0) {
      const now = this.now();
      if ((flags & CleanupFlag.SetLastAccessTime) !== 0) owner.lastAccessTime = now;
      if ((flags & CleanupFlag.SetLastWriteTime) !== 0) owner.lastWriteTime = now;
      if ((flags & CleanupFlag.SetChangeTime) !== 0) owner.changeTime = now;
    }
    if ((flags & CleanupFlag.SetAllocationSize) !== 0) this.setAllocationSize(node, node.fileSize);
    if ((flags & CleanupFlag.Delete) !== 0 && node.linked && node !== this.root && !node.hasChildren()) {
      this.unlink(node);
    }
  }

  async close(fileContext: MemfsFileContext): Promise<void> {
    if (fileContext.closed) return;
    fileContext.closed = true;
    const node = fileContext.node;
    node.openCount--;
    this.freeIfUnreachable(node);
  }

  // ---------------------------------------------------------------- data

  async read(fileContext: MemfsFileContext, buffer: Uint8Array, offset: bigint): Promise<NtResult<number>> {
    const node = fileContext.node;
    if (offset >= node.fileSize) return ntFail(NtStatus.STATUS_END_OF_FILE);
    let end = offset + BigInt(buffer.length);
    if (end > node.fileSize) end = node.fileSize;
    const n = Number(end - offset);
    buffer.set(node.data.subarray(Number(offset), Number(offset) + n), 0);
    return ntOk(n);
  }

  async write(
    fileContext: MemfsFileContext,
    buffer: Uint8Array,
    offset: bigint,
    writeToEndOfFile: boolean,
    constrainedIo: boolean,
  ): Promise<NtResult<WriteOut>> {
    const node = fileContext.node;
    let end: bigint;
    if (constrainedIo) {
      if (offset >= node.fileSize) return ntOk({ bytesTransferred: 0, fileInfo: node.fileInfo() });
      end = offset + BigInt(buffer.length);
      if (end > node.fileSize) end = node.fileSize;
    } else {
      if (writeToEndOfFile) offset = node.fileSize;
      end = offset + BigInt(buffer.length);
      if (end > node.fileSize) {
        const grown = this.setFileSizeInternal(node, end);
        if (!grown.ok) return grown;
      }
    }
    const n = Number(end - offset);
    node.data.set(buffer.subarray(0, n), Number(offset));
    return ntOk({ bytesTransferred: n, fileInfo: node.fileInfo() });
  }

  async flush(fileContext: MemfsFileContext | null): Promise<NtResult<FileInfo | null>> {
    // Nothing is cached, so there is nothing to write back.
    return ntOk(fileContext === null ? null : fileContext.node.fileInfo());
  }

  // ------------------------------------------------------------ metadata

  async getFileInfo(fileContext: MemfsFileContext): Promise<NtResult<FileInfo>> {
    return ntOk(fileContext.node.fileInfo());
  }

  async setBasicInfo(fileContext: MemfsFileContext, request: BasicInfoIn): Promise<NtResult<FileInfo>> {
    const node = fileContext.node;
    const owner = node.owner;
    if (request.fileAttributes !== INVALID_FILE_ATTRIBUTES) {
      // The FSD already cleared NORMAL and DIRECTORY; keep the bits that follow from what the node is.
      const given =
        request.fileAttributes & ~(FileAttribute.FILE_ATTRIBUTE_NORMAL | FileAttribute.FILE_ATTRIBUTE_DIRECTORY | FileAttribute.FILE_ATTRIBUTE_REPARSE_POINT);
      owner.fileAttributes =
        given |
        (owner.isDirectory ? FileAttribute.FILE_ATTRIBUTE_DIRECTORY : 0) |
        (owner.reparseData !== null ? FileAttribute.FILE_ATTRIBUTE_REPARSE_POINT : 0);
    }
    if (request.creationTime !== 0n) owner.creationTime = request.creationTime;
    if (request.lastAccessTime !== 0n) owner.lastAccessTime = request.lastAccessTime;
    if (request.lastWriteTime !== 0n) owner.lastWriteTime = request.lastWriteTime;
    if (request.changeTime !== 0n) owner.changeTime = request.changeTime;
    return ntOk(node.fileInfo());
  }

  async setFileSize(
    fileContext: MemfsFileContext,
    newSize: bigint,
    setAllocationSize: boolean,
  ): Promise<NtResult<FileInfo>> {
    const node = fileContext.node;
    const result = setAllocationSize ? this.setAllocationSize(node, newSize) : this.setFileSizeInternal(node, newSize);
    if (!result.ok) return result;
    return ntOk(node.fileInfo());
  }

  // ------------------------------------------------------ delete/rename

  async canDelete(fileContext: MemfsFileContext, _fileName: string): Promise<NtResult<void>> {
    return fileContext.node.hasChildren() ? ntFail(NtStatus.STATUS_DIRECTORY_NOT_EMPTY) : NT_OK;
  }

  async setDelete(fileContext: MemfsFileContext, fileName: string, deleteFile: boolean): Promise<NtResult<void>> {
    return deleteFile ? this.canDelete(fileContext, fileName) : NT_OK;
  }

  async rename(
    fileContext: MemfsFileContext,
    _fileName: string,
    newFileName: string,
    replaceIfExists: boolean,
  ): Promise<NtResult<void>> {
    const node = fileContext.node;
    if (node.main !== null || node === this.root || !node.linked) return ntFail(NtStatus.STATUS_INVALID_PARAMETER);
    const parsed = this.parse(newFileName);
    if (!parsed.ok) return parsed;
    const { components, stream } = parsed.value;
    if (stream !== null || components.length === 0) return ntFail(NtStatus.STATUS_INVALID_PARAMETER);
    const parent = this.walkParent(components);
    if (!parent.ok) return parent;
    const newParent = parent.value;
    for (let p: MemNode | null = newParent; p !== null; p = p.parent) {
      if (p === node) return ntFail(NtStatus.STATUS_INVALID_PARAMETER); // into itself
    }
    const newName = components[components.length - 1]!;
    const newKey = this.key(newName);
    const target = newParent.children!.get(newKey);
    if (target !== undefined && target !== node) {
      if (!replaceIfExists) return ntFail(NtStatus.STATUS_OBJECT_NAME_COLLISION);
      if (target.isDirectory) return ntFail(NtStatus.STATUS_ACCESS_DENIED);
    }
    const newFullLength = this.fullName(newParent).length + (newParent === this.root ? 0 : 1) + newName.length;
    if (newFullLength + this.longestSuffix(node) > this.maxPathLength) return ntFail(NtStatus.STATUS_OBJECT_NAME_INVALID);

    const now = this.now();
    if (target !== undefined && target !== node) this.unlink(target);
    const oldParent = node.parent!;
    oldParent.removeChild(this.key(node.name));
    this.touch(oldParent, now);
    node.name = newName;
    newParent.addChild(newKey, node);
    this.touch(newParent, now);
    return NT_OK;
  }

  // ------------------------------------------------------------ security

  async getSecurity(fileContext: MemfsFileContext): Promise<NtResult<Uint8Array>> {
    const sd = fileContext.node.owner.securityDescriptor;
    return ntOk(sd === null ? new Uint8Array(0) : sd.slice());
  }

  async setSecurity(
    fileContext: MemfsFileContext,
    securityInformation: number,
    modificationDescriptor: Uint8Array,
  ): Promise<NtResult<void>> {
    const owner = fileContext.node.owner;
    const merged = applySecurityDescriptor(owner.securityDescriptor, securityInformation, modificationDescriptor);
    if (!merged.ok) return merged;
    owner.securityDescriptor = merged.value;
    return NT_OK;
  }

  // ----------------------------------------------------------- directory

  async readDirectory(
    fileContext: MemfsFileContext,
    pattern: string | null,
    marker: string | null,
    length: number,
  ): Promise<NtResult<DirectoryChunk>> {
    const dir = fileContext.node;
    if (!dir.isDirectory || dir.main !== null) return ntFail(NtStatus.STATUS_NOT_A_DIRECTORY);
    const packer = new DirInfoPacker(length);
    const matches = (name: string): boolean =>
      pattern === null || isNameInExpression(pattern, name, this.caseInsensitive);
    const add = (fileName: string, node: MemNode): boolean =>
      !matches(fileName) || packer.add({ fileName, fileInfo: node.fileInfo() });

    let from = 0;
    const keys = dir.childKeysInOrder();
    if (dir !== this.root) {
      // The dot entries come first, whatever the order of the children.
      if (marker === null && !add(".", dir)) return ntOk(packer.chunk());
      if (marker === null || marker === ".") {
        if (!add("..", dir.parent ?? dir)) return ntOk(packer.chunk());
        marker = null;
      } else if (marker === "..") marker = null;
    }
    if (marker !== null) from = upperBound(keys, this.key(marker));
    for (let i = from; i < keys.length; i++) {
      const child = dir.children!.get(keys[i]!)!;
      if (!add(child.name, child)) return ntOk(packer.chunk());
    }
    packer.end();
    return ntOk(packer.chunk());
  }

  async getDirInfoByName(parentContext: MemfsFileContext, fileName: string): Promise<NtResult<DirInfo>> {
    const dir = parentContext.node;
    if (!dir.isDirectory || dir.main !== null) return ntFail(NtStatus.STATUS_NOT_A_DIRECTORY);
    const child = dir.children!.get(this.key(fileName));
    if (child === undefined) return ntFail(NtStatus.STATUS_OBJECT_NAME_NOT_FOUND);
    return ntOk({ fileName: child.name, fileInfo: child.fileInfo() });
  }

  // ------------------------------------------------------- reparse points

  async resolveReparsePoints(
    fileName: string,
    reparsePointIndex: number,
    resolveLastPathComponent: boolean,
  ): Promise<NtResult<ReparseResolution>> {
    return resolveReparsePoints(
      (name) => this.reparsePointByName(name),
      fileName,
      reparsePointIndex,
      resolveLastPathComponent,
    );
  }

  async getReparsePoint(fileContext: MemfsFileContext, _fileName: string): Promise<NtResult<Uint8Array>> {
    const owner = fileContext.node.owner;
    if (owner.reparseData === null) return ntFail(NtStatus.STATUS_NOT_A_REPARSE_POINT);
    return ntOk(owner.reparseData.slice());
  }

  async setReparsePoint(
    fileContext: MemfsFileContext,
    _fileName: string,
    buffer: Uint8Array,
  ): Promise<NtResult<void>> {
    const owner = fileContext.node.owner;
    if (owner.hasChildren()) return ntFail(NtStatus.STATUS_DIRECTORY_NOT_EMPTY);
    const tag = reparseTagOf(buffer);
    if (tag === null) return ntFail(NtStatus.STATUS_IO_REPARSE_DATA_INVALID);
    if (owner.reparseData !== null) {
      const status = canReplaceReparsePoint(owner.reparseData, buffer);
      if (status !== NtStatus.STATUS_SUCCESS) return ntFail(status);
    }
    owner.reparseData = buffer.slice();
    owner.reparseTag = tag;
    owner.fileAttributes |= FileAttribute.FILE_ATTRIBUTE_REPARSE_POINT;
    return NT_OK;
  }

  async deleteReparsePoint(
    fileContext: MemfsFileContext,
    _fileName: string,
    buffer: Uint8Array,
  ): Promise<NtResult<void>> {
    const owner = fileContext.node.owner;
    if (owner.reparseData === null) return ntFail(NtStatus.STATUS_NOT_A_REPARSE_POINT);
    const status = canReplaceReparsePoint(owner.reparseData, buffer);
    if (status !== NtStatus.STATUS_SUCCESS) return ntFail(status);
    owner.reparseData = null;
    owner.reparseTag = 0;
    owner.fileAttributes &= ~FileAttribute.FILE_ATTRIBUTE_REPARSE_POINT;
    return NT_OK;
  }

  // -------------------------------------------------------------- streams

  async getStreamInfo(fileContext: MemfsFileContext): Promise<NtResult<StreamInfo[]>> {
    const main = fileContext.node.owner;
    const out: StreamInfo[] = [];
    if (!main.isDirectory)
      out.push({ streamName: "", streamSize: main.fileSize, streamAllocationSize: main.allocationSize });
    for (const key of main.streamKeysInOrder()) {
      const s = main.streams.get(key)!;
      out.push({ streamName: s.name, streamSize: s.fileSize, streamAllocationSize: s.allocationSize });
    }
    return ntOk(out);
  }

  // ------------------------------------------------------------------ EAs

  async getEa(fileContext: MemfsFileContext): Promise<NtResult<FullEa[]>> {
    const owner = fileContext.node.owner;
    const keys = [...owner.eas.keys()].sort(ordinal);
    return ntOk(keys.map((k) => copyEa(owner.eas.get(k)!)));
  }

  async setEa(fileContext: MemfsFileContext, ea: readonly FullEa[]): Promise<NtResult<FileInfo>> {
    this.applyEas(fileContext.node.owner, ea);
    return ntOk(fileContext.node.fileInfo());
  }

  // ------------------------------------------------------------- control

  async control(
    _fileContext: MemfsFileContext,
    controlCode: number,
    input: Uint8Array,
    outputLength: number,
  ): Promise<NtResult<Uint8Array>> {
    if (controlCode >>> 0 !== MEMFS_CONTROL_ROT13) return ntFail(NtStatus.STATUS_INVALID_DEVICE_REQUEST);
    if (outputLength !== input.length) return ntFail(NtStatus.STATUS_INVALID_PARAMETER);
    const out = new Uint8Array(input.length);
    for (let i = 0; i < input.length; i++) {
      const c = input[i]!;
      const lower = c | 0x20;
      out[i] = lower >= 0x61 && lower <= 0x6d ? c + 13 : lower >= 0x6e && lower <= 0x7a ? c - 13 : c;
    }
    return ntOk(out);
  }

  async dispatcherStopped(normally: boolean): Promise<void> {
    this.stopped = normally;
  }

  // ---------------------------------------------------- inspection (tests)

  /** Nodes in the namespace, root and streams included. */
  get fileNodeCount(): number {
    return this.nodeCount;
  }

  /** Bytes allocated to streams not yet freed. */
  get allocatedSize(): bigint {
    return this.allocated;
  }

  /** `null` until DispatcherStopped; then its `normally` argument. */
  get dispatcherStoppedNormally(): boolean | null {
    return this.stopped;
  }

  /** The stored-case full name of the context's file (`\Dir\File:stream`); `null` once deleted. */
  fileNameOf(fileContext: MemfsFileContext): string | null {
    const node = fileContext.node;
    if (!node.linked) return null;
    return this.fullName(node);
  }

  // -------------------------------------------------------------- helpers

  private volumeInfo(): VolumeInfo {
    const free = this.totalSize - this.allocated;
    return { totalSize: this.totalSize, freeSize: free > 0n ? free : 0n, volumeLabel: this.volumeLabel };
  }

  private newNode(name: string, isDirectory: boolean, main: MemNode | null, now: bigint): MemNode {
    const index = main === null ? this.nextIndexNumber++ : main.indexNumber;
    return new MemNode(name, isDirectory, main, index, now);
  }

  private key(name: string): string {
    return this.caseInsensitive ? upcase(name) : name;
  }

  private roundUp(size: bigint): bigint {
    const unit = this.allocationUnit;
    return ((size + unit - 1n) / unit) * unit;
  }

  private openContext(node: MemNode): OpenResult<MemfsFileContext> {
    node.openCount++;
    return {
      fileContext: new MemfsFileContext(node),
      fileInfo: node.fileInfo(),
      normalizedName: this.caseInsensitive ? this.fullName(node) : null,
    };
  }

  /** Splits `\a\b:s` into components and stream; rejects names that are not volume-relative. */
  private parse(fileName: string): NtResult<ParsedName> {
    if (fileName.length === 0 || fileName.charCodeAt(0) !== 0x5c || fileName.length > this.maxPathLength)
      return ntFail(NtStatus.STATUS_OBJECT_NAME_INVALID);
    const colon = fileName.indexOf(":");
    const path = colon < 0 ? fileName : fileName.slice(0, colon);
    let stream = colon < 0 ? null : fileName.slice(colon + 1);
    if (stream !== null) {
      // A `:$DATA` type suffix may still be there when a caller did not strip it.
      const type = stream.indexOf(":");
      if (type >= 0) {
        if (upcase(stream.slice(type + 1)) !== "$DATA") return ntFail(NtStatus.STATUS_OBJECT_NAME_INVALID);
        stream = stream.slice(0, type);
      }
      if (stream.length === 0) stream = null;
      if (stream !== null && stream.includes("\\")) return ntFail(NtStatus.STATUS_OBJECT_NAME_INVALID);
    }
    const components = path === "\\" ? [] : path.slice(1).split("\\");
    if (components.some((c) => c.length === 0)) return ntFail(NtStatus.STATUS_OBJECT_NAME_INVALID);
    return ntOk({ components, stream });
  }

  /**
   * The directory that holds the last component. A missing ancestor is
   * STATUS_OBJECT_PATH_NOT_FOUND; an immediate parent that is a file is
   * STATUS_NOT_A_DIRECTORY (a file further up: PATH_NOT_FOUND, as MEMFS).
   */
  private walkParent(components: readonly string[]): NtResult<MemNode> {
    let dir = this.root;
    for (let i = 0; i < components.length - 1; i++) {
      const child = dir.children!.get(this.key(components[i]!));
      if (child === undefined) return ntFail(NtStatus.STATUS_OBJECT_PATH_NOT_FOUND);
      if (!child.isDirectory)
        return ntFail(
          i === components.length - 2 ? NtStatus.STATUS_NOT_A_DIRECTORY : NtStatus.STATUS_OBJECT_PATH_NOT_FOUND,
        );
      dir = child;
    }
    return ntOk(dir);
  }

  /** The main file or directory named by `components`. */
  private walk(components: readonly string[]): NtResult<MemNode> {
    if (components.length === 0) return ntOk(this.root);
    const parent = this.walkParent(components);
    if (!parent.ok) return parent;
    const node = parent.value.children!.get(this.key(components[components.length - 1]!));
    return node === undefined ? ntFail(NtStatus.STATUS_OBJECT_NAME_NOT_FOUND) : ntOk(node);
  }

  /** The node (main file, directory or stream) named by `fileName`. */
  private lookup(fileName: string): NtResult<MemNode> {
    const parsed = this.parse(fileName);
    if (!parsed.ok) return parsed;
    const main = this.walk(parsed.value.components);
    if (!main.ok || parsed.value.stream === null) return main;
    const stream = main.value.streams.get(this.key(parsed.value.stream));
    return stream === undefined ? ntFail(NtStatus.STATUS_OBJECT_NAME_NOT_FOUND) : ntOk(stream);
  }

  /** GetReparsePointByName for the helpers: a main node's reparse data by name. */
  private reparsePointByName(fileName: string): NtResult<Uint8Array> {
    const found = this.lookup(fileName);
    if (!found.ok) return found;
    const node = found.value.owner;
    if (node.reparseData === null) return ntFail(NtStatus.STATUS_NOT_A_REPARSE_POINT);
    return ntOk(node.reparseData);
  }

  private fullName(node: MemNode): string {
    if (node.main !== null) return `${this.fullName(node.main)}:${node.name}`;
    if (node === this.root) return "\\";
    const parts: string[] = [];
    for (let n: MemNode | null = node; n !== null && n !== this.root; n = n.parent) parts.push(n.name);
    return `\\${parts.reverse().join("\\")}`;
  }

  /** The longest name suffix below `node` (itself, descendants and streams), relative to its own name's end. */
  private longestSuffix(node: MemNode): number {
    let longest = 0;
    for (const s of node.streams.values()) longest = Math.max(longest, 1 + s.name.length);
    if (node.children !== null) {
      for (const c of node.children.values()) longest = Math.max(longest, 1 + c.name.length + this.longestSuffix(c));
    }
    return longest;
  }

  /** MEMFS touches the directory a name is added to or removed from. */
  private touchDirectoryOf(node: MemNode, now: bigint): void {
    const main = node.owner;
    if (main.parent !== null) this.touch(main.parent, now);
  }

  private touch(dir: MemNode, now: bigint): void {
    dir.lastAccessTime = dir.lastWriteTime = dir.changeTime = now;
  }

  /** Removes a main node (and its streams) or a stream from the namespace. */
  private unlink(node: MemNode): void {
    const now = this.now();
    if (node.main !== null) {
      this.unlinkStream(node.main, this.key(node.name), node);
      this.touchDirectoryOf(node, now);
      return;
    }
    for (const [key, stream] of [...node.streams]) this.unlinkStream(node, key, stream);
    const parent = node.parent!;
    parent.removeChild(this.key(node.name));
    node.linked = false;
    this.nodeCount--;
    this.touch(parent, now);
    this.freeIfUnreachable(node);
  }

  private unlinkStream(main: MemNode, key: string, stream: MemNode): void {
    main.removeStream(key);
    stream.linked = false;
    this.nodeCount--;
    this.freeIfUnreachable(stream);
  }

  /** Gives back the allocation of a node that is out of the namespace and no longer open. */
  private freeIfUnreachable(node: MemNode): void {
    if (node.linked || node.openCount > 0) return;
    this.allocated -= node.allocationSize;
    node.allocationSize = 0n;
    node.fileSize = 0n;
    node.data = new Uint8Array(0);
  }

  /** SetFileSizeInternal with SetAllocationSize TRUE. */
  private setAllocationSize(node: MemNode, size: bigint): NtResult<void> {
    const newSize = this.roundUp(size);
    if (newSize === node.allocationSize) return NT_OK;
    const counted = node.linked || node.openCount > 0;
    if (newSize > this.maxFileSize) return ntFail(NtStatus.STATUS_DISK_FULL);
    if (counted && newSize > node.allocationSize && this.allocated + newSize - node.allocationSize > this.totalSize)
      return ntFail(NtStatus.STATUS_DISK_FULL);
    if (counted) this.allocated += newSize - node.allocationSize;
    node.allocationSize = newSize;
    if (node.fileSize > newSize) node.fileSize = newSize;
    const capacity = Number(newSize);
    if (node.data.length < capacity || node.data.length > 4 * capacity + 65536) {
      const data = new Uint8Array(capacity);
      data.set(node.data.subarray(0, Number(node.fileSize)));
      node.data = data;
    }
    return NT_OK;
  }

  /** SetFileSizeInternal with SetAllocationSize FALSE: grows the allocation as needed, zero-fills growth. */
  private setFileSizeInternal(node: MemNode, newSize: bigint): NtResult<void> {
    if (newSize === node.fileSize) return NT_OK;
    if (node.allocationSize < newSize) {
      const grown = this.setAllocationSize(node, newSize);
      if (!grown.ok) return grown;
    }
    if (node.fileSize < newSize) node.data.fill(0, Number(node.fileSize), Number(newSize));
    node.fileSize = newSize;
    return NT_OK;
  }

  /** Sets or replaces each EA; an empty value deletes. Keeps eaSize the packed sum. */
  private applyEas(owner: MemNode, eas: readonly FullEa[]): void {
    for (const ea of eas) {
      const key = upcase(ea.name);
      const old = owner.eas.get(key);
      if (old !== undefined) {
        owner.eaSize -= eaPackedSize(old);
        owner.eas.delete(key);
      }
      if (ea.value.length !== 0) {
        const copy = copyEa(ea);
        owner.eas.set(key, copy);
        owner.eaSize += eaPackedSize(copy);
      }
    }
  }
}

function copyEa(ea: FullEa): FullEa {
  return { flags: ea.flags, name: ea.name, value: ea.value.slice() };
}
