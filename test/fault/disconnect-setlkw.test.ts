/**
 * The vhost-user connection drops while a SETLKW waits in the daemon (a lock
 * another owner holds). Stopping the rings waits for their requests in
 * flight; the wait is interrupted (EINTR) so the stop, the session's reset
 * and the daemon's exit follow. (virtiofsd sidesteps this: it answers SETLKW
 * with ENOSYS.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { FUSE_ROOT_ID, OpenFlag } from "../../src/fuse/abi.js";
import { Daemon } from "../escape/daemon.js";

const whole = { start: 0n, end: 2n ** 63n - 1n, type: 1 /* F_WRLCK */, pid: 4242 };

test("the connection dropped while a SETLKW waits: the daemon still exits 0 and releases everything", async () => {
  const daemon = await Daemon.start();
  try {
    const { driver, session } = await daemon.connect();
    const f = await session.create(FUSE_ROOT_ID, "locked", 0o644, OpenFlag.O_RDWR);
    await session.setlk(f.entry.nodeid, f.open.fh, 1n, whole);
    const waiting = session.setlkw(f.entry.nodeid, f.open.fh, 2n, whole).catch(() => "failed");
    await new Promise((r) => setTimeout(r, 200));
    driver.close();
    assert.equal(await waiting, "failed", "the guest's wait ends with the connection");
    const exit = await Promise.race([daemon.running.exited, new Promise<"hung">((r) => setTimeout(() => r("hung"), 10_000))]);
    assert.notEqual(exit, "hung", `the daemon never exited after its client went away\n${daemon.running.stderr()}`);
    assert.equal(exit !== "hung" && exit.code, 0);
  } finally {
    await daemon.stop(1000);
  }
});
