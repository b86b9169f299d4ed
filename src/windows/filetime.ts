/**
 * FILETIME / NTTIME: 100-nanosecond ticks since 1601-01-01 00:00:00 UTC, as
 * Windows and Samba's NDR (`NTTIME`) store them. Unix times here are bigint
 * nanoseconds since 1970-01-01 UTC, so neither side loses precision.
 */

/** FILETIME of the Unix epoch: 11644473600 s × 10^7. */
export const FILETIME_UNIX_EPOCH = 116444736000000000n;

/** Nanoseconds per FILETIME tick. */
const NS_PER_TICK = 100n;

/**
 * FILETIME for Unix nanoseconds. Sub-tick nanoseconds are truncated toward
 * minus infinity (as Samba's `full_timespec_to_nt_time` drops `nsec % 100`),
 * so a time before 1970 stays ordered.
 */
export function unixNsToFiletime(ns: bigint): bigint {
  const ticks = ns >= 0n ? ns / NS_PER_TICK : -((-ns + NS_PER_TICK - 1n) / NS_PER_TICK);
  return ticks + FILETIME_UNIX_EPOCH;
}

/** Unix nanoseconds for a FILETIME. */
export function filetimeToUnixNs(ft: bigint): bigint {
  return (ft - FILETIME_UNIX_EPOCH) * NS_PER_TICK;
}

/** FILETIME for a seconds + nanoseconds pair (a `struct timespec`). */
export function timespecToFiletime(sec: bigint | number, nsec: bigint | number): bigint {
  return unixNsToFiletime(BigInt(sec) * 1_000_000_000n + BigInt(nsec));
}

/** FILETIME for a JavaScript Date (millisecond precision). */
export function dateToFiletime(date: Date): bigint {
  return unixNsToFiletime(BigInt(date.getTime()) * 1_000_000n);
}

/** The Date of a FILETIME (truncated to milliseconds). */
export function filetimeToDate(ft: bigint): Date {
  const ns = filetimeToUnixNs(ft);
  const ms = ns >= 0n ? ns / 1_000_000n : -((-ns + 999_999n) / 1_000_000n);
  return new Date(Number(ms));
}
