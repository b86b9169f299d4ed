import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ProtocolError, ProtocolErrorCode } from "../../src/common/errors.js";
import {
  AccessMask,
  ACL_REVISION,
  AceFlag,
  AceType,
  applySecurity,
  decodeAcl,
  decodeSecurityDescriptor,
  decodeSid,
  encodeAcl,
  encodeSecurityDescriptor,
  encodeSid,
  filterSecurityDescriptor,
  formatSid,
  mapGenericMask,
  parseSid,
  type SecurityDescriptor,
  securityDescriptorEquals,
  SecurityInformation,
  SeControl,
  sid,
  type Sid,
} from "../../src/windows/security.js";
import { formatSddl, parseSddl } from "../../src/windows/sddl.js";
import { createIdMap, decodeNtAcl, defaultSecurityDescriptor, encodeNtAcl } from "../../src/windows/ntacl.js";

const hex = (s: string): Buffer => Buffer.from(s.replace(/[\s|]+/g, ""), "hex");
function protocolError(code?: string) {
  return (e: unknown): boolean => ProtocolError.is(e) && (code === undefined || e.code === code);
}
const ALL = SecurityInformation.OWNER | SecurityInformation.GROUP | SecurityInformation.DACL | SecurityInformation.SACL;

test("SIDs: string and binary forms", () => {
  const s = parseSid("S-1-5-21-1004336348-1177238915-682003330-512");
  assert.equal(formatSid(s), "S-1-5-21-1004336348-1177238915-682003330-512");
  assert.deepEqual(Buffer.from(encodeSid(parseSid("S-1-5-32-544"))), hex("0102000000000005 20000000 20020000"));
  assert.deepEqual(Buffer.from(encodeSid(parseSid("S-1-1-0"))), hex("0101000000000001 00000000"));
  assert.deepEqual(decodeSid(hex("0102000000000016 01000000 e8030000")), { authority: 22, subAuthorities: [1, 1000] });
  // A 48-bit authority is written in hex, as Windows does.
  const big = parseSid("S-1-0x123456789ABC-7");
  assert.equal(big.authority, 0x123456789abc);
  assert.equal(formatSid(big), "S-1-0x123456789ABC-7");
  assert.deepEqual(decodeSid(encodeSid(big)), big);
  assert.deepEqual(parseSid("s-1-0"), { authority: 0, subAuthorities: [] });
  for (const bad of ["S-1", "S-2-5", "S-1-5-", "S-1-5-x", "S-1-5-4294967296", `S-1-5${"-1".repeat(16)}`, "X-1-5"]) {
    assert.throws(() => parseSid(bad), protocolError(ProtocolErrorCode.VALUE), bad);
  }
  assert.throws(() => decodeSid(hex("0201000000000001 00000000")), protocolError(ProtocolErrorCode.VALUE), "revision 2");
  assert.throws(() => decodeSid(hex("0110000000000001")), protocolError(ProtocolErrorCode.VALUE), "16 sub-authorities");
  assert.throws(() => decodeSid(hex("0102000000000005 20000000")), protocolError(ProtocolErrorCode.SHORT));
  assert.throws(() => decodeSid(hex("0101000000000001 00000000 00")), protocolError(ProtocolErrorCode.LONG));
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 48 - 1 }), fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 15 }), (authority, subAuthorities) => {
      const s: Sid = { authority, subAuthorities };
      assert.deepEqual(decodeSid(encodeSid(s)), s);
      assert.deepEqual(parseSid(formatSid(s)), s);
    }),
  );
});

test("NTACL v1: the reference vector (served byte for byte by smbd 4.17)", () => {
  const sd = parseSddl("O:BAG:SYD:P(A;OICI;FA;;;WD)(A;;0x1200a9;;;S-1-22-1-1000)");
  const blob = encodeNtAcl(sd);
  assert.deepEqual(
    Buffer.from(blob),
    hex(
      "0100 0100 00000200 | 01 00 0490 1c000000 2c000000 00000000 38000000 | 0102000000000005 20000000 20020000 | 0101000000000005 12000000 | 0200 3400 0200 0000 | 00 03 1400 ff011f00 0101000000000001 00000000 | 00 00 1800 a9001200 0102000000000016 01000000 e8030000",
    ),
  );
  assert.equal(blob.length, 108);
  const back = decodeNtAcl(blob);
  assert.equal(back.version, 1);
  assert.ok(securityDescriptorEquals(back.sd, sd));
  assert.equal(formatSddl(back.sd), "O:BAG:SYD:P(A;OICI;FA;;;WD)(A;;0x1200a9;;;S-1-22-1-1000)");
});

test("NTACL v3 as smbd 4.17 writes it with ignore system acls (SD at 80, zero SHA-256 hash)", () => {
  // Captured from smbd 4.17.12 after `smbcacls --sddl --set 'O:S-1-22-1-1000G:S-1-22-2-1001D:P(A;OICI;0x1f01ff;;;WD)(A;;0x1200a9;;;S-1-22-1-1000)'`.
  const blob = hex(
    "03000300000002000400020001000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000100049064000000740000000000000084000000010200000000001601000000e8030000010200000000001602000000e9030000040034000200000000031400ff011f0001010000000000010000000000001800a9001200010200000000001601000000e8030000",
  );
  const v = decodeNtAcl(blob);
  assert.equal(v.version, 3);
  assert.equal(v.hashType, 1);
  assert.deepEqual(v.hash, new Uint8Array(64));
  assert.equal(formatSddl(v.sd), "O:S-1-22-1-1000G:S-1-22-2-1001D:P(A;OICI;FA;;;WD)(A;;0x1200a9;;;S-1-22-1-1000)");
  assert.equal(v.sd.dacl!.revision, 4, "Samba's SDDL parser gives ACL revision 4");
});

test("NTACL v2 and v4 layouts decode (SD at 28 and 160, offsets from the value start)", () => {
  const sd: SecurityDescriptor = parseSddl("O:SYG:BAD:(A;;FA;;;SY)");
  const sdAt = (at: number): Buffer => {
    const standalone = Buffer.from(encodeSecurityDescriptor(sd));
    // Rebase the four offsets onto the enclosing value.
    for (let i = 0; i < 4; i++) {
      const o = standalone.readUInt32LE(4 + 4 * i);
      if (o !== 0) standalone.writeUInt32LE(o + at, 4 + 4 * i);
    }
    return standalone;
  };
  const v2 = Buffer.concat([hex("0200 0200 00000200 04000200"), Buffer.alloc(16, 0xab), sdAt(28)]);
  const d2 = decodeNtAcl(v2);
  assert.equal(d2.version, 2);
  assert.deepEqual(d2.hash, new Uint8Array(16).fill(0xab));
  assert.ok(securityDescriptorEquals(d2.sd, sd));
  const v4head = Buffer.concat([
    hex("0400 0400 00000200 04000200 0100"),
    Buffer.alloc(64, 0x11),
    Buffer.from("posix_acl\0"),
    hex("0000000000000000"),
    Buffer.alloc(64, 0x22),
  ]);
  assert.equal(v4head.length, 160);
  const d4 = decodeNtAcl(Buffer.concat([v4head, sdAt(160)]));
  assert.equal(d4.version, 4);
  assert.equal(d4.description, "posix_acl");
  assert.deepEqual(d4.sysAclHash, new Uint8Array(64).fill(0x22));
  assert.ok(securityDescriptorEquals(d4.sd, sd));
});

test("NTACL: malformed values are ProtocolErrors, random input never escapes", () => {
  const good = Buffer.from(encodeNtAcl(parseSddl("O:SYG:SYD:(A;;FA;;;WD)")));
  assert.throws(() => decodeNtAcl(hex("0500 0500 00000200")), protocolError(ProtocolErrorCode.VALUE));
  assert.throws(() => decodeNtAcl(hex("0100 0200 00000200")), protocolError(ProtocolErrorCode.VALUE));
  assert.throws(() => decodeNtAcl(hex("0100 0100 00000000")), protocolError(ProtocolErrorCode.VALUE), "NULL pointer");
  assert.throws(() => decodeNtAcl(good.subarray(0, 30)), protocolError());
  const badOffset = Buffer.from(good);
  badOffset.writeUInt32LE(4000, 12); // owner offset
  assert.throws(() => decodeNtAcl(badOffset), protocolError(ProtocolErrorCode.LENGTH));
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(good.length - 1), fc.nat(255), (noise, at, byte) => {
      for (const input of [noise, Uint8Array.from(good).fill(byte, at, at + 1)]) {
        try {
          decodeNtAcl(input);
        } catch (e) {
          assert.ok(ProtocolError.is(e), String(e));
        }
      }
    }),
    { numRuns: 2000 },
  );
});

test("ACLs and descriptors: object ACEs, opaque ACEs, NULL and absent ACLs, free space", () => {
  const sd: SecurityDescriptor = {
    control: SeControl.SE_DACL_PROTECTED | SeControl.SE_DACL_AUTO_INHERITED,
    owner: sid("S-1-5-18"),
    group: sid("S-1-5-32-544"),
    sacl: null,
    dacl: {
      revision: 4,
      aces: [
        { type: AceType.ACCESS_ALLOWED, flags: AceFlag.OBJECT_INHERIT | AceFlag.CONTAINER_INHERIT, mask: AccessMask.FILE_ALL_ACCESS, sid: sid("S-1-1-0") },
        {
          type: AceType.ACCESS_ALLOWED_OBJECT,
          flags: 0,
          mask: 0x100,
          sid: sid("S-1-5-11"),
          objectType: "ab721a53-1e2f-11d0-9819-00aa0040529b",
        },
        { type: AceType.ACCESS_ALLOWED_CALLBACK, flags: 0, mask: 1, sid: sid("S-1-1-0"), applicationData: new Uint8Array(hex("61727478 01000000")) },
        { type: AceType.ACCESS_ALLOWED_COMPOUND, flags: 0, body: new Uint8Array(hex("01000000 02000000")) },
      ],
    },
  };
  const bytes = encodeSecurityDescriptor(sd);
  const back = decodeSecurityDescriptor(bytes);
  assert.deepEqual(back, sd);
  const control = Buffer.from(bytes).readUInt16LE(2);
  assert.equal(control, 0x8000 | 0x1000 | 0x0400 | 0x10 | 0x4, "SELF_RELATIVE, PROTECTED, AUTO_INHERITED, SACL and DACL present");
  assert.equal(Buffer.from(bytes).readUInt32LE(12), 0, "NULL SACL has offset 0");
  // An absent DACL: control bit clear.
  const bare = decodeSecurityDescriptor(encodeSecurityDescriptor({ control: 0, owner: sid("S-1-5-18") }));
  assert.deepEqual(bare, { control: 0, owner: sid("S-1-5-18") });
  // ACL with free space after the last ACE (Windows allows AclSize > used).
  const acl = Buffer.from(encodeAcl({ revision: ACL_REVISION, aces: [{ type: 0, flags: 0, mask: 1, sid: sid("S-1-1-0") }] }));
  const roomy = Buffer.concat([acl, Buffer.alloc(16)]);
  roomy.writeUInt16LE(roomy.length, 2);
  assert.equal(decodeAcl(roomy).aces.length, 1);
  // Hostile: ACE size past the ACL, unaligned ACE size, bad revisions, not self-relative.
  const past = Buffer.from(acl);
  past.writeUInt16LE(200, 10);
  assert.throws(() => decodeAcl(past), protocolError(ProtocolErrorCode.LENGTH));
  const odd = Buffer.from(acl);
  odd.writeUInt16LE(18, 10);
  assert.throws(() => decodeAcl(odd), protocolError(ProtocolErrorCode.LENGTH));
  const rev = Buffer.from(acl);
  rev[0] = 9;
  assert.throws(() => decodeAcl(rev), protocolError(ProtocolErrorCode.VALUE));
  const absolute = Buffer.from(bytes);
  absolute.writeUInt16LE(control & ~0x8000, 2);
  assert.throws(() => decodeSecurityDescriptor(absolute), protocolError(ProtocolErrorCode.VALUE));
});

test("SDDL: the winfsp-tests strings and Windows' output spelling", () => {
  const cases: [string, string][] = [
    ["D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;WD)", "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;WD)"],
    ["D:P(A;;SD;;;WD)", "D:P(A;;SD;;;WD)"],
    ["D:P(D;;GA;;;SY)(D;;GA;;;BA)(D;;GA;;;WD)", "D:P(D;;GA;;;SY)(D;;GA;;;BA)(D;;GA;;;WD)"],
    ["D:P(A;;GRGWSD;;;WD)", "D:P(A;;SDGWGR;;;WD)"],
    ["D:P(A;;0x001100a2;;;WD)", "D:P(A;;0x1100a2;;;WD)"],
    ["D:(A;;FR;;;BU)(A;;0x1F01FF;;;BA)", "D:(A;;FR;;;BU)(A;;FA;;;BA)"],
    ["O:BAG:SYD:PAI(A;OICIIO;GXGR;;;BU)(A;ID;0x1301bf;;;AU)", "O:BAG:SYD:PAI(A;OICIIO;GXGR;;;BU)(A;ID;0x1301bf;;;AU)"],
    ["D:ARAIP(A;;CCDCLCSWRPWPDTLOCRSDRCWDWO;;;BA)", "D:PARAI(A;;CCDCLCSWRPWPDTLOCRSDRCWDWO;;;BA)"],
    ["D:NO_ACCESS_CONTROL", "D:NO_ACCESS_CONTROL"],
    ["D:", "D:"],
    ["S:(ML;;NW;;;LW)", "S:(ML;;NW;;;LW)"],
    ["S:(AU;SAFA;FA;;;WD)", "S:(AU;SAFA;FA;;;WD)"],
    ["D:(OA;;CR;ab721a53-1e2f-11d0-9819-00aa0040529b;;WD)", "D:(OA;;CR;ab721a53-1e2f-11d0-9819-00aa0040529b;;WD)"],
    ["G:S-1-22-2-1001 O:S-1-22-1-1000", "O:S-1-22-1-1000G:S-1-22-2-1001"],
    ["D:(A;;1179817;;;S-1-5-18)", "D:(A;;0x1200a9;;;SY)"],
    ["O:S-1-5-18D:(A;;FA;;;CO)", "O:SYD:(A;;FA;;;CO)"],
  ];
  for (const [input, output] of cases) assert.equal(formatSddl(parseSddl(input)), output, input);
  const sd = parseSddl("D:P(A;;GA;;;SY)");
  assert.equal(sd.control, SeControl.SE_DACL_PROTECTED);
  assert.equal(sd.owner, undefined);
  assert.equal(sd.dacl!.revision, ACL_REVISION);
  assert.equal(parseSddl("D:(OA;;CR;ab721a53-1e2f-11d0-9819-00aa0040529b;;WD)").dacl!.revision, 4);
  // Only the requested parts.
  assert.equal(formatSddl(parseSddl("O:BAG:SYD:(A;;FA;;;WD)"), SecurityInformation.DACL), "D:(A;;FA;;;WD)");
  // Domain-relative aliases need a domain SID.
  assert.throws(() => parseSddl("O:DA"), protocolError(ProtocolErrorCode.VALUE));
  const domainSid = sid("S-1-5-21-1-2-3");
  const da = parseSddl("O:DAD:(A;;FA;;;LA)", { domainSid });
  assert.equal(formatSid(da.owner!), "S-1-5-21-1-2-3-512");
  assert.equal(formatSddl(da, ALL, { domainSid }), "O:DAD:(A;;FA;;;LA)");
  assert.equal(formatSddl(da), "O:S-1-5-21-1-2-3-512D:(A;;FA;;;S-1-5-21-1-2-3-500)");
  for (const bad of ["X:", "O:ZZ", "D:(A;;FA;;WD)", "D:(Q;;FA;;;WD)", "D:(A;XX;FA;;;WD)", "D:(A;;QQ;;;WD)", "D:(A;;FA;;;WD", "O:SYO:SY", "D:(A;;FA;nope;;WD)", "D:NO_ACCESS_CONTROL(A;;FA;;;WD)"]) {
    assert.throws(() => parseSddl(bad), protocolError(ProtocolErrorCode.VALUE), bad);
  }
});

test("SDDL ↔ binary round trip over random descriptors", () => {
  const sidArb = fc.oneof(
    fc.constantFrom("S-1-1-0", "S-1-5-18", "S-1-5-32-544", "S-1-3-0").map(parseSid),
    fc.record(
      { authority: fc.integer({ min: 0, max: 2 ** 48 - 1 }), subAuthorities: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 15 }) },
      { noNullPrototype: true },
    ),
  );
  const aceArb = fc.record({
    type: fc.constantFrom(0, 1),
    flags: fc.integer({ min: 0, max: 0x1f }),
    mask: fc.integer({ min: 0, max: 0xffffffff }),
    sid: sidArb,
  }, { noNullPrototype: true });
  fc.assert(
    fc.property(fc.option(sidArb, { nil: undefined }), fc.option(sidArb, { nil: undefined }), fc.array(aceArb, { maxLength: 6 }), fc.boolean(), (owner, group, aces, protectedDacl) => {
      const sd: SecurityDescriptor = {
        control: protectedDacl ? SeControl.SE_DACL_PROTECTED : 0,
        ...(owner ? { owner } : {}),
        ...(group ? { group } : {}),
        dacl: { revision: ACL_REVISION, aces },
      };
      const text = formatSddl(sd);
      assert.deepEqual(parseSddl(text), sd, text);
      assert.deepEqual(decodeSecurityDescriptor(encodeSecurityDescriptor(sd)), sd);
      assert.deepEqual(decodeNtAcl(encodeNtAcl(sd)).sd, sd);
    }),
  );
});

test("setsecurity_test: DACL replaced, GA mapped to FA, owner and group kept", () => {
  const created = parseSddl("O:S-1-22-1-1000G:S-1-22-2-1000D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;WD)");
  const set = applySecurity(created, SecurityInformation.DACL, parseSddl("D:P(A;;GA;;;SY)(A;;GA;;;BA)"));
  assert.equal(formatSddl(set, SecurityInformation.DACL), "D:P(A;;FA;;;SY)(A;;FA;;;BA)");
  assert.equal(formatSid(set.owner!), "S-1-22-1-1000");
  assert.equal(formatSid(set.group!), "S-1-22-2-1000");
  // Inherit-only ACEs keep their generic rights (they apply to children).
  const inherit = applySecurity(created, SecurityInformation.DACL, parseSddl("D:(A;OICIIO;GA;;;CO)(A;;GR;;;WD)"));
  assert.equal(formatSddl(inherit, SecurityInformation.DACL), "D:(A;OICIIO;GA;;;CO)(A;;FR;;;WD)");
  // PROTECTED/UNPROTECTED_DACL_SECURITY_INFORMATION.
  const unprot = applySecurity(set, SecurityInformation.DACL | SecurityInformation.UNPROTECTED_DACL, parseSddl("D:P(A;;FA;;;WD)"));
  assert.equal(unprot.control & SeControl.SE_DACL_PROTECTED, 0);
  const owner = applySecurity(set, SecurityInformation.OWNER, parseSddl("O:BA"));
  assert.equal(formatSddl(owner), "O:BAG:S-1-22-2-1000D:P(A;;FA;;;SY)(A;;FA;;;BA)");
  assert.equal(mapGenericMask(AccessMask.GENERIC_READ | AccessMask.GENERIC_EXECUTE), 0x1200a9);
});

test("getsecurity_test: filtering by SECURITY_INFORMATION", () => {
  const sd = parseSddl("O:BAG:SYD:P(A;;FA;;;WD)S:(AU;SA;FA;;;WD)");
  const og = filterSecurityDescriptor(sd, SecurityInformation.OWNER | SecurityInformation.GROUP);
  assert.ok(og.owner && og.group && og.dacl === undefined && og.sacl === undefined);
  assert.equal(og.control & SeControl.SE_DACL_PROTECTED, 0);
  const d = filterSecurityDescriptor(sd, SecurityInformation.DACL);
  assert.ok(d.owner === undefined && d.group === undefined && d.dacl && d.sacl === undefined);
  assert.equal(formatSddl(d), "D:P(A;;FA;;;WD)");
});

test("default descriptor from uid/gid/mode: Samba's posix style (verified against smbd 4.17)", () => {
  // smbd 4.17 (ignore system acls) for uid 1000, gid 1001, mode 0640:
  // O:S-1-22-1-1000G:S-1-22-2-1001D:(A;;0x001f01ff;;;S-1-22-1-1000)(A;;0x001200a9;;;S-1-22-2-1001)(A;;0x001f01ff;;;SY)
  const sd = defaultSecurityDescriptor({ uid: 1000, gid: 1001, mode: 0o100640 });
  assert.equal(formatSddl(sd), "O:S-1-22-1-1000G:S-1-22-2-1001D:(A;;FA;;;S-1-22-1-1000)(A;;0x1200a9;;;S-1-22-2-1001)(A;;FA;;;SY)");
  assert.equal(
    formatSddl(defaultSecurityDescriptor({ uid: 0, gid: 0, mode: 0o100666 })),
    "O:S-1-22-1-0G:S-1-22-2-0D:(A;;FA;;;S-1-22-1-0)(A;;0x1201bf;;;S-1-22-2-0)(A;;0x1201bf;;;WD)(A;;FA;;;SY)",
  );
  // Owner without rights still gets an (empty) ACE; w without r; execute bits ignored.
  assert.equal(
    formatSddl(defaultSecurityDescriptor({ uid: 5, gid: 6, mode: 0o040311 })),
    "O:S-1-22-1-5G:S-1-22-2-6D:(A;;0x130116;;;S-1-22-1-5)(A;;FA;;;SY)",
  );
  assert.equal(formatSddl(defaultSecurityDescriptor({ uid: 5, gid: 6, mode: 0o000 })), "O:S-1-22-1-5G:S-1-22-2-6D:(A;;0x0;;;S-1-22-1-5)(A;;FA;;;SY)");
  assert.equal(formatSddl(defaultSecurityDescriptor({ uid: 5, gid: 6, mode: 0o644 }, undefined, "windows")), "O:S-1-22-1-5G:S-1-22-2-6D:(A;;FA;;;S-1-22-1-5)(A;;FA;;;SY)");
  assert.equal(formatSddl(defaultSecurityDescriptor({ uid: 5, gid: 6, mode: 0o644 }, undefined, "everyone")), "O:S-1-22-1-5G:S-1-22-2-6D:(A;;FA;;;WD)");
});

test("id map: explicit entries first, S-1-22 both ways", () => {
  const map = createIdMap({ users: [[1000, "S-1-5-21-1-2-3-1001"]], groups: [[100, "S-1-5-32-545"]] });
  assert.equal(formatSid(map.uidToSid(1000)), "S-1-5-21-1-2-3-1001");
  assert.equal(formatSid(map.uidToSid(1001)), "S-1-22-1-1001");
  assert.equal(formatSid(map.gidToSid(100)), "S-1-5-32-545");
  assert.equal(formatSid(map.gidToSid(7)), "S-1-22-2-7");
  assert.equal(map.sidToUid(sid("S-1-5-21-1-2-3-1001")), 1000);
  assert.equal(map.sidToUid(sid("S-1-22-1-42")), 42);
  assert.equal(map.sidToUid(sid("S-1-22-2-42")), undefined);
  assert.equal(map.sidToGid(sid("S-1-22-2-42")), 42);
  assert.equal(map.sidToGid(sid("S-1-5-32-545")), 100);
  assert.equal(map.sidToUid(sid("S-1-1-0")), undefined);
  assert.equal(
    formatSddl(defaultSecurityDescriptor({ uid: 1000, gid: 100, mode: 0o600 }, map)),
    "O:S-1-5-21-1-2-3-1001G:BUD:(A;;FA;;;S-1-5-21-1-2-3-1001)(A;;FA;;;SY)",
  );
});
