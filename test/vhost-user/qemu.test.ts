/**
 * QEMU 7.2's vhost-user-fs-pci against our backend, as far as QEMU goes
 * without a guest: device realize runs the init handshake (features,
 * protocol features, queue count, memory slots, owner, call and err fds per
 * ring). Rings start only once a guest driver sets DRIVER_OK, which the VM
 * tests (test/vm/) cover. QEMU runs paused (-S), under TCG, for a second.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_PROTOCOL_FEATURES, VhostUserBackend } from "../../src/vhost-user/backend.js";
import { HostSystem, VhostUserListener } from "../../src/vhost-user/system.js";
import { RecordingDevice } from "./helpers.js";

test("QEMU 7.2 realizes vhost-user-fs-pci against our backend", async () => {
  const dir = mkdtempSync(join(tmpdir(), "viofs-qemu-"));
  const path = join(dir, "vhost.sock");
  const listener = new VhostUserListener(path);
  let stderr = "";
  const qemu = spawn(
    "qemu-system-x86_64",
    [
      ...["-M", "q35", "-m", "256M", "-S", "-nographic", "-monitor", "none", "-serial", "none", "-display", "none"],
      ...["-object", "memory-backend-memfd,id=mem,size=256M,share=on", "-numa", "node,memdev=mem"],
      ...["-chardev", `socket,id=vu,path=${path}`, "-device", "vhost-user-fs-pci,chardev=vu,tag=viofs,queue-size=1024"],
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  qemu.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => qemu.on("exit", (code) => resolve(code)));
  const errors: string[] = [];
  try {
    const transport = await Promise.race([
      listener.accept(),
      exited.then((code) => Promise.reject(new Error(`QEMU exited (${code}) before connecting:\n${stderr}`))),
    ]);
    const device = new RecordingDevice(2, 1024);
    const backend = new VhostUserBackend({ device, transport, system: new HostSystem(), peer: path, onError: (e, r) => errors.push(`${r}: ${e.message}`) });
    backend.start();
    // The last init step is SET_VRING_ERR for the last ring.
    for (let waited = 0; !backend.ring(1).hasErr; waited += 20) {
      assert.ok(waited < 20_000, `QEMU did not finish the init handshake:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(backend.owned, true);
    assert.equal(backend.protocolFeatures, DEFAULT_PROTOCOL_FEATURES);
    for (const index of [0, 1]) {
      assert.equal(backend.ring(index).hasCall, true);
      assert.equal(backend.ring(index).running, false);
    }
    assert.deepEqual(errors, []);
    assert.equal(qemu.exitCode, null, `QEMU is still running:\n${stderr}`);
    qemu.kill("SIGTERM");
    await exited;
    const disconnect = await backend.closed;
    assert.match(String(disconnect.error), /ECONNRESET/);
  } finally {
    if (qemu.exitCode === null) qemu.kill("SIGKILL");
    listener.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
