/**
 * The virtio-win baseline (FuseWindowsOptions.baseline): one request in
 * flight, no name or attribute cache, a READDIR scan per case-insensitive
 * miss, READ/WRITE in virtio-win's chunks; and the normal service for
 * contrast. Both backends.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { AccessMask } from "../../src/windows/security.js";
import { FACTORIES, closeFile, create, mount, ok, open } from "./helpers.js";

const OPEN = 1 << 24;

for (const factory of FACTORIES) {
  describe(`service baseline virtio-win on ${factory.name}`, () => {
    test("one request in flight; every open looks every component up; every wrong-case open scans the directory", async (t) => {
      const m = await mount(t, factory, { caseInsensitive: true, baseline: "virtio-win" });
      mkdirSync(m.host("\\dir"));
      const count = 40;
      for (let i = 0; i < count; i++) writeFileSync(m.host(`\\dir\\Name${i}`), "x");
      m.counter.reset();
      const opened = await Promise.all(
        Array.from({ length: count }, async (_, i) => {
          const r = ok(await m.fs.open({ fileName: `\\DIR\\nAME${i}`, createOptions: OPEN, grantedAccess: AccessMask.FILE_READ_DATA }));
          assert.equal(r.normalizedName, `\\dir\\Name${i}`);
          assert.equal(r.fileInfo.fileSize, 1n);
          return r.fileContext;
        }),
      );
      await Promise.all(opened.map((ctx) => closeFile(m.fs, ctx)));
      assert.equal(m.counter.peakInFlight, 1, "one FUSE request in flight at a time");
      // Each open: \DIR misses (scan of the root), \nAMEi misses (scan of \dir).
      assert.ok(m.counter.count("OPENDIR") >= 2 * count, `OPENDIR: ${m.counter.count("OPENDIR")} for ${count} wrong-case opens`);
      assert.equal(m.fs.stats.caseIndexBuilds, 0, "no case index");

      m.counter.reset();
      for (let i = 0; i < 3; i++) await closeFile(m.fs, await open(m.fs, "\\dir\\Name1", AccessMask.FILE_READ_ATTRIBUTES));
      assert.equal(m.counter.count("LOOKUP"), 6, "two LOOKUPs per open of \\dir\\Name1, no name cache");
      assert.equal(m.fs.stats.cachedNames, 0);
    });

    test("READ and WRITE go in virtio-win's chunks, one after another", async (t) => {
      const m = await mount(t, factory, { baseline: "virtio-win" });
      const f = await create(m.fs, "\\big");
      const size = 1 << 20;
      const data = new Uint8Array(size).map((_, i) => i * 7);
      m.counter.reset();
      const w = ok(await m.fs.write(f.fileContext, data, 0n, false, false));
      assert.equal(w.bytesTransferred, size);
      assert.equal(w.fileInfo.fileSize, BigInt(size));
      const info = m.session.info;
      assert.equal(m.counter.count("WRITE"), Math.ceil(size / info.maxWrite));
      const back = new Uint8Array(size);
      assert.equal(ok(await m.fs.read(f.fileContext, back, 0n)), size);
      assert.deepEqual(back, data);
      assert.equal(m.counter.count("READ"), Math.ceil(size / Math.min(info.maxPages * 4096, info.maxRead)));
      assert.equal(m.counter.peakInFlight, 1);
      await closeFile(m.fs, f.fileContext);
    });

    test("without the baseline, the same opens overlap and use the case index", async (t) => {
      const m = await mount(t, factory, { caseInsensitive: true });
      mkdirSync(m.host("\\dir"));
      for (let i = 0; i < 20; i++) writeFileSync(m.host(`\\dir\\Name${i}`), "x");
      m.counter.reset();
      const opened = await Promise.all(
        Array.from({ length: 20 }, async (_, i) => ok(await m.fs.open({ fileName: `\\DIR\\nAME${i}`, createOptions: OPEN, grantedAccess: 0x80 })).fileContext),
      );
      await Promise.all(opened.map((ctx) => closeFile(m.fs, ctx)));
      assert.ok(m.counter.peakInFlight > 1, `peak in flight ${m.counter.peakInFlight}`);
      assert.ok(m.counter.count("OPENDIR") <= 4, `OPENDIR: ${m.counter.count("OPENDIR")}`);
    });
  });
}
