/**
 * winfsp-tests rdwr-test.c, external mode: the read/write sequence on
 * non-cached, cached and write-through handles, synchronous, appending and
 * overlapped; mapped views coherent with ReadFile/WriteFile; cached and
 * non-cached handles on one file. The sequences are shared with
 * flush-test.c and lock-test.c, which add their calls at fixed points.
 */
import * as W from "../../src/win32/index.js";
import { ASSERT, GRGW, SRSW, Rand, bytesPerSector, fails, test, type ConformanceTest, type TestContext } from "./harness.js";

const PG = W.PAGE_SIZE;
const G = W.ALLOCATION_GRANULARITY;

/** The buffers of the rdwr tests: two 16-page buffers, the first random; `Buffer[i]` starts one sector in. */
export class Buffers {
  readonly alloc: [Uint8Array, Uint8Array];
  buffer: [Uint8Array, Uint8Array];
  constructor(bps: number) {
    this.alloc = [new Rand(Math.floor(Date.now() / 1000)).fill(new Uint8Array(16 * PG)), new Uint8Array(16 * PG)];
    this.buffer = [this.alloc[0].subarray(bps), this.alloc[1].subarray(bps)];
  }
  /** `Buffer[0] = Buffer[1] = AllocBuffer[0]`, as the sequences do halfway. */
  alias(): void {
    this.buffer = [this.alloc[0], this.alloc[0]];
  }
  clear(): void {
    this.alloc[1].fill(0);
  }
  /** memcmp(Buffer[0], Buffer[1], n) == 0. */
  same(n: number): boolean {
    const [a, b] = this.buffer;
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
    return true;
  }
}

/** ReadFile into `into` (as the C tests read into their buffers); answers the bytes read. */
export async function readInto(h: W.HANDLE, into: Uint8Array, n: number, ov: W.OVERLAPPED | null = null): Promise<number> {
  const data = await W.ReadFile(h, n, ov);
  into.set(data);
  return data.length;
}

/** The synchronous sequence's "seek, transfer, check the position" step. */
async function seek(h: W.HANDLE, to: number): Promise<number> {
  const p = await W.SetFilePointer(h, to, W.FILE_BEGIN);
  ASSERT(p === to, `SetFilePointer(${to})`);
  return p;
}

async function position(h: W.HANDLE): Promise<number> {
  return W.SetFilePointer(h, 0, W.FILE_CURRENT);
}

async function writeAt(h: W.HANDLE, b: Uint8Array, at: number, n: number): Promise<void> {
  const p = await seek(h, at);
  const written = await W.WriteFile(h, b.subarray(0, n));
  ASSERT(written === n, `wrote ${written} of ${n} at ${at}`);
  ASSERT((await position(h)) === p + written, "file position after write");
}

async function readAt(h: W.HANDLE, bufs: Buffers, at: number, n: number, expected: number): Promise<void> {
  const p = await seek(h, at);
  bufs.clear();
  const read = await readInto(h, bufs.buffer[1], n);
  ASSERT(read === expected, `read ${read} of ${n} at ${at} (expected ${expected})`);
  ASSERT((await position(h)) === p + read, "file position after read");
  ASSERT(bufs.same(read), `data read at ${at}`);
}

/** Where the flush and lock tests add their calls. */
export interface SequenceHooks {
  afterCreate?(h: W.HANDLE): Promise<void>;
  /** After the last write, before the read that checks it. */
  beforeFinalRead?(h: W.HANDLE): Promise<void>;
  /** After that read, before the handle is closed. */
  beforeClose?(h: W.HANDLE): Promise<void>;
}

/** rdwr_dotest: the synchronous sequence (position asserted after each transfer). */
export async function rdwrSequence(t: TestContext, createFlags: number, hooks: SequenceHooks = {}): Promise<void> {
  const bps = await bytesPerSector(t);
  const bufs = new Buffers(bps);
  const path = `${t.prefix}\\file0`;
  let h = await W.CreateFileW(path, GRGW, SRSW, null, W.CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL | createFlags);
  await hooks.afterCreate?.(h);
  ASSERT((await seek(h, 0)) === 0, "seek 0");
  await writeAt(h, bufs.buffer[0], 0, bps);
  await writeAt(h, bufs.buffer[0], 2 * bps, bps);
  await readAt(h, bufs, 0, bps, bps);
  await readAt(h, bufs, 2 * bps, bps, bps);
  await readAt(h, bufs, 2 * bps, 2 * bps, bps);
  await readAt(h, bufs, 3 * bps, bps, 0);
  await writeAt(h, bufs.buffer[0], 0, 2 * PG);
  await readAt(h, bufs, 0, 2 * PG, 2 * PG);
  bufs.alias();
  await writeAt(h, bufs.buffer[0], 0, 2 * PG);
  await readAt(h, bufs, 0, 2 * PG, 2 * PG);
  await writeAt(h, bufs.buffer[0], 0, 2 * PG + bps);
  await hooks.beforeFinalRead?.(h);
  await readAt(h, bufs, 0, 2 * PG + bps, 2 * PG + bps);
  await hooks.beforeClose?.(h);
  await W.CloseHandle(h);
  h = await W.CreateFileW(path, GRGW, SRSW, null, W.OPEN_EXISTING, W.FILE_ATTRIBUTE_NORMAL | createFlags | W.FILE_FLAG_DELETE_ON_CLOSE);
  await readAt(h, bufs, 0, 2 * PG + bps, 2 * PG + bps);
  await W.CloseHandle(h);
  await fails(W.CreateFileW(path, GRGW, SRSW, null, W.OPEN_EXISTING, 0), W.ERROR_FILE_NOT_FOUND);
}

/** rdwr_append_dotest: a FILE_APPEND_DATA-only handle writes at end of file. */
async function rdwrAppendSequence(t: TestContext, createFlags: number): Promise<void> {
  const bps = await bytesPerSector(t);
  const bufs = new Buffers(bps);
  const path = `${t.prefix}\\file0`;
  let h = await W.CreateFileW(path, W.FILE_APPEND_DATA, W.FILE_SHARE_READ, null, W.CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL | createFlags);
  ASSERT((await W.WriteFile(h, bufs.buffer[0].subarray(0, bps))) === bps, "first append");
  ASSERT((await W.WriteFile(h, bufs.buffer[0].subarray(bps, 2 * bps))) === bps, "second append");
  await W.CloseHandle(h);
  h = await W.CreateFileW(path, GRGW, SRSW, null, W.OPEN_EXISTING, W.FILE_ATTRIBUTE_NORMAL | createFlags | W.FILE_FLAG_DELETE_ON_CLOSE);
  ASSERT((await seek(h, 0)) === 0, "seek 0");
  bufs.clear();
  const read = await readInto(h, bufs.buffer[1], 2 * bps);
  ASSERT(read === 2 * bps && bufs.same(read), "both appends, back to back");
  await W.CloseHandle(h);
  await fails(W.CreateFileW(path, GRGW, SRSW, null, W.OPEN_EXISTING, 0), W.ERROR_FILE_NOT_FOUND);
}

/** An overlapped request: TRUE or ERROR_IO_PENDING, then GetOverlappedResult(wait). */
export async function overlapped(p: Promise<unknown>, h: W.HANDLE, ov: W.OVERLAPPED): Promise<number> {
  try {
    await p;
  } catch (e) {
    if (!W.Win32Error.is(e) || e.code !== W.ERROR_IO_PENDING) throw e;
  }
  return W.GetOverlappedResult(h, ov, true);
}

/** An overlapped request expected to fail with `code`, at once or through GetOverlappedResult. */
export async function overlappedFails(p: Promise<unknown>, h: W.HANDLE, ov: W.OVERLAPPED, code: number): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (!W.Win32Error.is(e)) throw e;
    if (e.code === code) return;
    if (e.code !== W.ERROR_IO_PENDING) throw e;
  }
  await fails(W.GetOverlappedResult(h, ov, true), code, "GetOverlappedResult");
}

async function ovWrite(h: W.HANDLE, ov: W.OVERLAPPED, b: Uint8Array, at: number, n: number): Promise<void> {
  ov.Offset = at;
  const written = await overlapped(W.WriteFile(h, b.subarray(0, n), ov), h, ov);
  ASSERT(written === n, `overlapped write of ${n} at ${at}`);
}

async function ovRead(h: W.HANDLE, ov: W.OVERLAPPED, bufs: Buffers, at: number, n: number, expected: number): Promise<void> {
  ov.Offset = at;
  bufs.clear();
  const read = await overlapped(W.ReadFile(h, n, ov), h, ov);
  bufs.buffer[1].set(ov.output?.subarray(0, read) ?? new Uint8Array(0));
  ASSERT(read === expected, `overlapped read of ${n} at ${at}: ${read}`);
  ASSERT(bufs.same(read), `data read at ${at}`);
}

/** rdwr_overlapped_dotest's body from its first write, on an open overlapped handle. */
export async function rdwrOverlappedBody(h: W.HANDLE, ov: W.OVERLAPPED, bufs: Buffers, bps: number, hooks: SequenceHooks): Promise<void> {
  await ovWrite(h, ov, bufs.buffer[0], 0, bps);
  await ovWrite(h, ov, bufs.buffer[0], 2 * bps, bps);
  await ovRead(h, ov, bufs, 0, bps, bps);
  await ovRead(h, ov, bufs, 2 * bps, bps, bps);
  await ovRead(h, ov, bufs, 2 * bps, 2 * bps, bps);
  ov.Offset = 3 * bps;
  bufs.clear();
  let eof = false;
  try {
    await W.ReadFile(h, bps, ov);
  } catch (e) {
    if (!W.Win32Error.is(e)) throw e;
    if (e.code === W.ERROR_HANDLE_EOF) eof = true;
    else if (e.code !== W.ERROR_IO_PENDING) throw e;
  }
  if (!eof) await fails(W.GetOverlappedResult(h, ov, true), W.ERROR_HANDLE_EOF, "read at end of file");
  await ovWrite(h, ov, bufs.buffer[0], 0, 2 * PG);
  await ovRead(h, ov, bufs, 0, 2 * PG, 2 * PG);
  bufs.alias();
  await ovWrite(h, ov, bufs.buffer[0], 0, 2 * PG);
  await ovRead(h, ov, bufs, 0, 2 * PG, 2 * PG);
  await ovWrite(h, ov, bufs.buffer[0], 0, 2 * PG + bps);
  await hooks.beforeFinalRead?.(h);
  await ovRead(h, ov, bufs, 0, 2 * PG + bps, 2 * PG + bps);
}

/** The overlapped sequence: `hooks.afterCreate` may lock; the body; reopen with DELETE_ON_CLOSE and check. */
export async function rdwrOverlappedSequence(t: TestContext, createFlags: number, hooks: SequenceHooks = {}): Promise<void> {
  const bps = await bytesPerSector(t);
  const bufs = new Buffers(bps);
  const path = `${t.prefix}\\file0`;
  const ov = new W.OVERLAPPED(0);
  let h = await W.CreateFileW(path, GRGW, SRSW, null, W.CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL | createFlags | W.FILE_FLAG_OVERLAPPED);
  await hooks.afterCreate?.(h);
  await rdwrOverlappedBody(h, ov, bufs, bps, hooks);
  await hooks.beforeClose?.(h);
  await W.CloseHandle(h);
  h = await W.CreateFileW(path, GRGW, SRSW, null, W.OPEN_EXISTING, W.FILE_ATTRIBUTE_NORMAL | createFlags | W.FILE_FLAG_OVERLAPPED | W.FILE_FLAG_DELETE_ON_CLOSE);
  await ovRead(h, ov, bufs, 0, 2 * PG + bps, 2 * PG + bps);
  await W.CloseHandle(h);
  await fails(W.CreateFileW(path, GRGW, SRSW, null, W.OPEN_EXISTING, 0), W.ERROR_FILE_NOT_FOUND);
}

/** rdwr_mmap_dotest: mapped views and handle I/O on one file stay coherent, across closes and reopens. */
async function rdwrMmap(t: TestContext, createFlags: number, earlyClose: boolean): Promise<void> {
  const bps = await bytesPerSector(t);
  const size0 = 2 * G;
  const size1 = 100;
  const seed = Math.floor(Date.now() / 1000);
  const path = `${t.prefix}\\file0`;
  const pattern = new Uint8Array(bps).map((_, i) => i & 0xff);
  const open = async (disposition: number): Promise<{ h: W.HANDLE; m: W.HANDLE }> => {
    const h = await W.CreateFileW(path, GRGW, SRSW, null, disposition, W.FILE_ATTRIBUTE_NORMAL | createFlags);
    const m = await W.CreateFileMappingW(h, null, W.PAGE_READWRITE, 0, size0 + size1);
    if (earlyClose) await W.CloseHandle(h);
    return { h, m };
  };
  const close = async (o: { h: W.HANDLE; m: W.HANDLE }): Promise<void> => {
    await W.CloseHandle(o.m);
    if (!earlyClose) await W.CloseHandle(o.h);
  };

  let o = await open(W.CREATE_ALWAYS);
  let view = await W.MapViewOfFile(o.m, W.FILE_MAP_ALL_ACCESS, 0, 0, 0);
  let rand = new Rand(seed);
  for (let i = size1 / 2; i < size1 / 2 + size0; i++) view.bytes[i] = rand.next() & 0xff;
  await W.UnmapViewOfFile(view);
  view = await W.MapViewOfFile(o.m, W.FILE_MAP_ALL_ACCESS, 0, 0, 0);
  rand = new Rand(seed);
  for (let i = size1 / 2; i < size1 / 2 + size0; i++) if (view.bytes[i] !== (rand.next() & 0xff)) ASSERT(false, `mapped byte ${i} after remap`);
  await W.UnmapViewOfFile(view);
  await close(o);

  o = await open(W.OPEN_EXISTING);
  view = await W.MapViewOfFile(o.m, W.FILE_MAP_ALL_ACCESS, 0, 0, 0);
  rand = new Rand(seed);
  for (let i = size1 / 2; i < size1 / 2 + size0; i++) if (view.bytes[i] !== (rand.next() & 0xff)) ASSERT(false, `mapped byte ${i} after reopen`);
  if (!earlyClose) {
    const p = await W.SetFilePointer(o.h, size0 / 2, W.FILE_BEGIN);
    ASSERT(p === size0 / 2, "seek");
    ASSERT((await W.WriteFile(o.h, pattern)) === bps, "write through the handle");
    ASSERT((await W.SetFilePointer(o.h, 0, W.FILE_CURRENT)) === p + bps, "position");
  }
  await W.UnmapViewOfFile(view);
  await close(o);

  o = await open(W.OPEN_EXISTING);
  view = await W.MapViewOfFile(o.m, W.FILE_MAP_ALL_ACCESS, 0, 0, 0);
  if (!earlyClose) {
    const p = await W.SetFilePointer(o.h, size0 / 2, W.FILE_BEGIN);
    const read = new Uint8Array(bps);
    ASSERT((await readInto(o.h, read, bps)) === bps, "read through the handle");
    ASSERT((await W.SetFilePointer(o.h, 0, W.FILE_CURRENT)) === p + bps, "position");
    ASSERT(Buffer.from(read).equals(Buffer.from(pattern)), "the handle reads what it wrote");
  }
  rand = new Rand(seed);
  for (let i = size1 / 2; i < size0 / 2; i++) if (view.bytes[i] !== (rand.next() & 0xff)) ASSERT(false, `mapped byte ${i}`);
  if (!earlyClose) ASSERT(Buffer.from(view.bytes.subarray(size0 / 2, size0 / 2 + bps)).equals(Buffer.from(pattern)), "the view sees the handle's write");
  for (let i = 0; i < bps; i++) rand.next();
  for (let i = size0 / 2 + bps; i < size1 / 2 + size0; i++) if (view.bytes[i] !== (rand.next() & 0xff)) ASSERT(false, `mapped byte ${i} past the write`);
  await W.UnmapViewOfFile(view);
  await close(o);
  await W.DeleteFileW(path);
}

async function rdwr_mixed_test(t: TestContext): Promise<void> {
  const bps = await bytesPerSector(t);
  const bufs = new Buffers(bps);
  const path = `${t.prefix}\\file0`;
  let h0 = await W.CreateFileW(path, GRGW, SRSW, null, W.CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL);
  let h1 = await W.CreateFileW(path, GRGW, SRSW, null, W.OPEN_EXISTING, W.FILE_ATTRIBUTE_NORMAL | W.FILE_FLAG_NO_BUFFERING);
  await writeAt(h0, bufs.buffer[0], 0, bps);
  await writeAt(h1, bufs.buffer[0], 2 * bps, bps);
  await readAt(h0, bufs, 0, bps, bps);
  await readAt(h1, bufs, 0, bps, bps);
  await W.CloseHandle(h0);
  await W.CloseHandle(h1);
  await W.DeleteFileW(path);

  h0 = await W.CreateFileW(path, GRGW, SRSW, null, W.CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL);
  await writeAt(h0, bufs.buffer[0], 0, bps);
  await writeAt(h0, bufs.buffer[0], 2 * bps, bps);
  await readAt(h0, bufs, 0, bps, bps);
  await W.CloseHandle(h0);
  h1 = await W.CreateFileW(path, GRGW, SRSW, null, W.OPEN_EXISTING, W.FILE_ATTRIBUTE_NORMAL | W.FILE_FLAG_NO_BUFFERING);
  await readAt(h1, bufs, 0, bps, bps);
  await W.CloseHandle(h1);
  await W.DeleteFileW(path);
}

export const rdwrTests: readonly ConformanceTest[] = [
  test("rdwr_noncached_test", (t) => rdwrSequence(t, W.FILE_FLAG_NO_BUFFERING)),
  test("rdwr_noncached_overlapped_test", (t) => rdwrOverlappedSequence(t, W.FILE_FLAG_NO_BUFFERING)),
  test("rdwr_cached_test", (t) => rdwrSequence(t, 0)),
  test("rdwr_cached_append_test", (t) => rdwrAppendSequence(t, 0)),
  test("rdwr_cached_overlapped_test", (t) => rdwrOverlappedSequence(t, 0)),
  test("rdwr_writethru_test", (t) => rdwrSequence(t, W.FILE_FLAG_WRITE_THROUGH)),
  test("rdwr_writethru_append_test", (t) => rdwrAppendSequence(t, W.FILE_FLAG_WRITE_THROUGH)),
  test("rdwr_writethru_overlapped_test", (t) => rdwrOverlappedSequence(t, W.FILE_FLAG_WRITE_THROUGH)),
  test("rdwr_mmap_test", async (t) => {
    for (const earlyClose of [false, true])
      for (const flags of [0, W.FILE_FLAG_NO_BUFFERING, W.FILE_FLAG_WRITE_THROUGH]) await rdwrMmap(t, flags, earlyClose);
  }),
  test("rdwr_mixed_test", rdwr_mixed_test),
];
