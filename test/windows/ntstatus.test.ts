import { test } from "node:test";
import assert from "node:assert/strict";
import { Errno } from "../../src/common/errno.js";
import {
  errnoToNtStatus,
  NtStatus,
  ntError,
  ntStatusName,
  ntStatusToWin32,
  ntSuccess,
  ntWarning,
  Win32ErrorCode,
  win32ErrorName,
} from "../../src/windows/ntstatus.js";

test("NTSTATUS values of the WinFsp catalogue (§4.5)", () => {
  const expected: [keyof typeof NtStatus, number][] = [
    ["STATUS_SUCCESS", 0x00000000],
    ["STATUS_PENDING", 0x00000103],
    ["STATUS_REPARSE", 0x00000104],
    ["STATUS_OPLOCK_BREAK_IN_PROGRESS", 0x00000108],
    ["STATUS_BUFFER_OVERFLOW", 0x80000005],
    ["STATUS_NO_MORE_FILES", 0x80000006],
    ["STATUS_NO_MORE_EAS", 0x80000012],
    ["STATUS_INVALID_EA_NAME", 0x80000013],
    ["STATUS_EA_LIST_INCONSISTENT", 0x80000014],
    ["STATUS_UNSUCCESSFUL", 0xc0000001],
    ["STATUS_NOT_IMPLEMENTED", 0xc0000002],
    ["STATUS_INVALID_INFO_CLASS", 0xc0000003],
    ["STATUS_INFO_LENGTH_MISMATCH", 0xc0000004],
    ["STATUS_ACCESS_VIOLATION", 0xc0000005],
    ["STATUS_INVALID_PARAMETER", 0xc000000d],
    ["STATUS_NO_SUCH_DEVICE", 0xc000000e],
    ["STATUS_NO_SUCH_FILE", 0xc000000f],
    ["STATUS_INVALID_DEVICE_REQUEST", 0xc0000010],
    ["STATUS_END_OF_FILE", 0xc0000011],
    ["STATUS_ACCESS_DENIED", 0xc0000022],
    ["STATUS_BUFFER_TOO_SMALL", 0xc0000023],
    ["STATUS_OBJECT_NAME_INVALID", 0xc0000033],
    ["STATUS_OBJECT_NAME_NOT_FOUND", 0xc0000034],
    ["STATUS_OBJECT_NAME_COLLISION", 0xc0000035],
    ["STATUS_OBJECT_PATH_NOT_FOUND", 0xc000003a],
    ["STATUS_SHARING_VIOLATION", 0xc0000043],
    ["STATUS_EAS_NOT_SUPPORTED", 0xc000004f],
    ["STATUS_NONEXISTENT_EA_ENTRY", 0xc0000051],
    ["STATUS_NO_EAS_ON_FILE", 0xc0000052],
    ["STATUS_EA_CORRUPT_ERROR", 0xc0000053],
    ["STATUS_FILE_LOCK_CONFLICT", 0xc0000054],
    ["STATUS_LOCK_NOT_GRANTED", 0xc0000055],
    ["STATUS_DELETE_PENDING", 0xc0000056],
    ["STATUS_PRIVILEGE_NOT_HELD", 0xc0000061],
    ["STATUS_INVALID_SECURITY_DESCR", 0xc0000079],
    ["STATUS_RANGE_NOT_LOCKED", 0xc000007e],
    ["STATUS_DISK_FULL", 0xc000007f],
    ["STATUS_INSUFFICIENT_RESOURCES", 0xc000009a],
    ["STATUS_FILE_IS_A_DIRECTORY", 0xc00000ba],
    ["STATUS_NOT_SUPPORTED", 0xc00000bb],
    ["STATUS_CANT_WAIT", 0xc00000d8],
    ["STATUS_OPLOCK_NOT_GRANTED", 0xc00000e2],
    ["STATUS_INTERNAL_ERROR", 0xc00000e5],
    ["STATUS_INVALID_USER_BUFFER", 0xc00000e8],
    ["STATUS_DIRECTORY_NOT_EMPTY", 0xc0000101],
    ["STATUS_NOT_A_DIRECTORY", 0xc0000103],
    ["STATUS_CANCELLED", 0xc0000120],
    ["STATUS_CANNOT_DELETE", 0xc0000121],
    ["STATUS_FILE_DELETED", 0xc0000123],
    ["STATUS_INVALID_BUFFER_SIZE", 0xc0000206],
    ["STATUS_USER_MAPPED_FILE", 0xc0000243],
    ["STATUS_NOT_A_REPARSE_POINT", 0xc0000275],
    ["STATUS_IO_REPARSE_TAG_INVALID", 0xc0000276],
    ["STATUS_IO_REPARSE_TAG_MISMATCH", 0xc0000277],
    ["STATUS_IO_REPARSE_DATA_INVALID", 0xc0000278],
    ["STATUS_IO_REPARSE_TAG_NOT_HANDLED", 0xc0000279],
    ["STATUS_REPARSE_POINT_NOT_RESOLVED", 0xc0000280],
    ["STATUS_REPARSE_ATTRIBUTE_CONFLICT", 0xc00002b2],
    // From MS-ERREF, beyond the catalogue:
    ["STATUS_MEDIA_WRITE_PROTECTED", 0xc00000a2],
    ["STATUS_TOO_MANY_OPENED_FILES", 0xc000011f],
    ["STATUS_NAME_TOO_LONG", 0xc0000106],
    ["STATUS_IO_TIMEOUT", 0xc00000b5],
    ["STATUS_NOT_SAME_DEVICE", 0xc00000d4],
    ["STATUS_FILE_CLOSED", 0xc0000128],
    ["STATUS_INVALID_HANDLE", 0xc0000008],
    ["STATUS_EA_TOO_LARGE", 0xc0000050],
    ["STATUS_FILE_SYSTEM_LIMITATION", 0xc0000427],
  ];
  for (const [name, value] of expected) assert.equal(NtStatus[name], value, name);
  const values = Object.values(NtStatus);
  assert.equal(new Set(values).size, values.length, "every status value is unique");
});

test("names, severities", () => {
  assert.equal(ntStatusName(0xc0000034), "STATUS_OBJECT_NAME_NOT_FOUND");
  assert.equal(ntStatusName(-1073741772), "STATUS_OBJECT_NAME_NOT_FOUND", "a signed 32-bit value is accepted");
  assert.equal(ntStatusName(0xc0ffee01), "0xC0FFEE01");
  assert.equal(win32ErrorName(4390), "ERROR_NOT_A_REPARSE_POINT");
  assert.equal(win32ErrorName(99999), "99999");
  assert.ok(ntSuccess(NtStatus.STATUS_PENDING) && ntSuccess(NtStatus.STATUS_REPARSE));
  assert.ok(ntWarning(NtStatus.STATUS_BUFFER_OVERFLOW) && !ntSuccess(NtStatus.STATUS_BUFFER_OVERFLOW));
  assert.ok(ntError(NtStatus.STATUS_ACCESS_DENIED) && !ntWarning(NtStatus.STATUS_ACCESS_DENIED));
});

test("RtlNtStatusToDosError for the catalogue's table (§4.4)", () => {
  const S = NtStatus;
  const W = Win32ErrorCode;
  const cases: [number, number][] = [
    [S.STATUS_SUCCESS, W.ERROR_SUCCESS],
    [S.STATUS_INVALID_DEVICE_REQUEST, W.ERROR_INVALID_FUNCTION],
    [S.STATUS_NOT_IMPLEMENTED, W.ERROR_INVALID_FUNCTION],
    [S.STATUS_OBJECT_NAME_NOT_FOUND, W.ERROR_FILE_NOT_FOUND],
    [S.STATUS_NO_SUCH_FILE, W.ERROR_FILE_NOT_FOUND],
    [S.STATUS_OBJECT_PATH_NOT_FOUND, W.ERROR_PATH_NOT_FOUND],
    [S.STATUS_ACCESS_DENIED, W.ERROR_ACCESS_DENIED],
    [S.STATUS_DELETE_PENDING, W.ERROR_ACCESS_DENIED],
    [S.STATUS_CANNOT_DELETE, W.ERROR_ACCESS_DENIED],
    [S.STATUS_FILE_IS_A_DIRECTORY, W.ERROR_ACCESS_DENIED],
    [S.STATUS_FILE_DELETED, W.ERROR_ACCESS_DENIED],
    [S.STATUS_NO_MORE_FILES, W.ERROR_NO_MORE_FILES],
    [S.STATUS_SHARING_VIOLATION, W.ERROR_SHARING_VIOLATION],
    [S.STATUS_LOCK_NOT_GRANTED, W.ERROR_LOCK_VIOLATION],
    [S.STATUS_FILE_LOCK_CONFLICT, W.ERROR_LOCK_VIOLATION],
    [S.STATUS_END_OF_FILE, W.ERROR_HANDLE_EOF],
    [S.STATUS_INVALID_PARAMETER, W.ERROR_INVALID_PARAMETER],
    [S.STATUS_BUFFER_TOO_SMALL, W.ERROR_INSUFFICIENT_BUFFER],
    [S.STATUS_OBJECT_NAME_INVALID, W.ERROR_INVALID_NAME],
    [S.STATUS_DIRECTORY_NOT_EMPTY, W.ERROR_DIR_NOT_EMPTY],
    [S.STATUS_RANGE_NOT_LOCKED, W.ERROR_NOT_LOCKED],
    [S.STATUS_OBJECT_NAME_COLLISION, W.ERROR_ALREADY_EXISTS],
    [S.STATUS_BUFFER_OVERFLOW, W.ERROR_MORE_DATA],
    [S.STATUS_NOT_A_DIRECTORY, W.ERROR_DIRECTORY],
    [S.STATUS_OPLOCK_NOT_GRANTED, W.ERROR_OPLOCK_NOT_GRANTED],
    [S.STATUS_CANCELLED, W.ERROR_OPERATION_ABORTED],
    [S.STATUS_PENDING, W.ERROR_IO_PENDING],
    [S.STATUS_PRIVILEGE_NOT_HELD, W.ERROR_PRIVILEGE_NOT_HELD],
    [S.STATUS_IO_REPARSE_TAG_NOT_HANDLED, W.ERROR_CANT_ACCESS_FILE],
    [S.STATUS_REPARSE_POINT_NOT_RESOLVED, W.ERROR_CANT_RESOLVE_FILENAME],
    [S.STATUS_NOT_A_REPARSE_POINT, W.ERROR_NOT_A_REPARSE_POINT],
    [S.STATUS_EAS_NOT_SUPPORTED, W.ERROR_EAS_NOT_SUPPORTED],
    [S.STATUS_DISK_FULL, W.ERROR_DISK_FULL],
    [S.STATUS_USER_MAPPED_FILE, W.ERROR_USER_MAPPED_FILE],
    [S.STATUS_INFO_LENGTH_MISMATCH, W.ERROR_BAD_LENGTH],
    [S.STATUS_NOT_SUPPORTED, W.ERROR_NOT_SUPPORTED],
    [S.STATUS_FILE_SYSTEM_LIMITATION, W.ERROR_FILE_SYSTEM_LIMITATION],
  ];
  for (const [status, win32] of cases) {
    assert.equal(ntStatusToWin32(status), win32, `${ntStatusName(status)} → ${win32ErrorName(win32)}`);
  }
  assert.equal(ntStatusToWin32(0xc0ffee01), W.ERROR_MR_MID_NOT_FOUND, "an unknown status");
  for (const value of Object.values(NtStatus)) {
    assert.notEqual(ntStatusToWin32(value), W.ERROR_MR_MID_NOT_FOUND, `${ntStatusName(value)} has a Win32 mapping`);
  }
});

test("errnoToNtStatus: the issue's table", () => {
  const S = NtStatus;
  const E = Errno;
  const cases: [number, number][] = [
    [E.ENOENT, S.STATUS_OBJECT_NAME_NOT_FOUND],
    [E.ENOTDIR, S.STATUS_NOT_A_DIRECTORY],
    [E.EEXIST, S.STATUS_OBJECT_NAME_COLLISION],
    [E.EACCES, S.STATUS_ACCESS_DENIED],
    [E.EPERM, S.STATUS_ACCESS_DENIED],
    [E.ENOSPC, S.STATUS_DISK_FULL],
    [E.EDQUOT, S.STATUS_DISK_FULL],
    [E.ENOTEMPTY, S.STATUS_DIRECTORY_NOT_EMPTY],
    [E.EISDIR, S.STATUS_FILE_IS_A_DIRECTORY],
    [E.ENAMETOOLONG, S.STATUS_OBJECT_NAME_INVALID],
    [E.EROFS, S.STATUS_MEDIA_WRITE_PROTECTED],
    [E.ENFILE, S.STATUS_TOO_MANY_OPENED_FILES],
    [E.EMFILE, S.STATUS_TOO_MANY_OPENED_FILES],
    [E.EXDEV, S.STATUS_NOT_SAME_DEVICE],
    [E.EINTR, S.STATUS_CANCELLED],
    [E.ECANCELED, S.STATUS_CANCELLED],
    [E.ETIMEDOUT, S.STATUS_IO_TIMEOUT],
    [E.EINVAL, S.STATUS_INVALID_PARAMETER],
    [E.EBADF, S.STATUS_INVALID_HANDLE],
    [E.EIO, S.STATUS_IO_DEVICE_ERROR],
    [E.ENOSYS, S.STATUS_INVALID_DEVICE_REQUEST],
    [E.EOPNOTSUPP, S.STATUS_NOT_SUPPORTED],
    [E.ELOOP, S.STATUS_REPARSE_POINT_NOT_RESOLVED],
    [E.ETXTBSY, S.STATUS_SHARING_VIOLATION],
  ];
  for (const [errno, status] of cases) {
    const m = errnoToNtStatus(errno);
    assert.equal(m.status, status, `${m.errnoName} → ${ntStatusName(status)}, got ${ntStatusName(m.status)}`);
    assert.equal(m.known, true);
  }
  assert.deepEqual(errnoToNtStatus(0), { status: 0, known: true, errno: 0, errnoName: errnoToNtStatus(0).errnoName });
});

test("errnoToNtStatus: contexts", () => {
  const S = NtStatus;
  const E = Errno;
  assert.equal(errnoToNtStatus(E.ENOTDIR, "lookup").status, S.STATUS_OBJECT_PATH_NOT_FOUND);
  assert.equal(errnoToNtStatus(E.ENOENT, "lookup").status, S.STATUS_OBJECT_NAME_NOT_FOUND);
  assert.equal(errnoToNtStatus(E.ENOENT, "lookup-prefix").status, S.STATUS_OBJECT_PATH_NOT_FOUND);
  assert.equal(errnoToNtStatus(E.ENOTDIR, "lookup-prefix").status, S.STATUS_OBJECT_PATH_NOT_FOUND);
  assert.equal(errnoToNtStatus(E.EAGAIN, "lock").status, S.STATUS_LOCK_NOT_GRANTED);
  assert.equal(errnoToNtStatus(E.EACCES, "lock").status, S.STATUS_LOCK_NOT_GRANTED);
  assert.equal(errnoToNtStatus(E.EAGAIN, "io").status, S.STATUS_FILE_LOCK_CONFLICT);
  assert.equal(errnoToNtStatus(E.EAGAIN).status, S.STATUS_RETRY);
  assert.equal(errnoToNtStatus(E.ERANGE, "xattr-get").status, S.STATUS_BUFFER_TOO_SMALL);
  assert.equal(errnoToNtStatus(E.ENODATA, "xattr-get").status, S.STATUS_OBJECT_NAME_NOT_FOUND);
  assert.equal(errnoToNtStatus(E.E2BIG, "ea-set").status, S.STATUS_EA_TOO_LARGE);
  assert.equal(errnoToNtStatus(E.EOPNOTSUPP, "ea-set").status, S.STATUS_EAS_NOT_SUPPORTED);
  assert.equal(errnoToNtStatus(E.E2BIG, "stream-write").status, S.STATUS_FILE_SYSTEM_LIMITATION);
  assert.equal(errnoToNtStatus(E.ENOSPC, "stream-write").status, S.STATUS_DISK_FULL);
  // A context only changes the errnos it is about.
  assert.equal(errnoToNtStatus(E.EEXIST, "lock").status, S.STATUS_OBJECT_NAME_COLLISION);
});

test("errnoToNtStatus: an unknown errno is flagged, with its name for the log", () => {
  const m = errnoToNtStatus(Errno.ECHRNG);
  assert.equal(m.known, false);
  assert.equal(m.status, NtStatus.STATUS_UNSUCCESSFUL);
  assert.equal(m.errnoName, "ECHRNG");
  const odd = errnoToNtStatus(4095);
  assert.equal(odd.known, false);
  assert.match(odd.errnoName, /4095/);
});
