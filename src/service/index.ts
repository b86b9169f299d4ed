/**
 * The Windows file-system service: WinFsp's file-system interface over a
 * virtio-fs FUSE session, Windows metadata in Samba's xattr formats, one or
 * several shares.
 */
export { FuseWindowsFileSystem, FuseFileContext, ViofsControl } from "./fuse-fs.js";
export { FuseWindowsService, openShare, type ShareConfig, type MountedShare } from "./shares.js";
export type { FuseWindowsOptions } from "./options.js";
export type { Baseline } from "./baseline.js";
export { parseWindowsPath, hostNameOf, windowsNameOf, joinWindowsPath, foldName, type WindowsPath } from "./names.js";
export { hostSymlinkTarget, windowsSymlinkOf } from "./reparse-store.js";
export { createIdMap, type IdMap, type IdMapEntries } from "../windows/ntacl.js";
