import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { getrlimit, setrlimit } from "../../src/sys/process.js";
import { RLIMIT_CORE } from "../../src/sys/constants.js";

const child = fileURLToPath(
  new URL(`./fixtures/namespace-child.${import.meta.url.endsWith(".ts") ? "ts" : "js"}`, import.meta.url),
);

test("a child in its own mount namespace mounts tmpfs and FUSE, reads FUSE_INIT asynchronously and pivots root", async () => {
  const dir = mkdtempSync(join(tmpdir(), "viofs-ns-"));
  try {
    mkdirSync(join(dir, "tmpfs"));
    mkdirSync(join(dir, "fuse"));
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [...process.execArgv, child, join(dir, "tmpfs"), join(dir, "fuse")],
      { timeout: 20_000 },
    );
    const found = JSON.parse(stdout);
    assert.deepEqual(found.tmpfs, ["marker"]);
    assert.equal(found.mountsListTmpfs, true);
    assert.equal(found.fuseMounted, true);
    assert.equal(found.fuseRead.opcode, 26); // FUSE_INIT
    assert.equal(found.fuseRead.declared, found.fuseRead.length);
    assert.equal(found.fuseRead.major, 7);
    assert.equal(found.nextRead, "ENODEV"); // woken by the unmount
    assert.ok(found.ticksWhileReading >= 5, `timer fired ${found.ticksWhileReading} times during the blocked read`);
    assert.equal(found.noNewPrivs, true);
    assert.equal(found.nofile.after, found.nofile.hard);
    assert.match(found.unshareError, /^unshare: EINVAL/);
    assert.deepEqual(found.rootAfterPivot, ["marker"]);
    // nothing leaked into this process's mount namespace
    const mounts = readFileSync("/proc/self/mounts", "utf8");
    assert.ok(!mounts.includes(dir));
    assert.deepEqual(readdirSync(join(dir, "tmpfs")), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("getrlimit and setrlimit", () => {
  const core = getrlimit(RLIMIT_CORE);
  setrlimit(RLIMIT_CORE, { soft: 0n, hard: core.hard });
  assert.equal(getrlimit(RLIMIT_CORE).soft, 0n);
  setrlimit(RLIMIT_CORE, core);
  assert.deepEqual(getrlimit(RLIMIT_CORE), core);
  assert.throws(() => setrlimit(RLIMIT_CORE, { soft: 2n, hard: 1n }), /setrlimit: EINVAL/);
});
