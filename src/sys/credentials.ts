/**
 * The calling thread's file-system credentials, for creating files as a
 * caller.
 *
 * Thread scope matters here. `setfsuid`, `setfsgid` and the raw `setgroups`
 * system call change the credentials of the calling thread only (glibc's
 * `setgroups` wrapper would broadcast the change to every thread; the raw
 * call does not). Made synchronously on the JavaScript thread, they leave
 * the libuv thread pool, which does file I/O concurrently, with the
 * process's own credentials throughout.
 */
import * as libc from "./libc.js";

/**
 * setfsuid(2) for the calling thread; returns the previous fsuid. It cannot
 * report failure: call it with `-1` (an invalid id) to read the current value.
 */
export function setfsuid(uid: number): number {
  return libc.setfsuid(uid >>> 0);
}

/** setfsgid(2) for the calling thread; returns the previous fsgid (see {@link setfsuid}). */
export function setfsgid(gid: number): number {
  return libc.setfsgid(gid >>> 0);
}

/** The calling thread's supplementary groups. */
export function getgroups(): number[] {
  const list = new Uint32Array(65536);
  const n = libc.check(libc.getgroups(list.length, list), "getgroups");
  return Array.from(list.subarray(0, n));
}

/** The raw setgroups(2) system call: the calling thread's supplementary groups only. */
export function setThreadGroups(groups: readonly number[]): void {
  const list = Uint32Array.from(groups);
  libc.check(libc.setgroupsRaw(list.length, list), "setgroups");
}
