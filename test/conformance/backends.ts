/**
 * The backends the conformance suite runs on:
 *
 * - `memfs`: the in-memory reference file system ({@link W.Volume.memory});
 * - `viofs-serve`: this project's `viofs serve --xattr` (the compiled CLI),
 *   reached through the guest driver and the Windows service;
 * - `virtiofsd`: QEMU's C virtiofsd `-o xattr`, the same way.
 *
 * For the two FUSE backends a daemon is started on a fresh directory, and
 * the volume is made with {@link W.Volume.fromShare} from a share the
 * service opens (FuseWindowsService: driver, FUSE session, file system),
 * case-insensitive as NTFS is. Both daemons serve one connection and exit
 * when it ends.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FuseWindowsService } from "../../src/service/shares.js";
import type { FuseWindowsOptions } from "../../src/service/options.js";
import { createIdMap } from "../../src/windows/ntacl.js";
import { formatSid } from "../../src/windows/security.js";
import * as W from "../../src/win32/index.js";
import { BACKENDS as DAEMONS, type BackendHandle, type BackendName } from "../vm/backends.js";
import type { Backend } from "./suite.js";

/** A daemon serving a fresh directory on a vhost-user socket. */
interface Daemon {
  readonly share: string;
  readonly socketPath: string;
  /** Waits for the daemon to exit (it does when its connection ends; SIGKILL after 5 s), then removes the directory. */
  stop(): Promise<void>;
}

/**
 * Where shares are made: tmpfs when there is one, whose xattrs hold what
 * the tests store (100 streams on one file); ext4 without `ea_inode` keeps
 * about 4 KiB of xattrs per inode and answers ENOSPC long before.
 */
function scratchRoot(): string {
  return existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
}

/** Starts `name` with the VM tests' command line (test/vm/backends.ts) on a fresh share. */
async function startDaemon(name: BackendName): Promise<Daemon> {
  const root = mkdtempSync(join(scratchRoot(), `viofs-conformance-${name}-`));
  const share = join(root, "share");
  mkdirSync(share);
  const socketPath = join(root, "vhost.sock");
  let handle: BackendHandle;
  try {
    handle = await DAEMONS[name].start(share, socketPath);
  } catch (e) {
    rmSync(root, { recursive: true, force: true });
    throw e;
  }
  return {
    share,
    socketPath,
    async stop() {
      await handle.stop(5000);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/**
 * The service's options for the conformance volumes: case-insensitive, as
 * NTFS is; the host owner of the share (this process's uid and gid, which
 * the daemons run as) maps to the test token's user and primary group, as
 * Samba's user map makes the connecting Windows user the owner of the
 * Unix files (without it the root directory's synthesized descriptor
 * grants the test's user only read and execute).
 */
function serviceOptions(share: string): FuseWindowsOptions {
  const token = W.AccessToken.administrator();
  const idMap = createIdMap({
    users: [[process.getuid!(), formatSid(token.user)]],
    groups: [[process.getgid!(), formatSid(token.primaryGroup)]],
  });
  return { caseInsensitive: true, hostRoot: share, idMap };
}

/** A backend over a daemon started by `argv`, through the guest driver and the Windows service. */
function fuseBackend(name: string, daemonName: BackendName): Backend {
  return {
    name,
    async open() {
      const daemon = await startDaemon(daemonName);
      let volume: W.Volume;
      try {
        volume = await W.Volume.fromShare(async () => {
          const service = await FuseWindowsService.start([{ socketPath: daemon.socketPath, tag: "share", options: serviceOptions(daemon.share) }]);
          return { fileSystem: service.fileSystem("share"), close: () => service.stop() };
        });
      } catch (e) {
        await daemon.stop();
        throw e;
      }
      return { volume, close: () => daemon.stop() };
    },
  };
}

/** The in-memory reference. */
export const memfsBackend: Backend = {
  name: "memfs",
  async open() {
    return { volume: W.Volume.memory(), close: async () => undefined };
  },
};

/** `viofs serve --xattr --cache=auto --sandbox=none` (needs the compiled CLI in dist/). */
export const viofsServeBackend: Backend = fuseBackend("viofs-serve", "viofs");

/** QEMU's C virtiofsd `-o xattr -o cache=auto`, as libvirt starts it for a cache=auto share. */
export const virtiofsdBackend: Backend = fuseBackend("virtiofsd", "virtiofsd");

/** Every backend, by name, in table order. */
export const BACKENDS: readonly Backend[] = [memfsBackend, viofsServeBackend, virtiofsdBackend];
