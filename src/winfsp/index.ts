/**
 * The Windows file-system interface (WinFsp's FSP_FILE_SYSTEM_INTERFACE), its
 * data structures and helpers, and the in-memory reference file system.
 */
export * from "./interface.js";
export * from "./constants.js";
export * from "./fsctl.js";
export * from "./wildcard.js";
export * from "./reparse-resolve.js";
export * from "./security-merge.js";
export * from "./volume-params.js";
export * from "./basic-info.js";
export { MemoryFileSystem, MemfsFileContext, MEMFS_CONTROL_ROT13, type MemoryFileSystemOptions } from "./memfs.js";
