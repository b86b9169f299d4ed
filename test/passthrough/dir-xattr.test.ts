/**
 * READDIR and READDIRPLUS through small sinks (resuming at offsets, lookups
 * counted only for accepted entries), and extended attributes with and
 * without the `xattr` option.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { DirentType, LockType, OpenFlag } from "../../src/fuse/abi.js";
import { NO_XATTR, type DirSink } from "../../src/server/filesystem.js";
import { entryOfFields } from "../../src/server/dir-sink.js";
import * as sys from "../../src/sys/fs.js";
import { XATTR_CREATE, XATTR_REPLACE } from "../../src/sys/constants.js";
import { ctx, listDir, lseekIn, n, openFdCount, openFs, rejectsErrno, throwsErrno, releaseIn, ROOT, SmallSink } from "./helpers.js";

test("READDIR through a sink of 3 entries at a time lists everything once, resuming at each off", async () => {
  const { fs: pfs, share, cleanup } = await openFs("readdir");
  try {
    const names = Array.from({ length: 40 }, (_, i) => `entry-${i}`);
    for (const name of names) fs.writeFileSync(path.join(share, name), "");
    fs.mkdirSync(path.join(share, "sub"));
    fs.symlinkSync("x", path.join(share, "link"));
    const got = await listDir(pfs, ROOT, 3);
    assert.deepEqual(got.map((e) => e.name).sort(), [".", "..", ...names, "sub", "link"].sort());
    const byName = new Map(got.map((e) => [e.name, e]));
    assert.equal(byName.get("sub")!.type, DirentType.DIR);
    assert.equal(byName.get("link")!.type, DirentType.LNK);
    assert.equal(byName.get("entry-0")!.type, DirentType.REG);
    assert.equal(pfs.stats().nodes, 1, "READDIR counts no lookup");

    // A READDIR at an older offset (seekdir) starts there again.
    const open = await pfs.opendir(ctx(), ROOT, 0);
    const first = new SmallSink(10);
    await pfs.readdir(ctx(), ROOT, open.fh, 0n, first);
    const later = new SmallSink(100);
    await pfs.readdir(ctx(), ROOT, open.fh, first.got[4]!.off, later);
    assert.deepEqual(later.got.map((e) => e.name), got.slice(5).map((e) => e.name));
    const rewound = new SmallSink(2);
    await pfs.readdir(ctx(), ROOT, open.fh, 0n, rewound);
    assert.deepEqual(rewound.got.map((e) => e.name), got.slice(0, 2).map((e) => e.name));
    // LSEEK on the directory handle does not confuse the next READDIR.
    await pfs.lseek(ctx(), ROOT, lseekIn(open.fh, 0n, 0));
    const after = new SmallSink(100);
    await pfs.readdir(ctx(), ROOT, open.fh, rewound.got[1]!.off, after);
    assert.deepEqual(after.got.map((e) => e.name), got.slice(2).map((e) => e.name));
    // A full sink takes nothing.
    const full = new SmallSink(0);
    await pfs.readdir(ctx(), ROOT, open.fh, 0n, full);
    assert.equal(full.got.length, 0);
    await pfs.releasedir(ctx(), ROOT, releaseIn(open.fh));
    await rejectsErrno(pfs.readdir(ctx(), ROOT, open.fh, 0n, new SmallSink(1)), "EBADF");
  } finally {
    await cleanup();
  }
});

test("names handed to a sink stay as they were while other directories are read (two listings interleaved)", async () => {
  const { fs: pfs, share, cleanup } = await openFs("readdir-two");
  try {
    for (const d of ["a", "b"]) {
      fs.mkdirSync(path.join(share, d));
      for (let i = 0; i < 30; i++) fs.writeFileSync(path.join(share, d, `${d}-${"x".repeat(i)}`), "");
    }
    const a = await pfs.lookup(ctx(), ROOT, n("a"));
    const b = await pfs.lookup(ctx(), ROOT, n("b"));
    const ha = await pfs.opendir(ctx(), a.nodeid, 0);
    const hb = await pfs.opendir(ctx(), b.nodeid, 0);
    // Keeps the entries themselves: their names are whatever memory the file system handed out
    // (each directory's first read takes all of it, so no later read of its own writes over them).
    const kept: { dir: string; name: Uint8Array; off: bigint }[] = [];
    const sink = (dir: string, room: number): DirSink => ({
      add(entry) {
        if (room === 0) return false;
        room--;
        kept.push({ dir, name: entry.name, off: entry.off });
        return true;
      },
      addFields(src, inoAt, offAt, type, nameAt, nameLength) {
        return this.add(entryOfFields(src, inoAt, offAt, type, nameAt, nameLength));
      },
      addPlus: () => false,
    });
    const offs = { a: 0n, b: 0n };
    for (let round = 0; round < 20; round++) {
      for (const [dir, h, node] of [["a", ha, a], ["b", hb, b]] as const) {
        const before = kept.length;
        await pfs.readdir(ctx(), node.nodeid, h.fh, offs[dir], sink(dir, 4));
        if (kept.length > before) offs[dir] = kept[kept.length - 1]!.off;
      }
    }
    for (const d of ["a", "b"]) {
      const names = kept.filter((k) => k.dir === d).map((k) => Buffer.from(k.name).toString());
      assert.deepEqual(names.sort(), [".", "..", ...Array.from({ length: 30 }, (_, i) => `${d}-${"x".repeat(i)}`)].sort());
    }
    await pfs.releasedir(ctx(), a.nodeid, releaseIn(ha.fh));
    await pfs.releasedir(ctx(), b.nodeid, releaseIn(hb.fh));
  } finally {
    await cleanup();
  }
});

test("a directory of many reads lists whole through sinks of any size, and after a sink that threw", async () => {
  const { fs: pfs, share, cleanup } = await openFs("readdir-big");
  try {
    // About 96 KiB of getdents64 records: three reads, whose buffers the cursor reuses.
    const names = Array.from({ length: 1500 }, (_, i) => `entry-${String(i).padStart(5, "0")}-${"n".repeat(i % 50)}`);
    for (const name of names) fs.writeFileSync(path.join(share, name), "");
    const want = [".", "..", ...names].sort();
    for (const capacity of [1, 7, 700, 5000]) {
      const got = (await listDir(pfs, ROOT, capacity)).map((e) => e.name);
      assert.deepEqual([...got].sort(), want, `sinks of ${capacity}`);
    }
    // A READDIR whose sink throws after taking 200 entries (past the end of the cursor's first
    // read) fails; the client never got those, and a READDIR at the offset it had (that of the
    // last entry of the READDIR before) lists them.
    const open = await pfs.opendir(ctx(), ROOT, 0);
    const seen: string[] = [];
    let offset = 0n;
    const sinkOf = (take: number, thenThrow: boolean): DirSink & { got: { name: string; off: bigint }[] } => ({
      got: [],
      add(entry) {
        if (this.got.length === take) {
          if (thenThrow) throw new Error("sink failure");
          return false;
        }
        this.got.push({ name: Buffer.from(entry.name).toString(), off: entry.off });
        return true;
      },
      addFields(src, inoAt, offAt, type, nameAt, nameLength) {
        return this.add(entryOfFields(src, inoAt, offAt, type, nameAt, nameLength));
      },
      addPlus: () => false,
    });
    const first = sinkOf(500, false);
    await pfs.readdir(ctx(), ROOT, open.fh, 0n, first);
    seen.push(...first.got.map((e) => e.name));
    offset = first.got[first.got.length - 1]!.off;
    await assert.rejects(Promise.resolve(pfs.readdir(ctx(), ROOT, open.fh, offset, sinkOf(200, true))), /sink failure/);
    for (;;) {
      const sink = new SmallSink(333);
      await pfs.readdir(ctx(), ROOT, open.fh, offset, sink);
      if (sink.got.length === 0) break;
      seen.push(...sink.got.map((e) => e.name));
      offset = sink.got[sink.got.length - 1]!.off;
    }
    assert.deepEqual([...seen].sort(), want);
    await pfs.releasedir(ctx(), ROOT, releaseIn(open.fh));
  } finally {
    await cleanup();
  }
});

test("READDIRPLUS counts a lookup only for entries the sink accepted; '.' and '..' come without attributes", async () => {
  const { fs: pfs, share, cleanup } = await openFs("plus");
  try {
    for (let i = 0; i < 7; i++) fs.writeFileSync(path.join(share, `f${i}`), "x".repeat(i));
    const fds = openFdCount();
    const got = await listDir(pfs, ROOT, 2, true);
    assert.equal(got.length, 9);
    for (const e of got) {
      if (e.name === "." || e.name === "..") {
        assert.equal(e.entry, undefined);
        continue;
      }
      assert.ok(e.entry, e.name);
      assert.equal(e.entry!.attr.size, BigInt(Number(e.name.slice(1))));
      assert.equal(e.entry!.attr.ino, BigInt(fs.statSync(path.join(share, e.name)).ino));
    }
    assert.equal(pfs.stats().nodes, 8, "one node per file entry sent");
    assert.equal(openFdCount(), fds + 7, "and no fd for the entries refused along the way");
    // Each accepted entry counted exactly one lookup: one FORGET each closes them all.
    for (const e of got) if (e.entry) pfs.forget(e.entry.nodeid, 1n);
    assert.equal(pfs.stats().nodes, 1);
    assert.equal(pfs.stats().retained, 7, "their fds retained for a new lookup");
    assert.equal(openFdCount(), fds + 7);
  } finally {
    await cleanup();
  }
});

for (const getxattrat of [true, false]) {
  const how = getxattrat ? "getxattrat(2)" : "getxattr(2) from /proc/self/fd, as before Linux 6.13";
  test(`extended attributes: set, get (${how}), list, remove; CREATE/REPLACE flags; a symlink's own attributes`, async () => {
    sys.useGetxattrat(getxattrat);
    try {
      await xattrRoundTrip();
    } finally {
      sys.useGetxattrat(true);
    }
  });
}

async function xattrRoundTrip(): Promise<void> {
  const { fs: pfs, share, cleanup } = await openFs("xattr");
  try {
    fs.writeFileSync(path.join(share, "f"), "");
    const f = await pfs.lookup(ctx(), ROOT, n("f"));
    await pfs.setxattr(ctx(), f.nodeid, n("user.colour"), n("blue"), 0, 0);
    await pfs.setxattr(ctx(), f.nodeid, n("user.empty"), new Uint8Array(0), 0, 0);
    assert.equal(Buffer.from(await pfs.getxattr(ctx(), f.nodeid, n("user.colour"))).toString(), "blue");
    assert.equal((await pfs.getxattr(ctx(), f.nodeid, n("user.empty"))).length, 0);
    const list = Buffer.from(await pfs.listxattr(ctx(), f.nodeid)).toString();
    assert.deepEqual(list.split("\0").filter(Boolean).sort(), ["user.colour", "user.empty"]);
    assert.ok(list.endsWith("\0"));
    await rejectsErrno(pfs.setxattr(ctx(), f.nodeid, n("user.colour"), n("red"), XATTR_CREATE, 0), "EEXIST");
    await rejectsErrno(pfs.setxattr(ctx(), f.nodeid, n("user.none"), n("red"), XATTR_REPLACE, 0), "ENODATA");
    await rejectsErrno(pfs.setxattr(ctx(), f.nodeid, n("user.x"), n("red"), 4, 0), "EINVAL");
    await pfs.removexattr(ctx(), f.nodeid, n("user.colour"));
    assert.equal(pfs.getxattr(ctx(), f.nodeid, n("user.colour")), NO_XATTR, "not set: ENODATA without an exception");
    throwsErrno(() => pfs.getxattr(ctx(), f.nodeid, n("bogus.colour")), "EOPNOTSUPP");
    throwsErrno(() => pfs.getxattr(ctx(), f.nodeid, n("user.a\0b")), "EINVAL");
    throwsErrno(() => pfs.getxattr(ctx(), f.nodeid, n("system.posix_acl_access")), "EOPNOTSUPP");
    // Directories have theirs; a symlink's are its own (the kernel refuses user.* there), never its target's.
    await pfs.setxattr(ctx(), ROOT, n("user.dir"), n("d"), 0, 0);
    assert.equal(Buffer.from(await pfs.getxattr(ctx(), ROOT, n("user.dir"))).toString(), "d");
    fs.symlinkSync("f", path.join(share, "l"));
    const l = await pfs.lookup(ctx(), ROOT, n("l"));
    await rejectsErrno(pfs.setxattr(ctx(), l.nodeid, n("user.via-link"), n("x"), 0, 0), "EPERM");
    await pfs.setxattr(ctx(), l.nodeid, n("trusted.on-link"), n("t"), 0, 0);
    assert.equal(Buffer.from(await pfs.getxattr(ctx(), l.nodeid, n("trusted.on-link"))).toString(), "t");
    assert.equal(pfs.getxattr(ctx(), f.nodeid, n("trusted.on-link")), NO_XATTR, "the target did not get it");
  } finally {
    await cleanup();
  }
}

test("without the xattr option every xattr operation is ENOSYS", async () => {
  const { fs: pfs, share, cleanup } = await openFs("noxattr", { xattr: false });
  try {
    fs.writeFileSync(path.join(share, "f"), "");
    const f = await pfs.lookup(ctx(), ROOT, n("f"));
    await rejectsErrno(pfs.setxattr(ctx(), f.nodeid, n("user.a"), n("b"), 0, 0), "ENOSYS");
    throwsErrno(() => pfs.getxattr(ctx(), f.nodeid, n("user.a")), "ENOSYS");
    await rejectsErrno(pfs.listxattr(ctx(), f.nodeid), "ENOSYS");
    await rejectsErrno(pfs.removexattr(ctx(), f.nodeid, n("user.a")), "ENOSYS");
    assert.deepEqual(fs.readdirSync(share), ["f"]);
    // Unrelated to xattrs, but the same minimal share: an access mode of 3 is EINVAL, a
    // directory handle is not a file's, and a directory takes locks as on Linux.
    await rejectsErrno(pfs.open(ctx(), f.nodeid, OpenFlag.O_ACCMODE, 0), "EINVAL");
    const d = await pfs.opendir(ctx(), ROOT, 0);
    const lk = { fh: d.fh, owner: 1n, lk: { start: 0n, end: 0n, type: LockType.F_RDLCK, pid: 1 }, lkFlags: 0 };
    await rejectsErrno(pfs.getlk(ctx(), f.nodeid, lk), "EBADF");
    await pfs.setlk(ctx(), ROOT, lk, false);
    assert.equal((await pfs.getlk(ctx(), ROOT, { ...lk, owner: 2n, lk: { ...lk.lk, type: LockType.F_WRLCK } })).pid, 1);
  } finally {
    await cleanup();
  }
});
