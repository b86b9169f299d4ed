/**
 * winfsp-tests create-test.c, external mode (the `-1 == Flags` branches):
 * create/open dispositions, name rules, attributes on create and overwrite,
 * relative opens, allocation, security descriptors, traverse checking,
 * backup and restore privileges, share modes, the current directory and
 * component length limits.
 */
import * as W from "../../src/win32/index.js";
import { ASSERT, GRGW, SRSW, SALL, createClose, fails, test, type ConformanceTest, type TestContext } from "./harness.js";

const { CREATE_NEW, CREATE_ALWAYS, OPEN_EXISTING, FILE_FLAG_DELETE_ON_CLOSE: DOC, FILE_FLAG_BACKUP_SEMANTICS: BKP } = W;

async function create_test(t: TestContext): Promise<void> {
  const P = t.prefix;
  const file0 = `${P}\\file0`;
  await createClose(file0, GRGW, SRSW, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL);
  await fails(W.CreateFileW(file0, GRGW, SRSW, null, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL), W.ERROR_FILE_EXISTS);
  await createClose(file0, GRGW, SRSW, OPEN_EXISTING, W.FILE_ATTRIBUTE_NORMAL);
  await createClose(file0, GRGW, SRSW, CREATE_ALWAYS, W.FILE_ATTRIBUTE_HIDDEN);
  await createClose(file0, GRGW, SRSW, OPEN_EXISTING, DOC);
  await fails(W.CreateFileW(file0, GRGW, SRSW, null, OPEN_EXISTING, DOC), W.ERROR_FILE_NOT_FOUND);

  // Wildcards are not allowed in names; a stream only in the last component.
  await fails(W.CreateFileW(`${P}\\file0*`, GRGW, SRSW, null, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL), W.ERROR_INVALID_NAME);
  await fails(W.CreateFileW(`${P}\\DOESNOTEXIST:foo\\file0*`, GRGW, SRSW, null, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL), W.ERROR_INVALID_NAME);

  const dir1 = `${P}\\dir1`;
  await W.CreateDirectoryW(dir1, null);
  await fails(W.CreateDirectoryW(dir1, null), W.ERROR_ALREADY_EXISTS);
  await createClose(`${P}\\dir1\\file2`, GRGW, SRSW, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL);
  // DELETE_ON_CLOSE of a non-empty directory: the open succeeds, the directory stays.
  await createClose(dir1, GRGW, SRSW, OPEN_EXISTING, BKP | DOC);
  await createClose(`${P}\\dir1\\file2`, GRGW, SRSW, OPEN_EXISTING, DOC);
  await createClose(dir1, GRGW, SRSW, OPEN_EXISTING, BKP | DOC);
  await fails(W.CreateFileW(dir1, GRGW, SRSW, null, OPEN_EXISTING, BKP | DOC), W.ERROR_FILE_NOT_FOUND);

  // A backslash at the end of the name.
  await fails(W.CreateFileW(`${P}\\file0\\`, GRGW, SRSW, null, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL), W.ERROR_INVALID_NAME);
  await fails(W.CreateDirectoryW(`${P}\\dir1\\\\`, null), W.ERROR_INVALID_NAME);
  await W.CreateDirectoryW(`${P}\\dir1\\`, null);
  await createClose(dir1, GRGW, SRSW, OPEN_EXISTING, BKP | DOC);

  await createClose(file0, GRGW, SRSW, CREATE_NEW, W.FILE_ATTRIBUTE_TEMPORARY | DOC);
}

async function create_fileattr_test(t: TestContext): Promise<void> {
  const file0 = `${t.prefix}\\file0`;
  const A = W;
  await createClose(file0, GRGW, SRSW, CREATE_NEW, A.FILE_ATTRIBUTE_NORMAL);
  ASSERT((await W.GetFileAttributesW(file0)) === A.FILE_ATTRIBUTE_ARCHIVE, "NORMAL → ARCHIVE");
  await W.DeleteFileW(file0);

  for (const attr of [A.FILE_ATTRIBUTE_READONLY, A.FILE_ATTRIBUTE_SYSTEM, A.FILE_ATTRIBUTE_HIDDEN]) {
    await createClose(file0, GRGW, SRSW, CREATE_NEW, attr);
    ASSERT((await W.GetFileAttributesW(file0)) === (A.FILE_ATTRIBUTE_ARCHIVE | attr), `CREATE_NEW ${attr}`);
    await W.SetFileAttributesW(file0, A.FILE_ATTRIBUTE_NORMAL);
    await W.DeleteFileW(file0);
  }

  await createClose(file0, GRGW, SRSW, CREATE_ALWAYS, A.FILE_ATTRIBUTE_NORMAL);
  ASSERT((await W.GetFileAttributesW(file0)) === A.FILE_ATTRIBUTE_ARCHIVE, "CREATE_ALWAYS NORMAL → ARCHIVE");
  for (const attr of [A.FILE_ATTRIBUTE_READONLY, A.FILE_ATTRIBUTE_SYSTEM, A.FILE_ATTRIBUTE_HIDDEN]) {
    await createClose(file0, GRGW, SRSW, CREATE_ALWAYS, attr);
    ASSERT((await W.GetFileAttributesW(file0)) === (A.FILE_ATTRIBUTE_ARCHIVE | attr), `CREATE_ALWAYS ${attr}`);
    await W.SetFileAttributesW(file0, A.FILE_ATTRIBUTE_NORMAL);
  }
  await W.DeleteFileW(file0);
}

async function create_readonlydir_test(t: TestContext): Promise<void> {
  const dir0 = `${t.prefix}\\dir0`;
  const file0 = `${t.prefix}\\dir0\\file0`;
  await W.CreateDirectoryW(dir0, null);
  await W.SetFileAttributesW(dir0, W.FILE_ATTRIBUTE_DIRECTORY | W.FILE_ATTRIBUTE_READONLY);
  ASSERT((await W.GetFileAttributesW(dir0)) === (W.FILE_ATTRIBUTE_DIRECTORY | W.FILE_ATTRIBUTE_READONLY), "DIRECTORY|READONLY");
  await createClose(file0, GRGW, SRSW, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL);
  await W.DeleteFileW(file0);
  await fails(W.RemoveDirectoryW(dir0), W.ERROR_ACCESS_DENIED);
  await W.SetFileAttributesW(dir0, W.FILE_ATTRIBUTE_DIRECTORY);
  ASSERT((await W.GetFileAttributesW(dir0)) === W.FILE_ATTRIBUTE_DIRECTORY, "DIRECTORY");
  await W.RemoveDirectoryW(dir0);
}

async function create_related_test(t: TestContext): Promise<void> {
  const dir1 = `${t.prefix}\\dir1`;
  await W.CreateDirectoryW(dir1, null);
  const dirHandle = await W.CreateFileW(dir1, GRGW, SRSW, null, OPEN_EXISTING, BKP | DOC);
  const r = await W.NtCreateFile(
    (W.FILE_GENERIC_READ | W.FILE_GENERIC_WRITE | W.DELETE) >>> 0,
    { ObjectName: "file2", RootDirectory: dirHandle },
    0n,
    W.FILE_ATTRIBUTE_NORMAL,
    0,
    W.CreateDisposition.FILE_CREATE,
    W.CreateOption.FILE_DELETE_ON_CLOSE,
  );
  ASSERT(r.Status === W.NtStatus.STATUS_SUCCESS && r.FileHandle !== null, "relative NtCreateFile");
  await W.CloseHandle(r.FileHandle);
  await W.CloseHandle(dirHandle);
  await fails(W.CreateFileW(dir1, GRGW, SRSW, null, OPEN_EXISTING, BKP | DOC), W.ERROR_FILE_NOT_FOUND);
}

async function create_allocation_test(t: TestContext): Promise<void> {
  const dir1 = `${t.prefix}\\dir1`;
  await W.CreateDirectoryW(dir1, null);
  const dirHandle = await W.CreateFileW(dir1, GRGW, SRSW, null, OPEN_EXISTING, BKP | DOC);
  const open = async (access: number, allocation: bigint, share: number, disposition: number): Promise<W.HANDLE> => {
    const r = await W.NtCreateFile(access, { ObjectName: "file2", RootDirectory: dirHandle }, allocation, W.FILE_ATTRIBUTE_NORMAL, share, disposition, 0);
    ASSERT(r.Status === W.NtStatus.STATUS_SUCCESS && r.FileHandle !== null, `NtCreateFile: ${W.ntStatusName(r.Status)}`);
    return r.FileHandle;
  };
  const allocationOf = async (h: W.HANDLE): Promise<bigint> =>
    ((await W.GetFileInformationByHandleEx(h, W.FileStandardInfo)) as W.FILE_STANDARD_INFO).AllocationSize;

  const h = await open((W.FILE_GENERIC_READ | W.FILE_GENERIC_WRITE | W.DELETE) >>> 0, 65536n, SALL, W.CreateDisposition.FILE_CREATE);
  ASSERT((await allocationOf(h)) === 65536n, "allocation after create");
  for (let i = 0; i < 2; i++) {
    const h2 = await open(W.FILE_READ_ATTRIBUTES, 0n, SALL, W.CreateDisposition.FILE_OPEN);
    ASSERT((await allocationOf(h2)) === 65536n, "allocation seen by a second open");
    await W.CloseHandle(h2);
  }
  await W.CloseHandle(h);
  const h3 = await open(W.FILE_READ_ATTRIBUTES, 0n, 0, W.CreateDisposition.FILE_OPEN);
  ASSERT((await allocationOf(h3)) === 0n, "allocation after the last cleanup");
  await W.CloseHandle(h3);
  await createClose(`${t.prefix}\\dir1\\file2`, GRGW, SRSW, OPEN_EXISTING, BKP | DOC);
  await W.CloseHandle(dirHandle);
}

async function create_sd_test(t: TestContext): Promise<void> {
  const sddl = "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;WD)";
  const sd = W.ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, W.SDDL_REVISION_1);
  const file0 = `${t.prefix}\\file0`;
  const dir1 = `${t.prefix}\\dir1`;
  const round = async (descriptor: W.SECURITY_DESCRIPTOR_INPUT): Promise<void> => {
    await createClose(file0, GRGW, SRSW, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL, { lpSecurityDescriptor: descriptor });
    await createClose(file0, GRGW, SRSW, OPEN_EXISTING, DOC);
    await W.CreateDirectoryW(dir1, { lpSecurityDescriptor: descriptor });
    await createClose(dir1, GRGW, SRSW, OPEN_EXISTING, BKP | DOC);
  };
  await round(sd);
  // The same descriptor in absolute form.
  const absolute = W.InitializeSecurityDescriptor();
  const owner = W.GetSecurityDescriptorOwner(sd);
  W.SetSecurityDescriptorOwner(absolute, owner.pOwner, owner.lpbOwnerDefaulted);
  const group = W.GetSecurityDescriptorGroup(sd);
  W.SetSecurityDescriptorGroup(absolute, group.pGroup, group.lpbGroupDefaulted);
  const dacl = W.GetSecurityDescriptorDacl(sd);
  W.SetSecurityDescriptorDacl(absolute, dacl.lpbDaclPresent, dacl.pDacl, dacl.lpbDaclDefaulted);
  await round(absolute);
}

function setPrivilege(name: string, enabled: boolean): void {
  const token = W.OpenProcessToken(W.GetCurrentProcess(), 0);
  W.AdjustTokenPrivileges(token, false, { Privileges: [{ Luid: W.LookupPrivilegeValueW(null, name), Attributes: enabled ? W.SE_PRIVILEGE_ENABLED : 0 }] });
  ASSERT(W.GetLastError() === 0, `AdjustTokenPrivileges(${name})`);
}

async function create_notraverse_test(t: TestContext): Promise<void> {
  const sd = W.ConvertStringSecurityDescriptorToSecurityDescriptorW("D:P(A;;GRGWSD;;;WD)", W.SDDL_REVISION_1);
  const sa = { lpSecurityDescriptor: sd };
  await W.CreateDirectoryW(`${t.prefix}\\dir1`, sa);
  await W.CreateDirectoryW(`${t.prefix}\\dir1\\dir2`, sa);
  setPrivilege(W.Privilege.SE_CHANGE_NOTIFY_NAME, false);
  try {
    await fails(W.CreateDirectoryW(`${t.prefix}\\dir1\\dir2\\dir3`, sa), W.ERROR_ACCESS_DENIED);
  } finally {
    setPrivilege(W.Privilege.SE_CHANGE_NOTIFY_NAME, true);
  }
  await W.CreateDirectoryW(`${t.prefix}\\dir1\\dir2\\dir3`, sa);
  for (const d of ["dir1\\dir2\\dir3", "dir1\\dir2", "dir1"]) await createClose(`${t.prefix}\\${d}`, W.DELETE, 0, OPEN_EXISTING, BKP | DOC);
}

function privilegeHeld(name: string): boolean {
  const token = W.OpenProcessToken(W.GetCurrentProcess(), 0);
  return W.PrivilegeCheck(token, { Privileges: [{ Luid: W.LookupPrivilegeValueW(null, name), Attributes: 0 }] });
}

async function create_backup_test(t: TestContext): Promise<void> {
  setPrivilege(W.Privilege.SE_BACKUP_NAME, true);
  try {
    ASSERT(privilegeHeld(W.Privilege.SE_BACKUP_NAME), "the token holds SeBackupPrivilege (the test would do nothing otherwise)");
    const sd = W.ConvertStringSecurityDescriptorToSecurityDescriptorW("D:P(A;;SD;;;WD)", W.SDDL_REVISION_1);
    const dir1 = `${t.prefix}\\dir1`;
    const file0 = `${t.prefix}\\dir1\\file0`;
    await W.CreateDirectoryW(dir1, null);
    await createClose(file0, GRGW, SRSW, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL, { lpSecurityDescriptor: sd });
    await fails(W.CreateFileW(file0, W.GENERIC_READ, W.FILE_SHARE_READ, null, OPEN_EXISTING, 0), W.ERROR_ACCESS_DENIED);
    await createClose(file0, W.GENERIC_READ, W.FILE_SHARE_READ, OPEN_EXISTING, BKP);
    setPrivilege(W.Privilege.SE_BACKUP_NAME, false);
    await fails(W.CreateFileW(file0, W.GENERIC_READ, W.FILE_SHARE_READ, null, OPEN_EXISTING, 0), W.ERROR_ACCESS_DENIED);
    await fails(W.CreateFileW(file0, W.GENERIC_READ, W.FILE_SHARE_READ, null, OPEN_EXISTING, BKP), W.ERROR_ACCESS_DENIED);
    await W.DeleteFileW(file0);
    await W.RemoveDirectoryW(dir1);
  } finally {
    setPrivilege(W.Privilege.SE_BACKUP_NAME, false);
  }
}

async function create_restore_test(t: TestContext): Promise<void> {
  setPrivilege(W.Privilege.SE_RESTORE_NAME, true);
  try {
    ASSERT(privilegeHeld(W.Privilege.SE_RESTORE_NAME), "the token holds SeRestorePrivilege (the test would do nothing otherwise)");
    const sd = W.ConvertStringSecurityDescriptorToSecurityDescriptorW("D:P(A;;SD;;;WD)", W.SDDL_REVISION_1);
    const dir1 = `${t.prefix}\\dir1`;
    const file0 = `${t.prefix}\\dir1\\file0`;
    await W.CreateDirectoryW(dir1, { lpSecurityDescriptor: sd });
    const dirHandle = await W.CreateFileW(dir1, W.DELETE, SALL, null, OPEN_EXISTING, BKP | DOC);
    await fails(W.CreateFileW(file0, GRGW, SRSW, null, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL), W.ERROR_ACCESS_DENIED);
    await createClose(file0, GRGW, SRSW, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL | BKP);
    await W.DeleteFileW(file0);
    setPrivilege(W.Privilege.SE_RESTORE_NAME, false);
    await fails(W.CreateFileW(file0, GRGW, SRSW, null, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL), W.ERROR_ACCESS_DENIED);
    await fails(W.CreateFileW(file0, GRGW, SRSW, null, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL | BKP), W.ERROR_ACCESS_DENIED);
    await W.CloseHandle(dirHandle);
    await fails(W.CreateFileW(dir1, W.DELETE, SALL, null, OPEN_EXISTING, BKP), W.ERROR_FILE_NOT_FOUND);
  } finally {
    setPrivilege(W.Privilege.SE_RESTORE_NAME, false);
  }
}

async function create_share_test(t: TestContext): Promise<void> {
  const file0 = `${t.prefix}\\file0`;
  await createClose(file0, GRGW, SRSW, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL);
  let h1 = await W.CreateFileW(file0, GRGW, SRSW, null, OPEN_EXISTING, 0);
  const h2 = await W.CreateFileW(file0, GRGW, SRSW, null, OPEN_EXISTING, 0);
  await W.CloseHandle(h1);
  await W.CloseHandle(h2);
  h1 = await W.CreateFileW(file0, GRGW, W.FILE_SHARE_READ, null, OPEN_EXISTING, 0);
  await fails(W.CreateFileW(file0, GRGW, SRSW, null, OPEN_EXISTING, 0), W.ERROR_SHARING_VIOLATION);
  await W.CloseHandle(h1);
  h1 = await W.CreateFileW(file0, GRGW, SRSW, null, OPEN_EXISTING, 0);
  await fails(W.CreateFileW(file0, GRGW, W.FILE_SHARE_READ, null, OPEN_EXISTING, 0), W.ERROR_SHARING_VIOLATION);
  await W.CloseHandle(h1);
  // GitHub issue #364: the overwrite implies FILE_WRITE_DATA for the share check.
  h1 = await W.CreateFileW(file0, W.GENERIC_READ, W.FILE_SHARE_READ, null, OPEN_EXISTING, 0);
  await fails(W.CreateFileW(file0, W.GENERIC_READ, W.FILE_SHARE_READ, null, CREATE_ALWAYS, W.FILE_ATTRIBUTE_NORMAL), W.ERROR_SHARING_VIOLATION);
  await W.CloseHandle(h1);
  await createClose(file0, GRGW, SRSW, OPEN_EXISTING, DOC);
}

async function create_curdir_test(t: TestContext): Promise<void> {
  const current = W.GetCurrentDirectoryW();
  await W.SetCurrentDirectoryW(`${t.prefix}\\`);
  await W.SetCurrentDirectoryW(current);
}

async function create_namelen_test(t: TestContext): Promise<void> {
  const max = (await W.GetVolumeInformationW(`${t.drive}\\`)).lpMaximumComponentLength;
  const name = (n: number, base: number): string => {
    let s = "";
    for (let i = 0; i < n; i++) s += String.fromCharCode((i % 10) + base);
    return `${t.prefix}\\${s}`;
  };
  for (const base of [0x30, 0x3041]) {
    await createClose(name(max - 1, base), GRGW, SRSW, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL | DOC);
    await createClose(name(max, base), GRGW, SRSW, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL | DOC);
    await fails(W.CreateFileW(name(max + 1, base), GRGW, SRSW, null, CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL | DOC), W.ERROR_INVALID_NAME);
  }
}

export const createTests: readonly ConformanceTest[] = [
  test("create_test", create_test),
  test("create_fileattr_test", create_fileattr_test),
  test("create_readonlydir_test", create_readonlydir_test),
  test("create_related_test", create_related_test),
  test("create_allocation_test", create_allocation_test),
  test("create_sd_test", create_sd_test),
  test("create_notraverse_test", create_notraverse_test),
  test("create_backup_test", create_backup_test),
  test("create_restore_test", create_restore_test),
  test("create_share_test", create_share_test),
  test("create_curdir_test", create_curdir_test),
  test("create_namelen_test", create_namelen_test),
];
