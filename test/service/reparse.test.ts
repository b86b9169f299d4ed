/**
 * Reparse points through the service against both backends: symlinks as
 * real host symlinks (relative, volume-rooted, absolute, directory), NFS
 * special files as host FIFOs, sockets and devices, any other tag as the
 * raw buffer in `user.SmbReparse` with REPARSE_POINT in `user.DOSATTRIB`;
 * GetReparsePoint, SetReparsePoint, DeleteReparsePoint,
 * ResolveReparsePoints and the STATUS_REPARSE of GetSecurityByName.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { lstatSync, mkdirSync, readlinkSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { FileAttribute, decodeDosAttrib } from "../../src/windows/attributes.js";
import { NtStatus } from "../../src/windows/ntstatus.js";
import { ReparseTag, SYMLINK_FLAG_RELATIVE, decodeReparseBuffer, encodeReparseBuffer, type ReparsePoint } from "../../src/windows/reparse.js";
import { AccessMask } from "../../src/windows/security.js";
import { CreateDisposition, CreateOption } from "../../src/winfsp/constants.js";
import { FACTORIES, closeFile, create, createOptions, createRequest, fails, hostXattr, mount, ok, open, statusName } from "./helpers.js";

const A = FileAttribute;

const symlink = (substituteName: string, flags: number, printName = substituteName): Uint8Array =>
  encodeReparseBuffer({ kind: "symlink", substituteName, printName, flags });
const header = (tag: number): Uint8Array => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setUint32(0, tag, true);
  return b;
};
const decode = (b: Uint8Array): ReparsePoint => decodeReparseBuffer(b);

for (const factory of FACTORIES) {
  describe(`service over ${factory.name}: reparse points`, () => {
    test("symlinks: relative, volume-rooted, absolute and directory links are host symlinks, read back as set", async (t) => {
      const m = await mount(t, factory);
      mkdirSync(m.host("\\target"));
      writeFileSync(m.host("\\target\\file"), "payload");
      mkdirSync(m.host("\\sub"));

      const rel = await create(m.fs, "\\rel");
      ok(await m.fs.setReparsePoint(rel.fileContext, "\\rel", symlink("target\\file", SYMLINK_FLAG_RELATIVE)));
      assert.equal(readlinkSync(m.host("\\rel")), "target/file");
      let info = ok(await m.fs.getFileInfo(rel.fileContext));
      assert.equal(info.fileAttributes, A.FILE_ATTRIBUTE_REPARSE_POINT);
      assert.equal(info.reparseTag, ReparseTag.IO_REPARSE_TAG_SYMLINK);
      assert.equal(info.indexNumber, lstatSync(m.host("\\rel"), { bigint: true }).ino, "the context follows the new inode");
      assert.deepEqual(decode(ok(await m.fs.getReparsePoint(rel.fileContext, "\\rel"))), {
        kind: "symlink",
        substituteName: "target\\file",
        printName: "target\\file",
        flags: SYMLINK_FLAG_RELATIVE,
      });

      const dir = await create(m.fs, "\\dirlink", { directory: true });
      ok(await m.fs.setReparsePoint(dir.fileContext, "\\dirlink", symlink("target", SYMLINK_FLAG_RELATIVE)));
      assert.equal(readlinkSync(m.host("\\dirlink")), "target/", "a directory link keeps its kind in a trailing /");
      info = ok(await m.fs.getFileInfo(dir.fileContext));
      assert.equal(info.fileAttributes, A.FILE_ATTRIBUTE_REPARSE_POINT | A.FILE_ATTRIBUTE_DIRECTORY, "a link to a directory reads as one");
      assert.deepEqual(decode(ok(await m.fs.getReparsePoint(dir.fileContext, "\\dirlink"))), {
        kind: "symlink",
        substituteName: "target",
        printName: "target",
        flags: SYMLINK_FLAG_RELATIVE,
      });
      // A directory link stays one when its target is a file or missing (SYMBOLIC_LINK_FLAG_DIRECTORY).
      for (const [name, target] of [["\\dtofile", "target\\file"], ["\\dangling", "nowhere"]] as const) {
        const c = await create(m.fs, name, { directory: true });
        ok(await m.fs.setReparsePoint(c.fileContext, name, symlink(target, SYMLINK_FLAG_RELATIVE)));
        await closeFile(m.fs, c.fileContext);
        m.fs.invalidateCaches();
        const again = await open(m.fs, name, AccessMask.FILE_READ_ATTRIBUTES);
        assert.equal(ok(await m.fs.getFileInfo(again)).fileAttributes, A.FILE_ATTRIBUTE_REPARSE_POINT | A.FILE_ATTRIBUTE_DIRECTORY, name);
        await closeFile(m.fs, again);
      }
      assert.equal(m.fs.volumeParams.umNoReparsePointsDirCheck, true, "the FSD does not hold a link's kind against the open");

      const rooted = await create(m.fs, "\\sub\\rooted");
      ok(await m.fs.setReparsePoint(rooted.fileContext, "\\sub\\rooted", symlink("\\target\\file", SYMLINK_FLAG_RELATIVE)));
      assert.equal(readlinkSync(m.host("\\sub\\rooted")), `${m.backend.dir}/target/file`, "volume-rooted: absolute under the share's host path");
      assert.deepEqual(decode(ok(await m.fs.getReparsePoint(rooted.fileContext, "\\sub\\rooted"))), {
        kind: "symlink",
        substituteName: "\\target\\file",
        printName: "\\target\\file",
        flags: SYMLINK_FLAG_RELATIVE,
      });

      const abs = await create(m.fs, "\\abs");
      ok(await m.fs.setReparsePoint(abs.fileContext, "\\abs", symlink("\\??\\C:\\Windows", 0, "C:\\Windows")));
      assert.equal(readlinkSync(m.host("\\abs")), "/??/C:/Windows");
      assert.deepEqual(decode(ok(await m.fs.getReparsePoint(abs.fileContext, "\\abs"))), {
        kind: "symlink",
        substituteName: "\\??\\C:\\Windows",
        printName: "C:\\Windows",
        flags: 0,
      });

      // Replacing a link needs the same tag; its target may change.
      ok(await m.fs.setReparsePoint(rel.fileContext, "\\rel", symlink("..\\rel-elsewhere", SYMLINK_FLAG_RELATIVE)));
      assert.equal(readlinkSync(m.host("\\rel")), "../rel-elsewhere");
      const guid = encodeReparseBuffer({ kind: "guid", tag: 0x00001234, guid: "{01234567-89ab-cdef-0123-456789abcdef}", data: new Uint8Array([1]) });
      fails(await m.fs.setReparsePoint(rel.fileContext, "\\rel", guid), "STATUS_IO_REPARSE_TAG_MISMATCH");

      // A non-empty directory cannot become one.
      mkdirSync(m.host("\\full"));
      writeFileSync(m.host("\\full\\x"), "");
      const full = await open(m.fs, "\\full");
      fails(await m.fs.setReparsePoint(full, "\\full", symlink("target", SYMLINK_FLAG_RELATIVE)), "STATUS_DIRECTORY_NOT_EMPTY");
      await closeFile(m.fs, full);

      // DeleteReparsePoint: back to an empty file, or an empty directory for a directory link.
      fails(await m.fs.deleteReparsePoint(rel.fileContext, "\\rel", header(ReparseTag.IO_REPARSE_TAG_NFS)), "STATUS_IO_REPARSE_TAG_MISMATCH");
      ok(await m.fs.deleteReparsePoint(rel.fileContext, "\\rel", header(ReparseTag.IO_REPARSE_TAG_SYMLINK)));
      assert.ok(lstatSync(m.host("\\rel")).isFile());
      assert.equal(ok(await m.fs.getFileInfo(rel.fileContext)).fileAttributes, A.FILE_ATTRIBUTE_ARCHIVE);
      fails(await m.fs.getReparsePoint(rel.fileContext, "\\rel"), "STATUS_NOT_A_REPARSE_POINT");
      fails(await m.fs.deleteReparsePoint(rel.fileContext, "\\rel", header(ReparseTag.IO_REPARSE_TAG_SYMLINK)), "STATUS_NOT_A_REPARSE_POINT");
      ok(await m.fs.deleteReparsePoint(dir.fileContext, "\\dirlink", header(ReparseTag.IO_REPARSE_TAG_SYMLINK)));
      assert.ok(lstatSync(m.host("\\dirlink")).isDirectory());
      for (const c of [rel, dir, rooted, abs]) await closeFile(m.fs, c.fileContext);

      // CreateEx with a reparse buffer (the atomic-create ECP) makes the link at once.
      const made = ok(await m.fs.createEx(createRequest("\\atomic", { reparseData: symlink("target\\file", SYMLINK_FLAG_RELATIVE) })));
      assert.equal(readlinkSync(m.host("\\atomic")), "target/file");
      assert.equal(made.fileInfo.reparseTag, ReparseTag.IO_REPARSE_TAG_SYMLINK);
      await closeFile(m.fs, made.fileContext);
    });

    test("ResolveReparsePoints and GetSecurityByName follow host links; loops end in STATUS_REPARSE_POINT_NOT_RESOLVED", async (t) => {
      const m = await mount(t, factory);
      mkdirSync(m.host("\\real\\deep"), { recursive: true });
      writeFileSync(m.host("\\real\\deep\\f"), "x");
      symlinkSync("real", m.host("\\link"));
      symlinkSync("../real/deep", m.host("\\real\\up"));
      symlinkSync(`${m.backend.dir}/real`, m.host("\\rooted"));
      symlinkSync("/etc", m.host("\\outside"));
      symlinkSync("loop", m.host("\\loop"));
      symlinkSync("missing", m.host("\\dangling"));

      const byName = await m.fs.getSecurityByName("\\link\\deep\\f");
      assert.equal(statusName(byName.status), "STATUS_REPARSE");
      assert.ok(byName.ok && byName.value.reparse && byName.value.reparsePointIndex === 1);

      const resolved = await m.fs.resolveReparsePoints("\\link\\up\\f", 0, true);
      assert.equal(resolved.status, NtStatus.STATUS_REPARSE);
      const r = ok(resolved);
      assert.equal(r.information, ReparseTag.IO_REPARSE_TAG_SYMLINK);
      const p = decode(r.buffer);
      assert.ok(p.kind === "symlink");
      assert.equal(p.substituteName, "\\real\\deep\\f");
      assert.equal(p.flags, SYMLINK_FLAG_RELATIVE);

      const viaRoot = decode(ok(await m.fs.resolveReparsePoints("\\rooted\\deep\\f", 0, true)).buffer);
      assert.ok(viaRoot.kind === "symlink" && viaRoot.substituteName === "\\real\\deep\\f");
      const outside = decode(ok(await m.fs.resolveReparsePoints("\\outside\\passwd", 0, true)).buffer);
      assert.ok(outside.kind === "symlink" && outside.substituteName === "\\etc\\passwd" && outside.flags === 0, "absolute: handed to the I/O manager");
      fails(await m.fs.resolveReparsePoints("\\loop", 0, true), "STATUS_REPARSE_POINT_NOT_RESOLVED");
      const last = decode(ok(await m.fs.resolveReparsePoints("\\link", 0, false)).buffer);
      assert.ok(last.kind === "symlink" && last.substituteName === "\\link", "the last component is left alone when asked");

      const attrsOf = async (name: string): Promise<number> => {
        const c = await open(m.fs, name, AccessMask.FILE_READ_ATTRIBUTES);
        const a = ok(await m.fs.getFileInfo(c)).fileAttributes;
        await closeFile(m.fs, c);
        return a;
      };
      assert.equal(await attrsOf("\\link"), A.FILE_ATTRIBUTE_REPARSE_POINT | A.FILE_ATTRIBUTE_DIRECTORY);
      assert.equal(await attrsOf("\\real\\up"), A.FILE_ATTRIBUTE_REPARSE_POINT | A.FILE_ATTRIBUTE_DIRECTORY);
      assert.equal(await attrsOf("\\loop"), A.FILE_ATTRIBUTE_REPARSE_POINT);
      assert.equal(await attrsOf("\\dangling"), A.FILE_ATTRIBUTE_REPARSE_POINT);
      assert.equal(await attrsOf("\\outside"), A.FILE_ATTRIBUTE_REPARSE_POINT);
    });

    test("NFS reparse points are host FIFOs, sockets and devices; other tags are user.SmbReparse with REPARSE_POINT", async (t) => {
      const m = await mount(t, factory);
      const nfs = async (name: string, p: ReparsePoint): Promise<void> => {
        const c = await create(m.fs, name);
        ok(await m.fs.setReparsePoint(c.fileContext, name, encodeReparseBuffer(p)), name);
        const info = ok(await m.fs.getFileInfo(c.fileContext));
        assert.equal(info.fileAttributes, A.FILE_ATTRIBUTE_REPARSE_POINT);
        assert.equal(info.reparseTag, ReparseTag.IO_REPARSE_TAG_NFS);
        assert.deepEqual(decode(ok(await m.fs.getReparsePoint(c.fileContext, name))), p);
        await closeFile(m.fs, c.fileContext);
      };
      await nfs("\\fifo", { kind: "nfs", type: "fifo" });
      assert.ok(lstatSync(m.host("\\fifo")).isFIFO());
      await nfs("\\sock", { kind: "nfs", type: "sock" });
      assert.ok(lstatSync(m.host("\\sock")).isSocket());
      await nfs("\\null", { kind: "nfs", type: "chr", major: 1, minor: 3 });
      const st = lstatSync(m.host("\\null"));
      assert.ok(st.isCharacterDevice());
      assert.equal(st.rdev, (1 << 8) | 3);
      // An NFS symlink becomes a host symlink, which reads back as IO_REPARSE_TAG_SYMLINK (as Samba shows it).
      const lnk = await create(m.fs, "\\nfslink");
      ok(await m.fs.setReparsePoint(lnk.fileContext, "\\nfslink", encodeReparseBuffer({ kind: "nfs", type: "lnk", target: "fifo" })));
      assert.equal(readlinkSync(m.host("\\nfslink")), "fifo");
      assert.equal(ok(await m.fs.getFileInfo(lnk.fileContext)).reparseTag, ReparseTag.IO_REPARSE_TAG_SYMLINK);
      await closeFile(m.fs, lnk.fileContext);

      // A FIFO opened with data access gets no FUSE handle (an open would block).
      const fifo = await open(m.fs, "\\fifo");
      ok(await m.fs.getFileInfo(fifo));
      fails(await m.fs.read(fifo, new Uint8Array(4), 0n), "STATUS_INVALID_DEVICE_REQUEST");
      ok(await m.fs.deleteReparsePoint(fifo, "\\fifo", header(ReparseTag.IO_REPARSE_TAG_NFS)));
      assert.ok(lstatSync(m.host("\\fifo")).isFile());
      await closeFile(m.fs, fifo);

      const guid = "{01234567-89ab-cdef-0123-456789abcdef}";
      const tagged = encodeReparseBuffer({ kind: "guid", tag: 0x00001234, guid, data: new Uint8Array([9, 8, 7]) });
      const g = await create(m.fs, "\\guid");
      ok(await m.fs.setReparsePoint(g.fileContext, "\\guid", tagged));
      assert.deepEqual(hostXattr(m.host("\\guid"), "user.SmbReparse"), Buffer.from(tagged), "the buffer verbatim");
      assert.equal(decodeDosAttrib(hostXattr(m.host("\\guid"), "user.DOSATTRIB")!).attributes, A.FILE_ATTRIBUTE_REPARSE_POINT | A.FILE_ATTRIBUTE_ARCHIVE);
      let info = ok(await m.fs.getFileInfo(g.fileContext));
      assert.equal(info.fileAttributes, A.FILE_ATTRIBUTE_REPARSE_POINT | A.FILE_ATTRIBUTE_ARCHIVE);
      assert.equal(info.reparseTag, 0x00001234);
      assert.deepEqual(ok(await m.fs.getReparsePoint(g.fileContext, "\\guid")), tagged);
      const otherGuid = encodeReparseBuffer({ kind: "guid", tag: 0x00001234, guid: "{11111111-2222-3333-4444-555555555555}", data: new Uint8Array(0) });
      fails(await m.fs.setReparsePoint(g.fileContext, "\\guid", otherGuid), "STATUS_REPARSE_ATTRIBUTE_CONFLICT");
      fails(await m.fs.setReparsePoint(g.fileContext, "\\guid", symlink("x", SYMLINK_FLAG_RELATIVE)), "STATUS_IO_REPARSE_TAG_MISMATCH");
      // Attributes set later keep the reparse bit.
      info = ok(await m.fs.setBasicInfo(g.fileContext, { fileAttributes: A.FILE_ATTRIBUTE_HIDDEN, creationTime: 0n, lastAccessTime: 0n, lastWriteTime: 0n, changeTime: 0n }));
      assert.equal(info.fileAttributes, A.FILE_ATTRIBUTE_HIDDEN | A.FILE_ATTRIBUTE_REPARSE_POINT);
      const deleteBuffer = encodeReparseBuffer({ kind: "guid", tag: 0x00001234, guid, data: new Uint8Array(0) });
      ok(await m.fs.deleteReparsePoint(g.fileContext, "\\guid", deleteBuffer));
      assert.equal(hostXattr(m.host("\\guid"), "user.SmbReparse"), undefined);
      info = ok(await m.fs.getFileInfo(g.fileContext));
      assert.equal(info.fileAttributes, A.FILE_ATTRIBUTE_HIDDEN);
      assert.equal(info.reparseTag, 0);
      await closeFile(m.fs, g.fileContext);

      // A Microsoft tag on a directory (a junction): kept in user.SmbReparse too.
      const junction = encodeReparseBuffer({ kind: "mount-point", substituteName: "\\??\\C:\\x", printName: "C:\\x" });
      const d = ok(await m.fs.createEx(createRequest("\\junction", { createOptions: createOptions(CreateDisposition.FILE_CREATE, CreateOption.FILE_DIRECTORY_FILE) })));
      ok(await m.fs.setReparsePoint(d.fileContext, "\\junction", junction));
      assert.ok(statSync(m.host("\\junction")).isDirectory());
      info = ok(await m.fs.getFileInfo(d.fileContext));
      assert.equal(info.fileAttributes, A.FILE_ATTRIBUTE_DIRECTORY | A.FILE_ATTRIBUTE_REPARSE_POINT);
      assert.equal(info.reparseTag, ReparseTag.IO_REPARSE_TAG_MOUNT_POINT);
      await closeFile(m.fs, d.fileContext);
      mkdirSync(m.host("\\junction\\inside"));
      const through = await m.fs.getSecurityByName("\\junction\\inside");
      assert.ok(through.ok && !through.value.reparse, "a real directory still walks through (as MemoryFileSystem)");
      const res = ok(await m.fs.resolveReparsePoints("\\junction\\inside", 0, true));
      assert.equal(res.information, ReparseTag.IO_REPARSE_TAG_MOUNT_POINT, "the junction's buffer is handed back");
    });
  });
}
