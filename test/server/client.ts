/**
 * A tiny in-process FUSE client for the server tests: builds requests with
 * the codec, runs them through `FuseServer.handle` with a MessageReply and
 * decodes the replies.
 */
import assert from "node:assert/strict";
import { Opcode, splitInitFlags } from "../../src/fuse/abi.js";
import {
  decodeReply,
  encodeRequestBytes,
  type ReplyOf,
  type ReplyOpcode,
  type Request,
  type RequestHeader,
  type RequestOf,
  type WireOptions,
} from "../../src/fuse/messages.js";
import { MessageReply } from "../../src/server/reply.js";
import type { FuseServer } from "../../src/server/server.js";

let nextUnique = 0x100n;

/** A request header with a fresh (even) unique. */
export function hdr(nodeid = 1n, unique?: bigint): RequestHeader {
  nextUnique += 2n;
  return { unique: unique ?? nextUnique, nodeid, uid: 1000, gid: 100, pid: 4242 };
}

export const B = (s: string): Buffer => Buffer.from(s, "latin1");

/** Every INIT flag bit a client can send. */
export const ALL_FLAGS = (1n << 64n) - 1n;

export function initReq(minor = 38, flags = ALL_FLAGS, major = 7, maxReadahead = 131072): RequestOf<typeof Opcode.INIT> {
  const { flags: lo, flags2 } = splitInitFlags(flags);
  return { opcode: Opcode.INIT, header: hdr(0n), arg: { major, minor, maxReadahead, flags: lo, flags2 } };
}

/** Runs raw request bytes; returns every reply sent (copies). */
export async function exchange(server: FuseServer, bytes: Uint8Array, payload?: Uint8Array[]): Promise<Uint8Array[]> {
  const replies: Uint8Array[] = [];
  await server.handle(bytes, new MessageReply((m) => void replies.push(m.slice())), payload);
  return replies;
}

/** Runs a request; returns its replies. */
export function send(server: FuseServer, req: Request, opts: WireOptions = server.wireOptions): Promise<Uint8Array[]> {
  return exchange(server, encodeRequestBytes(req, opts));
}

/** Runs a request that must get exactly one reply, decoded. */
export async function call<R extends Request>(
  server: FuseServer,
  req: R,
  opts: WireOptions = server.wireOptions,
): Promise<ReplyOf<Extract<R["opcode"], ReplyOpcode>>> {
  const replies = await send(server, req, opts);
  assert.equal(replies.length, 1, `one reply to ${req.opcode}`);
  return decodeReply(req, replies[0]!, server.wireOptions);
}

/** The errno of a reply that must be an error. */
export async function errnoOf(server: FuseServer, req: Request): Promise<number> {
  const r = await call(server, req);
  assert.equal(r.ok, false, `expected an error reply to opcode ${req.opcode}`);
  return r.ok ? 0 : r.errno;
}

const lk = { start: 0n, end: 99n, type: 1, pid: 7 };

/** One well-formed request per opcode 1–52 (holes 7 and 19 excepted), about `nodeid`. */
export function sampleRequest(opcode: number, nodeid = 1n): Request {
  const header = hdr(nodeid);
  const read = { fh: 5n, offset: 0n, size: 4096, readFlags: 0, lockOwner: 0n, flags: 0 };
  const release = { fh: 5n, flags: 0, releaseFlags: 0, lockOwner: 0n };
  const create = { flags: 0o101, mode: 0o100644, umask: 0o022, openFlags: 0 };
  const bodies: Record<number, object> = {
    [Opcode.LOOKUP]: { name: B("name") },
    [Opcode.FORGET]: { arg: { nlookup: 1n } },
    [Opcode.GETATTR]: { arg: { getattrFlags: 0, fh: 0n } },
    [Opcode.SETATTR]: {
      arg: { valid: 1, fh: 0n, size: 0n, lockOwner: 0n, atime: 0n, mtime: 0n, ctime: 0n, atimensec: 0, mtimensec: 0, ctimensec: 0, mode: 0o600, uid: 0, gid: 0 },
    },
    [Opcode.READLINK]: {},
    [Opcode.SYMLINK]: { name: B("link"), target: B("target/path") },
    [Opcode.MKNOD]: { arg: { mode: 0o10644, rdev: 0, umask: 0o022 }, name: B("fifo") },
    [Opcode.MKDIR]: { arg: { mode: 0o755, umask: 0o022 }, name: B("dir") },
    [Opcode.UNLINK]: { name: B("name") },
    [Opcode.RMDIR]: { name: B("dir") },
    [Opcode.RENAME]: { arg: { newdir: 1n }, name: B("a"), newName: B("b") },
    [Opcode.LINK]: { arg: { oldnodeid: 9n }, name: B("hard") },
    [Opcode.OPEN]: { arg: { flags: 2, openFlags: 0 } },
    [Opcode.READ]: { arg: read },
    [Opcode.WRITE]: { arg: { fh: 5n, offset: 0n, size: 3, writeFlags: 0, lockOwner: 0n, flags: 0 }, data: Uint8Array.of(1, 2, 3) },
    [Opcode.STATFS]: {},
    [Opcode.RELEASE]: { arg: release },
    [Opcode.FSYNC]: { arg: { fh: 5n, fsyncFlags: 1 } },
    [Opcode.SETXATTR]: { arg: { size: 2, flags: 0, setxattrFlags: 0 }, name: B("user.k"), value: Uint8Array.of(0, 1) },
    [Opcode.GETXATTR]: { arg: { size: 64 }, name: B("user.k") },
    [Opcode.LISTXATTR]: { arg: { size: 64 } },
    [Opcode.REMOVEXATTR]: { name: B("user.k") },
    [Opcode.FLUSH]: { arg: { fh: 5n, lockOwner: 1n } },
    [Opcode.INIT]: initReq(),
    [Opcode.OPENDIR]: { arg: { flags: 0, openFlags: 0 } },
    [Opcode.READDIR]: { arg: read },
    [Opcode.RELEASEDIR]: { arg: release },
    [Opcode.FSYNCDIR]: { arg: { fh: 5n, fsyncFlags: 0 } },
    [Opcode.GETLK]: { arg: { fh: 5n, owner: 3n, lk, lkFlags: 0 } },
    [Opcode.SETLK]: { arg: { fh: 5n, owner: 3n, lk, lkFlags: 0 } },
    [Opcode.SETLKW]: { arg: { fh: 5n, owner: 3n, lk, lkFlags: 0 } },
    [Opcode.ACCESS]: { arg: { mask: 4 } },
    [Opcode.CREATE]: { arg: create, name: B("new") },
    [Opcode.INTERRUPT]: { arg: { unique: 0x7777_0000n } },
    [Opcode.BMAP]: { arg: { block: 3n, blocksize: 4096 } },
    [Opcode.DESTROY]: {},
    [Opcode.IOCTL]: { arg: { fh: 5n, flags: 0, cmd: 0x1234, arg: 0n, inSize: 2, outSize: 8 }, data: Uint8Array.of(9, 9) },
    [Opcode.POLL]: { arg: { fh: 5n, kh: 1n, flags: 0, events: 1 } },
    [Opcode.NOTIFY_REPLY]: { arg: { offset: 0n, size: 1 }, data: Uint8Array.of(1) },
    [Opcode.BATCH_FORGET]: { forgets: [{ nodeid: 2n, nlookup: 1n }] },
    [Opcode.FALLOCATE]: { arg: { fh: 5n, offset: 0n, length: 100n, mode: 0 } },
    [Opcode.READDIRPLUS]: { arg: read },
    [Opcode.RENAME2]: { arg: { newdir: 1n, flags: 1 }, name: B("a"), newName: B("b") },
    [Opcode.LSEEK]: { arg: { fh: 5n, offset: 0n, whence: 3 } },
    [Opcode.COPY_FILE_RANGE]: { arg: { fhIn: 5n, offIn: 0n, nodeidOut: 2n, fhOut: 6n, offOut: 0n, len: 10n, flags: 0n } },
    [Opcode.SETUPMAPPING]: { arg: { fh: 5n, foffset: 0n, len: 4096n, flags: 0n, moffset: 0n } },
    [Opcode.REMOVEMAPPING]: { mappings: [{ moffset: 0n, len: 4096n }] },
    [Opcode.SYNCFS]: { arg: {} },
    [Opcode.TMPFILE]: { arg: create, name: B("/") },
    [Opcode.STATX]: { arg: { getattrFlags: 0, fh: 0n, sxFlags: 0, sxMask: 0x7ff } },
  };
  const body = bodies[opcode];
  if (body === undefined) throw new Error(`no sample request for opcode ${opcode}`);
  if (opcode === Opcode.INIT) return body as Request;
  return { opcode, header, ...body } as Request;
}

/** Every opcode with a sample request. */
export const ALL_OPCODES: number[] = Object.values(Opcode).filter((o) => o !== Opcode.INIT) as number[];
