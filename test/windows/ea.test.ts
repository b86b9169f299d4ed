import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ProtocolError } from "../../src/common/errors.js";
import { NtStatus } from "../../src/windows/ntstatus.js";
import {
  canonicalEaXattr,
  checkSetEa,
  decodeFullEaList,
  decodeGetEaList,
  eaNameOfXattr,
  eaPackedSize,
  eaXattrName,
  encodeFullEaList,
  encodeGetEaList,
  FILE_NEED_EA,
  fullEaEntrySize,
  isListableEaValue,
  isPrivateXattr,
  isValidEaName,
  VIOFS_XATTR_PREFIX,
} from "../../src/windows/ea.js";

const hex = (s: string): Buffer => Buffer.from(s.replace(/[\s|]+/g, ""), "hex");
const u8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

test("FILE_FULL_EA_INFORMATION: ea-test's set, 4-aligned entries, last NextEntryOffset 0", () => {
  const eas = [
    { name: "Aname1", flags: 0, value: u8("first") },
    { name: "bnameTwo", flags: FILE_NEED_EA, value: u8("second") },
    { name: "Cn3", flags: 0, value: u8("third") },
  ];
  const buf = encodeFullEaList(eas);
  assert.deepEqual(
    Buffer.from(buf),
    hex(
      "14000000 00 06 0500 416e616d653100 6669727374" +
        "18000000 80 08 0600 626e616d6554776f00 7365636f6e64 | 00" +
        "00000000 00 03 0500 436e3300 7468697264",
    ),
  );
  assert.deepEqual(decodeFullEaList(buf), eas);
  // L(n, v) = 8 + n + 1 + v, the winfsp-tests buffer sizes.
  assert.equal(fullEaEntrySize({ name: "bnameTwo", value: new Uint8Array(0) }), 17);
  assert.equal(fullEaEntrySize({ name: "Aname1", value: u8("first") }), 20);
  assert.equal(eaPackedSize({ name: "Aname1", value: u8("first") }), 16);
  assert.deepEqual(encodeFullEaList([]), new Uint8Array(0));
});

test("FILE_GET_EA_INFORMATION lists", () => {
  const names = ["bnameTwo", "nonexistent"];
  const buf = encodeGetEaList(names);
  assert.deepEqual(Buffer.from(buf), hex("10000000 08 626e616d6554776f00 0000 | 00000000 0b 6e6f6e6578697374656e7400"));
  assert.deepEqual(decodeGetEaList(buf), names);
});

test("hostile EA buffers are ProtocolErrors (the caller answers STATUS_EA_LIST_INCONSISTENT)", () => {
  const good = Buffer.from(encodeFullEaList([
    { name: "a", flags: 0, value: u8("1") },
    { name: "b", flags: 0, value: u8("2") },
  ]));
  const unaligned = Buffer.from(good);
  unaligned.writeUInt32LE(13, 0);
  assert.throws(() => decodeFullEaList(unaligned), ProtocolError.is);
  const inside = Buffer.from(good);
  inside.writeUInt32LE(4, 0);
  assert.throws(() => decodeFullEaList(inside), ProtocolError.is);
  const past = Buffer.from(good);
  past.writeUInt32LE(64, 0);
  assert.throws(() => decodeFullEaList(past), ProtocolError.is);
  const noNul = Buffer.from(good);
  noNul[9] = 0x41;
  assert.throws(() => decodeFullEaList(noNul), ProtocolError.is);
  assert.throws(() => decodeFullEaList(good.subarray(0, 10)), ProtocolError.is);
  assert.throws(() => decodeFullEaList(new Uint8Array(0)), ProtocolError.is);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      for (const decode of [decodeFullEaList, decodeGetEaList]) {
        try {
          decode(bytes);
        } catch (e) {
          assert.ok(ProtocolError.is(e), String(e));
        }
      }
    }),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          name: fc.string({ minLength: 1, maxLength: 20, unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) }),
          flags: fc.constantFrom(0, FILE_NEED_EA),
          value: fc.uint8Array({ maxLength: 40 }),
        }, { noNullPrototype: true }),
        { minLength: 1, maxLength: 5 },
      ),
      (eas) => {
        assert.deepEqual(decodeFullEaList(encodeFullEaList(eas)), eas);
      },
    ),
  );
});

test("Samba's name rules: user. namespace, private names hidden, invalid characters hidden", () => {
  assert.equal(eaXattrName("MyEa"), "user.MyEa");
  assert.equal(eaNameOfXattr("user.MyEa"), "MyEa");
  assert.equal(eaNameOfXattr("USER.MyEa"), "MyEa", "the namespace prefix matches case-insensitively");
  assert.equal(eaNameOfXattr("trusted.x"), undefined);
  assert.equal(eaNameOfXattr("security.NTACL"), undefined);
  for (const priv of ["user.DOSATTRIB", "user.dosattrib", "user.SAMBA_PAI", "user.SAMBA_STREAMS", "user.DosStream.x:$DATA", "user.dosstream.y", "user.DosStreamExt.1.x:$DATA", "user.SmbReparse", "user.NTACL", "user.org.netatalk.Metadata"]) {
    assert.ok(isPrivateXattr(priv), priv);
    assert.equal(eaNameOfXattr(priv), undefined, priv);
  }
  assert.equal(eaNameOfXattr("user.a*b"), undefined);
  assert.equal(eaNameOfXattr("user.a\tb"), undefined);
  assert.equal(eaNameOfXattr("user."), undefined);
  assert.ok(isListableEaValue(1) && isListableEaValue(65536) && !isListableEaValue(0) && !isListableEaValue(65537));
  assert.ok(isValidEaName("Aname1") && !isValidEaName("bnameTwo*") && !isValidEaName("") && !isValidEaName("x".repeat(255)));
  for (const c of '"*+,/:;<=>?[\\]|') assert.ok(!isValidEaName(`a${c}b`), c);
});

test("setting: canonical spelling reused, statuses as Samba", () => {
  const existing = ["user.DOSATTRIB", "user.Aname1", "user.DosStream.ANAME1:$DATA", "user.other"];
  assert.equal(canonicalEaXattr(existing, "ANAME1"), "user.Aname1");
  assert.equal(canonicalEaXattr(existing, "aname1"), "user.Aname1");
  assert.equal(canonicalEaXattr(existing, "New"), "user.New");
  assert.equal(canonicalEaXattr(existing, "dosattrib"), "user.dosattrib", "private xattrs are not candidates");
  assert.equal(checkSetEa({ name: "bnameTwo*", value: u8("x") }), NtStatus.STATUS_INVALID_EA_NAME);
  assert.equal(checkSetEa({ name: "DOSATTRIB", value: u8("x") }), NtStatus.STATUS_ACCESS_DENIED);
  assert.equal(checkSetEa({ name: "DosStream.s:$DATA", value: u8("x") }), NtStatus.STATUS_INVALID_EA_NAME, "':' is invalid before it is private");
  assert.equal(checkSetEa({ name: "ok", value: new Uint8Array(65537) }), NtStatus.STATUS_EA_TOO_LARGE);
  assert.equal(checkSetEa({ name: "ok", value: new Uint8Array(0) }), NtStatus.STATUS_SUCCESS, "zero length = delete");
});

test("viofs's own xattrs (user.viofs:…) are private: never listed as EAs, never settable", () => {
  assert.equal(VIOFS_XATTR_PREFIX, "user.viofs:");
  for (const x of ["user.viofs:name", "user.viofs:eaflags", "user.viofs:s0000:big", "USER.VIOFS:NAME"]) {
    assert.equal(isPrivateXattr(x), true, x);
    assert.equal(eaNameOfXattr(x), undefined, x);
  }
  assert.equal(eaNameOfXattr("user.viofs.other"), "viofs.other", "only the `user.viofs:` prefix is ours");
  assert.equal(checkSetEa({ name: "viofs:name", value: new Uint8Array(1) }), NtStatus.STATUS_INVALID_EA_NAME);
});
