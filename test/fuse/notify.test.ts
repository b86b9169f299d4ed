import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { NotifyCode } from "../../src/fuse/abi.js";
import { concatChunks, decodeNotification, encodeNotification, type Notification } from "../../src/fuse/messages.js";
import { ProtocolError, ProtocolErrorCode } from "../../src/common/errors.js";
import { cat, cstr, i32, sample, u32, u64, zeros } from "./layouts.js";

function outHeader(len: number, code: number, unique = 0n): Uint8Array {
  return cat(u32(len), i32(code), u64(unique));
}
function note(code: number, ...body: Uint8Array[]): Uint8Array {
  const b = cat(...body);
  return cat(outHeader(16 + b.byteLength, code), b);
}

const s = (name: string, o: Record<string, number | bigint> = {}) => sample<Record<string, unknown>>(name, o);

test("notification codes match fuse.h", () => {
  assert.deepEqual({ ...NotifyCode }, { POLL: 1, INVAL_INODE: 2, INVAL_ENTRY: 3, STORE: 4, RETRIEVE: 5, DELETE: 6, RESEND: 7 });
});

test("every notification: byte-exact and round trip", () => {
  const poll = s("NotifyPollWakeupOut");
  const inode = s("NotifyInvalInodeOut");
  const entry = s("NotifyInvalEntryOut", { namelen: 4 });
  const store = s("NotifyStoreOut", { size: 3 });
  const retrieve = s("NotifyRetrieveOut");
  const del = s("NotifyDeleteOut", { namelen: 2 });
  const data = new Uint8Array([1, 2, 3]);
  const cases: [Notification, Uint8Array][] = [
    [{ code: NotifyCode.POLL, body: poll.value as never }, note(1, poll.bytes)],
    [{ code: NotifyCode.INVAL_INODE, body: inode.value as never }, note(2, inode.bytes)],
    [{ code: NotifyCode.INVAL_ENTRY, body: { arg: entry.value as never, name: Buffer.from("file") } }, note(3, entry.bytes, cstr("file"))],
    [{ code: NotifyCode.STORE, body: { arg: store.value as never, data } }, note(4, store.bytes, data)],
    [{ code: NotifyCode.RETRIEVE, body: retrieve.value as never }, note(5, retrieve.bytes)],
    [{ code: NotifyCode.DELETE, body: { arg: del.value as never, name: Buffer.from("xy") } }, note(6, del.bytes, cstr("xy"))],
    [{ code: NotifyCode.RESEND, body: undefined }, note(7)],
  ];
  for (const [n, bytes] of cases) {
    assert.deepEqual(concatChunks(encodeNotification(n)), bytes, `encode ${n.code}`);
    assert.deepEqual(decodeNotification(bytes), n, `decode ${n.code}`);
  }
});

test("malformed notifications", () => {
  const entry = (namelen: number, name: Uint8Array) => note(3, u64(1n), u32(namelen), u32(0), name);
  const bad: [string, Uint8Array, string][] = [
    ["unique not 0", outHeader(16, 7, 5n), ProtocolErrorCode.VALUE],
    ["unknown code", note(99), ProtocolErrorCode.UNKNOWN],
    ["code 0", note(0), ProtocolErrorCode.UNKNOWN],
    ["namelen short of name", entry(2, cstr("abc")), ProtocolErrorCode.LENGTH],
    ["namelen past message", entry(0xffff_ffff, cstr("abc")), ProtocolErrorCode.LENGTH],
    ["no NUL", entry(3, cat(cstr("ab").subarray(0, 2), new Uint8Array([0x63, 0x64]))), ProtocolErrorCode.STRING],
    ["NUL inside", entry(3, cstr("a\0b")), ProtocolErrorCode.STRING],
    ["store size mismatch", note(4, u64(1n), u64(0n), u32(4), zeros(4), zeros(3)), ProtocolErrorCode.LENGTH],
    ["poll cut", note(1, zeros(4)), ProtocolErrorCode.SHORT],
    ["resend with body", note(7, zeros(8)), ProtocolErrorCode.LONG],
  ];
  for (const [label, bytes, code] of bad) assert.throws(() => decodeNotification(bytes), { code }, label);
});

test("random notifications: decode or ProtocolError", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 9 }), fc.uint8Array({ maxLength: 80 }), (code, body) => {
      try {
        const n = decodeNotification(note(code, body));
        assert.deepEqual(decodeNotification(concatChunks(encodeNotification(n))), n);
      } catch (e) {
        if (!ProtocolError.is(e)) throw e;
      }
    }),
    { numRuns: 1000 },
  );
});
