/**
 * winfsp-tests lock-test.c: byte-range locks around the rdwr sequences.
 * lock_dotest takes two exclusive locks after the create and checks the
 * unlocks before the close; lock_overlapped_dotest checks shared locks
 * (they stack, they block an exclusive lock and the owner's own writes),
 * then exclusive ones, then runs the overlapped sequence under them.
 */
import * as W from "../../src/win32/index.js";
import { ASSERT, GRGW, SRSW, bytesPerSector, fails, test, type ConformanceTest, type TestContext } from "./harness.js";
import { Buffers, overlapped, overlappedFails, rdwrOverlappedBody, rdwrSequence } from "./rdwr.js";

async function lock_dotest(t: TestContext, createFlags: number): Promise<void> {
  const bps = await bytesPerSector(t);
  await rdwrSequence(t, createFlags, {
    afterCreate: async (h) => {
      await W.LockFile(h, bps / 2, 0, bps, 0);
      await W.LockFile(h, bps + bps / 2, 0, bps, 0);
    },
    beforeClose: async (h) => {
      await fails(W.UnlockFile(h, 0, 0, bps, 0), W.ERROR_NOT_LOCKED, "UnlockFile(0)");
      await W.UnlockFile(h, bps / 2, 0, bps, 0);
    },
  });
}

async function lock_overlapped_dotest(t: TestContext, createFlags: number): Promise<void> {
  const bps = await bytesPerSector(t);
  const bufs = new Buffers(bps);
  const path = `${t.prefix}\\file0`;
  const ov = new W.OVERLAPPED(0);
  let h = await W.CreateFileW(path, GRGW, SRSW, null, W.CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL | createFlags | W.FILE_FLAG_OVERLAPPED);

  ov.Offset = bps / 2;
  await overlapped(W.LockFileEx(h, 0, 0, bps, 0, ov), h, ov);
  ov.Offset = bps + bps / 2;
  await overlapped(W.LockFileEx(h, W.LOCKFILE_FAIL_IMMEDIATELY, 0, bps, 0, ov), h, ov);
  ov.Offset = bps + bps / 2;
  await overlappedFails(W.LockFileEx(h, W.LOCKFILE_EXCLUSIVE_LOCK | W.LOCKFILE_FAIL_IMMEDIATELY, 0, bps, 0, ov), h, ov, W.ERROR_LOCK_VIOLATION);
  ov.Offset = 0;
  await overlappedFails(W.WriteFile(h, bufs.buffer[0].subarray(0, bps), ov), h, ov, W.ERROR_LOCK_VIOLATION);
  ov.Offset = bps / 2;
  await W.UnlockFileEx(h, 0, bps, 0, ov);
  ov.Offset = bps + bps / 2;
  await W.UnlockFileEx(h, 0, bps, 0, ov);

  ov.Offset = bps / 2;
  await overlapped(W.LockFileEx(h, W.LOCKFILE_EXCLUSIVE_LOCK, 0, bps, 0, ov), h, ov);
  ov.Offset = bps + bps / 2;
  await overlapped(W.LockFileEx(h, W.LOCKFILE_EXCLUSIVE_LOCK | W.LOCKFILE_FAIL_IMMEDIATELY, 0, bps, 0, ov), h, ov);

  await rdwrOverlappedBody(h, ov, bufs, bps, {});

  ov.Offset = 0;
  await fails(W.UnlockFileEx(h, 0, bps, 0, ov), W.ERROR_NOT_LOCKED, "UnlockFileEx(0)");
  ov.Offset = bps / 2;
  await W.UnlockFileEx(h, 0, bps, 0, ov);
  await W.CloseHandle(h);

  const n = 2 * W.PAGE_SIZE + bps;
  h = await W.CreateFileW(path, GRGW, SRSW, null, W.OPEN_EXISTING, W.FILE_ATTRIBUTE_NORMAL | createFlags | W.FILE_FLAG_OVERLAPPED | W.FILE_FLAG_DELETE_ON_CLOSE);
  ov.Offset = 0;
  bufs.clear();
  const read = await overlapped(W.ReadFile(h, n, ov), h, ov);
  bufs.buffer[1].set(ov.output?.subarray(0, read) ?? new Uint8Array(0));
  ASSERT(read === n, `read ${read} of ${n} after reopen`);
  ASSERT(bufs.same(read), "data after reopen");
  await W.CloseHandle(h);
  await fails(W.CreateFileW(path, GRGW, SRSW, null, W.OPEN_EXISTING, 0), W.ERROR_FILE_NOT_FOUND);
}

export const lockTests: readonly ConformanceTest[] = [
  test("lock_noncached_test", (t) => lock_dotest(t, W.FILE_FLAG_NO_BUFFERING)),
  test("lock_noncached_overlapped_test", (t) => lock_overlapped_dotest(t, W.FILE_FLAG_NO_BUFFERING)),
  test("lock_cached_test", (t) => lock_dotest(t, 0)),
  test("lock_cached_overlapped_test", (t) => lock_overlapped_dotest(t, 0)),
];
