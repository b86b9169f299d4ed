/**
 * `viofs mount` end to end, as root: the real CLI in a child process (the
 * compiled bin/viofs.js, or the sources through tsx), the real kernel's FUSE
 * through /dev/fuse, and two real backends in the same run: QEMU's C
 * virtiofsd and `viofs serve`.
 *
 * The proof: the POSIX workload of the VM tests (test/vm/workload.sh, coreutils
 * here instead of busybox) gives the same output on a `viofs mount` of each
 * backend as on a plain host directory, line by line, and leaves the same
 * tree on the host. Two lines differ by nature and are normalized, each
 * checked first (see `normalize` in ./mount-workload.ts). Then: unmounting on signals and
 * when the backend dies, `-o ro`, and one clear line with exit 2 for every
 * kind of bad input.
 */
import { before, describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir, readFile, truncate, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { virtiofsd, viofsServe, type Backend, type BackendFactory } from "./backends.js";
import { atEnd, scratchDir, suiteScratchDir } from "../scratch.js";
import { diff, forceUnmount, mountAt, normalize, runWorkload, startMounted, startViofs, treeOf, until, type Mounted, type Running } from "./mount-workload.js";

/** Runs `viofs mount` of `socketPath` at a fresh directory and waits for the mount; the directory goes (unmounted first) when `t` ends. */
async function mountBackend(t: TestContext, socketPath: string, extra: string[] = []): Promise<Mounted> {
  const mountpoint = scratchDir(t, "viofs-mount-");
  // The mount shows in mountinfo at mount(2), before INIT; the log line comes after both INITs.
  return startMounted(["mount", `--socket-path=${socketPath}`, mountpoint, ...extra], mountpoint, new RegExp(`mounted \\S+ at ${mountpoint}`));
}

// ---- the workload ----

const BACKENDS: readonly BackendFactory[] = [virtiofsd, viofsServe];

describe("viofs mount: the POSIX workload, native and through each backend", { concurrency: false }, () => {
  let native: { lines: string[]; stderr: string; tree: string[] } | null = null;
  const nativeDir = suiteScratchDir("viofs-native-");

  before(() => assert.equal(process.getuid?.(), 0, "these tests mount file systems: run them as root"));

  test("on a plain host directory (the reference)", { timeout: 120_000 }, async () => {
    const run = await runWorkload(nativeDir, "nosuid,nodev");
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trimEnd().split("\n");
    assert.equal(lines[lines.length - 1], "done: ok");
    native = { lines: normalize(lines, { fuse: false }), stderr: run.stderr, tree: treeOf(join(nativeDir, "w")) };
  });

  for (const factory of BACKENDS) {
    test(`through viofs mount of ${factory.name}: the same output and host tree`, { timeout: 180_000 }, async (t) => {
      assert.ok(native, "the native run must have completed");
      const backend: Backend = await factory.start();
      let mounted: Mounted | null = null;
      t.after(async () => {
        if (mounted) forceUnmount(mounted.mountpoint);
        mounted?.child.kill("SIGKILL");
        await backend.stop();
      });
      mounted = await mountBackend(t, backend.socketPath);
      assert.deepEqual(mountAt(mounted.mountpoint), {
        source: "viofs",
        fstype: "fuse.viofs",
        options: "rw,nosuid,nodev,relatime",
      });
      const run = await runWorkload(mounted.mountpoint, null);
      assert.equal(run.code, 0, `${run.stderr}\n--- viofs mount ---\n${mounted.stderr()}\n--- backend ---\n${backend.log()}`);
      const lines = normalize(run.stdout.trimEnd().split("\n"), { fuse: true, source: "viofs" });
      assert.deepEqual(lines, native.lines, diff({ name: "native", lines: native.lines }, { name: factory.name, lines }));
      // What the tools print on stderr, too (with nodev on both sides, opening c1 fails alike).
      assert.equal(run.stderr, native.stderr);
      // The relay never had to replace a reply or log a failure.
      assert.doesNotMatch(mounted.stderr(), / (WARN|ERROR) /, mounted.stderr());

      await mounted.stop();
      const tree = treeOf(join(backend.dir, "w"));
      assert.deepEqual(tree, native.tree, diff({ name: "native", lines: native.tree }, { name: factory.name, lines: tree }));
      // The backend's one connection ended with the mount: it exits by itself.
      assert.equal(await backend.exited, 0, backend.log());
    });
  }
});

// ---- lifecycle and bad input ----

/** Runs `viofs <args>` to the end. */
async function runViofs(args: string[], wrapper: string[] = []): Promise<{ code: number | null; stderr: string }> {
  const running = startViofs(args, wrapper);
  const { code } = await running.exited;
  return { code, stderr: running.stderr() };
}

/** Exit 2 and exactly one line, `viofs: …`, matching `pattern`. */
function assertOneLine(result: { code: number | null; stderr: string }, pattern: RegExp): void {
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /^viofs: [^\n]+\n$/, `one line on stderr, got:\n${result.stderr}`);
  assert.match(result.stderr.trimEnd(), pattern);
}

/** Waits for a unix socket file (a daemon started by hand). */
async function waitSocket(path: string, running: Running): Promise<void> {
  await until(() => {
    try {
      return lstatSync(path).isSocket();
    } catch {
      return false;
    }
  }, `a socket at ${path}`, 15_000, running.stderr);
}

describe("viofs mount: lifecycle and bad input", () => {
  const scratch = suiteScratchDir("viofs-mount-cli-");

  test("bad input is one line and exit 2, and mounts nothing", { timeout: 60_000 }, async (t) => {
    const dir = join(scratch, "mnt");
    mkdirSync(dir);
    const file = join(scratch, "file");
    writeFileSync(file, "x");
    const missing = join(scratch, "nothing-here.sock");

    assertOneLine(await runViofs(["mount", dir]), /--socket-path=PATH is required/);
    assertOneLine(await runViofs(["mount", `--socket-path=${missing}`]), /no mountpoint given/);
    assertOneLine(await runViofs(["mount", `--socket-path=${missing}`, dir, "-o", "exec"]), /unknown mount option 'exec'; known: ro, rw/);
    assertOneLine(await runViofs(["mount", `--socket-path=${missing}`, dir, "--bogus"]), /unknown option '--bogus'/);

    // The socket.
    assertOneLine(
      await runViofs(["mount", `--socket-path=${missing}`, dir]),
      new RegExp(`^viofs: no vhost-user socket at ${missing}; start \`viofs serve\` or virtiofsd first$`),
    );
    assertOneLine(await runViofs(["mount", `--socket-path=${file}`, dir]), new RegExp(`^viofs: ${file} is not a vhost-user-fs backend: not a socket$`));
    // A socket whose server speaks something else (here: HTTP).
    const http = join(scratch, "http.sock");
    const server: Server = createServer((socket) => {
      socket.on("error", () => undefined); // the client hangs up as it pleases
      socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    });
    await new Promise<void>((resolve) => server.listen(http, resolve));
    t.after(() => server.close());
    assertOneLine(await runViofs(["mount", `--socket-path=${http}`, dir]), new RegExp(`^viofs: ${http} is not a vhost-user-fs backend: .+`));

    // The mountpoint (checked before the backend is dialled: a missing socket is not reported).
    assertOneLine(await runViofs(["mount", `--socket-path=${missing}`, join(scratch, "nodir")]), /^viofs: mountpoint \S+\/nodir does not exist; create the directory first$/);
    assertOneLine(await runViofs(["mount", `--socket-path=${missing}`, file]), /^viofs: mountpoint \S+\/file is not a directory$/);
    const busy = join(scratch, "busy");
    mkdirSync(busy);
    assert.equal(spawnSync("mount", ["-t", "tmpfs", "viofs-test-busy", busy]).status, 0);
    try {
      assertOneLine(
        await runViofs(["mount", `--socket-path=${missing}`, busy]),
        /^viofs: mountpoint \S+\/busy is busy: viofs-test-busy \(tmpfs\) is mounted there; unmount it or choose another directory$/,
      );
    } finally {
      spawnSync("umount", [busy]);
    }

    // No /dev/fuse: a private mount namespace whose /dev has only the basic nodes.
    const dev = join(scratch, "dev");
    mkdirSync(dev);
    for (const [name, minor] of [["null", 3], ["zero", 5], ["full", 7], ["random", 8], ["urandom", 9]] as const) {
      assert.equal(spawnSync("mknod", ["-m", "666", join(dev, name), "c", "1", String(minor)]).status, 0);
    }
    const noFuse = ["unshare", "--mount", "--propagation", "private", "sh", "-c", 'mount --bind "$0" /dev && exec "$@"', dev];
    assertOneLine(await runViofs(["mount", `--socket-path=${missing}`, dir], noFuse), /^viofs: no \/dev\/fuse on this host: load the FUSE module \(modprobe fuse\)$/);

    assert.equal(mountAt(dir), null, "nothing was mounted");
  });

  test("SIGINT unmounts a busy mount, closes the backend connection and exits 0", { timeout: 60_000 }, async (t) => {
    const backend = await virtiofsd.start();
    t.after(() => backend.stop());
    const mounted = await mountBackend(t, backend.socketPath);
    t.after(() => forceUnmount(mounted.mountpoint));
    // A process whose working directory is in the mount keeps it busy.
    const holder = spawn("sleep", ["60"], { cwd: mounted.mountpoint, stdio: "ignore" });
    t.after(() => holder.kill("SIGKILL"));
    mounted.child.kill("SIGINT");
    const { code, signal } = await mounted.exited;
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, mounted.stderr());
    assert.equal(mountAt(mounted.mountpoint), null);
    assert.match(mounted.stderr(), /SIGINT: unmounting/);
    assert.equal(await backend.exited, 0, backend.log());
  });

  test("an unmount by someone else ends viofs mount with 0", { timeout: 60_000 }, async (t) => {
    const backend = await virtiofsd.start();
    t.after(() => backend.stop());
    const mounted = await mountBackend(t, backend.socketPath);
    t.after(() => forceUnmount(mounted.mountpoint));
    assert.equal(spawnSync("umount", [mounted.mountpoint]).status, 0);
    const { code, signal } = await mounted.exited;
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, mounted.stderr());
    assert.match(mounted.stderr(), /unmounted/);
    assert.equal(await backend.exited, 0, backend.log());
  });

  for (const factory of BACKENDS) {
    test(`${factory.name} killed: the request in flight fails ENOTCONN, the mount goes, exit 1 with one line`, { timeout: 60_000 }, async (t) => {
      const backend = await factory.start();
      t.after(() => backend.stop());
      const mounted = await mountBackend(t, backend.socketPath);
      t.after(() => forceUnmount(mounted.mountpoint));
      // Freeze the backend, send a request it will never answer, then kill it.
      await backend.pause();
      const reader = spawn("cat", [join(mounted.mountpoint, "never-looked-up")], { stdio: ["ignore", "ignore", "pipe"] });
      let readerErr = "";
      reader.stderr.setEncoding("utf8").on("data", (s: string) => (readerErr += s));
      const readerDone = new Promise<number | null>((resolve) => reader.on("close", (c) => resolve(c)));
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(reader.exitCode, null, "the request waits for the frozen backend");
      backend.kill("SIGKILL");

      assert.notEqual(await readerDone, 0);
      assert.match(readerErr, /Transport endpoint is not connected/);
      const { code } = await mounted.exited;
      assert.equal(code, 1, mounted.stderr());
      const last = mounted.stderr().trimEnd().split("\n").pop()!;
      assert.match(last, new RegExp(`^viofs: the backend at ${backend.socketPath} went away \\(.+\\); ${mounted.mountpoint} is unmounted$`));
      assert.equal(mountAt(mounted.mountpoint), null);
    });
  }

  test("-o ro: a read-only mount; the relay refuses changes with EROFS even when the kernel is told rw", { timeout: 60_000 }, async (t) => {
    const backend = await virtiofsd.start();
    t.after(() => backend.stop());
    writeFileSync(join(backend.dir, "old"), "kept\n");
    const mounted = await mountBackend(t, backend.socketPath, ["-o", "ro"]);
    t.after(() => forceUnmount(mounted.mountpoint));
    const mnt = mounted.mountpoint;
    assert.match(mountAt(mnt)!.options, /^ro,/);
    assert.equal(await readFile(join(mnt, "old"), "utf8"), "kept\n");
    const refused = async (what: string, op: () => Promise<unknown>): Promise<void> => {
      await assert.rejects(op(), (e: NodeJS.ErrnoException) => e.code === "EROFS", what);
    };
    await refused("create", () => writeFile(join(mnt, "new"), "x"));
    await refused("mkdir", () => mkdir(join(mnt, "dir")));
    // Past the kernel's check: the relay itself answers EROFS.
    assert.equal(spawnSync("mount", ["-o", "remount,rw", mnt]).status, 0);
    assert.match(mountAt(mnt)!.options, /^rw,/);
    await refused("create after remount", () => writeFile(join(mnt, "new"), "x"));
    await refused("mkdir after remount", () => mkdir(join(mnt, "dir")));
    await refused("open for writing after remount", () => writeFile(join(mnt, "old"), "changed"));
    await refused("truncate after remount", () => truncate(join(mnt, "old"), 0));
    assert.equal(await readFile(join(mnt, "old"), "utf8"), "kept\n");
    await mounted.stop();
    assert.deepEqual(readdirSync(backend.dir), ["old"]);
    assert.equal(readFileSync(join(backend.dir, "old"), "utf8"), "kept\n");
  });

  test("--tag: the share's name in /proc/mounts; a tag the backend does not serve is refused", { timeout: 60_000 }, async (t) => {
    const dir = scratchDir(t, "viofs-tag-");
    const socketPath = join(dir, "vhost.sock");
    mkdirSync(join(dir, "share"));
    const serve = (): Running => startViofs(["serve", `--socket-path=${socketPath}`, `--shared-dir=${join(dir, "share")}`, "--sandbox=none", "--tag=share1"]);
    let server = serve();
    atEnd(t, async () => {
      server.child.kill("SIGKILL");
      await server.exited;
    });
    await waitSocket(socketPath, server);
    assertOneLine(await runViofs(["mount", `--socket-path=${socketPath}`, join(dir, "share"), "--tag=other"]), /^viofs: \S+ serves the tag 'share1', not 'other'$/);
    // That connection was the server's one: start it again.
    await server.exited;
    server = serve();
    await waitSocket(socketPath, server);
    const mounted = await mountBackend(t, socketPath);
    t.after(() => forceUnmount(mounted.mountpoint));
    assert.equal(mountAt(mounted.mountpoint)!.source, "share1");
    await mounted.stop();
  });
});
