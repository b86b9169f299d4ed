import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseServeArgs, type ServeOptions } from "../../src/cli/serve-options.js";
import { UsageError } from "../../src/common/usage.js";
import { DEFAULT_KICK_WAIT_MS } from "../../src/host/device.js";
import { suiteScratchDir } from "../scratch.js";

const dir = suiteScratchDir("viofs-cli-");

function serve(argv: string[]): ServeOptions {
  const r = parseServeArgs(argv);
  assert.equal(r.kind, "serve");
  return (r as { options: ServeOptions }).options;
}

function refused(argv: string[], pattern: RegExp): void {
  assert.throws(() => parseServeArgs(argv), (e: unknown) => e instanceof UsageError && pattern.test(e.message) && !e.message.includes("\n"));
}

test("virtiofsd's Rust spelling", () => {
  const o = serve(["--socket-path=/run/s.sock", "--shared-dir", dir, "--cache=never", "--xattr", "--thread-pool-size", "16", "--sandbox=none", "--tag=fs0", "--log-level=debug"]);
  assert.deepEqual(o.listen, { kind: "path", path: "/run/s.sock" });
  assert.equal(o.sharedDir, dir);
  assert.equal(o.cache, "never");
  assert.equal(o.xattr, true);
  assert.equal(o.threadPoolSize, 16);
  assert.equal(o.sandbox, "none");
  assert.equal(o.tag, "fs0");
  assert.equal(o.logLevel, "debug");
});

test("libvirt's spelling: --fd and a -o list", () => {
  const o = serve(["--fd=3", "-o", `source=${dir},cache=always,xattr,no_flock`, "--thread-pool-size=64", "--sandbox", "chroot"]);
  assert.deepEqual(o.listen, { kind: "fd", fd: 3 });
  assert.equal(o.sharedDir, dir);
  assert.equal(o.cache, "always");
  assert.equal(o.xattr, true);
  assert.equal(o.flock, false);
  assert.equal(o.posixLock, true);
  assert.equal(o.sandbox, "chroot");
});

test("C virtiofsd's -d and --rlimit-nofile=0", () => {
  const o = serve(["--fd=3", "-o", `source=${dir}`, "-d", "--rlimit-nofile=0"]);
  assert.equal(o.logLevel, "debug");
  assert.equal(o.rlimitNofile, undefined);
});

test("defaults are virtiofsd's", () => {
  const o = serve(["--socket-path", "s", "--shared-dir", dir]);
  assert.equal(o.cache, "auto");
  assert.equal(o.xattr, false);
  assert.equal(o.sandbox, "namespace");
  assert.equal(o.threadPoolSize, 0);
  assert.equal(o.tag, undefined);
  assert.equal(o.readdirplus, true);
  assert.equal(o.kickWaitMs, DEFAULT_KICK_WAIT_MS);
  assert.equal(serve(["--socket-path", "s", "--shared-dir", dir, "--kick-wait=0"]).kickWaitMs, 0, "--kick-wait=0 turns the wait off");
  assert.equal(o.flush, "auto");
  assert.equal(serve(["--socket-path", "s", "--shared-dir", dir, "--flush", "always"]).flush, "always");
});

test("help and capabilities need nothing else", () => {
  assert.equal(parseServeArgs(["--help"]).kind, "help");
  assert.equal(parseServeArgs(["--print-capabilities"]).kind, "capabilities");
});

test("bad input is one clear line", () => {
  refused(["--bogus"], /unknown option '--bogus'/);
  refused(["--shared-dir", dir], /--socket-path=PATH or --fd=N/);
  refused(["--socket-path=s"], /which directory to share/);
  refused(["--socket-path=s", "--shared-dir", join(dir, "missing")], /does not exist/);
  const file = join(dir, "file");
  writeFileSync(file, "x");
  refused(["--socket-path=s", "--shared-dir", file], /is not a directory/);
  refused(["--socket-path=s", "--fd=3", "--shared-dir", dir], /only one of/);
  refused(["--socket-path=s", "--shared-dir", dir, "--cache=sometimes"], /--cache must be one of auto, always, never, metadata/);
  refused(["--socket-path=s", "--shared-dir", dir, "--thread-pool-size=-1"], /whole number/);
  refused(["--socket-path=s", "--shared-dir", dir, "--kick-wait=21"], /--kick-wait/);
  refused(["--socket-path=s", "--shared-dir", dir, "--flush=never"], /--flush must be one of auto, always/);
  refused(["--socket-path=s", "--shared-dir", dir, "--tag=" + "x".repeat(37)], /1 to 36 bytes/);
  refused(["--socket-path=s", "-o", `source=${dir},frobnicate`], /unknown -o option 'frobnicate'/);
  refused(["--socket-path"], /needs a value/);
  refused(["--xattr=1", "--socket-path=s", "--shared-dir", dir], /takes no value/);
});

test("capabilities: virtiofsd's set by default, changed by --modcaps or -o modcaps", () => {
  const bit = (n: number): bigint => 1n << BigInt(n);
  // CHOWN 0, DAC_OVERRIDE 1, FOWNER 3, FSETID 4, SETGID 6, SETUID 7, MKNOD 27, SETFCAP 31 (linux/capability.h)
  const virtiofsd = [0, 1, 3, 4, 6, 7, 27, 31].reduce((m, n) => m | bit(n), 0n);
  assert.equal(serve(["--socket-path=/s", `--shared-dir=${dir}`]).capabilities, virtiofsd);
  const SYS_ADMIN = 21;
  const MKNOD = 27;
  assert.equal(serve(["--socket-path=/s", `--shared-dir=${dir}`, "--modcaps=+sys_admin:-mknod"]).capabilities, (virtiofsd | bit(SYS_ADMIN)) & ~bit(MKNOD));
  assert.equal(serve(["--fd=3", "-o", `source=${dir},modcaps=+CAP_SYS_ADMIN`]).capabilities, virtiofsd | bit(SYS_ADMIN));
  refused(["--socket-path=/s", `--shared-dir=${dir}`, "--modcaps=sys_admin"], /--modcaps: 'sys_admin' is not \+NAME or -NAME/);
  refused(["--socket-path=/s", `--shared-dir=${dir}`, "--modcaps=+root"], /--modcaps: '\+root'/);
});
