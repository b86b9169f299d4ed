/**
 * winfsp-tests stream-tests.c: named streams (`file:stream`, `file::$DATA`)
 * created, opened and deleted with and without their main file; share
 * access between a main file and its streams; information, times,
 * attributes and security shared with the main file; delete-pending main
 * files; renaming directories whose streams are mapped; stream
 * enumeration; stream-name change notifications.
 *
 * stream_getstreaminfo_expire_cache_test's body is a no-op in external
 * mode (its only branches start a MEMFS with FileInfoTimeout 500); here it
 * runs that body against the volume under test, with the 750 ms pause
 * after the fifth stream. stream_dirnotify_test checks, as the non-NTFS
 * branches do, that the stream's removal is reported too (WinFsp reports
 * it; NTFS does not, which is why the external branch stops earlier).
 */
import * as W from "../../src/win32/index.js";
import { ASSERT, GRGW, SRSW, fails, sleep, test, volumeRelative, type ConformanceTest, type TestContext } from "./harness.js";
import { checkGetSecurity, checkSetSecurity } from "./security.js";

const { CREATE_NEW, CREATE_ALWAYS, OPEN_EXISTING, FILE_FLAG_DELETE_ON_CLOSE: DOC, FILE_FLAG_BACKUP_SEMANTICS: BKP } = W;
const SDDL = "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;WD)";
const G = W.ALLOCATION_GRANULARITY;

/** CreateFileW(GR|GW, SR|SW) and close. */
async function cc(path: string, disposition: number, flags: number, sa: W.SECURITY_ATTRIBUTES | null = null): Promise<void> {
  await W.CloseHandle(await W.CreateFileW(path, GRGW, SRSW, sa, disposition, flags));
}

/** The same open expected to fail with `code`. */
function ccFails(path: string, disposition: number, flags: number, code: number): Promise<W.Win32Error> {
  return fails(W.CreateFileW(path, GRGW, SRSW, null, disposition, flags), code, path);
}

async function stream_create_test(t: TestContext): Promise<void> {
  const P = t.prefix;
  const N = W.FILE_ATTRIBUTE_NORMAL;
  /* single stream */
  await cc(`${P}\\file0:foo`, CREATE_NEW, N);
  await cc(`${P}\\file0:foo`, OPEN_EXISTING, N);
  await cc(`${P}\\file0:foo`, OPEN_EXISTING, DOC);
  await ccFails(`${P}\\file0:foo`, OPEN_EXISTING, DOC, W.ERROR_FILE_NOT_FOUND);
  await cc(`${P}\\file0`, OPEN_EXISTING, N);
  await cc(`${P}\\file0`, OPEN_EXISTING, DOC);
  await ccFails(`${P}\\file0`, OPEN_EXISTING, DOC, W.ERROR_FILE_NOT_FOUND);
  await ccFails(`${P}\\file0:foo`, OPEN_EXISTING, DOC, W.ERROR_FILE_NOT_FOUND);

  /* multiple streams */
  await cc(`${P}\\file0:foo`, CREATE_NEW, N);
  await cc(`${P}\\file0:bar`, CREATE_NEW, N);
  await cc(`${P}\\file0:baz`, CREATE_NEW, DOC | N);
  await cc(`${P}\\file0`, OPEN_EXISTING, N);
  await cc(`${P}\\file0:foo`, OPEN_EXISTING, N);
  await cc(`${P}\\file0:bar`, OPEN_EXISTING, N);
  await ccFails(`${P}\\file0:baz`, OPEN_EXISTING, N, W.ERROR_FILE_NOT_FOUND);
  await cc(`${P}\\file0:foo`, OPEN_EXISTING, DOC);
  await ccFails(`${P}\\file0:foo`, OPEN_EXISTING, N, W.ERROR_FILE_NOT_FOUND);
  await cc(`${P}\\file0:bar`, OPEN_EXISTING, N);
  await cc(`${P}\\file0`, OPEN_EXISTING, DOC);
  await ccFails(`${P}\\file0`, OPEN_EXISTING, N, W.ERROR_FILE_NOT_FOUND);
  await ccFails(`${P}\\file0:foo`, OPEN_EXISTING, N, W.ERROR_FILE_NOT_FOUND);
  await ccFails(`${P}\\file0:bar`, OPEN_EXISTING, N, W.ERROR_FILE_NOT_FOUND);
  await ccFails(`${P}\\file0:baz`, OPEN_EXISTING, N, W.ERROR_FILE_NOT_FOUND);

  /* directory streams */
  await W.CreateDirectoryW(`${P}\\dir1`, null);
  await cc(`${P}\\dir1:foo`, CREATE_NEW, N);
  await cc(`${P}\\dir1:bar`, CREATE_NEW, N);
  await cc(`${P}\\dir1:foo`, OPEN_EXISTING, N);
  await cc(`${P}\\dir1:bar`, OPEN_EXISTING, N);
  await cc(`${P}\\dir1`, OPEN_EXISTING, BKP | DOC);
  await ccFails(`${P}\\dir1`, OPEN_EXISTING, BKP | DOC, W.ERROR_FILE_NOT_FOUND);
  await ccFails(`${P}\\dir1:foo`, OPEN_EXISTING, N, W.ERROR_FILE_NOT_FOUND);
  await ccFails(`${P}\\dir1:bar`, OPEN_EXISTING, N, W.ERROR_FILE_NOT_FOUND);

  /* invalid names */
  for (const bad of ["file0:", "file0:foo:", "file0:foo:$NONEXISTANTATTR", "file0:foo:$DATA:"]) await ccFails(`${P}\\${bad}`, CREATE_NEW, N, W.ERROR_INVALID_NAME);
  await fails(W.CreateDirectoryW(`${P}\\dir1:foo`, null), W.ERROR_DIRECTORY);

  /* main file */
  await cc(`${P}\\file0::$DATA`, CREATE_NEW, N | DOC);
  await fails(W.CreateDirectoryW(`${P}\\dir1::$DATA`, null), W.ERROR_DIRECTORY);
}

async function stream_create_overwrite_test(t: TestContext): Promise<void> {
  const P = t.prefix;
  const N = W.FILE_ATTRIBUTE_NORMAL;
  const RA = W.FILE_READ_ATTRIBUTES;
  await cc(`${P}\\file0`, CREATE_NEW, N);
  await cc(`${P}\\file0:foo`, CREATE_NEW, N);
  await cc(`${P}\\file0:bar`, CREATE_NEW, N);
  const h2 = await W.CreateFileW(`${P}\\file0:bar`, RA, 0, null, OPEN_EXISTING, 0);
  await cc(`${P}\\file0`, CREATE_ALWAYS, N);
  await fails(W.CreateFileW(`${P}\\file0:foo`, RA, 0, null, OPEN_EXISTING, 0), W.ERROR_FILE_NOT_FOUND, "file0:foo after the overwrite");
  await fails(W.CreateFileW(`${P}\\file0:bar`, RA, 0, null, OPEN_EXISTING, 0), W.ERROR_ACCESS_DENIED, "file0:bar, open, after the overwrite");
  await W.CloseHandle(h2);
  await fails(W.CreateFileW(`${P}\\file0:bar`, RA, 0, null, OPEN_EXISTING, 0), W.ERROR_FILE_NOT_FOUND, "file0:bar after its close");
  await cc(`${P}\\file0`, OPEN_EXISTING, DOC);
  await fails(W.CreateFileW(`${P}\\file0`, RA, 0, null, OPEN_EXISTING, 0), W.ERROR_FILE_NOT_FOUND);
}

async function stream_create_related_test(t: TestContext): Promise<void> {
  const file = await W.CreateFileW(`${t.prefix}\\file0`, GRGW, SRSW, null, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL);
  const r = await W.NtCreateFile(
    W.FILE_GENERIC_READ | W.FILE_GENERIC_WRITE,
    { ObjectName: ":foo", RootDirectory: file },
    0n,
    W.FILE_ATTRIBUTE_NORMAL,
    0,
    W.CreateDisposition.FILE_CREATE,
    0,
  );
  ASSERT(r.Status === W.NtStatus.STATUS_SUCCESS && r.FileHandle !== null, `NtCreateFile(:foo relative to the file): 0x${(r.Status >>> 0).toString(16)}`);
  await W.CloseHandle(r.FileHandle);
  await W.CloseHandle(file);
  await cc(`${t.prefix}\\file0`, OPEN_EXISTING, DOC);
}

async function stream_create_sd_test(t: TestContext): Promise<void> {
  const sd = W.ConvertStringSecurityDescriptorToSecurityDescriptorW(SDDL, W.SDDL_REVISION_1);
  await cc(`${t.prefix}\\file0:foo`, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL, { lpSecurityDescriptor: sd });
  await cc(`${t.prefix}\\file0`, OPEN_EXISTING, DOC);
  const absolute = W.InitializeSecurityDescriptor();
  const owner = W.GetSecurityDescriptorOwner(sd);
  W.SetSecurityDescriptorOwner(absolute, owner.pOwner, owner.lpbOwnerDefaulted);
  const group = W.GetSecurityDescriptorGroup(sd);
  W.SetSecurityDescriptorGroup(absolute, group.pGroup, group.lpbGroupDefaulted);
  const dacl = W.GetSecurityDescriptorDacl(sd);
  W.SetSecurityDescriptorDacl(absolute, dacl.lpbDaclPresent, dacl.pDacl, dacl.lpbDaclDefaulted);
  /* (the C test reuses FilePath, which names file0 by now) */
  await cc(`${t.prefix}\\file0`, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL, { lpSecurityDescriptor: absolute });
  await cc(`${t.prefix}\\file0`, OPEN_EXISTING, DOC);
}

async function stream_create_share_test(t: TestContext): Promise<void> {
  const file = `${t.prefix}\\file0`;
  const stream = `${t.prefix}\\file0:foo`;
  await cc(stream, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL);

  /* share test */
  let h1 = await W.CreateFileW(stream, GRGW, SRSW, null, OPEN_EXISTING, 0);
  let h2 = await W.CreateFileW(stream, GRGW, SRSW, null, OPEN_EXISTING, 0);
  await W.CloseHandle(h1);
  await W.CloseHandle(h2);
  h1 = await W.CreateFileW(stream, GRGW, W.FILE_SHARE_READ, null, OPEN_EXISTING, 0);
  await fails(W.CreateFileW(stream, GRGW, SRSW, null, OPEN_EXISTING, 0), W.ERROR_SHARING_VIOLATION);
  await W.CloseHandle(h1);
  h1 = await W.CreateFileW(stream, GRGW, SRSW, null, OPEN_EXISTING, 0);
  await fails(W.CreateFileW(stream, GRGW, W.FILE_SHARE_READ, null, OPEN_EXISTING, 0), W.ERROR_SHARING_VIOLATION);
  await W.CloseHandle(h1);

  const accesses = [W.FILE_READ_DATA, W.FILE_WRITE_DATA, W.DELETE] as const;
  const SD = W.FILE_SHARE_DELETE;
  /** H1 = DELETE with `share1` on `first`; then each access on `second` with `share2`; `expect(i)`: ok or sharing violation. */
  const deny = async (first: string, share1: number, second: string, share2: number, ok: (access: number) => boolean, what: string): Promise<void> => {
    const hold = await W.CreateFileW(first, W.DELETE, share1, null, OPEN_EXISTING, 0);
    let last: W.HANDLE | null = null;
    for (const access of accesses) {
      if (ok(access)) {
        const h = await W.CreateFileW(second, access, share2, null, OPEN_EXISTING, 0);
        if (access === W.DELETE) last = h;
        else await W.CloseHandle(h);
      } else await fails(W.CreateFileW(second, access, share2, null, OPEN_EXISTING, 0), W.ERROR_SHARING_VIOLATION, `${what}, access 0x${access.toString(16)}`);
    }
    await W.CloseHandle(hold);
    if (last !== null) await W.CloseHandle(last);
  };
  /* main file deny delete tests #1-#4 */
  await deny(file, SD, stream, SD, () => true, "main #1");
  await deny(file, 0, stream, SD, () => true, "main #2");
  await deny(file, SD, stream, 0, () => false, "main #3");
  await deny(file, 0, stream, 0, () => false, "main #4");
  /* stream deny delete tests #1-#4 */
  await deny(stream, SD, file, SD, () => true, "stream #1");
  await deny(stream, SD, file, 0, () => true, "stream #2");
  await deny(stream, 0, file, SD, (a) => a !== W.DELETE, "stream #3");
  await deny(stream, 0, file, 0, (a) => a !== W.DELETE, "stream #4");

  await cc(file, OPEN_EXISTING, DOC);
}

async function stream_getfileinfo_test(t: TestContext): Promise<void> {
  const timeLo = W.GetSystemTimeAsFileTime();
  const timeHi = timeLo + 10000n * 10000n;
  const inWindow = (v: bigint): boolean => timeLo <= v && v < timeHi;
  const check = async (h: W.HANDLE, path: string): Promise<W.BY_HANDLE_FILE_INFORMATION> => {
    const tag = (await W.GetFileInformationByHandleEx(h, W.FileAttributeTagInfo)) as W.FILE_ATTRIBUTE_TAG_INFO;
    ASSERT(tag.ReparseTag === 0, "ReparseTag");
    const basic = (await W.GetFileInformationByHandleEx(h, W.FileBasicInfo)) as W.FILE_BASIC_INFO;
    ASSERT(inWindow(basic.LastAccessTime) && inWindow(basic.LastWriteTime) && inWindow(basic.ChangeTime), "times in window");
    const standard = (await W.GetFileInformationByHandleEx(h, W.FileStandardInfo)) as W.FILE_STANDARD_INFO;
    ASSERT(standard.AllocationSize === 0n && standard.EndOfFile === 0n, "sizes 0");
    ASSERT(standard.NumberOfLinks === 1 && !standard.DeletePending && !standard.Directory, "links, pending, directory");
    const short = await fails(W.GetFileInformationByHandleEx(h, W.FileNameInfo, W.SIZEOF_FILE_NAME_INFO), W.ERROR_MORE_DATA);
    const partial = short.output as W.FILE_NAME_INFO;
    ASSERT(partial.FileNameLength === volumeRelative(path).length * 2, "FileNameLength of the truncated answer");
    ASSERT(partial.FileName[0] === "\\", "FileName[0]");
    const name = (await W.GetFileInformationByHandleEx(h, W.FileNameInfo)) as W.FILE_NAME_INFO;
    ASSERT(name.FileNameLength === volumeRelative(path).length * 2, "FileNameLength");
    ASSERT(name.FileName === volumeRelative(path), `FileName ${name.FileName}`);
    const info = await W.GetFileInformationByHandle(h);
    ASSERT(inWindow(info.ftLastAccessTime) && inWindow(info.ftLastWriteTime), "times in window");
    ASSERT(info.nFileSizeLow === 0 && info.nFileSizeHigh === 0, "size 0");
    ASSERT(info.nNumberOfLinks === 1, "one link");
    return info;
  };
  const stream = `${t.prefix}\\file0:foo`;
  let h = await W.CreateFileW(stream, GRGW, SRSW, null, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL | DOC);
  const s = await check(h, stream);
  await W.CloseHandle(h);
  const file = `${t.prefix}\\file0`;
  h = await W.CreateFileW(file, GRGW, SRSW, null, OPEN_EXISTING, DOC);
  const f = await check(h, file);
  ASSERT(f.nFileIndexHigh === s.nFileIndexHigh && f.nFileIndexLow === s.nFileIndexLow, "the stream's index is the main file's");
  await W.CloseHandle(h);
}

async function stream_setfileinfo_test(t: TestContext): Promise<void> {
  const SALL = W.FILE_SHARE_READ | W.FILE_SHARE_WRITE | W.FILE_SHARE_DELETE;
  const streamPath = `${t.prefix}\\file0:foo`;
  const s = await W.CreateFileW(streamPath, GRGW, SALL, null, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL);
  const info0 = await W.GetFileInformationByHandle(s);
  await W.SetFileAttributesW(streamPath, W.FILE_ATTRIBUTE_DIRECTORY | W.FILE_ATTRIBUTE_HIDDEN);
  let info = await W.GetFileInformationByHandle(s);
  ASSERT(info.dwFileAttributes === W.FILE_ATTRIBUTE_HIDDEN, `attributes 0x${info.dwFileAttributes.toString(16)}`);
  const T = 116444736000000000n + 0x4200000042n;
  await W.SetFileTime(s, null, T, T);
  info = await W.GetFileInformationByHandle(s);
  ASSERT(info.ftCreationTime === info0.ftCreationTime, "creation time unchanged");
  ASSERT(info.ftLastAccessTime === T && info.ftLastWriteTime === T, "access and write times");
  await W.SetFileTime(s, T, null, null);
  info = await W.GetFileInformationByHandle(s);
  ASSERT(info.ftCreationTime === T, "creation time");
  ASSERT((await W.SetFilePointer(s, 42, W.FILE_BEGIN)) === 42, "SetFilePointer");
  await W.SetEndOfFile(s);
  info = await W.GetFileInformationByHandle(s);
  ASSERT(info.nFileSizeLow === 42 && info.nFileSizeHigh === 0, "stream size 42");
  const index = { high: info.nFileIndexHigh, low: info.nFileIndexLow };

  const h = await W.CreateFileW(`${t.prefix}\\file0`, GRGW, SALL, null, OPEN_EXISTING, DOC);
  info = await W.GetFileInformationByHandle(h);
  ASSERT((info.dwFileAttributes & W.FILE_ATTRIBUTE_HIDDEN) !== 0, "the main file is hidden");
  ASSERT(info.ftLastAccessTime === T && info.ftLastWriteTime === T && info.ftCreationTime === T, "the main file's times");
  ASSERT(info.nFileSizeLow === 0 && info.nFileSizeHigh === 0, "the main file's size is its own");
  ASSERT(info.nFileIndexHigh === index.high && info.nFileIndexLow === index.low, "one index");

  let T2 = 0x4100000041n;
  await W.SetFileTime(s, T2, T2, T2);
  info = await W.GetFileInformationByHandle(h);
  ASSERT(info.ftLastAccessTime === T2 && info.ftLastWriteTime === T2 && info.ftCreationTime === T2, "times set through the stream, read through the file");
  T2 = 0x4300000043n;
  await W.SetFileTime(h, T2, T2, T2);
  info = await W.GetFileInformationByHandle(s);
  ASSERT(info.ftLastAccessTime === T2 && info.ftLastWriteTime === T2 && info.ftCreationTime === T2, "times set through the file, read through the stream");
  await W.CloseHandle(s);
  await W.CloseHandle(h);
}

async function streamTree(t: TestContext): Promise<{ dir1: string; dir1Stream: string; file: string; fileStream: string }> {
  const dir1 = `${t.prefix}\\dir1`;
  const paths = { dir1, dir1Stream: `${dir1}:foo1`, file: `${dir1}\\file0`, fileStream: `${dir1}\\file0:foo0` };
  await W.CreateDirectoryW(dir1, null);
  await cc(paths.dir1Stream, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL);
  await cc(paths.file, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL);
  await cc(paths.fileStream, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL);
  await fails(W.RemoveDirectoryW(dir1), W.ERROR_DIR_NOT_EMPTY);
  return paths;
}

async function stream_delete_test(t: TestContext): Promise<void> {
  const p = await streamTree(t);
  await W.DeleteFileW(p.file);
  await fails(W.DeleteFileW(p.file), W.ERROR_FILE_NOT_FOUND);
  await W.RemoveDirectoryW(p.dir1);
  await fails(W.RemoveDirectoryW(p.dir1), W.ERROR_FILE_NOT_FOUND);
}

async function stream_delete_pending_test(t: TestContext): Promise<void> {
  const p = await streamTree(t);
  for (const [main, stream, flags, remove] of [
    [p.file, p.fileStream, 0, W.DeleteFileW],
    [p.dir1, p.dir1Stream, BKP, W.RemoveDirectoryW],
  ] as const) {
    const h = await W.CreateFileW(main, W.DELETE, W.FILE_SHARE_DELETE, null, OPEN_EXISTING, flags);
    await W.SetFileInformationByHandle(h, W.FileDispositionInfo, { DeleteFile: true });
    await fails(W.CreateFileW(stream, W.FILE_READ_ATTRIBUTES, 0, null, OPEN_EXISTING, 0), W.ERROR_ACCESS_DENIED, `${stream} of a delete-pending file`);
    await W.CloseHandle(h);
    await fails(remove(main), W.ERROR_FILE_NOT_FOUND);
  }
}

async function stream_rename_flipflop_test(t: TestContext): Promise<void> {
  const n = 10;
  const digits = "01234567890123456789012345678901234567890123456789012345678901234567890123456789";
  const short = `${t.prefix}\\short`;
  const long = `${t.prefix}\\longlonglonglonglonglonglonglong`;
  const fileOf = (j: number): string => (j <= n / 2 ? `${short}\\${digits.slice(0, j)}` : `${short}\\subdir\\${digits.slice(0, j)}`);
  const streamOf = (j: number): string => `${fileOf(j)}${j <= n / 2 ? ":foo" : ":bar"}`;
  const mapped = async (path: string): Promise<W.HANDLE> => {
    const h = await W.CreateFileW(path, W.GENERIC_ALL, 0, null, CREATE_ALWAYS, W.FILE_ATTRIBUTE_NORMAL);
    const m = await W.CreateFileMappingW(h, null, W.PAGE_READWRITE, 0, G);
    await W.CloseHandle(h);
    return m;
  };
  await W.CreateDirectoryW(short, null);
  const dirStreamMapping = await mapped(`${short}:dirstrm`);
  await W.CreateDirectoryW(`${short}\\subdir`, null);
  const mappings: W.HANDLE[] = [];
  for (let j = 1; j <= n; j++) mappings.push(await mapped(streamOf(j)));
  for (let i = 0; i < 10; i++) {
    await W.MoveFileExW(short, long, 0);
    await W.MoveFileExW(long, short, 0);
  }
  for (const m of mappings) await W.CloseHandle(m);
  await W.CloseHandle(dirStreamMapping);
  for (let j = 1; j <= n; j++) await W.DeleteFileW(fileOf(j));
  await W.RemoveDirectoryW(`${short}\\subdir`);
  await W.RemoveDirectoryW(short);
}

async function stream_getsecurity_test(t: TestContext): Promise<void> {
  const sd = W.ConvertStringSecurityDescriptorToSecurityDescriptorW(SDDL, W.SDDL_REVISION_1);
  await cc(`${t.prefix}\\file0:foo`, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL, { lpSecurityDescriptor: sd });
  for (const path of [`${t.prefix}\\file0`, `${t.prefix}\\file0:foo`]) {
    const h = await W.CreateFileW(path, GRGW, SRSW, null, OPEN_EXISTING, 0);
    await checkGetSecurity(h);
    await W.CloseHandle(h);
  }
  await W.DeleteFileW(`${t.prefix}\\file0`);
}

async function stream_setsecurity_test(t: TestContext): Promise<void> {
  const SALL = W.FILE_SHARE_READ | W.FILE_SHARE_WRITE | W.FILE_SHARE_DELETE;
  const sd = W.ConvertStringSecurityDescriptorToSecurityDescriptorW(SDDL, W.SDDL_REVISION_1);
  const s = await W.CreateFileW(`${t.prefix}\\file0:foo`, (GRGW | W.WRITE_DAC) >>> 0, SALL, { lpSecurityDescriptor: sd }, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL);
  const h = await W.CreateFileW(`${t.prefix}\\file0`, GRGW, SALL, null, OPEN_EXISTING, DOC);
  await checkSetSecurity(h, s);
  await W.CloseHandle(s);
  await W.CloseHandle(h);
}

/** wcstoul(s, &endp, 10) with `*endp == ':'` required: the number, or NaN. */
function streamNumber(name: string): number {
  const m = /^:s([0-9]+):/.exec(name);
  return m === null ? Number.NaN : Number.parseInt(m[1]!, 10);
}

async function enumerateStreams(path: string, each: (d: W.WIN32_FIND_STREAM_DATA, index: number) => Promise<void>): Promise<void> {
  const f = await W.FindFirstStreamW(path, W.FindStreamInfoStandard, 0);
  let d = f.FindStreamData;
  for (let i = 0; ; i++) {
    await each(d, i);
    try {
      d = await W.FindNextStreamW(f.hFindStream);
    } catch (e) {
      if (!W.Win32Error.is(e)) throw e;
      ASSERT(e.code === W.ERROR_HANDLE_EOF && W.GetLastError() === W.ERROR_HANDLE_EOF, `FindNextStreamW: ${e.name}`);
      break;
    }
  }
  await W.FindClose(f.hFindStream);
}

async function stream_getstreaminfo_dotest(t: TestContext, sleepTimeout: number): Promise<void> {
  const P = t.prefix;
  for (let i = 1; i <= 10; i++) await W.CloseHandle(await W.CreateFileW(`${P}\\file${i}`, W.GENERIC_ALL, 0, null, CREATE_ALWAYS, W.FILE_ATTRIBUTE_NORMAL));
  for (let i = 1; i <= 10; i++) await W.CreateDirectoryW(`${P}\\dir${i}`, null);
  for (let j = 1; j <= 100; j++) await W.CloseHandle(await W.CreateFileW(`${P}\\file5:s${j}`, W.GENERIC_ALL, 0, null, CREATE_ALWAYS, W.FILE_ATTRIBUTE_NORMAL));
  for (let j = 1; j <= 100; j++) await W.CloseHandle(await W.CreateFileW(`${P}\\dir5:s${j}`, W.GENERIC_ALL, 0, null, CREATE_ALWAYS, W.FILE_ATTRIBUTE_NORMAL));

  const f = await W.FindFirstStreamW(`${P}\\file1`, W.FindStreamInfoStandard, 0);
  ASSERT(f.FindStreamData.cStreamName === "::$DATA", `file1's stream ${f.FindStreamData.cStreamName}`);
  await fails(W.FindNextStreamW(f.hFindStream), W.ERROR_HANDLE_EOF);
  await W.FindClose(f.hFindStream);

  for (const path of [`${P}\\file5`, `${P}\\file5:s50`]) {
    let count = 0;
    let total = 0;
    await enumerateStreams(path, async (d) => {
      if (count < 1) {
        count++;
        ASSERT(d.cStreamName === "::$DATA", `first stream ${d.cStreamName}`);
        return;
      }
      const n = streamNumber(d.cStreamName);
      ASSERT(n > 0, `stream ${d.cStreamName}`);
      count++;
      total += n;
      if (sleepTimeout > 0 && count === 5) await sleep(sleepTimeout);
    });
    ASSERT(count === 101 && total === (101 * 100) / 2, `${path}: ${count} streams, total ${total}`);
  }

  await fails(W.FindFirstStreamW(`${P}\\dir1`, W.FindStreamInfoStandard, 0), W.ERROR_HANDLE_EOF);

  let count = 0;
  let total = 0;
  await enumerateStreams(`${P}\\dir5`, async (d) => {
    const n = streamNumber(d.cStreamName);
    ASSERT(n > 0, `stream ${d.cStreamName}`);
    count++;
    total += n;
    if (sleepTimeout > 0 && count === 5) await sleep(sleepTimeout);
  });
  ASSERT(count === 100 && total === (101 * 100) / 2, `dir5: ${count} streams, total ${total}`);

  for (let i = 1; i <= 10; i++) await W.DeleteFileW(`${P}\\file${i}`);
  for (let i = 1; i <= 10; i++) await W.RemoveDirectoryW(`${P}\\dir${i}`);
}

async function stream_dirnotify_test(t: TestContext): Promise<void> {
  const P = t.prefix;
  await W.CloseHandle(await W.CreateFileW(`${P}\\file0`, GRGW, 0, null, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL));
  const h = await W.CreateFileW(`${P}\\`, W.FILE_LIST_DIRECTORY, W.FILE_SHARE_READ, null, OPEN_EXISTING, BKP);
  const thread = (async (): Promise<number> => {
    await sleep(1000); /* wait for ReadDirectoryChangesW */
    try {
      await W.CloseHandle(await W.CreateFileW(`${P}\\file0:foo`, GRGW, 0, null, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL | DOC));
      return 0;
    } catch (e) {
      if (W.Win32Error.is(e)) return e.code;
      throw e;
    }
  })();
  const FILE_NOTIFY_CHANGE_STREAM_NAME = 0x200;
  let records = await W.ReadDirectoryChangesW(h, 4096, true, FILE_NOTIFY_CHANGE_STREAM_NAME);
  ASSERT(records.length > 0, "bytes transferred");
  let r = records[0]!;
  ASSERT(r.Action === 6 /* FILE_ACTION_ADDED_STREAM */, `first action ${r.Action}`);
  ASSERT(r.FileNameLength === 2 * "file0:foo".length && r.FileName === "file0:foo", `first name ${r.FileName}`);
  if (r.NextEntryOffset === 0) {
    records = await W.ReadDirectoryChangesW(h, 4096, true, FILE_NOTIFY_CHANGE_STREAM_NAME);
    ASSERT(records.length > 0, "bytes transferred (second call)");
    r = records[0]!;
  } else r = records[1]!;
  ASSERT(r.Action === 7 /* FILE_ACTION_REMOVED_STREAM */, `second action ${r.Action}`);
  ASSERT(r.FileNameLength === 2 * "file0:foo".length && r.FileName === "file0:foo", `second name ${r.FileName}`);
  ASSERT(r.NextEntryOffset === 0, "the removal is the last record");
  ASSERT((await thread) === 0, "thread exit code");
  await W.CloseHandle(h);
  await W.DeleteFileW(`${P}\\file0`);
}

export const streamTests: readonly ConformanceTest[] = [
  test("stream_create_test", stream_create_test),
  test("stream_create_overwrite_test", stream_create_overwrite_test),
  test("stream_create_related_test", stream_create_related_test),
  test("stream_create_sd_test", stream_create_sd_test),
  test("stream_create_share_test", stream_create_share_test),
  test("stream_getfileinfo_test", stream_getfileinfo_test),
  test("stream_setfileinfo_test", stream_setfileinfo_test),
  test("stream_delete_test", stream_delete_test),
  test("stream_delete_pending_test", stream_delete_pending_test),
  test("stream_rename_flipflop_test", stream_rename_flipflop_test),
  test("stream_getsecurity_test", stream_getsecurity_test),
  test("stream_setsecurity_test", stream_setsecurity_test),
  test("stream_getstreaminfo_test", (t) => stream_getstreaminfo_dotest(t, 0)),
  test("stream_getstreaminfo_expire_cache_test", (t) => stream_getstreaminfo_dotest(t, 750)),
  test("stream_dirnotify_test", stream_dirnotify_test),
];
