/**
 * Bounded runs of the two `npm run fuzz` targets that have no property test
 * elsewhere: the vhost-user backend under a hostile frontend, and the guest
 * session under a hostile device (fuzz/props/vhost-user.ts and
 * fuzz/props/session.ts state the properties).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { checkSessionCase, sessionCase, type SessionCounts } from "../../fuzz/props/session.js";
import { checkVhostCase, vhostCase, type VhostCounts } from "../../fuzz/props/vhost-user.js";
import { log } from "../../src/common/log.js";

log.setLevel("off");

test("a hostile vhost-user frontend: only framing errors end the connection, refusals are ProtocolErrors, no fd leaks", async () => {
  const counts: VhostCounts = { messages: 0, refused: 0, framingEnds: 0 };
  await fc.assert(
    fc.asyncProperty(vhostCase, (c) => checkVhostCase(c, counts)),
    { numRuns: 1500 },
  );
  assert.ok(counts.refused > 500 && counts.framingEnds > 50, JSON.stringify(counts));
});

test("a hostile device's replies: session calls settle with a value, an errno or a ProtocolError; lookup counts stay exact", async () => {
  const counts: SessionCounts = { calls: 0, ok: 0, errno: 0, protocol: 0, initFailed: 0 };
  await fc.assert(
    fc.asyncProperty(sessionCase, (c) => checkSessionCase(c, counts)),
    { numRuns: 1500 },
  );
  assert.ok(counts.ok > 500 && counts.protocol > 500 && counts.errno > 100, JSON.stringify(counts));
});
