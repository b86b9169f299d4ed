/**
 * `viofs serve --fuse-mount` end to end, as root: the real CLI in a child
 * process (the compiled bin/viofs.js, or the sources through tsx) serves a
 * host directory to this host's kernel through /dev/fuse, with no virtio in
 * between. The POSIX workload of the VM tests (test/vm/workload.sh) gives
 * the same output there as on a plain host directory, line by line, and
 * leaves the same tree in the shared directory; the two lines that differ by
 * nature (mount source/type, statfs type) are normalized by the same
 * asserted rules as test/guest/mount.test.ts (test/guest/mount-workload.ts).
 * Then SIGTERM unmounts and the server exits 0.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { suiteScratchDir } from "../scratch.js";
import { diff, forceUnmount, mountAt, normalize, runWorkload, startMounted, treeOf, type Mounted } from "../guest/mount-workload.js";

// Removed after the test, a mount left at mnt/ detached first.
const scratch = suiteScratchDir("viofs-fuse-mount-");
before(() => assert.equal(process.getuid?.(), 0, "this test mounts file systems: run it as root"));

test("viofs serve --fuse-mount: the workload's output and tree equal a native run's; SIGTERM unmounts", { timeout: 240_000 }, async (t) => {
  const nativeDir = join(scratch, "native");
  const shared = join(scratch, "shared");
  const mountpoint = join(scratch, "mnt");
  for (const dir of [nativeDir, shared, mountpoint]) mkdirSync(dir);

  // The reference: a plain host directory, with the FUSE mount's nosuid,nodev so that both compare file systems.
  const nativeRun = await runWorkload(nativeDir, "nosuid,nodev");
  assert.equal(nativeRun.code, 0, nativeRun.stderr);
  const nativeLines = nativeRun.stdout.trimEnd().split("\n");
  assert.equal(nativeLines[nativeLines.length - 1], "done: ok");
  const native = normalize(nativeLines, { fuse: false });

  let mounted: Mounted | null = null;
  t.after(() => {
    forceUnmount(mountpoint);
    mounted?.child.kill("SIGKILL");
  });
  mounted = await startMounted(
    // A limit this host grants, so that any WARN below is the mount's.
    ["serve", `--shared-dir=${shared}`, `--fuse-mount=${mountpoint}`, "--sandbox=none", "--xattr", "--rlimit-nofile=4096"],
    mountpoint,
    new RegExp(`serving \\S+ at ${mountpoint} through /dev/fuse`),
  );
  assert.deepEqual(mountAt(mountpoint), { source: "viofs", fstype: "fuse.viofs", options: "rw,nosuid,nodev,relatime" });

  const run = await runWorkload(mountpoint, null);
  assert.equal(run.code, 0, `${run.stderr}\n--- viofs serve ---\n${mounted.stderr()}`);
  const lines = normalize(run.stdout.trimEnd().split("\n"), { fuse: true, source: "viofs" });
  assert.deepEqual(lines, native, diff({ name: "native", lines: native }, { name: "fuse-mount", lines }));
  // What the tools print on stderr, too (with nodev on both sides, opening c1 fails alike).
  assert.equal(run.stderr, nativeRun.stderr);
  assert.doesNotMatch(mounted.stderr(), / (WARN|ERROR) /, mounted.stderr());

  // SIGTERM: exit 0 and the mount gone (checked by stop), with the server saying so.
  const log = mounted;
  await mounted.stop();
  mounted = null;
  assert.match(log.stderr(), /SIGTERM: unmounting/);
  assert.match(log.stderr(), /unmounted/);
  const tree = treeOf(join(shared, "w"));
  const nativeTree = treeOf(join(nativeDir, "w"));
  assert.deepEqual(tree, nativeTree, diff({ name: "native", lines: nativeTree }, { name: "fuse-mount", lines: tree }));
});
