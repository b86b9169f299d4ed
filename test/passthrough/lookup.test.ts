/**
 * Names, lookup counts and confinement: LOOKUP/FORGET bookkeeping, fd
 * retention and closing, names that try to leave the share, host symlinks, a directory
 * swapped for a symlink, forged ids.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { OpenFlag } from "../../src/fuse/abi.js";
import { S_IFLNK, S_IFMT } from "../../src/sys/constants.js";
import { BACKGROUND_CLOSE_BYTES } from "../../src/passthrough/inodes.js";
import { NO_ENTRY } from "../../src/server/filesystem.js";
import { ctx, n, openFdCount, openFs, readIn, rejectsErrno, throwsErrno, releaseIn, ROOT, setattrIn, writeIn } from "./helpers.js";

test("lookup counts: the same inode keeps its nodeid, FORGET to zero ends the node (its fd retained), the root stays", async () => {
  const { fs: pfs, share, cleanup } = await openFs("counts");
  try {
    fs.writeFileSync(path.join(share, "a"), "x");
    fs.linkSync(path.join(share, "a"), path.join(share, "b"));
    const before = openFdCount();

    const a1 = await pfs.lookup(ctx(), ROOT, n("a"));
    assert.notEqual(a1.nodeid, ROOT);
    assert.equal(openFdCount(), before + 1);
    const a2 = await pfs.lookup(ctx(), ROOT, n("a"));
    const b = await pfs.lookup(ctx(), ROOT, n("b"));
    assert.equal(a2.nodeid, a1.nodeid, "a second lookup finds the same node");
    assert.equal(b.nodeid, a1.nodeid, "a hard link is the same node (dev, ino)");
    assert.equal(a1.attr.nlink, 2);
    assert.equal(openFdCount(), before + 1, "one O_PATH fd per inode, however often it is looked up");
    assert.deepEqual(pfs.stats(), { nodes: 2, handles: 0, fds: 2, retained: 0 });

    pfs.forget(a1.nodeid, 2n);
    assert.equal((await pfs.getattr(ctx(), a1.nodeid, undefined)).attr.size, 1n, "still one lookup left");
    pfs.forget(a1.nodeid, 1n);
    assert.deepEqual(pfs.stats(), { nodes: 1, handles: 0, fds: 1, retained: 1 }, "FORGET to zero ends the node; its fd is retained");
    assert.equal(openFdCount(), before + 1);
    await rejectsErrno(pfs.getattr(ctx(), a1.nodeid, undefined), "EBADF");

    // A new lookup names the retained node again, under its nodeid: one nodeid is always one host inode.
    const again = await pfs.lookup(ctx(), ROOT, n("a"));
    assert.equal(again.nodeid, a1.nodeid);
    assert.equal((await pfs.getattr(ctx(), again.nodeid, undefined)).attr.nlink, 2);
    assert.deepEqual(pfs.stats(), { nodes: 2, handles: 0, fds: 2, retained: 0 });
    assert.equal(openFdCount(), before + 1);

    // Forgetting more than was looked up, or the root, or an unknown id, is harmless.
    pfs.forget(again.nodeid, 1000n);
    pfs.forget(ROOT, 1n << 60n);
    pfs.forget(987654321n, 1n);
    pfs.batchForget([{ nodeid: ROOT, nlookup: 5n }]);
    assert.equal((await pfs.getattr(ctx(), ROOT, undefined)).attr.ino, BigInt(fs.statSync(share).ino));
    assert.equal(openFdCount(), before + 1, "a's fd retained again");
  } finally {
    await cleanup();
  }
});

for (const statxFirst of [false, true]) {
  test(`a name looked up again answers what it names now: replaced, turned into a symlink, removed, a hard link (${statxFirst ? "statx by name first" : "openat first"})`, async () => {
    // Once most lookups find known nodes, a LOOKUP tries the name's statx first and opens nothing when it hits; what it finds must still decide.
    const { fs: pfs, share, outside, cleanup } = await openFs("relookup");
    try {
      if (statxFirst) {
        fs.writeFileSync(path.join(share, "known"), "");
        for (let i = 0; i < 8; i++) await pfs.lookup(ctx(), ROOT, n("known"));
      }
      fs.writeFileSync(path.join(share, "a"), "first");
      fs.writeFileSync(path.join(share, "b"), "second!");
      const a = await pfs.lookup(ctx(), ROOT, n("a"));
      assert.equal((await pfs.lookup(ctx(), ROOT, n("a"))).nodeid, a.nodeid);

      // Replaced on the host by a file the guest never looked up: a new node, with its attributes.
      fs.renameSync(path.join(share, "b"), path.join(share, "a"));
      const replaced = await pfs.lookup(ctx(), ROOT, n("a"));
      assert.notEqual(replaced.nodeid, a.nodeid);
      assert.equal(replaced.attr.size, 7n);
      assert.equal(replaced.attr.ino, BigInt(fs.lstatSync(path.join(share, "a")).ino));

      // Replaced by a symlink out of the share: the link itself, never its target.
      fs.rmSync(path.join(share, "a"));
      fs.symlinkSync(outside, path.join(share, "a"));
      const link = await pfs.lookup(ctx(), ROOT, n("a"));
      assert.equal(link.attr.mode & S_IFMT, S_IFLNK);
      const again = await pfs.lookup(ctx(), ROOT, n("a"));
      assert.equal(again.nodeid, link.nodeid);
      assert.equal(again.attr.mode & S_IFMT, S_IFLNK);

      // Removed: not there (the negative entry the server sends as ENOENT), however recently it was found.
      fs.rmSync(path.join(share, "a"));
      assert.equal(pfs.lookup(ctx(), ROOT, n("a")), NO_ENTRY);

      // A new name of a known node (a hard link made on the host) is that node.
      fs.writeFileSync(path.join(share, "c"), "linked");
      const c = await pfs.lookup(ctx(), ROOT, n("c"));
      fs.linkSync(path.join(share, "c"), path.join(share, "d"));
      assert.equal((await pfs.lookup(ctx(), ROOT, n("d"))).nodeid, c.nodeid);
      assert.equal((await pfs.lookup(ctx(), ROOT, n("d"))).attr.nlink, 2);

      // Forgotten, then looked up again: the same node, named again.
      pfs.forget(c.nodeid, 3n);
      await rejectsErrno(pfs.getattr(ctx(), c.nodeid, undefined), "EBADF");
      const fresh = await pfs.lookup(ctx(), ROOT, n("c"));
      assert.equal(fresh.nodeid, c.nodeid);
      assert.equal(fresh.attr.ino, BigInt(fs.lstatSync(path.join(share, "c")).ino));
      assert.deepEqual(pfs.stats().nodes, statxFirst ? 6 : 5, "root, the first a, its replacement, the link, c anew (and known)");
    } finally {
      await cleanup();
    }
  });
}

test("a retained node found again keeps its nodeid; one whose fd was closed comes back as a new node under a new nodeid", async () => {
  const { fs: pfs, share, cleanup } = await openFs("renamed", { retention: { max: 1, ms: 60_000 } });
  try {
    for (const name of ["x", "y"]) fs.writeFileSync(path.join(share, name), name);
    const x = await pfs.lookup(ctx(), ROOT, n("x"));
    const y = await pfs.lookup(ctx(), ROOT, n("y"));
    pfs.forget(x.nodeid, 1n);
    pfs.forget(y.nodeid, 1n);
    assert.deepEqual(pfs.stats(), { nodes: 1, handles: 0, fds: 1, retained: 1 }, "x's fd closed, y's retained");
    const y2 = await pfs.lookup(ctx(), ROOT, n("y"));
    const x2 = await pfs.lookup(ctx(), ROOT, n("x"));
    assert.equal(y2.nodeid, y.nodeid);
    assert.notEqual(x2.nodeid, x.nodeid);
    assert.notEqual(x2.nodeid, y.nodeid);
    assert.equal((await pfs.getattr(ctx(), x2.nodeid, undefined)).attr.ino, BigInt(fs.lstatSync(path.join(share, "x")).ino));
    assert.deepEqual(pfs.stats(), { nodes: 3, handles: 0, fds: 3, retained: 0 });
  } finally {
    await cleanup();
  }
});

test("a forgotten node's fd is retained: a new lookup names it again; the oldest past the most kept, the expired, the unlinked and DESTROY close them", async () => {
  const { fs: pfs, share, cleanup } = await openFs("retain", { retention: { max: 2, ms: 150 } });
  try {
    for (const name of ["f1", "f2", "f3", "g"]) fs.writeFileSync(path.join(share, name), name);
    const base = openFdCount();
    const ids = new Map<string, bigint>();
    for (const name of ["f1", "f2", "f3"]) ids.set(name, (await pfs.lookup(ctx(), ROOT, n(name))).nodeid);
    assert.equal(openFdCount(), base + 3);
    for (const name of ["f1", "f2", "f3"]) pfs.forget(ids.get(name)!, 1n);
    assert.deepEqual(pfs.stats(), { nodes: 1, handles: 0, fds: 1, retained: 2 }, "two kept, the oldest (f1) closed");
    assert.equal(openFdCount(), base + 2);

    // f3 again: the same node on its retained fd, no new fd. f1's nodeid is gone with its fd.
    const f3 = await pfs.lookup(ctx(), ROOT, n("f3"));
    assert.equal(f3.nodeid, ids.get("f3"));
    await rejectsErrno(pfs.getattr(ctx(), ids.get("f1")!, undefined), "EBADF");
    assert.equal(f3.attr.ino, BigInt(fs.statSync(path.join(share, "f3")).ino));
    assert.deepEqual(pfs.stats(), { nodes: 2, handles: 0, fds: 2, retained: 1 });
    assert.equal(openFdCount(), base + 2);
    assert.equal((await pfs.getattr(ctx(), f3.nodeid, undefined)).attr.size, 2n);

    // f2 replaced on the host: the name leads to the new inode, not to the retained fd of the old one.
    fs.renameSync(path.join(share, "g"), path.join(share, "f2"));
    const f2 = await pfs.lookup(ctx(), ROOT, n("f2"));
    assert.equal(f2.attr.ino, BigInt(fs.statSync(path.join(share, "f2")).ino));
    assert.equal(f2.attr.size, 1n);
    assert.equal(openFdCount(), base + 3, "the old f2's fd is still retained");

    // Past the retention time every retained fd is closed.
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.deepEqual(pfs.stats(), { nodes: 3, handles: 0, fds: 3, retained: 0 });
    assert.equal(openFdCount(), base + 2);

    // A node whose name the guest unlinks is not retained: the host frees the file once the guest forgets it.
    // Another name of it going (a hard link) leaves it retained as usual.
    fs.writeFileSync(path.join(share, "gone"), "gone");
    fs.writeFileSync(path.join(share, "linked"), "linked");
    fs.linkSync(path.join(share, "linked"), path.join(share, "other-name"));
    const gone = await pfs.lookup(ctx(), ROOT, n("gone"));
    const linked = await pfs.lookup(ctx(), ROOT, n("linked"));
    await pfs.unlink(ctx(), ROOT, n("gone"));
    await pfs.unlink(ctx(), ROOT, n("other-name"));
    pfs.forget(gone.nodeid, 1n);
    pfs.forget(linked.nodeid, 1n);
    assert.equal(pfs.stats().retained, 1, "only the file that still has its name");
    const made = await pfs.create(ctx(), ROOT, n("made"), OpenFlag.O_RDWR, 0o644, 0o022, 0);
    await pfs.release(ctx(), made.entry.nodeid, releaseIn(made.open.fh));
    await pfs.unlink(ctx(), ROOT, n("made"));
    pfs.forget(made.entry.nodeid, 1n);
    assert.equal(pfs.stats().retained, 1, "nor a file created, then unlinked");
    assert.equal(openFdCount(), base + 3);

    // DESTROY closes retained fds with the rest.
    pfs.forget(f2.nodeid, 1n);
    pfs.forget(f3.nodeid, 1n);
    assert.equal(pfs.stats().retained, 2, "the most kept");
    await pfs.destroy();
    assert.equal(openFdCount(), base - 1, "the root's fd too");
  } finally {
    await cleanup();
  }
});

test("retention off: FORGET to zero closes the node's fd at once", async () => {
  const { fs: pfs, share, cleanup } = await openFs("noretain", { retention: { max: 0, ms: 0 } });
  try {
    fs.writeFileSync(path.join(share, "f"), "f");
    const base = openFdCount();
    const e = await pfs.lookup(ctx(), ROOT, n("f"));
    assert.equal(openFdCount(), base + 1);
    pfs.forget(e.nodeid, 1n);
    assert.equal(openFdCount(), base);
    assert.deepEqual(pfs.stats(), { nodes: 1, handles: 0, fds: 1, retained: 0 });
  } finally {
    await cleanup();
  }
});

test("the last fd of a large deleted file closes on the thread pool; a small one's at once", async () => {
  const { fs: pfs, share, cleanup } = await openFs("bgclose");
  try {
    const deletedFds = (): number =>
      fs.readdirSync("/proc/self/fd").filter((fd) => {
        try {
          return fs.readlinkSync(`/proc/self/fd/${fd}`).endsWith("(deleted)");
        } catch {
          return false;
        }
      }).length;
    fs.writeFileSync(path.join(share, "small"), "s");
    fs.writeFileSync(path.join(share, "large"), Buffer.alloc(BACKGROUND_CLOSE_BYTES));
    const small = await pfs.lookup(ctx(), ROOT, n("small"));
    const large = await pfs.lookup(ctx(), ROOT, n("large"));
    await pfs.unlink(ctx(), ROOT, n("small"));
    await pfs.unlink(ctx(), ROOT, n("large"));
    assert.equal(deletedFds(), 2);
    pfs.forget(small.nodeid, 1n);
    assert.equal(deletedFds(), 1, "the small file's fd closed before FORGET returned");
    pfs.forget(large.nodeid, 1n);
    assert.deepEqual(pfs.stats(), { nodes: 1, handles: 0, fds: 1, retained: 0 }, "neither is retained");
    for (let i = 0; i < 100 && deletedFds() > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(deletedFds(), 0, "the large file's fd closed by a pool thread");

    // A file grown through a handle counts too: written to 4 MiB, deleted while open, released.
    const c = await pfs.create(ctx(), ROOT, n("grown"), OpenFlag.O_RDWR | OpenFlag.O_CREAT | OpenFlag.O_EXCL, 0o100644, 0, 0);
    const data = Buffer.alloc(BACKGROUND_CLOSE_BYTES);
    assert.equal(await pfs.write(ctx(), c.entry.nodeid, writeIn(c.open.fh, 0n, data.byteLength), [data]), data.byteLength);
    await pfs.unlink(ctx(), ROOT, n("grown"));
    pfs.forget(c.entry.nodeid, 1n);
    assert.equal(deletedFds(), 2, "the open handle (and the node it holds) keep the file");
    await pfs.release(ctx(), c.entry.nodeid, releaseIn(c.open.fh));
    for (let i = 0; i < 100 && deletedFds() > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(deletedFds(), 0);
  } finally {
    await cleanup();
  }
});

test("DESTROY resolves once the large files' fds, closed on the thread pool, are closed", async () => {
  const { fs: pfs, share, cleanup } = await openFs("destroy-large");
  try {
    const base = openFdCount();
    for (const name of ["l1", "l2", "l3"]) fs.writeFileSync(path.join(share, name), Buffer.alloc(BACKGROUND_CLOSE_BYTES));
    for (const name of ["l1", "l2", "l3"]) pfs.forget((await pfs.lookup(ctx(), ROOT, n(name))).nodeid, 1n);
    assert.equal(pfs.stats().retained, 3);
    await pfs.destroy();
    assert.equal(openFdCount(), base - 1, "every fd closed, the root's too");
  } finally {
    await cleanup();
  }
});

test("an open handle keeps a forgotten node's fd until it is released", async () => {
  const { fs: pfs, share, cleanup } = await openFs("hold");
  try {
    fs.writeFileSync(path.join(share, "f"), "held");
    const base = openFdCount();
    const e = await pfs.lookup(ctx(), ROOT, n("f"));
    const o = await pfs.open(ctx(), e.nodeid, OpenFlag.O_RDONLY, 0);
    pfs.forget(e.nodeid, 1n);
    const buf = Buffer.alloc(4);
    assert.equal(await pfs.read(ctx(), e.nodeid, readIn(o.fh, 0n, 4), [buf]), 4, "the handle still reads");
    assert.equal(buf.toString(), "held");
    assert.equal(openFdCount(), base + 2);
    await pfs.release(ctx(), e.nodeid, releaseIn(o.fh));
    assert.equal(openFdCount(), base + 1, "the handle's fd closed, the node's retained");
    assert.deepEqual(pfs.stats(), { nodes: 1, handles: 0, fds: 1, retained: 1 });
  } finally {
    await cleanup();
  }
});

test("names that are not one component are EINVAL everywhere; '.' and '..' only for LOOKUP", async () => {
  const { fs: pfs, share, outside, cleanup } = await openFs("names");
  try {
    fs.mkdirSync(path.join(share, "d"));
    fs.writeFileSync(path.join(outside, "secret"), "s");
    const bad = ["", "a/b", "/", "../outside", "..", ".", "x\0y", "/etc"];
    for (const name of bad) {
      const raw = n(name);
      await rejectsErrno(pfs.mkdir(ctx(), ROOT, raw, 0o755, 0), "EINVAL", `mkdir ${JSON.stringify(name)}`);
      await rejectsErrno(pfs.mknod(ctx(), ROOT, raw, 0o100644, 0, 0), "EINVAL", `mknod ${JSON.stringify(name)}`);
      await rejectsErrno(pfs.symlink(ctx(), ROOT, raw, n("t")), "EINVAL", `symlink ${JSON.stringify(name)}`);
      await rejectsErrno(pfs.create(ctx(), ROOT, raw, OpenFlag.O_RDWR, 0o644, 0, 0), "EINVAL", `create ${JSON.stringify(name)}`);
      await rejectsErrno(pfs.unlink(ctx(), ROOT, raw), "EINVAL", `unlink ${JSON.stringify(name)}`);
      await rejectsErrno(pfs.rmdir(ctx(), ROOT, raw), "EINVAL", `rmdir ${JSON.stringify(name)}`);
      await rejectsErrno(pfs.rename(ctx(), ROOT, n("d"), ROOT, raw, 0), "EINVAL", `rename to ${JSON.stringify(name)}`);
      await rejectsErrno(pfs.rename(ctx(), ROOT, raw, ROOT, n("z"), 0), "EINVAL", `rename from ${JSON.stringify(name)}`);
    }
    for (const name of ["", "a/b", "/", "../outside/secret", "x\0y", "/etc/passwd"]) {
      throwsErrno(() => pfs.lookup(ctx(), ROOT, n(name)), "EINVAL", `lookup ${JSON.stringify(name)}`);
    }
    assert.deepEqual(fs.readdirSync(share), ["d"], "nothing was created");
    assert.deepEqual(fs.readdirSync(outside), ["secret"], "nothing outside changed");
  } finally {
    await cleanup();
  }
});

test("LOOKUP '..' at the root is the root; '.' is the node itself; '..' of a subdirectory is its parent", async () => {
  const { fs: pfs, share, cleanup } = await openFs("dots");
  try {
    fs.mkdirSync(path.join(share, "d"));
    const root = await pfs.getattr(ctx(), ROOT, undefined);
    const up = await pfs.lookup(ctx(), ROOT, n(".."));
    assert.equal(up.nodeid, ROOT);
    assert.equal(up.attr.ino, root.attr.ino);
    assert.equal((await pfs.lookup(ctx(), ROOT, n("."))).nodeid, ROOT);
    const d = await pfs.lookup(ctx(), ROOT, n("d"));
    assert.equal((await pfs.lookup(ctx(), d.nodeid, n("."))).nodeid, d.nodeid);
    assert.equal((await pfs.lookup(ctx(), d.nodeid, n(".."))).nodeid, ROOT);
  } finally {
    await cleanup();
  }
});

test("a directory moved out of the share on the host: its '..' is refused", async () => {
  const { fs: pfs, share, outside, cleanup } = await openFs("moved");
  try {
    fs.mkdirSync(path.join(share, "d"));
    const d = await pfs.lookup(ctx(), ROOT, n("d"));
    fs.renameSync(path.join(share, "d"), path.join(outside, "d"));
    throwsErrno(() => pfs.lookup(ctx(), d.nodeid, n("..")), "ENOENT");
  } finally {
    await cleanup();
  }
});

test("a symlink to /etc is looked up as itself, never followed, never opened; READLINK gives its target", async () => {
  const { fs: pfs, share, cleanup } = await openFs("symlink");
  try {
    fs.symlinkSync("/etc", path.join(share, "etc"));
    fs.symlinkSync("/etc/passwd", path.join(share, "passwd"));
    const l = await pfs.lookup(ctx(), ROOT, n("etc"));
    assert.equal(l.attr.mode & S_IFMT, S_IFLNK, "the entry is the symlink");
    assert.equal(l.attr.ino, BigInt(fs.lstatSync(path.join(share, "etc")).ino));
    assert.equal(Buffer.from(await pfs.readlink(ctx(), l.nodeid)).toString(), "/etc");
    throwsErrno(() => pfs.lookup(ctx(), l.nodeid, n("passwd")), "ENOTDIR", "no lookup through the symlink");
    await rejectsErrno(pfs.open(ctx(), l.nodeid, OpenFlag.O_RDONLY, 0), "EBADF");
    await rejectsErrno(pfs.opendir(ctx(), l.nodeid, 0), "ENOTDIR");
    const p = await pfs.lookup(ctx(), ROOT, n("passwd"));
    await rejectsErrno(pfs.open(ctx(), p.nodeid, OpenFlag.O_RDONLY, 0), "EBADF");
    // CREATE of an existing symlink name opens nothing either.
    await rejectsErrno(pfs.create(ctx(), ROOT, n("passwd"), OpenFlag.O_RDWR, 0o644, 0, 0), "EBADF");
    // A symlink's attributes are its own: changing them leaves the target alone.
    const target = fs.statSync("/etc/passwd");
    await rejectsErrno(pfs.setattr(ctx(), p.nodeid, setattrIn({ valid: 1, mode: 0o777 })), "EOPNOTSUPP");
    assert.equal(fs.statSync("/etc/passwd").mode, target.mode);
    await rejectsErrno(pfs.readlink(ctx(), ROOT), "EINVAL");
  } finally {
    await cleanup();
  }
});

test("a directory swapped for a symlink after its lookup: later operations stay on the looked-up directory", async () => {
  const { fs: pfs, share, outside, cleanup } = await openFs("swap");
  try {
    fs.mkdirSync(path.join(share, "d"));
    const d = await pfs.lookup(ctx(), ROOT, n("d"));
    // On the host: move the directory away (inside the share) and plant a symlink to the outside in its place.
    fs.renameSync(path.join(share, "d"), path.join(share, "moved"));
    fs.symlinkSync(outside, path.join(share, "d"));
    const created = await pfs.create(ctx(), d.nodeid, n("new"), OpenFlag.O_RDWR, 0o644, 0, 0);
    await pfs.mkdir(ctx(), d.nodeid, n("sub"), 0o755, 0);
    assert.deepEqual(fs.readdirSync(outside), [], "nothing reached the symlink's target");
    assert.deepEqual(fs.readdirSync(path.join(share, "moved")).sort(), ["new", "sub"]);
    await pfs.release(ctx(), created.entry.nodeid, releaseIn(created.open.fh));
    // A fresh lookup of "d" is the symlink, and resolving through it is refused.
    const l = await pfs.lookup(ctx(), ROOT, n("d"));
    assert.equal(l.attr.mode & S_IFMT, S_IFLNK);
    await rejectsErrno(pfs.mkdir(ctx(), l.nodeid, n("x"), 0o755, 0), "ENOTDIR");
    assert.deepEqual(fs.readdirSync(outside), []);
  } finally {
    await cleanup();
  }
});

test("hard links and renames cannot cross the share's edge", async () => {
  const { fs: pfs, share, outside, cleanup } = await openFs("edge");
  try {
    fs.writeFileSync(path.join(share, "f"), "f");
    fs.writeFileSync(path.join(outside, "o"), "o");
    const f = await pfs.lookup(ctx(), ROOT, n("f"));
    // The only way to name the outside is a path, and names are single components.
    await rejectsErrno(pfs.link(ctx(), f.nodeid, ROOT, n("../outside/l")), "EINVAL");
    await rejectsErrno(pfs.rename(ctx(), ROOT, n("f"), ROOT, n("../outside/f"), 0), "EINVAL");
    await rejectsErrno(pfs.rename(ctx(), ROOT, n("../outside/o"), ROOT, n("o"), 0), "EINVAL");
    // Through a symlink to the outside directory: the symlink is not a directory here.
    fs.symlinkSync(outside, path.join(share, "out"));
    const out = await pfs.lookup(ctx(), ROOT, n("out"));
    await rejectsErrno(pfs.link(ctx(), f.nodeid, out.nodeid, n("l")), "ENOTDIR");
    await rejectsErrno(pfs.rename(ctx(), ROOT, n("f"), out.nodeid, n("f"), 0), "ENOTDIR");
    await rejectsErrno(pfs.rename(ctx(), out.nodeid, n("o"), ROOT, n("o"), 0), "ENOTDIR");
    // A hard link inside works, and names the same node.
    const l = await pfs.link(ctx(), f.nodeid, ROOT, n("l"));
    assert.equal(l.nodeid, f.nodeid);
    assert.deepEqual(fs.readdirSync(outside), ["o"]);
  } finally {
    await cleanup();
  }
});

test("forged and forgotten nodeids and handles are EBADF; a handle of one node cannot serve another", async () => {
  const { fs: pfs, share, cleanup } = await openFs("forged");
  try {
    fs.writeFileSync(path.join(share, "a"), "aaaa");
    fs.writeFileSync(path.join(share, "b"), "bbbb");
    const a = await pfs.lookup(ctx(), ROOT, n("a"));
    const b = await pfs.lookup(ctx(), ROOT, n("b"));
    const oa = await pfs.open(ctx(), a.nodeid, OpenFlag.O_RDONLY, 0);
    const buf = Buffer.alloc(4);
    for (const forged of [0n, 2n ** 64n - 1n, 123456n, 3n]) {
      if (forged === a.nodeid || forged === b.nodeid || forged === ROOT) continue;
      await rejectsErrno(pfs.getattr(ctx(), forged, undefined), "EBADF");
      throwsErrno(() => pfs.lookup(ctx(), forged, n("a")), "EBADF");
      await rejectsErrno(pfs.open(ctx(), forged, 0, 0), "EBADF");
      await rejectsErrno(pfs.read(ctx(), a.nodeid, readIn(forged, 0n, 4), [buf]), "EBADF");
    }
    await rejectsErrno(pfs.read(ctx(), b.nodeid, readIn(oa.fh, 0n, 4), [buf]), "EBADF", "a's handle with b");
    await rejectsErrno(pfs.release(ctx(), b.nodeid, releaseIn(oa.fh)), "EBADF");
    await pfs.release(ctx(), a.nodeid, releaseIn(oa.fh));
    await rejectsErrno(pfs.release(ctx(), a.nodeid, releaseIn(oa.fh)), "EBADF", "released twice");
    await rejectsErrno(pfs.read(ctx(), a.nodeid, readIn(oa.fh, 0n, 4), [buf]), "EBADF", "after release");
  } finally {
    await cleanup();
  }
});
