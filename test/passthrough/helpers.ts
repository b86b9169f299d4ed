/**
 * Test helpers for the passthrough file system: a scratch share on a real
 * file system with user xattrs, request contexts, argument builders and a
 * directory sink with a small capacity.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as assert from "node:assert/strict";
import { ErrnoError } from "../../src/common/errors.js";
import { Errno, type ErrnoName } from "../../src/common/errno.js";
import { FUSE_ROOT_ID, InitFlag } from "../../src/fuse/abi.js";
import { entryOfFields } from "../../src/server/dir-sink.js";
import {
  CopyFileRangeIn,
  FallocateIn,
  FlushIn,
  FsyncIn,
  LkIn,
  LseekIn,
  ReadIn,
  ReleaseIn,
  SetattrIn,
  StatxIn,
  WriteIn,
  type EntryOut,
} from "../../src/fuse/structs.js";
import type { Context, DirEntry, DirSink } from "../../src/server/filesystem.js";
import { PassthroughFs } from "../../src/passthrough/passthrough.js";
import type { PassthroughOptions } from "../../src/passthrough/options.js";

export const ROOT = FUSE_ROOT_ID;

/** A request context; root by default. */
export function ctx(over: Partial<Context> = {}): Context {
  return { unique: 1n, uid: 0, gid: 0, pid: 4242, ...over };
}

/** Raw name bytes. */
export function n(name: string): Uint8Array {
  return Buffer.from(name);
}

/** A scratch directory on a file system with user xattrs (ext4 /tmp here), removed by the returned function. */
export function scratchDir(tag: string): { dir: string; remove: () => void } {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), `viofs-pt-${tag}-`));
  return { dir: base, remove: () => fs.rmSync(base, { recursive: true, force: true }) };
}

export const defaults: Omit<PassthroughOptions, "root"> = {
  cache: "auto",
  xattr: true,
  readonly: false,
  posixLocks: true,
  flock: true,
  announceSubmounts: false,
  writeback: false,
};

/** Every INIT flag a recent Linux client offers. */
export const ALL_FLAGS = Object.values(InitFlag).reduce((a, b) => a | b, 0n);

/** A PassthroughFs over a fresh scratch share (`share/`), initialised, inside `dir`; `cleanup` destroys it and removes `dir` (so does a failed init). */
export async function openFs(
  tag: string,
  over: Partial<PassthroughOptions> = {},
): Promise<{ fs: PassthroughFs; share: string; outside: string; cleanup: () => Promise<void> }> {
  const scratch = scratchDir(tag);
  const share = path.join(scratch.dir, "share");
  const outside = path.join(scratch.dir, "outside");
  fs.mkdirSync(share);
  fs.mkdirSync(outside);
  const pfs = new PassthroughFs({ ...defaults, ...over, root: share });
  const cleanup = async (): Promise<void> => {
    try {
      await pfs.destroy();
    } finally {
      scratch.remove();
    }
  };
  try {
    await pfs.init({ minor: 38, clientFlags: ALL_FLAGS });
  } catch (error) {
    await cleanup().catch(() => undefined); // the init's failure is the one to report
    throw error;
  }
  return { fs: pfs, share, outside, cleanup };
}

/** Asserts that `answer` (a file system method's: a value or a promise) is a promise that rejects with ErrnoError `name`. */
export async function rejectsErrno(answer: unknown, name: ErrnoName, message?: string): Promise<void> {
  assert.ok(answer instanceof Promise, `expected a rejected promise, got ${String(answer)}`);
  await assert.rejects(answer, (error: unknown) => {
    assert.ok(ErrnoError.is(error), `expected an ErrnoError, got ${String(error)}`);
    assert.equal(error.errnoName, name, message);
    return true;
  });
}

/** Asserts that `fn` throws (synchronously) ErrnoError `name`. */
export function throwsErrno(fn: () => unknown, name: ErrnoName, message?: string): void {
  assert.throws(fn, (error: unknown) => ErrnoError.is(error) && error.errno === Errno[name], message);
}

/** The number of fds this process has open. */
export function openFdCount(): number {
  return fs.readdirSync("/proc/self/fd").length;
}

export const readIn = (fh: bigint, offset: bigint, size: number): ReadIn => ({ ...ReadIn.zero(), fh, offset, size });
export const writeIn = (fh: bigint, offset: bigint, size: number, writeFlags = 0): WriteIn => ({
  ...WriteIn.zero(),
  fh,
  offset,
  size,
  writeFlags,
});
export const releaseIn = (fh: bigint, releaseFlags = 0, lockOwner = 0n): ReleaseIn => ({
  ...ReleaseIn.zero(),
  fh,
  releaseFlags,
  lockOwner,
});
export const flushIn = (fh: bigint, lockOwner = 0n): FlushIn => ({ ...FlushIn.zero(), fh, lockOwner });
export const fsyncIn = (fh: bigint, fsyncFlags = 0): FsyncIn => ({ ...FsyncIn.zero(), fh, fsyncFlags });
export const setattrIn = (over: Partial<SetattrIn>): SetattrIn => ({ ...SetattrIn.zero(), ...over });
export const statxIn = (sxMask: number): StatxIn => ({ ...StatxIn.zero(), sxMask });
export const fallocateIn = (fh: bigint, offset: bigint, length: bigint, mode = 0): FallocateIn => ({
  ...FallocateIn.zero(),
  fh,
  offset,
  length,
  mode,
});
export const lseekIn = (fh: bigint, offset: bigint, whence: number): LseekIn => ({ ...LseekIn.zero(), fh, offset, whence });
export const copyIn = (over: Partial<CopyFileRangeIn>): CopyFileRangeIn => ({ ...CopyFileRangeIn.zero(), ...over });
export const lkIn = (fh: bigint, owner: bigint, type: number, start: bigint, end: bigint, pid: number, lkFlags = 0): LkIn => ({
  ...LkIn.zero(),
  fh,
  owner,
  lk: { start, end, type, pid },
  lkFlags,
});

/** What a sink received. */
export interface Received {
  name: string;
  off: bigint;
  type: number;
  entry?: EntryOut;
}

/** A DirSink that takes at most `capacity` entries per request. */
export class SmallSink implements DirSink {
  readonly got: Received[] = [];
  #left: number;
  constructor(capacity: number) {
    this.#left = capacity;
  }
  add(entry: DirEntry): boolean {
    if (this.#left === 0) return false;
    this.#left--;
    this.got.push({ name: Buffer.from(entry.name).toString(), off: entry.off, type: entry.type });
    return true;
  }
  addFields(src: Uint8Array, inoAt: number, offAt: number, type: number, nameAt: number, nameLength: number): boolean {
    return this.add(entryOfFields(src, inoAt, offAt, type, nameAt, nameLength));
  }
  addPlus(entry: DirEntry, out: EntryOut): boolean {
    if (this.#left === 0) return false;
    this.#left--;
    this.got.push({ name: Buffer.from(entry.name).toString(), off: entry.off, type: entry.type, entry: out });
    return true;
  }
}

/** Reads a whole directory through READDIR (or READDIRPLUS) with sinks of `capacity` entries. */
export async function listDir(
  pfs: PassthroughFs,
  nodeid: bigint,
  capacity: number,
  plus = false,
): Promise<Received[]> {
  const open = await pfs.opendir(ctx(), nodeid, 0);
  const all: Received[] = [];
  let offset = 0n;
  for (;;) {
    const sink = new SmallSink(capacity);
    if (plus) await pfs.readdirplus(ctx(), nodeid, open.fh, offset, sink);
    else await pfs.readdir(ctx(), nodeid, open.fh, offset, sink);
    if (sink.got.length === 0) break;
    all.push(...sink.got);
    offset = sink.got[sink.got.length - 1]!.off;
  }
  await pfs.releasedir(ctx(), nodeid, releaseIn(open.fh));
  return all;
}
