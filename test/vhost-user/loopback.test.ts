/**
 * Our frontend against our backend over a real AF_UNIX socket, with real
 * memfds, mmap and eventfds: the handshake, shared memory, a kick reaching
 * the backend, a call reaching the frontend, hang-ups both ways, malformed
 * input over the real socket, and no fd left open afterwards.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { ProtocolError, ProtocolErrorCode } from "../../src/common/errors.js";
import { sharedPoller } from "../../src/sys/poller.js";
import { socketpair } from "../../src/sys/socket.js";
import { VhostUserBackend } from "../../src/vhost-user/backend.js";
import { VhostUserFrontend } from "../../src/vhost-user/frontend.js";
import { FrontendRequest as R, HeaderFlag, decodeU64, encodeRequest, encodeU64 } from "../../src/vhost-user/messages.js";
import { HostSystem, SocketTransport, VhostUserListener, connectFrontend } from "../../src/vhost-user/system.js";
import { scratchDir } from "../scratch.js";
import { RawPeer, RecordingDevice, fsConfig } from "./helpers.js";

const openFds = (): number => readdirSync("/proc/self/fd").length;
// The shared poller's own two fds (epoll, wake eventfd) exist from here on.
sharedPoller();
const SETUP = { memory: [{ guestAddr: 0n, size: 4 << 20 }], queueSizes: [128, 1024] };

function backendOn(transport: SocketTransport, device: RecordingDevice, system: HostSystem, errors: Error[] = []): VhostUserBackend {
  const backend = new VhostUserBackend({ device, transport, system, peer: "socketpair", onError: (e) => errors.push(e) });
  backend.start();
  return backend;
}

test("loopback over a socketpair: memory, kicks and calls cross for real", async () => {
  const before = openFds();
  const system = new HostSystem();
  const [a, b] = socketpair();
  const device = new RecordingDevice(2, 1024, undefined, fsConfig("loopfs"));
  const errors: Error[] = [];
  const backend = backendOn(new SocketTransport(b), device, system, errors);
  const frontend = new VhostUserFrontend({ transport: new SocketTransport(a), system, peer: "socketpair" });
  const setup = await frontend.start(SETUP);
  await device.until(() => device.running.size === 2, "both rings running");
  assert.equal(new TextDecoder().decode(setup.config!.subarray(0, 6)), "loopfs");

  // The backend's mapping of the received memfd is the frontend's memory.
  const heap = setup.heap.guestAddr;
  setup.memory.slice(heap, 3).set([7, 8, 9]);
  const theirs = device.running.get(1)!.memory;
  assert.deepEqual([...theirs.slice(heap, 3)], [7, 8, 9]);
  theirs.slice(heap + 100n, 1)[0] = 0x5a;
  assert.equal(setup.memory.slice(heap + 100n, 1)[0], 0x5a);
  assert.equal(device.running.get(1)!.usedAddr, setup.queues[1]!.usedAddr);

  // Kick: frontend eventfd -> SCM_RIGHTS copy -> backend's poller -> device.
  setup.queues[1]!.kick();
  await device.until(() => (device.kicks.get(1) ?? 0) >= 1, "kick");
  // Call: device -> backend's copy of the call eventfd -> frontend's poller.
  await new Promise<void>((resolve) => {
    const off = setup.queues[0]!.onCall(() => {
      off();
      resolve();
    });
    device.running.get(0)!.notify();
  });

  assert.equal(await frontend.getVringBase(0), 0);
  assert.deepEqual(errors, []);
  frontend.close();
  const disconnect = await backend.closed;
  assert.match(String(disconnect.error), /ECONNRESET/);
  assert.equal(device.resets, 1);
  assert.equal(openFds(), before, "every fd closed on both sides");
});

test("the backend going away: the frontend reports disconnected with ECONNRESET", async () => {
  const before = openFds();
  const system = new HostSystem();
  const [a, b] = socketpair();
  const device = new RecordingDevice();
  const backend = backendOn(new SocketTransport(b), device, system);
  const seen: Error[] = [];
  const frontend = new VhostUserFrontend({ transport: new SocketTransport(a), system, peer: "socketpair", onDisconnected: (e) => seen.push(e) });
  await frontend.start(SETUP);
  backend.close();
  await backend.closed;
  const disconnect = await frontend.closed;
  assert.match(disconnect.error!.message, /ECONNRESET/);
  assert.equal(seen.length, 1);
  await assert.rejects(frontend.setVringEnable(0, false), /ECONNRESET/);
  frontend.close();
  assert.equal(openFds(), before);
});

test("malformed input over a real socket: refused, fds closed, connection kept; framing error drops it", async () => {
  const before = openFds();
  const system = new HostSystem();
  const [a, b] = socketpair();
  const device = new RecordingDevice();
  const errors: Error[] = [];
  const backend = backendOn(new SocketTransport(b), device, system, errors);
  const peer = new RawPeer(new SocketTransport(a), system);
  const stray = [system.createEventFd(), system.createMemfd("stray", 4096n)];

  // GET_FEATURES with fds attached: refused (empty reply), the fds closed in the backend.
  await peer.send(encodeRequest(R.GET_FEATURES), stray);
  const refused = await peer.next();
  assert.equal(refused.request, R.GET_FEATURES);
  assert.equal(refused.payload.length, 0);
  assert.equal((errors[0] as ProtocolError).code, ProtocolErrorCode.FDS);
  // SET_VRING_KICK with NEED_REPLY but no fd: ack 1.
  await peer.send(encodeRequest(R.SET_VRING_KICK, encodeU64(0), true));
  assert.equal(decodeU64((await peer.next()).payload), 1n);
  // Unknown request 77 with NEED_REPLY: ack 1.
  await peer.send(encodeRequest(77, new Uint8Array(3), true), [stray[0]!]);
  assert.equal(decodeU64((await peer.next()).payload), 1n);
  // Still alive.
  await peer.send(encodeRequest(R.GET_QUEUE_NUM));
  const reply = await peer.next();
  assert.equal(reply.flags, 1 | HeaderFlag.REPLY);
  assert.equal(decodeU64(reply.payload), 2n);
  for (const fd of stray) system.closeFd(fd);
  assert.equal(openFds(), before + 2, "only the two socket ends are open: the backend kept no fd");

  // A header claiming a 64 KiB payload ends the connection.
  const header = new Uint8Array(12);
  new DataView(header.buffer).setUint32(0, R.SET_MEM_TABLE, true);
  new DataView(header.buffer).setUint32(4, 1, true);
  new DataView(header.buffer).setUint32(8, 65536, true);
  await peer.send(header);
  const disconnect = await backend.closed;
  assert.equal((disconnect.error as ProtocolError).code, ProtocolErrorCode.LIMIT);
  assert.equal(await peer.ended, null);
  peer.close();
  assert.equal(openFds(), before);
});

test("connectFrontend and VhostUserListener: a backend serving consecutive connections on a socket path", async (t) => {
  const dir = scratchDir(t, "viofs-vu-");
  const path = join(dir, "vhost.sock");
  const before = openFds();
  const listener = new VhostUserListener(path);
  const device = new RecordingDevice();
  const served: Promise<void> = (async () => {
    for (let i = 0; i < 2; i++) {
      const backend = backendOn(await listener.accept(), device, new HostSystem());
      await backend.closed;
    }
  })();
  for (let i = 0; i < 2; i++) {
    const { frontend, device: setup } = await connectFrontend(path, SETUP);
    assert.equal(setup.queues.length, 2);
    await device.until(() => device.running.size === 2, `rings of connection ${i}`);
    frontend.close();
    await device.until(() => device.resets === i + 1, `reset after connection ${i}`);
  }
  await served;
  listener.close();
  assert.equal(openFds(), before);
});
