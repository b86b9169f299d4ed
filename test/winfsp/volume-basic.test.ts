/**
 * The FSD-side helpers the Win32 layer shares: VolumeParams defaults and
 * derived volume information, and the FileBasicInformation mapping, checked
 * end to end against MemoryFileSystem where they meet it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { FileAttribute, INVALID_FILE_ATTRIBUTES } from "../../src/windows/attributes.js";
import { basicInfoRequest } from "../../src/winfsp/basic-info.js";
import {
  FileSystemAttribute,
  allocationUnit,
  effectiveVolumeParams,
  fileSystemAttributes,
  reportedFileSystemName,
  volumeParams,
} from "../../src/winfsp/volume-params.js";
import { create, fails, newFs, ok } from "./memfs-helpers.js";

const A = FileAttribute;

test("effectiveVolumeParams applies the FSD's defaults and clamps", () => {
  const e = effectiveVolumeParams(volumeParams({ fileInfoTimeout: 1000, dirInfoTimeout: 5 }));
  assert.equal(e.sectorSize, 512);
  assert.equal(e.sectorsPerAllocationUnit, 1);
  assert.equal(e.maxComponentLength, 255);
  assert.equal(e.irpTimeout, 300000);
  assert.equal(e.irpCapacity, 1000);
  assert.equal(e.volumeInfoTimeout, 1000);
  assert.equal(e.securityTimeout, 1000);
  assert.equal(e.dirInfoTimeout, 5);
  assert.equal(effectiveVolumeParams(volumeParams({ irpTimeout: 142 })).irpTimeout, 142, "the debug timeout is kept");
  assert.equal(effectiveVolumeParams(volumeParams({ irpTimeout: 61000, irpCapacity: 50 })).irpCapacity, 1000);
  assert.equal(effectiveVolumeParams(volumeParams({ irpTimeout: 61000 })).irpTimeout, 61000);
  assert.equal(effectiveVolumeParams(volumeParams({ prefix: "\\memfs\\share\\\\" })).prefix, "\\memfs\\share");
  assert.equal(allocationUnit(volumeParams({ sectorSize: 4096 })), 4096);
  assert.equal(allocationUnit(volumeParams({ sectorSize: 512, sectorsPerAllocationUnit: 8 })), 4096);
});

test("FileSystemAttributes and FileSystemName as the FSD reports them for MEMFS and virtiofs's parameters", () => {
  const { fs } = newFs();
  const F = FileSystemAttribute;
  assert.equal(
    fileSystemAttributes(fs.volumeParams),
    F.FILE_CASE_SENSITIVE_SEARCH | F.FILE_CASE_PRESERVED_NAMES | F.FILE_UNICODE_ON_DISK | F.FILE_PERSISTENT_ACLS |
      F.FILE_SUPPORTS_REPARSE_POINTS | F.FILE_NAMED_STREAMS | F.FILE_SUPPORTS_EXTENDED_ATTRIBUTES |
      F.FILE_SUPPORTS_POSIX_UNLINK_RENAME,
  );
  assert.equal(reportedFileSystemName(fs.volumeParams), "WinFsp-MEMFS");
  assert.equal(reportedFileSystemName(volumeParams({ fileSystemName: "-MEMFS" })), "WinFsp-MEMFS");
  assert.equal(reportedFileSystemName(volumeParams({ fileSystemName: "NTFS" })), "NTFS");
  assert.equal(reportedFileSystemName(volumeParams()), "WinFsp");
  const virtiofs = volumeParams({
    sectorSize: 4096,
    sectorsPerAllocationUnit: 1,
    fileInfoTimeout: 1000,
    casePreservedNames: true,
    unicodeOnDisk: true,
    persistentAcls: true,
    reparsePoints: true,
  });
  assert.equal(fileSystemAttributes(virtiofs), 0x8e);
});

test("basicInfoRequest: attributes 0 mean leave alone, NORMAL and DIRECTORY are the FSD's, -1 times mean leave alone", async () => {
  const zero = { creationTime: 0n, lastAccessTime: 0n, lastWriteTime: 0n, changeTime: 0n };
  assert.equal(ok(basicInfoRequest({ fileAttributes: 0, ...zero }, false)).fileAttributes, INVALID_FILE_ATTRIBUTES);
  assert.equal(ok(basicInfoRequest({ fileAttributes: A.FILE_ATTRIBUTE_NORMAL, ...zero }, false)).fileAttributes, 0);
  assert.equal(
    ok(basicInfoRequest({ fileAttributes: A.FILE_ATTRIBUTE_DIRECTORY | A.FILE_ATTRIBUTE_HIDDEN, ...zero }, false)).fileAttributes,
    A.FILE_ATTRIBUTE_HIDDEN,
  );
  assert.equal(
    ok(basicInfoRequest({ fileAttributes: A.FILE_ATTRIBUTE_READONLY, ...zero }, true)).fileAttributes,
    A.FILE_ATTRIBUTE_READONLY | A.FILE_ATTRIBUTE_DIRECTORY,
  );
  fails(basicInfoRequest({ fileAttributes: A.FILE_ATTRIBUTE_TEMPORARY, ...zero }, true), "STATUS_INVALID_PARAMETER");
  const t = ok(
    basicInfoRequest({ fileAttributes: 0, creationTime: -1n, lastAccessTime: 0xffffffffffffffffn, lastWriteTime: 7n, changeTime: 0n }, false),
  );
  assert.deepEqual([t.creationTime, t.lastAccessTime, t.lastWriteTime, t.changeTime], [0n, 0n, 7n, 0n]);

  // End to end: SetFileAttributes(NORMAL) on a file, then SetFileTime(-1, T, -1).
  const { fs } = newFs();
  const ctx = await create(fs, "\\f", { attributes: A.FILE_ATTRIBUTE_HIDDEN });
  const before = ok(await fs.getFileInfo(ctx));
  ok(await fs.setBasicInfo(ctx, ok(basicInfoRequest({ fileAttributes: A.FILE_ATTRIBUTE_NORMAL, ...zero }, false))));
  const T = 116445019467841602n;
  const after = ok(
    await fs.setBasicInfo(
      ctx,
      ok(basicInfoRequest({ fileAttributes: 0, creationTime: -1n, lastAccessTime: -1n, lastWriteTime: T, changeTime: -1n }, false)),
    ),
  );
  assert.equal(after.fileAttributes, 0, "SetFileAttributes(NORMAL) clears ARCHIVE too");
  assert.equal(after.lastWriteTime, T);
  assert.equal(after.creationTime, before.creationTime);
  assert.equal(after.lastAccessTime, before.lastAccessTime);
  assert.equal(after.changeTime, before.changeTime);
});
