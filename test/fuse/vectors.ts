/**
 * Byte-exact request vectors: one or more per opcode 1–52 (every opcode in
 * fuse.h's `enum fuse_opcode` up to STATX), each with the expected bytes
 * assembled field by field from the C layouts.
 */
import { Opcode } from "../../src/fuse/abi.js";
import type { Request, RequestHeader, WireOptions } from "../../src/fuse/messages.js";
import { DEFAULT_WIRE_OPTIONS } from "../../src/fuse/messages.js";
import { cat, cstr, layoutBytes, raw, sample, u16, u32, u64, zeros } from "./layouts.js";

export interface RequestVector {
  label: string;
  req: Request;
  bytes: Uint8Array;
  opts: WireOptions;
}

/** A distinct header per opcode. */
export function headerFor(opcode: number): RequestHeader {
  return {
    unique: 0xa1b2c3d4e5f60000n + BigInt(opcode) * 2n,
    nodeid: 0x1122334455660000n + BigInt(opcode),
    uid: 0x01020304,
    gid: 0x05060708,
    pid: 0x090a0b0c,
  };
}

/** `fuse_in_header` bytes written field by field. */
export function inHeaderBytes(opcode: number, len: number, h: RequestHeader = headerFor(opcode), extlen = 0): Uint8Array {
  return cat(u32(len), u32(opcode), u64(h.unique), u64(h.nodeid), u32(h.uid), u32(h.gid), u32(h.pid), u16(extlen), zeros(2));
}

const B = (s: string): Buffer => Buffer.from(s, "latin1");

function vec(
  label: string,
  opcode: number,
  fields: Record<string, unknown>,
  body: Uint8Array[],
  opts: WireOptions = DEFAULT_WIRE_OPTIONS,
): RequestVector {
  const payload = cat(...body);
  const header = headerFor(opcode);
  return {
    label,
    req: { opcode, header, ...fields } as Request,
    bytes: cat(inHeaderBytes(opcode, 40 + payload.byteLength, header), payload),
    opts,
  };
}

/** `arg` from a struct sample, plus its bytes. */
function arg(name: string, overrides: Record<string, number | bigint> = {}, seed = 1): [Record<string, unknown>, Uint8Array] {
  const s = sample<Record<string, unknown>>(name, overrides, seed);
  return [s.value, s.bytes];
}

function argVec(label: string, opcode: number, struct: string, seed = 1): RequestVector {
  const [a, bytes] = arg(struct, {}, seed);
  return vec(label, opcode, { arg: a }, [bytes]);
}

const writeData = new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0x42]);
const ioctlData = new Uint8Array([1, 2, 3, 4, 5, 6, 7]);
const xattrValue = new Uint8Array([0x00, 0x01, 0x00, 0xff]); // holds NULs: values are bytes, not strings
const notifyData = new Uint8Array([9, 8, 7]);

function build(): RequestVector[] {
  const out: RequestVector[] = [];
  const O = Opcode;

  out.push(vec("LOOKUP", O.LOOKUP, { name: B("hello.txt") }, [cstr("hello.txt")]));
  out.push(argVec("FORGET", O.FORGET, "ForgetIn"));
  out.push(argVec("GETATTR", O.GETATTR, "GetattrIn"));
  out.push(argVec("SETATTR", O.SETATTR, "SetattrIn"));
  out.push(vec("READLINK", O.READLINK, {}, []));
  out.push(vec("SYMLINK", O.SYMLINK, { name: B("link"), target: B("../target/file") }, [cstr("link"), cstr("../target/file")]));
  {
    const [a, b] = arg("MknodIn");
    out.push(vec("MKNOD", O.MKNOD, { arg: a, name: B("fifo") }, [b, cstr("fifo")]));
  }
  {
    const [a, b] = arg("MkdirIn");
    out.push(vec("MKDIR", O.MKDIR, { arg: a, name: B("dir") }, [b, cstr("dir")]));
  }
  {
    const name = Buffer.from([0xff, 0xfe, 0x41, 0x80]); // not UTF-8: names are bytes
    out.push(vec("UNLINK (non-UTF-8 name)", O.UNLINK, { name }, [cstr(name)]));
  }
  out.push(vec("RMDIR", O.RMDIR, { name: B("old-dir") }, [cstr("old-dir")]));
  {
    const [a, b] = arg("RenameIn");
    out.push(vec("RENAME", O.RENAME, { arg: a, name: B("a"), newName: B("bb") }, [b, cstr("a"), cstr("bb")]));
  }
  {
    const [a, b] = arg("LinkIn");
    out.push(vec("LINK", O.LINK, { arg: a, name: B("hard") }, [b, cstr("hard")]));
  }
  out.push(argVec("OPEN", O.OPEN, "OpenIn"));
  out.push(argVec("READ", O.READ, "ReadIn"));
  {
    const [a, b] = arg("WriteIn", { size: writeData.byteLength });
    out.push(vec("WRITE", O.WRITE, { arg: a, data: writeData }, [b, writeData]));
  }
  out.push(vec("STATFS", O.STATFS, {}, []));
  out.push(argVec("RELEASE", O.RELEASE, "ReleaseIn"));
  out.push(argVec("FSYNC", O.FSYNC, "FsyncIn"));
  {
    const [a, b] = arg("SetxattrIn", { size: xattrValue.byteLength, setxattrFlags: 0 });
    out.push(
      vec("SETXATTR (8-byte fuse_setxattr_in)", O.SETXATTR, { arg: a, name: B("user.k"), value: xattrValue }, [
        b.subarray(0, 8),
        cstr("user.k"),
        xattrValue,
      ]),
    );
    const [e, eb] = arg("SetxattrIn", { size: xattrValue.byteLength });
    out.push(
      vec(
        "SETXATTR (SETXATTR_EXT)",
        O.SETXATTR,
        { arg: e, name: B("system.posix_acl_access"), value: xattrValue },
        [eb, cstr("system.posix_acl_access"), xattrValue],
        { minor: 38, setxattrExt: true },
      ),
    );
  }
  {
    const [a, b] = arg("GetxattrIn");
    out.push(vec("GETXATTR", O.GETXATTR, { arg: a, name: B("user.k") }, [b, cstr("user.k")]));
  }
  out.push(argVec("LISTXATTR", O.LISTXATTR, "GetxattrIn"));
  out.push(vec("REMOVEXATTR", O.REMOVEXATTR, { name: B("user.k") }, [cstr("user.k")]));
  out.push(argVec("FLUSH", O.FLUSH, "FlushIn"));
  {
    const [a, b] = arg("InitIn", { major: 7, minor: 38 });
    out.push(vec("INIT (64 bytes)", O.INIT, { arg: a }, [b]));
    const [c, cb] = arg("InitIn", { major: 7, minor: 31, flags2: 0 });
    out.push(vec("INIT (16 bytes, pre-7.36)", O.INIT, { arg: c }, [cb.subarray(0, 16)]));
  }
  out.push(argVec("OPENDIR", O.OPENDIR, "OpenIn", 2));
  out.push(argVec("READDIR", O.READDIR, "ReadIn", 2));
  out.push(argVec("RELEASEDIR", O.RELEASEDIR, "ReleaseIn", 2));
  out.push(argVec("FSYNCDIR", O.FSYNCDIR, "FsyncIn", 2));
  out.push(argVec("GETLK", O.GETLK, "LkIn"));
  out.push(argVec("SETLK", O.SETLK, "LkIn", 2));
  out.push(argVec("SETLKW", O.SETLKW, "LkIn", 3));
  out.push(argVec("ACCESS", O.ACCESS, "AccessIn"));
  {
    const [a, b] = arg("CreateIn");
    out.push(vec("CREATE", O.CREATE, { arg: a, name: B("new.txt") }, [b, cstr("new.txt")]));
  }
  out.push(argVec("INTERRUPT", O.INTERRUPT, "InterruptIn"));
  out.push(argVec("BMAP", O.BMAP, "BmapIn"));
  out.push(vec("DESTROY", O.DESTROY, {}, []));
  {
    const [a, b] = arg("IoctlIn", { inSize: ioctlData.byteLength });
    out.push(vec("IOCTL", O.IOCTL, { arg: a, data: ioctlData }, [b, ioctlData]));
  }
  out.push(argVec("POLL", O.POLL, "PollIn"));
  {
    const [a, b] = arg("NotifyRetrieveIn", { size: notifyData.byteLength });
    out.push(vec("NOTIFY_REPLY", O.NOTIFY_REPLY, { arg: a, data: notifyData }, [b, notifyData]));
  }
  {
    const f1 = sample<Record<string, unknown>>("ForgetOne", {}, 1);
    const f2 = sample<Record<string, unknown>>("ForgetOne", {}, 9);
    out.push(
      vec("BATCH_FORGET", O.BATCH_FORGET, { forgets: [f1.value, f2.value] }, [u32(2), zeros(4), f1.bytes, f2.bytes]),
    );
  }
  out.push(argVec("FALLOCATE", O.FALLOCATE, "FallocateIn"));
  out.push(argVec("READDIRPLUS", O.READDIRPLUS, "ReadIn", 3));
  {
    const [a, b] = arg("Rename2In");
    out.push(vec("RENAME2", O.RENAME2, { arg: a, name: B("from"), newName: B("to") }, [b, cstr("from"), cstr("to")]));
  }
  out.push(argVec("LSEEK", O.LSEEK, "LseekIn"));
  out.push(argVec("COPY_FILE_RANGE", O.COPY_FILE_RANGE, "CopyFileRangeIn"));
  out.push(argVec("SETUPMAPPING", O.SETUPMAPPING, "SetupmappingIn"));
  {
    const m1 = sample<Record<string, unknown>>("RemovemappingOne", {}, 1);
    const m2 = sample<Record<string, unknown>>("RemovemappingOne", {}, 5);
    // fuse_removemapping_in is 4 bytes: the entries follow unpadded.
    out.push(vec("REMOVEMAPPING", O.REMOVEMAPPING, { mappings: [m1.value, m2.value] }, [u32(2), m1.bytes, m2.bytes]));
  }
  out.push(vec("SYNCFS", O.SYNCFS, { arg: {} }, [zeros(8)]));
  {
    const [a, b] = arg("CreateIn", {}, 7);
    out.push(vec("TMPFILE", O.TMPFILE, { arg: a, name: B("/") }, [b, cstr("/")]));
  }
  out.push(argVec("STATX", O.STATX, "StatxIn"));

  // Compat sizes of older minors.
  out.push(vec("GETATTR (7.8: no argument)", O.GETATTR, { arg: { getattrFlags: 0, fh: 0n } }, [], { minor: 8, setxattrExt: false }));
  {
    const [a, b] = arg("MknodIn", { umask: 0 });
    out.push(vec("MKNOD (7.11: 8 bytes)", O.MKNOD, { arg: a, name: B("n") }, [b.subarray(0, 8), cstr("n")], { minor: 11, setxattrExt: false }));
  }
  {
    const [a, b] = arg("CreateIn", { umask: 0, openFlags: 0 });
    out.push(vec("CREATE (7.11: 8 bytes)", O.CREATE, { arg: a, name: B("c") }, [b.subarray(0, 8), cstr("c")], { minor: 11, setxattrExt: false }));
  }
  {
    const [a, b] = arg("WriteIn", { size: writeData.byteLength, lockOwner: 0n, flags: 0 });
    out.push(vec("WRITE (7.8: 24 bytes)", O.WRITE, { arg: a, data: writeData }, [b.subarray(0, 24), writeData], { minor: 8, setxattrExt: false }));
  }

  // Extensions (7.38): a security context and a supplementary group after MKDIR's arguments.
  {
    const [a, b] = arg("MkdirIn", {}, 3);
    // One fuse_secctx record: fuse_secctx (8) + name "security.selinux\0" (17) + 9 label bytes = 34, padded to 40.
    const secctx = cat(u32(8 + 40), u32(1), u32(9), zeros(4), cstr("security.selinux"), raw("unconfine"), zeros(6));
    const groups = cat(u32(16), u32(32), u32(1), u32(0x3e8)); // ext header, nr_groups 1, gid 1000: 16 bytes
    const ext = cat(secctx, groups);
    const header = headerFor(O.MKDIR);
    const payload = cat(b, cstr("labelled"));
    out.push({
      label: "MKDIR with extensions",
      req: { opcode: O.MKDIR, header, arg: a as never, name: B("labelled"), extensions: ext },
      bytes: cat(inHeaderBytes(O.MKDIR, 40 + payload.byteLength + ext.byteLength, header, ext.byteLength / 8), payload, ext),
      opts: DEFAULT_WIRE_OPTIONS,
    });
  }
  return out;
}

export const REQUEST_VECTORS: RequestVector[] = build();

/** The first vector of `opcode` at the default options. */
export function requestFor(opcode: number): Request {
  const v = REQUEST_VECTORS.find((x) => x.req.opcode === opcode && x.opts === DEFAULT_WIRE_OPTIONS);
  if (!v) throw new Error(`no request vector for ${opcode}`);
  return v.req;
}

export { layoutBytes };
