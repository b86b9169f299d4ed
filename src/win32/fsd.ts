/**
 * The FSD: what WinFsp's kernel driver (src/sys) and the dispatch layer of
 * its DLL (src/dll/fsop.c, security.c) do on top of a
 * {@link FileSystemInterface}, so that Windows file semantics hold whatever
 * file system is below.
 *
 * One {@link Fsd} serves one volume. It keeps:
 *
 * - the open-file table: one {@link FileNode} per name (case-insensitive on
 *   case-insensitive volumes), with share access, delete-pending and
 *   POSIX-delete state, byte-range locks, oplocks, the cached FileInfo and
 *   security descriptor, the EA change count and the file's sections;
 * - one {@link FileObject} per open (the FILE_OBJECT with WinFsp's
 *   FSP_FILE_DESC): granted access, share mode, delete-on-close, what the
 *   handle changed (for Cleanup's flags), the directory-enumeration and EA
 *   cursors, the file position of a synchronous handle;
 * - the volume's change-notification list.
 *
 * Requests arrive as IRP-like calls from the I/O manager (iomgr.ts) and
 * answer NTSTATUS values; the file system is called with the arguments and
 * guarantees its interface states. Requests that change the namespace or a
 * file's metadata run one at a time (WinFsp's rename resource and file-node
 * resources); waits for oplock breaks, byte-range locks and change
 * notifications happen outside that serialization.
 */
import { ProtocolError } from "../common/errors.js";
import { FileAttribute, INVALID_FILE_ATTRIBUTES } from "../windows/attributes.js";
import { FILE_NEED_EA, decodeFullEaList, encodeFullEaList, decodeGetEaList, isValidEaName, type FullEa } from "../windows/ea.js";
import { NtStatus, ntSuccess } from "../windows/ntstatus.js";
import {
  ReparseTag,
  REPARSE_DATA_BUFFER_HEADER_SIZE,
  REPARSE_GUID_DATA_BUFFER_HEADER_SIZE,
  SYMLINK_FLAG_RELATIVE,
  decodeReparseBuffer,
  isMicrosoftTag,
  validateReparseBuffer,
} from "../windows/reparse.js";
import {
  AccessMask,
  decodeSecurityDescriptor,
  encodeSecurityDescriptor,
  filterSecurityDescriptor,
  type SecurityDescriptor,
} from "../windows/security.js";
import { basicInfoRequest, type CallerBasicInfo } from "../winfsp/basic-info.js";
import { CleanupFlag, CreateDisposition, CreateOption, CreateResult, IO_REPARSE } from "../winfsp/constants.js";
import { ntOk, type FileInfo, type FileSystemInterface, type NtResult, type ReparseResolution, type StreamInfo, type VolumeInfo } from "../winfsp/interface.js";
import { effectiveVolumeParams, fileSystemAttributes, reportedFileSystemName, type EffectiveVolumeParams } from "../winfsp/volume-params.js";
import { hasWildcards, isNameInExpression, upcase } from "../winfsp/wildcard.js";
import {
  FILE_ACTION_ADDED,
  FILE_ACTION_ADDED_STREAM,
  FILE_ACTION_MODIFIED,
  FILE_ACTION_MODIFIED_STREAM,
  FILE_ACTION_REMOVED,
  FILE_ACTION_REMOVED_STREAM,
  FILE_ACTION_RENAMED_NEW_NAME,
  FILE_ACTION_RENAMED_OLD_NAME,
  FILE_DISPOSITION_DELETE,
  FILE_DISPOSITION_FORCE_IMAGE_SECTION_CHECK,
  FILE_DISPOSITION_IGNORE_READONLY_ATTRIBUTE,
  FILE_DISPOSITION_ON_CLOSE,
  FILE_DISPOSITION_POSIX_SEMANTICS,
  FILE_NOTIFY_CHANGE_ATTRIBUTES,
  FILE_NOTIFY_CHANGE_CREATION,
  FILE_NOTIFY_CHANGE_DIR_NAME,
  FILE_NOTIFY_CHANGE_EA,
  FILE_NOTIFY_CHANGE_FILE_NAME,
  FILE_NOTIFY_CHANGE_LAST_ACCESS,
  FILE_NOTIFY_CHANGE_LAST_WRITE,
  FILE_NOTIFY_CHANGE_SECURITY,
  FILE_NOTIFY_CHANGE_SIZE,
  FILE_NOTIFY_CHANGE_STREAM_NAME,
  FILE_NOTIFY_CHANGE_STREAM_SIZE,
  FILE_NOTIFY_CHANGE_STREAM_WRITE,
  FILE_RENAME_IGNORE_READONLY_ATTRIBUTE,
  FILE_RENAME_POSIX_SEMANTICS,
  FILE_SHARE_DELETE,
  FILE_SHARE_READ,
  FILE_SHARE_WRITE,
  FSCTL_DELETE_REPARSE_POINT,
  FSCTL_FILESYSTEM_GET_STATISTICS,
  FSCTL_GET_REPARSE_POINT,
  FSCTL_IS_VOLUME_MOUNTED,
  FSCTL_OPBATCH_ACK_CLOSE_PENDING,
  FSCTL_OPLOCK_BREAK_ACKNOWLEDGE,
  FSCTL_OPLOCK_BREAK_ACK_NO_2,
  FSCTL_QUERY_PERSISTENT_VOLUME_STATE,
  FSCTL_REQUEST_BATCH_OPLOCK,
  FSCTL_REQUEST_FILTER_OPLOCK,
  FSCTL_REQUEST_OPLOCK,
  FSCTL_REQUEST_OPLOCK_LEVEL_1,
  FSCTL_REQUEST_OPLOCK_LEVEL_2,
  FSCTL_SET_REPARSE_POINT,
  FSP_FSCTL_QUERY_WINFSP,
  FileInformationClass,
  PERSISTENT_VOLUME_STATE_SHORT_NAME_CREATION_DISABLED,
} from "./constants.js";
import { directoryInfoBaseLength, writeDirectoryEntry } from "./dirinfo.js";
import { FileLockList, type LockRequestResult } from "./locks.js";
import { DataSection, ImageSection, type PagingIo } from "./mm.js";
import {
  isNameOrDescendant,
  isValidMainFileName,
  isValidPattern,
  joinName,
  lastComponentIndex,
  nameKey,
  parseFileName,
  splitLast,
} from "./names.js";
import { NotifyList, type NotifyCompletion } from "./notify.js";
import { Oplock, type OplockCompletion } from "./oplock.js";
import { AsyncMutex } from "./sync.js";
import { accessCheck, createObjectSecurity, type AccessToken } from "./token.js";

const S = NtStatus;
const A = AccessMask;
const O = CreateOption;
const FA = FileAttribute;

/** Is this status a failure (an NTSTATUS error or warning)? */
function failed(status: number): boolean {
  return !ntSuccess(status);
}

/** A successful FSD answer with a value and IO_STATUS_BLOCK.Information. */
export interface IoOk<T> {
  readonly status: number;
  readonly information: number;
  readonly value: T;
}

/** What most FSD requests answer: a status (success, warning or error), Information, and a value on success. */
export type IoResult<T> = IoOk<T> | { readonly status: number; readonly information: number; readonly value?: undefined };

function io<T>(status: number, value: T, information = 0): IoOk<T> {
  return { status, information, value };
}

function ioFail(status: number, information = 0): { status: number; information: number } {
  return { status, information };
}

// ------------------------------------------------------------------ nodes

/** IoCheckShareAccess bookkeeping of a file node. */
interface ShareAccess {
  openCount: number;
  readers: number;
  writers: number;
  deleters: number;
  sharedRead: number;
  sharedWrite: number;
  sharedDelete: number;
}

/** The basic part of a file's information (kept on the main file node; streams share it). */
interface BasicPart {
  fileAttributes: number;
  reparseTag: number;
  creationTime: bigint;
  lastAccessTime: bigint;
  lastWriteTime: bigint;
  changeTime: bigint;
  indexNumber: bigint;
  eaSize: number;
  hardLinks: number;
}

/** The FSD's state of one open file, directory or stream (FSP_FILE_NODE). */
export class FileNode {
  /** The name the node is known by: `\dir\file`, `\dir\file:stream`; `\` for the root. */
  fileName: string;
  key: string;
  isDirectory = false;
  isRootDirectory = false;
  /** File objects not yet closed (the node leaves the table when this drops to 0). */
  openCount = 0;
  /** File objects not yet cleaned up. */
  handleCount = 0;
  readonly share: ShareAccess = { openCount: 0, readers: 0, writers: 0, deleters: 0, sharedRead: 0, sharedWrite: 0, sharedDelete: 0 };
  mainFileDenyDeleteCount = 0;
  streamDenyDeleteCount = 0;
  deletePending = false;
  posixDelete = false;
  truncateOnClose = false;
  inTable = false;
  /** Cached sizes (this node) and basic information (the main node's). */
  allocationSize = 0n;
  fileSize = 0n;
  sizesExpire = 0;
  basic: BasicPart | null = null;
  basicExpire = 0;
  securityCache: Uint8Array | null = null;
  securityExpire = 0;
  eaChangeCount = 0;
  readonly locks = new FileLockList();
  readonly oplock = new Oplock();
  dataSection: DataSection<FileObject> | null = null;
  imageSection: ImageSection<FileObject> | null = null;

  constructor(
    name: string,
    caseInsensitive: boolean,
    /** The main file node of a named stream. */
    readonly main: FileNode | null,
  ) {
    this.fileName = name;
    this.key = nameKey(name, caseInsensitive);
  }

  /** The node that holds attributes, times, security and EAs. */
  get owner(): FileNode {
    return this.main ?? this;
  }
}

/** One open (FILE_OBJECT plus WinFsp's FSP_FILE_DESC). */
export class FileObject {
  private static nextId = 1;
  readonly id = FileObject.nextId++;
  /** The file system's context; undefined for a volume open. */
  fsContext: unknown;
  grantedAccess = 0;
  shareAccess = 0;
  readAccess = false;
  writeAccess = false;
  deleteAccess = false;
  sharedRead = false;
  sharedWrite = false;
  sharedDelete = false;
  caseSensitive = true;
  hasTraversePrivilege = true;
  deleteOnClose = false;
  /** FileObject->DeletePending (a disposition through this handle). */
  deletePendingFlag = false;
  posixDelete = false;
  dispositionStatus: number = S.STATUS_SUCCESS;
  didSetMetadata = false;
  didSetFileAttributes = false;
  didSetSecurity = false;
  didSetCreationTime = false;
  didSetLastAccessTime = false;
  didSetLastWriteTime = false;
  didSetChangeTime = false;
  /** FO_FILE_MODIFIED. */
  modified = false;
  /** Options from NtCreateFile. */
  createOptions = 0;
  /** The synchronous file position (FO_SYNCHRONOUS_IO handles). */
  currentByteOffset = 0n;
  dirPattern: string | null = null;
  dirMarker: string | null = null;
  dirHasSuchFile = false;
  eaIndex = 0;
  eaChangeCount = 0;
  /** The internal open of the main file that a named stream's open holds. */
  mainFileObject: FileObject | null = null;
  /** Handles (0 or 1) and references (handle, sections, image) of this object. */
  handleOpen = true;
  references = 1;
  cleanedUp = false;
  closed = false;

  constructor(
    readonly fsd: Fsd,
    /** null for a volume open. */
    public node: FileNode | null,
    readonly token: AccessToken | null,
  ) {}

  get isVolume(): boolean {
    return this.node === null;
  }

  get synchronousIo(): boolean {
    return (this.createOptions & (O.FILE_SYNCHRONOUS_IO_ALERT | O.FILE_SYNCHRONOUS_IO_NONALERT)) !== 0;
  }

  get noIntermediateBuffering(): boolean {
    return (this.createOptions & O.FILE_NO_INTERMEDIATE_BUFFERING) !== 0;
  }
}

// -------------------------------------------------------------- requests

/** IRP_MJ_CREATE as the I/O manager hands it to the FSD. */
export interface CreateRequest {
  /** Volume-relative (`\dir\file`), or relative to `relatedFileObject`; `""` with no related object opens the volume. */
  readonly fileName: string;
  readonly relatedFileObject: FileObject | null;
  /** The access still to be checked, generic rights already mapped. */
  readonly desiredAccess: number;
  /** Access the I/O manager already granted (backup/restore privileges). */
  readonly grantedAccess: number;
  readonly fileAttributes: number;
  readonly shareAccess: number;
  readonly createDisposition: number;
  /** NtCreateFile options (low 24 bits). */
  readonly createOptions: number;
  readonly allocationSize: bigint;
  /** Self-relative security descriptor for a new file. */
  readonly securityDescriptor: Uint8Array | null;
  /** A FILE_FULL_EA_INFORMATION buffer. */
  readonly eaBuffer: Uint8Array | null;
  readonly openTargetDirectory: boolean;
  readonly token: AccessToken;
  readonly userMode: boolean;
  readonly hasTraversePrivilege: boolean;
  readonly hasBackupPrivilege: boolean;
  readonly hasRestorePrivilege: boolean;
}

/** How a create ends. */
export type CreateOutcome =
  | { readonly kind: "opened"; readonly status: number; readonly information: number; readonly fileObject: FileObject }
  /** STATUS_REPARSE with Information IO_REPARSE: open `path` (an NT path) instead. */
  | { readonly kind: "reparse-name"; readonly path: string }
  /** STATUS_REPARSE with Information = a tag the I/O manager must handle (or fail). */
  /** STATUS_REPARSE with Information = the tag of a reparse point the I/O manager must handle (or fail); `unparsedLength` UTF-16 units of the name follow it. */
  | { readonly kind: "reparse-tag"; readonly tag: number; readonly buffer: Uint8Array; readonly unparsedLength: number }
  | { readonly kind: "failed"; readonly status: number; readonly information: number };

/** Options of an Fsd. */
export interface FsdOptions {
  /** The NT device name the volume answers to, e.g. `\Device\Viofs0`. */
  readonly volumeName: string;
}

/** FILE_STANDARD_INFORMATION. */
export interface StandardInformation {
  readonly allocationSize: bigint;
  readonly endOfFile: bigint;
  readonly numberOfLinks: number;
  readonly deletePending: boolean;
  readonly directory: boolean;
}

/** FILE_STAT_INFORMATION (class 68, volumes with WslFeatures). */
export interface StatInformation {
  readonly fileId: bigint;
  readonly creationTime: bigint;
  readonly lastAccessTime: bigint;
  readonly lastWriteTime: bigint;
  readonly changeTime: bigint;
  readonly allocationSize: bigint;
  readonly endOfFile: bigint;
  readonly fileAttributes: number;
  readonly reparseTag: number;
  readonly numberOfLinks: number;
  /** What the caller's token may do to the file (MAXIMUM_ALLOWED against its descriptor); 0 when that cannot be read. */
  readonly effectiveAccess: number;
}

/** FILE_STAT_LX_INFORMATION (class 70): the stat information and the WSL metadata EAs. */
export interface StatLxInformation extends StatInformation {
  /** LX_FILE_METADATA_HAS_UID 1, _GID 2, _MODE 4, _DEVICE_ID 8: which of the following came from an EA. */
  readonly lxFlags: number;
  readonly lxUid: number;
  readonly lxGid: number;
  readonly lxMode: number;
  readonly lxDeviceIdMajor: number;
  readonly lxDeviceIdMinor: number;
}

/** The file-information classes the FSD answers, decoded. */
export type QueryInformationValue =
  | { readonly class: "basic"; readonly info: FileInfo }
  | { readonly class: "standard"; readonly standard: StandardInformation }
  | { readonly class: "internal"; readonly indexNumber: bigint }
  | { readonly class: "ea"; readonly eaSize: number }
  | { readonly class: "name"; readonly fileName: string }
  | { readonly class: "all"; readonly info: FileInfo; readonly standard: StandardInformation; readonly fileName: string; readonly position: bigint; readonly access: number; readonly mode: number }
  | { readonly class: "network-open"; readonly info: FileInfo }
  | { readonly class: "attribute-tag"; readonly fileAttributes: number; readonly reparseTag: number }
  | { readonly class: "stream"; readonly streams: readonly StreamInfo[] }
  | { readonly class: "stat"; readonly stat: StatInformation }
  | { readonly class: "stat-lx"; readonly stat: StatLxInformation }
  | { readonly class: "position"; readonly position: bigint };

/** The volume-information classes, decoded. */
export interface VolumeInformation {
  readonly volumeLabel: string;
  readonly volumeSerialNumber: number;
  readonly volumeCreationTime: bigint;
  readonly fileSystemAttributes: number;
  readonly maximumComponentNameLength: number;
  readonly fileSystemName: string;
  readonly bytesPerSector: number;
  readonly sectorsPerAllocationUnit: number;
  readonly totalAllocationUnits: bigint;
  readonly availableAllocationUnits: bigint;
}

/** NtQueryDirectoryFile parameters. */
export interface QueryDirectoryRequest {
  readonly infoClass: number;
  readonly length: number;
  readonly returnSingleEntry: boolean;
  readonly fileName: string | null;
  readonly restartScan: boolean;
  readonly indexSpecified: boolean;
}

/** NtQueryEaFile parameters. */
export interface QueryEaRequest {
  readonly length: number;
  readonly returnSingleEntry: boolean;
  /** A FILE_GET_EA_INFORMATION buffer, or null. */
  readonly eaList: Uint8Array | null;
  /** SL_INDEX_SPECIFIED with this 1-based index, or null. */
  readonly eaIndex: number | null;
  readonly restartScan: boolean;
}

/** A rename as the I/O manager hands it over. */
export interface RenameRequest {
  /** FileRenameInformation (10) or FileRenameInformationEx (65). */
  readonly infoClass: number;
  readonly replaceIfExists: boolean;
  /** FileRenameInformationEx flags. */
  readonly flags: number;
  /** The target directory the I/O manager opened (SL_OPEN_TARGET_DIRECTORY), or null for a simple rename. */
  readonly targetDirectory: FileObject | null;
  /** The new name: the last component when a target directory is given, else the name as the caller passed it. */
  readonly fileName: string;
  readonly token: AccessToken;
}

/** An FSCTL's answer: done now (with output), or pending (oplocks). */
export type FsctlResult =
  | { readonly status: number; readonly information: number; readonly output: Uint8Array | null }
  | { readonly pending: Promise<OplockCompletion> };

/** What GetSecurityByName tells an access check. */
interface NameSecurity {
  readonly status: number;
  readonly fileAttributes: number;
  readonly sd: SecurityDescriptor | null;
  readonly sdBytes: Uint8Array | null;
  readonly reparseIndex: number;
}

/** The DLL's answer to a Create request (fsop.c). */
type DllCreate =
  | {
      readonly kind: "opened";
      readonly information: number;
      readonly fsContext: unknown;
      readonly fileInfo: FileInfo;
      readonly normalizedName: string | null;
      readonly grantedAccess: number;
    }
  | { readonly kind: "reparse"; readonly resolution: ReparseResolution }
  | { readonly kind: "failed"; readonly status: number };

/** The parts of a Create request the DLL looks at. */
interface DllRequest {
  /** The file node name (single colon for streams). */
  readonly fileName: string;
  /** UTF-16 index of the stream colon, 0 for none. */
  readonly namedStream: number;
  readonly createOptions: number;
  readonly disposition: number;
  readonly desiredAccess: number;
  readonly grantedAccess: number;
  readonly fileAttributes: number;
  readonly securityDescriptor: Uint8Array | null;
  readonly allocationSize: bigint;
  readonly ea: readonly FullEa[] | null;
  readonly token: AccessToken;
  readonly userMode: boolean;
  readonly hasTraversePrivilege: boolean;
  readonly hasRestorePrivilege: boolean;
  readonly hasTrailingBackslash: boolean;
  readonly openTargetDirectory: boolean;
}

/** The longest FSP_FSCTL_DIR_INFO buffer the FSD asks a file system for (FspFsvolQueryDirectoryLengthMax). */
const QUERY_DIRECTORY_LENGTH_MAX = 16 * 4096 - 64;

function nowMs(): number {
  return performance.now();
}

/** Holds the FSD's serialization and lets a request wait outside it. */
class LockScope {
  constructor(
    private readonly mutex: AsyncMutex,
    public release: () => void,
  ) {}
  /** Releases the serialization while `p` settles (an oplock break, a lock wait), then takes it again. */
  async waitUnlocked(p: Promise<unknown>): Promise<void> {
    this.release();
    try {
      await p;
    } finally {
      this.release = await this.mutex.acquire();
    }
  }
}

/** The FSD of one volume. */
export class Fsd {
  readonly params: EffectiveVolumeParams;
  readonly caseInsensitive: boolean;
  readonly notify: NotifyList;
  readonly volumeName: string;
  private readonly table = new Map<string, FileNode>();
  private readonly mutex = new AsyncMutex();
  private readonly allocationUnit: bigint;
  /** The paging I/O the memory manager does through a file object. */
  readonly paging: PagingIo<FileObject>;
  private closedVolume = false;

  constructor(
    readonly fs: FileSystemInterface<unknown>,
    options: FsdOptions,
  ) {
    this.params = effectiveVolumeParams(fs.volumeParams);
    this.caseInsensitive = !this.params.caseSensitiveSearch;
    this.notify = new NotifyList(this.caseInsensitive);
    this.volumeName = options.volumeName;
    this.allocationUnit = BigInt(this.params.sectorSize * this.params.sectorsPerAllocationUnit);
    this.paging = {
      pagingRead: (fo, offset, length) => this.pagingRead(fo, offset, length),
      pagingWrite: (fo, offset, data) => this.pagingWrite(fo, offset, data),
      fileSize: async (fo) => {
        const info = await this.fileInfoOf(fo);
        return info.ok ? info.value.fileSize : 0n;
      },
      reference: (fo) => {
        fo.references++;
      },
      dereference: (fo) => this.dereference(fo),
    };
  }

  private async serialized<T>(fn: (scope: LockScope) => Promise<T>): Promise<T> {
    const scope = new LockScope(this.mutex, await this.mutex.acquire());
    try {
      return await fn(scope);
    } finally {
      scope.release();
    }
  }

  private expiry(timeout: number): number {
    if (timeout === 0xffffffff) return Number.POSITIVE_INFINITY;
    return nowMs() + timeout;
  }

  private roundUp(size: bigint): bigint {
    const u = this.allocationUnit;
    return ((size + u - 1n) / u) * u;
  }

  // ------------------------------------------------------ file info cache

  /** FspFileNodeSetFileInfo: sizes on the node, basic information on the main node. */
  private setFileInfo(node: FileNode, info: FileInfo, truncateOnClose: boolean): void {
    const alloc = this.roundUp(info.allocationSize > info.fileSize ? info.allocationSize : info.fileSize);
    if (truncateOnClose && (node.allocationSize !== alloc || node.fileSize !== info.fileSize)) node.truncateOnClose = true;
    node.allocationSize = alloc;
    node.fileSize = info.fileSize;
    const expire = this.expiry(this.params.fileInfoTimeout);
    node.sizesExpire = expire;
    const owner = node.owner;
    const mask = node.main !== null ? ~FA.FILE_ATTRIBUTE_DIRECTORY : ~0;
    const previous = owner.basic?.fileAttributes ?? 0;
    owner.basic = {
      fileAttributes: ((previous & ~mask) | (info.fileAttributes & mask)) >>> 0,
      reparseTag: info.reparseTag,
      creationTime: info.creationTime,
      lastAccessTime: info.lastAccessTime,
      lastWriteTime: info.lastWriteTime,
      changeTime: info.changeTime,
      indexNumber: info.indexNumber,
      eaSize: info.eaSize,
      hardLinks: info.hardLinks,
    };
    owner.basicExpire = expire;
    if (node.main !== null) node.basicExpire = expire;
  }

  /** FspFileNodeTryGetFileInfo: the cached information while it is fresh. */
  private cachedFileInfo(node: FileNode): FileInfo | null {
    const owner = node.owner;
    const now = nowMs();
    if (owner.basic === null || now >= node.sizesExpire || now >= owner.basicExpire) return null;
    const b = owner.basic;
    return {
      fileAttributes: node.main !== null ? b.fileAttributes & ~FA.FILE_ATTRIBUTE_DIRECTORY : b.fileAttributes,
      reparseTag: b.reparseTag,
      allocationSize: node.allocationSize,
      fileSize: node.fileSize,
      creationTime: b.creationTime,
      lastAccessTime: b.lastAccessTime,
      lastWriteTime: b.lastWriteTime,
      changeTime: b.changeTime,
      indexNumber: b.indexNumber,
      hardLinks: b.hardLinks,
      eaSize: b.eaSize,
    };
  }

  private invalidateFileInfo(node: FileNode): void {
    node.sizesExpire = 0;
    node.owner.basicExpire = 0;
  }

  /** The file's information: cached, or from GetFileInfo. */
  private async fileInfoOf(fo: FileObject): Promise<NtResult<FileInfo>> {
    const node = fo.node!;
    const cached = this.cachedFileInfo(node);
    if (cached !== null) return { ok: true, status: S.STATUS_SUCCESS, value: cached };
    const r = await this.fs.getFileInfo(fo.fsContext);
    if (r.ok) this.setFileInfo(node, r.value, false);
    return r;
  }

  // ------------------------------------------------------- notifications

  /** FspFileNodeNotifyChange. */
  private notifyChange(node: FileNode, filter: number, action: number): void {
    if (node.main !== null) {
      let f = 0;
      if (filter & (FILE_NOTIFY_CHANGE_DIR_NAME | FILE_NOTIFY_CHANGE_FILE_NAME)) f |= FILE_NOTIFY_CHANGE_STREAM_NAME;
      if (filter & FILE_NOTIFY_CHANGE_SIZE) f |= FILE_NOTIFY_CHANGE_STREAM_SIZE;
      if (filter & FILE_NOTIFY_CHANGE_LAST_WRITE) f |= FILE_NOTIFY_CHANGE_STREAM_WRITE;
      filter = f;
      if (action === FILE_ACTION_ADDED) action = FILE_ACTION_ADDED_STREAM;
      else if (action === FILE_ACTION_REMOVED) action = FILE_ACTION_REMOVED_STREAM;
      else if (action === FILE_ACTION_MODIFIED) action = FILE_ACTION_MODIFIED_STREAM;
    }
    if (filter === 0 || node.isRootDirectory) return;
    this.notify.report(node.fileName, filter, action);
  }

  // ----------------------------------------------------- the open table

  /** Nodes named `name` or below it (`name\…`, `name:…`), in name order. */
  private descendants(name: string): FileNode[] {
    const k = nameKey(name, this.caseInsensitive);
    const out: FileNode[] = [];
    for (const n of this.table.values()) if (isNameOrDescendant(n.key, k)) out.push(n);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  private removeFromTable(node: FileNode): void {
    if (node.inTable && this.table.get(node.key) === node) this.table.delete(node.key);
    node.inTable = false;
  }

  /** FspFileNodeOpen: share access, delete-pending and the main file/stream rules. */
  private fileNodeOpen(
    node: FileNode,
    fo: FileObject,
    grantedAccess: number,
    additionalGrantedAccess: number,
    shareAccess: number,
  ): { status: number; node: FileNode } {
    if (node.main !== null) {
      if (node.main.deletePending) return { status: S.STATUS_DELETE_PENDING, node };
      if (
        node.main.mainFileDenyDeleteCount > 0 &&
        (shareAccess & FILE_SHARE_DELETE) === 0 &&
        (grantedAccess & (A.FILE_EXECUTE | A.FILE_READ_DATA | A.FILE_WRITE_DATA | A.FILE_APPEND_DATA | A.DELETE)) !== 0
      )
        return { status: S.STATUS_SHARING_VIOLATION, node };
    }
    let opened = this.table.get(node.key);
    if (opened === undefined) {
      opened = node;
      this.table.set(node.key, node);
      node.inTable = true;
      setShareAccess(fo, grantedAccess, shareAccess, node.share);
    } else {
      if (opened.deletePending) return { status: S.STATUS_DELETE_PENDING, node };
      if (opened.streamDenyDeleteCount > 0 && (grantedAccess & A.DELETE) !== 0) return { status: S.STATUS_SHARING_VIOLATION, node };
      if (
        (shareAccess & FILE_SHARE_WRITE) === 0 &&
        (grantedAccess & (A.FILE_EXECUTE | A.FILE_READ_DATA | A.FILE_WRITE_DATA | A.FILE_APPEND_DATA | A.DELETE)) !== 0 &&
        (opened.dataSection?.writableReferences ?? 0) > 0
      )
        return { status: S.STATUS_SHARING_VIOLATION, node };
      if (additionalGrantedAccess !== 0 && !checkShareAccess(grantedAccess | additionalGrantedAccess, shareAccess, opened.share))
        return { status: S.STATUS_SHARING_VIOLATION, node };
      if (!checkShareAccess(grantedAccess, shareAccess, opened.share)) return { status: S.STATUS_SHARING_VIOLATION, node };
      setShareAccess(fo, grantedAccess, shareAccess, opened.share);
    }
    if (opened.main === null) {
      if (fo.deleteAccess) opened.mainFileDenyDeleteCount++;
    } else if ((fo.readAccess || fo.writeAccess || fo.deleteAccess) && !fo.sharedDelete) opened.main.streamDenyDeleteCount++;
    opened.openCount++;
    opened.handleCount++;
    return { status: S.STATUS_SUCCESS, node: opened };
  }

  /** FspFileNodeClose: undoes an open that will not complete (share access, counts). */
  private fileNodeClose(node: FileNode, fo: FileObject | null, handleCleanup: boolean): void {
    if (fo !== null) {
      if (node.main === null) {
        if (fo.deleteAccess) node.mainFileDenyDeleteCount--;
      } else if ((fo.readAccess || fo.writeAccess || fo.deleteAccess) && !fo.sharedDelete) node.main.streamDenyDeleteCount--;
      removeShareAccess(fo, node.share);
    }
    if (handleCleanup) node.handleCount--;
    if (node.openCount > 0 && --node.openCount === 0) this.removeFromTable(node);
  }

  // ------------------------------------------------------- sections (Mm)

  /**
   * MmFlushImageSection: false while a process runs the file. (An image
   * section lives only while it is mapped: it goes, with its file-object
   * reference, when the last process running it exits.)
   */
  private flushImageSection(node: FileNode): boolean {
    return node.imageSection === null || node.imageSection.views === 0;
  }

  // -------------------------------------------------------------- create

  /** IRP_MJ_CREATE. */
  create(req: CreateRequest): Promise<CreateOutcome> {
    return this.serialized((scope) => this.createLocked(req, scope));
  }

  private async createLocked(req: CreateRequest, scope: LockScope): Promise<CreateOutcome> {
    const p = this.params;
    const fail = (status: number, information = 0): CreateOutcome => ({ kind: "failed", status, information });
    const related = req.relatedFileObject;
    let fileName = req.fileName;
    const options = req.createOptions & 0x00ffffff;
    const disposition = req.createDisposition;

    if ((related === null || related.isVolume) && fileName.length === 0) {
      if (this.closedVolume) return fail(S.STATUS_VOLUME_DISMOUNTED);
      const fo = new FileObject(this, null, req.token);
      fo.createOptions = options;
      fo.grantedAccess = req.desiredAccess | req.grantedAccess;
      return { kind: "opened", status: S.STATUS_SUCCESS, information: CreateResult.FILE_OPENED, fileObject: fo };
    }
    if ((options & O.FILE_OPEN_BY_FILE_ID) !== 0) return fail(S.STATUS_NOT_IMPLEMENTED);

    let ea: FullEa[] | null = null;
    if (req.eaBuffer !== null) {
      if (!p.extendedAttributes) return fail(S.STATUS_EAS_NOT_SUPPORTED);
      if ((options & O.FILE_NO_EA_KNOWLEDGE) !== 0) return fail(S.STATUS_ACCESS_DENIED);
      const v = validateEaBuffer(req.eaBuffer);
      if (!v.ok) return fail(v.status, v.offset);
      ea = v.eas;
    }
    if ((options & O.FILE_NON_DIRECTORY_FILE) !== 0 && (options & O.FILE_DIRECTORY_FILE) !== 0) return fail(S.STATUS_INVALID_PARAMETER);
    if (
      (options & O.FILE_DIRECTORY_FILE) !== 0 &&
      (req.fileAttributes & FA.FILE_ATTRIBUTE_TEMPORARY) !== 0 &&
      (disposition === CreateDisposition.FILE_CREATE || disposition === CreateDisposition.FILE_OPEN_IF)
    )
      return fail(S.STATUS_INVALID_PARAMETER);
    const allocationSize = this.roundUp(req.allocationSize);

    // According to fastfat, names beginning with two backslashes are fine.
    if (fileName.startsWith("\\\\")) fileName = fileName.slice(1);
    let fullName: string;
    if (related !== null && !related.isVolume) {
      if (fileName.startsWith("\\")) return fail(S.STATUS_INVALID_PARAMETER);
      const rn = related.node!.fileName;
      const appendBackslash = rn.length >= 2 && fileName.length >= 1 && !fileName.startsWith(":");
      fullName = rn + (appendBackslash ? "\\" : "") + fileName;
    } else {
      if (fileName.length >= 1 && !fileName.startsWith("\\")) return fail(S.STATUS_OBJECT_NAME_INVALID);
      fullName = fileName;
    }
    const parsed = parseFileName(fullName, p.maxComponentLength, p.namedStreams);
    if (parsed === null) return fail(S.STATUS_OBJECT_NAME_INVALID);
    const nodeName = parsed.fileName;
    if (parsed.dataType && (options & O.FILE_DIRECTORY_FILE) !== 0) return fail(S.STATUS_NOT_A_DIRECTORY);
    const isRoot = nodeName === "\\";
    if (
      isRoot &&
      (disposition === CreateDisposition.FILE_CREATE ||
        disposition === CreateDisposition.FILE_OVERWRITE ||
        disposition === CreateDisposition.FILE_OVERWRITE_IF ||
        disposition === CreateDisposition.FILE_SUPERSEDE ||
        req.openTargetDirectory)
    )
      return fail(S.STATUS_ACCESS_DENIED);
    if (isRoot && (options & O.FILE_DELETE_ON_CLOSE) !== 0) return fail(S.STATUS_CANNOT_DELETE);

    let fileAttributes = req.fileAttributes & ~(FA.FILE_ATTRIBUTE_NORMAL | FA.FILE_ATTRIBUTE_DIRECTORY | FA.FILE_ATTRIBUTE_REPARSE_POINT);
    if ((options & O.FILE_DIRECTORY_FILE) !== 0) fileAttributes |= FA.FILE_ATTRIBUTE_DIRECTORY;
    let securityDescriptor = req.securityDescriptor;

    let mainFo: FileObject | null = null;
    let namedStream = 0;
    if (parsed.streamName !== null) {
      if ((options & O.FILE_DIRECTORY_FILE) !== 0) return fail(S.STATUS_NOT_A_DIRECTORY);
      if (req.openTargetDirectory) return fail(S.STATUS_OBJECT_NAME_INVALID);
      namedStream = nodeName.indexOf(":");
      let mainDisposition: number;
      switch (disposition) {
        case CreateDisposition.FILE_CREATE:
        case CreateDisposition.FILE_OPEN_IF:
        case CreateDisposition.FILE_OVERWRITE_IF:
        case CreateDisposition.FILE_SUPERSEDE:
          mainDisposition = CreateDisposition.FILE_OPEN_IF;
          break;
        case CreateDisposition.FILE_OPEN:
        case CreateDisposition.FILE_OVERWRITE:
          mainDisposition = CreateDisposition.FILE_OPEN;
          break;
        default:
          return fail(S.STATUS_INVALID_PARAMETER);
      }
      const m = await this.createLocked(
        {
          fileName: nodeName.slice(0, namedStream),
          relatedFileObject: null,
          desiredAccess: A.FILE_READ_ATTRIBUTES,
          grantedAccess: 0,
          fileAttributes,
          shareAccess: FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
          createDisposition: mainDisposition,
          createOptions: O.FILE_OPEN_REPARSE_POINT,
          allocationSize: 0n,
          securityDescriptor,
          eaBuffer: null,
          openTargetDirectory: false,
          token: req.token,
          userMode: true,
          hasTraversePrivilege: req.hasTraversePrivilege,
          hasBackupPrivilege: req.hasBackupPrivilege,
          hasRestorePrivilege: req.hasRestorePrivilege,
        },
        scope,
      );
      if (m.kind === "failed") return m;
      if (m.kind !== "opened") return fail(S.STATUS_OBJECT_NAME_NOT_FOUND);
      mainFo = m.fileObject;
      securityDescriptor = null;
      fileAttributes = 0;
      ea = null;
    }
    const closeMain = async (): Promise<void> => {
      if (mainFo !== null) {
        await this.cleanupLocked(mainFo, scope);
        await this.derefLocked(mainFo);
        mainFo = null;
      }
    };

    const node = new FileNode(req.openTargetDirectory ? splitLast(nodeName).parent : nodeName, this.caseInsensitive, mainFo?.node ?? null);
    const d = await this.dllCreate({
      fileName: nodeName,
      namedStream,
      createOptions: options,
      disposition,
      desiredAccess: req.desiredAccess,
      grantedAccess: req.grantedAccess,
      fileAttributes,
      securityDescriptor,
      allocationSize,
      ea,
      token: req.token,
      userMode: req.userMode,
      hasTraversePrivilege: req.hasTraversePrivilege,
      hasRestorePrivilege: req.hasRestorePrivilege,
      hasTrailingBackslash: parsed.hasTrailingBackslash,
      openTargetDirectory: req.openTargetDirectory,
    });
    if (d.kind === "failed") {
      await closeMain();
      return fail(d.status);
    }
    if (d.kind === "reparse") {
      await closeMain();
      return this.reparseOutcome(d.resolution);
    }

    const fo = new FileObject(this, node, req.token);
    fo.fsContext = d.fsContext;
    fo.createOptions = options;
    fo.deleteOnClose = (options & O.FILE_DELETE_ON_CLOSE) !== 0;
    fo.caseSensitive = !this.caseInsensitive;
    fo.hasTraversePrivilege = req.hasTraversePrivilege;
    fo.mainFileObject = mainFo;
    node.isDirectory = (d.fileInfo.fileAttributes & FA.FILE_ATTRIBUTE_DIRECTORY) !== 0 && node.main === null;
    node.isRootDirectory = node.isDirectory && node.fileName === "\\";
    const postClose = async (): Promise<void> => {
      await this.fs.close(d.fsContext);
      fo.closed = true;
      await closeMain();
    };

    if (this.caseInsensitive) {
      if (d.normalizedName === null) {
        node.fileName = upcase(node.fileName);
      } else {
        if (nameKey(d.normalizedName, true) !== node.key || d.normalizedName.length !== node.fileName.length) {
          await postClose();
          return fail(S.STATUS_OBJECT_NAME_INVALID);
        }
        node.fileName = d.normalizedName;
      }
    }

    let additional = 0;
    if (disposition === CreateDisposition.FILE_OVERWRITE || disposition === CreateDisposition.FILE_OVERWRITE_IF) additional = A.FILE_WRITE_DATA;
    else if (disposition === CreateDisposition.FILE_SUPERSEDE) additional = A.DELETE;
    const opened = this.fileNodeOpen(node, fo, d.grantedAccess, additional, req.shareAccess);
    if (opened.status !== S.STATUS_SUCCESS) {
      await postClose();
      return fail(opened.status);
    }
    const n = opened.node;
    fo.node = n;
    fo.grantedAccess = d.grantedAccess;
    const overwriting = d.information === CreateResult.FILE_SUPERSEDED || d.information === CreateResult.FILE_OVERWRITTEN;

    // Oplock breaks the open causes; the open waits for them to be acknowledged.
    const breakWait = n.oplock.checkCreate(fo, d.grantedAccess, overwriting);
    if (breakWait !== null) await scope.waitUnlocked(breakWait);

    if (!overwriting) {
      const flushImage = !n.isDirectory && ((d.grantedAccess & A.FILE_WRITE_DATA) !== 0 || fo.deleteOnClose);
      if (n.openCount === 1 || d.information === CreateResult.FILE_CREATED)
        this.setFileInfo(n, d.fileInfo, d.information === CreateResult.FILE_CREATED);
      if (flushImage && !this.flushImageSection(n)) {
        this.fileNodeClose(n, fo, true);
        await postClose();
        return fail(fo.deleteOnClose ? S.STATUS_CANNOT_DELETE : S.STATUS_SHARING_VIOLATION);
      }
      if (d.information === CreateResult.FILE_CREATED)
        this.notifyChange(n, n.isDirectory ? FILE_NOTIFY_CHANGE_DIR_NAME : FILE_NOTIFY_CHANGE_FILE_NAME, FILE_ACTION_ADDED);
      return { kind: "opened", status: S.STATUS_SUCCESS, information: d.information, fileObject: fo };
    }

    // The overwrite: the FSD's second trip to the file system.
    let overwriteAttributes = req.fileAttributes & ~(FA.FILE_ATTRIBUTE_NORMAL | FA.FILE_ATTRIBUTE_DIRECTORY);
    if (n.isDirectory) overwriteAttributes |= FA.FILE_ATTRIBUTE_DIRECTORY;
    if (
      ((d.fileInfo.fileAttributes & FA.FILE_ATTRIBUTE_HIDDEN) !== 0 && (overwriteAttributes & FA.FILE_ATTRIBUTE_HIDDEN) === 0) ||
      ((d.fileInfo.fileAttributes & FA.FILE_ATTRIBUTE_SYSTEM) !== 0 && (overwriteAttributes & FA.FILE_ATTRIBUTE_SYSTEM) === 0)
    ) {
      this.fileNodeClose(n, fo, true);
      await postClose();
      return fail(S.STATUS_ACCESS_DENIED);
    }
    if (n.dataSection !== null && n.dataSection.views.size > 0) {
      this.fileNodeClose(n, fo, true);
      await postClose();
      return fail(S.STATUS_USER_MAPPED_FILE);
    }
    const supersede = d.information === CreateResult.FILE_SUPERSEDED;
    const ow = this.fs.overwriteEx
      ? await this.fs.overwriteEx(fo.fsContext, {
          fileAttributes: overwriteAttributes,
          replaceFileAttributes: supersede,
          allocationSize,
          ea,
        })
      : this.fs.overwrite
        ? await this.fs.overwrite(fo.fsContext, { fileAttributes: overwriteAttributes, replaceFileAttributes: supersede, allocationSize })
        : ({ ok: false, status: S.STATUS_INVALID_DEVICE_REQUEST } as const);
    if (!ow.ok) {
      this.fileNodeClose(n, fo, true);
      await postClose();
      return fail(ow.status);
    }
    if (n.main === null) this.overwriteStreams(n);
    this.setFileInfo(n, ow.value, true);
    if (n.main === null && p.extendedAttributes) n.eaChangeCount++;
    n.dataSection?.truncate(0n);
    this.notifyChange(
      n,
      FILE_NOTIFY_CHANGE_LAST_WRITE |
        FILE_NOTIFY_CHANGE_ATTRIBUTES |
        FILE_NOTIFY_CHANGE_SIZE |
        (n.main === null && p.extendedAttributes ? FILE_NOTIFY_CHANGE_EA : 0),
      FILE_ACTION_MODIFIED,
    );
    return { kind: "opened", status: S.STATUS_SUCCESS, information: d.information, fileObject: fo };
  }

  /** FspFileNodeOverwriteStreams: open named streams of an overwritten file become delete-pending. */
  private overwriteStreams(node: FileNode): void {
    for (const s of this.descendants(node.fileName)) {
      if (s === node || s.main === null || s.handleCount <= 0) continue;
      s.deletePending = true;
    }
  }

  /** FspFsvolCreateComplete's STATUS_REPARSE handling. */
  private reparseOutcome(r: ReparseResolution): CreateOutcome {
    const fail = (status: number): CreateOutcome => ({ kind: "failed", status, information: 0 });
    if (r.information === IO_REPARSE || r.information === ReparseTag.IO_REPARSE_TAG_SYMLINK) {
      let target: string;
      if (r.information === IO_REPARSE) {
        target = Buffer.from(r.buffer).toString("utf16le");
        if (!target.startsWith("\\")) return fail(S.STATUS_REPARSE_POINT_NOT_RESOLVED);
        return { kind: "reparse-name", path: target };
      }
      if (validateReparseBuffer(r.buffer) !== S.STATUS_SUCCESS) return fail(S.STATUS_REPARSE_POINT_NOT_RESOLVED);
      let decoded;
      try {
        decoded = decodeReparseBuffer(r.buffer);
      } catch (e) {
        if (ProtocolError.is(e)) return fail(S.STATUS_REPARSE_POINT_NOT_RESOLVED);
        throw e;
      }
      if (decoded.kind !== "symlink" || !decoded.substituteName.startsWith("\\")) return fail(S.STATUS_REPARSE_POINT_NOT_RESOLVED);
      target =
        (decoded.flags & SYMLINK_FLAG_RELATIVE) !== 0
          ? this.volumeName + this.params.prefix + decoded.substituteName
          : decoded.substituteName;
      return { kind: "reparse-name", path: target };
    }
    const status = validateReparseBuffer(r.buffer);
    if (status !== S.STATUS_SUCCESS) return fail(status);
    const view = new DataView(r.buffer.buffer, r.buffer.byteOffset, r.buffer.byteLength);
    const unparsed = view.getUint16(6, true);
    return { kind: "reparse-tag", tag: r.information >>> 0, buffer: r.buffer, unparsedLength: unparsed >>> 1 };
  }

  // ------------------------------------------------- the DLL: access checks

  /** GetSecurityByName with the SD decoded; a missing member answers "no security". */
  private async securityByName(name: string): Promise<NameSecurity> {
    const gsbn = this.fs.getSecurityByName;
    if (gsbn === undefined) return { status: S.STATUS_SUCCESS, fileAttributes: 0, sd: null, sdBytes: null, reparseIndex: 0 };
    const r = await gsbn.call(this.fs, name);
    if (!r.ok) return { status: r.status, fileAttributes: 0, sd: null, sdBytes: null, reparseIndex: 0 };
    if (r.value.reparse) return { status: S.STATUS_REPARSE, fileAttributes: 0, sd: null, sdBytes: null, reparseIndex: r.value.reparsePointIndex };
    const bytes = r.value.securityDescriptor;
    if (bytes === null || bytes.length === 0)
      return { status: S.STATUS_SUCCESS, fileAttributes: r.value.fileAttributes, sd: null, sdBytes: null, reparseIndex: 0 };
    let sd: SecurityDescriptor;
    try {
      sd = decodeSecurityDescriptor(bytes);
    } catch (e) {
      if (ProtocolError.is(e)) return { status: S.STATUS_INVALID_SECURITY_DESCR, fileAttributes: 0, sd: null, sdBytes: null, reparseIndex: 0 };
      throw e;
    }
    return { status: S.STATUS_SUCCESS, fileAttributes: r.value.fileAttributes, sd, sdBytes: bytes, reparseIndex: 0 };
  }

  /**
   * FspAccessCheckEx (src/dll/security.c): the traverse check, the access
   * check against the file's (or parent's, or main file's) descriptor with
   * the parent-rights fallback for DELETE and FILE_READ_ATTRIBUTES, and the
   * reparse-point, directory and read-only rules. STATUS_REPARSE answers the
   * index of the reparse point in `reparseIndex`.
   */
  private async accessCheckEx(
    r: DllRequest,
    checkParentOrMain: boolean,
    allowTraverseCheck: boolean,
    desiredAccess: number,
  ): Promise<{ status: number; granted: number; reparseIndex: number; sdBytes: Uint8Array | null }> {
    const out = (status: number, granted = 0, reparseIndex = 0, sdBytes: Uint8Array | null = null) => ({
      status,
      granted: granted >>> 0,
      reparseIndex,
      sdBytes,
    });
    const checkParent = checkParentOrMain && r.namedStream === 0;
    const checkMain = checkParentOrMain && r.namedStream !== 0;
    if (checkParent && r.fileName === "\\") return out(S.STATUS_INVALID_PARAMETER);
    const all = (): number => ((desiredAccess & A.MAXIMUM_ALLOWED) !== 0 ? A.FILE_ALL_ACCESS : desiredAccess);
    if (this.fs.getSecurityByName === undefined || !r.userMode) return out(S.STATUS_SUCCESS, all());

    const fileName = checkParent ? splitLast(r.fileName).parent : checkMain ? r.fileName.slice(0, r.namedStream) : r.fileName;
    const finish = (status: number, granted = 0, reparseIndex = 0, sdBytes: Uint8Array | null = null) =>
      out(checkParent && status === S.STATUS_OBJECT_NAME_NOT_FOUND ? S.STATUS_OBJECT_PATH_NOT_FOUND : status, granted, reparseIndex, sdBytes);

    if (allowTraverseCheck && !r.hasTraversePrivilege && fileName !== "\\") {
      let i = 0;
      for (;;) {
        let j = i;
        while (j < fileName.length && fileName[j] !== "\\" && fileName[j] !== ":") j++;
        if (j >= fileName.length || fileName[j] === ":") break;
        const prefix = j > 0 ? fileName.slice(0, j) : "\\";
        const sec = await this.securityByName(prefix);
        let status = sec.status;
        let index = sec.reparseIndex;
        if (status === S.STATUS_SUCCESS && (sec.fileAttributes & FA.FILE_ATTRIBUTE_REPARSE_POINT) !== 0) {
          index = lastComponentIndex(prefix);
          status = S.STATUS_REPARSE;
        }
        j++;
        while (fileName[j] === "\\") j++;
        i = j;
        if (failed(status) || status === S.STATUS_REPARSE)
          return finish(status === S.STATUS_OBJECT_NAME_NOT_FOUND ? S.STATUS_OBJECT_PATH_NOT_FOUND : status, 0, index);
        if ((sec.fileAttributes & FA.FILE_ATTRIBUTE_DIRECTORY) === 0) return finish(S.STATUS_OBJECT_PATH_NOT_FOUND);
        if (sec.sd !== null && !accessCheck(sec.sd, r.token, A.FILE_TRAVERSE).ok) return finish(S.STATUS_ACCESS_DENIED);
      }
    }

    const sec = await this.securityByName(fileName);
    if (failed(sec.status) || sec.status === S.STATUS_REPARSE) return finish(sec.status, 0, sec.reparseIndex);
    const attributes = sec.fileAttributes;
    if (!checkParentOrMain && r.hasTrailingBackslash && (attributes & FA.FILE_ATTRIBUTE_DIRECTORY) === 0)
      return finish(S.STATUS_OBJECT_NAME_INVALID);

    let granted = 0;
    if (sec.sd !== null) {
      if (desiredAccess !== 0) {
        const check = accessCheck(sec.sd, r.token, desiredAccess);
        if (check.ok) granted = check.granted;
        else {
          if ((desiredAccess & (A.MAXIMUM_ALLOWED | A.DELETE | A.FILE_READ_ATTRIBUTES)) === 0) return finish(S.STATUS_ACCESS_DENIED);
          const parentDesired =
            (desiredAccess & A.MAXIMUM_ALLOWED) !== 0
              ? A.FILE_DELETE_CHILD | A.FILE_LIST_DIRECTORY
              : ((desiredAccess & A.DELETE) !== 0 ? A.FILE_DELETE_CHILD : 0) |
                ((desiredAccess & A.FILE_READ_ATTRIBUTES) !== 0 ? A.FILE_LIST_DIRECTORY : 0);
          const parent = await this.accessCheckEx({ ...r, namedStream: 0 }, true, false, parentDesired);
          if (failed(parent.status)) return finish(S.STATUS_ACCESS_DENIED);
          const desired2 =
            desiredAccess &
            ~(((parent.granted & A.FILE_DELETE_CHILD) !== 0 ? A.DELETE : 0) |
              ((parent.granted & A.FILE_LIST_DIRECTORY) !== 0 ? A.FILE_READ_ATTRIBUTES : 0));
          if (desired2 !== 0) {
            const again = accessCheck(sec.sd, r.token, desired2);
            if (!again.ok) return finish(S.STATUS_ACCESS_DENIED);
            granted = again.granted;
          }
          if (parent.granted & A.FILE_DELETE_CHILD) granted |= A.DELETE;
          if (parent.granted & A.FILE_LIST_DIRECTORY) granted |= A.FILE_READ_ATTRIBUTES;
        }
      }
    }

    const reparse = (attributes & FA.FILE_ATTRIBUTE_REPARSE_POINT) !== 0;
    if (checkParent) {
      if (reparse) return finish(S.STATUS_REPARSE, 0, lastComponentIndex(fileName));
      if ((attributes & FA.FILE_ATTRIBUTE_DIRECTORY) === 0) return finish(S.STATUS_NOT_A_DIRECTORY);
    } else if (checkMain) {
      if (reparse && (r.createOptions & O.FILE_OPEN_REPARSE_POINT) === 0) return finish(S.STATUS_REPARSE, 0, lastComponentIndex(fileName));
    } else {
      if (reparse && (r.createOptions & O.FILE_OPEN_REPARSE_POINT) === 0) return finish(S.STATUS_REPARSE, 0, lastComponentIndex(fileName));
      if (!(reparse && this.params.umNoReparsePointsDirCheck)) {
        if ((r.createOptions & O.FILE_DIRECTORY_FILE) !== 0 && (attributes & FA.FILE_ATTRIBUTE_DIRECTORY) === 0)
          return finish(S.STATUS_NOT_A_DIRECTORY);
        if ((r.createOptions & O.FILE_NON_DIRECTORY_FILE) !== 0 && (attributes & FA.FILE_ATTRIBUTE_DIRECTORY) !== 0)
          return finish(S.STATUS_FILE_IS_A_DIRECTORY);
      }
    }

    const readOnlyFile = (attributes & (FA.FILE_ATTRIBUTE_READONLY | FA.FILE_ATTRIBUTE_DIRECTORY)) === FA.FILE_ATTRIBUTE_READONLY;
    if (readOnlyFile && (desiredAccess & (A.FILE_WRITE_DATA | A.FILE_APPEND_DATA | A.FILE_ADD_SUBDIRECTORY | A.FILE_DELETE_CHILD)) !== 0)
      return finish(S.STATUS_ACCESS_DENIED);
    if ((attributes & FA.FILE_ATTRIBUTE_READONLY) !== 0 && (r.createOptions & O.FILE_DELETE_ON_CLOSE) !== 0)
      return finish(S.STATUS_CANNOT_DELETE);
    if (sec.sd === null) granted = all();
    if (readOnlyFile && (desiredAccess & A.MAXIMUM_ALLOWED) !== 0)
      granted &= ~(A.FILE_WRITE_DATA | A.FILE_APPEND_DATA | A.FILE_ADD_SUBDIRECTORY | A.FILE_DELETE_CHILD);
    return finish(S.STATUS_SUCCESS, granted, 0, sec.sdBytes);
  }

  /** FspFileSystemCallResolveReparsePoints. */
  private async resolve(r: DllRequest, index: number): Promise<DllCreate> {
    if (this.fs.resolveReparsePoints === undefined) return { kind: "failed", status: S.STATUS_INVALID_DEVICE_REQUEST };
    const res = await this.fs.resolveReparsePoints(r.fileName, index, (r.createOptions & O.FILE_OPEN_REPARSE_POINT) === 0);
    if (!res.ok) return { kind: "failed", status: res.status };
    return { kind: "reparse", resolution: res.value };
  }

  private static readonly MAXIMUM = A.MAXIMUM_ALLOWED;

  /** FspFileSystemCreateCheck. */
  private async createCheck(r: DllRequest, allowTraverseCheck: boolean): Promise<{ status: number; granted: number; parentSd: Uint8Array | null; resolved?: DllCreate }> {
    if (r.namedStream === 0) {
      const parentDesired = r.hasRestorePrivilege ? 0 : (r.createOptions & O.FILE_DIRECTORY_FILE) !== 0 ? A.FILE_ADD_SUBDIRECTORY : A.FILE_ADD_FILE;
      let c;
      if (r.hasTrailingBackslash && (r.createOptions & O.FILE_DIRECTORY_FILE) === 0) c = { status: S.STATUS_OBJECT_NAME_INVALID, granted: 0, reparseIndex: 0, sdBytes: null };
      else if ((r.fileAttributes & FA.FILE_ATTRIBUTE_READONLY) !== 0 && (r.createOptions & O.FILE_DELETE_ON_CLOSE) !== 0)
        c = { status: S.STATUS_CANNOT_DELETE, granted: 0, reparseIndex: 0, sdBytes: null };
      else c = await this.accessCheckEx(r, true, allowTraverseCheck, parentDesired);
      if (c.status === S.STATUS_REPARSE) return { status: S.STATUS_REPARSE, granted: 0, parentSd: null, resolved: await this.resolve(r, c.reparseIndex) };
      if (failed(c.status)) return { status: c.status, granted: 0, parentSd: null };
      const granted = ((r.desiredAccess & Fsd.MAXIMUM) !== 0 ? A.FILE_ALL_ACCESS : r.desiredAccess) | r.grantedAccess;
      return { status: S.STATUS_SUCCESS, granted: granted >>> 0, parentSd: c.sdBytes };
    }
    const c = r.hasTrailingBackslash
      ? { status: S.STATUS_OBJECT_NAME_INVALID, granted: 0, reparseIndex: 0, sdBytes: null }
      : await this.accessCheckEx(
          r,
          true,
          allowTraverseCheck,
          r.desiredAccess | A.FILE_WRITE_DATA | ((r.createOptions & O.FILE_DELETE_ON_CLOSE) !== 0 ? A.DELETE : 0),
        );
    if (c.status === S.STATUS_REPARSE) return { status: S.STATUS_REPARSE, granted: 0, parentSd: null, resolved: await this.resolve(r, c.reparseIndex) };
    if (failed(c.status)) return { status: c.status, granted: 0, parentSd: null };
    let granted = c.granted;
    if ((r.desiredAccess & Fsd.MAXIMUM) === 0) granted &= ~(A.DELETE | A.FILE_WRITE_DATA) | (r.desiredAccess & (A.DELETE | A.FILE_WRITE_DATA));
    return { status: S.STATUS_SUCCESS, granted: (granted | r.grantedAccess) >>> 0, parentSd: null };
  }

  /** FspFileSystemOpenCheck (and OverwriteCheck with `extra` rights). */
  private async openCheck(r: DllRequest, allowTraverseCheck: boolean, extra: number): Promise<{ status: number; granted: number; resolved?: DllCreate }> {
    const c = await this.accessCheckEx(
      r,
      false,
      allowTraverseCheck,
      r.desiredAccess | extra | ((r.createOptions & O.FILE_DELETE_ON_CLOSE) !== 0 ? A.DELETE : 0),
    );
    if (c.status === S.STATUS_REPARSE) return { status: S.STATUS_REPARSE, granted: 0, resolved: await this.resolve(r, c.reparseIndex) };
    if (failed(c.status)) return { status: c.status, granted: 0 };
    let granted = c.granted;
    const reset = A.DELETE | extra;
    if ((r.desiredAccess & Fsd.MAXIMUM) === 0) granted &= ~reset | (r.desiredAccess & reset);
    return { status: S.STATUS_SUCCESS, granted: (granted | r.grantedAccess) >>> 0 };
  }

  /** FspCreateSecurityDescriptor: the new file's descriptor (none for a named stream). */
  private newSecurityDescriptor(r: DllRequest, parentSd: Uint8Array | null): NtResult<Uint8Array | null> {
    if (r.namedStream !== 0) return { ok: true, status: S.STATUS_SUCCESS, value: null };
    try {
      const parent = parentSd !== null ? decodeSecurityDescriptor(parentSd) : null;
      const creator = r.securityDescriptor !== null ? decodeSecurityDescriptor(r.securityDescriptor) : null;
      const sd = createObjectSecurity(parent, creator, (r.createOptions & O.FILE_DIRECTORY_FILE) !== 0, r.token);
      return { ok: true, status: S.STATUS_SUCCESS, value: encodeSecurityDescriptor(sd) };
    } catch (e) {
      if (ProtocolError.is(e)) return { ok: false, status: S.STATUS_INVALID_SECURITY_DESCR };
      throw e;
    }
  }

  private async fsCreate(r: DllRequest, granted: number, sd: Uint8Array | null): Promise<DllCreate> {
    const createOptions = ((r.disposition << 24) | r.createOptions) >>> 0;
    const base = {
      fileName: r.fileName,
      createOptions,
      grantedAccess: granted,
      fileAttributes: r.fileAttributes,
      securityDescriptor: sd,
      allocationSize: r.allocationSize,
    };
    const res = this.fs.createEx
      ? await this.fs.createEx({ ...base, ea: r.ea, reparseData: null })
      : this.fs.create
        ? await this.fs.create(base)
        : ({ ok: false, status: S.STATUS_INVALID_DEVICE_REQUEST } as const);
    if (!res.ok) return { kind: "failed", status: res.status };
    return {
      kind: "opened",
      information: CreateResult.FILE_CREATED,
      fsContext: res.value.fileContext,
      fileInfo: res.value.fileInfo,
      normalizedName: res.value.normalizedName,
      grantedAccess: granted,
    };
  }

  private async fsOpen(r: DllRequest, name: string, options: number, granted: number, information: number): Promise<DllCreate> {
    const res = await this.fs.open({ fileName: name, createOptions: ((r.disposition << 24) | options) >>> 0, grantedAccess: granted });
    if (!res.ok) return { kind: "failed", status: res.status };
    return {
      kind: "opened",
      information,
      fsContext: res.value.fileContext,
      fileInfo: res.value.fileInfo,
      normalizedName: res.value.normalizedName,
      grantedAccess: granted,
    };
  }

  /** FspFileSystemOpCreate: the disposition becomes Create, Open and Overwrite calls. */
  private async dllCreate(r: DllRequest): Promise<DllCreate> {
    const D = CreateDisposition;
    const failure = (status: number): DllCreate => ({ kind: "failed", status });
    if ((!this.fs.create && !this.fs.createEx) || (!this.fs.overwrite && !this.fs.overwriteEx)) return failure(S.STATUS_INVALID_DEVICE_REQUEST);
    let result: DllCreate;
    if (r.openTargetDirectory) {
      const c = await this.accessCheckEx(r, true, true, r.desiredAccess);
      if (c.status === S.STATUS_REPARSE) return this.resolve(r, c.reparseIndex);
      if (failed(c.status)) return failure(c.status);
      const parent = splitLast(r.fileName).parent;
      const options = (r.createOptions | O.FILE_DIRECTORY_FILE) & ~O.FILE_NON_DIRECTORY_FILE;
      const opened = await this.fsOpen(r, parent, options, (c.granted | r.grantedAccess) >>> 0, CreateResult.FILE_OPENED);
      if (opened.kind !== "opened") return opened;
      let information: number = CreateResult.FILE_OPENED;
      if (this.fs.getSecurityByName) {
        const t = await this.fs.getSecurityByName(r.fileName);
        information = t.ok && t.status === S.STATUS_SUCCESS ? CreateResult.FILE_EXISTS : CreateResult.FILE_DOES_NOT_EXIST;
      }
      return { ...opened, information };
    }
    const create = async (allowTraverse: boolean): Promise<DllCreate> => {
      const c = await this.createCheck(r, allowTraverse);
      if (c.resolved) return c.resolved;
      if (failed(c.status)) return failure(c.status);
      const sd = this.newSecurityDescriptor(r, c.parentSd);
      if (!sd.ok) return failure(sd.status);
      return this.fsCreate(r, c.granted, sd.value);
    };
    switch (r.disposition) {
      case D.FILE_CREATE:
        result = await create(true);
        break;
      case D.FILE_OPEN: {
        const c = await this.openCheck(r, true, 0);
        result = c.resolved ?? (failed(c.status) ? failure(c.status) : await this.fsOpen(r, r.fileName, r.createOptions, c.granted, CreateResult.FILE_OPENED));
        break;
      }
      case D.FILE_OPEN_IF: {
        const c = await this.openCheck(r, true, 0);
        if (c.resolved) result = c.resolved;
        else if (failed(c.status) && c.status !== S.STATUS_OBJECT_NAME_NOT_FOUND) result = failure(c.status);
        else {
          result =
            c.status === S.STATUS_OBJECT_NAME_NOT_FOUND
              ? failure(c.status)
              : await this.fsOpen(r, r.fileName, r.createOptions, c.granted, CreateResult.FILE_OPENED);
          if (result.kind === "failed" && result.status === S.STATUS_OBJECT_NAME_NOT_FOUND) result = await create(false);
        }
        break;
      }
      case D.FILE_OVERWRITE: {
        const c = await this.openCheck(r, true, A.FILE_WRITE_DATA);
        result = c.resolved ?? (failed(c.status) ? failure(c.status) : await this.fsOpen(r, r.fileName, r.createOptions, c.granted, CreateResult.FILE_OVERWRITTEN));
        break;
      }
      case D.FILE_OVERWRITE_IF:
      case D.FILE_SUPERSEDE: {
        const supersede = r.disposition === D.FILE_SUPERSEDE;
        const c = await this.openCheck(r, true, supersede ? A.DELETE : A.FILE_WRITE_DATA);
        if (c.resolved) result = c.resolved;
        else if (failed(c.status) && c.status !== S.STATUS_OBJECT_NAME_NOT_FOUND) result = failure(c.status);
        else {
          result =
            c.status === S.STATUS_OBJECT_NAME_NOT_FOUND
              ? failure(c.status)
              : await this.fsOpen(r, r.fileName, r.createOptions, c.granted, supersede ? CreateResult.FILE_SUPERSEDED : CreateResult.FILE_OVERWRITTEN);
          if (result.kind === "failed" && result.status === S.STATUS_OBJECT_NAME_NOT_FOUND) result = await create(false);
        }
        break;
      }
      default:
        return failure(S.STATUS_INVALID_PARAMETER);
    }
    if (result.kind === "failed" && result.status === S.STATUS_OBJECT_NAME_NOT_FOUND) return this.notFoundCheck(r);
    if (result.kind === "failed" && result.status === S.STATUS_OBJECT_NAME_COLLISION) return this.collisionCheck(r);
    return result;
  }

  /** FspFileSystemOpCreate_NotFoundCheck: a stream of a main file that is a symlink. */
  private async notFoundCheck(r: DllRequest): Promise<DllCreate> {
    const notFound: DllCreate = { kind: "failed", status: S.STATUS_OBJECT_NAME_NOT_FOUND };
    if (!this.fs.getSecurityByName || !this.fs.resolveReparsePoints) return notFound;
    if (r.namedStream === 0 || (r.createOptions & O.FILE_OPEN_REPARSE_POINT) !== 0) return notFound;
    const main = r.fileName.slice(0, r.namedStream);
    const sec = await this.fs.getSecurityByName(main);
    if (!sec.ok || sec.status !== S.STATUS_SUCCESS || sec.value.reparse) return notFound;
    if ((sec.value.fileAttributes & FA.FILE_ATTRIBUTE_REPARSE_POINT) === 0) return notFound;
    const res = await this.resolve(r, lastComponentIndex(r.fileName));
    return res.kind === "reparse" ? res : notFound;
  }

  /** FspFileSystemOpCreate_CollisionCheck: FILE_IS_A_DIRECTORY, or a symlink to follow. */
  private async collisionCheck(r: DllRequest): Promise<DllCreate> {
    const collision: DllCreate = { kind: "failed", status: S.STATUS_OBJECT_NAME_COLLISION };
    if (!this.fs.getSecurityByName) return collision;
    const sec = await this.fs.getSecurityByName(r.fileName);
    if (!sec.ok || sec.status !== S.STATUS_SUCCESS || sec.value.reparse) return collision;
    const attributes = sec.value.fileAttributes;
    if ((r.createOptions & O.FILE_NON_DIRECTORY_FILE) !== 0 && (attributes & FA.FILE_ATTRIBUTE_DIRECTORY) !== 0)
      return { kind: "failed", status: S.STATUS_FILE_IS_A_DIRECTORY };
    if (!this.fs.resolveReparsePoints || (r.createOptions & O.FILE_OPEN_REPARSE_POINT) !== 0) return collision;
    if ((attributes & FA.FILE_ATTRIBUTE_REPARSE_POINT) === 0) return collision;
    const res = await this.resolve(r, lastComponentIndex(r.fileName));
    return res.kind === "reparse" ? res : collision;
  }

  // ----------------------------------------------------- cleanup, close

  /** CloseHandle of a file object: IRP_MJ_CLEANUP, then IRP_MJ_CLOSE once nothing references it. */
  closeHandle(fo: FileObject): Promise<void> {
    return this.serialized(async (scope) => {
      await this.cleanupLocked(fo, scope);
      await this.derefLocked(fo);
    });
  }

  /** Drops a reference taken by a section or image (IRP_MJ_CLOSE at the last one). */
  dereference(fo: FileObject): Promise<void> {
    return this.derefLocked(fo);
  }

  /** IRP_MJ_CLEANUP (src/sys/cleanup.c with file.c's FspFileNodeCleanup*). */
  private async cleanupLocked(fo: FileObject, scope: LockScope): Promise<void> {
    if (fo.cleanedUp) return;
    fo.cleanedUp = true;
    fo.handleOpen = false;
    if (fo.isVolume) return;
    const node = fo.node!;

    if (fo.deleteOnClose) node.deletePending = true;
    const deletePending = node.deletePending;
    const setAllocationSize = !deletePending && node.truncateOnClose;
    const singleHandle = node.handleCount === 1;
    let del = false;
    if (!node.posixDelete) {
      if (fo.posixDelete) {
        node.posixDelete = true;
        del = true;
      } else if (singleHandle) del = deletePending;
    }

    if (node.isDirectory) {
      if (del) this.notify.deletePending(node.fileName);
      this.notify.cleanup(fo);
    }
    node.locks.unlockAll(fo);

    let flags = 0;
    if (del) flags |= CleanupFlag.Delete;
    if (singleHandle && setAllocationSize) flags |= CleanupFlag.SetAllocationSize;
    if ((fo.modified || fo.didSetSecurity) && !fo.didSetFileAttributes) flags |= CleanupFlag.SetArchiveBit;
    if (!fo.didSetLastAccessTime) flags |= CleanupFlag.SetLastAccessTime;
    if (fo.modified && !fo.didSetLastWriteTime) flags |= CleanupFlag.SetLastWriteTime;
    if ((fo.modified || fo.didSetMetadata) && !fo.didSetChangeTime) flags |= CleanupFlag.SetChangeTime;
    const post =
      (flags & (CleanupFlag.Delete | CleanupFlag.SetAllocationSize | CleanupFlag.SetArchiveBit | CleanupFlag.SetLastWriteTime | CleanupFlag.SetChangeTime)) !== 0 ||
      !this.params.postCleanupWhenModifiedOnly;
    if (post && this.fs.cleanup !== undefined) await this.fs.cleanup(fo.fsContext, del ? node.fileName : null, flags);

    // FspFileNodeCleanupComplete.
    if (node.main === null) {
      if (fo.deleteAccess) node.mainFileDenyDeleteCount--;
    } else if ((fo.readAccess || fo.writeAccess || fo.deleteAccess) && !fo.sharedDelete) node.main.streamDenyDeleteCount--;
    removeShareAccess(fo, node.share);
    if (del) {
      this.removeFromTable(node);
      node.openCount = 0;
      if (this.params.namedStreams && node.main === null) {
        for (const s of this.descendants(node.fileName)) {
          if (s.main !== node) continue;
          this.removeFromTable(s);
          s.openCount = 0;
        }
      }
    }
    node.handleCount--;
    if (node.handleCount === 0) {
      if (node.deletePending) node.fileSize = 0n;
      if (node.deletePending || node.truncateOnClose) node.allocationSize = this.roundUp(node.fileSize);
      node.truncateOnClose = false;
    }
    if (post) this.invalidateFileInfo(node);
    node.oplock.cleanup(fo);

    if (del) this.notifyChange(node, node.isDirectory ? FILE_NOTIFY_CHANGE_DIR_NAME : FILE_NOTIFY_CHANGE_FILE_NAME, FILE_ACTION_REMOVED);
    else if (!node.posixDelete) {
      let filter = 0;
      if (flags & CleanupFlag.SetArchiveBit) filter |= FILE_NOTIFY_CHANGE_ATTRIBUTES;
      if (flags & CleanupFlag.SetLastWriteTime) filter |= FILE_NOTIFY_CHANGE_LAST_WRITE;
      if (filter !== 0) this.notifyChange(node, filter, FILE_ACTION_MODIFIED);
    }

    const main = fo.mainFileObject;
    if (main !== null) {
      fo.mainFileObject = null;
      await this.cleanupLocked(main, scope);
      await this.derefLocked(main);
    }
  }

  /** Drops one reference; the last one is IRP_MJ_CLOSE. */
  private async derefLocked(fo: FileObject): Promise<void> {
    if (--fo.references > 0 || fo.closed) return;
    fo.closed = true;
    if (fo.isVolume) return;
    this.fileNodeClose(fo.node!, null, false);
    await this.fs.close(fo.fsContext);
  }

  // -------------------------------------------------------- read, write

  private checkAlignment(fo: FileObject, offset: bigint, length: number): boolean {
    if (!fo.noIntermediateBuffering) return true;
    const sector = BigInt(this.params.sectorSize);
    return offset % sector === 0n && BigInt(length) % sector === 0n;
  }

  /** IRP_MJ_READ (non-cached). */
  read(fo: FileObject, offset: bigint, length: number): Promise<IoResult<Uint8Array>> {
    return this.serialized(async () => {
      if (fo.isVolume || fo.node!.isDirectory) return ioFail(S.STATUS_INVALID_DEVICE_REQUEST);
      if ((fo.grantedAccess & (A.FILE_READ_DATA | A.FILE_EXECUTE)) === 0) return ioFail(S.STATUS_ACCESS_DENIED);
      if (!this.checkAlignment(fo, offset, length)) return ioFail(S.STATUS_INVALID_PARAMETER);
      const node = fo.node!;
      if (!node.locks.canRead(fo, offset, BigInt(length))) return ioFail(S.STATUS_FILE_LOCK_CONFLICT);
      if (length === 0) return io(S.STATUS_SUCCESS, new Uint8Array(0));
      if (node.dataSection !== null) await node.dataSection.flush(Number(offset), length);
      return this.readRaw(fo, offset, length);
    });
  }

  private async readRaw(fo: FileObject, offset: bigint, length: number): Promise<IoResult<Uint8Array>> {
    if (this.fs.read === undefined) return ioFail(S.STATUS_INVALID_DEVICE_REQUEST);
    const buffer = new Uint8Array(length);
    const r = await this.fs.read(fo.fsContext, buffer, offset);
    if (!r.ok) return ioFail(r.status);
    return io(S.STATUS_SUCCESS, buffer.subarray(0, r.value), r.value);
  }

  private async pagingRead(fo: FileObject, offset: bigint, length: number): Promise<{ status: number; data: Uint8Array }> {
    const r = await this.readRaw(fo, offset, length);
    if (r.value === undefined) return { status: r.status, data: new Uint8Array(0) };
    return { status: r.status, data: r.value };
  }

  private async pagingWrite(fo: FileObject, offset: bigint, data: Uint8Array): Promise<number> {
    if (this.fs.write === undefined) return S.STATUS_INVALID_DEVICE_REQUEST;
    const r = await this.fs.write(fo.fsContext, data, offset, false, true);
    if (!r.ok) return r.status;
    if (fo.node !== null) this.setFileInfo(fo.node, r.value.fileInfo, false);
    return S.STATUS_SUCCESS;
  }

  /**
   * IRP_MJ_WRITE (non-cached). `offset` null writes at end of file (a
   * handle with FILE_APPEND_DATA but not FILE_WRITE_DATA). Answers the bytes
   * written, with the offset they landed at in Information's place (`value`).
   */
  write(fo: FileObject, data: Uint8Array, offset: bigint | null): Promise<IoResult<{ written: number; offset: bigint }>> {
    return this.serialized(async (scope) => {
      if (fo.isVolume || fo.node!.isDirectory) return ioFail(S.STATUS_INVALID_DEVICE_REQUEST);
      if ((fo.grantedAccess & (A.FILE_WRITE_DATA | A.FILE_APPEND_DATA)) === 0) return ioFail(S.STATUS_ACCESS_DENIED);
      if (!this.checkAlignment(fo, offset ?? 0n, data.length)) return ioFail(S.STATUS_INVALID_PARAMETER);
      const node = fo.node!;
      const wait = node.oplock.checkWrite(fo);
      if (wait !== null) await scope.waitUnlocked(wait);
      let lockOffset = offset;
      if (lockOffset === null) {
        const info = await this.fileInfoOf(fo);
        lockOffset = info.ok ? info.value.fileSize : 0n;
      }
      if (!node.locks.canWrite(fo, lockOffset, BigInt(data.length))) return ioFail(S.STATUS_FILE_LOCK_CONFLICT);
      if (data.length === 0) return io(S.STATUS_SUCCESS, { written: 0, offset: lockOffset });
      if (this.fs.write === undefined) return ioFail(S.STATUS_INVALID_DEVICE_REQUEST);
      const before = node.fileSize;
      const r = await this.fs.write(fo.fsContext, data, offset ?? -1n, offset === null, false);
      if (!r.ok) return ioFail(r.status);
      const written = r.value.bytesTransferred;
      const at = offset ?? r.value.fileInfo.fileSize - BigInt(written);
      this.setFileInfo(node, r.value.fileInfo, false);
      fo.modified = true;
      node.dataSection?.update(at, data.subarray(0, written));
      if (r.value.fileInfo.fileSize !== before) this.notifyChange(node, FILE_NOTIFY_CHANGE_SIZE, FILE_ACTION_MODIFIED);
      return io(S.STATUS_SUCCESS, { written, offset: at }, written);
    });
  }

  /** IRP_MJ_FLUSH_BUFFERS: mapped pages first, then the file system (the volume for a volume handle). */
  flushBuffers(fo: FileObject): Promise<IoResult<void>> {
    return this.serialized(async () => {
      if (fo.isVolume) {
        for (const n of this.table.values()) await n.dataSection?.flush();
        if (this.fs.flush) {
          const r = await this.fs.flush(null);
          if (!r.ok) return ioFail(r.status);
        }
        return io(S.STATUS_SUCCESS, undefined);
      }
      const node = fo.node!;
      await node.dataSection?.flush();
      if (this.fs.flush) {
        const r = await this.fs.flush(fo.fsContext);
        if (!r.ok) return ioFail(r.status);
        if (r.value !== null) this.setFileInfo(node, r.value, false);
      } else {
        const r = await this.fs.getFileInfo(fo.fsContext);
        if (!r.ok) return ioFail(r.status);
        this.setFileInfo(node, r.value, false);
      }
      return io(S.STATUS_SUCCESS, undefined);
    });
  }

  // ------------------------------------------------- query information

  /** The name FileNameInformation reports: the volume prefix and the node name. */
  private reportedName(node: FileNode): string {
    return this.params.prefix + node.fileName;
  }

  private standardOf(fo: FileObject, info: FileInfo): StandardInformation {
    const node = fo.node!;
    return {
      allocationSize: info.allocationSize,
      endOfFile: info.fileSize,
      numberOfLinks: 1,
      deletePending: node.deletePending || fo.deletePendingFlag,
      directory: node.isDirectory,
    };
  }

  /**
   * FspFsvolQueryInformationEffectiveAccess: MAXIMUM_ALLOWED for the
   * handle's token against the file's descriptor; 0 when the descriptor
   * cannot be read.
   */
  private async effectiveAccess(fo: FileObject): Promise<number> {
    if (this.fs.getSecurity === undefined || fo.token === null) return 0;
    const r = await this.fs.getSecurity(fo.fsContext);
    if (!r.ok) return 0;
    try {
      const check = accessCheck(decodeSecurityDescriptor(r.value), fo.token, A.MAXIMUM_ALLOWED);
      return check.ok ? check.granted : 0;
    } catch (e) {
      if (ProtocolError.is(e)) return 0;
      throw e;
    }
  }

  /**
   * FspFsvolQueryStatLxEaInformation: the `$LXUID`, `$LXGID`, `$LXMOD` (4
   * bytes) and `$LXDEV` (8 bytes, major high) EAs, names compared
   * case-insensitively; values of another length are ignored. Nothing on a
   * volume without EAs.
   */
  private async statLxEas(fo: FileObject): Promise<NtResult<Omit<StatLxInformation, keyof StatInformation>>> {
    const out = { lxFlags: 0, lxUid: 0, lxGid: 0, lxMode: 0, lxDeviceIdMajor: 0, lxDeviceIdMinor: 0 };
    if (!this.params.extendedAttributes || this.fs.getEa === undefined) return ntOk(out);
    const r = await this.fs.getEa(fo.fsContext);
    if (!r.ok) return { ok: false, status: r.status };
    for (const ea of r.value) {
      const v = new DataView(ea.value.buffer, ea.value.byteOffset, ea.value.byteLength);
      switch (ea.name.toUpperCase()) {
        case "$LXUID":
          if (ea.value.byteLength === 4) (out.lxFlags |= 0x1), (out.lxUid = v.getUint32(0, true));
          break;
        case "$LXGID":
          if (ea.value.byteLength === 4) (out.lxFlags |= 0x2), (out.lxGid = v.getUint32(0, true));
          break;
        case "$LXMOD":
          if (ea.value.byteLength === 4) (out.lxFlags |= 0x4), (out.lxMode = v.getUint32(0, true));
          break;
        case "$LXDEV":
          if (ea.value.byteLength === 8) (out.lxFlags |= 0x8), (out.lxDeviceIdMajor = v.getUint32(4, true)), (out.lxDeviceIdMinor = v.getUint32(0, true));
          break;
      }
    }
    return ntOk(out);
  }

  /** IRP_MJ_QUERY_INFORMATION for the classes WinFsp answers (src/sys/fileinfo.c). */
  queryInformation(fo: FileObject, infoClass: number): Promise<IoResult<QueryInformationValue>> {
    return this.serialized(async () => {
      if (fo.isVolume) return ioFail(S.STATUS_INVALID_PARAMETER);
      const C = FileInformationClass;
      const node = fo.node!;
      switch (infoClass) {
        case C.FileCompressionInformation:
          return ioFail(S.STATUS_INVALID_PARAMETER);
        case C.FileHardLinkInformation:
          return ioFail(S.STATUS_NOT_SUPPORTED);
        case C.FileAlternateNameInformation:
          return ioFail(S.STATUS_OBJECT_NAME_NOT_FOUND);
        case C.FileNameInformation:
        case C.FileNormalizedNameInformation:
          return io(S.STATUS_SUCCESS, { class: "name", fileName: this.reportedName(node) });
        case C.FileStreamInformation: {
          if (!this.params.namedStreams || this.fs.getStreamInfo === undefined) return ioFail(S.STATUS_INVALID_PARAMETER);
          const r = await this.fs.getStreamInfo(fo.fsContext);
          if (!r.ok) return ioFail(r.status);
          return io(S.STATUS_SUCCESS, { class: "stream", streams: r.value });
        }
        case C.FileStatInformation:
        case C.FileStatLxInformation: {
          if (!this.params.wslFeatures) return ioFail(S.STATUS_INVALID_PARAMETER);
          const effectiveAccess = await this.effectiveAccess(fo);
          const lx = infoClass === C.FileStatLxInformation ? await this.statLxEas(fo) : null;
          if (lx !== null && !lx.ok) return ioFail(lx.status);
          const r = await this.fileInfoOf(fo);
          if (!r.ok) return ioFail(r.status);
          const i = r.value;
          const stat: StatInformation = {
            fileId: i.indexNumber,
            creationTime: i.creationTime,
            lastAccessTime: i.lastAccessTime,
            lastWriteTime: i.lastWriteTime,
            changeTime: i.changeTime,
            allocationSize: i.allocationSize,
            endOfFile: i.fileSize,
            fileAttributes: i.fileAttributes !== 0 ? i.fileAttributes : FA.FILE_ATTRIBUTE_NORMAL,
            reparseTag: i.reparseTag,
            numberOfLinks: 1,
            effectiveAccess,
          };
          return lx === null ? io(S.STATUS_SUCCESS, { class: "stat", stat }) : io(S.STATUS_SUCCESS, { class: "stat-lx", stat: { ...stat, ...lx.value } });
        }
        case C.FileBasicInformation:
        case C.FileStandardInformation:
        case C.FileInternalInformation:
        case C.FileEaInformation:
        case C.FileAllInformation:
        case C.FileNetworkOpenInformation:
        case C.FileAttributeTagInformation:
        case C.FilePositionInformation:
          break;
        default:
          return ioFail(S.STATUS_INVALID_PARAMETER);
      }
      const r = await this.fileInfoOf(fo);
      if (!r.ok) return ioFail(r.status);
      const info = r.value;
      switch (infoClass) {
        case C.FileBasicInformation:
          return io(S.STATUS_SUCCESS, { class: "basic", info });
        case C.FileStandardInformation:
          return io(S.STATUS_SUCCESS, { class: "standard", standard: this.standardOf(fo, info) });
        case C.FileInternalInformation:
          return io(S.STATUS_SUCCESS, { class: "internal", indexNumber: info.indexNumber });
        case C.FileEaInformation:
          return io(S.STATUS_SUCCESS, { class: "ea", eaSize: info.eaSize !== 0 ? info.eaSize + 4 : 0 });
        case C.FileNetworkOpenInformation:
          return io(S.STATUS_SUCCESS, { class: "network-open", info });
        case C.FileAttributeTagInformation:
          return io(S.STATUS_SUCCESS, { class: "attribute-tag", fileAttributes: info.fileAttributes, reparseTag: info.reparseTag });
        default:
          return io(S.STATUS_SUCCESS, {
            class: "all",
            info,
            standard: this.standardOf(fo, info),
            fileName: this.reportedName(node),
            position: fo.currentByteOffset,
            access: fo.grantedAccess,
            mode: fo.createOptions & (O.FILE_WRITE_THROUGH | O.FILE_SEQUENTIAL_ONLY | O.FILE_NO_INTERMEDIATE_BUFFERING | O.FILE_SYNCHRONOUS_IO_ALERT | O.FILE_SYNCHRONOUS_IO_NONALERT | O.FILE_DELETE_ON_CLOSE),
          });
      }
    });
  }

  // --------------------------------------------------- set information

  /** FileBasicInformation (FspFsvolSetBasicInformation). */
  setBasicInformation(fo: FileObject, caller: CallerBasicInfo): Promise<IoResult<void>> {
    return this.serialized(async () => {
      if (fo.isVolume) return ioFail(S.STATUS_INVALID_PARAMETER);
      const node = fo.node!;
      const mapped = basicInfoRequest(caller, node.isDirectory);
      if (!mapped.ok) return ioFail(mapped.status);
      if (this.fs.setBasicInfo === undefined) return ioFail(S.STATUS_INVALID_DEVICE_REQUEST);
      const req = mapped.value;
      const r = await this.fs.setBasicInfo(fo.fsContext, req);
      if (!r.ok) return ioFail(r.status);
      this.setFileInfo(node, r.value, false);
      let filter = 0;
      if (req.fileAttributes !== INVALID_FILE_ATTRIBUTES) {
        fo.didSetFileAttributes = true;
        filter |= FILE_NOTIFY_CHANGE_ATTRIBUTES;
      }
      if (req.creationTime !== 0n) {
        fo.didSetCreationTime = true;
        filter |= FILE_NOTIFY_CHANGE_CREATION;
      }
      if (req.lastAccessTime !== 0n) {
        fo.didSetLastAccessTime = true;
        filter |= FILE_NOTIFY_CHANGE_LAST_ACCESS;
      }
      if (req.lastWriteTime !== 0n) {
        fo.didSetLastWriteTime = true;
        filter |= FILE_NOTIFY_CHANGE_LAST_WRITE;
      }
      if (req.changeTime !== 0n) fo.didSetChangeTime = true;
      fo.didSetMetadata = true;
      this.notifyChange(node, filter, FILE_ACTION_MODIFIED);
      return io(S.STATUS_SUCCESS, undefined);
    });
  }

  /**
   * FileEndOfFileInformation (`allocation` false) and
   * FileAllocationInformation (true). Shrinking below mapped views:
   * STATUS_USER_MAPPED_FILE. `paging` is the memory manager extending a
   * file for a section (no user-mapping check, no modification mark).
   */
  setFileSize(fo: FileObject, size: bigint, allocation: boolean, paging = false): Promise<IoResult<void>> {
    return this.serialized(() => this.setFileSizeLocked(fo, size, allocation, paging));
  }

  private async setFileSizeLocked(fo: FileObject, size: bigint, allocation: boolean, paging: boolean): Promise<IoResult<void>> {
    if (fo.isVolume || fo.node!.isDirectory) return ioFail(S.STATUS_INVALID_PARAMETER);
    if (size < 0n) return ioFail(S.STATUS_INVALID_PARAMETER);
    const node = fo.node!;
    if (!paging) {
      const info = await this.fileInfoOf(fo);
      if (!info.ok) return ioFail(info.status);
      const current = allocation ? info.value.allocationSize : info.value.fileSize;
      if (size < current && node.dataSection !== null && node.dataSection.views.size > 0) return ioFail(S.STATUS_USER_MAPPED_FILE);
    }
    if (this.fs.setFileSize === undefined) return ioFail(S.STATUS_INVALID_DEVICE_REQUEST);
    const before = node.fileSize;
    const r = await this.fs.setFileSize(fo.fsContext, size, allocation);
    if (!r.ok) return ioFail(r.status);
    this.setFileInfo(node, r.value, true);
    if (r.value.fileSize < before) node.dataSection?.truncate(r.value.fileSize);
    if (!paging) fo.modified = true;
    this.notifyChange(node, FILE_NOTIFY_CHANGE_SIZE, FILE_ACTION_MODIFIED);
    return io(S.STATUS_SUCCESS, undefined);
  }

  /**
   * FileDispositionInformation (`ex` false; `flags` then only holds DELETE)
   * and FileDispositionInformationEx (src/sys/fileinfo.c with the DLL's
   * read-only check and CanDelete/SetDelete).
   */
  setDisposition(fo: FileObject, flags: number, ex: boolean): Promise<IoResult<void>> {
    return this.serialized(async (scope) => {
      if (fo.isVolume) return ioFail(S.STATUS_INVALID_PARAMETER);
      const node = fo.node!;
      let dispositionFlags = flags >>> 0;
      if (!ex) dispositionFlags = (dispositionFlags & FILE_DISPOSITION_DELETE) | FILE_DISPOSITION_FORCE_IMAGE_SECTION_CHECK;
      else {
        if (!this.params.supportsPosixUnlinkRename) return ioFail(S.STATUS_INVALID_PARAMETER);
        if (dispositionFlags & FILE_DISPOSITION_ON_CLOSE) return ioFail(S.STATUS_NOT_SUPPORTED);
      }
      if ((fo.grantedAccess & A.DELETE) === 0) return ioFail(S.STATUS_ACCESS_DENIED);
      if (node.isRootDirectory) return ioFail(S.STATUS_CANNOT_DELETE);
      if (node.posixDelete) return ioFail(S.STATUS_FILE_DELETED);
      const deleting = (dispositionFlags & FILE_DISPOSITION_DELETE) !== 0;
      if (deleting) {
        const wait = node.oplock.checkNamespaceChange(fo);
        if (wait !== null) await scope.waitUnlocked(wait);
        if (node.posixDelete) return ioFail(S.STATUS_FILE_DELETED);
        if (!this.flushImageSection(node)) return ioFail(S.STATUS_CANNOT_DELETE);
        dispositionFlags &= FILE_DISPOSITION_DELETE | FILE_DISPOSITION_POSIX_SEMANTICS | FILE_DISPOSITION_IGNORE_READONLY_ATTRIBUTE;
      } else dispositionFlags = 0;

      if ((dispositionFlags & ~FILE_DISPOSITION_POSIX_SEMANTICS) === FILE_DISPOSITION_DELETE && fo.dispositionStatus !== S.STATUS_SUCCESS)
        return ioFail(fo.dispositionStatus);
      fo.dispositionStatus = S.STATUS_SUCCESS;

      const apply = (): void => {
        const del = (dispositionFlags & FILE_DISPOSITION_DELETE) !== 0;
        node.deletePending = del;
        fo.deletePendingFlag = del;
        if (!del) fo.posixDelete = false;
        else if (dispositionFlags & FILE_DISPOSITION_POSIX_SEMANTICS) fo.posixDelete = true;
      };

      if (!node.isDirectory && this.params.postDispositionWhenNecessaryOnly) {
        if ((dispositionFlags & (FILE_DISPOSITION_DELETE | FILE_DISPOSITION_IGNORE_READONLY_ATTRIBUTE)) === FILE_DISPOSITION_DELETE) {
          const cached = this.cachedFileInfo(node);
          if (cached !== null) {
            if (cached.fileAttributes & FA.FILE_ATTRIBUTE_READONLY) return ioFail(S.STATUS_CANNOT_DELETE);
            apply();
            return io(S.STATUS_SUCCESS, undefined);
          }
        } else {
          apply();
          return io(S.STATUS_SUCCESS, undefined);
        }
      }

      // The DLL: the read-only check, then SetDelete or CanDelete.
      let status: number = S.STATUS_INVALID_DEVICE_REQUEST;
      let readOnly = false;
      if ((dispositionFlags & (FILE_DISPOSITION_DELETE | FILE_DISPOSITION_IGNORE_READONLY_ATTRIBUTE)) === FILE_DISPOSITION_DELETE) {
        const info = await this.fs.getFileInfo(fo.fsContext);
        if (info.ok) {
          this.setFileInfo(node, info.value, false);
          if (info.value.fileAttributes & FA.FILE_ATTRIBUTE_READONLY) {
            status = S.STATUS_CANNOT_DELETE;
            readOnly = true;
          }
        }
      }
      if (!readOnly) {
        if (this.fs.setDelete) {
          const r = await this.fs.setDelete(fo.fsContext, node.fileName, (dispositionFlags & FILE_DISPOSITION_DELETE) !== 0);
          status = r.status;
        } else if (this.fs.canDelete) {
          status = deleting ? (await this.fs.canDelete(fo.fsContext, node.fileName)).status : S.STATUS_SUCCESS;
        }
      }
      if (failed(status)) {
        if (
          (status === S.STATUS_ACCESS_DENIED || status === S.STATUS_DIRECTORY_NOT_EMPTY || status === S.STATUS_CANNOT_DELETE) &&
          (dispositionFlags & ~FILE_DISPOSITION_POSIX_SEMANTICS) === FILE_DISPOSITION_DELETE
        )
          fo.dispositionStatus = status;
        return ioFail(status);
      }
      apply();
      if (node.isDirectory && deleting) this.notify.deletePending(node.fileName);
      return io(S.STATUS_SUCCESS, undefined);
    });
  }

  /**
   * FspFileNodeRenameCheck for the old name (`checkingOldName`) or the new
   * one: handles open below the name block the rename (ACCESS_DENIED; for
   * a POSIX rename only openers that do not share delete, as
   * SHARING_VIOLATION); a replaced directory with children or running image
   * is ACCESS_DENIED. Batch and handle oplocks are broken first.
   */
  private async renameCheck(
    fo: FileObject,
    name: string,
    checkingOldName: boolean,
    posix: boolean,
    scope: LockScope,
  ): Promise<number> {
    const node = fo.node!;
    if (checkingOldName && !node.isDirectory && node.handleCount === 1) return S.STATUS_SUCCESS;
    let nodes = this.descendants(name);
    if (nodes.length === 0) return S.STATUS_SUCCESS;
    const k = nameKey(name, this.caseInsensitive);
    if (!checkingOldName) {
      for (const d of nodes) {
        const child = d.key.length > k.length && d.key.charCodeAt(k.length) === 0x5c;
        if (child || (d.imageSection !== null && !this.flushImageSection(d))) return S.STATUS_ACCESS_DENIED;
      }
    }
    // Break batch and handle oplocks of the nodes that have handles.
    const waits: Promise<void>[] = [];
    for (const d of nodes) {
      if (d.handleCount <= 0 || !d.oplock.hasBatchOrHandle) continue;
      const w = d.oplock.checkNamespaceChange(fo);
      if (w !== null) waits.push(w);
    }
    if (waits.length > 0) {
      await scope.waitUnlocked(Promise.all(waits));
      nodes = this.descendants(name);
    }
    for (const d of nodes) {
      if (d === node || d.handleCount <= 0) continue;
      if (posix && d.share.openCount === d.share.sharedDelete && d.streamDenyDeleteCount === 0) continue;
      return posix ? S.STATUS_SHARING_VIOLATION : S.STATUS_ACCESS_DENIED;
    }
    return S.STATUS_SUCCESS;
  }

  /** FileRenameInformation / FileRenameInformationEx (FspFsvolSetRenameInformation and the DLL's RenameCheck). */
  setRename(fo: FileObject, req: RenameRequest): Promise<IoResult<void>> {
    return this.serialized(async (scope) => {
      if (fo.isVolume) return ioFail(S.STATUS_INVALID_PARAMETER);
      const p = this.params;
      const node = fo.node!;
      let flags = req.replaceIfExists ? 1 : 0;
      if (req.fileName.length === 0) return ioFail(S.STATUS_INVALID_PARAMETER);
      if (req.infoClass === FileInformationClass.FileRenameInformationEx) {
        if (!p.supportsPosixUnlinkRename) return ioFail(S.STATUS_INVALID_PARAMETER);
        flags |= req.flags & (FILE_RENAME_POSIX_SEMANTICS | FILE_RENAME_IGNORE_READONLY_ATTRIBUTE);
      }
      if ((fo.grantedAccess & A.DELETE) === 0) return ioFail(S.STATUS_ACCESS_DENIED);
      if (node.isRootDirectory) return ioFail(S.STATUS_INVALID_PARAMETER);
      if (node.main !== null || !isValidMainFileName(node.fileName, p.maxComponentLength)) return ioFail(S.STATUS_INVALID_PARAMETER);
      const target = req.targetDirectory;
      if (target !== null && (target.isVolume || !target.node!.isDirectory)) return ioFail(S.STATUS_INVALID_PARAMETER);
      if (node.posixDelete) return ioFail(S.STATUS_ACCESS_DENIED);

      const remain = target !== null ? target.node!.fileName : splitLast(node.fileName).parent;
      let suffix = req.fileName;
      if (suffix.length >= 2 && suffix.endsWith("\\")) suffix = suffix.slice(0, -1);
      const slash = suffix.lastIndexOf("\\");
      if (slash >= 0) suffix = suffix.slice(slash + 1);
      if (!isValidMainFileName(remain, p.maxComponentLength) || !isValidMainFileName(suffix, p.maxComponentLength) || suffix.length === 0)
        return ioFail(S.STATUS_INVALID_PARAMETER);
      const newName = joinName(remain, suffix);
      const posix = (flags & FILE_RENAME_POSIX_SEMANTICS) !== 0;

      let status = await this.renameCheck(fo, node.fileName, true, posix, scope);
      if (failed(status)) return ioFail(status === S.STATUS_SHARING_VIOLATION ? status : S.STATUS_ACCESS_DENIED);
      if (nameKey(node.fileName, !fo.caseSensitive) !== nameKey(newName, !fo.caseSensitive)) {
        status = await this.renameCheck(fo, newName, false, posix, scope);
        if (failed(status)) return ioFail(status === S.STATUS_SHARING_VIOLATION ? status : S.STATUS_ACCESS_DENIED);
      } else if (node.fileName === newName) return io(S.STATUS_SUCCESS, undefined);

      // Mapped but closed files below a renamed directory keep nothing in the way: their pages are written back.
      for (const d of this.descendants(node.fileName)) if (d !== node && d.handleCount === 0) await d.dataSection?.flush();

      // The DLL: the replace check (DELETE on the target, read-only forced), then Rename.
      if (this.fs.rename === undefined) return ioFail(S.STATUS_INVALID_DEVICE_REQUEST);
      if (req.replaceIfExists) {
        const check = await this.accessCheckEx(
          {
            fileName: newName,
            namedStream: 0,
            createOptions: ((flags & FILE_RENAME_IGNORE_READONLY_ATTRIBUTE) !== 0 ? 0 : O.FILE_DELETE_ON_CLOSE) | O.FILE_OPEN_REPARSE_POINT,
            disposition: CreateDisposition.FILE_OPEN,
            desiredAccess: A.DELETE,
            grantedAccess: 0,
            fileAttributes: 0,
            securityDescriptor: null,
            allocationSize: 0n,
            ea: null,
            token: req.token,
            userMode: true,
            hasTraversePrivilege: true,
            hasRestorePrivilege: false,
            hasTrailingBackslash: false,
            openTargetDirectory: false,
          },
          false,
          false,
          A.DELETE,
        );
        if (failed(check.status) && check.status !== S.STATUS_OBJECT_PATH_NOT_FOUND && check.status !== S.STATUS_OBJECT_NAME_NOT_FOUND)
          return ioFail(check.status);
      }
      const r = await this.fs.rename(fo.fsContext, node.fileName, newName, req.replaceIfExists);
      if (!r.ok) return ioFail(r.status);

      const filter = node.isDirectory ? FILE_NOTIFY_CHANGE_DIR_NAME : FILE_NOTIFY_CHANGE_FILE_NAME;
      this.notifyChange(node, filter, FILE_ACTION_RENAMED_OLD_NAME);
      this.renameNodes(node.fileName, newName);
      this.notifyChange(node, filter, FILE_ACTION_RENAMED_NEW_NAME);
      return io(S.STATUS_SUCCESS, undefined);
    });
  }

  /** FspFileNodeRename: every node at or below the old name takes the new prefix; a node it replaces leaves the table. */
  private renameNodes(oldName: string, newName: string): void {
    const moved = this.descendants(oldName);
    for (const d of moved) this.removeFromTable(d);
    for (const d of moved) {
      d.fileName = newName + d.fileName.slice(oldName.length);
      d.key = nameKey(d.fileName, this.caseInsensitive);
      const existing = this.table.get(d.key);
      if (existing !== undefined && existing !== d) {
        existing.openCount = 0;
        this.removeFromTable(existing);
      }
      this.table.set(d.key, d);
      d.inTable = true;
    }
  }

  // -------------------------------------------------- directory queries

  /**
   * IRP_MJ_DIRECTORY_CONTROL / IRP_MN_QUERY_DIRECTORY (src/sys/dirctl.c):
   * the pattern fixed at the first query (or a restart with a new one),
   * upper-cased on case-insensitive handles and matched with
   * FsRtlIsNameInExpression; the marker kept per handle; entries packed in
   * the caller's buffer. Answers the buffer (Information bytes of it valid).
   */
  queryDirectory(fo: FileObject, q: QueryDirectoryRequest): Promise<IoResult<Uint8Array>> {
    return this.serialized(async () => {
      if (fo.isVolume) return ioFail(S.STATUS_INVALID_DEVICE_REQUEST);
      const node = fo.node!;
      if (!node.isDirectory) return ioFail(S.STATUS_INVALID_PARAMETER);
      if (q.fileName !== null && !isValidPattern(q.fileName, this.params.maxComponentLength)) return ioFail(S.STATUS_INVALID_PARAMETER);
      const base = directoryInfoBaseLength(q.infoClass);
      if (base === null) return ioFail(S.STATUS_INVALID_INFO_CLASS);
      if (base >= q.length) return ioFail(S.STATUS_BUFFER_TOO_SMALL);
      if (this.fs.readDirectory === undefined) return ioFail(S.STATUS_INVALID_DEVICE_REQUEST);

      // FspFileDescResetDirectory.
      if (fo.dirPattern === null || (q.restartScan && q.fileName !== null && q.fileName.length > 0)) {
        const pattern = q.fileName === null || q.fileName === "*" ? "*" : fo.caseSensitive ? q.fileName : upcase(q.fileName);
        fo.dirPattern = pattern;
        fo.dirHasSuchFile = false;
        fo.dirMarker = null;
      } else if (q.restartScan) {
        fo.dirHasSuchFile = false;
        fo.dirMarker = null;
      } else if (q.indexSpecified && q.fileName !== null && q.fileName.length > 0) {
        if (q.fileName.length > this.params.maxComponentLength) return ioFail(S.STATUS_OBJECT_NAME_INVALID);
        fo.dirMarker = q.fileName;
        fo.dirHasSuchFile = false;
      }
      const pattern = fo.dirPattern;
      const matchAll = pattern === "*";
      const wild = hasWildcards(pattern);
      if (!wild && fo.dirHasSuchFile) return ioFail(S.STATUS_NO_MORE_FILES);

      const markerBefore = fo.dirMarker;
      const hasSuchFileBefore = fo.dirHasSuchFile;
      const out = new Uint8Array(q.length);
      let used = 0;
      let prev = -1;
      let status: number = S.STATUS_SUCCESS;
      const ci = !fo.caseSensitive;
      const eaOf = (info: FileInfo): number =>
        (info.fileAttributes & FA.FILE_ATTRIBUTE_REPARSE_POINT) !== 0
          ? info.reparseTag
          : this.params.extendedAttributes && info.eaSize !== 0
            ? info.eaSize + 4
            : 0;

      const patternIsFileName = this.params.passQueryDirectoryFileName && !wild && this.fs.getDirInfoByName !== undefined;
      for (;;) {
        let entries: { fileName: string; fileInfo: FileInfo }[];
        let end: boolean;
        if (patternIsFileName) {
          if (fo.dirMarker !== null) {
            entries = [];
            end = true;
          } else {
            const r = await this.fs.getDirInfoByName!(fo.fsContext, pattern);
            if (!r.ok && r.status !== S.STATUS_OBJECT_NAME_NOT_FOUND) return ioFail(r.status);
            entries = r.ok ? [r.value] : [];
            end = true;
          }
        } else {
          const r = await this.fs.readDirectory(
            fo.fsContext,
            this.params.passQueryDirectoryPattern && !matchAll ? pattern : null,
            fo.dirMarker,
            QUERY_DIRECTORY_LENGTH_MAX,
          );
          if (!r.ok) return ioFail(r.status);
          entries = [...r.value.entries];
          end = r.value.endOfDirectory;
        }
        let stop = false;
        for (const e of entries) {
          const name = e.fileName;
          const match = matchAll || isNameInExpression(pattern, name, ci);
          if (match) {
            let copy = 2 * name.length;
            if (used + base + copy > q.length) {
              if (prev >= 0) {
                stop = true;
                break;
              }
              copy = q.length - (used + base);
              status = S.STATUS_BUFFER_OVERFLOW;
            }
            if (prev >= 0) new DataView(out.buffer).setUint32(prev, used - prev, true);
            writeDirectoryEntry(out, used, q.infoClass, name, copy, e.fileInfo, eaOf(e.fileInfo));
            prev = used;
            const entryEnd = used + base + copy;
            fo.dirMarker = name;
            fo.dirHasSuchFile = true;
            if (status === S.STATUS_BUFFER_OVERFLOW) {
              used = entryEnd;
              stop = true;
              break;
            }
            used = (entryEnd + 7) & ~7;
            if (q.returnSingleEntry) {
              used = entryEnd;
              stop = true;
              break;
            }
          } else fo.dirMarker = name;
        }
        if (stop) break;
        if (end || patternIsFileName) break;
        if (entries.length === 0) break;
      }
      if (prev < 0) return ioFail(fo.dirHasSuchFile ? S.STATUS_NO_MORE_FILES : S.STATUS_NO_SUCH_FILE);
      if (status === S.STATUS_BUFFER_OVERFLOW) {
        // Not NT_SUCCESS: the marker is not advanced (FspFsvolQueryDirectoryCopyCache).
        fo.dirMarker = markerBefore;
        fo.dirHasSuchFile = hasSuchFileBefore;
      }
      // Information ends at the last entry's name, not at its padding.
      const last = new DataView(out.buffer);
      const lastNameLength = q.infoClass === FileInformationClass.FileNamesInformation ? last.getUint32(prev + 8, true) : last.getUint32(prev + 60, true);
      const information = Math.min(used, prev + base + lastNameLength, q.length);
      return { status, information, value: out };
    });
  }

  // ---------------------------------------------------------------- EAs

  /** IRP_MJ_QUERY_EA (src/sys/ea.c): filtering, indexing and upper-casing of the file system's full list. */
  queryEa(fo: FileObject, q: QueryEaRequest): Promise<IoResult<Uint8Array>> {
    return this.serialized(async () => {
      if (!this.params.extendedAttributes || fo.isVolume || this.fs.getEa === undefined) return ioFail(S.STATUS_INVALID_DEVICE_REQUEST);
      const node = fo.node!;
      const r = await this.fs.getEa(fo.fsContext);
      if (!r.ok) return ioFail(r.status === S.STATUS_BUFFER_OVERFLOW ? S.STATUS_EA_LIST_INCONSISTENT : r.status);
      const upper = !this.params.casePreservedExtendedAttributes;
      const source = r.value;
      const out = new Uint8Array(q.length);
      let used = 0;
      let prev = -1;
      let information = 0;
      const put = (ea: FullEa): boolean => {
        const name = Buffer.from(upper ? ea.name.toUpperCase() : ea.name, "latin1");
        const size = 8 + name.length + 1 + ea.value.length;
        if (used + size > q.length) return false;
        const view = new DataView(out.buffer);
        view.setUint32(used, 0, true);
        out[used + 4] = ea.flags;
        out[used + 5] = name.length;
        view.setUint16(used + 6, ea.value.length, true);
        out.set(name, used + 8);
        out[used + 8 + name.length] = 0;
        out.set(ea.value, used + 9 + name.length);
        if (prev >= 0) view.setUint32(prev, used - prev, true);
        prev = used;
        information = used + size;
        used = (used + size + 3) & ~3;
        return true;
      };

      if (q.eaList !== null) {
        let names: string[];
        try {
          names = decodeGetEaList(q.eaList);
        } catch (e) {
          if (ProtocolError.is(e)) return ioFail(S.STATUS_EA_LIST_INCONSISTENT);
          throw e;
        }
        const seen: string[] = [];
        for (const name of names) {
          if (seen.some((s) => s.toUpperCase() === name.toUpperCase())) continue;
          seen.push(name);
          if (!isValidEaName(name)) return ioFail(S.STATUS_INVALID_EA_NAME);
          const found = source.find((s) => s.name.toUpperCase() === name.toUpperCase());
          if (!put(found ?? { name, flags: 0, value: new Uint8Array(0) })) return ioFail(S.STATUS_BUFFER_OVERFLOW, 0);
          if (q.returnSingleEntry) break;
        }
        return io(S.STATUS_SUCCESS, out.subarray(0, information), information);
      }

      if (q.eaIndex === null && !q.restartScan && fo.eaIndex !== 0 && node.eaChangeCount !== fo.eaChangeCount)
        return ioFail(S.STATUS_EA_CORRUPT_ERROR);
      const indexSpecified = q.eaIndex !== null;
      let eaIndex = q.eaIndex ?? (q.restartScan ? 0 : fo.eaIndex);
      if (indexSpecified && eaIndex === 0) return ioFail(S.STATUS_NONEXISTENT_EA_ENTRY);
      let i = 1;
      let at = 0;
      while (i < eaIndex && at < source.length) {
        i++;
        at++;
      }
      let copied = 0;
      while (at < source.length) {
        if (!put(source[at]!)) {
          if (copied > 0) break;
          return ioFail(S.STATUS_BUFFER_TOO_SMALL);
        }
        copied++;
        at++;
        i++;
        if (q.returnSingleEntry) break;
      }
      let status: number;
      if (copied > 0) {
        eaIndex = i;
        status = at < source.length && !q.returnSingleEntry ? S.STATUS_BUFFER_OVERFLOW : S.STATUS_SUCCESS;
      } else if (indexSpecified) status = eaIndex === i ? S.STATUS_NO_MORE_EAS : S.STATUS_NONEXISTENT_EA_ENTRY;
      else status = at === 0 && source.length === 0 ? S.STATUS_NO_EAS_ON_FILE : S.STATUS_NO_MORE_EAS;
      if (status === S.STATUS_SUCCESS || status === S.STATUS_BUFFER_OVERFLOW) {
        fo.eaIndex = eaIndex;
        fo.eaChangeCount = node.eaChangeCount;
        return io(status, out.subarray(0, information), information);
      }
      return ioFail(status);
    });
  }

  /** IRP_MJ_SET_EA: the buffer is validated here; a zero-length value deletes. */
  setEa(fo: FileObject, buffer: Uint8Array): Promise<IoResult<void>> {
    return this.serialized(async () => {
      if (!this.params.extendedAttributes || fo.isVolume || this.fs.setEa === undefined) return ioFail(S.STATUS_INVALID_DEVICE_REQUEST);
      const v = validateEaBuffer(buffer);
      if (!v.ok) return ioFail(v.status, v.offset);
      const node = fo.node!;
      const r = await this.fs.setEa(fo.fsContext, v.eas);
      if (!r.ok) return ioFail(r.status);
      this.setFileInfo(node, r.value, false);
      node.owner.eaChangeCount++;
      if (node.main !== null) node.eaChangeCount++;
      this.notifyChange(node, FILE_NOTIFY_CHANGE_EA, FILE_ACTION_MODIFIED);
      return io(S.STATUS_SUCCESS, undefined);
    });
  }

  // ----------------------------------------------------------- security

  /**
   * IRP_MJ_QUERY_SECURITY (src/sys/security.c): the file system's whole
   * descriptor, filtered by SECURITY_INFORMATION. A buffer shorter than the
   * answer: STATUS_BUFFER_TOO_SMALL with the needed length in Information.
   */
  querySecurity(fo: FileObject, securityInformation: number, length: number): Promise<IoResult<Uint8Array>> {
    return this.serialized(async () => {
      if (fo.isVolume || this.fs.getSecurity === undefined) return ioFail(S.STATUS_INVALID_DEVICE_REQUEST);
      const owner = fo.node!.owner;
      let bytes: Uint8Array;
      if (owner.securityCache !== null && nowMs() < owner.securityExpire) bytes = owner.securityCache;
      else {
        const r = await this.fs.getSecurity(fo.fsContext);
        if (!r.ok) return ioFail(r.status === S.STATUS_BUFFER_OVERFLOW ? S.STATUS_INVALID_SECURITY_DESCR : r.status);
        bytes = r.value;
        owner.securityCache = bytes;
        owner.securityExpire = this.expiry(this.params.securityTimeout);
      }
      let sd: SecurityDescriptor;
      try {
        sd = decodeSecurityDescriptor(bytes);
      } catch (e) {
        if (ProtocolError.is(e)) return ioFail(S.STATUS_INVALID_SECURITY_DESCR);
        throw e;
      }
      const filtered = encodeSecurityDescriptor(filterSecurityDescriptor(sd, securityInformation));
      if (filtered.length > length) return ioFail(S.STATUS_BUFFER_TOO_SMALL, filtered.length);
      return io(S.STATUS_SUCCESS, filtered, filtered.length);
    });
  }

  /** IRP_MJ_SET_SECURITY: passed to the file system; marks the handle for the archive bit at cleanup. */
  setSecurity(fo: FileObject, securityInformation: number, descriptor: Uint8Array): Promise<IoResult<void>> {
    return this.serialized(async () => {
      if (fo.isVolume || this.fs.setSecurity === undefined) return ioFail(S.STATUS_INVALID_DEVICE_REQUEST);
      const node = fo.node!;
      const r = await this.fs.setSecurity(fo.fsContext, securityInformation, descriptor);
      if (!r.ok) return ioFail(r.status);
      node.owner.securityCache = null;
      fo.didSetSecurity = true;
      this.notifyChange(node, FILE_NOTIFY_CHANGE_SECURITY, FILE_ACTION_MODIFIED);
      return io(S.STATUS_SUCCESS, undefined);
    });
  }

  // ------------------------------------------------------------- volume

  /** IRP_MJ_QUERY_VOLUME_INFORMATION for the classes Win32 needs, combined. */
  queryVolumeInformation(): Promise<IoResult<VolumeInformation>> {
    return this.serialized(async () => {
      const r = await this.fs.getVolumeInfo();
      if (!r.ok) return ioFail(r.status);
      return io(S.STATUS_SUCCESS, this.volumeInformation(r.value));
    });
  }

  private volumeInformation(v: VolumeInfo): VolumeInformation {
    const p = this.params;
    const unit = BigInt(p.sectorSize * p.sectorsPerAllocationUnit);
    return {
      volumeLabel: v.volumeLabel,
      volumeSerialNumber: p.volumeSerialNumber >>> 0,
      volumeCreationTime: p.volumeCreationTime,
      fileSystemAttributes: fileSystemAttributes(p),
      maximumComponentNameLength: p.maxComponentLength,
      fileSystemName: reportedFileSystemName(p),
      bytesPerSector: p.sectorSize,
      sectorsPerAllocationUnit: p.sectorsPerAllocationUnit,
      totalAllocationUnits: v.totalSize / unit,
      availableAllocationUnits: v.freeSize / unit,
    };
  }

  /** FileFsLabelInformation. */
  setVolumeLabel(label: string): Promise<IoResult<void>> {
    return this.serialized(async () => {
      if (this.fs.setVolumeLabel === undefined) return ioFail(S.STATUS_INVALID_DEVICE_REQUEST);
      const r = await this.fs.setVolumeLabel(label);
      return r.ok ? io(S.STATUS_SUCCESS, undefined) : ioFail(r.status);
    });
  }

  // -------------------------------------------------------------- FSCTLs

  /** IRP_MJ_FILE_SYSTEM_CONTROL (src/sys/fsctl.c): reparse points, oplocks, volume queries. */
  fsctl(fo: FileObject, code: number, input: Uint8Array, outputLength: number): Promise<FsctlResult> {
    return this.serialized(async () => {
      const done = (status: number, output: Uint8Array | null = null, information = output?.length ?? 0): FsctlResult => ({
        status,
        information,
        output,
      });
      switch (code >>> 0) {
        case FSP_FSCTL_QUERY_WINFSP:
        case FSCTL_IS_VOLUME_MOUNTED:
          return done(S.STATUS_SUCCESS);
        case FSCTL_QUERY_PERSISTENT_VOLUME_STATE: {
          if (input.length < 16 || outputLength < 16) return done(input.length < 16 ? S.STATUS_INVALID_PARAMETER : S.STATUS_BUFFER_TOO_SMALL);
          const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
          const flagMask = view.getUint32(4, true);
          const version = view.getUint16(8, true);
          if (version !== 1 || (flagMask & PERSISTENT_VOLUME_STATE_SHORT_NAME_CREATION_DISABLED) === 0) return done(S.STATUS_INVALID_PARAMETER);
          const out = new Uint8Array(16);
          const ov = new DataView(out.buffer);
          ov.setUint32(0, PERSISTENT_VOLUME_STATE_SHORT_NAME_CREATION_DISABLED, true);
          ov.setUint32(4, 0, true);
          ov.setUint16(8, 1, true);
          ov.setUint16(10, 0, true);
          return done(S.STATUS_SUCCESS, out);
        }
        case FSCTL_FILESYSTEM_GET_STATISTICS:
          return done(S.STATUS_INVALID_DEVICE_REQUEST);
        case FSCTL_SET_REPARSE_POINT:
        case FSCTL_GET_REPARSE_POINT:
        case FSCTL_DELETE_REPARSE_POINT:
          if (fo.isVolume) return done(S.STATUS_INVALID_PARAMETER);
          return this.reparseFsctl(fo, code >>> 0, input, outputLength);
        case FSCTL_REQUEST_OPLOCK_LEVEL_1:
        case FSCTL_REQUEST_OPLOCK_LEVEL_2:
        case FSCTL_REQUEST_BATCH_OPLOCK:
        case FSCTL_REQUEST_FILTER_OPLOCK:
        case FSCTL_OPLOCK_BREAK_ACKNOWLEDGE:
        case FSCTL_OPLOCK_BREAK_ACK_NO_2:
        case FSCTL_OPBATCH_ACK_CLOSE_PENDING:
        case FSCTL_REQUEST_OPLOCK: {
          if (fo.isVolume) return done(S.STATUS_INVALID_PARAMETER);
          const node = fo.node!;
          let oplockInput: { level: number; flags: number } | null = null;
          if ((code >>> 0) === FSCTL_REQUEST_OPLOCK) {
            if (input.length < 12) return done(S.STATUS_BUFFER_TOO_SMALL);
            const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
            oplockInput = { level: view.getUint32(4, true), flags: view.getUint32(8, true) };
          }
          const r = node.oplock.fsctl(fo, code >>> 0, oplockInput, {
            handleCount: node.handleCount,
            locksHeld: !node.locks.empty,
            deletePending: node.deletePending,
          });
          if ("pending" in r) return { pending: r.pending };
          return done(r.status, r.output === null ? null : encodeOplockOutput(r.output));
        }
        default:
          return done(S.STATUS_INVALID_DEVICE_REQUEST);
      }
    });
  }

  private async reparseFsctl(fo: FileObject, code: number, input: Uint8Array, outputLength: number): Promise<FsctlResult> {
    const done = (status: number, output: Uint8Array | null = null): FsctlResult => ({ status, information: output?.length ?? 0, output });
    if (!this.params.reparsePoints) return done(S.STATUS_INVALID_DEVICE_REQUEST);
    const node = fo.node!;
    if (code === FSCTL_GET_REPARSE_POINT) {
      if (this.fs.getReparsePoint === undefined) return done(S.STATUS_INVALID_DEVICE_REQUEST);
      const r = await this.fs.getReparsePoint(fo.fsContext, node.fileName);
      if (!r.ok) return done(r.status);
      if (r.value.length > outputLength) {
        if (outputLength < REPARSE_DATA_BUFFER_HEADER_SIZE) return done(S.STATUS_BUFFER_TOO_SMALL);
        return { status: S.STATUS_BUFFER_OVERFLOW, information: outputLength, output: r.value.subarray(0, outputLength) };
      }
      return done(S.STATUS_SUCCESS, r.value);
    }
    if (outputLength !== 0) return done(S.STATUS_INVALID_PARAMETER);
    if ((fo.grantedAccess & (A.FILE_WRITE_DATA | A.FILE_APPEND_DATA | A.FILE_WRITE_ATTRIBUTES)) === 0) return done(S.STATUS_ACCESS_DENIED);
    if (code === FSCTL_SET_REPARSE_POINT) {
      const status = validateReparseBuffer(input);
      if (status !== S.STATUS_SUCCESS) return done(status);
      if (this.fs.setReparsePoint === undefined) return done(S.STATUS_INVALID_DEVICE_REQUEST);
      const r = await this.fs.setReparsePoint(fo.fsContext, node.fileName, input.slice());
      if (!r.ok) return done(r.status);
    } else {
      if (input.length === 0) return done(S.STATUS_INVALID_BUFFER_SIZE);
      if (input.length < REPARSE_DATA_BUFFER_HEADER_SIZE) return done(S.STATUS_IO_REPARSE_DATA_INVALID);
      const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
      const tag = view.getUint32(0, true);
      const header = isMicrosoftTag(tag) ? REPARSE_DATA_BUFFER_HEADER_SIZE : REPARSE_GUID_DATA_BUFFER_HEADER_SIZE;
      if (tag === ReparseTag.IO_REPARSE_TAG_RESERVED_ZERO || tag === ReparseTag.IO_REPARSE_TAG_RESERVED_ONE)
        return done(S.STATUS_IO_REPARSE_TAG_INVALID);
      if (input.length !== header || view.getUint16(4, true) !== 0) return done(S.STATUS_IO_REPARSE_DATA_INVALID);
      if (this.fs.deleteReparsePoint === undefined) return done(S.STATUS_INVALID_DEVICE_REQUEST);
      const r = await this.fs.deleteReparsePoint(fo.fsContext, node.fileName, input.slice());
      if (!r.ok) return done(r.status);
    }
    fo.didSetMetadata = true;
    this.invalidateFileInfo(node);
    const info = await this.fs.getFileInfo(fo.fsContext);
    if (info.ok) this.setFileInfo(node, info.value, false);
    this.notifyChange(node, FILE_NOTIFY_CHANGE_ATTRIBUTES | FILE_NOTIFY_CHANGE_LAST_WRITE, FILE_ACTION_MODIFIED);
    return done(S.STATUS_SUCCESS);
  }

  /** IRP_MJ_DEVICE_CONTROL: passed to Control for custom codes when the volume allows it. */
  deviceControl(fo: FileObject, code: number, input: Uint8Array, outputLength: number): Promise<IoResult<Uint8Array>> {
    return this.serialized(async () => {
      const c = code >>> 0;
      const deviceType = c >>> 16;
      if (!this.params.deviceControl || this.fs.control === undefined || (deviceType & 0x8000) === 0 || (c & 3) !== 0 || fo.isVolume)
        return ioFail(S.STATUS_INVALID_DEVICE_REQUEST);
      const r = await this.fs.control(fo.fsContext, c, input, outputLength);
      if (!r.ok) return ioFail(r.status === S.STATUS_BUFFER_OVERFLOW ? S.STATUS_BUFFER_TOO_SMALL : r.status);
      return io(S.STATUS_SUCCESS, r.value, r.value.length);
    });
  }

  // --------------------------------------------------------------- locks

  /** NtLockFile: granted, refused, or pending until granted. */
  lock(fo: FileObject, offset: bigint, length: bigint, exclusive: boolean, failImmediately: boolean): LockRequestResult {
    if (fo.isVolume || fo.node!.isDirectory) return { status: S.STATUS_INVALID_PARAMETER };
    return fo.node!.locks.lock(fo, offset, length, exclusive, failImmediately);
  }

  /** NtUnlockFile. */
  unlock(fo: FileObject, offset: bigint, length: bigint): number {
    if (fo.isVolume || fo.node!.isDirectory) return S.STATUS_INVALID_PARAMETER;
    return fo.node!.locks.unlock(fo, offset, length);
  }

  // -------------------------------------------------------- notification

  /** IRP_MN_NOTIFY_CHANGE_DIRECTORY (ReadDirectoryChangesW). */
  notifyChangeDirectory(fo: FileObject, filter: number, watchTree: boolean, length: number): Promise<NotifyCompletion> {
    const node = fo.node;
    if (node === null || !node.isDirectory) return Promise.resolve({ status: S.STATUS_INVALID_PARAMETER, records: [] });
    if (node.deletePending) return Promise.resolve({ status: S.STATUS_DELETE_PENDING, records: [] });
    if (watchTree && !fo.hasTraversePrivilege) return Promise.resolve({ status: S.STATUS_ACCESS_DENIED, records: [] });
    return this.notify.request(fo, () => node.fileName, watchTree, filter, length);
  }

  // ------------------------------------------------------------ sections

  /**
   * CreateFileMapping on a file object: the file's data section (created on
   * first use, grown if asked bigger); a size past end of file extends the
   * file as the memory manager does. Answers the section.
   */
  createSection(fo: FileObject, size: bigint, writable: boolean): Promise<IoResult<DataSection<FileObject>>> {
    return this.serialized(async () => {
      if (fo.isVolume || fo.node!.isDirectory) return ioFail(S.STATUS_INVALID_PARAMETER);
      const node = fo.node!;
      const info = await this.fileInfoOf(fo);
      if (!info.ok) return ioFail(info.status);
      let sectionSize = size === 0n ? info.value.fileSize : size;
      if (sectionSize === 0n) return ioFail(STATUS_MAPPED_FILE_SIZE_ZERO);
      if (sectionSize > info.value.fileSize) {
        if (!writable) return ioFail(STATUS_SECTION_TOO_BIG);
        const r = await this.setFileSizeLocked(fo, sectionSize, false, true);
        if (failed(r.status)) return ioFail(r.status);
      }
      if (sectionSize > BigInt(Number.MAX_SAFE_INTEGER)) return ioFail(STATUS_SECTION_TOO_BIG);
      if (node.dataSection === null) {
        node.dataSection = await DataSection.create(this.paging, fo, Number(sectionSize), () => {
          node.dataSection = null;
        });
      } else await node.dataSection.grow(Number(sectionSize));
      const section = node.dataSection;
      section.handles++;
      if (writable) section.writableReferences++;
      return io(S.STATUS_SUCCESS, section);
    });
  }

  /** Runs a section operation (map, unmap, flush, close) in the FSD's serialization, so its paging I/O is ordered with everything else. */
  sectionOp<T>(fn: () => Promise<T>): Promise<T> {
    return this.serialized(fn);
  }

  /**
   * Maps a file as an image for a process (CreateProcess): reads it through
   * paging reads and keeps an image section with one view per running
   * process. Answers the image bytes.
   */
  mapImage(fo: FileObject): Promise<IoResult<Uint8Array>> {
    return this.serialized(async () => {
      if (fo.isVolume || fo.node!.isDirectory) return ioFail(S.STATUS_ACCESS_DENIED);
      const node = fo.node!;
      if (node.imageSection === null) {
        const info = await this.fileInfoOf(fo);
        if (!info.ok) return ioFail(info.status);
        const size = Number(info.value.fileSize);
        const image = new Uint8Array(size);
        for (let at = 0; at < size; ) {
          const r = await this.pagingRead(fo, BigInt(at), size - at);
          if (failed(r.status) || r.data.length === 0) return ioFail(failed(r.status) ? r.status : S.STATUS_INVALID_IMAGE_FORMAT);
          image.set(r.data, at);
          at += r.data.length;
        }
        node.imageSection = new ImageSection(image, fo);
        fo.references++;
      }
      node.imageSection.views++;
      return io(S.STATUS_SUCCESS, node.imageSection.image);
    });
  }

  /** A process running the image of `node` exited. */
  unmapImage(node: FileNode): Promise<void> {
    return this.serialized(async () => {
      const image = node.imageSection;
      if (image === null) return;
      if (--image.views > 0) return;
      node.imageSection = null;
      await this.derefLocked(image.fileObject);
    });
  }

  /** Volume teardown: DispatcherStopped. */
  async dismount(): Promise<void> {
    this.closedVolume = true;
    await this.fs.dispatcherStopped?.(true);
  }
}

// ------------------------------------------------------------------ helpers

/** STATUS_MAPPED_FILE_SIZE_ZERO: a zero-length file cannot be mapped. */
const STATUS_MAPPED_FILE_SIZE_ZERO = 0xc000011e;
/** STATUS_SECTION_TOO_BIG: a read-only mapping larger than the file. */
const STATUS_SECTION_TOO_BIG = 0xc0000040;

function accessFlags(grantedAccess: number): { read: boolean; write: boolean; del: boolean } {
  return {
    read: (grantedAccess & (A.FILE_EXECUTE | A.FILE_READ_DATA)) !== 0,
    write: (grantedAccess & (A.FILE_WRITE_DATA | A.FILE_APPEND_DATA)) !== 0,
    del: (grantedAccess & A.DELETE) !== 0,
  };
}

/** IoCheckShareAccess without the update. */
function checkShareAccess(grantedAccess: number, shareAccess: number, s: ShareAccess): boolean {
  const { read, write, del } = accessFlags(grantedAccess);
  if (!read && !write && !del) return true;
  const sharedRead = (shareAccess & FILE_SHARE_READ) !== 0;
  const sharedWrite = (shareAccess & FILE_SHARE_WRITE) !== 0;
  const sharedDelete = (shareAccess & FILE_SHARE_DELETE) !== 0;
  if ((read && s.sharedRead < s.openCount) || (write && s.sharedWrite < s.openCount) || (del && s.sharedDelete < s.openCount)) return false;
  if ((s.readers !== 0 && !sharedRead) || (s.writers !== 0 && !sharedWrite) || (s.deleters !== 0 && !sharedDelete)) return false;
  return true;
}

/** IoSetShareAccess: records the open on the file object and the node. */
function setShareAccess(fo: FileObject, grantedAccess: number, shareAccess: number, s: ShareAccess): void {
  const { read, write, del } = accessFlags(grantedAccess);
  fo.readAccess = read;
  fo.writeAccess = write;
  fo.deleteAccess = del;
  fo.shareAccess = shareAccess;
  if (!read && !write && !del) {
    fo.sharedRead = fo.sharedWrite = fo.sharedDelete = false;
    return;
  }
  fo.sharedRead = (shareAccess & FILE_SHARE_READ) !== 0;
  fo.sharedWrite = (shareAccess & FILE_SHARE_WRITE) !== 0;
  fo.sharedDelete = (shareAccess & FILE_SHARE_DELETE) !== 0;
  s.openCount++;
  if (read) s.readers++;
  if (write) s.writers++;
  if (del) s.deleters++;
  if (fo.sharedRead) s.sharedRead++;
  if (fo.sharedWrite) s.sharedWrite++;
  if (fo.sharedDelete) s.sharedDelete++;
}

/** IoRemoveShareAccess. */
function removeShareAccess(fo: FileObject, s: ShareAccess): void {
  if (!fo.readAccess && !fo.writeAccess && !fo.deleteAccess) return;
  s.openCount--;
  if (fo.readAccess) s.readers--;
  if (fo.writeAccess) s.writers--;
  if (fo.deleteAccess) s.deleters--;
  if (fo.sharedRead) s.sharedRead--;
  if (fo.sharedWrite) s.sharedWrite--;
  if (fo.sharedDelete) s.sharedDelete--;
  fo.readAccess = fo.writeAccess = fo.deleteAccess = false;
}

/**
 * FspEaBufferFromOriginatingProcessValidate: IoCheckEaBufferValidity
 * (STATUS_EA_LIST_INCONSISTENT), then every name FAT-legal
 * (STATUS_INVALID_EA_NAME with the offset of the bad entry).
 */
export function validateEaBuffer(buffer: Uint8Array): { ok: true; eas: FullEa[] } | { ok: false; status: number; offset: number } {
  let eas: FullEa[];
  try {
    eas = decodeFullEaList(buffer);
  } catch (e) {
    if (ProtocolError.is(e)) return { ok: false, status: S.STATUS_EA_LIST_INCONSISTENT, offset: 0 };
    throw e;
  }
  let offset = 0;
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  for (const ea of eas) {
    if (!isValidEaName(ea.name)) return { ok: false, status: S.STATUS_INVALID_EA_NAME, offset };
    offset += view.getUint32(offset, true);
  }
  return { ok: true, eas };
}

/** REQUEST_OPLOCK_OUTPUT_BUFFER: u16 version, u16 length, u32 original level, u32 new level, u32 flags, u16 access mode, u16 share mode. */
export function encodeOplockOutput(o: { originalLevel: number; newLevel: number; flags: number }): Uint8Array {
  const out = new Uint8Array(20);
  const v = new DataView(out.buffer);
  v.setUint16(0, 1, true);
  v.setUint16(2, 20, true);
  v.setUint32(4, o.originalLevel, true);
  v.setUint32(8, o.newLevel, true);
  v.setUint32(12, o.flags, true);
  return out;
}

/** An EA list packed as FILE_FULL_EA_INFORMATION (for callers building NtCreateFile/NtSetEaFile buffers). */
export function packEas(eas: readonly FullEa[]): Uint8Array {
  return encodeFullEaList(eas);
}

/** Flag of an EA the file cannot be understood without. */
export { FILE_NEED_EA };
