/**
 * Opening, data and attributes: round trips, appends, truncation, times,
 * SUID/SGID clearing, special files, creating as the caller, TMPFILE, STATX,
 * holes, copies, the fd budget and DESTROY.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { AttrFlag, FAttr, FOpen, FUSE_FSYNC_FDATASYNC, FUSE_OPEN_KILL_SUIDGID, OpenFlag, WriteFlag } from "../../src/fuse/abi.js";
import {
  AT_FDCWD,
  AT_SYMLINK_NOFOLLOW,
  FALLOC_FL_KEEP_SIZE,
  S_IFCHR,
  S_IFIFO,
  S_IFMT,
  S_IFREG,
  S_IFSOCK,
  SEEK_DATA,
  SEEK_HOLE,
  STATX_BASIC_STATS,
  STATX_BTIME,
  STATX_MNT_ID,
} from "../../src/sys/constants.js";
import * as sys from "../../src/sys/fs.js";
import { PassthroughFs } from "../../src/passthrough/passthrough.js";
import {
  ALL_FLAGS,
  copyIn,
  ctx,
  defaults,
  fallocateIn,
  flushIn,
  fsyncIn,
  lkIn,
  lseekIn,
  n,
  openFdCount,
  openFs,
  readIn,
  rejectsErrno, throwsErrno,
  releaseIn,
  ROOT,
  scratchDir,
  setattrIn,
  statxIn,
  writeIn,
} from "./helpers.js";

const RW = OpenFlag.O_RDWR;

test("create, write and read back, with scatter/gather lists and a short read at the end", async () => {
  const { fs: pfs, share, cleanup } = await openFs("rw");
  try {
    const c = await pfs.create(ctx(), ROOT, n("f"), RW, 0o644, 0o022, 0);
    assert.equal(c.entry.attr.mode, S_IFREG | 0o644);
    const id = c.entry.nodeid;
    const written = await pfs.write(ctx(), id, writeIn(c.open.fh, 0n, 11), [Buffer.from("hello "), Buffer.from("world")]);
    assert.equal(written, 11);
    assert.equal(fs.readFileSync(path.join(share, "f"), "utf8"), "hello world");
    const a = Buffer.alloc(3);
    const b = Buffer.alloc(100);
    // A target longer than the request is cut to the request's size.
    assert.equal(await pfs.read(ctx(), id, readIn(c.open.fh, 2n, 6), [a, b]), 6);
    assert.equal(a.toString() + b.subarray(0, 3).toString(), "llo wo");
    assert.equal(await pfs.read(ctx(), id, readIn(c.open.fh, 8n, 100), [b]), 3, "short at end of file");
    // Reads straight into a view of a larger buffer (as into guest memory).
    const guest = new Uint8Array(64);
    assert.equal(await pfs.read(ctx(), id, readIn(c.open.fh, 0n, 5), [guest.subarray(10, 20)]), 5);
    assert.equal(Buffer.from(guest.subarray(10, 15)).toString(), "hello");
    await pfs.flush(ctx(), id, flushIn(c.open.fh));
    await pfs.fsync(ctx(), id, fsyncIn(c.open.fh));
    await pfs.fsync(ctx(), id, fsyncIn(c.open.fh, FUSE_FSYNC_FDATASYNC));
    await pfs.release(ctx(), id, releaseIn(c.open.fh));
    // CREATE of an existing name without O_EXCL opens it; with O_EXCL it is EEXIST.
    const again = await pfs.create(ctx(), ROOT, n("f"), RW | OpenFlag.O_TRUNC, 0o600, 0, 0);
    assert.equal(again.entry.nodeid, id);
    assert.equal(fs.statSync(path.join(share, "f")).size, 0);
    await rejectsErrno(pfs.create(ctx(), ROOT, n("f"), RW | OpenFlag.O_EXCL, 0o600, 0, 0), "EEXIST");
    await pfs.release(ctx(), id, releaseIn(again.open.fh));
  } finally {
    await cleanup();
  }
});

test("O_APPEND appends wherever the guest says; page-cache writes keep their offset", async () => {
  const { fs: pfs, share, cleanup } = await openFs("append");
  try {
    fs.writeFileSync(path.join(share, "log"), "0123456789");
    const e = await pfs.lookup(ctx(), ROOT, n("log"));
    const o = await pfs.open(ctx(), e.nodeid, OpenFlag.O_WRONLY | OpenFlag.O_APPEND, 0);
    fs.appendFileSync(path.join(share, "log"), "host");
    await pfs.write(ctx(), e.nodeid, writeIn(o.fh, 10n, 2), [Buffer.from("AB")]);
    assert.equal(fs.readFileSync(path.join(share, "log"), "utf8"), "0123456789hostAB", "appended at the real end");
    await pfs.write(ctx(), e.nodeid, writeIn(o.fh, 0n, 2, WriteFlag.CACHE), [Buffer.from("xy")]);
    assert.equal(fs.readFileSync(path.join(share, "log"), "utf8"), "xy23456789hostAB", "a cache write lands at its offset");
    await pfs.release(ctx(), e.nodeid, releaseIn(o.fh));
    assert.equal(pfs.stats().fds, 2, "the twin fd closed with the handle");
  } finally {
    await cleanup();
  }
});

test("SETATTR: size by path and by handle, mode, owner, explicit and current times; ctime is the host's", async () => {
  const { fs: pfs, share, cleanup } = await openFs("setattr");
  try {
    const file = path.join(share, "f");
    fs.writeFileSync(file, "0123456789");
    const e = await pfs.lookup(ctx(), ROOT, n("f"));
    let out = await pfs.setattr(ctx(), e.nodeid, setattrIn({ valid: FAttr.SIZE, size: 4n }));
    assert.equal(out.attr.size, 4n);
    const o = await pfs.open(ctx(), e.nodeid, RW, 0);
    out = await pfs.setattr(ctx(), e.nodeid, setattrIn({ valid: FAttr.SIZE | FAttr.FH, fh: o.fh, size: 2n }));
    assert.equal(fs.readFileSync(file, "utf8"), "01");
    out = await pfs.setattr(ctx(), e.nodeid, setattrIn({ valid: FAttr.MODE, mode: S_IFREG | 0o640 }));
    assert.equal(fs.statSync(file).mode & 0o7777, 0o640);
    out = await pfs.setattr(ctx(), e.nodeid, setattrIn({ valid: FAttr.UID | FAttr.GID, uid: 1234, gid: 5678 }));
    assert.equal(out.attr.uid, 1234);
    assert.equal(fs.statSync(file).gid, 5678);
    out = await pfs.setattr(
      ctx(),
      e.nodeid,
      setattrIn({ valid: FAttr.ATIME | FAttr.MTIME | FAttr.CTIME, atime: 1_000_000n, atimensec: 5, mtime: 2_000_000n, mtimensec: 7, ctime: 1n }),
    );
    assert.equal(out.attr.atime, 1_000_000n);
    assert.equal(out.attr.atimensec, 5);
    assert.equal(out.attr.mtime, 2_000_000n);
    assert.ok(out.attr.ctime > 1_000_000_000n, "ctime is not settable");
    out = await pfs.setattr(ctx(), e.nodeid, setattrIn({ valid: FAttr.MTIME_NOW | FAttr.MTIME }));
    assert.ok(Math.abs(Number(out.attr.mtime) - Date.now() / 1000) < 10);
    assert.equal(out.attr.atime, 1_000_000n, "atime untouched");
    // A negative time (before 1970) round-trips as the u64 the wire carries.
    out = await pfs.setattr(ctx(), e.nodeid, setattrIn({ valid: FAttr.ATIME, atime: BigInt.asUintN(64, -10n), atimensec: 0 }));
    assert.equal(BigInt.asIntN(64, out.attr.atime), -10n);
    await rejectsErrno(pfs.setattr(ctx(), ROOT, setattrIn({ valid: FAttr.SIZE, size: 0n })), "EISDIR");
    await rejectsErrno(pfs.setattr(ctx(), e.nodeid, setattrIn({ valid: FAttr.SIZE | FAttr.FH, fh: o.fh + 99n, size: 0n })), "EBADF");
    await pfs.release(ctx(), e.nodeid, releaseIn(o.fh));
  } finally {
    await cleanup();
  }
});

test("SUID/SGID: cleared on write by a non-root caller or with KILL_SUIDGID, kept for root; chown clears them", async () => {
  const { fs: pfs, share, cleanup } = await openFs("killpriv");
  try {
    const file = path.join(share, "prog");
    fs.writeFileSync(file, "#!");
    const e = await pfs.lookup(ctx(), ROOT, n("prog"));
    const o = await pfs.open(ctx(), e.nodeid, RW, 0);
    const mode = () => fs.statSync(file).mode & 0o7777;
    const setMode = async (m: number) => pfs.setattr(ctx(), e.nodeid, setattrIn({ valid: FAttr.MODE, mode: m }));

    await setMode(0o6755);
    await pfs.write(ctx(), e.nodeid, writeIn(o.fh, 0n, 1), [Buffer.from("x")]);
    assert.equal(mode(), 0o6755, "root writing without the flag keeps them");
    await pfs.write(ctx({ uid: 1000, gid: 1000 }), e.nodeid, writeIn(o.fh, 0n, 1), [Buffer.from("x")]);
    assert.equal(mode(), 0o755, "a non-root writer clears SUID and SGID (group may execute)");

    await setMode(0o6745);
    await pfs.write(ctx({ uid: 1000 }), e.nodeid, writeIn(o.fh, 0n, 1), [Buffer.from("x")]);
    assert.equal(mode(), 0o2745, "SGID without group execute stays (mandatory-locking bit)");

    await setMode(0o6755);
    await pfs.write(ctx({ uid: 1000 }), e.nodeid, writeIn(o.fh, 0n, 1, WriteFlag.CACHE), [Buffer.from("x")]);
    assert.equal(mode(), 0o6755, "a page-cache writeback clears only when flagged");
    await pfs.write(ctx(), e.nodeid, writeIn(o.fh, 0n, 1, WriteFlag.KILL_SUIDGID), [Buffer.from("x")]);
    assert.equal(mode(), 0o755, "WRITE_KILL_SUIDGID clears them for root too");

    await setMode(0o6755);
    await pfs.setattr(ctx(), e.nodeid, setattrIn({ valid: FAttr.SIZE | FAttr.KILL_SUIDGID, size: 0n }));
    assert.equal(mode(), 0o755, "FATTR_KILL_SUIDGID on truncate");

    await setMode(0o6755);
    const t = await pfs.open(ctx(), e.nodeid, RW | OpenFlag.O_TRUNC, FUSE_OPEN_KILL_SUIDGID);
    assert.equal(mode(), 0o755, "FUSE_OPEN_KILL_SUIDGID with O_TRUNC");
    await pfs.release(ctx(), e.nodeid, releaseIn(t.fh));

    await setMode(0o6755);
    await pfs.setattr(ctx(), e.nodeid, setattrIn({ valid: FAttr.UID | FAttr.GID, uid: 1000, gid: 1000 }));
    assert.equal(mode(), 0o755, "chown clears both");
    await pfs.release(ctx(), e.nodeid, releaseIn(o.fh));
  } finally {
    await cleanup();
  }
});

test("FIFOs, sockets and device nodes can be created but never opened", async () => {
  const { fs: pfs, share, cleanup } = await openFs("special");
  try {
    const fifo = await pfs.mknod(ctx(), ROOT, n("fifo"), S_IFIFO | 0o666, 0, 0);
    assert.equal(fifo.attr.mode & S_IFMT, S_IFIFO);
    const dev = await pfs.mknod(ctx(), ROOT, n("null"), S_IFCHR | 0o666, (1 << 8) | 3, 0);
    assert.equal(dev.attr.mode & S_IFMT, S_IFCHR);
    assert.equal(dev.attr.rdev, (1 << 8) | 3, "rdev 1:3 both ways");
    assert.equal(fs.statSync(path.join(share, "null")).rdev, fs.statSync("/dev/null").rdev);
    const sock = await pfs.mknod(ctx(), ROOT, n("sock"), S_IFSOCK | 0o666, 0, 0);
    for (const node of [fifo, dev, sock]) {
      for (const flags of [OpenFlag.O_RDONLY, OpenFlag.O_WRONLY | OpenFlag.O_NONBLOCK, RW]) {
        await rejectsErrno(pfs.open(ctx(), node.nodeid, flags, 0), "EBADF");
      }
      await rejectsErrno(pfs.setattr(ctx(), node.nodeid, setattrIn({ valid: FAttr.SIZE, size: 0n })), "EBADF");
      await rejectsErrno(pfs.syncfs(ctx(), node.nodeid), "EBADF");
    }
    // Creating over one opens nothing either.
    await rejectsErrno(pfs.create(ctx(), ROOT, n("null"), RW, 0o666, 0, 0), "EBADF");
    assert.equal(pfs.stats().handles, 0);
  } finally {
    await cleanup();
  }
});

test("creates run as the caller: owner, setgid directories, permission checks, umask, no daemon groups", async () => {
  const { fs: pfs, share, cleanup } = await openFs("creds");
  try {
    assert.equal(pfs.createsAsCaller, process.geteuid?.() === 0);
    const user = ctx({ uid: 1000, gid: 1000 });
    fs.chmodSync(share, 0o777);
    if (!pfs.createsAsCaller) {
      // A daemon that is not root creates as itself.
      const own = await pfs.mkdir(user, ROOT, n("own"), 0o777, 0o022);
      assert.equal(own.attr.uid, process.geteuid?.());
      assert.equal(own.attr.mode & 0o7777, 0o755);
      return;
    }
    const f = await pfs.create(user, ROOT, n("mine"), RW, 0o666, 0o022, 0);
    assert.equal(f.entry.attr.uid, 1000);
    assert.equal(f.entry.attr.gid, 1000);
    assert.equal(f.entry.attr.mode & 0o7777, 0o644, "umask applied");
    await pfs.release(user, f.entry.nodeid, releaseIn(f.open.fh));
    const daemonUmask = process.umask();
    const d = await pfs.mkdir(user, ROOT, n("dir"), 0o777, 0o027);
    assert.equal(d.attr.mode & 0o7777, 0o750);
    assert.equal(process.umask(), daemonUmask, "the daemon's umask is back");
    // umask 0 (a client that masked the mode itself): the daemon's own umask takes no bit off.
    const wide = await pfs.create(user, ROOT, n("wide"), RW, 0o666, 0, 0);
    assert.equal(wide.entry.attr.mode & 0o7777, 0o666, "group and other write kept");
    const plain = await pfs.create(user, ROOT, n("plain"), RW, 0o644, 0, 0);
    assert.equal(plain.entry.attr.mode & 0o7777, 0o644);
    assert.equal(process.umask(), daemonUmask);
    const s = await pfs.symlink(user, ROOT, n("link"), n("mine"));
    assert.equal(s.attr.uid, 1000);

    // A setgid directory of group 2000: new entries take its group, subdirectories its setgid bit.
    const sg = path.join(share, "sg");
    fs.mkdirSync(sg);
    fs.chownSync(sg, 0, 2000);
    fs.chmodSync(sg, 0o2777);
    const sgNode = await pfs.lookup(user, ROOT, n("sg"));
    const inSg = await pfs.mknod(user, sgNode.nodeid, n("file"), S_IFREG | 0o644, 0, 0);
    assert.equal(inSg.attr.gid, 2000);
    const subSg = await pfs.mkdir(user, sgNode.nodeid, n("sub"), 0o755, 0);
    assert.equal(subSg.attr.gid, 2000);
    assert.ok(subSg.attr.mode & 0o2000, "setgid inherited by a subdirectory");

    // CVE-2022-0358: in a 03777 root-group directory, a caller outside group 0 cannot keep SGID on its file.
    const cve = path.join(share, "cve");
    fs.mkdirSync(cve);
    fs.chmodSync(cve, 0o3777);
    const cveNode = await pfs.lookup(user, ROOT, n("cve"));
    const exe = await pfs.create(user, cveNode.nodeid, n("exe"), RW, 0o2755, 0, 0);
    assert.equal(exe.entry.attr.gid, 0);
    assert.equal(exe.entry.attr.mode & 0o2000, 0, "SGID dropped: the caller is not in group 0");
    await pfs.release(user, exe.entry.nodeid, releaseIn(exe.open.fh));
    // With the group sent as a supplementary group, it stays.
    const exe2 = await pfs.create(ctx({ uid: 1000, gid: 1000, suppGroup: 0 }), cveNode.nodeid, n("exe2"), RW, 0o2755, 0, 0);
    assert.ok(exe2.entry.attr.mode & 0o2000);
    await pfs.release(user, exe2.entry.nodeid, releaseIn(exe2.open.fh));

    // The host checks the caller's permissions: a root-owned 0755 directory is closed to uid 1000.
    fs.mkdirSync(path.join(share, "closed"), 0o755);
    const closed = await pfs.lookup(user, ROOT, n("closed"));
    await rejectsErrno(pfs.mkdir(user, closed.nodeid, n("x"), 0o755, 0), "EACCES");
    await rejectsErrno(pfs.create(user, closed.nodeid, n("x"), RW, 0o644, 0, 0), "EACCES");
    await rejectsErrno(pfs.mknod(user, ROOT, n("dev"), S_IFCHR | 0o666, (1 << 8) | 3, 0), "EPERM", "no CAP_MKNOD for a user");
    // The daemon's own credentials are back afterwards.
    const mine = await pfs.mkdir(ctx(), closed.nodeid, n("root-made"), 0o755, 0);
    assert.equal(mine.attr.uid, 0);
    assert.equal(process.getuid?.(), 0);
  } finally {
    await cleanup();
  }
});

test("TMPFILE: an unnamed file, writable, that LINK can name; STATX reports a birth time", async () => {
  const { fs: pfs, share, cleanup } = await openFs("tmpfile");
  try {
    const before = Date.now() / 1000;
    const tmp = await pfs.tmpfile(ctx(), ROOT, RW, 0o600, 0);
    assert.equal(tmp.entry.attr.nlink, 0);
    assert.deepEqual(fs.readdirSync(share), []);
    await pfs.write(ctx(), tmp.entry.nodeid, writeIn(tmp.open.fh, 0n, 4), [Buffer.from("temp")]);
    const named = await pfs.link(ctx(), tmp.entry.nodeid, ROOT, n("named"));
    assert.equal(named.nodeid, tmp.entry.nodeid);
    assert.equal(fs.readFileSync(path.join(share, "named"), "utf8"), "temp");
    const sx = await pfs.statx(ctx(), tmp.entry.nodeid, statxIn(STATX_BTIME));
    assert.ok(sx.stat.mask & STATX_BTIME, "the host file system keeps birth times");
    assert.ok(Math.abs(Number(sx.stat.btime.tvSec) - before) < 10);
    assert.equal(sx.stat.size, 4n);
    assert.equal(sx.stat.nlink, 1);
    await pfs.release(ctx(), tmp.entry.nodeid, releaseIn(tmp.open.fh));
    await rejectsErrno(pfs.tmpfile(ctx(), ROOT, OpenFlag.O_RDONLY, 0o600, 0), "EINVAL");
  } finally {
    await cleanup();
  }
});

test("FALLOCATE, LSEEK with SEEK_DATA/SEEK_HOLE, COPY_FILE_RANGE, STATFS, SYNCFS, ACCESS", async () => {
  const { fs: pfs, share, cleanup } = await openFs("data");
  try {
    const a = await pfs.create(ctx(), ROOT, n("sparse"), RW, 0o644, 0, 0);
    const id = a.entry.nodeid;
    const MiB = 1n << 20n;
    await pfs.setattr(ctx(), id, setattrIn({ valid: FAttr.SIZE, size: 8n * MiB }));
    await pfs.write(ctx(), id, writeIn(a.open.fh, 4n * MiB, 4), [Buffer.from("data")]);
    assert.equal(await pfs.lseek(ctx(), id, lseekIn(a.open.fh, 0n, SEEK_DATA)), 4n * MiB);
    const hole = await pfs.lseek(ctx(), id, lseekIn(a.open.fh, 4n * MiB, SEEK_HOLE));
    assert.ok(hole > 4n * MiB && hole < 8n * MiB);
    await rejectsErrno(pfs.lseek(ctx(), id, lseekIn(a.open.fh, 8n * MiB, SEEK_DATA)), "ENXIO");
    await pfs.fallocate(ctx(), id, fallocateIn(a.open.fh, 8n * MiB, MiB, FALLOC_FL_KEEP_SIZE));
    assert.equal(fs.statSync(path.join(share, "sparse")).size, Number(8n * MiB), "KEEP_SIZE");
    assert.ok(fs.statSync(path.join(share, "sparse")).blocks >= 2048);

    const b = await pfs.create(ctx(), ROOT, n("copy"), RW, 0o644, 0, 0);
    const copied = await pfs.copyFileRange(
      ctx(),
      id,
      copyIn({ fhIn: a.open.fh, offIn: 4n * MiB, nodeidOut: b.entry.nodeid, fhOut: b.open.fh, offOut: 1n, len: 4n }),
    );
    assert.equal(copied, 4);
    assert.equal(fs.readFileSync(path.join(share, "copy"), "latin1"), "\0data");
    await rejectsErrno(
      pfs.copyFileRange(ctx(), id, copyIn({ fhIn: a.open.fh, nodeidOut: id, fhOut: b.open.fh, len: 4n })),
      "EBADF",
      "the output handle must belong to nodeidOut",
    );

    const st = await pfs.statfs(ctx(), ROOT);
    assert.ok(st.blocks > 0n && st.bsize > 0 && st.namelen === 255);
    await pfs.syncfs(ctx(), ROOT);
    await pfs.access(ctx(), id, 4 | 2);
    await pfs.setattr(ctx(), id, setattrIn({ valid: FAttr.MODE, mode: 0o600 }));
    await rejectsErrno(pfs.access(ctx({ uid: 1000, gid: 1000 }), id, 4), "EACCES");
    await rejectsErrno(pfs.access(ctx(), id, 1), "EACCES", "root may execute only what someone may");
    await pfs.access(ctx({ uid: 1000 }), id, 0);
    await pfs.release(ctx(), id, releaseIn(a.open.fh));
    await pfs.release(ctx(), b.entry.nodeid, releaseIn(b.open.fh));
  } finally {
    await cleanup();
  }
});

test("cache modes map to timeouts and FOPEN flags", async () => {
  const cases = [
    { cache: "never", timeout: 0n, file: FOpen.DIRECT_IO, dir: 0 },
    { cache: "auto", timeout: 1n, file: 0, dir: 0 },
    { cache: "metadata", timeout: 86400n, file: FOpen.DIRECT_IO, dir: FOpen.CACHE_DIR | FOpen.KEEP_CACHE },
    { cache: "always", timeout: 86400n, file: FOpen.KEEP_CACHE, dir: FOpen.CACHE_DIR | FOpen.KEEP_CACHE },
  ] as const;
  for (const c of cases) {
    const { fs: pfs, cleanup } = await openFs(`cache-${c.cache}`, { cache: c.cache });
    try {
      const f = await pfs.create(ctx(), ROOT, n("f"), RW, 0o644, 0, 0);
      assert.equal(f.entry.entryValid, c.timeout, c.cache);
      assert.equal(f.entry.attrValid, c.timeout, c.cache);
      // FOPEN_NOFLUSH depends on the file system /tmp is on (see flush.test.ts).
      assert.equal(f.open.openFlags & ~FOpen.NOFLUSH, c.file, `${c.cache} file`);
      const d = await pfs.opendir(ctx(), ROOT, 0);
      assert.equal(d.openFlags, c.dir, `${c.cache} dir`);
      assert.equal((await pfs.getattr(ctx(), ROOT, undefined)).attrValid, c.timeout);
    } finally {
      await cleanup();
    }
  }
});

test("the fd budget: past it LOOKUP, OPEN and locks are ENFILE; freeing fds makes room again", async () => {
  const { fs: pfs, share, cleanup } = await openFs("budget", { fdBudget: 3 });
  try {
    for (const name of ["a", "b", "c"]) fs.writeFileSync(path.join(share, name), name);
    const a = await pfs.lookup(ctx(), ROOT, n("a")); // root + a
    const oa = await pfs.open(ctx(), a.nodeid, RW, 0); // + handle = 3
    throwsErrno(() => pfs.lookup(ctx(), ROOT, n("b")), "ENFILE");
    await rejectsErrno(pfs.open(ctx(), a.nodeid, RW, 0), "ENFILE");
    await rejectsErrno(pfs.opendir(ctx(), ROOT, 0), "ENFILE");
    await rejectsErrno(pfs.setlk(ctx(), a.nodeid, lkIn(oa.fh, 1n, 1, 0n, 0n, 1), false), "ENFILE", "a lock owner's fd");
    await rejectsErrno(pfs.create(ctx(), ROOT, n("d"), RW, 0o644, 0, 0), "ENFILE");
    assert.equal(fs.existsSync(path.join(share, "d")), true, "the file was made; only the node could not be");
    assert.equal((await pfs.lookup(ctx(), ROOT, n("a"))).nodeid, a.nodeid, "a known inode costs no fd");
    assert.deepEqual(pfs.stats(), { nodes: 2, handles: 1, fds: 3, retained: 0 });
    await pfs.release(ctx(), a.nodeid, releaseIn(oa.fh));
    const b = await pfs.lookup(ctx(), ROOT, n("b"));
    throwsErrno(() => pfs.lookup(ctx(), ROOT, n("c")), "ENFILE");
    pfs.forget(b.nodeid, 1n);
    assert.deepEqual(pfs.stats(), { nodes: 2, handles: 0, fds: 2, retained: 1 }, "b's fd is retained, in the budget");
    await pfs.lookup(ctx(), ROOT, n("c"));
    assert.deepEqual(pfs.stats(), { nodes: 3, handles: 0, fds: 3, retained: 0 }, "and closed to make room for c");
  } finally {
    await cleanup();
  }
});

test("DESTROY closes every fd of the session; INIT starts a new one", async () => {
  const scratch = scratchDir("destroy");
  try {
    const share = path.join(scratch.dir, "share");
    fs.mkdirSync(share);
    fs.mkdirSync(path.join(share, "d"));
    fs.writeFileSync(path.join(share, "f"), "f");
    const base = openFdCount();
    const pfs = new PassthroughFs({ ...defaults, root: share });
    await pfs.init({ minor: 38, clientFlags: ALL_FLAGS });
    const f = await pfs.lookup(ctx(), ROOT, n("f"));
    const d = await pfs.lookup(ctx(), ROOT, n("d"));
    const of = await pfs.open(ctx(), f.nodeid, RW, 0);
    await pfs.opendir(ctx(), d.nodeid, 0);
    await pfs.setlk(ctx(), f.nodeid, lkIn(of.fh, 7n, 1, 0n, 10n, 1), false);
    await pfs.write(ctx(), f.nodeid, writeIn(of.fh, 0n, 1, WriteFlag.CACHE), [Buffer.from("x")]);
    assert.ok(openFdCount() >= base + 6);
    await pfs.destroy();
    assert.equal(openFdCount(), base, "no fd left behind");
    assert.deepEqual(pfs.stats(), { nodes: 0, handles: 0, fds: 0, retained: 0 });
    await rejectsErrno(pfs.getattr(ctx(), f.nodeid, undefined), "EBADF");
    await rejectsErrno(pfs.read(ctx(), f.nodeid, readIn(of.fh, 0n, 1), [Buffer.alloc(1)]), "EBADF");
    await pfs.init({ minor: 38, clientFlags: ALL_FLAGS });
    assert.equal((await pfs.lookup(ctx(), ROOT, n("f"))).attr.size, 1n);
    await pfs.destroy();
    assert.equal(openFdCount(), base);
  } finally {
    scratch.remove();
  }
});

test("RELEASE during a READ in flight: the read finishes on its own fd, which closes afterwards", async () => {
  const { fs: pfs, share, cleanup } = await openFs("pinned");
  try {
    fs.writeFileSync(path.join(share, "f"), Buffer.alloc(1 << 20, 7));
    const e = await pfs.lookup(ctx(), ROOT, n("f"));
    const base = openFdCount();
    const o = await pfs.open(ctx(), e.nodeid, OpenFlag.O_RDONLY, 0);
    const buffer = Buffer.alloc(1 << 20);
    const reading = pfs.read(ctx(), e.nodeid, readIn(o.fh, 0n, buffer.length), [buffer]);
    await pfs.release(ctx(), e.nodeid, releaseIn(o.fh));
    assert.equal(pfs.stats().handles, 0, "the handle is gone at once");
    assert.equal(openFdCount(), base + 1, "but its fd stays open while the read runs");
    // Another file opened now must not get the read's fd number.
    const other = await pfs.create(ctx(), ROOT, n("other"), RW, 0o644, 0, 0);
    assert.equal(await reading, 1 << 20);
    assert.ok(buffer.every((b) => b === 7));
    await pfs.release(ctx(), other.entry.nodeid, releaseIn(other.open.fh));
    pfs.forget(other.entry.nodeid, 1n);
    assert.equal(pfs.stats().retained, 1, "other's O_PATH fd is retained");
    assert.equal(openFdCount(), base + 1);
  } finally {
    await cleanup();
  }
});

test("announceSubmounts marks directories on another device or mount, and only then", async () => {
  const root = "/";
  const children = fs.readdirSync(root).filter((name) => {
    const st = fs.lstatSync(path.join(root, name));
    return st.isDirectory();
  });
  const rootSt = sys.statx(AT_FDCWD, root, 0, STATX_BASIC_STATS | STATX_MNT_ID);
  for (const announce of [true, false]) {
    const pfs = new PassthroughFs({ ...defaults, root, announceSubmounts: announce });
    try {
      await pfs.init({ minor: 38, clientFlags: ALL_FLAGS });
      let marked = 0;
      for (const name of children) {
        const st = sys.statx(AT_FDCWD, path.join(root, name), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_MNT_ID);
        const other = st.devMajor !== rootSt.devMajor || st.devMinor !== rootSt.devMinor || st.mntId !== rootSt.mntId;
        const e = await pfs.lookup(ctx(), ROOT, n(name));
        assert.equal(e.attr.flags, announce && other ? AttrFlag.SUBMOUNT : 0, name);
        if (e.attr.flags) marked++;
        pfs.forget(e.nodeid, 1n);
      }
      if (announce) assert.ok(marked > 0, "/proc at least is another mount");
    } finally {
      await pfs.destroy();
    }
  }
});
