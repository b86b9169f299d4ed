/**
 * `viofs doctor` on this host: one line per check, `ok` or `missing` with
 * how to get it; exit 0 when the required checks pass. Things are made to
 * be missing for real: a directory on sysfs (no user xattrs), a PATH
 * without unshare and QEMU.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, existsSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { flistxattr } from "../../src/sys/index.js";
import { start } from "../host/viofs-process.js";

async function doctor(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const running = start(["doctor", ...args], { env });
  const { code } = await running.exited;
  return { code, stdout: running.stdout(), stderr: running.stderr() };
}

const CHECKS = ["node", "kernel", "memfd", "eventfd", "user xattrs", "namespaces", "/dev/fuse", "qemu", "virtiofsd"];

/** The check lines by name: status and text. */
function lines(stdout: string): Map<string, { status: string; text: string }> {
  const out = new Map<string, { status: string; text: string }>();
  for (const line of stdout.split("\n")) {
    const m = /^(ok|missing) +(\S+(?: xattrs)?) +(.+)$/.exec(line);
    if (m !== null) out.set(m[2]!, { status: m[1]!, text: m[3]! });
  }
  return out;
}

test("doctor on a shared directory that holds user xattrs: every check has its line, exit 0", async (t) => {
  const dir = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "viofs-doctor-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = await doctor([`--shared-dir=${dir}`]);
  assert.equal(r.code, 0, r.stdout);
  assert.equal(r.stderr, "");
  const found = lines(r.stdout);
  assert.deepEqual([...found.keys()], CHECKS);
  for (const name of ["node", "memfd", "eventfd", "user xattrs"]) assert.equal(found.get(name)!.status, "ok", `${name}: ${found.get(name)!.text}`);
  assert.match(found.get("user xattrs")!.text, new RegExp(`^${dir} holds user\\.\\* xattrs`));
  assert.match(found.get("memfd")!.text, /memfd_create works/);
  // This host has QEMU (scripts/setup.sh installs it): its version is read.
  assert.match(found.get("qemu")!.text, /^QEMU \d+\.\d+/);
  assert.match(r.stdout, /^viofs doctor: all required checks passed/m);
  // The probe leaves nothing behind.
  const fd = openSync(dir, "r");
  try {
    assert.deepEqual(flistxattr(fd), []);
  } finally {
    closeSync(fd);
  }
});

test("doctor: a directory without user xattrs is a failed required check (exit 1) with what to do", async () => {
  const r = await doctor(["--shared-dir=/sys/kernel"]);
  assert.equal(r.code, 1);
  const x = lines(r.stdout).get("user xattrs")!;
  assert.equal(x.status, "missing");
  assert.match(x.text, /^\/sys\/kernel refuses user\.\* xattrs \(fsetxattr: EOPNOTSUPP\) — share a directory on ext4, xfs, btrfs or tmpfs/);
  assert.match(r.stdout, /^viofs doctor: 1 required check failed$/m);
});

test("doctor: tools missing from PATH are optional lines with the package to install, exit 0", async () => {
  const r = await doctor([], { PATH: "/nonexistent" });
  assert.equal(r.code, 0, r.stdout);
  const found = lines(r.stdout);
  assert.equal(found.get("namespaces")!.status, "missing");
  assert.match(found.get("namespaces")!.text, /no 'unshare' in PATH .*\(optional\) — apt-get install util-linux, or serve with --sandbox=chroot or --sandbox=none/);
  assert.equal(found.get("qemu")!.status, "missing");
  assert.match(found.get("qemu")!.text, /\(optional\) — apt-get install qemu-system-x86$/);
  assert.match(r.stdout, /^viofs doctor: all required checks passed \(\d+ optional missing\)$/m);
});

test("doctor: bad input is one line, exit 2", async () => {
  const missing = await doctor(["--shared-dir=/nonexistent/dir"]);
  assert.equal(missing.code, 2);
  assert.equal(missing.stderr, "viofs: shared directory '/nonexistent/dir' does not exist; create it or fix the path\n");
  const bogus = await doctor(["--bogus"]);
  assert.equal(bogus.code, 2);
  assert.equal(bogus.stderr, "viofs: unknown option '--bogus'; see --help\n");
  const help = await doctor(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: viofs doctor/);
});
