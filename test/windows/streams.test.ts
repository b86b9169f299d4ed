import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrnoError, ProtocolError } from "../../src/common/errors.js";
import { fgetxattr, flistxattr, fsetxattr } from "../../src/sys/fs.js";
import { NtStatus, ntStatusName } from "../../src/windows/ntstatus.js";
import {
  decodeStreamValue,
  encodeStreamValue,
  findStream,
  foldCase,
  listStreams,
  parseStreamSuffix,
  STREAM_MAX_SIZE,
  streamNameOfXattr,
  streamSetxattrStatus,
  streamSizeOfValue,
  streamWriteLimitStatus,
  streamXattrName,
  STREAM_CHUNK_SIZE,
  parseStreamChunkXattr,
  streamChunkXattrName,
} from "../../src/windows/streams.js";

function scratchFile(t: { after(fn: () => void): void }): number {
  const dir = mkdtempSync(join(tmpdir(), "viofs-streams-"));
  const fd = openSync(join(dir, "f"), "w+");
  t.after(() => {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });
  return fd;
}

test("stream names ↔ xattr names, as vfs_streams_xattr with store_stream_type", () => {
  assert.equal(streamXattrName("Zone.Identifier"), "user.DosStream.Zone.Identifier:$DATA");
  assert.equal(streamNameOfXattr("user.DosStream.Zone.Identifier:$DATA"), "Zone.Identifier");
  assert.equal(streamNameOfXattr("user.DosStream.legacy"), undefined, "no :$DATA: not a stream of this layout");
  assert.equal(streamNameOfXattr("user.DOSATTRIB"), undefined);
  assert.equal(streamNameOfXattr("user.DosStream.:$DATA"), undefined);
  assert.deepEqual(listStreams(["user.DOSATTRIB", "user.DosStream.a:$DATA", "security.NTACL", "user.DosStream.B b:$DATA"]), ["a", "B b"]);
  assert.throws(() => streamXattrName(""), ProtocolError.is);
  assert.throws(() => streamXattrName("a:b"), ProtocolError.is);
  assert.throws(() => streamXattrName("x".repeat(240)), ProtocolError.is, "xattr name over 255 bytes");
  assert.equal(parseStreamSuffix("foo"), "foo");
  assert.equal(parseStreamSuffix("foo:$DATA"), "foo");
  assert.equal(parseStreamSuffix("foo:$data"), "foo");
  assert.equal(parseStreamSuffix(":$DATA"), "", "the main stream");
  assert.equal(parseStreamSuffix(""), undefined);
  assert.equal(parseStreamSuffix("foo:"), undefined);
  assert.equal(parseStreamSuffix("foo:$OTHER"), undefined);
  assert.equal(parseStreamSuffix("foo:$DATA:"), undefined);
  assert.equal(parseStreamSuffix("a\\b"), undefined);
});

test("case-insensitive lookup: exact spelling first, then the first folded match", () => {
  const names = ["Zone.Identifier", "zone.identifier", "Ärger"];
  assert.equal(findStream(names, "zone.identifier"), "zone.identifier");
  assert.equal(findStream(names, "ZONE.IDENTIFIER"), "Zone.Identifier");
  assert.equal(findStream(names, "äRGER"), "Ärger");
  assert.equal(findStream(names, "other"), undefined);
  assert.equal(foldCase("straße"), "STRAßE", "no multi-character expansion");
});

test("values: data plus one trailing NUL; an empty stream is one byte", () => {
  assert.deepEqual(Buffer.from(encodeStreamValue(Buffer.from("streamdata\n"))), Buffer.from("streamdata\n\0"));
  assert.deepEqual(Buffer.from(encodeStreamValue(new Uint8Array(0))), Buffer.from([0]));
  assert.deepEqual(Buffer.from(decodeStreamValue(Buffer.from("hi\n\0"))), Buffer.from("hi\n"));
  assert.equal(decodeStreamValue(Buffer.from([0])).length, 0);
  assert.equal(decodeStreamValue(new Uint8Array(0)).length, 0, "a value Samba never writes still reads");
  assert.equal(streamSizeOfValue(12), 11);
  assert.equal(STREAM_MAX_SIZE, 65535);
  assert.throws(() => encodeStreamValue(new Uint8Array(65536)), ProtocolError.is);
  assert.equal(streamWriteLimitStatus(65535), NtStatus.STATUS_SUCCESS);
  assert.equal(streamWriteLimitStatus(65536n), NtStatus.STATUS_FILE_SYSTEM_LIMITATION);
});

test("a stream larger than the host's xattr room gets Samba's status (ext4: ENOSPC → DISK_FULL, E2BIG → FILE_SYSTEM_LIMITATION)", (t) => {
  const fd = scratchFile(t);
  const small = Buffer.from("[ZoneTransfer]\r\nZoneId=3\r\n");
  fsetxattr(fd, streamXattrName("Zone.Identifier"), encodeStreamValue(small));
  assert.deepEqual(Buffer.from(decodeStreamValue(fgetxattr(fd, streamXattrName("Zone.Identifier")))), small);
  assert.deepEqual(listStreams(flistxattr(fd)), ["Zone.Identifier"]);
  // 70000 bytes: over the VFS limit on any file system.
  let caught: unknown;
  try {
    fsetxattr(fd, streamXattrName("huge"), new Uint8Array(70001));
  } catch (e) {
    caught = e;
  }
  if (!ErrnoError.is(caught)) assert.fail(String(caught));
  assert.equal(caught.errnoName, "E2BIG");
  assert.equal(ntStatusName(streamSetxattrStatus(caught.errno)), "STATUS_FILE_SYSTEM_LIMITATION");
  // 60000 bytes: fits the VFS limit; ext4 without ea_inode (this machine) has about 4 KiB of room.
  try {
    fsetxattr(fd, streamXattrName("big"), encodeStreamValue(new Uint8Array(60000)));
    assert.equal(fgetxattr(fd, streamXattrName("big")).length, 60001, "a file system with room keeps it whole");
  } catch (e) {
    if (!ErrnoError.is(e) || e.errnoName !== "ENOSPC") assert.fail(String(e));
    assert.equal(ntStatusName(streamSetxattrStatus(e.errno)), "STATUS_DISK_FULL");
  }
});

test("large-stream chunks: user.viofs:s<kkkk>:<name>, parsed back, listed once after Samba's streams", () => {
  assert.equal(STREAM_CHUNK_SIZE, 65536);
  assert.equal(streamChunkXattrName("Zone.Identifier", 0), "user.viofs:s0000:Zone.Identifier");
  assert.equal(streamChunkXattrName("x", 0xabcd), "user.viofs:sabcd:x");
  assert.throws(() => streamChunkXattrName("x", 0x10000), ProtocolError.is);
  assert.throws(() => streamChunkXattrName("x", -1), ProtocolError.is);
  assert.deepEqual(parseStreamChunkXattr("user.viofs:s0002:we?rd"), { name: "we?rd", index: 2 });
  for (const other of ["user.viofs:s002:x", "user.viofs:sABCD:x", "user.viofs:s0000:", "user.viofs:s0000:a\\b", "user.viofs:name", "user.DosStream.x:$DATA"]) {
    assert.equal(parseStreamChunkXattr(other), undefined, other);
  }
  assert.deepEqual(
    listStreams(["user.viofs:s0001:big", "user.DosStream.small:$DATA", "user.viofs:s0000:big", "user.viofs:s0000:small", "user.DOSATTRIB"]),
    ["small", "big"],
    "chunk 0 names a large stream; a stream in both forms is listed once",
  );
});
