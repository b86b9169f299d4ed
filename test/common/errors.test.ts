import { test } from "node:test";
import assert from "node:assert/strict";
import { ErrnoError, ProtocolError, ProtocolErrorCode, errno, toErrno } from "../../src/common/errors.js";
import { Errno, errnoName } from "../../src/common/errno.js";

test("errno names and numbers are Linux's", () => {
  assert.equal(Errno.ENOENT, 2);
  assert.equal(Errno.ENOSYS, 38);
  assert.equal(Errno.ENOTSUP, Errno.EOPNOTSUPP);
  assert.equal(errnoName(95), "EOPNOTSUPP");
  assert.equal(errnoName(4095), "E4095");
});

test("ErrnoError carries number, name, call and a stable code", () => {
  const e = errno("ENOENT", "openat2", "a/b");
  assert.equal(e.errno, 2);
  assert.equal(e.errnoName, "ENOENT");
  assert.equal(e.code, "VIOFS_ERRNO_ENOENT");
  assert.equal(e.message, 'openat2 "a/b": ENOENT (No such file or directory)');
  assert.ok(ErrnoError.is(e));
  assert.equal(toErrno(e), 2);
  assert.equal(toErrno(new TypeError("bug")), Errno.EIO);
});

test("ProtocolError has a stable code and is told apart", () => {
  const e = new ProtocolError(ProtocolErrorCode.SHORT, "fuse_in_header: 12 of 40 bytes");
  assert.ok(ProtocolError.is(e));
  assert.ok(!ErrnoError.is(e));
  assert.equal(e.code, "VIOFS_PROTO_SHORT");
});
