/**
 * The service's volume and file members against both backends: GetVolumeInfo,
 * SetVolumeLabel, Create/CreateEx, Open, Overwrite/OverwriteEx, Cleanup with
 * each flag, Close, Read, Write (offsets, append, constrained I/O), Flush,
 * GetFileInfo, SetFileSize, with the NTSTATUS and FileInfo of each call and
 * the host file checked through the kernel.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync, statfsSync, writeFileSync } from "node:fs";
import { CreateDisposition, CleanupFlag, CreateOption } from "../../src/winfsp/constants.js";
import { FileAttribute } from "../../src/windows/attributes.js";
import { decodeDosAttrib, encodeDosAttrib } from "../../src/windows/attributes.js";
import { AccessMask } from "../../src/windows/security.js";
import { reportedFileSystemName } from "../../src/winfsp/volume-params.js";
import {
  FACTORIES,
  assertRecent,
  closeFile,
  create,
  createOptions,
  createRequest,
  fails,
  hostXattr,
  mount,
  ok,
  open,
} from "./helpers.js";

const A = FileAttribute;

for (const factory of FACTORIES) {
  describe(`service over ${factory.name}: volume and files`, () => {
    test("GetVolumeInfo answers the host's sizes and the tag; SetVolumeLabel keeps 32 units; volume parameters", async (t) => {
      const m = await mount(t, factory);
      const v = ok(await m.fs.getVolumeInfo());
      const st = statfsSync(m.backend.dir, { bigint: true });
      assert.equal(v.totalSize, st.blocks * st.bsize);
      assert.ok(v.freeSize > 0n && v.freeSize <= v.totalSize);
      assert.equal(v.volumeLabel, "share");
      const labelled = ok(await m.fs.setVolumeLabel("L".repeat(40)));
      assert.equal(labelled.volumeLabel, "L".repeat(32));
      assert.equal(ok(await m.fs.getVolumeInfo()).volumeLabel, "L".repeat(32));
      const p = m.fs.volumeParams;
      assert.equal(p.sectorSize, 4096);
      assert.equal(p.maxComponentLength, 255);
      assert.equal(p.caseSensitiveSearch, true);
      assert.equal(p.namedStreams, true);
      assert.equal(p.extendedAttributes, true);
      assert.equal(p.reparsePoints, true);
      assert.equal(p.persistentAcls, true);
      assert.equal(p.umFileContextIsUserContext2, true);
      assert.equal(reportedFileSystemName(p), "VIOFS");
    });

    test("Create: the file, its FileInfo, user.DOSATTRIB v3 with ARCHIVE and the creation time; collisions and bad parents", async (t) => {
      const m = await mount(t, factory);
      const r = await create(m.fs, "\\a.txt", { fileAttributes: A.FILE_ATTRIBUTE_HIDDEN | A.FILE_ATTRIBUTE_NORMAL });
      const info = r.fileInfo;
      const st = statSync(m.host("\\a.txt"), { bigint: true });
      assert.equal(info.fileAttributes, A.FILE_ATTRIBUTE_HIDDEN | A.FILE_ATTRIBUTE_ARCHIVE);
      assert.equal(info.reparseTag, 0);
      assert.equal(info.fileSize, 0n);
      assert.equal(info.allocationSize, 0n);
      assert.equal(info.indexNumber, st.ino);
      assert.equal(info.hardLinks, 0);
      assert.equal(info.eaSize, 0);
      assertRecent(info.creationTime, "creation time");
      assert.equal(info.lastWriteTime, st.mtimeNs / 100n + 116444736000000000n);
      assert.equal(r.normalizedName, null);
      assert.equal(Number(st.mode) & 0o7777, 0o644);
      const dos = hostXattr(m.host("\\a.txt"), "user.DOSATTRIB");
      assert.ok(dos !== undefined, "user.DOSATTRIB written at create");
      assert.deepEqual(dos, Buffer.from(encodeDosAttrib({ attributes: 0x22, createTime: info.creationTime }, 3)));
      assert.equal(decodeDosAttrib(dos).version, 3);

      fails(await m.fs.createEx(createRequest("\\a.txt")), "STATUS_OBJECT_NAME_COLLISION");
      fails(await m.fs.createEx(createRequest("\\missing\\b.txt")), "STATUS_OBJECT_PATH_NOT_FOUND");
      fails(await m.fs.createEx(createRequest("\\a.txt\\b.txt")), "STATUS_NOT_A_DIRECTORY");
      fails(await m.fs.createEx(createRequest("\\bad*name")), "STATUS_OBJECT_NAME_INVALID");
      fails(await m.fs.createEx(createRequest("\\")), "STATUS_OBJECT_NAME_COLLISION");
      // 200 units of a 3-byte character: legal on Windows, 600 bytes on the host: a long name (long-names.test.ts).
      await closeFile(m.fs, (await create(m.fs, `\\${"€".repeat(200)}`)).fileContext);
      // An ordinary name of a long name's form is never given to a new file.
      fails(await m.fs.createEx(createRequest(`\\a\uf03aviofs-${"B".repeat(32)}`)), "STATUS_OBJECT_NAME_INVALID");
      const long = "é".repeat(127);
      const longFile = await create(m.fs, `\\${long}`);
      assert.ok(existsSync(m.host(`\\${long}`)));
      await closeFile(m.fs, longFile.fileContext);

      const d = await create(m.fs, "\\dir", { directory: true, fileAttributes: A.FILE_ATTRIBUTE_READONLY });
      assert.equal(d.fileInfo.fileAttributes, A.FILE_ATTRIBUTE_DIRECTORY | A.FILE_ATTRIBUTE_READONLY);
      assert.equal(d.fileInfo.fileSize, 0n);
      assert.ok(statSync(m.host("\\dir")).isDirectory());
      assert.equal(statSync(m.host("\\dir")).mode & 0o7777, 0o755);
      // Samba stores the DIRECTORY bit too.
      assert.equal(decodeDosAttrib(hostXattr(m.host("\\dir"), "user.DOSATTRIB")!).attributes, 0x11);
      const nested = await create(m.fs, "\\dir\\inner", { allocationSize: 10000n });
      assert.equal(nested.fileInfo.allocationSize, 12288n);
      assert.ok(statSync(m.host("\\dir\\inner")).blocks * 512 >= 10000, "allocation reserved on the host");
      for (const c of [r, d, nested]) await closeFile(m.fs, c.fileContext);
    });

    test("Open: FileInfo of files, directories and the root; missing names and parents", async (t) => {
      const m = await mount(t, factory);
      mkdirSync(m.host("\\d"));
      writeFileSync(m.host("\\d\\f"), "12345");
      const f = ok(await m.fs.open({ fileName: "\\d\\f", createOptions: createOptions(CreateDisposition.FILE_OPEN), grantedAccess: AccessMask.FILE_GENERIC_READ }));
      const st = statSync(m.host("\\d\\f"), { bigint: true });
      assert.equal(f.fileInfo.fileSize, 5n);
      assert.equal(f.fileInfo.allocationSize, 4096n);
      // No user.DOSATTRIB: no attribute beyond what the file is (FILE_ATTRIBUTE_NORMAL reads as 0).
      assert.equal(f.fileInfo.fileAttributes, 0);
      assert.equal(f.fileInfo.indexNumber, st.ino);
      assert.equal(f.fileInfo.changeTime, st.ctimeNs / 100n + 116444736000000000n);
      const buffer = new Uint8Array(16);
      assert.equal(ok(await m.fs.read(f.fileContext, buffer, 0n)), 5);
      assert.equal(Buffer.from(buffer.subarray(0, 5)).toString(), "12345");
      await closeFile(m.fs, f.fileContext);

      const root = await open(m.fs, "\\");
      assert.equal(ok(await m.fs.getFileInfo(root)).fileAttributes & A.FILE_ATTRIBUTE_DIRECTORY, A.FILE_ATTRIBUTE_DIRECTORY);
      await closeFile(m.fs, root);
      const dir = await open(m.fs, "\\d");
      assert.equal(ok(await m.fs.getFileInfo(dir)).fileAttributes, A.FILE_ATTRIBUTE_DIRECTORY);
      await closeFile(m.fs, dir);

      const openOnly = (name: string) => m.fs.open({ fileName: name, createOptions: createOptions(CreateDisposition.FILE_OPEN), grantedAccess: AccessMask.FILE_READ_ATTRIBUTES });
      fails(await openOnly("\\nope"), "STATUS_OBJECT_NAME_NOT_FOUND");
      fails(await openOnly("\\nope\\x"), "STATUS_OBJECT_PATH_NOT_FOUND");
      fails(await openOnly("\\d\\f\\x"), "STATUS_NOT_A_DIRECTORY");
      fails(await openOnly("\\d\\f\\x\\y"), "STATUS_OBJECT_PATH_NOT_FOUND");
      fails(await openOnly("\\d\\f:nostream"), "STATUS_OBJECT_NAME_NOT_FOUND");
      fails(await openOnly("d"), "STATUS_OBJECT_NAME_INVALID");
    });

    test("Write and Read: offsets, zero fill, write to end, constrained I/O, END_OF_FILE, large transfers", async (t) => {
      const m = await mount(t, factory);
      const { fileContext: f } = await create(m.fs, "\\io.bin");
      let w = ok(await m.fs.write(f, Buffer.from("hello"), 0n, false, false));
      assert.equal(w.bytesTransferred, 5);
      assert.equal(w.fileInfo.fileSize, 5n);
      assert.equal(w.fileInfo.allocationSize, 4096n);
      w = ok(await m.fs.write(f, Buffer.from("X"), 10n, false, false));
      assert.equal(w.fileInfo.fileSize, 11n);
      w = ok(await m.fs.write(f, Buffer.from("END"), 0xffffffffffffffffn, true, false));
      assert.equal(w.bytesTransferred, 3);
      assert.equal(w.fileInfo.fileSize, 14n);
      w = ok(await m.fs.write(f, Buffer.from("abcde"), 12n, false, true));
      assert.equal(w.bytesTransferred, 2, "constrained I/O is clipped at end of file");
      assert.equal(w.fileInfo.fileSize, 14n);
      w = ok(await m.fs.write(f, Buffer.from("zz"), 14n, false, true));
      assert.equal(w.bytesTransferred, 0, "constrained I/O at end of file writes nothing");
      assert.deepEqual(readFileSync(m.host("\\io.bin")), Buffer.from("hello\0\0\0\0\0XEab"));

      const buffer = new Uint8Array(100);
      assert.equal(ok(await m.fs.read(f, buffer, 0n)), 14);
      assert.equal(ok(await m.fs.read(f, buffer, 13n)), 1);
      fails(await m.fs.read(f, buffer, 14n), "STATUS_END_OF_FILE");
      fails(await m.fs.read(f, buffer, 1000n), "STATUS_END_OF_FILE");
      assert.equal(ok(await m.fs.read(f, new Uint8Array(0), 3n)), 0);
      fails(await m.fs.read(f, new Uint8Array(0), 14n), "STATUS_END_OF_FILE");

      const big = randomBytes(3 * 1024 * 1024 + 123);
      w = ok(await m.fs.write(f, big, 4096n, false, false));
      assert.equal(w.bytesTransferred, big.length);
      assert.equal(w.fileInfo.fileSize, BigInt(4096 + big.length));
      const back = new Uint8Array(big.length);
      assert.equal(ok(await m.fs.read(f, back, 4096n)), big.length);
      assert.deepEqual(Buffer.from(back), big);
      assert.deepEqual(readFileSync(m.host("\\io.bin")).subarray(4096), big);
      await closeFile(m.fs, f);

      // A handle opened for reading only is reopened for a write (the FSD's access check is its business).
      const r = await open(m.fs, "\\io.bin", AccessMask.FILE_GENERIC_READ);
      assert.equal(ok(await m.fs.write(r, Buffer.from("H"), 0n, false, false)).bytesTransferred, 1);
      await closeFile(m.fs, r);
      assert.equal(readFileSync(m.host("\\io.bin")).subarray(0, 5).toString(), "Hello");

      const d = await create(m.fs, "\\dir", { directory: true });
      fails(await m.fs.read(d.fileContext, buffer, 0n), "STATUS_FILE_IS_A_DIRECTORY");
      fails(await m.fs.write(d.fileContext, buffer, 0n, false, false), "STATUS_FILE_IS_A_DIRECTORY");
      await closeFile(m.fs, d.fileContext);
    });

    test("Flush reaches the host as FSYNC (files), FSYNCDIR (directories) and SYNCFS (the volume), never FLUSH", async (t) => {
      const m = await mount(t, factory);
      const { fileContext: f } = await create(m.fs, "\\f");
      ok(await m.fs.write(f, Buffer.from("data"), 0n, false, false));
      m.counter.reset();
      const info = ok(await m.fs.flush(f));
      assert.equal(info?.fileSize, 4n);
      assert.equal(m.counter.count("FSYNC"), 1);
      assert.equal(m.counter.count("FLUSH"), 0);
      const attrOnly = await open(m.fs, "\\f", AccessMask.FILE_READ_ATTRIBUTES);
      ok(await m.fs.flush(attrOnly));
      assert.equal(m.counter.count("FSYNC"), 2);
      await closeFile(m.fs, attrOnly);
      const d = await create(m.fs, "\\d", { directory: true });
      ok(await m.fs.flush(d.fileContext));
      assert.equal(m.counter.count("FSYNCDIR"), 1);
      assert.equal(ok(await m.fs.flush(null)), null);
      assert.equal(m.counter.count("SYNCFS"), 1);
      assert.equal(m.counter.count("FLUSH"), 0);
      await closeFile(m.fs, f);
      await closeFile(m.fs, d.fileContext);
    });

    test("SetFileSize: end of file (zero fill, truncate) and allocation size (kept, reserved, truncating), DISK_FULL", async (t) => {
      const m = await mount(t, factory);
      const { fileContext: f } = await create(m.fs, "\\s");
      let info = ok(await m.fs.setFileSize(f, 10000n, false));
      assert.equal(info.fileSize, 10000n);
      assert.equal(info.allocationSize, 12288n);
      assert.equal(statSync(m.host("\\s")).size, 10000);
      assert.ok(readFileSync(m.host("\\s")).every((b) => b === 0));
      info = ok(await m.fs.setFileSize(f, 100n, false));
      assert.equal(info.fileSize, 100n);
      assert.equal(info.allocationSize, 4096n);

      info = ok(await m.fs.setFileSize(f, 1_000_000n, true));
      assert.equal(info.fileSize, 100n, "a larger allocation keeps the size");
      assert.equal(info.allocationSize, 1_003_520n, "rounded up to the 4096-byte unit");
      assert.ok(statSync(m.host("\\s")).blocks * 512 >= 1_000_000, "reserved on the host");
      assert.equal(ok(await m.fs.getFileInfo(f)).allocationSize, 1_003_520n);
      info = ok(await m.fs.setFileSize(f, 8192n, false));
      assert.equal(info.allocationSize, 1_003_520n, "a size below the allocation keeps it");
      info = ok(await m.fs.setFileSize(f, 5000n, true));
      assert.equal(info.fileSize, 8192n);
      assert.equal(info.allocationSize, 8192n);
      info = ok(await m.fs.setFileSize(f, 100n, true));
      assert.equal(info.fileSize, 4096n, "an allocation below the size truncates to it");
      assert.equal(info.allocationSize, 4096n);
      assert.equal(statSync(m.host("\\s")).size, 4096);

      fails(await m.fs.setFileSize(f, 1n << 60n, false), "STATUS_DISK_FULL");
      fails(await m.fs.setFileSize(f, 1n << 60n, true), "STATUS_DISK_FULL");
      assert.equal(ok(await m.fs.getFileInfo(f)).fileSize, 4096n);
      await closeFile(m.fs, f);
    });

    test("Overwrite and OverwriteEx: size 0, attributes ORed or replaced with ARCHIVE, streams and EAs dropped or replaced", async (t) => {
      const m = await mount(t, factory);
      const { fileContext: f } = await create(m.fs, "\\o", { fileAttributes: A.FILE_ATTRIBUTE_SYSTEM });
      ok(await m.fs.write(f, Buffer.from("contents"), 0n, false, false));
      ok(await m.fs.setEa(f, [{ flags: 0, name: "Keep", value: Buffer.from("v") }]));
      const kept = await create(m.fs, "\\o:open");
      const gone = await create(m.fs, "\\o:closed");
      await closeFile(m.fs, gone.fileContext);
      let info = ok(await m.fs.overwrite(f, { fileAttributes: A.FILE_ATTRIBUTE_HIDDEN, replaceFileAttributes: false, allocationSize: 0n }));
      assert.equal(info.fileSize, 0n);
      assert.equal(info.allocationSize, 0n);
      assert.equal(info.fileAttributes, A.FILE_ATTRIBUTE_SYSTEM | A.FILE_ATTRIBUTE_HIDDEN | A.FILE_ATTRIBUTE_ARCHIVE);
      assert.equal(info.eaSize, 0);
      assert.equal(statSync(m.host("\\o")).size, 0);
      assert.equal(hostXattr(m.host("\\o"), "user.Keep"), undefined);
      assert.equal(hostXattr(m.host("\\o"), "user.DosStream.closed:$DATA"), undefined);
      assert.notEqual(hostXattr(m.host("\\o"), "user.DosStream.open:$DATA"), undefined, "an open stream stays");
      await closeFile(m.fs, kept.fileContext);

      info = ok(
        await m.fs.overwriteEx(f, {
          fileAttributes: A.FILE_ATTRIBUTE_READONLY,
          replaceFileAttributes: true,
          allocationSize: 8192n,
          ea: [{ flags: 0, name: "New", value: Buffer.from("value") }],
        }),
      );
      assert.equal(info.fileAttributes, A.FILE_ATTRIBUTE_READONLY | A.FILE_ATTRIBUTE_ARCHIVE);
      assert.equal(info.allocationSize, 8192n);
      assert.equal(info.eaSize, 5 + 3 + 5);
      assert.deepEqual(hostXattr(m.host("\\o"), "user.New"), Buffer.from("value"));
      assert.equal(decodeDosAttrib(hostXattr(m.host("\\o"), "user.DOSATTRIB")!).attributes, 0x21);
      assert.equal(statSync(m.host("\\o")).mode & 0o222, 0o200, "READONLY does not touch the mode bits");
      await closeFile(m.fs, f);
    });

    test("Cleanup: ARCHIVE, access/write/change times, allocation reset, delete of files, directories and streams", async (t) => {
      const m = await mount(t, factory);
      const { fileContext: f } = await create(m.fs, "\\c");
      ok(await m.fs.setBasicInfo(f, { fileAttributes: A.FILE_ATTRIBUTE_HIDDEN, creationTime: 0n, lastAccessTime: 0n, lastWriteTime: 0n, changeTime: 0n }));
      const old = 126227808000000000n; // 2001-01-01
      let info = ok(await m.fs.setBasicInfo(f, { fileAttributes: 0xffffffff, creationTime: 0n, lastAccessTime: old, lastWriteTime: old, changeTime: 0n }));
      assert.equal(info.fileAttributes, A.FILE_ATTRIBUTE_HIDDEN);
      assert.equal(info.lastWriteTime, old);
      await m.fs.cleanup(f, null, CleanupFlag.SetArchiveBit | CleanupFlag.SetLastAccessTime | CleanupFlag.SetLastWriteTime);
      info = ok(await m.fs.getFileInfo(f));
      assert.equal(info.fileAttributes, A.FILE_ATTRIBUTE_HIDDEN | A.FILE_ATTRIBUTE_ARCHIVE);
      assertRecent(info.lastWriteTime, "write time");
      assertRecent(info.lastAccessTime, "access time");
      assert.equal(decodeDosAttrib(hostXattr(m.host("\\c"), "user.DOSATTRIB")!).attributes, 0x22);

      const ctimeBefore = statSync(m.host("\\c"), { bigint: true }).ctimeNs;
      await new Promise((r) => setTimeout(r, 20));
      await m.fs.cleanup(f, null, CleanupFlag.SetChangeTime);
      assert.ok(statSync(m.host("\\c"), { bigint: true }).ctimeNs > ctimeBefore, "SetChangeTime moves the host ctime");

      ok(await m.fs.setFileSize(f, 1_000_000n, true));
      assert.ok(statSync(m.host("\\c")).blocks * 512 >= 1_000_000);
      await m.fs.cleanup(f, null, CleanupFlag.SetAllocationSize);
      assert.equal(ok(await m.fs.getFileInfo(f)).allocationSize, 0n);
      assert.equal(statSync(m.host("\\c")).blocks, 0, "preallocated host blocks given back");

      await m.fs.cleanup(f, "\\c", CleanupFlag.Delete);
      assert.equal(existsSync(m.host("\\c")), false);
      // Further calls on the context still work until Close.
      ok(await m.fs.getFileInfo(f));
      await m.fs.close(f);

      const d = await create(m.fs, "\\d", { directory: true });
      const inner = await create(m.fs, "\\d\\x");
      await closeFile(m.fs, d.fileContext, CleanupFlag.Delete, "\\d");
      assert.ok(existsSync(m.host("\\d")), "a directory with children is left alone");
      await closeFile(m.fs, inner.fileContext, CleanupFlag.Delete, "\\d\\x");
      const d2 = await open(m.fs, "\\d");
      await closeFile(m.fs, d2, CleanupFlag.Delete, "\\d");
      assert.equal(existsSync(m.host("\\d")), false);

      const { fileContext: main } = await create(m.fs, "\\m");
      const s = await create(m.fs, "\\m:str");
      assert.notEqual(hostXattr(m.host("\\m"), "user.DosStream.str:$DATA"), undefined);
      await closeFile(m.fs, s.fileContext, CleanupFlag.Delete, "\\m:str");
      assert.equal(hostXattr(m.host("\\m"), "user.DosStream.str:$DATA"), undefined);
      assert.ok(existsSync(m.host("\\m")));
      await closeFile(m.fs, main);
    });

    test("GetFileInfo and SetBasicInfo: attributes and creation time persist in user.DOSATTRIB, times on the host, mode bits untouched", async (t) => {
      const m = await mount(t, factory);
      const { fileContext: f } = await create(m.fs, "\\b");
      const modeBefore = statSync(m.host("\\b")).mode;
      const created = 126227808000000000n + 12345670n; // 2001-01-01 + 1.234567 s
      const access = 130000000000000000n;
      const write = 131000000000000001n;
      const attrs = A.FILE_ATTRIBUTE_READONLY | A.FILE_ATTRIBUTE_HIDDEN | A.FILE_ATTRIBUTE_SYSTEM | A.FILE_ATTRIBUTE_TEMPORARY;
      const info = ok(await m.fs.setBasicInfo(f, { fileAttributes: attrs, creationTime: created, lastAccessTime: access, lastWriteTime: write, changeTime: 1n }));
      assert.equal(info.fileAttributes, attrs);
      assert.equal(info.creationTime, created);
      assert.equal(info.lastAccessTime, access);
      assert.equal(info.lastWriteTime, write);
      assertRecent(info.changeTime, "change time (the host's)");
      const st = statSync(m.host("\\b"), { bigint: true });
      assert.equal(st.mode, BigInt(modeBefore), "READONLY leaves the mode bits alone");
      assert.equal(st.atimeNs, (access - 116444736000000000n) * 100n);
      assert.equal(st.mtimeNs, (write - 116444736000000000n) * 100n);
      const dos = decodeDosAttrib(hostXattr(m.host("\\b"), "user.DOSATTRIB")!);
      assert.equal(dos.attributes, attrs);
      assert.equal(dos.createTime, created);
      await closeFile(m.fs, f);

      m.fs.invalidateCaches();
      const again = await open(m.fs, "\\b", AccessMask.FILE_READ_ATTRIBUTES);
      const after = ok(await m.fs.getFileInfo(again));
      assert.equal(after.creationTime, created, "the creation time persists");
      assert.equal(after.fileAttributes, attrs);
      const same = ok(await m.fs.setBasicInfo(again, { fileAttributes: 0xffffffff, creationTime: 0n, lastAccessTime: 0n, lastWriteTime: 0n, changeTime: 0n }));
      assert.equal(same.fileAttributes, attrs, "INVALID_FILE_ATTRIBUTES and zero times change nothing");
      assert.equal(same.creationTime, created);
      const cleared = ok(await m.fs.setBasicInfo(again, { fileAttributes: A.FILE_ATTRIBUTE_NORMAL | A.FILE_ATTRIBUTE_DIRECTORY, creationTime: 0n, lastAccessTime: 0n, lastWriteTime: 0n, changeTime: 0n }));
      assert.equal(cleared.fileAttributes, 0);
      await closeFile(m.fs, again);

      // Before 1970 too (1950; ext4 clamps times before 1901).
      const { fileContext: g } = await create(m.fs, "\\old");
      const y1950 = 110133216000000000n;
      const o = ok(await m.fs.setBasicInfo(g, { fileAttributes: 0xffffffff, creationTime: y1950, lastAccessTime: 0n, lastWriteTime: y1950, changeTime: 0n }));
      assert.equal(o.creationTime, y1950);
      assert.equal(o.lastWriteTime, y1950);
      assert.ok(statSync(m.host("\\old")).mtimeMs < 0);
      await closeFile(m.fs, g);
    });

    test("a file without user.DOSATTRIB: creation time from the birth time (STATX) or Samba's calculated one; dot names are hidden", async (t) => {
      const m = await mount(t, factory);
      writeFileSync(m.host("\\plain"), "x");
      writeFileSync(m.host("\\.hidden"), "x");
      const { statx } = await import("../../src/sys/fs.js");
      const sx = statx(-100, m.host("\\plain"), 0);
      const f = await open(m.fs, "\\plain", AccessMask.FILE_READ_ATTRIBUTES);
      const info = ok(await m.fs.getFileInfo(f));
      const st = statSync(m.host("\\plain"), { bigint: true });
      const filetime = (ns: bigint): bigint => ns / 100n + 116444736000000000n;
      if (factory.enosys.has("statx")) {
        const min = [st.ctimeNs, st.mtimeNs, st.atimeNs].reduce((a, b) => (a < b ? a : b));
        assert.equal(info.creationTime, filetime(min), "Samba's min(ctime, mtime, atime)");
      } else {
        assert.ok(sx.btime !== undefined);
        assert.equal(info.creationTime, filetime(sx.btime.sec * 1_000_000_000n + BigInt(sx.btime.nsec)), "the host's birth time");
      }
      assert.equal(hostXattr(m.host("\\plain"), "user.DOSATTRIB"), undefined, "reading stores nothing");
      await closeFile(m.fs, f);
      const h = await open(m.fs, "\\.hidden", AccessMask.FILE_READ_ATTRIBUTES);
      assert.equal(ok(await m.fs.getFileInfo(h)).fileAttributes, A.FILE_ATTRIBUTE_HIDDEN);
      await closeFile(m.fs, h);

      // The hex-only form Wine writes (no NUL), as Samba reads it.
      const { closeSync, openSync } = await import("node:fs");
      const { fsetxattr } = await import("../../src/sys/fs.js");
      writeFileSync(m.host("\\wine"), "");
      const fd = openSync(m.host("\\wine"), "r");
      fsetxattr(fd, "user.DOSATTRIB", Buffer.from("0x6"));
      closeSync(fd);
      const w = await open(m.fs, "\\wine", AccessMask.FILE_READ_ATTRIBUTES);
      assert.equal(ok(await m.fs.getFileInfo(w)).fileAttributes, A.FILE_ATTRIBUTE_HIDDEN | A.FILE_ATTRIBUTE_SYSTEM);
      await closeFile(m.fs, w);
    });

    test("many calls at once: creates, writes, reads, listings and closes keep the lookup counts exact", async (t) => {
      const m = await mount(t, factory, { nameCacheSize: 16 });
      const d = await create(m.fs, "\\p", { directory: true });
      await Promise.all(
        Array.from({ length: 60 }, async (_, i) => {
          const f = await create(m.fs, `\\p\\f${i}`);
          ok(await m.fs.write(f.fileContext, Buffer.from(`data ${i}`), 0n, false, false));
          const again = await open(m.fs, `\\p\\f${i}`, AccessMask.FILE_GENERIC_READ);
          const buffer = new Uint8Array(16);
          assert.equal(Buffer.from(buffer.subarray(0, ok(await m.fs.read(again, buffer, 0n)))).toString(), `data ${i}`);
          await closeFile(m.fs, again);
          await closeFile(m.fs, f.fileContext, i % 3 === 0 ? CleanupFlag.Delete : 0, `\\p\\f${i}`);
        }),
      );
      const listed = await Promise.all([0, 1, 2].map(async () => ok(await m.fs.readDirectory(d.fileContext, null, null, 1 << 16)).entries.length));
      assert.deepEqual(listed, [42, 42, 42], "dots and the 40 files left");
      await closeFile(m.fs, d.fileContext);
      m.fs.invalidateCaches();
      await m.session.flushForgets();
      assert.equal(m.session.trackedNodes, 0);
      assert.equal(m.fs.stats.nodes, 1);
    });

    test("CanDelete and SetDelete: empty and non-empty directories, files; nothing is deleted before Cleanup", async (t) => {
      const m = await mount(t, factory);
      const d = await create(m.fs, "\\d", { directory: true });
      ok(await m.fs.canDelete(d.fileContext, "\\d"));
      const x = await create(m.fs, "\\d\\x");
      fails(await m.fs.canDelete(d.fileContext, "\\d"), "STATUS_DIRECTORY_NOT_EMPTY");
      fails(await m.fs.setDelete(d.fileContext, "\\d", true), "STATUS_DIRECTORY_NOT_EMPTY");
      ok(await m.fs.setDelete(d.fileContext, "\\d", false));
      ok(await m.fs.canDelete(x.fileContext, "\\d\\x"));
      ok(await m.fs.setDelete(x.fileContext, "\\d\\x", true));
      assert.ok(existsSync(m.host("\\d\\x")));
      await closeFile(m.fs, x.fileContext, CleanupFlag.Delete, "\\d\\x");
      ok(await m.fs.canDelete(d.fileContext, "\\d"));
      await closeFile(m.fs, d.fileContext);
    });

    test("lookups are given back: FORGETs reach the server once contexts close and caches drop", async (t) => {
      const m = await mount(t, factory);
      const contexts = [];
      for (let i = 0; i < 20; i++) contexts.push((await create(m.fs, `\\f${i}`)).fileContext);
      assert.ok(m.session.trackedNodes >= 20);
      for (const c of contexts) await closeFile(m.fs, c);
      m.fs.invalidateCaches();
      await m.session.flushForgets();
      assert.equal(m.session.trackedNodes, 0, "every reference given back");
      assert.ok(m.session.stats.forgetEntries >= 20);
      assert.equal(m.fs.stats.nodes, 1, "only the root is tracked");
      // Still usable afterwards.
      const again = await open(m.fs, "\\f3", AccessMask.FILE_READ_ATTRIBUTES);
      await closeFile(m.fs, again);
    });

    test("Create (without Ex): a file and a directory, FileInfo and host; the opener of a read-only host file", async (t) => {
      const m = await mount(t, factory);
      const { ea: _ea, reparseData: _r, ...plain } = createRequest("\\made.txt", { fileAttributes: A.FILE_ATTRIBUTE_TEMPORARY, allocationSize: 4096n });
      const f = ok(await m.fs.create(plain));
      assert.equal(f.fileInfo.fileAttributes, A.FILE_ATTRIBUTE_TEMPORARY | A.FILE_ATTRIBUTE_ARCHIVE);
      assert.equal(f.fileInfo.allocationSize, 4096n);
      assert.equal(f.fileInfo.fileSize, 0n);
      assert.ok(statSync(m.host("\\made.txt")).isFile());
      await closeFile(m.fs, f.fileContext);
      const { ea: _e2, reparseData: _r2, ...dir } = createRequest("\\newdir", { createOptions: createOptions(CreateDisposition.FILE_OPEN_IF, CreateOption.FILE_DIRECTORY_FILE) });
      const d = ok(await m.fs.create(dir));
      assert.equal(d.fileInfo.fileAttributes, A.FILE_ATTRIBUTE_DIRECTORY);
      assert.ok(statSync(m.host("\\newdir")).isDirectory());
      await closeFile(m.fs, d.fileContext);
      fails(await m.fs.create(plain), "STATUS_OBJECT_NAME_COLLISION");

      writeFileSync(m.host("\\ro.txt"), "read me");
      const { chmodSync } = await import("node:fs");
      chmodSync(m.host("\\ro.txt"), 0o444);
      const ro = await open(m.fs, "\\ro.txt", AccessMask.FILE_GENERIC_READ);
      const buffer = new Uint8Array(16);
      assert.equal(ok(await m.fs.read(ro, buffer, 0n)), 7);
      await closeFile(m.fs, ro);
    });
  });
}
