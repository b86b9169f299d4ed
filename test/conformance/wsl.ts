/**
 * winfsp-tests wsl-test.c (optional test): FileStatInformation (68) and
 * FileStatLxInformation (70), twice to go through the caches; a file
 * system that does not know the classes must answer
 * STATUS_INVALID_INFO_CLASS (or STATUS_NOT_IMPLEMENTED under WOW64).
 */
import * as W from "../../src/win32/index.js";
import { ASSERT, GRGW, SRSW, optionalTest, type ConformanceTest, type TestContext } from "./harness.js";

const S = W.NtStatus;

async function wsl_stat_test(t: TestContext): Promise<void> {
  const timeLo = W.GetSystemTimeAsFileTime();
  const timeHi = timeLo + 10000n * 10000n;
  const inWindow = (v: bigint): boolean => timeLo <= v && v < timeHi;
  const check = (s: W.StatInformation, what: string): void => {
    /* (external mode: the creation time is not checked) */
    ASSERT(inWindow(s.lastAccessTime) && inWindow(s.lastWriteTime) && inWindow(s.changeTime), `${what}: times in window`);
    ASSERT(s.allocationSize === 0n && s.endOfFile === 0n, `${what}: sizes 0`);
    ASSERT(s.reparseTag === 0, `${what}: ReparseTag 0`);
    ASSERT(s.numberOfLinks === 1, `${what}: NumberOfLinks 1`);
  };
  const h = await W.CreateFileW(`${t.prefix}\\file0`, GRGW, SRSW, null, W.CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL | W.FILE_FLAG_DELETE_ON_CLOSE);
  for (let repeat = 0; repeat < 2; repeat++) {
    /* repeat this test to ensure that any caches are tested */
    const r = await W.NtQueryInformationFile(h, W.FileInformationClass.FileStatInformation);
    if (r.Status === S.STATUS_SUCCESS) {
      ASSERT(r.FileInformation?.class === "stat", "FileStatInformation");
      check(r.FileInformation.stat, "FileStatInformation");
      const lx = await W.NtQueryInformationFile(h, W.FileInformationClass.FileStatLxInformation);
      ASSERT(lx.Status === S.STATUS_SUCCESS && lx.FileInformation?.class === "stat-lx", `FileStatLxInformation: 0x${(lx.Status >>> 0).toString(16)}`);
      check(lx.FileInformation.stat, "FileStatLxInformation");
    } else
      ASSERT(
        r.Status === S.STATUS_INVALID_INFO_CLASS || r.Status === S.STATUS_NOT_IMPLEMENTED,
        `FileStatInformation: 0x${(r.Status >>> 0).toString(16)}, not STATUS_INVALID_INFO_CLASS or STATUS_NOT_IMPLEMENTED`,
      );
  }
  await W.CloseHandle(h);
}

export const wslTests: readonly ConformanceTest[] = [optionalTest("wsl_stat_test", wsl_stat_test)];
