/**
 * The pieces the driver, service and memory groups add to the benchmark
 * plumbing: the random workload's offsets, rows whose bar is an upper bound
 * (lower is better), small figures in the table, the settings quick mode
 * keeps small, and the /proc readings of real processes (a real child with
 * a real grandchild, as C virtiofsd's sandbox forks).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import { driverSettings, randomOffsets } from "../../bench/driver.js";
import { formatTable, formatValue, processFootprint, workerPid, type RatioRow } from "../../bench/lib.js";
import { memorySettings } from "../../bench/memory.js";
import { serviceSettings } from "../../bench/service.js";

test("randomOffsets: page-aligned, inside the file, a permutation of the pages, the same every call", () => {
  const bytes = 64 * 4096;
  const offsets = randomOffsets(bytes, 64);
  assert.equal(offsets.length, 64);
  for (const o of offsets) {
    assert.equal(o % 4096, 0);
    assert.ok(o < bytes);
  }
  assert.equal(new Set(offsets).size, 64, "every page once");
  assert.deepEqual(randomOffsets(bytes, 64), offsets);
  assert.notDeepEqual([...offsets.slice(0, 8)], [0, 4096, 8192, 12288, 16384, 20480, 24576, 28672], "not sequential");
  assert.throws(() => randomOffsets(3 * 4096, 1), RangeError, "not a power of two of pages");
  assert.throws(() => randomOffsets(2 ** 33, 1), RangeError, "offsets must fit 32 bits");
});

test("formatTable: a row bounded above shows ≤ bound as its goal and its verdict", () => {
  const row: RatioRow = {
    group: "memory",
    workload: "daemon RSS per live inode",
    unit: "B/inode",
    oursName: "viofs",
    peerName: "virtiofsd",
    ours: 978,
    peer: 168,
    ratio: 978 / 168,
    ratioOfBest: null,
    goal: null,
    met: true,
    maxOurs: 1024,
  };
  const lines = formatTable([row, { ...row, workload: "left after FORGET", ours: 0.0004, peer: 0, ratio: null, maxOurs: 0.001, met: true }]).split("\n");
  assert.match(lines[2]!, /viofs 978\s+virtiofsd 168\s+5\.82×\s+≤ 1024\s+yes$/);
  assert.match(lines[3]!, /viofs 0\.00040\s+virtiofsd 0\.00\s+—\s+≤ 0\.0010\s+yes$/);
});

test("formatValue: three significant digits at least, small values not rounded to zero", () => {
  assert.equal(formatValue(1234.5), "1235");
  assert.equal(formatValue(12.345), "12.3");
  assert.equal(formatValue(0.5), "0.50");
  assert.equal(formatValue(0), "0.00");
  assert.equal(formatValue(0.00012), "0.00012");
  assert.equal(formatValue(-2048), "-2048");
  assert.equal(formatValue(null), "—");
});

test("quick settings stay small and full settings are issue #7's sizes", () => {
  assert.equal(driverSettings(false).fileMiB, 1024, "1 GiB sequential file");
  assert.equal(driverSettings(false).listEntries, 10_000);
  assert.deepEqual(driverSettings(true).queueDepths, [1, 16]);
  assert.equal(serviceSettings(false).copyMiB, 1024, "1 GiB copy");
  assert.equal(serviceSettings(false).listEntries, 10_000);
  assert.equal(serviceSettings(true).caseEntries, 10_000, "wrong-case opens always in a 10,000-entry directory");
  assert.ok(serviceSettings(true).copyMiB <= 64);
  assert.equal(memorySettings(false).files, 100_000);
  assert.ok(memorySettings(true).files < 20_000, "quick mode stays under a 20,000-fd limit");
});

test("workerPid follows a single child; processFootprint reads VmRSS and counts descriptors", async () => {
  // sh with one child (sleep): as virtiofsd's sandbox parent with its one worker.
  const parent = spawn("/bin/sh", ["-c", "sleep 30 & wait"], { stdio: "ignore" });
  try {
    let worker = parent.pid!;
    for (let i = 0; i < 100 && worker === parent.pid; i++) {
      await sleep(20);
      worker = workerPid(parent.pid!);
    }
    assert.notEqual(worker, parent.pid, "the child was found");
    assert.match(readFileSync(`/proc/${worker}/cmdline`, "utf8"), /^sleep\0/);
    assert.ok(processFootprint(worker).fds >= 0);
    process.kill(worker, "SIGKILL");
  } finally {
    parent.kill("SIGKILL");
  }
  const before = processFootprint(process.pid);
  assert.ok(before.rssBytes > 1 << 20, "a node process has more than 1 MiB resident");
  const fds = [openSync("/dev/null", "r"), openSync("/dev/null", "r"), openSync("/dev/null", "r")];
  try {
    assert.equal(processFootprint(process.pid).fds, before.fds + 3);
  } finally {
    for (const fd of fds) closeSync(fd);
  }
});
