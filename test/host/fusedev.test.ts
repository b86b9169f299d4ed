/**
 * The /dev/fuse transport against this machine's kernel: mount the in-memory
 * test file system (and the passthrough one), use it through node:fs (and,
 * for concurrency, a child process), unmount. Runs as root.
 *
 * Only asynchronous fs calls touch the mount from this process: the replies
 * come from this process's event loop, so a synchronous call would wait for
 * itself. They stay sequential too: each holds a libuv pool thread while the
 * kernel waits for our reply, and the poller needs one as well.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { errno } from "../../src/common/errors.js";
import { log } from "../../src/common/log.js";
import { InitFlag, Mode } from "../../src/fuse/abi.js";
import { FuseDevMount, type FuseDevMountOptions } from "../../src/host/fusedev.js";
import { PassthroughFs } from "../../src/passthrough/index.js";
import { FuseServer } from "../../src/server/server.js";
import type { InitAnswer } from "../../src/server/filesystem.js";
import { removeScratch } from "../scratch.js";
import { MemFs } from "../server/memfs.js";

log.setLevel("warn");

async function mounted(dir: string): Promise<string | undefined> {
  const table = await fsp.readFile("/proc/self/mounts", "utf8");
  return table.split("\n").find((line) => line.split(" ")[1] === dir);
}

function run(command: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

async function withMount(
  fs: MemFs,
  body: (dir: string, mount: FuseDevMount<FuseServer>) => Promise<void>,
  options: FuseDevMountOptions = {},
): Promise<void> {
  const dir = await fsp.mkdtemp(join(tmpdir(), "viofs-fusedev-"));
  try {
    const server = new FuseServer(fs);
    const mount = await FuseDevMount.mount(server, dir, options);
    try {
      await body(dir, mount);
    } finally {
      await mount.unmount();
      await fsp.rmdir(dir);
    }
  } finally {
    removeScratch(dir); // what a failed mount or unmount left: detached, then removed
  }
}

test("mount the in-memory file system through /dev/fuse and use it with node:fs", async () => {
  const fs = new MemFs();
  fs.initFlags = InitFlag.DO_READDIRPLUS | InitFlag.READDIRPLUS_AUTO | InitFlag.ATOMIC_O_TRUNC;
  fs.add(1n, "preset.txt", Mode.S_IFREG | 0o644, Buffer.from("from the file system\n"));
  let dirSeen = "";
  await withMount(fs, async (dir, mount) => {
    dirSeen = dir;
    const line = await mounted(dir);
    assert.ok(line, "listed in /proc/self/mounts");
    assert.match(line!, /^viofs \S+ fuse\.viofs /);
    assert.ok(mount.server.negotiated !== null, "INIT answered before mount() resolved");
    assert.ok(mount.server.negotiated!.flags & InitFlag.DO_READDIRPLUS);

    const root = await fsp.stat(dir);
    assert.ok(root.isDirectory());
    assert.equal(await fsp.readFile(join(dir, "preset.txt"), "utf8"), "from the file system\n");

    await fsp.writeFile(join(dir, "a.txt"), "hello, kernel");
    assert.equal(await fsp.readFile(join(dir, "a.txt"), "utf8"), "hello, kernel");
    const st = await fsp.stat(join(dir, "a.txt"));
    assert.ok(st.isFile());
    assert.equal(st.size, 13);
    await fsp.writeFile(join(dir, "a.txt"), "short"); // O_TRUNC
    assert.equal(await fsp.readFile(join(dir, "a.txt"), "utf8"), "short");

    await fsp.mkdir(join(dir, "sub"));
    await fsp.writeFile(join(dir, "sub", "inner"), "x");
    assert.deepEqual((await fsp.readdir(dir)).sort(), ["a.txt", "preset.txt", "sub"]);
    const typed = await fsp.readdir(dir, { withFileTypes: true });
    assert.ok(typed.find((d) => d.name === "sub")!.isDirectory());

    await fsp.rename(join(dir, "a.txt"), join(dir, "sub", "b.txt"));
    assert.deepEqual((await fsp.readdir(join(dir, "sub"))).sort(), ["b.txt", "inner"]);
    await fsp.symlink("sub/b.txt", join(dir, "link"));
    assert.equal(await fsp.readlink(join(dir, "link")), "sub/b.txt");
    assert.equal(await fsp.readFile(join(dir, "link"), "utf8"), "short");
    await fsp.truncate(join(dir, "sub", "b.txt"), 2);
    assert.equal(await fsp.readFile(join(dir, "sub", "b.txt"), "utf8"), "sh");
    await fsp.chmod(join(dir, "sub", "b.txt"), 0o600);
    assert.equal((await fsp.stat(join(dir, "sub", "b.txt"))).mode & 0o777, 0o600);

    // Larger than max_write and than one READ: the kernel splits, the server serves 1 MiB requests.
    const big = randomBytes(3 * 1024 * 1024 + 123);
    await fsp.writeFile(join(dir, "big.bin"), big);
    const back = await fsp.readFile(join(dir, "big.bin"));
    assert.equal(back.length, big.length);
    assert.ok(back.equals(big), "3 MiB round trip");

    await fsp.unlink(join(dir, "link"));
    await fsp.unlink(join(dir, "sub", "b.txt"));
    await fsp.unlink(join(dir, "sub", "inner"));
    await fsp.rmdir(join(dir, "sub"));
    await assert.rejects(fsp.stat(join(dir, "sub")), { code: "ENOENT" });
    await assert.rejects(fsp.rmdir(join(dir, "preset.txt")), { code: "ENOTDIR" });
    const sfs = await fsp.statfs(dir);
    assert.equal(sfs.bsize, 4096);
    assert.equal(sfs.blocks, 1000);
  });
  assert.equal(await mounted(dirSeen), undefined, "gone after unmount");
  assert.equal(fs.destroyed, 1, "the session's end reset the file system");
});

for (const maxInFlight of [64, 2]) {
  test(`many requests in flight at once (a child process reading and writing in parallel), maxInFlight ${maxInFlight}`, async () => {
    const fs = new MemFs();
    for (let i = 0; i < 16; i++) fs.add(1n, `f${i}`, Mode.S_IFREG | 0o644, Buffer.alloc(200_000, i));
    let peak = 0;
    let current: FuseDevMount<FuseServer> | null = null;
    const serve = fs.read.bind(fs);
    fs.read = async (...args) => {
      peak = Math.max(peak, current?.pending ?? 0);
      await new Promise((resolve) => setTimeout(resolve, 2)); // let others arrive meanwhile
      return serve(...args);
    };
    await withMount(fs, async (dir, mount) => {
      current = mount;
      const script = `
        const fs = require("node:fs/promises");
        const path = require("node:path");
        const dir = process.argv[1];
        (async () => {
          const reads = Array.from({ length: 16 }, (_, i) => fs.readFile(path.join(dir, "f" + i)));
          const writes = Array.from({ length: 16 }, (_, i) => fs.writeFile(path.join(dir, "w" + i), Buffer.alloc(100_000, 255 - i)));
          const [datas] = await Promise.all([Promise.all(reads), Promise.all(writes)]);
          const ok = datas.every((d, i) => d.length === 200000 && d.every((b) => b === i));
          const back = await Promise.all(Array.from({ length: 16 }, (_, i) => fs.readFile(path.join(dir, "w" + i))));
          const ok2 = back.every((d, i) => d.length === 100000 && d.every((b) => b === 255 - i));
          console.log(JSON.stringify({ ok, ok2, names: (await fs.readdir(dir)).length }));
        })().catch((e) => { console.error(e); process.exit(1); });
      `;
      const result = await run(process.execPath, ["-e", script, dir]);
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(JSON.parse(result.stdout), { ok: true, ok2: true, names: 32 });
      assert.equal(mount.pending, 0);
      assert.ok(peak >= 2 && peak <= maxInFlight, `between 2 and ${maxInFlight} in flight (saw ${peak})`);
    }, { maxInFlight });
  });
}

test("an unmount by someone else ends the session; an INIT the file system refuses fails the mount", async () => {
  const fs = new MemFs();
  const dir = await fsp.mkdtemp(join(tmpdir(), "viofs-fusedev-"));
  try {
    const mount = await FuseDevMount.mount(new FuseServer(fs), dir);
    const r = await run("umount", ["-l", dir]);
    assert.equal(r.code, 0, r.stderr);
    await mount.closed;
    assert.equal(fs.destroyed, 1);
    await mount.unmount(); // idempotent after the fact

    class Refusing extends MemFs {
      override init(): Promise<InitAnswer> {
        return Promise.reject(errno("EPROTO", "init"));
      }
    }
    await assert.rejects(FuseDevMount.mount(new FuseServer(new Refusing()), dir), /INIT was refused/);
    assert.equal(await mounted(dir), undefined, "a failed mount is removed");
  } finally {
    try {
      await fsp.rmdir(dir);
    } finally {
      removeScratch(dir);
    }
  }
});

test("the passthrough file system over /dev/fuse: the mount and the host directory agree", async (t) => {
  const host = await fsp.mkdtemp(join(tmpdir(), "viofs-host-"));
  try {
    await fsp.writeFile(join(host, "hello.txt"), "from the host\n");
    await fsp.mkdir(join(host, "dir"));
    const fs = new PassthroughFs({
      root: host,
      cache: "auto",
      xattr: true,
      readonly: false,
      posixLocks: false,
      flock: false,
      announceSubmounts: false,
      writeback: false,
    });
    const dir = await fsp.mkdtemp(join(tmpdir(), "viofs-fusedev-"));
    t.after(() => removeScratch(dir)); // after a failed mount or unmount
    const mount = await FuseDevMount.mount(new FuseServer(fs), dir);
    try {
      assert.equal(await fsp.readFile(join(dir, "hello.txt"), "utf8"), "from the host\n");
      assert.deepEqual((await fsp.readdir(dir)).sort(), ["dir", "hello.txt"]);
      const data = randomBytes(2 * 1024 * 1024 + 7);
      await fsp.writeFile(join(dir, "dir", "new.bin"), data);
      assert.ok((await fsp.readFile(join(host, "dir", "new.bin"))).equals(data), "written through to the host");
      assert.ok((await fsp.readFile(join(dir, "dir", "new.bin"))).equals(data));
      await fsp.rename(join(dir, "dir", "new.bin"), join(dir, "moved.bin"));
      assert.equal((await fsp.stat(join(host, "moved.bin"))).size, data.length);
      await fsp.mkdir(join(dir, "made"), { recursive: false });
      assert.ok((await fsp.stat(join(host, "made"))).isDirectory());
      await fsp.unlink(join(dir, "moved.bin"));
      await assert.rejects(fsp.stat(join(host, "moved.bin")), { code: "ENOENT" });
      const st = await fsp.stat(join(dir, "hello.txt"));
      const hostSt = await fsp.stat(join(host, "hello.txt"));
      assert.equal(st.size, hostSt.size);
      assert.equal(st.mtimeMs, hostSt.mtimeMs);
    } finally {
      await mount.unmount();
      await fsp.rmdir(dir);
    }
  } finally {
    await fsp.rm(host, { recursive: true, force: true });
  }
});
