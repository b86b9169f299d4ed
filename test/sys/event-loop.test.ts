/**
 * stopLoopIdleMetrics: node's loop stops timing its idle waits (the metrics
 * that made every wait two epoll_pwait calls), seen from
 * performance.eventLoopUtilization(), which reads exactly those metrics.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { stopLoopIdleMetrics } from "../../src/sys/event-loop.js";

test("the loop's idle-time metrics go off: an idle wait is no longer timed", async () => {
  const before = performance.eventLoopUtilization();
  await sleep(60);
  const idleBefore = performance.eventLoopUtilization(before).idle;
  assert.ok(idleBefore >= 30, `with the metrics on, a 60 ms sleep shows as idle time (got ${idleBefore} ms)`);

  assert.equal(stopLoopIdleMetrics(), true, `libuv ${process.versions.uv} on ${process.arch} is one the tuning knows`);
  const start = performance.eventLoopUtilization();
  await sleep(60);
  assert.equal(performance.eventLoopUtilization(start).idle, 0, "no idle time is measured any more");

  // Idempotent: the flag is already clear.
  assert.equal(stopLoopIdleMetrics(), true);
});
