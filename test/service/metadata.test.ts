/**
 * Windows metadata through the service against both backends, checked on
 * the host in Samba's formats: security descriptors (GetSecurityByName,
 * GetSecurity, SetSecurity; `security.NTACL`, or the `user.NTACL` fallback
 * where C virtiofsd lacks CAP_SYS_ADMIN), alternate data streams
 * (`user.DosStream.<name>:$DATA`, GetStreamInfo) and EAs (`user.<NAME>`,
 * GetEa, SetEa).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, chownSync, closeSync, existsSync, openSync, statSync, statfsSync, writeFileSync } from "node:fs";
import { fsetxattr } from "../../src/sys/fs.js";
import { FileAttribute } from "../../src/windows/attributes.js";
import { createIdMap, decodeNtAcl, defaultSecurityDescriptor, encodeNtAcl } from "../../src/windows/ntacl.js";
import { formatSddl, parseSddl } from "../../src/windows/sddl.js";
import { AccessMask, SecurityInformation, decodeSecurityDescriptor, encodeSecurityDescriptor } from "../../src/windows/security.js";
import { CleanupFlag, CreateDisposition, CreateOption } from "../../src/winfsp/constants.js";
import { applySecurityDescriptor } from "../../src/winfsp/security-merge.js";
import { viofsServeWith } from "../guest/backends.js";
import { FACTORIES, closeFile, create, createOptions, createRequest, fails, hostXattr, hostXattrNames, mount, ok, open } from "./helpers.js";

const A = FileAttribute;
const SI = SecurityInformation;
const EXT4_SUPER_MAGIC = 0xef53;

const sddlOf = (sd: Uint8Array): string => formatSddl(decodeSecurityDescriptor(sd));
const sdOf = (sddl: string): Uint8Array => encodeSecurityDescriptor(parseSddl(sddl));

for (const factory of FACTORIES) {
  describe(`service over ${factory.name}: security, streams, EAs`, () => {
    test("security: synthesized from uid/gid/mode (S-1-22), stored as NTACL v1 exactly as set, owner and mode untouched", async (t) => {
      const m = await mount(t, factory);
      writeFileSync(m.host("\\f"), "x");
      chownSync(m.host("\\f"), 1000, 1001);
      chmodSync(m.host("\\f"), 0o640);
      const byName = ok(await m.fs.getSecurityByName("\\f"));
      assert.equal(byName.reparse, false);
      if (byName.reparse) return;
      assert.equal(byName.fileAttributes, 0);
      const synthesized = encodeSecurityDescriptor(defaultSecurityDescriptor({ uid: 1000, gid: 1001, mode: 0o100640 }));
      assert.deepEqual(byName.securityDescriptor, synthesized);
      assert.match(sddlOf(synthesized), /^O:S-1-22-1-1000G:S-1-22-2-1001D:/);

      const f = await open(m.fs, "\\f", AccessMask.READ_CONTROL | AccessMask.WRITE_DAC | AccessMask.WRITE_OWNER);
      assert.deepEqual(ok(await m.fs.getSecurity(f)), synthesized);
      const wanted = sdOf("O:BAG:SYD:P(A;OICI;FA;;;WD)(A;;0x1200a9;;;S-1-22-1-1000)");
      ok(await m.fs.setSecurity(f, SI.OWNER | SI.GROUP | SI.DACL, wanted));
      const expected = ok(applySecurityDescriptor(synthesized, SI.OWNER | SI.GROUP | SI.DACL, wanted));
      const got = ok(await m.fs.getSecurity(f));
      assert.deepEqual(got, expected, "GetSecurity answers what SetSecurity stored");
      assert.equal(sddlOf(got), "O:BAG:SYD:P(A;OICI;FA;;;WD)(A;;0x1200a9;;;S-1-22-1-1000)");

      // Both daemons keep virtiofsd's capabilities, without CAP_SYS_ADMIN: security.* is refused, the fallback taken.
      const name = "user.NTACL";
      assert.equal(m.fs.ntaclXattr, name, "security.* refused without CAP_SYS_ADMIN: the user.NTACL fallback");
      const stored = hostXattr(m.host("\\f"), name);
      assert.ok(stored !== undefined, `${name} on the host`);
      assert.deepEqual(stored, Buffer.from(encodeNtAcl(decodeSecurityDescriptor(got))), "NTACL v1 bytes");
      assert.equal(decodeNtAcl(stored).version, 1);
      if (name === "user.NTACL") assert.equal(hostXattr(m.host("\\f"), "security.NTACL"), undefined);
      const st = statSync(m.host("\\f"));
      assert.equal(st.uid, 1000);
      assert.equal(st.gid, 1001);
      assert.equal(st.mode & 0o7777, 0o640);

      // Only the DACL; generic rights are mapped (GA reads back FA).
      ok(await m.fs.setSecurity(f, SI.DACL, sdOf("D:(A;;GA;;;BU)")));
      assert.equal(sddlOf(ok(await m.fs.getSecurity(f))), "O:BAG:SYD:(A;;FA;;;BU)");
      fails(await m.fs.setSecurity(f, SI.DACL, new Uint8Array([1, 2, 3])), "STATUS_INVALID_SECURITY_DESCR");
      await closeFile(m.fs, f);
      m.fs.invalidateCaches();
      const again = ok(await m.fs.getSecurityByName("\\f"));
      assert.ok(!again.reparse && again.securityDescriptor !== null && sddlOf(again.securityDescriptor) === "O:BAG:SYD:(A;;FA;;;BU)", "persists");

      // Create with a descriptor.
      const c = await create(m.fs, "\\withsd", { securityDescriptor: sdOf("O:S-1-5-21-1-2-3-500G:SYD:(A;;FA;;;SY)") });
      assert.equal(sddlOf(ok(await m.fs.getSecurity(c.fileContext))), "O:S-1-5-21-1-2-3-500G:SYD:(A;;FA;;;SY)");
      assert.ok(hostXattr(m.host("\\withsd"), name) !== undefined);
      await closeFile(m.fs, c.fileContext);

      fails(await m.fs.createEx(createRequest("\\badsd", { securityDescriptor: new Uint8Array([1, 0, 4, 0x80, 0xff, 0xff]) })), "STATUS_INVALID_SECURITY_DESCR");
      assert.equal(existsSync(m.host("\\badsd")), false, "nothing created");
      fails(await m.fs.getSecurityByName("\\nope"), "STATUS_OBJECT_NAME_NOT_FOUND");
      fails(await m.fs.getSecurityByName("\\nope\\x"), "STATUS_OBJECT_PATH_NOT_FOUND");
      fails(await m.fs.getSecurityByName("\\f\\x"), "STATUS_NOT_A_DIRECTORY");
      fails(await m.fs.getSecurityByName("\\f:nostream"), "STATUS_OBJECT_NAME_NOT_FOUND");
    });

    test("security: the uid ↔ SID map and a directory's stream report the main file's attributes without DIRECTORY", async (t) => {
      const m = await mount(t, factory, {
        idMap: createIdMap({ users: [[1000, "S-1-5-21-1-2-3-1001"]], groups: [[1001, "S-1-5-21-1-2-3-513"]] }),
        owner: { uid: 1000, gid: 1001 },
      });
      // The host checks the configured owner's permissions: a root-owned 0755 directory refuses it.
      fails(await m.fs.createEx(createRequest("\\refused")), "STATUS_ACCESS_DENIED");
      chmodSync(m.backend.dir, 0o777);
      const d = await create(m.fs, "\\d", { directory: true, fileAttributes: A.FILE_ATTRIBUTE_HIDDEN });
      const st = statSync(m.host("\\d"));
      assert.equal(st.uid, 1000, "created with the configured owner");
      assert.equal(st.gid, 1001);
      assert.match(sddlOf(ok(await m.fs.getSecurity(d.fileContext))), /^O:S-1-5-21-1-2-3-1001G:S-1-5-21-1-2-3-513D:/);
      const s = await create(m.fs, "\\d:meta");
      assert.equal(s.fileInfo.fileAttributes, A.FILE_ATTRIBUTE_HIDDEN);
      const byName = ok(await m.fs.getSecurityByName("\\d:meta"));
      assert.ok(!byName.reparse && byName.fileAttributes === A.FILE_ATTRIBUTE_HIDDEN);
      await closeFile(m.fs, s.fileContext);
      await closeFile(m.fs, d.fileContext);
    });

    test("streams: user.DosStream.<name>:$DATA with a trailing NUL, case-insensitive names, I/O rules, GetStreamInfo", async (t) => {
      const m = await mount(t, factory);
      const { fileContext: main } = await create(m.fs, "\\f");
      ok(await m.fs.write(main, Buffer.from("main"), 0n, false, false));
      const mainInfo = ok(await m.fs.getFileInfo(main));
      const created = await create(m.fs, "\\f:Zone.Identifier");
      const s = created.fileContext;
      assert.equal(created.fileInfo.fileSize, 0n);
      assert.equal(created.fileInfo.indexNumber, mainInfo.indexNumber, "a stream reports its main file's index number");
      assert.equal(created.fileInfo.fileAttributes, A.FILE_ATTRIBUTE_ARCHIVE);
      assert.deepEqual(hostXattr(m.host("\\f"), "user.DosStream.Zone.Identifier:$DATA"), Buffer.from([0]));

      let w = ok(await m.fs.write(s, Buffer.from("[ZoneTransfer]\n"), 0n, false, false));
      assert.equal(w.bytesTransferred, 15);
      assert.equal(w.fileInfo.fileSize, 15n);
      assert.equal(w.fileInfo.allocationSize, 4096n);
      w = ok(await m.fs.write(s, Buffer.from("ZoneId=3\n"), 0n, true, false));
      assert.equal(w.fileInfo.fileSize, 24n);
      w = ok(await m.fs.write(s, Buffer.from("XYZ"), 22n, false, true));
      assert.equal(w.bytesTransferred, 2, "constrained I/O clipped at the stream's end");
      w = ok(await m.fs.write(s, Buffer.from("!"), 30n, false, false));
      assert.equal(w.fileInfo.fileSize, 31n);
      const text = Buffer.concat([Buffer.from("[ZoneTransfer]\nZoneId=XY"), Buffer.alloc(6), Buffer.from("!")]);
      assert.deepEqual(hostXattr(m.host("\\f"), "user.DosStream.Zone.Identifier:$DATA"), Buffer.concat([text, Buffer.from([0])]));
      assert.equal(statSync(m.host("\\f")).size, 4, "the main stream is untouched");

      const other = await open(m.fs, "\\f:zone.identifier");
      const buffer = new Uint8Array(64);
      assert.equal(ok(await m.fs.read(other, buffer, 0n)), 31, "opened by another case; sees every write at once");
      assert.deepEqual(Buffer.from(buffer.subarray(0, 31)), text);
      fails(await m.fs.read(other, buffer, 31n), "STATUS_END_OF_FILE");
      fails(await m.fs.createEx(createRequest("\\f:ZONE.IDENTIFIER")), "STATUS_OBJECT_NAME_COLLISION");

      const streams = ok(await m.fs.getStreamInfo(main));
      assert.deepEqual(streams, [
        { streamName: "", streamSize: 4n, streamAllocationSize: 4096n },
        { streamName: "Zone.Identifier", streamSize: 31n, streamAllocationSize: 4096n },
      ]);
      assert.deepEqual(ok(await m.fs.getStreamInfo(s)), streams, "a stream context lists its main file's streams");

      let info = ok(await m.fs.setFileSize(s, 8n, false));
      assert.equal(info.fileSize, 8n);
      info = ok(await m.fs.setFileSize(s, 10n, false));
      assert.deepEqual(hostXattr(m.host("\\f"), "user.DosStream.Zone.Identifier:$DATA"), Buffer.concat([Buffer.from("[ZoneTra"), Buffer.alloc(3)]));
      info = ok(await m.fs.setFileSize(s, 4096n, true));
      assert.equal(info.fileSize, 10n, "a larger allocation keeps the stream's size");

      // Too large for the host: the right status, and nothing truncated.
      const before = hostXattr(m.host("\\f"), "user.DosStream.Zone.Identifier:$DATA");
      const ext4 = statfsSync(m.backend.dir).type === EXT4_SUPER_MAGIC;
      const large = await m.fs.write(s, Buffer.alloc(6000, 0x41), 0n, false, false);
      if (ext4) fails(large, "STATUS_DISK_FULL", "6000 bytes do not fit ext4's xattr block");
      else ok(large);
      if (ext4) assert.deepEqual(hostXattr(m.host("\\f"), "user.DosStream.Zone.Identifier:$DATA"), before, "not truncated");
      if (ext4) {
        // Past Samba's 65535 bytes the stream is chunked, which ext4's one xattr block cannot hold either.
        fails(await m.fs.write(s, Buffer.from("z"), 65535n, false, false), "STATUS_DISK_FULL");
        fails(await m.fs.setFileSize(s, 70000n, false), "STATUS_DISK_FULL");
        assert.deepEqual(hostXattr(m.host("\\f"), "user.DosStream.Zone.Identifier:$DATA"), before, "not truncated");
      }
      fails(await m.fs.setFileSize(s, 1n << 32n, false) , "STATUS_DISK_FULL", "past 65536 chunks");
      fails(await m.fs.write(s, Buffer.from("z"), 1n << 32n, false, false), "STATUS_FILE_SYSTEM_LIMITATION");

      await closeFile(m.fs, other);
      await closeFile(m.fs, s);

      const d = await create(m.fs, "\\dir", { directory: true });
      const ds = await create(m.fs, "\\dir:we?rd");
      ok(await m.fs.write(ds.fileContext, Buffer.from("d"), 0n, false, false));
      assert.deepEqual(ok(await m.fs.getStreamInfo(d.fileContext)), [{ streamName: "we?rd", streamSize: 1n, streamAllocationSize: 4096n }], "directories list only named streams");
      assert.deepEqual(hostXattr(m.host("\\dir"), "user.DosStream.we?rd:$DATA"), Buffer.from("d\0"));
      await closeFile(m.fs, ds.fileContext, CleanupFlag.Delete, "\\dir:we?rd");
      assert.deepEqual(ok(await m.fs.getStreamInfo(d.fileContext)), []);
      await closeFile(m.fs, d.fileContext);

      // A stream written on the host (as Samba writes one) is listed and read.
      const fd = openSync(m.host("\\f"), "r");
      fsetxattr(fd, "user.DosStream.fromhost:$DATA", Buffer.from("samba\0"));
      closeSync(fd);
      m.fs.invalidateCaches();
      const names = ok(await m.fs.getStreamInfo(main)).map((x) => x.streamName);
      assert.deepEqual(names.sort(), ["", "Zone.Identifier", "fromhost"]);
      const fromHost = await open(m.fs, "\\f:FROMHOST");
      assert.equal(ok(await m.fs.read(fromHost, buffer, 0n)), 5);
      await closeFile(m.fs, fromHost);
      await closeFile(m.fs, main);
    });

    test("EAs: user.<NAME>, case-insensitive replace keeping the stored spelling, delete by empty value, refusals, eaSize", async (t) => {
      const m = await mount(t, factory);
      const { fileContext: f } = await create(m.fs, "\\e", {
        ea: [{ flags: 0, name: "FromCreate", value: Buffer.from("c") }],
      });
      assert.deepEqual(hostXattr(m.host("\\e"), "user.FromCreate"), Buffer.from("c"));
      let info = ok(await m.fs.setEa(f, [
        { flags: 0x80, name: "Alpha", value: Buffer.from("1") },
        { flags: 0, name: "beta", value: Buffer.from("22") },
      ]));
      assert.equal(info.eaSize, 5 + 10 + 1 + (5 + 5 + 1) + (5 + 4 + 2));
      assert.deepEqual(hostXattr(m.host("\\e"), "user.Alpha"), Buffer.from("1"));
      const byName = (eas: { name: string; flags: number; value: Uint8Array }[]) =>
        [...eas].sort((a, b) => (a.name < b.name ? -1 : 1)).map((e) => ({ ...e, value: Buffer.from(e.value) }));
      assert.deepEqual(byName(ok(await m.fs.getEa(f))), [
        { flags: 0x80, name: "Alpha", value: Buffer.from("1") },
        { flags: 0, name: "FromCreate", value: Buffer.from("c") },
        { flags: 0, name: "beta", value: Buffer.from("22") },
      ], "FILE_NEED_EA is kept in the sidecar");
      assert.deepEqual(hostXattr(m.host("\\e"), "user.viofs:eaflags"), Buffer.from([0x80, 5, ...Buffer.from("Alpha")]), "u8 flags, u8 length, name");
      const noKnowledge = createOptions(CreateDisposition.FILE_OPEN, CreateOption.FILE_NO_EA_KNOWLEDGE);
      fails(await m.fs.open({ fileName: "\\e", createOptions: noKnowledge, grantedAccess: 0x80 }), "STATUS_ACCESS_DENIED");

      info = ok(await m.fs.setEa(f, [{ flags: 0, name: "ALPHA", value: Buffer.from("333") }]));
      assert.deepEqual(hostXattr(m.host("\\e"), "user.Alpha"), Buffer.from("333"));
      assert.equal(hostXattr(m.host("\\e"), "user.viofs:eaflags"), undefined, "no flags left: no sidecar");
      await closeFile(m.fs, ok(await m.fs.open({ fileName: "\\e", createOptions: noKnowledge, grantedAccess: 0x80 })).fileContext);
      assert.equal(hostXattr(m.host("\\e"), "user.ALPHA"), undefined);
      info = ok(await m.fs.setEa(f, [{ flags: 0, name: "BETA", value: new Uint8Array(0) }, { flags: 0, name: "gone", value: new Uint8Array(0) }]));
      assert.equal(hostXattr(m.host("\\e"), "user.beta"), undefined);
      assert.equal(info.eaSize, 5 + 10 + 1 + (5 + 5 + 3));

      fails(await m.fs.setEa(f, [{ flags: 0, name: "bad*name", value: Buffer.from("x") }]), "STATUS_INVALID_EA_NAME");
      fails(await m.fs.setEa(f, [{ flags: 0, name: "DOSATTRIB", value: Buffer.from("x") }]), "STATUS_ACCESS_DENIED");
      fails(await m.fs.setEa(f, [{ flags: 0, name: "DosStream.x:$DATA", value: Buffer.from("x") }]), "STATUS_INVALID_EA_NAME");
      fails(await m.fs.setEa(f, [{ flags: 0, name: "Ok", value: Buffer.from("x") }, { flags: 0, name: "Big", value: new Uint8Array(70000) }]), "STATUS_EA_TOO_LARGE");
      assert.equal(hostXattr(m.host("\\e"), "user.Ok"), undefined, "a refused list changes nothing");

      // Metadata xattrs are never EAs; host-set user.* xattrs are.
      const s = await create(m.fs, "\\e:stream");
      await closeFile(m.fs, s.fileContext);
      ok(await m.fs.setSecurity(f, SI.DACL, sdOf("D:(A;;FA;;;WD)")));
      const fd = openSync(m.host("\\e"), "r");
      fsetxattr(fd, "user.HostEa", Buffer.from("h"));
      closeSync(fd);
      m.fs.invalidateCaches();
      assert.deepEqual(ok(await m.fs.getEa(f)).map((e) => e.name).sort(), ["Alpha", "FromCreate", "HostEa"]);
      assert.ok(hostXattrNames(m.host("\\e")).includes("user.DOSATTRIB"));
      assert.equal(ok(await m.fs.getFileInfo(f)).eaSize, 5 + 10 + 1 + (5 + 5 + 3) + (5 + 6 + 1));
      await closeFile(m.fs, f);
    });
  });
}

test("security: with CAP_SYS_ADMIN kept (viofs serve --modcaps=+sys_admin) descriptors go to security.NTACL, as Samba reads by default", async (t) => {
  const m = await mount(t, viofsServeWith(["--modcaps=+sys_admin"]));
  assert.equal(m.fs.ntaclXattr, "security.NTACL");
  writeFileSync(m.host("\\g"), "x");
  const f = await open(m.fs, "\\g", AccessMask.READ_CONTROL | AccessMask.WRITE_DAC | AccessMask.WRITE_OWNER);
  const wanted = sdOf("O:BAG:SYD:P(A;;FA;;;WD)");
  ok(await m.fs.setSecurity(f, SI.OWNER | SI.GROUP | SI.DACL, wanted));
  const got = ok(await m.fs.getSecurity(f));
  assert.equal(sddlOf(got), "O:BAG:SYD:P(A;;FA;;;WD)");
  const stored = hostXattr(m.host("\\g"), "security.NTACL");
  assert.ok(stored !== undefined, "security.NTACL on the host");
  assert.deepEqual(stored, Buffer.from(encodeNtAcl(decodeSecurityDescriptor(got))));
  assert.equal(hostXattr(m.host("\\g"), "user.NTACL"), undefined);
  await closeFile(m.fs, f);
});
