/**
 * The whole conformance suite (every winfsp-tests test of external mode,
 * optional ones included) on the in-memory reference file system, inside
 * `npm test`.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as W from "../../src/win32/index.js";
import { allTests, runTest } from "./suite.js";

describe("winfsp-tests on the in-memory reference (Volume.memory)", () => {
  let volume: W.Volume;
  before(() => {
    W.setCurrentProcess(new W.Win32Process());
    volume = W.Volume.memory({ drive: "M:" });
  });
  after(async () => {
    await volume.unmount();
  });
  for (const t of allTests) {
    it(t.name, async () => {
      const r = await runTest(t, "memfs", volume);
      assert.ok(r.passed, r.error);
      // The reference advertises everything the tests can use: every body runs.
      assert.equal(r.notes, undefined, r.notes?.join("; "));
    });
  }
});
