/**
 * A guest reboot with the share mounted and a file open: QEMU resets the
 * device (the rings stop, GET_VRING_BASE), the guest's second boot sets the
 * rings up again and starts a new FUSE session with INIT. The daemon must
 * drop the first session's inodes and handles and serve the second; what the
 * first boot wrote is there. Run against C virtiofsd too, as the reference.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { runWorkloadOn } from "./harness.js";
import { MARKERS } from "./image.js";
import type { BackendName } from "./backends.js";

// First boot: write, keep a file open and a directory entered, reboot without unmounting.
// Second boot (the marker exists): read back, write again, list.
const SCRIPT = `
if [ ! -e boot1 ]; then
  echo first-boot > boot1
  mkdir -p held && echo kept > held/file
  sync
  exec 3<held/file
  cd held
  reboot -f
  sleep 30
fi
echo "second boot"
cat boot1
cat held/file
echo second-boot > boot2 && cat boot2
ls -1
`;

async function rebootOn(t: { after(fn: () => void): void; diagnostic(s: string): void }, name: BackendName): Promise<void> {
  // C virtiofsd does not recover a lost interrupt; see PEER_SHUTDOWN_GRACE_MS in differential.test.ts.
  const run = await runWorkloadOn(name, { script: SCRIPT, reboot: true, ...(name === "virtiofsd" ? { shutdownGraceMs: 30_000 } : {}) });
  t.after(() => run.cleanup());
  const context = `--- ${name} console tail ---\n${run.guest.console.split("\n").slice(-30).join("\n")}\n--- log ---\n${run.backendLog}`;
  t.diagnostic(`${name}: both boots and the script in ${run.guest.timings.totalMs} ms`);
  assert.equal(run.exitCode, 0, context);
  assert.deepEqual(run.lines, ["second boot", "first-boot", "kept", "second-boot", "boot1", "boot2", "held"], context);
  // Two boots on one QEMU process: the init started the script twice.
  assert.equal(run.guest.console.split(MARKERS.outputBegin).length - 1, 2, context);
  assert.equal(readFileSync(join(run.sharedDir, "boot2"), "utf8"), "second-boot\n");
  if (name !== "virtiofsd") {
    // One FUSE session a boot, the first one's nodes and handles dropped at the reset.
    assert.equal(run.backendLog.match(/fuse: session of protocol/g)?.length, 2, context);
  }
  // The daemon served both sessions on one connection and exited cleanly with QEMU.
  assert.deepEqual(run.backendExit, { code: 0, signal: null }, context);
}

test("a guest reboot with the share mounted: C virtiofsd (reference)", { timeout: 300_000 }, async (t) => {
  await rebootOn(t, "virtiofsd");
});

test("a guest reboot with the share mounted: viofs serve", { timeout: 300_000 }, async (t) => {
  await rebootOn(t, "viofs");
});
