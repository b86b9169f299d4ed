/**
 * winfsp-tests ea-test.c (optional tests): extended attributes given at
 * create and overwrite, set with NtSetEaFile, and read back with
 * NtQueryEaFile by name list, by scan (with restart, single entry and
 * buffers one byte short) and by index; FILE_NEED_EA against
 * FILE_NO_EA_KNOWLEDGE; a scan invalidated by a change.
 */
import * as W from "../../src/win32/index.js";
import { ASSERT, assertStatus, fails, optionalTest, type ConformanceTest, type TestContext } from "./harness.js";

const S = W.NtStatus;
const latin1 = (s: string): Uint8Array => Buffer.from(s, "latin1");

/** ea_init_ea, ea_init_bad_ea, ea_init_ea2 (FspFileSystemAddEa packs as encodeFullEaList does). */
const EA = W.encodeFullEaList([
  { name: "Aname1", flags: 0, value: latin1("first") },
  { name: "bnameTwo", flags: W.FILE_NEED_EA, value: latin1("second") },
  { name: "Cn3", flags: 0, value: latin1("third") },
]);
const BAD_EA = W.encodeFullEaList([
  { name: "Aname1", flags: 0, value: latin1("first") },
  { name: "bnameTwo*", flags: W.FILE_NEED_EA, value: latin1("second") },
  { name: "Cn3", flags: 0, value: latin1("third") },
]);
const EA2 = W.encodeFullEaList([
  { name: "Aname1", flags: 0, value: latin1("ValueForAname1") },
  { name: "bnameTwo", flags: 0, value: latin1("ValueForBNameTwo") },
  { name: "Cn3", flags: 0, value: new Uint8Array(0) },
  { name: "dn4", flags: 0, value: latin1("ValueForDn4") },
]);

/** FIELD_OFFSET(FILE_FULL_EA_INFORMATION, EaName) + name + NUL + value. */
const L = (name: string, value: string | number): number => 8 + name.length + 1 + (typeof value === "number" ? value : value.length);

/** The EAs of an NtQueryEaFile answer (FspFileSystemEnumerateEa over Information bytes). */
function entries(r: { Buffer: Uint8Array; Information: number }): W.FullEa[] {
  return r.Information === 0 ? [] : W.decodeFullEaList(r.Buffer.subarray(0, r.Information));
}

type Expected = Record<string, { flags: number; value: string }>;

const CHECK_EA: Expected = {
  ANAME1: { flags: 0, value: "first" },
  BNAMETWO: { flags: W.FILE_NEED_EA, value: "second" },
  CN3: { flags: 0, value: "third" },
  NONEXISTENT: { flags: 0, value: "" },
};
const CHECK_EA2: Expected = {
  ANAME1: { flags: 0, value: "ValueForAname1" },
  BNAMETWO: { flags: 0, value: "ValueForBNameTwo" },
  CN3: { flags: 0, value: "" },
  DN4: { flags: 0, value: "ValueForDn4" },
};

/** ea_check_ea_enumerate / ea_check_ea2_enumerate: every known name checked; the names seen, in order. */
function enumerate(r: { Buffer: Uint8Array; Information: number }, expected: Expected): string[] {
  const seen: string[] = [];
  for (const ea of entries(r)) {
    const e = expected[ea.name];
    if (e !== undefined) {
      ASSERT(ea.flags === e.flags, `${ea.name} flags 0x${ea.flags.toString(16)}`);
      ASSERT(Buffer.from(ea.value).toString("latin1") === e.value, `${ea.name} value`);
    }
    seen.push(ea.name);
  }
  return seen;
}

function counts(seen: string[], names: string[]): number[] {
  return names.map((n) => seen.filter((s) => s === n).length);
}

function expectSeen(seen: string[], expected: Partial<Record<string, number>>, names: string[], what: string): void {
  const total = Object.values(expected).reduce((a: number, b) => a + (b ?? 0), 0);
  ASSERT(seen.length === total, `${what}: ${seen.length} entries [${seen.join(", ")}], expected ${total}`);
  const c = counts(seen, names);
  names.forEach((n, i) => ASSERT(c[i] === (expected[n] ?? 0), `${what}: ${n} seen ${c[i]} times`));
}

const NAMES1 = ["ANAME1", "BNAMETWO", "CN3", "NONEXISTENT"];

async function query(h: W.HANDLE, length: number, single: boolean, list: string[] | null, index: number | null, restart: boolean) {
  return W.NtQueryEaFile(h, length, single, list === null ? null : W.encodeGetEaList(list), index, restart);
}

async function ea_check_ea(h: W.HANDLE): Promise<void> {
  const FULL = 512;
  const check = (r: { Status: number; Buffer: Uint8Array; Information: number }, status: number, expected: Partial<Record<string, number>>, what: string): void => {
    assertStatus(r.Status, status, what);
    expectSeen(enumerate(r, CHECK_EA), expected, NAMES1, what);
  };
  let r = await query(h, FULL, false, ["bnameTwo"], null, false);
  check(r, S.STATUS_SUCCESS, { BNAMETWO: 1 }, "[bnameTwo]");
  r = await query(h, L("bnameTwo", 0), false, ["bnameTwo"], null, false);
  assertStatus(r.Status, S.STATUS_BUFFER_OVERFLOW, "[bnameTwo] short");
  ASSERT(r.Information === 0, "[bnameTwo] short: Information 0");
  r = await query(h, FULL, false, ["nonexistent"], null, false);
  check(r, S.STATUS_SUCCESS, { NONEXISTENT: 1 }, "[nonexistent]");
  r = await query(h, FULL, false, ["bnameTwo", "nonexistent"], null, false);
  check(r, S.STATUS_SUCCESS, { BNAMETWO: 1, NONEXISTENT: 1 }, "[bnameTwo, nonexistent]");
  r = await query(h, FULL, false, ["Aname1", "bnameTwo"], null, false);
  check(r, S.STATUS_SUCCESS, { ANAME1: 1, BNAMETWO: 1 }, "[Aname1, bnameTwo]");
  r = await query(h, L("Aname1", "first"), false, ["Aname1", "bnameTwo"], null, false);
  assertStatus(r.Status, S.STATUS_BUFFER_OVERFLOW, "[Aname1, bnameTwo] short");
  ASSERT(r.Information === 0, "[Aname1, bnameTwo] short: Information 0");
  r = await query(h, FULL, false, ["bnameTwo", "bnameTwo"], null, false);
  check(r, S.STATUS_SUCCESS, { BNAMETWO: 1 }, "[bnameTwo, bnameTwo]");
  r = await query(h, FULL, false, ["bnameTwo", "bnameTwo*"], null, false);
  assertStatus(r.Status, S.STATUS_INVALID_EA_NAME, "[bnameTwo, bnameTwo*]");

  r = await query(h, FULL, false, null, null, false);
  check(r, S.STATUS_SUCCESS, { ANAME1: 1, BNAMETWO: 1, CN3: 1 }, "scan");
  r = await query(h, FULL, false, null, null, false);
  assertStatus(r.Status, S.STATUS_NO_MORE_EAS, "scan again");
  r = await query(h, FULL, true, null, null, true);
  check(r, S.STATUS_SUCCESS, { ANAME1: 1 }, "single, restart");
  r = await query(h, FULL, true, null, null, false);
  check(r, S.STATUS_SUCCESS, { BNAMETWO: 1 }, "single");
  r = await query(h, L("Aname1", 0), false, null, null, true);
  assertStatus(r.Status, S.STATUS_BUFFER_TOO_SMALL, "restart, too small for ANAME1");
  r = await query(h, L("Aname1", "first"), false, null, null, true);
  check(r, S.STATUS_BUFFER_OVERFLOW, { ANAME1: 1 }, "restart, room for ANAME1");
  r = await query(h, L("Aname1", "first"), false, null, null, true);
  check(r, S.STATUS_BUFFER_OVERFLOW, { ANAME1: 1 }, "restart again, room for ANAME1");
  r = await query(h, L("bnameTwo", 0), false, null, null, false);
  assertStatus(r.Status, S.STATUS_BUFFER_TOO_SMALL, "too small for BNAMETWO");
  r = await query(h, L("bnameTwo", "bnameTwo"), false, null, null, false);
  check(r, S.STATUS_BUFFER_OVERFLOW, { BNAMETWO: 1 }, "room for BNAMETWO");
  r = await query(h, L("Cn3", 0), false, null, null, false);
  assertStatus(r.Status, S.STATUS_BUFFER_TOO_SMALL, "too small for CN3");
  r = await query(h, L("Cn3", "third"), false, null, null, false);
  check(r, S.STATUS_SUCCESS, { CN3: 1 }, "room for CN3");
  r = await query(h, FULL, false, null, null, false);
  assertStatus(r.Status, S.STATUS_NO_MORE_EAS, "after CN3");

  r = await query(h, FULL, false, null, 0, false);
  assertStatus(r.Status, S.STATUS_NONEXISTENT_EA_ENTRY, "EaIndex 0");
  r = await query(h, L("Aname1", 0), false, null, 1, false);
  assertStatus(r.Status, S.STATUS_BUFFER_TOO_SMALL, "EaIndex 1, too small");
  r = await query(h, L("Aname1", "first"), false, null, 1, false);
  check(r, S.STATUS_BUFFER_OVERFLOW, { ANAME1: 1 }, "EaIndex 1");
  r = await query(h, L("bnameTwo", 0), false, null, 2, false);
  assertStatus(r.Status, S.STATUS_BUFFER_TOO_SMALL, "EaIndex 2, too small");
  r = await query(h, L("bnameTwo", "bnameTwo"), false, null, 2, false);
  check(r, S.STATUS_BUFFER_OVERFLOW, { BNAMETWO: 1 }, "EaIndex 2");
  r = await query(h, L("Cn3", 0), false, null, 3, false);
  assertStatus(r.Status, S.STATUS_BUFFER_TOO_SMALL, "EaIndex 3, too small");
  r = await query(h, L("Cn3", "third"), false, null, 3, false);
  check(r, S.STATUS_SUCCESS, { CN3: 1 }, "EaIndex 3");
  r = await query(h, FULL, false, null, 4, false);
  assertStatus(r.Status, S.STATUS_NO_MORE_EAS, "EaIndex 4");
  r = await query(h, FULL, false, null, 5, false);
  assertStatus(r.Status, S.STATUS_NONEXISTENT_EA_ENTRY, "EaIndex 5");
}

async function ea_check_ea2(h: W.HANDLE): Promise<void> {
  const r = await query(h, 512, false, null, null, true);
  assertStatus(r.Status, S.STATUS_SUCCESS, "ea2 scan");
  expectSeen(enumerate(r, CHECK_EA2), { ANAME1: 1, BNAMETWO: 1, DN4: 1 }, ["ANAME1", "BNAMETWO", "CN3", "DN4"], "ea2 scan");
}

const ACCESS = W.FILE_GENERIC_READ | W.FILE_GENERIC_WRITE | W.DELETE;

async function openDir1(t: TestContext): Promise<{ path: string; dir: W.HANDLE }> {
  const path = `${t.prefix}\\dir1`;
  await W.CreateDirectoryW(path, null);
  const dir = await W.CreateFileW(path, W.GENERIC_READ | W.GENERIC_WRITE, W.FILE_SHARE_READ | W.FILE_SHARE_WRITE, null, W.OPEN_EXISTING, W.FILE_FLAG_BACKUP_SEMANTICS | W.FILE_FLAG_DELETE_ON_CLOSE);
  return { path, dir };
}

async function dir1IsGone(path: string): Promise<void> {
  await fails(
    W.CreateFileW(path, W.GENERIC_READ | W.GENERIC_WRITE, W.FILE_SHARE_READ | W.FILE_SHARE_WRITE, null, W.OPEN_EXISTING, W.FILE_FLAG_BACKUP_SEMANTICS | W.FILE_FLAG_DELETE_ON_CLOSE),
    W.ERROR_FILE_NOT_FOUND,
  );
}

function create(dir: W.HANDLE, disposition: number, options: number, ea: Uint8Array | null) {
  return W.NtCreateFile(ACCESS, { ObjectName: "file2", RootDirectory: dir }, 0n, W.FILE_ATTRIBUTE_NORMAL, 0, disposition, options, ea);
}

async function opened(r: { Status: number; FileHandle: W.HANDLE | null }, what: string): Promise<W.HANDLE> {
  assertStatus(r.Status, S.STATUS_SUCCESS, what);
  ASSERT(r.FileHandle !== null, what);
  return r.FileHandle;
}

async function ea_create_test(t: TestContext): Promise<void> {
  const D = W.CreateDisposition;
  const O = W.CreateOption;
  const { path, dir } = await openDir1(t);
  assertStatus((await create(dir, D.FILE_CREATE, 0, BAD_EA)).Status, S.STATUS_INVALID_EA_NAME, "create with a bad EA name");
  assertStatus((await create(dir, D.FILE_CREATE, O.FILE_NO_EA_KNOWLEDGE, EA)).Status, S.STATUS_ACCESS_DENIED, "create with EAs and FILE_NO_EA_KNOWLEDGE");
  await W.CloseHandle(await opened(await create(dir, D.FILE_CREATE, 0, EA), "create with EAs"));
  /* (not --fuse-external: the WinFsp API has FILE_NEED_EA) */
  assertStatus((await create(dir, D.FILE_OPEN, O.FILE_NO_EA_KNOWLEDGE, null)).Status, S.STATUS_ACCESS_DENIED, "open a NEED_EA file with FILE_NO_EA_KNOWLEDGE");
  const h = await opened(await create(dir, D.FILE_OPEN, O.FILE_DELETE_ON_CLOSE, null), "open DELETE_ON_CLOSE");
  await ea_check_ea(h);
  await W.CloseHandle(h);
  await W.CloseHandle(dir);
  await dir1IsGone(path);
}

async function ea_overwrite_test(t: TestContext): Promise<void> {
  const D = W.CreateDisposition;
  const O = W.CreateOption;
  const { path, dir } = await openDir1(t);
  await W.CloseHandle(await opened(await create(dir, D.FILE_CREATE, 0, null), "create"));
  let h = await opened(await create(dir, D.FILE_OVERWRITE, 0, EA), "overwrite with ea");
  await ea_check_ea(h);
  await W.CloseHandle(h);
  h = await opened(await create(dir, D.FILE_OVERWRITE, O.FILE_DELETE_ON_CLOSE, EA2), "overwrite with ea2");
  await ea_check_ea2(h);
  await W.CloseHandle(h);
  await W.CloseHandle(dir);
  await dir1IsGone(path);
}

async function getset(h: W.HANDLE): Promise<void> {
  assertStatus((await W.NtSetEaFile(h, BAD_EA)).Status, S.STATUS_INVALID_EA_NAME, "set a bad EA name");
  let r = await W.NtSetEaFile(h, EA);
  assertStatus(r.Status, S.STATUS_SUCCESS, "set ea");
  ASSERT(r.Information === 0, "set ea: Information 0");
  await ea_check_ea(h);
  r = await W.NtSetEaFile(h, EA2);
  assertStatus(r.Status, S.STATUS_SUCCESS, "set ea2");
  ASSERT(r.Information === 0, "set ea2: Information 0");
  assertStatus((await query(h, 512, false, null, null, false)).Status, S.STATUS_EA_CORRUPT_ERROR, "scan after a change");
  await ea_check_ea2(h);
}

async function ea_getset_test(t: TestContext): Promise<void> {
  const { path, dir } = await openDir1(t);
  await getset(dir);
  await W.CloseHandle(dir);
  await dir1IsGone(path);

  const file = `${t.prefix}\\file0`;
  const h = await W.CreateFileW(file, W.GENERIC_READ | W.GENERIC_WRITE, W.FILE_SHARE_READ | W.FILE_SHARE_WRITE, null, W.CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL | W.FILE_FLAG_DELETE_ON_CLOSE);
  await getset(h);
  await W.CloseHandle(h);
  await dir1IsGone(file);
}

export const eaTests: readonly ConformanceTest[] = [
  optionalTest("ea_create_test", ea_create_test),
  optionalTest("ea_overwrite_test", ea_overwrite_test),
  optionalTest("ea_getset_test", ea_getset_test),
];
