/**
 * `trusted.*` and `security.*` xattrs are root's: a guest must not set them
 * on the host through the daemon, whatever uid its request header claims (a
 * malicious driver writes any uid there). `trusted.overlay.*` on a directory
 * later used as an overlayfs layer, or `security.*` labels a host LSM reads,
 * would be the guest's to choose. `viofs serve` keeps virtiofsd's
 * capabilities (CHOWN, DAC_OVERRIDE, FOWNER, FSETID, SETGID, SETUID, MKNOD,
 * SETFCAP; shared/reference/security-anchors.md §3), so without
 * CAP_SYS_ADMIN the kernel answers EPERM.
 */
import { after, before, test } from "node:test";
import * as fs from "node:fs";
import * as path from "node:path";
import assert from "node:assert/strict";
import { errnoName } from "../../src/common/errno.js";
import { FUSE_ROOT_ID, InitFlag, Opcode } from "../../src/fuse/abi.js";
import { EntryOut, SetxattrIn } from "../../src/fuse/structs.js";
import { Daemon, type Connection } from "./daemon.js";

let daemon: Daemon;
let conn: Connection;

before(async () => {
  daemon = await Daemon.start({ prepare: (share) => fs.writeFileSync(path.join(share, "f"), "f") });
  conn = await daemon.connect();
});
after(async () => {
  await conn?.session.close().catch(() => undefined);
  conn?.driver.close();
  await daemon?.stop();
});

test("trusted.* and non-capability security.* xattrs are EPERM for every guest uid (no CAP_SYS_ADMIN in the daemon)", async () => {
  const { session } = conn;
  const z = (n: string): Buffer => Buffer.from(`${n}\0`);
  const ext = (session.info.flags & InitFlag.SETXATTR_EXT) !== 0n;
  const f = EntryOut.fromBytes((await session.request(Opcode.LOOKUP, FUSE_ROOT_ID, z("f"))).body);
  for (const uid of [0, 1000]) {
    for (const name of ["trusted.x", "trusted.overlay.redirect", "security.evil"]) {
      const v = Buffer.from("v");
      const body = Buffer.concat([SetxattrIn.toBytes({ size: v.length, flags: 0, setxattrFlags: 0 }, ext ? 16 : 8), z(name), v]);
      const r = await session.request(Opcode.SETXATTR, f.nodeid, body, { uid, gid: uid });
      assert.equal(r.errno === 0 ? "success" : errnoName(r.errno), "EPERM", `${name} by uid ${uid}`);
    }
  }
});

test("the serving process of --sandbox=namespace holds no CAP_SYS_ADMIN (security-anchors §7.7 item 44)", async () => {
  const sandboxed = await Daemon.start({ sandbox: "namespace" });
  try {
    const c = await sandboxed.connect();
    const status = fs.readFileSync(`/proc/${sandboxed.servingPid()}/status`, "utf8");
    const capEff = BigInt(`0x${/^CapEff:\s+([0-9a-f]+)/m.exec(status)![1]}`);
    const CAP_SYS_ADMIN = 21n;
    assert.equal((capEff >> CAP_SYS_ADMIN) & 1n, 0n, `CapEff ${capEff.toString(16)}`);
    await c.session.close();
    c.driver.close();
  } finally {
    await sandboxed.stop();
  }
});
