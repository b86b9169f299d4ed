/**
 * MemoryFileSystem: Read, Write (append, constrained I/O), SetFileSize and
 * the allocation rules, with the rdwr-test sequence at 512-byte sectors.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { create, fails, newFs, ok, open } from "./memfs-helpers.js";

const BPS = 512;

test("the rdwr_dotest sequence: holes read as zeros, short read at EOF, EOF status past it", async () => {
  const { fs } = newFs();
  const ctx = await create(fs, "\\file0");
  const src = new Uint8Array(randomBytes(16 * 4096));
  let w = ok(await fs.write(ctx, src.subarray(0, BPS), 0n, false, false));
  assert.equal(w.bytesTransferred, BPS);
  w = ok(await fs.write(ctx, src.subarray(0, BPS), BigInt(2 * BPS), false, false));
  assert.equal(w.fileInfo.fileSize, BigInt(3 * BPS));
  assert.equal(w.fileInfo.allocationSize, BigInt(3 * BPS));

  const dst = new Uint8Array(2 * BPS);
  assert.equal(ok(await fs.read(ctx, dst.subarray(0, BPS), 0n)), BPS);
  assert.deepEqual(dst.subarray(0, BPS), src.subarray(0, BPS));
  assert.equal(ok(await fs.read(ctx, dst.subarray(0, BPS), BigInt(BPS))), BPS);
  assert.deepEqual(dst.subarray(0, BPS), new Uint8Array(BPS), "the hole reads as zeros");
  assert.equal(ok(await fs.read(ctx, dst, BigInt(2 * BPS))), BPS, "a read across EOF is shortened");
  fails(await fs.read(ctx, dst, BigInt(3 * BPS)), "STATUS_END_OF_FILE");
  fails(await fs.read(ctx, dst, BigInt(100 * BPS)), "STATUS_END_OF_FILE");

  const big = 2 * 4096 + BPS;
  assert.equal(ok(await fs.write(ctx, src.subarray(0, big), 0n, false, false)).bytesTransferred, big);
  const back = new Uint8Array(big);
  assert.equal(ok(await fs.read(ctx, back, 0n)), big);
  assert.deepEqual(back, src.subarray(0, big));
  await fs.cleanup(ctx, null, 0);
  await fs.close(ctx);
  const again = await open(fs, "\\file0");
  assert.equal(ok(await fs.read(again, back, 0n)), big);
  assert.deepEqual(back, src.subarray(0, big));
});

test("writeToEndOfFile appends whatever the offset says", async () => {
  const { fs } = newFs();
  const ctx = await create(fs, "\\f");
  ok(await fs.write(ctx, Uint8Array.of(1, 2), 0xffffffffffffffffn, true, false));
  const w = ok(await fs.write(ctx, Uint8Array.of(3), 0n, true, false));
  assert.equal(w.fileInfo.fileSize, 3n);
  const b = new Uint8Array(3);
  ok(await fs.read(ctx, b, 0n));
  assert.deepEqual(b, Uint8Array.of(1, 2, 3));
});

test("constrained I/O never changes the file size: clipped at EOF, 0 bytes at or past it", async () => {
  const { fs } = newFs();
  const ctx = await create(fs, "\\f");
  ok(await fs.write(ctx, new Uint8Array(100).fill(7), 0n, false, false));
  let w = ok(await fs.write(ctx, new Uint8Array(50).fill(9), 80n, false, true));
  assert.equal(w.bytesTransferred, 20);
  assert.equal(w.fileInfo.fileSize, 100n);
  w = ok(await fs.write(ctx, new Uint8Array(50), 100n, false, true));
  assert.equal(w.bytesTransferred, 0);
  w = ok(await fs.write(ctx, new Uint8Array(50), 1000n, false, true));
  assert.equal(w.bytesTransferred, 0);
  assert.equal(w.fileInfo.fileSize, 100n);
  const b = new Uint8Array(100);
  ok(await fs.read(ctx, b, 0n));
  assert.deepEqual(b.subarray(78, 82), Uint8Array.of(7, 7, 9, 9));
});

test("setFileSize: EOF grows the allocation to the next unit and zero-fills; allocation below EOF truncates", async () => {
  const { fs } = newFs();
  const ctx = await create(fs, "\\f");
  ok(await fs.write(ctx, new Uint8Array(10).fill(0xff), 0n, false, false));
  let info = ok(await fs.setFileSize(ctx, 5n, false));
  assert.equal(info.fileSize, 5n);
  assert.equal(info.allocationSize, 512n, "shrinking EOF keeps the allocation");
  info = ok(await fs.setFileSize(ctx, 42n, false));
  assert.equal(info.fileSize, 42n);
  const b = new Uint8Array(42);
  ok(await fs.read(ctx, b, 0n));
  assert.deepEqual(b.subarray(0, 5), new Uint8Array(5).fill(0xff));
  assert.deepEqual(b.subarray(5), new Uint8Array(37), "growth reads as zeros, not as old bytes");
  info = ok(await fs.setFileSize(ctx, 513n, false));
  assert.equal(info.allocationSize, 1024n);

  info = ok(await fs.setFileSize(ctx, 4096n, true));
  assert.equal(info.allocationSize, 4096n);
  assert.equal(info.fileSize, 513n, "a larger allocation keeps the file size");
  info = ok(await fs.setFileSize(ctx, 100n, true));
  assert.equal(info.allocationSize, 512n, "allocation sizes are rounded up to the unit");
  assert.equal(info.fileSize, 512n, "an allocation below EOF truncates the file");
  info = ok(await fs.setFileSize(ctx, 0n, true));
  assert.equal(info.allocationSize, 0n);
  assert.equal(info.fileSize, 0n);
});

test("allocation unit is sectorSize × sectorsPerAllocationUnit", async () => {
  const { fs } = newFs({ sectorSize: 4096, sectorsPerAllocationUnit: 2 });
  const ctx = await create(fs, "\\f");
  const w = ok(await fs.write(ctx, new Uint8Array(1), 0n, false, false));
  assert.equal(w.fileInfo.allocationSize, 8192n);
});

test("a file written in many small appends keeps its bytes (buffer growth)", async () => {
  const { fs } = newFs();
  const ctx = await create(fs, "\\f");
  const src = randomBytes(300 * 1000);
  for (let at = 0; at < src.length; at += 1000) ok(await fs.write(ctx, src.subarray(at, at + 1000), 0n, true, false));
  const back = new Uint8Array(src.length);
  assert.equal(ok(await fs.read(ctx, back, 0n)), src.length);
  assert.deepEqual(back, new Uint8Array(src));
});
