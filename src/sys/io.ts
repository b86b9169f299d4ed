/**
 * Plain reads and writes on fds whose reads block: /dev/fuse above all (a
 * FUSE request is read whole by one read, a reply written whole by one
 * write). node:fs can read and write fds too; these throw ErrnoError, and
 * the read runs on a worker thread so the event loop never blocks.
 */
import { ErrnoError } from "../common/errors.js";
import { Errno } from "../common/errno.js";
import * as libc from "./libc.js";

const IOV_MAX = 1024;
let iovecs = Buffer.alloc(16 * 8);
const pins: { current: readonly Uint8Array[] } = { current: [] };

/**
 * read(2) on a libuv worker thread into `buffer`: resolves with the bytes
 * read (0 at end of file). The wait holds one thread-pool thread until data
 * comes; `buffer` must not be touched until it settles. For /dev/fuse the
 * buffer must hold the largest request (max_write + 4096 bytes of headers);
 * ENODEV means the file system was unmounted, EINTR and ENOENT (a request
 * interrupted before it was read) mean "read again".
 */
export function readAsync(fd: number, buffer: Uint8Array): Promise<number> {
  return libc.checkAsync(libc.read, [fd, buffer, buffer.length], "read");
}

/** read(2) now: the bytes read, or `null` when a non-blocking fd has none. */
export function read(fd: number, buffer: Uint8Array): number | null {
  const count = libc.read(fd, buffer, buffer.length);
  if (count < 0) {
    if (libc.lastErrno() === Errno.EAGAIN) return null;
    libc.fail("read");
  }
  return count;
}

/**
 * write(2) / writev(2) of one buffer or a gather list, in one system call
 * (what /dev/fuse requires of a reply). Returns the bytes written.
 */
export function write(fd: number, data: Uint8Array | readonly Uint8Array[]): number {
  if (data instanceof Uint8Array) return libc.check(libc.write(fd, data, data.length), "write");
  const chunks = data.filter((chunk) => chunk.length > 0);
  if (chunks.length > IOV_MAX) throw new ErrnoError(Errno.EINVAL, "writev");
  if (iovecs.length < chunks.length * 16) iovecs = Buffer.alloc(chunks.length * 32);
  chunks.forEach((chunk, i) => {
    iovecs.writeBigUInt64LE(libc.addressOf(chunk), i * 16);
    iovecs.writeBigUInt64LE(BigInt(chunk.length), i * 16 + 8);
  });
  pins.current = chunks;
  try {
    return libc.check(libc.writev(fd, iovecs, chunks.length), "writev");
  } finally {
    pins.current = [];
  }
}
