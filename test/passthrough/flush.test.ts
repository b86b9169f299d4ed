/**
 * FOPEN_NOFLUSH: which OPEN and CREATE replies tell the client that a close
 * needs no FLUSH (a regular file on the share root's file system when that
 * has no `flush` operation, before the session's first POSIX lock, without
 * a writeback cache), and that the locks taken through such a handle go at
 * its RELEASE. The shares are file systems mounted here (tmpfs, ramfs), so
 * the outcome does not depend on what /tmp is. Runs as root.
 */
import { before, test } from "node:test";
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { FOpen, FUSE_LK_FLOCK, LockType, OpenFlag } from "../../src/fuse/abi.js";
import { PassthroughFs } from "../../src/passthrough/passthrough.js";
import type { PassthroughOptions } from "../../src/passthrough/options.js";
import { suiteScratchDir } from "../scratch.js";
import { ALL_FLAGS, ctx, defaults, lkIn, n, rejectsErrno, releaseIn, ROOT } from "./helpers.js";

const { F_WRLCK, F_UNLCK } = LockType;
const RW = OpenFlag.O_RDWR;

const scratch = suiteScratchDir("viofs-flush-"); // unmounts the three at the end
/** A tmpfs (no flush operation), with a ramfs mounted at `sub/` (a submount, and a file system not on the list). */
let tmpfsShare: string;
/** A ramfs: no flush operation either, but not one the file system knows, so FLUSH stays. */
let ramfsShare: string;

before(() => {
  tmpfsShare = path.join(scratch, "tmpfs");
  ramfsShare = path.join(scratch, "ramfs");
  fs.mkdirSync(tmpfsShare);
  fs.mkdirSync(ramfsShare);
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=8m", "viofs-flush", tmpfsShare]);
  execFileSync("mount", ["-t", "ramfs", "viofs-flush", ramfsShare]);
  fs.mkdirSync(path.join(tmpfsShare, "sub"));
  execFileSync("mount", ["-t", "ramfs", "viofs-flush-sub", path.join(tmpfsShare, "sub")]);
  for (const dir of [tmpfsShare, ramfsShare, path.join(tmpfsShare, "sub")]) fs.writeFileSync(path.join(dir, "f"), "0123456789");
});

async function session(root: string, over: Partial<PassthroughOptions> = {}): Promise<PassthroughFs> {
  const pfs = new PassthroughFs({ ...defaults, ...over, root });
  await pfs.init({ minor: 38, clientFlags: ALL_FLAGS });
  return pfs;
}

/** The open_flags of an OPEN of `name` (under `dir`, a node of `pfs`) and its fh. */
async function openOf(pfs: PassthroughFs, name: string, dir = ROOT): Promise<{ id: bigint; fh: bigint; flags: number }> {
  const e = await pfs.lookup(ctx(), dir, n(name));
  const o = await pfs.open(ctx(), e.nodeid, RW, 0);
  return { id: e.nodeid, fh: o.fh, flags: o.openFlags };
}

const noFlush = (flags: number): boolean => (flags & FOpen.NOFLUSH) !== 0;

test("on a tmpfs share, OPEN and CREATE of a regular file say FOPEN_NOFLUSH; OPENDIR, a submount's file and a ramfs share's do not", async () => {
  const pfs = await session(tmpfsShare);
  try {
    assert.ok(noFlush((await openOf(pfs, "f")).flags), "OPEN on tmpfs");
    const c = await pfs.create(ctx(), ROOT, n("new"), RW | OpenFlag.O_CREAT | OpenFlag.O_EXCL, 0o100644, 0o022, 0);
    assert.ok(noFlush(c.open.openFlags), "CREATE on tmpfs");
    assert.equal(c.open.openFlags & ~FOpen.NOFLUSH, 0, "cache=auto adds nothing else");
    const dir = await pfs.opendir(ctx(), ROOT, OpenFlag.O_RDONLY);
    assert.ok(!noFlush(dir.openFlags), "OPENDIR");
    const sub = await pfs.lookup(ctx(), ROOT, n("sub"));
    assert.ok(!noFlush((await openOf(pfs, "f", sub.nodeid)).flags), "a file on a submount (ramfs) keeps FLUSH");
  } finally {
    await pfs.destroy();
  }
  const ram = await session(ramfsShare);
  try {
    assert.ok(!noFlush((await openOf(ram, "f")).flags), "a ramfs share keeps FLUSH");
  } finally {
    await ram.destroy();
  }
});

test("flush: 'always' and a negotiated writeback cache keep FLUSH", async () => {
  for (const [what, pfs] of [
    ["flush: always", await session(tmpfsShare, { flush: "always" })],
    ["writeback", await session(tmpfsShare, { writeback: true })],
  ] as const) {
    try {
      assert.ok(!noFlush((await openOf(pfs, "f")).flags), what);
    } finally {
      await pfs.destroy();
    }
  }
});

test("after the session's first POSIX lock, opens keep FLUSH; a new session starts over; flock locks do not count", async () => {
  const pfs = await session(tmpfsShare);
  try {
    const h = await openOf(pfs, "f");
    await pfs.setlk(ctx(), h.id, lkIn(h.fh, 1n, LockType.F_RDLCK, 0n, 9n, 1, FUSE_LK_FLOCK), false);
    assert.ok(noFlush((await openOf(pfs, "f")).flags), "a flock lock is released by RELEASE, not FLUSH");
    await pfs.setlk(ctx(), h.id, lkIn(h.fh, 1n, F_UNLCK, 0n, 9n, 1), false);
    assert.ok(noFlush((await openOf(pfs, "f")).flags), "an unlock takes no lock");
    await pfs.setlk(ctx(), h.id, lkIn(h.fh, 1n, F_WRLCK, 0n, 9n, 1), false);
    assert.ok(!noFlush((await openOf(pfs, "f")).flags), "after a POSIX lock");
    await pfs.init({ minor: 38, clientFlags: ALL_FLAGS });
    assert.ok(noFlush((await openOf(pfs, "f")).flags), "a new session");
  } finally {
    await pfs.destroy();
  }
});

test("the POSIX locks taken through a FOPEN_NOFLUSH handle go at its RELEASE, all of its owners' and only theirs", async () => {
  const pfs = await session(tmpfsShare);
  try {
    const quiet = await openOf(pfs, "f"); // NOFLUSH: opened before any lock
    const other = await openOf(pfs, "f");
    assert.ok(noFlush(quiet.flags) && noFlush(other.flags));
    // 100 owners lock a byte each through `quiet`, and 100 more lock and unlock (the set of owners it remembers is pruned).
    for (let i = 0; i < 200; i++) {
      const owner = BigInt(1000 + i);
      await pfs.setlk(ctx(), quiet.id, lkIn(quiet.fh, owner, F_WRLCK, BigInt(i), BigInt(i), 1), false);
      if (i % 2 === 1) await pfs.setlk(ctx(), quiet.id, lkIn(quiet.fh, owner, F_UNLCK, BigInt(i), BigInt(i), 1), false);
    }
    // Owner 7 locks through the other handle: not quiet's to drop.
    await pfs.setlk(ctx(), other.id, lkIn(other.fh, 7n, F_WRLCK, 500n, 500n, 2), false);
    const probe = await openOf(pfs, "f");
    for (let i = 0; i < 200; i += 2) await rejectsErrno(pfs.setlk(ctx(), probe.id, lkIn(probe.fh, 9n, F_WRLCK, BigInt(i), BigInt(i), 3), false), "EAGAIN");
    await pfs.release(ctx(), quiet.id, releaseIn(quiet.fh));
    await pfs.setlk(ctx(), probe.id, lkIn(probe.fh, 9n, F_WRLCK, 0n, 199n, 3), false);
    await rejectsErrno(pfs.setlk(ctx(), probe.id, lkIn(probe.fh, 9n, F_WRLCK, 500n, 500n, 3), false), "EAGAIN");
  } finally {
    await pfs.destroy();
  }
});
