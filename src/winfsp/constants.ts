/**
 * The Windows and WinFsp constants the file-system interface speaks in that
 * src/windows does not already hold (file attributes are in attributes.ts,
 * access masks and SECURITY_INFORMATION in security.ts, reparse tags in
 * reparse.ts, EA flags in ea.ts): the create options and dispositions WinFsp
 * passes to Create/Open, the create results, and the Cleanup flags. Values are from the Windows SDK (winnt.h,
 * ntifs.h, wdm.h) and WinFsp's winfsp.h.
 */

/** NtCreateFile CreateOptions (the low 24 bits of WinFsp's CreateOptions). */
export const CreateOption = {
  FILE_DIRECTORY_FILE: 0x00000001,
  FILE_WRITE_THROUGH: 0x00000002,
  FILE_SEQUENTIAL_ONLY: 0x00000004,
  FILE_NO_INTERMEDIATE_BUFFERING: 0x00000008,
  FILE_SYNCHRONOUS_IO_ALERT: 0x00000010,
  FILE_SYNCHRONOUS_IO_NONALERT: 0x00000020,
  FILE_NON_DIRECTORY_FILE: 0x00000040,
  FILE_CREATE_TREE_CONNECTION: 0x00000080,
  FILE_COMPLETE_IF_OPLOCKED: 0x00000100,
  FILE_NO_EA_KNOWLEDGE: 0x00000200,
  FILE_OPEN_REMOTE_INSTANCE: 0x00000400,
  FILE_RANDOM_ACCESS: 0x00000800,
  FILE_DELETE_ON_CLOSE: 0x00001000,
  FILE_OPEN_BY_FILE_ID: 0x00002000,
  FILE_OPEN_FOR_BACKUP_INTENT: 0x00004000,
  FILE_NO_COMPRESSION: 0x00008000,
  FILE_OPEN_REQUIRING_OPLOCK: 0x00010000,
  FILE_RESERVE_OPFILTER: 0x00100000,
  FILE_OPEN_REPARSE_POINT: 0x00200000,
  FILE_OPEN_NO_RECALL: 0x00400000,
  FILE_OPEN_FOR_FREE_SPACE_QUERY: 0x00800000,
} as const;

/**
 * Create dispositions. WinFsp carries the disposition in the top 8 bits of
 * CreateOptions (`CreateOptions >> 24`); see {@link createDisposition}.
 */
export const CreateDisposition = {
  FILE_SUPERSEDE: 0,
  FILE_OPEN: 1,
  FILE_CREATE: 2,
  FILE_OPEN_IF: 3,
  FILE_OVERWRITE: 4,
  FILE_OVERWRITE_IF: 5,
} as const;

/** The disposition carried in WinFsp's CreateOptions. */
export function createDisposition(createOptions: number): number {
  return (createOptions >>> 24) & 0xff;
}

/** Create results (IO_STATUS_BLOCK.Information after a create). */
export const CreateResult = {
  FILE_SUPERSEDED: 0,
  FILE_OPENED: 1,
  FILE_CREATED: 2,
  FILE_OVERWRITTEN: 3,
  FILE_EXISTS: 4,
  FILE_DOES_NOT_EXIST: 5,
} as const;

/**
 * Cleanup flags (winfsp.h `FspCleanup*`). Which the FSD sets, and when, is in
 * the Cleanup member's comment in interface.ts.
 */
export const CleanupFlag = {
  Delete: 0x01,
  SetAllocationSize: 0x02,
  SetArchiveBit: 0x10,
  SetLastAccessTime: 0x20,
  SetLastWriteTime: 0x40,
  SetChangeTime: 0x80,
} as const;

/** `IO_REPARSE`: the Information value that means "re-open with this name". */
export const IO_REPARSE = 0;
