/**
 * The wake-to-call parser of bench/service-time.ts, on `perf script -F
 * tid,time,event,trace` text as perf prints it: per thread, from a wait's
 * return with something ready to that thread's next 8-byte write; waits that
 * timed out or failed, other writes, other threads' events and writes with no
 * wake-up before them do not count.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ServiceTrace, parseServiceTimes } from "../../bench/service-time.js";

const trace = [
  // Thread 100 (a wait that needs no read of the kick, epoll_wait): woken at 1.000010, its call 30 µs later.
  "   100  1.000010:         syscalls:sys_exit_epoll_wait: 0x1",
  "   100  1.000040:       syscalls:sys_enter_write: fd: 0x00000025, buf: 0x299f92f8, count: 0x00000008",
  // A write with no wake-up before it (a second call of the same batch): not a sample.
  "   100  1.000050:       syscalls:sys_enter_write: fd: 0x00000025, buf: 0x299f92f8, count: 0x00000008",
  // Thread 200 (virtiofsd's ppoll, then its read of the kick), then thread 100's wait that timed out, then 200's call 10 µs after it woke.
  "   200  1.000100:         syscalls:sys_exit_ppoll: 0x1",
  "   100  1.000105:         syscalls:sys_exit_epoll_wait: 0x0",
  "   200  1.000110:       syscalls:sys_enter_write: fd: 0x0000002a, buf: 0x299f92f8, count: 0x00000008",
  // Node's event loop woke for something else, then for the kick: the last wake-up counts; a log line's write (not 8 bytes) does not end it.
  "   100  1.000150:         syscalls:sys_exit_epoll_pwait: 0x1",
  "   100  1.000200:         syscalls:sys_exit_epoll_pwait: 0x2",
  "   100  1.000220:       syscalls:sys_enter_write: fd: 0x00000002, buf: 0x299f92f8, count: 0x00000051",
  "   100  1.000250:       syscalls:sys_enter_write: fd: 0x00000025, buf: 0x299f92f8, count: 0x00000008",
  // A wait interrupted by a signal (-EINTR) is no wake-up for a request.
  "   200  1.000300:         syscalls:sys_exit_poll: 0xfffffffffffffffc",
  "   200  1.000310:       syscalls:sys_enter_write: fd: 0x0000002a, buf: 0x299f92f8, count: 0x00000008",
  "garbage that is not an event",
].join("\n");

test("wake-to-call intervals are paired per thread, a wait's return with fds ready to an 8-byte write", () => {
  const t = parseServiceTimes(trace);
  assert.equal(t.samples, 3);
  assert.ok(Math.abs(t.p50Us - 30) < 0.01, `median ${t.p50Us}`);
  assert.ok(Math.abs(t.p90Us - 50) < 0.01, `p90 ${t.p90Us}`);
});

test("a trace without a wake-up has no samples", () => {
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
