/**
 * Where a CREATE+RELEASE+UNLINK+FORGET cycle's time goes in `viofs serve`'s
 * process, layer by layer, without a transport: the same system calls made
 * directly (koffi), the PassthroughFs methods, and FuseServer.handle over
 * encoded requests. Each figure is the round with the least CPU time per
 * cycle, as user and system ns; the differences are what each layer adds. Not a test and not part
 * of `npm run bench`:
 *
 *     npx tsx bench/micro/cru-layers.ts [DIR] [--only=WORD]
 *
 * DIR (default: a fresh directory in the host's temporary directory) is
 * where the files come and go; tmpfs is what `npm run bench` uses.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FUSE_ROOT_ID, Opcode, OpenFlag } from "../../src/fuse/abi.js";
import { encodeRequestBytes, type RequestHeader } from "../../src/fuse/messages.js";
import { PassthroughFs } from "../../src/passthrough/passthrough.js";
import type { Context } from "../../src/server/filesystem.js";
import type { ReplyTarget } from "../../src/server/reply.js";
import * as libc from "../../src/sys/libc.js";
import { procSelfFd } from "../../src/sys/fs.js";
import { AT_EMPTY_PATH, AT_FDCWD, O_CLOEXEC, O_CREAT, O_EXCL, O_PATH, O_WRONLY, STATX_BASIC_STATS, STATX_BTIME } from "../../src/sys/constants.js";
import { createServer, DEFAULT_DEVICE_OPTIONS } from "../../src/host/device.js";

/** A root caller's request header, as the driver bench's (creates run as the daemon: no credential switch). */
const header = (nodeid: bigint): RequestHeader => ({ unique: 0x1234n, nodeid, uid: 0, gid: 0, pid: 4242 });

const ROUNDS = Number(process.env["ROUNDS"] ?? 7);
const PER_ROUND = 4000;

/** The round with the least CPU time per cycle, of ROUNDS rounds of PER_ROUND after one not counted: its user and system ns per cycle. */
function measure(label: string, cycle: (i: number) => void): void {
  if (only !== undefined && !label.includes(only)) return;
  let best = { user: Infinity, system: Infinity };
  let n = 0;
  for (let r = 0; r < ROUNDS + 1; r++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < PER_ROUND; i++) cycle(n++);
    const t = process.cpuUsage(t0);
    const user = (t.user * 1000) / PER_ROUND;
    const system = (t.system * 1000) / PER_ROUND;
    if (r > 0 && user + system < best.user + best.system) best = { user, system };
  }
  console.log(`${label.padEnd(58)} user ${best.user.toFixed(0).padStart(6)}  system ${best.system.toFixed(0).padStart(6)} ns/cycle`);
}

/** `--only=WORD`: only the stages whose label has WORD (for a profile of one layer). */
const only = process.argv.find((a) => a.startsWith("--only="))?.slice(7);
const root = process.argv.slice(2).find((a) => !a.startsWith("--")) ?? mkdtempSync(join(tmpdir(), "viofs-cru-"));
const statxBuf = new Uint8Array(256);
const ctx: Context = { unique: 1n, uid: 0, gid: 0, pid: 1 };
const options = { ...DEFAULT_DEVICE_OPTIONS, xattr: true };

async function main(): Promise<void> {
  const dirFd = libc.check(libc.openat(AT_FDCWD, Buffer.from(`${root}\0`), O_PATH | O_CLOEXEC, 0), "openat");
  measure("system calls (openat, reopen, statx, 2 close, unlinkat)", (i) => {
    const name = Buffer.from(`s${i}\0`);
    const fd = libc.openat(dirFd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644);
    const path = libc.openat(procSelfFd(), Buffer.from(`${fd}\0`), O_PATH | O_CLOEXEC, 0);
    libc.statx(path, Buffer.from("\0"), AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_BTIME, statxBuf);
    libc.close(fd);
    libc.unlinkat(dirFd, name, 0);
    libc.close(path);
  });

  const fs = new PassthroughFs(
    { root, cache: "auto", xattr: true, readonly: false, posixLocks: true, flock: true, announceSubmounts: false, writeback: false },
    { inline: true },
  );
  await fs.init({ minor: 38, clientFlags: 0xffff_ffff_ffffn });
  measure("PassthroughFs methods", (i) => {
    const name = Buffer.from(`p${i}`);
    const c = fs.create(ctx, FUSE_ROOT_ID, name, OpenFlag.O_WRONLY | OpenFlag.O_CREAT | OpenFlag.O_EXCL, 0o100644, 0o022, 0) as { entry: { nodeid: bigint }; open: { fh: bigint } };
    fs.release(ctx, c.entry.nodeid, { fh: c.open.fh, flags: OpenFlag.O_WRONLY, releaseFlags: 0, lockOwner: 0n });
    fs.unlink(ctx, FUSE_ROOT_ID, name);
    fs.forget(c.entry.nodeid, 1n);
  });

  // As `viofs serve` builds it (host/device.ts), then past INIT.
  const server = createServer(root, options);
  await server.handle(encodeRequestBytes({ opcode: Opcode.INIT, header: header(0n), arg: { major: 7, minor: 38, maxReadahead: 1 << 17, flags: 0xffff_ffff, flags2: 0xffff_ffff } }), {
    send() {},
    dataBuffers: () => [],
    sendData() {},
  });
  let last = new Uint8Array(0);
  const keep: ReplyTarget = {
    send(chunks) {
      last = Buffer.concat(chunks);
    },
    dataBuffers: () => [],
    sendData() {},
  };
  const view = (): DataView => new DataView(last.buffer, last.byteOffset, last.byteLength);
  measure("FuseServer.handle of encoded requests", (i) => {
    const name = Buffer.from(`f${i}`);
    server.handle(
      encodeRequestBytes({ opcode: Opcode.CREATE, header: header(FUSE_ROOT_ID), arg: { flags: OpenFlag.O_WRONLY | OpenFlag.O_CREAT | OpenFlag.O_EXCL, mode: 0o100644, umask: 0o022, openFlags: 0 }, name }),
      keep,
    );
    const nodeid = view().getBigUint64(16, true);
    const fh = view().getBigUint64(16 + 128, true);
    server.handle(encodeRequestBytes({ opcode: Opcode.RELEASE, header: header(nodeid), arg: { fh, flags: OpenFlag.O_WRONLY, releaseFlags: 0, lockOwner: 0n } }), keep);
    server.handle(encodeRequestBytes({ opcode: Opcode.UNLINK, header: header(FUSE_ROOT_ID), name }), keep);
    server.handle(encodeRequestBytes({ opcode: Opcode.FORGET, header: header(nodeid), arg: { nlookup: 1n } }), keep);
  });
  measure("(encoding those requests alone)", (i) => {
    const name = Buffer.from(`e${i}`);
    encodeRequestBytes({ opcode: Opcode.CREATE, header: header(FUSE_ROOT_ID), arg: { flags: OpenFlag.O_WRONLY | OpenFlag.O_CREAT | OpenFlag.O_EXCL, mode: 0o100644, umask: 0o022, openFlags: 0 }, name });
    encodeRequestBytes({ opcode: Opcode.RELEASE, header: header(5n), arg: { fh: 7n, flags: OpenFlag.O_WRONLY, releaseFlags: 0, lockOwner: 0n } });
    encodeRequestBytes({ opcode: Opcode.UNLINK, header: header(FUSE_ROOT_ID), name });
    encodeRequestBytes({ opcode: Opcode.FORGET, header: header(5n), arg: { nlookup: 1n } });
  });
  libc.close(dirFd);
  if (!process.argv.slice(2).some((a) => !a.startsWith("--"))) rmSync(root, { recursive: true, force: true });
}

await main();
