/**
 * Property: whatever the driver writes into the descriptor table, an indirect
 * table and the available ring, `pop()` only ever throws ProtocolErrors,
 * every view it yields lies inside one memory region (guard bytes around the
 * regions stay intact), a bad chain is always answered with a zero-length
 * used element or the ring is broken and stays quiet, and a good chain is
 * still served afterwards. The scenario and checks live in
 * fuzz/props/virtqueue.ts, which `npm run fuzz` runs a million times; this is
 * the bounded run.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { checkScenario, scenario, type ScenarioCounts } from "../../fuzz/props/virtqueue.js";

test("property: arbitrary descriptor tables and available rings never escape ProtocolError or memory", () => {
  const counts: ScenarioCounts = { chains: 0, errors: 0, broken: 0, servedAfter: 0 };
  fc.assert(
    fc.property(scenario, (s) => checkScenario(s, counts)),
    { numRuns: 2000 },
  );
  assert.ok(counts.chains > 100, `only ${counts.chains} valid chains generated`);
  assert.ok(counts.errors > 100, `only ${counts.errors} errors generated`);
  assert.ok(counts.servedAfter > 100, `only ${counts.servedAfter} scenarios checked a later good chain`);
});
