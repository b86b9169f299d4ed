import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, fstatSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { Socket } from "node:net";
import { once } from "node:events";
import { join } from "node:path";
import {
  acceptAsync,
  accept,
  connectUnix,
  listenUnix,
  peerCredentials,
  recvmsg,
  recvmsgAsync,
  sendmsg,
  sendmsgAsync,
  shutdown,
  socketpair,
} from "../../src/sys/socket.js";
import { memfdCreate, mmap } from "../../src/sys/memory.js";
import { eventfd, eventfdRead, eventfdWrite } from "../../src/sys/eventfd.js";
import { FdPoller } from "../../src/sys/poller.js";
import { ErrnoError } from "../../src/common/errors.js";
import { SHUT_WR, O_RDWR, O_CREAT } from "../../src/sys/constants.js";

test("an fd sent over a socketpair with SCM_RIGHTS refers to the same open file", () => {
  const dir = mkdtempSync(join(tmpdir(), "viofs-sys-"));
  const [a, b] = socketpair();
  const file = openSync(join(dir, "f"), O_RDWR | O_CREAT, 0o600);
  try {
    assert.equal(sendmsg(a, Buffer.from("hdr"), [file]), 3);
    const buffer = Buffer.alloc(16);
    const got = recvmsg(b, buffer);
    assert.ok(got);
    assert.equal(got.length, 3);
    assert.equal(buffer.toString("utf8", 0, 3), "hdr");
    assert.equal(got.fds.length, 1);
    const received = got.fds[0]!;
    assert.notEqual(received, file);
    // same inode, and the same open file description: the file offset is shared
    assert.equal(fstatSync(received).ino, fstatSync(file).ino);
    writeSync(file, "abcdef");
    writeSync(received, "XYZ"); // at the shared offset 6
    const all = Buffer.alloc(9);
    readSync(file, all, 0, 9, 0);
    assert.equal(all.toString(), "abcdefXYZ");
    closeSync(received);
  } finally {
    closeSync(file);
    closeSync(a);
    closeSync(b);
    rmSync(dir, { recursive: true });
  }
});

test("32 fds in one message (memfd regions) map the same memory", () => {
  const [a, b] = socketpair();
  const memfds = Array.from({ length: 32 }, (_, i) => memfdCreate(`region${i}`, 4096));
  try {
    const mine = mmap(memfds[31]!, 0, 4096);
    mine.bytes[100] = 42;
    assert.equal(sendmsg(a, [Buffer.from("ab"), Buffer.alloc(0), Buffer.from("cd")], memfds), 4);
    const got = recvmsg(b, Buffer.alloc(64), 32);
    assert.ok(got);
    assert.equal(got.length, 4);
    assert.equal(got.fds.length, 32);
    assert.equal(got.fdsTruncated, false);
    const theirs = mmap(got.fds[31]!, 0, 4096);
    assert.equal(theirs.bytes[100], 42);
    theirs.unmap();
    mine.unmap();
    got.fds.forEach((fd) => closeSync(fd));
  } finally {
    memfds.forEach((fd) => closeSync(fd));
    closeSync(a);
    closeSync(b);
  }
});

test("more fds than maxFds: the message says so", () => {
  const [a, b] = socketpair();
  const e1 = eventfd();
  const e2 = eventfd();
  const e3 = eventfd();
  try {
    for (const fds of [[e1, e2], [e1, e2, e3]]) {
      sendmsg(a, Buffer.from("x"), fds);
      const got = recvmsg(b, Buffer.alloc(4), 1);
      assert.ok(got);
      assert.equal(got.length, 1);
      assert.equal(got.fdsTruncated, true);
      assert.equal(got.fds.length, 1);
      got.fds.forEach((fd) => closeSync(fd));
    }
  } finally {
    [a, b, e1, e2, e3].forEach((fd) => closeSync(fd));
  }
});

test("non-blocking calls return null instead of waiting; errors carry errno", () => {
  const [a, b] = socketpair();
  try {
    assert.equal(recvmsg(a, Buffer.alloc(4)), null);
    closeSync(b);
    assert.throws(
      () => sendmsg(a, Buffer.from("x")),
      (e: unknown) => ErrnoError.is(e) && e.errnoName === "EPIPE" && e.syscall === "sendmsg",
    );
    assert.throws(() => recvmsg(-1, Buffer.alloc(4)), (e: unknown) => ErrnoError.is(e) && e.errnoName === "EBADF");
  } finally {
    closeSync(a);
  }
});

test("recvmsgAsync does not block the event loop", async () => {
  const [a, b] = socketpair();
  const poller = new FdPoller();
  try {
    const ticks: number[] = [];
    const timer = setInterval(() => ticks.push(Date.now()), 5);
    const pending = recvmsgAsync(b, Buffer.alloc(16), 32, { poller });
    setTimeout(() => sendmsg(a, Buffer.from("late")), 60);
    const got = await pending;
    clearInterval(timer);
    assert.equal(got.length, 4);
    assert.ok(ticks.length >= 3, `timer fired ${ticks.length} times while waiting`);
    // the peer's close is 0 bytes
    shutdown(a, SHUT_WR);
    assert.equal((await recvmsgAsync(b, Buffer.alloc(16), 32, { poller })).length, 0);
  } finally {
    poller.close();
    closeSync(a);
    closeSync(b);
  }
});

test("listen, accept and connect on a path; abortable waits", async () => {
  const dir = mkdtempSync(join(tmpdir(), "viofs-sys-"));
  const path = join(dir, "vhost.sock");
  const server = listenUnix(path);
  try {
    assert.equal(accept(server), null);
    const accepted = acceptAsync(server);
    const client = connectUnix(path);
    const conn = await accepted;
    assert.equal(peerCredentials(conn).pid, process.pid);
    await sendmsgAsync(client, [Buffer.alloc(100_000, 1), Buffer.alloc(100_000, 2)]);
    let total = 0;
    const buffer = Buffer.alloc(65536);
    while (total < 200_000) total += (await recvmsgAsync(conn, buffer)).length;
    assert.equal(total, 200_000);
    const controller = new AbortController();
    const waiting = recvmsgAsync(conn, buffer, 32, { signal: controller.signal });
    controller.abort(new Error("stop"));
    await assert.rejects(waiting, /stop/);
    closeSync(client);
    closeSync(conn);
  } finally {
    closeSync(server);
    rmSync(dir, { recursive: true });
  }
});

test("eventfd counter: write adds, read resets, null when zero", () => {
  const fd = eventfd();
  try {
    assert.equal(eventfdRead(fd), null);
    eventfdWrite(fd);
    eventfdWrite(fd, 41n);
    assert.equal(eventfdRead(fd), 42n);
    assert.equal(eventfdRead(fd), null);
    eventfdWrite(fd, 0xffff_ffff_ffff_fffen);
    assert.throws(() => eventfdWrite(fd, 1), (e: unknown) => ErrnoError.is(e) && e.errnoName === "EAGAIN");
  } finally {
    closeSync(fd);
  }
});

test("a socket whose fds need not be received can be a node:net Socket", async () => {
  const [a, b] = socketpair();
  const stream = new Socket({ fd: b, readable: true, writable: true });
  try {
    const data = once(stream, "data");
    sendmsg(a, Buffer.from("plain bytes"));
    const [chunk] = (await data) as [Buffer];
    assert.equal(chunk.toString(), "plain bytes");
    stream.write("back");
    await new Promise((resolve) => setTimeout(resolve, 20));
    const buffer = Buffer.alloc(8);
    const got = recvmsg(a, buffer);
    assert.equal(buffer.toString("utf8", 0, got?.length), "back");
  } finally {
    stream.destroy(); // closes b
    closeSync(a);
  }
});
