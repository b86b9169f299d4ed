/**
 * MemoryFileSystem: named streams (create, open, info, listing, delete,
 * overwrite) and what a stream shares with its main file.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { FileAttribute } from "../../src/windows/attributes.js";
import { CleanupFlag } from "../../src/winfsp/constants.js";
import {
  ascii,
  create,
  createRaw,
  deleteAndClose,
  exists,
  fails,
  newFs,
  ok,
  open,
  openRaw,
  remove,
  touch,
} from "./memfs-helpers.js";

const A = FileAttribute;

test("a stream is created on an existing file or directory; a missing main file is NAME_NOT_FOUND", async () => {
  const { fs } = newFs();
  await touch(fs, "\\file0");
  await touch(fs, "\\dir1", { directory: true });
  const s = ok(await createRaw(fs, "\\file0:foo", { sd: null }));
  assert.equal(s.fileInfo.fileSize, 0n);
  fails(await createRaw(fs, "\\file0:foo"), "STATUS_OBJECT_NAME_COLLISION");
  fails(await createRaw(fs, "\\nothing:foo"), "STATUS_OBJECT_NAME_NOT_FOUND");
  fails(await createRaw(fs, "\\file0:bar", { directory: true }), "STATUS_NOT_A_DIRECTORY");
  ok(await createRaw(fs, "\\dir1:foo"));
  ok(await openRaw(fs, "\\file0:foo"));
  ok(await openRaw(fs, "\\file0:foo:$DATA"));
  fails(await openRaw(fs, "\\file0:baz"), "STATUS_OBJECT_NAME_NOT_FOUND");
  fails(await openRaw(fs, "\\file0:foo:$OTHER"), "STATUS_OBJECT_NAME_INVALID");
  assert.equal(fs.fileNodeCount, 5, "root, file0, dir1 and two streams");
});

test("a stream reports its main file's attributes (no DIRECTORY), times and index, and its own sizes", async () => {
  const { fs } = newFs();
  const main = await create(fs, "\\file0", { attributes: A.FILE_ATTRIBUTE_HIDDEN });
  const dir = await create(fs, "\\dir1", { directory: true });
  const s = await create(fs, "\\file0:foo");
  const ds = await create(fs, "\\dir1:foo");
  ok(await fs.write(s, ascii("stream data"), 0n, false, false));
  const si = ok(await fs.getFileInfo(s));
  const mi = ok(await fs.getFileInfo(main));
  assert.equal(si.indexNumber, mi.indexNumber);
  assert.equal(si.fileAttributes, mi.fileAttributes);
  assert.equal(si.fileSize, 11n);
  assert.equal(mi.fileSize, 0n);
  assert.equal(ok(await fs.getFileInfo(ds)).fileAttributes & A.FILE_ATTRIBUTE_DIRECTORY, 0);
  assert.equal(ok(await fs.getFileInfo(dir)).fileAttributes & A.FILE_ATTRIBUTE_DIRECTORY, A.FILE_ATTRIBUTE_DIRECTORY);

  const T = 0x4100000041n;
  ok(await fs.setBasicInfo(s, { fileAttributes: A.FILE_ATTRIBUTE_READONLY, creationTime: T, lastAccessTime: T, lastWriteTime: T, changeTime: 0n }));
  const after = ok(await fs.getFileInfo(main));
  assert.equal(after.fileAttributes, A.FILE_ATTRIBUTE_READONLY, "basic info set through a stream changes the main file");
  assert.equal(after.lastWriteTime, T);
  await fs.cleanup(s, null, CleanupFlag.SetArchiveBit);
  assert.equal(ok(await fs.getFileInfo(main)).fileAttributes, A.FILE_ATTRIBUTE_READONLY | A.FILE_ATTRIBUTE_ARCHIVE);
  ok(await fs.setFileSize(s, 42n, false));
  assert.equal(ok(await fs.getFileInfo(s)).fileSize, 42n);
  assert.equal(ok(await fs.getFileInfo(main)).fileSize, 0n);
});

test("GetStreamInfo: the main stream first (files only), then named streams by bare name", async () => {
  const { fs } = newFs();
  const f = await create(fs, "\\file5");
  ok(await fs.write(f, new Uint8Array(3), 0n, false, false));
  for (let i = 1; i <= 100; i++) await touch(fs, `\\file5:s${i}`);
  const d = await create(fs, "\\dir5", { directory: true });
  for (let i = 1; i <= 100; i++) await touch(fs, `\\dir5:s${i}`);
  const plain = await create(fs, "\\file1");
  assert.deepEqual(ok(await fs.getStreamInfo(plain)), [{ streamName: "", streamSize: 0n, streamAllocationSize: 0n }]);
  const list = ok(await fs.getStreamInfo(f));
  assert.equal(list.length, 101);
  assert.deepEqual(list[0], { streamName: "", streamSize: 3n, streamAllocationSize: 512n });
  assert.equal(list.slice(1).reduce((n, s) => n + Number(s.streamName.slice(1)), 0), 5050);
  const viaStream = ok(await fs.getStreamInfo(await open(fs, "\\file5:s50")));
  assert.deepEqual(viaStream, list, "a stream context lists its main file's streams");
  assert.deepEqual(ok(await fs.getStreamInfo(await create(fs, "\\dir1", { directory: true }))), []);
  const dl = ok(await fs.getStreamInfo(d));
  assert.equal(dl.length, 100);
  assert.ok(dl.every((s) => s.streamName !== ""));
});

test("deleting a stream leaves the main file; deleting the main file takes its streams", async () => {
  const { fs } = newFs();
  await touch(fs, "\\file0");
  await touch(fs, "\\file0:foo");
  await touch(fs, "\\file0:bar");
  await remove(fs, "\\file0:foo");
  assert.equal(await exists(fs, "\\file0:foo"), false);
  assert.equal(await exists(fs, "\\file0"), true);
  assert.equal(await exists(fs, "\\file0:bar"), true);
  await remove(fs, "\\file0");
  assert.equal(await exists(fs, "\\file0"), false);
  assert.equal(await exists(fs, "\\file0:bar"), false);
  assert.equal(fs.fileNodeCount, 1);
  assert.equal(fs.allocatedSize, 0n);
});

test("streams do not make a directory non-empty; the directory goes with its streams", async () => {
  const { fs } = newFs();
  const dir = await create(fs, "\\dir1", { directory: true });
  await touch(fs, "\\dir1:foo1");
  ok(await fs.canDelete(dir, "\\dir1"));
  await touch(fs, "\\dir1\\file0");
  fails(await fs.canDelete(dir, "\\dir1"), "STATUS_DIRECTORY_NOT_EMPTY");
  await remove(fs, "\\dir1\\file0");
  await deleteAndClose(fs, dir, "\\dir1");
  assert.equal(await exists(fs, "\\dir1:foo1"), false);
});

test("overwrite deletes the named streams that are not open; open ones survive until closed", async () => {
  const { fs } = newFs();
  await touch(fs, "\\file0");
  await touch(fs, "\\file0:foo");
  await touch(fs, "\\file0:bar");
  const bar = await open(fs, "\\file0:bar");
  const main = await open(fs, "\\file0");
  ok(await fs.overwrite(main, { fileAttributes: 0, replaceFileAttributes: false, allocationSize: 0n }));
  assert.equal(await exists(fs, "\\file0:foo"), false);
  assert.equal(await exists(fs, "\\file0:bar"), true, "the FSD shows it as delete-pending; the file system keeps it");
  await fs.close(bar);
  await remove(fs, "\\file0");
  assert.equal(fs.fileNodeCount, 1);
});

test("renaming a stream, or to a stream name, is INVALID_PARAMETER; renaming a file moves its streams", async () => {
  const { fs } = newFs();
  const f = await create(fs, "\\file0");
  await touch(fs, "\\file0:foo");
  fails(await fs.rename(await open(fs, "\\file0:foo"), "\\file0:foo", "\\file0:bar", false), "STATUS_INVALID_PARAMETER");
  fails(await fs.rename(f, "\\file0", "\\file1:x", false), "STATUS_INVALID_PARAMETER");
  ok(await fs.rename(f, "\\file0", "\\file1", false));
  assert.equal(await exists(fs, "\\file1:foo"), true);
  assert.equal(fs.fileNameOf(await open(fs, "\\file1:foo")), "\\file1:foo");
});

test("case-insensitive stream names: one stream per folded name, stored case reported", async () => {
  const { fs } = newFs({ caseInsensitive: true });
  await touch(fs, "\\File0");
  const r = ok(await createRaw(fs, "\\FILE0:Foo"));
  assert.equal(r.normalizedName, "\\File0:Foo");
  fails(await createRaw(fs, "\\file0:FOO"), "STATUS_OBJECT_NAME_COLLISION");
  assert.equal(ok(await openRaw(fs, "\\file0:foo")).normalizedName, "\\File0:Foo");
  assert.deepEqual(
    ok(await fs.getStreamInfo(await open(fs, "\\file0"))).map((s) => s.streamName),
    ["", "Foo"],
  );
});
