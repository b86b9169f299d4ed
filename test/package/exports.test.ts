/**
 * The package's entry points, imported by name as a user would
 * (`viofs/win32`, `viofs/service`: Node resolves a package's own name through
 * its `exports`), and the README's example, run as written against a real
 * `viofs serve`.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { viofsServe } from "../guest/backends.js";

test("viofs/win32 and viofs/service resolve through the package's exports", async () => {
  const W = await import("viofs/win32");
  const S = await import("viofs/service");
  assert.equal(typeof W.CreateFileW, "function");
  assert.equal(typeof W.Volume.fromShare, "function");
  assert.equal(typeof S.FuseWindowsService.start, "function");
  const root = await import("viofs");
  assert.equal(typeof root.ErrnoError, "function");
});

test("the README's viofs/win32 example, against viofs serve", { timeout: 60_000 }, async (t) => {
  const backend = await viofsServe.start();
  t.after(() => backend.stop());
  const socketPath = backend.socketPath;
  const lines: string[] = [];
  const console = { log: (...a: unknown[]) => lines.push(a.join(" ")) };

  // ---- README example begins (keep the two in step) ----
  const W = await import("viofs/win32");
  const { FuseWindowsService, createIdMap } = await import("viofs/service");

  // Whose files are whose: the Windows user this program acts as owns what this Unix user owns.
  const { user, primaryGroup } = W.currentProcess().token;
  const idMap = createIdMap({
    users: [[process.getuid!(), W.formatSid(user)]],
    groups: [[process.getgid!(), W.formatSid(primaryGroup)]],
  });
  const volume = await W.Volume.fromShare(
    async () => {
      const service = await FuseWindowsService.start([{ socketPath, tag: "share", options: { caseInsensitive: true, idMap } }]);
      return { fileSystem: service.fileSystem("share"), close: () => service.stop() };
    },
    { drive: "X:" },
  );
  const h = await W.CreateFileW("X:\\Hello.txt", W.GENERIC_WRITE, 0, null, W.CREATE_ALWAYS, W.FILE_ATTRIBUTE_NORMAL);
  await W.WriteFile(h, Buffer.from("hi from Windows\r\n"));
  await W.CloseHandle(h);
  await W.SetFileAttributesW("x:\\HELLO.TXT", W.FILE_ATTRIBUTE_HIDDEN); // case-insensitive, as NTFS
  console.log((await W.GetFileAttributesW("X:\\hello.txt")) & W.FILE_ATTRIBUTE_HIDDEN ? "hidden" : "visible");
  try {
    await W.DeleteFileW("X:\\missing.txt");
  } catch (e) {
    if (!(e instanceof W.Win32Error)) throw e;
    console.log(e.code, e.name); // 2 ERROR_FILE_NOT_FOUND
  }
  await volume.unmount();
  // ---- README example ends ----

  assert.deepEqual(lines, ["hidden", "2 ERROR_FILE_NOT_FOUND"]);
  assert.equal(readFileSync(join(backend.dir, "Hello.txt"), "utf8"), "hi from Windows\r\n");
});
