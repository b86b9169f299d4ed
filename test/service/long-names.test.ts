/**
 * Long names through the service (names.ts, long-names.ts): Windows names
 * whose UTF-8 exceeds the host's 255 bytes live under a hashed host name
 * with the full name in `user.viofs:name`; lookups, listings, the case
 * index, renames both ways; what cannot be kept is
 * STATUS_OBJECT_NAME_INVALID. Both backends, and one without xattrs.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, openSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hostNameOf } from "../../src/service/names.js";
import { fsetxattr } from "../../src/sys/fs.js";
import { SYMLINK_FLAG_RELATIVE, encodeReparseBuffer } from "../../src/windows/reparse.js";
import { AccessMask } from "../../src/windows/security.js";
import type { FuseWindowsFileSystem, FuseFileContext } from "../../src/service/fuse-fs.js";
import type { DirectoryChunk } from "../../src/winfsp/interface.js";
import {
  FACTORIES,
  closeFile,
  create,
  createRequest,
  fails,
  hostXattr,
  mount,
  ok,
  open,
  startVirtiofsdWithoutXattr,
} from "./helpers.js";

/** 255 hiragana: 765 bytes of UTF-8. */
const HIRAGANA = Array.from({ length: 255 }, (_, i) => String.fromCharCode(0x3041 + (i % 86))).join("");
/** 200 × Ä: 400 bytes, with a lower-case twin. */
const UMLAUTS = "Ä".repeat(200);

function hostOf(name: string): string {
  const r = hostNameOf(name);
  assert.ok(r.ok);
  return r.value;
}

async function list(fs: FuseWindowsFileSystem, ctx: FuseFileContext): Promise<string[]> {
  const out: string[] = [];
  let marker: string | null = null;
  for (;;) {
    const chunk: DirectoryChunk = ok(await fs.readDirectory(ctx, null, marker, 4096));
    for (const e of chunk.entries) out.push(e.fileName);
    if (chunk.entries.length === 0 || chunk.endOfDirectory) return out.filter((n) => n !== "." && n !== "..");
    marker = chunk.entries[chunk.entries.length - 1]!.fileName;
  }
}

for (const factory of FACTORIES) {
  describe(`service long names on ${factory.name}`, () => {
    test("create, look up, list, nest: the full name in user.viofs:name, the hashed name on the host", async (t) => {
      const m = await mount(t, factory, { caseInsensitive: true });
      const dir = await create(m.fs, `\\${HIRAGANA}`, { directory: true });
      assert.equal(dir.normalizedName, `\\${HIRAGANA}`);
      const host = hostOf(HIRAGANA);
      assert.deepEqual(readdirSync(m.backend.dir), [host]);
      assert.deepEqual(hostXattr(join(m.backend.dir, host), "user.viofs:name"), Buffer.from(HIRAGANA, "utf8"));
      const f = await create(m.fs, `\\${HIRAGANA}\\${UMLAUTS}`);
      ok(await m.fs.write(f.fileContext, Buffer.from("data"), 0n, false, false));
      await closeFile(m.fs, f.fileContext);
      await closeFile(m.fs, dir.fileContext);
      m.fs.invalidateCaches();

      // Exact and wrong-case opens (the case index holds the full names).
      const exact = ok(await m.fs.open({ fileName: `\\${HIRAGANA}\\${UMLAUTS}`, createOptions: 1 << 24, grantedAccess: AccessMask.FILE_READ_DATA }));
      assert.equal(exact.fileInfo.fileSize, 4n);
      await closeFile(m.fs, exact.fileContext);
      const folded = ok(await m.fs.open({ fileName: `\\${HIRAGANA}\\${"ä".repeat(200)}`, createOptions: 1 << 24, grantedAccess: AccessMask.FILE_READ_DATA }));
      assert.equal(folded.normalizedName, `\\${HIRAGANA}\\${UMLAUTS}`);
      await closeFile(m.fs, folded.fileContext);
      fails(await m.fs.createEx(createRequest(`\\${HIRAGANA}\\${"ä".repeat(200)}`)), "STATUS_OBJECT_NAME_COLLISION");

      const root = await open(m.fs, "\\", AccessMask.FILE_LIST_DIRECTORY);
      assert.deepEqual(await list(m.fs, root), [HIRAGANA]);
      await closeFile(m.fs, root);
      const d = await open(m.fs, `\\${HIRAGANA}`, AccessMask.FILE_LIST_DIRECTORY);
      assert.deepEqual(await list(m.fs, d), [UMLAUTS]);
      const byName = ok(await m.fs.getDirInfoByName(d, "ä".repeat(200)));
      assert.equal(byName.fileName, UMLAUTS);
      assert.equal(byName.fileInfo.fileSize, 4n);
      await closeFile(m.fs, d);
    });

    test("rename long ↔ short ↔ long, case-only; the xattr follows; a lookalike ordinary name is refused", async (t) => {
      const m = await mount(t, factory, { caseInsensitive: true });
      const f = await create(m.fs, "\\short");
      ok(await m.fs.rename(f.fileContext, "\\short", `\\${UMLAUTS}`, false));
      assert.deepEqual(readdirSync(m.backend.dir), [hostOf(UMLAUTS)]);
      assert.deepEqual(hostXattr(join(m.backend.dir, hostOf(UMLAUTS)), "user.viofs:name"), Buffer.from(UMLAUTS, "utf8"));
      const lower = "ä".repeat(200);
      ok(await m.fs.rename(f.fileContext, `\\${UMLAUTS}`, `\\${lower}`, false));
      assert.deepEqual(readdirSync(m.backend.dir), [hostOf(lower)], "a case-only rename of a long name");
      ok(await m.fs.rename(f.fileContext, `\\${lower}`, `\\${HIRAGANA}`, false));
      assert.deepEqual(readdirSync(m.backend.dir), [hostOf(HIRAGANA)]);
      ok(await m.fs.rename(f.fileContext, `\\${HIRAGANA}`, "\\back", false));
      assert.deepEqual(readdirSync(m.backend.dir), ["back"]);
      assert.equal(hostXattr(join(m.backend.dir, "back"), "user.viofs:name"), undefined, "an ordinary name keeps no long name");
      const lookalike = `x\uf03aviofs-${"A".repeat(32)}`;
      fails(await m.fs.rename(f.fileContext, "\\back", `\\${lookalike}`, false), "STATUS_OBJECT_NAME_INVALID");
      fails(await m.fs.createEx(createRequest(`\\${lookalike}`)), "STATUS_OBJECT_NAME_INVALID");
      await closeFile(m.fs, f.fileContext);

      // Replacing an existing long name.
      const a = await create(m.fs, `\\${HIRAGANA}`);
      await closeFile(m.fs, a.fileContext);
      const b = await open(m.fs, "\\back");
      fails(await m.fs.rename(b, "\\back", `\\${HIRAGANA}`, false), "STATUS_OBJECT_NAME_COLLISION");
      ok(await m.fs.rename(b, "\\back", `\\${HIRAGANA}`, true));
      assert.deepEqual(readdirSync(m.backend.dir), [hostOf(HIRAGANA)]);
      await closeFile(m.fs, b);
    });

    test("a host file of the long form without (or with a wrong) user.viofs:name is listed by its host name", async (t) => {
      const m = await mount(t, factory);
      const host = hostOf(UMLAUTS);
      writeFileSync(join(m.backend.dir, host), "");
      const other = hostOf(HIRAGANA);
      writeFileSync(join(m.backend.dir, other), "");
      const fd = openSync(join(m.backend.dir, other), "r");
      fsetxattr(fd, "user.viofs:name", Buffer.from(UMLAUTS, "utf8"));
      closeSync(fd);
      const root = await open(m.fs, "\\", AccessMask.FILE_LIST_DIRECTORY);
      const shown = (h: string) => h.replace(":", "\uf03a");
      assert.deepEqual((await list(m.fs, root)).sort(), [shown(host), shown(other)].sort());
      await closeFile(m.fs, root);
      const byHost = await open(m.fs, `\\${shown(host)}`, AccessMask.FILE_READ_ATTRIBUTES);
      await closeFile(m.fs, byHost);
    });

    test("a symlink cannot keep a long name: STATUS_OBJECT_NAME_INVALID, nothing left behind", async (t) => {
      const m = await mount(t, factory);
      const link = encodeReparseBuffer({ kind: "symlink", substituteName: "target", printName: "target", flags: SYMLINK_FLAG_RELATIVE });
      fails(await m.fs.createEx(createRequest(`\\${UMLAUTS}`, { reparseData: link })), "STATUS_OBJECT_NAME_INVALID");
      assert.deepEqual(readdirSync(m.backend.dir), []);
      const f = await create(m.fs, `\\${HIRAGANA}`);
      fails(await m.fs.setReparsePoint(f.fileContext, `\\${HIRAGANA}`, link), "STATUS_OBJECT_NAME_INVALID");
      assert.deepEqual(readdirSync(m.backend.dir), [hostOf(HIRAGANA)], "the file stays as it was");
      assert.deepEqual(hostXattr(join(m.backend.dir, hostOf(HIRAGANA)), "user.viofs:name"), Buffer.from(HIRAGANA, "utf8"));
      await closeFile(m.fs, f.fileContext);
    });
  });
}

describe("service long names without xattrs", () => {
  test("a long name the backend cannot keep is STATUS_OBJECT_NAME_INVALID, and nothing is left behind", async (t) => {
    const m = await mount(t, startVirtiofsdWithoutXattr);
    fails(await m.fs.createEx(createRequest(`\\${HIRAGANA}`)), "STATUS_OBJECT_NAME_INVALID");
    const f = await create(m.fs, "\\plain");
    fails(await m.fs.rename(f.fileContext, "\\plain", `\\${UMLAUTS}`, false), "STATUS_OBJECT_NAME_INVALID");
    await closeFile(m.fs, f.fileContext);
    assert.deepEqual(readdirSync(m.backend.dir), ["plain"]);
  });
});
