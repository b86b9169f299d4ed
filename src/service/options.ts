/**
 * The options of the Windows file-system service, with their defaults.
 */
import type { Logger } from "../common/log.js";
import type { NTACL_XATTR, NTACL_XATTR_USER, DefaultAclStyle, IdMap } from "../windows/ntacl.js";
import type { Baseline } from "./baseline.js";

export interface FuseWindowsOptions {
  /**
   * Case-insensitive, case-preserving names (virtio-win's `-i`). Default
   * false: names compare case-sensitively, as on the host.
   */
  readonly caseInsensitive?: boolean;
  /** The volume label (at most 32 UTF-16 units). Default: the device tag, else "VIOFS". */
  readonly volumeLabel?: string;
  /** FileFsAttributeInformation.FileSystemName (at most 15 units). Default "VIOFS"; "NTFS" lets installers run elevated. */
  readonly fileSystemName?: string;
  /** Bytes per sector, the allocation unit and the I/O unit of the conformance tests. Default 4096, as virtio-win. */
  readonly sectorSize?: number;
  /** VolumeParams.fileInfoTimeout, ms. Default 1000, as virtio-win. */
  readonly fileInfoTimeout?: number;
  /** Longest time a name or attribute is cached, ms, below the server's own timeouts. Default 1000. */
  readonly maxCacheMs?: number;
  /** Most names cached (each holds a host descriptor in the server). Default 4096. */
  readonly nameCacheSize?: number;
  /** Most directories whose case index is kept (case-insensitive volumes). Default 256. */
  readonly caseIndexCount?: number;
  /** Samba's `hide dot files`: names starting with `.` read as HIDDEN. Default true. */
  readonly hideDotFiles?: boolean;
  /** `user.DOSATTRIB` version written. Default 3. */
  readonly dosAttribVersion?: 3 | 5;
  /** The xattr security descriptors go to first. Default `security.NTACL` (falls back to `user.NTACL` when refused). */
  readonly ntaclXattr?: typeof NTACL_XATTR | typeof NTACL_XATTR_USER;
  /** uid/gid ↔ SID map for synthesized descriptors. Default: S-1-22-1-uid / S-1-22-2-gid. */
  readonly idMap?: IdMap;
  /** The descriptor of files without a stored one. Default `posix` (Samba's). */
  readonly defaultAclStyle?: DefaultAclStyle;
  /** The host owner of files the service creates (request credentials). Default: this process's uid/gid. */
  readonly owner?: { readonly uid: number; readonly gid: number };
  /** Mode of new files. Default 0o644. */
  readonly fileMode?: number;
  /** Mode of new directories. Default 0o755. */
  readonly directoryMode?: number;
  /**
   * The share's path on the host, when known: volume-rooted symlinks (`\dir\x`)
   * become host-absolute links under it, and host links under it read back
   * volume-rooted. Without it they are stored relative to the link.
   */
  readonly hostRoot?: string;
  /** Where warnings go. Default the process-wide logger. */
  readonly log?: Logger;
  /**
   * Behave as another implementation does, for benchmarks (baseline.ts).
   * `"virtio-win"`: one FUSE request in flight at a time, READ/WRITE in
   * virtio-win's chunks, no name or attribute cache (`nameCacheSize` and
   * `maxCacheMs` are 0 whatever they say), and a full READDIR scan on each
   * case-insensitive miss instead of the name index. Default: none.
   */
  readonly baseline?: Baseline;
}

/** The options with defaults applied. */
export interface ResolvedOptions {
  readonly caseInsensitive: boolean;
  readonly volumeLabel: string | undefined;
  readonly fileSystemName: string;
  readonly sectorSize: number;
  readonly fileInfoTimeout: number;
  readonly maxCacheMs: number;
  readonly nameCacheSize: number;
  readonly caseIndexCount: number;
  readonly hideDotFiles: boolean;
  readonly dosAttribVersion: 3 | 5;
  readonly fileMode: number;
  readonly directoryMode: number;
  readonly hostRoot: string | undefined;
  readonly baseline: Baseline | null;
}

export function resolveOptions(o: FuseWindowsOptions): ResolvedOptions {
  const sectorSize = o.sectorSize ?? 4096;
  if (!Number.isInteger(sectorSize) || sectorSize < 512 || sectorSize > 65536 || (sectorSize & (sectorSize - 1)) !== 0) {
    throw new RangeError(`sectorSize ${sectorSize} is not a power of two between 512 and 65536`);
  }
  const baseline = o.baseline ?? null;
  if (baseline !== null && baseline !== "virtio-win") throw new RangeError(`unknown baseline ${String(baseline)}`);
  return {
    caseInsensitive: o.caseInsensitive ?? false,
    volumeLabel: o.volumeLabel,
    fileSystemName: o.fileSystemName ?? "VIOFS",
    sectorSize,
    fileInfoTimeout: o.fileInfoTimeout ?? 1000,
    maxCacheMs: baseline !== null ? 0 : (o.maxCacheMs ?? 1000),
    nameCacheSize: baseline !== null ? 0 : (o.nameCacheSize ?? 4096),
    caseIndexCount: o.caseIndexCount ?? 256,
    hideDotFiles: o.hideDotFiles ?? true,
    dosAttribVersion: o.dosAttribVersion ?? 3,
    fileMode: o.fileMode ?? 0o644,
    directoryMode: o.directoryMode ?? 0o755,
    hostRoot: o.hostRoot,
    baseline,
  };
}
