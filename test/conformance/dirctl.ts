/**
 * winfsp-tests dirctl-test.c: directory enumeration (wildcards, dots,
 * single names, concurrent enumerations, a buffer too small for one name,
 * names of the maximum length) and change notifications.
 *
 * querydir_expire_cache_test's body is a no-op in external mode (its only
 * branches start a MEMFS with FileInfoTimeout 500); here it runs that body
 * against the volume under test, with the 750 ms pause after the fifth
 * entry. Its enumeration of the root becomes an enumeration of the test
 * directory, which is not a root: the first two entries must be `.` and
 * `..`, then the 410 entries the C test counts.
 */
import * as W from "../../src/win32/index.js";
import { ASSERT, GRGW, SRSW, assertStatus, fails, optionalTest, sleep, test, type ConformanceTest, type TestContext } from "./harness.js";

/** winfsp-tests' mywcscmp(a, alen, b, blen) == 0 (case-sensitive, as without --case-insensitive-cmp). */
function prefixIs(name: string, prefix: string): boolean {
  return name.slice(0, prefix.length) === prefix;
}

/** wcstoul(s, &endp, 10) with `*endp == 0` required: the number, or NaN. */
function wholeNumber(s: string): number {
  return /^[0-9]+$/.test(s) ? Number.parseInt(s, 10) : Number.NaN;
}

/** FindFirstFileW + FindNextFileW until ERROR_NO_MORE_FILES; `each` sees the entries one by one. */
async function enumerate(pattern: string, each: (d: W.WIN32_FIND_DATAW, index: number) => Promise<void> | void): Promise<number> {
  const f = await W.FindFirstFileW(pattern);
  let count = 0;
  let d: W.WIN32_FIND_DATAW = f.FindFileData;
  for (;;) {
    await each(d, count++);
    try {
      d = await W.FindNextFileW(f.hFindFile);
    } catch (e) {
      if (!W.Win32Error.is(e)) throw e;
      ASSERT(e.code === W.ERROR_NO_MORE_FILES && W.GetLastError() === W.ERROR_NO_MORE_FILES, `FindNextFileW: ${e.name}`);
      break;
    }
  }
  await W.FindClose(f.hFindFile);
  return count;
}

const LONG = "fileABCDEFGHIJKLMNOPQRSTUVXWYZfile";

async function querydir_dotest(t: TestContext, sleepTimeout: number, enumerateRoot: boolean): Promise<void> {
  const P = t.prefix;
  for (let i = 1; i <= 10; i++) await W.CreateDirectoryW(`${P}\\dir${i}`, null);
  for (let j = 1; j <= 400; j++) await W.CloseHandle(await W.CreateFileW(`${P}\\${LONG}${j}`, W.GENERIC_ALL, 0, null, W.CREATE_ALWAYS, W.FILE_ATTRIBUTE_NORMAL));
  for (let j = 1; j <= 100; j++) await W.CloseHandle(await W.CreateFileW(`${P}\\dir5\\file${j}`, W.GENERIC_ALL, 0, null, W.CREATE_ALWAYS, W.FILE_ATTRIBUTE_NORMAL));
  const pause = async (count: number): Promise<void> => {
    if (sleepTimeout > 0 && count === 5) await sleep(sleepTimeout);
  };

  if (enumerateRoot) {
    let count = 0;
    await enumerate(`${P}\\*`, async (d, i) => {
      if (i < 2) {
        ASSERT((d.dwFileAttributes & W.FILE_ATTRIBUTE_DIRECTORY) !== 0 && d.cFileName === "..".slice(0, i + 1), `dot entry ${i}: ${d.cFileName}`);
        return;
      }
      ASSERT(prefixIs(d.cFileName, "file") || prefixIs(d.cFileName, "dir"), `entry ${d.cFileName}`);
      count++;
      await pause(count);
    });
    ASSERT(count === 410, `410 entries in the directory, not ${count}`);
  }

  let count = 0;
  let total = 0;
  await enumerate(`${P}\\dir5\\*`, async (d) => {
    if (count < 2) {
      count++;
      ASSERT((d.dwFileAttributes & W.FILE_ATTRIBUTE_DIRECTORY) !== 0, "dot entry is a directory");
      ASSERT(d.cFileName.length === count, `dot entry length: ${d.cFileName}`);
      ASSERT(d.cFileName === "..".slice(0, count), `dot entry: ${d.cFileName}`);
      return;
    }
    ASSERT((d.dwFileAttributes & W.FILE_ATTRIBUTE_DIRECTORY) === 0, `${d.cFileName} is not a directory`);
    ASSERT(prefixIs(d.cFileName, "file"), `entry ${d.cFileName}`);
    const n = wholeNumber(d.cFileName.slice(4));
    ASSERT(n > 0, `entry ${d.cFileName}`);
    count++;
    total += n;
    await pause(count);
  });
  ASSERT(count === 102 && total === (101 * 100) / 2, `dir5\\*: ${count} entries, total ${total}`);

  count = total = 0;
  await enumerate(`${P}\\dir*`, async (d) => {
    ASSERT((d.dwFileAttributes & W.FILE_ATTRIBUTE_DIRECTORY) !== 0, `${d.cFileName} is a directory`);
    ASSERT(prefixIs(d.cFileName, "dir"), `entry ${d.cFileName}`);
    const n = wholeNumber(d.cFileName.slice(3));
    ASSERT(n > 0, `entry ${d.cFileName}`);
    count++;
    total += n;
    await pause(count);
  });
  ASSERT(count === 10 && total === (11 * 10) / 2, `dir*: ${count} entries, total ${total}`);

  count = total = 0;
  await enumerate(`${P}\\file*`, async (d) => {
    ASSERT((d.dwFileAttributes & W.FILE_ATTRIBUTE_DIRECTORY) === 0, `${d.cFileName} is not a directory`);
    ASSERT(prefixIs(d.cFileName, LONG), `entry ${d.cFileName}`);
    const n = wholeNumber(d.cFileName.slice(LONG.length));
    ASSERT(n > 0, `entry ${d.cFileName}`);
    count++;
    total += n;
    await pause(count);
  });
  ASSERT(count === 400 && total === (401 * 400) / 2, `file*: ${count} entries, total ${total}`);

  await fails(W.FindFirstFileW(`${P}\\DOES-NOT-EXIST`), W.ERROR_FILE_NOT_FOUND);
  await fails(W.FindFirstFileW(`${P}\\DOES-NOT-EXIST*`), W.ERROR_FILE_NOT_FOUND);

  for (let j = 1; j <= 100; j++) await W.DeleteFileW(`${P}\\dir5\\file${j}`);
  for (let j = 1; j <= 400; j++) await W.DeleteFileW(`${P}\\${LONG}${j}`);
  for (let i = 1; i <= 10; i++) await W.RemoveDirectoryW(`${P}\\dir${i}`);
  await fails(W.FindFirstFileW(`${P}\\file*`), W.ERROR_FILE_NOT_FOUND);
}

async function querydir_test(t: TestContext): Promise<void> {
  await querydir_dotest(t, 0, false);
}

const NODUP_NAMES = [
  "Extensions.cs",
  "JsonSchema.cs",
  "JsonSchemaBuilder.cs",
  "JsonSchemaConstants.cs",
  "JsonSchemaException.cs",
  "JsonSchemaGenerator.cs",
  "JsonSchemaModel.cs",
  "JsonSchemaModelBuilder.cs",
  "JsonSchemaNode.cs",
  "JsonSchemaNodeCollection.cs",
  "JsonSchemaResolver.cs",
  "JsonSchemaType.cs",
  "JsonSchemaWriter.cs",
  "UndefinedSchemaIdHandling.cs",
  "ValidationEventArgs.cs",
  "ValidationEventHandler.cs",
];

/** querydir_nodup_dotest_thread_loop: one enumeration; answers its NTSTATUS (STATUS_UNSUCCESSFUL on a duplicate). */
async function nodupLoop(path: string): Promise<number> {
  let h: W.HANDLE;
  try {
    h = await W.CreateFileW(path, W.FILE_LIST_DIRECTORY, W.FILE_SHARE_READ | W.FILE_SHARE_WRITE | W.FILE_SHARE_DELETE, null, W.OPEN_EXISTING, W.FILE_FLAG_BACKUP_SEMANTICS);
  } catch (e) {
    if (W.Win32Error.is(e)) return e.status ?? W.NtStatus.STATUS_UNSUCCESSFUL;
    throw e;
  }
  const seen: string[] = [];
  try {
    for (;;) {
      const r = await W.NtQueryDirectoryFile(h, 4096, W.FileInformationClass.FileFullDirectoryInformation, false, null, false);
      if (r.Status === W.NtStatus.STATUS_NO_MORE_FILES) break;
      if (r.Status < 0 || r.Status >= 0x80000000) return r.Status;
      for (const e of W.readDirectoryEntries(r.Buffer, r.Information, W.FileInformationClass.FileFullDirectoryInformation)) {
        if (seen.includes(e.fileName)) return W.NtStatus.STATUS_UNSUCCESSFUL;
        if (seen.length < 64) seen.push(e.fileName);
      }
    }
    return W.NtStatus.STATUS_SUCCESS;
  } finally {
    await W.CloseHandle(h);
  }
}

async function querydir_nodup_test(t: TestContext): Promise<void> {
  const dir = `${t.prefix}\\dir0`;
  await W.CreateDirectoryW(dir, null);
  for (const n of NODUP_NAMES) await W.CloseHandle(await W.CreateFileW(`${dir}\\${n}`, W.GENERIC_ALL, 0, null, W.CREATE_ALWAYS, W.FILE_ATTRIBUTE_NORMAL));
  const thread = async (): Promise<number> => {
    for (let i = 0; i < 5000; i++) {
      const status = await nodupLoop(dir);
      if (status !== W.NtStatus.STATUS_SUCCESS) return status;
    }
    return W.NtStatus.STATUS_SUCCESS;
  };
  const exits = await Promise.all([thread(), thread()]);
  for (const code of exits) ASSERT(code === 0, `thread exit code 0x${(code >>> 0).toString(16)}`);
  for (const n of NODUP_NAMES) await W.DeleteFileW(`${dir}\\${n}`);
  await W.RemoveDirectoryW(dir);
}

async function querydir_single_test(t: TestContext): Promise<void> {
  const current = W.GetCurrentDirectoryW();
  await W.SetCurrentDirectoryW(`${t.prefix}\\`);
  const name = (i: number): string => `xxxxxxx-file${i}`;
  for (let i = 0; i < 1000; i++) await W.CloseHandle(await W.CreateFileW(name(i), GRGW, SRSW, null, W.CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL));
  await drain("*");
  for (let i = 0; i < 1000; i++) await drain(name(i));
  for (let i = 0; i < 1000; i++) await W.DeleteFileW(name(i));
  await W.SetCurrentDirectoryW(current);

  async function drain(pattern: string): Promise<void> {
    const f = await W.FindFirstFileW(pattern);
    for (;;) {
      try {
        await W.FindNextFileW(f.hFindFile);
      } catch (e) {
        if (!W.Win32Error.is(e)) throw e;
        break;
      }
    }
    await W.FindClose(f.hFindFile);
  }
}

async function querydir_expire_cache_test(t: TestContext): Promise<void> {
  await querydir_dotest(t, 750, true);
}

async function querydir_buffer_overflow_test(t: TestContext): Promise<void> {
  await W.CloseHandle(await W.CreateFileW(`${t.prefix}\\file0`, GRGW, SRSW, null, W.CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL));
  const h = await W.CreateFileW(`${t.prefix}\\`, W.GENERIC_READ, SRSW, null, W.OPEN_EXISTING, W.FILE_FLAG_BACKUP_SEMANTICS);
  const pattern = "file0";
  const cls = W.FileInformationClass.FileDirectoryInformation;
  const SIZEOF_FILE_DIRECTORY_INFORMATION = 72;
  let r = await W.NtQueryDirectoryFile(h, 0, cls, false, pattern, false);
  assertStatus(r.Status, W.NtStatus.STATUS_INFO_LENGTH_MISMATCH, "Length 0");
  for (const single of [false, true]) {
    r = await W.NtQueryDirectoryFile(h, SIZEOF_FILE_DIRECTORY_INFORMATION, cls, single, pattern, false);
    assertStatus(r.Status, W.NtStatus.STATUS_BUFFER_OVERFLOW, `Length 72, ReturnSingleEntry ${single}`);
    ASSERT(r.Information === SIZEOF_FILE_DIRECTORY_INFORMATION, `Information ${r.Information}`);
    const fileNameLength = new DataView(r.Buffer.buffer, r.Buffer.byteOffset).getUint32(60, true);
    ASSERT(fileNameLength === 2 * pattern.length, `FileNameLength ${fileNameLength}`);
  }
  await W.CloseHandle(h);
  await W.DeleteFileW(`${t.prefix}\\file0`);
}

async function querydir_namelen_test(t: TestContext): Promise<void> {
  const max = (await W.GetVolumeInformationW(`${t.drive}\\`)).lpMaximumComponentLength;
  const name = (n: number, base: number): string => {
    let s = "";
    for (let i = 0; i < n; i++) s += String.fromCharCode((i % 10) + base);
    return `${t.prefix}\\${s}`;
  };
  const DOC = W.FILE_FLAG_DELETE_ON_CLOSE;
  for (const base of [0x30, 0x3041]) {
    for (const n of [max - 1, max]) {
      const h = await W.CreateFileW(name(n, base), GRGW, SRSW, null, W.CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL | DOC);
      const f = await W.FindFirstFileW(name(n, base));
      await W.FindClose(f.hFindFile);
      await W.CloseHandle(h);
    }
    await fails(W.CreateFileW(name(max + 1, base), GRGW, SRSW, null, W.CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL | DOC), W.ERROR_INVALID_NAME);
  }
}

async function dirnotify_test(t: TestContext): Promise<void> {
  const P = t.prefix;
  await W.CreateDirectoryW(`${P}\\Directory`, null);
  await W.CreateDirectoryW(`${P}\\Directory\\Subdirectory`, null);
  const h = await W.CreateFileW(`${P}\\Directory`, W.FILE_LIST_DIRECTORY, W.FILE_SHARE_READ, null, W.OPEN_EXISTING, W.FILE_FLAG_BACKUP_SEMANTICS);
  const thread = (async (): Promise<number> => {
    await sleep(1000); /* wait for ReadDirectoryChangesW */
    try {
      const f = await W.CreateFileW(`${P}\\Directory\\Subdirectory\\file0`, GRGW, 0, null, W.CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL | W.FILE_FLAG_DELETE_ON_CLOSE);
      await W.CloseHandle(f);
      return 0;
    } catch (e) {
      if (W.Win32Error.is(e)) return e.code;
      throw e;
    }
  })();
  const expected = "Subdirectory\\file0";
  let records = await W.ReadDirectoryChangesW(h, 4096, true, W.FILE_NOTIFY_CHANGE_FILE_NAME);
  ASSERT(records.length > 0, "bytes transferred");
  let r = records[0]!;
  ASSERT(r.Action === W.FILE_ACTION_ADDED, `first action ${r.Action}`);
  ASSERT(r.FileNameLength === 2 * expected.length && r.FileName === expected, `first name ${r.FileName}`);
  if (r.NextEntryOffset === 0) {
    records = await W.ReadDirectoryChangesW(h, 4096, true, W.FILE_NOTIFY_CHANGE_FILE_NAME);
    ASSERT(records.length > 0, "bytes transferred (second call)");
    r = records[0]!;
  } else r = records[1]!;
  ASSERT(r.Action === W.FILE_ACTION_REMOVED, `second action ${r.Action}`);
  ASSERT(r.FileNameLength === 2 * expected.length && r.FileName === expected, `second name ${r.FileName}`);
  ASSERT(r.NextEntryOffset === 0, "the removal is the last record");
  ASSERT((await thread) === 0, "thread exit code");
  await W.CloseHandle(h);
  await W.RemoveDirectoryW(`${P}\\Directory\\Subdirectory`);
  await W.RemoveDirectoryW(`${P}\\Directory`);
}

export const dirctlTests: readonly ConformanceTest[] = [
  test("querydir_test", querydir_test),
  optionalTest("querydir_nodup_test", querydir_nodup_test),
  optionalTest("querydir_single_test", querydir_single_test),
  test("querydir_expire_cache_test", querydir_expire_cache_test),
  test("querydir_buffer_overflow_test", querydir_buffer_overflow_test),
  test("querydir_namelen_test", querydir_namelen_test),
  test("dirnotify_test", dirnotify_test),
];
