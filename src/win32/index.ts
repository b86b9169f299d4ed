/**
 * `viofs/win32`: Windows file semantics over any WinFsp-style file system,
 * with kernel32's API.
 *
 * - {@link Volume}: a file system seen through the emulated WinFsp kernel
 *   driver (FSD), mounted at a drive (`X:`): `Volume.memory()`, `Volume.over(fs)`,
 *   `Volume.fromShare(factory)`.
 * - kernel32 functions (CreateFileW, ReadFile, MoveFileExW, FindFirstFileW,
 *   LockFileEx, DeviceIoControl, ReadDirectoryChangesW, …) acting on the
 *   current process ({@link currentProcess}); failures reject with a
 *   {@link Win32Error}.
 * - The native calls they are built on (NtCreateFile, NtQueryEaFile, …),
 *   answering NTSTATUS values.
 * - kernel32's constants under their SDK names.
 */
import { FileAttribute } from "../windows/attributes.js";
import { Win32ErrorCode as Win32Codes } from "../windows/ntstatus.js";
import { AccessMask } from "../windows/security.js";

export * from "./api.js";
export * from "./api-process.js";
export * from "./ntapi.js";
export * from "./constants.js";
export { Win32Error } from "./errors.js";
export { Volume, resolveNtPath, volumeAtDrive, type Share, type ShareFactory, type VolumeOptions } from "./volume.js";
export {
  Win32Process,
  currentProcess,
  setCurrentProcess,
  registerProgram,
  programImage,
  INVALID_HANDLE_VALUE,
  type HANDLE,
  type Program,
} from "./process.js";
export { AccessToken, Privilege } from "./token.js";
export { Fsd, FileObject, FileNode, type QueryInformationValue, type StatInformation, type StatLxInformation } from "./fsd.js";
export type { MappedView } from "./mm.js";
export { readDirectoryEntries, type DirectoryEntry } from "./dirinfo.js";
export { NtStatus, ntStatusName } from "../windows/ntstatus.js";
export { CreateDisposition, CreateOption, CreateResult } from "../winfsp/constants.js";
export { FILE_NEED_EA, encodeFullEaList, encodeGetEaList, decodeFullEaList, type FullEa } from "../windows/ea.js";
export { WellKnownSid, sid, formatSid, type Sid } from "../windows/security.js";

/** FILE_ATTRIBUTE_* (winnt.h). */
export const {
  FILE_ATTRIBUTE_READONLY,
  FILE_ATTRIBUTE_HIDDEN,
  FILE_ATTRIBUTE_SYSTEM,
  FILE_ATTRIBUTE_DIRECTORY,
  FILE_ATTRIBUTE_ARCHIVE,
  FILE_ATTRIBUTE_DEVICE,
  FILE_ATTRIBUTE_NORMAL,
  FILE_ATTRIBUTE_TEMPORARY,
  FILE_ATTRIBUTE_SPARSE_FILE,
  FILE_ATTRIBUTE_REPARSE_POINT,
  FILE_ATTRIBUTE_COMPRESSED,
  FILE_ATTRIBUTE_OFFLINE,
  FILE_ATTRIBUTE_NOT_CONTENT_INDEXED,
  FILE_ATTRIBUTE_ENCRYPTED,
  FILE_ATTRIBUTE_INTEGRITY_STREAM,
  FILE_ATTRIBUTE_VIRTUAL,
  FILE_ATTRIBUTE_NO_SCRUB_DATA,
  FILE_ATTRIBUTE_RECALL_ON_OPEN,
  FILE_ATTRIBUTE_PINNED,
  FILE_ATTRIBUTE_UNPINNED,
  FILE_ATTRIBUTE_RECALL_ON_DATA_ACCESS,
} = FileAttribute;

/** Access rights (winnt.h). */
export const {
  FILE_READ_DATA,
  FILE_LIST_DIRECTORY,
  FILE_WRITE_DATA,
  FILE_ADD_FILE,
  FILE_APPEND_DATA,
  FILE_ADD_SUBDIRECTORY,
  FILE_READ_EA,
  FILE_WRITE_EA,
  FILE_EXECUTE,
  FILE_TRAVERSE,
  FILE_DELETE_CHILD,
  FILE_READ_ATTRIBUTES,
  FILE_WRITE_ATTRIBUTES,
  DELETE,
  READ_CONTROL,
  WRITE_DAC,
  WRITE_OWNER,
  SYNCHRONIZE,
  STANDARD_RIGHTS_REQUIRED,
  STANDARD_RIGHTS_READ,
  STANDARD_RIGHTS_WRITE,
  STANDARD_RIGHTS_EXECUTE,
  STANDARD_RIGHTS_ALL,
  SPECIFIC_RIGHTS_ALL,
  ACCESS_SYSTEM_SECURITY,
  MAXIMUM_ALLOWED,
  GENERIC_ALL,
  GENERIC_EXECUTE,
  GENERIC_WRITE,
  GENERIC_READ,
  FILE_GENERIC_READ,
  FILE_GENERIC_WRITE,
  FILE_GENERIC_EXECUTE,
  FILE_ALL_ACCESS,
} = AccessMask;

/** Win32 error codes (winerror.h). */
export const {
  ERROR_SUCCESS,
  ERROR_INVALID_FUNCTION,
  ERROR_FILE_NOT_FOUND,
  ERROR_PATH_NOT_FOUND,
  ERROR_TOO_MANY_OPEN_FILES,
  ERROR_ACCESS_DENIED,
  ERROR_INVALID_HANDLE,
  ERROR_NOT_ENOUGH_MEMORY,
  ERROR_INVALID_DATA,
  ERROR_OUTOFMEMORY,
  ERROR_NOT_SAME_DEVICE,
  ERROR_NO_MORE_FILES,
  ERROR_WRITE_PROTECT,
  ERROR_NOT_READY,
  ERROR_BAD_COMMAND,
  ERROR_CRC,
  ERROR_BAD_LENGTH,
  ERROR_GEN_FAILURE,
  ERROR_SHARING_VIOLATION,
  ERROR_LOCK_VIOLATION,
  ERROR_HANDLE_EOF,
  ERROR_NOT_SUPPORTED,
  ERROR_NETNAME_DELETED,
  ERROR_FILE_EXISTS,
  ERROR_INVALID_PARAMETER,
  ERROR_BROKEN_PIPE,
  ERROR_DISK_FULL,
  ERROR_SEM_TIMEOUT,
  ERROR_INSUFFICIENT_BUFFER,
  ERROR_INVALID_NAME,
  ERROR_INVALID_LEVEL,
  ERROR_DIR_NOT_EMPTY,
  ERROR_LABEL_TOO_LONG,
  ERROR_NOT_LOCKED,
  ERROR_BAD_PATHNAME,
  ERROR_BUSY,
  ERROR_ALREADY_EXISTS,
  ERROR_BAD_EXE_FORMAT,
  ERROR_FILENAME_EXCED_RANGE,
  ERROR_FILE_TOO_LARGE,
  ERROR_MORE_DATA,
  ERROR_INVALID_EA_NAME,
  ERROR_EA_LIST_INCONSISTENT,
  WAIT_TIMEOUT,
  ERROR_NO_MORE_ITEMS,
  ERROR_DIRECTORY,
  ERROR_EAS_DIDNT_FIT,
  ERROR_EA_FILE_CORRUPT,
  ERROR_EAS_NOT_SUPPORTED,
  ERROR_OPLOCK_NOT_GRANTED,
  ERROR_DELETE_PENDING,
  ERROR_MR_MID_NOT_FOUND,
  ERROR_ARITHMETIC_OVERFLOW,
  ERROR_CANT_WAIT,
  ERROR_FILE_SYSTEM_LIMITATION,
  ERROR_STOPPED_ON_SYMLINK,
  ERROR_REPARSE,
  ERROR_OPLOCK_BREAK_IN_PROGRESS,
  ERROR_NOTIFY_CLEANUP,
  ERROR_OPERATION_ABORTED,
  ERROR_IO_PENDING,
  ERROR_NOACCESS,
  ERROR_FILE_INVALID,
  ERROR_NOTIFY_ENUM_DIR,
  ERROR_IO_DEVICE,
  ERROR_POSSIBLE_DEADLOCK,
  ERROR_TOO_MANY_LINKS,
  ERROR_DEVICE_NOT_CONNECTED,
  ERROR_NOT_FOUND,
  ERROR_NO_MEDIA_IN_DRIVE,
  ERROR_USER_MAPPED_FILE,
  ERROR_RETRY,
  ERROR_UNKNOWN_REVISION,
  ERROR_REVISION_MISMATCH,
  ERROR_INVALID_OWNER,
  ERROR_INVALID_PRIMARY_GROUP,
  ERROR_NO_SUCH_PRIVILEGE,
  ERROR_PRIVILEGE_NOT_HELD,
  ERROR_NONE_MAPPED,
  ERROR_INVALID_ACL,
  ERROR_INVALID_SID,
  ERROR_INVALID_SECURITY_DESCR,
  ERROR_ALLOTTED_SPACE_EXCEEDED,
  ERROR_NO_SECURITY_ON_OBJECT,
  ERROR_INTERNAL_ERROR,
  ERROR_FILE_CORRUPT,
  ERROR_NO_SYSTEM_RESOURCES,
  ERROR_TIMEOUT,
  ERROR_INVALID_USER_BUFFER,
  ERROR_NOT_ENOUGH_QUOTA,
  ERROR_CANT_ACCESS_FILE,
  ERROR_CANT_RESOLVE_FILENAME,
  ERROR_NOT_A_REPARSE_POINT,
  ERROR_REPARSE_ATTRIBUTE_CONFLICT,
  ERROR_INVALID_REPARSE_DATA,
  ERROR_REPARSE_TAG_INVALID,
  ERROR_REPARSE_TAG_MISMATCH,
} = Win32Codes;
