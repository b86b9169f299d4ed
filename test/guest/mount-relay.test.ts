/**
 * FuseRelay with this host's kernel on one side and, on the other, an
 * in-process backend (a LoopbackTransport) that records every message and
 * answers when the test says: the relay's own contracts, each checked on the
 * wire. INIT on both sides, ids mapped with many requests in flight and
 * answered out of order, FORGETs and INTERRUPTs on the hiprio queue,
 * malformed replies, read-only refusals, the backend going away.
 *
 * The mount lives in this process: everything that touches it (including
 * mount(8) and drop_caches) runs in a child process, asynchronously, so that
 * the event loop that answers the kernel is never blocked by the caller.
 */
import { describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { FUSE_ROOT_ID, InitFlag, Opcode, combineInitFlags, opcodeName } from "../../src/fuse/abi.js";
import type { Request } from "../../src/fuse/messages.js";
import { EntryOut, InitOut, OutHeader } from "../../src/fuse/structs.js";
import { FuseRelay, RELAYED_INIT_FLAGS, type RelayOptions } from "../../src/guest/relay.js";
import type { QueueKind } from "../../src/guest/transport.js";
import { atEnd, scratchDir } from "../scratch.js";
import { LoopbackTransport, attrOut, encodeReplyBytes, entryOut, errorReply, initReply, type Answer } from "./loopback.js";

const ENOSYS = 38;
const EINTR = 4;

/** Node ids of the fake tree: `f<N>` is node 100 + N, of N * 10 bytes of "x". */
const nodeOf = (n: number): bigint => 100n + BigInt(n);
const sizeOf = (nodeid: bigint): number => Number(nodeid - 100n) * 10;

function entry(nodeid: bigint): EntryOut {
  const e = entryOut(nodeid);
  return { ...e, attr: { ...e.attr, size: BigInt(sizeOf(nodeid)) } };
}

/**
 * A tiny file system: a root with files `f0`…`f999`. `hold` may keep a
 * request unanswered (the test answers it later with `transport.reply`).
 */
function fakeFs(init: Partial<InitOut>, hold: (r: Request) => boolean = () => false) {
  return (r: Request, _queue: QueueKind): Answer => {
    const unique = r.header.unique;
    if (r.opcode === Opcode.INIT) return initReply(r, init);
    if (hold(r)) return null;
    switch (r.opcode) {
      case Opcode.GETATTR:
        return encodeReplyBytes(unique, Opcode.GETATTR, r.header.nodeid === FUSE_ROOT_ID ? attrOut(0n, 0o40755) : attrOut(BigInt(sizeOf(r.header.nodeid))));
      case Opcode.LOOKUP: {
        const m = /^f(\d+)$/.exec(r.name.toString("utf8"));
        return m ? encodeReplyBytes(unique, Opcode.LOOKUP, entry(nodeOf(Number(m[1])))) : errorReply(unique, 2);
      }
      case Opcode.OPEN:
        return encodeReplyBytes(unique, Opcode.OPEN, { fh: r.header.nodeid, openFlags: 0, backingId: 0 });
      case Opcode.READ: {
        const size = sizeOf(r.header.nodeid);
        const n = Math.max(0, Math.min(r.arg.size, size - Number(r.arg.offset)));
        return encodeReplyBytes(unique, Opcode.READ, Buffer.alloc(n, "x"));
      }
      case Opcode.WRITE:
        return encodeReplyBytes(unique, Opcode.WRITE, { size: r.data.length });
      case Opcode.FLUSH:
      case Opcode.RELEASE:
        return encodeReplyBytes(unique, r.opcode, undefined);
      case Opcode.FORGET:
      case Opcode.BATCH_FORGET:
      case Opcode.INTERRUPT:
        return null;
      default:
        return errorReply(unique, ENOSYS);
    }
  };
}

/** Mounts a relay to `transport` at a fresh directory; the test's end unmounts it. */
async function mountRelay(t: TestContext, transport: LoopbackTransport, options: RelayOptions = {}): Promise<{ relay: FuseRelay; dir: string }> {
  const dir = scratchDir(t, "viofs-relay-");
  const relay = await FuseRelay.mount(transport, dir, options);
  atEnd(t, () => relay.unmount());
  return { relay, dir };
}

/** Runs a command in a child process: its status and output. */
function run(argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

async function until(test: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function mounted(dir: string): boolean {
  return readFileSync("/proc/self/mountinfo", "utf8").split("\n").some((line) => line.split(" ")[4] === dir);
}

/** Requests the backend received, after INIT. */
function sentAfterInit(transport: LoopbackTransport) {
  return transport.sent.filter((s) => s.request.opcode !== Opcode.INIT);
}

describe("FuseRelay against the kernel, with an in-process backend", () => {
  test("INIT: the backend is offered the kernel's relayable flags; the kernel gets min minor, both sides' flags and limits", async (t) => {
    const backendFlags = InitFlag.ASYNC_READ | InitFlag.BIG_WRITES | InitFlag.MAX_PAGES | InitFlag.PARALLEL_DIROPS | InitFlag.SPLICE_READ | InitFlag.EXPORT_SUPPORT;
    const transport = new LoopbackTransport(fakeFs({ minor: 36, maxWrite: 65536, maxPages: 8, flags: Number(backendFlags), flags2: 0, timeGran: 1000 }));
    const { relay, dir } = await mountRelay(t, transport);
    const init = relay.init!;
    const kernelFlags = combineInitFlags(init.kernel.flags, init.kernel.flags2);
    assert.ok(init.kernel.minor >= 36, `the kernel speaks 7.${init.kernel.minor}`);

    const first = transport.sent[0]!;
    assert.equal(first.request.opcode, Opcode.INIT);
    assert.equal(first.queue, "request");
    const offered = first.request.opcode === Opcode.INIT ? combineInitFlags(first.request.arg.flags, first.request.arg.flags2) : 0n;
    assert.equal(offered, kernelFlags & RELAYED_INIT_FLAGS, "the backend is offered exactly the kernel's relayable flags");
    assert.equal(offered & (InitFlag.SPLICE_READ | InitFlag.MAP_ALIGNMENT | InitFlag.HAS_INODE_DAX | InitFlag.PASSTHROUGH | InitFlag.ABORT_ERROR), 0n);
    assert.equal(first.request.opcode === Opcode.INIT && first.request.arg.maxReadahead, init.kernel.maxReadahead);

    const expected = kernelFlags & RELAYED_INIT_FLAGS & backendFlags;
    assert.equal(init.flags, expected);
    assert.equal(combineInitFlags(init.reply.flags, init.reply.flags2), expected);
    assert.equal(init.reply.minor, 36);
    assert.equal(init.reply.maxPages, 8);
    assert.equal(init.reply.maxWrite, 32768, "max_write: the backend's 64 KiB, bounded by its 8 pages");
    assert.equal(init.reply.timeGran, 1000);

    // The kernel took it: a 100 KiB write arrives in WRITEs of at most 32 KiB.
    const w = await run(["dd", "if=/dev/zero", `of=${join(dir, "f7")}`, "bs=100k", "count=1", "conv=notrunc"]);
    assert.equal(w.code, 0, w.stderr);
    const writes = transport.requests(Opcode.WRITE).map((r) => (r.opcode === Opcode.WRITE ? r.data.length : 0));
    assert.ok(writes.length >= 4 && writes.every((n) => n <= 32768), `WRITE sizes ${writes.join(",")}`);
    assert.equal(writes.reduce((a, b) => a + b, 0), 102400);
  });

  test("ids are mapped: many requests in flight, answered in reverse order, each reply reaches its caller", async (t) => {
    const held: Request[] = [];
    const transport = new LoopbackTransport(fakeFs({}, (r) => r.opcode === Opcode.LOOKUP && (held.push(r), true)));
    const { relay, dir } = await mountRelay(t, transport);
    const count = 16;
    const stats = Array.from({ length: count }, (_, i) => run(["stat", "-c", "%s", join(dir, `f${i + 1}`)]));
    await until(() => held.length === count, `${count} LOOKUPs in flight`);
    assert.equal(relay.pending, count);
    const uniques = held.map((r) => r.header.unique);
    assert.equal(new Set(uniques).size, count, "distinct backend ids");
    // The relay takes its ids from the session's space: even, past INIT's, and never one the session hands out next.
    for (const u of uniques) assert.ok(u > 2n && u % 2n === 0n, `backend id ${u} is from the session's space`);
    const next = relay.init!.session.reserveUnique();
    assert.ok(uniques.every((u) => u < next), `the session's next id ${next} is past every relayed one`);
    for (const r of [...held].reverse()) {
      const n = Number(/^f(\d+)$/.exec(r.opcode === Opcode.LOOKUP ? r.name.toString() : "")![1]);
      transport.reply(r.header.unique, encodeReplyBytes(r.header.unique, Opcode.LOOKUP, entry(nodeOf(n))));
    }
    const results = await Promise.all(stats);
    results.forEach((r, i) => assert.deepEqual({ code: r.code, out: r.stdout.trim() }, { code: 0, out: String((i + 1) * 10) }, r.stderr));
    assert.equal(relay.pending, 0);
    assert.equal(relay.stats.malformed, 0);
  });

  test("FORGETs go to the backend on the hiprio queue, with no reply room, for the nodes it issued", async (t) => {
    const transport = new LoopbackTransport(fakeFs({}));
    const { relay, dir } = await mountRelay(t, transport);
    const looked = await run(["stat", "-c", "%s", ...Array.from({ length: 20 }, (_, i) => join(dir, `f${i}`))]);
    assert.equal(looked.code, 0, looked.stderr);
    const lookups = new Map<bigint, number>();
    for (const s of sentAfterInit(transport)) {
      if (s.request.opcode !== Opcode.LOOKUP) continue;
      const n = Number(/^f(\d+)$/.exec(s.request.name.toString())![1]);
      lookups.set(nodeOf(n), (lookups.get(nodeOf(n)) ?? 0) + 1);
    }
    // Evict the unused dentries and inodes: the kernel forgets them.
    const deadline = Date.now() + 10_000;
    while (relay.stats.forgets === 0) {
      assert.ok(Date.now() < deadline, "a FORGET after drop_caches");
      // Asynchronously: eviction may talk to this process's mount.
      await run(["sh", "-c", "echo 2 > /proc/sys/vm/drop_caches"]);
      await new Promise((r) => setTimeout(r, 20));
    }
    const forgotten = new Map<bigint, bigint>();
    for (const s of sentAfterInit(transport)) {
      const r = s.request;
      if (r.opcode !== Opcode.FORGET && r.opcode !== Opcode.BATCH_FORGET) continue;
      assert.equal(s.queue, "hiprio", `${opcodeName(r.opcode)} on hiprio`);
      assert.equal(s.capacity, 0, "no reply room");
      const items = r.opcode === Opcode.FORGET ? [{ nodeid: r.header.nodeid, nlookup: r.arg.nlookup }] : r.forgets;
      for (const f of items) forgotten.set(f.nodeid, (forgotten.get(f.nodeid) ?? 0n) + f.nlookup);
    }
    assert.ok(forgotten.size > 0);
    for (const [nodeid, nlookup] of forgotten) {
      assert.ok(lookups.has(nodeid), `node ${nodeid} was issued by the backend`);
      assert.equal(nlookup, BigInt(lookups.get(nodeid)!), `node ${nodeid}: the kernel gives back every lookup`);
    }
  });

  test("INTERRUPT names the backend's id of the interrupted request and goes on hiprio", async (t) => {
    let slow: Request | null = null;
    const transport = new LoopbackTransport(fakeFs({}, (r) => r.opcode === Opcode.LOOKUP && r.name.toString() === "f500" && ((slow = r), true)));
    const { relay, dir } = await mountRelay(t, transport);
    const child = spawn("stat", [join(dir, "f500")], { stdio: "ignore" });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("close", (_code, signal) => resolve(signal)));
    await until(() => slow !== null, "the slow LOOKUP");
    child.kill("SIGTERM");
    await until(() => transport.requests(Opcode.INTERRUPT).length > 0, "the INTERRUPT");
    const s = sentAfterInit(transport).find((x) => x.request.opcode === Opcode.INTERRUPT)!;
    const target = slow!.header.unique;
    assert.equal(s.queue, "hiprio");
    assert.equal(s.capacity, 0);
    assert.equal(s.request.opcode === Opcode.INTERRUPT && s.request.arg.unique, target);
    assert.equal(s.request.header.unique, target | 1n);
    assert.equal(relay.stats.interrupts, 1);
    // A backend that honours it answers EINTR; the killed caller is let go.
    transport.reply(target, errorReply(target, EINTR));
    assert.equal(await exited, "SIGTERM");
  });

  test("a malformed reply is answered EIO, never passed on", async (t) => {
    const transport = new LoopbackTransport(fakeFs({}, (r) => r.opcode === Opcode.LOOKUP && r.name.toString().startsWith("f9")));
    const { relay, dir } = await mountRelay(t, transport);
    const a = run(["stat", join(dir, "f90")]);
    const b = run(["stat", join(dir, "f91")]);
    await until(() => transport.unanswered.length === 2, "two LOOKUPs");
    const [u1, u2] = transport.unanswered as [bigint, bigint];
    // `len` says more than the message holds; then a reply with another request's id.
    const lying = encodeReplyBytes(u1, Opcode.LOOKUP, entry(nodeOf(90)));
    new DataView(lying.buffer, lying.byteOffset).setUint32(0, lying.length + 8, true);
    transport.reply(u1, lying);
    transport.reply(u2, encodeReplyBytes(u2 + 2n, Opcode.LOOKUP, entry(nodeOf(91))));
    for (const r of await Promise.all([a, b])) {
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Input\/output error/);
    }
    assert.equal(relay.stats.malformed, 2);
    assert.equal(OutHeader.SIZE, 16);
  });

  test("read-only: mutating requests never reach the backend, even after a remount rw", async (t) => {
    const transport = new LoopbackTransport(fakeFs({}));
    const { relay, dir } = await mountRelay(t, transport, { readOnly: true });
    assert.equal((await run(["cat", join(dir, "f3")])).stdout, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    // Asynchronously: the remount waits for this process to answer the kernel.
    const remount = await run(["mount", "-o", "remount,rw", dir]);
    assert.equal(remount.code, 0, remount.stderr);
    for (const argv of [["mkdir", join(dir, "d")], ["touch", join(dir, "f4")], ["sh", "-c", `echo x >> ${join(dir, "f5")}`], ["rm", join(dir, "f6")]]) {
      const r = await run(argv);
      assert.notEqual(r.code, 0, argv.join(" "));
      assert.match(r.stderr, /Read-only file system/, argv.join(" "));
    }
    const mutating = new Set<number>([Opcode.MKDIR, Opcode.SETATTR, Opcode.CREATE, Opcode.WRITE, Opcode.UNLINK]);
    assert.deepEqual(sentAfterInit(transport).filter((s) => mutating.has(s.request.opcode) || (s.request.opcode === Opcode.OPEN && (s.request.arg.flags & 3) !== 0)), []);
    assert.ok(relay.stats.refused >= 4, `refused ${relay.stats.refused}`);
  });

  test("the backend going away: the request in flight fails ENOTCONN, the mount is detached, closed says why", async (t) => {
    const transport = new LoopbackTransport(fakeFs({}, (r) => r.opcode === Opcode.LOOKUP));
    const { relay, dir } = await mountRelay(t, transport);
    const waiting = run(["stat", join(dir, "f1")]);
    await until(() => transport.unanswered.length === 1, "the LOOKUP");
    transport.close();
    const r = await waiting;
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Transport endpoint is not connected/);
    const end = await relay.closed;
    assert.equal(end.cause, "backend");
    assert.match(end.error!.message, /ENOTCONN/);
    assert.equal(mounted(dir), false);
  });
});
