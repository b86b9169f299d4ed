/**
 * Running the ported winfsp-tests against a backend: each test gets a fresh
 * directory `X:\<test name>` as its current directory (winfsp-tests'
 * external mode runs in the current directory; a directory per test keeps
 * one failure from spilling into the next), handles it leaves open are
 * closed and its directory is removed afterwards.
 */
import * as W from "../../src/win32/index.js";
import type { ConformanceTest, TestContext } from "./harness.js";
import { createTests } from "./create.js";
import { infoTests } from "./info.js";
import { securityTests } from "./security.js";
import { rdwrTests } from "./rdwr.js";
import { flushTests } from "./flush.js";
import { lockTests } from "./lock.js";
import { dirctlTests } from "./dirctl.js";
import { execTests } from "./exec.js";
import { reparseTests } from "./reparse.js";
import { eaTests } from "./ea.js";
import { streamTests } from "./stream.js";
import { oplockTests } from "./oplock.js";
import { wslTests } from "./wsl.js";

/** Every test of winfsp-tests' external mode, in registration order. */
export const allTests: readonly ConformanceTest[] = [
  ...createTests,
  ...infoTests,
  ...securityTests,
  ...rdwrTests,
  ...flushTests,
  ...lockTests,
  ...dirctlTests,
  ...execTests,
  ...reparseTests,
  ...eaTests,
  ...streamTests,
  ...oplockTests,
  ...wslTests,
];

/** A file system to run the suite on. */
export interface Backend {
  readonly name: string;
  /** Opens the backend: a volume over it and how to release it. */
  open(): Promise<{ volume: W.Volume; close(): Promise<void> }>;
}

/** One test's outcome on one backend. */
export interface TestResult {
  readonly test: string;
  readonly optional: boolean;
  readonly backend: string;
  readonly passed: boolean;
  readonly milliseconds: number;
  readonly error?: string;
  /** What did not run, and why (see {@link TestContext.note}). */
  readonly notes?: readonly string[];
}

/** How long one test may take. */
const TEST_TIMEOUT_MS = 180_000;

/** Removes a directory tree through the Win32 API (best effort). */
async function removeTree(path: string): Promise<void> {
  let entries: W.WIN32_FIND_DATAW[] = [];
  try {
    const f = await W.FindFirstFileW(`${path}\\*`);
    entries.push(f.FindFileData);
    for (;;) {
      try {
        entries.push(await W.FindNextFileW(f.hFindFile));
      } catch {
        break;
      }
    }
    await W.FindClose(f.hFindFile);
  } catch {
    entries = [];
  }
  for (const e of entries) {
    if (e.cFileName === "." || e.cFileName === "..") continue;
    const child = `${path}\\${e.cFileName}`;
    await W.SetFileAttributesW(child, W.FILE_ATTRIBUTE_NORMAL).catch(() => undefined);
    const isLink = (e.dwFileAttributes & W.FILE_ATTRIBUTE_REPARSE_POINT) !== 0;
    if ((e.dwFileAttributes & W.FILE_ATTRIBUTE_DIRECTORY) !== 0 && !isLink) await removeTree(child);
    else if ((e.dwFileAttributes & W.FILE_ATTRIBUTE_DIRECTORY) !== 0) await W.RemoveDirectoryW(child).catch(() => undefined);
    else await W.DeleteFileW(child).catch(() => undefined);
  }
  await W.SetFileAttributesW(path, W.FILE_ATTRIBUTE_DIRECTORY).catch(() => undefined);
  await W.RemoveDirectoryW(path).catch(() => undefined);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Runs one test in its own directory on a mounted volume; answers its result. */
export async function runTest(test: ConformanceTest, backend: string, volume: W.Volume): Promise<TestResult> {
  const drive = volume.drive!;
  const directory = `${drive}\\${test.name}`;
  const process = W.currentProcess();
  const before = new Set(process.openHandles());
  const start = performance.now();
  let error: string | undefined;
  const notes: string[] = [];
  try {
    await removeTree(`\\\\?\\${directory}`);
    await W.CreateDirectoryW(directory, null);
    await W.SetCurrentDirectoryW(directory);
    const t: TestContext = { backend, volume, drive, directory, prefix: `\\\\?\\${directory}`, note: (text) => notes.push(text) };
    await withTimeout(test.run(t), TEST_TIMEOUT_MS, test.name);
  } catch (e) {
    error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  }
  const milliseconds = Math.round(performance.now() - start);
  for (const h of process.openHandles()) if (!before.has(h)) await W.CloseHandle(h).catch(() => undefined);
  await W.SetCurrentDirectoryW(`${drive}\\`).catch(() => undefined);
  await removeTree(`\\\\?\\${directory}`);
  return {
    test: test.name,
    optional: test.optional,
    backend,
    passed: error === undefined,
    milliseconds,
    ...(error !== undefined ? { error } : {}),
    ...(notes.length > 0 ? { notes } : {}),
  };
}

/**
 * Runs `tests` on a backend in a fresh process (a new token, no handles):
 * opens the backend, mounts it at `drive`, runs each test, unmounts.
 */
export async function runBackend(
  backend: Backend,
  tests: readonly ConformanceTest[],
  drive: string,
  onResult: (r: TestResult) => void = () => undefined,
): Promise<TestResult[]> {
  W.setCurrentProcess(new W.Win32Process());
  const { volume, close } = await backend.open();
  volume.mount(drive);
  const results: TestResult[] = [];
  try {
    for (const test of tests) {
      const r = await runTest(test, backend.name, volume);
      results.push(r);
      onResult(r);
    }
  } finally {
    await volume.unmount();
    await close();
  }
  return results;
}
