/**
 * The passthrough file system under the real Linux FUSE client (/dev/fuse),
 * used by real processes: POSIX locks between two processes (conflict, GETLK
 * naming the holder, a blocking wait the daemon serves without stalling, the
 * holder's exit releasing it), closes without FLUSH (FOPEN_NOFLUSH) and the
 * locks they release, flock(1), xattrs and a large directory.
 *
 * This process serves the mount: it touches the mount only with async calls
 * (a synchronous one would block the loop that has to answer it).
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcess, type ChildProcessWithoutNullStreams } from "node:child_process";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { log } from "../../src/common/log.js";
import { FuseDevMount } from "../../src/host/fusedev.js";
import { FuseServer } from "../../src/server/server.js";
import type { FlushIn } from "../../src/fuse/structs.js";
import { PassthroughFs } from "../../src/passthrough/passthrough.js";
import type { Answer, Context } from "../../src/server/filesystem.js";
import { removeScratch } from "../scratch.js";
import { defaults, scratchDir } from "./helpers.js";

log.setLevel("off");

/**
 * Serves a fresh `host/` (a tmpfs of its own with `tmpfs`) at `mnt/` for
 * `fn`, through `make`'s file system; then unmounts and removes both, also
 * when `fn` or the unmount fails.
 */
async function withMount(
  tag: string,
  fn: (mnt: string, host: string) => Promise<void>,
  { tmpfs = false, make = (root: string) => new PassthroughFs({ ...defaults, root }) } = {},
): Promise<void> {
  const scratch = scratchDir(tag);
  try {
    const host = path.join(scratch.dir, "host");
    const mnt = path.join(scratch.dir, "mnt");
    fs.mkdirSync(host);
    fs.mkdirSync(mnt);
    if (tmpfs) execFileSync("mount", ["-t", "tmpfs", "-o", "size=8m", "viofs-test", host]);
    const pfs = make(host);
    try {
      const mount = await FuseDevMount.mount(new FuseServer(pfs, { posixLocks: true, flock: true }), mnt);
      try {
        await fn(mnt, host);
      } finally {
        await mount.unmount();
      }
    } finally {
      await pfs.destroy();
    }
  } finally {
    removeScratch(scratch.dir); // detaches a mount the unmount left behind first
  }
}

/** A python3 process running `code`, with its stdout lines as they come. */
function python(code: string, ...args: string[]): { child: ChildProcessWithoutNullStreams; line: () => Promise<string> } {
  const child = spawn("python3", ["-c", code, ...args]);
  const lines: string[] = [];
  const waiters: ((line: string) => void)[] = [];
  let rest = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    rest += chunk;
    for (let i = rest.indexOf("\n"); i >= 0; i = rest.indexOf("\n")) {
      const line = rest.slice(0, i);
      rest = rest.slice(i + 1);
      const waiter = waiters.shift();
      if (waiter) waiter(line);
      else lines.push(line);
    }
  });
  child.stderr.pipe(process.stderr);
  const line = () =>
    new Promise<string>((resolve, reject) => {
      const ready = lines.shift();
      if (ready !== undefined) return resolve(ready);
      waiters.push(resolve);
      child.once("exit", (code) => reject(new Error(`python exited (${code}) before a line`)));
    });
  return { child, line };
}

/** The exit code of a child process. */
function exitCode(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

const HOLDER = `
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX, 10, 0)
print("locked", os.getpid(), flush=True)
sys.stdin.readline()
`;

const WAITER = `
import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 5, 2)
    print("free", flush=True)
except OSError as e:
    print("busy", e.errno, flush=True)
probe = struct.pack("hhqqi", fcntl.F_WRLCK, 0, 2, 5, 0)
got = struct.unpack("hhqqi", fcntl.fcntl(fd, fcntl.F_GETLK, probe))
print("holder", got[0], got[2], got[3], got[4], flush=True)
fcntl.lockf(fd, fcntl.LOCK_EX, 5, 2)
print("granted", flush=True)
`;

test("POSIX locks between two processes through the kernel: conflict, GETLK, a blocking wait, release on exit", async () => {
  await withMount("mnt-locks", async (mnt, host) => {
    const file = path.join(mnt, "f");
    await fsp.writeFile(file, "0123456789");
    const holder = python(HOLDER, file);
    const [word, pid] = (await holder.line()).split(" ");
    assert.equal(word, "locked");
    const waiter = python(WAITER, file);
    assert.match(await waiter.line(), /^busy (11|13)$/);
    const [, type, start, length, holderPid] = (await waiter.line()).split(" ").map(Number);
    assert.deepEqual([type, start, length, holderPid], [1, 0, 10, Number(pid)], "GETLK names the holder's range and pid");
    // The waiter blocks in SETLKW; the daemon keeps serving everyone else meanwhile.
    let granted = false;
    const grant = waiter.line().then((l) => {
      granted = l === "granted";
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(await fsp.readdir(mnt), ["f"]);
    assert.equal(fs.readFileSync(path.join(host, "f"), "utf8"), "0123456789");
    assert.equal(granted, false);
    holder.child.stdin.end("\n"); // the holder exits: its close drops its locks
    await grant;
    assert.equal(granted, true);
    waiter.child.kill();
  });
});

/** Counts the FLUSHes the kernel sends. */
class CountingFs extends PassthroughFs {
  flushes = 0;
  override flush(ctx: Context, nodeid: bigint, arg: FlushIn): Answer<void> {
    this.flushes++;
    return super.flush(ctx, nodeid, arg);
  }
}

const CLOSER = `
import fcntl, os, sys
path = sys.argv[1]
for i in range(3):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"0123456789")
    os.close(fd)
print("closed", flush=True)
fd = os.open(path, os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX, 10, 0)
print("locked", flush=True)
sys.stdin.readline()
os.close(fd)
print("closed the locked file", flush=True)
sys.stdin.readline()
fd = os.open(path, os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX, 10, 0)
other = os.open(path, os.O_RDONLY)
os.close(other)
print("closed another fd", flush=True)
sys.stdin.readline()
`;

/** Tries to lock bytes 0-9 of argv[1] for up to argv[2] tries, 50 ms apart, until the answer is argv[3]; prints the last answer. */
const PROBE = `
import fcntl, os, sys, time
for i in range(int(sys.argv[2])):
    fd = os.open(sys.argv[1], os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
        answer = "free"
    except OSError:
        answer = "busy"
    os.close(fd)
    if answer == sys.argv[3]:
        break
    time.sleep(0.05)
print(answer, flush=True)
`;

test("through the kernel: no FLUSH for a close on a tmpfs share until the first POSIX lock; a lock goes at the last close of a file opened before it, and at any close after it", async () => {
  let counting: CountingFs | undefined;
  const make = (root: string) => (counting = new CountingFs({ ...defaults, root }));
  await withMount(
    "mnt-noflush",
    async (mnt) => {
      const file = path.join(mnt, "f");
      const closer = python(CLOSER, file);
      assert.equal(await closer.line(), "closed");
      assert.equal(counting!.flushes, 0, "three opens and closes, no FLUSH");
      assert.equal(await closer.line(), "locked");
      assert.equal(await python(PROBE, file, "1", "busy").line(), "busy");
      closer.child.stdin.write("\n");
      assert.equal(await closer.line(), "closed the locked file");
      // Its RELEASE (sent in the background by the kernel) drops the lock: no FLUSH came for it.
      assert.equal(await python(PROBE, file, "40", "free").line(), "free");
      closer.child.stdin.write("\n");
      // Opened after the first lock: closing the other fd is a FLUSH, which drops the process's lock at once (POSIX).
      assert.equal(await closer.line(), "closed another fd");
      assert.equal(await python(PROBE, file, "1", "free").line(), "free");
      assert.ok(counting!.flushes > 0);
      closer.child.stdin.end("\n");
      assert.equal(await exitCode(closer.child), 0);
    },
    { tmpfs: true, make },
  );
});

test("flock(1) through the kernel: exclusive holders exclude, a waiter gets the lock when the holder ends", async () => {
  await withMount("mnt-flock", async (mnt) => {
    const file = path.join(mnt, "lockfile");
    await fsp.writeFile(file, "");
    const holder = spawn("flock", ["-x", file, "-c", "echo held; read line"]);
    await new Promise<void>((resolve) => holder.stdout.once("data", () => resolve()));
    const attempt = await exitCode(spawn("flock", ["-n", "-s", file, "true"]));
    assert.equal(attempt, 1, "a shared flock -n fails while an exclusive one is held");
    const waiter = spawn("flock", ["-x", file, "-c", "echo got"]);
    let got = false;
    const done = new Promise<void>((resolve) => waiter.stdout.once("data", () => ((got = true), resolve())));
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(got, false);
    holder.stdin.end("\n");
    await done;
    assert.equal(got, true);
  });
});

test("xattrs and a large directory through the kernel agree with the host", async () => {
  await withMount("mnt-misc", async (mnt, host) => {
    const names = Array.from({ length: 600 }, (_, i) => `file-with-a-longish-name-${i}`);
    for (const name of names) fs.writeFileSync(path.join(host, name), name);
    assert.deepEqual((await fsp.readdir(mnt)).sort(), [...names].sort());
    const some = path.join(mnt, names[7]!);
    assert.equal(await fsp.readFile(some, "utf8"), names[7]);
    assert.equal(await exitCode(spawn("setfattr", ["-n", "user.colour", "-v", "green", some])), 0);
    const got = spawnSync("getfattr", ["--only-values", "-n", "user.colour", path.join(host, names[7]!)], { encoding: "utf8" });
    assert.equal(got.stdout, "green");
    fs.symlinkSync("/etc/passwd", path.join(host, "link"));
    assert.equal(await fsp.readlink(path.join(mnt, "link")), "/etc/passwd");
    assert.equal((await fsp.lstat(path.join(mnt, "link"))).isSymbolicLink(), true);
  });
});
