/**
 * AF_UNIX sockets with fd passing (SCM_RIGHTS): the vhost-user control
 * channel. node:net can carry the bytes of a Unix socket but neither sends
 * nor receives fds, so messages with fds go through sendmsg/recvmsg here.
 *
 * Sockets are created SOCK_NONBLOCK | SOCK_CLOEXEC by default. The
 * synchronous calls never wait: when they would, they return `null`. The
 * `...Async` forms wait for readiness on an {@link FdPoller} (default: the
 * shared one) and so never block the event loop nor hold a thread per socket.
 * A socket whose fds need not be received can also be wrapped for plain byte
 * streams with `new net.Socket({ fd })`, but then it must not be watched by a
 * poller at the same time.
 */
import { ErrnoError } from "../common/errors.js";
import { Errno } from "../common/errno.js";
import * as libc from "./libc.js";
import {
  AF_UNIX,
  EPOLLIN,
  EPOLLOUT,
  MSG_CMSG_CLOEXEC,
  MSG_CTRUNC,
  MSG_NOSIGNAL,
  MSG_TRUNC,
  SCM_MAX_FD,
  SCM_RIGHTS,
  SO_PEERCRED,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOL_SOCKET,
} from "./constants.js";
import { sharedPoller, type FdPoller } from "./poller.js";

// ---- struct layouts (x86_64) ----
// struct msghdr: name@0 (ptr), namelen@8 (u32), iov@16 (ptr), iovlen@24, control@32 (ptr), controllen@40, flags@48; 56 bytes.
// struct iovec: base@0, len@8; 16 bytes. struct cmsghdr: len@0 (u64), level@8, type@12, data@16.
// struct sockaddr_un: family@0 (u16), path@2 (108 bytes).
const MSGHDR_SIZE = 56;
const IOVEC_SIZE = 16;
const CMSG_HEADER = 16;
const SUN_PATH_MAX = 108;

const cmsgAlign = (length: number): number => (length + 7) & ~7;
/** CMSG_SPACE(n): the room one control message with `n` bytes of data takes. */
const cmsgSpace = (length: number): number => CMSG_HEADER + cmsgAlign(length);

// Scratch structures live in module scope: the kernel sees their addresses,
// so they must be alive for the whole call, and the calls are synchronous.
const msghdr = Buffer.alloc(MSGHDR_SIZE);
const control = Buffer.alloc(cmsgSpace(4 * SCM_MAX_FD));
let iovecs = Buffer.alloc(IOVEC_SIZE * 8);
/** Keeps the caller's buffers reachable while the kernel uses their addresses. */
const pins: { current: readonly Uint8Array[] } = { current: [] };

/** Options of the waiting calls. */
export interface WaitOptions {
  /** The poller to wait on (default: {@link sharedPoller}). The fd must not be watched there already. */
  poller?: FdPoller;
  /** Aborts the wait; the call then rejects with `signal.reason`. */
  signal?: AbortSignal;
}

/** What one recvmsg returned. */
export interface Received {
  /** Bytes placed at the start of the buffer; 0 with no fds means the peer closed. */
  length: number;
  /** The fds that came with the bytes (close-on-exec), in order. The caller owns them. */
  fds: number[];
  /** More fds were sent than `maxFds` (MSG_CTRUNC, or excess closed here): the rest are closed. */
  fdsTruncated: boolean;
  /** MSG_TRUNC: (datagram sockets) the message was longer than the buffer. */
  truncated: boolean;
}

/** The peer of a connected socket (SO_PEERCRED). */
export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

// ---- creation, addresses ----

/** A new AF_UNIX socket. `type` defaults to SOCK_STREAM; `flags` to SOCK_NONBLOCK | SOCK_CLOEXEC. */
export function socket(type: number = SOCK_STREAM, flags: number = SOCK_NONBLOCK | SOCK_CLOEXEC): number {
  return libc.check(libc.socket(AF_UNIX, type | flags, 0), "socket");
}

/** A connected pair of AF_UNIX sockets. */
export function socketpair(
  type: number = SOCK_STREAM,
  flags: number = SOCK_NONBLOCK | SOCK_CLOEXEC,
): [number, number] {
  const fds = new Int32Array(2);
  libc.check(libc.socketpair(AF_UNIX, type | flags, 0, fds), "socketpair");
  return [fds[0]!, fds[1]!];
}

/**
 * `struct sockaddr_un` for `path`. A path that starts with a NUL names an
 * abstract socket (no file). Throws ENAMETOOLONG past sun_path's 108 bytes.
 */
function sockaddr(path: string, call: string): Buffer {
  const name = Buffer.from(path, "utf8");
  const abstract = name.length > 0 && name[0] === 0;
  if (!abstract && name.includes(0)) throw new ErrnoError(Errno.EINVAL, call, path);
  if (name.length > (abstract ? SUN_PATH_MAX : SUN_PATH_MAX - 1)) throw new ErrnoError(Errno.ENAMETOOLONG, call, path);
  const address = Buffer.alloc(2 + name.length + (abstract ? 0 : 1));
  address.writeUInt16LE(AF_UNIX, 0);
  name.copy(address, 2);
  return address;
}

/** Binds a socket to a file-system path (or an abstract name starting with NUL). */
export function bind(fd: number, path: string): void {
  const address = sockaddr(path, "bind");
  libc.check(libc.bind(fd, address, address.length), "bind", path);
}

/** Marks a bound socket as accepting connections. */
export function listen(fd: number, backlog = 16): void {
  libc.check(libc.listen(fd, backlog), "listen");
}

/**
 * Connects a socket. AF_UNIX stream connects complete at once; a full
 * backlog on a non-blocking socket is EAGAIN (thrown).
 */
export function connect(fd: number, path: string): void {
  const address = sockaddr(path, "connect");
  libc.check(libc.connect(fd, address, address.length), "connect", path);
}

/** socket + bind + listen. Returns the listening fd. */
export function listenUnix(path: string, backlog = 16, flags: number = SOCK_NONBLOCK | SOCK_CLOEXEC): number {
  const fd = socket(SOCK_STREAM, flags);
  try {
    bind(fd, path);
    listen(fd, backlog);
    return fd;
  } catch (error) {
    libc.close(fd);
    throw error;
  }
}

/** socket + connect. Returns the connected fd. */
export function connectUnix(path: string, flags: number = SOCK_NONBLOCK | SOCK_CLOEXEC): number {
  const fd = socket(SOCK_STREAM, flags);
  try {
    connect(fd, path);
    return fd;
  } catch (error) {
    libc.close(fd);
    throw error;
  }
}

/**
 * Accepts one connection: the new fd (with `flags`, default SOCK_NONBLOCK |
 * SOCK_CLOEXEC), or `null` when none is pending on a non-blocking socket.
 */
export function accept(fd: number, flags: number = SOCK_NONBLOCK | SOCK_CLOEXEC): number | null {
  const conn = libc.accept4(fd, null, null, flags);
  if (conn < 0) {
    if (libc.lastErrno() === Errno.EAGAIN) return null;
    libc.fail("accept4");
  }
  return conn;
}

/** Waits for and accepts one connection (the listening socket must be non-blocking). */
export async function acceptAsync(
  fd: number,
  options: WaitOptions = {},
  flags: number = SOCK_NONBLOCK | SOCK_CLOEXEC,
): Promise<number> {
  const poller = options.poller ?? sharedPoller();
  for (;;) {
    const conn = accept(fd, flags);
    if (conn !== null) return conn;
    await poller.wait(fd, EPOLLIN, options.signal);
  }
}

/** shutdown(2): SHUT_RD, SHUT_WR or SHUT_RDWR. Wakes a peer (or a thread) blocked on the socket. */
export function shutdown(fd: number, how: number): void {
  libc.check(libc.shutdown(fd, how), "shutdown");
}

/** The process, user and group at the other end of a connected socket. */
export function peerCredentials(fd: number): PeerCredentials {
  const ucred = Buffer.alloc(12);
  const length = new Uint32Array([12]);
  libc.check(libc.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ucred, length), "getsockopt");
  return { pid: ucred.readInt32LE(0), uid: ucred.readUInt32LE(4), gid: ucred.readUInt32LE(8) };
}

// ---- messages with fds ----

function fillIovecs(chunks: readonly Uint8Array[]): number {
  if (iovecs.length < chunks.length * IOVEC_SIZE) iovecs = Buffer.alloc(chunks.length * IOVEC_SIZE * 2);
  let count = 0;
  for (const chunk of chunks) {
    if (chunk.length === 0) continue;
    iovecs.writeBigUInt64LE(libc.addressOf(chunk), count * IOVEC_SIZE);
    iovecs.writeBigUInt64LE(BigInt(chunk.length), count * IOVEC_SIZE + 8);
    count += 1;
  }
  return count;
}

function fillMsghdr(iovCount: number, controlLength: number): void {
  msghdr.fill(0);
  msghdr.writeBigUInt64LE(libc.addressOf(iovecs), 16);
  msghdr.writeBigUInt64LE(BigInt(iovCount), 24);
  if (controlLength > 0) {
    msghdr.writeBigUInt64LE(libc.addressOf(control), 32);
    msghdr.writeBigUInt64LE(BigInt(controlLength), 40);
  }
}

/**
 * Sends `data` (one buffer or a gather list) with `fds` attached as one
 * SCM_RIGHTS message (at most SCM_MAX_FD = 253; vhost-user allows 32).
 * Returns the bytes sent, which on a stream socket may be fewer than given
 * (the fds then went with the first byte), or `null` when the socket is
 * non-blocking and full (nothing was sent). Never raises SIGPIPE: a closed
 * peer is EPIPE (thrown).
 */
export function sendmsg(
  fd: number,
  data: Uint8Array | readonly Uint8Array[],
  fds: readonly number[] = [],
  flags = 0,
): number | null {
  if (fds.length > SCM_MAX_FD) throw new ErrnoError(Errno.EINVAL, "sendmsg");
  const chunks = data instanceof Uint8Array ? [data] : data;
  let controlLength = 0;
  if (fds.length > 0) {
    controlLength = cmsgSpace(4 * fds.length);
    control.fill(0, 0, controlLength);
    control.writeBigUInt64LE(BigInt(CMSG_HEADER + 4 * fds.length), 0);
    control.writeInt32LE(SOL_SOCKET, 8);
    control.writeInt32LE(SCM_RIGHTS, 12);
    fds.forEach((passed, i) => control.writeInt32LE(passed, CMSG_HEADER + 4 * i));
  }
  pins.current = chunks;
  try {
    fillMsghdr(fillIovecs(chunks), controlLength);
    const sent = libc.sendmsg(fd, msghdr, flags | MSG_NOSIGNAL);
    if (sent < 0) {
      if (libc.lastErrno() === Errno.EAGAIN) return null;
      libc.fail("sendmsg");
    }
    return sent;
  } finally {
    pins.current = [];
  }
}

/**
 * Receives into `buffer` and collects up to `maxFds` passed fds (default 32).
 * Returns `null` when nothing is pending on a non-blocking socket. On a
 * stream socket the kernel never merges bytes that carry fds with bytes sent
 * before them, so the fds of a message arrive with its first bytes.
 */
export function recvmsg(fd: number, buffer: Uint8Array, maxFds = 32, flags = 0): Received | null {
  if (!Number.isInteger(maxFds) || maxFds < 0 || maxFds > SCM_MAX_FD) throw new ErrnoError(Errno.EINVAL, "recvmsg");
  const controlLength = maxFds > 0 ? cmsgSpace(4 * maxFds) : 0;
  pins.current = [buffer];
  let length: number;
  try {
    fillMsghdr(fillIovecs([buffer]), controlLength);
    length = libc.recvmsg(fd, msghdr, flags | MSG_CMSG_CLOEXEC);
  } finally {
    pins.current = [];
  }
  if (length < 0) {
    if (libc.lastErrno() === Errno.EAGAIN) return null;
    libc.fail("recvmsg");
  }
  const msgFlags = msghdr.readInt32LE(48);
  const fds = controlLength > 0 ? parseRights(Number(msghdr.readBigUInt64LE(40))) : [];
  // CMSG_SPACE rounds up, so an odd maxFds leaves room for one more: close the excess.
  const excess = fds.splice(maxFds);
  for (const extra of excess) libc.close(extra);
  return {
    length,
    fds,
    fdsTruncated: excess.length > 0 || (msgFlags & MSG_CTRUNC) !== 0,
    truncated: (msgFlags & MSG_TRUNC) !== 0,
  };
}

/** The fds of every SCM_RIGHTS message in the first `length` bytes of `control`. */
function parseRights(length: number): number[] {
  const fds: number[] = [];
  const end = Math.min(length, control.length);
  for (let at = 0; at + CMSG_HEADER <= end; ) {
    const size = Number(control.readBigUInt64LE(at));
    if (size < CMSG_HEADER || at + size > end) break;
    if (control.readInt32LE(at + 8) === SOL_SOCKET && control.readInt32LE(at + 12) === SCM_RIGHTS) {
      for (let i = at + CMSG_HEADER; i + 4 <= at + size; i += 4) fds.push(control.readInt32LE(i));
    }
    at += cmsgAlign(size);
  }
  return fds;
}

/** {@link recvmsg} that waits (on a poller) until something arrives; 0 bytes and no fds is the peer's close. */
export async function recvmsgAsync(
  fd: number,
  buffer: Uint8Array,
  maxFds = 32,
  options: WaitOptions = {},
): Promise<Received> {
  const poller = options.poller ?? sharedPoller();
  for (;;) {
    const received = recvmsg(fd, buffer, maxFds);
    if (received !== null) return received;
    await poller.wait(fd, EPOLLIN, options.signal);
  }
}

/**
 * Sends all of `data`, waiting (on a poller) while the socket is full; the
 * fds go with the first bytes.
 */
export async function sendmsgAsync(
  fd: number,
  data: Uint8Array | readonly Uint8Array[],
  fds: readonly number[] = [],
  options: WaitOptions = {},
): Promise<void> {
  const poller = options.poller ?? sharedPoller();
  let rest = data instanceof Uint8Array ? [data] : [...data];
  let pendingFds = fds;
  let total = rest.reduce((sum, chunk) => sum + chunk.length, 0);
  while (total > 0 || pendingFds.length > 0) {
    const sent = sendmsg(fd, rest, pendingFds);
    if (sent === null) {
      await poller.wait(fd, EPOLLOUT, options.signal);
      continue;
    }
    pendingFds = [];
    total -= sent;
    rest = advance(rest, sent);
    if (sent === 0 && total > 0) throw new ErrnoError(Errno.EIO, "sendmsg");
  }
}

function advance(chunks: Uint8Array[], count: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const chunk of chunks) {
    if (count >= chunk.length) {
      count -= chunk.length;
      continue;
    }
    out.push(count > 0 ? chunk.subarray(count) : chunk);
    count = 0;
  }
  return out;
}
