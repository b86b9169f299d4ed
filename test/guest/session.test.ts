/**
 * FuseSession against a loopback transport whose answers the test writes:
 * INIT negotiation and refusals, request ids, errors, lookup bookkeeping and
 * forget batching, cancellation and late replies, split reads and writes,
 * the raw request, and the end of the transport.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ErrnoError, ProtocolError } from "../../src/common/errors.js";
import { Errno } from "../../src/common/errno.js";
import { FAttr, FUSE_ROOT_ID, InitFlag, Opcode, OpenFlag, combineInitFlags } from "../../src/fuse/abi.js";
import { DirentplusEncoder } from "../../src/fuse/dirent.js";
import { wireOptions, type Request, type RequestOf } from "../../src/fuse/messages.js";
import { AttrOut, GetattrIn } from "../../src/fuse/structs.js";
import { DEFAULT_INIT_FLAGS, FuseSession, type SessionOptions } from "../../src/guest/session.js";
import type { QueueKind } from "../../src/guest/transport.js";
import { LoopbackTransport, attrOut, encodeReplyBytes, entryOut, errorReply, initReply, type Answer } from "./loopback.js";

type Handler = (request: Request, queue: QueueKind) => Answer;

/** A session over a loopback whose INIT is answered by `init` and everything else by `handler`. */
async function open(handler: Handler, options: SessionOptions = {}, init: (r: Request) => Uint8Array = (r) => initReply(r)) {
  const transport = new LoopbackTransport((request, queue) => (request.opcode === Opcode.INIT ? init(request) : handler(request, queue)));
  const session = await FuseSession.init(transport, options);
  transport.wire = wireOptions(session.info.minor, session.info.flags);
  return { transport, session };
}

const ok = (r: Request): Uint8Array => encodeReplyBytes(r.header.unique, r.opcode as typeof Opcode.FLUSH, undefined);
const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function rejects(p: Promise<unknown>, check: (e: unknown) => boolean, what: string): Promise<unknown> {
  try {
    await p;
  } catch (error) {
    assert.ok(check(error), `${what}: got ${String(error)}`);
    return error;
  }
  assert.fail(`${what}: the call succeeded`);
}

const errnoIs = (name: keyof typeof Errno) => (e: unknown) => ErrnoError.is(e) && e.errno === Errno[name];

test("INIT offers 7.38 and the default flags; the answer's limits and flags are what is used", async () => {
  const { transport, session } = await open(() => null, { maxReadahead: 65536 }, (r) =>
    initReply(r, { minor: 31, maxWrite: 65536, maxPages: 8, flags: Number(InitFlag.MAX_PAGES | InitFlag.BIG_WRITES | InitFlag.ASYNC_READ | InitFlag.WRITEBACK_CACHE), flags2: 0 }),
  );
  const init = transport.requests(Opcode.INIT)[0] as RequestOf<typeof Opcode.INIT>;
  assert.equal(init.arg.major, 7);
  assert.equal(init.arg.minor, 38);
  assert.equal(init.arg.maxReadahead, 65536);
  assert.equal(combineInitFlags(init.arg.flags, init.arg.flags2), DEFAULT_INIT_FLAGS);
  assert.equal(session.info.minor, 31);
  assert.equal(session.info.maxPages, 8);
  assert.equal(session.info.maxWrite, 8 * 4096, "max_write is bounded by max_pages");
  assert.equal(session.info.maxRead, 8 * 4096);
  // WRITEBACK_CACHE was not offered, so it is not in effect even if the server sets it.
  assert.equal(session.info.flags, InitFlag.MAX_PAGES | InitFlag.BIG_WRITES | InitFlag.ASYNC_READ);
});

test("INIT without MAX_PAGES or BIG_WRITES falls back to 32 pages and 4 KiB writes", async () => {
  const { session } = await open(() => null, {}, (r) => initReply(r, { flags: 0, flags2: 0, maxPages: 0 }));
  assert.equal(session.info.maxPages, 32);
  assert.equal(session.info.maxRead, 32 * 4096);
  assert.equal(session.info.maxWrite, 4096);
});

test("INIT refusals: an old minor, another major, an error, a malformed answer", async () => {
  const attempt = (init: (r: Request) => Uint8Array) => FuseSession.init(new LoopbackTransport((r) => init(r)));
  await rejects(attempt((r) => initReply(r, { minor: 30 })), (e) => ProtocolError.is(e) && /7\.30/.test((e as Error).message), "minor 30");
  await rejects(attempt((r) => initReply(r, { major: 8 })), (e) => ProtocolError.is(e) && /8\./.test((e as Error).message), "major 8");
  await rejects(attempt((r) => errorReply(r.header.unique, Errno.EPROTO)), errnoIs("EPROTO"), "an error answer");
  await rejects(attempt((r) => initReply(r).subarray(0, 30)), (e) => ProtocolError.is(e), "a cut answer");
  await rejects(attempt((r) => initReply({ ...r, header: { ...r.header, unique: 99n } })), (e) => ProtocolError.is(e), "another unique");
  await rejects(
    FuseSession.init(new LoopbackTransport(() => null), { initTimeoutMs: 50 }),
    errnoIs("ETIMEDOUT"),
    "no answer",
  );
});

test("requests carry fresh even uniques, the caller's credentials, and errors come back as ErrnoError", async () => {
  const { transport, session } = await open((r) => {
    if (r.opcode === Opcode.LOOKUP) {
      const name = r.name.toString();
      if (name === "missing") return errorReply(r.header.unique, Errno.ENOENT);
      if (name === "negative") return encodeReplyBytes(r.header.unique, Opcode.LOOKUP, entryOut(0n));
      return encodeReplyBytes(r.header.unique, Opcode.LOOKUP, entryOut(42n));
    }
    if (r.opcode === Opcode.GETATTR) return encodeReplyBytes(r.header.unique + 2n, Opcode.GETATTR, attrOut(1n));
    return null;
  }, { uid: 1000, gid: 100, pid: 77 });
  const e = await session.lookup(FUSE_ROOT_ID, "a");
  assert.equal(e.nodeid, 42n);
  await session.lookup(FUSE_ROOT_ID, "b", { uid: 5, gid: 6, pid: 7 });
  const missing = (await rejects(session.lookup(FUSE_ROOT_ID, "missing"), errnoIs("ENOENT"), "missing")) as ErrnoError;
  assert.equal(missing.syscall, "FUSE_LOOKUP");
  assert.equal(missing.path, "missing");
  assert.equal(missing.code, "VIOFS_ERRNO_ENOENT");
  await rejects(session.lookup(FUSE_ROOT_ID, "negative"), errnoIs("ENOENT"), "a negative entry is ENOENT");
  await rejects(session.getattr(FUSE_ROOT_ID), (x) => ProtocolError.is(x) && /unique/.test((x as Error).message), "a reply to another request");
  await rejects(session.lookup(FUSE_ROOT_ID, "bad\0name"), (x) => ProtocolError.is(x), "a name with a NUL");

  const lookups = transport.requests(Opcode.LOOKUP);
  const uniques = transport.sent.map((s) => s.request.header.unique);
  assert.equal(new Set(uniques).size, uniques.length);
  for (let i = 1; i < uniques.length; i++) assert.ok(uniques[i]! > uniques[i - 1]! && uniques[i]! % 2n === 0n);
  assert.deepEqual([lookups[0]!.header.uid, lookups[0]!.header.gid, lookups[0]!.header.pid], [1000, 100, 77]);
  assert.deepEqual([lookups[1]!.header.uid, lookups[1]!.header.gid, lookups[1]!.header.pid], [5, 6, 7]);
  assert.equal(session.lookupCount(42n), 2, "two lookups of node 42 hold two references; the negative entry none");
  assert.equal(session.trackedNodes, 1);
});

test("forgets wait for a node's last reference, carry its whole lookup count, and go out in batches", async () => {
  let next = 10n;
  const { transport, session } = await open((r) => {
    if (r.opcode === Opcode.LOOKUP) {
      const n = r.name.toString() === "same" ? 99n : next++;
      return encodeReplyBytes(r.header.unique, Opcode.LOOKUP, entryOut(n));
    }
    return null;
  }, { forgetBatchSize: 4, forgetDelayMs: 30 });
  const nodes: bigint[] = [];
  for (let i = 0; i < 5; i++) nodes.push((await session.lookup(FUSE_ROOT_ID, `n${i}`)).nodeid);
  for (let i = 0; i < 3; i++) await session.lookup(FUSE_ROOT_ID, "same");

  session.forget(99n);
  session.forget(99n);
  assert.equal(transport.requests(Opcode.BATCH_FORGET).length, 0);
  assert.equal(session.stats.pendingForgets, 0, "node 99 still has a reference");
  for (const n of nodes) session.forget(n);
  // A full batch goes at once, on the hiprio queue, without a reply.
  const first = transport.sent.filter((s) => s.request.opcode === Opcode.BATCH_FORGET);
  assert.equal(first.length, 1);
  assert.equal(first[0]!.queue, "hiprio");
  assert.equal(first[0]!.capacity, 0);
  assert.deepEqual((first[0]!.request as RequestOf<typeof Opcode.BATCH_FORGET>).forgets, nodes.slice(0, 4).map((nodeid) => ({ nodeid, nlookup: 1n })));
  // The rest after the delay, with node 99's three lookups once its last reference goes.
  session.forget(99n);
  assert.equal(session.stats.pendingForgets, 2);
  await wait(60);
  const batches = transport.requests(Opcode.BATCH_FORGET) as RequestOf<typeof Opcode.BATCH_FORGET>[];
  assert.equal(batches.length, 2);
  assert.deepEqual(batches[1]!.forgets, [
    { nodeid: nodes[4]!, nlookup: 1n },
    { nodeid: 99n, nlookup: 3n },
  ]);
  assert.equal(session.trackedNodes, 0);
  assert.deepEqual(session.stats, { forgetEntries: 6, forgetBatches: 2, pendingForgets: 0, interrupts: 0 });
  assert.throws(() => session.forget(99n), RangeError);
  assert.throws(() => session.forget(nodes[0]!, 0), RangeError);
});

test("READDIRPLUS entries hold references; nodeid 0 entries do not", async () => {
  const { session } = await open((r) => {
    if (r.opcode !== Opcode.READDIRPLUS) return null;
    const enc = new DirentplusEncoder(r.arg.size);
    enc.add({ entry: entryOut(0n), dirent: { ino: 1n, off: 1n, type: 4, name: Buffer.from(".") } });
    enc.add({ entry: entryOut(5n), dirent: { ino: 5n, off: 2n, type: 8, name: Buffer.from("five") } });
    enc.add({ entry: entryOut(6n), dirent: { ino: 6n, off: 3n, type: 8, name: Buffer.from("six") } });
    return encodeReplyBytes(r.header.unique, Opcode.READDIRPLUS, enc.finish());
  });
  const entries = await session.readdirplus(FUSE_ROOT_ID, 1n);
  assert.deepEqual(entries.map((e) => e.dirent.name.toString()), [".", "five", "six"]);
  assert.equal(session.lookupCount(5n), 1);
  assert.equal(session.lookupCount(6n), 1);
  assert.equal(session.trackedNodes, 2);
  session.forgetEntries(entries);
  assert.equal(session.trackedNodes, 0);
  await session.flushForgets();
  assert.equal(session.stats.forgetEntries, 2);
});

test("a READDIRPLUS reply that comes after its caller gave up gives its lookups back", async () => {
  const { transport, session } = await open(() => null, { forgetDelayMs: 0 });
  await rejects(session.readdirplus(FUSE_ROOT_ID, 1n, 0n, { timeoutMs: 10 }), errnoIs("ETIMEDOUT"), "timeout");
  const r = transport.requests(Opcode.READDIRPLUS)[0] as RequestOf<typeof Opcode.READDIRPLUS>;
  const enc = new DirentplusEncoder(r.arg.size);
  enc.add({ entry: entryOut(0n), dirent: { ino: 1n, off: 1n, type: 4, name: Buffer.from(".") } });
  enc.add({ entry: entryOut(41n), dirent: { ino: 41n, off: 2n, type: 8, name: Buffer.from("late") } });
  enc.add({ entry: entryOut(42n), dirent: { ino: 42n, off: 3n, type: 8, name: Buffer.from("later") } });
  transport.reply(r.header.unique, encodeReplyBytes(r.header.unique, Opcode.READDIRPLUS, enc.finish()));
  await wait(20);
  await session.flushForgets();
  const forgets = (transport.requests(Opcode.BATCH_FORGET) as RequestOf<typeof Opcode.BATCH_FORGET>[]).flatMap((b) => b.forgets);
  assert.deepEqual(forgets.sort((a, b) => Number(a.nodeid - b.nodeid)), [{ nodeid: 41n, nlookup: 1n }, { nodeid: 42n, nlookup: 1n }]);
  assert.equal(session.trackedNodes, 0);
});

test("cancellation: timeouts and aborts reject at once, INTERRUPT goes on hiprio when enabled, late replies are undone", async () => {
  const { transport, session } = await open(() => null, { interrupts: true, forgetDelayMs: 0 });
  const lookup = session.lookup(FUSE_ROOT_ID, "slow", { timeoutMs: 30 });
  await rejects(lookup, errnoIs("ETIMEDOUT"), "timeout");
  const controller = new AbortController();
  const opened = session.open(7n, OpenFlag.O_RDWR, 0, { signal: controller.signal });
  const created = session.create(FUSE_ROOT_ID, "c", 0o100644, OpenFlag.O_RDWR, 0, { signal: controller.signal });
  controller.abort();
  await rejects(opened, errnoIs("EINTR"), "abort");
  await rejects(created, errnoIs("EINTR"), "abort");

  const interrupts = transport.sent.filter((s) => s.request.opcode === Opcode.INTERRUPT);
  assert.equal(interrupts.length, 3);
  const [l, o, c] = [Opcode.LOOKUP, Opcode.OPEN, Opcode.CREATE].map((op) => transport.requests(op)[0]!);
  for (const [i, target] of [l, o, c].entries()) {
    const intr = interrupts[i]!.request as RequestOf<typeof Opcode.INTERRUPT>;
    assert.equal(interrupts[i]!.queue, "hiprio");
    assert.equal(interrupts[i]!.capacity, 0, "INTERRUPT takes no reply");
    assert.equal(intr.arg.unique, target!.header.unique);
    assert.equal(intr.header.unique, target!.header.unique | 1n);
  }
  assert.equal(session.stats.interrupts, 3);

  // The late replies succeed: the entry is forgotten, the handles released.
  transport.reply(l!.header.unique, encodeReplyBytes(l!.header.unique, Opcode.LOOKUP, entryOut(31n)));
  transport.reply(o!.header.unique, encodeReplyBytes(o!.header.unique, Opcode.OPEN, { fh: 500n, openFlags: 0, backingId: 0 }));
  transport.reply(c!.header.unique, encodeReplyBytes(c!.header.unique, Opcode.CREATE, { entry: entryOut(32n), open: { fh: 600n, openFlags: 0, backingId: 0 } }));
  await wait(20);
  await session.flushForgets();
  const forgets = (transport.requests(Opcode.BATCH_FORGET) as RequestOf<typeof Opcode.BATCH_FORGET>[]).flatMap((b) => b.forgets);
  assert.deepEqual(forgets.sort((a, b) => Number(a.nodeid - b.nodeid)), [{ nodeid: 31n, nlookup: 1n }, { nodeid: 32n, nlookup: 1n }]);
  const releases = transport.requests(Opcode.RELEASE) as RequestOf<typeof Opcode.RELEASE>[];
  assert.deepEqual(releases.map((r) => [r.header.nodeid, r.arg.fh]).sort(), [[32n, 600n], [7n, 500n]].sort());
  assert.equal(session.trackedNodes, 0);

  // A signal aborted beforehand sends nothing at all.
  const before = transport.sent.length;
  await rejects(session.getattr(FUSE_ROOT_ID, undefined, { signal: AbortSignal.abort() }), errnoIs("EINTR"), "pre-aborted");
  assert.equal(transport.sent.length, before);
});

test("cancellation without interrupts (the default) sends no INTERRUPT", async () => {
  const { transport, session } = await open(() => null);
  await rejects(session.getattr(FUSE_ROOT_ID, undefined, { timeoutMs: 10 }), errnoIs("ETIMEDOUT"), "timeout");
  assert.equal(transport.requests(Opcode.INTERRUPT).length, 0);
  assert.equal(session.stats.interrupts, 0);
});

test("reads and writes larger than one request are split and sent together; O_APPEND writes go one by one", async () => {
  const file = new Uint8Array(100_000).map((_, i) => i % 251);
  const writes: RequestOf<typeof Opcode.WRITE>[] = [];
  const { transport, session } = await open((r) => {
    if (r.opcode === Opcode.OPEN) return encodeReplyBytes(r.header.unique, Opcode.OPEN, { fh: (r.arg.flags & OpenFlag.O_APPEND) !== 0 ? 2n : 1n, openFlags: 0, backingId: 0 });
    if (r.opcode === Opcode.READ) {
      const start = Number(r.arg.offset);
      return encodeReplyBytes(r.header.unique, Opcode.READ, file.subarray(start, Math.min(file.length, start + r.arg.size)));
    }
    if (r.opcode === Opcode.WRITE) {
      writes.push(r);
      // The write at 65536 is short: the server took only 1000 bytes of it.
      if (r.arg.fh === 1n && r.arg.offset === 65536n) return encodeReplyBytes(r.header.unique, Opcode.WRITE, { size: 1000 });
      return null;
    }
    return null;
  }, {}, (r) => initReply(r, { maxWrite: 32768, maxPages: 8 }));
  assert.equal(session.info.maxRead, 32768);

  const fh = (await session.open(3n, OpenFlag.O_RDWR)).fh;
  const data = await session.read(3n, fh, 0, 150_000);
  assert.equal(data.length, 100_000, "the result ends at the end of the file");
  assert.deepEqual(data, file);
  const reads = transport.requests(Opcode.READ) as RequestOf<typeof Opcode.READ>[];
  assert.deepEqual(reads.map((r) => [r.arg.offset, r.arg.size]), [[0n, 32768], [32768n, 32768], [65536n, 32768], [98304n, 32768], [131072n, 18928]]);

  const into = new Uint8Array(40_000);
  assert.equal(await session.readInto(3n, fh, 70_000, into), 30_000);
  assert.deepEqual(into.subarray(0, 30_000), file.subarray(70_000));

  const writing = session.write(3n, fh, 0, file);
  await wait(5);
  assert.deepEqual(writes.map((w) => [w.arg.offset, w.data.length]), [[0n, 32768], [32768n, 32768], [65536n, 32768], [98304n, 1696]], "all parts are in flight at once");
  for (const w of writes) if (w.arg.offset !== 65536n) transport.reply(w.header.unique, encodeReplyBytes(w.header.unique, Opcode.WRITE, { size: w.data.length }));
  assert.equal(await writing, 32768 * 2 + 1000, "the count stops at the short write");

  writes.length = 0;
  const appendFh = (await session.open(3n, OpenFlag.O_WRONLY | OpenFlag.O_APPEND)).fh;
  const appending = session.write(3n, appendFh, 0, file.subarray(0, 70_000));
  await wait(5);
  assert.equal(writes.length, 1, "an O_APPEND handle gets one part at a time");
  transport.reply(writes[0]!.header.unique, encodeReplyBytes(writes[0]!.header.unique, Opcode.WRITE, { size: 32768 }));
  await wait(5);
  assert.equal(writes.length, 2);
  transport.reply(writes[1]!.header.unique, encodeReplyBytes(writes[1]!.header.unique, Opcode.WRITE, { size: 32768 }));
  await wait(5);
  transport.reply(writes[2]!.header.unique, encodeReplyBytes(writes[2]!.header.unique, Opcode.WRITE, { size: 70_000 - 65536 }));
  assert.equal(await appending, 70_000);
  assert.deepEqual(writes.map((w) => w.arg.fh), [2n, 2n, 2n]);
});

test("a READ reply whose header disagrees with its length is a ProtocolError, in both read paths", async () => {
  const { session } = await open((r) => {
    if (r.opcode !== Opcode.READ) return null;
    const bytes = encodeReplyBytes(r.header.unique, Opcode.READ, new Uint8Array(10));
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(0, 99, true);
    return bytes;
  }, {}, (r) => initReply(r, { maxPages: 1 }));
  await rejects(session.read(1n, 1n, 0, 100), (e) => ProtocolError.is(e) && /len/.test((e as Error).message), "read");
  await rejects(session.readInto(1n, 1n, 0, new Uint8Array(10_000)), (e) => ProtocolError.is(e) && /len/.test((e as Error).message), "split read");
});

test("SETATTR sets `valid` from the fields given; WRITE and GETATTR carry their flags", async () => {
  const { transport, session } = await open((r) => {
    if (r.opcode === Opcode.SETATTR || r.opcode === Opcode.GETATTR) return encodeReplyBytes(r.header.unique, r.opcode, attrOut(0n));
    if (r.opcode === Opcode.WRITE) return encodeReplyBytes(r.header.unique, Opcode.WRITE, { size: r.data.length });
    return null;
  });
  await session.setattr(5n, { mode: 0o600, size: 10, atime: "now", mtime: { sec: 3n, nsec: 4 }, fh: 9n });
  const [set] = transport.requests(Opcode.SETATTR) as RequestOf<typeof Opcode.SETATTR>[];
  assert.equal(set!.arg.valid, FAttr.MODE | FAttr.SIZE | FAttr.ATIME | FAttr.ATIME_NOW | FAttr.MTIME | FAttr.FH);
  assert.deepEqual([set!.arg.mode, set!.arg.size, set!.arg.mtime, set!.arg.mtimensec, set!.arg.fh], [0o600, 10n, 3n, 4, 9n]);
  await session.getattr(5n, 9n);
  const [get] = transport.requests(Opcode.GETATTR) as RequestOf<typeof Opcode.GETATTR>[];
  assert.deepEqual(get!.arg, { getattrFlags: 1, fh: 9n });
  await session.write(5n, 9n, 0, new Uint8Array(3), { lockOwner: 8n, killSuidgid: true });
  const [w] = transport.requests(Opcode.WRITE) as RequestOf<typeof Opcode.WRITE>[];
  assert.equal(w!.arg.writeFlags, 2 | 4);
  assert.equal(w!.arg.lockOwner, 8n);
});

test("the raw request: any opcode, header filled in, reply errno and body back", async () => {
  const { transport, session } = await open((r) => {
    if (r.opcode === Opcode.GETATTR) return encodeReplyBytes(r.header.unique, Opcode.GETATTR, attrOut(77n));
    if (r.opcode === Opcode.STATFS) return errorReply(r.header.unique, Errno.ENOSYS);
    return null;
  });
  const reply = await session.request(Opcode.GETATTR, 4n, GetattrIn.toBytes({ getattrFlags: 0, fh: 0n }));
  assert.equal(reply.errno, 0);
  assert.equal(AttrOut.fromBytes(reply.body).attr.size, 77n);
  const sent = transport.sent.at(-1)!;
  assert.equal(sent.request.header.nodeid, 4n);
  assert.equal(sent.request.header.unique, reply.unique);
  const refused = await session.request(Opcode.STATFS, 1n, new Uint8Array(0));
  assert.equal(refused.errno, Errno.ENOSYS);
  assert.equal(refused.body.length, 0);
  const forget = await session.request(Opcode.FORGET, 4n, new Uint8Array(8));
  assert.equal(forget.body.length, 0);
  assert.equal(transport.sent.at(-1)!.queue, "hiprio");
});

test("when the transport ends, pending and later calls reject with its error and the node table is dropped", async () => {
  const { transport, session } = await open((r) => (r.opcode === Opcode.LOOKUP ? encodeReplyBytes(r.header.unique, Opcode.LOOKUP, entryOut(8n)) : null));
  await session.lookup(FUSE_ROOT_ID, "x");
  const pending = session.getattr(8n);
  transport.close();
  await rejects(pending, errnoIs("ENOTCONN"), "pending");
  await rejects(session.getattr(8n), errnoIs("ENOTCONN"), "later");
  assert.equal(await session.closed, transport.closeReason);
  assert.equal(session.trackedNodes, 0);
  session.close();
});

test("close() sends the queued forgets, then DESTROY, then closes the transport", async () => {
  const handler: Handler = (r) =>
    r.opcode === Opcode.LOOKUP ? encodeReplyBytes(r.header.unique, Opcode.LOOKUP, entryOut(8n)) : r.opcode === Opcode.DESTROY ? ok(r) : null;
  const { transport, session } = await open(handler, { forgetDelayMs: 10_000 });
  await session.lookup(FUSE_ROOT_ID, "x");
  session.forget(8n);
  await session.close();
  const opcodes = transport.sent.map((s) => s.request.opcode);
  assert.deepEqual(opcodes.slice(-2), [Opcode.FORGET, Opcode.DESTROY], "a forget alone goes as FORGET");
  assert.ok(transport.closeReason !== null);
  await session.close();
});
