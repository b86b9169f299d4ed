/**
 * Properties of the FUSE codec (shared by `npm run fuzz` and the bounded runs
 * in test/fuse/fuzz.test.ts): random and mutated messages make the decoders
 * return a value or throw a ProtocolError, nothing else; whatever decodes
 * re-encodes to the same value; every view a decoder returns lies inside the
 * message. Each message sits inside a larger buffer of guard bytes, so a read
 * past its end would see them.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { Opcode } from "../../src/fuse/abi.js";
import {
  decodeReply,
  decodeRequest,
  DEFAULT_WIRE_OPTIONS,
  encodeReplyBytes,
  encodeRequestBytes,
  hasReply,
  type ReplyBodyMap,
  type ReplyOpcode,
  type Request,
  type WireOptions,
} from "../../src/fuse/messages.js";
import { decodeDirentplus, decodeDirents } from "../../src/fuse/dirent.js";
import { decodeExtensions, encodeExtensions } from "../../src/fuse/extensions.js";
import { ProtocolError } from "../../src/common/errors.js";
import { REQUEST_VECTORS } from "../../test/fuse/vectors.js";
import { cat, i32, u16, u32, u64 } from "../../test/fuse/layouts.js";

/** `bytes` copied into the middle of a guard-filled buffer. */
export function embed(bytes: Uint8Array): Uint8Array {
  const big = new Uint8Array(bytes.byteLength + 64).fill(0xa5);
  big.set(bytes, 32);
  return big.subarray(32, 32 + bytes.byteLength);
}

/** Calls `f`; a ProtocolError gives undefined, anything else fails the property. */
export function tolerant<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    if (ProtocolError.is(e)) return undefined;
    throw e;
  }
}

/** Every Uint8Array reachable from `value` is a view inside `msg`. */
export function viewsInside(value: unknown, msg: Uint8Array): void {
  if (value instanceof Uint8Array) {
    assert.equal(value.buffer, msg.buffer, "view of another buffer");
    assert.ok(value.byteOffset >= msg.byteOffset && value.byteOffset + value.byteLength <= msg.byteOffset + msg.byteLength, "view outside the message");
    return;
  }
  if (typeof value === "object" && value !== null) for (const v of Object.values(value)) viewsInside(v, msg);
}

const KNOWN = Object.values(Opcode) as number[];

export const arbWireOptions: fc.Arbitrary<WireOptions> = fc.record({
  minor: fc.oneof(fc.constant(38), fc.integer({ min: 0, max: 45 })),
  setxattrExt: fc.boolean(),
});

function inHeader(len: number, opcode: number, unique: bigint, nodeid: bigint, extlen: number): Uint8Array {
  return cat(u32(len), u32(opcode), u64(unique), u64(nodeid), u32(1000), u32(1000), u32(42), u16(extlen), u16(0));
}

/** A request message (header and body) and the wire options to decode it with. */
export interface RequestCase {
  bytes: Uint8Array;
  opts: WireOptions;
}

/** Random requests: any opcode (mostly known ones), bodies shaped to reach deep, lengths a little off. */
export const arbRandomRequest: fc.Arbitrary<RequestCase> = fc
  .record({
    opcode: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...KNOWN) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) }),
    body: fc.oneof(
      fc.uint8Array({ maxLength: 160 }),
      // Bodies made of small words and NULs reach deeper (counts, sizes, names).
      fc.array(fc.constantFrom(0, 1, 2, 8, 16, 0x61, 0x2f, 0xff), { maxLength: 160 }).map((a) => new Uint8Array(a)),
      // A struct-sized argument, then maybe a name or two.
      fc
        .tuple(
          fc.constantFrom(0, 4, 8, 16, 24, 32, 40, 48, 56, 64, 88).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
          fc.array(fc.string({ unit: "grapheme-ascii", maxLength: 6 }), { maxLength: 2 }),
        )
        .map(([arg, names]) => cat(arg, ...names.map((n) => new Uint8Array(Buffer.from(`${n}\0`))))),
    ),
    extlen: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 0xffff })),
    lenDelta: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -48, max: 48 }) }),
    unique: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    opts: arbWireOptions,
  })
  .map(({ opcode, body, extlen, lenDelta, unique, opts }) => {
    const len = Math.max(0, 40 + body.byteLength + lenDelta);
    return { bytes: cat(inHeader(len, opcode, unique, 1n, extlen), body), opts };
  });

/** Byte-exact request vectors with a few bytes flipped, cut or appended. */
export const arbMutatedRequest: fc.Arbitrary<RequestCase> = fc
  .record({
    index: fc.nat({ max: REQUEST_VECTORS.length - 1 }),
    flips: fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { maxLength: 6 }),
    cut: fc.oneof(fc.constant(0), fc.nat({ max: 64 })),
    extra: fc.uint8Array({ maxLength: 24 }),
    fixLen: fc.boolean(),
    opts: fc.oneof(fc.constant(undefined), arbWireOptions),
  })
  .map(({ index, flips, cut, extra, fixLen, opts }) => {
    const v = REQUEST_VECTORS[index]!;
    const bytes = cat(v.bytes.subarray(0, Math.max(0, v.bytes.byteLength - cut)), extra);
    for (const f of flips) if (bytes.byteLength > 0) bytes[f.at % bytes.byteLength] = f.value;
    if (fixLen && bytes.byteLength >= 4) new DataView(bytes.buffer, bytes.byteOffset).setUint32(0, bytes.byteLength, true);
    return { bytes, opts: opts ?? v.opts };
  });

/** Decode or ProtocolError; views inside the message; decoded requests round-trip. */
export function checkRequest({ bytes, opts }: RequestCase): void {
  const msg = embed(bytes);
  const req = tolerant(() => decodeRequest(msg, opts));
  if (!req) return;
  viewsInside(req, msg);
  // An INIT argument of 64 bytes with minor < 36 re-encodes at 16 bytes, dropping flags2 (by design).
  if (req.opcode === Opcode.INIT && req.arg.minor < 36) return;
  assert.deepEqual(decodeRequest(encodeRequestBytes(req, opts), opts), req);
}

const ANSWERED = REQUEST_VECTORS.filter((v) => hasReply(v.req.opcode));

/** A reply to one of the vector requests: any error, any body, lengths a little off. */
export interface ReplyCase {
  index: number;
  error: number;
  body: Uint8Array;
  lenDelta: number;
  otherUnique: boolean;
  smallSize: number;
  opts: WireOptions;
}

export const arbReply: fc.Arbitrary<ReplyCase> = fc.record({
  index: fc.nat({ max: ANSWERED.length - 1 }),
  error: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -600, max: 10 }) }, { weight: 1, arbitrary: fc.integer() }),
  body: fc.oneof(
    fc.uint8Array({ maxLength: 320 }),
    fc.constantFrom(0, 8, 16, 24, 64, 104, 120, 128, 144, 288).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
  ),
  lenDelta: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -20, max: 20 }) }),
  otherUnique: fc.boolean(),
  smallSize: fc.nat({ max: 64 }),
  opts: arbWireOptions,
});

/** Decode or ProtocolError; views inside; decoded successes re-encode to the same reply. */
export function checkReply({ index, error, body, lenDelta, otherUnique, smallSize, opts }: ReplyCase): void {
  let req: Request = ANSWERED[index]!.req;
  // Small requested sizes make the "at most the requested size" checks bite.
  if ("arg" in req && typeof req.arg === "object" && "size" in req.arg && req.opcode !== Opcode.WRITE) {
    req = { ...req, arg: { ...req.arg, size: smallSize } } as Request;
  }
  const unique = otherUnique ? req.header.unique ^ 1n : req.header.unique;
  const len = Math.max(0, 16 + body.byteLength + lenDelta);
  const msg = embed(cat(u32(len), i32(error), u64(unique), body));
  const reply = tolerant(() => decodeReply(req, msg, opts));
  if (!reply) return;
  viewsInside(reply, msg);
  if (!reply.ok) return;
  const opcode = req.opcode as ReplyOpcode;
  // The decoder takes an INIT reply of any compat size; the encoder sizes it by the driver's minor.
  const encOpts = opcode === Opcode.INIT ? DEFAULT_WIRE_OPTIONS : opts;
  const again = encodeReplyBytes(reply.unique, opcode, reply.body as ReplyBodyMap[ReplyOpcode], encOpts);
  assert.deepEqual(decodeReply(req, again, opts), reply);
}

/** Byte strings shaped like dirent records: small namelens, some off by a little. */
const arbDirentish = fc
  .array(
    fc.record({
      plus: fc.uint8Array({ minLength: 0, maxLength: 128 }),
      ino: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      namelen: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 1020, max: 1030 }), fc.nat()),
      name: fc.uint8Array({ maxLength: 24 }),
      pad: fc.integer({ min: 0, max: 9 }),
    }),
    { maxLength: 5 },
  )
  .map((recs) => cat(...recs.map((r) => cat(r.plus, u64(r.ino), u64(1n), u32(r.namelen >>> 0), u32(8), r.name, new Uint8Array(r.pad)))));

export const arbDirentStream: fc.Arbitrary<Uint8Array> = fc.oneof(fc.uint8Array({ maxLength: 400 }), arbDirentish);

/** Both dirent decoders: a list of views inside the stream, or ProtocolError. */
export function checkDirents(bytes: Uint8Array): void {
  const msg = embed(bytes);
  const a = tolerant(() => decodeDirents(msg));
  if (a) viewsInside(a, msg);
  const b = tolerant(() => decodeDirentplus(msg));
  if (b) viewsInside(b, msg);
}

const arbExtish = fc
  .array(
    fc.record({
      size: fc.oneof(fc.constantFrom(0, 8, 16, 24, 32, 40), fc.nat()),
      type: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.nat()),
      body: fc.uint8Array({ maxLength: 40 }),
    }),
    { maxLength: 4 },
  )
  .map((exts) => cat(...exts.map((e) => cat(u32(e.size >>> 0), u32(e.type >>> 0), e.body))));

export const arbExtensionArea: fc.Arbitrary<Uint8Array> = fc.oneof(fc.uint8Array({ maxLength: 200 }), arbExtish);

/** Extension areas: decode or ProtocolError; decoded ones round-trip. */
export function checkExtensions(bytes: Uint8Array): void {
  const msg = embed(bytes);
  const list = tolerant(() => decodeExtensions(msg));
  if (!list) return;
  viewsInside(list, msg);
  assert.deepEqual(decodeExtensions(encodeExtensions(list)), list);
}

/** One input of the codec campaign: any of the above. */
export type CodecInput =
  | { kind: "request"; c: RequestCase }
  | { kind: "reply"; c: ReplyCase }
  | { kind: "dirents"; bytes: Uint8Array }
  | { kind: "extensions"; bytes: Uint8Array };

export const arbCodecInput: fc.Arbitrary<CodecInput> = fc.oneof(
  { weight: 3, arbitrary: arbRandomRequest.map((c) => ({ kind: "request" as const, c })) },
  { weight: 3, arbitrary: arbMutatedRequest.map((c) => ({ kind: "request" as const, c })) },
  { weight: 2, arbitrary: arbReply.map((c) => ({ kind: "reply" as const, c })) },
  { weight: 1, arbitrary: arbDirentStream.map((bytes) => ({ kind: "dirents" as const, bytes })) },
  { weight: 1, arbitrary: arbExtensionArea.map((bytes) => ({ kind: "extensions" as const, bytes })) },
);

export function checkCodecInput(input: CodecInput): void {
  switch (input.kind) {
    case "request":
      return checkRequest(input.c);
    case "reply":
      return checkReply(input.c);
    case "dirents":
      return checkDirents(input.bytes);
    case "extensions":
      return checkExtensions(input.bytes);
  }
}
