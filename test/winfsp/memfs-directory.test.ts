/**
 * MemoryFileSystem: ReadDirectory (dot entries, order, patterns, markers,
 * byte budgets) and GetDirInfoByName, on the querydir-test trees.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { FileAttribute } from "../../src/windows/attributes.js";
import { dirInfoPackedSize } from "../../src/winfsp/fsctl.js";
import { create, fails, listAll, newFs, ok, open, remove, touch } from "./memfs-helpers.js";

const LONG = "fileABCDEFGHIJKLMNOPQRSTUVXWYZfile";

async function querydirTree() {
  const { fs, clock } = newFs({ maxFileNodes: 2048 });
  for (let i = 1; i <= 10; i++) await touch(fs, `\\dir${i}`, { directory: true });
  for (let i = 1; i <= 400; i++) await touch(fs, `\\${LONG}${i}`);
  for (let i = 1; i <= 100; i++) await touch(fs, `\\dir5\\file${i}`);
  return { fs, clock };
}

const sum = (names: string[], prefix: string): number =>
  names.reduce((n, name) => n + Number(name.slice(prefix.length)), 0);

test("the root lists its 410 children and no dot entries", async () => {
  const { fs } = await querydirTree();
  const names = await listAll(fs, await open(fs, "\\"));
  assert.equal(names.length, 410);
  assert.ok(names.every((n) => n.startsWith("file") || n.startsWith("dir")));
});

test("a subdirectory lists . and .. first, then its children; 102 entries summing to 5050", async () => {
  const { fs } = await querydirTree();
  const dir5 = await open(fs, "\\dir5");
  const chunk = ok(await fs.readDirectory(dir5, null, null, 1 << 20));
  assert.equal(chunk.endOfDirectory, true);
  const [dot, dotdot, ...rest] = chunk.entries;
  assert.equal(dot!.fileName, ".");
  assert.equal(dotdot!.fileName, "..");
  assert.ok((dot!.fileInfo.fileAttributes & FileAttribute.FILE_ATTRIBUTE_DIRECTORY) !== 0);
  assert.equal(dot!.fileInfo.indexNumber, ok(await fs.getFileInfo(dir5)).indexNumber);
  assert.equal(dotdot!.fileInfo.indexNumber, ok(await fs.getFileInfo(await open(fs, "\\"))).indexNumber);
  assert.equal(rest.length, 100);
  assert.ok(rest.every((e) => (e.fileInfo.fileAttributes & FileAttribute.FILE_ATTRIBUTE_DIRECTORY) === 0));
  assert.equal(sum(rest.map((e) => e.fileName), "file"), 5050);
});

test("entries come in ordinal order and resume strictly after the marker, under any byte budget", async () => {
  const { fs } = await querydirTree();
  const dir5 = await open(fs, "\\dir5");
  const whole = await listAll(fs, dir5, null, 1 << 20);
  const sorted = whole.slice(2).slice().sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  assert.deepEqual(whole.slice(2), sorted);
  for (const budget of [dirInfoPackedSize("file100"), 200, 1000, 4096]) {
    assert.deepEqual(await listAll(fs, dir5, null, budget), whole, `budget ${budget}`);
  }
  const afterDot = ok(await fs.readDirectory(dir5, null, ".", 1 << 20)).entries.map((e) => e.fileName);
  assert.deepEqual(afterDot, whole.slice(1));
  const afterDotDot = ok(await fs.readDirectory(dir5, null, "..", 1 << 20)).entries.map((e) => e.fileName);
  assert.deepEqual(afterDotDot, whole.slice(2));
  const afterLast = ok(await fs.readDirectory(dir5, null, whole[whole.length - 1]!, 1 << 20));
  assert.deepEqual(afterLast.entries, []);
  assert.equal(afterLast.endOfDirectory, true);
});

test("a budget too small for the next entry answers nothing and no end; the terminator needs its own 2 bytes", async () => {
  const { fs } = newFs();
  await touch(fs, "\\a");
  const root = await open(fs, "\\");
  const none = ok(await fs.readDirectory(root, null, null, 50));
  assert.deepEqual(none, { entries: [], endOfDirectory: false });
  const one = ok(await fs.readDirectory(root, null, null, dirInfoPackedSize("a")));
  assert.equal(one.entries.length, 1);
  assert.equal(one.endOfDirectory, false);
  const end = ok(await fs.readDirectory(root, null, "a", 2));
  assert.deepEqual(end, { entries: [], endOfDirectory: true });
});

test("a marker that no longer exists still resumes after its place (entries deleted mid-listing)", async () => {
  const { fs } = newFs();
  for (const n of ["a", "b", "c", "d"]) await touch(fs, `\\${n}`);
  const root = await open(fs, "\\");
  const first = ok(await fs.readDirectory(root, null, null, dirInfoPackedSize("a") * 2));
  assert.deepEqual(first.entries.map((e) => e.fileName), ["a", "b"]);
  await remove(fs, "\\b");
  await touch(fs, "\\a1");
  const next = ok(await fs.readDirectory(root, null, "b", 1 << 16));
  assert.deepEqual(next.entries.map((e) => e.fileName), ["c", "d"]);
});

test("patterns filter the listing with FsRtlIsNameInExpression semantics (dots excluded by dir*)", async () => {
  const { fs } = await querydirTree();
  const root = await open(fs, "\\");
  const dirs = await listAll(fs, root, "dir*");
  assert.equal(dirs.length, 10);
  assert.equal(sum(dirs, "dir"), 55);
  const files = await listAll(fs, root, "file*");
  assert.equal(files.length, 400);
  assert.equal(sum(files, LONG), 80200);
  assert.deepEqual(await listAll(fs, root, "DOES-NOT-EXIST*"), []);
  const dir5 = await open(fs, "\\dir5");
  assert.deepEqual(await listAll(fs, dir5, "file1?"), ["file10", ...Array.from({ length: 9 }, (_, i) => `file1${i + 1}`)].sort());
  assert.deepEqual((await listAll(fs, dir5, "*")).slice(0, 2), [".", ".."]);
  assert.deepEqual(await listAll(fs, dir5, "<"), (await listAll(fs, dir5)).slice(2), "DOS_STAR matches no dot entry");
});

test("case-insensitive volumes list in upper-cased order with stored names, and match patterns ignoring case", async () => {
  const { fs } = newFs({ caseInsensitive: true });
  for (const n of ["b", "A", "c", "_x"]) await touch(fs, `\\${n}`);
  const root = await open(fs, "\\");
  assert.deepEqual(await listAll(fs, root), ["A", "b", "c", "_x"]);
  assert.deepEqual(await listAll(fs, root, "B"), ["b"]);
  const cs = newFs().fs;
  for (const n of ["b", "A", "c", "_x"]) await touch(cs, `\\${n}`);
  assert.deepEqual(await listAll(cs, await open(cs, "\\")), ["A", "_x", "b", "c"]);
  assert.deepEqual(await listAll(cs, await open(cs, "\\"), "B"), []);
});

test("names sorting before the dot entries are not lost after a .. marker", async () => {
  const { fs } = newFs();
  await touch(fs, "\\d", { directory: true });
  for (const n of ["!bang", "#hash", "-dash", "zed"]) await touch(fs, `\\d\\${n}`);
  const d = await open(fs, "\\d");
  assert.deepEqual(await listAll(fs, d, null, dirInfoPackedSize("-dash")), [".", "..", "!bang", "#hash", "-dash", "zed"]);
});

test("GetDirInfoByName answers one child with its stored name; missing is OBJECT_NAME_NOT_FOUND", async () => {
  const { fs } = newFs({ caseInsensitive: true });
  await touch(fs, "\\Dir", { directory: true });
  const f = await create(fs, "\\Dir\\MixedCase.txt");
  ok(await fs.write(f, new Uint8Array(7), 0n, false, false));
  const dir = await open(fs, "\\dir");
  const info = ok(await fs.getDirInfoByName(dir, "mixedcase.TXT"));
  assert.equal(info.fileName, "MixedCase.txt");
  assert.equal(info.fileInfo.fileSize, 7n);
  fails(await fs.getDirInfoByName(dir, "nothing"), "STATUS_OBJECT_NAME_NOT_FOUND");
  fails(await fs.getDirInfoByName(f, "x"), "STATUS_NOT_A_DIRECTORY");
  fails(await fs.readDirectory(f, null, null, 4096), "STATUS_NOT_A_DIRECTORY");
});

test("directory times change when a child is added or removed (MEMFS touches the parent)", async () => {
  const { fs, clock } = newFs();
  const d = await create(fs, "\\d", { directory: true });
  const t = clock.advance();
  await touch(fs, "\\d\\x");
  assert.equal(ok(await fs.getFileInfo(d)).lastWriteTime, t);
  const t2 = clock.advance();
  await remove(fs, "\\d\\x");
  assert.equal(ok(await fs.getFileInfo(d)).changeTime, t2);
});
