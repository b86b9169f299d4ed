/**
 * Request budgets of the hot paths, counted on the wire (CountingTransport)
 * while Win32 programs drive the service through the emulated FSD, against
 * both backends:
 *
 * - listing an N-entry directory with FindFirstFileW/FindNextFileW (4 KiB
 *   queries, so dozens of ReadDirectory calls with markers) reads the
 *   directory in one READDIRPLUS pass and asks for each entry's Windows
 *   metadata at most once; a second listing while the names are cached
 *   asks for none;
 * - ReadFile and WriteFile of 1 MiB send READ and WRITE only (no STATX,
 *   GETXATTR or LISTXATTR per call), several at once outside the baseline,
 *   one at a time under it.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as W from "../../src/win32/index.js";
import type { FuseWindowsOptions } from "../../src/service/options.js";
import { createIdMap } from "../../src/windows/ntacl.js";
import { formatSid } from "../../src/windows/security.js";
import { PART_SIZE } from "../../src/service/data-io.js";
import { FACTORIES, mount, type Mounted } from "./helpers.js";

const MiB = 1 << 20;

/** As the benchmark mounts it: case-insensitive, the host owner mapped to the administrator the Win32 process runs as. */
function win32Options(more: FuseWindowsOptions = {}): FuseWindowsOptions {
  const token = W.AccessToken.administrator();
  const idMap = createIdMap({
    users: [[process.getuid!(), formatSid(token.user)]],
    groups: [[process.getgid!(), formatSid(token.primaryGroup)]],
  });
  return { caseInsensitive: true, idMap, ...more };
}

/** Mounts the service at drive `drive` of a fresh emulated Win32 process; unmounted at the test's end. */
function win32Drive(t: { after(fn: () => unknown): void }, m: Mounted, drive: string): void {
  W.setCurrentProcess(new W.Win32Process());
  const volume = W.Volume.over(m.fs);
  volume.mount(drive);
  t.after(() => volume.unmount().catch(() => undefined));
}

/** Every name FindFirstFileW/FindNextFileW give for `pattern`. */
async function findAll(pattern: string): Promise<string[]> {
  const first = await W.FindFirstFileW(pattern);
  const names = [first.FindFileData.cFileName];
  try {
    for (;;) {
      try {
        names.push((await W.FindNextFileW(first.hFindFile)).cFileName);
      } catch (e) {
        if (W.Win32Error.is(e) && e.code === W.ERROR_NO_MORE_FILES) break;
        throw e;
      }
    }
  } finally {
    await W.FindClose(first.hFindFile);
  }
  return names;
}

/** The counts of the opcodes sent since the last reset, for messages. */
function counts(m: Mounted): string {
  return JSON.stringify(Object.fromEntries([...m.counter.counts].sort()));
}

for (const factory of FACTORIES) {
  describe(`service over ${factory.name}: request budgets`, () => {
    test("FindFirstFileW/FindNextFileW over N entries: one READDIRPLUS pass, Windows metadata at most once per entry", async (t) => {
      // Names and attributes cached briefly, so the second listing comes after they expired.
      const m = await mount(t, factory, win32Options({ maxCacheMs: 100 }));
      const N = 1000;
      mkdirSync(m.host("\\list"));
      for (let i = 0; i < N; i++) writeFileSync(m.host(`\\list\\Entry-${String(i).padStart(4, "0")}.Dat`), "x".repeat(i));
      win32Drive(t, m, "R:");

      m.counter.reset();
      const names = await findAll("R:\\list\\*");
      assert.equal(names.length, N + 2, "every entry and the dots");
      assert.equal(names[2], "Entry-0000.Dat");
      const firstPass = counts(m);
      // One pass: one OPENDIR, and READDIRPLUS pages of many entries each (not one pass per query).
      const pages = Math.ceil(N / 100) + 2;
      assert.equal(m.counter.count("OPENDIR"), 1, `one pass: ${firstPass}`);
      assert.ok(m.counter.count("READDIRPLUS") + m.counter.count("READDIR") <= pages, `one READDIRPLUS pass: ${firstPass}`);
      assert.ok(m.counter.count("LOOKUP") <= 4, `READDIRPLUS brought the entries; no LOOKUP per entry: ${firstPass}`);
      assert.ok(m.counter.count("LISTXATTR") <= N + 4, `LISTXATTR at most once per entry: ${firstPass}`);
      assert.ok(m.counter.count("GETXATTR") <= N + 4, `GETXATTR at most once per entry: ${firstPass}`);
      assert.ok(m.counter.total() <= 3 * N, `${m.counter.total()} requests for ${N} entries: ${firstPass}`);

      await new Promise((r) => setTimeout(r, 300));
      m.counter.reset();
      assert.equal((await findAll("R:\\list\\*")).length, N + 2);
      const again = counts(m);
      assert.equal(m.counter.count("OPENDIR"), 1, `again one pass: ${again}`);
      assert.ok(m.counter.count("READDIRPLUS") + m.counter.count("READDIR") <= pages, `again one pass: ${again}`);
      assert.ok(m.counter.count("LISTXATTR") + m.counter.count("GETXATTR") <= 8, `unchanged entries need no metadata requests: ${again}`);
      assert.ok(m.counter.total() <= pages + 16, `listing an unchanged directory again is a READDIRPLUS pass: ${again}`);
    });

    for (const baseline of [false, true]) {
      const what = baseline
        ? "under the virtio-win baseline: one request at a time, in its chunks"
        : "send READ and WRITE only, several in flight";
      test(`ReadFile and WriteFile of 1 MiB ${what}`, async (t) => {
        const m = await mount(t, factory, win32Options(baseline ? { baseline: "virtio-win" } : {}));
        const data = Buffer.alloc(4 * MiB);
        for (let i = 0; i < data.length; i += 4) data.writeUInt32LE((i * 2654435761) >>> 0, i);
        writeFileSync(m.host("\\src.bin"), data);
        win32Drive(t, m, baseline ? "U:" : "S:");
        const drive = baseline ? "U:" : "S:";

        const src = await W.CreateFileW(`${drive}\\src.bin`, W.GENERIC_READ, W.FILE_SHARE_READ, null, W.OPEN_EXISTING, W.FILE_FLAG_SEQUENTIAL_SCAN);
        const dst = await W.CreateFileW(`${drive}\\dst.bin`, W.GENERIC_WRITE, 0, null, W.CREATE_ALWAYS, W.FILE_FLAG_SEQUENTIAL_SCAN);
        try {
          // The first block of each may open or refresh; the steady state is what is counted.
          const block = await W.ReadFile(src, MiB);
          assert.equal(await W.WriteFile(dst, block), MiB);
          m.counter.reset();
          for (let i = 1; i < 4; i++) {
            const b = await W.ReadFile(src, MiB);
            assert.equal(b.length, MiB);
            assert.equal(await W.WriteFile(dst, b), MiB);
          }
          const seen = counts(m);
          const info = m.session.info;
          if (baseline) {
            assert.equal(m.counter.peakInFlight, 1, `one request in flight: ${seen}`);
            // virtio-win reads max_pages × 4 KiB and writes max_write at a time, and asks for the attributes after each write.
            assert.equal(m.counter.count("READ"), 3 * Math.ceil(MiB / Math.min(info.maxPages * 4096, info.maxRead)), seen);
            assert.equal(m.counter.count("WRITE"), 3 * Math.ceil(MiB / info.maxWrite), seen);
          } else {
            const io = m.counter.count("READ") + m.counter.count("WRITE");
            assert.equal(m.counter.total(), io, `only READ and WRITE: ${seen}`);
            assert.equal(m.counter.count("READ"), 3 * Math.ceil(MiB / Math.min(PART_SIZE, info.maxRead)), seen);
            assert.equal(m.counter.count("WRITE"), 3 * Math.ceil(MiB / Math.min(PART_SIZE, info.maxWrite)), seen);
            assert.ok(m.counter.peakInFlight > 1, `the parts of a block travel together: ${m.counter.peakInFlight} at most`);
          }
          assert.equal((await W.ReadFile(src, MiB)).length, 0, "end of file");
          const size = await W.GetFileSizeEx(dst);
          assert.equal(size, BigInt(data.length), "the size the writes made");
        } finally {
          await W.CloseHandle(src);
          await W.CloseHandle(dst);
        }
        assert.deepEqual(readFileSync(m.host("\\dst.bin")), data, "the copy is exact");
      });
    }
  });
}
