/**
 * winfsp-tests security-test.c, external mode: security queries filtered by
 * SECURITY_INFORMATION, a DACL set and read back (generic rights mapped,
 * protection kept), and the security-cache stress test.
 */
import * as W from "../../src/win32/index.js";
import { ASSERT, GRGW, SRSW, createClose, fails, optionalTest, test, type ConformanceTest, type TestContext } from "./harness.js";

const SDDL = "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;WD)";

/** GetKernelObjectSecurity with a zero-length buffer (ERROR_INSUFFICIENT_BUFFER and the length), then with that length. */
export async function querySecurity(h: W.HANDLE, info: number): Promise<Uint8Array> {
  const e = await fails(W.GetKernelObjectSecurity(h, info, 0), W.ERROR_INSUFFICIENT_BUFFER, "GetKernelObjectSecurity(0)");
  const length = (e.output as { lpnLengthNeeded: number }).lpnLengthNeeded;
  return W.GetKernelObjectSecurity(h, info, length);
}

/** getsecurity_test's checks on a handle: owner and group only, then the DACL only. */
export async function checkGetSecurity(h: W.HANDLE): Promise<void> {
  let sd = await querySecurity(h, W.OWNER_SECURITY_INFORMATION | W.GROUP_SECURITY_INFORMATION);
  ASSERT(W.GetSecurityDescriptorOwner(sd).pOwner !== null, "owner present");
  ASSERT(W.GetSecurityDescriptorGroup(sd).pGroup !== null, "group present");
  ASSERT(!W.GetSecurityDescriptorDacl(sd).lpbDaclPresent, "DACL absent");
  ASSERT(!W.GetSecurityDescriptorSacl(sd).lpbSaclPresent, "SACL absent");
  sd = await querySecurity(h, W.DACL_SECURITY_INFORMATION);
  ASSERT(W.GetSecurityDescriptorOwner(sd).pOwner === null, "owner absent");
  ASSERT(W.GetSecurityDescriptorGroup(sd).pGroup === null, "group absent");
  const dacl = W.GetSecurityDescriptorDacl(sd);
  ASSERT(dacl.lpbDaclPresent && dacl.pDacl !== null, "DACL present");
  ASSERT(!W.GetSecurityDescriptorSacl(sd).lpbSaclPresent, "SACL absent");
}

/** setsecurity_test's sequence: owner/group/DACL read, DACL set through `setter`, read back through `getter`. */
export async function checkSetSecurity(getter: W.HANDLE, setter: W.HANDLE): Promise<void> {
  const OGD = W.OWNER_SECURITY_INFORMATION | W.GROUP_SECURITY_INFORMATION | W.DACL_SECURITY_INFORMATION;
  const sd1 = await querySecurity(getter, OGD);
  const owner = W.GetSecurityDescriptorOwner(sd1).pOwner;
  const group = W.GetSecurityDescriptorGroup(sd1).pGroup;
  ASSERT(owner !== null && group !== null, "owner and group present");
  ASSERT(W.GetSecurityDescriptorDacl(sd1).pDacl !== null, "DACL present");
  ASSERT(!W.GetSecurityDescriptorSacl(sd1).lpbSaclPresent, "SACL absent");
  await W.SetKernelObjectSecurity(setter, W.DACL_SECURITY_INFORMATION, W.ConvertStringSecurityDescriptorToSecurityDescriptorW("D:P(A;;GA;;;SY)(A;;GA;;;BA)", 1));
  const sd2 = await querySecurity(getter, OGD);
  const owner2 = W.GetSecurityDescriptorOwner(sd2).pOwner;
  const group2 = W.GetSecurityDescriptorGroup(sd2).pGroup;
  ASSERT(owner2 !== null && group2 !== null, "owner and group still present");
  ASSERT(W.GetSecurityDescriptorDacl(sd2).pDacl !== null, "DACL present");
  ASSERT(!W.GetSecurityDescriptorSacl(sd2).lpbSaclPresent, "SACL absent");
  ASSERT(W.EqualSid(owner, owner2), "owner unchanged");
  ASSERT(W.EqualSid(group, group2), "group unchanged");
  const text = W.ConvertSecurityDescriptorToStringSecurityDescriptorW(sd2, 1, W.DACL_SECURITY_INFORMATION);
  ASSERT(text === "D:P(A;;FA;;;SY)(A;;FA;;;BA)", `DACL read back as ${text}`);
}

async function getsecurity_test(t: TestContext): Promise<void> {
  const path = `${t.prefix}\\file0`;
  await createClose(path, GRGW, SRSW, W.CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL, { lpSecurityDescriptor: W.ConvertStringSecurityDescriptorToSecurityDescriptorW(SDDL, 1) });
  const h = await W.CreateFileW(path, GRGW, SRSW, null, W.OPEN_EXISTING, W.FILE_FLAG_DELETE_ON_CLOSE);
  await checkGetSecurity(h);
  await W.CloseHandle(h);
}

async function setsecurity_test(t: TestContext): Promise<void> {
  const path = `${t.prefix}\\file0`;
  await createClose(path, GRGW, SRSW, W.CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL, { lpSecurityDescriptor: W.ConvertStringSecurityDescriptorToSecurityDescriptorW(SDDL, 1) });
  const h = await W.CreateFileW(path, (GRGW | W.WRITE_DAC) >>> 0, SRSW, null, W.OPEN_EXISTING, W.FILE_FLAG_DELETE_ON_CLOSE);
  await checkSetSecurity(h, h);
  await W.CloseHandle(h);
}

async function security_stress_meta_test(t: TestContext): Promise<void> {
  const dir1 = `${t.prefix}\\dir1`;
  await W.CreateDirectoryW(dir1, null);
  const handles: W.HANDLE[] = [];
  for (let j = 0; j < 200; j++)
    handles.push(await W.CreateFileW(`${dir1}\\file${j}`, W.GENERIC_ALL, 0, null, W.CREATE_ALWAYS, W.FILE_ATTRIBUTE_NORMAL | W.FILE_FLAG_DELETE_ON_CLOSE));
  for (const h of handles)
    await fails(
      W.GetKernelObjectSecurity(h, W.OWNER_SECURITY_INFORMATION | W.GROUP_SECURITY_INFORMATION | W.DACL_SECURITY_INFORMATION, 0),
      W.ERROR_INSUFFICIENT_BUFFER,
    );
  for (const h of handles) await W.CloseHandle(h);
  await W.RemoveDirectoryW(dir1);
}

export const securityTests: readonly ConformanceTest[] = [
  test("getsecurity_test", getsecurity_test),
  test("setsecurity_test", setsecurity_test),
  optionalTest("security_stress_meta_test", security_stress_meta_test),
];
