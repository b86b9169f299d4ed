import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, fstatSync, writeSync } from "node:fs";
import { ErrnoError } from "../../src/common/errors.js";
import { LoopReader } from "../../src/sys/poller.js";
import { eventfd, eventfdRead, eventfdWrite } from "../../src/sys/eventfd.js";
import { socketpair } from "../../src/sys/socket.js";
import * as libc from "../../src/sys/libc.js";
import { F_GETFL, O_NONBLOCK } from "../../src/sys/constants.js";

/** Open fds of this process below 1024. */
function countFds(): number {
  let n = 0;
  for (let fd = 0; fd < 1024; fd++) if (libc.fcntlInt(fd, F_GETFL, 0) >= 0) n++;
  return n;
}

test("this Node lets an eventfd be read on the main loop", () => {
  // Everything below depends on it; viofs falls back to the FdPoller when it fails.
  assert.equal(LoopReader.supported, true);
});

test("each eventfd write wakes the reader with the counter, which the read resets", async () => {
  const fd = eventfd();
  const seen: bigint[] = [];
  let wake: () => void = () => {};
  const reader = new LoopReader(fd, (length, buffer) => {
    assert.equal(length, 8);
    seen.push(Buffer.from(buffer.buffer, buffer.byteOffset, length).readBigUInt64LE(0));
    wake();
  });
  try {
    for (const value of [3n, 1n, 7n]) {
      const woken = new Promise<void>((resolve) => (wake = resolve));
      eventfdWrite(fd, value);
      await woken;
    }
    assert.deepEqual(seen, [3n, 1n, 7n]);
    // The reader consumed the counter: nothing is left for a read through the original fd.
    assert.equal(eventfdRead(fd), null);
  } finally {
    reader.close();
    closeSync(fd);
  }
});

test("writes between two wake-ups add up in one read", async () => {
  const fd = eventfd();
  const seen: bigint[] = [];
  const reader = new LoopReader(fd, (length, buffer) => seen.push(Buffer.from(buffer.buffer, buffer.byteOffset, length).readBigUInt64LE(0)));
  try {
    // Synchronous writes: the loop cannot run in between.
    eventfdWrite(fd, 1n);
    eventfdWrite(fd, 1n);
    eventfdWrite(fd, 1n);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(seen, [3n]);
  } finally {
    reader.close();
    closeSync(fd);
  }
});

test("close stops the callbacks and closes the duplicate, not the caller's fd", async () => {
  const before = countFds();
  const fd = eventfd();
  let calls = 0;
  const reader = new LoopReader(fd, () => calls++);
  assert.equal(countFds(), before + 2);
  // The duplicate shares the open file description, which libuv made non-blocking.
  assert.ok(libc.fcntlInt(fd, F_GETFL, 0) & O_NONBLOCK);
  eventfdWrite(fd);
  reader.close();
  reader.close();
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(calls, 0);
  assert.equal(countFds(), before + 1);
  // The caller's fd is intact and still an eventfd.
  fstatSync(fd);
  assert.equal(eventfdRead(fd), 1n);
  closeSync(fd);
});

test("a pipe or socket end is read too; end of file ends the reader once", async () => {
  const [ours, theirs] = socketpair();
  const chunks: string[] = [];
  let ended: Error | null | undefined;
  const done = new Promise<void>((resolve) => {
    const reader = new LoopReader(
      ours,
      (length, buffer) => chunks.push(Buffer.from(buffer.buffer, buffer.byteOffset, length).toString()),
      (error) => {
        assert.equal(ended, undefined);
        ended = error;
        reader.close();
        resolve();
      },
    );
  });
  writeSync(theirs, "ping");
  await new Promise((resolve) => setTimeout(resolve, 20));
  closeSync(theirs);
  await done;
  closeSync(ours);
  assert.deepEqual(chunks, ["ping"]);
  assert.equal(ended, null);
});

test("a bad fd is an ErrnoError (EBADF), not a crash", () => {
  assert.throws(() => new LoopReader(1_000_000, () => {}), (e: unknown) => ErrnoError.is(e) && e.errnoName === "EBADF");
});
