/**
 * What the workload tests of a FUSE mount share (`viofs mount` in
 * test/guest/mount.test.ts, `viofs serve --fuse-mount` in
 * test/host/fuse-mount-workload.test.ts): starting `viofs`, finding mounts,
 * running test/vm/workload.sh in a private mount namespace, and the two
 * normalizations a FUSE mount needs against a native directory, each
 * asserted first.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { VIOFS } from "../host/viofs-process.js";
import { removeScratch } from "../scratch.js";

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) dir = dirname(dir);
  return dir;
}

export const ROOT = repoRoot();
export const WORKLOAD = join(ROOT, "test", "vm", "workload.sh");
/** FUSE_SUPER_MAGIC, as `stat -f -c %t` prints it. */
export const FUSE_MAGIC_HEX = "65735546";

export interface Running {
  readonly child: ChildProcess;
  stderr(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `viofs <args>` (optionally under another program, e.g. unshare). */
export function startViofs(args: string[], wrapper: string[] = []): Running {
  const argv = [...wrapper, ...VIOFS, ...args];
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, UV_THREADPOOL_SIZE: "32" },
  });
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (s: string) => (err += s));
  child.stderr!.setEncoding("utf8").on("data", (s: string) => (err += s));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal })),
  );
  return { child, stderr: () => err, exited };
}

// ---- mounts ----

export interface MountInfo {
  readonly source: string;
  readonly fstype: string;
  readonly options: string;
}

/** The mount at `path` in this namespace, from /proc/self/mountinfo. */
export function mountAt(path: string): MountInfo | null {
  let found: MountInfo | null = null;
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const f = line.split(" ");
    const dash = f.indexOf("-");
    if (dash < 0 || f[4] !== path) continue;
    found = { options: f[5]!, fstype: f[dash + 1]!, source: f[dash + 2]! };
  }
  return found;
}

export async function until(test: () => boolean, what: string, ms = 15_000, detail: () => string = () => ""): Promise<void> {
  const deadline = Date.now() + ms;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${detail()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface Mounted extends Running {
  readonly mountpoint: string;
  /** SIGTERM, then checks: exit 0, the mount gone. */
  stop(): Promise<void>;
}

/**
 * Runs `viofs <args>` that mounts at `mountpoint`, and waits until its log
 * says the mount is ready (`ready`) or it exits (then fails, with its log,
 * after killing a viofs that is still running).
 */
export async function startMounted(args: string[], mountpoint: string, ready: RegExp): Promise<Mounted> {
  const running = startViofs(args);
  let done = false;
  void running.exited.then(() => (done = true));
  try {
    await until(() => ready.test(running.stderr()) || done, `the mount at ${mountpoint}`, 15_000, running.stderr);
    assert.ok(mountAt(mountpoint) && !done, `viofs exited without mounting:\n${running.stderr()}`);
  } catch (error) {
    running.child.kill("SIGKILL");
    await running.exited;
    throw error;
  }
  return {
    ...running,
    mountpoint,
    async stop() {
      if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill("SIGTERM");
      const { code, signal } = await running.exited;
      assert.equal(mountAt(mountpoint), null, "the mount is gone after viofs exits");
      assert.deepEqual({ code, signal }, { code: 0, signal: null }, running.stderr());
      removeScratch(mountpoint);
    },
  };
}

/** Detaches whatever is still mounted at `path` (cleanup after a failed test). */
export function forceUnmount(path: string): void {
  while (mountAt(path) !== null) {
    if (spawnSync("umount", ["-l", path]).status !== 0) break;
  }
}

/**
 * Runs the workload with `dir` bound at /mnt in a private mount namespace
 * (the script's paths are /mnt/w; readlink prints them). /tmp there is a
 * fresh tmpfs: the script keeps scratch files in /tmp. The bind carries the
 * source mount's flags; `flags` adds others (the native run takes the
 * viofs mount's nosuid,nodev, so that both compare file systems, not mount
 * flags).
 */
export async function runWorkload(dir: string, flags: string | null): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const remount = flags === null ? "" : ` && mount -o remount,bind,${flags} /mnt`;
  // The script is opened before /tmp is covered (the repository may live under /tmp).
  const script = `exec 9<"$2" && mount --bind "$1" /mnt${remount} && mount -t tmpfs tmpfs /tmp && cd / && exec sh /dev/fd/9`;
  const child = spawn("unshare", ["--mount", "--propagation", "private", "sh", "-c", script, "sh", dir, WORKLOAD], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
  return { code, stdout, stderr };
}

/**
 * The two lines that differ between a FUSE mount and a native directory by
 * nature, each checked on both sides and then replaced by the same token:
 *
 * - `mount:` prints the source and type of /mnt: the native directory's
 *   block device and file system (e.g. "/dev/vda ext4"), the viofs mount's
 *   `<tag> fuse.viofs`.
 * - `statfs:` prints `type=` (the superblock magic: FUSE_SUPER_MAGIC
 *   65735546 on the mount, ext4's ef53 natively) and then bsize, frsize and
 *   namemax, which the backends pass through from the same host file system
 *   and must match exactly; only the type field is replaced.
 *
 * Every other line must be equal as printed.
 */
export function normalize(lines: string[], side: { fuse: boolean; source?: string }): string[] {
  return lines.map((line) => {
    if (line.startsWith("mount: ")) {
      if (side.fuse) assert.equal(line, `mount: ${side.source} fuse.viofs`, "the viofs mount's source and type");
      else assert.match(line, /^mount: \S+ \S+$/, "the native directory's source and type");
      return "mount: <source type>";
    }
    if (line.startsWith("statfs: ")) {
      const m = /^statfs: type=([0-9a-f]+) (bsize=\d+ frsize=\d+ namemax=\d+)$/.exec(line);
      assert.ok(m, `statfs line: ${line}`);
      if (side.fuse) assert.equal(m[1], FUSE_MAGIC_HEX, "statfs type of a FUSE mount");
      else assert.notEqual(m[1], FUSE_MAGIC_HEX, "the native directory is not FUSE");
      return `statfs: type=<magic> ${m[2]}`;
    }
    return line;
  });
}

export function diff(a: { name: string; lines: string[] }, b: { name: string; lines: string[] }): string {
  const out: string[] = [];
  for (let i = 0; i < Math.max(a.lines.length, b.lines.length); i++) {
    if (a.lines[i] !== b.lines[i]) out.push(`line ${i + 1}:\n  ${a.name}: ${a.lines[i] ?? "<none>"}\n  ${b.name}: ${b.lines[i] ?? "<none>"}`);
  }
  return out.slice(0, 20).join("\n");
}

/** The tree under `dir`, one line per entry: type, mode, owner, size, links, and the content's digest or the link target. */
export function treeOf(dir: string): string[] {
  const lines: string[] = [];
  const walk = (rel: string): void => {
    const path = join(dir, rel);
    const st = lstatSync(path, { bigint: true });
    const mode = (st.mode & 0o7777n).toString(8);
    let what = "";
    if (st.isSymbolicLink()) what = `-> ${readlinkSync(path)}`;
    else if (st.isFile()) what = createHash("sha256").update(readFileSync(path)).digest("hex").slice(0, 16);
    else if (st.isCharacterDevice() || st.isBlockDevice()) what = `rdev=${st.rdev}`;
    const type = st.isDirectory() ? "d" : st.isFile() ? "f" : st.isSymbolicLink() ? "l" : st.isFIFO() ? "p" : st.isCharacterDevice() ? "c" : st.isBlockDevice() ? "b" : "?";
    const size = st.isDirectory() ? "" : ` size=${st.size}`;
    lines.push(`${rel || "."} ${type} ${mode} ${st.uid}:${st.gid}${size} nlink=${st.nlink} ${what}`.trimEnd());
    if (st.isDirectory()) for (const name of readdirSync(path).sort()) walk(rel ? `${rel}/${name}` : name);
  };
  walk("");
  return lines;
}

