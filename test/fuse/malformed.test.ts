import { test } from "node:test";
import assert from "node:assert/strict";
import { Opcode } from "../../src/fuse/abi.js";
import { decodeRequest, encodeRequestBytes, type Request, type WireOptions } from "../../src/fuse/messages.js";
import { decodeExtensions, encodeExtensions } from "../../src/fuse/extensions.js";
import { ProtocolError, ProtocolErrorCode } from "../../src/common/errors.js";
import { cat, cstr, raw, u32, zeros, sample } from "./layouts.js";
import { inHeaderBytes, requestFor } from "./vectors.js";

const C = ProtocolErrorCode;

/** A request of `opcode` with `body` and a correct `len`. */
function msg(opcode: number, ...body: Uint8Array[]): Uint8Array {
  const b = cat(...body);
  return cat(inHeaderBytes(opcode, 40 + b.byteLength), b);
}

function rejects(label: string, bytes: Uint8Array, code: string, opts?: WireOptions): void {
  assert.throws(
    () => decodeRequest(bytes, opts),
    (e: unknown) => {
      assert.ok(ProtocolError.is(e), `${label}: not a ProtocolError: ${String(e)}`);
      assert.equal(e.code, code, `${label}: ${e.message}`);
      return true;
    },
  );
}

test("framing: short header, len disagreeing with the message", () => {
  const good = encodeRequestBytes(requestFor(Opcode.LOOKUP));
  for (const n of [0, 1, 39]) rejects(`${n} bytes`, good.subarray(0, n), C.SHORT);
  rejects("len larger than message", cat(inHeaderBytes(Opcode.STATFS, 41)), C.LENGTH);
  rejects("len smaller than message", cat(inHeaderBytes(Opcode.STATFS, 40), zeros(8)), C.LENGTH);
  rejects("len 0", inHeaderBytes(Opcode.STATFS, 0), C.LENGTH);
  rejects("len 0xffffffff", inHeaderBytes(Opcode.STATFS, 0xffff_ffff), C.LENGTH);
  rejects("message cut inside body", good.subarray(0, good.byteLength - 1), C.LENGTH);
});

test("fixed arguments: short and long", () => {
  const read = sample("ReadIn").bytes;
  rejects("READ missing a byte", msg(Opcode.READ, read.subarray(0, 39)), C.SHORT);
  rejects("READ with no argument", msg(Opcode.READ), C.SHORT);
  rejects("READ with a byte extra", msg(Opcode.READ, read, zeros(1)), C.LONG);
  rejects("FORGET doubled", msg(Opcode.FORGET, zeros(16)), C.LONG);
  rejects("STATFS with a body", msg(Opcode.STATFS, zeros(8)), C.LONG);
  rejects("DESTROY with a body", msg(Opcode.DESTROY, zeros(1)), C.LONG);
  rejects("GETATTR at 7.8 with an argument", msg(Opcode.GETATTR, zeros(16)), C.LONG, { minor: 8, setxattrExt: false });
  rejects("GETATTR at 7.9 without", msg(Opcode.GETATTR), C.SHORT, { minor: 9, setxattrExt: false });
  rejects("MKNOD 16-byte arg at 7.11: name absorbs the rest", msg(Opcode.MKNOD, zeros(16), cstr("n")), C.STRING, {
    minor: 11,
    setxattrExt: false,
  });
});

test("INIT argument: 16 or 64 bytes", () => {
  const init = sample<Record<string, unknown>>("InitIn", { major: 7, minor: 38 }).bytes;
  rejects("8 bytes", msg(Opcode.INIT, init.subarray(0, 8)), C.SHORT);
  rejects("40 bytes", msg(Opcode.INIT, init.subarray(0, 40)), C.SHORT);
  rejects("72 bytes", msg(Opcode.INIT, init, zeros(8)), C.LONG);
  const r16 = decodeRequest(msg(Opcode.INIT, init.subarray(0, 16))) as Extract<Request, { opcode: typeof Opcode.INIT }>;
  assert.equal(r16.arg.flags2, 0, "pre-7.36 INIT has no flags2");
});

test("names: terminator present, no NUL inside, not empty", () => {
  for (const op of [Opcode.LOOKUP, Opcode.UNLINK, Opcode.RMDIR, Opcode.REMOVEXATTR]) {
    rejects(`${op}: no NUL`, msg(op, raw("abc")), C.STRING);
    rejects(`${op}: empty`, msg(op, cstr("")), C.STRING);
    rejects(`${op}: NUL inside`, msg(op, raw("ab\0c\0")), C.STRING);
    rejects(`${op}: no body`, msg(op), C.STRING);
  }
  const mkdir = sample("MkdirIn").bytes;
  rejects("MKDIR name without NUL", msg(Opcode.MKDIR, mkdir, raw("d")), C.STRING);
  rejects("MKDIR short argument", msg(Opcode.MKDIR, mkdir.subarray(0, 4)), C.SHORT);
  rejects("SYMLINK missing target", msg(Opcode.SYMLINK, cstr("l")), C.STRING);
  rejects("SYMLINK target without NUL", msg(Opcode.SYMLINK, cstr("l"), raw("t")), C.STRING);
  rejects("SYMLINK empty target", msg(Opcode.SYMLINK, cstr("l"), cstr("")), C.STRING);
  rejects("SYMLINK three strings", msg(Opcode.SYMLINK, cstr("l"), cstr("t"), cstr("x")), C.STRING);
  const ren = sample("RenameIn").bytes;
  rejects("RENAME one name", msg(Opcode.RENAME, ren, cstr("a")), C.STRING);
  rejects("RENAME empty old name", msg(Opcode.RENAME, ren, cstr(""), cstr("b")), C.STRING);
  rejects("RENAME2 new name unterminated", msg(Opcode.RENAME2, sample("Rename2In").bytes, cstr("a"), raw("b")), C.STRING);
  rejects("LINK name unterminated", msg(Opcode.LINK, sample("LinkIn").bytes, raw("x")), C.STRING);
  rejects("CREATE no name", msg(Opcode.CREATE, sample("CreateIn").bytes), C.STRING);
  rejects("GETXATTR no name", msg(Opcode.GETXATTR, zeros(8)), C.STRING);
});

test("declared sizes and counts must match the data", () => {
  const write = (size: number, data: number) =>
    msg(Opcode.WRITE, sample("WriteIn", { size }).bytes, new Uint8Array(data));
  rejects("WRITE size > data", write(10, 9), C.LENGTH);
  rejects("WRITE size < data", write(10, 11), C.LENGTH);
  rejects("WRITE huge size", write(0xffff_ffff, 0), C.LENGTH);
  const sx = (size: number, value: number) => msg(Opcode.SETXATTR, u32(size), u32(0), cstr("user.x"), new Uint8Array(value));
  rejects("SETXATTR size > value", sx(5, 4), C.LENGTH);
  rejects("SETXATTR size < value", sx(3, 4), C.LENGTH);
  rejects("SETXATTR name unterminated", msg(Opcode.SETXATTR, u32(0), u32(0), raw("user.x")), C.STRING);
  rejects("SETXATTR 8-byte arg when EXT negotiated", sx(0, 0), C.SHORT, { minor: 38, setxattrExt: true });
  rejects("IOCTL in_size mismatch", msg(Opcode.IOCTL, sample("IoctlIn", { inSize: 4 }).bytes, zeros(3)), C.LENGTH);
  rejects("NOTIFY_REPLY size mismatch", msg(Opcode.NOTIFY_REPLY, sample("NotifyRetrieveIn", { size: 4 }).bytes, zeros(5)), C.LENGTH);
  rejects("BATCH_FORGET count > entries", msg(Opcode.BATCH_FORGET, u32(2), zeros(4), zeros(16)), C.LENGTH);
  rejects("BATCH_FORGET count < entries", msg(Opcode.BATCH_FORGET, u32(1), zeros(4), zeros(32)), C.LENGTH);
  rejects("BATCH_FORGET partial entry", msg(Opcode.BATCH_FORGET, u32(1), zeros(4), zeros(15)), C.LENGTH);
  rejects("BATCH_FORGET count 2^32-1 (no allocation)", msg(Opcode.BATCH_FORGET, u32(0xffff_ffff), zeros(4)), C.LENGTH);
  rejects("REMOVEMAPPING count mismatch", msg(Opcode.REMOVEMAPPING, u32(3), zeros(32)), C.LENGTH);
  rejects("REMOVEMAPPING short count", msg(Opcode.REMOVEMAPPING, zeros(2)), C.SHORT);
  assert.deepEqual((decodeRequest(msg(Opcode.BATCH_FORGET, u32(0), zeros(4))) as { forgets: unknown[] }).forgets, []);
});

test("extensions: total_extlen must fit the body", () => {
  const body = cat(sample("MkdirIn").bytes, cstr("d"));
  const withExt = (extlen: number, ext: Uint8Array) =>
    cat(inHeaderBytes(Opcode.MKDIR, 40 + body.byteLength + ext.byteLength, undefined, extlen), body, ext);
  rejects("extlen beyond message", withExt(100, zeros(8)), C.LENGTH);
  rejects("extlen swallowing the arguments", withExt(2, zeros(8)), C.SHORT);
  const ok = decodeRequest(withExt(1, zeros(8)));
  assert.deepEqual(ok.extensions, zeros(8));
});

test("extension area: malformed extensions are protocol errors", () => {
  const bad: [string, Uint8Array, string][] = [
    ["header cut", zeros(4), C.SHORT],
    ["size 0", cat(u32(0), u32(32)), C.VALUE],
    ["size not a multiple of 8", cat(u32(12), u32(32), zeros(4)), C.VALUE],
    ["size overruns", cat(u32(24), u32(32), zeros(8)), C.LENGTH],
    ["groups count too large", cat(u32(16), u32(32), u32(5), zeros(4)), C.LENGTH],
    ["groups count 2^32-1", cat(u32(16), u32(32), u32(0xffff_ffff), zeros(4)), C.LENGTH],
    ["groups count too small", cat(u32(24), u32(32), u32(1), zeros(12)), C.LENGTH],
    ["secctx count beyond records", cat(u32(8), u32(1)), C.SHORT],
    ["secctx name unterminated", cat(u32(24), u32(1), u32(0), zeros(4), raw("abcdefgh")), C.STRING],
    ["secctx label overruns", cat(u32(24), u32(1), u32(50), zeros(4), cstr("abcdefg")), C.SHORT],
    ["secctx trailing bytes", cat(u32(32), u32(1), u32(0), zeros(4), cstr("abcdefg"), zeros(8)), C.LONG],
  ];
  for (const [label, bytes, code] of bad) {
    assert.throws(() => decodeExtensions(bytes), { code }, label);
  }
  assert.deepEqual(decodeExtensions(new Uint8Array(0)), []);
  assert.throws(() => encodeExtensions([{ kind: "secctx", contexts: [{ name: Buffer.from(""), value: zeros(1) }] }]), {
    code: C.STRING,
  });
});

test("encoders refuse names that cannot travel", () => {
  const lookup = requestFor(Opcode.LOOKUP);
  for (const name of [Buffer.from(""), Buffer.from("a\0b")]) {
    assert.throws(() => encodeRequestBytes({ ...lookup, name } as Request), { code: C.STRING });
  }
  const ext = { ...requestFor(Opcode.MKDIR), extensions: zeros(12) } as Request;
  assert.throws(() => encodeRequestBytes(ext), { code: C.VALUE });
});
