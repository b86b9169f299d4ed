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
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { FuseWindowsService } from "../../src/service/shares.js";
import type { FuseWindowsOptions } from "../../src/service/options.js";
import { createIdMap } from "../../src/windows/ntacl.js";
import { formatSid } from "../../src/windows/security.js";
import * as W from "../../src/win32/index.js";
import type { Backend } from "./suite.js";

/** QEMU's C virtiofsd, as Debian installs it. */
export const VIRTIOFSD = "/usr/lib/qemu/virtiofsd";

/** The repository root (where package.json is), from this file's place in the source or dist tree. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("test/conformance: cannot find the repository root");
    dir = up;
  }
  return dir;
}

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

async function startDaemon(name: string, argv: (socketPath: string, share: string) => string[]): Promise<Daemon> {
  const root = mkdtempSync(join(scratchRoot(), `viofs-conformance-${name}-`));
  const share = join(root, "share");
  mkdirSync(share);
  const socketPath = join(root, "vhost.sock");
  const [program, ...args] = argv(socketPath, share) as [string, ...string[]];
  const child = spawn(program, args, { stdio: ["ignore", "ignore", "pipe"] });
  let output = "";
  child.stderr!.setEncoding("utf8").on("data", (s: string) => (output = (output + s).slice(-4000)));
  let exited = false;
  const done = new Promise<void>((resolve) =>
    child.once("close", () => {
      exited = true;
      resolve();
    }),
  );
  const deadline = Date.now() + 15_000;
  for (;;) {
    let ready = false;
    try {
      ready = statSync(socketPath).isSocket();
    } catch {
      ready = false;
    }
    if (ready) break;
    if (exited || Date.now() > deadline) {
      child.kill("SIGKILL");
      rmSync(root, { recursive: true, force: true });
      throw new Error(`${name} did not listen on ${socketPath}:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    share,
    socketPath,
    async stop() {
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await done;
      clearTimeout(timer);
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
function fuseBackend(name: string, argv: (socketPath: string, share: string) => string[]): Backend {
  return {
    name,
    async open() {
      const daemon = await startDaemon(name, argv);
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

/** `viofs serve --xattr` (needs the compiled CLI in dist/). */
export const viofsServeBackend: Backend = fuseBackend("viofs-serve", (socketPath, share) => [
  process.execPath,
  join(repoRoot(), "bin", "viofs.js"),
  "serve",
  `--socket-path=${socketPath}`,
  `--shared-dir=${share}`,
  "--cache=auto",
  "--xattr",
  "--sandbox=none",
]);

/** QEMU's C virtiofsd `-o xattr`, as libvirt starts it for a cache=auto share. */
export const virtiofsdBackend: Backend = fuseBackend("virtiofsd", (socketPath, share) => [
  VIRTIOFSD,
  `--socket-path=${socketPath}`,
  "-o",
  `source=${share}`,
  "-o",
  "cache=auto",
  "-o",
  "xattr",
]);

/** Every backend, by name, in table order. */
export const BACKENDS: readonly Backend[] = [memfsBackend, viofsServeBackend, virtiofsdBackend];
