/**
 * What the request-path micro-benchmarks (codec.ts, device-path.ts) share:
 * a request header, constant attributes and entries, a reply target that
 * drops replies, and a FuseServer past INIT.
 */
import { Opcode } from "../../src/fuse/abi.js";
import { encodeRequestBytes, type Request, type RequestHeader } from "../../src/fuse/messages.js";
import type { AttrOut, EntryOut } from "../../src/fuse/structs.js";
import type { FileSystemBase } from "../../src/server/filesystem.js";
import type { ReplyTarget } from "../../src/server/reply.js";
import { FuseServer } from "../../src/server/server.js";

/** The last reply dropped, kept so that producing it is not optimised away. */
export let lastDropped: unknown = null;

export const header = (nodeid: bigint): RequestHeader => ({ unique: 0x1234n, nodeid, uid: 1000, gid: 1000, pid: 4242 });

export const attr = {
  ino: 0x1_0000_0042n,
  size: 12345n,
  blocks: 24n,
  atime: 1_700_000_000n,
  mtime: 1_700_000_001n,
  ctime: 1_700_000_002n,
  atimensec: 123_456_789,
  mtimensec: 223_456_789,
  ctimensec: 323_456_789,
  mode: 0o100644,
  nlink: 1,
  uid: 1000,
  gid: 1000,
  rdev: 0,
  blksize: 4096,
  flags: 0,
};
export const entryOut: EntryOut = { nodeid: 42n, generation: 0n, entryValid: 1n, attrValid: 1n, entryValidNsec: 0, attrValidNsec: 0, attr };
export const attrOut: AttrOut = { attrValid: 1n, attrValidNsec: 0, attr };

/** Drops every reply (keeping the last in {@link lastDropped}). */
export const discard: ReplyTarget = {
  send(chunks) {
    lastDropped = chunks;
  },
  dataBuffers() {
    return [];
  },
  sendData(h) {
    lastDropped = h;
  },
};

/** A FuseServer over `fs` that has answered INIT (protocol 7.38, every flag offered). */
export async function readyServer(fs: FileSystemBase): Promise<FuseServer> {
  const server = new FuseServer(fs);
  const init: Request = {
    opcode: Opcode.INIT,
    header: header(0n),
    arg: { major: 7, minor: 38, maxReadahead: 1 << 17, flags: 0xffff_ffff, flags2: 0xffff_ffff },
  };
  await server.handle(encodeRequestBytes(init), discard);
  if (server.negotiated === null) throw new Error("INIT failed");
  return server;
}
