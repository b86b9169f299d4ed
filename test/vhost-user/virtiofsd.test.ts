/**
 * Our frontend against QEMU's C virtiofsd (package qemu-system-common,
 * installed by scripts/setup.sh): the handshake up to enabled rings, then one
 * FUSE_INIT through a DriverQueue on the request queue and its reply read back
 * from guest memory. virtiofsd serves one connection and exits when it ends.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FUSE_KERNEL_VERSION, FUSE_KERNEL_MINOR_VERSION, Opcode, decodeReply, encodeRequestBytes, type Request } from "../../src/fuse/index.js";
import { GuestAllocator } from "../../src/virtio/allocator.js";
import { DriverQueue } from "../../src/virtio/driver-queue.js";
import { hasFeature } from "../../src/virtio/ring.js";
import { ProtocolFeature, hasBit } from "../../src/vhost-user/messages.js";
import { connectFrontend } from "../../src/vhost-user/system.js";
import { whileRefused } from "../guest/helpers.js";

const VIRTIOFSD = "/usr/lib/qemu/virtiofsd";

interface Daemon {
  child: ChildProcess;
  socket: string;
  dir: string;
  log: () => string;
  exited: Promise<number | null>;
}

/** Starts virtiofsd on a fresh socket and shared directory; resolves once the socket exists (else kills it and removes the directory). It may not listen yet: connect with {@link whileRefused}. */
async function startVirtiofsd(): Promise<Daemon> {
  assert.ok(existsSync(VIRTIOFSD), `${VIRTIOFSD} is missing: run scripts/setup.sh (package qemu-system-common)`);
  const dir = mkdtempSync(join(tmpdir(), "viofs-virtiofsd-"));
  const socket = join(dir, "vhost.sock");
  const child = spawn(VIRTIOFSD, [`--socket-path=${socket}`, "-o", `source=${dir}`, "-o", "cache=auto", "-d"], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  for (let waited = 0; !existsSync(socket); waited += 20) {
    if (child.exitCode !== null || waited > 10_000) {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`virtiofsd did not create its socket:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { child, socket, dir, log: () => stderr, exited };
}

async function stop(daemon: Daemon): Promise<void> {
  const timer = setTimeout(() => daemon.child.kill("SIGKILL"), 5000);
  await daemon.exited;
  clearTimeout(timer);
  rmSync(daemon.dir, { recursive: true, force: true });
}

test("the handshake with QEMU's virtiofsd reaches enabled rings", async () => {
  const daemon = await startVirtiofsd();
  try {
    const { frontend, device } = await whileRefused(() => connectFrontend(daemon.socket, { memory: [{ guestAddr: 0n, size: 4 << 20 }], queueSizes: [128, 128] }));
    assert.ok(hasFeature(device.features, "VERSION_1"));
    assert.ok(hasFeature(device.features, "RING_EVENT_IDX"));
    assert.ok(hasBit(device.protocolFeatures, ProtocolFeature.REPLY_ACK), "every step was acknowledged by virtiofsd");
    assert.ok(hasBit(device.protocolFeatures, ProtocolFeature.MQ));
    assert.ok(device.maxQueues! >= 2);
    assert.equal(device.queues.length, 2);
    // virtiofsd started a thread for each ring.
    for (const q of [0, 1]) assert.match(daemon.log(), new RegExp(`fv_queue_set_started: qidx=${q} started=1`));
    frontend.close();
    assert.equal(await daemon.exited, 0);
  } finally {
    await stop(daemon);
  }
});

test("FUSE_INIT through a DriverQueue to virtiofsd, and its reply", async (t) => {
  const daemon = await startVirtiofsd();
  try {
    const { frontend, device } = await whileRefused(() => connectFrontend(daemon.socket, { memory: [{ guestAddr: 0n, size: 4 << 20 }], queueSizes: [128, 128] }));
    t.after(() => frontend.close());
    const heap = new GuestAllocator(device.heap.guestAddr, device.heap.size);
    const ring = device.queues[1]!;
    const queue = new DriverQueue<string>({
      memory: device.memory,
      size: ring.size,
      descAddr: ring.descAddr,
      availAddr: ring.availAddr,
      usedAddr: ring.usedAddr,
      eventIdx: hasFeature(device.features, "RING_EVENT_IDX"),
      indirectAllocator: heap,
    });
    const init: Request = {
      opcode: Opcode.INIT,
      header: { unique: 1n, nodeid: 0n, uid: 0, gid: 0, pid: 0 },
      arg: { major: FUSE_KERNEL_VERSION, minor: FUSE_KERNEL_MINOR_VERSION, maxReadahead: 0x20000, flags: 0, flags2: 0 },
    } as Request;
    const bytes = encodeRequestBytes(init);
    assert.equal(bytes.length, 40 + 64);
    const inAddr = heap.alloc(bytes.length);
    const outAddr = heap.alloc(16 + 64);
    device.memory.slice(inAddr, bytes.length).set(bytes);

    // libvhost-user signals each call eventfd once when it receives it, so a
    // call may come before the reply: take completions on every call until one is there.
    const completion = new Promise<ReturnType<typeof queue.takeUsed>>((resolve) => {
      const off = ring.onCall(() => {
        const done = queue.takeUsed();
        if (done.length === 0) return;
        off();
        resolve(done);
      });
    });
    assert.ok(queue.add([{ gpa: inAddr, len: bytes.length }], [{ gpa: outAddr, len: 16 + 64 }], "init") >= 0);
    if (queue.kickNeeded()) ring.kick();
    const [used] = await completion;
    assert.equal(used!.token, "init");
    const reply = decodeReply(init, device.memory.slice(outAddr, used!.len).slice());
    assert.ok(reply.ok, `virtiofsd answered errno ${(reply as { errno?: number }).errno}`);
    const out = (reply as { body: { major: number; minor: number; maxWrite: number } }).body;
    assert.equal(out.major, 7);
    assert.ok(out.minor >= 31 && out.minor <= FUSE_KERNEL_MINOR_VERSION, `minor ${out.minor}`);
    assert.ok(out.maxWrite > 0);
    frontend.close();
    assert.equal(await daemon.exited, 0);
  } finally {
    await stop(daemon);
  }
});
