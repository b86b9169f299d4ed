/**
 * Our frontend against our backend, in one process over the fake kernel:
 * the whole handshake, shared memory, kicks and calls, GET_VRING_BASE, and
 * both directions of hang-up.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ProtocolError } from "../../src/common/errors.js";
import { VhostUserBackend } from "../../src/vhost-user/backend.js";
import { VhostUserFrontend } from "../../src/vhost-user/frontend.js";
import { ProtocolFeature, VhostFeature, bit } from "../../src/vhost-user/messages.js";
import { FakeKernel, FakeSystem, fakeTransportPair } from "./fake-system.js";
import { FS_FEATURES, RecordingDevice, fsConfig } from "./helpers.js";

function pair(device = new RecordingDevice()) {
  const kernel = new FakeKernel();
  const system = new FakeSystem(kernel);
  const [a, b] = fakeTransportPair(kernel);
  const backendErrors: Error[] = [];
  const backend = new VhostUserBackend({ device, transport: b, system, onError: (e) => backendErrors.push(e) });
  backend.start();
  const disconnects: Error[] = [];
  const frontend = new VhostUserFrontend({ transport: a, system, peer: "fake", onDisconnected: (e) => disconnects.push(e) });
  return { kernel, system, backend, frontend, device, backendErrors, disconnects };
}

const SETUP = { memory: [{ guestAddr: 0n, size: 1 << 20 }, { guestAddr: 0x1_0000_0000n, size: 1 << 20 }], queueSizes: [128, 1024] };

test("handshake: rings enabled on both sides with the same addresses and the same memory", async () => {
  const p = pair(new RecordingDevice(2, 1024, FS_FEATURES, fsConfig("loop")));
  const device = await p.frontend.start(SETUP);
  await p.device.until(() => p.device.running.size === 2, "both rings");
  assert.equal(device.features, FS_FEATURES);
  assert.equal(device.protocolFeatures, bit(ProtocolFeature.REPLY_ACK) | bit(ProtocolFeature.MQ) | bit(ProtocolFeature.CONFIG));
  assert.equal(device.maxQueues, 2);
  assert.equal(new TextDecoder().decode(device.config!.subarray(0, 4)), "loop");
  assert.equal(p.backend.features, FS_FEATURES | bit(VhostFeature.PROTOCOL_FEATURES));
  for (const queue of device.queues) {
    const vring = p.device.running.get(queue.index)!;
    assert.equal(vring.size, queue.size);
    assert.equal(vring.descAddr, queue.descAddr);
    assert.equal(vring.availAddr, queue.availAddr);
    assert.equal(vring.usedAddr, queue.usedAddr);
    assert.equal(vring.nextAvail, 0);
  }
  assert.ok(device.heap.guestAddr >= device.queues[1]!.usedAddr);
  // Bytes written by the frontend are seen by the backend, in both regions, and back.
  device.memory.slice(device.heap.guestAddr, 5).set([1, 2, 3, 4, 5]);
  const seen = p.device.running.get(1)!.memory;
  assert.deepEqual([...seen.slice(device.heap.guestAddr, 5)], [1, 2, 3, 4, 5]);
  seen.slice(0x1_0000_0000n + 100n, 2).set([9, 8]);
  assert.deepEqual([...device.memory.slice(0x1_0000_0000n + 100n, 2)], [9, 8]);
  assert.deepEqual(p.backendErrors, []);
  p.frontend.close();
  await p.backend.closed;
  assert.equal(p.kernel.openCount, 0);
});

test("a kick reaches the backend's device and a notify reaches the frontend", async () => {
  const p = pair();
  const device = await p.frontend.start(SETUP);
  await p.device.until(() => p.device.running.size === 2, "both rings");
  device.queues[1]!.kick();
  await p.device.until(() => p.device.kicks.get(1) === 1, "kick on ring 1");
  const called = new Promise<void>((resolve) => device.queues[1]!.onCall(resolve));
  p.device.running.get(1)!.notify();
  await called;
  const failed = new Promise<void>((resolve) => device.queues[0]!.onError(resolve));
  p.device.running.get(0)!.signalError();
  await failed;
  p.frontend.close();
  await p.backend.closed;
  assert.equal(p.kernel.openCount, 0);
});

test("GET_VRING_BASE stops the ring; re-enabling needs a new kick fd", async () => {
  const p = pair();
  await p.frontend.start(SETUP);
  await p.device.until(() => p.device.running.size === 2, "both rings");
  p.device.advance = 42;
  assert.equal(await p.frontend.getVringBase(1), 42);
  assert.equal(p.device.running.has(1), false);
  await p.frontend.setVringEnable(1, true);
  assert.equal(p.device.running.has(1), false, "no kick fd: the ring stays stopped");
  p.frontend.close();
  await p.backend.closed;
});

test("the backend going away raises disconnected with ECONNRESET and fails the next request", async () => {
  const p = pair();
  await p.frontend.start(SETUP);
  p.backend.close();
  await p.backend.closed;
  const disconnect = await p.frontend.closed;
  assert.equal((disconnect.error as { code?: string }).code, "VIOFS_ERRNO_ECONNRESET");
  assert.equal(p.disconnects.length, 1);
  assert.match(p.disconnects[0]!.message, /ECONNRESET/);
  await assert.rejects(p.frontend.getVringBase(0), /ECONNRESET/);
  p.frontend.close();
  assert.equal(p.kernel.openCount, 0);
});

test("a backend refusal fails start() at the request that caused it", async () => {
  const p = pair(new RecordingDevice(2, 256));
  await assert.rejects(p.frontend.start(SETUP), (error: unknown) => {
    assert.ok(ProtocolError.is(error));
    assert.match(error.message, /refused SET_VRING_NUM/);
    return true;
  });
  await p.frontend.closed;
  await p.backend.closed;
  p.frontend.close();
  assert.equal(p.kernel.openCount, 0);
});

test("too few queues in GET_QUEUE_NUM is an error before anything is shared", async () => {
  const p = pair(new RecordingDevice(1));
  await assert.rejects(p.frontend.start(SETUP), /supports 1 queues, 2 wanted/);
  p.frontend.close();
  await p.backend.closed;
  assert.equal(p.kernel.openCount, 0);
});
