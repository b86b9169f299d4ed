/**
 * The service's pure parts: Windows path parsing, the Windows ↔ host name
 * mapping and its limits, symlink target mapping, and the errno → NTSTATUS
 * boundary that names unknown errnos in the log.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ErrnoError, ProtocolError, ProtocolErrorCode } from "../../src/common/errors.js";
import { Errno } from "../../src/common/errno.js";
import { Logger } from "../../src/common/log.js";
import { CaseIndex } from "../../src/service/case-index.js";
import { decodeEaFlags, encodeEaFlags } from "../../src/service/ea-store.js";
import { createHash } from "node:crypto";
import {
  foldName,
  hostNameOf,
  isLongHostName,
  joinWindowsPath,
  longHostName,
  longNameFromXattr,
  longNameValue,
  mayCreateName,
  parseWindowsPath,
  windowsNameOf,
} from "../../src/service/names.js";
import { hostSymlinkTarget, isDirectoryLinkTarget, windowsSymlinkOf } from "../../src/service/reparse-store.js";
import { statusOfError } from "../../src/service/status.js";
import { NtStatus } from "../../src/windows/ntstatus.js";
import { SYMLINK_FLAG_RELATIVE } from "../../src/windows/reparse.js";
import { statusName } from "./helpers.js";

test("parseWindowsPath: components, streams, :$DATA, and what is not a name", () => {
  assert.deepEqual(parseWindowsPath("\\"), { ok: true, status: 0, value: { components: [], stream: null } });
  const parts = (name: string) => {
    const r = parseWindowsPath(name);
    return r.ok ? r.value : statusName(r.status);
  };
  assert.deepEqual(parts("\\a\\b c\\d.txt"), { components: ["a", "b c", "d.txt"], stream: null });
  assert.deepEqual(parts("\\f:s"), { components: ["f"], stream: "s" });
  assert.deepEqual(parts("\\f:s:$DATA"), { components: ["f"], stream: "s" });
  assert.deepEqual(parts("\\f:s:$data"), { components: ["f"], stream: "s" });
  assert.deepEqual(parts("\\f::$DATA"), { components: ["f"], stream: null });
  assert.deepEqual(parts("\\f:we?rd*"), { components: ["f"], stream: "we?rd*" });
  for (const bad of ["", "a", "\\a\\\\b", "\\a\\", "\\a:s\\b", "\\f:s:$INDEX", "\\f:", "\\a*b", "\\a?", "\\a|b", "\\a<b", "\\a>b", '\\a"b', "\\a\u0001b", "\\.", "\\a\\..", `\\${"x".repeat(256)}`]) {
    assert.equal(parts(bad), "STATUS_OBJECT_NAME_INVALID", JSON.stringify(bad));
  }
  assert.deepEqual(parts(`\\${"x".repeat(255)}`), { components: ["x".repeat(255)], stream: null });
  assert.equal(joinWindowsPath([]), "\\");
  assert.equal(joinWindowsPath(["a", "b"], "s"), "\\a\\b:s");
});

/** RFC 4648 base32 of the first 20 bytes of SHA-256, written out bit by bit (an independent check of the encoder). */
function base32Reference(text: string): string {
  const digest = createHash("sha256").update(text, "utf8").digest().subarray(0, 20);
  const bits = [...digest].map((b) => b.toString(2).padStart(8, "0")).join("");
  let out = "";
  for (let i = 0; i < bits.length; i += 5) out += "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[parseInt(bits.slice(i, i + 5), 2)];
  return out;
}

test("hostNameOf / windowsNameOf: UTF-8 within 255 bytes, forbidden characters through U+F000+c, invalid UTF-8 unspellable", () => {
  const host = (name: string) => {
    const r = hostNameOf(name);
    return r.ok ? r.value : statusName(r.status);
  };
  assert.equal(host("plain.txt"), "plain.txt");
  assert.equal(host("é".repeat(127)), "é".repeat(127), "254 bytes fit");
  assert.equal(host("€".repeat(85)), "€".repeat(85));
  assert.equal(host("😀".repeat(63)), "😀".repeat(63), "a surrogate pair is 4 bytes");
  // Over 255 bytes: a long name's host name, a whole-character prefix of at most 216 bytes, the marker, 32 base32 characters.
  for (const [name, prefix] of [["é".repeat(128), "é".repeat(108)], ["€".repeat(86), "€".repeat(72)], ["😀".repeat(64), "😀".repeat(54)]] as const) {
    const h = host(name);
    assert.match(h, /^(.*):viofs-[A-Z2-7]{32}$/u, name);
    assert.equal(h.slice(0, h.length - 39), prefix, "the prefix ends on a character boundary");
    assert.ok(Buffer.byteLength(h, "utf8") <= 255);
    assert.ok(isLongHostName(h));
    assert.equal(h, longHostName(name), "deterministic");
    assert.deepEqual(longNameValue(name), new Uint8Array(Buffer.from(name, "utf8")));
    assert.equal(longNameFromXattr(h, Buffer.from(name, "utf8")), name);
    assert.equal(longNameFromXattr(h, Buffer.from(name + "x", "utf8")), undefined, "a value that does not hash to the name is not taken");
    assert.equal(longNameFromXattr(h, undefined), undefined);
  }
  assert.notEqual(host("a".repeat(300)), host(`${"a".repeat(299)}A`), "names that differ only in case get different host names");
  // The hash part: base32 of the first 20 bytes of SHA-256 over the UTF-8 of the full name.
  assert.equal(longHostName("a".repeat(300)).slice(-32), base32Reference("a".repeat(300)));
  assert.equal(longNameValue("short"), null);
  const lookalike = `x\uf03aviofs-${"A".repeat(32)}`;
  assert.equal(host(lookalike), `x:viofs-${"A".repeat(32)}`, "an ordinary name that looks long still opens what it names");
  assert.equal(mayCreateName(lookalike, host(lookalike)), false, "but no new file gets it");
  assert.equal(mayCreateName("é".repeat(128), host("é".repeat(128))), true);
  assert.equal(host("a\ud800b"), "STATUS_OBJECT_NAME_INVALID");
  assert.equal(host("a\udc00"), "STATUS_OBJECT_NAME_INVALID");
  assert.equal(host("a\uf03ab\uf02a\uf03f\uf05c"), "a:b*?\\");
  assert.equal(host("a\uf02f"), "STATUS_OBJECT_NAME_INVALID", "no host spelling for /");
  assert.equal(host("\uf000"), "STATUS_OBJECT_NAME_INVALID", "nor for NUL");
  assert.equal(host("\uf041"), "\uf041", "private-use characters that do not stand for a forbidden one pass");

  assert.equal(windowsNameOf(Buffer.from("a:b*?\\|<>\"\u0001")), "a\uf03ab\uf02a\uf03f\uf05c\uf07c\uf03c\uf03e\uf022\uf001");
  assert.equal(windowsNameOf(Buffer.from([0x66, 0xff])), undefined);
  assert.equal(windowsNameOf(Buffer.from("..")), undefined);
  assert.equal(windowsNameOf("Ünïcode"), "Ünïcode");
  for (const name of ["a:b", "x?y", "tab\there"]) assert.equal(host(windowsNameOf(name)!), name, `${name} round trip`);
});

test("foldName and CaseIndex: simple upper case, exact spelling first, then the first variant", () => {
  assert.equal(foldName("straße.txt"), "STRAßE.TXT", "no special casing: the length never changes");
  assert.equal(foldName("ǅ"), "Ǆ");
  const index = new CaseIndex("s", ["File", "FILE", "other"]);
  assert.equal(index.find("file"), "File");
  assert.equal(index.find("FILE"), "FILE");
  assert.equal(index.find("nope"), undefined);
  index.remove("File");
  assert.equal(index.find("file"), "FILE");
  index.add("file");
  assert.equal(index.find("file"), "file");
  assert.equal(index.size, 2);
});

test("symlink targets: relative, volume-rooted (with and without the host root), absolute NT paths, both ways", () => {
  const target = (name: string, flags: number, link: string[], root?: string) => {
    const r = hostSymlinkTarget(name, flags, link, root);
    return r.ok ? r.value : statusName(r.status);
  };
  const R = SYMLINK_FLAG_RELATIVE;
  assert.equal(target("..\\dir\\file", R, ["a", "link"]), "../dir/file");
  assert.equal(target("x\uf03ay", R, ["link"]), "x:y");
  assert.equal(target("\\dir\\file", R, ["a", "b", "link"], "/srv/share/"), "/srv/share/dir/file");
  assert.equal(target("\\dir\\file", R, ["a", "b", "link"]), "../../dir/file", "without the host root: the same place, relative");
  assert.equal(target("\\", R, ["link"]), ".");
  assert.equal(target("\\??\\C:\\Windows", 0, ["link"]), "/??/C:/Windows");
  assert.equal(target("", R, ["link"]), "STATUS_IO_REPARSE_DATA_INVALID");
  const dirTarget = hostSymlinkTarget("..\\dir", R, ["a", "link"], undefined, true);
  assert.ok(dirTarget.ok && dirTarget.value === "../dir/", "a directory link is marked with a trailing /");
  const rootTarget = hostSymlinkTarget("\\", R, ["link"], undefined, true);
  assert.ok(rootTarget.ok && rootTarget.value === "./");
  assert.equal(target("a\\b\uf02f", R, ["link"]), "STATUS_IO_REPARSE_DATA_INVALID");

  assert.deepEqual(windowsSymlinkOf("../dir/file", "/srv/share"), { kind: "symlink", substituteName: "..\\dir\\file", printName: "..\\dir\\file", flags: R });
  assert.deepEqual(windowsSymlinkOf("/srv/share/dir/a:b", "/srv/share"), { kind: "symlink", substituteName: "\\dir\\a\uf03ab", printName: "\\dir\\a\uf03ab", flags: R });
  assert.deepEqual(windowsSymlinkOf("/srv/shared/x", "/srv/share"), { kind: "symlink", substituteName: "\\srv\\shared\\x", printName: "\\srv\\shared\\x", flags: 0 });
  assert.deepEqual(windowsSymlinkOf("/??/C:/Windows", undefined), { kind: "symlink", substituteName: "\\??\\C:\\Windows", printName: "C:\\Windows", flags: 0 });
  assert.deepEqual(windowsSymlinkOf("../dir//", undefined), { kind: "symlink", substituteName: "..\\dir", printName: "..\\dir", flags: R }, "the mark is not part of the name");
  assert.deepEqual(windowsSymlinkOf("/", undefined), { kind: "symlink", substituteName: "\\", printName: "\\", flags: 0 });
  assert.ok(isDirectoryLinkTarget("x/") && !isDirectoryLinkTarget("x") && !isDirectoryLinkTarget("/"));
});

test("statusOfError: errnos by their context, unknown ones named in the log; non-errno errors propagate", () => {
  const lines: string[] = [];
  const log = new Logger("test");
  log.setSink((_level, line) => lines.push(line));
  assert.equal(statusOfError(new ErrnoError(Errno.ENOENT, "FUSE_LOOKUP", "x"), log), NtStatus.STATUS_OBJECT_NAME_NOT_FOUND);
  assert.equal(statusOfError(new ErrnoError(Errno.ENOTDIR, "FUSE_LOOKUP"), log, "lookup"), NtStatus.STATUS_OBJECT_PATH_NOT_FOUND);
  assert.equal(statusOfError(new ErrnoError(Errno.ENOSPC, "FUSE_WRITE"), log), NtStatus.STATUS_DISK_FULL);
  assert.equal(statusOfError(new ErrnoError(Errno.E2BIG, "FUSE_SETXATTR"), log, "stream-write"), NtStatus.STATUS_FILE_SYSTEM_LIMITATION);
  assert.deepEqual(lines, []);
  assert.equal(statusOfError(new ErrnoError(Errno.ECHRNG, "FUSE_OPEN", "f"), log), NtStatus.STATUS_UNSUCCESSFUL);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /ECHRNG/);
  assert.match(lines[0]!, /FUSE_OPEN "f"/);
  assert.throws(() => statusOfError(new ProtocolError(ProtocolErrorCode.SHORT, "bug"), log), ProtocolError);
});

test("EA flags sidecar: u8 flags, u8 length, name; malformed values are refused; flags 0 are not stored", () => {
  const value = encodeEaFlags([["Alpha", 0x80], ["beta", 0], ["Gamma", 0x80]]);
  assert.deepEqual(Buffer.from(value), Buffer.from([0x80, 5, ...Buffer.from("Alpha"), 0x80, 5, ...Buffer.from("Gamma")]));
  assert.deepEqual(decodeEaFlags(value), new Map([["ALPHA", 0x80], ["GAMMA", 0x80]]), "keys folded");
  assert.deepEqual(decodeEaFlags(new Uint8Array(0)), new Map());
  for (const bad of [[0x80], [0x80, 0], [0x80, 3, 0x41, 0x42]]) assert.equal(decodeEaFlags(new Uint8Array(bad)), undefined, JSON.stringify(bad));
});
