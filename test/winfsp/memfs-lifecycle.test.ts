/**
 * MemoryFileSystem: volume, create/open/overwrite/cleanup/close, delete,
 * basic info, rename, limits, control.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { FileAttribute, INVALID_FILE_ATTRIBUTES } from "../../src/windows/attributes.js";
import { CleanupFlag, CreateOption } from "../../src/winfsp/constants.js";
import type { NtResult } from "../../src/winfsp/interface.js";
import { MEMFS_CONTROL_ROT13 } from "../../src/winfsp/memfs.js";
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

/** STATUS_CANNOT_MAKE (0xC00002EA), MEMFS's answer when it is out of file nodes. */
function cannotMake(r: NtResult<unknown>): void {
  assert.equal(r.ok, false);
  assert.equal(r.status, 0xc00002ea);
}

test("volume: MEMFS's parameters, label get/set truncated to 32 units, sizes follow allocation", async () => {
  const { fs } = newFs({ maxFileNodes: 10, maxFileSize: 1000 });
  const p = fs.volumeParams;
  assert.equal(p.sectorSize, 512);
  assert.equal(p.sectorsPerAllocationUnit, 1);
  assert.equal(p.maxComponentLength, 255);
  assert.equal(p.caseSensitiveSearch, true);
  assert.equal(p.casePreservedNames && p.unicodeOnDisk && p.persistentAcls, true);
  assert.equal(p.reparsePoints && p.namedStreams && p.extendedAttributes && p.wslFeatures, true);
  assert.equal(p.postCleanupWhenModifiedOnly && p.passQueryDirectoryFileName && p.deviceControl, true);
  assert.equal(p.umFileContextIsUserContext2, true);
  assert.equal(p.supportsPosixUnlinkRename, true);
  assert.equal(p.fileSystemName, "WinFsp-MEMFS");
  assert.equal(newFs({ caseInsensitive: true }).fs.volumeParams.caseSensitiveSearch, false);

  const info = ok(await fs.getVolumeInfo());
  assert.equal(info.volumeLabel, "MEMFS");
  assert.equal(info.totalSize, 10n * 1024n, "maxFileSize is rounded up to the allocation unit");
  assert.equal(info.freeSize, info.totalSize);
  await create(fs, "\\f", { allocationSize: 700n });
  assert.equal(ok(await fs.getVolumeInfo()).freeSize, info.totalSize - 1024n);

  assert.equal(ok(await fs.setVolumeLabel("TestLabel")).volumeLabel, "TestLabel");
  const long = "123456789012345678901234567890123";
  assert.equal(ok(await fs.setVolumeLabel(long)).volumeLabel, long.slice(0, 32));
  assert.equal(ok(await fs.getVolumeInfo()).volumeLabel, long.slice(0, 32));
});

test("create: a new file gets ARCHIVE, a directory keeps DIRECTORY; index numbers are unique; collisions", async () => {
  const { fs, clock } = newFs();
  const r = ok(await createRaw(fs, "\\file0", { attributes: A.FILE_ATTRIBUTE_READONLY | A.FILE_ATTRIBUTE_NORMAL }));
  assert.equal(r.fileInfo.fileAttributes, A.FILE_ATTRIBUTE_READONLY | A.FILE_ATTRIBUTE_ARCHIVE);
  assert.equal(r.fileInfo.fileSize, 0n);
  assert.equal(r.fileInfo.allocationSize, 0n);
  assert.equal(r.fileInfo.creationTime, clock.t);
  assert.equal(r.fileInfo.lastWriteTime, clock.t);
  assert.equal(r.fileInfo.hardLinks, 0);
  assert.equal(r.normalizedName, null, "a case-sensitive volume reports no normalized name");
  const d = ok(await createRaw(fs, "\\dir1", { directory: true, attributes: A.FILE_ATTRIBUTE_DIRECTORY }));
  assert.equal(d.fileInfo.fileAttributes, A.FILE_ATTRIBUTE_DIRECTORY);
  assert.notEqual(d.fileInfo.indexNumber, r.fileInfo.indexNumber);

  fails(await createRaw(fs, "\\file0"), "STATUS_OBJECT_NAME_COLLISION");
  fails(await createRaw(fs, "\\dir1", { directory: true }), "STATUS_OBJECT_NAME_COLLISION");
  fails(await createRaw(fs, "\\missing\\file"), "STATUS_OBJECT_PATH_NOT_FOUND");
  fails(await createRaw(fs, "\\file0\\child"), "STATUS_NOT_A_DIRECTORY");
  fails(await createRaw(fs, "\\file0\\a\\b"), "STATUS_OBJECT_PATH_NOT_FOUND");
  fails(await createRaw(fs, "\\", { directory: true }), "STATUS_OBJECT_NAME_COLLISION");
  fails(await createRaw(fs, "file0"), "STATUS_OBJECT_NAME_INVALID");
  fails(await createRaw(fs, "\\a\\\\b"), "STATUS_OBJECT_NAME_INVALID");
  const child = ok(await createRaw(fs, "\\dir1\\file2"));
  assert.equal(child.fileInfo.fileAttributes, A.FILE_ATTRIBUTE_ARCHIVE);
});

test("create: the allocation size is rounded up to the allocation unit (0 for directories)", async () => {
  const { fs } = newFs({ sectorSize: 4096 });
  const r = ok(await createRaw(fs, "\\f", { allocationSize: 65536n + 1n }));
  assert.equal(r.fileInfo.allocationSize, 65536n + 4096n);
  const d = ok(await createRaw(fs, "\\d", { directory: true, allocationSize: 100n }));
  assert.equal(d.fileInfo.allocationSize, 0n);
});

test("open: found by name, missing file / path / file-as-directory statuses, names up to the path limit", async () => {
  const { fs } = newFs({ maxPathLength: 20 });
  await touch(fs, "\\dir", { directory: true });
  await touch(fs, "\\dir\\file");
  const r = ok(await openRaw(fs, "\\dir\\file"));
  assert.equal(r.fileInfo.fileAttributes, A.FILE_ATTRIBUTE_ARCHIVE);
  await fs.close(r.fileContext);
  ok(await openRaw(fs, "\\"));
  fails(await openRaw(fs, "\\dir\\nothing"), "STATUS_OBJECT_NAME_NOT_FOUND");
  fails(await openRaw(fs, "\\nothing\\file"), "STATUS_OBJECT_PATH_NOT_FOUND");
  fails(await openRaw(fs, "\\dir\\file\\x"), "STATUS_NOT_A_DIRECTORY");
  fails(await openRaw(fs, "\\dir\\FILE"), "STATUS_OBJECT_NAME_NOT_FOUND");
  ok(await createRaw(fs, "\\" + "x".repeat(19)));
  fails(await createRaw(fs, "\\" + "y".repeat(20)), "STATUS_OBJECT_NAME_INVALID");
  fails(await openRaw(fs, "\\" + "y".repeat(20)), "STATUS_OBJECT_NAME_INVALID");
});

test("case-insensitive volume: lookups ignore case, names keep theirs, opens report the normalized name", async () => {
  const { fs } = newFs({ caseInsensitive: true });
  await touch(fs, "\\Dir", { directory: true });
  const c = ok(await createRaw(fs, "\\DIR\\fileFILE"));
  assert.equal(c.normalizedName, "\\Dir\\fileFILE");
  const o = ok(await openRaw(fs, "\\dIr\\FILEfile"));
  assert.equal(o.normalizedName, "\\Dir\\fileFILE");
  fails(await createRaw(fs, "\\dir\\FILEFILE"), "STATUS_OBJECT_NAME_COLLISION");
  assert.equal(fs.fileNameOf(o.fileContext), "\\Dir\\fileFILE");

  const cs = newFs().fs;
  await touch(cs, "\\fileFILE");
  fails(await openRaw(cs, "\\FILEfile"), "STATUS_OBJECT_NAME_NOT_FOUND");
  ok(await createRaw(cs, "\\FILEFILE"));
});

test("cleanup with Delete removes the name; the context stays usable until Close", async () => {
  const { fs } = newFs();
  const ctx = await create(fs, "\\file0");
  ok(await fs.write(ctx, ascii("hello"), 0n, false, false));
  await fs.cleanup(ctx, "\\file0", CleanupFlag.Delete);
  assert.equal(await exists(fs, "\\file0"), false);
  assert.equal(fs.fileNameOf(ctx), null);
  const buf = new Uint8Array(5);
  assert.equal(ok(await fs.read(ctx, buf, 0n)), 5, "I/O may still arrive between Cleanup and Close");
  assert.deepEqual(buf, ascii("hello"));
  await fs.close(ctx);
  await fs.close(ctx); // a second Close of the same context is ignored
  assert.equal(fs.allocatedSize, 0n, "the allocation is given back at the last Close");
  ok(await createRaw(fs, "\\file0"));
});

test("cleanup with Delete leaves a non-empty directory alone; CanDelete/SetDelete say DIRECTORY_NOT_EMPTY", async () => {
  const { fs } = newFs();
  const dir = await create(fs, "\\dir1", { directory: true });
  await touch(fs, "\\dir1\\file2");
  fails(await fs.canDelete(dir, "\\dir1"), "STATUS_DIRECTORY_NOT_EMPTY");
  fails(await fs.setDelete(dir, "\\dir1", true), "STATUS_DIRECTORY_NOT_EMPTY");
  ok(await fs.setDelete(dir, "\\dir1", false));
  await fs.cleanup(dir, "\\dir1", CleanupFlag.Delete);
  assert.equal(await exists(fs, "\\dir1"), true, "delete-on-close of a non-empty directory is ignored");
  assert.equal(await exists(fs, "\\dir1\\file2"), true);
  await remove(fs, "\\dir1\\file2");
  ok(await fs.canDelete(dir, "\\dir1"));
  ok(await fs.setDelete(dir, "\\dir1", true));
  const file = await open(fs, "\\");
  ok(await fs.canDelete(await create(fs, "\\f"), "\\f"));
  await deleteAndClose(fs, dir, "\\dir1");
  assert.equal(await exists(fs, "\\dir1"), false);
  await fs.cleanup(file, "\\", CleanupFlag.Delete);
  assert.equal(await exists(fs, "\\"), true, "the root is never deleted");
});

test("cleanup flags: archive bit (not on directories), times, allocation reset to round-up(file size)", async () => {
  const { fs, clock } = newFs();
  const ctx = await create(fs, "\\f", { allocationSize: 65536n });
  ok(await fs.setBasicInfo(ctx, { fileAttributes: 0, creationTime: 0n, lastAccessTime: 0n, lastWriteTime: 0n, changeTime: 0n }));
  assert.equal(ok(await fs.getFileInfo(ctx)).fileAttributes, 0);
  ok(await fs.write(ctx, new Uint8Array(600), 0n, false, false));
  assert.equal(ok(await fs.getFileInfo(ctx)).allocationSize, 65536n);
  const t = clock.advance();
  await fs.cleanup(
    ctx,
    null,
    CleanupFlag.SetArchiveBit | CleanupFlag.SetLastWriteTime | CleanupFlag.SetChangeTime | CleanupFlag.SetAllocationSize,
  );
  const info = ok(await fs.getFileInfo(ctx));
  assert.equal(info.fileAttributes, A.FILE_ATTRIBUTE_ARCHIVE);
  assert.equal(info.lastWriteTime, t);
  assert.equal(info.changeTime, t);
  assert.notEqual(info.lastAccessTime, t);
  assert.equal(info.allocationSize, 1024n);
  assert.equal(info.fileSize, 600n);
  const t2 = clock.advance();
  await fs.cleanup(ctx, null, CleanupFlag.SetLastAccessTime);
  assert.equal(ok(await fs.getFileInfo(ctx)).lastAccessTime, t2);
  const dir = await create(fs, "\\d", { directory: true });
  await fs.cleanup(dir, null, CleanupFlag.SetArchiveBit);
  assert.equal(ok(await fs.getFileInfo(dir)).fileAttributes, A.FILE_ATTRIBUTE_DIRECTORY);
});

test("overwrite: size 0, attributes OR-ed (or replaced when superseding) plus ARCHIVE, new allocation, times", async () => {
  const { fs, clock } = newFs();
  const ctx = await create(fs, "\\f", { attributes: A.FILE_ATTRIBUTE_HIDDEN });
  ok(await fs.write(ctx, new Uint8Array(3000), 0n, false, false));
  ok(await fs.setBasicInfo(ctx, { fileAttributes: A.FILE_ATTRIBUTE_HIDDEN, creationTime: 0n, lastAccessTime: 0n, lastWriteTime: 0n, changeTime: 0n }));
  const t = clock.advance();
  const merged = ok(
    await fs.overwrite(ctx, { fileAttributes: A.FILE_ATTRIBUTE_READONLY, replaceFileAttributes: false, allocationSize: 512n }),
  );
  assert.equal(merged.fileAttributes, A.FILE_ATTRIBUTE_HIDDEN | A.FILE_ATTRIBUTE_READONLY | A.FILE_ATTRIBUTE_ARCHIVE);
  assert.equal(merged.fileSize, 0n);
  assert.equal(merged.allocationSize, 512n);
  assert.equal(merged.lastWriteTime, t);
  assert.equal(merged.lastAccessTime, t);
  assert.equal(merged.changeTime, t);
  assert.notEqual(merged.creationTime, t);
  const replaced = ok(
    await fs.overwrite(ctx, { fileAttributes: A.FILE_ATTRIBUTE_SYSTEM, replaceFileAttributes: true, allocationSize: 0n }),
  );
  assert.equal(replaced.fileAttributes, A.FILE_ATTRIBUTE_SYSTEM | A.FILE_ATTRIBUTE_ARCHIVE);
  assert.equal(replaced.allocationSize, 0n);
  fails(await fs.read(ctx, new Uint8Array(1), 0n), "STATUS_END_OF_FILE");
  const big = newFs({ maxFileSize: 4096 }).fs;
  const c2 = await create(big, "\\f");
  fails(await big.overwrite(c2, { fileAttributes: 0, replaceFileAttributes: false, allocationSize: 8192n }), "STATUS_DISK_FULL");
});

test("setBasicInfo: INVALID_FILE_ATTRIBUTES and zero times change nothing; DIRECTORY follows the node", async () => {
  const { fs } = newFs();
  const ctx = await create(fs, "\\f");
  const before = ok(await fs.getFileInfo(ctx));
  const same = ok(
    await fs.setBasicInfo(ctx, { fileAttributes: INVALID_FILE_ATTRIBUTES, creationTime: 0n, lastAccessTime: 0n, lastWriteTime: 0n, changeTime: 0n }),
  );
  assert.deepEqual(same, before);
  const T = 116444736000000000n + 0x4200000042n;
  const set = ok(
    await fs.setBasicInfo(ctx, {
      fileAttributes: A.FILE_ATTRIBUTE_DIRECTORY | A.FILE_ATTRIBUTE_HIDDEN,
      creationTime: 0n,
      lastAccessTime: T,
      lastWriteTime: T,
      changeTime: 0n,
    }),
  );
  assert.equal(set.fileAttributes, A.FILE_ATTRIBUTE_HIDDEN, "a file never takes DIRECTORY; ARCHIVE is gone");
  assert.equal(set.lastAccessTime, T);
  assert.equal(set.lastWriteTime, T);
  assert.equal(set.creationTime, before.creationTime);
  assert.equal(set.changeTime, before.changeTime);
  const c = ok(await fs.setBasicInfo(ctx, { fileAttributes: INVALID_FILE_ATTRIBUTES, creationTime: T, lastAccessTime: 0n, lastWriteTime: 0n, changeTime: 1n }));
  assert.equal(c.creationTime, T);
  assert.equal(c.changeTime, 1n);
  const dir = await create(fs, "\\d", { directory: true });
  const d = ok(await fs.setBasicInfo(dir, { fileAttributes: A.FILE_ATTRIBUTE_READONLY, creationTime: 0n, lastAccessTime: 0n, lastWriteTime: 0n, changeTime: 0n }));
  assert.equal(d.fileAttributes, A.FILE_ATTRIBUTE_DIRECTORY | A.FILE_ATTRIBUTE_READONLY);
});

test("rename: within and across directories, collision, replace, directory target, case-only", async () => {
  const { fs } = newFs();
  await touch(fs, "\\dir1", { directory: true });
  await touch(fs, "\\dir2", { directory: true });
  const f0 = await create(fs, "\\dir1\\file0");
  ok(await fs.write(f0, ascii("zero"), 0n, false, false));
  ok(await fs.rename(f0, "\\dir1\\file0", "\\dir1\\file1", false));
  assert.equal(await exists(fs, "\\dir1\\file0"), false);
  assert.equal(fs.fileNameOf(f0), "\\dir1\\file1");

  await touch(fs, "\\dir1\\file0");
  const again = await open(fs, "\\dir1\\file0");
  fails(await fs.rename(again, "\\dir1\\file0", "\\dir1\\file1", false), "STATUS_OBJECT_NAME_COLLISION");
  ok(await fs.rename(again, "\\dir1\\file0", "\\dir1\\file1", true));
  const buf = new Uint8Array(4);
  assert.equal(ok(await fs.read(f0, buf, 0n)), 4, "the replaced file stays readable through its open context");
  assert.equal(fs.fileNameOf(f0), null);
  assert.equal(ok(await fs.getFileInfo(await open(fs, "\\dir1\\file1"))).fileSize, 0n);

  ok(await fs.rename(again, "\\dir1\\file1", "\\dir2\\file2", false));
  assert.equal(await exists(fs, "\\dir2\\file2"), true);

  const d2 = await open(fs, "\\dir2");
  fails(await fs.rename(d2, "\\dir2", "\\dir1", true), "STATUS_ACCESS_DENIED");
  await remove(fs, "\\dir1");
  ok(await fs.rename(d2, "\\dir2", "\\dir1", false));
  assert.equal(await exists(fs, "\\dir1\\file2"), true, "descendants move with their directory");
  ok(await fs.rename(d2, "\\dir1", "\\DIR1", false));
  assert.equal(fs.fileNameOf(d2), "\\DIR1", "a case-only rename changes the stored name");
  fails(await fs.rename(d2, "\\DIR1", "\\DIR1\\file2\\x", false), "STATUS_NOT_A_DIRECTORY");
  fails(await fs.rename(d2, "\\DIR1", "\\nowhere\\x", false), "STATUS_OBJECT_PATH_NOT_FOUND");
  await touch(fs, "\\DIR1\\sub", { directory: true });
  fails(await fs.rename(d2, "\\DIR1", "\\DIR1\\sub\\x", false), "STATUS_INVALID_PARAMETER");
  fails(await fs.rename(await open(fs, "\\"), "\\", "\\x", false), "STATUS_INVALID_PARAMETER");

  const ci = newFs({ caseInsensitive: true }).fs;
  const d = await create(ci, "\\dir1", { directory: true });
  ok(await ci.rename(d, "\\dir1", "\\DIR1", false));
  assert.equal(ci.fileNameOf(d), "\\DIR1");
  assert.equal(await exists(ci, "\\dir1"), true);
});

test("rename: a new name too long for a descendant is OBJECT_NAME_INVALID and changes nothing", async () => {
  const { fs } = newFs({ maxPathLength: 30 });
  await touch(fs, "\\d", { directory: true });
  await touch(fs, "\\d\\0123456789", { directory: true });
  await touch(fs, "\\d\\0123456789\\abcdefghij");
  const d = await open(fs, "\\d");
  ok(await fs.rename(d, "\\d", "\\dd", false));
  fails(await fs.rename(d, "\\dd", "\\" + "x".repeat(10), false), "STATUS_OBJECT_NAME_INVALID");
  assert.equal(await exists(fs, "\\dd\\0123456789\\abcdefghij"), true);
});

test("limits: out of file nodes is CANNOT_MAKE, over the file size is DISK_FULL, freed space is reusable", async () => {
  const { fs } = newFs({ maxFileNodes: 3, maxFileSize: 4096, totalSize: 6144n });
  await touch(fs, "\\a");
  const b = await create(fs, "\\b");
  cannotMake(await createRaw(fs, "\\c"));
  await deleteAndClose(fs, b, "\\b");
  const c = await create(fs, "\\c", { allocationSize: 4096n });
  cannotMake(await createRaw(fs, "\\d"));
  fails(await fs.setFileSize(c, 4097n, false), "STATUS_DISK_FULL");
  fails(await fs.write(c, new Uint8Array(1), 4096n, false, false), "STATUS_DISK_FULL");
  const a = await open(fs, "\\a");
  fails(await fs.setFileSize(a, 4096n, true), "STATUS_DISK_FULL");
  ok(await fs.setFileSize(a, 2048n, true));
  assert.equal(ok(await fs.getVolumeInfo()).freeSize, 0n);
  fails(await createRaw(newFs({ maxFileSize: 512 }).fs, "\\x", { allocationSize: 513n }), "STATUS_DISK_FULL");
});

test("control: MEMFS's ROT13 device control; other codes are INVALID_DEVICE_REQUEST", async () => {
  const { fs } = newFs();
  const root = await open(fs, "\\");
  const out = ok(await fs.control(root, MEMFS_CONTROL_ROT13, ascii("ABCDEFghijklmNOPQRStuvwxyz"), 26));
  assert.equal(Buffer.from(out).toString("latin1"), "NOPQRStuvwxyzABCDEFghijklm");
  fails(await fs.control(root, MEMFS_CONTROL_ROT13, ascii("ab"), 3), "STATUS_INVALID_PARAMETER");
  fails(await fs.control(root, 0x804d0000, ascii("ab"), 2), "STATUS_INVALID_DEVICE_REQUEST");
});

test("flush answers the file's information (null for the volume); dispatcherStopped is recorded", async () => {
  const { fs } = newFs();
  const ctx = await create(fs, "\\f");
  assert.deepEqual(ok(await fs.flush(ctx)), ok(await fs.getFileInfo(ctx)));
  assert.equal(ok(await fs.flush(null)), null);
  assert.equal(fs.dispatcherStoppedNormally, null);
  await fs.dispatcherStopped(true);
  assert.equal(fs.dispatcherStoppedNormally, true);
});

test("open with FILE_DIRECTORY_FILE options is not the file system's business (the FSD checks them)", async () => {
  const { fs } = newFs();
  await touch(fs, "\\f");
  const r = await openRaw(fs, "\\f", CreateOption.FILE_DIRECTORY_FILE);
  assert.equal(r.ok, true);
});
