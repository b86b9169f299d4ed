/**
 * The system time as Windows keeps it: the wall clock as of the last clock
 * tick (GetSystemTimeAsFileTime, KeQuerySystemTime), the clock file-system
 * timestamps are taken from. On Linux that is CLOCK_REALTIME_COARSE, the
 * clock the kernel stamps files with: a file made after reading it never
 * looks older than the reading, which the precise clock (`Date.now()`)
 * cannot promise (it runs up to a tick ahead of file timestamps).
 */
import koffi from "koffi";
import { dateToFiletime, unixNsToFiletime } from "../windows/filetime.js";

const CLOCK_REALTIME_COARSE = 5;

type ClockGettime = (clock: number, ts: Uint8Array) => number;

/** clock_gettime from libc, or null where there is none (then the precise clock is used). */
const clockGettime: ClockGettime | null = (() => {
  try {
    return koffi.load("libc.so.6").func("int clock_gettime(int clk_id, _Out_ uint8_t *tp)") as unknown as ClockGettime;
  } catch {
    return null;
  }
})();

const timespec = new Uint8Array(16);
const view = new DataView(timespec.buffer);

/** The coarse wall clock as a FILETIME (100 ns units since 1601). */
export function systemTimeAsFileTime(): bigint {
  if (clockGettime !== null && clockGettime(CLOCK_REALTIME_COARSE, timespec) === 0) {
    return unixNsToFiletime(view.getBigInt64(0, true) * 1_000_000_000n + view.getBigInt64(8, true));
  }
  return dateToFiletime(new Date());
}
