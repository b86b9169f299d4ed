/**
 * The few C library calls the passthrough file system needs that the libc
 * layer (src/sys/) does not declare: reading directory entries, and switching
 * the calling thread's file-system credentials. This is the one file of
 * src/passthrough/ that sees koffi, declared the way src/sys/libc.ts does it.
 *
 * Thread scope matters here. `setfsuid`, `setfsgid` and the raw `setgroups`
 * system call change the credentials of the calling thread only (glibc's
 * `setgroups` wrapper would broadcast the change to every thread; the raw
 * call does not). The passthrough makes them synchronously on the JavaScript
 * thread, so the libuv thread pool, which does file I/O concurrently, keeps
 * the daemon's own credentials throughout.
 */
import koffi from "koffi";
import { ErrnoError } from "../common/errors.js";

const lib = koffi.load("libc.so.6");

/** The x86_64 and arm64 numbers of the one system call made raw here. */
const SYS_setgroups: number = process.arch === "arm64" ? 159 : 116;

const getdents64Fn = lib.func("long getdents64(int fd, void *dirp, unsigned long count)") as (
  fd: number,
  buffer: Uint8Array,
  count: number,
) => number;
const setfsuidFn = lib.func("int setfsuid(unsigned int uid)") as (uid: number) => number;
const setfsgidFn = lib.func("int setfsgid(unsigned int gid)") as (gid: number) => number;
const getgroupsFn = lib.func("int getgroups(int size, _Out_ uint32_t *list)") as (size: number, list: Uint32Array) => number;
const setgroupsRaw = lib.func("syscall", "long", ["long", "unsigned long", "const uint32_t *"]) as (
  number: number,
  size: number,
  list: Uint32Array,
) => number;

/**
 * getdents64(2): fills `buffer` with `struct linux_dirent64` records from the
 * directory fd's current position and returns the bytes written (0 at the end).
 */
export function getdents64(fd: number, buffer: Uint8Array): number {
  const n = getdents64Fn(fd, buffer, buffer.length);
  if (n < 0) throw new ErrnoError(koffi.errno(), "getdents64");
  return n;
}

/**
 * setfsuid(2) for the calling thread; returns the previous fsuid. It cannot
 * report failure: call it with `-1` (an invalid id) to read the current value.
 */
export function setfsuid(uid: number): number {
  return setfsuidFn(uid >>> 0);
}

/** setfsgid(2) for the calling thread; returns the previous fsgid (see {@link setfsuid}). */
export function setfsgid(gid: number): number {
  return setfsgidFn(gid >>> 0);
}

/** The calling thread's supplementary groups. */
export function getgroups(): number[] {
  const list = new Uint32Array(65536);
  const n = getgroupsFn(list.length, list);
  if (n < 0) throw new ErrnoError(koffi.errno(), "getgroups");
  return Array.from(list.subarray(0, n));
}

/** The raw setgroups(2) system call: the calling thread's supplementary groups only. */
export function setThreadGroups(groups: readonly number[]): void {
  const list = Uint32Array.from(groups);
  if (setgroupsRaw(SYS_setgroups, list.length, list) < 0) throw new ErrnoError(koffi.errno(), "setgroups");
}
