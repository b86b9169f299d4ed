/** runGuest itself: framing of the script's output and status, and its two failure reports. */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { startVirtiofsd, type BackendHandle } from "./backends.js";
import { runGuest } from "./qemu.js";

async function virtiofsd(t: TestContext): Promise<BackendHandle> {
  const root = mkdtempSync(join(tmpdir(), "viofs-qemu-test-"));
  mkdirSync(join(root, "share"));
  const handle = await startVirtiofsd(join(root, "share"), join(root, "vfs.sock"));
  t.after(async () => {
    await handle.stop(0);
    rmSync(root, { recursive: true, force: true });
  });
  return handle;
}

test("runGuest: output with and without a final newline, stderr merged, the exit status", { timeout: 120_000 }, async (t) => {
  const backend = await virtiofsd(t);
  const run = await runGuest({
    socketPath: backend.socketPath,
    tag: "qt",
    script: "printf 'one\\ntwo'\necho err >&2\nprintf 'x' >/mnt/file\ncat /mnt/file\nexit 7\n",
    timeoutMs: 90_000,
    queueSize: 64,
  });
  assert.equal(run.output, "one\ntwoerr\nx");
  assert.equal(run.exitCode, 7);
  assert.ok(run.commandLine.includes("vhost-user-fs-pci,chardev=vfs,tag=qt,queue-size=64"));
  assert.match(run.console, /@@VIOFS-OUTPUT-BEGIN@@/);
  assert.ok(run.timings.bootMs > 0 && run.timings.scriptMs >= 0 && run.timings.totalMs >= run.timings.bootMs);
  assert.deepEqual(await backend.stop(), { code: 0, signal: null });
});

test("runGuest: a second device, mounted by the script, writes to its own backend's share", { timeout: 120_000 }, async (t) => {
  const first = await virtiofsd(t);
  const second = await virtiofsd(t);
  const run = await runGuest({
    socketPath: first.socketPath,
    tag: "qt",
    moreDevices: [{ socketPath: second.socketPath, tag: "qt2" }],
    script: "mkdir /m2 && mount -t virtiofs qt2 /m2 || exit 3\necho one >/mnt/f\necho two >/m2/f\numount /m2\n",
    timeoutMs: 90_000,
  });
  assert.equal(run.exitCode, 0, run.output);
  const i = run.commandLine.indexOf("vhost-user-fs-pci,chardev=vfs2,tag=qt2");
  assert.ok(i > 0 && run.commandLine[i - 2] === `socket,id=vfs2,path=${second.socketPath}`, run.commandLine.join(" "));
  assert.equal(readFileSync(join(first.sharedDir, "f"), "utf8"), "one\n");
  assert.equal(readFileSync(join(second.sharedDir, "f"), "utf8"), "two\n");
});

test("runGuest: a tag the device does not offer is reported as a failed mount", { timeout: 120_000 }, async (t) => {
  const backend = await virtiofsd(t);
  await assert.rejects(
    runGuest({ socketPath: backend.socketPath, tag: "qt", mountTag: "not-qt", script: "exit 0\n", timeoutMs: 90_000 }),
    (e: Error) => /could not mount the virtiofs tag/.test(e.message) && /console tail:/.test(e.message),
  );
});

test("runGuest: a run over its time is killed and reported with the console's tail", { timeout: 60_000 }, async (t) => {
  const backend = await virtiofsd(t);
  const started = performance.now();
  await assert.rejects(
    runGuest({ socketPath: backend.socketPath, tag: "qt", script: "sleep 600\n", timeoutMs: 4_000 }),
    (e: Error) => /timed out after 4000 ms \(killed\)/.test(e.message) && /console tail:/.test(e.message),
  );
  assert.ok(performance.now() - started < 15_000, "killed promptly");
  // With QEMU gone, virtiofsd loses its client and exits by itself.
  assert.equal((await backend.stop(5_000)).signal, null);
});

test("runGuest: aborting (the harness does when the backend dies) kills QEMU at once", { timeout: 60_000 }, async (t) => {
  const backend = await virtiofsd(t);
  const died = new AbortController();
  void backend.exited.then(() => died.abort(new Error("virtiofsd is gone")));
  const started = performance.now();
  const run = runGuest({
    socketPath: backend.socketPath,
    tag: "qt",
    script: "sleep 600\n",
    timeoutMs: 50_000,
    signal: died.signal,
  });
  setTimeout(() => process.kill(backend.pid, "SIGKILL"), 1_500);
  await assert.rejects(run, (e: Error) => /run aborted \(QEMU killed\): virtiofsd is gone/.test(e.message));
  assert.ok(performance.now() - started < 15_000, "aborted promptly");
});
