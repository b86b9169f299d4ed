/**
 * The system time as Windows keeps it: the wall clock as of the last clock
 * tick (GetSystemTimeAsFileTime, KeQuerySystemTime), the clock file-system
 * timestamps are taken from. On Linux that is CLOCK_REALTIME_COARSE, the
 * clock the kernel stamps files with: a file made after reading it never
 * looks older than the reading, which the precise clock (`Date.now()`)
 * cannot promise (it runs up to a tick ahead of file timestamps).
 */
import { CLOCK_REALTIME_COARSE, clockNs } from "../sys/clock.js";
import { dateToFiletime, unixNsToFiletime } from "../windows/filetime.js";

/** The coarse wall clock as a FILETIME (100 ns units since 1601). */
export function systemTimeAsFileTime(): bigint {
  const ns = clockNs(CLOCK_REALTIME_COARSE);
  return ns !== null ? unixNsToFiletime(ns) : dateToFiletime(new Date());
}
