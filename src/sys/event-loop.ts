/**
 * Tuning of node's own event loop for a process that wakes up once per
 * request (the vhost-user device: a kick, a request served, a call).
 *
 * Node turns on libuv's idle-time metrics on its main loop (they feed
 * `performance.eventLoopUtilization()`). With them on, libuv splits every
 * wait of the loop in two: an epoll_pwait with a zero timeout first, then
 * the real wait, to time how long the loop sat idle. A daemon that sleeps
 * between requests pays that extra system call on every request; on a host
 * where a system call is dear (a nested or paravirtualized VM) it is a
 * measurable share of a small request. {@link stopLoopIdleMetrics} turns the
 * metrics off again, which libuv's API cannot do (uv_loop_configure only
 * turns them on): it clears the flag in the loop's internal fields, at a
 * layout checked against the libuv version and the flag word's value, and
 * leaves everything alone when either looks unfamiliar.
 */
import * as libc from "./libc.js";

/** `UV_METRICS_IDLE_TIME`, the uv_loop_option whose value libuv keeps as a bit of its internal `flags`. */
const UV_METRICS_IDLE_TIME = 1;
/**
 * Offset of `internal_fields` in `uv_loop_t` on 64-bit Linux: `void *data`,
 * `unsigned int active_handles` (padded), `struct uv__queue handle_queue`
 * (two pointers), `union { void *unused; unsigned int count; } active_reqs`.
 */
const INTERNAL_FIELDS_OFFSET = 40;
/** The first libuv with that layout and `unsigned int flags` first in the internal fields (checked on 1.46, node 20's); later 1.x keep both, and the flag-word check below catches a change. */
const FIRST_MINOR = 39;

/**
 * Turns off libuv's idle-time metrics on the main thread's loop, so a wait
 * is one epoll_pwait. Breaks `performance.eventLoopUtilization()` (unused
 * here). Returns whether it did; false when this node's libuv is not one it
 * knows, when the loop cannot be reached, or when the flag word holds bits
 * it does not expect.
 */
export function stopLoopIdleMetrics(): boolean {
  const [major, minor] = process.versions.uv.split(".").map(Number) as [number, number];
  if (major !== 1 || !(minor >= FIRST_MINOR) || process.arch !== "x64") return false;
  const loop = libc.uvDefaultLoopAddress();
  if (loop === null || loop === 0n) return false;
  const internal = new DataView(libc.viewAt(loop, INTERNAL_FIELDS_OFFSET + 8)).getBigUint64(INTERNAL_FIELDS_OFFSET, true);
  if (internal === 0n) return false;
  const flags = new DataView(libc.viewAt(internal, 4));
  const value = flags.getUint32(0, true);
  // Only the metrics bit is known to be there; anything else means another layout.
  if ((value & ~UV_METRICS_IDLE_TIME) !== 0) return false;
  flags.setUint32(0, value & ~UV_METRICS_IDLE_TIME, true);
  return true;
}
