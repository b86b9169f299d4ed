import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ProtocolError, ProtocolErrorCode } from "../../src/common/errors.js";
import {
  calculatedCreateTime,
  decodeDosAttrib,
  DosInfoValid,
  effectiveDosAttributes,
  encodeDosAttrib,
  FileAttribute,
  isDotName,
} from "../../src/windows/attributes.js";
import {
  dateToFiletime,
  FILETIME_UNIX_EPOCH,
  filetimeToDate,
  filetimeToUnixNs,
  timespecToFiletime,
  unixNsToFiletime,
} from "../../src/windows/filetime.js";

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");
const A = FileAttribute;
const CREATE_2010 = dateToFiletime(new Date("2010-01-01T00:00:00Z"));

function protocolError(code: string) {
  return (e: unknown): boolean => ProtocolError.is(e) && e.code === code;
}

test("FILETIME: epoch, catalogue constants, nanosecond round trip", () => {
  assert.equal(FILETIME_UNIX_EPOCH, 116444736000000000n);
  assert.equal(unixNsToFiletime(0n), 116444736000000000n);
  // winfsp-tests: 116444736000000000 + 0x4200000042.
  assert.equal(unixNsToFiletime(0x4200000042n * 100n), 116445019467841602n);
  assert.equal(CREATE_2010, 0x01ca8a755c6e0000n);
  assert.equal(timespecToFiletime(1262304000, 123456789), CREATE_2010 + 1234567n);
  assert.equal(filetimeToUnixNs(CREATE_2010 + 1234567n), 1262304000123456700n);
  assert.equal(filetimeToDate(CREATE_2010).toISOString(), "2010-01-01T00:00:00.000Z");
  // Before 1970: truncation stays ordered.
  assert.equal(unixNsToFiletime(-1n), FILETIME_UNIX_EPOCH - 1n);
  assert.equal(unixNsToFiletime(-100n), FILETIME_UNIX_EPOCH - 1n);
  fc.assert(
    fc.property(fc.bigInt({ min: -(10n ** 19n), max: 10n ** 19n }), (ticks) => {
      assert.equal(unixNsToFiletime(filetimeToUnixNs(ticks)), ticks);
    }),
  );
});

test("DOSATTRIB v5 as smbd 4.17 writes it (reference vector) decodes", () => {
  const v = decodeDosAttrib(hex("00 00 05 00 05 00 00 00 11 00 00 00 26 00 00 00 bd 5c 7d 13 f9 7c dd 01"));
  assert.equal(v.version, 5);
  assert.equal(v.attributes, A.FILE_ATTRIBUTE_HIDDEN | A.FILE_ATTRIBUTE_SYSTEM | A.FILE_ATTRIBUTE_ARCHIVE);
  assert.equal(v.validFlags, DosInfoValid.ATTRIB | DosInfoValid.CREATE_TIME);
  assert.equal(v.createTime, 0x01dd7cf9137d5cbdn);
});

test("DOSATTRIB v3 encoding is the reference vector byte for byte", () => {
  const v3 = encodeDosAttrib({ attributes: 0x27, createTime: CREATE_2010 });
  assert.deepEqual(
    Buffer.from(v3),
    hex(
      "3078323700 00 0300 0300 0000 11000000 27000000 00000000 0000000000000000 0000000000000000 00006e5c758aca01 0000000000000000",
    ),
  );
  // 52 bytes for one hex digit, 56 for two to five (Samba's ndr_pack gave the same for 0x2, 0x20, 0x2026, 0x12345).
  assert.equal(encodeDosAttrib({ attributes: 0x2, createTime: 1n }).length, 52);
  assert.equal(encodeDosAttrib({ attributes: 0x20, createTime: 1n }).length, 56);
  assert.equal(encodeDosAttrib({ attributes: 0x2026, createTime: 1n }).length, 56);
  assert.equal(encodeDosAttrib({ attributes: 0x12345, createTime: 1n }).length, 56);
  assert.equal(Buffer.from(encodeDosAttrib({ attributes: 0x2026, createTime: 1n })).toString("latin1", 0, 7), "0x2026\0");
});

test("DOSATTRIB v5 encoding is what smbd 4.17 writes", () => {
  assert.deepEqual(
    Buffer.from(encodeDosAttrib({ attributes: 0x26, createTime: 0x01dd7cf9137d5cbdn }, 5)),
    hex("00 00 05 00 05 00 00 00 11 00 00 00 26 00 00 00 bd 5c 7d 13 f9 7c dd 01"),
  );
});

test("DOSATTRIB: every version and the hex-only forms", () => {
  // Hex-only, as Wine writes it (no NUL) and as Samba < 3.5 wrote it (with NUL).
  assert.deepEqual(decodeDosAttrib(Buffer.from("0x2")), { version: 0xffff, attributes: 2, createTime: undefined, validFlags: undefined });
  assert.equal(decodeDosAttrib(Buffer.from("0x22\0")).attributes, 0x22);
  assert.equal(decodeDosAttrib(Buffer.from("0X00000021")).attributes, 0x21);
  assert.equal(decodeDosAttrib(Buffer.from("27")).attributes, 0x27, "sscanf %x takes digits without the prefix");
  // v1: "0x20\0", pad, 1, 1, body with a non-zero create time (used without a flag).
  const v1 = hex("30783230 00 00 0100 0100 0000 20000000 00000000 0000000000000000 0000000000000000 00006e5c758aca01 0000000000000000");
  assert.deepEqual(decodeDosAttrib(v1), { version: 1, attributes: 0x20, createTime: CREATE_2010, validFlags: undefined });
  // v1 with a zero create time carries none.
  const v1zero = Buffer.from(v1);
  v1zero.fill(0, 36, 44);
  assert.equal(decodeDosAttrib(v1zero).createTime, undefined);
  // v2 (legacy): flags, attrib, …, a NUL-terminated name; its create time is never used.
  const v2 = hex(
    "3078323200 00 0200 0200 0000 00000000 22000000 00000000 0000000000000000 0000000000000000 00006e5c758aca01 0000000000000000 0000000000000000 666f6f00",
  );
  assert.deepEqual(decodeDosAttrib(v2), { version: 2, attributes: 0x22, createTime: undefined, validFlags: undefined });
  // v3 without CREATE_TIME in valid_flags: no create time.
  const v3 = Buffer.from(encodeDosAttrib({ attributes: 0x21, createTime: CREATE_2010 }));
  v3.writeUInt32LE(DosInfoValid.ATTRIB, 12);
  assert.equal(decodeDosAttrib(v3).createTime, undefined);
  // v4: "" NUL, pad, 4, 4, pad, valid, attrib, itime, create.
  const v4 = hex("00 00 0400 0400 0000 11000000 10000000 0100000000000000 00006e5c758aca01");
  assert.deepEqual(decodeDosAttrib(v4), { version: 4, attributes: 0x10, createTime: CREATE_2010, validFlags: 0x11 });
  // Trailing bytes are ignored, as Samba's ndr_pull_struct_blob does.
  assert.equal(decodeDosAttrib(Buffer.concat([v4, hex("deadbeef")])).attributes, 0x10);
});

test("DOSATTRIB: malformed values are ProtocolErrors", () => {
  assert.throws(() => decodeDosAttrib(new Uint8Array(0)), protocolError(ProtocolErrorCode.SHORT));
  assert.throws(() => decodeDosAttrib(Buffer.from("zz")), protocolError(ProtocolErrorCode.VALUE));
  assert.throws(() => decodeDosAttrib(Buffer.from("0x123456789")), protocolError(ProtocolErrorCode.VALUE));
  assert.throws(() => decodeDosAttrib(hex("00 00 0600 0600 0000 11000000")), protocolError(ProtocolErrorCode.VALUE), "version 6");
  assert.throws(() => decodeDosAttrib(hex("00 00 0500 0300 0000 11000000")), protocolError(ProtocolErrorCode.VALUE), "level ≠ version");
  assert.throws(() => decodeDosAttrib(hex("00 00 0500 0500 0000 11000000 26000000 bd5c7d13")), protocolError(ProtocolErrorCode.SHORT));
  assert.throws(() => decodeDosAttrib(hex("00 00 05")), protocolError(ProtocolErrorCode.SHORT));
  const v2 = hex(
    "3078323200 00 0200 0200 0000 00000000 22000000 00000000 0000000000000000 0000000000000000 0000000000000000 0000000000000000 0000000000000000 666f6f",
  );
  assert.throws(() => decodeDosAttrib(v2), protocolError(ProtocolErrorCode.STRING), "v2 name without NUL");
});

test("DOSATTRIB: random values only ever decode or raise ProtocolError; v3 and v5 round-trip", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
      try {
        decodeDosAttrib(bytes);
      } catch (e) {
        assert.ok(ProtocolError.is(e), String(e));
      }
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.bigInt({ min: 1n, max: 2n ** 64n - 1n }), fc.constantFrom(3 as const, 5 as const), (attributes, createTime, version) => {
      const d = decodeDosAttrib(encodeDosAttrib({ attributes, createTime }, version));
      assert.equal(d.version, version);
      assert.equal(d.attributes, attributes);
      assert.equal(d.createTime, createTime);
    }),
  );
});

test("defaults without the xattr follow Samba: NORMAL/DIRECTORY, dot-files HIDDEN, calculated create time", () => {
  const t = { atimeNs: 3_000_000_000n, mtimeNs: 2_000_000_000n, ctimeNs: 5_000_000_000n };
  const file = { ...t, mode: 0o100644 };
  const dir = { ...t, mode: 0o040755 };
  assert.deepEqual(effectiveDosAttributes("a.txt", file, undefined), {
    attributes: A.FILE_ATTRIBUTE_NORMAL,
    createTime: unixNsToFiletime(2_000_000_000n),
  });
  assert.equal(effectiveDosAttributes("d", dir, undefined).attributes, A.FILE_ATTRIBUTE_DIRECTORY);
  assert.equal(effectiveDosAttributes(".profile", file, undefined).attributes, A.FILE_ATTRIBUTE_HIDDEN);
  assert.equal(effectiveDosAttributes(".git", dir, undefined).attributes, A.FILE_ATTRIBUTE_HIDDEN | A.FILE_ATTRIBUTE_DIRECTORY);
  assert.equal(effectiveDosAttributes(".x", file, undefined, { hideDotFiles: false }).attributes, A.FILE_ATTRIBUTE_NORMAL);
  assert.equal(effectiveDosAttributes("..", dir, undefined).attributes, A.FILE_ATTRIBUTE_DIRECTORY);
  // Samba (store dos attributes = yes) does not derive READONLY from the mode; the option does.
  assert.equal(effectiveDosAttributes("ro", { ...t, mode: 0o100444 }, undefined).attributes, A.FILE_ATTRIBUTE_NORMAL);
  assert.equal(
    effectiveDosAttributes("ro", { ...t, mode: 0o100444 }, undefined, { readonlyFromMode: true }).attributes,
    A.FILE_ATTRIBUTE_READONLY,
  );
  assert.ok(isDotName(".a") && !isDotName(".") && !isDotName("..") && !isDotName("a.b"));
});

test("stored attributes: kept whole, DIRECTORY and NORMAL derived, create time from the xattr", () => {
  const t = { atimeNs: 3n, mtimeNs: 2n, ctimeNs: 5n, mode: 0o100644 };
  const stored = decodeDosAttrib(
    encodeDosAttrib({
      attributes: A.FILE_ATTRIBUTE_READONLY | A.FILE_ATTRIBUTE_TEMPORARY | A.FILE_ATTRIBUTE_NOT_CONTENT_INDEXED | A.FILE_ATTRIBUTE_OFFLINE | A.FILE_ATTRIBUTE_SPARSE_FILE | A.FILE_ATTRIBUTE_DIRECTORY,
      createTime: CREATE_2010,
    }),
  );
  assert.deepEqual(effectiveDosAttributes("f", t, stored), {
    attributes: A.FILE_ATTRIBUTE_READONLY | A.FILE_ATTRIBUTE_TEMPORARY | A.FILE_ATTRIBUTE_NOT_CONTENT_INDEXED | A.FILE_ATTRIBUTE_OFFLINE | A.FILE_ATTRIBUTE_SPARSE_FILE,
    createTime: CREATE_2010,
  });
  // Cleared bits stay cleared: ARCHIVE is never synthesised.
  const none = decodeDosAttrib(encodeDosAttrib({ attributes: 0, createTime: CREATE_2010 }));
  assert.equal(effectiveDosAttributes("f", t, none).attributes, A.FILE_ATTRIBUTE_NORMAL);
  assert.equal(effectiveDosAttributes("d", { ...t, mode: 0o040700 }, none).attributes, A.FILE_ATTRIBUTE_DIRECTORY);
  // A hex-only value has no create time: calculated.
  assert.equal(effectiveDosAttributes("f", t, decodeDosAttrib(Buffer.from("0x2"))).createTime, unixNsToFiletime(2n));
});

test("calculated create time: min(ctime, mtime, atime), min(ctime, mtime) when that is zero", () => {
  assert.equal(calculatedCreateTime({ atimeNs: 7n, mtimeNs: 9n, ctimeNs: 8n }), unixNsToFiletime(7n));
  assert.equal(calculatedCreateTime({ atimeNs: 0n, mtimeNs: 9n, ctimeNs: 8n }), unixNsToFiletime(8n));
  assert.equal(calculatedCreateTime({ atimeNs: 10n, mtimeNs: 9n, ctimeNs: 8n }), unixNsToFiletime(8n));
});
