/**
 * Several shares in one service: one virtio-fs device (vhost-user socket)
 * per share, each with its own driver, FUSE session and
 * {@link FuseWindowsFileSystem}, named by its tag (what the device offers
 * through GET_CONFIG, or what the configuration says). virtio-win's service
 * mounts only the first device it finds; users ask for more (issues #581,
 * #590).
 */
import { ErrnoError } from "../common/errors.js";
import { Errno } from "../common/errno.js";
import { VirtioFsDriver, type DriverOptions } from "../guest/driver.js";
import { FuseSession, type SessionOptions } from "../guest/session.js";
import { FuseWindowsFileSystem } from "./fuse-fs.js";
import type { FuseWindowsOptions } from "./options.js";

/** One share of the service. */
export interface ShareConfig {
  /** The vhost-user socket of the device. */
  readonly socketPath: string;
  /** The share's name; default the device's tag, else `share<N>`. */
  readonly tag?: string;
  readonly options?: FuseWindowsOptions;
  readonly driver?: DriverOptions;
  readonly session?: SessionOptions;
  /** How long to retry a refused connection (a daemon still starting), ms. Default 5000. */
  readonly connectTimeoutMs?: number;
}

/** A mounted share. */
export interface MountedShare {
  readonly tag: string;
  readonly driver: VirtioFsDriver;
  readonly session: FuseSession;
  readonly fileSystem: FuseWindowsFileSystem;
}

async function connect(socketPath: string, options: DriverOptions | undefined, timeoutMs: number): Promise<VirtioFsDriver> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await VirtioFsDriver.connect(socketPath, options);
    } catch (error) {
      if (!(ErrnoError.is(error) && (error.errno === Errno.ECONNREFUSED || error.errno === Errno.ENOENT)) || Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/**
 * Connects one share and mounts the service on it. The answer has the
 * shape of the Win32 layer's `Share` (`Volume.fromShare`): `close()` ends
 * the session (the queued FORGETs, then DESTROY) and the driver.
 */
export async function openShare(share: ShareConfig, fallbackTag = "share"): Promise<MountedShare & { close(): Promise<void> }> {
  const driver = await connect(share.socketPath, share.driver, share.connectTimeoutMs ?? 5000);
  try {
    const session = await FuseSession.init(driver, share.session);
    const tag = share.tag ?? driver.tag ?? fallbackTag;
    let fileSystem: FuseWindowsFileSystem;
    try {
      fileSystem = await FuseWindowsFileSystem.mount(session, share.options, tag);
    } catch (error) {
      await session.close();
      throw error;
    }
    return {
      tag,
      driver,
      session,
      fileSystem,
      async close() {
        await session.close().catch(() => undefined);
        driver.close();
      },
    };
  } catch (error) {
    driver.close();
    throw error;
  }
}

/** The service: every configured share, mounted. */
export class FuseWindowsService {
  private constructor(private readonly mounted: ReadonlyMap<string, MountedShare & { close(): Promise<void> }>) {}

  /**
   * Connects every share (in order) and mounts it. Tags must be unique. On
   * any failure the shares already mounted are stopped and the error thrown.
   */
  static async start(shares: readonly ShareConfig[]): Promise<FuseWindowsService> {
    const mounted = new Map<string, MountedShare & { close(): Promise<void> }>();
    try {
      for (const [i, share] of shares.entries()) {
        const m = await openShare(share, `share${i}`);
        if (mounted.has(m.tag)) {
          await m.close();
          throw new Error(`two shares are named ${JSON.stringify(m.tag)}`);
        }
        mounted.set(m.tag, m);
      }
    } catch (error) {
      await new FuseWindowsService(mounted).stop();
      throw error;
    }
    return new FuseWindowsService(mounted);
  }

  /** The tags of the mounted shares, in configuration order. */
  get tags(): string[] {
    return [...this.mounted.keys()];
  }

  /** The share named `tag`. */
  share(tag: string): MountedShare {
    const m = this.mounted.get(tag);
    if (m === undefined) throw new Error(`no share is named ${JSON.stringify(tag)}`);
    return m;
  }

  /** The file system of the share named `tag`. */
  fileSystem(tag: string): FuseWindowsFileSystem {
    return this.share(tag).fileSystem;
  }

  /** Stops every share: DispatcherStopped, the session's DESTROY, the driver. */
  async stop(): Promise<void> {
    for (const m of this.mounted.values()) {
      await m.fileSystem.dispatcherStopped(true).catch(() => undefined);
      await m.close();
    }
  }
}
