/**
 * Volumes and the part of the object namespace that names them: a
 * {@link Volume} is an {@link Fsd} over a file system, known as an NT device
 * (`\Device\Viofs0`) and, once mounted, as a drive (`X:`, i.e. the DOS device
 * `\??\X:`). The Win32 API resolves paths through this namespace.
 *
 * Three ways to make one:
 * - {@link Volume.memory}: over the in-memory reference file system;
 * - {@link Volume.over}: over any {@link FileSystemInterface};
 * - {@link Volume.fromShare}: over a share the Windows service opens (the
 *   guest driver to a vhost-user socket), through a {@link ShareFactory}.
 */
import type { FileSystemInterface } from "../winfsp/interface.js";
import { MemoryFileSystem, type MemoryFileSystemOptions } from "../winfsp/memfs.js";
import { systemTimeAsFileTime } from "./clock.js";
import { Fsd } from "./fsd.js";

/** A mounted share: its file system, and how to let go of it. */
export interface Share {
  readonly fileSystem: FileSystemInterface<unknown>;
  /** Ends the session (unmount): called once, after the volume stopped. */
  close(): Promise<void>;
}

/**
 * What the Windows service provides to put a volume over FUSE: opens a
 * session to a virtio-fs device (for example the guest driver connected to a
 * vhost-user socket served by `viofs serve` or QEMU's virtiofsd) and answers
 * the FileSystemInterface over it.
 */
export type ShareFactory = () => Promise<Share>;

/** How a volume is set up. */
export interface VolumeOptions {
  /** Mount at this drive (`X:`) right away. */
  readonly drive?: string;
}

const devices = new Map<string, Volume>();
const dosDevices = new Map<string, Volume>();
let nextDevice = 0;

/** A file system seen through the FSD, with its names in the object namespace. */
export class Volume {
  readonly fsd: Fsd;
  /** `\Device\ViofsN`. */
  readonly deviceName: string;
  private driveLetter: string | null = null;
  private closed = false;

  private constructor(
    readonly fileSystem: FileSystemInterface<unknown>,
    private readonly share: Share | null,
  ) {
    this.deviceName = `\\Device\\Viofs${nextDevice++}`;
    this.fsd = new Fsd(fileSystem, { volumeName: this.deviceName });
    devices.set(this.deviceName.toUpperCase(), this);
  }

  /**
   * A volume over the in-memory reference file system. Unless told
   * otherwise it is case-insensitive, as NTFS is (winfsp-tests' external
   * mode expects that), with MEMFS's other defaults.
   */
  static memory(options: MemoryFileSystemOptions & VolumeOptions = {}): Volume {
    // Stamped with the system time, as NTFS stamps files: GetSystemTimeAsFileTime then never reads later than a new file's times.
    const fs = new MemoryFileSystem({ caseInsensitive: true, now: systemTimeAsFileTime, ...options });
    return Volume.over(fs, options);
  }

  /** A volume over any file system. */
  static over(fileSystem: FileSystemInterface<unknown>, options: VolumeOptions = {}): Volume {
    const v = new Volume(fileSystem, null);
    if (options.drive !== undefined) v.mount(options.drive);
    return v;
  }

  /** A volume over a share the factory opens; {@link unmount} closes the share. */
  static async fromShare(factory: ShareFactory, options: VolumeOptions = {}): Promise<Volume> {
    const share = await factory();
    const v = new Volume(share.fileSystem, share);
    if (options.drive !== undefined) v.mount(options.drive);
    return v;
  }

  /** The drive the volume is mounted at (`X:`), or null. */
  get drive(): string | null {
    return this.driveLetter;
  }

  /** The drive's root as a Win32 path (`X:\`). */
  get root(): string {
    if (this.driveLetter === null) throw new Error(`volume ${this.deviceName} is not mounted`);
    return `${this.driveLetter}\\`;
  }

  /** Makes the volume reachable as `drive` (`X:`); a drive in use is refused. */
  mount(drive: string): this {
    const d = drive.slice(0, 2).toUpperCase();
    if (!/^[A-Z]:$/.test(d)) throw new Error(`not a drive: ${drive}`);
    if (dosDevices.has(d)) throw new Error(`drive ${d} is in use`);
    if (this.driveLetter !== null) dosDevices.delete(this.driveLetter);
    dosDevices.set(d, this);
    this.driveLetter = d;
    return this;
  }

  /** Removes the drive and device names, stops the file system and closes the share. */
  async unmount(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.driveLetter !== null) dosDevices.delete(this.driveLetter);
    devices.delete(this.deviceName.toUpperCase());
    await this.fsd.dismount();
    await this.share?.close();
  }
}

/** An NT path resolved to a volume and the volume-relative rest (`""` for the volume itself). */
export interface ResolvedPath {
  readonly volume: Volume;
  readonly path: string;
}

/**
 * The object manager's lookup of a file name: `\??\X:\…` through the DOS
 * devices, `\Device\ViofsN\…` directly (also `\GLOBAL??\X:`). null: no such
 * device (STATUS_OBJECT_PATH_NOT_FOUND).
 */
export function resolveNtPath(ntPath: string): ResolvedPath | null {
  let rest: string;
  let volume: Volume | undefined;
  const upper = ntPath.toUpperCase();
  const dos = upper.startsWith("\\??\\") ? 4 : upper.startsWith("\\GLOBAL??\\") ? 10 : -1;
  if (dos >= 0) {
    volume = dosDevices.get(upper.slice(dos, dos + 2));
    if (volume === undefined || (upper.length > dos + 2 && upper[dos + 2] !== "\\")) return null;
    rest = ntPath.slice(dos + 2);
  } else {
    const m = /^\\DEVICE\\[^\\]+/.exec(upper);
    if (m === null) return null;
    volume = devices.get(m[0]);
    if (volume === undefined) return null;
    rest = ntPath.slice(m[0].length);
  }
  return { volume, path: rest };
}

/** The volume mounted at a drive, if any. */
export function volumeAtDrive(drive: string): Volume | undefined {
  return dosDevices.get(drive.slice(0, 2).toUpperCase());
}
