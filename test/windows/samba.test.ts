/**
 * The Samba check at the codec level: a real smbd 4.x (vfs objects =
 * acl_xattr streams_xattr) shares a directory. What Samba writes there we
 * decode with our codecs; what our encoders write there Samba reports, through
 * smbclient and smbcacls, with the same attributes, creation time, ACL,
 * streams and EAs.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chownSync, closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrnoError } from "../../src/common/errors.js";
import { fgetxattr, flistxattr, fsetxattr } from "../../src/sys/fs.js";
import {
  calculatedCreateTime,
  decodeDosAttrib,
  DOSATTRIB_XATTR,
  effectiveDosAttributes,
  encodeDosAttrib,
  FileAttribute,
  SAMBA_417_VISIBLE_ATTRIBUTES,
} from "../../src/windows/attributes.js";
import { dateToFiletime, filetimeToDate } from "../../src/windows/filetime.js";
import { decodeNtAcl, defaultSecurityDescriptor, encodeNtAcl, NTACL_XATTR, NTACL_XATTR_USER } from "../../src/windows/ntacl.js";
import { formatSddl, parseSddl } from "../../src/windows/sddl.js";
import { ntStatusName } from "../../src/windows/ntstatus.js";
import {
  decodeStreamValue,
  encodeStreamValue,
  findStream,
  listStreams,
  streamSetxattrStatus,
  streamWriteLimitStatus,
  streamXattrName,
} from "../../src/windows/streams.js";
import { eaNameOfXattr, isListableEaValue } from "../../src/windows/ea.js";
import { SambaServer } from "../samba/harness.js";
import { scratchDir } from "../scratch.js";

const A = FileAttribute;
const CREATE_2010 = dateToFiletime(new Date("2010-01-01T00:00:00Z"));

let share: string;
let samba: SambaServer;

before(async () => {
  share = mkdtempSync(join(tmpdir(), "viofs-share-"));
  samba = await SambaServer.start(share);
});

after(async () => {
  await samba?.stop();
  if (share) rmSync(share, { recursive: true, force: true });
});

function withFd<T>(name: string, fn: (fd: number) => T): T {
  const fd = openSync(join(share, name), "r");
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
  }
}

function xattr(name: string, attr: string): Buffer {
  return withFd(name, (fd) => fgetxattr(fd, attr));
}

function setXattr(name: string, attr: string, value: Uint8Array): void {
  withFd(name, (fd) => fsetxattr(fd, attr, value));
}

/** Seconds, rounded to the nearest as Samba's nt_time_to_unix does for smbclient's display. */
function seconds(ft: bigint): number {
  return Number((ft + 5_000_000n) / 10_000_000n - 11_644_473_600n);
}

/** The SDDL both sides agree on: Samba's spelling parsed, then written the Windows way. */
function normalized(sddl: string): string {
  return formatSddl(parseSddl(sddl));
}

/** What Samba 4.17 shows of attributes we report: its mask, NORMAL when nothing is left. */
function sambaView(attributes: number): number {
  const v = attributes & SAMBA_417_VISIBLE_ATTRIBUTES;
  return v === 0 ? A.FILE_ATTRIBUTE_NORMAL : v;
}

function smbdMinor(): number {
  const m = /Version 4\.(\d+)/.exec(execFileSync("/usr/sbin/smbd", ["--version"], { encoding: "utf8" }));
  return m ? Number(m[1]) : 0;
}

describe("Samba writes, our codecs read", () => {
  test("DOS attributes set and cleared with setmode, creation time with utimes", async () => {
    await samba.put("sa.txt", Buffer.from("hello\n"));
    await samba.smbclient('mkdir "sd"; setmode "sa.txt" +rhs; setmode "sd" +h');
    const [file, dir] = await samba.allinfoMany(["sa.txt", "sd"]);
    const d = decodeDosAttrib(xattr("sa.txt", DOSATTRIB_XATTR));
    assert.ok(d.version === 5 || d.version === 4 || d.version === 3, `version ${d.version}`);
    assert.equal(d.attributes, A.FILE_ATTRIBUTE_READONLY | A.FILE_ATTRIBUTE_HIDDEN | A.FILE_ATTRIBUTE_SYSTEM | A.FILE_ATTRIBUTE_ARCHIVE);
    assert.equal(file!.attributes, 0x27);
    assert.equal(seconds(d.createTime!), file!.createTime.getTime() / 1000);
    const st = statSync(join(share, "sa.txt"), { bigint: true });
    assert.equal(effectiveDosAttributes("sa.txt", { mode: Number(st.mode), atimeNs: st.atimeNs, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs }, d).attributes, file!.attributes);
    const dd = decodeDosAttrib(xattr("sd", DOSATTRIB_XATTR));
    assert.equal(dd.attributes, A.FILE_ATTRIBUTE_HIDDEN | A.FILE_ATTRIBUTE_DIRECTORY, "Samba stores DIRECTORY too");
    assert.equal(dir!.attributes, 0x12);

    await samba.smbclient('setmode "sa.txt" -rs; utimes "sa.txt" 2010:01:01-00:00:00 -1 -1 -1');
    const cleared = decodeDosAttrib(xattr("sa.txt", DOSATTRIB_XATTR));
    assert.equal(cleared.attributes, A.FILE_ATTRIBUTE_HIDDEN | A.FILE_ATTRIBUTE_ARCHIVE);
    assert.equal(cleared.createTime, CREATE_2010);
    assert.equal((await samba.allinfo("sa.txt")).createTime.toISOString(), "2010-01-01T00:00:00.000Z");
  });

  test("streams: data + one NUL, names kept, opened case-insensitively, empty stream is one byte", async () => {
    await samba.put("st.txt", Buffer.from("main"));
    const zone = Buffer.from("[ZoneTransfer]\r\nZoneId=3\r\n");
    assert.equal((await samba.put("st.txt:Zone.Identifier", zone)).code, 0);
    assert.equal((await samba.put("st.txt:empty", Buffer.alloc(0))).code, 0);
    assert.deepEqual(xattr("st.txt", streamXattrName("Zone.Identifier")), Buffer.concat([zone, Buffer.from([0])]));
    assert.deepEqual(xattr("st.txt", streamXattrName("empty")), Buffer.from([0]));
    // Writing through another case reaches the same stream.
    const zone2 = Buffer.from("[ZoneTransfer]\r\nZoneId=4\r\n");
    await samba.put("st.txt:ZONE.IDENTIFIER", zone2);
    const names = withFd("st.txt", (fd) => listStreams(flistxattr(fd)));
    assert.deepEqual(names.sort(), ["Zone.Identifier", "empty"]);
    assert.equal(findStream(names, "zone.identifier"), "Zone.Identifier");
    assert.deepEqual(Buffer.from(decodeStreamValue(xattr("st.txt", streamXattrName("Zone.Identifier")))), zone2);
  });

  test("a stream too large for the host: Samba's NTSTATUS is ours", async () => {
    await samba.put("big.txt", Buffer.from("x"));
    const over = await samba.put("big.txt:huge", Buffer.alloc(70_000, 1));
    assert.match(over.stdout + over.stderr, new RegExp(ntStatusName(streamWriteLimitStatus(70_000)).replace("STATUS_", "NT_STATUS_")));
    // 5000 bytes: whatever this file system does with a direct setxattr, Samba reports the same.
    writeFileSync(join(share, "probe.txt"), "x");
    let expected = "";
    try {
      setXattr("probe.txt", streamXattrName("s"), encodeStreamValue(Buffer.alloc(5000, 2)));
    } catch (e) {
      if (!ErrnoError.is(e)) throw e;
      expected = ntStatusName(streamSetxattrStatus(e.errno)).replace("STATUS_", "NT_STATUS_");
    }
    const mid = await samba.put("big.txt:mid", Buffer.alloc(5000, 2));
    if (expected === "") assert.doesNotMatch(mid.stdout + mid.stderr, /NT_STATUS_/);
    else assert.match(mid.stdout + mid.stderr, new RegExp(expected));
  });

  test("an ACL set with smbcacls is a v3 NTACL (zero hash) we decode to the descriptor Samba serves", async () => {
    await samba.put("acl.txt", Buffer.from("x"));
    const sddl = "O:S-1-22-1-1000G:S-1-22-2-1001D:PAI(D;;0x000c0000;;;S-1-22-1-1002)(A;OICI;0x001f01ff;;;WD)(A;ID;0x001200a9;;;S-1-22-1-1000)(A;;0x00120089;;;BU)";
    await samba.setSddl("acl.txt", sddl);
    const nt = decodeNtAcl(xattr("acl.txt", NTACL_XATTR));
    assert.equal(nt.version, 3);
    assert.equal(nt.hashType, 1);
    assert.deepEqual(nt.hash, new Uint8Array(64));
    assert.equal(formatSddl(nt.sd), normalized(await samba.getSddl("acl.txt")));
    // smbcacls puts inherited ACEs last and does not send AI; the rest is as given.
    assert.equal(formatSddl(nt.sd), "O:S-1-22-1-1000G:S-1-22-2-1001D:P(D;;WDWO;;;S-1-22-1-1002)(A;OICI;FA;;;WD)(A;;FR;;;BU)(A;ID;0x1200a9;;;S-1-22-1-1000)");
  });

  test("without ignore system acls, in user.NTACL: Samba writes v4 (posix_acl hash), still serves our v1", async (t) => {
    const dir = scratchDir(t, "viofs-share-v4-");
    const second = await SambaServer.start(dir, {
      ignoreSystemAcls: false,
      shareOptions: [`acl_xattr:security_acl_name = ${NTACL_XATTR_USER}`],
    });
    const read = (name: string, attr: string): Buffer => {
      const fd = openSync(join(dir, name), "r");
      try {
        return fgetxattr(fd, attr);
      } finally {
        closeSync(fd);
      }
    };
    try {
      await second.put("v4.txt", Buffer.from("x"));
      chownSync(join(dir, "v4.txt"), 1000, 1001);
      await second.setSddl("v4.txt", "O:S-1-22-1-1000G:S-1-22-2-1001D:(A;;0x001f01ff;;;S-1-22-1-1000)(A;;0x001200a9;;;S-1-22-2-1001)(A;;0x001200a9;;;WD)");
      const nt = decodeNtAcl(read("v4.txt", NTACL_XATTR_USER));
      assert.throws(() => read("v4.txt", NTACL_XATTR), (e: unknown) => ErrnoError.is(e) && e.errnoName === "ENODATA");
      assert.equal(nt.version, 4);
      assert.equal(nt.description, "posix_acl");
      assert.equal(nt.hashType, 1);
      assert.equal(formatSddl(nt.sd), normalized(await second.getSddl("v4.txt")));
      // smbcacls sorts the ACEs it sends (Everyone first here).
      assert.equal(formatSddl(nt.sd), "O:S-1-22-1-1000G:S-1-22-2-1001D:(A;;0x1200a9;;;WD)(A;;FA;;;S-1-22-1-1000)(A;;0x1200a9;;;S-1-22-2-1001)");
      // v1 carries no hash, so Samba trusts it even when it checks hashes against the POSIX ACL.
      writeFileSync(join(dir, "v1.txt"), "x");
      const sddl = "O:S-1-22-1-1000G:S-1-22-2-1001D:P(A;;FA;;;S-1-22-1-1000)(D;;SD;;;WD)(A;OICI;FR;;;WD)";
      const fd = openSync(join(dir, "v1.txt"), "r");
      fsetxattr(fd, NTACL_XATTR_USER, encodeNtAcl(parseSddl(sddl)));
      closeSync(fd);
      assert.equal(normalized(await second.getSddl("v1.txt")), sddl);
    } finally {
      await second.stop();
    }
  });

  test("EAs set with setea are user.<NAME> xattrs; a name in another case reuses the stored spelling", async () => {
    await samba.put("ea.txt", Buffer.from("x"));
    await samba.smbclient('setea "ea.txt" MyEa hello; setea "ea.txt" MYEA again; setea "ea.txt" Second "v 2"');
    const eas = withFd("ea.txt", (fd) => flistxattr(fd).filter((x) => eaNameOfXattr(x) !== undefined));
    assert.deepEqual(eas.sort(), ["user.MyEa", "user.Second"]);
    assert.equal(xattr("ea.txt", "user.MyEa").toString(), "again");
    assert.equal(xattr("ea.txt", "user.Second").toString(), "v 2");
  });
});

describe("our encoders write, Samba reports the same", () => {
  test("DOSATTRIB v3 with a creation time, set and cleared bits, v5, the hex-only form", async () => {
    const cases: [string, Uint8Array, number][] = [
      ["rhsa.txt", encodeDosAttrib({ attributes: 0x27, createTime: CREATE_2010 }), 0x27],
      ["archive.txt", encodeDosAttrib({ attributes: A.FILE_ATTRIBUTE_ARCHIVE, createTime: CREATE_2010 }), 0x20],
      ["none.txt", encodeDosAttrib({ attributes: 0, createTime: CREATE_2010 }), A.FILE_ATTRIBUTE_NORMAL],
      ["v5.txt", encodeDosAttrib({ attributes: A.FILE_ATTRIBUTE_HIDDEN, createTime: CREATE_2010 }, 5), A.FILE_ATTRIBUTE_HIDDEN],
      ["wine.txt", Buffer.from("0x2"), A.FILE_ATTRIBUTE_HIDDEN],
    ];
    const extra =
      A.FILE_ATTRIBUTE_TEMPORARY | A.FILE_ATTRIBUTE_NOT_CONTENT_INDEXED | A.FILE_ATTRIBUTE_OFFLINE | A.FILE_ATTRIBUTE_SPARSE_FILE | A.FILE_ATTRIBUTE_READONLY;
    cases.push(["extra.txt", encodeDosAttrib({ attributes: extra, createTime: CREATE_2010 }), extra & SAMBA_417_VISIBLE_ATTRIBUTES]);
    for (const [name, value] of cases) {
      writeFileSync(join(share, name), "x");
      setXattr(name, DOSATTRIB_XATTR, value);
    }
    mkdirSync(join(share, "hdir"));
    setXattr("hdir", DOSATTRIB_XATTR, encodeDosAttrib({ attributes: A.FILE_ATTRIBUTE_HIDDEN | A.FILE_ATTRIBUTE_DIRECTORY, createTime: CREATE_2010 }));
    const infos = await samba.allinfoMany([...cases.map(([n]) => n), "hdir"]);
    cases.forEach(([name, value, shown], i) => {
      assert.equal(infos[i]!.attributes, shown, `${name}: Samba shows 0x${infos[i]!.attributes.toString(16)}`);
      const d = decodeDosAttrib(value);
      if (d.createTime !== undefined) assert.equal(infos[i]!.createTime.getTime(), filetimeToDate(d.createTime).getTime(), name);
      const st = statSync(join(share, name), { bigint: true });
      const ours = effectiveDosAttributes(name, { mode: Number(st.mode), atimeNs: st.atimeNs, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs }, d);
      assert.equal(sambaView(ours.attributes), shown, `${name}: we show what Samba shows (within its mask)`);
      assert.equal(seconds(ours.createTime), infos[i]!.createTime.getTime() / 1000, `${name}: creation time`);
    });
    assert.equal(infos[cases.length]!.attributeLetters, "HD");
    assert.equal(infos[cases.length]!.createTime.toISOString(), "2010-01-01T00:00:00.000Z");
  });

  test("no xattr: dot-files HIDDEN, NORMAL/DIRECTORY, creation time min(ctime, mtime, atime)", async () => {
    for (const name of [".dotfile", "plain.txt"]) writeFileSync(join(share, name), "x");
    mkdirSync(join(share, ".dotdir"));
    for (const name of [".dotfile", "plain.txt", ".dotdir"]) {
      utimesSync(join(share, name), new Date("2001-02-03T04:05:06Z"), new Date("2002-03-04T05:06:07Z"));
    }
    const infos = await samba.allinfoMany([".dotfile", "plain.txt", ".dotdir"]);
    for (const [i, name] of [".dotfile", "plain.txt", ".dotdir"].entries()) {
      const st = statSync(join(share, name), { bigint: true });
      const ours = effectiveDosAttributes(name, { mode: Number(st.mode), atimeNs: st.atimeNs, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs }, undefined);
      assert.equal(ours.attributes, infos[i]!.attributes, name);
      assert.equal(infos[i]!.createTime.toISOString(), "2001-02-03T04:05:06.000Z", name);
      assert.equal(seconds(ours.createTime), infos[i]!.createTime.getTime() / 1000, name);
      assert.equal(ours.createTime, calculatedCreateTime(st));
    }
    assert.deepEqual(infos.map((i) => i.attributes), [A.FILE_ATTRIBUTE_HIDDEN, A.FILE_ATTRIBUTE_NORMAL, A.FILE_ATTRIBUTE_HIDDEN | A.FILE_ATTRIBUTE_DIRECTORY]);
  });

  test("NTACL v1 is served exactly as set; Samba's own rewrite keeps it", async () => {
    const sddl = "O:S-1-22-1-1000G:S-1-22-2-1001D:PAI(D;;WDWO;;;S-1-22-1-1002)(A;OICI;FA;;;WD)(A;ID;0x1200a9;;;S-1-22-1-1000)(A;;FR;;;BU)(A;;GXGR;;;SY)";
    writeFileSync(join(share, "ours-acl.txt"), "x");
    setXattr("ours-acl.txt", NTACL_XATTR, encodeNtAcl(parseSddl(sddl)));
    assert.equal(normalized(await samba.getSddl("ours-acl.txt")), sddl);
    // Samba changes the DACL (writes v3); we read the owner and group we stored back.
    await samba.setSddl("ours-acl.txt", "D:P(A;;0x001f01ff;;;SY)");
    const nt = decodeNtAcl(xattr("ours-acl.txt", NTACL_XATTR));
    assert.equal(formatSddl(nt.sd), "O:S-1-22-1-1000G:S-1-22-2-1001D:P(A;;FA;;;SY)");
  });

  test("no NTACL: our default descriptor is what Samba serves", async () => {
    const files: [string, number, number, number][] = [
      ["m640.txt", 1000, 1001, 0o640],
      ["m606.txt", 1000, 1001, 0o606],
      ["m444.txt", 1234, 100, 0o444],
      ["m200.txt", 7, 8, 0o200],
    ];
    for (const [name, uid, gid, mode] of files) {
      writeFileSync(join(share, name), "x", { mode });
      chownSync(join(share, name), uid, gid);
      execFileSync("chmod", [mode.toString(8), join(share, name)]);
    }
    mkdirSync(join(share, "d755"), { mode: 0o755 });
    chownSync(join(share, "d755"), 1000, 1001);
    for (const [name] of [...files, ["d755"]]) {
      const st = statSync(join(share, name!));
      const ours = formatSddl(defaultSecurityDescriptor({ uid: st.uid, gid: st.gid, mode: st.mode }));
      assert.equal(normalized(await samba.getSddl(name!)), ours, name);
    }
  });

  test("streams written by us: listed with their sizes, read through SMB in any case", async () => {
    writeFileSync(join(share, "ours-st.txt"), "main data");
    const zone = Buffer.from("[ZoneTransfer]\r\nZoneId=3\r\nReferrerUrl=https://example.org/\r\n");
    setXattr("ours-st.txt", streamXattrName("Zone.Identifier"), encodeStreamValue(zone));
    setXattr("ours-st.txt", streamXattrName("Empty Stream"), encodeStreamValue(new Uint8Array(0)));
    const info = await samba.allinfo("ours-st.txt");
    assert.deepEqual(
      [...info.streams.entries()].sort(),
      [
        ["::$DATA", 9],
        [":Empty Stream:$DATA", 0],
        [":Zone.Identifier:$DATA", zone.length],
      ],
    );
    assert.deepEqual(await samba.get("ours-st.txt:Zone.Identifier"), zone);
    assert.deepEqual(await samba.get("ours-st.txt:ZONE.identifier"), zone);
    assert.equal((await samba.get("ours-st.txt:Empty Stream")).length, 0);
  });

  test("EAs written by us: listed by Samba exactly as our filter lists them", async () => {
    writeFileSync(join(share, "ours-ea.txt"), "x");
    const attrs: [string, Buffer][] = [
      ["user.Visible", Buffer.from("value")],
      ["user.Two", Buffer.from([0, 1, 2, 255])],
      ["user.Empty", Buffer.alloc(0)],
      ["user.bad*name", Buffer.from("x")],
      [DOSATTRIB_XATTR, Buffer.from(encodeDosAttrib({ attributes: 0x20, createTime: CREATE_2010 }))],
      [streamXattrName("s"), Buffer.from([0])],
      ["user.SmbReparse", Buffer.from("reparse")],
      ["user.NTACL", Buffer.from("acl")],
    ];
    for (const [name, value] of attrs) setXattr("ours-ea.txt", name, value);
    const listed = await samba.getEas("ours-ea.txt");
    const ours = attrs.filter(([name, value]) => eaNameOfXattr(name) !== undefined && isListableEaValue(value.length));
    const samba417Extra = smbdMinor() < 21 ? ["NTACL", "SmbReparse"] : ["NTACL"];
    assert.deepEqual(
      listed.map((e) => e.name).sort(),
      [...ours.map(([name]) => eaNameOfXattr(name)!), ...samba417Extra].sort(),
      "Samba lists our EAs, and also the two names only we treat as private",
    );
    for (const [name, value] of ours) {
      assert.deepEqual(Buffer.from(listed.find((e) => e.name === eaNameOfXattr(name))!.value), value, name);
    }
  });
});
