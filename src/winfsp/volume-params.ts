/**
 * FSP_FSCTL_VOLUME_PARAMS helpers: the all-zero starting point a file system
 * fills in (as C code `memset`s the struct), the defaults and clamps the FSD
 * applies when the volume is created (src/sys/volume.c), and the volume
 * information the FSD derives from the parameters (src/sys/volinfo.c).
 */
import type { VolumeParams } from "./interface.js";

/** A VolumeParams with every field zero, false or empty, then `fields` applied. */
export function volumeParams(fields: Partial<VolumeParams> = {}): VolumeParams {
  return {
    sectorSize: 0,
    sectorsPerAllocationUnit: 0,
    maxComponentLength: 0,
    volumeCreationTime: 0n,
    volumeSerialNumber: 0,
    transactTimeout: 0,
    irpTimeout: 0,
    irpCapacity: 0,
    fileInfoTimeout: 0,
    caseSensitiveSearch: false,
    casePreservedNames: false,
    unicodeOnDisk: false,
    persistentAcls: false,
    reparsePoints: false,
    reparsePointsAccessCheck: false,
    namedStreams: false,
    hardLinks: false,
    extendedAttributes: false,
    readOnlyVolume: false,
    postCleanupWhenModifiedOnly: false,
    passQueryDirectoryPattern: false,
    alwaysUseDoubleBuffering: false,
    passQueryDirectoryFileName: false,
    flushAndPurgeOnCleanup: false,
    deviceControl: false,
    umFileContextIsUserContext2: false,
    umFileContextIsFullContext: false,
    umNoReparsePointsDirCheck: false,
    allowOpenInKernelMode: false,
    casePreservedExtendedAttributes: false,
    wslFeatures: false,
    directoryMarkerAsNextOffset: false,
    rejectIrpPriorToTransact0: false,
    supportsPosixUnlinkRename: false,
    postDispositionWhenNecessaryOnly: false,
    prefix: "",
    fileSystemName: "",
    fsextControlCode: 0,
    ...fields,
  };
}

/** FspFsctlIrpTimeout* and FspFsctlIrpCapacity* (fsctl.h). */
const IRP_TIMEOUT = { min: 60000, max: 600000, default: 300000, debug: 142 } as const;
const IRP_CAPACITY = { min: 100, max: 1000, default: 1000 } as const;
const TRANSACT_TIMEOUT = { min: 1000, max: 10000, default: 1000, unset: 24 * 60 * 60 * 1000 } as const;

/** VolumeParams with the FSD's defaults applied: what the volume really runs with. */
export interface EffectiveVolumeParams extends VolumeParams {
  readonly volumeInfoTimeout: number;
  readonly dirInfoTimeout: number;
  readonly securityTimeout: number;
  readonly streamInfoTimeout: number;
  readonly eaTimeout: number;
}

/**
 * The FSD's treatment of the parameters at volume creation: sector size 512,
 * one sector per allocation unit and 255-unit components when 0; the IRP
 * timeout and capacity clamped to their ranges (the debug timeout 142 is
 * kept); each per-cache timeout that is not given falls back to
 * fileInfoTimeout; the prefix loses trailing backslashes; the file-system
 * name is cut to 15 units.
 */
export function effectiveVolumeParams(p: VolumeParams): EffectiveVolumeParams {
  const irpTimeout =
    p.irpTimeout >= IRP_TIMEOUT.min && p.irpTimeout <= IRP_TIMEOUT.max
      ? p.irpTimeout
      : p.irpTimeout === IRP_TIMEOUT.debug
        ? p.irpTimeout
        : IRP_TIMEOUT.default;
  const transactTimeout =
    p.transactTimeout === 0
      ? TRANSACT_TIMEOUT.unset
      : p.transactTimeout < TRANSACT_TIMEOUT.min || p.transactTimeout > TRANSACT_TIMEOUT.max
        ? TRANSACT_TIMEOUT.default
        : p.transactTimeout;
  return {
    ...p,
    sectorSize: p.sectorSize === 0 ? 512 : p.sectorSize,
    sectorsPerAllocationUnit: p.sectorsPerAllocationUnit === 0 ? 1 : p.sectorsPerAllocationUnit,
    maxComponentLength: p.maxComponentLength === 0 ? 255 : p.maxComponentLength,
    transactTimeout,
    irpTimeout,
    irpCapacity:
      p.irpCapacity >= IRP_CAPACITY.min && p.irpCapacity <= IRP_CAPACITY.max ? p.irpCapacity : IRP_CAPACITY.default,
    rejectIrpPriorToTransact0: true,
    prefix: p.prefix.slice(0, 191).replace(/\\+$/, ""),
    fileSystemName: p.fileSystemName.slice(0, 15),
    volumeInfoTimeout: p.volumeInfoTimeout ?? p.fileInfoTimeout,
    dirInfoTimeout: p.dirInfoTimeout ?? p.fileInfoTimeout,
    securityTimeout: p.securityTimeout ?? p.fileInfoTimeout,
    streamInfoTimeout: p.streamInfoTimeout ?? p.fileInfoTimeout,
    eaTimeout: p.eaTimeout ?? p.fileInfoTimeout,
  };
}

/** The allocation unit in bytes: sectorSize × sectorsPerAllocationUnit (after defaults). */
export function allocationUnit(p: VolumeParams): number {
  const e = effectiveVolumeParams(p);
  return e.sectorSize * e.sectorsPerAllocationUnit;
}

/** FILE_FS_ATTRIBUTE_INFORMATION.FileSystemAttributes bits (ntifs.h). */
export const FileSystemAttribute = {
  FILE_CASE_SENSITIVE_SEARCH: 0x00000001,
  FILE_CASE_PRESERVED_NAMES: 0x00000002,
  FILE_UNICODE_ON_DISK: 0x00000004,
  FILE_PERSISTENT_ACLS: 0x00000008,
  FILE_SUPPORTS_REPARSE_POINTS: 0x00000080,
  FILE_SUPPORTS_POSIX_UNLINK_RENAME: 0x00000400,
  FILE_NAMED_STREAMS: 0x00040000,
  FILE_READ_ONLY_VOLUME: 0x00080000,
  FILE_SUPPORTS_EXTENDED_ATTRIBUTES: 0x00800000,
} as const;

/** The FileSystemAttributes the FSD reports for these parameters (hard links are never reported). */
export function fileSystemAttributes(p: VolumeParams): number {
  const F = FileSystemAttribute;
  return (
    (p.caseSensitiveSearch ? F.FILE_CASE_SENSITIVE_SEARCH : 0) |
    (p.casePreservedNames ? F.FILE_CASE_PRESERVED_NAMES : 0) |
    (p.unicodeOnDisk ? F.FILE_UNICODE_ON_DISK : 0) |
    (p.persistentAcls ? F.FILE_PERSISTENT_ACLS : 0) |
    (p.reparsePoints ? F.FILE_SUPPORTS_REPARSE_POINTS : 0) |
    (p.namedStreams ? F.FILE_NAMED_STREAMS : 0) |
    (p.extendedAttributes ? F.FILE_SUPPORTS_EXTENDED_ATTRIBUTES : 0) |
    (p.readOnlyVolume ? F.FILE_READ_ONLY_VOLUME : 0) |
    (p.supportsPosixUnlinkRename ? F.FILE_SUPPORTS_POSIX_UNLINK_RENAME : 0)
  );
}

/**
 * FileFsAttributeInformation.FileSystemName: the parameter as given, or
 * "WinFsp" followed by it when it is empty or starts with `-`, `/` or `\`
 * (so MEMFS's "-MEMFS" reads "WinFsp-MEMFS").
 */
export function reportedFileSystemName(p: VolumeParams): string {
  const name = p.fileSystemName.slice(0, 15);
  return name.length === 0 || "-/\\".includes(name[0]!) ? `WinFsp${name}` : name;
}
