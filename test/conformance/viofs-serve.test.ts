/**
 * The whole conformance suite on `viofs serve --xattr` through the guest
 * driver and the Windows service, inside `npm test` (about a minute; the
 * C virtiofsd column runs in `npm run conformance`).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as W from "../../src/win32/index.js";
import { viofsServeBackend } from "./backends.js";
import { allTests, runTest } from "./suite.js";

describe("winfsp-tests on viofs serve --xattr, through the service", () => {
  let volume: W.Volume;
  let close: () => Promise<void>;
  before(async () => {
    W.setCurrentProcess(new W.Win32Process());
    ({ volume, close } = await viofsServeBackend.open());
    volume.mount("V:");
  });
  after(async () => {
    await volume.unmount();
    await close();
  });
  for (const t of allTests) {
    it(t.name, async () => {
      const r = await runTest(t, "viofs-serve", volume);
      assert.ok(r.passed, r.error);
      // Every conditional body runs on this backend too.
      assert.equal(r.notes, undefined, r.notes?.join("; "));
    });
  }
});
