/**
 * The NT I/O manager's part of opening a file (IoCreateFile): generic
 * rights mapped, backup and restore privileges turned into pre-granted
 * access, the name looked up in the object namespace, and STATUS_REPARSE
 * followed: a symbolic link's new name is opened again (on whichever volume
 * it names), a mount point's substitute name continues with the rest of the
 * path, and any other tag has no handler (STATUS_IO_REPARSE_TAG_NOT_HANDLED).
 */
import { NtStatus } from "../windows/ntstatus.js";
import { ReparseTag, decodeReparseBuffer } from "../windows/reparse.js";
import { AccessMask, mapGenericMask } from "../windows/security.js";
import { CreateOption } from "../winfsp/constants.js";
import { MAX_REPARSE_ITERATIONS } from "./constants.js";
import type { FileObject } from "./fsd.js";
import { Privilege, type AccessToken } from "./token.js";
import { resolveNtPath, type Volume } from "./volume.js";

const A = AccessMask;

/** Rights SeBackupPrivilege grants with backup intent (IopCheckBackupRestorePrivilege). */
const BACKUP_RIGHTS = A.READ_CONTROL | A.ACCESS_SYSTEM_SECURITY | A.FILE_GENERIC_READ | A.FILE_TRAVERSE;
/** Rights SeRestorePrivilege grants with backup intent. */
const RESTORE_RIGHTS =
  A.WRITE_DAC | A.WRITE_OWNER | A.ACCESS_SYSTEM_SECURITY | A.FILE_GENERIC_WRITE | A.FILE_ADD_FILE | A.FILE_ADD_SUBDIRECTORY | A.DELETE;

/** NtCreateFile's parameters, after Win32 has translated its own. */
export interface IoCreateParameters {
  /** An NT path (`\??\X:\dir\file`), or a name relative to `root`. */
  readonly name: string;
  /** The RootDirectory file object of a relative open, with its volume. */
  readonly root: { readonly fileObject: FileObject; readonly volume: Volume } | null;
  readonly desiredAccess: number;
  readonly fileAttributes: number;
  readonly shareAccess: number;
  readonly createDisposition: number;
  readonly createOptions: number;
  readonly allocationSize: bigint;
  /** Self-relative. */
  readonly securityDescriptor: Uint8Array | null;
  readonly eaBuffer: Uint8Array | null;
  readonly openTargetDirectory: boolean;
  readonly token: AccessToken;
}

/** What an open answers: the file object and its volume, or the failure. */
export type IoCreateResult =
  | { readonly status: number; readonly information: number; readonly fileObject: FileObject; readonly volume: Volume }
  | { readonly status: number; readonly information: number; readonly fileObject?: undefined; readonly volume?: undefined };

/** IoCreateFile. */
export async function ioCreateFile(p: IoCreateParameters): Promise<IoCreateResult> {
  const fail = (status: number, information = 0): IoCreateResult => ({ status, information });
  let desired = mapGenericMask(p.desiredAccess) | (p.desiredAccess & A.MAXIMUM_ALLOWED);
  let granted = 0;
  const backupIntent = (p.createOptions & CreateOption.FILE_OPEN_FOR_BACKUP_INTENT) !== 0;
  const hasBackup = backupIntent && p.token.enabled(Privilege.SE_BACKUP_NAME);
  const hasRestore = backupIntent && p.token.enabled(Privilege.SE_RESTORE_NAME);
  if (hasBackup) {
    const rights = (desired & A.MAXIMUM_ALLOWED) !== 0 ? BACKUP_RIGHTS : desired & BACKUP_RIGHTS;
    granted |= rights;
    desired &= ~rights;
  }
  if (hasRestore) {
    const rights = (desired & A.MAXIMUM_ALLOWED) !== 0 ? RESTORE_RIGHTS : desired & RESTORE_RIGHTS;
    granted |= rights;
    desired &= ~rights;
  }

  let volume: Volume;
  let fileName: string;
  let related: FileObject | null = null;
  if (p.root !== null) {
    volume = p.root.volume;
    fileName = p.name;
    related = p.root.fileObject;
  } else {
    const resolved = resolveNtPath(p.name);
    if (resolved === null) return fail(NtStatus.STATUS_OBJECT_PATH_NOT_FOUND);
    volume = resolved.volume;
    fileName = resolved.path;
  }

  for (let i = 0; i < MAX_REPARSE_ITERATIONS; i++) {
    const outcome = await volume.fsd.create({
      fileName,
      relatedFileObject: related,
      desiredAccess: desired >>> 0,
      grantedAccess: granted >>> 0,
      fileAttributes: p.fileAttributes,
      shareAccess: p.shareAccess,
      createDisposition: p.createDisposition,
      createOptions: p.createOptions,
      allocationSize: p.allocationSize,
      securityDescriptor: p.securityDescriptor,
      eaBuffer: p.eaBuffer,
      openTargetDirectory: p.openTargetDirectory,
      token: p.token,
      userMode: true,
      hasTraversePrivilege: p.token.enabled(Privilege.SE_CHANGE_NOTIFY_NAME),
      hasBackupPrivilege: hasBackup,
      hasRestorePrivilege: hasRestore,
    });
    switch (outcome.kind) {
      case "opened":
        return { status: outcome.status, information: outcome.information, fileObject: outcome.fileObject, volume };
      case "failed":
        return fail(outcome.status, outcome.information);
      case "reparse-name": {
        const resolved = resolveNtPath(outcome.path);
        if (resolved === null) return fail(NtStatus.STATUS_OBJECT_PATH_NOT_FOUND);
        volume = resolved.volume;
        fileName = resolved.path;
        related = null;
        continue;
      }
      case "reparse-tag": {
        if (outcome.tag !== ReparseTag.IO_REPARSE_TAG_MOUNT_POINT) return fail(NtStatus.STATUS_IO_REPARSE_TAG_NOT_HANDLED);
        let substitute: string;
        try {
          const rp = decodeReparseBuffer(outcome.buffer);
          if (rp.kind !== "mount-point") return fail(NtStatus.STATUS_IO_REPARSE_TAG_NOT_HANDLED);
          substitute = rp.substituteName;
        } catch {
          return fail(NtStatus.STATUS_IO_REPARSE_DATA_INVALID);
        }
        const full = related !== null ? `${related.node?.fileName ?? ""}\\${fileName}` : fileName;
        const rest = outcome.unparsedLength > 0 ? full.slice(full.length - outcome.unparsedLength) : "";
        const resolved = resolveNtPath(substitute.replace(/\\$/, "") + rest);
        if (resolved === null) return fail(NtStatus.STATUS_OBJECT_PATH_NOT_FOUND);
        volume = resolved.volume;
        fileName = resolved.path;
        related = null;
        continue;
      }
    }
  }
  return fail(NtStatus.STATUS_REPARSE_POINT_NOT_RESOLVED);
}
