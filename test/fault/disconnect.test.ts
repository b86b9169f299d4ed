/**
 * The guest going away in the middle of requests:
 * - its driver restarts (a new INIT on the same device, no DESTROY, as a
 *   Windows service restart or a guest reboot does) while handles are open,
 *   nodes looked up and a lock wait in flight: the daemon drops the old
 *   session whole (every fd it held closed, the wait answered, its ids dead,
 *   its locks gone) and serves the new one;
 * - the vhost-user connection drops (the VMM dies) with requests in flight:
 *   they fail ENOTCONN, the daemon exits 0 and removes its socket, and a new
 *   daemon serves the share with every fsync'd byte there.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { ErrnoError } from "../../src/common/errors.js";
import { errnoName } from "../../src/common/errno.js";
import { FUSE_ROOT_ID, Opcode, OpenFlag } from "../../src/fuse/abi.js";
import { AttrOut, ReadIn } from "../../src/fuse/structs.js";
import { FuseSession } from "../../src/guest/session.js";
import { Daemon } from "../escape/daemon.js";

const F_WRLCK = 1;
const whole = { start: 0n, end: 2n ** 63n - 1n, type: F_WRLCK, pid: 4242 };

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("a guest driver restarting mid-request (INIT again, no DESTROY): the old session's fds, ids, locks and waits are gone", async () => {
  const daemon = await Daemon.start({
    prepare(share) {
      for (let i = 0; i < 30; i++) fs.writeFileSync(path.join(share, `f${i}`), `file ${i}\n`);
    },
  });
  try {
    const { driver, session: a } = await daemon.connect({ session: { interrupts: true } });
    const baseline = daemon.fdCount();
    const held: { nodeid: bigint; fh: bigint }[] = [];
    for (let i = 0; i < 30; i++) {
      const e = await a.lookup(FUSE_ROOT_ID, `f${i}`);
      held.push({ nodeid: e.nodeid, fh: (await a.open(e.nodeid, OpenFlag.O_RDWR)).fh });
    }
    const first = held[0]!;
    await a.setlk(first.nodeid, first.fh, 1n, whole);
    const waiting = a.setlkw(first.nodeid, first.fh, 2n, whole).then(
      () => "granted",
      (e: unknown) => (ErrnoError.is(e) ? errnoName(e.errno) : String(e)),
    );
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(daemon.fdCount() >= baseline + 30, `the old session holds fds (${daemon.fdCount()} vs ${baseline})`);

    // The driver restarts: a new session on the same device.
    const b = await FuseSession.init(driver);
    const answer = await Promise.race([waiting, new Promise<string>((r) => setTimeout(() => r("still waiting"), 5000))]);
    assert.notEqual(answer, "still waiting", "the old session's lock wait was answered");
    assert.notEqual(answer, "granted");
    await until(() => daemon.fdCount() <= baseline, `the daemon's fds back to ${baseline} (now ${daemon.fdCount()})`);
    // The old ids are dead in the new session.
    const stale = await b.request(Opcode.GETATTR, first.nodeid, new Uint8Array(16));
    assert.equal(errnoName(stale.errno), "EBADF", "an old nodeid");
    const root = await b.request(Opcode.GETATTR, FUSE_ROOT_ID, new Uint8Array(16));
    assert.equal(root.errno, 0);
    assert.equal(AttrOut.fromBytes(root.body).attr.ino, BigInt(fs.statSync(daemon.share).ino));
    const e0 = await b.lookup(FUSE_ROOT_ID, "f0");
    const readOld = await b.request(Opcode.READ, e0.nodeid, ReadIn.toBytes({ fh: first.fh, offset: 0n, size: 10, readFlags: 0, lockOwner: 0n, flags: 0 }));
    assert.equal(errnoName(readOld.errno), "EBADF", "an old handle");
    // The old locks are gone: a new owner takes the whole file at once.
    const o = await b.open(e0.nodeid, OpenFlag.O_RDWR);
    await b.setlk(e0.nodeid, o.fh, 3n, whole);
    assert.equal(Buffer.from(await b.read(e0.nodeid, o.fh, 0, 100)).toString(), "file 0\n");
    await b.release(e0.nodeid, o.fh, { lockOwner: 3n });
    await b.close();
    driver.close();
    assert.equal((await daemon.running.exited).code, 0);
  } finally {
    await daemon.stop();
  }
});

test("the vhost-user connection dropped with requests in flight: ENOTCONN, a clean exit, and a new daemon finds every fsync'd byte", async () => {
  const first = await Daemon.start({ keep: true });
  let second: Daemon | null = null;
  try {
    const { driver, session } = await first.connect();
    const durable = Buffer.alloc(256 * 1024, 0x5a);
    const f = await session.create(FUSE_ROOT_ID, "durable", 0o644, OpenFlag.O_RDWR);
    await session.write(f.entry.nodeid, f.open.fh, 0, durable);
    await session.fsync(f.entry.nodeid, f.open.fh);
    await session.setlk(f.entry.nodeid, f.open.fh, 1n, whole);
    // Requests in flight: big writes and reads. (A lock wait in flight as well keeps the daemon
    // from ever exiting: see test/fault/pending-disconnect-setlkw.ts.)
    const inflight: Promise<string>[] = [];
    const settle = (p: Promise<unknown>): Promise<string> =>
      p.then(
        () => "ok",
        (e: unknown) => (ErrnoError.is(e) ? errnoName(e.errno) : String(e)),
      );
    for (let i = 0; i < 16; i++) {
      const g = await session.create(FUSE_ROOT_ID, `scratch${i}`, 0o644, OpenFlag.O_RDWR);
      inflight.push(settle(session.write(g.entry.nodeid, g.open.fh, 0, Buffer.alloc(512 * 1024, i))));
      inflight.push(settle(session.read(f.entry.nodeid, f.open.fh, 0, 256 * 1024)));
    }
    driver.close();
    const outcomes = await Promise.race([Promise.all(inflight), new Promise<never>((_r, reject) => setTimeout(() => reject(new Error("calls hung after the disconnect")), 5000))]);
    assert.ok(outcomes.every((o) => o === "ok" || o === "ENOTCONN"), `outcomes: ${[...new Set(outcomes)].join(", ")}`);
    assert.ok(outcomes.includes("ENOTCONN"), "some calls were cut off");
    const exit = await Promise.race([first.running.exited, new Promise<never>((_r, reject) => setTimeout(() => reject(new Error("the daemon did not exit")), 10_000))]);
    assert.equal(exit.code, 0, first.running.stderr());
    assert.equal(fs.existsSync(first.socket), false, "the socket is removed");

    // A new daemon (as the VMM restarting) serves the same share.
    second = await Daemon.start({ dir: first.dir });
    const again = await second.connect();
    const e = await again.session.lookup(FUSE_ROOT_ID, "durable");
    const o = await again.session.open(e.nodeid, OpenFlag.O_RDWR);
    assert.ok(Buffer.from(await again.session.read(e.nodeid, o.fh, 0, durable.length + 10)).equals(durable), "every fsync'd byte");
    // No lock survived the old daemon.
    await again.session.setlk(e.nodeid, o.fh, 9n, whole);
    await again.session.release(e.nodeid, o.fh, { lockOwner: 9n });
    await again.session.close();
    again.driver.close();
  } finally {
    await second?.stop();
    await first.stop();
    fs.rmSync(first.dir, { recursive: true, force: true });
  }
});
