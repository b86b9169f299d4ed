/**
 * The virtio-fs device's periodic look at its running queues (host/device.ts):
 * a kick or an interrupt lost to a guest that runs without host memory
 * barriers (QEMU's single-threaded TCG) is recovered, so the guest does not
 * hang; a driver that has caught up gets nothing extra.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { Opcode } from "../../src/fuse/abi.js";
import { encodeRequestBytes } from "../../src/fuse/messages.js";
import type { AttrOut } from "../../src/fuse/structs.js";
import { VirtioFsDevice, type VirtioFsDeviceOptions } from "../../src/host/device.js";
import { FileSystemBase, type Context } from "../../src/server/filesystem.js";
import type { ReplyTarget } from "../../src/server/reply.js";
import { FuseServer } from "../../src/server/server.js";
import { DriverQueue } from "../../src/virtio/driver-queue.js";
import { GuestMemory } from "../../src/virtio/memory.js";
import { featureMask, splitQueueLayout, usedEventOffset } from "../../src/virtio/ring.js";
import type { Vring } from "../../src/vhost-user/backend.js";

const attr = { ino: 1n, size: 0n, blocks: 0n, atime: 0n, mtime: 0n, ctime: 0n, atimensec: 0, mtimensec: 0, ctimensec: 0, mode: 0o40755, nlink: 2, uid: 0, gid: 0, rdev: 0, blksize: 4096, flags: 0 };

class ConstFs extends FileSystemBase {
  /** How long each GETATTR keeps the device busy, ms. */
  busyMs = 0;
  /** GETATTR and FORGET calls, in order. */
  readonly calls: string[] = [];
  /** The same calls, with the rig's notifications and hand-offs between them. */
  readonly log: string[] = [];
  /** Called at each hand-off of the request queue. */
  onHandOff: () => void = () => undefined;
  /** Called at each GETATTR with how many came before it. */
  onGetattr: (before: number) => void = () => undefined;

  override forget(nodeid: bigint, _nlookup: bigint): void {
    this.calls.push(`forget ${nodeid}`);
    this.log.push(`forget ${nodeid}`);
  }

  override getattr(_ctx: Context, _nodeid: bigint, _fh: bigint | undefined): AttrOut {
    this.onGetattr(this.calls.filter((c) => c === "getattr").length);
    this.calls.push("getattr");
    this.log.push("getattr");
    const until = performance.now() + this.busyMs;
    while (performance.now() < until);
    return { attrValid: 1n, attrValidNsec: 0, attr };
  }
}

const header = (unique: bigint) => ({ unique, nodeid: 1n, uid: 0, gid: 0, pid: 1 });
const drop: ReplyTarget = { send() {}, dataBuffers: () => [], sendData() {} };
/** Ring entries: each GETATTR chain takes two (request, reply). */
const SIZE = 32;
const CHAINS = SIZE / 2;

/** A request queue (index 1) of a device whose notifications are counted; the driver side in the same memory. */
async function rig(
  eventIdx = true,
  options: VirtioFsDeviceOptions = {},
): Promise<{
  fs: ConstFs;
  driver: DriverQueue<number>;
  device: VirtioFsDevice;
  notified: () => number;
  setUsedEvent: (v: number) => void;
  submit: (unique: bigint) => boolean;
  forgetOnHiprio: (nodeid: bigint) => void;
  stop: () => void;
}> {
  const fs = new ConstFs();
  const server = new FuseServer(fs);
  await server.handle(encodeRequestBytes({ opcode: Opcode.INIT, header: header(1n), arg: { major: 7, minor: 38, maxReadahead: 0, flags: 0, flags2: 0 } }), drop);
  const layout = splitQueueLayout(SIZE, 0n);
  const base = Math.ceil(Number(layout.end) / 4096) * 4096;
  // The hiprio queue (index 0) after the request queue's buffers, one page for its FORGETs after its rings.
  const hiLayout = splitQueueLayout(SIZE, BigInt(base + CHAINS * 8192));
  const hiBuffers = Math.ceil(Number(hiLayout.end) / 4096) * 4096;
  const bytes = new Uint8Array(hiBuffers + 4096);
  const memory = new GuestMemory([{ guestAddr: 0n, size: BigInt(bytes.byteLength), userAddr: 0x7000_0000_0000n, bytes }]);
  const driver = new DriverQueue<number>({ memory, size: SIZE, ...layout, eventIdx });
  const device = new VirtioFsDevice(server, options);
  let notifications = 0;
  const vring: Vring = {
    index: 1,
    size: SIZE,
    memory,
    descAddr: layout.descAddr,
    availAddr: layout.availAddr,
    usedAddr: layout.usedAddr,
    nextAvail: 0,
    features: eventIdx ? featureMask("RING_EVENT_IDX") : 0n,
    notify: () => {
      notifications++;
      fs.log.push("notify");
    },
    signalError: () => assert.fail("ring error"),
    handOff: () => {
      fs.log.push("hand-off");
      fs.onHandOff();
    },
  };
  device.queueStarted(vring);
  const hiDriver = new DriverQueue<number>({ memory, size: SIZE, ...hiLayout, eventIdx });
  device.queueStarted({
    ...vring,
    index: 0,
    descAddr: hiLayout.descAddr,
    availAddr: hiLayout.availAddr,
    usedAddr: hiLayout.usedAddr,
    notify: () => undefined,
    handOff: () => void fs.log.push("hiprio hand-off"),
  });
  let hiSlot = 0;
  const usedEvent = new DataView(bytes.buffer, Number(layout.availAddr) + usedEventOffset(SIZE), 2);
  let slot = 0;
  return {
    fs,
    driver,
    device,
    notified: () => notifications,
    setUsedEvent: (v) => usedEvent.setUint16(0, v, true),
    submit: (unique) => {
      const at = base + (slot++ % CHAINS) * 8192;
      const req = encodeRequestBytes({ opcode: Opcode.GETATTR, header: header(unique), arg: { getattrFlags: 0, fh: 0n } });
      bytes.set(req, at);
      driver.add([{ gpa: at, len: req.byteLength }], [{ gpa: at + 4096, len: 4096 }], Number(unique));
      return driver.kickNeeded();
    },
    forgetOnHiprio: (nodeid) => {
      const at = hiBuffers + (hiSlot++ % 64) * 64;
      const req = encodeRequestBytes({ opcode: Opcode.FORGET, header: { ...header(0n), nodeid }, arg: { nlookup: 1n } });
      bytes.set(req, at);
      hiDriver.add([{ gpa: at, len: req.byteLength }], [], 0);
    },
    stop: () => {
      void device.queueStopped(1);
      void device.queueStopped(0);
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test("a lost interrupt: the driver re-armed behind a used element it never saw; one interrupt follows within two looks", async (t) => {
  const r = await rig();
  t.after(r.stop);
  // The driver is busy (Linux writes used_event 0 while it takes completions): the device must not interrupt...
  r.setUsedEvent(5);
  assert.equal(r.submit(2n), true);
  r.device.queueKicked(1);
  assert.equal(r.notified(), 0);
  // ...and then re-arms at what it had taken, without seeing the new used index: the race a missing barrier allows.
  r.setUsedEvent(0);
  await sleep(180);
  assert.equal(r.notified(), 1, "one interrupt for the stall");
  await sleep(120);
  assert.equal(r.notified(), 1, "not one per look");
  assert.equal(r.driver.takeUsed().length, 1);
});

test("a lost kick: a chain made available without a kick is served within two looks, and the driver told", async (t) => {
  const r = await rig();
  t.after(r.stop);
  r.submit(2n); // no kick
  await sleep(180);
  const used = r.driver.takeUsed();
  assert.equal(used.length, 1);
  // Told when it was served; told once more if a look found it still not taken.
  assert.ok(r.notified() >= 1 && r.notified() <= 2, `${r.notified()} interrupts`);
});

test("a driver that keeps up gets no extra interrupt", async (t) => {
  const r = await rig();
  t.after(r.stop);
  r.submit(2n);
  r.device.queueKicked(1);
  assert.equal(r.notified(), 1);
  assert.equal(r.driver.takeUsed().length, 1); // re-arms used_event at the new used index
  await sleep(180);
  assert.equal(r.notified(), 1);
});

test("interrupt coalescing: small requests served back to back interrupt the driver every 8 completions and at the end", async (t) => {
  // Without EVENT_IDX the driver asks for an interrupt after every used element; the device moderates them.
  // Serving-time bounds far away (the delay and the drain's slice): only the count decides here (a cold or
  // loaded process serves its first requests slowly).
  const r = await rig(false, { notifyDelayUs: 1e9, drainSliceMs: 1e9 });
  t.after(r.stop);
  for (let u = 2n; u < 2n + BigInt(CHAINS); u++) r.submit(u);
  r.device.queueKicked(1);
  assert.equal(r.driver.takeUsed().length, CHAINS, "every chain served");
  assert.equal(r.notified(), CHAINS / 8);
  // 3 more: fewer than a batch, told when the drain ends.
  for (let u = 100n; u < 103n; u++) r.submit(u);
  r.device.queueKicked(1);
  assert.equal(r.driver.takeUsed().length, 3);
  assert.equal(r.notified(), CHAINS / 8 + 1);
  // A lone request is told at once.
  r.submit(200n);
  r.device.queueKicked(1);
  assert.equal(r.driver.takeUsed().length, 1);
  assert.equal(r.notified(), CHAINS / 8 + 2);
});

/**
 * `chains` GETATTRs of 1 ms each, made available at once and kicked, with a
 * drain slice long enough to serve them all before the kick returns: how
 * many were served then, and how many interrupts the driver got.
 */
async function slowBurst(t: TestContext, chains: number, options: VirtioFsDeviceOptions): Promise<{ served: number; notified: number }> {
  const r = await rig(false, { ...options, drainSliceMs: 1e9 });
  t.after(r.stop);
  r.fs.busyMs = 1;
  for (let u = 0; u < chains; u++) r.submit(BigInt(u + 2));
  r.device.queueKicked(1);
  return { served: r.driver.takeUsed().length, notified: r.notified() };
}

test("interrupt coalescing: requests that take longer than the delay are each told at once", async (t) => {
  assert.deepEqual(await slowBurst(t, 4, { notifyDelayUs: 500 }), { served: 4, notified: 4 });
});

test("interrupt coalescing: while 4 chains or more wait, slow completions are held up to the hold time; then told one by one", async (t) => {
  // 8 chains of 1 ms each, a delay of 0.5 ms: the first four complete with 7, 6, 5 and 4 chains waiting (held),
  // the fifth with 3 (told, with the four before it), the last three one by one.
  assert.deepEqual(await slowBurst(t, 8, { notifyDelayUs: 500, notifyHoldUs: 1e6 }), { served: 8, notified: 4 });
  // The default hold (200 µs) is shorter than one chain: nothing is held.
  assert.deepEqual(await slowBurst(t, 8, { notifyDelayUs: 500 }), { served: 8, notified: 8 });
});

test("a drain that outlasts its slice lets the event loop run, then goes on without a kick", async (t) => {
  const r = await rig(false, { notifyDelayUs: 1e9, drainSliceMs: 2 });
  t.after(r.stop);
  r.fs.busyMs = 1;
  for (let u = 2n; u < 10n; u++) r.submit(u);
  r.device.queueKicked(1);
  let served = r.driver.takeUsed().length;
  // Each chain takes at least 1 ms, so the slice ends after the second at the latest (after the
  // first when the machine preempted this thread for a millisecond meanwhile).
  assert.ok(served >= 1 && served <= 2, `${served} chains served before the kick returned`);
  for (let turn = 0; turn < 20 && served < 8; turn++) {
    await new Promise((resolve) => setImmediate(resolve));
    served += r.driver.takeUsed().length;
  }
  assert.equal(served, 8, "the rest served on the next turns");
});

test("requests waiting go before FORGETs: a hiprio kick serves the request queue first, then the FORGETs when it runs dry", async (t) => {
  // No drain here reaches the hiprio queue's turn or the end of its slice, however slow this machine is: a GETATTR
  // descheduled for a millisecond would let the FORGETs in between (as a long drain must), one descheduled for 4 ms
  // would leave the rest to the next turn of the event loop.
  const r = await rig(false, { pollMaxUs: 0, hiprioEveryMs: 1000, drainSliceMs: 1000 });
  t.after(r.stop);
  r.forgetOnHiprio(77n);
  r.forgetOnHiprio(78n);
  r.submit(2n);
  r.submit(3n);
  r.device.queueKicked(0);
  assert.deepEqual(r.fs.calls, ["getattr", "getattr", "forget 77", "forget 78"]);
  assert.equal(r.driver.takeUsed().length, 2);
  // A request queue kicked with FORGETs waiting serves its chains, then the FORGETs.
  r.forgetOnHiprio(79n);
  r.submit(4n);
  r.device.queueKicked(1);
  assert.deepEqual(r.fs.calls.slice(4), ["getattr", "forget 79"]);
});

test("FORGETs behind a full request queue are not starved: its drain goes back to them every millisecond", async (t) => {
  const r = await rig(false, { notifyDelayUs: 1e9, drainSliceMs: 1e9, pollMaxUs: 0 });
  t.after(r.stop);
  r.fs.busyMs = 1;
  for (let u = 2n; u < 10n; u++) r.submit(u);
  r.forgetOnHiprio(77n);
  r.forgetOnHiprio(78n);
  r.device.queueKicked(0);
  assert.deepEqual(r.fs.calls.slice(0, 5), ["getattr", "forget 77", "getattr", "forget 78", "getattr"]);
  // The request queue's rest, from the hiprio drain or the next turns.
  for (let i = 0; i < 20 && r.fs.calls.length < 10; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(r.fs.calls.filter((c) => c === "getattr").length, 8);
  assert.equal(r.driver.takeUsed().length, 8);
});

test("the hiprio queue is served between the chains of a long drain: a FORGET does not wait for its end", async (t) => {
  const r = await rig(false, { notifyDelayUs: 1e9, drainSliceMs: 1e9 });
  t.after(r.stop);
  r.fs.busyMs = 1;
  for (let u = 2n; u < 10n; u++) r.submit(u);
  // The driver sends a FORGET while the third GETATTR is served, and does not kick: the drain of queue 1 finds it.
  r.fs.onGetattr = (before) => {
    if (before === 2) r.forgetOnHiprio(77n);
  };
  r.device.queueKicked(1);
  assert.equal(r.driver.takeUsed().length, 8);
  assert.deepEqual(r.fs.calls.slice(0, 5), ["getattr", "getattr", "getattr", "forget 77", "getattr"]);
});

/** Runs `act` at the request queue's first hand-off only: what the driver does while it has the CPU. */
function duringFirstHandOff(fs: ConstFs, act: () => void): void {
  fs.onHandOff = () => {
    fs.onHandOff = () => undefined;
    act();
  };
}

test("a hand-off follows the interrupt of a drain that ran dry, and the device's own work comes after it; none without an interrupt", async (t) => {
  // A slice long enough that no drain here goes on from the event loop, however slow this machine is.
  const r = await rig(true, { drainSliceMs: 1000 });
  t.after(r.stop);
  // The guest's FORGET comes while the CPU is handed off (one queued before could be served before the queue ran
  // dry: a drain goes to the hiprio queue every millisecond, and a cold GETATTR may take that long).
  duringFirstHandOff(r.fs, () => r.forgetOnHiprio(77n));
  r.submit(2n);
  r.device.queueKicked(1);
  // The reply's interrupt, then the CPU to the thread it woke, then this daemon's own work: the FORGET.
  assert.deepEqual(r.fs.log, ["getattr", "notify", "hand-off", "forget 77", "hiprio hand-off"]);
  // A driver that asked for no interrupt yet (used_event ahead) is not woken, so nothing is handed off.
  r.setUsedEvent(10);
  r.submit(3n);
  r.device.queueKicked(1);
  assert.deepEqual(r.fs.log.slice(5), ["getattr"]);
});

test("a driver that queues a request during a hand-off keeps requests in flight: the next 16 hand-offs are skipped", async (t) => {
  // Without EVENT_IDX every completion interrupts the driver, so each drain that runs dry could hand off.
  const r = await rig(false, { drainSliceMs: 1000 });
  t.after(r.stop);
  duringFirstHandOff(r.fs, () => r.submit(3n));
  r.submit(2n);
  r.device.queueKicked(1);
  // The request queued during the hand-off is served in the same drain, and its interrupt hands nothing off.
  assert.deepEqual(r.fs.log, ["getattr", "notify", "hand-off", "getattr", "notify"]);
  const handOffs = (): number => r.fs.log.filter((e) => e === "hand-off").length;
  const one = (unique: bigint): void => {
    r.driver.takeUsed();
    r.submit(unique);
    r.device.queueKicked(1);
  };
  for (let i = 0; i < 15; i++) one(BigInt(4 + i));
  assert.equal(handOffs(), 1, "15 more drains, none handed off");
  one(100n);
  assert.equal(handOffs(), 2, "the 17th interrupt after the first hand-off is handed off again");
  assert.equal(r.fs.calls.length, 18, "every request served");
});
