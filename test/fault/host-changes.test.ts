/**
 * Changes on the host under the guest: files renamed, removed, replaced and
 * truncated, and directories removed, while the guest holds them (nodeids
 * looked up, handles open). The results are POSIX's: an open handle keeps
 * its inode (an unlinked file stays readable and writable through it, a
 * replaced file's old contents stay behind the old handle), a held nodeid
 * follows its inode across renames, names resolve to what is there now, and
 * operations on a vanished directory are ENOENT, never something elsewhere.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { ErrnoError } from "../../src/common/errors.js";
import { errnoName } from "../../src/common/errno.js";
import { FUSE_ROOT_ID, OpenFlag } from "../../src/fuse/abi.js";
import type { FuseSession } from "../../src/guest/session.js";
import { Daemon, type Connection } from "../escape/daemon.js";

let daemon: Daemon;
let conn: Connection;
let session: FuseSession;
const host = (...p: string[]): string => path.join(daemon.share, ...p);
const text = (b: Uint8Array): string => Buffer.from(b).toString();

async function errnoOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "success";
  } catch (error) {
    if (!ErrnoError.is(error)) throw error;
    return errnoName(error.errno);
  }
}

before(async () => {
  daemon = await Daemon.start();
  conn = await daemon.connect();
  session = conn.session;
});

after(async () => {
  await session?.close().catch(() => undefined);
  conn?.driver.close();
  await daemon?.stop();
});

test("a file removed on the host while open: the handle still reads and writes it; its name is gone", async () => {
  fs.writeFileSync(host("gone"), "still here\n");
  const e = await session.lookup(FUSE_ROOT_ID, "gone");
  const o = await session.open(e.nodeid, OpenFlag.O_RDWR);
  fs.unlinkSync(host("gone"));
  assert.equal(text(await session.read(e.nodeid, o.fh, 0, 100)), "still here\n");
  assert.equal(await session.write(e.nodeid, o.fh, 0, Buffer.from("STILL")), 5);
  assert.equal(text(await session.read(e.nodeid, o.fh, 0, 100)), "STILL here\n");
  assert.equal((await session.getattr(e.nodeid)).attr.nlink, 0, "the held node has no names left");
  assert.equal(await errnoOf(session.lookup(FUSE_ROOT_ID, "gone")), "ENOENT");
  assert.equal(fs.existsSync(host("gone")), false, "the write did not bring the name back");
  await session.release(e.nodeid, o.fh);
  session.forget(e.nodeid);
});

test("a file renamed on the host: the held nodeid follows it; the old name is gone, the new one is the same node", async () => {
  fs.writeFileSync(host("before"), "moving\n");
  const e = await session.lookup(FUSE_ROOT_ID, "before");
  fs.mkdirSync(host("elsewhere"));
  fs.renameSync(host("before"), host("elsewhere", "after"));
  assert.equal((await session.getattr(e.nodeid)).attr.size, 7n, "the held node is still the file");
  const o = await session.open(e.nodeid, OpenFlag.O_RDONLY);
  assert.equal(text(await session.read(e.nodeid, o.fh, 0, 100)), "moving\n");
  assert.equal(await errnoOf(session.lookup(FUSE_ROOT_ID, "before")), "ENOENT");
  const dir = await session.lookup(FUSE_ROOT_ID, "elsewhere");
  const moved = await session.lookup(dir.nodeid, "after");
  assert.equal(moved.nodeid, e.nodeid, "one inode, one nodeid");
  await session.release(e.nodeid, o.fh);
  session.forget(e.nodeid, 2);
  session.forget(dir.nodeid);
});

test("a file replaced on the host (write a new one, rename it over): the old handle keeps the old contents, a new lookup finds the new file", async () => {
  fs.writeFileSync(host("config"), "version 1\n");
  const e = await session.lookup(FUSE_ROOT_ID, "config");
  const o = await session.open(e.nodeid, OpenFlag.O_RDONLY);
  fs.writeFileSync(host("config.tmp"), "version 2, longer\n");
  fs.renameSync(host("config.tmp"), host("config"));
  assert.equal(text(await session.read(e.nodeid, o.fh, 0, 100)), "version 1\n", "the open handle reads the inode it opened");
  const fresh = await session.lookup(FUSE_ROOT_ID, "config");
  assert.notEqual(fresh.nodeid, e.nodeid, "a new inode, a new nodeid");
  const o2 = await session.open(fresh.nodeid, OpenFlag.O_RDONLY);
  assert.equal(text(await session.read(fresh.nodeid, o2.fh, 0, 100)), "version 2, longer\n");
  assert.equal((await session.getattr(e.nodeid)).attr.nlink, 0, "the old node is unlinked");
  await session.release(e.nodeid, o.fh);
  await session.release(fresh.nodeid, o2.fh);
  session.forget(e.nodeid);
  session.forget(fresh.nodeid);
});

test("a file truncated and rewritten on the host while open: reads see the host's bytes, short at the new end", async () => {
  fs.writeFileSync(host("shrink"), "0123456789abcdef");
  const e = await session.lookup(FUSE_ROOT_ID, "shrink");
  const o = await session.open(e.nodeid, OpenFlag.O_RDWR);
  fs.truncateSync(host("shrink"), 4);
  assert.equal(text(await session.read(e.nodeid, o.fh, 0, 100)), "0123");
  assert.equal((await session.read(e.nodeid, o.fh, 10, 100)).length, 0, "past the new end: nothing");
  fs.writeFileSync(host("shrink"), "host!");
  assert.equal(text(await session.read(e.nodeid, o.fh, 0, 100)), "host!");
  assert.equal((await session.getattr(e.nodeid)).attr.size, 5n);
  await session.release(e.nodeid, o.fh);
  session.forget(e.nodeid);
});

test("a directory removed on the host while held: lookups and creates in it are ENOENT; replaced by a file, it is not a directory", async () => {
  fs.mkdirSync(host("dir"));
  fs.writeFileSync(host("dir", "inner"), "x");
  const d = await session.lookup(FUSE_ROOT_ID, "dir");
  const inner = await session.lookup(d.nodeid, "inner");
  const od = await session.opendir(d.nodeid);
  fs.rmSync(host("dir"), { recursive: true });
  assert.equal(await errnoOf(session.lookup(d.nodeid, "inner")), "ENOENT");
  assert.equal(await errnoOf(session.create(d.nodeid, "new", 0o644, OpenFlag.O_RDWR)), "ENOENT");
  assert.equal(await errnoOf(session.mkdir(d.nodeid, "sub", 0o755)), "ENOENT");
  assert.equal(await errnoOf(session.readdir(d.nodeid, od.fh)), "ENOENT", "reading a dead directory, as getdents(2) on Linux");
  assert.equal((await session.getattr(inner.nodeid)).attr.nlink, 0, "the held file is unlinked");
  await session.releasedir(d.nodeid, od.fh);
  // A file now has the directory's name.
  fs.writeFileSync(host("dir"), "a file");
  const now = await session.lookup(FUSE_ROOT_ID, "dir");
  assert.notEqual(now.nodeid, d.nodeid);
  assert.equal(await errnoOf(session.lookup(now.nodeid, "inner")), "ENOTDIR");
  assert.equal(await errnoOf(session.opendir(now.nodeid)), "ENOTDIR");
  assert.deepEqual(fs.readdirSync(daemon.share).sort(), ["config", "dir", "elsewhere", "shrink"]);
  session.forget(d.nodeid);
  session.forget(inner.nodeid);
  session.forget(now.nodeid);
});
