/**
 * Named streams past Samba's 65535 bytes: chunked into viofs's
 * `user.viofs:s<kkkk>:<name>` xattrs, switching form both ways as the
 * stream crosses the limit, listed once, removed and overwritten with the
 * file's streams. On tmpfs shares (ext4 without ea_inode has no room for
 * them: metadata.test.ts checks STATUS_DISK_FULL there). Both backends.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, openSync } from "node:fs";
import { fsetxattr } from "../../src/sys/fs.js";
import { CleanupFlag } from "../../src/winfsp/constants.js";
import { FACTORIES, closeFile, create, hostXattr, hostXattrNames, mount, ok, onTmpfs, open } from "./helpers.js";

/** Bytes whose value depends on their offset, so a misplaced chunk shows. */
function pattern(length: number, seed = 0): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + (i >> 16) * 7 + seed) & 0xff;
  return out;
}

for (const factory of FACTORIES) {
  describe(`service large streams on ${factory.name}`, () => {
    test("write past 65535 bytes: chunks of 64 KiB, no Samba xattr; read across chunks; shrink back to Samba's form; grow again", async (t) => {
      const m = await mount(t, onTmpfs(factory));
      const main = await create(m.fs, "\\f");
      const s = (await create(m.fs, "\\f:Big")).fileContext;
      const data = pattern(70000);
      const w = ok(await m.fs.write(s, data, 0n, false, false));
      assert.equal(w.bytesTransferred, 70000);
      assert.equal(w.fileInfo.fileSize, 70000n);
      const host = m.host("\\f");
      assert.equal(hostXattr(host, "user.DosStream.Big:$DATA"), undefined, "Samba's form is gone");
      assert.deepEqual(hostXattr(host, "user.viofs:s0000:Big"), Buffer.from(data.subarray(0, 65536)));
      assert.deepEqual(hostXattr(host, "user.viofs:s0001:Big"), Buffer.from(data.subarray(65536)));
      assert.deepEqual(ok(await m.fs.getStreamInfo(main.fileContext)), [
        { streamName: "", streamSize: 0n, streamAllocationSize: 0n },
        { streamName: "Big", streamSize: 70000n, streamAllocationSize: 73728n },
      ]);

      const other = await open(m.fs, "\\f:BIG");
      const buffer = new Uint8Array(1000);
      assert.equal(ok(await m.fs.read(other, buffer, 65000n)), 1000);
      assert.deepEqual(buffer, data.subarray(65000, 66000), "a read across the chunk boundary");
      const all = new Uint8Array(80000);
      assert.equal(ok(await m.fs.read(other, all, 0n)), 70000);
      assert.deepEqual(all.subarray(0, 70000), data);

      // A write past the end zero-fills; only the touched chunks change.
      ok(await m.fs.write(s, Buffer.from("end"), 200000n, false, false));
      assert.equal(ok(await m.fs.getFileInfo(s)).fileSize, 200003n);
      assert.deepEqual(hostXattr(host, "user.viofs:s0001:Big"), Buffer.concat([Buffer.from(data.subarray(65536)), Buffer.alloc(65536 - 4464)]));
      assert.deepEqual(hostXattr(host, "user.viofs:s0003:Big"), Buffer.concat([Buffer.alloc(200000 - 3 * 65536), Buffer.from("end")]));
      const appended = ok(await m.fs.write(s, Buffer.from("!"), 0n, true, false));
      assert.equal(appended.fileInfo.fileSize, 200004n, "write to end");

      // Shrink: back to Samba's form, chunks removed.
      ok(await m.fs.setFileSize(s, 100n, false));
      assert.deepEqual(hostXattr(host, "user.DosStream.Big:$DATA"), Buffer.concat([Buffer.from(data.subarray(0, 100)), Buffer.from([0])]));
      assert.deepEqual(hostXattrNames(host).filter((x) => x.startsWith("user.viofs:s")), []);
      // Grow by size alone: zero-extended chunks.
      ok(await m.fs.setFileSize(s, 65536n, false));
      assert.equal(hostXattr(host, "user.DosStream.Big:$DATA"), undefined);
      assert.deepEqual(hostXattr(host, "user.viofs:s0000:Big"), Buffer.concat([Buffer.from(data.subarray(0, 100)), Buffer.alloc(65436)]));
      ok(await m.fs.setFileSize(s, 65535n, false));
      assert.equal(hostXattr(host, "user.DosStream.Big:$DATA")?.length, 65536, "65535 bytes and the trailing NUL");

      await closeFile(m.fs, other);
      await closeFile(m.fs, s);
      await closeFile(m.fs, main.fileContext);
    });

    test("large streams are deleted, overwritten away and renamed with their file; a stale chunk beside Samba's form is ignored", async (t) => {
      const m = await mount(t, onTmpfs(factory));
      const main = await create(m.fs, "\\g");
      for (const name of ["one", "two"]) {
        const s = (await create(m.fs, `\\g:${name}`)).fileContext;
        ok(await m.fs.write(s, pattern(131073, name.length), 0n, false, false));
        await closeFile(m.fs, s);
      }
      const one = await open(m.fs, "\\g:one");
      await closeFile(m.fs, one, CleanupFlag.Delete, "\\g:one");
      assert.deepEqual(hostXattrNames(m.host("\\g")).filter((x) => x.startsWith("user.viofs:s")).sort(), ["user.viofs:s0000:two", "user.viofs:s0001:two", "user.viofs:s0002:two"]);

      ok(await m.fs.rename(main.fileContext, "\\g", "\\h", false));
      const moved = await open(m.fs, "\\h:two");
      const buffer = new Uint8Array(131073);
      assert.equal(ok(await m.fs.read(moved, buffer, 0n)), 131073);
      assert.deepEqual(buffer, pattern(131073, 3));
      await closeFile(m.fs, moved);

      ok(await m.fs.overwrite(main.fileContext, { fileAttributes: 0, replaceFileAttributes: false, allocationSize: 0n }));
      assert.deepEqual(hostXattrNames(m.host("\\h")).filter((x) => x.includes("DosStream") || x.startsWith("user.viofs:s")), [], "Overwrite removes streams of either form");

      const fd = openSync(m.host("\\h"), "r");
      fsetxattr(fd, "user.DosStream.both:$DATA", Buffer.from("small\0"));
      fsetxattr(fd, "user.viofs:s0000:both", Buffer.alloc(65536, 1));
      fsetxattr(fd, "user.viofs:s0001:both", Buffer.alloc(10, 1));
      closeSync(fd);
      m.fs.invalidateCaches();
      assert.deepEqual(ok(await m.fs.getStreamInfo(main.fileContext)).map((x) => [x.streamName, x.streamSize]), [["", 0n], ["both", 5n]]);
      const both = await open(m.fs, "\\h:both");
      ok(await m.fs.write(both, Buffer.from("x"), 0n, false, false));
      assert.deepEqual(hostXattrNames(m.host("\\h")).filter((x) => x.startsWith("user.viofs:s")), [], "a write in Samba's form clears stale chunks");
      await closeFile(m.fs, both);
      await closeFile(m.fs, main.fileContext);
    });
  });
}
