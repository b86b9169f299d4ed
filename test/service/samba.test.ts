/**
 * The Samba two-way check at service level, against both backends: a real
 * smbd (vfs objects = acl_xattr streams_xattr, on loopback) shares the same
 * host directory the backend serves.
 *
 * - Forward: attributes, a creation time, an ACL, a stream and an EA written
 *   through the service are what smbclient and smbcacls report.
 * - Reverse: the same written through smbclient and smbcacls are what the
 *   service reports.
 *
 * Both daemons refuse `security.*` (they keep virtiofsd's capabilities, not
 * CAP_SYS_ADMIN), so descriptors live in `user.NTACL`, and Samba is
 * configured to read them there (`acl_xattr:security_acl_name = user.NTACL`).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FileAttribute } from "../../src/windows/attributes.js";
import { dateToFiletime } from "../../src/windows/filetime.js";
import { formatSddl, parseSddl } from "../../src/windows/sddl.js";
import { SecurityInformation, decodeSecurityDescriptor, encodeSecurityDescriptor } from "../../src/windows/security.js";
import { SambaServer } from "../samba/harness.js";
import { FACTORIES, closeFile, create, hostXattr, mount, ok, onTmpfs, open } from "./helpers.js";

const A = FileAttribute;
const SI = SecurityInformation;
const CREATE_2010 = dateToFiletime(new Date("2010-01-01T00:00:00Z"));
const CREATE_2012 = dateToFiletime(new Date("2012-06-15T12:30:00Z"));

/** Where both daemons leave descriptors (see the module comment). */
const USER_NTACL = "acl_xattr:security_acl_name = user.NTACL";

/** SDDL the way our formatter writes it, from Samba's spelling. */
const normalized = (sddl: string): string => formatSddl(parseSddl(sddl));

for (const factory of FACTORIES) {
  describe(`service over ${factory.name} and smbd on the same directory`, () => {
    test("forward and reverse: attributes, creation time, ACL, stream and EA agree", async (t) => {
      const m = await mount(t, factory);
      const samba = await SambaServer.start(m.backend.dir, { shareOptions: [USER_NTACL] });
      t.after(() => samba.stop());

      // Forward: the service writes.
      const sddl = "O:S-1-22-1-1000G:S-1-22-2-1001D:P(A;;FA;;;S-1-22-1-1000)(A;;0x1200a9;;;WD)";
      const f = await create(m.fs, "\\fwd.txt", { fileAttributes: A.FILE_ATTRIBUTE_READONLY | A.FILE_ATTRIBUTE_HIDDEN | A.FILE_ATTRIBUTE_SYSTEM });
      ok(await m.fs.write(f.fileContext, Buffer.from("hello, samba\n"), 0n, false, false));
      ok(await m.fs.setBasicInfo(f.fileContext, { fileAttributes: 0xffffffff, creationTime: CREATE_2010, lastAccessTime: 0n, lastWriteTime: 0n, changeTime: 0n }));
      ok(await m.fs.setSecurity(f.fileContext, SI.OWNER | SI.GROUP | SI.DACL, encodeSecurityDescriptor(parseSddl(sddl))));
      // FILE_NEED_EA: kept in viofs's sidecar, which Samba does not list.
      ok(await m.fs.setEa(f.fileContext, [{ flags: 0x80, name: "Color", value: Buffer.from("blue") }]));
      const zone = Buffer.from("[ZoneTransfer]\r\nZoneId=3\r\n");
      const s = await create(m.fs, "\\fwd.txt:Zone.Identifier");
      ok(await m.fs.write(s.fileContext, zone, 0n, false, false));
      await closeFile(m.fs, s.fileContext);
      await closeFile(m.fs, f.fileContext);
      assert.ok(hostXattr(m.host("\\fwd.txt"), "user.NTACL") !== undefined);

      const info = await samba.allinfo("fwd.txt");
      assert.equal(info.attributes, 0x27, `smbclient shows ${info.attributeLetters}`);
      assert.equal(info.attributeLetters, "RHSA");
      assert.equal(info.createTime.toISOString(), "2010-01-01T00:00:00.000Z");
      assert.equal(info.streams.get("::$DATA"), 13);
      assert.equal(info.streams.get(":Zone.Identifier:$DATA"), zone.length);
      assert.deepEqual(await samba.get("fwd.txt:Zone.Identifier"), zone);
      assert.equal(normalized(await samba.getSddl("fwd.txt")), sddl);
      const eas = await samba.getEas("fwd.txt");
      assert.deepEqual(eas.map((e) => [e.name, Buffer.from(e.value).toString()]), [["Color", "blue"]], "user.viofs:eaflags is no EA to Samba");
      assert.ok(hostXattr(m.host("\\fwd.txt"), "user.viofs:eaflags") !== undefined);

      // Reverse: Samba writes.
      assert.equal((await samba.put("rev.txt", Buffer.from("from smb\n"))).code, 0);
      assert.equal((await samba.put("rev.txt:Notes", Buffer.from("a note"))).code, 0);
      await samba.smbclient('setmode "rev.txt" +hs; utimes "rev.txt" 2012:06:15-12:30:00 -1 -1 -1; setea "rev.txt" Shade dark; mkdir "revdir"; setmode "revdir" +h');
      const revSddl = "O:S-1-22-1-1002G:S-1-22-2-1003D:P(A;;FA;;;S-1-22-1-1002)(A;;0x1200a9;;;BU)";
      await samba.setSddl("rev.txt", revSddl);

      m.fs.invalidateCaches();
      const r = await open(m.fs, "\\rev.txt");
      const rinfo = ok(await m.fs.getFileInfo(r));
      assert.equal(rinfo.fileAttributes, A.FILE_ATTRIBUTE_HIDDEN | A.FILE_ATTRIBUTE_SYSTEM | A.FILE_ATTRIBUTE_ARCHIVE);
      assert.equal(rinfo.creationTime, CREATE_2012);
      assert.equal(rinfo.fileSize, 9n);
      assert.equal(formatSddl(decodeSecurityDescriptor(ok(await m.fs.getSecurity(r)))), normalized(await samba.getSddl("rev.txt")));
      // (smbcacls sorts and re-spells the ACEs it sends, so Samba's report, not our input, is the reference.)
      assert.deepEqual(ok(await m.fs.getStreamInfo(r)).map((x) => [x.streamName, x.streamSize]), [["", 9n], ["Notes", 6n]]);
      const notes = await open(m.fs, "\\rev.txt:NOTES");
      const buffer = new Uint8Array(32);
      assert.equal(Buffer.from(buffer.subarray(0, ok(await m.fs.read(notes, buffer, 0n)))).toString(), "a note");
      await closeFile(m.fs, notes);
      assert.deepEqual(ok(await m.fs.getEa(r)).map((e) => [e.name, Buffer.from(e.value).toString()]), [["Shade", "dark"]]);
      await closeFile(m.fs, r);
      const d = await open(m.fs, "\\revdir");
      assert.equal(ok(await m.fs.getFileInfo(d)).fileAttributes, A.FILE_ATTRIBUTE_DIRECTORY | A.FILE_ATTRIBUTE_HIDDEN);
      await closeFile(m.fs, d);
    });

    test("viofs's own forms stay out of Samba's way: a stream over 65535 bytes and the EA-flags sidecar are not seen", async (t) => {
      const m = await mount(t, onTmpfs(factory));
      const samba = await SambaServer.start(m.backend.dir, { shareOptions: [USER_NTACL] });
      t.after(() => samba.stop());
      const f = await create(m.fs, "\\big.txt");
      for (const [name, size] of [["small", 100], ["large", 70000]] as const) {
        const s = await create(m.fs, `\\big.txt:${name}`);
        ok(await m.fs.write(s.fileContext, new Uint8Array(size).fill(0x61), 0n, false, false));
        await closeFile(m.fs, s.fileContext);
      }
      ok(await m.fs.setEa(f.fileContext, [{ flags: 0x80, name: "Kept", value: Buffer.from("v") }]));
      await closeFile(m.fs, f.fileContext);
      const info = await samba.allinfo("big.txt");
      assert.deepEqual([...info.streams.keys()].sort(), ["::$DATA", ":small:$DATA"], "Samba cannot hold, so does not see, the large stream");
      assert.deepEqual((await samba.getEas("big.txt")).map((e) => e.name), ["Kept"]);
    });
  });
}
