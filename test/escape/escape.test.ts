/**
 * The escape suite: a malicious guest driver (raw FUSE requests built byte by
 * byte, sent through the guest driver's virtqueues) against a real
 * `viofs serve --sandbox=none` process, so that any escape would land on this
 * host. Each attack asserts the exact errno, and every test ends by checking
 * that nothing outside the share was read into a reply, written, created,
 * linked, or had its mode or owner changed (canaries in `outside/`, and
 * /etc/passwd). test/passthrough covers the same ground on the file system
 * object in-process; this suite goes through the server's decoding, the
 * device and the daemon's real credentials.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { Errno, errnoName } from "../../src/common/errno.js";
import { FAttr, FUSE_ROOT_ID, InitFlag, Mode, Opcode, OpenFlag, WriteFlag } from "../../src/fuse/abi.js";
import {
  AttrOut,
  CreateIn,
  EntryOut,
  ForgetIn,
  LinkIn,
  MkdirIn,
  MknodIn,
  OpenIn,
  OpenOut,
  ReadIn,
  ReleaseIn,
  RenameIn,
  SetattrIn,
  SetxattrIn,
  WriteIn,
} from "../../src/fuse/structs.js";
import type { FuseSession } from "../../src/guest/session.js";
import { Daemon, type Connection } from "./daemon.js";

const ROOT = FUSE_ROOT_ID;
const USER = { uid: 1000, gid: 1000 };

let daemon: Daemon;
let conn: Connection;
let session: FuseSession;
let canaries: string;

/** A name as the wire carries it: its bytes and a NUL. */
const z = (name: string | Uint8Array): Buffer => Buffer.concat([Buffer.from(name), Buffer.of(0)]);

interface Raw {
  errno: number;
  body: Uint8Array;
}

async function raw(opcode: number, nodeid: bigint, parts: Uint8Array[], o: { uid?: number; gid?: number } = {}): Promise<Raw> {
  return session.request(opcode, nodeid, Buffer.concat(parts), o);
}

/** Asserts the request failed with `expected`. */
async function fails(expected: keyof typeof Errno, what: string, p: Promise<Raw>): Promise<void> {
  const r = await p;
  assert.equal(r.errno === 0 ? "success" : errnoName(r.errno), expected, what);
}

async function ok(what: string, p: Promise<Raw>): Promise<Uint8Array> {
  const r = await p;
  assert.equal(r.errno === 0 ? "success" : errnoName(r.errno), "success", what);
  return r.body;
}

const lookup = (parent: bigint, name: string | Uint8Array, o?: { uid?: number; gid?: number }) => raw(Opcode.LOOKUP, parent, [z(name)], o);
const mkdir = (parent: bigint, name: string | Uint8Array, o?: { uid?: number; gid?: number }) =>
  raw(Opcode.MKDIR, parent, [MkdirIn.toBytes({ mode: 0o755, umask: 0 }), z(name)], o);
const mknod = (parent: bigint, name: string | Uint8Array, mode: number, rdev = 0) =>
  raw(Opcode.MKNOD, parent, [MknodIn.toBytes({ mode, rdev, umask: 0 }), z(name)]);
const create = (parent: bigint, name: string | Uint8Array, flags: number = OpenFlag.O_RDWR, mode = 0o644, o?: { uid?: number; gid?: number }) =>
  raw(Opcode.CREATE, parent, [CreateIn.toBytes({ flags, mode, umask: 0, openFlags: 0 }), z(name)], o);
const open = (nodeid: bigint, flags: number) => raw(Opcode.OPEN, nodeid, [OpenIn.toBytes({ flags, openFlags: 0 })]);
const read = (nodeid: bigint, fh: bigint, size = 4096) =>
  raw(Opcode.READ, nodeid, [ReadIn.toBytes({ fh, offset: 0n, size, readFlags: 0, lockOwner: 0n, flags: 0 })]);
const write = (nodeid: bigint, fh: bigint, data: Uint8Array, o?: { uid?: number; gid?: number }) =>
  raw(Opcode.WRITE, nodeid, [WriteIn.toBytes({ fh, offset: 0n, size: data.length, writeFlags: 0, lockOwner: 0n, flags: 0 }), data], o);
const release = (nodeid: bigint, fh: bigint) => raw(Opcode.RELEASE, nodeid, [ReleaseIn.toBytes({ fh, flags: 0, releaseFlags: 0, lockOwner: 0n })]);
const setattr = (nodeid: bigint, v: Partial<SetattrIn> & { valid: number }, o?: { uid?: number; gid?: number }) =>
  raw(Opcode.SETATTR, nodeid, [SetattrIn.toBytes({ ...SetattrIn.zero(), ...v })], o);
const rename = (parent: bigint, name: string, newdir: bigint, newName: string) => raw(Opcode.RENAME, parent, [RenameIn.toBytes({ newdir }), z(name), z(newName)]);
const link = (nodeid: bigint, newParent: bigint, name: string) => raw(Opcode.LINK, newParent, [LinkIn.toBytes({ oldnodeid: nodeid }), z(name)]);

function setxattrBody(name: string, value: Uint8Array, flags = 0): Uint8Array[] {
  const ext = (session.info.flags & InitFlag.SETXATTR_EXT) !== 0n;
  return [SetxattrIn.toBytes({ size: value.length, flags, setxattrFlags: 0 }, ext ? 16 : 8), z(name), value];
}

const entry = (body: Uint8Array): EntryOut => EntryOut.fromBytes(body.subarray(0, EntryOut.SIZE));
const modeOf = (p: string): number => fs.lstatSync(path.join(daemon.share, p)).mode & 0o7777;

async function node(name: string, parent = ROOT): Promise<EntryOut> {
  return entry(await ok(`lookup ${name}`, lookup(parent, name)));
}

async function openFh(nodeid: bigint, flags: number): Promise<bigint> {
  return OpenOut.fromBytes(await ok("open", open(nodeid, flags))).fh;
}

before(async () => {
  daemon = await Daemon.start({
    prepare(share, outside) {
      fs.writeFileSync(path.join(share, "f"), "inside\n");
      fs.mkdirSync(path.join(share, "d"));
      fs.symlinkSync(outside, path.join(share, "to-outside"));
      fs.symlinkSync("../outside/secret", path.join(share, "to-secret"));
      fs.symlinkSync(path.join(outside, "secret"), path.join(share, "abs-secret"));
      fs.symlinkSync("/proc/self/root/etc/passwd", path.join(share, "magic"));
    },
  });
  conn = await daemon.connect();
  session = conn.session;
  canaries = daemon.outsideSnapshot();
});

after(async () => {
  await session?.close().catch(() => undefined);
  conn?.driver.close();
  await daemon?.stop();
});

/** Every test ends here: nothing outside the share changed. */
function nothingEscaped(): void {
  assert.equal(daemon.outsideSnapshot(), canaries, "something outside the share changed");
}

test("names that are not one component are EINVAL for every op that names; '.' and '..' only for LOOKUP", async () => {
  const f = await node("f");
  const bad: (string | Uint8Array)[] = ["", ".", "..", "/", "a/b", "../outside", "/etc", "../outside/secret", Buffer.from("x\0y")];
  for (const name of bad) {
    const what = JSON.stringify(Buffer.from(name).toString("latin1"));
    await fails("EINVAL", `mkdir ${what}`, mkdir(ROOT, name));
    await fails("EINVAL", `mknod ${what}`, mknod(ROOT, name, Mode.S_IFREG | 0o644));
    await fails("EINVAL", `symlink ${what}`, raw(Opcode.SYMLINK, ROOT, [z(name), z("target")]));
    await fails("EINVAL", `create ${what}`, create(ROOT, name));
    await fails("EINVAL", `unlink ${what}`, raw(Opcode.UNLINK, ROOT, [z(name)]));
    await fails("EINVAL", `rmdir ${what}`, raw(Opcode.RMDIR, ROOT, [z(name)]));
    await fails("EINVAL", `link to ${what}`, raw(Opcode.LINK, ROOT, [LinkIn.toBytes({ oldnodeid: f.nodeid }), z(name)]));
    await fails("EINVAL", `rename f to ${what}`, raw(Opcode.RENAME, ROOT, [RenameIn.toBytes({ newdir: ROOT }), z("f"), z(name)]));
    await fails("EINVAL", `rename ${what} to z`, raw(Opcode.RENAME, ROOT, [RenameIn.toBytes({ newdir: ROOT }), z(name), z("z")]));
  }
  for (const name of ["", "/", "a/b", "../outside/secret", "/etc/passwd", Buffer.from("x\0y")]) {
    await fails("EINVAL", `lookup ${JSON.stringify(Buffer.from(name).toString("latin1"))}`, lookup(ROOT, name));
  }
  // A name without its NUL: the request is malformed (the server cannot tell where the name ends).
  await fails("EINVAL", "lookup without NUL", raw(Opcode.LOOKUP, ROOT, [Buffer.from("f")]));
  await fails("EINVAL", "mkdir without NUL", raw(Opcode.MKDIR, ROOT, [MkdirIn.toBytes({ mode: 0o755, umask: 0 }), Buffer.from("new")]));
  assert.deepEqual(fs.readdirSync(daemon.share).sort(), ["abs-secret", "d", "f", "magic", "to-outside", "to-secret"], "nothing was created");
  nothingEscaped();
});

test("LOOKUP '..' at the root is the root; '..' of a directory moved out of the share is refused", async () => {
  const rootAttr = AttrOut.fromBytes(await ok("getattr root", raw(Opcode.GETATTR, ROOT, [new Uint8Array(16)])));
  const up = await node("..");
  assert.equal(up.nodeid, ROOT);
  assert.equal(up.attr.ino, rootAttr.attr.ino);
  assert.equal(up.attr.ino, BigInt(fs.statSync(daemon.share).ino));
  const self = await node(".");
  assert.equal(self.nodeid, ROOT);
  // A directory the host moves out of the share while the guest holds it.
  fs.mkdirSync(path.join(daemon.share, "leaving"));
  const leaving = await node("leaving");
  fs.renameSync(path.join(daemon.share, "leaving"), path.join(daemon.dir, "left"));
  try {
    await fails("ENOENT", "'..' of a directory outside the share", lookup(leaving.nodeid, ".."));
    await fails("ENOENT", "a canary's name looked up from it", lookup(leaving.nodeid, "outside"));
  } finally {
    fs.rmSync(path.join(daemon.dir, "left"), { recursive: true });
  }
  nothingEscaped();
});

test("nodeids and handles never issued, of another node, or already forgotten/released are EBADF", async () => {
  const f = await node("f");
  const d = await node("d");
  for (const forged of [0n, 2n ** 64n - 1n, 2n ** 63n, 123456789n]) {
    await fails("EBADF", `getattr ${forged}`, raw(Opcode.GETATTR, forged, [new Uint8Array(16)]));
    await fails("EBADF", `lookup in ${forged}`, lookup(forged, "f"));
    await fails("EBADF", `open ${forged}`, open(forged, OpenFlag.O_RDONLY));
    await fails("EBADF", `mkdir in ${forged}`, mkdir(forged, "x"));
    await fails("EBADF", `rename into ${forged}`, rename(ROOT, "f", forged, "f"));
    await fails("EBADF", `link of ${forged}`, link(forged, ROOT, "l"));
    await fails("EBADF", `read through fh ${forged}`, read(f.nodeid, forged));
  }
  const fh = await openFh(f.nodeid, OpenFlag.O_RDONLY);
  await fails("EBADF", "f's handle used with d", read(d.nodeid, fh));
  await fails("EBADF", "f's handle released through d", release(d.nodeid, fh));
  await ok("release", release(f.nodeid, fh));
  await fails("EBADF", "released twice", release(f.nodeid, fh));
  await fails("EBADF", "read after release", read(f.nodeid, fh));
  // A node forgotten to zero: its nodeid is dead (a fresh lookup gets a new one).
  fs.writeFileSync(path.join(daemon.share, "ephemeral"), "e");
  const e = await node("ephemeral");
  await raw(Opcode.FORGET, e.nodeid, [ForgetIn.toBytes({ nlookup: 1n })]);
  // FORGET has no reply; a request after it on the same queue is served after it.
  await ok("barrier", raw(Opcode.GETATTR, ROOT, [new Uint8Array(16)]));
  await fails("EBADF", "getattr of a forgotten node", raw(Opcode.GETATTR, e.nodeid, [new Uint8Array(16)]));
  // FORGET with a huge count, and of the root, leaves the root working.
  await raw(Opcode.FORGET, ROOT, [ForgetIn.toBytes({ nlookup: 2n ** 64n - 1n })]);
  await ok("root after FORGET", raw(Opcode.GETATTR, ROOT, [new Uint8Array(16)]));
  nothingEscaped();
});

test("symlinks, FIFOs, sockets and devices are never opened for I/O; symlinks are never followed", async () => {
  for (const name of ["to-secret", "abs-secret", "magic", "to-outside"]) {
    const l = await node(name);
    assert.equal(l.attr.mode & Mode.S_IFMT, Mode.S_IFLNK, `${name} is served as the symlink itself`);
    for (const flags of [OpenFlag.O_RDONLY, OpenFlag.O_RDWR, OpenFlag.O_WRONLY | OpenFlag.O_TRUNC]) {
      await fails("EBADF", `open ${name} ${flags.toString(8)}`, open(l.nodeid, flags));
    }
    await fails("ENOTDIR", `opendir ${name}`, raw(Opcode.OPENDIR, l.nodeid, [OpenIn.toBytes({ flags: 0, openFlags: 0 })]));
    await fails("ENOTDIR", `lookup through ${name}`, lookup(l.nodeid, "secret"));
    await fails("ENOTDIR", `create through ${name}`, create(l.nodeid, "planted"));
    // Truncating or chmod-ing the link must not reach its target.
    await fails("EBADF", `truncate ${name}`, setattr(l.nodeid, { valid: FAttr.SIZE, size: 0n }));
    await fails("EOPNOTSUPP", `chmod ${name}`, setattr(l.nodeid, { valid: FAttr.MODE, mode: 0o777 }));
  }
  // CREATE over an existing symlink's name opens nothing either (O_EXCL is not needed for that).
  await fails("EBADF", "create over to-secret", create(ROOT, "to-secret", OpenFlag.O_RDWR | OpenFlag.O_TRUNC));
  const fifo = entry(await ok("mkfifo", mknod(ROOT, "fifo", Mode.S_IFIFO | 0o666)));
  const dev = entry(await ok("mknod c 1 3", mknod(ROOT, "null", Mode.S_IFCHR | 0o666, (1 << 8) | 3)));
  const sock = entry(await ok("mknod socket", mknod(ROOT, "sock", Mode.S_IFSOCK | 0o666)));
  for (const [what, e] of [["fifo", fifo], ["char device", dev], ["socket", sock]] as const) {
    for (const flags of [OpenFlag.O_RDONLY, OpenFlag.O_WRONLY, OpenFlag.O_RDWR | OpenFlag.O_NONBLOCK]) {
      await fails("EBADF", `open ${what} ${flags.toString(8)}`, open(e.nodeid, flags));
    }
    await fails("EBADF", `truncate ${what}`, setattr(e.nodeid, { valid: FAttr.SIZE, size: 0n }));
  }
  await fails("EBADF", "create over the device node", create(ROOT, "null", OpenFlag.O_RDWR));
  // The daemon is still serving (no worker blocked in a FIFO open).
  await ok("still serving", raw(Opcode.GETATTR, ROOT, [new Uint8Array(16)]));
  for (const n of ["fifo", "null", "sock"]) await ok(`unlink ${n}`, raw(Opcode.UNLINK, ROOT, [z(n)]));
  nothingEscaped();
});

test("a directory swapped for a symlink between two steps (TOCTOU): operations stay on the directory looked up", async () => {
  fs.mkdirSync(path.join(daemon.share, "swap"));
  const held = await node("swap");
  fs.renameSync(path.join(daemon.share, "swap"), path.join(daemon.share, "swapped"));
  fs.symlinkSync(daemon.outside, path.join(daemon.share, "swap"));
  await ok("create in the held directory", create(held.nodeid, "new"));
  await ok("mkdir in the held directory", mkdir(held.nodeid, "sub"));
  assert.deepEqual(fs.readdirSync(path.join(daemon.share, "swapped")).sort(), ["new", "sub"]);
  const fresh = await node("swap");
  assert.equal(fresh.attr.mode & Mode.S_IFMT, Mode.S_IFLNK);
  await fails("ENOTDIR", "mkdir through the planted symlink", mkdir(fresh.nodeid, "x"));
  nothingEscaped();

  // The race itself: the host flips "race" between a directory and a symlink to the outside while the guest looks it up and creates in it.
  const racePath = path.join(daemon.share, "race");
  const parked = path.join(daemon.share, "parked");
  fs.mkdirSync(racePath);
  let flips = 0;
  let stop = false;
  const flipper = (async () => {
    while (!stop) {
      try {
        if (fs.lstatSync(racePath).isDirectory()) {
          fs.renameSync(racePath, parked);
          fs.symlinkSync(daemon.outside, racePath);
        } else {
          fs.unlinkSync(racePath);
          fs.renameSync(parked, racePath);
        }
        flips++;
      } catch {
        // A step of the flip lost a race with itself; go on.
      }
      await new Promise((r) => setImmediate(r));
    }
  })();
  let created = 0;
  for (let i = 0; i < 120; i++) {
    const r = await lookup(ROOT, "race");
    if (r.errno !== 0) continue;
    const e = entry(r.body);
    const c1 = await create(e.nodeid, `r${i}`);
    const m1 = await mkdir(e.nodeid, `m${i}`);
    if (c1.errno === 0) created++;
    if (m1.errno === 0) created++;
    if ((e.attr.mode & Mode.S_IFMT) === Mode.S_IFLNK) {
      assert.equal(errnoName(c1.errno), "ENOTDIR");
      assert.equal(errnoName(m1.errno), "ENOTDIR");
    }
  }
  stop = true;
  await flipper;
  assert.ok(flips > 10, `the host flipped only ${flips} times`);
  assert.ok(created > 0, "some creates landed in the directory");
  nothingEscaped();
});

test("hard links and renames cannot cross the share's edge", async () => {
  const f = await node("f");
  const out = await node("to-outside");
  await fails("ENOTDIR", "link into the symlink to the outside", link(f.nodeid, out.nodeid, "l"));
  await fails("ENOTDIR", "rename into the symlink to the outside", rename(ROOT, "f", out.nodeid, "f"));
  await fails("ENOTDIR", "rename out of the symlink to the outside", rename(out.nodeid, "secret", ROOT, "stolen"));
  await fails("EINVAL", "link named ../outside/l", link(f.nodeid, ROOT, "../outside/l"));
  await fails("EINVAL", "rename to ../outside/f", rename(ROOT, "f", ROOT, "../outside/f"));
  await fails("EINVAL", "rename from ../outside/secret", rename(ROOT, "../outside/secret", ROOT, "stolen"));
  // A hard link to the symlink itself is a link to the symlink, not to its target.
  const l = await node("abs-secret");
  const linked = entry(await ok("link the symlink", link(l.nodeid, ROOT, "abs-secret-2")));
  assert.equal(linked.attr.mode & Mode.S_IFMT, Mode.S_IFLNK);
  assert.equal(fs.lstatSync(path.join(daemon.outside, "secret")).nlink, 1);
  // Linking a directory is refused (EPERM, as link(2)).
  const d = await node("d");
  await fails("EPERM", "link of a directory", link(d.nodeid, ROOT, "d2"));
  await ok("unlink", raw(Opcode.UNLINK, ROOT, [z("abs-secret-2")]));
  nothingEscaped();
});

test("setuid/setgid: a non-root write, KILL_SUIDGID or chown clears them; setgid directories give nothing away (CVE-2022-0358)", async () => {
  fs.writeFileSync(path.join(daemon.share, "prog"), "#!/bin/sh\n");
  const p = await node("prog");
  await ok("root chmod 6755", setattr(p.nodeid, { valid: FAttr.MODE, mode: 0o6755 }));
  assert.equal(modeOf("prog"), 0o6755);
  // (The uid in a request header is no permission boundary: a malicious driver writes any uid
  // there. As with virtiofsd, the guest kernel checks permissions; the daemon keeps the bits honest.)
  // Root's write keeps the bits (as on Linux); an unprivileged writer's clears them.
  fs.chmodSync(path.join(daemon.share, "prog"), 0o6777);
  const fh = await openFh(p.nodeid, OpenFlag.O_RDWR);
  await ok("write by uid 1000", write(p.nodeid, fh, Buffer.from("x"), USER));
  assert.equal(modeOf("prog"), 0o777, "an unprivileged write cleared S_ISUID and S_ISGID");
  await ok("root chmod 6755", setattr(p.nodeid, { valid: FAttr.MODE, mode: 0o6755 }));
  await ok("write with KILL_SUIDGID", raw(Opcode.WRITE, p.nodeid, [WriteIn.toBytes({ fh, offset: 0n, size: 1, writeFlags: WriteFlag.KILL_SUIDGID, lockOwner: 0n, flags: 0 }), Buffer.from("y")]));
  assert.equal(modeOf("prog"), 0o755);
  await ok("root chmod 6755", setattr(p.nodeid, { valid: FAttr.MODE, mode: 0o6755 }));
  await ok("chown", setattr(p.nodeid, { valid: FAttr.UID | FAttr.GID, uid: 1000, gid: 1000 }));
  assert.equal(modeOf("prog"), 0o755, "chown cleared them");
  await ok("release", release(p.nodeid, fh));
  // CVE-2022-0358: a guest user creating a setgid file in a setgid root-group directory gets no setgid bit.
  fs.mkdirSync(path.join(daemon.share, "sgid"));
  fs.chmodSync(path.join(daemon.share, "sgid"), 0o3777);
  const dir = await node("sgid");
  const made = await create(dir.nodeid, "payload", OpenFlag.O_RDWR, 0o2755, USER);
  assert.equal(made.errno, 0, "uid 1000 may create in a 3777 directory");
  const st = fs.statSync(path.join(daemon.share, "sgid", "payload"));
  assert.equal(st.uid, 1000);
  assert.equal(st.gid, 0, "inherits the directory's group");
  assert.equal(st.mode & 0o2000, 0, "but not S_ISGID, as the creator is not in group 0");
  const made2 = entry(made.body.subarray(0, EntryOut.SIZE));
  await ok("release", release(made2.nodeid, OpenOut.fromBytes(made.body.subarray(EntryOut.SIZE)).fh));
  nothingEscaped();
});

test("xattrs: user.* lands on the file in the share; nothing is set through a symlink; a malformed security.capability is EINVAL", async () => {
  const f = await node("f");
  const value = Buffer.from("v");
  await ok("user.x by uid 1000", raw(Opcode.SETXATTR, f.nodeid, setxattrBody("user.x", value), USER));
  await fails("EINVAL", "security.capability of 20 zero bytes", raw(Opcode.SETXATTR, f.nodeid, setxattrBody("security.capability", Buffer.alloc(20))));
  // user.* on a symlink is refused by the kernel (EPERM); it never reaches the target.
  const l = await node("abs-secret");
  await fails("EPERM", "user.x on the symlink", raw(Opcode.SETXATTR, l.nodeid, setxattrBody("user.x", value)));
  await fails("EPERM", "user.x on the symlink, by uid 1000", raw(Opcode.SETXATTR, l.nodeid, setxattrBody("user.y", value), USER));
  // trusted.* and security.* (no CAP_SYS_ADMIN in the daemon): test/escape/xattr-namespaces.test.ts.
  nothingEscaped();
});
