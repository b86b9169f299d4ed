/**
 * MemoryFileSystem: security descriptors, reparse points (and their
 * resolution), extended attributes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { FileAttribute } from "../../src/windows/attributes.js";
import { FILE_NEED_EA } from "../../src/windows/ea.js";
import { ReparseTag, SYMLINK_FLAG_RELATIVE, decodeReparseBuffer, encodeReparseBuffer } from "../../src/windows/reparse.js";
import { formatSddl, parseSddl } from "../../src/windows/sddl.js";
import { SecurityInformation, decodeSecurityDescriptor, encodeSecurityDescriptor } from "../../src/windows/security.js";
import { CreateOption } from "../../src/winfsp/constants.js";
import type { ReparseResolution } from "../../src/winfsp/interface.js";
import { defaultRootSecurityDescriptor } from "../../src/winfsp/security-merge.js";
import { ascii, create, createRaw, fails, newFs, ok, open, openRaw, touch } from "./memfs-helpers.js";

const sd = (sddl: string): Uint8Array => encodeSecurityDescriptor(parseSddl(sddl));
const sddlOf = (bytes: Uint8Array, info = 0xf): string => formatSddl(decodeSecurityDescriptor(bytes), info);
const CREATOR = "O:BAG:SYD:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;WD)";

// ------------------------------------------------------------------ security

test("the root carries MEMFS's default descriptor", async () => {
  const { fs } = newFs();
  const root = ok(await fs.getSecurityByName("\\"));
  assert.equal(root.reparse, false);
  if (root.reparse) return;
  assert.equal(sddlOf(root.securityDescriptor!), "O:BAG:BAD:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FA;;;WD)");
  assert.deepEqual(root.securityDescriptor, defaultRootSecurityDescriptor());
  assert.equal(root.fileAttributes, FileAttribute.FILE_ATTRIBUTE_DIRECTORY);
});

test("a descriptor given at create is stored as given and returned by GetSecurityByName and GetSecurity", async () => {
  const { fs } = newFs();
  const given = sd(CREATOR);
  const ctx = await create(fs, "\\file0", { sd: given });
  const byName = ok(await fs.getSecurityByName("\\file0"));
  assert.ok(!byName.reparse);
  if (byName.reparse) return;
  assert.deepEqual(byName.securityDescriptor, given);
  assert.equal(byName.fileAttributes, FileAttribute.FILE_ATTRIBUTE_ARCHIVE);
  assert.deepEqual(ok(await fs.getSecurity(ctx)), given);
  assert.notEqual(ok(await fs.getSecurity(ctx)), given, "a copy, not the stored buffer");
  fails(await fs.getSecurityByName("\\nothing"), "STATUS_OBJECT_NAME_NOT_FOUND");
  fails(await fs.getSecurityByName("\\nothing\\x"), "STATUS_OBJECT_PATH_NOT_FOUND");
  fails(await fs.getSecurityByName("\\file0\\x"), "STATUS_NOT_A_DIRECTORY");
  const noSd = await create(fs, "\\bare");
  assert.equal(ok(await fs.getSecurity(noSd)).length, 0);
});

test("SetSecurity replaces only the parts asked for and maps generic rights (setsecurity_test)", async () => {
  const { fs } = newFs();
  const ctx = await create(fs, "\\file0", { sd: sd(CREATOR) });
  ok(await fs.setSecurity(ctx, SecurityInformation.DACL, sd("D:P(A;;GA;;;SY)(A;;GA;;;BA)")));
  const after = ok(await fs.getSecurity(ctx));
  assert.equal(sddlOf(after, SecurityInformation.OWNER | SecurityInformation.GROUP), "O:BAG:SY");
  assert.equal(sddlOf(after, SecurityInformation.DACL), "D:P(A;;FA;;;SY)(A;;FA;;;BA)");
  ok(await fs.setSecurity(ctx, SecurityInformation.OWNER, sd("O:SY")));
  assert.equal(sddlOf(ok(await fs.getSecurity(ctx))), "O:SYG:SYD:P(A;;FA;;;SY)(A;;FA;;;BA)");
  fails(await fs.setSecurity(ctx, SecurityInformation.DACL, Uint8Array.of(1, 0, 4)), "STATUS_INVALID_SECURITY_DESCR");
});

test("a stream answers and changes its main file's descriptor", async () => {
  const { fs } = newFs();
  await touch(fs, "\\file0", { sd: sd(CREATOR) });
  const s = await create(fs, "\\file0:foo", { sd: null });
  const byName = ok(await fs.getSecurityByName("\\file0:foo"));
  assert.ok(!byName.reparse && byName.securityDescriptor !== null);
  if (byName.reparse) return;
  assert.equal(sddlOf(byName.securityDescriptor!), CREATOR, "stored as given: generic rights are not mapped at create");
  ok(await fs.setSecurity(s, SecurityInformation.DACL, sd("D:P(A;;GA;;;SY)(A;;GA;;;BA)")));
  assert.equal(sddlOf(ok(await fs.getSecurity(await open(fs, "\\file0"))), SecurityInformation.DACL), "D:P(A;;FA;;;SY)(A;;FA;;;BA)");
});

// ------------------------------------------------------------ reparse points

const guidBuffer = (tag: number, guid: string, data: string): Uint8Array =>
  encodeReparseBuffer({ kind: "guid", tag, guid, data: ascii(data) });
const symlink = (target: string, relative: boolean): Uint8Array =>
  encodeReparseBuffer({ kind: "symlink", substituteName: target, printName: target, flags: relative ? SYMLINK_FLAG_RELATIVE : 0 });
const GUID = "895fc61e-7b91-4677-ba3e-7934edf2b743";

test("Set/Get/DeleteReparsePoint keep the buffer verbatim and its tag in the attributes (reparse_guid_test)", async () => {
  const { fs } = newFs();
  const ctx = await create(fs, "\\file0");
  fails(await fs.getReparsePoint(ctx, "\\file0"), "STATUS_NOT_A_REPARSE_POINT");
  const buffer = guidBuffer(0x1234, GUID, "foobar");
  assert.equal(buffer.length, 30);
  ok(await fs.setReparsePoint(ctx, "\\file0", buffer));
  const info = ok(await fs.getFileInfo(ctx));
  assert.equal(info.reparseTag, 0x1234);
  assert.equal(info.fileAttributes, FileAttribute.FILE_ATTRIBUTE_ARCHIVE | FileAttribute.FILE_ATTRIBUTE_REPARSE_POINT);
  assert.deepEqual(ok(await fs.getReparsePoint(ctx, "\\file0")), buffer);

  fails(await fs.setReparsePoint(ctx, "\\file0", guidBuffer(0x1235, GUID, "x")), "STATUS_IO_REPARSE_TAG_MISMATCH");
  fails(
    await fs.setReparsePoint(ctx, "\\file0", guidBuffer(0x1234, "00000000-7b91-4677-ba3e-7934edf2b743", "x")),
    "STATUS_REPARSE_ATTRIBUTE_CONFLICT",
  );
  ok(await fs.setReparsePoint(ctx, "\\file0", guidBuffer(0x1234, GUID, "replaced")));
  fails(await fs.deleteReparsePoint(ctx, "\\file0", guidBuffer(0x9999, GUID, "")), "STATUS_IO_REPARSE_TAG_MISMATCH");
  ok(await fs.deleteReparsePoint(ctx, "\\file0", guidBuffer(0x1234, GUID, "")));
  fails(await fs.getReparsePoint(ctx, "\\file0"), "STATUS_NOT_A_REPARSE_POINT");
  fails(await fs.deleteReparsePoint(ctx, "\\file0", guidBuffer(0x1234, GUID, "")), "STATUS_NOT_A_REPARSE_POINT");
  const after = ok(await fs.getFileInfo(ctx));
  assert.equal(after.reparseTag, 0);
  assert.equal(after.fileAttributes & FileAttribute.FILE_ATTRIBUTE_REPARSE_POINT, 0);
});

test("an NFS reparse point round-trips; a non-empty directory cannot become a reparse point", async () => {
  const { fs } = newFs();
  const ctx = await create(fs, "\\file0");
  const nfs = encodeReparseBuffer({ kind: "nfs", type: "chr", major: 0x42, minor: 0x62 });
  ok(await fs.setReparsePoint(ctx, "\\file0", nfs));
  assert.equal(ok(await fs.getFileInfo(ctx)).reparseTag, ReparseTag.IO_REPARSE_TAG_NFS);
  assert.deepEqual(decodeReparseBuffer(ok(await fs.getReparsePoint(ctx, "\\file0"))), { kind: "nfs", type: "chr", major: 0x42, minor: 0x62 });
  const dir = await create(fs, "\\d", { directory: true });
  await touch(fs, "\\d\\x");
  fails(await fs.setReparsePoint(dir, "\\d", symlink("\\file0", true)), "STATUS_DIRECTORY_NOT_EMPTY");
  const viaStream = await create(fs, "\\file0:s");
  assert.deepEqual(ok(await fs.getReparsePoint(viaStream, "\\file0:s")), nfs, "a stream answers its main file's");
});

test("CreateEx with a reparse buffer creates the file as that reparse point", async () => {
  const { fs } = newFs();
  const r = ok(await createRaw(fs, "\\link", { reparseData: symlink("target", true) }));
  assert.equal(r.fileInfo.reparseTag, ReparseTag.IO_REPARSE_TAG_SYMLINK);
  assert.ok((r.fileInfo.fileAttributes & FileAttribute.FILE_ATTRIBUTE_REPARSE_POINT) !== 0);
  fails(await createRaw(fs, "\\bad", { reparseData: Uint8Array.of(1, 2) }), "STATUS_IO_REPARSE_DATA_INVALID");
});

async function linkTree() {
  const { fs } = newFs();
  for (const d of ["\\1", "\\1\\1.1", "\\2"]) await touch(fs, d, { directory: true });
  for (const f of ["\\1\\1.2", "\\1\\1.3", "\\1\\1.1\\1.1.1", "\\2\\2.1"]) await touch(fs, f);
  const link = async (name: string, target: string, directory: boolean) => {
    const ctx = await create(fs, name, { directory });
    ok(await fs.setReparsePoint(ctx, name, symlink(target, true)));
    await fs.close(ctx);
  };
  await link("\\l0", "NON-EXISTANT", false);
  await link("\\loop", "loop", false);
  await link("\\lf", "\\1", false);
  await link("\\1\\1.1\\l1.1.1", "1.1.1", false);
  await link("\\ld", "\\1\\1.1\\1.1.1", true);
  await link("\\2\\l1", "..\\1\\.", true);
  await link("\\1\\l2", "..\\.\\2", true);
  await link("\\2\\a1", "\\1", true);
  await link("\\1\\a2", "\\2", true);
  return fs;
}

function resolved(r: ReparseResolution): string {
  assert.equal(r.information, ReparseTag.IO_REPARSE_TAG_SYMLINK);
  const p = decodeReparseBuffer(r.buffer);
  assert.equal(p.kind, "symlink");
  if (p.kind !== "symlink") return "";
  assert.equal(p.flags, SYMLINK_FLAG_RELATIVE);
  return p.substituteName;
}

test("GetSecurityByName answers STATUS_REPARSE with the index of a reparse point in the middle of a name", async () => {
  const fs = await linkTree();
  const r = await fs.getSecurityByName("\\2\\l1\\1.1\\l1.1.1");
  assert.equal(r.ok, true);
  assert.equal(r.status, 0x104);
  assert.deepEqual(r.ok && r.value, { reparse: true, reparsePointIndex: 3 });
  const last = ok(await fs.getSecurityByName("\\2\\l1"));
  assert.equal(last.reparse, false, "a reparse point as the last component is found as itself");
});

test("ResolveReparsePoints follows relative, dot-dot and absolute links inside the volume (reparse_symlink_relative_test)", async () => {
  const fs = await linkTree();
  const resolve = async (name: string) => {
    const r = await fs.resolveReparsePoints(name, 0, true);
    assert.equal(r.ok && r.status, 0x104, `${name} resolves with STATUS_REPARSE`);
    return resolved(ok(r));
  };
  assert.equal(await resolve("\\lf"), "\\1");
  assert.equal(await resolve("\\ld"), "\\1\\1.1\\1.1.1");
  for (const name of [
    "\\1\\1.1\\l1.1.1",
    "\\2\\l1\\1.1\\l1.1.1",
    "\\1\\l2\\l1\\1.1\\l1.1.1",
    "\\2\\a1\\1.1\\l1.1.1",
    "\\1\\a2\\l1\\1.1\\l1.1.1",
    "\\1\\a2\\a1\\1.1\\l1.1.1",
    "\\1\\a2\\a1\\l2\\l1\\1.1\\l1.1.1",
  ]) {
    assert.equal(await resolve(name), "\\1\\1.1\\1.1.1", name);
  }
  assert.equal(await resolve("\\l0"), "\\NON-EXISTANT", "a dangling link resolves to its target's name");
  fails(await fs.resolveReparsePoints("\\loop", 0, true), "STATUS_REPARSE_POINT_NOT_RESOLVED");
  const keepLast = ok(await fs.resolveReparsePoints("\\2\\l1\\1.1\\l1.1.1", 3, false));
  assert.equal(resolved(keepLast), "\\1\\1.1\\l1.1.1", "without ResolveLastPathComponent the last link stays");
  fails(await fs.resolveReparsePoints("\\missing\\x\\y", 0, true), "STATUS_OBJECT_NAME_NOT_FOUND");
});

test("ResolveReparsePoints hands absolute NT targets and other tags back to the caller", async () => {
  const { fs } = newFs();
  const abs = await create(fs, "\\abs", { directory: true });
  ok(await fs.setReparsePoint(abs, "\\abs", symlink("\\??\\C:\\Windows", false)));
  const r = ok(await fs.resolveReparsePoints("\\abs\\system32", 0, true));
  const p = decodeReparseBuffer(r.buffer);
  assert.ok(p.kind === "symlink" && p.flags === 0 && p.substituteName === "\\??\\C:\\Windows\\system32");

  const guid = await create(fs, "\\g");
  const buffer = guidBuffer(0x1234, GUID, "foobar");
  ok(await fs.setReparsePoint(guid, "\\g", buffer));
  const g = ok(await fs.resolveReparsePoints("\\g", 0, true));
  assert.equal(g.information, 0x1234);
  assert.deepEqual(g.buffer, buffer);

  const mp = await create(fs, "\\mp", { directory: true });
  ok(await fs.setReparsePoint(mp, "\\mp", encodeReparseBuffer({ kind: "mount-point", substituteName: "\\??\\D:\\", printName: "D:\\" })));
  const m = ok(await fs.resolveReparsePoints("\\mp\\dir\\file", 0, true));
  assert.equal(m.information, ReparseTag.IO_REPARSE_TAG_MOUNT_POINT);
  assert.equal(new DataView(m.buffer.buffer, m.buffer.byteOffset).getUint16(6, true), 2 * "\\dir\\file".length);
});

// ------------------------------------------------------------------- EAs

const EA = [
  { flags: 0, name: "Aname1", value: ascii("first") },
  { flags: FILE_NEED_EA, name: "bnameTwo", value: ascii("second") },
  { flags: 0, name: "Cn3", value: ascii("third") },
];
const EA2 = [
  { flags: 0, name: "Aname1", value: ascii("ValueForAname1") },
  { flags: 0, name: "bnameTwo", value: ascii("ValueForBNameTwo") },
  { flags: 0, name: "Cn3", value: new Uint8Array(0) },
  { flags: 0, name: "dn4", value: ascii("ValueForDn4") },
];
const packed = (eas: readonly { name: string; value: Uint8Array }[]): number =>
  eas.reduce((n, e) => n + (e.value.length === 0 ? 0 : 5 + e.name.length + e.value.length), 0);

test("EAs from CreateEx are stored with their flags; eaSize is the NTFS packed size", async () => {
  const { fs } = newFs();
  const r = ok(await createRaw(fs, "\\file2", { ea: EA }));
  assert.equal(r.fileInfo.eaSize, packed(EA));
  const got = ok(await fs.getEa(r.fileContext));
  assert.deepEqual(got.map((e) => [e.name, e.flags, Buffer.from(e.value).toString()]), [
    ["Aname1", 0, "first"],
    ["bnameTwo", FILE_NEED_EA, "second"],
    ["Cn3", 0, "third"],
  ]);
});

test("Open with FILE_NO_EA_KNOWLEDGE is ACCESS_DENIED when the main file has a FILE_NEED_EA EA (ea_create_test)", async () => {
  const { fs } = newFs();
  await touch(fs, "\\file2", { ea: EA });
  await touch(fs, "\\file2:s");
  await touch(fs, "\\plain", { ea: [EA[0]!] });
  fails(await openRaw(fs, "\\file2", CreateOption.FILE_NO_EA_KNOWLEDGE), "STATUS_ACCESS_DENIED");
  ok(await openRaw(fs, "\\file2"));
  ok(await openRaw(fs, "\\file2:s", CreateOption.FILE_NO_EA_KNOWLEDGE));
  ok(await openRaw(fs, "\\plain", CreateOption.FILE_NO_EA_KNOWLEDGE));
});

test("SetEa sets, replaces case-insensitively and deletes on an empty value (ea_getset_test)", async () => {
  const { fs } = newFs();
  const ctx = await create(fs, "\\dir1", { directory: true });
  assert.equal(ok(await fs.setEa(ctx, EA)).eaSize, packed(EA));
  const info = ok(await fs.setEa(ctx, EA2));
  const expected = [EA2[0]!, EA2[1]!, EA2[3]!];
  assert.equal(info.eaSize, packed(expected));
  assert.deepEqual(
    ok(await fs.getEa(ctx)).map((e) => [e.name, e.flags, Buffer.from(e.value).toString()]),
    expected.map((e) => [e.name, 0, Buffer.from(e.value).toString()]),
  );
  ok(await fs.setEa(ctx, [{ flags: 0, name: "ANAME1", value: ascii("x") }]));
  const names = ok(await fs.getEa(ctx)).map((e) => e.name);
  assert.deepEqual(names, ["ANAME1", "bnameTwo", "dn4"]);
  ok(await fs.setEa(ctx, [{ flags: 0, name: "nothing", value: new Uint8Array(0) }]));
  assert.equal(ok(await fs.getEa(ctx)).length, 3, "deleting a missing EA succeeds and changes nothing");
});

test("OverwriteEx replaces the whole EA set; a stream's EAs are its main file's (ea_overwrite_test)", async () => {
  const { fs } = newFs();
  const ctx = await create(fs, "\\file2");
  let info = ok(await fs.overwriteEx(ctx, { fileAttributes: 0, replaceFileAttributes: false, allocationSize: 0n, ea: EA }));
  assert.equal(info.eaSize, packed(EA));
  info = ok(await fs.overwriteEx(ctx, { fileAttributes: 0, replaceFileAttributes: false, allocationSize: 0n, ea: EA2 }));
  assert.deepEqual(ok(await fs.getEa(ctx)).map((e) => e.name), ["Aname1", "bnameTwo", "dn4"]);
  assert.equal(info.eaSize, packed([EA2[0]!, EA2[1]!, EA2[3]!]));
  info = ok(await fs.overwrite(ctx, { fileAttributes: 0, replaceFileAttributes: false, allocationSize: 0n }));
  assert.equal(info.eaSize, 0);
  assert.deepEqual(ok(await fs.getEa(ctx)), []);
  const s = await create(fs, "\\file2:s");
  ok(await fs.setEa(s, [EA[0]!]));
  assert.equal(ok(await fs.getFileInfo(ctx)).eaSize, packed([EA[0]!]));
  assert.equal(ok(await fs.getFileInfo(s)).eaSize, packed([EA[0]!]));
});
