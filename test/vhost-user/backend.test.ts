/**
 * The backend state machine, in-process: a raw frontend sends what QEMU 7.2's
 * vhost-user-fs-pci sends (and malformed variants) over a fake transport, with
 * fake memfds and eventfds whose open count shows any fd leak.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ProtocolError, ProtocolErrorCode } from "../../src/common/errors.js";
import { DEFAULT_PROTOCOL_FEATURES, KICK_WAIT_TURN_MS, MEMORY_NOT_SHARED, VhostUserBackend, type Vring } from "../../src/vhost-user/backend.js";
import {
  FrontendRequest as R,
  HeaderFlag,
  ProtocolFeature,
  VhostFeature,
  bit,
  decodeConfig,
  decodeU64,
  decodeVringState,
  encodeConfig,
  encodeLog,
  encodeMemRegMsg,
  encodeMemoryTable,
  encodeMessage,
  encodeRequest,
  encodeU64,
  encodeVringAddr,
  encodeVringFile,
  encodeVringState,
  type MemoryRegionDesc,
} from "../../src/vhost-user/messages.js";
import { FakeKernel, FakeSystem, fakeTransportPair } from "./fake-system.js";
import { FS_FEATURES, RawPeer, RecordingDevice, fsConfig } from "./helpers.js";

const RAM = 1 << 20;
const USER_BASE = 0x7f00_0000_0000n;
const GUEST_BASE = 0x4000_0000n;

function setup(device = new RecordingDevice(), protocolFeatures?: bigint, kickWaitMs?: number, system = new FakeSystem(new FakeKernel())) {
  const kernel = system.kernel;
  const [front, back] = fakeTransportPair(kernel);
  const errors: { error: Error; request: string }[] = [];
  const backend = new VhostUserBackend({
    device,
    transport: back,
    system,
    ...(protocolFeatures !== undefined ? { protocolFeatures } : {}),
    ...(kickWaitMs !== undefined ? { kickWaitMs } : {}),
    onError: (error, request) => errors.push({ error, request }),
  });
  backend.start();
  const peer = new RawPeer(front, system);
  return { kernel, system, backend, peer, device, errors };
}

type Setup = ReturnType<typeof setup>;

/** Sends a request and returns the reply payload. */
async function ask(s: Setup, request: number, payload?: Uint8Array, fds: number[] = []): Promise<Uint8Array> {
  await s.peer.send(encodeRequest(request, payload), fds);
  const reply = await s.peer.next();
  assert.equal(reply.request, request);
  assert.equal(reply.flags, 1 | HeaderFlag.REPLY);
  return reply.payload;
}

/** Sends a request with NEED_REPLY and returns the ack value. */
async function acked(s: Setup, request: number, payload?: Uint8Array, fds: number[] = []): Promise<bigint> {
  await s.peer.send(encodeRequest(request, payload, true), fds);
  const reply = await s.peer.next();
  assert.equal(reply.request, request);
  return decodeU64(reply.payload);
}

/** A memfd of RAM bytes and the region describing it. */
function ram(s: Setup): { fd: number; region: MemoryRegionDesc } {
  const fd = s.system.createMemfd("ram", BigInt(RAM));
  return { fd, region: { guestPhysAddr: GUEST_BASE, memorySize: BigInt(RAM), userspaceAddr: USER_BASE, mmapOffset: 0n } };
}

/** Ring addresses inside the RAM region, in user space. */
function ringAddr(index: number) {
  const base = USER_BASE + BigInt(index * 0x10000);
  return { index, flags: 0, descUserAddr: base, availUserAddr: base + 0x4000n, usedUserAddr: base + 0x8000n, logGuestAddr: 0n };
}

/** What QEMU does up to the point where rings are configured. */
async function negotiate(s: Setup, protocol = DEFAULT_PROTOCOL_FEATURES): Promise<void> {
  await s.peer.send(encodeRequest(R.SET_OWNER));
  assert.equal(await acked(s, R.SET_PROTOCOL_FEATURES, encodeU64(protocol)), 0n);
  assert.equal(await acked(s, R.SET_FEATURES, encodeU64(FS_FEATURES | bit(VhostFeature.PROTOCOL_FEATURES))), 0n);
}

async function configureRing(s: Setup, index: number, size = 256): Promise<number> {
  const kick = s.system.createEventFd();
  const call = s.system.createEventFd();
  assert.equal(await acked(s, R.SET_VRING_NUM, encodeVringState({ index, num: size })), 0n);
  assert.equal(await acked(s, R.SET_VRING_BASE, encodeVringState({ index, num: 7 })), 0n);
  assert.equal(await acked(s, R.SET_VRING_ADDR, encodeVringAddr(ringAddr(index))), 0n);
  assert.equal(await acked(s, R.SET_VRING_KICK, encodeVringFile({ index, noFd: false }), [kick]), 0n);
  assert.equal(await acked(s, R.SET_VRING_CALL, encodeVringFile({ index, noFd: false }), [call]), 0n);
  s.system.closeFd(call);
  return kick;
}

async function finish(s: Setup): Promise<void> {
  s.peer.close();
  await s.backend.closed;
}

test("feature negotiation answers GET_FEATURES, GET_PROTOCOL_FEATURES, GET_QUEUE_NUM, GET_MAX_MEM_SLOTS", async () => {
  const s = setup();
  const features = decodeU64(await ask(s, R.GET_FEATURES));
  assert.equal(features, FS_FEATURES | bit(VhostFeature.PROTOCOL_FEATURES));
  const protocol = decodeU64(await ask(s, R.GET_PROTOCOL_FEATURES));
  assert.equal(protocol, DEFAULT_PROTOCOL_FEATURES);
  assert.equal(protocol & bit(ProtocolFeature.CONFIG), 0n, "CONFIG is never offered without a config space");
  assert.equal(await acked(s, R.SET_PROTOCOL_FEATURES, encodeU64(protocol)), 0n);
  assert.equal(decodeU64(await ask(s, R.GET_QUEUE_NUM)), 2n);
  assert.equal(decodeU64(await ask(s, R.GET_MAX_MEM_SLOTS)), 509n);
  // Features not offered are refused.
  assert.equal(await acked(s, R.SET_FEATURES, encodeU64(1n << 60n)), 1n);
  assert.equal(await acked(s, R.SET_PROTOCOL_FEATURES, encodeU64(bit(ProtocolFeature.PAGEFAULT))), 1n);
  assert.equal(s.errors.length, 2);
  await finish(s);
});

test("CONFIG is offered with a config space, and GET_CONFIG returns the virtio-fs tag", async () => {
  const s = setup(new RecordingDevice(2, 1024, FS_FEATURES, fsConfig("myfs")));
  const protocol = decodeU64(await ask(s, R.GET_PROTOCOL_FEATURES));
  assert.ok(protocol & bit(ProtocolFeature.CONFIG));
  // Before negotiation GET_CONFIG is refused with an empty reply.
  assert.equal((await ask(s, R.GET_CONFIG, encodeConfig({ offset: 0, flags: 0, data: new Uint8Array(40) }))).length, 0);
  assert.equal(await acked(s, R.SET_PROTOCOL_FEATURES, encodeU64(protocol)), 0n);
  const whole = decodeConfig(await ask(s, R.GET_CONFIG, encodeConfig({ offset: 0, flags: 0, data: new Uint8Array(40) })));
  assert.equal(new TextDecoder().decode(whole.data.subarray(0, 4)), "myfs");
  assert.equal(new DataView(whole.data.buffer).getUint32(36, true), 1);
  // A part, and a read past the end (zero-filled).
  const part = decodeConfig(await ask(s, R.GET_CONFIG, encodeConfig({ offset: 36, flags: 0, data: new Uint8Array(8) })));
  assert.deepEqual([...part.data], [1, 0, 0, 0, 0, 0, 0, 0]);
  // The config space is read-only.
  assert.equal(await acked(s, R.SET_CONFIG, encodeConfig({ offset: 0, flags: 0, data: new Uint8Array(4) })), 1n);
  await finish(s);
});

test("the QEMU 7.2 sequence: ADD_MEM_REG, ring setup, rings start on SET_VRING_ENABLE, GET_VRING_BASE stops them", async () => {
  const s = setup();
  await negotiate(s);
  // QEMU sends SET_VRING_ERR during device init, before memory.
  const err = s.system.createEventFd();
  assert.equal(await acked(s, R.SET_VRING_ERR, encodeVringFile({ index: 0, noFd: false }), [err]), 0n);
  const { fd, region } = ram(s);
  assert.equal(await acked(s, R.ADD_MEM_REG, encodeMemRegMsg(region), [fd]), 0n);
  s.system.closeFd(fd);
  assert.ok(s.backend.memory);
  const kicks = [await configureRing(s, 0, 128), await configureRing(s, 1, 1024)];
  // PROTOCOL_FEATURES negotiated: rings wait for SET_VRING_ENABLE.
  assert.deepEqual(s.device.events, []);
  assert.equal(s.backend.ring(1).running, false);
  for (const index of [0, 1]) assert.equal(await acked(s, R.SET_VRING_ENABLE, encodeVringState({ index, num: 1 })), 0n);
  assert.deepEqual(s.device.events, ["start 0", "start 1"]);
  const vring = s.device.running.get(1)!;
  assert.equal(vring.size, 1024);
  assert.equal(vring.nextAvail, 7);
  assert.equal(vring.descAddr, GUEST_BASE + 0x10000n);
  assert.equal(vring.availAddr, GUEST_BASE + 0x14000n);
  assert.equal(vring.usedAddr, GUEST_BASE + 0x18000n);
  assert.equal(vring.features, FS_FEATURES | bit(VhostFeature.PROTOCOL_FEATURES));

  // A kick reaches the device; a notify reaches the call fd.
  s.system.signalEventFd(kicks[1]!);
  await s.device.until(() => s.device.kicks.get(1) === 1, "kick");
  // A hand-off yields the CPU.
  vring.handOff?.();
  assert.equal(s.system.yields, 1);

  // GET_VRING_BASE stops the ring and answers where the device stopped.
  s.device.advance = 5;
  const state = decodeVringState(await ask(s, R.GET_VRING_BASE, encodeVringState({ index: 1, num: 0 })));
  assert.deepEqual(state, { index: 1, num: 12 });
  assert.equal(s.backend.ring(1).running, false);
  assert.equal(s.backend.ring(1).hasKick, false, "the kick fd is dropped with the ring");
  // A stale notify or hand-off after the stop does nothing.
  vring.notify();
  vring.handOff?.();
  assert.equal(s.system.yields, 1);
  // Kicking the old fd no longer reaches the device.
  s.system.signalEventFd(kicks[1]!);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(s.device.kicks.get(1), 1);
  for (const k of kicks) s.system.closeFd(k);
  await finish(s);
});

/** A device that says when it is settled, and whose kicks can make the guest kick again (as if during the backend's wait). */
class SettlingDevice extends RecordingDevice {
  settledNow = true;
  onKick: (index: number) => void = () => undefined;
  settled(): boolean {
    return this.settledNow;
  }
  override queueKicked(index: number): void {
    super.queueKicked(index);
    this.onKick(index);
  }
}

async function twoRunningRings(s: Setup): Promise<number[]> {
  await negotiate(s);
  const { fd, region } = ram(s);
  assert.equal(await acked(s, R.ADD_MEM_REG, encodeMemRegMsg(region), [fd]), 0n);
  s.system.closeFd(fd);
  const kicks = [await configureRing(s, 0, 128), await configureRing(s, 1, 256)];
  for (const index of [0, 1]) assert.equal(await acked(s, R.SET_VRING_ENABLE, encodeVringState({ index, num: 1 })), 0n);
  return kicks;
}

test("kickWaitMs: the kicks that come while a settled device waits are served from the wait, in the same turn of the event loop", async () => {
  const device = new SettlingDevice();
  const s = setup(device, undefined, 2);
  const kicks = await twoRunningRings(s);
  // The guest kicks ring 1 twice more and ring 0 once, each while the backend waits after the previous one.
  const next = [kicks[1]!, kicks[0]!, kicks[1]!];
  device.onKick = () => {
    const fd = next.shift();
    if (fd !== undefined) s.system.signalEventFd(fd);
  };
  s.system.signalEventFd(kicks[1]!);
  // Resolved by the first kick, after everything that ran synchronously with it: the fake's own delivery takes a turn each.
  await s.device.until(() => s.device.kicks.get(1) === 1, "the first kick");
  assert.deepEqual(s.device.events.filter((e) => e.startsWith("kick")), ["kick 1", "kick 1", "kick 0", "kick 1"]);
  // Ring order: index 0 is ring 0's kick fd; the last wait found nothing.
  assert.deepEqual(s.system.waits, [1, 0, 1, -1]);

  // Not settled (a request waits on a promise): no wait at all; kicks go through the event loop.
  device.settledNow = false;
  s.system.signalEventFd(kicks[1]!);
  await s.device.until(() => s.device.kicks.get(1) === 4, "a kick while unsettled");
  assert.equal(s.system.waits.length, 4);
  for (const k of kicks) s.system.closeFd(k);
  await finish(s);
});

/** A SettlingDevice that clears its rings' kicks (VhostUserDevice.clearsKicks), each kick's at a "last look" of the ring a script surrounds. */
class ClearingDevice extends SettlingDevice {
  readonly clearsKicks = true;
  /** Per kick, in order: fds to signal before its clearKick() (a chain the last look sees) and after it (one it misses). */
  script: Array<{ before?: number; after?: number }> = [];
  /** How many kicks the system had read (clearEventFd) when each queueKicked began. */
  readonly clearsSeen: number[] = [];
  constructor(private readonly system: FakeSystem) {
    super();
  }
  override queueKicked(index: number): void {
    super.queueKicked(index);
    this.clearsSeen.push(this.system.clears.length);
    const step = this.script.shift() ?? {};
    if (step.before !== undefined) this.system.signalEventFd(step.before);
    this.running.get(index)!.clearKick?.();
    if (step.after !== undefined) this.system.signalEventFd(step.after);
  }
}

test("kickWaitMs with a device that clears kicks: a kick is read at the device's clearKick, after it is served; a kick after that stays for the next wait", async () => {
  const system = new FakeSystem(new FakeKernel());
  const device = new ClearingDevice(system);
  const s = setup(device, undefined, 2, system);
  const kicks = await twoRunningRings(s);
  device.script = [
    // The first kick comes through the event loop (read there); a chain after its last look kicks again: the wait's.
    { after: kicks[1]! },
    // From the wait: another kick of ring 1 before the last look (clearKick takes both), then ring 0's after it.
    { before: kicks[1]!, after: kicks[0]! },
    {},
  ];
  s.system.signalEventFd(kicks[1]!);
  await s.device.until(() => s.device.kicks.get(0) === 1, "ring 0's kick");
  assert.deepEqual(s.device.events.filter((e) => e.startsWith("kick")), ["kick 1", "kick 1", "kick 0"]);
  assert.deepEqual(s.system.waits, [1, 0, -1], "ring 1's second kick was taken with the first; ring 0's stayed for the wait");
  assert.deepEqual(s.system.clears, [2n, 1n], "each kick from the wait read once, by clearKick");
  assert.deepEqual(device.clearsSeen, [0, 0, 1], "queueKicked came before the read of its kick");
  for (const k of kicks) s.system.closeFd(k);
  await finish(s);
});

/**
 * Gives ring 1 `fd` (closed again on this side: the backend holds its own)
 * through each of `requests` (SET_VRING_CALL, SET_VRING_ERR), each acked; answers
 * ring 1 as the device runs it.
 */
async function ringOneSignalling(s: Setup, fd: number, requests: readonly number[]): Promise<Vring> {
  for (const request of requests) assert.equal(await acked(s, request, encodeVringFile({ index: 1, noFd: false }), [fd]), 0n);
  s.system.closeFd(fd);
  return s.device.running.get(1)!;
}

test("a call or error fd that cannot be signalled (the frontend gave no eventfd) is reported, never thrown at the device", async () => {
  const s = setup();
  const kicks = await twoRunningRings(s);
  // Ring 1's call and error fds replaced by something no eventfd write accepts.
  const vring = await ringOneSignalling(s, s.kernel.other(), [R.SET_VRING_CALL, R.SET_VRING_ERR]);
  assert.doesNotThrow(() => vring.notify());
  assert.doesNotThrow(() => vring.signalError());
  assert.deepEqual(
    s.errors.map((e) => e.request),
    ["signalling the call of ring 1", "signalling the error of ring 1"],
  );
  for (const k of kicks) s.system.closeFd(k);
  await finish(s);
});

test("a call fd whose reader has gone (EPIPE: the frontend closed its socketpair end) is passed over without a report", async () => {
  const s = setup();
  const kicks = await twoRunningRings(s);
  const vring = await ringOneSignalling(s, s.kernel.orphan(), [R.SET_VRING_CALL]);
  assert.doesNotThrow(() => vring.notify());
  assert.deepEqual(s.errors, [], "a frontend that left is no error");
  for (const k of kicks) s.system.closeFd(k);
  await finish(s);
});

test("kickWaitMs 0 (the default) never waits; more than KICK_WAIT_TURN_MS is refused", async () => {
  const device = new SettlingDevice();
  const s = setup(device);
  const kicks = await twoRunningRings(s);
  s.system.signalEventFd(kicks[1]!);
  await s.device.until(() => s.device.kicks.get(1) === 1, "a kick");
  assert.deepEqual(s.system.waits, []);
  for (const k of kicks) s.system.closeFd(k);
  await finish(s);
  const [, back] = fakeTransportPair(new FakeKernel());
  assert.throws(() => new VhostUserBackend({ device, transport: back, system: s.system, kickWaitMs: KICK_WAIT_TURN_MS + 1 }), RangeError);
  assert.throws(() => new VhostUserBackend({ device, transport: back, system: s.system, kickWaitMs: -1 }), RangeError);
});

test("without VHOST_USER_F_PROTOCOL_FEATURES a ring starts as soon as it has a kick fd", async () => {
  const s = setup();
  await s.peer.send(encodeRequest(R.SET_OWNER));
  await s.peer.send(encodeRequest(R.SET_FEATURES, encodeU64(FS_FEATURES)));
  const { fd, region } = ram(s);
  await s.peer.send(encodeRequest(R.SET_MEM_TABLE, encodeMemoryTable([region])), [fd]);
  s.system.closeFd(fd);
  await s.peer.send(encodeRequest(R.SET_VRING_NUM, encodeVringState({ index: 0, num: 64 })));
  await s.peer.send(encodeRequest(R.SET_VRING_ADDR, encodeVringAddr(ringAddr(0))));
  const kick = s.system.createEventFd();
  await s.peer.send(encodeRequest(R.SET_VRING_KICK, encodeVringFile({ index: 0, noFd: false })), [kick]);
  await s.device.until(() => s.device.running.has(0), "ring 0 start");
  assert.ok(await s.peer.silent(), "no replies without NEED_REPLY");
  s.system.closeFd(kick);
  await finish(s);
});

test("a new SET_MEM_TABLE (guest reboot) remaps and restarts running rings in place", async () => {
  const s = setup(new RecordingDevice(), bit(ProtocolFeature.REPLY_ACK));
  await negotiate(s, bit(ProtocolFeature.REPLY_ACK));
  const first = ram(s);
  assert.equal(await acked(s, R.SET_MEM_TABLE, encodeMemoryTable([first.region]), [first.fd]), 0n);
  const kick = await configureRing(s, 0);
  assert.equal(await acked(s, R.SET_VRING_ENABLE, encodeVringState({ index: 0, num: 1 })), 0n);
  const before = s.device.running.get(0)!;
  before.memory.slice(GUEST_BASE, 4).set([1, 2, 3, 4]);
  // The frontend's memfd sees what the backend wrote.
  assert.deepEqual([...new Uint8Array((s.kernel.get(first.fd) as { buffer: ArrayBuffer }).buffer, 0, 4)], [1, 2, 3, 4]);

  s.device.advance = 3;
  const second = ram(s);
  assert.equal(await acked(s, R.SET_MEM_TABLE, encodeMemoryTable([second.region]), [second.fd]), 0n);
  assert.deepEqual(s.device.events, ["start 0", "stop 0", "start 0"]);
  const after = s.device.running.get(0)!;
  assert.equal(after.nextAvail, 10);
  assert.deepEqual([...after.memory.slice(GUEST_BASE, 4)], [0, 0, 0, 0], "the new table maps the new memfd");
  // The backend closed its copies of both memfds right after mapping them.
  for (const fd of [first.fd, second.fd, kick]) s.system.closeFd(fd);
  await finish(s);
  assert.equal(s.kernel.openCount, 0);
});

test("malformed and refused requests are answered without dropping the connection, and their fds closed", async () => {
  const s = setup();
  await negotiate(s);
  const baseline = s.kernel.openCount;
  const region: MemoryRegionDesc = { guestPhysAddr: GUEST_BASE, memorySize: BigInt(RAM), userspaceAddr: USER_BASE, mmapOffset: 0n };
  const cases: { name: string; request: number; payload?: Uint8Array; fds?: number; code: string }[] = [
    { name: "u64 too short", request: R.SET_FEATURES, payload: new Uint8Array(4), code: ProtocolErrorCode.SHORT },
    { name: "vring state too long", request: R.SET_VRING_NUM, payload: new Uint8Array(12), code: ProtocolErrorCode.LONG },
    { name: "bad vring index", request: R.SET_VRING_NUM, payload: encodeVringState({ index: 5, num: 64 }), code: ProtocolErrorCode.VALUE },
    { name: "queue size not a power of two", request: R.SET_VRING_NUM, payload: encodeVringState({ index: 0, num: 100 }), code: ProtocolErrorCode.VALUE },
    { name: "queue size above the maximum", request: R.SET_VRING_NUM, payload: encodeVringState({ index: 0, num: 2048 }), code: ProtocolErrorCode.VALUE },
    { name: "ring base above 16 bits", request: R.SET_VRING_BASE, payload: encodeVringState({ index: 0, num: 0x10000 }), code: ProtocolErrorCode.VALUE },
    { name: "enable value 2", request: R.SET_VRING_ENABLE, payload: encodeVringState({ index: 0, num: 2 }), code: ProtocolErrorCode.VALUE },
    { name: "kick without its fd", request: R.SET_VRING_KICK, payload: encodeVringFile({ index: 0, noFd: false }), code: ProtocolErrorCode.FDS },
    { name: "call with an fd and NOFD", request: R.SET_VRING_CALL, payload: encodeVringFile({ index: 0, noFd: true }), fds: 1, code: ProtocolErrorCode.FDS },
    { name: "kick for a ring that does not exist", request: R.SET_VRING_KICK, payload: encodeVringFile({ index: 9, noFd: false }), fds: 1, code: ProtocolErrorCode.VALUE },
    { name: "fds on SET_OWNER", request: R.SET_OWNER, fds: 2, code: ProtocolErrorCode.FDS },
    { name: "unknown request", request: 99, fds: 1, code: ProtocolErrorCode.UNKNOWN },
    { name: "unsupported request", request: R.SET_VRING_ENDIAN, payload: encodeVringState({ index: 0, num: 0 }), code: ProtocolErrorCode.UNKNOWN },
    { name: "memory table with more fds than regions", request: R.SET_MEM_TABLE, payload: encodeMemoryTable([region]), fds: 2, code: ProtocolErrorCode.FDS },
    { name: "memory table region of size 0", request: R.SET_MEM_TABLE, payload: encodeMemoryTable([{ ...region, memorySize: 0n }]), fds: 1, code: ProtocolErrorCode.VALUE },
    { name: "overlapping regions", request: R.SET_MEM_TABLE, payload: encodeMemoryTable([region, { ...region, userspaceAddr: 0x1000n }]), fds: 2, code: ProtocolErrorCode.ADDRESS },
    { name: "REM_MEM_REG of an unknown region", request: R.REM_MEM_REG, payload: encodeMemRegMsg(region), code: ProtocolErrorCode.VALUE },
    { name: "STATUS not negotiated", request: R.SET_STATUS, payload: encodeU64(1), code: ProtocolErrorCode.STATE },
  ];
  for (const c of cases) {
    const fds = Array.from({ length: c.fds ?? 0 }, () => s.system.createMemfd("x", BigInt(RAM)));
    s.errors.length = 0;
    assert.equal(await acked(s, c.request, c.payload, fds), 1n, c.name);
    for (const fd of fds) s.system.closeFd(fd);
    assert.equal(s.errors.length, 1, c.name);
    const error = s.errors[0]!.error;
    assert.ok(ProtocolError.is(error), `${c.name}: ${error}`);
    assert.equal(error.code, c.code, `${c.name}: ${error.message}`);
    assert.equal(s.kernel.openCount, baseline, `${c.name}: fd leak`);
  }
  await finish(s);
});

test("SET_MEM_TABLE without fds says guest memory is not shared", async () => {
  const s = setup();
  await negotiate(s);
  assert.equal(await acked(s, R.SET_MEM_TABLE, encodeMemoryTable([ram(s).region])), 1n);
  const error = s.errors[0]!.error;
  assert.equal(error.message, MEMORY_NOT_SHARED);
  assert.match(error.message, /memory-backend-memfd.*share=on/);
  assert.equal(s.backend.memory, null);
  await finish(s);
});

test("ring addresses outside guest memory are refused once memory is mapped", async () => {
  const s = setup();
  await negotiate(s);
  const { fd, region } = ram(s);
  assert.equal(await acked(s, R.SET_MEM_TABLE, encodeMemoryTable([region]), [fd]), 0n);
  assert.equal(await acked(s, R.SET_VRING_NUM, encodeVringState({ index: 0, num: 256 })), 0n);
  const outside = { ...ringAddr(0), usedUserAddr: USER_BASE + BigInt(RAM) - 16n };
  assert.equal(await acked(s, R.SET_VRING_ADDR, encodeVringAddr(outside)), 1n);
  assert.equal((s.errors[0]!.error as ProtocolError).code, ProtocolErrorCode.ADDRESS);
  s.system.closeFd(fd);
  await finish(s);
});

test("framing errors end the connection and release everything", async () => {
  for (const [name, bytes] of [
    ["version 2", encodeMessage(R.GET_FEATURES, 2)],
    ["payload over 4096", (() => {
      const header = new Uint8Array(12);
      const view = new DataView(header.buffer);
      view.setUint32(0, R.SET_MEM_TABLE, true);
      view.setUint32(4, 1, true);
      view.setUint32(8, 1 << 20, true);
      return header;
    })()],
  ] as const) {
    const s = setup();
    await negotiate(s);
    const { fd, region } = ram(s);
    assert.equal(await acked(s, R.SET_MEM_TABLE, encodeMemoryTable([region]), [fd]), 0n);
    const kick = await configureRing(s, 0);
    assert.equal(await acked(s, R.SET_VRING_ENABLE, encodeVringState({ index: 0, num: 1 })), 0n);
    const extra = s.system.createEventFd();
    await s.peer.send(bytes, [extra]);
    const disconnect = await s.backend.closed;
    assert.ok(ProtocolError.is(disconnect.error), name);
    assert.deepEqual(s.device.events.slice(-2), ["stop 0", "reset"], name);
    for (const own of [fd, kick, extra]) s.system.closeFd(own);
    await s.peer.ended;
    assert.equal(s.kernel.openCount, 0, `${name}: every fd closed`);
  }
});

test("the frontend hanging up stops the rings, unmaps memory, closes fds and resets the device", async () => {
  const s = setup();
  await negotiate(s);
  const { fd, region } = ram(s);
  assert.equal(await acked(s, R.ADD_MEM_REG, encodeMemRegMsg(region), [fd]), 0n);
  const kick = await configureRing(s, 1);
  assert.equal(await acked(s, R.SET_VRING_ENABLE, encodeVringState({ index: 1, num: 1 })), 0n);
  s.system.closeFd(fd);
  s.system.closeFd(kick);
  assert.ok(s.kernel.openCount > 0, "the backend holds the kick and call fds");
  s.peer.close();
  const disconnect = await s.backend.closed;
  assert.equal((disconnect.error as { code?: string }).code, "VIOFS_ERRNO_ECONNRESET");
  assert.deepEqual(s.device.events, ["start 1", "stop 1", "reset"]);
  assert.equal(s.backend.memory, null);
  assert.equal(s.kernel.openCount, 0);
});

test("REM_MEM_REG removes a region and RESET_DEVICE returns to the initial state", async () => {
  const s = setup();
  await negotiate(s);
  const { fd, region } = ram(s);
  assert.equal(await acked(s, R.ADD_MEM_REG, encodeMemRegMsg(region), [fd]), 0n);
  const second = { guestPhysAddr: 0n, memorySize: BigInt(RAM), userspaceAddr: 0x7e00_0000_0000n, mmapOffset: 0n };
  const fd2 = s.system.createMemfd("low", BigInt(RAM));
  assert.equal(await acked(s, R.ADD_MEM_REG, encodeMemRegMsg(second), [fd2]), 0n);
  assert.equal(s.backend.memory!.regionCount, 2);
  assert.equal(await acked(s, R.REM_MEM_REG, encodeMemRegMsg(second)), 0n);
  assert.equal(s.backend.memory!.regionCount, 1);
  assert.equal(await acked(s, R.RESET_DEVICE), 0n);
  assert.equal(s.backend.memory, null);
  assert.equal(s.backend.features, 0n);
  assert.equal(s.device.resets, 1);
  s.system.closeFd(fd);
  s.system.closeFd(fd2);
  await finish(s);
});

test("STATUS and LOG_SHMFD, when offered: SET/GET_STATUS, SET_LOG_BASE maps the log and replies, SET_LOG_FD keeps its fd", async () => {
  const offered = DEFAULT_PROTOCOL_FEATURES | bit(ProtocolFeature.STATUS) | bit(ProtocolFeature.LOG_SHMFD);
  const s = setup(new RecordingDevice(), offered);
  assert.equal(decodeU64(await ask(s, R.GET_PROTOCOL_FEATURES)), offered);
  await negotiate(s, offered);
  assert.equal(await acked(s, R.SET_STATUS, encodeU64(0x0f)), 0n);
  assert.equal(decodeU64(await ask(s, R.GET_STATUS)), 0x0fn);
  assert.equal(await acked(s, R.SET_STATUS, encodeU64(0x100)), 1n);
  const log = s.system.createMemfd("log", 8192n);
  // SET_LOG_BASE has an explicit reply with LOG_SHMFD (and only that one, even with NEED_REPLY).
  assert.equal(decodeU64(await ask(s, R.SET_LOG_BASE, encodeLog({ mmapSize: 4096n, mmapOffset: 4096n }), [log])), 0n);
  assert.ok(await s.peer.silent());
  const logFd = s.system.createEventFd();
  assert.equal(await acked(s, R.SET_LOG_FD, undefined, [logFd]), 0n);
  s.system.closeFd(log);
  s.system.closeFd(logFd);
  assert.equal(s.kernel.openCount, 1, "the backend holds the log eventfd");
  await finish(s);
  assert.equal(s.kernel.openCount, 0);
});
