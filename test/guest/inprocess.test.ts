/**
 * The guest driver against this project's own virtio-fs device run in the
 * same process (passthrough file system, FUSE server, vhost-user backend on
 * a real socket): what QEMU's virtiofsd cannot show, several request queues
 * and a tag in the config space, and a server that survives INTERRUPT and
 * answers requests in parallel.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, openSync, closeSync, writeFileSync, constants as fsc } from "node:fs";
import { join } from "node:path";
import { ErrnoError } from "../../src/common/errors.js";
import { Errno } from "../../src/common/errno.js";
import { FUSE_ROOT_ID, LockType, OpenFlag } from "../../src/fuse/abi.js";
import { VirtioFsDriver, type DriverOptions } from "../../src/guest/driver.js";
import { FuseSession, type SessionOptions } from "../../src/guest/session.js";
import { VirtioFsDevice } from "../../src/host/device.js";
import { createPassthrough } from "../../src/passthrough/index.js";
import { FuseServer } from "../../src/server/server.js";
import { LOCK_EX, LOCK_UN, flock } from "../../src/sys/index.js";
import { VhostUserBackend } from "../../src/vhost-user/backend.js";
import { HostSystem, VhostUserListener } from "../../src/vhost-user/system.js";
import { atEnd, scratchDir } from "../scratch.js";
import { settle } from "./helpers.js";

const ROOT = FUSE_ROOT_ID;

async function serve(
  t: TestContext,
  requestQueues: number,
  driverOptions: DriverOptions = {},
  sessionOptions: SessionOptions = {},
  makeServer: (fs: ReturnType<typeof createPassthrough>) => FuseServer = (fs) => new FuseServer(fs, { posixLocks: true, flock: true }),
) {
  const dir = scratchDir(t, "viofs-guest-inproc-");
  const share = join(dir, "share");
  mkdirSync(share);
  const socketPath = join(dir, "vhost.sock");
  const listener = new VhostUserListener(socketPath);
  const accepted = listener.accept();
  const connecting = VirtioFsDriver.connect(socketPath, { ...driverOptions, requestQueues });
  const fs = createPassthrough({ root: share, cache: "auto", xattr: true, readonly: false, posixLocks: true, flock: true, announceSubmounts: false, writeback: false });
  const server = makeServer(fs);
  const device = new VirtioFsDevice(server, { requestQueues, tag: "in-process" });
  const backend = new VhostUserBackend({ device, transport: await accepted, system: new HostSystem(), peer: "guest driver" });
  backend.start();
  listener.close();
  const driver = await connecting;
  atEnd(t, async () => {
    driver.close();
    await backend.closed;
  });
  const session = await FuseSession.init(driver, sessionOptions);
  return { share, driver, session, backend };
}

test("two request queues share the load; the tag comes from the config space", async (t) => {
  const { share, driver, session: s } = await serve(t, 2);
  assert.equal(driver.tag, "in-process");
  assert.equal(driver.deviceRequestQueues, 2);
  const names = Array.from({ length: 50 }, (_, i) => `f${i}`);
  names.forEach((n, i) => writeFileSync(join(share, n), "x".repeat(i)));
  const entries = await Promise.all(names.map((n) => s.lookup(ROOT, n)));
  const attrs = await Promise.all([...entries, ...entries, ...entries].map((e) => s.getattr(e.nodeid)));
  attrs.forEach((a, i) => assert.equal(a.attr.size, BigInt(i % 50)));
  const stats = driver.queueStats();
  assert.deepEqual(stats.map((q) => q.name), ["hiprio", "request0", "request1"]);
  for (const q of stats.slice(1)) assert.ok(q.completed >= 50, `${q.name} completed ${q.completed} of 200`);
  assert.equal(stats[1]!.completed + stats[2]!.completed, 201, "INIT, 50 lookups and 150 getattrs");
  for (const e of entries) s.forget(e.nodeid);
  await s.flushForgets();
  assert.equal(driver.queueStats()[0]!.completed, 1, "one BATCH_FORGET on hiprio");
});

/** Lengths of the buffers of each chain the device hands the server: [readable, writable]. */
type ChainShape = [number[], number[]];

/**
 * A server that records the shape of every chain before serving it (the
 * cursors' segments are protected: read through a cast). A fresh cursor's
 * buffers are the spans from its `index` on that make up its `left` bytes.
 */
class ShapeRecorder extends FuseServer {
  readonly shapes: ChainShape[] = [];
  override handleChain(reader: Parameters<FuseServer["handleChain"]>[0], reply: Parameters<FuseServer["handleChain"]>[1]): void | Promise<void> {
    const lengths = (cursor: unknown): number[] => {
      const { spans, index, left } = cursor as { spans: readonly number[]; index: number; left: number };
      const out: number[] = [];
      for (let i = index, sum = 0; sum < left; i++) {
        out.push(spans[2 * i + 1]!);
        sum += spans[2 * i + 1]!;
      }
      return out;
    };
    this.shapes.push([lengths(reader), lengths((reply as unknown as { writer: unknown }).writer)]);
    return super.handleChain(reader, reply);
  }
}

test("splitHeaders: the device gets each FUSE header in a descriptor of its own, then the rest in pages", async (t) => {
  let recorder: ShapeRecorder | undefined;
  const { share, session: s } = await serve(t, 1, { maxSegment: 4096, splitHeaders: true }, {}, (fs) => (recorder = new ShapeRecorder(fs)));
  writeFileSync(join(share, "f"), "x".repeat(10_000));
  const before = recorder!.shapes.length;
  const e = await s.lookup(ROOT, "f");
  const fh = (await s.open(e.nodeid, OpenFlag.O_RDONLY)).fh;
  assert.equal((await s.read(e.nodeid, fh, 0, 10_000)).length, 10_000);
  const [lookup, open, read] = recorder!.shapes.slice(before);
  // LOOKUP: in header, then the name with its NUL; out header, then room for the reply.
  assert.deepEqual(lookup![0], [40, 2]);
  assert.equal(lookup![1][0], 16);
  assert.deepEqual(open![0], [40, 8]);
  // READ of 10,000 bytes: the reply's data room in pages after its header.
  assert.deepEqual(read![0], [40, 40]);
  assert.equal(read![1][0], 16);
  assert.ok(read![1].slice(1).every((n) => n <= 4096) && read![1].slice(1).reduce((a, b) => a + b, 0) >= 10_000, `reply buffers ${read![1]}`);
  await s.release(e.nodeid, fh);
  // A forget alone: FORGET on the hiprio queue in one buffer (header and argument), no reply room, as Linux sends it.
  s.forget(e.nodeid);
  await s.flushForgets();
  // flushForgets resolves once the device returned the buffer, so the server has seen it.
  assert.equal(recorder!.shapes.length, before + 5, "LOOKUP, OPEN, READ, RELEASE, FORGET");
  assert.deepEqual(recorder!.shapes.at(-1), [[48], []]);
});

test("INTERRUPT reaches the server, which survives it; other requests go on while a lock is waited for", async (t) => {
  const { share, session: s } = await serve(t, 1, {}, { interrupts: true });
  writeFileSync(join(share, "locked"), "x");
  const node = (await s.lookup(ROOT, "locked")).nodeid;
  const fh = (await s.open(node, OpenFlag.O_RDWR)).fh;
  const hostFd = openSync(join(share, "locked"), fsc.O_RDWR);
  t.after(() => closeSync(hostFd));
  flock(hostFd, LOCK_EX);

  const waiting = settle(s.setlkw(node, fh, 1n, { start: 0n, end: 0n, type: LockType.F_WRLCK, pid: 0 }, true, { timeoutMs: 300 }));
  // A server that answers in parallel serves these while the SETLKW waits.
  const started = Date.now();
  assert.equal((await s.getattr(node)).attr.size, 1n);
  assert.ok(Date.now() - started < 250, "GETATTR was not held up by the waiting SETLKW");
  const r = await waiting;
  assert.ok(!r.ok && ErrnoError.is(r.error) && r.error.errno === Errno.ETIMEDOUT, String(!r.ok && r.error));
  assert.equal(s.stats.interrupts, 1);
  flock(hostFd, LOCK_UN);
  await new Promise((res) => setTimeout(res, 50));
  assert.equal((await s.getattr(ROOT)).attr.nlink >= 2, true, "the connection lives on after the INTERRUPT");
  await s.release(node, fh);
});

test("the backend closing the connection fails every pending request with ENOTCONN", async (t) => {
  const { share, driver, session: s, backend } = await serve(t, 1);
  writeFileSync(join(share, "locked"), "x");
  const node = (await s.lookup(ROOT, "locked")).nodeid;
  const fh = (await s.open(node, OpenFlag.O_RDWR)).fh;
  const hostFd = openSync(join(share, "locked"), fsc.O_RDWR);
  t.after(() => closeSync(hostFd));
  flock(hostFd, LOCK_EX);
  const pending = settle(s.setlkw(node, fh, 1n, { start: 0n, end: 0n, type: LockType.F_WRLCK, pid: 0 }, true));
  await new Promise((res) => setTimeout(res, 50));
  backend.close();
  const reason = await driver.closed;
  assert.ok(ErrnoError.is(reason) && reason.errno === Errno.ENOTCONN);
  const r = await pending;
  assert.ok(!r.ok && ErrnoError.is(r.error) && r.error.errno === Errno.ENOTCONN, String(!r.ok && r.error));
  flock(hostFd, LOCK_UN);
});
