/**
 * `viofs serve` as a person or libvirt runs it: the real CLI in a child
 * process (the compiled bin/viofs.js, or the sources through tsx when the
 * tests run from source), real sockets, real files. Every test that serves
 * uses --sandbox=none; test/host/sandbox.test.ts covers the sandboxes.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import type { StdioOptions } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { accept, connectUnix, listenUnix, socketpair } from "../../src/sys/index.js";
import { SOCK_CLOEXEC, SOCK_NONBLOCK } from "../../src/sys/constants.js";

import { LARGE_PAGES_FLAG } from "../../src/cli/serve.js";
import { scratchDir } from "../scratch.js";
import { start, stopAtEnd, type Running } from "./viofs-process.js";

async function run(args: string[], options: { stdio?: StdioOptions; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const running = start(args, options);
  const { code } = await running.exited;
  return { code, stdout: running.stdout(), stderr: running.stderr() };
}

/** Asserts a refusal: `code`, and stderr is exactly one line `viofs: …` matching `pattern`. */
function assertOneLine(result: { code: number | null; stderr: string }, code: number, pattern: RegExp): void {
  assert.equal(result.code, code, result.stderr);
  const lines = result.stderr.split("\n").filter((l) => l.length > 0);
  assert.equal(lines.length, 1, `expected one line, got:\n${result.stderr}`);
  assert.match(lines[0]!, /^viofs: /);
  assert.match(lines[0]!, pattern);
}

/** A fresh directory with `share/a.txt`, removed when `t` ends. */
function scratch(t: TestContext): { dir: string; share: string; socket: string } {
  const dir = scratchDir(t, "viofs-serve-");
  const share = join(dir, "share");
  mkdirSync(share);
  writeFileSync(join(share, "a.txt"), "hello\n");
  return { dir, share, socket: join(dir, "vhost.sock") };
}

const WAITING = /waiting for a vhost-user connection/;

/** Starts a server on a fresh scratch directory and waits until it accepts; both go when `t` ends. */
async function serving(t: TestContext, extra: string[] = []): Promise<{ s: ReturnType<typeof scratch>; server: Running }> {
  const s = scratch(t);
  const server = stopAtEnd(t, start(["serve", `--socket-path=${s.socket}`, `--shared-dir=${s.share}`, "--sandbox=none", ...extra]));
  await server.waitFor(WAITING);
  return { s, server };
}

// ---- what needs no server ----

test("--help prints the options; viofs help lists serve", async () => {
  const help = await run(["serve", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: viofs serve /);
  for (const flag of ["--socket-path", "--fd", "--shared-dir", "--sandbox", "--print-capabilities"]) assert.ok(help.stdout.includes(flag), flag);
  const top = await run(["help"]);
  assert.match(top.stdout, /^\s+serve\s+\S/m);
});

test("--print-capabilities is virtiofsd's vhost-user.json answer, without migration", async () => {
  const result = await run(["serve", "--print-capabilities"]);
  assert.equal(result.code, 0);
  assert.equal(result.stderr, "");
  assert.deepEqual(JSON.parse(result.stdout), { type: "fs", features: ["separate-options"] });
});

test("bad flags: exit 2 and one line", async (t) => {
  const { share } = scratch(t);
  assertOneLine(await run(["serve", "--bogus"]), 2, /unknown option '--bogus'/);
  assertOneLine(await run(["serve", "--shared-dir", share]), 2, /--socket-path=PATH or --fd=N/);
  assertOneLine(await run(["serve", "--socket-path=s", `--shared-dir=${share}`, "--cache=sometimes"]), 2, /--cache must be one of/);
  assertOneLine(await run(["serve", "--fd=3", `--shared-dir=${share}`, "--socket-group=daemon"]), 2, /--socket-group applies to --socket-path only/);
  assertOneLine(await run(["serve", "--socket-path=s", `--shared-dir=${share}`, "--warmup=lots"]), 2, /--warmup must be a whole number/);
});

test("the request path warms up before the first connection, in the temporary directory, which it leaves as it was", async (t) => {
  const s = scratch(t);
  const tmp = join(s.dir, "tmp");
  mkdirSync(tmp);
  const server = stopAtEnd(t, start(["serve", `--socket-path=${s.socket}`, `--shared-dir=${s.share}`, "--sandbox=none", "--warmup=50", "--flush=always"], { env: { TMPDIR: tmp } }));
  await server.waitFor(WAITING);
  const lines = server.stderr().split("\n");
  const warm = lines.findIndex((l) => /INFO {2}viofs: warm-up: 679 requests in \d+ ms$/.test(l));
  assert.ok(warm >= 0 && warm < lines.findIndex((l) => WAITING.test(l)), server.stderr());
  assert.doesNotMatch(server.stderr(), /session of protocol/, "the warm-up's own session is not logged");
  assert.deepEqual(readdirSync(tmp), []);
  assert.deepEqual(readdirSync(s.share), ["a.txt"]);

  const cold = stopAtEnd(t, start(["serve", `--socket-path=${s.socket}2`, `--shared-dir=${s.share}`, "--sandbox=none", "--warmup=0"]));
  await cold.waitFor(WAITING);
  assert.doesNotMatch(cold.stderr(), /warm-up/);
});

test("a missing shared directory is refused before anything is created", async (t) => {
  const { dir, socket } = scratch(t);
  assertOneLine(await run(["serve", `--socket-path=${socket}`, `--shared-dir=${join(dir, "nope")}`, "--sandbox=none"]), 2, /shared directory '.*nope' does not exist/);
  assert.equal(existsSync(socket), false);
});

test("a socket directory that does not exist, a path that is not a socket", async (t) => {
  const { dir, share } = scratch(t);
  assertOneLine(await run(["serve", `--socket-path=${join(dir, "no", "s.sock")}`, `--shared-dir=${share}`, "--sandbox=none"]), 1, /directory '.*no' does not exist/);
  const file = join(dir, "file");
  writeFileSync(file, "x");
  assertOneLine(await run(["serve", `--socket-path=${file}`, `--shared-dir=${share}`, "--sandbox=none"]), 1, /exists and is not a socket/);
  assert.equal(readFileSync(file, "utf8"), "x");
});

test("--rlimit-nofile beyond the system's maximum, or too small for the reserve", async (t) => {
  const { share, socket } = scratch(t);
  const max = Number(readFileSync("/proc/sys/fs/nr_open", "utf8"));
  assertOneLine(await run(["serve", `--socket-path=${socket}`, `--shared-dir=${share}`, "--sandbox=none", `--rlimit-nofile=${max + 1}`]), 1, /above the system's maximum/);
  assertOneLine(await run(["serve", `--socket-path=${socket}`, `--shared-dir=${share}`, "--sandbox=none", "--rlimit-nofile=100"]), 1, /too small/);
  assert.equal(existsSync(socket), false, "the socket of a refused start is removed");
});

// ---- the socket ----

test("the socket is created 0600 with a pid file; SIGTERM removes both and exits 0", async (t) => {
  const { s, server } = await serving(t);
  assert.ok(statSync(s.socket).isSocket());
  assert.equal(statSync(s.socket).mode & 0o777, 0o600);
  assert.equal(statSync(`${s.socket}.pid`).mode & 0o777, 0o600);
  assert.equal(Number(readFileSync(`${s.socket}.pid`, "utf8")), server.child.pid);
  server.child.kill("SIGTERM");
  const { code } = await server.exited;
  assert.equal(code, 0, server.stderr());
  assert.equal(existsSync(s.socket), false);
  assert.equal(existsSync(`${s.socket}.pid`), false);
});

test("--xattr on a directory without user xattrs: one warning saying what is lost and what to do; it still serves", async (t) => {
  const s = scratch(t);
  // sysfs refuses user.* xattrs (EOPNOTSUPP); a tmpfs share takes them and draws no warning.
  const server = stopAtEnd(t, start(["serve", `--socket-path=${s.socket}`, "--shared-dir=/sys/kernel", "--xattr", "--sandbox=none"]));
  await server.waitFor(WAITING);
  const warnings = server.stderr().split("\n").filter((l) => / WARN .*extended attributes/.test(l));
  assert.equal(warnings.length, 1, server.stderr());
  assert.match(warnings[0]!, /\/sys\/kernel does not take user\.\* extended attributes \(fsetxattr: EOPNOTSUPP\)/);
  assert.match(warnings[0]!, /leave out --xattr/);
  server.child.kill("SIGTERM");
  assert.equal((await server.exited).code, 0, server.stderr());
  const quiet = stopAtEnd(t, start(["serve", `--socket-path=${s.socket}`, `--shared-dir=${s.share}`, "--xattr", "--sandbox=none"]));
  await quiet.waitFor(WAITING);
  assert.doesNotMatch(quiet.stderr(), /extended attributes/);
  quiet.child.kill("SIGTERM");
  await quiet.exited;
});

test("--socket-group makes the socket 0660 and the group's", async (t) => {
  const group = readFileSync("/etc/group", "utf8")
    .split("\n")
    .map((line) => line.split(":"))
    .find((fields) => fields.length >= 3 && fields[0] !== "" && Number(fields[2]) !== process.getgid!());
  assert.ok(group, "a group other than ours in /etc/group");
  const { s, server } = await serving(t, [`--socket-group=${group[0]}`]);
  assert.equal(statSync(s.socket).mode & 0o777, 0o660);
  assert.equal(statSync(s.socket).gid, Number(group[2]));
  server.child.kill("SIGINT");
  assert.equal((await server.exited).code, 0);
  const refused = await run(["serve", `--socket-path=${s.socket}`, `--shared-dir=${s.share}`, "--sandbox=none", "--socket-group=no-such-group-here"]);
  assertOneLine(refused, 1, /no group named 'no-such-group-here'/);
});

test("a socket in use by another viofs is refused (pid-file lock); the running one is untouched", async (t) => {
  const { s, server } = await serving(t);
  const second = await run(["serve", `--socket-path=${s.socket}`, `--shared-dir=${s.share}`, "--sandbox=none"]);
  assertOneLine(second, 1, new RegExp(`socket .* is in use by another process \\(pid ${server.child.pid}\\); stop it or choose another path`));
  assert.equal(server.child.exitCode, null, "the first server still runs");
  assert.ok(statSync(s.socket).isSocket());
  closeSync(connectUnix(s.socket));
  assert.equal((await server.exited).code, 0, "the probe-free refusal left the first server its one connection");
});

test("a socket another program listens on is refused without connecting to it", async (t) => {
  const s = scratch(t);
  const fd = listenUnix(s.socket);
  try {
    assertOneLine(await run(["serve", `--socket-path=${s.socket}`, `--shared-dir=${s.share}`, "--sandbox=none"]), 1, /is in use by another process; stop it or choose another path/);
    assert.equal(accept(fd), null, "no test connection was made");
    assert.ok(statSync(s.socket).isSocket());
  } finally {
    closeSync(fd);
  }
});

test("a stale socket (nobody listening) is replaced", async (t) => {
  const s = scratch(t);
  closeSync(listenUnix(s.socket));
  assert.ok(statSync(s.socket).isSocket());
  const server = stopAtEnd(t, start(["serve", `--socket-path=${s.socket}`, `--shared-dir=${s.share}`, "--sandbox=none"]));
  await server.waitFor(WAITING);
  const client = connectUnix(s.socket);
  closeSync(client);
  // The client went away: the server ends as virtiofsd does, and tidies up.
  assert.equal((await server.exited).code, 0, server.stderr());
  assert.match(server.stderr(), /client disconnected/);
  assert.equal(existsSync(s.socket), false);
});

test("one connection only: a second client is refused while the first is served", async (t) => {
  const { s, server } = await serving(t);
  const first = connectUnix(s.socket);
  await server.waitFor(/client connected/);
  assert.throws(() => connectUnix(s.socket), /ECONNREFUSED/);
  closeSync(first);
  assert.equal((await server.exited).code, 0, server.stderr());
});

// ---- --fd ----

test("--fd=N: an inherited listening socket is served, and its file left alone", async (t) => {
  const s = scratch(t);
  const fd = listenUnix(s.socket, 16, SOCK_NONBLOCK | SOCK_CLOEXEC);
  const server = stopAtEnd(t, start(["serve", "--fd=3", `--shared-dir=${s.share}`, "--sandbox=none"], { stdio: ["ignore", "pipe", "pipe", fd] }));
  closeSync(fd);
  await server.waitFor(WAITING);
  closeSync(connectUnix(s.socket));
  assert.equal((await server.exited).code, 0, server.stderr());
  assert.ok(statSync(s.socket).isSocket(), "the socket belongs to whoever made it");
  assert.equal(existsSync(`${s.socket}.pid`), false);
});

test("serve runs on in place (same pid) with Node's code on large pages, unless Node was given --use-largepages", async (t) => {
  let thpOff = true;
  try {
    thpOff = readFileSync("/sys/kernel/mm/transparent_hugepage/enabled", "utf8").includes("[never]");
  } catch {
    // A kernel without transparent huge pages: serve stays as it was started.
  }
  const args = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  const { server } = await serving(t);
  const relaunched = args(server.child.pid!);
  assert.equal(relaunched.includes(LARGE_PAGES_FLAG), !thpOff, relaunched.join(" "));
  assert.ok(relaunched.includes("serve"), "the same command line after Node's flags");

  const s = scratch(t);
  const off = stopAtEnd(t, start(["serve", `--socket-path=${s.socket}`, `--shared-dir=${s.share}`, "--sandbox=none"], { env: { NODE_OPTIONS: "--use-largepages=off" } }));
  await off.waitFor(WAITING);
  assert.ok(!args(off.child.pid!).includes(LARGE_PAGES_FLAG), "the person's choice stands");
  // Served either way: a client is accepted, and its going ends the daemon with 0.
  closeSync(connectUnix(s.socket));
  assert.equal((await off.exited).code, 0, off.stderr());
});

test("the relaunch on large pages survives node --cpu-prof (its sampler's signal is ignored across the exec)", async (t) => {
  const s = scratch(t);
  const profiles = join(s.dir, "profiles");
  // A 10 µs sampling interval: before the fix every such start died of SIGPROF at the exec (8 of 8).
  const nodeFlags = ["--cpu-prof", `--cpu-prof-dir=${profiles}`, "--cpu-prof-interval=10"];
  const server = stopAtEnd(t, start(["serve", `--socket-path=${s.socket}`, `--shared-dir=${s.share}`, "--sandbox=none", "--warmup=0"], { nodeFlags }));
  await server.waitFor(WAITING);
  closeSync(connectUnix(s.socket));
  assert.deepEqual(await server.exited, { code: 0, signal: null }, server.stderr());
  assert.ok(readdirSync(profiles).some((f) => f.endsWith(".cpuprofile")), "the relaunched node wrote its profile");
});

test("--fd=N that is not a listening Unix stream socket is refused in one line", async (t) => {
  const s = scratch(t);
  const file = openSync(join(s.dir, "plain"), "w");
  assertOneLine(await run(["serve", "--fd=3", `--shared-dir=${s.share}`, "--sandbox=none"], { stdio: ["ignore", "pipe", "pipe", file] }), 1, /--fd=3 is a regular file, not a socket/);
  closeSync(file);
  const [a, b] = socketpair();
  assertOneLine(await run(["serve", "--fd=3", `--shared-dir=${s.share}`, "--sandbox=none"], { stdio: ["ignore", "pipe", "pipe", a] }), 1, /--fd=3 is a socket that is not listening/);
  closeSync(a);
  closeSync(b);
  assertOneLine(await run(["serve", "--fd=1000", `--shared-dir=${s.share}`, "--sandbox=none"]), 1, /--fd=1000 is not an open file descriptor/);
});
