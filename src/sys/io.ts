/**
 * Plain reads and writes on fds whose reads block: /dev/fuse above all (a
 * FUSE request is read whole by one read, a reply written whole by one
 * write). node:fs can read and write fds too; these throw ErrnoError, and
 * the read runs on a worker thread so the event loop never blocks.
 *
 * And positioned scatter/gather I/O over spans of larger buffers
 * ({@link preadvSpans}, {@link pwritevSpans}): a guest's READ or WRITE
 * comes as a list of pages in its memory, and node:fs would need a typed
 * array per page (measured: a 128 KiB READ into 32 pages, 28-32 µs with a
 * view per page and node:fs's readv, 18-20 µs with an iovec array filled
 * from the spans and one preadv through koffi).
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

// ---- scatter/gather I/O over spans of larger buffers ----

/** The iovec array of {@link preadvSpans} and {@link pwritevSpans}: IOV_MAX entries of 16 bytes. */
const spanIovecs = new Uint8Array(IOV_MAX * 16);
const spanIovecView = new DataView(spanIovecs.buffer);
/** The last buffer whose address was looked up, and that address as a number (user-space addresses have 47 bits). */
let lastSeg: Uint8Array | null = null;
let lastBase = 0;

/**
 * Fills the iovec array with buffers `from` onwards of the spans, at most
 * IOV_MAX of them; returns how many. Buffer `i` is bytes
 * `[spans[2i], spans[2i] + spans[2i+1])` of `segs[i]`; a span outside its
 * buffer is a caller's bug (RangeError), never passed to the kernel.
 */
function fillIovecs(segs: readonly Uint8Array[], spans: readonly number[], from: number): number {
  const count = Math.min(segs.length - from, IOV_MAX);
  const iov = spanIovecView;
  for (let k = 0; k < count; k++) {
    const i = from + k;
    const seg = segs[i]!;
    const start = spans[2 * i]!;
    const length = spans[2 * i + 1]!;
    if (!(start >= 0 && length >= 0 && start + length <= seg.length)) {
      throw new RangeError(`span ${i} [${start}, +${length}) outside its ${seg.length}-byte buffer`);
    }
    if (seg !== lastSeg) {
      lastBase = Number(libc.addressOf(seg));
      lastSeg = seg;
    }
    const address = lastBase + start;
    iov.setUint32(16 * k, address >>> 0, true);
    iov.setUint32(16 * k + 4, Math.floor(address / 2 ** 32), true);
    iov.setUint32(16 * k + 8, length, true);
    iov.setUint32(16 * k + 12, 0, true);
  }
  return count;
}

/** Bytes in spans `from` to `from + count`. */
function spanBytes(spans: readonly number[], from: number, count: number): number {
  let total = 0;
  for (let i = from; i < from + count; i++) total += spans[2 * i + 1]!;
  return total;
}

/**
 * preadv(2) at `offset` into buffers given as spans of larger ones (a
 * descriptor chain's pages as spans of the guest memory they lie in), with
 * no view made of each: bytes `[spans[2i], spans[2i] + spans[2i+1])` of
 * `segs[i]` take the next bytes of the file. More than IOV_MAX buffers take
 * more calls, up to the first short one. Returns the bytes read (fewer at
 * the end of the file); throws ErrnoError. `offset` must be a safe integer.
 */
export function preadvSpans(fd: number, segs: readonly Uint8Array[], spans: readonly number[], offset: number): number {
  return vectored(libc.preadv, "preadv", fd, segs, spans, offset);
}

/** pwritev(2) at `offset` from buffers given as spans (see {@link preadvSpans}); returns the bytes written. */
export function pwritevSpans(fd: number, segs: readonly Uint8Array[], spans: readonly number[], offset: number): number {
  return vectored(libc.pwritev, "pwritev", fd, segs, spans, offset);
}

function vectored(
  call: typeof libc.preadv,
  name: string,
  fd: number,
  segs: readonly Uint8Array[],
  spans: readonly number[],
  offset: number,
): number {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new ErrnoError(Errno.EINVAL, name);
  let done = 0;
  for (let from = 0; from < segs.length; ) {
    const count = fillIovecs(segs, spans, from);
    const n = call(fd, spanIovecs, count, offset + done);
    if (n < 0) libc.fail(name);
    done += n;
    const asked = spanBytes(spans, from, count);
    if (n < asked) break;
    from += count;
  }
  return done;
}
