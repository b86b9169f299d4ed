/**
 * The read-only view: every mutator is EROFS, reading and locking work, and
 * the host tree does not change.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { FAttr, LockType, OpenFlag } from "../../src/fuse/abi.js";
import { S_IFREG } from "../../src/sys/constants.js";
import { createPassthrough, PassthroughFs, ReadOnlyFs } from "../../src/passthrough/index.js";
import {
  ALL_FLAGS,
  copyIn,
  ctx,
  defaults,
  fallocateIn,
  lkIn,
  n,
  readIn,
  rejectsErrno,
  releaseIn,
  ROOT,
  scratchDir,
  setattrIn,
  writeIn,
} from "./helpers.js";

function snapshot(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: "utf8" })
    .sort()
    .map((name) => {
      const st = fs.lstatSync(path.join(dir, name));
      const body = st.isFile() ? fs.readFileSync(path.join(dir, name), "utf8") : "";
      return `${name} ${st.mode.toString(8)} ${st.size} ${st.mtimeMs} ${body}`;
    });
}

test("createPassthrough with readonly: mutators are EROFS, reads and locks work, nothing changes", async () => {
  const scratch = scratchDir("ro");
  const share = path.join(scratch.dir, "share");
  fs.mkdirSync(share);
  fs.writeFileSync(path.join(share, "f"), "content");
  fs.mkdirSync(path.join(share, "d"));
  const before = snapshot(share);
  const rofs = createPassthrough({ ...defaults, root: share, readonly: true });
  assert.ok(rofs instanceof ReadOnlyFs);
  assert.ok((rofs as ReadOnlyFs).inner instanceof PassthroughFs);
  assert.ok(createPassthrough({ ...defaults, root: share }) instanceof PassthroughFs);
  try {
    await rofs.init({ minor: 38, clientFlags: ALL_FLAGS });
    const f = await rofs.lookup(ctx(), ROOT, n("f"));
    const d = await rofs.lookup(ctx(), ROOT, n("d"));
    const ro = await rofs.open(ctx(), f.nodeid, OpenFlag.O_RDONLY, 0);
    const buf = Buffer.alloc(7);
    assert.equal(await rofs.read(ctx(), f.nodeid, readIn(ro.fh, 0n, 7), [buf]), 7);
    assert.equal(buf.toString(), "content");
    await rofs.setlk(ctx(), f.nodeid, lkIn(ro.fh, 1n, LockType.F_RDLCK, 0n, 0n, 1), false);
    await rofs.access(ctx(), f.nodeid, 4);

    const refused: [string, unknown][] = [
      ["setattr", rofs.setattr(ctx(), f.nodeid, setattrIn({ valid: FAttr.MODE, mode: 0o777 }))],
      ["symlink", rofs.symlink(ctx(), ROOT, n("s"), n("f"))],
      ["mknod", rofs.mknod(ctx(), ROOT, n("m"), S_IFREG | 0o644, 0, 0)],
      ["mkdir", rofs.mkdir(ctx(), ROOT, n("m"), 0o755, 0)],
      ["unlink", rofs.unlink(ctx(), ROOT, n("f"))],
      ["rmdir", rofs.rmdir(ctx(), ROOT, n("d"))],
      ["rename", rofs.rename(ctx(), ROOT, n("f"), d.nodeid, n("f"), 0)],
      ["link", rofs.link(ctx(), f.nodeid, ROOT, n("l"))],
      ["open rw", rofs.open(ctx(), f.nodeid, OpenFlag.O_RDWR, 0)],
      ["open wronly", rofs.open(ctx(), f.nodeid, OpenFlag.O_WRONLY, 0)],
      ["open trunc", rofs.open(ctx(), f.nodeid, OpenFlag.O_RDONLY | OpenFlag.O_TRUNC, 0)],
      ["create new", rofs.create(ctx(), ROOT, n("new"), OpenFlag.O_RDONLY | OpenFlag.O_CREAT, 0o644, 0, 0)],
      ["create existing for writing", rofs.create(ctx(), ROOT, n("f"), OpenFlag.O_RDWR | OpenFlag.O_CREAT, 0o644, 0, 0)],
      ["create excl", rofs.create(ctx(), ROOT, n("f"), OpenFlag.O_RDONLY | OpenFlag.O_EXCL, 0o644, 0, 0)],
      ["tmpfile", rofs.tmpfile(ctx(), ROOT, OpenFlag.O_RDWR, 0o600, 0)],
      ["write", rofs.write(ctx(), f.nodeid, writeIn(ro.fh, 0n, 1), [Buffer.from("x")])],
      ["fallocate", rofs.fallocate(ctx(), f.nodeid, fallocateIn(ro.fh, 0n, 10n))],
      ["copy_file_range", rofs.copyFileRange(ctx(), f.nodeid, copyIn({ fhIn: ro.fh, nodeidOut: f.nodeid, fhOut: ro.fh, len: 1n }))],
      ["setxattr", rofs.setxattr(ctx(), f.nodeid, n("user.k"), n("w"), 0, 0)],
      ["removexattr", rofs.removexattr(ctx(), f.nodeid, n("user.k"))],
      ["access W_OK", rofs.access(ctx(), f.nodeid, 2)],
    ];
    for (const [what, promise] of refused) await rejectsErrno(promise, "EROFS", what);

    // CREATE of an existing file for reading opens it, with its lookup counted once.
    const c = await rofs.create(ctx(), ROOT, n("f"), OpenFlag.O_RDONLY | OpenFlag.O_CREAT, 0o644, 0, 0);
    assert.equal(c.entry.nodeid, f.nodeid);
    const inner = (rofs as ReadOnlyFs).inner as PassthroughFs;
    assert.equal(inner.stats().handles, 2);
    // Two lookups (LOOKUP and this CREATE): the refused CREATE for writing left none behind.
    rofs.forget(f.nodeid, 1n);
    assert.equal(inner.stats().nodes, 3);
    rofs.forget(f.nodeid, 1n);
    assert.equal(inner.stats().nodes, 2);
    await rofs.release(ctx(), f.nodeid, releaseIn(c.open.fh));
    await rofs.release(ctx(), f.nodeid, releaseIn(ro.fh));
    assert.deepEqual(snapshot(share), before);
  } finally {
    await rofs.destroy();
    scratch.remove();
  }
});
