/**
 * EventFdWaitSet: a blocking wait for one of several eventfds (real ones),
 * as `viofs serve` waits for a guest's next kick, without reading them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Worker } from "node:worker_threads";
import { closeSync, openSync, writeSync } from "node:fs";
import { eventfd, eventfdRead, eventfdWrite, EventFdWaitSet } from "../../src/sys/eventfd.js";
import { socketpair } from "../../src/sys/index.js";
import { ErrnoError } from "../../src/common/errors.js";

test("a wait answers the signalled fd's index once per signal and leaves its counter; -1 when the time passes", () => {
  const fds = [eventfd(), eventfd(), eventfd()];
  const set = new EventFdWaitSet(fds);
  try {
    eventfdWrite(fds[1]!, 3n);
    assert.equal(set.wait(1000), 1);
    const start = performance.now();
    assert.equal(set.wait(30), -1, "one signal, one answer: the count left unread does not answer again");
    assert.ok(performance.now() - start >= 25, "it waited for the time given");
    assert.equal(eventfdRead(fds[1]!), 3n, "the counter is left for the event loop's reader");
    // A signal while nobody waits answers the next wait at once, and a second signal of a counted fd is an edge too.
    eventfdWrite(fds[2]!);
    eventfdWrite(fds[2]!);
    assert.equal(set.wait(1000), 2);
    eventfdWrite(fds[2]!);
    assert.equal(set.wait(1000), 2);
    assert.equal(set.wait(0), -1);
    assert.equal(set.has(fds[0]!), true);
    assert.throws(() => new EventFdWaitSet([]), RangeError);
  } finally {
    set.close();
    for (const fd of fds) closeSync(fd);
  }
  assert.equal(set.wait(5000), -1, "a closed set answers at once");
});

test("a wait wakes when another thread signals during it", async () => {
  const fds = [eventfd(), eventfd()];
  const set = new EventFdWaitSet(fds);
  try {
    // A worker signals the second fd 50 ms from now, while this thread is blocked in epoll_wait(2).
    const worker = new Worker(
      `const { writeSync } = require("node:fs");
       const { workerData } = require("node:worker_threads");
       setTimeout(() => writeSync(workerData, Buffer.from([1, 0, 0, 0, 0, 0, 0, 0])), 50);`,
      { eval: true, workerData: fds[1] },
    );
    await new Promise((resolve) => worker.once("online", resolve));
    const start = performance.now();
    assert.equal(set.wait(5000), 1);
    const waited = performance.now() - start;
    assert.ok(waited >= 20 && waited < 4000, `woken by the signal after ${waited.toFixed(1)} ms`);
    await new Promise((resolve) => worker.once("exit", resolve));
  } finally {
    set.close();
    for (const fd of fds) closeSync(fd);
  }
});

test("a set refuses an fd epoll cannot watch (a regular file) or that is not open, with the errno", () => {
  const file = openSync("/proc/self/cmdline", "r");
  // Far above any fd this process has open (a closed fd's number would be the set's own epoll fd next).
  const closed = 999_999;
  try {
    assert.throws(() => new EventFdWaitSet([file]), (e: unknown) => ErrnoError.is(e) && e.errnoName === "EPERM");
    assert.throws(() => new EventFdWaitSet([closed]), (e: unknown) => ErrnoError.is(e) && e.errnoName === "EBADF");
  } finally {
    closeSync(file);
  }
});

test("a wait on an fd that is no eventfd (a peer may send anything as a kick fd) answers it only while it is readable, and -1 on its hang-up", () => {
  const [a, b] = socketpair();
  const set = new EventFdWaitSet([a]);
  try {
    writeSync(b, Buffer.from("abc"));
    assert.equal(set.wait(1000), 0);
    closeSync(b);
    assert.equal(set.wait(1000), -1, "EPOLLHUP is for the event loop to sort out");
  } finally {
    set.close();
    closeSync(a);
  }
});
