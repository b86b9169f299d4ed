/**
 * eventfdPoll and eventfdClear: a blocking wait for one of several eventfds
 * (real ones), as `viofs serve` waits for a guest's next kick, and the read
 * that resets the one that woke it, done once the kick is served.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Worker } from "node:worker_threads";
import { closeSync, writeSync } from "node:fs";
import { eventfd, eventfdClear, eventfdPoll, eventfdRead, eventfdWrite } from "../../src/sys/eventfd.js";
import { socketpair } from "../../src/sys/index.js";

test("eventfdPoll answers the signalled fd's index and leaves its counter to eventfdClear; -1 when the time passes", () => {
  const fds = [eventfd(), eventfd(), eventfd()];
  try {
    eventfdWrite(fds[1]!, 3n);
    assert.equal(eventfdPoll(fds, 1000), 1);
    assert.equal(eventfdPoll(fds, 1000), 1, "still signalled: the wait did not read it");
    assert.equal(eventfdClear(fds[1]!), true);
    assert.equal(eventfdRead(fds[1]!), null, "eventfdClear reset the counter");
    assert.equal(eventfdClear(fds[1]!), false, "nothing to clear");
    eventfdWrite(fds[0]!);
    eventfdWrite(fds[2]!);
    assert.equal(eventfdPoll(fds, 1000), 0, "the first signalled fd in the list");
    eventfdClear(fds[0]!);
    eventfdClear(fds[2]!);
    const start = performance.now();
    assert.equal(eventfdPoll(fds, 30), -1);
    assert.ok(performance.now() - start >= 25, "it waited for the time given");
    assert.equal(eventfdPoll(fds, 0), -1, "no time: no wait");
    assert.throws(() => eventfdPoll([], 10), RangeError);
  } finally {
    for (const fd of fds) closeSync(fd);
  }
});

test("eventfdPoll wakes when another thread signals during the wait", async () => {
  const fds = [eventfd(), eventfd()];
  try {
    // A worker signals the second fd 50 ms from now, while this thread is blocked in poll(2).
    const worker = new Worker(
      `const { writeSync } = require("node:fs");
       const { workerData } = require("node:worker_threads");
       setTimeout(() => writeSync(workerData, Buffer.from([1, 0, 0, 0, 0, 0, 0, 0])), 50);`,
      { eval: true, workerData: fds[1] },
    );
    await new Promise((resolve) => worker.once("online", resolve));
    const start = performance.now();
    assert.equal(eventfdPoll(fds, 5000), 1);
    const waited = performance.now() - start;
    assert.ok(waited >= 20 && waited < 4000, `woken by the signal after ${waited.toFixed(1)} ms`);
    await new Promise((resolve) => worker.once("exit", resolve));
  } finally {
    for (const fd of fds) closeSync(fd);
  }
});

test("eventfdPoll gives up at once on an fd that is not open, instead of spinning out its time", () => {
  const open = eventfd();
  const closed = eventfd();
  closeSync(closed);
  try {
    const start = performance.now();
    assert.equal(eventfdPoll([open, closed], 5000), -1);
    assert.ok(performance.now() - start < 1000, "POLLNVAL ends the wait");
  } finally {
    closeSync(open);
  }
});

test("eventfdClear of an fd that is no eventfd (a peer may send anything as a kick fd) neither throws nor says it read a count", () => {
  const [a, b] = socketpair();
  try {
    writeSync(b, Buffer.from("abc"));
    assert.equal(eventfdPoll([a], 50), 0, "readable, as far as poll can tell");
    assert.equal(eventfdClear(a), false);
  } finally {
    closeSync(a);
    closeSync(b);
  }
});
