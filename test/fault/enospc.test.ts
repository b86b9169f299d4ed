/**
 * The shared directory on a full file system (a 1 MiB tmpfs): ENOSPC comes
 * back to the guest session as ENOSPC and to Windows programs (the Windows
 * service and the Win32 layer over the same share) as STATUS_DISK_FULL /
 * ERROR_DISK_FULL; what was written and flushed before stays whole; freeing
 * space makes writes work again.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ErrnoError } from "../../src/common/errors.js";
import { errnoName } from "../../src/common/errno.js";
import { FUSE_ROOT_ID, OpenFlag } from "../../src/fuse/abi.js";
import { openShare, type MountedShare } from "../../src/service/shares.js";
import { createIdMap } from "../../src/windows/ntacl.js";
import { formatSid } from "../../src/windows/security.js";
import * as W from "../../src/win32/index.js";
import { Daemon } from "../escape/daemon.js";
import { removeScratch } from "../scratch.js";

const GRGW = (W.GENERIC_READ | W.GENERIC_WRITE) >>> 0;

let mountPoint: string;
let daemon: Daemon;
let mounted: MountedShare & { close(): Promise<void> };
let volume: W.Volume;

function fill(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (seed + i * 7) & 0xff;
  return b;
}

before(async () => {
  mountPoint = fs.mkdtempSync(path.join(os.tmpdir(), "viofs-enospc-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m,mode=0755", "viofs-enospc", mountPoint]);
  daemon = await Daemon.start({ parent: mountPoint });
  W.setCurrentProcess(new W.Win32Process());
  const token = W.AccessToken.administrator();
  const idMap = createIdMap({ users: [[process.getuid!(), formatSid(token.user)]], groups: [[process.getgid!(), formatSid(token.primaryGroup)]] });
  volume = await W.Volume.fromShare(
    async () => {
      mounted = await openShare({ socketPath: daemon.socket, tag: "share", options: { caseInsensitive: true, hostRoot: daemon.share, idMap } });
      return { fileSystem: mounted.fileSystem, close: () => mounted.close() };
    },
    { drive: "F:" },
  );
});

after(async () => {
  await volume?.unmount().catch(() => undefined);
  await daemon?.stop();
  if (mountPoint !== undefined) removeScratch(mountPoint); // unmounts the tmpfs first
});

test("ENOSPC: the session gets ENOSPC, Win32 gets ERROR_DISK_FULL (STATUS_DISK_FULL), nothing written before is lost", async () => {
  const { session } = mounted;
  // A file written and flushed while there is room.
  const keep = fill(200 * 1024, 1);
  const k = await session.create(FUSE_ROOT_ID, "keep", 0o644, OpenFlag.O_RDWR);
  assert.equal(await session.write(k.entry.nodeid, k.open.fh, 0, keep), keep.length);
  await session.fsync(k.entry.nodeid, k.open.fh);

  // Fill the rest through the session until the host's file system says no.
  const big = await session.create(FUSE_ROOT_ID, "big", 0o644, OpenFlag.O_RDWR);
  let offset = 0;
  let failure: unknown = null;
  for (let i = 0; i < 64 && failure === null; i++) {
    try {
      offset += await session.write(big.entry.nodeid, big.open.fh, offset, fill(64 * 1024, i));
    } catch (error) {
      failure = error;
    }
  }
  assert.ok(ErrnoError.is(failure), `a write failed with an errno (got ${String(failure)})`);
  assert.equal(errnoName(failure.errno), "ENOSPC");
  assert.ok(offset > 0 && offset < 1 << 20, `${offset} bytes went in before the disk was full`);

  // The Windows side of the same share: a new file cannot grow either.
  let h: W.HANDLE | null = null;
  let winError: unknown = null;
  try {
    h = await W.CreateFileW("F:\\win.bin", GRGW, 0, null, W.CREATE_NEW, 0);
    for (let i = 0; i < 16; i++) await W.WriteFile(h, fill(64 * 1024, 100 + i));
  } catch (error) {
    winError = error;
  }
  assert.ok(W.Win32Error.is(winError), `a Win32Error (got ${String(winError)})`);
  assert.equal(winError.code, W.ERROR_DISK_FULL, `ERROR_DISK_FULL, got ${winError.name}`);
  assert.equal(W.GetLastError(), W.ERROR_DISK_FULL);
  assert.equal(winError.status, W.NtStatus.STATUS_DISK_FULL >>> 0, "from STATUS_DISK_FULL");
  if (h !== null) await W.CloseHandle(h);

  // Nothing already written is lost: the kept file reads back whole, through the guest and on the host.
  const back = await session.read(k.entry.nodeid, k.open.fh, 0, keep.length + 10);
  assert.ok(Buffer.from(back).equals(keep), "the kept file reads back whole through the guest");
  assert.ok(fs.readFileSync(path.join(daemon.share, "keep")).equals(keep), "and on the host");
  const part = fs.readFileSync(path.join(daemon.share, "big"));
  assert.ok(part.length >= offset, "what the full file took before ENOSPC is there");
  for (let i = 0; i < Math.floor(offset / (64 * 1024)); i++) {
    assert.ok(part.subarray(i * 65536, (i + 1) * 65536).equals(fill(64 * 1024, i)), `block ${i} of big intact`);
  }

  // Room again: truncate the big file, and writes work.
  await session.setattr(big.entry.nodeid, { size: 0, fh: big.open.fh });
  assert.equal(await session.write(big.entry.nodeid, big.open.fh, 0, fill(4096, 9)), 4096);
  await session.release(big.entry.nodeid, big.open.fh);
  await session.release(k.entry.nodeid, k.open.fh);
  // The daemon keeps serving.
  assert.equal((await session.statfs()).bsize > 0, true);
});
