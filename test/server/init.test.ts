/**
 * INIT negotiation and the session state machine: versions, compat reply
 * sizes, flag intersection, INIT before/after, DESTROY.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Errno } from "../../src/common/errno.js";
import { errno } from "../../src/common/errors.js";
import { log } from "../../src/common/log.js";
import { InitFlag, Opcode, combineInitFlags } from "../../src/fuse/abi.js";
import { decodeOutHeader, encodeRequestBytes } from "../../src/fuse/messages.js";
import type { InitOut } from "../../src/fuse/structs.js";
import { FileSystemBase } from "../../src/server/filesystem.js";
import { FuseServer, PROTOCOL_INIT_FLAGS } from "../../src/server/server.js";
import { ALL_FLAGS, B, call, errnoOf, exchange, hdr, initReq, send } from "./client.js";
import { MemFs } from "./memfs.js";

log.setLevel("off");

async function init(server: FuseServer, minor = 38, flags = ALL_FLAGS, major = 7): Promise<InitOut> {
  const r = await call(server, initReq(minor, flags, major));
  assert.ok(r.ok, `INIT ${major}.${minor} failed`);
  return r.body;
}

test("INIT 7.38: our limits, the client's readahead, flags = client ∩ offered ∩ (protocol ∪ wanted)", async () => {
  const fs = new MemFs();
  fs.initFlags =
    InitFlag.ATOMIC_O_TRUNC |
    InitFlag.DO_READDIRPLUS |
    InitFlag.READDIRPLUS_AUTO |
    InitFlag.WRITEBACK_CACHE |
    InitFlag.POSIX_LOCKS |
    InitFlag.SETXATTR_EXT |
    InitFlag.SECURITY_CTX;
  const server = new FuseServer(fs);
  const replies = await send(server, initReq(38));
  assert.equal(replies.length, 1);
  assert.equal(replies[0]!.byteLength, 16 + 64);
  const out = await init(new FuseServer(fs));
  assert.equal(out.major, 7);
  assert.equal(out.minor, 38);
  assert.equal(out.maxReadahead, 131072);
  assert.equal(out.maxWrite, 1 << 20);
  assert.equal(out.maxPages, 256);
  assert.equal(out.timeGran, 1);
  assert.equal(out.maxBackground, 65535);
  assert.equal(out.congestionThreshold, 49151);
  const expected =
    PROTOCOL_INIT_FLAGS | InitFlag.ATOMIC_O_TRUNC | InitFlag.DO_READDIRPLUS | InitFlag.READDIRPLUS_AUTO | InitFlag.SETXATTR_EXT;
  assert.equal(combineInitFlags(out.flags, out.flags2), expected);
  assert.deepEqual(fs.initParams, { minor: 38, clientFlags: ALL_FLAGS });
  assert.deepEqual(server.negotiated, { clientMinor: 38, minor: 38, flags: expected, maxWrite: 1 << 20 });
  assert.equal(server.wireOptions.minor, 38);
  assert.equal(server.wireOptions.setxattrExt, true);
});

test("INIT: options add their flags only when the file system wants them", async () => {
  const fs = new MemFs();
  fs.initFlags = InitFlag.WRITEBACK_CACHE | InitFlag.POSIX_LOCKS | InitFlag.FLOCK_LOCKS | InitFlag.HANDLE_KILLPRIV_V2 | InitFlag.SUBMOUNTS;
  const on = new FuseServer(fs, { writeback: true, posixLocks: true, flock: true, killprivV2: true, announceSubmounts: true, readdirplus: false });
  const out = await init(on);
  const flags = combineInitFlags(out.flags, out.flags2);
  for (const f of [InitFlag.WRITEBACK_CACHE, InitFlag.POSIX_LOCKS, InitFlag.FLOCK_LOCKS, InitFlag.HANDLE_KILLPRIV_V2, InitFlag.SUBMOUNTS]) {
    assert.notEqual(flags & f, 0n);
  }
  assert.equal(flags & InitFlag.DO_READDIRPLUS, 0n);
  // The same options with a file system that asks for nothing: protocol flags only.
  const bare = await init(new FuseServer(new FileSystemBase(), { writeback: true, posixLocks: true }));
  assert.equal(combineInitFlags(bare.flags, bare.flags2), PROTOCOL_INIT_FLAGS);
});

test("INIT: a flag the client does not offer is never enabled; flags2 counts only with INIT_EXT", async () => {
  const fs = new MemFs();
  fs.initFlags = InitFlag.ATOMIC_O_TRUNC | InitFlag.CREATE_SUPP_GROUP;
  const server = new FuseServer(fs);
  const client = InitFlag.ASYNC_READ | InitFlag.BIG_WRITES | InitFlag.CREATE_SUPP_GROUP; // bit 34, but no INIT_EXT
  const out = await init(server, 38, client);
  assert.equal(combineInitFlags(out.flags, out.flags2), InitFlag.ASYNC_READ | InitFlag.BIG_WRITES);
  assert.equal(out.flags2, 0);
  assert.equal(fs.initParams!.clientFlags, InitFlag.ASYNC_READ | InitFlag.BIG_WRITES);
});

test("INIT 7.31 (the Windows service): 64-byte reply of 7.38, session at 7.31", async () => {
  const fs = new MemFs();
  fs.initFlags = InitFlag.DO_READDIRPLUS;
  const server = new FuseServer(fs);
  const req = initReq(31, InitFlag.DO_READDIRPLUS | InitFlag.MAX_PAGES, 7, 0);
  const bytes = encodeRequestBytes(req);
  assert.equal(bytes.byteLength, 40 + 16, "a 7.31 client sends the 16-byte fuse_init_in");
  const [reply] = await exchange(server, bytes);
  assert.equal(reply!.byteLength, 16 + 64);
  const r = await call(new FuseServer(fs), initReq(31, InitFlag.DO_READDIRPLUS | InitFlag.MAX_PAGES, 7, 0));
  assert.ok(r.ok);
  assert.equal(r.body.minor, 38);
  assert.equal(r.body.maxReadahead, 0);
  assert.equal(combineInitFlags(r.body.flags, r.body.flags2), InitFlag.DO_READDIRPLUS | InitFlag.MAX_PAGES);
  assert.equal(server.negotiated!.minor, 31);
});

test("INIT: compat reply sizes for old minors (when allowed), and compat struct sizes after", async () => {
  for (const [minor, size] of [
    [4, 8],
    [5, 24],
    [22, 24],
    [23, 64],
  ] as const) {
    const server = new FuseServer(new MemFs(), { minMinor: 1 });
    const [reply] = await send(server, initReq(minor));
    assert.equal(reply!.byteLength, 16 + size, `INIT reply to 7.${minor}`);
    assert.equal(decodeOutHeader(reply!).error, 0);
  }
  const fs = new MemFs();
  fs.add(1n, "f", 0o100644);
  const server = new FuseServer(fs, { minMinor: 1 });
  await send(server, initReq(8));
  assert.equal(server.wireOptions.minor, 8);
  const [entry] = await send(server, { opcode: Opcode.LOOKUP, header: hdr(), name: B("f") });
  assert.equal(entry!.byteLength, 16 + 120, "fuse_entry_out before 7.9");
  const [attr] = await send(server, { opcode: Opcode.GETATTR, header: hdr(), arg: { getattrFlags: 0, fh: 0n } });
  assert.equal(attr!.byteLength, 16 + 96, "fuse_attr_out before 7.9");
  const old = new FuseServer(new MemFs(), { minMinor: 1 });
  await send(old, initReq(3));
  const [statfs] = await send(old, { opcode: Opcode.STATFS, header: hdr() });
  assert.equal(statfs!.byteLength, 16 + 48, "fuse_kstatfs before 7.4");
});

test("INIT: minor below the minimum and major below 7 are EPROTO; major above 7 is answered with ours", async () => {
  const fs = new MemFs();
  const server = new FuseServer(fs);
  assert.equal(await errnoOf(server, initReq(26)), Errno.EPROTO);
  assert.equal(await errnoOf(server, initReq(38, ALL_FLAGS, 6)), Errno.EPROTO);
  assert.equal(fs.initParams, null, "the file system never saw those");
  const r = await call(server, initReq(0, ALL_FLAGS, 8));
  assert.ok(r.ok);
  assert.equal(r.body.major, 7);
  assert.equal(r.body.minor, 38);
  assert.equal(r.body.maxWrite, 0);
  assert.equal(server.negotiated, null, "still waiting for a 7.x INIT");
  await init(server);
  assert.notEqual(server.negotiated, null);
});

test("before INIT only INIT is served (EIO; FORGET unanswered); a second INIT is EIO; a truncated INIT is EPROTO", async () => {
  const fs = new MemFs();
  const server = new FuseServer(fs);
  assert.equal(await errnoOf(server, { opcode: Opcode.LOOKUP, header: hdr(), name: B("x") }), Errno.EIO);
  assert.equal(await errnoOf(server, { opcode: Opcode.DESTROY, header: hdr() }), Errno.EIO);
  assert.equal((await send(server, { opcode: Opcode.FORGET, header: hdr(2n), arg: { nlookup: 1n } })).length, 0);
  const unknown = encodeRequestBytes({ opcode: Opcode.STATFS, header: hdr() });
  new DataView(unknown.buffer).setUint32(4, 19, true);
  assert.equal(decodeOutHeader((await exchange(server, unknown))[0]!).error, -Errno.EIO);
  assert.deepEqual(fs.calls, []);

  const full = encodeRequestBytes(initReq(31));
  const cut = full.slice(0, 48);
  new DataView(cut.buffer).setUint32(0, 48, true);
  const [reply] = await exchange(server, cut);
  assert.equal(decodeOutHeader(reply!).error, -Errno.EPROTO);

  await init(server);
  const flags = server.negotiated!.flags;
  assert.equal(await errnoOf(server, initReq(38)), Errno.EIO);
  assert.equal(server.negotiated!.flags, flags);
  assert.deepEqual(fs.calls, ["init"]);
});

test("DESTROY: the file system drops its state, the reply is empty, and a new INIT starts a new session", async () => {
  const fs = new MemFs();
  const server = new FuseServer(fs);
  await init(server);
  const r = await call(server, { opcode: Opcode.DESTROY, header: hdr() });
  assert.ok(r.ok);
  assert.equal(fs.destroyed, 1);
  assert.equal(server.negotiated, null);
  assert.equal(await errnoOf(server, { opcode: Opcode.GETATTR, header: hdr(), arg: { getattrFlags: 0, fh: 0n } }), Errno.EIO);
  await init(server, 31);
  assert.equal(server.negotiated!.minor, 31);
  await server.reset();
  assert.equal(fs.destroyed, 2, "reset() ends the session like DESTROY");
  assert.equal(server.negotiated, null);
  await server.reset();
  assert.equal(fs.destroyed, 2, "no session, nothing to destroy");
});

test("restartOnInit: an INIT during a session ends it (the file system is destroyed) and starts another", async () => {
  const fs = new MemFs();
  const server = new FuseServer(fs, { restartOnInit: true });
  await init(server, 38);
  await init(server, 31);
  assert.equal(fs.destroyed, 1);
  assert.equal(server.negotiated!.minor, 31);
  assert.deepEqual(fs.calls, ["init", "destroy", "init"]);
});

test("INIT: the file system's refusal is the reply, and the session does not start", async () => {
  class Refusing extends FileSystemBase {
    override init(): Promise<never> {
      return Promise.reject(errno("EACCES", "init"));
    }
  }
  const server = new FuseServer(new Refusing());
  assert.equal(await errnoOf(server, initReq()), Errno.EACCES);
  assert.equal(server.negotiated, null);
  assert.equal(await errnoOf(server, { opcode: Opcode.STATFS, header: hdr() }), Errno.EIO);
});

test("options: maxWrite sets max_write, max_pages and the request limit", async () => {
  const server = new FuseServer(new MemFs(), { maxWrite: 128 * 1024 + 1 });
  const out = await init(server);
  assert.equal(out.maxWrite, 128 * 1024 + 1);
  assert.equal(out.maxPages, 33);
  assert.equal(server.requestLimit, 128 * 1024 + 1 + 4096);
  assert.throws(() => new FuseServer(new MemFs(), { maxWrite: 100 }), RangeError);
});
