/** The newc writer, read back by busybox's cpio (the same format the kernel unpacks). */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { CpioWriter } from "./cpio.js";

const BUSYBOX = "/bin/busybox";

function sample(): Buffer {
  return new CpioWriter()
    .add({ kind: "dir", path: "etc" })
    .add({ kind: "file", path: "etc/hello", data: "hello\n" })
    .add({ kind: "file", path: "run.sh", data: "#!/bin/sh\nexit 0\n", mode: 0o755 })
    .add({ kind: "symlink", path: "etc/link", target: "hello" })
    .add({ kind: "dir", path: "dev", mode: 0o700 })
    .add({ kind: "chardev", path: "dev/null", major: 1, minor: 3, mode: 0o666 })
    .finish();
}

test("cpio: header fields and padding follow newc", () => {
  const a = new CpioWriter().add({ kind: "file", path: "ab", data: "xyz" }).finish();
  const header = a.subarray(0, 110).toString("latin1");
  // magic, ino 1, mode 0100644, uid, gid, nlink 1, mtime, size 3, dev 0:0, rdev 0:0, namesize 3, check
  assert.equal(
    header,
    "070701" + ["1", "81a4", "0", "0", "1", "0", "3", "0", "0", "0", "0", "3", "0"].map((f) => f.padStart(8, "0")).join(""),
  );
  assert.equal(a.subarray(110, 113).toString("latin1"), "ab\0");
  assert.deepEqual([...a.subarray(113, 116)], [0, 0, 0]); // name padded to 116 (a multiple of 4)
  assert.equal(a.subarray(116, 119).toString("latin1"), "xyz");
  assert.equal(a[119], 0); // data padded to 120
  assert.equal(a.subarray(120, 126).toString("latin1"), "070701");
  assert.ok(a.includes("TRAILER!!!\0"));
  assert.equal(a.length % 4, 0);
});

test("cpio: equal inputs give equal bytes", () => {
  assert.deepEqual(sample(), sample());
});

test("cpio: busybox cpio lists and extracts what the writer wrote", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "viofs-cpio-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const archive = sample();
  const listed = execFileSync(BUSYBOX, ["cpio", "-t"], { input: archive, encoding: "utf8", stdio: ["pipe", "pipe", "ignore"] });
  assert.deepEqual(listed.trim().split("\n"), ["etc", "etc/hello", "run.sh", "etc/link", "dev", "dev/null"]);
  execFileSync(BUSYBOX, ["cpio", "-i", "-d", "-m"], { input: archive, cwd: dir, stdio: ["pipe", "ignore", "ignore"] });
  assert.equal(readFileSync(join(dir, "etc/hello"), "utf8"), "hello\n");
  assert.equal(lstatSync(join(dir, "etc/hello")).mode & 0o7777, 0o644);
  assert.equal(lstatSync(join(dir, "run.sh")).mode & 0o7777, 0o755);
  assert.equal(readlinkSync(join(dir, "etc/link")), "hello");
  assert.equal(lstatSync(join(dir, "dev")).mode & 0o7777, 0o700);
  const dev = lstatSync(join(dir, "dev/null"));
  assert.ok(dev.isCharacterDevice());
  assert.equal(dev.rdev, (1 << 8) | 3);
});

test("cpio: rejects duplicates, empty names and out-of-range fields", () => {
  assert.throws(() => new CpioWriter().add({ kind: "dir", path: "a" }).add({ kind: "dir", path: "a" }), /duplicate/);
  assert.throws(() => new CpioWriter().add({ kind: "dir", path: "/" }), /bad path/);
  assert.throws(() => new CpioWriter().add({ kind: "chardev", path: "c", major: 2 ** 32, minor: 0 }), /out of range/);
});
