/**
 * The reparse helpers over a plain name → reparse-data table: the component
 * walk of FspFileSystemFindReparsePoint and the hop limit, dot folding and
 * not-found handling of FspFileSystemResolveReparsePoints.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { NtStatus } from "../../src/windows/ntstatus.js";
import { SYMLINK_FLAG_RELATIVE, decodeReparseBuffer, encodeReparseBuffer } from "../../src/windows/reparse.js";
import { ntFail, ntOk, type NtResult } from "../../src/winfsp/interface.js";
import {
  MAX_REPARSE_HOPS,
  encodeSymlinkBuffer,
  findReparsePoint,
  reparseTagOf,
  resolveReparsePoints,
} from "../../src/winfsp/reparse-resolve.js";
import { fails, ok } from "./memfs-helpers.js";

/** A volume of plain names (directories and files) and symbolic links. */
function volume(plain: string[], links: Record<string, string>) {
  const calls: string[] = [];
  const get = (name: string): NtResult<Uint8Array> => {
    calls.push(name);
    const target = links[name];
    if (target !== undefined) return ntOk(encodeSymlinkBuffer(target, true));
    return plain.includes(name) ? ntFail(NtStatus.STATUS_NOT_A_REPARSE_POINT) : ntFail(NtStatus.STATUS_OBJECT_NAME_NOT_FOUND);
  };
  return { get, calls };
}

const target = (r: NtResult<{ information: number; buffer: Uint8Array }>): string => {
  const p = decodeReparseBuffer(ok(r).buffer);
  assert.ok(p.kind === "symlink");
  return p.kind === "symlink" ? p.substituteName : "";
};

test("findReparsePoint looks at components followed by a backslash and stops at a stream or a missing name", () => {
  const v = volume(["\\a", "\\a\\b"], { "\\a\\l": "x" });
  assert.equal(findReparsePoint(v.get, "\\a\\l\\c\\d"), 3);
  assert.equal(findReparsePoint(v.get, "\\a\\l"), null, "the last component is not looked at");
  assert.equal(findReparsePoint(v.get, "\\a\\b:s\\x"), null, "nothing past a colon");
  assert.equal(findReparsePoint(v.get, "\\a\\missing\\l\\x"), null);
  v.calls.length = 0;
  findReparsePoint(v.get, "\\a\\b\\c");
  assert.deepEqual(v.calls, ["\\a", "\\a\\b"]);
});

test("at most 32 links are followed: a chain of 31 resolves, a chain of 32 does not", () => {
  const chain = (n: number) => {
    const links: Record<string, string> = {};
    for (let i = 1; i <= n; i++) links[`\\l${i}`] = i === n ? "file" : `l${i + 1}`;
    return volume(["\\file"], links);
  };
  assert.equal(MAX_REPARSE_HOPS, 32);
  assert.equal(target(resolveReparsePoints(chain(31).get, "\\l1", 0, true)), "\\file");
  fails(resolveReparsePoints(chain(32).get, "\\l1", 0, true), "STATUS_REPARSE_POINT_NOT_RESOLVED");
});

test("dot and dot-dot are folded wherever they appear; a missing middle component is NAME_NOT_FOUND", () => {
  const v = volume(["\\a", "\\a\\b", "\\c"], {});
  assert.equal(target(resolveReparsePoints(v.get, "\\a\\.\\b\\..\\..\\c", 0, true)), "\\c");
  assert.equal(target(resolveReparsePoints(v.get, "\\..\\a", 0, true)), "\\a", ".. at the root stays at the root");
  assert.equal(target(resolveReparsePoints(v.get, "\\a\\nothing", 0, true)), "\\a\\nothing");
  fails(resolveReparsePoints(v.get, "\\a\\nothing\\x", 0, true), "STATUS_OBJECT_NAME_NOT_FOUND");
  const broken = (name: string): NtResult<Uint8Array> =>
    name === "\\a" ? ntFail(NtStatus.STATUS_ACCESS_DENIED) : ntFail(NtStatus.STATUS_NOT_A_REPARSE_POINT);
  fails(resolveReparsePoints(broken, "\\a\\b", 0, true), "STATUS_OBJECT_PATH_NOT_FOUND");
});

test("a stream suffix stays on the resolved name; a malformed link is IO_REPARSE_DATA_INVALID", () => {
  const v = volume(["\\t"], { "\\l": "t" });
  assert.equal(target(resolveReparsePoints(v.get, "\\l:stream", 0, true)), "\\t:stream");
  const bad = (name: string): NtResult<Uint8Array> =>
    name === "\\l" ? ntOk(Uint8Array.of(0x0c, 0, 0, 0xa0, 0, 0, 0, 0)) : ntFail(NtStatus.STATUS_NOT_A_REPARSE_POINT);
  fails(resolveReparsePoints(bad, "\\l", 0, true), "STATUS_IO_REPARSE_DATA_INVALID");
});

test("encodeSymlinkBuffer writes a relative or absolute symbolic link; reparseTagOf reads tags", () => {
  const b = encodeSymlinkBuffer("\\x\\y", true);
  assert.equal(reparseTagOf(b), 0xa000000c);
  assert.deepEqual(decodeReparseBuffer(b), { kind: "symlink", substituteName: "\\x\\y", printName: "\\x\\y", flags: SYMLINK_FLAG_RELATIVE });
  const abs = decodeReparseBuffer(encodeSymlinkBuffer("\\??\\C:\\", false));
  assert.ok(abs.kind === "symlink" && abs.flags === 0);
  assert.equal(reparseTagOf(Uint8Array.of(1, 2, 3)), null);
  assert.equal(reparseTagOf(encodeReparseBuffer({ kind: "nfs", type: "fifo" })), 0x80000014);
});
