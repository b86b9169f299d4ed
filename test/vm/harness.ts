/**
 * One call runs the POSIX workload (workload.sh) in a real Linux guest against
 * a chosen vhost-user-fs backend, on a fresh host directory:
 *
 *     const run = await runWorkloadOn("virtiofsd");
 *     assertSteps(run.lines);            // every line has the value POSIX/Linux define
 *     verifyHostTree(run.sharedDir);     // what the guest wrote is on the host
 *     run.cleanup();
 *
 * The differential test calls it for "virtiofsd" and "viofs-libvirt" (viofs
 * serve started as libvirt starts virtiofsd: `--fd=N`, an `-o` list, the
 * namespace sandbox) and compares
 * `lines` one by one; {@link diffLines} formats the first differences. A
 * backend that dies mid-run fails the run at once (QEMU is killed).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BACKENDS, type Backend, type BackendExit, type BackendName } from "./backends.js";
import { repoRoot } from "./image.js";
import { runGuest, type GuestRun } from "./qemu.js";

export const WORKLOAD_TAG = "viofs-test";

export function workloadPath(): string {
  return join(repoRoot(), "test", "vm", "workload.sh");
}

export interface WorkloadOptions {
  /** Boot plus workload; default 240 s (a run takes about 30 s under TCG). */
  timeoutMs?: number;
  memMiB?: number;
  queueSize?: number;
  smp?: number;
  /** Another script instead of workload.sh (same framing). */
  script?: string;
  /** Let the guest reboot; the output is the last boot's (see RunGuestOptions.reboot). */
  reboot?: boolean;
  /** Kill QEMU this long after the script ended if the guest does not power off, keeping the output (see RunGuestOptions). */
  shutdownGraceMs?: number;
}

export interface WorkloadRun {
  backend: BackendName;
  /** The workload's output. */
  output: string;
  /** `output` split into lines, the empty last one dropped. */
  lines: string[];
  /** "label: value" lines as a map (the first value of a repeated label). */
  steps: Map<string, string>;
  exitCode: number;
  guest: GuestRun;
  /** The host directory the backend served; the workload's tree is in `w/`. */
  sharedDir: string;
  backendLog: string;
  backendExit: BackendExit;
  /** Removes the host directory and socket. */
  cleanup(): void;
}

/** Starts `backend` on a fresh directory, boots the guest, runs the workload, stops the backend. */
export async function runWorkloadOn(backend: BackendName | Backend, options: WorkloadOptions = {}): Promise<WorkloadRun> {
  const b = typeof backend === "string" ? BACKENDS[backend] : backend;
  const root = mkdtempSync(join(tmpdir(), `viofs-${b.name}-`));
  const cleanup = (): void => rmSync(root, { recursive: true, force: true });
  const sharedDir = join(root, "share");
  const socketPath = join(root, "vfs.sock");
  mkdirSync(sharedDir);
  try {
    const handle = await b.start(sharedDir, socketPath);
    const backendDied = new AbortController();
    void handle.exited.then((x) =>
      backendDied.abort(new Error(`${b.name} exited (${x.signal ?? `status ${x.code}`}) while the guest ran`)),
    );
    let guest: GuestRun;
    try {
      guest = await runGuest({
        socketPath,
        tag: WORKLOAD_TAG,
        script: options.script ?? readFileSync(workloadPath(), "utf8"),
        timeoutMs: options.timeoutMs ?? 240_000,
        ...(options.memMiB !== undefined ? { memMiB: options.memMiB } : {}),
        ...(options.queueSize !== undefined ? { queueSize: options.queueSize } : {}),
        ...(options.smp !== undefined ? { smp: options.smp } : {}),
        ...(options.reboot ? { reboot: true } : {}),
        ...(options.shutdownGraceMs !== undefined ? { shutdownGraceMs: options.shutdownGraceMs } : {}),
        signal: backendDied.signal,
      });
    } catch (e) {
      await handle.stop(0);
      const message = e instanceof Error ? e.message : String(e);
      throw new Error(`${message}\n--- ${b.name} output (tail):\n${handle.log().split("\n").slice(-30).join("\n")}`, {
        cause: e,
      });
    }
    const backendExit = await handle.stop();
    const lines = guest.output.split("\n");
    if (lines.at(-1) === "") lines.pop();
    return {
      backend: b.name,
      output: guest.output,
      lines,
      steps: parseSteps(lines),
      exitCode: guest.exitCode,
      guest,
      sharedDir,
      backendLog: handle.log(),
      backendExit,
      cleanup,
    };
  } catch (e) {
    cleanup();
    throw e;
  }
}

function parseSteps(lines: string[]): Map<string, string> {
  const steps = new Map<string, string>();
  for (const line of lines) {
    const i = line.indexOf(": ");
    if (i > 0 && !steps.has(line.slice(0, i))) steps.set(line.slice(0, i), line.slice(i + 2));
  }
  return steps;
}

/** The first `max` differing lines of two outputs, as a readable report ("" when equal). */
export function diffLines(a: { name: string; lines: string[] }, b: { name: string; lines: string[] }, max = 20): string {
  const out: string[] = [];
  const n = Math.max(a.lines.length, b.lines.length);
  for (let i = 0; i < n && out.length < max * 3; i++) {
    if (a.lines[i] === b.lines[i]) continue;
    out.push(`line ${i + 1}:`, `  ${a.name}: ${a.lines[i] ?? "<none>"}`, `  ${b.name}: ${b.lines[i] ?? "<none>"}`);
  }
  return out.join("\n");
}

// ---------------------------------------------------------------------------
// The files the workload writes, computed on the host.

const MiB = 1 << 20;

/**
 * big1 as the workload writes it: the 600000-byte unit `seq -w 0 99999`
 * ("00000\n" … "99999\n") repeated, cut at 32 MiB.
 */
export function big1Bytes(): Buffer {
  const unit = Buffer.alloc(100_000 * 6);
  for (let i = 0; i < 100_000; i++) unit.write(`${String(i).padStart(5, "0")}\n`, i * 6, "latin1");
  const out = Buffer.alloc(32 * MiB);
  for (let at = 0; at < out.length; at += unit.length) unit.copy(out, at);
  return out;
}

/** big1 with "X" at offset 20000000, as the workload patches its copy. */
export function big2Bytes(big1 = big1Bytes()): Buffer {
  const b = Buffer.from(big1);
  b[20_000_000] = 0x58;
  return b;
}

export function digest(algorithm: "md5" | "sha256", data: Uint8Array): string {
  return createHash(algorithm).update(data).digest("hex");
}

/** Seconds since the epoch of a UTC date, as `touch -d` in the guest (TZ=UTC0) sets it. */
export function utc(y: number, mo: number, d: number, h: number, mi: number, s: number): number {
  return Date.UTC(y, mo - 1, d, h, mi, s) / 1000;
}

/** A file's extended attributes as name → hex value, read with getfattr (Node has no xattr API). */
export function hostXattrs(path: string): Map<string, string> {
  const out = execFileSync("getfattr", ["--absolute-names", "-h", "-d", "-e", "hex", "-m", "-", path], {
    encoding: "utf8",
  });
  const attrs = new Map<string, string>();
  for (const line of out.split("\n")) {
    const m = /^([^#=][^=]*)=0x([0-9a-f]*)$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) attrs.set(m[1], m[2]); // an empty value prints as "name=0x"
  }
  return attrs;
}

/**
 * Every line workload.sh prints, in order, with the value POSIX and Linux
 * define for it (a RegExp where the host file system decides, e.g. statfs
 * block sizes). Checksums are computed here from the same content.
 */
export function expectedSteps(): Array<[label: string, value: string | RegExp]> {
  const big1 = big1Bytes();
  const big2 = big2Bytes(big1);
  const sparse = Buffer.alloc(16 * MiB);
  sparse.write("DATA", 8 * MiB);
  const err = (text: string): string => `rc=1 ${text}`;
  return [
    ["mount", "viofs-test virtiofs"],
    ["statfs", /^type=65735546 bsize=\d+ frsize=\d+ namemax=255$/],
    ["create", "hello size=6 mode=644 owner=0:0"],
    ["append", "hello|world| size=12"],
    ["overwrite", "Jello"],
    ["truncate.shrink", "Jel size=3"],
    ["truncate.grow", "4a656c0000000000 size=8"],
    ["truncate.zero", "size=0"],
    ["rewrite", "final"],
    ["empty", "size=0 blocks=0"],
    ["sparse.size", "16777216"],
    ["sparse.allocated_below_size", "yes"],
    ["sparse.hole_head_zero", "yes"],
    ["sparse.hole_tail_zero", "yes"],
    ["sparse.data", "DATA"],
    ["sparse.md5", digest("md5", sparse)],
    ["sparse.grown", "size=20971520 tail_zero=yes"],
    ["rename.over_file", "rb=a ra_exists=no"],
    ["rename.dir", "rd_exists=no rd2/sub/f=x"],
    ["rename.over_empty_dir", "src_exists=no dst/g=y"],
    ["link.nlink", "3"],
    ["link.after_unlink", "nlink=2 content=h|h3| same_inode=yes"],
    ["symlink.readlink", "f1 /mnt/w/f1 nowhere ../f1"],
    ["symlink.type", "symbolic link size=9 target_size=6"],
    ["symlink.follow", "final final final"],
    ["symlink.dangling", err("No such file or directory")],
    ["symlink.loop", err("Too many levels of symbolic links")],
    ["chmod.640", "640"],
    ["chmod.setuid", "4755"],
    ["chmod.setgid", "2755"],
    // chown(2) clears S_ISUID, and S_ISGID when group-executable, even for root.
    ["chown", "owner=1234:5678 mode_after_chown=755"],
    ["chmod.final", "4750"],
    ["chmod.sticky_dir", "1777"],
    ["setgid_dir.inherit", "file_gid=4321 subdir=4321 2755"],
    ["chown.symlink", "link=7:8 target=0:0"],
    ["utimes.both", `atime=${utc(2001, 2, 3, 4, 5, 6)} mtime=${utc(2001, 2, 3, 4, 5, 6)}`],
    ["utimes.atime_only", `atime=${utc(1999, 12, 31, 23, 59, 59)} mtime=${utc(2001, 2, 3, 4, 5, 6)}`],
    ["utimes.mtime_only", `atime=${utc(1999, 12, 31, 23, 59, 59)} mtime=${utc(2020, 6, 7, 8, 9, 10)}`],
    ["utimes.dir", String(utc(2010, 1, 1, 0, 0, 0))],
    ["utimes.dir_changed_by_create", "yes"],
    ["utimes.symlink_nofollow", `link=${utc(2002, 2, 2, 2, 2, 2)} target_unchanged=yes`],
    ["xattr.get", "blue"],
    ["xattr.list", "user.bin=0x0102ff00 user.color=0x626c7565 user.empty=0x "],
    ["xattr.replace", "red"],
    ["xattr.remove", "user.bin=0x0102ff00 user.color=0x726564 "],
    ["xattr.missing", err("No such attribute")],
    ["xattr.remove_missing", err("No such attribute")],
    ["xattr.dir", "d"],
    // user.* xattrs are for regular files and directories only (xattr(7)).
    ["xattr.on_symlink", err("Operation not permitted")],
    ["xattr.big", "3000"],
    ["fifo.stat", "fifo 644"],
    ["fifo.read", "through the pipe"],
    ["mknod.char", "character special file major=1 minor=3"],
    ["mknod.block", "block special file major=7 minor=0"],
    ["mknod.char_read", "0"],
    ["many.count", "3000"],
    ["many.first", "f10000 f10001 f10002 "],
    ["many.last", "f12998 f12999 "],
    ["many.lookup", "yes no"],
    ["many.find", "3000"],
    ["many.after_rm", "2998"],
    ["tree.count", "106"],
    ["tree.removed", "yes"],
    ["unlinked.exists", "no"],
    ["unlinked.nlink", "0"],
    ["unlinked.read", "still here"],
    ["unlinked.write", "9"],
    ["big1.size", String(32 * MiB)],
    ["big1.md5", digest("md5", big1)],
    ["big2.sha256", digest("sha256", big2)],
    ["big1.slice", "00017 00018 "],
    ["big1.cold_sha256", digest("sha256", big1)],
    ["big2.cold_md5", digest("md5", big2)],
    ["direct_io", `size=${4 * MiB} md5=${digest("md5", big1.subarray(0, 4 * MiB))}`],
    ["EEXIST.mkdir", err("File exists")],
    ["EEXIST.symlink", err("File exists")],
    ["EEXIST.link", err("File exists")],
    ["EEXIST.excl_create", err("File exists")],
    ["ENOTEMPTY.rmdir", err("Directory not empty")],
    ["ENOTEMPTY.rename", err("Directory not empty")],
    ["ENOENT.open", err("No such file or directory")],
    ["ENOENT.unlink", err("No such file or directory")],
    ["ENOENT.parent", err("No such file or directory")],
    ["ENOTDIR.mkdir", err("Not a directory")],
    ["EISDIR.open", err("Is a directory")],
    ["EINVAL.rename_into_self", err("Invalid argument")],
    ["ENAMETOOLONG.create", err("File name too long")],
    ["name255", "1"],
    [
      "listing",
      "b1 big1 big2 c1 d1 direct f0 f1 h1 h3 loop_a loop_b m1 many ne_dst ne_src p1 rb rd2 re_dst " +
        "s_abs s_dangling s_rel sd sgid sparse sticky t1 tdir x1 xd ",
    ],
    ["total_entries", "3038"],
    ["done", "ok"],
  ];
}

/** Asserts that `lines` are exactly the workload's lines with {@link expectedSteps}' values. */
export function assertSteps(lines: string[]): void {
  const expected = expectedSteps();
  const labels = lines.map((l) => l.slice(0, Math.max(0, l.indexOf(": "))));
  assert.deepEqual(labels, expected.map(([label]) => label), "the workload's labelled lines, in order (stray output?)");
  expected.forEach(([label, value], i) => {
    const actual = (lines[i] as string).slice(label.length + 2);
    if (typeof value === "string") assert.equal(actual, value, `step ${label}`);
    else assert.match(actual, value, `step ${label}`);
  });
}

function major(rdev: number): number {
  return Math.floor(rdev / 256) & 0xfff;
}
function minor(rdev: number): number {
  return rdev & 0xff;
}

/**
 * Asserts that the host directory holds what workload.sh leaves under `w/`:
 * contents, sizes, checksums, modes, owners, times, xattrs, link targets,
 * special files. Throws an AssertionError naming the first mismatch.
 */
export function verifyHostTree(sharedDir: string): void {
  const w = (p: string): string => join(sharedDir, "w", p);
  const text = (p: string): string => readFileSync(w(p), "utf8");
  const mode = (p: string): number => lstatSync(w(p)).mode & 0o7777;
  const gone = (p: string): void => assert.equal(existsSync(w(p)), false, `${p} should not exist`);

  assert.equal(text("f1"), "final\n", "f1");
  assert.equal(mode("f1"), 0o644, "f1 mode");
  assert.equal(lstatSync(w("f0")).size, 0, "f0 size");

  const sparse = lstatSync(w("sparse"));
  assert.equal(sparse.size, 20 * MiB, "sparse size");
  assert.ok(sparse.blocks * 512 < 1 * MiB, `sparse allocates ${sparse.blocks} blocks`);
  const sparseData = readFileSync(w("sparse"));
  assert.equal(sparseData.subarray(8 * MiB, 8 * MiB + 4).toString(), "DATA", "sparse data at 8 MiB");
  assert.equal(sparseData.subarray(0, 8 * MiB).every((x) => x === 0), true, "sparse head is zeros");

  assert.equal(text("rb"), "a\n", "rename over a file");
  gone("ra");
  assert.equal(text("rd2/sub/f"), "x\n", "renamed directory");
  gone("rd");
  assert.equal(text("re_dst/g"), "y\n", "rename over an empty directory");
  gone("re_src");

  const h1 = lstatSync(w("h1"));
  const h3 = lstatSync(w("h3"));
  assert.equal(h1.ino, h3.ino, "h1 and h3 are one inode");
  assert.equal(h1.nlink, 2, "h1 nlink");
  assert.equal(text("h1"), "h\nh3\n", "h1 content");
  gone("h2");

  assert.equal(readlinkSync(w("s_rel")), "f1");
  assert.equal(readlinkSync(w("s_abs")), "/mnt/w/f1");
  assert.equal(readlinkSync(w("s_dangling")), "nowhere");
  assert.equal(readlinkSync(w("sd/up")), "../f1");
  const sAbs = lstatSync(w("s_abs"));
  assert.deepEqual([sAbs.uid, sAbs.gid], [7, 8], "chown -h on the symlink");
  assert.equal(lstatSync(w("s_rel")).mtimeMs / 1000, utc(2002, 2, 2, 2, 2, 2), "touch -h on the symlink");

  const m1 = lstatSync(w("m1"));
  assert.equal(m1.mode & 0o7777, 0o4750, "m1 mode");
  assert.deepEqual([m1.uid, m1.gid], [1234, 5678], "m1 owner");
  assert.equal(mode("sticky"), 0o1777, "sticky dir");
  assert.equal(mode("sgid"), 0o2775, "setgid dir");
  assert.equal(lstatSync(w("sgid/child")).gid, 4321, "file in a setgid dir takes its group");
  assert.equal(lstatSync(w("sgid/subdir")).gid, 4321, "subdir of a setgid dir takes its group");
  assert.equal(mode("sgid/subdir") & 0o2000, 0o2000, "subdir of a setgid dir is setgid");

  const t1 = lstatSync(w("t1"));
  assert.equal(t1.atimeMs / 1000, utc(1999, 12, 31, 23, 59, 59), "t1 atime");
  assert.equal(t1.mtimeMs / 1000, utc(2020, 6, 7, 8, 9, 10), "t1 mtime");
  assert.ok(existsSync(w("tdir/new")));

  const x1 = hostXattrs(w("x1"));
  assert.equal(x1.get("user.color"), Buffer.from("red").toString("hex"), "user.color");
  assert.equal(x1.get("user.bin"), "0102ff00", "user.bin");
  assert.equal(x1.get("user.big"), Buffer.alloc(3000, "v").toString("hex"), "user.big");
  assert.equal(x1.has("user.empty"), false, "user.empty was removed");
  assert.equal(hostXattrs(w("xd")).get("user.dirattr"), Buffer.from("d").toString("hex"), "xattr on a directory");

  assert.ok(lstatSync(w("p1")).isFIFO(), "p1 is a FIFO");
  const c1 = lstatSync(w("c1"));
  assert.ok(c1.isCharacterDevice(), "c1 is a character device");
  assert.deepEqual([major(c1.rdev), minor(c1.rdev)], [1, 3], "c1 rdev");
  const b1 = lstatSync(w("b1"));
  assert.ok(b1.isBlockDevice(), "b1 is a block device");
  assert.deepEqual([major(b1.rdev), minor(b1.rdev)], [7, 0], "b1 rdev");

  const many = readdirSync(w("many"));
  assert.equal(many.length, 2998, "entries in many/");
  assert.ok(many.includes("f10001") && many.includes("f12998") && !many.includes("f10000") && !many.includes("f12999"));

  gone("tree");
  gone("ul");
  gone("ul2");

  const big1 = big1Bytes();
  const hostBig1 = readFileSync(w("big1"));
  assert.equal(hostBig1.length, 32 * MiB, "big1 size");
  assert.equal(digest("sha256", hostBig1), digest("sha256", big1), "big1 sha256");
  assert.equal(digest("sha256", readFileSync(w("big2"))), digest("sha256", big2Bytes(big1)), "big2 sha256");
  assert.equal(digest("sha256", readFileSync(w("direct"))), digest("sha256", big1.subarray(0, 4 * MiB)), "direct");

  assert.ok(lstatSync(w("d1")).isDirectory());
  assert.ok(lstatSync(w("ne_dst/x")).isDirectory());
}
