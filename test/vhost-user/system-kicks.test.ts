/**
 * HostSystem.watchEventFd, both ways it can watch a kick: on the main loop
 * (LoopReader, the default) and through the FdPoller (the fallback).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { HostSystem } from "../../src/vhost-user/system.js";
import { FdPoller } from "../../src/sys/poller.js";
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
