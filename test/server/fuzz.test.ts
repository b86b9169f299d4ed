/**
 * Property: whatever bytes arrive, `handle` settles without throwing, every
 * request with a readable header gets exactly one reply (FORGET,
 * BATCH_FORGET and NOTIFY_REPLY none), and every reply is one the Linux
 * client would accept: its length exact, its error in (-512, 0], header-only
 * when an error, its unique the request's. The generators live in
 * fuzz/props/fuse-server.ts (`npm run fuzz` runs them a million times against
 * a PassthroughFs); these are the bounded runs against in-memory servers.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { log } from "../../src/common/log.js";
import { Mode } from "../../src/fuse/abi.js";
import { decodeOutHeader, encodeRequestBytes } from "../../src/fuse/messages.js";
import { FileSystemBase } from "../../src/server/filesystem.js";
import { MessageReply } from "../../src/server/reply.js";
import { FuseServer } from "../../src/server/server.js";
import { anyRequest, checkReplies, defuse, within } from "../../fuzz/props/fuse-server.js";
import { initReq } from "./client.js";
import { MemFs } from "./memfs.js";

log.setLevel("off");

async function fresh(fs: FileSystemBase, init: boolean): Promise<FuseServer> {
  const server = new FuseServer(fs);
  if (init) await server.handle(encodeRequestBytes(initReq()), new MessageReply(() => {}));
  return server;
}

test("fuzz: random and mutated requests never throw or hang, and get exactly one valid reply", async () => {
  const memfs = new MemFs();
  memfs.add(1n, "file", Mode.S_IFREG | 0o644, new Uint8Array(100));
  memfs.add(1n, "dir", Mode.S_IFDIR | 0o755);
  const servers = [await fresh(new FileSystemBase(), false), await fresh(new FileSystemBase(), true), await fresh(memfs, true)];
  await fc.assert(
    fc.asyncProperty(anyRequest, async (raw) => {
      const bytes = defuse(raw);
      for (const [i, server] of servers.entries()) {
        // Keep the initialized servers initialized (the input may have been a DESTROY).
        if (i > 0 && server.negotiated === null) await server.handle(encodeRequestBytes(initReq()), new MessageReply(() => {}));
        const replies: Uint8Array[] = [];
        await within(server.handle(bytes.slice(), new MessageReply((m) => void replies.push(m.slice()))), 2000);
        checkReplies(bytes, replies, `, server ${i}`);
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
