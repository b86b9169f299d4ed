/**
 * Vectored reads and writes over spans of larger buffers (src/sys/io.ts
 * preadvSpans / pwritevSpans): what the host device uses for a descriptor
 * chain's pages, with no view made of each page.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ErrnoError } from "../../src/common/errors.js";
import { Errno } from "../../src/common/errno.js";
import { preadvSpans, pwritevSpans } from "../../src/sys/io.js";
import { memfdCreate, mmap } from "../../src/sys/memory.js";

function withFile(body: (fd: number, file: string) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "viofs-io-"));
  const file = path.join(dir, "f");
  const fd = fs.openSync(file, "w+");
  try {
    body(fd, file);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test("pwritevSpans and preadvSpans: pages of mapped memory and of the JavaScript heap, in span order", () => {
  const fd = memfdCreate("io-test", 1 << 16);
  const mapping = mmap(fd, 0, 1 << 16);
  fs.closeSync(fd);
  try {
    const mapped = mapping.bytes;
    const heap = new Uint8Array(64);
    mapped.set(Buffer.from("first "), 8192);
    heap.set(Buffer.from("second "), 10);
    mapped.set(Buffer.from("third"), 100);
    withFile((file) => {
      assert.equal(pwritevSpans(file, [mapped, heap, mapped], [8192, 6, 10, 7, 100, 5], 3), 18);
      mapped.fill(0);
      heap.fill(0);
      // Back into other places: two pages of the mapping, then the heap buffer.
      assert.equal(preadvSpans(file, [mapped, mapped, heap], [4096, 4, 0, 10, 1, 50], 0), 21);
      assert.deepEqual([...mapped.subarray(4096, 4100)], [0, 0, 0, 0x66]);
      assert.equal(Buffer.from(mapped.subarray(0, 10)).toString(), "irst secon");
      assert.equal(Buffer.from(heap.subarray(1, 8)).toString(), "d third");
      assert.equal(heap[8], 0, "nothing past the end of the file");
    });
  } finally {
    mapping.unmap();
  }
});

test("preadvSpans: more buffers than one call takes (IOV_MAX) go in several calls, up to the first short one", () => {
  withFile((file) => {
    const data = Buffer.alloc(3000);
    for (let i = 0; i < data.length; i++) data[i] = i % 251;
    fs.writeSync(file, data, 0, data.length, 0);
    // 2,500 one-byte buffers, every other byte of a 5,000-byte buffer.
    const memory = new Uint8Array(5000);
    const segs = Array.from({ length: 2500 }, () => memory);
    const spans = Array.from({ length: 2500 }, (_, i) => [2 * i, 1]).flat();
    assert.equal(preadvSpans(file, segs, spans, 100), 2500);
    for (let i = 0; i < 2500; i++) assert.equal(memory[2 * i], data[100 + i], `byte ${i}`);
    // From 1,000 on, the file has 2,000 bytes left: the second call comes back short and the third is not made.
    memory.fill(0xee);
    assert.equal(preadvSpans(file, segs, spans, 1000), 2000);
    assert.equal(memory[2 * 1999], data[2999]);
    assert.equal(memory[2 * 2000], 0xee);
    // Writes the same way: 2,500 bytes gathered from every other byte.
    assert.equal(pwritevSpans(file, segs, spans, 4000), 2500);
    assert.equal(fs.statSync(`/proc/self/fd/${file}`).size, 6500);
  });
});

test("a span outside its buffer is refused before any system call; a bad offset is EINVAL; the kernel's errors are errnos", () => {
  withFile((file) => {
    const memory = new Uint8Array(16);
    assert.throws(() => preadvSpans(file, [memory], [8, 9], 0), RangeError);
    assert.throws(() => pwritevSpans(file, [memory], [-1, 2], 0), RangeError);
    assert.equal(fs.fstatSync(file).size, 0, "nothing written");
    const isErrno = (code: number) => (e: unknown) => ErrnoError.is(e) && e.errno === code;
    assert.throws(() => preadvSpans(file, [memory], [0, 4], -1), isErrno(Errno.EINVAL));
    assert.throws(() => preadvSpans(file, [memory], [0, 4], 2 ** 53), isErrno(Errno.EINVAL));
    assert.throws(() => preadvSpans(-1, [memory], [0, 4], 0), isErrno(Errno.EBADF));
    assert.equal(preadvSpans(file, [], [], 0), 0, "no buffers, no call");
  });
});
