/**
 * `viofs serve`'s warm-up (src/cli/warmup.ts): one private vhost-user
 * connection served as a VMM's would be, to this process's guest driver,
 * over a private directory it removes; every request answered as a guest
 * expects (a wrong answer throws), with the daemon's options, inline or on
 * the thread pool.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { DEFAULT_DEVICE_OPTIONS, type DeviceOptions } from "../../src/host/device.js";
import { warmUp } from "../../src/cli/warmup.js";
import { scratchDir } from "../scratch.js";

/** Every close a FLUSH, whatever file system the temporary directory is on. */
const OPTIONS: DeviceOptions = { ...DEFAULT_DEVICE_OPTIONS, xattr: true, flush: "always" };

/**
 * INIT, then 14 calls a round (13 without xattrs), one fewer where the
 * CREATE reply said FOPEN_NOFLUSH (`noFlush`) except every 8th round, and 7
 * more in every 16th round (from the first).
 */
const requestsFor = (rounds: number, xattr = true, noFlush = false): number =>
  1 + (xattr ? 14 : 13) * rounds - (noFlush ? rounds - Math.ceil(rounds / 8) : 0) + 7 * Math.ceil(rounds / 16);

test("warm-up: every round's requests are answered; its directory and fds are gone afterwards", async (t) => {
  const tmp = scratchDir(t, "viofs-warmup-test-");
  // The first run opens what a process keeps for good (the /proc/self/fd fd, the shared poller, libuv's spare fd): count around a second.
  await warmUp(OPTIONS, { rounds: 1, tmpRoot: tmp });
  const fds = readdirSync("/proc/self/fd").length;
  const report = await warmUp(OPTIONS, { rounds: 40, tmpRoot: tmp });
  assert.equal(report.rounds, 40);
  assert.equal(report.requests, requestsFor(40));
  assert.ok(report.ms > 0);
  assert.deepEqual(readdirSync(tmp), []);
  assert.equal(readdirSync("/proc/self/fd").length, fds, "no fd left open");
});

test("warm-up: runs writable for a --readonly daemon, on the thread pool, without xattrs or readdirplus", async (t) => {
  const tmp = scratchDir(t, "viofs-warmup-test-");
  const options: DeviceOptions = { ...OPTIONS, readonly: true, threadPoolSize: 2, xattr: false, readdirplus: false, cache: "never", tag: "x" };
  const report = await warmUp(options, { rounds: 17, tmpRoot: tmp });
  assert.equal(report.requests, requestsFor(17, false));
  assert.deepEqual(readdirSync(tmp), []);
});

test("warm-up: on a tmpfs, as a Linux guest, no FLUSH after a CREATE that says FOPEN_NOFLUSH but in every 8th round", async (t) => {
  const tmp = scratchDir(t, "viofs-warmup-test-"); // unmounts the tmpfs first
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=64m", "viofs-warmup-test", tmp]);
  const report = await warmUp({ ...OPTIONS, flush: "auto" }, { rounds: 40, tmpRoot: tmp });
  assert.equal(report.requests, requestsFor(40, true, true));
  assert.deepEqual(readdirSync(tmp), []);
});

test("warm-up: stops between rounds when aborted, and within its time budget", async (t) => {
  const tmp = scratchDir(t, "viofs-warmup-test-");
  const stopped = await warmUp(OPTIONS, { rounds: 1000, tmpRoot: tmp, signal: AbortSignal.abort() });
  assert.equal(stopped.rounds, 0);
  assert.equal(stopped.requests, 1, "INIT only");
  const budget = await warmUp(OPTIONS, { rounds: 1_000_000, tmpRoot: tmp, budgetMs: 1000 });
  assert.ok(budget.rounds > 0 && budget.rounds < 1_000_000, `${budget.rounds} rounds`);
  assert.ok(budget.ms < 1000 + 5000, `${budget.ms} ms: the round under way and the teardown at most past the budget`);
  assert.deepEqual(readdirSync(tmp), []);
});

test("warm-up: a temporary directory it cannot use is an error for the caller, and nothing is left", async (t) => {
  const tmp = scratchDir(t, "viofs-warmup-test-");
  await assert.rejects(warmUp(OPTIONS, { rounds: 1, tmpRoot: `${tmp}/missing` }), /ENOENT/);
  assert.deepEqual(readdirSync(tmp), []);
});
