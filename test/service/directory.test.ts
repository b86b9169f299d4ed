/**
 * Directories and names through the service against both backends:
 * ReadDirectory (dots first, stable order, markers, patterns, paging,
 * resumable), GetDirInfoByName, Rename, host names Windows cannot spell, and
 * the case-insensitive mode (case-preserving, refusing case variants, a
 * per-directory name index instead of a READDIR scan per miss).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FileAttribute } from "../../src/windows/attributes.js";
import { AccessMask } from "../../src/windows/security.js";
import { CleanupFlag } from "../../src/winfsp/constants.js";
import { dirInfoPackedSize } from "../../src/winfsp/fsctl.js";
import type { DirInfo, DirectoryChunk } from "../../src/winfsp/interface.js";
import type { FuseFileContext, FuseWindowsFileSystem } from "../../src/service/fuse-fs.js";
import { FACTORIES, closeFile, create, createRequest, fails, mount, ok, open } from "./helpers.js";

const A = FileAttribute;

/** Every entry of a directory, paged by `length` bytes, with markers. */
async function listAll(fs: FuseWindowsFileSystem, ctx: FuseFileContext, length: number, pattern: string | null = null): Promise<{ entries: DirInfo[]; calls: number }> {
  const entries: DirInfo[] = [];
  let marker: string | null = null;
  for (let calls = 1; ; calls++) {
    const chunk: DirectoryChunk = ok(await fs.readDirectory(ctx, pattern, marker, length));
    entries.push(...chunk.entries);
    if (chunk.endOfDirectory) return { entries, calls };
    assert.ok(chunk.entries.length > 0, "a chunk that is not the end carries entries");
    marker = chunk.entries[chunk.entries.length - 1]!.fileName;
  }
}

for (const factory of FACTORIES) {
  describe(`service over ${factory.name}: directories and names`, () => {
    test("ReadDirectory: dots first, ordinal order, FileInfo per entry, paging with markers, patterns, resumable; GetDirInfoByName", async (t) => {
      const m = await mount(t, factory);
      mkdirSync(m.host("\\d"));
      const names = Array.from({ length: 40 }, (_, i) => `f${String(i).padStart(2, "0")}`);
      for (const n of names) writeFileSync(m.host(`\\d\\${n}`), n);
      mkdirSync(m.host("\\d\\Sub"));
      writeFileSync(m.host("\\d\\B"), "");
      const expected = [".", "..", "B", "Sub", ...names];

      const ctx = await open(m.fs, "\\d");
      m.counter.reset();
      const all = ok(await m.fs.readDirectory(ctx, null, null, 1 << 16));
      assert.equal(all.endOfDirectory, true);
      assert.deepEqual(all.entries.map((e) => e.fileName), expected);
      assert.equal(m.counter.count("LOOKUP"), 0, "READDIRPLUS brought every entry; no LOOKUP per entry");
      const byName = new Map(all.entries.map((e) => [e.fileName, e.fileInfo]));
      assert.equal(byName.get("Sub")!.fileAttributes, A.FILE_ATTRIBUTE_DIRECTORY);
      assert.equal(byName.get("f07")!.fileSize, 3n);
      assert.equal(byName.get("f07")!.indexNumber, statSync(m.host("\\d\\f07"), { bigint: true }).ino);
      assert.equal(byName.get("..")!.fileAttributes & A.FILE_ATTRIBUTE_DIRECTORY, A.FILE_ATTRIBUTE_DIRECTORY);
      const f07 = await open(m.fs, "\\d\\f07", AccessMask.FILE_READ_ATTRIBUTES);
      assert.deepEqual(byName.get("f07"), ok(await m.fs.getFileInfo(f07)), "a listing shows what GetFileInfo shows");
      await closeFile(m.fs, f07);

      const paged = await listAll(m.fs, ctx, 3 * dirInfoPackedSize("f00"));
      assert.deepEqual(paged.entries.map((e) => e.fileName), expected);
      assert.ok(paged.calls >= 14);
      const tooSmall = ok(await m.fs.readDirectory(ctx, null, null, 50));
      assert.deepEqual(tooSmall, { entries: [], endOfDirectory: false });

      const other = await open(m.fs, "\\d");
      const resumed = ok(await m.fs.readDirectory(other, null, "f10", 1 << 16));
      assert.deepEqual(resumed.entries.map((e) => e.fileName), names.slice(11), "a marker resumes in a new context");
      const afterDots = ok(await m.fs.readDirectory(other, null, "..", 1 << 16));
      assert.equal(afterDots.entries[0]!.fileName, "B");
      await closeFile(m.fs, other);

      const matched = await listAll(m.fs, ctx, 1 << 16, "f1*");
      assert.deepEqual(matched.entries.map((e) => e.fileName), names.slice(10, 20));
      const none = ok(await m.fs.readDirectory(ctx, "zzz*", null, 1 << 16));
      assert.deepEqual(none, { entries: [], endOfDirectory: true });

      // A new scan sees host changes; an entry gone since the snapshot is left out.
      writeFileSync(m.host("\\d\\late"), "");
      const rescan = ok(await m.fs.readDirectory(ctx, null, null, 1 << 16));
      assert.ok(rescan.entries.some((e) => e.fileName === "late"));
      const { rmSync } = await import("node:fs");
      rmSync(m.host("\\d\\f30"));
      m.fs.invalidateCaches();
      const tail = ok(await m.fs.readDirectory(ctx, null, "f29", 1 << 16));
      assert.equal(tail.entries[0]!.fileName, "f31");

      const dirInfo = ok(await m.fs.getDirInfoByName(ctx, "f05"));
      assert.equal(dirInfo.fileName, "f05");
      assert.equal(dirInfo.fileInfo.fileSize, 3n);
      fails(await m.fs.getDirInfoByName(ctx, "F05"), "STATUS_OBJECT_NAME_NOT_FOUND");
      fails(await m.fs.getDirInfoByName(ctx, "nope"), "STATUS_OBJECT_NAME_NOT_FOUND");
      const file = await open(m.fs, "\\d\\f01", AccessMask.FILE_READ_ATTRIBUTES);
      fails(await m.fs.getDirInfoByName(file, "x"), "STATUS_NOT_A_DIRECTORY");
      fails(await m.fs.readDirectory(file, null, null, 4096), "STATUS_NOT_A_DIRECTORY");
      await closeFile(m.fs, file);
      await closeFile(m.fs, ctx);

      const root = await open(m.fs, "\\");
      const rootList = ok(await m.fs.readDirectory(root, null, null, 1 << 16));
      assert.deepEqual(rootList.entries.map((e) => e.fileName), ["d"], "the root has no dot entries");
      await closeFile(m.fs, root);
    });

    test("host names Windows cannot spell: forbidden characters as U+F000+c both ways, invalid UTF-8 left out", async (t) => {
      const m = await mount(t, factory);
      mkdirSync(m.host("\\n"));
      writeFileSync(m.host("\\n\\a:b"), "colon");
      writeFileSync(m.host("\\n\\why?"), "question");
      writeFileSync(Buffer.concat([Buffer.from(join(m.backend.dir, "n") + "/bad"), Buffer.from([0xff, 0xfe])]), "latin1");
      const ctx = await open(m.fs, "\\n");
      const listed = ok(await m.fs.readDirectory(ctx, null, null, 1 << 16)).entries.map((e) => e.fileName);
      assert.deepEqual(listed, [".", "..", "a\uf03ab", "why\uf03f"]);
      const colon = await open(m.fs, "\\n\\a\uf03ab");
      const buffer = new Uint8Array(16);
      assert.equal(ok(await m.fs.read(colon, buffer, 0n)), 5);
      await closeFile(m.fs, colon);
      const made = await create(m.fs, "\\n\\new\uf03cmapped\uf03e");
      assert.ok(existsSync(m.host("\\n\\new<mapped>")), "mapped back to the host character");
      await closeFile(m.fs, made.fileContext);
      fails(await m.fs.createEx(createRequest("\\n\\slash\uf02f")), "STATUS_OBJECT_NAME_INVALID");
      fails(await m.fs.createEx(createRequest("\\n\\lone\ud800")), "STATUS_OBJECT_NAME_INVALID");
      await closeFile(m.fs, ctx);
    });

    test("Rename: within and across directories, collisions, replace, directory targets, bad targets; open handles follow", async (t) => {
      const m = await mount(t, factory);
      mkdirSync(m.host("\\a"));
      mkdirSync(m.host("\\b"));
      writeFileSync(m.host("\\a\\one"), "one");
      writeFileSync(m.host("\\a\\two"), "two");
      mkdirSync(m.host("\\a\\sub"));
      writeFileSync(m.host("\\a\\sub\\child"), "child");

      const one = await open(m.fs, "\\a\\one");
      ok(await m.fs.rename(one, "\\a\\one", "\\b\\uno", false));
      assert.equal(readFileSync(m.host("\\b\\uno"), "utf8"), "one");
      assert.equal(existsSync(m.host("\\a\\one")), false);
      assert.equal(ok(await m.fs.write(one, Buffer.from("ONE"), 0n, false, false)).bytesTransferred, 3, "the handle still works");
      assert.equal(readFileSync(m.host("\\b\\uno"), "utf8"), "ONE");
      fails(await m.fs.rename(one, "\\b\\uno", "\\a\\two", false), "STATUS_OBJECT_NAME_COLLISION");
      ok(await m.fs.rename(one, "\\b\\uno", "\\a\\two", true));
      assert.equal(readFileSync(m.host("\\a\\two"), "utf8"), "ONE");
      assert.equal(existsSync(m.host("\\b\\uno")), false);
      fails(await m.fs.rename(one, "\\a\\two", "\\a\\sub", true), "STATUS_ACCESS_DENIED");
      fails(await m.fs.rename(one, "\\a\\two", "\\missing\\x", false), "STATUS_OBJECT_PATH_NOT_FOUND");
      fails(await m.fs.rename(one, "\\a\\two", `\\a\\x\uf03aviofs-${"C".repeat(32)}`, false), "STATUS_OBJECT_NAME_INVALID");
      fails(await m.fs.rename(one, "\\a\\two", "\\a\\two:s", false), "STATUS_INVALID_PARAMETER");
      ok(await m.fs.rename(one, "\\a\\two", "\\a\\Two", false));
      assert.deepEqual(readdirSync(m.host("\\a")).sort(), ["Two", "sub"], "a case-only rename");
      ok(await m.fs.rename(one, "\\a\\Two", "\\a\\Two", false));
      await closeFile(m.fs, one);

      const child = await open(m.fs, "\\a\\sub\\child");
      const sub = await open(m.fs, "\\a\\sub");
      fails(await m.fs.rename(sub, "\\a\\sub", "\\a\\sub\\inside", false), "STATUS_INVALID_PARAMETER");
      ok(await m.fs.rename(sub, "\\a\\sub", "\\b\\moved", false));
      assert.ok(existsSync(m.host("\\b\\moved\\child")));
      const buffer = new Uint8Array(16);
      assert.equal(ok(await m.fs.read(child, buffer, 0n)), 5, "a child's handle survives its directory's rename");
      const viaNew = await open(m.fs, "\\b\\moved\\child", AccessMask.FILE_READ_ATTRIBUTES);
      await closeFile(m.fs, viaNew);
      fails(await m.fs.open({ fileName: "\\a\\sub\\child", createOptions: 1 << 24, grantedAccess: 0x80 }), "STATUS_OBJECT_PATH_NOT_FOUND");
      await closeFile(m.fs, child);
      await closeFile(m.fs, sub);

      const s = await create(m.fs, "\\b\\moved:str");
      fails(await m.fs.rename(s.fileContext, "\\b\\moved:str", "\\b\\x", false), "STATUS_INVALID_PARAMETER");
      await closeFile(m.fs, s.fileContext);
      const root = await open(m.fs, "\\");
      fails(await m.fs.rename(root, "\\", "\\x", false), "STATUS_INVALID_PARAMETER");
      await closeFile(m.fs, root);
    });

    test("case-insensitive: case preserved, wrong-case names find the stored one, create/mkdir/rename refuse variants", async (t) => {
      const m = await mount(t, factory, { caseInsensitive: true });
      assert.equal(m.fs.volumeParams.caseSensitiveSearch, false);
      const dir = await create(m.fs, "\\Dir", { directory: true });
      assert.equal(dir.normalizedName, "\\Dir");
      const file = await create(m.fs, "\\dir\\File.TXT");
      assert.equal(file.normalizedName, "\\Dir\\File.TXT", "the parent's stored case");
      assert.deepEqual(readdirSync(m.host("\\Dir")), ["File.TXT"]);
      await closeFile(m.fs, file.fileContext);

      const opened = ok(await m.fs.open({ fileName: "\\DIR\\file.txt", createOptions: 1 << 24, grantedAccess: AccessMask.FILE_GENERIC_READ }));
      assert.equal(opened.normalizedName, "\\Dir\\File.TXT");
      await closeFile(m.fs, opened.fileContext);

      fails(await m.fs.createEx(createRequest("\\DIR")), "STATUS_OBJECT_NAME_COLLISION");
      fails(await m.fs.createEx(createRequest("\\dir\\FILE.txt")), "STATUS_OBJECT_NAME_COLLISION");
      assert.deepEqual(readdirSync(m.backend.dir), ["Dir"], "no duplicate directory (virtio-win issue #1620)");

      const other = await create(m.fs, "\\Dir\\other");
      fails(await m.fs.rename(other.fileContext, "\\Dir\\other", "\\DIR\\file.txt", false), "STATUS_OBJECT_NAME_COLLISION");
      ok(await m.fs.rename(other.fileContext, "\\Dir\\other", "\\DIR\\FILE.txt", true));
      assert.deepEqual(readdirSync(m.host("\\Dir")), ["FILE.txt"], "the replaced variant takes the new spelling");
      ok(await m.fs.rename(other.fileContext, "\\Dir\\FILE.txt", "\\Dir\\file.TXT", false));
      assert.deepEqual(readdirSync(m.host("\\Dir")), ["file.TXT"], "a case-only rename of the same file");

      const info = ok(await m.fs.getDirInfoByName(dir.fileContext, "FILE.TXT"));
      assert.equal(info.fileName, "file.TXT");
      const listed = ok(await m.fs.readDirectory(dir.fileContext, "*.txt", null, 1 << 16));
      assert.deepEqual(listed.entries.map((e) => e.fileName), ["file.TXT"], "patterns match case-insensitively");

      await m.fs.cleanup(other.fileContext, "\\DIR\\FILE.TXT", CleanupFlag.Delete);
      await m.fs.close(other.fileContext);
      assert.deepEqual(readdirSync(m.host("\\Dir")), [], "deleted through a wrong-case name");
      await closeFile(m.fs, dir.fileContext);
    });

    test("case-insensitive: a wrong-case open costs O(1) requests amortised, one READDIR pass per directory change; host changes are seen", async (t) => {
      const m = await mount(t, factory, { caseInsensitive: true, maxCacheMs: 0 });
      mkdirSync(m.host("\\big"));
      const count = 300;
      for (let i = 0; i < count; i++) writeFileSync(m.host(`\\big\\Name${i}`), "");
      m.counter.reset();
      for (let i = 0; i < count; i++) {
        const r = ok(await m.fs.open({ fileName: `\\BIG\\nAME${i}`, createOptions: 1 << 24, grantedAccess: AccessMask.FILE_READ_ATTRIBUTES }));
        assert.equal(r.normalizedName, `\\big\\Name${i}`);
        await closeFile(m.fs, r.fileContext);
      }
      assert.equal(m.fs.stats.caseIndexBuilds, 2, "one index for the root, one for \\big");
      assert.ok(m.counter.count("READDIR") <= 4, `READDIR requests: ${m.counter.count("READDIR")}`);
      const perOpen = m.counter.total() / count;
      t.diagnostic(`${perOpen.toFixed(2)} requests per wrong-case open, ${m.counter.count("READDIR")} READDIR in all`);
      assert.ok(perOpen <= 12, `${perOpen} requests per wrong-case open`);

      // Our own changes keep the index; a host change rebuilds it once.
      for (let i = 0; i < 5; i++) await closeFile(m.fs, (await create(m.fs, `\\big\\Mine${i}`)).fileContext);
      fails(await m.fs.createEx(createRequest("\\big\\MINE3")), "STATUS_OBJECT_NAME_COLLISION");
      const mine = await open(m.fs, "\\big\\mine4", AccessMask.FILE_READ_ATTRIBUTES);
      await closeFile(m.fs, mine);
      assert.equal(m.fs.stats.caseIndexBuilds, 2, "no rebuild after our own creates");
      await new Promise((r) => setTimeout(r, 20));
      writeFileSync(m.host("\\big\\FromHost"), "");
      const seen = ok(await m.fs.open({ fileName: "\\big\\fromhost", createOptions: 1 << 24, grantedAccess: AccessMask.FILE_READ_ATTRIBUTES }));
      assert.equal(seen.normalizedName, "\\big\\FromHost");
      await closeFile(m.fs, seen.fileContext);
      assert.equal(m.fs.stats.caseIndexBuilds, 3, "one rebuild after the host change");
      fails(await m.fs.open({ fileName: "\\big\\absent", createOptions: 1 << 24, grantedAccess: 0x80 }), "STATUS_OBJECT_NAME_NOT_FOUND");
    });
  });
}
