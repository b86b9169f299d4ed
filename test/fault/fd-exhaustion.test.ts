/**
 * fd exhaustion: `viofs serve --rlimit-nofile=700` leaves the guest a small
 * fd budget. A guest that looks up and opens files without end gets ENFILE
 * (as virtiofsd's guest-fd limit answers), never a daemon that runs out of
 * fds itself: it goes on serving, stays under its limit, and once handles
 * are released and nodes forgotten, opening works again.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { ErrnoError } from "../../src/common/errors.js";
import { errnoName } from "../../src/common/errno.js";
import { FUSE_ROOT_ID, OpenFlag } from "../../src/fuse/abi.js";
import { Daemon, type Connection } from "../escape/daemon.js";

const LIMIT = 700;
const FILES = 400;

let daemon: Daemon;
let conn: Connection;

before(async () => {
  daemon = await Daemon.start({
    args: [`--rlimit-nofile=${LIMIT}`],
    prepare(share) {
      for (let i = 0; i < FILES; i++) fs.writeFileSync(path.join(share, `f${i}`), `file ${i}\n`);
    },
  });
  conn = await daemon.connect();
});

after(async () => {
  await conn?.session.close().catch(() => undefined);
  conn?.driver.close();
  await daemon?.stop();
});

test("past its fd budget the guest gets ENFILE; the daemon lives, serves, and recovers when fds are given back", async () => {
  const { session } = conn;
  const limits = fs.readFileSync(`/proc/${daemon.servingPid()}/limits`, "utf8");
  assert.match(limits, new RegExp(`Max open files\\s+${LIMIT}\\s+${LIMIT}`), "the daemon runs with the limit asked for");
  const held: { nodeid: bigint; fh: bigint }[] = [];
  const nodes: bigint[] = [];
  let failure: unknown = null;
  for (let i = 0; i < FILES && failure === null; i++) {
    try {
      const e = await session.lookup(FUSE_ROOT_ID, `f${i}`);
      nodes.push(e.nodeid);
      const o = await session.open(e.nodeid, OpenFlag.O_RDONLY);
      held.push({ nodeid: e.nodeid, fh: o.fh });
    } catch (error) {
      failure = error;
    }
  }
  assert.ok(ErrnoError.is(failure), `a lookup or open failed with an errno (got ${String(failure)})`);
  assert.equal(errnoName(failure.errno), "ENFILE");
  assert.ok(held.length > 20, `the guest got ${held.length} handles before ENFILE`);
  assert.ok(daemon.fdCount() < LIMIT, `the daemon holds ${daemon.fdCount()} fds, under its limit`);
  // Still serving: metadata, reads through the handles it has, and more opens fail cleanly.
  assert.equal((await session.getattr(FUSE_ROOT_ID)).attr.ino, BigInt(fs.statSync(daemon.share).ino));
  const first = held[0]!;
  assert.equal(Buffer.from(await session.read(first.nodeid, first.fh, 0, 100)).toString(), "file 0\n");
  await assert.rejects(session.open(first.nodeid, OpenFlag.O_RDONLY), (e: unknown) => ErrnoError.is(e) && errnoName(e.errno) === "ENFILE");
  // Give everything back: the budget is whole again.
  for (const h of held) await session.release(h.nodeid, h.fh);
  for (const n of nodes) session.forget(n);
  await session.flushForgets();
  const again = await session.lookup(FUSE_ROOT_ID, `f${FILES - 1}`);
  const o = await session.open(again.nodeid, OpenFlag.O_RDONLY);
  assert.equal(Buffer.from(await session.read(again.nodeid, o.fh, 0, 100)).toString(), `file ${FILES - 1}\n`);
  await session.release(again.nodeid, o.fh);
  session.forget(again.nodeid);
  // And as many opens as before succeed again.
  const second: { nodeid: bigint; fh: bigint }[] = [];
  for (let i = 0; i < held.length - 1; i++) {
    const e = await session.lookup(FUSE_ROOT_ID, `f${i}`);
    second.push({ nodeid: e.nodeid, fh: (await session.open(e.nodeid, OpenFlag.O_RDONLY)).fh });
  }
  for (const h of second) {
    await session.release(h.nodeid, h.fh);
    session.forget(h.nodeid);
  }
  assert.equal(daemon.running.child.exitCode, null, "the daemon is alive");
});
