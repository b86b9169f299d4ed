/**
 * The whole stack behind `viofs shell`, brought up in this process:
 *
 *   host device (only with a shared directory: PassthroughFs, FUSE server,
 *   vhost-user backend on a private socket, as `viofs serve --xattr
 *   --sandbox=none`) ⇄ vhost-user socket ⇄ guest driver ⇄ FUSE session ⇄
 *   Windows service (FuseWindowsService) ⇄ Win32 Volume at a drive letter.
 *
 * Nothing here blocks the event loop on the share: the guest side talks to
 * the device over virtqueues, so serving and using it from one process is fine.
 */
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { ErrnoError } from "../common/errors.js";
import { Errno } from "../common/errno.js";
import { UsageError } from "../common/usage.js";
import { DEFAULT_DEVICE_OPTIONS } from "../host/device.js";
import { servePrivately } from "../host/private-serve.js";
import { FuseWindowsService } from "../service/shares.js";
import type { FuseWindowsOptions } from "../service/options.js";
import { createIdMap } from "../windows/ntacl.js";
import { formatSid } from "../windows/security.js";
import { AccessToken, Volume, volumeAtDrive } from "../win32/index.js";
import { probeUserXattrs } from "../host/xattr-probe.js";

/** The share's name in the service (and the volume label). */
export const SHELL_TAG = "viofs";

/** How long connecting and the vhost-user handshake may take before the peer is judged not a backend. */
const CONNECT_TIMEOUT_MS = 10_000;

export interface StackOptions {
  /** Serve this host directory in this process (exclusive with socketPath). */
  readonly sharedDir?: string;
  /** Attach to a running backend (viofs serve, virtiofsd). */
  readonly socketPath?: string;
  /** Names compare case-sensitively (default: case-insensitive, as NTFS). */
  readonly caseSensitive?: boolean;
  /** The drive letter (`V:`). */
  readonly drive: string;
}

export interface Stack {
  readonly volume: Volume;
  /** `V:`. */
  readonly drive: string;
  /** The host directory served here, when there is one. */
  readonly hostDir: string | null;
  /** Whether the host device serves xattrs (Windows metadata is kept in them). */
  readonly xattr: boolean;
  /** Unmounts the volume, stops the service, ends the connection, removes the private socket. */
  close(): Promise<void>;
}

/** The token the shell acts as: winfsp-tests' administrator, owner of the share's files through the id map. */
export function shellToken(): AccessToken {
  return AccessToken.administrator();
}

function serviceOptions(caseSensitive: boolean, hostRoot: string | undefined, token: AccessToken): FuseWindowsOptions {
  // The host owner of the share (this process) is the Windows user, as Samba's user map makes it.
  const idMap = createIdMap({
    users: [[process.getuid!(), formatSid(token.user)]],
    groups: [[process.getgid!(), formatSid(token.primaryGroup)]],
  });
  return { caseInsensitive: !caseSensitive, idMap, volumeLabel: SHELL_TAG.toUpperCase(), ...(hostRoot !== undefined ? { hostRoot } : {}) };
}

/** Brings the stack up; bad input (missing directory, no backend at the socket) is a UsageError. */
export async function openStack(options: StackOptions, token: AccessToken = shellToken()): Promise<Stack> {
  const drive = options.drive.toUpperCase();
  if (volumeAtDrive(drive) !== undefined) throw new UsageError(`drive ${drive} is in use`);
  if (options.sharedDir !== undefined) return serveHere(resolve(options.sharedDir), options, drive, token);
  if (options.socketPath === undefined) throw new UsageError("say what to open: --shared-dir=DIR or --socket-path=PATH");
  const socketPath = options.socketPath;
  checkSocket(socketPath);
  const volume = await mountVolume(socketPath, serviceOptions(options.caseSensitive ?? false, undefined, token), drive);
  return {
    volume,
    drive,
    hostDir: null,
    xattr: true,
    close: () => volume.unmount(),
  };
}

async function serveHere(dir: string, options: StackOptions, drive: string, token: AccessToken): Promise<Stack> {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw new UsageError(`shared directory '${dir}' does not exist; create it or fix the path`);
  }
  if (!isDir) throw new UsageError(`shared directory '${dir}' is not a directory`);
  const xattr = probeUserXattrs(dir).ok;
  const serving = servePrivately(dir, { ...DEFAULT_DEVICE_OPTIONS, xattr }, "viofs-shell-");
  try {
    const mounting = mountVolume(serving.socketPath, serviceOptions(options.caseSensitive ?? false, dir, token), drive);
    const [, volume] = await Promise.all([serving.accepted, mounting]);
    // Connected: nothing needs the socket's path any more, so a shell that is killed (its terminal
    // closed) leaves nothing behind in the temporary directory.
    serving.removeSocket();
    return {
      volume,
      drive,
      hostDir: dir,
      xattr,
      async close() {
        await volume.unmount().catch(() => undefined);
        await serving.close();
      },
    };
  } catch (error) {
    await serving.close();
    throw error;
  }
}

function checkSocket(socketPath: string): void {
  let isSocket = false;
  try {
    isSocket = statSync(socketPath).isSocket();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      throw new UsageError(`no vhost-user socket at ${socketPath}; start \`viofs serve\` or virtiofsd first, or use --shared-dir=DIR`);
    }
    throw new UsageError(`${socketPath}: ${(error as Error).message}`);
  }
  if (!isSocket) throw new UsageError(`${socketPath} is not a vhost-user-fs backend: not a socket`);
}

/** The service's share on the socket, mounted as a volume at `drive`; a failure to attach is a UsageError. */
async function mountVolume(socketPath: string, options: FuseWindowsOptions, drive: string): Promise<Volume> {
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  let late: Promise<FuseWindowsService> | null = null;
  const starting = (late = FuseWindowsService.start([{ socketPath, tag: SHELL_TAG, options, connectTimeoutMs: 1000 }]));
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new Error(`no vhost-user handshake within ${CONNECT_TIMEOUT_MS / 1000} s`));
    }, CONNECT_TIMEOUT_MS);
  });
  let service: FuseWindowsService;
  try {
    service = await Promise.race([starting, timeout]);
  } catch (error) {
    // A service that comes up after the timeout is stopped at once.
    if (timedOut) void late.then((s) => s.stop()).catch(() => undefined);
    const why = ErrnoError.is(error) && error.errno === Errno.ECONNREFUSED ? "nothing accepts connections there (a stale socket?)" : describe(error);
    throw new UsageError(`${socketPath} is not a vhost-user-fs backend: ${why}`);
  } finally {
    clearTimeout(timer);
  }
  return Volume.fromShare(async () => ({ fileSystem: service.fileSystem(SHELL_TAG), close: () => service.stop() }), { drive });
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
