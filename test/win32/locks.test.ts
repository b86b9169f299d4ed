/** Byte-range locks of one file: sharing, conflicts, waits granted on unlock, cleanup. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { NtStatus } from "../../src/windows/ntstatus.js";
import { FileLockList } from "../../src/win32/locks.js";

const S = NtStatus;

function status(r: ReturnType<FileLockList["lock"]>): number {
  assert.ok("status" in r, "completed at once");
  return r.status;
}

describe("FileLockList", () => {
  it("stacks shared locks, refuses an overlapping exclusive one, and blocks the owner's own writes under a shared lock", () => {
    const locks = new FileLockList();
    const a = {};
    assert.equal(status(locks.lock(a, 10n, 10n, false, true)), S.STATUS_SUCCESS);
    assert.equal(status(locks.lock(a, 15n, 10n, false, true)), S.STATUS_SUCCESS);
    assert.equal(status(locks.lock(a, 15n, 10n, true, true)), S.STATUS_LOCK_NOT_GRANTED);
    assert.equal(locks.canRead(a, 0n, 20n), true);
    assert.equal(locks.canWrite(a, 0n, 20n), false);
    assert.equal(locks.canWrite(a, 30n, 5n), true);
  });

  it("lets an exclusive lock's owner read and write, nobody else", () => {
    const locks = new FileLockList();
    const a = {};
    const b = {};
    assert.equal(status(locks.lock(a, 0n, 100n, true, true)), S.STATUS_SUCCESS);
    assert.equal(locks.canWrite(a, 50n, 10n), true);
    assert.equal(locks.canRead(b, 50n, 10n), false);
    assert.equal(locks.canWrite(b, 100n, 10n), true);
  });

  it("unlocks exact ranges only", () => {
    const locks = new FileLockList();
    const a = {};
    status(locks.lock(a, 512n, 1024n, true, true));
    assert.equal(locks.unlock(a, 0n, 1024n), S.STATUS_RANGE_NOT_LOCKED);
    assert.equal(locks.unlock({}, 512n, 1024n), S.STATUS_RANGE_NOT_LOCKED);
    assert.equal(locks.unlock(a, 512n, 1024n), S.STATUS_SUCCESS);
    assert.equal(locks.empty, true);
  });

  it("grants a waiting lock when the conflict goes, and cancels an owner's waits at cleanup", async () => {
    const locks = new FileLockList();
    const a = {};
    const b = {};
    const c = {};
    status(locks.lock(a, 0n, 10n, true, true));
    const waiting = locks.lock(b, 5n, 10n, true, false);
    assert.ok("pending" in waiting);
    const cancelled = locks.lock(c, 0n, 1n, false, false);
    assert.ok("pending" in cancelled);
    locks.unlockAll(c);
    assert.equal(await cancelled.pending, S.STATUS_CANCELLED);
    assert.equal(locks.unlock(a, 0n, 10n), S.STATUS_SUCCESS);
    assert.equal(await waiting.pending, S.STATUS_SUCCESS);
    assert.equal(locks.canWrite(a, 5n, 1n), false);
  });
});
