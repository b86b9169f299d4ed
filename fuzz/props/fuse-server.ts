/**
 * Message generators for the FUSE server (shared by `npm run fuzz` and
 * test/server/fuzz.test.ts), and the check every reply must pass.
 *
 * - `mutatedRequest`: byte-exact vectors and one well-formed request per
 *   opcode, with bytes flipped, cut or appended;
 * - `framedRequest`: a valid header with any opcode and any body;
 * - `hostileRequest`: a well-formed request of any opcode whose nodeid,
 *   handles, offsets, sizes, flags and modes come from pools that hit the ids
 *   a server really issued (small integers) as well as forged ones, and whose
 *   names are hostile (`..`, `/`, NUL, empty, `trusted.*`, `security.*`).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { Opcode } from "../../src/fuse/abi.js";
import { decodeOutHeader, encodeRequestBytes, NO_REPLY_OPCODES, type Request } from "../../src/fuse/messages.js";
import { REQUEST_VECTORS } from "../../test/fuse/vectors.js";
import { ALL_OPCODES, sampleRequest } from "../../test/server/client.js";

const SEEDS: Uint8Array[] = [
  ...REQUEST_VECTORS.map((v) => v.bytes),
  ...ALL_OPCODES.map((op) => encodeRequestBytes(sampleRequest(op, op % 3 === 0 ? 1n : 2n))),
];

export const mutatedRequest: fc.Arbitrary<Uint8Array> = fc
  .record({
    seed: fc.nat({ max: SEEDS.length - 1 }),
    flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
    cut: fc.option(fc.nat(), { nil: undefined }),
    extra: fc.uint8Array({ maxLength: 24 }),
    fixLen: fc.boolean(),
  })
  .map(({ seed, flips, cut, extra, fixLen }) => {
    let bytes = Uint8Array.from([...SEEDS[seed]!, ...extra]);
    if (cut !== undefined) bytes = bytes.slice(0, cut % (bytes.length + 1));
    for (const [pos, val] of flips) if (bytes.length > 0) bytes[pos % bytes.length] = val;
    if (fixLen && bytes.length >= 4) new DataView(bytes.buffer).setUint32(0, bytes.length, true);
    return bytes;
  });

/** A valid header with any opcode and any body. */
export const framedRequest: fc.Arbitrary<Uint8Array> = fc
  .record({ opcode: fc.integer({ min: 0, max: 60 }), body: fc.uint8Array({ maxLength: 200 }), nodeid: fc.bigInt({ min: 0n, max: 5n }) })
  .map(({ opcode, body, nodeid }) => {
    const bytes = new Uint8Array(40 + body.length);
    const v = new DataView(bytes.buffer);
    v.setUint32(0, bytes.length, true);
    v.setUint32(4, opcode, true);
    v.setBigUint64(8, 0x5000n, true);
    v.setBigUint64(16, nodeid, true);
    bytes.set(body, 40);
    return bytes;
  });

export const anyBytes: fc.Arbitrary<Uint8Array> = fc.uint8Array({ maxLength: 160 });

const HOSTILE_NAMES = ["a", "b", "c", "d", "sub", "..", ".", "", "a/b", "/", "../outside", "/etc", "x\0y", "fifo", "null", "to-outside", "to-secret"];
const XATTR_NAMES = ["user.k", "trusted.evil", "security.capability", "security.selinux", "system.posix_acl_access", "user.", "", "x"];
const MODES = [0o100644, 0o40755, 0o10644, 0o140644, 0o20666, 0o60666, 0o104755, 0o102755, 0o6777, 0o777, 0];
const FLAGS = [0, 1, 2, 0o100, 0o1000, 0o2000, 0o4000, 0o200000, 0o400000, 0o10000000, 0o20200000, 0o101, 0o102];

/**
 * Rewrites every field of a sample request from `recipe`, a stream of random
 * naturals: integers become small ids, flags, modes or anything; names become
 * hostile names. The header's nodeid is the first pick.
 */
function hostile(opcode: number, recipe: readonly number[]): Request {
  let i = 0;
  const next = (): number => recipe[i++ % recipe.length]!;
  const nodeid = (): bigint => {
    const r = next();
    // Mostly the root and the first few ids a session issues (so that requests reach the file
    // system), sometimes a forged one.
    const k = r % 20;
    if (k < 3) return (BigInt(r) * 0x1_0000_0001n) & ((1n << 64n) - 1n);
    return k < 11 ? 1n : BigInt(2 + (r % 6));
  };
  const num = (key: string): number => {
    const r = next();
    if (/mode/i.test(key)) return MODES[r % MODES.length]!;
    if (/flags/i.test(key)) return r % 3 === 0 ? FLAGS[r % FLAGS.length]! : r >>> 0;
    if (/size/i.test(key)) return r % 4 === 0 ? r >>> 0 : r % 5000;
    if (key === "uid" || key === "gid" || key === "pid") return r % 2 === 0 ? 0 : 1000 + (r % 3);
    if (key === "type") return r % 4;
    if (key === "whence") return r % 5;
    return r % 4 === 0 ? r >>> 0 : r % 16;
  };
  const big = (key: string): bigint => {
    const r = next();
    if (/^(fh|fhIn|fhOut|newdir|oldnodeid|nodeidOut|nodeid)$/.test(key)) return nodeid();
    if (r % 5 === 0) return (BigInt(r) << 33n) & ((1n << 64n) - 1n);
    if (/offset|off|start|end|length|len|block/i.test(key)) return BigInt(r % 70000);
    return BigInt(r % 16);
  };
  const name = (key: string): Buffer => {
    const r = next();
    if (key === "name" && r % 3 === 0) return Buffer.from(XATTR_NAMES[r % XATTR_NAMES.length]!);
    return Buffer.from(HOSTILE_NAMES[r % HOSTILE_NAMES.length]!);
  };
  const walk = (value: unknown, key: string): unknown => {
    if (typeof value === "number") return num(key);
    if (typeof value === "bigint") return big(key);
    if (value instanceof Uint8Array) {
      if (key === "data" || key === "value") return new Uint8Array(next() % 64).fill(0x41);
      return name(key);
    }
    if (Array.isArray(value)) return value.map((v) => walk(v, key));
    if (typeof value === "object" && value !== null) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = walk(v, k);
      return out;
    }
    return value;
  };
  const sample = sampleRequest(opcode, 1n);
  const { header, opcode: _opcode, ...body } = sample as Request & Record<string, unknown>;
  const fields = walk(body, "") as Record<string, unknown>;
  // WRITE/SETXATTR sizes must match the data for the encoder; keep them consistent most of the time.
  if (opcode === Opcode.WRITE && next() % 4 !== 0) (fields.arg as { size: number }).size = (fields.data as Uint8Array).length;
  if (opcode === Opcode.SETXATTR && next() % 4 !== 0) (fields.arg as { size: number }).size = (fields.value as Uint8Array).length;
  return { opcode, header: { ...header, nodeid: nodeid(), uid: num("uid"), gid: num("gid") }, ...fields } as Request;
}

/** Opcodes for `hostileRequest`: all but SETLKW, which would wait for ever on a held lock (it becomes SETLK). */
const HOSTILE_OPCODES = ALL_OPCODES.filter((op) => op !== Opcode.SETLKW);

export const hostileRequest: fc.Arbitrary<Uint8Array> = fc
  .record({ op: fc.constantFrom(...HOSTILE_OPCODES), recipe: fc.array(fc.nat(), { minLength: 24, maxLength: 24 }) })
  .map(({ op, recipe }) => {
    try {
      return encodeRequestBytes(hostile(op, recipe));
    } catch {
      // A combination the encoder refuses (a value out of its field's range): send the sample instead.
      return encodeRequestBytes(sampleRequest(op, BigInt(recipe[0]! % 16)));
    }
  });

/** Every input shape, with hostile requests weighted up. */
export const anyRequest: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 2, arbitrary: mutatedRequest },
  { weight: 1, arbitrary: framedRequest },
  { weight: 1, arbitrary: anyBytes },
  { weight: 4, arbitrary: hostileRequest },
);

/** SETLKW in raw bytes (mutations can make one) becomes SETLK: a real lock held by another owner would block it for ever. */
export function defuse(bytes: Uint8Array): Uint8Array {
  if (bytes.length >= 8) {
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (v.getUint32(4, true) === Opcode.SETLKW) v.setUint32(4, Opcode.SETLK, true);
  }
  return bytes;
}

/**
 * The replies to `bytes`: none without a full header; otherwise exactly one
 * (none for FORGET, BATCH_FORGET, NOTIFY_REPLY), each a reply the Linux
 * client accepts: exact length, error in (-512, 0], header-only when an
 * error, the request's unique.
 */
export function checkReplies(bytes: Uint8Array, replies: readonly Uint8Array[], what = ""): void {
  if (bytes.length < 40) {
    assert.equal(replies.length, 0);
    return;
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const opcode = v.getUint32(4, true);
  assert.equal(replies.length, NO_REPLY_OPCODES.has(opcode) ? 0 : 1, `opcode ${opcode}${what}`);
  for (const reply of replies) {
    const h = decodeOutHeader(reply); // len exact, error in (-512, 0], error replies header-only
    assert.equal(h.unique, v.getBigUint64(8, true));
    assert.ok(h.error <= 0 && h.error > -512);
  }
}

/** Rejects if `p` does not settle within `ms`. */
export async function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_r, reject) => {
    timer = setTimeout(() => reject(new Error(`handle did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
