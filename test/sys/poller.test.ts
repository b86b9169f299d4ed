import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync } from "node:fs";
import { FdPoller } from "../../src/sys/poller.js";
import { eventfd, eventfdRead, eventfdReadAsync, eventfdWrite } from "../../src/sys/eventfd.js";
import { ErrnoError } from "../../src/common/errors.js";
import { EPOLLIN } from "../../src/sys/constants.js";

test("an eventfd write wakes its callback through the poller", async () => {
  const poller = new FdPoller();
  const kicks = [eventfd(), eventfd(), eventfd()];
  try {
    const seen: [number, bigint][] = [];
    let done: () => void = () => {};
    const finished = new Promise<void>((resolve) => (done = resolve));
    kicks.forEach((fd, queue) =>
      poller.add(fd, EPOLLIN, (events) => {
        assert.ok(events & EPOLLIN);
        const value = eventfdRead(fd);
        if (value !== null) seen.push([queue, value]);
        if (seen.length === 3) done();
      }),
    );
    assert.equal(poller.size, 3);
    eventfdWrite(kicks[2]!, 3n);
    setTimeout(() => eventfdWrite(kicks[0]!), 10);
    setTimeout(() => eventfdWrite(kicks[1]!, 2n), 20);
    await finished;
    assert.deepEqual(seen, [[2, 3n], [0, 1n], [1, 2n]]);
    assert.throws(() => poller.add(kicks[0]!, EPOLLIN, () => {}), (e: unknown) => ErrnoError.is(e) && e.errnoName === "EEXIST");
  } finally {
    poller.close();
    kicks.forEach((fd) => closeSync(fd));
  }
});

test("a removed fd gets no more callbacks; an idle poller lets the process go", async () => {
  const poller = new FdPoller();
  const fd = eventfd();
  try {
    let calls = 0;
    poller.add(fd, EPOLLIN, () => {
      calls += 1;
      eventfdRead(fd);
    });
    eventfdWrite(fd);
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(calls, 1);
    assert.equal(poller.remove(fd), true);
    assert.equal(poller.remove(fd), false);
    eventfdWrite(fd);
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(calls, 1);
    assert.equal(poller.size, 0);
    // a one-shot wait, then the poller is idle again
    setTimeout(() => eventfdWrite(fd, 5n), 10);
    assert.equal(eventfdRead(fd), 1n);
    assert.equal(await eventfdReadAsync(fd, poller), 5n);
    assert.equal(poller.size, 0);
  } finally {
    poller.close();
    closeSync(fd);
  }
  assert.throws(() => poller.add(fd, EPOLLIN, () => {}), (e: unknown) => ErrnoError.is(e) && e.errnoName === "EBADF");
});

test("closing a poller while its wait is pending releases it", async () => {
  const poller = new FdPoller();
  const fd = eventfd();
  poller.add(fd, EPOLLIN, () => assert.fail("no event was signalled"));
  await new Promise((resolve) => setTimeout(resolve, 10));
  poller.close();
  assert.ok(poller.closed);
  closeSync(fd);
  // if the pending epoll_wait were not woken, node:test would hang here
});
