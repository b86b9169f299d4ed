/**
 * HostSystem.watchEventFd, both ways it can watch a kick: on the main loop
 * (LoopReader, the default) and through the FdPoller (the fallback).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { HostSystem } from "../../src/vhost-user/system.js";
import { FdPoller } from "../../src/sys/poller.js";
import { closeSync, openSync } from "node:fs";
import { eventfdRead, eventfdWrite } from "../../src/sys/eventfd.js";

const settle = (ms = 30): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

for (const loopReads of [true, false]) {
  const how = loopReads ? "on the main loop" : "through the poller";

  test(`kicks ${how}: every listener hears each signal once, the counter is consumed, unwatching stops them`, async () => {
    const poller = new FdPoller();
    const system = new HostSystem(poller, loopReads);
    const fd = system.createEventFd();
    try {
      const heard = { a: 0, b: 0 };
      const stopA = system.watchEventFd(fd, () => heard.a++);
      const stopB = system.watchEventFd(fd, () => heard.b++);
      system.signalEventFd(fd);
      await settle();
      assert.deepEqual(heard, { a: 1, b: 1 });
      // Signals before the loop runs again count as one wake-up.
      system.signalEventFd(fd);
      eventfdWrite(fd, 2n);
      await settle();
      assert.deepEqual(heard, { a: 2, b: 2 });
      assert.equal(eventfdRead(fd), null, "the watcher read the counter");
      stopA();
      stopA();
      system.signalEventFd(fd);
      await settle();
      assert.deepEqual(heard, { a: 2, b: 3 });
      stopB();
      system.signalEventFd(fd);
      await settle();
      assert.deepEqual(heard, { a: 2, b: 3 });
      assert.equal(eventfdRead(fd), 1n, "nobody reads an unwatched fd");
      // Watching again after the last listener left starts a fresh watch.
      const stopC = system.watchEventFd(fd, () => heard.a++);
      system.signalEventFd(fd);
      await settle();
      assert.equal(heard.a, 3);
      stopC();
      assert.equal(poller.size, 0);
    } finally {
      system.closeFd(fd);
      poller.close();
    }
  });
}

test("waitEventFd: a wait set kept for the same fds, dropped when one is closed, and a list epoll cannot watch answered -1", async () => {
  const poller = new FdPoller();
  const system = new HostSystem(poller);
  const a = system.createEventFd();
  let b = system.createEventFd();
  const heard: number[] = [];
  const stop = system.watchEventFd(a, () => heard.push(a));
  try {
    system.signalEventFd(b);
    assert.equal(system.waitEventFd([a, b], 1000), 1);
    // The count stays for the event loop's watcher: a kick served from the wait is heard once more from the loop.
    system.signalEventFd(a);
    assert.equal(system.waitEventFd([a, b], 1000), 0);
    await settle();
    assert.deepEqual(heard, [a]);
    assert.equal(eventfdRead(b), 1n, "b is nobody's to read but the waiter's, which leaves it");
    // b closed, and its number given to a new eventfd: the new one is waited for, not a registration epoll dropped.
    const old = b;
    system.closeFd(b);
    const spare: number[] = [];
    for (b = system.createEventFd(); b !== old && spare.length < 1000; b = system.createEventFd()) spare.push(b);
    for (const fd of spare) system.closeFd(fd);
    assert.equal(b, old, "the number comes back (lower free numbers taken first)");
    system.signalEventFd(b);
    assert.equal(system.waitEventFd([a, b], 1000), 1);
    // A list with a regular file cannot be watched: -1 at once, every time, until the list changes.
    const file = openSync("/proc/self/cmdline", "r");
    let fileOpen = true;
    try {
      const start = performance.now();
      assert.equal(system.waitEventFd([a, file], 5000), -1);
      assert.equal(system.waitEventFd([a, file], 5000), -1);
      assert.ok(performance.now() - start < 1000);
      system.signalEventFd(a);
      assert.equal(system.waitEventFd([a], 1000), 0);
      // The file closed here and its number given to an eventfd: the same list is tried again.
      assert.equal(system.waitEventFd([a, file], 0), -1);
      system.closeFd(file);
      fileOpen = false;
      const spare: number[] = [];
      let again = system.createEventFd();
      for (; again !== file && spare.length < 1000; again = system.createEventFd()) spare.push(again);
      for (const fd of spare) system.closeFd(fd);
      assert.equal(again, file);
      // A new set answers an fd whose count is up at once (here a's, left by the waits above): none left.
      eventfdRead(a);
      system.signalEventFd(again);
      assert.equal(system.waitEventFd([a, again], 1000), 1);
      system.closeFd(again);
    } finally {
      if (fileOpen) closeSync(file);
    }
  } finally {
    stop();
    system.closeFd(a);
    system.closeFd(b);
    poller.close();
  }
});
