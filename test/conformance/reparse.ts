/**
 * winfsp-tests reparse-test.c: reparse points with a GUID and with the NFS
 * tag (set, get, opened without FILE_FLAG_OPEN_REPARSE_POINT, deleted),
 * and symbolic links (absolute, volume-relative and relative targets;
 * chains through directory links; a dangling link; a loop).
 *
 * Two differences from the C test, both stricter: the emulated process
 * holds developer mode, so CreateSymbolicLinkW must succeed (the C test
 * accepts ERROR_PRIVILEGE_NOT_HELD and skips the variant); and the
 * Windows 11 NTFS fallback in my_namecheck_fn (on ERROR_ACCESS_DENIED or
 * ERROR_DIRECTORY, check the link's substitute name instead of opening
 * through it) is not taken, since WinFsp's FSD, like pre-11 NTFS, opens a
 * file link to a directory (and a directory link to a file) with
 * FILE_FLAG_BACKUP_SEMANTICS.
 */
import * as W from "../../src/win32/index.js";
import { ASSERT, fails, test, volumeRelative, type ConformanceTest, type TestContext } from "./harness.js";

const SALL = W.FILE_SHARE_READ | W.FILE_SHARE_WRITE | W.FILE_SHARE_DELETE;
const REPARSE_GUID_DATA_BUFFER_HEADER_SIZE = 24;
const REPARSE_DATA_BUFFER_HEADER_SIZE = 8;
const MAXIMUM_REPARSE_DATA_BUFFER_SIZE = 16 * 1024;
const IO_REPARSE_TAG_NFS = 0x80000014;

/** {895fc61e-7b91-4677-ba3e-7934edf2b743} as laid out in memory. */
const REPARSE_GUID = Uint8Array.from([0x1e, 0xc6, 0x5f, 0x89, 0x91, 0x7b, 0x77, 0x46, 0xba, 0x3e, 0x79, 0x34, 0xed, 0xf2, 0xb7, 0x43]);

async function reparse_guid_test(t: TestContext): Promise<void> {
  const path = `${t.prefix}\\file0`;
  const datstr = Buffer.from("foobar", "latin1");
  let h = await W.CreateFileW(path, W.FILE_WRITE_ATTRIBUTES, SALL, null, W.CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL);
  const buf = new Uint8Array(REPARSE_GUID_DATA_BUFFER_HEADER_SIZE + datstr.length);
  const v = new DataView(buf.buffer);
  v.setUint32(0, 0x1234, true);
  v.setUint16(4, datstr.length, true);
  v.setUint16(6, 0, true);
  buf.set(REPARSE_GUID, 8);
  buf.set(datstr, 24);
  await W.DeviceIoControl(h, W.FSCTL_SET_REPARSE_POINT, buf, 0);
  const got = await W.DeviceIoControl(h, W.FSCTL_GET_REPARSE_POINT, null, MAXIMUM_REPARSE_DATA_BUFFER_SIZE);
  const g = new DataView(got.buffer, got.byteOffset, got.byteLength);
  ASSERT(g.getUint32(0, true) === 0x1234, "ReparseTag");
  ASSERT(g.getUint16(4, true) === datstr.length, "ReparseDataLength");
  ASSERT(g.getUint16(6, true) === 0, "Reserved");
  ASSERT(Buffer.from(got.subarray(8, 24)).equals(Buffer.from(REPARSE_GUID)), "ReparseGuid");
  ASSERT(Buffer.from(got.subarray(24, 24 + datstr.length)).equals(datstr), "DataBuffer");
  await W.CloseHandle(h);

  await fails(W.CreateFileW(path, W.FILE_WRITE_ATTRIBUTES, SALL, null, W.OPEN_EXISTING, 0), W.ERROR_CANT_ACCESS_FILE);
  h = await W.CreateFileW(path, W.FILE_WRITE_ATTRIBUTES, SALL, null, W.OPEN_EXISTING, W.FILE_FLAG_OPEN_REPARSE_POINT);
  v.setUint16(4, 0, true);
  await W.DeviceIoControl(h, W.FSCTL_DELETE_REPARSE_POINT, buf.subarray(0, REPARSE_GUID_DATA_BUFFER_HEADER_SIZE), 0);
  await fails(W.DeviceIoControl(h, W.FSCTL_GET_REPARSE_POINT, null, MAXIMUM_REPARSE_DATA_BUFFER_SIZE), W.ERROR_NOT_A_REPARSE_POINT);
  await W.CloseHandle(h);
  await W.DeleteFileW(path);
}

async function reparse_nfs_test(t: TestContext): Promise<void> {
  const path = `${t.prefix}\\file0`;
  let h = await W.CreateFileW(path, W.FILE_WRITE_ATTRIBUTES, SALL, null, W.CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL);
  const buf = new Uint8Array(REPARSE_DATA_BUFFER_HEADER_SIZE + 16);
  const v = new DataView(buf.buffer);
  v.setUint32(0, IO_REPARSE_TAG_NFS, true);
  v.setUint16(4, 16, true);
  v.setUint16(6, 0, true);
  v.setBigUint64(8, 0x524843n, true); /* NFS_SPECFILE_CHR */
  v.setUint32(16, 0x42, true); /* major */
  v.setUint32(20, 0x62, true); /* minor */
  await W.DeviceIoControl(h, W.FSCTL_SET_REPARSE_POINT, buf, 0);
  const got = await W.DeviceIoControl(h, W.FSCTL_GET_REPARSE_POINT, null, MAXIMUM_REPARSE_DATA_BUFFER_SIZE);
  const g = new DataView(got.buffer, got.byteOffset, got.byteLength);
  ASSERT(g.getUint32(0, true) === IO_REPARSE_TAG_NFS, "ReparseTag");
  ASSERT(g.getUint16(4, true) === 16, "ReparseDataLength");
  ASSERT(g.getUint16(6, true) === 0, "Reserved");
  ASSERT(g.getBigUint64(8, true) === 0x524843n, "NFS_SPECFILE_CHR");
  ASSERT(g.getUint32(16, true) === 0x42, "major");
  ASSERT(g.getUint32(20, true) === 0x62, "minor");
  await W.CloseHandle(h);

  await fails(W.CreateFileW(path, W.FILE_WRITE_ATTRIBUTES, SALL, null, W.OPEN_EXISTING, 0), W.ERROR_CANT_ACCESS_FILE);
  h = await W.CreateFileW(path, W.FILE_WRITE_ATTRIBUTES, SALL, null, W.OPEN_EXISTING, W.FILE_FLAG_OPEN_REPARSE_POINT);
  /* (not --fuse-external: this is the WinFsp API, which can delete reparse points) */
  v.setUint16(4, 0, true);
  await W.DeviceIoControl(h, W.FSCTL_DELETE_REPARSE_POINT, buf.subarray(0, REPARSE_DATA_BUFFER_HEADER_SIZE), 0);
  await fails(W.DeviceIoControl(h, W.FSCTL_GET_REPARSE_POINT, null, MAXIMUM_REPARSE_DATA_BUFFER_SIZE), W.ERROR_NOT_A_REPARSE_POINT);
  await W.CloseHandle(h);
  await W.DeleteFileW(path);
}

/** BestEffortCreateSymbolicLinkW (winfsp-tests.h): with ALLOW_UNPRIVILEGED_CREATE, then without on ERROR_INVALID_PARAMETER. */
async function bestEffortCreateSymbolicLinkW(link: string, target: string, flags: number): Promise<void> {
  try {
    await W.CreateSymbolicLinkW(link, target, flags | W.SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE);
  } catch (e) {
    if (!W.Win32Error.is(e) || e.code !== W.ERROR_INVALID_PARAMETER) throw e;
    await W.CreateSymbolicLinkW(link, target, flags & ~W.SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE);
  }
}

async function fileNameOf(h: W.HANDLE): Promise<string> {
  const info = (await W.GetFileInformationByHandleEx(h, W.FileNameInfo)) as W.FILE_NAME_INFO;
  ASSERT(info.FileNameLength === 2 * info.FileName.length, "FileNameLength");
  return info.FileName;
}

async function reparse_symlink_dotest0(filePath: string, linkPath: string, targetPath: string): Promise<void> {
  await bestEffortCreateSymbolicLinkW(linkPath, targetPath, 0);
  await W.CloseHandle(await W.CreateFileW(filePath, W.FILE_WRITE_ATTRIBUTES, SALL, null, W.CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL));
  const h = await W.CreateFileW(linkPath, W.FILE_WRITE_ATTRIBUTES, SALL, null, W.OPEN_EXISTING, 0);
  const name = await fileNameOf(h);
  ASSERT(name === volumeRelative(filePath), `opened through ${targetPath}: ${name}`);
  await W.CloseHandle(h);
  await W.DeleteFileW(linkPath);
  await W.DeleteFileW(filePath);
}

async function reparse_symlink_test(t: TestContext): Promise<void> {
  const filePath = `${t.prefix}\\file0`;
  const linkPath = `${t.prefix}\\link0`;
  await reparse_symlink_dotest0(filePath, linkPath, filePath);
  await reparse_symlink_dotest0(filePath, linkPath, `${volumeRelative(t.prefix)}\\file0`);
  await reparse_symlink_dotest0(filePath, linkPath, "file0");
}

async function reparse_symlink_relative_test(t: TestContext): Promise<void> {
  const P = t.prefix;
  const mkdir = (n: string): Promise<void> => W.CreateDirectoryW(`${P}${n}`, null);
  const rmdir = (n: string): Promise<void> => W.RemoveDirectoryW(`${P}${n}`);
  const make = async (n: string): Promise<void> => W.CloseHandle(await W.CreateFileW(`${P}${n}`, 0, SALL, null, W.CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL));
  const unlink = (n: string): Promise<void> => W.DeleteFileW(`${P}${n}`);
  /* my_symlink_fn, ext mode: a target starting with `\` is made volume-relative under the test directory. */
  const symlinkWith = (flags: number) => (link: string, target: string): Promise<void> =>
    bestEffortCreateSymbolicLinkW(`${P}${link}`, target.startsWith("\\") ? volumeRelative(`${P}${target}`) : target, flags);
  const symlink = symlinkWith(0);
  const symlinkd = symlinkWith(W.SYMBOLIC_LINK_FLAG_DIRECTORY);
  const open = (n: string): Promise<W.HANDLE> =>
    W.CreateFileW(`${P}${n}`, W.FILE_READ_ATTRIBUTES, SALL, null, W.OPEN_EXISTING, W.FILE_FLAG_BACKUP_SEMANTICS);
  const namecheck = async (n: string, expected: string): Promise<void> => {
    const h = await open(n);
    const name = await fileNameOf(h);
    await W.CloseHandle(h);
    ASSERT(name === volumeRelative(`${P}${expected}`), `${n} opens ${name}, not ${expected}`);
  };
  const failcheck = (n: string, code: number): Promise<unknown> => fails(open(n), code, `open ${n}`);

  await symlink("\\l0", "NON-EXISTANT");
  await unlink("\\l0");

  await mkdir("\\1");
  await mkdir("\\1\\1.1");
  await make("\\1\\1.2");
  await make("\\1\\1.3");
  await make("\\1\\1.1\\1.1.1");
  await mkdir("\\2");
  await make("\\2\\2.1");

  await symlink("\\l0", "NON-EXISTANT");
  await symlink("\\loop", "loop");
  await symlink("\\lf", "\\1");
  await symlinkd("\\ld", "\\1\\1.1\\1.1.1");
  await symlink("\\1\\1.1\\l1.1.1", "1.1.1");
  await symlinkd("\\2\\l1", "..\\1\\.");
  await symlinkd("\\1\\l2", "..\\.\\2");
  await symlinkd("\\2\\a1", "\\1");
  await symlinkd("\\1\\a2", "\\2");

  await failcheck("\\l0", W.ERROR_FILE_NOT_FOUND);
  await failcheck("\\loop", W.ERROR_CANT_RESOLVE_FILENAME);

  await namecheck("\\lf", "\\1");
  await namecheck("\\ld", "\\1\\1.1\\1.1.1");
  await namecheck("\\1\\1.1\\l1.1.1", "\\1\\1.1\\1.1.1");
  await namecheck("\\2\\l1\\1.1\\l1.1.1", "\\1\\1.1\\1.1.1");
  await namecheck("\\1\\l2\\l1\\1.1\\l1.1.1", "\\1\\1.1\\1.1.1");
  await namecheck("\\2\\a1\\1.1\\l1.1.1", "\\1\\1.1\\1.1.1");
  await namecheck("\\2\\l1\\1.1\\l1.1.1", "\\1\\1.1\\1.1.1");
  await namecheck("\\1\\a2\\l1\\1.1\\l1.1.1", "\\1\\1.1\\1.1.1");
  await namecheck("\\1\\a2\\a1\\1.1\\l1.1.1", "\\1\\1.1\\1.1.1");
  await namecheck("\\1\\a2\\a1\\l2\\l1\\1.1\\l1.1.1", "\\1\\1.1\\1.1.1");

  await rmdir("\\ld");
  await unlink("\\lf");
  await rmdir("\\1\\a2");
  await rmdir("\\2\\a1");
  await rmdir("\\1\\l2");
  await rmdir("\\2\\l1");
  await unlink("\\1\\1.1\\l1.1.1");
  await unlink("\\loop");
  await unlink("\\l0");
  await unlink("\\2\\2.1");
  await rmdir("\\2");
  await unlink("\\1\\1.1\\1.1.1");
  await unlink("\\1\\1.3");
  await unlink("\\1\\1.2");
  await rmdir("\\1\\1.1");
  await rmdir("\\1");
}

export const reparseTests: readonly ConformanceTest[] = [
  test("reparse_guid_test", reparse_guid_test),
  test("reparse_nfs_test", reparse_nfs_test),
  test("reparse_symlink_test", reparse_symlink_test),
  test("reparse_symlink_relative_test", reparse_symlink_relative_test),
];
