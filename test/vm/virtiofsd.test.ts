/**
 * The workload in a real Linux guest (QEMU, TCG) against QEMU's C virtiofsd:
 * proves the harness and fixes the reference output the differential test
 * compares `viofs serve` with.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertSteps, runWorkloadOn, verifyHostTree } from "./harness.js";

test("C virtiofsd: the POSIX workload in a Linux guest, then the host tree", { timeout: 300_000 }, async (t) => {
  const run = await runWorkloadOn("virtiofsd");
  t.after(() => run.cleanup());
  t.diagnostic(
    `boot ${run.guest.timings.bootMs} ms, workload ${run.guest.timings.scriptMs} ms, total ${run.guest.timings.totalMs} ms`,
  );
  assert.equal(run.exitCode, 0, run.output);
  assertSteps(run.lines);
  verifyHostTree(run.sharedDir);
  // The guest's driver found the device and FUSE initialised (both from dmesg).
  assert.match(run.guest.dmesg, /fuse: init \(API version 7\.\d+\)/);
  assert.match(run.guest.dmesg, /virtiofs virtio\d+:/);
  // virtiofsd serves one connection and exits cleanly when QEMU goes away.
  assert.deepEqual(run.backendExit, { code: 0, signal: null }, run.backendLog);
});
