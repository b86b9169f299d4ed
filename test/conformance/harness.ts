/**
 * What the ported winfsp-tests share: the test record, the context a test
 * runs in (the `Prefix` of winfsp-tests' external mode: `\\?\X:\<dir>`),
 * and assertion helpers that read like the C tests (`ASSERT`, "this call
 * fails with that Win32 error").
 */
import assert from "node:assert/strict";
import * as W from "../../src/win32/index.js";

/** One ported test, named as in winfsp-tests. */
export interface ConformanceTest {
  readonly name: string;
  /** Registered with TEST_OPT (runs only when selected with `+`). */
  readonly optional: boolean;
  readonly run: (t: TestContext) => Promise<void>;
}

/** Where a test runs. */
export interface TestContext {
  /** The backend's name (for messages). */
  readonly backend: string;
  readonly volume: W.Volume;
  /** `X:`. */
  readonly drive: string;
  /** `\\?\X:\<dir>`: winfsp-tests' Prefix for a current directory `X:\<dir>`. */
  readonly prefix: string;
  /** `X:\<dir>` (the current directory while the test runs). */
  readonly directory: string;
  /**
   * Records that part of the test did not run on this volume, and why (as
   * the C test's own conditions decide, e.g. a capability the volume does
   * not advertise). The result carries the notes; the table marks it.
   */
  note(text: string): void;
}

export function test(name: string, run: (t: TestContext) => Promise<void>): ConformanceTest {
  return { name, optional: false, run };
}

export function optionalTest(name: string, run: (t: TestContext) => Promise<void>): ConformanceTest {
  return { name, optional: true, run };
}

/** winfsp-tests' ASSERT. */
export function ASSERT(condition: unknown, what = "assertion"): asserts condition {
  assert.ok(condition, what);
}

/** `Path+6`: a `\\?\X:…` path without `\\?\X:`, i.e. the volume-relative name. */
export function volumeRelative(path: string): string {
  assert.ok(path.startsWith("\\\\?\\") && path[5] === ":", `not a \\\\?\\X: path: ${path}`);
  return path.slice(6);
}

/** Asserts that `p` rejects with the Win32 error `code`; answers the error. */
export async function fails(p: Promise<unknown>, code: number, what = "call"): Promise<W.Win32Error> {
  try {
    await p;
  } catch (e) {
    if (!W.Win32Error.is(e)) throw e;
    assert.equal(
      e.code,
      code,
      `${what}: expected error ${code} (${new W.Win32Error(code).name}), got ${e.code} (${e.name})`,
    );
    assert.equal(e.name, new W.Win32Error(code).name, `${what}: error name`);
    assert.equal(W.GetLastError(), code, `${what}: GetLastError()`);
    return e;
  }
  assert.fail(`${what}: expected error ${code} (${new W.Win32Error(code).name}), but it succeeded`);
}

/** Asserts that `p` rejects with a Win32 error (any); answers it. */
export async function failsAny(p: Promise<unknown>, what = "call"): Promise<W.Win32Error> {
  try {
    await p;
  } catch (e) {
    if (!W.Win32Error.is(e)) throw e;
    return e;
  }
  assert.fail(`${what}: expected a failure, but it succeeded`);
}

/** Asserts an NTSTATUS. */
export function assertStatus(actual: number, expected: number, what = "status"): void {
  assert.equal(
    actual >>> 0,
    expected >>> 0,
    `${what}: expected ${W.ntStatusName(expected)}, got ${W.ntStatusName(actual)}`,
  );
}

/** GENERIC_READ | GENERIC_WRITE. */
export const GRGW = (W.GENERIC_READ | W.GENERIC_WRITE) >>> 0;
/** FILE_SHARE_READ | FILE_SHARE_WRITE. */
export const SRSW = W.FILE_SHARE_READ | W.FILE_SHARE_WRITE;
/** FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE. */
export const SALL = W.FILE_SHARE_READ | W.FILE_SHARE_WRITE | W.FILE_SHARE_DELETE;

/** CreateFileW then CloseHandle (a create that must succeed). */
export async function createClose(
  path: string,
  access: number,
  share: number,
  disposition: number,
  flags: number,
  sa: W.SECURITY_ATTRIBUTES | null = null,
): Promise<void> {
  const h = await W.CreateFileW(path, access, share, sa, disposition, flags);
  await W.CloseHandle(h);
}

/** A test's fixed pseudo-random source (winfsp-tests calls srand/rand; the values only need to be reproducible). */
export class Rand {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** MSVC's rand(): 15 bits. */
  next(): number {
    this.state = (Math.imul(this.state, 214013) + 2531011) >>> 0;
    return (this.state >>> 16) & 0x7fff;
  }
  fill(buffer: Uint8Array): Uint8Array {
    for (let i = 0; i < buffer.length; i++) buffer[i] = this.next() & 0xff;
    return buffer;
  }
}

/** The sector size (the rdwr, flush and lock tests' I/O unit), from GetDiskFreeSpaceW. */
export async function bytesPerSector(t: TestContext): Promise<number> {
  return (await W.GetDiskFreeSpaceW(`${t.drive}\\`)).lpBytesPerSector;
}

/** Waits `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
