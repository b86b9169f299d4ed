/**
 * Helpers for the MemoryFileSystem tests: unwrap answers with readable
 * failures, and create/open with WinFsp-shaped arguments.
 */
import assert from "node:assert/strict";
import { ntStatusName } from "../../src/windows/ntstatus.js";
import { CreateOption } from "../../src/winfsp/constants.js";
import type { DirectoryChunk, FullEa, NtResult, OpenResult } from "../../src/winfsp/interface.js";
import { MemoryFileSystem, type MemfsFileContext, type MemoryFileSystemOptions } from "../../src/winfsp/memfs.js";

/** The value of a successful answer; fails the test with the status name otherwise. */
export function ok<T>(r: NtResult<T>): T {
  if (!r.ok) assert.fail(`expected success, got ${ntStatusName(r.status)}`);
  return r.value;
}

/** Asserts that an answer failed with `expected` (a status name, e.g. "STATUS_END_OF_FILE"). */
export function fails(r: NtResult<unknown>, expected: string): void {
  assert.equal(r.ok, false, `expected ${expected}, got success`);
  assert.equal(ntStatusName(r.status), expected);
}

/** A controllable FILETIME clock. */
export class Clock {
  t = 133000000000000000n;
  readonly now = (): bigint => this.t;
  advance(ticks = 10_000_000n): bigint {
    this.t += ticks;
    return this.t;
  }
}

export function newFs(options: MemoryFileSystemOptions = {}): { fs: MemoryFileSystem; clock: Clock } {
  const clock = new Clock();
  return { fs: new MemoryFileSystem({ now: clock.now, ...options }), clock };
}

export interface CreateArgs {
  readonly directory?: boolean;
  readonly attributes?: number;
  readonly sd?: Uint8Array | null;
  readonly allocationSize?: bigint;
  readonly ea?: readonly FullEa[] | null;
  readonly reparseData?: Uint8Array | null;
}

export function createRaw(
  fs: MemoryFileSystem,
  fileName: string,
  args: CreateArgs = {},
): Promise<NtResult<OpenResult<MemfsFileContext>>> {
  return fs.createEx({
    fileName,
    createOptions: (2 << 24) | (args.directory ? CreateOption.FILE_DIRECTORY_FILE : CreateOption.FILE_NON_DIRECTORY_FILE),
    grantedAccess: 0x001f01ff,
    fileAttributes: args.attributes ?? 0,
    securityDescriptor: args.sd ?? null,
    allocationSize: args.allocationSize ?? 0n,
    ea: args.ea ?? null,
    reparseData: args.reparseData ?? null,
  });
}

/** Creates and answers the context (fails the test on error). */
export async function create(fs: MemoryFileSystem, fileName: string, args: CreateArgs = {}): Promise<MemfsFileContext> {
  return ok(await createRaw(fs, fileName, args)).fileContext;
}

/** Creates, cleans up and closes: a file that exists with no handle open. */
export async function touch(fs: MemoryFileSystem, fileName: string, args: CreateArgs = {}): Promise<void> {
  const ctx = await create(fs, fileName, args);
  await fs.cleanup(ctx, null, 0);
  await fs.close(ctx);
}

export function openRaw(
  fs: MemoryFileSystem,
  fileName: string,
  createOptions = 0,
): Promise<NtResult<OpenResult<MemfsFileContext>>> {
  return fs.open({ fileName, createOptions: (1 << 24) | createOptions, grantedAccess: 0x001f01ff });
}

export async function open(fs: MemoryFileSystem, fileName: string, createOptions = 0): Promise<MemfsFileContext> {
  return ok(await openRaw(fs, fileName, createOptions)).fileContext;
}

/** Cleanup with the Delete flag, then Close: what the last handle of a delete-pending file does. */
export async function deleteAndClose(fs: MemoryFileSystem, ctx: MemfsFileContext, fileName: string): Promise<void> {
  await fs.cleanup(ctx, fileName, 0x01);
  await fs.close(ctx);
}

/** Opens, deletes at cleanup and closes. */
export async function remove(fs: MemoryFileSystem, fileName: string): Promise<void> {
  await deleteAndClose(fs, await open(fs, fileName), fileName);
}

/** Whether `fileName` can be opened. */
export async function exists(fs: MemoryFileSystem, fileName: string): Promise<boolean> {
  const r = await openRaw(fs, fileName);
  if (r.ok) await fs.close(r.value.fileContext);
  return r.ok;
}

/** All entries of a directory read with a byte budget per call, resuming with the last name as marker. */
export async function listAll(
  fs: MemoryFileSystem,
  dir: MemfsFileContext,
  pattern: string | null = null,
  length = 4096,
): Promise<string[]> {
  const names: string[] = [];
  let marker: string | null = null;
  for (let calls = 0; calls < 10_000; calls++) {
    const chunk: DirectoryChunk = ok(await fs.readDirectory(dir, pattern, marker, length));
    for (const e of chunk.entries) names.push(e.fileName);
    if (chunk.endOfDirectory) return names;
    assert.ok(chunk.entries.length > 0, "a non-final chunk must make progress");
    marker = chunk.entries[chunk.entries.length - 1]!.fileName;
  }
  assert.fail("listing did not end");
}

export const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
export const ascii = (s: string): Uint8Array => Uint8Array.from([...s].map((c) => c.charCodeAt(0)));
