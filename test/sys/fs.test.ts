import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as sys from "../../src/sys/fs.js";
import {
  AT_EMPTY_PATH,
  AT_FDCWD,
  AT_REMOVEDIR,
  AT_SYMLINK_FOLLOW,
  AT_SYMLINK_NOFOLLOW,
  F_RDLCK,
  F_UNLCK,
  F_WRLCK,
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  LOCK_EX,
  LOCK_SH,
  LOCK_UN,
  O_CREAT,
  O_DIRECTORY,
  O_NOFOLLOW,
  O_PATH,
  O_RDONLY,
  O_RDWR,
  O_WRONLY,
  RENAME_EXCHANGE,
  RENAME_NOREPLACE,
  RESOLVE_BENEATH,
  RESOLVE_IN_ROOT,
  RESOLVE_NO_MAGICLINKS,
  RESOLVE_NO_SYMLINKS,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  SEEK_DATA,
  SEEK_HOLE,
  STATX_BTIME,
  STATX_INO,
  STATX_TYPE,
  XATTR_CREATE,
  XATTR_REPLACE,
} from "../../src/sys/constants.js";
import { ErrnoError } from "../../src/common/errors.js";

/** A scratch directory on the root file system (ext4 here; /tmp is the same file system, with user xattrs). */
function scratch(t: { after(fn: () => void): void }): { path: string; fd: number } {
  const path = mkdtempSync(join(tmpdir(), "viofs-sys-"));
  const fd = sys.openat(AT_FDCWD, path, O_PATH | O_DIRECTORY);
  t.after(() => {
    closeSync(fd);
    rmSync(path, { recursive: true, force: true });
  });
  return { path, fd };
}

function errnoIs(name: string, call?: string) {
  return (e: unknown) => ErrnoError.is(e) && e.errnoName === name && (call === undefined || e.syscall === call);
}

test("openat2 RESOLVE_BENEATH refuses .. and absolute symlinks", (t) => {
  const { path, fd } = scratch(t);
  mkdirSync(join(path, "root/sub"), { recursive: true });
  writeFileSync(join(path, "root/sub/file"), "inside");
  writeFileSync(join(path, "outside"), "outside");
  symlinkSync("/etc/hostname", join(path, "root/abs"));
  symlinkSync("../outside", join(path, "root/up"));
  symlinkSync("sub/file", join(path, "root/rel"));
  const root = sys.openat(fd, "root", O_PATH | O_DIRECTORY | O_NOFOLLOW);
  try {
    const ok = sys.openat2(root, "sub/../sub/file", { flags: O_RDONLY, resolve: RESOLVE_BENEATH });
    assert.equal(readFileSync(ok, "utf8"), "inside");
    closeSync(ok);
    assert.throws(() => sys.openat2(root, "../outside", { flags: O_RDONLY, resolve: RESOLVE_BENEATH }), errnoIs("EXDEV", "openat2"));
    assert.throws(() => sys.openat2(root, "abs", { flags: O_RDONLY, resolve: RESOLVE_BENEATH }), errnoIs("EXDEV"));
    assert.throws(() => sys.openat2(root, "up", { flags: O_RDONLY, resolve: RESOLVE_BENEATH }), errnoIs("EXDEV"));
    assert.throws(() => sys.openat2(root, "/etc/hostname", { flags: O_RDONLY, resolve: RESOLVE_BENEATH }), errnoIs("EXDEV"));
    // RESOLVE_IN_ROOT: ".." stops at the root, so "../sub/file" is the root's own sub/file
    const inRoot = sys.openat2(root, "../sub/file", { flags: O_RDONLY, resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS });
    assert.equal(readFileSync(inRoot, "utf8"), "inside");
    closeSync(inRoot);
    assert.throws(() => sys.openat2(root, "rel", { flags: O_RDONLY, resolve: RESOLVE_NO_SYMLINKS }), errnoIs("ELOOP"));
    assert.throws(
      () => sys.openat2(AT_FDCWD, `/proc/self/fd/${root}`, { flags: O_PATH, resolve: RESOLVE_NO_MAGICLINKS }),
      errnoIs("ELOOP"),
    );
    assert.throws(() => sys.openat2(root, "missing", { flags: O_RDONLY }), (e: unknown) =>
      ErrnoError.is(e) && e.errnoName === "ENOENT" && e.path === "missing" && e.message.includes("openat2"),
    );
  } finally {
    closeSync(root);
  }
});

test("statx returns a birth time on this machine's file system, also for an O_PATH fd", (t) => {
  const { path, fd } = scratch(t);
  const before = BigInt(Math.floor(Date.now() / 1000)) - 1n;
  writeFileSync(join(path, "f"), "12345");
  const inode = sys.openat(fd, "f", O_PATH | O_NOFOLLOW);
  try {
    const st = sys.statx(inode, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
    assert.ok(st.mask & STATX_BTIME, `mask ${st.mask.toString(16)} has STATX_BTIME`);
    assert.ok(st.btime);
    assert.ok(st.btime.sec >= before, `btime ${st.btime.sec} >= ${before}`);
    assert.ok(st.btime.nsec >= 0 && st.btime.nsec < 1e9);
    assert.equal(st.size, 5n);
    assert.equal(st.mode & S_IFMT, S_IFREG);
    assert.equal(st.ino, BigInt(statSync(join(path, "f")).ino));
    const st2 = sys.fstatat(fd, "f", AT_SYMLINK_NOFOLLOW);
    assert.equal(st2.ino, st.ino);
    assert.equal(st2.mtime.sec, st.mtime.sec);
    assert.equal(st2.mtime.nsec, st.mtime.nsec);
    const partial = sys.statx(fd, "f", AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_INO);
    assert.ok(partial.mask & STATX_INO);
    const fs = sys.fstatfs(inode);
    assert.equal(fs.type, 0xef53); // EXT4_SUPER_MAGIC
    assert.ok(fs.bsize > 0 && fs.namelen === 255);
  } finally {
    closeSync(inode);
  }
});

test("*at calls on O_PATH inodes: mkdir, mknod, link, symlink, readlink, chmod, chown, utimens, unlink", (t) => {
  const { path, fd } = scratch(t);
  sys.mkdirat(fd, "d", 0o750);
  const d = sys.openat(fd, "d", O_PATH | O_DIRECTORY | O_NOFOLLOW);
  try {
    assert.equal(sys.statx(d, "", AT_EMPTY_PATH).mode & ~S_IFMT & ~0o022, 0o750 & ~0o022);
    sys.mknodat(d, "fifo", S_IFIFO | 0o600);
    assert.equal(sys.fstatat(d, "fifo", AT_SYMLINK_NOFOLLOW).mode & S_IFMT, S_IFIFO);
    sys.mknodat(d, "reg", S_IFREG | 0o644);
    // a name that is not UTF-8
    const latin1 = Buffer.from([0x63, 0xe9, 0x74, 0xe9]);
    sys.symlinkat(Buffer.from([0x2e, 0x2f, 0xff]), d, latin1);
    const link = sys.openat(d, latin1, O_PATH | O_NOFOLLOW);
    assert.deepEqual([...sys.readlinkat(link, "")], [0x2e, 0x2f, 0xff]);
    assert.equal(sys.statx(link, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW).mode & S_IFMT, S_IFLNK);
    closeSync(link);
    assert.ok(readdirSync(join(path, "d"), { encoding: "buffer" }).some((n) => n.equals(latin1)));

    const reg = sys.openat(d, "reg", O_PATH | O_NOFOLLOW);
    sys.fchmodat(reg, "", 0o604, AT_EMPTY_PATH);
    assert.equal(sys.statx(reg, "", AT_EMPTY_PATH).mode & 0o7777, 0o604);
    sys.fchownat(reg, "", 1234, 5678, AT_EMPTY_PATH);
    let st = sys.statx(reg, "", AT_EMPTY_PATH);
    assert.equal(st.uid, 1234);
    assert.equal(st.gid, 5678);
    sys.fchownat(reg, "", -1, 0, AT_EMPTY_PATH);
    assert.equal(sys.statx(reg, "", AT_EMPTY_PATH).uid, 1234);
    const mtime = sys.statx(reg, "", AT_EMPTY_PATH).mtime;
    sys.utimensat(reg, "", 1_000_000_000_123_456_789n, "omit", AT_EMPTY_PATH);
    st = sys.statx(reg, "", AT_EMPTY_PATH);
    assert.deepEqual(st.atime, { sec: 1_000_000_000n, nsec: 123_456_789 });
    assert.deepEqual(st.mtime, mtime);
    sys.utimensat(d, "reg", "omit", { sec: -1n, nsec: 5 }, AT_SYMLINK_NOFOLLOW);
    assert.deepEqual(sys.statx(reg, "", AT_EMPTY_PATH).mtime, { sec: -1n, nsec: 5 });
    sys.utimensat(reg, "", "now", "now", AT_EMPTY_PATH);
    assert.ok(sys.statx(reg, "", AT_EMPTY_PATH).mtime.sec > 1_000_000_000n);

    // hard link of the O_PATH inode through its /proc/self/fd magic link
    sys.linkat(AT_FDCWD, `/proc/self/fd/${reg}`, d, "hard", AT_SYMLINK_FOLLOW);
    assert.equal(sys.statx(reg, "", AT_EMPTY_PATH).nlink, 2);
    sys.unlinkat(d, "hard");
    sys.unlinkat(d, "fifo");
    sys.mkdirat(d, "empty", 0o700);
    assert.throws(() => sys.unlinkat(d, "empty"), errnoIs("EISDIR", "unlinkat"));
    sys.unlinkat(d, "empty", AT_REMOVEDIR);
    assert.throws(() => sys.mkdirat(d, "reg", 0o700), errnoIs("EEXIST", "mkdirat"));
    closeSync(reg);
    const old = sys.umask(0o027);
    assert.equal(sys.umask(old), 0o027);
    assert.equal(sys.major(sys.makedev(259, 70000)), 259);
    assert.equal(sys.minor(sys.makedev(259, 70000)), 70000);
    assert.equal(sys.statx(d, "", AT_EMPTY_PATH).mode & S_IFMT, S_IFDIR);
  } finally {
    closeSync(d);
  }
});

test("reopen turns an O_PATH fd into an fd for I/O", (t) => {
  const { path, fd } = scratch(t);
  writeFileSync(join(path, "f"), "hello");
  const inode = sys.openat(fd, "f", O_PATH | O_NOFOLLOW);
  assert.throws(() => readFileSync(inode), /EBADF/);
  const io = sys.reopen(inode, O_RDWR | O_NOFOLLOW);
  try {
    const b = Buffer.alloc(5);
    readSync(io, b, 0, 5, 0);
    assert.equal(b.toString(), "hello");
    assert.ok(sys.procSelfFd() >= 0);
  } finally {
    closeSync(io);
    closeSync(inode);
  }
});

test("renameat2 RENAME_NOREPLACE and RENAME_EXCHANGE", (t) => {
  const { path, fd } = scratch(t);
  writeFileSync(join(path, "a"), "A");
  writeFileSync(join(path, "b"), "B");
  assert.throws(() => sys.renameat2(fd, "a", fd, "b", RENAME_NOREPLACE), errnoIs("EEXIST", "renameat2"));
  sys.renameat2(fd, "a", fd, "b", RENAME_EXCHANGE);
  assert.equal(readFileSync(join(path, "a"), "utf8"), "B");
  assert.equal(readFileSync(join(path, "b"), "utf8"), "A");
  assert.throws(() => sys.renameat2(fd, "a", fd, "c", RENAME_EXCHANGE), errnoIs("ENOENT"));
  sys.renameat2(fd, "a", fd, "c", RENAME_NOREPLACE);
  assert.equal(readFileSync(join(path, "c"), "utf8"), "B");
  sys.renameat2(fd, "c", fd, "b");
  assert.equal(readFileSync(join(path, "b"), "utf8"), "B");
});

test("xattrs: set, get, list, remove on a real fd and on an O_PATH fd", (t) => {
  const { path, fd } = scratch(t);
  writeFileSync(join(path, "f"), "");
  const io = sys.openat(fd, "f", O_RDONLY);
  const inode = sys.openat(fd, "f", O_PATH | O_NOFOLLOW);
  try {
    sys.fsetxattr(io, "user.viofs.a", Buffer.from("one"));
    sys.procSetxattr(inode, "user.viofs.b", Buffer.alloc(2000, 7));
    assert.throws(() => sys.fsetxattr(io, "user.viofs.a", Buffer.from("x"), XATTR_CREATE), errnoIs("EEXIST", "fsetxattr"));
    assert.throws(() => sys.fsetxattr(io, "user.viofs.z", Buffer.from("x"), XATTR_REPLACE), errnoIs("ENODATA"));
    assert.equal(sys.fgetxattr(io, "user.viofs.a").toString(), "one");
    assert.equal(sys.procGetxattr(inode, "user.viofs.a").toString(), "one");
    assert.deepEqual(sys.fgetxattr(io, "user.viofs.b"), Buffer.alloc(2000, 7));
    sys.fsetxattr(io, "user.viofs.empty", Buffer.alloc(0));
    assert.equal(sys.fgetxattr(io, "user.viofs.empty").length, 0);
    assert.deepEqual(sys.flistxattr(io).sort(), ["user.viofs.a", "user.viofs.b", "user.viofs.empty"]);
    assert.deepEqual(sys.procListxattr(inode).sort(), ["user.viofs.a", "user.viofs.b", "user.viofs.empty"]);
    assert.equal(sys.flistxattrRaw(io).at(-1), 0);
    assert.throws(() => sys.fgetxattr(inode, "user.viofs.a"), errnoIs("EBADF", "fgetxattr"));
    sys.fremovexattr(io, "user.viofs.a");
    sys.procRemovexattr(inode, "user.viofs.b");
    assert.throws(() => sys.procGetxattr(inode, "user.viofs.b"), errnoIs("ENODATA", "getxattr"));
    assert.throws(() => sys.fremovexattr(io, "user.viofs.a"), errnoIs("ENODATA"));
    assert.deepEqual(sys.flistxattr(io), ["user.viofs.empty"]);
  } finally {
    closeSync(io);
    closeSync(inode);
  }
});

test("OFD locks conflict between two open file descriptions; SETLKW waits off the event loop", async (t) => {
  const { path } = scratch(t);
  writeFileSync(join(path, "f"), "0123456789");
  const one = openSync(join(path, "f"), O_RDWR);
  const two = openSync(join(path, "f"), O_RDWR);
  try {
    sys.ofdSetLock(one, { type: F_WRLCK, start: 0n, length: 5n });
    assert.throws(() => sys.ofdSetLock(two, { type: F_RDLCK, start: 4n, length: 2n }), errnoIs("EAGAIN", "fcntl(F_OFD_SETLK)"));
    sys.ofdSetLock(two, { type: F_WRLCK, start: 5n, length: 0n }); // no overlap
    const conflict = sys.ofdGetLock(two, { type: F_RDLCK, start: 0n, length: 1n });
    assert.equal(conflict.type, F_WRLCK);
    assert.equal(conflict.start, 0n);
    assert.equal(conflict.length, 5n);
    assert.equal(conflict.pid, -1);
    assert.equal(sys.ofdGetLock(one, { type: F_WRLCK, start: 0n, length: 5n }).type, F_UNLCK);

    let ticks = 0;
    const timer = setInterval(() => (ticks += 1), 5);
    const waited = sys.ofdSetLockWait(two, { type: F_WRLCK, start: 0n, length: 1n });
    setTimeout(() => sys.ofdSetLock(one, { type: F_UNLCK, start: 0n, length: 0n }), 50);
    await waited;
    clearInterval(timer);
    // The release itself runs from a timer of this event loop: had SETLKW blocked the loop, `waited`
    // would never settle. The interval shows the loop ran meanwhile; how often depends on the load
    // (2 busy cores coalesce 5 ms timers), so only "at least once" is a fact to assert.
    assert.ok(ticks >= 1, `timer fired ${ticks} times while SETLKW waited`);
    assert.throws(() => sys.ofdSetLock(one, { type: F_RDLCK, start: 0n, length: 1n }), errnoIs("EAGAIN"));
  } finally {
    closeSync(one);
    closeSync(two);
  }
});

test("flock: LOCK_NB conflicts, and the waiting form", async (t) => {
  const { path } = scratch(t);
  writeFileSync(join(path, "f"), "");
  const one = openSync(join(path, "f"), O_RDONLY);
  const two = openSync(join(path, "f"), O_RDONLY);
  try {
    sys.flock(one, LOCK_SH);
    sys.flock(two, LOCK_SH);
    assert.throws(() => sys.flock(two, LOCK_EX), errnoIs("EAGAIN", "flock"));
    const waited = sys.flockWait(two, LOCK_EX);
    setTimeout(() => sys.flock(one, LOCK_UN), 20);
    await waited;
    assert.throws(() => sys.flock(one, LOCK_SH), errnoIs("EAGAIN"));
  } finally {
    closeSync(one);
    closeSync(two);
  }
});

test("fallocate, SEEK_DATA/SEEK_HOLE, copy_file_range, fsync, ftruncate", async (t) => {
  const { path, fd } = scratch(t);
  const f = sys.openat(fd, "sparse", O_RDWR | O_CREAT, 0o600);
  const g = sys.openat(fd, "copy", O_WRONLY | O_CREAT, 0o600);
  try {
    const MiB = 1 << 20;
    sys.ftruncate(f, 4 * MiB);
    writeSync(f, Buffer.alloc(4096, 1), 0, 4096, 2 * MiB);
    assert.equal(sys.lseek(f, 0, SEEK_DATA), 2 * MiB);
    assert.equal(sys.lseek(f, 2 * MiB, SEEK_HOLE), 2 * MiB + 4096);
    assert.throws(() => sys.lseek(f, 3 * MiB, SEEK_DATA), errnoIs("ENXIO", "lseek"));
    const blocks = sys.statx(f, "", AT_EMPTY_PATH).blocks;
    sys.fallocate(f, 0, 0, 65536); // allocated but unwritten: still a hole to SEEK_DATA on ext4
    assert.equal(sys.statx(f, "", AT_EMPTY_PATH).blocks, blocks + 128n);
    sys.fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2 * MiB, 4096);
    assert.throws(() => sys.lseek(f, 4096, SEEK_DATA), errnoIs("ENXIO"));
    assert.equal(sys.statx(f, "", AT_EMPTY_PATH).size, BigInt(4 * MiB));
    writeSync(f, "payload", 100);
    assert.equal(sys.copyFileRange(f, 100, g, 10, 7), 7);
    assert.equal(await sys.copyFileRangeAsync(f, 100, g, 0, 3), 3);
    sys.fsync(g);
    await sys.fsyncAsync(g);
    sys.fdatasync(g);
    await sys.fdatasyncAsync(g);
    await sys.syncfsAsync(g);
    await sys.fallocateAsync(g, 0, 0, 8192);
    const copy = readFileSync(join(path, "copy"));
    assert.equal(copy.subarray(0, 17).toString("latin1"), "pay\0\0\0\0\0\0\0payload");
    assert.equal(copy.length, 8192);
    await assert.rejects(sys.fsyncAsync(-1), errnoIs("EBADF", "fsync"));
    assert.ok(sys.getFileFlags(f) & O_RDWR);
  } finally {
    closeSync(f);
    closeSync(g);
  }
});

test("name_to_handle_at and open_by_handle_at find the same inode", (t) => {
  const { path, fd } = scratch(t);
  writeFileSync(join(path, "f"), "by handle");
  const { handle, mountId } = sys.nameToHandleAt(fd, "f");
  assert.ok(handle.bytes.length > 0 && handle.bytes.length <= 128);
  assert.equal(typeof mountId, "number");
  // the mount fd must not be O_PATH (EBADF): any real fd on the mount
  assert.throws(() => sys.openByHandleAt(fd, handle, O_RDONLY), errnoIs("EBADF", "open_by_handle_at"));
  const mountFd = sys.reopen(fd, O_RDONLY | O_DIRECTORY);
  try {
    const opened = sys.openByHandleAt(mountFd, handle, O_RDONLY);
    assert.equal(readFileSync(opened, "utf8"), "by handle");
    closeSync(opened);
    sys.unlinkat(fd, "f");
    assert.throws(() => sys.openByHandleAt(mountFd, handle, O_RDONLY), errnoIs("ESTALE", "open_by_handle_at"));
  } finally {
    closeSync(mountFd);
  }
});

test("paths with a NUL are refused before reaching C", (t) => {
  const { fd } = scratch(t);
  assert.throws(() => sys.openat(fd, "a\0b", O_RDONLY), errnoIs("EINVAL", "openat"));
  assert.throws(() => sys.mkdirat(fd, Buffer.from([0x61, 0, 0x62]), 0o700), errnoIs("EINVAL", "mkdirat"));
  assert.throws(() => sys.fgetxattr(fd, "user.\0"), errnoIs("EINVAL"));
});
