/**
 * The Windows file-system interface: WinFsp's `FSP_FILE_SYSTEM_INTERFACE`
 * (inc/winfsp/winfsp.h) in TypeScript, member for member, and the data
 * structures of inc/winfsp/fsctl.h it passes around.
 *
 * Who calls it: the Win32 I/O layer (`src/win32`, playing WinFsp's kernel
 * driver, the FSD, and the DLL's dispatch in fsop.c), or a binding to the real
 * WinFsp DLL. Who implements it: the in-memory reference file system
 * (memfs.ts) and the FUSE-backed Windows service.
 *
 * The split of work, as in WinFsp: the caller (FSD + DLL) does name
 * validation and stream-name parsing, share access, access checks (through
 * {@link FileSystemInterface.getSecurityByName}), delete-pending, byte-range
 * locks, oplocks, caching, EA filtering and indexing, the SECURITY_INFORMATION
 * filtering of queries, and the mapping of create dispositions onto
 * Create/Open/Overwrite. The file system does what each member below says and
 * nothing more; every member's comment states what the caller guarantees.
 *
 * Conventions:
 * - Every member is async and answers an {@link NtResult}: the NTSTATUS
 *   WinFsp's member would return, and on success the values it would write to
 *   its out-parameters. Failure is a value, never a throw; a thrown error is a
 *   bug in the file system, which a caller answers with STATUS_INTERNAL_ERROR.
 *   Cleanup and Close cannot fail (a Windows limitation) and answer nothing.
 * - Out-buffers become return values: the file system returns the whole
 *   security descriptor, stream list, EA list or reparse buffer, and the caller
 *   reports STATUS_BUFFER_OVERFLOW / BUFFER_TOO_SMALL when its own buffer is
 *   too small. Two exceptions keep WinFsp's shape because they are about the
 *   caller's buffer: Read fills the caller's `Uint8Array`, and ReadDirectory
 *   packs only what fits in the caller's byte budget (and is resumed with a
 *   marker).
 * - File contexts (`C`) are opaque objects the file system creates in
 *   Create/Open and receives back in every later member until Close. This is
 *   WinFsp's `UmFileContextIsUserContext2` model: one context per open, so the
 *   same file opened twice yields two contexts. The caller never looks inside.
 * - Names are volume-relative UTF-16 strings as WinFsp sends them: `\` is the
 *   root, components are separated by `\`, a named stream is `\file:stream`
 *   (the caller has removed `:$DATA`), and `\file::$DATA` has become `\file`.
 * - Members marked optional (`?`) may be left out, as in WinFsp, where a NULL
 *   slot makes the DLL answer STATUS_INVALID_DEVICE_REQUEST (or fall back, as
 *   stated on the member).
 * - FILETIMEs are `bigint`s: 100 ns intervals since 1601-01-01 UTC. 64-bit
 *   sizes and offsets are `bigint` too.
 */
import type { FullEa } from "../windows/ea.js";
import { NtStatus } from "../windows/ntstatus.js";

/** One FILE_FULL_EA_INFORMATION entry (flags, 8-bit name, value), as src/windows/ea.ts decodes it. */
export type { FullEa };

/** An NTSTATUS value (a 32-bit unsigned number, e.g. 0xC0000034). */
export type NtStatusCode = number;

/** A successful answer: `status` is STATUS_SUCCESS unless the member says otherwise (e.g. STATUS_REPARSE). */
export interface NtOk<T> {
  readonly ok: true;
  readonly status: NtStatusCode;
  readonly value: T;
}

/** A failed answer: an error or warning NTSTATUS, and nothing else. */
export interface NtFailure {
  readonly ok: false;
  readonly status: NtStatusCode;
}

/** What every member answers. Narrow on `ok`. */
export type NtResult<T> = NtOk<T> | NtFailure;

/** Builds a success answer. */
export function ntOk<T>(value: T, status: NtStatusCode = NtStatus.STATUS_SUCCESS): NtOk<T> {
  return { ok: true, status, value };
}

/** The success answer of members that return nothing. */
export const NT_OK: NtOk<void> = Object.freeze({ ok: true, status: NtStatus.STATUS_SUCCESS, value: undefined });

/** Builds a failure answer. */
export function ntFail(status: NtStatusCode): NtFailure {
  return { ok: false, status };
}

/**
 * FSP_FSCTL_FILE_INFO (72 bytes). Every member that changes a file answers
 * with the file's information after the change; the FSD caches it and builds
 * every FileXxxInformation class from it.
 */
export interface FileInfo {
  /** FILE_ATTRIBUTE_*; 0 is reported to callers as NORMAL. Directories carry DIRECTORY. */
  readonly fileAttributes: number;
  /** The reparse tag when REPARSE_POINT is set, else 0. */
  readonly reparseTag: number;
  /** Bytes allocated: a multiple of the allocation unit, at least fileSize. */
  readonly allocationSize: bigint;
  /** End of file, in bytes. */
  readonly fileSize: bigint;
  readonly creationTime: bigint;
  readonly lastAccessTime: bigint;
  readonly lastWriteTime: bigint;
  readonly changeTime: bigint;
  /** FileInternalInformation / nFileIndex: unique per file; a named stream reports its main file's. */
  readonly indexNumber: bigint;
  /** Unimplemented in WinFsp: 0 (the FSD always reports one link). */
  readonly hardLinks: number;
  /** Packed size of the EAs (sum of 5 + name + value per EA, as NTFS counts), or 0. */
  readonly eaSize: number;
}

/** FSP_FSCTL_VOLUME_INFO (88 bytes). */
export interface VolumeInfo {
  readonly totalSize: bigint;
  readonly freeSize: bigint;
  /** At most {@link VOLUME_LABEL_MAX} UTF-16 units. */
  readonly volumeLabel: string;
}

/** The longest volume label FSP_FSCTL_VOLUME_INFO holds, in UTF-16 units. */
export const VOLUME_LABEL_MAX = 32;

/** FSP_FSCTL_DIR_INFO: one directory entry. */
export interface DirInfo {
  /** A single component (no `\`), not NUL-terminated; `.` and `..` for the dot entries. */
  readonly fileName: string;
  readonly fileInfo: FileInfo;
  /** Only with VolumeParams.directoryMarkerAsNextOffset: the marker that resumes after this entry. */
  readonly nextOffset?: bigint;
}

/** FSP_FSCTL_STREAM_INFO: one stream of a file. */
export interface StreamInfo {
  /** The bare stream name: `""` for a file's main (unnamed) data stream, `foo` for `file:foo`. */
  readonly streamName: string;
  readonly streamSize: bigint;
  readonly streamAllocationSize: bigint;
}

/** What Create/CreateEx/Open answer: FSP_FSCTL_OPEN_FILE_INFO and the new context. */
export interface OpenResult<C> {
  readonly fileContext: C;
  readonly fileInfo: FileInfo;
  /**
   * The opened file's full name in its stored case (e.g. `\Dir\File:Stream`),
   * which case-insensitive file systems report so the FSD keeps the real case
   * (FSP_FSCTL_OPEN_FILE_INFO.NormalizedName). It may differ from the request
   * only in case. `null` lets the FSD use the requested name (upper-cased on
   * case-insensitive volumes).
   */
  readonly normalizedName: string | null;
}

/** The arguments of Create. */
export interface CreateIn {
  /** The full name to create; the parent exists as far as the caller checked. */
  readonly fileName: string;
  /**
   * NtCreateFile options in the low 24 bits, the disposition in the top 8.
   * FILE_DIRECTORY_FILE asks for a directory.
   */
  readonly createOptions: number;
  /** The access the caller granted the opener (access checks are done). */
  readonly grantedAccess: number;
  /** Attributes for the new file: NORMAL, DIRECTORY and REPARSE_POINT cleared; DIRECTORY set again for directories. */
  readonly fileAttributes: number;
  /** Self-relative security descriptor for the new file; `null` for named streams. */
  readonly securityDescriptor: Uint8Array | null;
  /** Initial allocation size, already rounded up to the allocation unit. */
  readonly allocationSize: bigint;
}

/** The arguments of CreateEx: Create plus the extra buffer of NtCreateFile. */
export interface CreateExIn extends CreateIn {
  /** EAs from NtCreateFile's EA buffer, or `null`. */
  readonly ea: readonly FullEa[] | null;
  /** A reparse buffer from the atomic-create ECP (WSL), or `null`. At most one of `ea` and this is set. */
  readonly reparseData: Uint8Array | null;
}

/** The arguments of Open. */
export interface OpenIn {
  readonly fileName: string;
  /** As in {@link CreateIn.createOptions}. FILE_NO_EA_KNOWLEDGE matters: see Open. */
  readonly createOptions: number;
  readonly grantedAccess: number;
}

/** The arguments of Overwrite. */
export interface OverwriteIn {
  /** Attributes to apply: NORMAL, DIRECTORY and REPARSE_POINT cleared. */
  readonly fileAttributes: number;
  /** True for FILE_SUPERSEDE: replace the attributes; false for FILE_OVERWRITE(_IF): OR them in. */
  readonly replaceFileAttributes: boolean;
  /** The allocation size after the overwrite (rounded to the allocation unit). */
  readonly allocationSize: bigint;
}

/** The arguments of OverwriteEx: Overwrite plus the EAs that replace all existing ones. */
export interface OverwriteExIn extends OverwriteIn {
  readonly ea: readonly FullEa[] | null;
}

/** The arguments of SetBasicInfo, as the FSD sends them (already mapped from the caller's values). */
export interface BasicInfoIn {
  /** INVALID_FILE_ATTRIBUTES (0xFFFFFFFF) leaves them alone. */
  readonly fileAttributes: number;
  /** 0 leaves a time alone. */
  readonly creationTime: bigint;
  readonly lastAccessTime: bigint;
  readonly lastWriteTime: bigint;
  readonly changeTime: bigint;
}

/** What Write answers. */
export interface WriteOut {
  readonly bytesTransferred: number;
  readonly fileInfo: FileInfo;
}

/** What GetSecurityByName answers. */
export type SecurityByName =
  | {
      readonly reparse: false;
      /** The file's attributes (a named stream reports its main file's, without DIRECTORY). */
      readonly fileAttributes: number;
      /** Self-relative; `null` if the file has none. */
      readonly securityDescriptor: Uint8Array | null;
    }
  | {
      /** Answered with status STATUS_REPARSE: a component before the last is a reparse point. */
      readonly reparse: true;
      /** UTF-16 index in the name of the first reparse-point component (0 if unknown). */
      readonly reparsePointIndex: number;
    };

/** One ReadDirectory answer: the entries after the marker that fit, and whether the listing ended. */
export interface DirectoryChunk {
  readonly entries: readonly DirInfo[];
  /**
   * True when the file system added WinFsp's end-of-directory terminator: all
   * entries after the marker are in `entries`. False means "ask again with the
   * last entry's name as the marker".
   */
  readonly endOfDirectory: boolean;
}

/**
 * What ResolveReparsePoints answers (with status STATUS_REPARSE): the
 * IO_STATUS_BLOCK Information and the buffer WinFsp puts in the response.
 */
export interface ReparseResolution {
  /**
   * IO_REPARSE_TAG_SYMLINK when `buffer` is a symbolic-link REPARSE_DATA_BUFFER
   * holding the resolved name (SYMLINK_FLAG_RELATIVE: a name inside this
   * volume to re-open; no flag: an absolute NT path for the I/O manager);
   * otherwise the tag of a reparse point the file system does not resolve,
   * and `buffer` is that reparse point's data.
   */
  readonly information: number;
  readonly buffer: Uint8Array;
}

/**
 * FSP_FSCTL_VOLUME_PARAMS (V1, 504 bytes): what a file system tells the FSD
 * about its volume. Zero or absent values take the FSD's defaults; see
 * `effectiveVolumeParams` in volume-params.ts.
 */
export interface VolumeParams {
  /** Bytes per sector (default 512). Also the I/O unit of the rdwr/flush/lock tests. */
  readonly sectorSize: number;
  /** Allocation unit = sectorSize × this (default 1). */
  readonly sectorsPerAllocationUnit: number;
  /** Longest name component in UTF-16 units (default 255); a stream's `name:stream:$DATA` counts as one component. */
  readonly maxComponentLength: number;
  readonly volumeCreationTime: bigint;
  readonly volumeSerialNumber: number;
  /** Deprecated in WinFsp. */
  readonly transactTimeout: number;
  /** Pending-IRP timeout, ms (60000-600000; default 300000). */
  readonly irpTimeout: number;
  /** Most pending IRPs (100-1000; default 1000). */
  readonly irpCapacity: number;
  /** How long metadata may be cached, ms. Only 0xFFFFFFFF (INFINITE) enables data caching. */
  readonly fileInfoTimeout: number;
  /** FILE_CASE_SENSITIVE_SEARCH. When false the FSD compares names case-insensitively. */
  readonly caseSensitiveSearch: boolean;
  /** FILE_CASE_PRESERVED_NAMES. */
  readonly casePreservedNames: boolean;
  /** FILE_UNICODE_ON_DISK. */
  readonly unicodeOnDisk: boolean;
  /** FILE_PERSISTENT_ACLS. */
  readonly persistentAcls: boolean;
  /** FILE_SUPPORTS_REPARSE_POINTS; without it every reparse FSCTL is STATUS_INVALID_DEVICE_REQUEST. */
  readonly reparsePoints: boolean;
  /** Setting a symlink needs SeCreateSymbolicLinkPrivilege. */
  readonly reparsePointsAccessCheck: boolean;
  /** FILE_NAMED_STREAMS; without it a `:` in a name is invalid. */
  readonly namedStreams: boolean;
  /** Unimplemented in WinFsp: false. */
  readonly hardLinks: boolean;
  /** FILE_SUPPORTS_EXTENDED_ATTRIBUTES; without it an EA buffer on create is STATUS_EAS_NOT_SUPPORTED. */
  readonly extendedAttributes: boolean;
  /** FILE_READ_ONLY_VOLUME. */
  readonly readOnlyVolume: boolean;
  /** Send Cleanup only when it has a flag to carry. */
  readonly postCleanupWhenModifiedOnly: boolean;
  /** Pass the QueryDirectory pattern to ReadDirectory (otherwise it gets `null`). */
  readonly passQueryDirectoryPattern: boolean;
  readonly alwaysUseDoubleBuffering: boolean;
  /** A pattern without wildcards goes to GetDirInfoByName. */
  readonly passQueryDirectoryFileName: boolean;
  /** Flush and purge the cache at the last cleanup. */
  readonly flushAndPurgeOnCleanup: boolean;
  /** Pass DeviceIoControl codes to Control. */
  readonly deviceControl: boolean;
  /** FileContext is the per-open descriptor (this interface's model). */
  readonly umFileContextIsUserContext2: boolean;
  readonly umFileContextIsFullContext: boolean;
  /** Skip the DIRECTORY/NON_DIRECTORY option check when opening a reparse point. */
  readonly umNoReparsePointsDirCheck: boolean;
  readonly allowOpenInKernelMode: boolean;
  /** Keep EA names' case in query results (the default upper-cases them). */
  readonly casePreservedExtendedAttributes: boolean;
  /** FileStatInformation / FileStatLxInformation. */
  readonly wslFeatures: boolean;
  /** The ReadDirectory marker is DirInfo.nextOffset, not the last name. */
  readonly directoryMarkerAsNextOffset: boolean;
  /** Deprecated in WinFsp. */
  readonly rejectIrpPriorToTransact0: boolean;
  /** FILE_SUPPORTS_POSIX_UNLINK_RENAME: FileDispositionInformationEx and FileRenameInformationEx. */
  readonly supportsPosixUnlinkRename: boolean;
  /** Let the FSD decide file dispositions from cached FileInfo (the READONLY check). */
  readonly postDispositionWhenNecessaryOnly: boolean;
  /** UNC prefix `\Server\Share` of a network volume, or `""` for a disk volume (at most 191 units). */
  readonly prefix: string;
  /** FileFsAttributeInformation.FileSystemName (at most 15 units), e.g. `WinFsp-MEMFS`. */
  readonly fileSystemName: string;
  /** V1 per-cache timeouts, ms; `undefined` (the `…Valid` bit clear) falls back to fileInfoTimeout. */
  readonly volumeInfoTimeout?: number;
  readonly dirInfoTimeout?: number;
  readonly securityTimeout?: number;
  readonly streamInfoTimeout?: number;
  readonly eaTimeout?: number;
  readonly fsextControlCode: number;
}

/**
 * FSP_FILE_SYSTEM_INTERFACE. `C` is the file system's file-context type,
 * opaque to callers.
 */
export interface FileSystemInterface<C = unknown> {
  /** The volume parameters this file system is mounted with (FspFileSystemCreate's VolumeParams). */
  readonly volumeParams: VolumeParams;

  /**
   * GetVolumeInfo: total and free size and the label (FileFsSizeInformation,
   * FileFsFullSizeInformation, FileFsVolumeInformation). The FSD caches the
   * answer for VolumeInfoTimeout.
   */
  getVolumeInfo(): Promise<NtResult<VolumeInfo>>;

  /**
   * SetVolumeLabel (FileFsLabelInformation only): store `volumeLabel`,
   * truncated to 32 UTF-16 units, and answer the new volume information.
   */
  setVolumeLabel?(volumeLabel: string): Promise<NtResult<VolumeInfo>>;

  /**
   * GetSecurityByName: attributes and security descriptor of a file by name,
   * without opening it. This is the basis of every access check the DLL makes
   * (it is asked for the file, its parent and, without traverse privilege,
   * every ancestor).
   *
   * - Missing file: STATUS_OBJECT_NAME_NOT_FOUND (missing parent:
   *   STATUS_OBJECT_PATH_NOT_FOUND; a parent that is a file: STATUS_NOT_A_DIRECTORY).
   * - A component other than the last is a reparse point: answer `ok` with
   *   status STATUS_REPARSE and the component's index; the DLL then calls
   *   ResolveReparsePoints.
   * - A named stream answers its main file's attributes (without DIRECTORY)
   *   and security descriptor.
   */
  getSecurityByName?(fileName: string): Promise<NtResult<SecurityByName>>;

  /**
   * Create: a new file, or a directory when FILE_DIRECTORY_FILE is in the
   * options; a name with `:` is a new named stream of an existing file or
   * directory. Access checks are done, and the caller established that the
   * name is free as far as it could see.
   *
   * - The name exists: STATUS_OBJECT_NAME_COLLISION.
   * - Parent missing: STATUS_OBJECT_PATH_NOT_FOUND; parent is a file: STATUS_NOT_A_DIRECTORY.
   * - Out of file nodes: STATUS_CANNOT_MAKE; out of space: STATUS_DISK_FULL.
   * - A new file gets ARCHIVE added to its attributes (not a directory).
   *
   * Not called when CreateEx exists.
   */
  create?(request: CreateIn): Promise<NtResult<OpenResult<C>>>;

  /**
   * CreateEx: Create, plus the EAs of NtCreateFile's EA buffer (set as by
   * SetEa) or a reparse buffer (the file is created as that reparse point).
   * Takes precedence over Create.
   */
  createEx?(request: CreateExIn): Promise<NtResult<OpenResult<C>>>;

  /**
   * Open: an existing file, directory or named stream. Access checks, share
   * access and the DIRECTORY/NON_DIRECTORY option checks are done by the
   * caller.
   *
   * - Missing: STATUS_OBJECT_NAME_NOT_FOUND (parent missing:
   *   STATUS_OBJECT_PATH_NOT_FOUND; parent is a file: STATUS_NOT_A_DIRECTORY).
   * - A file system that keeps EAs answers STATUS_ACCESS_DENIED when
   *   FILE_NO_EA_KNOWLEDGE is set and the (main) file has an EA flagged
   *   FILE_NEED_EA.
   * - Case-insensitive file systems should answer the stored-case name in
   *   `normalizedName`.
   */
  open(request: OpenIn): Promise<NtResult<OpenResult<C>>>;

  /**
   * Overwrite (FILE_OVERWRITE, FILE_OVERWRITE_IF, FILE_SUPERSEDE on an
   * existing file, after Open): truncate to size 0 with the given allocation
   * size, apply the attributes (replace or OR, plus ARCHIVE), and delete the
   * file's named streams (those not open). If it fails the caller closes the
   * context. Not called when OverwriteEx exists.
   */
  overwrite?(fileContext: C, request: OverwriteIn): Promise<NtResult<FileInfo>>;

  /** OverwriteEx: Overwrite, and the given EAs replace all existing EAs. Takes precedence over Overwrite. */
  overwriteEx?(fileContext: C, request: OverwriteExIn): Promise<NtResult<FileInfo>>;

  /**
   * Cleanup: the last handle of a file object was closed. It is not the final
   * close: more I/O (mapped pages) may arrive until Close, even after a delete.
   * Cannot fail. `flags` (CleanupFlag):
   *
   * - Delete (0x01): the file is delete-pending and this is its last handle
   *   (or a POSIX delete). Delete it now: remove the name, and for a main
   *   file its named streams. A directory that still has children is left
   *   alone silently (FILE_DELETE_ON_CLOSE is never checked by CanDelete).
   *   `fileName` is given only with this flag.
   * - SetAllocationSize (0x02): reset the allocation to round-up(file size),
   *   as NTFS and FAT do at the last cleanup.
   * - SetArchiveBit (0x10): the file was modified; set ARCHIVE (not on directories).
   * - SetLastAccessTime (0x20), SetLastWriteTime (0x40), SetChangeTime (0x80):
   *   set that time to now.
   *
   * For a named stream, attributes and times are the main file's.
   */
  cleanup?(fileContext: C, fileName: string | null, flags: number): Promise<void>;

  /** Close: the final close of a context; free it. Cannot fail. */
  close(fileContext: C): Promise<void>;

  /**
   * Read into `buffer` (its length is the request's Length) from `offset`.
   * Offset at or past end of file: STATUS_END_OF_FILE. Otherwise a short read
   * stops at end of file. Answers the bytes transferred.
   */
  read?(fileContext: C, buffer: Uint8Array, offset: bigint): Promise<NtResult<number>>;

  /**
   * Write `buffer` at `offset`.
   *
   * - writeToEndOfFile: append at the current end of file (`offset` is
   *   meaningless; WinFsp passes -1).
   * - constrainedIo (paging I/O): never change the file size: clip the write
   *   at end of file; at or past it, succeed with 0 bytes.
   * - Otherwise extend the file as needed; a gap before `offset` reads as zeros.
   */
  write?(
    fileContext: C,
    buffer: Uint8Array,
    offset: bigint,
    writeToEndOfFile: boolean,
    constrainedIo: boolean,
  ): Promise<NtResult<WriteOut>>;

  /**
   * Flush a file, or the whole volume when `fileContext` is `null` (the FSD
   * has flushed its caches first). Answers the file's information (`null`
   * for the volume). Without this member the caller uses GetFileInfo.
   */
  flush?(fileContext: C | null): Promise<NtResult<FileInfo | null>>;

  /** GetFileInfo: the file's information. */
  getFileInfo(fileContext: C): Promise<NtResult<FileInfo>>;

  /**
   * SetBasicInfo: attributes (INVALID_FILE_ATTRIBUTES = leave alone) and the
   * four times (0 = leave alone). The FSD has already turned the caller's
   * attributes 0 into INVALID_FILE_ATTRIBUTES, cleared NORMAL and DIRECTORY
   * (setting DIRECTORY again for directories), and turned times of -1 into 0.
   * On a named stream this changes the main file.
   */
  setBasicInfo?(fileContext: C, request: BasicInfoIn): Promise<NtResult<FileInfo>>;

  /**
   * SetFileSize: set the end of file (`setAllocationSize` false,
   * FileEndOfFileInformation) or the allocation size (true,
   * FileAllocationInformation). Rules: the allocation is a multiple of the
   * allocation unit and at least the file size; a file size past the
   * allocation grows the allocation to the next unit; an allocation below the
   * file size truncates the file. Growing the file zero-fills. Over the size
   * limit: STATUS_DISK_FULL.
   */
  setFileSize?(fileContext: C, newSize: bigint, setAllocationSize: boolean): Promise<NtResult<FileInfo>>;

  /**
   * CanDelete: may this file be deleted (DeleteFile, RemoveDirectory)? Never
   * delete here; deletion happens at Cleanup with the Delete flag. A non-empty
   * directory: STATUS_DIRECTORY_NOT_EMPTY. The caller has checked READONLY.
   * Not called for FILE_DELETE_ON_CLOSE. SetDelete takes precedence.
   */
  canDelete?(fileContext: C, fileName: string): Promise<NtResult<void>>;

  /**
   * SetDelete: set (`deleteFile` true) or clear the file's disposition. May
   * be called several times either way. Same checks as CanDelete when
   * setting; never delete here. Takes precedence over CanDelete.
   */
  setDelete?(fileContext: C, fileName: string, deleteFile: boolean): Promise<NtResult<void>>;

  /**
   * Rename `fileName` (this context's file) to `newFileName`, descendants and
   * named streams included. The FSD guarantees that no other handle is open
   * on the target or below the source (other than the renamed file's own),
   * and handled the same-name case.
   *
   * - Target exists (another file) and !replaceIfExists: STATUS_OBJECT_NAME_COLLISION.
   * - Target exists and is a directory: STATUS_ACCESS_DENIED (memfs's rule).
   * - A new name of this or a descendant too long: STATUS_OBJECT_NAME_INVALID.
   * - Target parent missing: STATUS_OBJECT_PATH_NOT_FOUND.
   * - A case-only change of the same file is a rename.
   */
  rename?(fileContext: C, fileName: string, newFileName: string, replaceIfExists: boolean): Promise<NtResult<void>>;

  /**
   * GetSecurity: the whole self-relative security descriptor (a named stream
   * answers its main file's). The FSD filters by SECURITY_INFORMATION.
   */
  getSecurity?(fileContext: C): Promise<NtResult<Uint8Array>>;

  /**
   * SetSecurity: apply the parts of `modificationDescriptor` that
   * `securityInformation` selects to the file's descriptor, mapping generic
   * rights with the file generic mapping (GA becomes FA), as WinFsp's
   * FspSetSecurityDescriptor (SetPrivateObjectSecurity) does. A named stream
   * changes its main file.
   */
  setSecurity?(fileContext: C, securityInformation: number, modificationDescriptor: Uint8Array): Promise<NtResult<void>>;

  /**
   * ReadDirectory: the entries whose names come strictly after `marker` in
   * the file system's own, stable order (from the start when `marker` is
   * `null`), as many as fit in `length` bytes packed as FSP_FSCTL_DIR_INFO
   * (see DirInfoPacker in fsctl.ts). Non-root directories list `.` and
   * `..` first. `pattern` (`null` unless VolumeParams.passQueryDirectoryPattern)
   * may be used to filter; the FSD filters again anyway.
   */
  readDirectory?(
    fileContext: C,
    pattern: string | null,
    marker: string | null,
    length: number,
  ): Promise<NtResult<DirectoryChunk>>;

  /**
   * GetDirInfoByName: the directory entry of one child (`fileName` is a
   * single component) of the directory `parentContext`, with its stored-case
   * name. Used instead of ReadDirectory for patterns without wildcards when
   * VolumeParams.passQueryDirectoryFileName is set. Missing:
   * STATUS_OBJECT_NAME_NOT_FOUND.
   */
  getDirInfoByName?(parentContext: C, fileName: string): Promise<NtResult<DirInfo>>;

  /**
   * ResolveReparsePoints: follow the symbolic links in `fileName` from the
   * component at `reparsePointIndex` on (the last component too only when
   * `resolveLastPathComponent`), at most 32 times, and answer with status
   * STATUS_REPARSE (see ReparseResolution). Too many links:
   * STATUS_REPARSE_POINT_NOT_RESOLVED. Usually implemented with
   * `resolveReparsePoints` from reparse-resolve.ts.
   */
  resolveReparsePoints?(
    fileName: string,
    reparsePointIndex: number,
    resolveLastPathComponent: boolean,
  ): Promise<NtResult<ReparseResolution>>;

  /**
   * GetReparsePoint (FSCTL_GET_REPARSE_POINT): the file's reparse buffer as
   * it was set. Not a reparse point: STATUS_NOT_A_REPARSE_POINT.
   */
  getReparsePoint?(fileContext: C, fileName: string): Promise<NtResult<Uint8Array>>;

  /**
   * SetReparsePoint (FSCTL_SET_REPARSE_POINT): make the file a reparse point
   * with this buffer (validated by the FSD; its first 4 bytes are the tag).
   * Replacing an existing one needs the same tag
   * (STATUS_IO_REPARSE_TAG_MISMATCH) and, for non-Microsoft tags, the same
   * GUID (STATUS_REPARSE_ATTRIBUTE_CONFLICT). A non-empty directory:
   * STATUS_DIRECTORY_NOT_EMPTY.
   */
  setReparsePoint?(fileContext: C, fileName: string, buffer: Uint8Array): Promise<NtResult<void>>;

  /**
   * DeleteReparsePoint (FSCTL_DELETE_REPARSE_POINT, a header-only buffer):
   * same tag/GUID rules as SetReparsePoint. Not a reparse point:
   * STATUS_NOT_A_REPARSE_POINT.
   */
  deleteReparsePoint?(fileContext: C, fileName: string, buffer: Uint8Array): Promise<NtResult<void>>;

  /**
   * GetStreamInfo: the streams of the file (of its main file, for a named
   * stream): first the main stream `""` (files only, not directories), then
   * each named stream by bare name.
   */
  getStreamInfo?(fileContext: C): Promise<NtResult<StreamInfo[]>>;

  /**
   * GetEa: all of the (main) file's EAs, names as stored. The FSD does the
   * filtering, indexing and upper-casing of NtQueryEaFile.
   */
  getEa?(fileContext: C): Promise<NtResult<FullEa[]>>;

  /**
   * SetEa: set or replace each EA (names match case-insensitively); an EA
   * with an empty value is deleted. Answers the file information (its eaSize
   * changes).
   */
  setEa?(fileContext: C, ea: readonly FullEa[]): Promise<NtResult<FileInfo>>;

  /**
   * Control (DeviceIoControl with a DeviceType that has bit 0x8000 and
   * METHOD_BUFFERED, only with VolumeParams.deviceControl): answer at most
   * `outputLength` bytes. Unknown codes: STATUS_INVALID_DEVICE_REQUEST.
   */
  control?(fileContext: C, controlCode: number, input: Uint8Array, outputLength: number): Promise<NtResult<Uint8Array>>;

  /**
   * DispatcherStopped: the last call the file system receives. `normally`
   * is false when the FSD tore the volume down itself.
   */
  dispatcherStopped?(normally: boolean): Promise<void>;
}
