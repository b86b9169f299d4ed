/**
 * Property: whatever a hostile guest passes (forged nodeids and handles,
 * names with '/', NUL, '..', any flags, modes, offsets and lock ranges), every
 * operation either succeeds or fails with an ErrnoError (anything else would
 * be answered EIO as a bug), nothing outside the share changes, and DESTROY
 * leaves no fd behind. (FSYNC and SYNCFS stay out: they only wait for the
 * disk, which would make the run slow without testing anything more.)
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import fc from "fast-check";
import { ErrnoError } from "../../src/common/errors.js";
import { FAttr } from "../../src/fuse/abi.js";
import type { EntryOut, OpenOut } from "../../src/fuse/structs.js";
import { PassthroughFs } from "../../src/passthrough/passthrough.js";
import { procSelfFd } from "../../src/sys/fs.js";
import {
  ALL_FLAGS,
  copyIn,
  ctx,
  defaults,
  fallocateIn,
  flushIn,
  lkIn,
  lseekIn,
  openFdCount,
  readIn,
  releaseIn,
  scratchDir,
  setattrIn,
  SmallSink,
  statxIn,
  writeIn,
} from "./helpers.js";

/** What a step may refer to: an index into the ids seen so far, or a forged value. */
type Ref = { seen: number } | { forged: bigint };

interface Pools {
  nodes: bigint[];
  handles: bigint[];
}

function pick(ref: Ref, pool: bigint[]): bigint {
  if ("forged" in ref) return ref.forged;
  return pool.length === 0 ? 1n : pool[ref.seen % pool.length]!;
}

const ref: fc.Arbitrary<Ref> = fc.oneof(
  { weight: 4, arbitrary: fc.nat().map((seen) => ({ seen })) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((forged) => ({ forged })) },
);
const name = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom("a", "b", "c", "d").map((s) => Buffer.from(s)) },
  { weight: 2, arbitrary: fc.constantFrom("..", ".", "", "a/b", "../outside", "/etc", "x\0y").map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 12 }).map((b) => Buffer.from(b)) },
);
const u32 = fc.nat({ max: 0xffff_ffff });
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const smallLen = fc.bigInt({ min: 0n, max: 1n << 20n });
const modeArb = fc.oneof(u32, fc.constantFrom(0o100644, 0o40755, 0o10644, 0o140644, 0o20666, 0o60666, 0o4755));

type Step = (pfs: PassthroughFs, pools: Pools) => unknown;

function remember(pools: Pools, result: unknown): void {
  if (typeof result !== "object" || result === null) return;
  const entry = (result as { entry?: EntryOut }).entry ?? (result as EntryOut);
  if (typeof entry?.nodeid === "bigint" && entry.nodeid !== 0n) pools.nodes.push(entry.nodeid);
  const open = (result as { open?: OpenOut }).open ?? (result as OpenOut);
  if (typeof open?.fh === "bigint") pools.handles.push(open.fh);
}

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.tuple(ref, name).map(([p, nm]): Step => (f, s) => f.lookup(ctx(), pick(p, s.nodes), nm)),
  fc.tuple(ref, u64).map(([p, count]): Step => async (f, s) => f.forget(pick(p, s.nodes), count)),
  fc.tuple(ref, name, modeArb, u32).map(([p, nm, mode, um]): Step => (f, s) => f.mkdir(ctx(), pick(p, s.nodes), nm, mode, um)),
  fc.tuple(ref, name, modeArb, u32).map(([p, nm, mode, rdev]): Step => (f, s) => f.mknod(ctx(), pick(p, s.nodes), nm, mode, rdev, 0)),
  fc.tuple(ref, name, name).map(([p, nm, target]): Step => (f, s) => f.symlink(ctx(), pick(p, s.nodes), nm, target)),
  fc.tuple(ref, name, u32, modeArb, u32).map(([p, nm, flags, mode, of]): Step => (f, s) =>
    f.create(ctx({ uid: 1000, gid: 1000 }), pick(p, s.nodes), nm, flags, mode, 0, of),
  ),
  fc.tuple(ref, u32, modeArb).map(([p, flags, mode]): Step => (f, s) => f.tmpfile(ctx(), pick(p, s.nodes), flags, mode, 0)),
  fc.tuple(ref, u32, u32).map(([p, flags, of]): Step => (f, s) => f.open(ctx(), pick(p, s.nodes), flags, of)),
  fc.tuple(ref, u32).map(([p, flags]): Step => (f, s) => f.opendir(ctx(), pick(p, s.nodes), flags)),
  fc.tuple(ref, name).map(([p, nm]): Step => (f, s) => f.unlink(ctx(), pick(p, s.nodes), nm)),
  fc.tuple(ref, name).map(([p, nm]): Step => (f, s) => f.rmdir(ctx(), pick(p, s.nodes), nm)),
  fc.tuple(ref, name, ref, name, u32).map(([a, x, b, y, flags]): Step => (f, s) =>
    f.rename(ctx(), pick(a, s.nodes), x, pick(b, s.nodes), y, flags),
  ),
  fc.tuple(ref, ref, name).map(([a, b, nm]): Step => (f, s) => f.link(ctx(), pick(a, s.nodes), pick(b, s.nodes), nm)),
  fc.tuple(ref).map(([p]): Step => (f, s) => f.getattr(ctx(), pick(p, s.nodes), undefined)),
  fc.tuple(ref, u32).map(([p, mask]): Step => (f, s) => f.statx(ctx(), pick(p, s.nodes), statxIn(mask))),
  fc.tuple(ref, ref, u32, u64, fc.bigInt({ min: 0n, max: 1n << 40n }), modeArb, u32, u32).map(
    ([p, h, valid, size, time, mode, uid, gid]): Step => (f, s) =>
      f.setattr(
        ctx(),
        pick(p, s.nodes),
        setattrIn({ valid: valid & 0xfff, fh: pick(h, s.handles), size: size & ((1n << 40n) - 1n), atime: time, mtime: time, mode, uid, gid }),
      ),
  ),
  fc.tuple(ref).map(([p]): Step => (f, s) => f.readlink(ctx(), pick(p, s.nodes))),
  fc.tuple(ref, ref, u64, fc.nat({ max: 1 << 16 })).map(([p, h, off, size]): Step => (f, s) =>
    f.read(ctx(), pick(p, s.nodes), readIn(pick(h, s.handles), off, size), [Buffer.alloc(512), Buffer.alloc(100)]),
  ),
  fc.tuple(ref, ref, fc.bigInt({ min: 0n, max: 1n << 40n }), u32).map(([p, h, off, wf]): Step => (f, s) =>
    f.write(ctx({ uid: 1000 }), pick(p, s.nodes), writeIn(pick(h, s.handles), off, 5, wf), [Buffer.from("fuzz!")]),
  ),
  fc.tuple(ref, ref, u64).map(([p, h, owner]): Step => (f, s) => f.flush(ctx(), pick(p, s.nodes), flushIn(pick(h, s.handles), owner))),
  fc.tuple(ref, ref, u32, u64).map(([p, h, rf, owner]): Step => (f, s) =>
    f.release(ctx(), pick(p, s.nodes), releaseIn(pick(h, s.handles), rf, owner)),
  ),
  fc.tuple(ref, ref).map(([p, h]): Step => (f, s) => f.releasedir(ctx(), pick(p, s.nodes), releaseIn(pick(h, s.handles)))),
  fc.tuple(ref, ref, smallLen, smallLen, fc.nat({ max: 0x7f })).map(([p, h, off, len, mode]): Step => (f, s) =>
    f.fallocate(ctx(), pick(p, s.nodes), fallocateIn(pick(h, s.handles), off, len, mode)),
  ),
  fc.tuple(ref, ref, u64, fc.nat({ max: 8 })).map(([p, h, off, whence]): Step => (f, s) =>
    f.lseek(ctx(), pick(p, s.nodes), lseekIn(pick(h, s.handles), off, whence)),
  ),
  fc.tuple(ref, ref, ref, ref, u64, u64, u64, u64).map(([p, h, q, g, offIn, offOut, len, flags]): Step => (f, s) =>
    f.copyFileRange(
      ctx(),
      pick(p, s.nodes),
      copyIn({ fhIn: pick(h, s.handles), offIn, nodeidOut: pick(q, s.nodes), fhOut: pick(g, s.handles), offOut, len: len & 0xffffn, flags }),
    ),
  ),
  fc.tuple(ref, ref, u64, fc.nat({ max: 3 })).map(([p, h, off, cap]): Step => (f, s) =>
    f.readdirplus(ctx(), pick(p, s.nodes), pick(h, s.handles), off, new SmallSink(cap)),
  ),
  fc.tuple(ref, ref, u64, fc.nat({ max: 3 })).map(([p, h, off, cap]): Step => (f, s) =>
    f.readdir(ctx(), pick(p, s.nodes), pick(h, s.handles), off, new SmallSink(cap)),
  ),
  fc.tuple(ref).map(([p]): Step => (f, s) => f.statfs(ctx(), pick(p, s.nodes))),
  fc.tuple(ref, u32).map(([p, mask]): Step => (f, s) => f.access(ctx({ uid: 1000 }), pick(p, s.nodes), mask)),
  fc.tuple(ref, name, name, u32).map(([p, nm, value, flags]): Step => (f, s) => f.setxattr(ctx(), pick(p, s.nodes), nm, value, flags, 0)),
  fc.tuple(ref, name).map(([p, nm]): Step => (f, s) => f.getxattr(ctx(), pick(p, s.nodes), nm)),
  fc.tuple(ref).map(([p]): Step => (f, s) => f.listxattr(ctx(), pick(p, s.nodes))),
  fc.tuple(ref, name).map(([p, nm]): Step => (f, s) => f.removexattr(ctx(), pick(p, s.nodes), nm)),
  fc.tuple(ref, ref, u64, fc.nat({ max: 3 }), u64, u64, u32).map(([p, h, owner, type, start, end, lkFlags]): Step => (f, s) =>
    f.setlk(ctx(), pick(p, s.nodes), lkIn(pick(h, s.handles), owner, type, start, end, 1, lkFlags & 1), false),
  ),
  fc.tuple(ref, ref, u64, fc.nat({ max: 3 }), u64, u64).map(([p, h, owner, type, start, end]): Step => (f, s) =>
    f.getlk(ctx(), pick(p, s.nodes), lkIn(pick(h, s.handles), owner, type, start, end, 1)),
  ),
  fc.tuple(ref).map(([p]): Step => (f, s) => f.statfs(ctx(), pick(p, s.nodes))),
);

function tree(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: "utf8" })
    .sort()
    .map((entry) => {
      const st = fs.lstatSync(path.join(dir, entry));
      return `${entry} ${st.mode} ${st.uid} ${st.gid} ${st.size} ${st.mtimeMs}`;
    });
}

test("fuzz: hostile arguments get an errno or a result, never a bug, and never reach outside the share", async () => {
  const scratch = scratchDir("fuzz");
  const share = path.join(scratch.dir, "share");
  const outside = path.join(scratch.dir, "outside");
  fs.mkdirSync(share);
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, "secret"), "secret");
  fs.mkdirSync(path.join(outside, "sub"));
  fs.writeFileSync(path.join(outside, "sub", "file"), "file");
  const outsideBefore = tree(outside);
  procSelfFd(); // the process's one /proc/self/fd fd, kept for good
  const fdsBefore = openFdCount();
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), async (steps) => {
        fs.rmSync(share, { recursive: true, force: true });
        fs.mkdirSync(share);
        fs.writeFileSync(path.join(share, "a"), "0123456789");
        fs.mkdirSync(path.join(share, "b"));
        fs.symlinkSync(outside, path.join(share, "c"));
        fs.symlinkSync("../outside/secret", path.join(share, "d"));
        const pfs = new PassthroughFs({ ...defaults, root: share, fdBudget: 64 });
        await pfs.init({ minor: 38, clientFlags: ALL_FLAGS });
        const pools: Pools = { nodes: [1n], handles: [] };
        try {
          for (const run of steps) {
            let result: unknown;
            try {
              result = await run(pfs, pools);
            } catch (error) {
              if (!ErrnoError.is(error)) assert.fail(`a bug, not an errno: ${String((error as Error)?.stack ?? error)}`);
            }
            remember(pools, result);
          }
        } finally {
          await pfs.destroy();
        }
        assert.deepEqual(tree(outside), outsideBefore, "nothing outside the share changed");
        assert.equal(openFdCount(), fdsBefore, "DESTROY closed every fd");
      }),
      { numRuns: 150 },
    );
  } finally {
    scratch.remove();
  }
});

test("fuzz: a setattr on the share root with any valid bits and values stays inside it", async () => {
  const scratch = scratchDir("fuzz-root");
  const share = path.join(scratch.dir, "share");
  fs.mkdirSync(share);
  const before = fs.statSync(scratch.dir);
  const pfs = new PassthroughFs({ ...defaults, root: share });
  try {
    await pfs.init({ minor: 38, clientFlags: ALL_FLAGS });
    for (const valid of [FAttr.MODE, FAttr.UID | FAttr.GID, FAttr.ATIME | FAttr.MTIME, FAttr.SIZE]) {
      await Promise.resolve(pfs.setattr(ctx(), 1n, setattrIn({ valid, mode: 0o700, uid: 1, gid: 1, atime: 5n, mtime: 5n }))).catch((error: unknown) => {
        assert.ok(ErrnoError.is(error));
      });
    }
    const after = fs.statSync(scratch.dir);
    assert.equal(after.mode, before.mode);
    assert.equal(after.uid, before.uid);
    assert.equal(fs.statSync(share).uid, 1, "the root itself changed");
  } finally {
    await pfs.destroy();
    scratch.remove();
  }
});
