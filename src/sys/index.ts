/**
 * The libc layer: typed system calls through koffi for what node:fs, node:net
 * and node:os do not offer. Every failing call throws an ErrnoError with the
 * errno (number and name) and the call's name; nothing returns -1.
 *
 * What Node already has is used from Node: pread/pwrite (fs.readSync /
 * fs.writeSync with a position), read/write, close, fstat, fchmod/fchown on
 * real fds, readdir (on a path; see the passthrough layer for /proc/self/fd).
 */
export * from "./constants.js";
export * from "./memory.js";
export * from "./eventfd.js";
export * from "./poller.js";
export * from "./event-loop.js";
export * from "./socket.js";
export * from "./fs.js";
export * from "./io.js";
export * from "./process.js";
export * from "./clock.js";
export * from "./credentials.js";
export type { PathLike } from "./path.js";
