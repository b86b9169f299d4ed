/**
 * The server over descriptor chains (virtio's Reader/Writer): READ data goes
 * straight into the driver's writable buffers with the header filled in
 * last, WRITE data stays in the readable buffers, and a reply that cannot fit
 * is an error reply or nothing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Errno } from "../../src/common/errno.js";
import { log } from "../../src/common/log.js";
import { Mode, Opcode } from "../../src/fuse/abi.js";
import { decodeOutHeader, decodeReply, encodeRequestBytes, type Request } from "../../src/fuse/messages.js";
import type { ReadIn, WriteIn } from "../../src/fuse/structs.js";
import { dataLength, isSegments, type Context, type ReadTarget, type WriteSource } from "../../src/server/filesystem.js";
import { ChainReply } from "../../src/server/reply.js";
import { FuseServer } from "../../src/server/server.js";
import { Reader, Writer } from "../../src/virtio/chain-io.js";
import { B, call, hdr, initReq } from "./client.js";
import { MemFs } from "./memfs.js";

log.setLevel("off");

/** Splits `bytes` into buffers of the given sizes (the last takes the rest). */
function scatter(bytes: Uint8Array, sizes: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  for (const n of sizes) {
    out.push(bytes.slice(at, at + n));
    at += n;
  }
  out.push(bytes.slice(at));
  return out;
}

function gather(buffers: Uint8Array[], length: number): Uint8Array {
  const all = Buffer.concat(buffers);
  return all.subarray(0, length);
}

class SpyFs extends MemFs {
  readTargets: ReadTarget = [];
  readArg: ReadIn | null = null;
  writeSources: WriteSource = [];
  override read(ctx: Context, nodeid: bigint, arg: ReadIn, target: ReadTarget): Promise<number> {
    this.readTargets = target;
    this.readArg = arg;
    return super.read(ctx, nodeid, arg, target);
  }
  override write(ctx: Context, nodeid: bigint, arg: WriteIn, source: WriteSource): Promise<number> {
    this.writeSources = source;
    return super.write(ctx, nodeid, arg, source);
  }
}

async function setup(): Promise<{ fs: SpyFs; server: FuseServer; file: bigint; content: Uint8Array }> {
  const fs = new SpyFs();
  const content = new Uint8Array(5000);
  for (let i = 0; i < content.length; i++) content[i] = (i * 7 + 3) & 0xff;
  const file = fs.add(1n, "data", Mode.S_IFREG | 0o644, content);
  const server = new FuseServer(fs);
  assert.ok((await call(server, initReq())).ok);
  return { fs, server, file, content };
}

function readReq(nodeid: bigint, size: number, offset = 0n): Request {
  return { opcode: Opcode.READ, header: hdr(nodeid), arg: { fh: 1n, offset, size, readFlags: 0, lockOwner: 0n, flags: 0 } };
}

test("READ into a chain: data lands in the guest's buffers, the header (split over two buffers) is written last", async () => {
  const { fs, server, file, content } = await setup();
  const writable = [new Uint8Array(10), new Uint8Array(100), new Uint8Array(5000)];
  const writer = new Writer(writable);
  const req = readReq(file, 4096, 100n);
  await server.handleChain(new Reader([encodeRequestBytes(req)]), new ChainReply(writer));
  assert.equal(writer.bytesWritten, 16 + 4096);
  // The file system was handed spans of the very buffers the driver gave (no view of each).
  const target = fs.readTargets;
  assert.ok(isSegments(target));
  assert.deepEqual(target.segs, [writable[1], writable[2]]);
  assert.ok(target.segs[0] === writable[1] && target.segs[1] === writable[2]);
  assert.deepEqual(target.spans, [6, 94, 0, 4002]);
  const reply = gather(writable, writer.bytesWritten);
  const decoded = decodeReply(req, reply);
  assert.ok(decoded.ok);
  assert.deepEqual(decoded.body, content.subarray(100, 100 + 4096));
});

test("READ with less room than asked: the file system sees the room as the size (a short read)", async () => {
  const { fs, server, file } = await setup();
  const writer = new Writer([new Uint8Array(16 + 100)]);
  await server.handle(encodeRequestBytes(readReq(file, 4096)), new ChainReply(writer));
  assert.equal(fs.readArg!.size, 100);
  assert.equal(writer.bytesWritten, 116);
});

test("READ that fails: the error header goes where the data reply's header was reserved", async () => {
  const { server } = await setup();
  const writable = [new Uint8Array(8), new Uint8Array(4096)];
  const writer = new Writer(writable);
  const req = readReq(999n, 512);
  await server.handle(encodeRequestBytes(req), new ChainReply(writer));
  assert.equal(writer.bytesWritten, 16);
  const h = decodeOutHeader(gather(writable, 16));
  assert.equal(h.error, -Errno.ENOENT);
  assert.equal(h.unique, req.header.unique);
});

test("a reply that does not fit becomes an error reply; with no room for a header, nothing is written", async () => {
  const { server } = await setup();
  const lookup: Request = { opcode: Opcode.LOOKUP, header: hdr(1n), name: B("data") };
  const small = new Writer([new Uint8Array(64)]);
  await server.handle(encodeRequestBytes(lookup), new ChainReply(small));
  assert.equal(small.bytesWritten, 16);
  const none = new Writer([new Uint8Array(8)]);
  await server.handle(encodeRequestBytes(lookup), new ChainReply(none));
  assert.equal(none.bytesWritten, 0);
  const noRead = new Writer([new Uint8Array(8)]);
  await server.handle(encodeRequestBytes(readReq(2n, 100)), new ChainReply(noRead));
  assert.equal(noRead.bytesWritten, 0);
});

test("WRITE through handleChain: the file system writes from the readable buffers themselves", async () => {
  const { fs, server, file } = await setup();
  const data = new Uint8Array(3000).map((_, i) => i & 0xff);
  const req: Request = {
    opcode: Opcode.WRITE,
    header: hdr(file),
    arg: { fh: 1n, offset: 10n, size: data.length, writeFlags: 0, lockOwner: 0n, flags: 0 },
    data,
  };
  // Header and arguments split mid-struct, data over two buffers.
  const readable = scatter(encodeRequestBytes(req), [33, 60, 1000]);
  const writable = [new Uint8Array(64)];
  const writer = new Writer(writable);
  await server.handleChain(new Reader(readable), new ChainReply(writer));
  const reply = decodeReply(req, gather(writable, writer.bytesWritten));
  assert.ok(reply.ok);
  assert.deepEqual(reply.body, { size: 3000 });
  const source = fs.writeSources;
  assert.ok(isSegments(source));
  assert.ok(source.segs.length >= 2);
  assert.ok(source.segs.every((v) => readable.includes(v)), "no copy of the data");
  assert.equal(dataLength(source), 3000);
  const check = await call(server, readReq(file, 3000, 10n));
  assert.ok(check.ok);
  assert.deepEqual(check.body, data);
});

test("handleChain: trailing readable bytes are ignored; a len beyond the chain or the limit is refused", async () => {
  const { server } = await setup();
  const lookup: Request = { opcode: Opcode.LOOKUP, header: hdr(1n), name: B("data") };
  const bytes = encodeRequestBytes(lookup);
  const w1 = new Writer([new Uint8Array(256)]);
  await server.handleChain(new Reader([bytes, new Uint8Array(50)]), new ChainReply(w1));
  assert.equal(w1.bytesWritten, 16 + 128);

  const long = bytes.slice();
  new DataView(long.buffer).setUint32(0, bytes.byteLength + 8, true);
  const w2 = new Writer([new Uint8Array(256)]);
  await server.handleChain(new Reader([long]), new ChainReply(w2));
  assert.equal(w2.bytesWritten, 16);

  const huge = bytes.slice();
  new DataView(huge.buffer).setUint32(0, 0xffff_ffff, true);
  const b3 = new Uint8Array(256);
  const w3 = new Writer([b3]);
  await server.handleChain(new Reader([huge]), new ChainReply(w3));
  assert.equal(w3.bytesWritten, 16);
  assert.equal(decodeOutHeader(b3.subarray(0, 16)).error, -Errno.ENOMEM);

  const w4 = new Writer([new Uint8Array(256)]);
  await server.handleChain(new Reader([new Uint8Array(12)]), new ChainReply(w4));
  assert.equal(w4.bytesWritten, 0, "no header: no reply");
});

test("handleChain: a header the guest changes after it was peeked is decoded from the copy and refused", async () => {
  const { server } = await setup();
  const bytes = encodeRequestBytes({ opcode: Opcode.LOOKUP, header: hdr(1n), name: B("data") });
  /** Answers the length the guest wrote first, 8 more than the bytes now hold (they changed in between). */
  class Racing extends Reader {
    override peekU32(ahead: number): number {
      return ahead === 0 ? super.peekU32(0) + 8 : super.peekU32(ahead);
    }
  }
  const out = new Uint8Array(256);
  const w = new Writer([out]);
  await server.handleChain(new Racing([bytes, new Uint8Array(8)]), new ChainReply(w));
  assert.equal(w.bytesWritten, 16);
  assert.equal(decodeOutHeader(out.subarray(0, 16)).error, -Errno.EINVAL);
  // The server goes on serving.
  const again = new Uint8Array(256);
  const w2 = new Writer([again]);
  await server.handleChain(new Reader([bytes]), new ChainReply(w2));
  assert.equal(w2.bytesWritten, 16 + 128);
});
