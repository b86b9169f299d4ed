import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, fstatSync, readSync } from "node:fs";
import { memfdAddSeals, memfdCreate, memfdGetSeals, mmap, MAX_VIEW_LENGTH } from "../../src/sys/memory.js";
import { ErrnoError } from "../../src/common/errors.js";
import {
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  MAP_PRIVATE,
  MFD_ALLOW_SEALING,
  MFD_CLOEXEC,
  PROT_READ,
} from "../../src/sys/constants.js";
import { ftruncate } from "../../src/sys/fs.js";

const PAGE = 4096;

test("a memfd written through one mapping reads back through another", () => {
  const fd = memfdCreate("viofs-test", 4 * PAGE);
  try {
    assert.equal(fstatSync(fd).size, 4 * PAGE);
    const a = mmap(fd, 0, 4 * PAGE);
    const b = mmap(fd, PAGE, 2 * PAGE);
    a.bytes.set([1, 2, 3, 4], PAGE + 10);
    assert.deepEqual([...b.bytes.subarray(10, 14)], [1, 2, 3, 4]);
    b.bytes[PAGE] = 0xee;
    assert.equal(a.bytes[2 * PAGE], 0xee);
    // and the file itself sees it
    const read = Buffer.alloc(4);
    readSync(fd, read, 0, 4, PAGE + 10);
    assert.deepEqual([...read], [1, 2, 3, 4]);
    a.unmap();
    b.unmap();
  } finally {
    closeSync(fd);
  }
});

test("a view outlives unmap without touching the file", () => {
  const fd = memfdCreate("viofs-test", PAGE);
  try {
    const a = mmap(fd, 0, PAGE);
    const stale = a.bytes;
    a.unmap();
    assert.ok(a.unmapped);
    assert.equal(stale[0], 0);
    stale[0] = 9; // goes to the private placeholder
    const again = mmap(fd, 0, PAGE, PROT_READ);
    assert.equal(again.bytes[0], 0);
    again.unmap();
    assert.throws(() => a.view(0, 1), (e: unknown) => ErrnoError.is(e) && e.errnoName === "EINVAL");
  } finally {
    closeSync(fd);
  }
});

test("views are bounds-checked, and a private mapping does not write through", () => {
  const fd = memfdCreate("viofs-test", 2 * PAGE);
  try {
    const m = mmap(fd, 0, 2 * PAGE);
    assert.equal(m.view(PAGE, PAGE).length, PAGE);
    assert.throws(() => m.view(PAGE, PAGE + 1), (e: unknown) => ErrnoError.is(e) && e.errno === 22);
    assert.throws(() => m.view(-1, 1), (e: unknown) => ErrnoError.is(e));
    const p = mmap(fd, 0, PAGE, PROT_READ | 2, MAP_PRIVATE);
    p.bytes[0] = 5;
    assert.equal(m.bytes[0], 0);
    p.unmap();
    m.unmap();
    assert.equal(MAX_VIEW_LENGTH, 2 ** 32);
  } finally {
    closeSync(fd);
  }
});

test("a failing mmap throws with errno and call name", () => {
  assert.throws(
    () => mmap(-1, 0, PAGE),
    (e: unknown) => ErrnoError.is(e) && e.errnoName === "EBADF" && e.syscall === "mmap",
  );
  assert.throws(() => memfdCreate("x\0y"), (e: unknown) => ErrnoError.is(e) && e.errnoName === "EINVAL");
});

test("sealed guest RAM cannot be shrunk under a mapping", () => {
  const fd = memfdCreate("guest-ram", 2 * PAGE, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  try {
    assert.equal(memfdGetSeals(fd), 0);
    memfdAddSeals(fd, F_SEAL_SHRINK | F_SEAL_SEAL);
    assert.equal(memfdGetSeals(fd), F_SEAL_SHRINK | F_SEAL_SEAL);
    assert.throws(() => ftruncate(fd, PAGE), (e: unknown) => ErrnoError.is(e) && e.errnoName === "EPERM");
    ftruncate(fd, 4 * PAGE); // growing is still allowed
    assert.throws(() => memfdAddSeals(fd, 0x8), (e: unknown) => ErrnoError.is(e) && e.errnoName === "EPERM");
  } finally {
    closeSync(fd);
  }
  const unsealable = memfdCreate("plain", PAGE);
  try {
    assert.equal(memfdGetSeals(unsealable), F_SEAL_SEAL);
  } finally {
    closeSync(unsealable);
  }
});
