/**
 * Property: whatever bytes arrive, `handle` settles without throwing, every
 * request with a readable header gets exactly one reply (FORGET,
 * BATCH_FORGET and NOTIFY_REPLY none), and every reply is one the Linux
 * client would accept: its length exact, its error in (-512, 0], header-only
 * when an error, its unique the request's.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { log } from "../../src/common/log.js";
import { Mode } from "../../src/fuse/abi.js";
import { decodeOutHeader, encodeRequestBytes, NO_REPLY_OPCODES } from "../../src/fuse/messages.js";
import { FileSystemBase } from "../../src/server/filesystem.js";
import { MessageReply } from "../../src/server/reply.js";
import { FuseServer } from "../../src/server/server.js";
import { REQUEST_VECTORS } from "../fuse/vectors.js";
import { ALL_OPCODES, initReq, sampleRequest } from "./client.js";
import { MemFs } from "./memfs.js";

log.setLevel("off");

const SEEDS: Uint8Array[] = [
  ...REQUEST_VECTORS.map((v) => v.bytes),
  ...ALL_OPCODES.map((op) => encodeRequestBytes(sampleRequest(op, op % 3 === 0 ? 1n : 2n))),
];

const mutated = fc
  .record({
    seed: fc.nat({ max: SEEDS.length - 1 }),
    flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
    cut: fc.option(fc.nat(), { nil: undefined }),
    extra: fc.uint8Array({ maxLength: 24 }),
    fixLen: fc.boolean(),
  })
  .map(({ seed, flips, cut, extra, fixLen }) => {
    let bytes = Uint8Array.from([...SEEDS[seed]!, ...extra]);
    if (cut !== undefined) bytes = bytes.slice(0, cut % (bytes.length + 1));
    for (const [pos, val] of flips) if (bytes.length > 0) bytes[pos % bytes.length] = val;
    if (fixLen && bytes.length >= 4) new DataView(bytes.buffer).setUint32(0, bytes.length, true);
    return bytes;
  });

/** A valid header with any opcode and any body. */
const framed = fc
  .record({ opcode: fc.integer({ min: 0, max: 60 }), body: fc.uint8Array({ maxLength: 200 }), nodeid: fc.bigInt({ min: 0n, max: 5n }) })
  .map(({ opcode, body, nodeid }) => {
    const bytes = new Uint8Array(40 + body.length);
    const v = new DataView(bytes.buffer);
    v.setUint32(0, bytes.length, true);
    v.setUint32(4, opcode, true);
    v.setBigUint64(8, 0x5000n, true);
    v.setBigUint64(16, nodeid, true);
    bytes.set(body, 40);
    return bytes;
  });

const anyBytes = fc.uint8Array({ maxLength: 160 });

async function fresh(fs: FileSystemBase, init: boolean): Promise<FuseServer> {
  const server = new FuseServer(fs);
  if (init) await server.handle(encodeRequestBytes(initReq()), new MessageReply(() => {}));
  return server;
}

async function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_r, reject) => {
    timer = setTimeout(() => reject(new Error(`handle did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

test("fuzz: random and mutated requests never throw or hang, and get exactly one valid reply", async () => {
  const memfs = new MemFs();
  memfs.add(1n, "file", Mode.S_IFREG | 0o644, new Uint8Array(100));
  memfs.add(1n, "dir", Mode.S_IFDIR | 0o755);
  const servers = [await fresh(new FileSystemBase(), false), await fresh(new FileSystemBase(), true), await fresh(memfs, true)];
  await fc.assert(
    fc.asyncProperty(fc.oneof(mutated, framed, anyBytes), async (bytes) => {
      for (const [i, server] of servers.entries()) {
        // Keep the initialized servers initialized (the input may have been a DESTROY).
        if (i > 0 && server.negotiated === null) await server.handle(encodeRequestBytes(initReq()), new MessageReply(() => {}));
        const replies: Uint8Array[] = [];
        await within(server.handle(bytes.slice(), new MessageReply((m) => void replies.push(m.slice()))), 2000);
        if (bytes.length < 40) {
          assert.equal(replies.length, 0);
          continue;
        }
        const v = new DataView(bytes.buffer, bytes.byteOffset);
        const opcode = v.getUint32(4, true);
        assert.equal(replies.length, NO_REPLY_OPCODES.has(opcode) ? 0 : 1, `opcode ${opcode}, server ${i}`);
        for (const reply of replies) {
          const h = decodeOutHeader(reply); // len exact, error in (-512, 0], error replies header-only
          assert.equal(h.unique, v.getBigUint64(8, true));
          assert.ok(h.error <= 0 && h.error > -512);
        }
      }
    }),
    { numRuns: 2000 },
  );
  for (const server of servers) assert.equal(server.inFlightCount, 0);
});

test("fuzz: INIT with any version and flags is answered once, and the session is consistent with the answer", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 12 }),
      fc.integer({ min: 0, max: 60 }),
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      async (major, minor, flags) => {
        const server = new FuseServer(new MemFs());
        const replies: Uint8Array[] = [];
        await server.handle(encodeRequestBytes(initReq(minor, flags, major)), new MessageReply((m) => void replies.push(m)));
        assert.equal(replies.length, 1);
        const h = decodeOutHeader(replies[0]!);
        const accepted = major === 7 && minor >= 27;
        assert.equal(server.negotiated !== null, accepted);
        assert.equal(h.error === 0, accepted || major > 7);
        if (accepted) assert.equal(server.negotiated!.flags & ~flags, 0n, "never a flag the client did not offer");
      },
    ),
    { numRuns: 300 },
  );
});
