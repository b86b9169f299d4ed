/**
 * clock_gettime(2) for the clocks Node does not offer: CLOCK_REALTIME_COARSE
 * above all, the wall clock as of the last tick, which the kernel stamps
 * files with.
 */
import * as libc from "./libc.js";

export const CLOCK_REALTIME_COARSE = 5;

/** `struct timespec`: tv_sec, tv_nsec (two 64-bit words on x86_64). */
const timespec = new BigInt64Array(2);

/** Clock `clock` in nanoseconds since its epoch, or null when clock_gettime fails. */
export function clockNs(clock: number): bigint | null {
  if (libc.clock_gettime(clock, timespec) !== 0) return null;
  return timespec[0]! * 1_000_000_000n + timespec[1]!;
}
