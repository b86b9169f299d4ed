/**
 * READ and WRITE inline (PassthroughIo.inline, `viofs serve
 * --thread-pool-size=0`) against the thread-pool path: the same answers,
 * errnos and file contents for the same requests.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { OpenFlag, WriteFlag } from "../../src/fuse/abi.js";
import { PassthroughFs } from "../../src/passthrough/passthrough.js";
import { ALL_FLAGS, ctx, defaults, n, readIn, rejectsErrno, releaseIn, ROOT, scratchDir, writeIn } from "./helpers.js";

const RW = OpenFlag.O_RDWR;

async function withFs(inline: boolean, body: (pfs: PassthroughFs, share: string) => Promise<void>): Promise<void> {
  const scratch = scratchDir(inline ? "inline" : "pool");
  const share = path.join(scratch.dir, "share");
  fs.mkdirSync(share);
  const pfs = new PassthroughFs({ ...defaults, root: share }, { inline });
  await pfs.init({ minor: 38, clientFlags: ALL_FLAGS });
  try {
    await body(pfs, share);
  } finally {
    await pfs.destroy();
    scratch.remove();
  }
}

for (const inline of [false, true]) {
  const mode = inline ? "inline" : "thread pool";

  test(`${mode}: gather writes, scatter reads into views, a short read at the end of the file`, async () => {
    await withFs(inline, async (pfs, share) => {
      const c = await pfs.create(ctx(), ROOT, n("f"), RW, 0o644, 0o022, 0);
      const id = c.entry.nodeid;
      const fh = c.open.fh;
      assert.equal(await pfs.write(ctx(), id, writeIn(fh, 0n, 11), [Buffer.from("hello "), Buffer.from("world")]), 11);
      // One buffer, and a list longer than the request (cut to its size).
      assert.equal(await pfs.write(ctx(), id, writeIn(fh, 11n, 1), [Buffer.from("!")]), 1);
      assert.equal(await pfs.write(ctx(), id, writeIn(fh, 12n, 2), [Buffer.from("ab"), Buffer.from("cd")]), 2);
      assert.equal(fs.readFileSync(path.join(share, "f"), "utf8"), "hello world!ab");
      const guest = new Uint8Array(64);
      const a = guest.subarray(0, 3);
      const b = guest.subarray(32, 64);
      assert.equal(await pfs.read(ctx(), id, readIn(fh, 2n, 6), [a, b]), 6);
      assert.equal(Buffer.from(a).toString() + Buffer.from(b.subarray(0, 3)).toString(), "llo wo");
      assert.equal(await pfs.read(ctx(), id, readIn(fh, 10n, 100), [b]), 4, "short at end of file");
      assert.equal(await pfs.read(ctx(), id, readIn(fh, 1000n, 10), [b]), 0, "past the end");
      assert.equal(await pfs.read(ctx(), id, readIn(fh, 0n, 0), [b]), 0, "nothing asked");
      await pfs.release(ctx(), id, releaseIn(fh));
    });
  });

  test(`${mode}: spans of guest memory (a chain's pages): gather writes, scatter reads, cut to the request's size`, async () => {
    await withFs(inline, async (pfs, share) => {
      const c = await pfs.create(ctx(), ROOT, n("spans"), RW, 0o644, 0o022, 0);
      const id = c.entry.nodeid;
      const fh = c.open.fh;
      const memory = new Uint8Array(8192);
      const other = new Uint8Array(16);
      memory.set(Buffer.from("hello "), 100);
      other.set(Buffer.from("world!"), 4);
      // Two buffers of one memory and one of another; the request asks for 11 of their 12 bytes.
      const source = { segs: [memory, other, memory], spans: [100, 6, 4, 5, 0, 1] };
      assert.equal(await pfs.write(ctx(), id, writeIn(fh, 0n, 11), source), 11);
      assert.equal(fs.readFileSync(path.join(share, "spans"), "utf8"), "hello world");
      memory.fill(0);
      const target = { segs: [memory, memory], spans: [4096, 3, 200, 100] };
      assert.equal(await pfs.read(ctx(), id, readIn(fh, 2n, 6), target), 6);
      assert.equal(Buffer.from(memory.subarray(4096, 4099)).toString() + Buffer.from(memory.subarray(200, 203)).toString(), "llo wo");
      assert.equal(memory[203], 0, "nothing past the request's size");
      assert.equal(await pfs.read(ctx(), id, readIn(fh, 8n, 100), target), 3, "short at end of file");
      assert.equal(await pfs.read(ctx(), id, readIn(fh, 0n, 0), { segs: [], spans: [] }), 0, "nothing asked");
      await pfs.release(ctx(), id, releaseIn(fh));
    });
  });

  test(`${mode}: offsets at the edges (EINVAL past INT64_MAX, EFBIG past 2^53 on writes, bigint positions on reads)`, async () => {
    await withFs(inline, async (pfs) => {
      const c = await pfs.create(ctx(), ROOT, n("edge"), RW, 0o644, 0, 0);
      const id = c.entry.nodeid;
      const fh = c.open.fh;
      await pfs.write(ctx(), id, writeIn(fh, 0n, 4), [Buffer.from("data")]);
      await rejectsErrno(pfs.read(ctx(), id, readIn(fh, 1n << 63n, 4), [Buffer.alloc(4)]), "EINVAL");
      await rejectsErrno(pfs.write(ctx(), id, writeIn(fh, 1n << 53n, 4), [Buffer.from("xxxx")]), "EFBIG");
      // Beyond 2^53 a read takes a bigint position (one buffer at a time) and finds nothing there.
      const big = (1n << 53n) + 7n;
      assert.equal(await pfs.read(ctx(), id, readIn(fh, big, 8), [Buffer.alloc(4), Buffer.alloc(4)]), 0);
      assert.equal(await pfs.read(ctx(), id, readIn(fh, big, 8), [Buffer.alloc(8)]), 0);
      await pfs.release(ctx(), id, releaseIn(fh));
    });
  });

  test(`${mode}: the kernel's errors come back as errnos; a released handle is EBADF`, async () => {
    await withFs(inline, async (pfs, share) => {
      fs.writeFileSync(path.join(share, "f"), "0123456789");
      const e = await pfs.lookup(ctx(), ROOT, n("f"));
      const ro = await pfs.open(ctx(), e.nodeid, OpenFlag.O_RDONLY, 0);
      const wo = await pfs.open(ctx(), e.nodeid, OpenFlag.O_WRONLY, 0);
      await rejectsErrno(pfs.write(ctx(), e.nodeid, writeIn(ro.fh, 0n, 1), [Buffer.from("x")]), "EBADF");
      await rejectsErrno(pfs.read(ctx(), e.nodeid, readIn(wo.fh, 0n, 1), [Buffer.alloc(1)]), "EBADF");
      await pfs.release(ctx(), e.nodeid, releaseIn(ro.fh));
      await rejectsErrno(pfs.read(ctx(), e.nodeid, readIn(ro.fh, 0n, 1), [Buffer.alloc(1)]), "EBADF");
      const d = await pfs.lookup(ctx(), ROOT, n("."));
      const dir = await pfs.opendir(ctx(), d.nodeid, 0);
      await rejectsErrno(pfs.read(ctx(), d.nodeid, readIn(dir.fh, 0n, 1), [Buffer.alloc(1)]), "EISDIR");
      await rejectsErrno(pfs.read(ctx(), e.nodeid, readIn(dir.fh, 0n, 1), [Buffer.alloc(1)]), "EBADF", "another node's handle");
      await pfs.release(ctx(), e.nodeid, releaseIn(wo.fh));
      await pfs.releasedir(ctx(), d.nodeid, releaseIn(dir.fh));
    });
  });

  test(`${mode}: O_APPEND appends, a page-cache write keeps its offset, an unprivileged write clears SUID`, async () => {
    await withFs(inline, async (pfs, share) => {
      const file = path.join(share, "log");
      fs.writeFileSync(file, "0123456789");
      fs.chmodSync(file, 0o4755);
      const e = await pfs.lookup(ctx(), ROOT, n("log"));
      const o = await pfs.open(ctx(), e.nodeid, OpenFlag.O_WRONLY | OpenFlag.O_APPEND, 0);
      await pfs.write(ctx({ uid: 1000 }), e.nodeid, writeIn(o.fh, 0n, 2), [Buffer.from("AB")]);
      assert.equal(fs.readFileSync(file, "utf8"), "0123456789AB");
      assert.equal(fs.statSync(file).mode & 0o7777, 0o755);
      await pfs.write(ctx(), e.nodeid, writeIn(o.fh, 0n, 2, WriteFlag.CACHE), [Buffer.from("xy")]);
      assert.equal(fs.readFileSync(file, "utf8"), "xy23456789AB");
      await pfs.release(ctx(), e.nodeid, releaseIn(o.fh));
    });
  });
}
