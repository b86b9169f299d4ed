import { test } from "node:test";
import assert from "node:assert/strict";
import { ProtocolError } from "../../src/common/errors.js";
import {
  DIR_INFO_HEADER_SIZE,
  DirInfoPacker,
  FILE_INFO_SIZE,
  VOLUME_INFO_SIZE,
  decodeDirectoryBuffer,
  decodeFileInfo,
  decodeVolumeInfo,
  dirInfoPackedSize,
  encodeDirInfo,
  encodeDirectoryChunk,
  encodeFileInfo,
  encodeStreamInfo,
  encodeVolumeInfo,
  streamInfoPackedSize,
} from "../../src/winfsp/fsctl.js";
import type { FileInfo } from "../../src/winfsp/interface.js";

const info: FileInfo = {
  fileAttributes: 0x20,
  reparseTag: 0xa000000c,
  allocationSize: 0x1000n,
  fileSize: 0x0fffn,
  creationTime: 0x0102030405060708n,
  lastAccessTime: 2n,
  lastWriteTime: 3n,
  changeTime: 4n,
  indexNumber: 0x1122334455667788n,
  hardLinks: 0,
  eaSize: 0x1234,
};

test("FSP_FSCTL_FILE_INFO is 72 bytes at the fsctl.h offsets", () => {
  const bytes = new Uint8Array(FILE_INFO_SIZE);
  const view = new DataView(bytes.buffer);
  encodeFileInfo(view, 0, info);
  assert.equal(view.getUint32(0, true), 0x20);
  assert.equal(view.getUint32(4, true), 0xa000000c);
  assert.equal(view.getBigUint64(8, true), 0x1000n);
  assert.equal(view.getBigUint64(16, true), 0xfffn);
  assert.deepEqual([...bytes.subarray(24, 32)], [8, 7, 6, 5, 4, 3, 2, 1]);
  assert.equal(view.getBigUint64(56, true), 0x1122334455667788n);
  assert.equal(view.getUint32(68, true), 0x1234);
  assert.deepEqual(decodeFileInfo(view, 0), info);
  assert.throws(() => decodeFileInfo(new DataView(new ArrayBuffer(71)), 0), ProtocolError);
});

test("FSP_FSCTL_VOLUME_INFO is 88 bytes with the label length in bytes; labels are cut at 32 units", () => {
  const bytes = encodeVolumeInfo({ totalSize: 10n, freeSize: 5n, volumeLabel: "MEMFS" });
  assert.equal(bytes.length, VOLUME_INFO_SIZE);
  const view = new DataView(bytes.buffer);
  assert.equal(view.getUint16(16, true), 10);
  assert.equal(view.getUint16(18, true), "M".charCodeAt(0));
  assert.deepEqual(decodeVolumeInfo(bytes), { totalSize: 10n, freeSize: 5n, volumeLabel: "MEMFS" });
  const long = decodeVolumeInfo(encodeVolumeInfo({ totalSize: 0n, freeSize: 0n, volumeLabel: "x".repeat(40) }));
  assert.equal(long.volumeLabel.length, 32);
  const bad = bytes.slice();
  new DataView(bad.buffer).setUint16(16, 66, true);
  assert.throws(() => decodeVolumeInfo(bad), ProtocolError);
});

test("FSP_FSCTL_DIR_INFO: Size = 104 + name bytes, entries 8-byte aligned, name at 104", () => {
  const entry = encodeDirInfo({ fileName: "abc", fileInfo: info });
  assert.equal(entry.length, 112);
  const view = new DataView(entry.buffer);
  assert.equal(view.getUint16(0, true), DIR_INFO_HEADER_SIZE + 6);
  assert.equal(view.getUint32(8, true), 0x20, "FileInfo at offset 8");
  assert.equal(view.getUint16(104, true), "a".charCodeAt(0));
  assert.equal(dirInfoPackedSize("abc"), 112);
  assert.equal(dirInfoPackedSize("abcd"), 112);
  assert.equal(dirInfoPackedSize(""), 104);
  const stream = encodeStreamInfo({ streamName: "s", streamSize: 7n, streamAllocationSize: 512n });
  assert.equal(new DataView(stream.buffer).getUint16(0, true), 26);
  assert.equal(stream.length, streamInfoPackedSize("s"));
  assert.equal(new DataView(stream.buffer).getBigUint64(8, true), 7n);
});

test("DirInfoPacker keeps AddDirInfo's accounting: refuses what does not fit, terminator needs 2 bytes", () => {
  const p = new DirInfoPacker(112 + 112 + 1);
  assert.equal(p.add({ fileName: "a", fileInfo: info }), true);
  assert.equal(p.add({ fileName: "b", fileInfo: info }), true);
  assert.equal(p.bytesTransferred, 224);
  assert.equal(p.add({ fileName: "c", fileInfo: info }), false);
  assert.equal(p.end(), false, "one byte left: no room for the terminator");
  assert.deepEqual(
    p.chunk().entries.map((e) => e.fileName),
    ["a", "b"],
  );
  assert.equal(p.chunk().endOfDirectory, false);
  const q = new DirInfoPacker(114);
  assert.equal(q.add({ fileName: "a", fileInfo: info }), true);
  assert.equal(q.end(), true);
  assert.equal(q.bytesTransferred, 114);
});

test("a packed listing decodes back, and hostile sizes are ProtocolErrors", () => {
  const chunk = { entries: [{ fileName: ".", fileInfo: info }, { fileName: "file0", fileInfo: info }], endOfDirectory: true };
  const bytes = encodeDirectoryChunk(chunk);
  assert.equal(bytes.length, 112 + 120 + 2);
  const back = decodeDirectoryBuffer(bytes);
  assert.equal(back.endOfDirectory, true);
  assert.deepEqual(
    back.entries.map((e) => [e.fileName, e.fileInfo]),
    chunk.entries.map((e) => [e.fileName, e.fileInfo]),
  );
  const short = bytes.slice();
  new DataView(short.buffer).setUint16(0, 50, true);
  assert.throws(() => decodeDirectoryBuffer(short), ProtocolError);
  const past = bytes.slice(0, 150);
  assert.throws(() => decodeDirectoryBuffer(past), ProtocolError);
  const odd = bytes.slice();
  new DataView(odd.buffer).setUint16(0, 105, true);
  assert.throws(() => decodeDirectoryBuffer(odd), ProtocolError);
  const cut = decodeDirectoryBuffer(bytes.slice(0, 112));
  assert.equal(cut.endOfDirectory, false, "no terminator: the listing goes on");
  assert.equal(cut.entries.length, 1);
});
