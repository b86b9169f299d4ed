import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ProtocolError, ProtocolErrorCode } from "../../src/common/errors.js";
import { NtStatus } from "../../src/windows/ntstatus.js";
import {
  canReplaceReparsePoint,
  checkReparseDelete,
  decodeReparseBuffer,
  devMajorMinor,
  encodeReparseBuffer,
  isMicrosoftTag,
  makeDev,
  mknodForNfsReparse,
  nfsReparseForStat,
  REPARSE_XATTR,
  ReparseTag,
  SYMLINK_FLAG_RELATIVE,
  symlinkReparseForTarget,
  validateReparseBuffer,
} from "../../src/windows/reparse.js";

const hex = (s: string): Buffer => Buffer.from(s.replace(/[\s|]+/g, ""), "hex");
const TEST_GUID = "895fc61e-7b91-4677-ba3e-7934edf2b743";

test("reparse_guid_test's buffer: tag 0x1234, GUID header, data foobar", () => {
  const buf = encodeReparseBuffer({ kind: "guid", tag: 0x1234, guid: TEST_GUID, data: Buffer.from("foobar") });
  assert.deepEqual(
    Buffer.from(buf),
    hex("34120000 0600 0000 | 1ec65f89 917b 7746 ba3e7934edf2b743 | 666f6f626172"),
  );
  assert.equal(buf.length, 30);
  assert.equal(validateReparseBuffer(buf), NtStatus.STATUS_SUCCESS);
  assert.deepEqual(decodeReparseBuffer(buf), { kind: "guid", tag: 0x1234, guid: TEST_GUID, data: new Uint8Array(Buffer.from("foobar")) });
  // DELETE with the bare 24-byte header and the same GUID.
  const del = encodeReparseBuffer({ kind: "guid", tag: 0x1234, guid: TEST_GUID, data: new Uint8Array(0) });
  assert.equal(del.length, 24);
  assert.equal(checkReparseDelete(buf, del), NtStatus.STATUS_SUCCESS);
  const otherGuid = encodeReparseBuffer({ kind: "guid", tag: 0x1234, guid: "00000000-0000-0000-0000-000000000001", data: new Uint8Array(0) });
  assert.equal(checkReparseDelete(buf, otherGuid), NtStatus.STATUS_REPARSE_ATTRIBUTE_CONFLICT);
  assert.equal(canReplaceReparsePoint(buf, otherGuid), NtStatus.STATUS_REPARSE_ATTRIBUTE_CONFLICT);
  assert.equal(canReplaceReparsePoint(buf, encodeReparseBuffer({ kind: "nfs", type: "fifo" })), NtStatus.STATUS_IO_REPARSE_TAG_MISMATCH);
  assert.equal(REPARSE_XATTR, "user.SmbReparse");
});

test("reparse_nfs_test's buffer: NFS CHR 0x42/0x62, mknod dev 0x4262 (Linux encoding)", () => {
  const buf = encodeReparseBuffer({ kind: "nfs", type: "chr", major: 0x42, minor: 0x62 });
  assert.deepEqual(Buffer.from(buf), hex("14000080 1000 0000 | 4348520000000000 42000000 62000000"));
  assert.deepEqual(decodeReparseBuffer(buf), { kind: "nfs", type: "chr", major: 0x42, minor: 0x62 });
  const node = mknodForNfsReparse({ kind: "nfs", type: "chr", major: 0x42, minor: 0x62 });
  assert.deepEqual(node, { fileType: 0o020000, rdev: 0x4262n });
  assert.deepEqual(devMajorMinor(0x4262n), { major: 0x42, minor: 0x62 });
  assert.deepEqual(nfsReparseForStat(0o020644, 0x4262), { kind: "nfs", type: "chr", major: 0x42, minor: 0x62 });
  assert.deepEqual(nfsReparseForStat(0o010644, 0), { kind: "nfs", type: "fifo" });
  assert.deepEqual(nfsReparseForStat(0o140755, 0), { kind: "nfs", type: "sock" });
  assert.equal(nfsReparseForStat(0o100644, 0), undefined);
  assert.deepEqual(Buffer.from(encodeReparseBuffer({ kind: "nfs", type: "fifo" })), hex("14000080 0800 0000 4649464f00000000"));
  assert.deepEqual(Buffer.from(encodeReparseBuffer({ kind: "nfs", type: "sock" })), hex("14000080 0800 0000 534f434b00000000"));
  const lnk = encodeReparseBuffer({ kind: "nfs", type: "lnk", target: "a/b" });
  assert.deepEqual(decodeReparseBuffer(lnk), { kind: "nfs", type: "lnk", target: "a/b" });
  assert.equal(mknodForNfsReparse({ kind: "nfs", type: "lnk", target: "x" }), undefined);
  // Large device numbers use the split encoding.
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), (major, minor) => {
      assert.deepEqual(devMajorMinor(makeDev(major, minor)), { major, minor });
    }),
  );
  assert.equal(makeDev(259, 0x12345), 0x12310345n);
  assert.equal(makeDev(0x1000, 0), 0x100000000000n);
});

test("symlink and mount-point buffers", () => {
  const link = { kind: "symlink" as const, substituteName: "..\\file0", printName: "..\\file0", flags: SYMLINK_FLAG_RELATIVE };
  const buf = encodeReparseBuffer(link);
  const sub = Buffer.from("..\\file0", "utf16le");
  assert.deepEqual(
    Buffer.from(buf),
    Buffer.concat([hex("0c0000a0"), Buffer.from([12 + 32, 0, 0, 0]), hex("0000 1000 1000 1000 01000000"), sub, sub]),
  );
  assert.deepEqual(decodeReparseBuffer(buf), link);
  assert.deepEqual(symlinkReparseForTarget("../a/b"), { kind: "symlink", substituteName: "..\\a\\b", printName: "..\\a\\b", flags: 1 });
  assert.equal(symlinkReparseForTarget("/abs").flags, 0);
  const mp = { kind: "mount-point" as const, substituteName: "\\??\\C:\\target", printName: "C:\\target" };
  const mbuf = encodeReparseBuffer(mp);
  assert.deepEqual(decodeReparseBuffer(mbuf), mp);
  const view = Buffer.from(mbuf);
  assert.equal(view.readUInt16LE(12), Buffer.byteLength("\\??\\C:\\target", "utf16le") + 2, "print name after the NUL-terminated substitute name");
  assert.equal(view.readUInt16LE(view.length - 2), 0, "print name NUL-terminated");
  // A Microsoft tag without a parser stays opaque.
  const raw = encodeReparseBuffer({ kind: "raw", tag: ReparseTag.IO_REPARSE_TAG_WOF, data: hex("01020304") });
  assert.deepEqual(decodeReparseBuffer(raw), { kind: "raw", tag: ReparseTag.IO_REPARSE_TAG_WOF, data: new Uint8Array([1, 2, 3, 4]) });
  assert.ok(isMicrosoftTag(ReparseTag.IO_REPARSE_TAG_SYMLINK) && !isMicrosoftTag(0x1234));
});

test("FSD validation statuses and hostile buffers", () => {
  assert.equal(validateReparseBuffer(new Uint8Array(0)), NtStatus.STATUS_INVALID_BUFFER_SIZE);
  assert.equal(validateReparseBuffer(new Uint8Array(7)), NtStatus.STATUS_IO_REPARSE_DATA_INVALID);
  assert.equal(validateReparseBuffer(hex("00000000 0000 0000")), NtStatus.STATUS_IO_REPARSE_TAG_INVALID);
  assert.equal(validateReparseBuffer(hex("01000000 0000 0000")), NtStatus.STATUS_IO_REPARSE_TAG_INVALID);
  assert.equal(validateReparseBuffer(hex("14000080 0900 0000 4649464f00000000")), NtStatus.STATUS_IO_REPARSE_DATA_INVALID);
  assert.equal(validateReparseBuffer(hex("34120000 0000 0000")), NtStatus.STATUS_IO_REPARSE_DATA_INVALID, "GUID tag with an 8-byte header");
  assert.equal(validateReparseBuffer(new Uint8Array(16385)), NtStatus.STATUS_IO_REPARSE_DATA_INVALID);
  assert.equal(checkReparseDelete(hex("14000080 0800 0000 4649464f00000000"), hex("14000080 0800 0000 4649464f00000000")), NtStatus.STATUS_IO_REPARSE_DATA_INVALID, "DELETE must be header-only");
  assert.equal(checkReparseDelete(hex("14000080 0800 0000 4649464f00000000"), hex("0c0000a0 0000 0000")), NtStatus.STATUS_IO_REPARSE_TAG_MISMATCH);
  const isProto = (code: string) => (e: unknown) => ProtocolError.is(e) && e.code === code;
  assert.throws(() => decodeReparseBuffer(hex("0c0000a0 0c00 0000 0000 2000 0000 0000 00000000")), isProto(ProtocolErrorCode.LENGTH), "name past the data");
  assert.throws(() => decodeReparseBuffer(hex("0c0000a0 0400 0000 00000000")), isProto(ProtocolErrorCode.SHORT));
  assert.throws(() => decodeReparseBuffer(hex("14000080 0800 0000 5858585800000000")), isProto(ProtocolErrorCode.VALUE), "unknown NFS type");
  assert.throws(() => decodeReparseBuffer(hex("14000080 0c00 0000 4649464f00000000 00000000")), isProto(ProtocolErrorCode.LONG));
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.constantFrom(0xa000000c, 0xa0000003, 0x80000014, 0x1234, 0x80000017), (data, tag) => {
      const b = Buffer.alloc(8 + data.length);
      b.writeUInt32LE(tag, 0);
      b.writeUInt16LE(Math.max(0, data.length - (isMicrosoftTag(tag) ? 0 : 16)), 4);
      Buffer.from(data).copy(b, 8);
      try {
        const p = decodeReparseBuffer(b);
        assert.deepEqual(decodeReparseBuffer(encodeReparseBuffer(p)), p);
      } catch (e) {
        assert.ok(ProtocolError.is(e), String(e));
      }
    }),
    { numRuns: 3000 },
  );
});
