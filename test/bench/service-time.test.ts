/**
 * The kick-to-call parser of bench/service-time.ts, on `perf script -F
 * tid,time,event,trace` text as perf prints it: per thread, from a read that
 * returned 8 bytes to that thread's next 8-byte write; other reads and writes,
 * other threads' events and writes with no kick before them do not count.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ServiceTrace, parseServiceTimes } from "../../bench/service-time.js";

const trace = [
  // Thread 100: a kick at 1.000010, its call 30 µs later.
  "   100  1.000010:         syscalls:sys_exit_read: 0x8",
  "   100  1.000040:       syscalls:sys_enter_write: fd: 0x00000025, buf: 0x299f92f8, count: 0x00000008",
  // A write with no kick before it (a second call of the same batch): not a sample.
  "   100  1.000050:       syscalls:sys_enter_write: fd: 0x00000025, buf: 0x299f92f8, count: 0x00000008",
  // Thread 200's kick, then thread 100's larger read (not a kick), then 200's call 10 µs after its kick.
  "   200  1.000100:         syscalls:sys_exit_read: 0x8",
  "   100  1.000105:         syscalls:sys_exit_read: 0x40",
  "   200  1.000110:       syscalls:sys_enter_write: fd: 0x0000002a, buf: 0x299f92f8, count: 0x00000008",
  // A kick followed by a log line's write (not 8 bytes) and then the call, 50 µs after the kick.
  "   100  1.000200:         syscalls:sys_exit_read: 0x8",
  "   100  1.000220:       syscalls:sys_enter_write: fd: 0x00000002, buf: 0x299f92f8, count: 0x00000051",
  "   100  1.000250:       syscalls:sys_enter_write: fd: 0x00000025, buf: 0x299f92f8, count: 0x00000008",
  "garbage that is not an event",
].join("\n");

test("kick-to-call intervals are paired per thread, 8-byte read to 8-byte write", () => {
  const t = parseServiceTimes(trace);
  assert.equal(t.samples, 3);
  assert.ok(Math.abs(t.p50Us - 30) < 0.01, `median ${t.p50Us}`);
  assert.ok(Math.abs(t.p90Us - 50) < 0.01, `p90 ${t.p90Us}`);
});

test("a trace without a kick has no samples", () => {
  assert.deepEqual(parseServiceTimes("   100  1.000040:       syscalls:sys_enter_write: fd: 0x1, buf: 0x2, count: 0x00000008\n"), { samples: 0, p50Us: 0, p90Us: 0 });
});

test("ServiceTrace.stop: a second call answers the first's figure, and the trace file is gone", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "viofs-service-trace-"));
  const child = spawn("sleep", ["30"], { stdio: "ignore" });
  t.after(() => {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });
  const trace = new ServiceTrace(child.pid!, join(dir, "trace.perf"));
  await trace.started();
  const first = trace.stop();
  assert.equal(trace.stop(), first, "the same promise");
  // A sleeping process takes no kicks: no figure, whether or not perf could trace here.
  assert.equal(await first, null);
  assert.equal(existsSync(join(dir, "trace.perf")), false);
});
