/**
 * winfsp-tests exec-test.c: a running program's image file can be renamed
 * (and its directory too) but not deleted or replaced.
 *
 * Programs are emulated (src/win32/process.ts): ExtractHelperProgram
 * writes an image naming the registered "winfsp-tests-helper" program, and
 * CreateProcessW maps that image from the volume (an image section held
 * until the program exits) and runs it. The helper is winfsp-tests-helper.c:
 * `"path" <event> <timeout>` in hex; it signals the event, sleeps, exits 0.
 */
import * as W from "../../src/win32/index.js";
import { ASSERT, fails, failsAny, test, type ConformanceTest, type TestContext } from "./harness.js";

const HELPER = "winfsp-tests-helper";

/** fuse_opt.c's wcstoint, as the helper parses its arguments. */
function wcstoint(p: string, base: number): number {
  let v = 0;
  const maxdig = 10 < base ? 0x39 : base - 1 + 0x30;
  const maxalp = 10 < base ? base - 1 - 10 + 0x61 : 0;
  for (let i = 0; i < p.length; i++) {
    let c = p.charCodeAt(i);
    if (0x30 <= c && c <= maxdig) v = base * v + (c - 0x30);
    else {
      c |= 0x20;
      if (0x61 <= c && c <= maxalp) v = base * v + (c - 0x61) + 10;
      else break;
    }
  }
  return v;
}

/** CommandLineToArgvW for the helper's simple command lines (quoted or bare words). */
function commandLineToArgv(commandLine: string): string[] {
  return [...commandLine.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? "");
}

/**
 * The helper's wmain. Its inherited event handle has the parent's number;
 * the child signals the event object through it. (The helper's CloseHandle
 * of its own inherited copy has no effect on the parent's handle, so it is
 * not reproduced on the shared emulated handle table.)
 */
W.registerProgram(HELPER, async (commandLine, process) => {
  const argv = commandLineToArgv(commandLine);
  if (argv.length !== 3) return 1;
  const event = process.get(wcstoint(argv[1]!, 16));
  const timeout = wcstoint(argv[2]!, 16);
  if (event?.kind !== "event") return 1;
  event.event.set();
  await W.Sleep(timeout);
  return 0;
});

/** ExtractHelperProgram. */
async function extractHelperProgram(fileName: string): Promise<void> {
  const h = await W.CreateFileW(fileName, W.FILE_WRITE_DATA, W.FILE_SHARE_WRITE, null, W.CREATE_ALWAYS, W.FILE_ATTRIBUTE_NORMAL);
  try {
    await W.WriteFile(h, W.programImage(HELPER));
  } finally {
    await W.CloseHandle(h);
  }
}

/** CreateHelperProcess: an inheritable event, the process, a 3 s wait for the event. */
async function createHelperProcess(fileName: string, timeout: number): Promise<W.HANDLE> {
  const event = W.CreateEventW({ bInheritHandle: true }, true, false);
  const commandLine = `"${fileName}" ${event.toString(16)} ${timeout.toString(16)}`;
  let info: W.PROCESS_INFORMATION;
  try {
    info = await W.CreateProcessW(fileName, commandLine, null, null, true);
  } catch (e) {
    await W.CloseHandle(event);
    throw e;
  }
  const wait = await W.WaitForSingleObject(event, 3000);
  await W.CloseHandle(event);
  await W.CloseHandle(info.hThread);
  if (wait !== W.WAIT_OBJECT_0) {
    await W.CloseHandle(info.hProcess);
    ASSERT(false, wait === W.WAIT_TIMEOUT ? "helper did not signal within 3 s" : "wait failed");
  }
  return info.hProcess;
}

async function execHelper(fileName: string, timeout: number): Promise<W.HANDLE> {
  await extractHelperProgram(fileName);
  return createHelperProcess(fileName, timeout);
}

async function waitHelper(process: W.HANDLE, timeout: number): Promise<void> {
  ASSERT((await W.WaitForSingleObject(process, timeout + 1000)) === W.WAIT_OBJECT_0, "helper exited");
  ASSERT(W.GetExitCodeProcess(process) === 0, "helper exit code");
  await W.CloseHandle(process);
}

async function exec_test(t: TestContext): Promise<void> {
  const path = `${t.prefix}\\helper.exe`;
  const process = await execHelper(path, 0);
  await waitHelper(process, 0);
  await W.DeleteFileW(path);
}

async function exec_delete_test(t: TestContext): Promise<void> {
  const path = `${t.prefix}\\helper.exe`;
  const process = await execHelper(path, 1000);
  await fails(W.DeleteFileW(path), W.ERROR_ACCESS_DENIED);
  let h: W.HANDLE | null = null;
  try {
    h = await W.CreateFileW(path, W.DELETE, W.FILE_SHARE_DELETE, null, W.OPEN_EXISTING, 0);
  } catch {
    h = null;
  }
  if (h !== null) {
    const e = await failsAny(
      W.SetFileInformationByHandle(h, W.FileDispositionInfoEx, { Flags: W.FILE_DISPOSITION_DELETE | W.FILE_DISPOSITION_POSIX_SEMANTICS }),
      "POSIX delete of a running image",
    );
    ASSERT(e.code === W.ERROR_INVALID_PARAMETER || e.code === W.ERROR_ACCESS_DENIED, `POSIX delete: ${e.name}`);
    await W.CloseHandle(h);
  }
  await waitHelper(process, 1000);
  await W.DeleteFileW(path);
}

async function exec_rename_test(t: TestContext): Promise<void> {
  const path = `${t.prefix}\\helper.exe`;
  const path2 = `${t.prefix}\\helper2.exe`;
  const path3 = `${t.prefix}\\helper3.exe`;
  await W.CloseHandle(await W.CreateFileW(path3, W.FILE_WRITE_DATA, W.FILE_SHARE_WRITE, null, W.CREATE_ALWAYS, W.FILE_ATTRIBUTE_NORMAL));
  const process = await execHelper(path, 1000);
  await W.MoveFileExW(path, path2, W.MOVEFILE_REPLACE_EXISTING);
  await W.MoveFileExW(path2, path, W.MOVEFILE_REPLACE_EXISTING);
  await fails(W.MoveFileExW(path3, path, W.MOVEFILE_REPLACE_EXISTING), W.ERROR_ACCESS_DENIED);
  await waitHelper(process, 1000);
  await W.MoveFileExW(path3, path, W.MOVEFILE_REPLACE_EXISTING);
  await W.DeleteFileW(path);
}

async function exec_rename_dir_test(t: TestContext): Promise<void> {
  const dir1 = `${t.prefix}\\dir1`;
  const dir2 = `${t.prefix}\\dir2`;
  const path = `${t.prefix}\\dir1\\helper.exe`;
  await W.CreateDirectoryW(dir1, null);
  const process = await execHelper(path, 2000);
  await W.Sleep(1000); /* give time for file handles to be closed (FlushAndPurgeOnCleanup) */
  await W.MoveFileExW(dir1, dir2, W.MOVEFILE_REPLACE_EXISTING);
  await W.MoveFileExW(dir2, dir1, W.MOVEFILE_REPLACE_EXISTING);
  await waitHelper(process, 2000);
  await W.DeleteFileW(path);
  await W.RemoveDirectoryW(dir1);
}

export const execTests: readonly ConformanceTest[] = [
  test("exec_test", exec_test),
  test("exec_delete_test", exec_delete_test),
  test("exec_rename_test", exec_rename_test),
  test("exec_rename_dir_test", exec_rename_dir_test),
];
