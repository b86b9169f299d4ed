/**
 * `viofs serve --sandbox=namespace` seen from outside the daemon, while a
 * guest is connected: what the serving process would reach through any path
 * it resolved (its root, its mount table, its mount namespace), read from
 * this host through /proc/<pid>. test/host/sandbox.test.ts asks the process
 * itself (VIOFS_SANDBOX_PROBE); this checks the same thing without its
 * cooperation, so it holds even if the daemon had an escape bug.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { FUSE_ROOT_ID } from "../../src/fuse/abi.js";
import { Daemon } from "./daemon.js";

test("namespace sandbox: the served process's / is the share; /etc, /proc/1/root and the host's mounts are not in its world", async () => {
  const daemon = await Daemon.start({
    sandbox: "namespace",
    prepare(share) {
      fs.writeFileSync(path.join(share, "f"), "f");
      fs.symlinkSync("/etc", path.join(share, "to-etc"));
    },
  });
  try {
    const { driver, session } = await daemon.connect();
    try {
      const pid = daemon.servingPid();
      assert.notEqual(pid, daemon.running.child.pid, "a process inside the namespaces serves");
      assert.notEqual(fs.readlinkSync(`/proc/${pid}/ns/mnt`), fs.readlinkSync("/proc/self/ns/mnt"), "its own mount namespace");
      assert.notEqual(fs.readlinkSync(`/proc/${pid}/ns/pid`), fs.readlinkSync("/proc/self/ns/pid"), "its own pid namespace");
      // Its root directory holds the share's names and nothing else.
      const root = `/proc/${pid}/root`;
      assert.deepEqual(fs.readdirSync(root).sort(), fs.readdirSync(daemon.share).sort());
      assert.equal(fs.statSync(root).ino, fs.statSync(daemon.share).ino, "its / is the share's directory");
      for (const p of ["etc/passwd", "etc", "proc/1/root", "proc/self", "tmp", "dev", "sys"]) {
        assert.equal(fs.existsSync(path.join(root, p)), false, `${p} is out of its reach`);
      }
      // Its cwd is its root; the only mount it has is the share, at /.
      assert.equal(fs.readlinkSync(`/proc/${pid}/cwd`), "/");
      const mounts = fs.readFileSync(`/proc/${pid}/mountinfo`, "utf8").trim().split("\n");
      const points = mounts.map((line) => line.split(" ")[4]);
      assert.deepEqual(points, ["/"], `one mount, at /:\n${mounts.join("\n")}`);
      assert.ok(mounts[0]!.split(" ")[3]!.endsWith(path.basename(path.dirname(daemon.share)) + "/share"), `the mount's root is the share:\n${mounts[0]}`);
      // The guest, meanwhile, is served from inside: '..' of the root is the root, a symlink to /etc is only a symlink.
      const up = await session.lookup(FUSE_ROOT_ID, "..");
      assert.equal(up.attr.ino, BigInt(fs.statSync(daemon.share).ino));
      const link = await session.lookup(FUSE_ROOT_ID, "to-etc");
      assert.equal(Buffer.from(await session.readlink(link.nodeid)).toString(), "/etc");
      await session.close();
    } finally {
      driver.close();
    }
  } finally {
    await daemon.stop();
  }
});
