/**
 * Win32 and NT constants of the I/O path that src/windows and src/winfsp do
 * not already hold (file attributes are in windows/attributes.ts, access
 * masks in windows/security.ts, create options in winfsp/constants.ts).
 * Values are from the Windows SDK (winbase.h, winnt.h, winioctl.h, ntifs.h).
 */

/** CreateFileW dwCreationDisposition. */
export const CREATE_NEW = 1;
export const CREATE_ALWAYS = 2;
export const OPEN_EXISTING = 3;
export const OPEN_ALWAYS = 4;
export const TRUNCATE_EXISTING = 5;

/** CreateFileW dwFlagsAndAttributes flags. */
export const FILE_FLAG_WRITE_THROUGH = 0x80000000;
export const FILE_FLAG_OVERLAPPED = 0x40000000;
export const FILE_FLAG_NO_BUFFERING = 0x20000000;
export const FILE_FLAG_RANDOM_ACCESS = 0x10000000;
export const FILE_FLAG_SEQUENTIAL_SCAN = 0x08000000;
export const FILE_FLAG_DELETE_ON_CLOSE = 0x04000000;
export const FILE_FLAG_BACKUP_SEMANTICS = 0x02000000;
export const FILE_FLAG_POSIX_SEMANTICS = 0x01000000;
export const FILE_FLAG_OPEN_REPARSE_POINT = 0x00200000;
export const FILE_FLAG_OPEN_NO_RECALL = 0x00100000;

/** Share modes. */
export const FILE_SHARE_READ = 0x1;
export const FILE_SHARE_WRITE = 0x2;
export const FILE_SHARE_DELETE = 0x4;

/** FILE_INFORMATION_CLASS (NtQuery/SetInformationFile, NtQueryDirectoryFile). */
export const FileInformationClass = {
  FileDirectoryInformation: 1,
  FileFullDirectoryInformation: 2,
  FileBothDirectoryInformation: 3,
  FileBasicInformation: 4,
  FileStandardInformation: 5,
  FileInternalInformation: 6,
  FileEaInformation: 7,
  FileAccessInformation: 8,
  FileNameInformation: 9,
  FileRenameInformation: 10,
  FileLinkInformation: 11,
  FileNamesInformation: 12,
  FileDispositionInformation: 13,
  FilePositionInformation: 14,
  FileFullEaInformation: 15,
  FileModeInformation: 16,
  FileAlignmentInformation: 17,
  FileAllInformation: 18,
  FileAllocationInformation: 19,
  FileEndOfFileInformation: 20,
  FileAlternateNameInformation: 21,
  FileStreamInformation: 22,
  FileCompressionInformation: 28,
  FileNetworkOpenInformation: 34,
  FileAttributeTagInformation: 35,
  FileIdBothDirectoryInformation: 37,
  FileIdFullDirectoryInformation: 38,
  FileHardLinkInformation: 46,
  FileNormalizedNameInformation: 48,
  FileDispositionInformationEx: 64,
  FileRenameInformationEx: 65,
  FileStatInformation: 68,
  FileStatLxInformation: 70,
} as const;

/** FS_INFORMATION_CLASS. */
export const FsInformationClass = {
  FileFsVolumeInformation: 1,
  FileFsLabelInformation: 2,
  FileFsSizeInformation: 3,
  FileFsDeviceInformation: 4,
  FileFsAttributeInformation: 5,
  FileFsFullSizeInformation: 7,
  FileFsSectorSizeInformation: 11,
} as const;

/** Win32 FILE_INFO_BY_HANDLE_CLASS (Get/SetFileInformationByHandle). */
export const FileBasicInfo = 0;
export const FileStandardInfo = 1;
export const FileNameInfo = 2;
export const FileRenameInfo = 3;
export const FileDispositionInfo = 4;
export const FileAllocationInfo = 5;
export const FileEndOfFileInfo = 6;
export const FileStreamInfo = 7;
export const FileAttributeTagInfo = 9;
export const FileIdBothDirectoryInfo = 10;
export const FileDispositionInfoEx = 21;
export const FileRenameInfoEx = 22;
export const FileNormalizedNameInfo = 24;

/** FILE_DISPOSITION_INFORMATION_EX flags. */
export const FILE_DISPOSITION_DO_NOT_DELETE = 0x0;
export const FILE_DISPOSITION_DELETE = 0x1;
export const FILE_DISPOSITION_POSIX_SEMANTICS = 0x2;
export const FILE_DISPOSITION_FORCE_IMAGE_SECTION_CHECK = 0x4;
export const FILE_DISPOSITION_ON_CLOSE = 0x8;
export const FILE_DISPOSITION_IGNORE_READONLY_ATTRIBUTE = 0x10;

/** FILE_RENAME_INFORMATION_EX flags. */
export const FILE_RENAME_REPLACE_IF_EXISTS = 0x1;
export const FILE_RENAME_POSIX_SEMANTICS = 0x2;
export const FILE_RENAME_IGNORE_READONLY_ATTRIBUTE = 0x40;

/** MoveFileExW flags. */
export const MOVEFILE_REPLACE_EXISTING = 0x1;
export const MOVEFILE_COPY_ALLOWED = 0x2;
export const MOVEFILE_WRITE_THROUGH = 0x8;

/** LockFileEx flags. */
export const LOCKFILE_FAIL_IMMEDIATELY = 0x1;
export const LOCKFILE_EXCLUSIVE_LOCK = 0x2;

/** SetFilePointerEx move methods. */
export const FILE_BEGIN = 0;
export const FILE_CURRENT = 1;
export const FILE_END = 2;

/** GetFileType. */
export const FILE_TYPE_UNKNOWN = 0;
export const FILE_TYPE_DISK = 1;

/** GetFinalPathNameByHandleW flags. */
export const FILE_NAME_NORMALIZED = 0x0;
export const FILE_NAME_OPENED = 0x8;
export const VOLUME_NAME_DOS = 0x0;
export const VOLUME_NAME_GUID = 0x1;
export const VOLUME_NAME_NT = 0x2;
export const VOLUME_NAME_NONE = 0x4;

/** CreateSymbolicLinkW flags. */
export const SYMBOLIC_LINK_FLAG_DIRECTORY = 0x1;
export const SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE = 0x2;

/** Memory mapping. */
export const PAGE_READONLY = 0x02;
export const PAGE_READWRITE = 0x04;
export const PAGE_EXECUTE_READ = 0x20;
export const SEC_IMAGE = 0x01000000;
export const FILE_MAP_COPY = 0x1;
export const FILE_MAP_WRITE = 0x2;
export const FILE_MAP_READ = 0x4;
export const FILE_MAP_ALL_ACCESS = 0x000f001f;
/** The emulated machine's page size and allocation granularity (x64 values). */
export const PAGE_SIZE = 4096;
export const ALLOCATION_GRANULARITY = 65536;

/** Change notification filters and actions. */
export const FILE_NOTIFY_CHANGE_FILE_NAME = 0x1;
export const FILE_NOTIFY_CHANGE_DIR_NAME = 0x2;
export const FILE_NOTIFY_CHANGE_ATTRIBUTES = 0x4;
export const FILE_NOTIFY_CHANGE_SIZE = 0x8;
export const FILE_NOTIFY_CHANGE_LAST_WRITE = 0x10;
export const FILE_NOTIFY_CHANGE_LAST_ACCESS = 0x20;
export const FILE_NOTIFY_CHANGE_CREATION = 0x40;
export const FILE_NOTIFY_CHANGE_EA = 0x80;
export const FILE_NOTIFY_CHANGE_SECURITY = 0x100;
export const FILE_NOTIFY_CHANGE_STREAM_NAME = 0x200;
export const FILE_NOTIFY_CHANGE_STREAM_SIZE = 0x400;
export const FILE_NOTIFY_CHANGE_STREAM_WRITE = 0x800;
export const FILE_ACTION_ADDED = 1;
export const FILE_ACTION_REMOVED = 2;
export const FILE_ACTION_MODIFIED = 3;
export const FILE_ACTION_RENAMED_OLD_NAME = 4;
export const FILE_ACTION_RENAMED_NEW_NAME = 5;
export const FILE_ACTION_ADDED_STREAM = 6;
export const FILE_ACTION_REMOVED_STREAM = 7;
export const FILE_ACTION_MODIFIED_STREAM = 8;

/** FSCTL and IOCTL codes. */
export const FSCTL_REQUEST_OPLOCK_LEVEL_1 = 0x00090000;
export const FSCTL_REQUEST_OPLOCK_LEVEL_2 = 0x00090004;
export const FSCTL_REQUEST_BATCH_OPLOCK = 0x00090008;
export const FSCTL_OPLOCK_BREAK_ACKNOWLEDGE = 0x0009000c;
export const FSCTL_OPBATCH_ACK_CLOSE_PENDING = 0x00090010;
export const FSCTL_OPLOCK_BREAK_NOTIFY = 0x00090014;
export const FSCTL_IS_VOLUME_MOUNTED = 0x00090028;
export const FSCTL_OPLOCK_BREAK_ACK_NO_2 = 0x00090050;
export const FSCTL_REQUEST_FILTER_OPLOCK = 0x0009005c;
export const FSCTL_FILESYSTEM_GET_STATISTICS = 0x00090060;
export const FSCTL_GET_RETRIEVAL_POINTERS = 0x00090073;
export const FSCTL_SET_REPARSE_POINT = 0x000900a4;
export const FSCTL_GET_REPARSE_POINT = 0x000900a8;
export const FSCTL_DELETE_REPARSE_POINT = 0x000900ac;
export const FSCTL_QUERY_PERSISTENT_VOLUME_STATE = 0x0009023c;
export const FSCTL_REQUEST_OPLOCK = 0x00090240;
export const FSP_FSCTL_QUERY_WINFSP = 0x000920fc;
export const PERSISTENT_VOLUME_STATE_SHORT_NAME_CREATION_DISABLED = 0x1;

/** Oplock levels and request flags (FSCTL_REQUEST_OPLOCK). */
export const OPLOCK_LEVEL_CACHE_READ = 0x1;
export const OPLOCK_LEVEL_CACHE_HANDLE = 0x2;
export const OPLOCK_LEVEL_CACHE_WRITE = 0x4;
export const REQUEST_OPLOCK_INPUT_FLAG_REQUEST = 0x1;
export const REQUEST_OPLOCK_INPUT_FLAG_ACK = 0x2;
export const REQUEST_OPLOCK_INPUT_FLAG_COMPLETE_ACK_ON_CLOSE = 0x4;
export const REQUEST_OPLOCK_OUTPUT_FLAG_ACK_REQUIRED = 0x1;
export const REQUEST_OPLOCK_OUTPUT_FLAG_MODES_PROVIDED = 0x2;
export const REQUEST_OPLOCK_CURRENT_VERSION = 1;
/** IO_STATUS_BLOCK.Information of a completed legacy oplock request. */
export const FILE_OPLOCK_BROKEN_TO_LEVEL_2 = 0x00000007;
export const FILE_OPLOCK_BROKEN_TO_NONE = 0x00000008;

/** WaitForSingleObject results. */
export const WAIT_OBJECT_0 = 0;
export const WAIT_TIMEOUT = 0x102;
export const INFINITE = 0xffffffff;

/** FindFirstFileExW. */
export const FindExInfoStandard = 0;
export const FindExInfoBasic = 1;
export const FindExSearchNameMatch = 0;
export const FindExSearchLimitToDirectories = 1;
export const FIND_FIRST_EX_CASE_SENSITIVE = 0x1;
export const FIND_FIRST_EX_LARGE_FETCH = 0x2;
export const FindStreamInfoStandard = 0;

/** SECURITY_INFORMATION bits, re-exported under their SDK names. */
export const OWNER_SECURITY_INFORMATION = 0x1;
export const GROUP_SECURITY_INFORMATION = 0x2;
export const DACL_SECURITY_INFORMATION = 0x4;
export const SACL_SECURITY_INFORMATION = 0x8;
export const SDDL_REVISION_1 = 1;

/** Privilege attributes. */
export const SE_PRIVILEGE_ENABLED = 0x2;

/** The I/O manager follows at most this many reparses in one open (IO_REPARSE loop). */
export const MAX_REPARSE_ITERATIONS = 63;

/** Win32 errors the API reports that src/windows/ntstatus.ts does not list. */
export const ERROR_NEGATIVE_SEEK = 131;
export const ERROR_DIR_NOT_ROOT = 144;
export const ERROR_IO_INCOMPLETE = 996;
export const ERROR_NOT_ALL_ASSIGNED = 1300;
export const STILL_ACTIVE = 259;
export const ERROR_INVALID_ADDRESS = 487;
export const ERROR_MAPPED_ALIGNMENT = 1132;
export const ERROR_TOO_MANY_POSTS = 298;
