import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { scratchDir } from "../scratch.js";
import { parseAllInfo, parseGetEas, parseSmbTime, SambaServer } from "./harness.js";

test("parsers: allinfo, geteas dump, smbclient times", () => {
  const info = parseAllInfo(`altname: f1
create_time:    Fri Jan  1 00:00:00 2010 UTC
access_time:    Wed Nov 25 18:05:03 2026 UTC
write_time:     Wed Nov 25 18:05:03 2026 UTC
change_time:    Wed Nov 25 18:05:03 2026 UTC
attributes: RHSA (27)
stream: [:Zone.Identifier:$DATA], 26 bytes
stream: [::$DATA], 6 bytes
`);
  assert.equal(info.createTime.toISOString(), "2010-01-01T00:00:00.000Z");
  assert.equal(info.attributes, 0x27);
  assert.equal(info.attributeLetters, "RHSA");
  assert.deepEqual([...info.streams], [[":Zone.Identifier:$DATA", 26], ["::$DATA", 6]]);
  assert.equal(parseSmbTime("Sat Feb  3 04:05:06 2001 UTC").toISOString(), "2001-02-03T04:05:06.000Z");
  assert.throws(() => parseSmbTime("yesterday"));
  assert.throws(() => parseAllInfo("altname: x\n"));
  const eas = parseGetEas(`Long (0) =
[0000] 41 41 41 41 41 41 41 41   41 41 41 41 41 41 41 41   AAAAAAAA AAAAAAAA
[0010] 41 41 41 41 41 42 20 43   44                        AAAAAB C D

Flagged (128) =
[0000] 61 62                                               ab
`);
  assert.deepEqual(
    eas.map((e) => [e.name, e.flags, Buffer.from(e.value).toString()]),
    [
      ["Long", 0, "AAAAAAAAAAAAAAAAAAAAAB CD"],
      ["Flagged", 128, "ab"],
    ],
  );
});

test("two servers at once on their own loopback addresses, each stopped cleanly", async (t) => {
  const dirs = [0, 1].map(() => scratchDir(t, "viofs-harness-"));
  writeFileSync(join(dirs[0]!, "one.txt"), "first share");
  writeFileSync(join(dirs[1]!, "two.txt"), "second share");
  const servers = await Promise.all(dirs.map((d) => SambaServer.start(d)));
  try {
    assert.notEqual(servers[0]!.address, servers[1]!.address);
    assert.match(readFileSync(servers[0]!.configFile, "utf8"), /vfs objects = acl_xattr streams_xattr/);
    assert.equal((await servers[0]!.get("one.txt")).toString(), "first share");
    assert.equal((await servers[1]!.get("two.txt")).toString(), "second share");
    const missing = await servers[1]!.smbclient('allinfo "one.txt"', true);
    assert.match(missing.stdout + missing.stderr, /NT_STATUS_OBJECT_NAME_NOT_FOUND/);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
  for (const s of servers) assert.equal(existsSync(s.stateDir), false);
});
