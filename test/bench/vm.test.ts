/**
 * The VM benchmark's guest script, run for real at a small size: one boot
 * with a device for C virtiofsd and one for viofs serve, every workload on
 * each mount, in an order that alternates, and output the parser reads.
 */
import assert from "node:assert/strict";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { buildHelper, guestScript, parseGuestOutput, vmSettings, type GuestSample } from "../../bench/vm.js";
import { startViofsServe, startVirtiofsd, type BackendHandle } from "../vm/backends.js";
import { runGuest } from "../vm/qemu.js";

test("the VM bench's script: both mounts in one boot, every workload on each, the first alternating", { timeout: 240_000 }, async (t) => {
  const built = buildHelper();
  assert.notEqual(built.path, null, `the bench helper must build here (gcc): ${built.path === null ? built.why : ""}`);
  const root = mkdtempSync(join(tmpdir(), "viofs-bench-vm-test-"));
  const handles: BackendHandle[] = [];
  t.after(async () => {
    await Promise.all(handles.map((h) => h.stop(0)));
    rmSync(root, { recursive: true, force: true });
  });
  const shares = ["one", "two"].map((n) => join(root, n));
  for (const dir of shares) mkdirSync(dir);
  mkdirSync(join(shares[0]!, ".viofs-bench-bin"));
  copyFileSync(built.path!, join(shares[0]!, ".viofs-bench-bin", "fsops"));
  chmodSync(join(shares[0]!, ".viofs-bench-bin", "fsops"), 0o755);
  handles.push(await startVirtiofsd(shares[0]!, join(root, "one.sock")));
  handles.push(await startViofsServe(shares[1]!, join(root, "two.sock")));

  const s = { ...vmSettings(false), sizeMiB: 2, files: 20, reps: 2, shellLoops: true, shellFiles: 10 };
  const run = await runGuest({
    socketPath: handles[0]!.socketPath,
    tag: "bench-one",
    moreDevices: [{ socketPath: handles[1]!.socketPath, tag: "bench-two" }],
    script: guestScript(s, true, ["bench-one", "bench-two"]),
    timeoutMs: 200_000,
  });
  assert.equal(run.exitCode, 0, run.output);
  const { samples } = parseGuestOutput(run.output);

  // Each of the 8 workloads (dd write and read, the helper's and the shell's
  // create, stat and unlink), each rep, on each subject: 32 samples.
  const key = (x: GuestSample): string => `${x.tool} ${x.kind} ${x.rep}`;
  const workloads = [...new Set(samples.map(key))];
  assert.equal(workloads.length, 16, workloads.join(", "));
  for (const w of workloads) {
    const pair = samples.filter((x) => key(x) === w);
    assert.deepEqual(pair.map((x) => x.subject).sort(), [1, 2], w);
    for (const x of pair) {
      assert.equal(x.amount, x.tool === "dd" ? 2 << 20 : x.tool === "shell" ? 10 : 20, w);
      assert.ok(x.seconds > 0 && x.seconds < 60, `${w}: ${x.seconds} s`);
    }
  }
  // Who goes first flips from one workload to the next and, for each workload, from one rep to the next.
  const firsts = workloads.map((w) => samples.find((x) => key(x) === w)!.subject);
  for (let i = 1; i < 8; i++) assert.notEqual(firsts[i], firsts[i - 1], `rep 1, workload ${i}: ${firsts.join(" ")}`);
  for (let i = 0; i < 8; i++) assert.notEqual(firsts[i + 8], firsts[i], `workload ${i}, rep 2: ${firsts.join(" ")}`);
  // The script leaves both shares as it found them (the helper's directory aside).
  assert.deepEqual(readdirSync(shares[0]!), [".viofs-bench-bin"]);
  assert.deepEqual(readdirSync(shares[1]!), []);
});
