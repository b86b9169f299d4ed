/**
 * The sandboxes of `viofs serve`, seen from inside the served process: with
 * VIOFS_SANDBOX_PROBE=1 it prints what it sees once the sandbox is entered
 * (the names in `/`, whether host paths and procfs ways out are reachable)
 * and exits. Plus the namespace launcher's life cycle (signals, cleanup), a
 * guest session served from inside the namespaces, and the refusals.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, closeSync, existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FUSE_ROOT_ID, OpenFlag } from "../../src/fuse/abi.js";
import { VirtioFsDriver } from "../../src/guest/driver.js";
import { FuseSession } from "../../src/guest/session.js";
import type { SandboxView } from "../../src/host/sandbox.js";
import { connectUnix, listenUnix } from "../../src/sys/index.js";

import { scratchDir } from "../scratch.js";
import { start, stopAtEnd } from "./viofs-process.js";

/** A fresh directory with a share to serve, removed when `t` ends. */
function scratch(t: TestContext): { dir: string; share: string; socket: string } {
  const dir = scratchDir(t, "viofs-sandbox-");
  const share = join(dir, "share");
  mkdirSync(share);
  writeFileSync(join(share, "a.txt"), "hello from the host\n");
  mkdirSync(join(share, "sub"));
  symlinkSync("/etc", join(share, "to-etc"));
  return { dir, share, socket: join(dir, "vhost.sock") };
}

/** Runs the probe under `sandbox` and returns what the served process saw. */
async function probe(t: TestContext, sandbox: string): Promise<{ view: SandboxView; s: ReturnType<typeof scratch>; code: number | null }> {
  const s = scratch(t);
  const running = start(["serve", `--socket-path=${s.socket}`, `--shared-dir=${s.share}`, `--sandbox=${sandbox}`, "--log-level=error"], {
    env: { VIOFS_SANDBOX_PROBE: "1" },
  });
  const { code } = await running.exited;
  assert.equal(code, 0, running.stderr());
  return { view: JSON.parse(running.stdout()) as SandboxView, s, code };
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// ---- what the served process sees ----

test("namespace: / is the share, the host and procfs are out of reach; files are cleaned up", async (t) => {
  const { view, s } = await probe(t, "namespace");
  assert.deepEqual(view.root, readdirSync(s.share).sort());
  assert.equal(view.etcPasswd, false);
  assert.equal(view.procRootEtc, false);
  assert.equal(view.pid, 1, "pid 1 of its own pid namespace");
  assert.equal(view.reopenWorks, true, "O_PATH inodes reopen through the kept /proc/self/fd");
  assert.equal(view.procFdContained, true, "'..' of the kept /proc/self/fd leads nowhere");
  assert.equal(view.noNewPrivs, true);
  assert.equal(existsSync(s.socket), false);
  assert.equal(existsSync(`${s.socket}.pid`), false);
});

test("chroot: / is the share, /etc/passwd is out of reach", async (t) => {
  const { view, s } = await probe(t, "chroot");
  assert.deepEqual(view.root, readdirSync(s.share).sort());
  assert.equal(view.etcPasswd, false);
  assert.equal(view.procRootEtc, false);
  assert.equal(view.reopenWorks, true);
  assert.equal(view.noNewPrivs, true);
});

test("none: the host's root is in view", async (t) => {
  const { view } = await probe(t, "none");
  assert.deepEqual(view.root, readdirSync("/").sort());
  assert.equal(view.etcPasswd, true);
  assert.equal(view.reopenWorks, true);
});

// ---- the namespace launcher ----

test("namespace: a guest session is served from inside; its end ends both processes", async (t) => {
  const s = scratch(t);
  const server = stopAtEnd(t, start(["serve", `--socket-path=${s.socket}`, `--shared-dir=${s.share}`]));
  await server.waitFor(/waiting for a vhost-user connection/);
  const driver = await VirtioFsDriver.connect(s.socket);
  try {
    const session = await FuseSession.init(driver);
    const entry = await session.lookup(FUSE_ROOT_ID, "a.txt");
    const opened = await session.open(entry.nodeid, OpenFlag.O_RDONLY);
    assert.equal(Buffer.from(await session.read(entry.nodeid, opened.fh, 0, 4096)).toString(), "hello from the host\n");
    await session.release(entry.nodeid, opened.fh);
    // The share's symlink to /etc is a symlink, served as such: the guest resolves it in its own tree.
    const link = await session.lookup(FUSE_ROOT_ID, "to-etc");
    assert.equal(Buffer.from(await session.readlink(link.nodeid)).toString(), "/etc");
  } finally {
    driver.close();
  }
  const { code } = await server.exited;
  assert.equal(code, 0, server.stderr());
  assert.match(server.stderr(), /client disconnected/);
  assert.equal(existsSync(s.socket), false);
});

for (const how of ["SIGTERM to the launcher", "SIGINT to the process group (Ctrl-C)"] as const) {
  test(`namespace: ${how} stops the served process and removes the socket`, async (t) => {
    const s = scratch(t);
    const server = stopAtEnd(t, start(["serve", `--socket-path=${s.socket}`, `--shared-dir=${s.share}`], { detached: true }));
    await server.waitFor(/waiting for a vhost-user connection/);
    const descendants: number[] = [];
    for (let pids = children(server.child.pid!); pids.length > 0; pids = children(pids[0]!)) descendants.push(...pids);
    assert.ok(descendants.length >= 2, "unshare and the server inside");
    if (how.startsWith("SIGTERM")) server.child.kill("SIGTERM");
    else process.kill(-server.child.pid!, "SIGINT");
    const { code } = await server.exited;
    assert.equal(code, 0, server.stderr());
    assert.match(server.stderr(), /SIG(TERM|INT): shutting down/, "the server inside shut down itself");
    assert.equal(existsSync(s.socket), false);
    assert.equal(existsSync(`${s.socket}.pid`), false);
    for (const pid of descendants) assert.equal(alive(pid), false, `pid ${pid} is gone`);
  });
}

test("namespace with --fd=N (as libvirt starts it): the inherited socket reaches the server inside", async (t) => {
  const s = scratch(t);
  const fd = listenUnix(s.socket);
  const server = stopAtEnd(t, start(["serve", "--fd=3", `--shared-dir=${s.share}`], { stdio: ["ignore", "pipe", "pipe", fd] }));
  closeSync(fd);
  await server.waitFor(/waiting for a vhost-user connection/);
  closeSync(connectUnix(s.socket));
  const { code } = await server.exited;
  assert.equal(code, 0, server.stderr());
  assert.match(server.stderr(), /client disconnected/);
});

// ---- refusals ----

test("a sandbox marker outside new namespaces is refused before anything is mounted", async (t) => {
  const s = scratch(t);
  const marker = JSON.stringify({ listenFd: 3, reportFd: 4, mountNamespace: "mnt:[0]" });
  const running = start(["serve", `--socket-path=${s.socket}`, `--shared-dir=${s.share}`, "--sandbox=none"], { env: { VIOFS_SANDBOX: marker } });
  const { code } = await running.exited;
  assert.equal(code, 1);
  assert.equal(running.stderr().trim(), "viofs: VIOFS_SANDBOX is set but this process is not inside new namespaces; unset it");
});

test("without privileges: namespace and chroot say so in one line and suggest the way out", async (t) => {
  const s = scratch(t);
  chmodSync(s.dir, 0o777);
  const nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"];
  for (const [sandbox, pattern] of [
    ["namespace", /^viofs: cannot create namespaces for --sandbox=namespace \(.*Operation not permitted\); run as root, or use --sandbox=chroot or --sandbox=none$/],
    ["chroot", /^viofs: --sandbox=chroot needs root \(CAP_SYS_CHROOT\); run as root or use --sandbox=none$/],
  ] as const) {
    const running = start(["serve", `--socket-path=${s.socket}`, `--shared-dir=${s.share}`, `--sandbox=${sandbox}`, "--log-level=error"], { prefix: nobody });
    const { code } = await running.exited;
    assert.equal(code, 1, running.stderr());
    assert.match(running.stderr().trim(), pattern);
    assert.equal(existsSync(s.socket), false, "the socket is removed");
  }
});
