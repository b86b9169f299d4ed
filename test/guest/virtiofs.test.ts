/**
 * The guest side end to end: VirtioFsDriver + FuseSession against real
 * vhost-user-fs daemons (QEMU's C virtiofsd first, then `viofs serve` once it
 * exists), each test with its own daemon and shared directory, every effect
 * checked on the host side with node:fs.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import {
  appendFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  statSync,
  statfsSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { ErrnoError } from "../../src/common/errors.js";
import { Errno } from "../../src/common/errno.js";
import { AccessMask, Falloc, FUSE_ROOT_ID, Mode, OpenFlag, RenameFlag, Whence, XattrFlag } from "../../src/fuse/abi.js";
import { VirtioFsDriver } from "../../src/guest/driver.js";
import { FuseSession } from "../../src/guest/session.js";
import { DEFAULT_RETENTION } from "../../src/passthrough/inodes.js";
import { BACKENDS, type BackendFactory, type Operation } from "./backends.js";
import { connect, connectDriver, settle, until } from "./helpers.js";

const ROOT = FUSE_ROOT_ID;

function isErrno(error: unknown, name: keyof typeof Errno): boolean {
  return ErrnoError.is(error) && error.errno === Errno[name];
}

async function rejectsErrno(p: Promise<unknown>, name: keyof typeof Errno, what?: RegExp): Promise<ErrnoError> {
  const r = await settle(p);
  assert.ok(!r.ok, `expected ${name}, got success`);
  assert.ok(isErrno(r.error, name), `expected ${name}, got ${String(r.error)}`);
  if (what) assert.match((r.error as Error).message, what);
  return r.error as ErrnoError;
}

/** Checks an optional operation: ENOSYS where the backend says so, `works` otherwise. */
async function optional(factory: BackendFactory, op: Operation, call: () => Promise<unknown>, works: () => Promise<void>): Promise<void> {
  if (factory.enosys.has(op)) await rejectsErrno(call(), "ENOSYS");
  else await works();
}

for (const factory of BACKENDS) {
  describe(`guest driver and FUSE session against ${factory.name}`, () => {
    test("INIT negotiates protocol 7.31+ and the transfer limits", async (t) => {
      const { session, driver } = await connect(t, factory);
      const info = session.info;
      assert.equal(info.init.major, 7);
      assert.ok(info.minor >= 31 && info.minor <= 38, `minor ${info.minor}`);
      assert.ok(info.maxPages >= 1);
      assert.ok(info.maxWrite >= 4096 && info.maxWrite <= info.maxPages * 4096, `max_write ${info.maxWrite}`);
      assert.ok(info.maxRead >= 4096);
      assert.ok(driver.maxRequestSize > info.maxWrite);
      assert.equal(driver.closeReason, null);
    });

    test("create, write, read, stat, readdir, rename, link and unlink, checked on the host", async (t) => {
      const { session: s, backend } = await connect(t, factory);
      const host = (name: string): string => join(backend.dir, name);

      const created = await s.create(ROOT, "hello.txt", Mode.S_IFREG | 0o644, OpenFlag.O_RDWR);
      const file = created.entry.nodeid;
      assert.ok(file > ROOT);
      assert.equal(s.lookupCount(file), 1);
      assert.ok(existsSync(host("hello.txt")));
      assert.equal(statSync(host("hello.txt")).mode & 0o777, 0o644);

      const text = Buffer.from("hello, virtio-fs\n");
      assert.equal(await s.write(file, created.open.fh, 0, text), text.length);
      assert.deepEqual(readFileSync(host("hello.txt")), text);
      appendFileSync(host("hello.txt"), "from the host\n");
      const back = await s.read(file, created.open.fh, 0, 4096);
      assert.equal(Buffer.from(back).toString(), "hello, virtio-fs\nfrom the host\n");
      assert.equal((await s.read(file, created.open.fh, 7, 9)).length, 9);
      assert.equal((await s.read(file, created.open.fh, 1000, 10)).length, 0, "a read past the end is empty");

      const st = statSync(host("hello.txt"), { bigint: true });
      const attr = (await s.getattr(file)).attr;
      assert.equal(attr.size, st.size);
      assert.equal(attr.ino, st.ino);
      assert.equal(attr.mode, Number(st.mode));
      assert.equal(attr.nlink, 1);
      assert.equal((await s.getattr(file, created.open.fh)).attr.size, st.size);

      const truncated = await s.setattr(file, { size: 5, mode: 0o600, mtime: { sec: 1_000_000_000n, nsec: 5 } });
      assert.equal(truncated.attr.size, 5n);
      const hst = statSync(host("hello.txt"), { bigint: true });
      assert.equal(hst.size, 5n);
      assert.equal(Number(hst.mode) & 0o777, 0o600);
      assert.equal(hst.mtimeNs, 1_000_000_000_000_000_005n);
      await s.flush(file, created.open.fh);
      await s.release(file, created.open.fh);

      const sub = await s.mkdir(ROOT, "sub", 0o755);
      assert.ok(statSync(host("sub")).isDirectory());
      const link = await s.symlink(ROOT, "link", "hello.txt");
      assert.equal(readlinkSync(host("link")), "hello.txt");
      assert.equal((await s.readlink(link.nodeid)).toString(), "hello.txt");
      assert.equal(link.attr.mode & Mode.S_IFMT, Mode.S_IFLNK);

      const dir = await s.opendir(ROOT);
      const names = (await s.readdir(ROOT, dir.fh)).map((d) => d.name.toString()).sort();
      assert.deepEqual(names, [".", "..", ...readdirSync(backend.dir)].sort());
      const plus = await s.readdirplus(ROOT, dir.fh);
      const hello = plus.find((e) => e.dirent.name.toString() === "hello.txt")!;
      assert.equal(hello.entry.nodeid, file, "READDIRPLUS names the same node");
      assert.equal(hello.entry.attr.size, 5n);
      assert.equal(s.lookupCount(file), 2, "the READDIRPLUS entry holds a reference");
      s.forgetEntries(plus);
      assert.equal(s.lookupCount(file), 1);
      await s.releasedir(ROOT, dir.fh);

      await s.rename2(ROOT, "hello.txt", sub.nodeid, "renamed.txt", RenameFlag.NOREPLACE);
      assert.ok(!existsSync(host("hello.txt")));
      assert.ok(existsSync(host("sub/renamed.txt")));
      writeFileSync(host("taken"), "x");
      await rejectsErrno(s.rename2(sub.nodeid, "renamed.txt", ROOT, "taken", RenameFlag.NOREPLACE), "EEXIST");
      await s.rename(sub.nodeid, "renamed.txt", ROOT, "back.txt");
      assert.ok(existsSync(host("back.txt")));

      const hard = await s.link(file, sub.nodeid, "hard");
      assert.equal(hard.nodeid, file);
      assert.equal(hard.attr.nlink, 2);
      assert.equal(statSync(host("back.txt")).nlink, 2);
      assert.equal(s.lookupCount(file), 2);

      const missing = await rejectsErrno(s.lookup(ROOT, "no-such-file"), "ENOENT");
      assert.equal(missing.syscall, "FUSE_LOOKUP");
      assert.equal(missing.path, "no-such-file");
      await rejectsErrno(s.rmdir(ROOT, "sub"), "ENOTEMPTY");
      await s.unlink(sub.nodeid, "hard");
      await s.unlink(ROOT, "back.txt");
      await s.unlink(ROOT, "link");
      await s.rmdir(ROOT, "sub");
      assert.deepEqual(readdirSync(backend.dir), ["taken"]);
      // The nodes outlive their names until forgotten.
      assert.equal((await s.getattr(file)).attr.nlink, 0);
      s.forget(file, 2);
      s.forget(sub.nodeid);
      s.forget(link.nodeid);
      assert.equal(s.trackedNodes, 0);
      await s.flushForgets();
      assert.ok(s.stats.forgetEntries >= 3);

      const fsStat = await s.statfs();
      const hostFs = statfsSync(backend.dir);
      assert.equal(fsStat.bsize, hostFs.bsize);
      assert.equal(fsStat.blocks, BigInt(hostFs.blocks));
    });

    test("extended attributes round-trip and are seen on the host", async (t) => {
      const { session: s, backend } = await connect(t, factory);
      writeFileSync(join(backend.dir, "x"), "");
      const node = (await s.lookup(ROOT, "x")).nodeid;
      const value = Buffer.from("värde\0binary");
      await s.setxattr(node, "user.viofs", value, XattrFlag.CREATE);
      const host = spawnSync("getfattr", ["--only-values", "-n", "user.viofs", join(backend.dir, "x")]);
      assert.equal(host.status, 0, String(host.stderr));
      assert.deepEqual(host.stdout, value);
      await rejectsErrno(s.setxattr(node, "user.viofs", value, XattrFlag.CREATE), "EEXIST");
      assert.equal(await s.getxattrSize(node, "user.viofs"), value.length);
      assert.deepEqual(Buffer.from(await s.getxattr(node, "user.viofs")), value);
      await rejectsErrno(s.getxattr(node, "user.viofs", 3), "ERANGE");
      assert.deepEqual(await s.listxattr(node), ["user.viofs"]);
      assert.equal(await s.listxattrSize(node), "user.viofs\0".length);
      await s.removexattr(node, "user.viofs");
      await rejectsErrno(s.getxattr(node, "user.viofs"), "ENODATA", /user\.viofs/);
      assert.deepEqual(await s.listxattr(node), []);
    });

    test("fsync, fallocate, lseek, copy_file_range, mknod, syncfs and the optional operations", async (t) => {
      const { session: s, backend } = await connect(t, factory);
      const host = (name: string): string => join(backend.dir, name);
      writeFileSync(host("src"), "0123456789");
      const src = await s.lookup(ROOT, "src");
      const srcOpen = await s.open(src.nodeid, OpenFlag.O_RDWR);
      const dst = await s.create(ROOT, "dst", Mode.S_IFREG | 0o644, OpenFlag.O_RDWR);
      assert.equal(await s.copyFileRange({ nodeid: src.nodeid, fh: srcOpen.fh, offset: 2 }, { nodeid: dst.entry.nodeid, fh: dst.open.fh, offset: 0 }, 5), 5);
      assert.equal(readFileSync(host("dst"), "utf8"), "23456");
      await s.fsync(dst.entry.nodeid, dst.open.fh);
      await s.fsync(dst.entry.nodeid, dst.open.fh, true);

      await s.fallocate(src.nodeid, srcOpen.fh, 0, 1 << 20, Falloc.KEEP_SIZE);
      assert.equal(statSync(host("src")).size, 10);
      await s.fallocate(src.nodeid, srcOpen.fh, 0, 65536);
      assert.equal(statSync(host("src")).size, 65536);
      assert.equal(await s.lseek(src.nodeid, srcOpen.fh, 0, Whence.SEEK_DATA), 0n);
      await rejectsErrno(s.lseek(src.nodeid, srcOpen.fh, 1 << 20, Whence.SEEK_DATA), "ENXIO");

      const fifo = await s.mknod(ROOT, "fifo", Mode.S_IFIFO | 0o600);
      assert.ok(lstatSync(host("fifo")).isFIFO());
      assert.equal(fifo.attr.mode & Mode.S_IFMT, Mode.S_IFIFO);
      await s.syncfs();
      const root = await s.opendir(ROOT);
      await s.fsyncdir(ROOT, root.fh);
      await s.releasedir(ROOT, root.fh);

      await optional(factory, "access", () => s.access(src.nodeid, AccessMask.R_OK), async () => {
        await s.access(src.nodeid, AccessMask.R_OK | AccessMask.W_OK);
      });
      await optional(factory, "statx", () => s.statx(src.nodeid), async () => {
        const sx = await s.statx(src.nodeid);
        assert.equal(sx.stat.size, 65536n);
        assert.equal(sx.stat.ino, statSync(host("src"), { bigint: true }).ino);
      });
      await optional(factory, "tmpfile", () => s.tmpfile(ROOT, Mode.S_IFREG | 0o600, OpenFlag.O_RDWR), async () => {
        const tmp = await s.tmpfile(ROOT, Mode.S_IFREG | 0o600, OpenFlag.O_RDWR);
        assert.equal(await s.write(tmp.entry.nodeid, tmp.open.fh, 0, Buffer.from("anon")), 4);
        assert.deepEqual(readdirSync(backend.dir).sort(), ["dst", "fifo", "src"]);
        await s.release(tmp.entry.nodeid, tmp.open.fh);
        s.forget(tmp.entry.nodeid);
      });
      const lock = { start: 0n, end: 9n, type: 1, pid: 0 };
      await optional(factory, "posixLocks", () => s.setlk(src.nodeid, srcOpen.fh, 7n, lock), async () => {
        await s.setlk(src.nodeid, srcOpen.fh, 7n, lock);
        const other = await s.open(src.nodeid, OpenFlag.O_RDWR);
        const conflict = await s.getlk(src.nodeid, other.fh, 8n, lock);
        assert.equal(conflict.type, 1, "the lock held by owner 7 conflicts");
        await rejectsErrno(s.setlk(src.nodeid, other.fh, 8n, lock), "EAGAIN");
        await s.release(src.nodeid, other.fh);
      });
      await optional(factory, "bmap", () => s.bmap(src.nodeid, 0n, 4096), async () => {
        await s.bmap(src.nodeid, 0n, 4096);
      });
      await s.release(src.nodeid, srcOpen.fh);
      await s.release(dst.entry.nodeid, dst.open.fh);
    });

    test("64 requests in flight at once all complete, each with its own answer", async (t) => {
      const { session: s, backend, driver } = await connect(t, factory);
      const contents = Array.from({ length: 64 }, (_, i) => randomBytes(100 + i * 37));
      contents.forEach((c, i) => writeFileSync(join(backend.dir, `f${i}`), c));
      const entries = await Promise.all(contents.map((_, i) => s.lookup(ROOT, `f${i}`)));
      const handles = await Promise.all(entries.map((e) => s.open(e.nodeid, OpenFlag.O_RDONLY)));
      const reads = entries.map((e, i) => s.read(e.nodeid, handles[i]!.fh, 0, 8192));
      const stats = entries.map((e) => s.getattr(e.nodeid));
      assert.equal(driver.pending.inFlight, 128, "all 128 requests are in the ring before any completes");
      const data = await Promise.all(reads);
      data.forEach((d, i) => assert.deepEqual(Buffer.from(d), contents[i]));
      (await Promise.all(stats)).forEach((a, i) => assert.equal(a.attr.size, BigInt(contents[i]!.length)));
      await Promise.all(entries.map((e, i) => s.release(e.nodeid, handles[i]!.fh)));
      assert.deepEqual(driver.pending, { inFlight: 0, waiting: 0 });
    });

    test("a 1 MiB write and read with a 128-entry queue, in page-sized descriptors through indirect tables", async (t) => {
      const { session: s, backend, driver } = await connect(t, factory, { driver: { queueSize: 128, maxSegment: 4096 } });
      assert.equal(driver.device.queues[1]!.size, 128);
      assert.ok(s.info.maxWrite >= 1 << 20, `this backend takes ${s.info.maxWrite}-byte writes`);
      const big = randomBytes(1 << 20);
      const file = await s.create(ROOT, "big", Mode.S_IFREG | 0o644, OpenFlag.O_RDWR);
      // One request of 1 MiB + headers is 258 page descriptors: twice what the ring holds.
      assert.equal(await s.write(file.entry.nodeid, file.open.fh, 0, big), big.length);
      assert.deepEqual(readFileSync(join(backend.dir, "big")), big);
      const back = await s.read(file.entry.nodeid, file.open.fh, 0, big.length);
      assert.equal(back.length, big.length);
      assert.ok(Buffer.from(back).equals(big));
      // Several at once, and a 3 MiB read split into requests of max_read.
      await Promise.all([1, 2].map((k) => s.write(file.entry.nodeid, file.open.fh, k << 20, big)));
      const three = new Uint8Array(3 << 20);
      assert.equal(await s.readInto(file.entry.nodeid, file.open.fh, 0, three), three.length);
      for (let k = 0; k < 3; k++) assert.ok(Buffer.from(three.subarray(k << 20, (k + 1) << 20)).equals(big), `MiB ${k}`);
      assert.equal((await s.read(file.entry.nodeid, file.open.fh, (3 << 20) - 10, 1 << 20)).length, 10, "a split read stops at the end of the file");
      await s.release(file.entry.nodeid, file.open.fh);
    });

    test("chains laid out as Linux's virtio-fs driver sends them: each header a descriptor of its own, the rest in pages", async (t) => {
      const { session: s, backend } = await connect(t, factory, { driver: { queueSize: 128, maxSegment: 4096, splitHeaders: true } });
      const data = randomBytes(3 * 4096 + 123);
      const file = await s.create(ROOT, "split", Mode.S_IFREG | 0o644, OpenFlag.O_RDWR);
      assert.equal(await s.write(file.entry.nodeid, file.open.fh, 7, data), data.length);
      assert.deepEqual(readFileSync(join(backend.dir, "split")).subarray(7), data);
      assert.ok(Buffer.from(await s.read(file.entry.nodeid, file.open.fh, 7, data.length)).equals(data));
      assert.equal((await s.getattr(file.entry.nodeid)).attr.size, BigInt(7 + data.length));
      assert.equal((await s.lookup(ROOT, "split")).nodeid, file.entry.nodeid);
      await rejectsErrno(s.lookup(ROOT, "absent"), "ENOENT");
      const dir = await s.opendir(ROOT);
      assert.ok((await s.readdir(ROOT, dir.fh)).some((d) => d.name.toString() === "split"));
      await s.releasedir(ROOT, dir.fh);
      await s.release(file.entry.nodeid, file.open.fh);
      await s.unlink(ROOT, "split");
      assert.equal(existsSync(join(backend.dir, "split")), false);
    });

    test("more requests than the ring and the buffer memory hold wait their turn, and all complete", async (t) => {
      const { session: s, backend, driver } = await connect(t, factory, { driver: { queueSize: 16, memorySize: 8 << 20 } });
      const content = randomBytes(1 << 20);
      writeFileSync(join(backend.dir, "big"), content);
      const big = await s.lookup(ROOT, "big");
      const fh = (await s.open(big.nodeid, OpenFlag.O_RDONLY)).fh;
      const targets = Array.from({ length: 24 }, () => new Uint8Array(1 << 20));
      const reads = targets.map((target) => s.readInto(big.nodeid, fh, 0, target));
      const stats = Array.from({ length: 100 }, () => s.getattr(big.nodeid));
      const { inFlight, waiting } = driver.pending;
      assert.ok(inFlight <= 16, `${inFlight} in a 16-entry ring`);
      assert.ok(waiting >= 124 - 16, `${waiting} requests wait for room`);
      assert.deepEqual(await Promise.all(reads), targets.map(() => 1 << 20));
      for (const target of targets) assert.ok(Buffer.from(target).equals(content));
      for (const a of await Promise.all(stats)) assert.equal(a.attr.size, 1n << 20n);
      assert.deepEqual(driver.pending, { inFlight: 0, waiting: 0 });
      await s.release(big.nodeid, fh);
    });

    test("without indirect descriptors, a chain longer than the ring is refused with E2BIG, not hung", async (t) => {
      const { session: s, driver } = await connect(t, factory, { driver: { queueSize: 128, maxSegment: 4096, indirect: false } });
      assert.equal(driver.device.features & (1n << 28n), 0n);
      const file = await s.create(ROOT, "big", Mode.S_IFREG | 0o644, OpenFlag.O_RDWR);
      await rejectsErrno(s.write(file.entry.nodeid, file.open.fh, 0, new Uint8Array(1 << 20)), "E2BIG");
      // What fits the ring still works.
      assert.equal(await s.write(file.entry.nodeid, file.open.fh, 0, new Uint8Array(100 << 10)), 100 << 10);
      await s.release(file.entry.nodeid, file.open.fh);
    });

    test("lookups of 1,000 files, then forgetting them: batched forgets bring the backend's fds back", async (t) => {
      const { session: s, backend } = await connect(t, factory, { session: { forgetBatchSize: 200 } });
      mkdirSync(join(backend.dir, "many"));
      for (let i = 0; i < 1000; i++) writeFileSync(join(backend.dir, "many", `n${i}`), "");
      const dir = await s.lookup(ROOT, "many");
      const baseline = backend.fdCount();
      const nodes: bigint[] = [];
      for (let i = 0; i < 1000; i += 100) {
        const batch = await Promise.all(Array.from({ length: 100 }, (_, k) => s.lookup(dir.nodeid, `n${i + k}`)));
        nodes.push(...batch.map((e) => e.nodeid));
      }
      // A second lookup of the same names adds references, not nodes.
      await Promise.all(nodes.slice(0, 10).map((_, k) => s.lookup(dir.nodeid, `n${k}`)));
      assert.equal(new Set(nodes).size, 1000);
      assert.equal(s.trackedNodes, 1001);
      const peak = backend.fdCount();
      assert.ok(peak >= baseline + 1000, `the backend holds ${peak - baseline} more fds with 1,000 nodes looked up`);

      for (const node of nodes) s.forget(node);
      assert.equal(s.trackedNodes, 11, "nodes looked up twice still have a reference");
      for (let k = 0; k < 10; k++) s.forget(nodes[k]!);
      assert.equal(s.trackedNodes, 1);
      await s.flushForgets();
      assert.equal(s.stats.forgetEntries, 1000);
      assert.ok(s.stats.forgetBatches <= 6, `${s.stats.forgetBatches} BATCH_FORGETs for 1,000 nodes`);
      // viofs serve keeps forgotten inodes' fds for a while (at most DEFAULT_RETENTION.max), then closes them.
      const retained = backend.fdCount() - baseline;
      assert.ok(retained <= DEFAULT_RETENTION.max + 5, `${retained} fds kept after the forgets`);
      await until(
        () => backend.fdCount() <= baseline + 5,
        `the backend's fds to drop back (now ${backend.fdCount()}, baseline ${baseline})`,
        5000 + factory.forgottenFdMs,
      );
      // The directory itself is still known and usable.
      assert.equal((await s.getattr(dir.nodeid)).attr.mode & Mode.S_IFMT, Mode.S_IFDIR);
    });

    test("a timed-out or aborted request rejects (INTERRUPT where safe); late replies are undone", async (t) => {
      const interrupts = factory.interruptSafe;
      const { session: s, backend } = await connect(t, factory, { session: { interrupts } });
      const sent = (n: number): number => (interrupts ? n : 0);
      t.after(() => backend.kill("SIGCONT"));
      writeFileSync(join(backend.dir, "file"), "x");
      writeFileSync(join(backend.dir, "other"), "y");
      const file = await s.lookup(ROOT, "file");
      const fds = backend.fdCount();

      // A stopped daemon answers nothing until it is continued.
      await backend.pause();
      const started = Date.now();
      const timedOut = await rejectsErrno(s.getattr(file.nodeid, undefined, { timeoutMs: 200 }), "ETIMEDOUT", /ETIMEDOUT/);
      assert.ok(Date.now() - started >= 190 && Date.now() - started < 5000, `timed out after ${Date.now() - started} ms`);
      assert.equal(timedOut.errno, Errno.ETIMEDOUT);
      assert.equal(s.stats.interrupts, sent(1));

      const controller = new AbortController();
      const open = settle(s.open(file.nodeid, OpenFlag.O_RDONLY, 0, { timeoutMs: 100 }));
      const lookup = settle(s.lookup(ROOT, "other", { signal: controller.signal }));
      const mkdir = settle(s.mkdir(ROOT, "made", 0o755, 0, { signal: controller.signal }));
      setTimeout(() => controller.abort(), 50);
      const [opened, looked, made] = await Promise.all([open, lookup, mkdir]);
      assert.ok(!opened.ok && isErrno(opened.error, "ETIMEDOUT"), String(!opened.ok && opened.error));
      assert.ok(!looked.ok && isErrno(looked.error, "EINTR"), String(!looked.ok && looked.error));
      assert.ok(!made.ok && isErrno(made.error, "EINTR"), String(!made.ok && made.error));
      assert.equal(s.stats.interrupts, sent(4));
      const pre = new AbortController();
      pre.abort();
      await rejectsErrno(s.getattr(ROOT, undefined, { signal: pre.signal }), "EINTR");
      assert.equal(s.stats.interrupts, sent(4), "a request aborted before it is sent is not sent");

      // Continued, the daemon answers everything late; the session undoes what nobody saw:
      // the opened handle is released and the looked-up and created nodes forgotten.
      backend.kill("SIGCONT");
      assert.equal((await s.getattr(file.nodeid)).attr.size, 1n, "the session is still usable");
      assert.ok(existsSync(join(backend.dir, "made")), "an interrupted request may still have been carried out");
      await until(() => s.stats.pendingForgets === 0 && s.stats.forgetEntries === 2, "the orphaned entries to be forgotten");
      await s.flushForgets();
      // As above: viofs serve closes forgotten inodes' fds only after its retention time.
      await until(
        () => backend.fdCount() <= fds,
        `the late open and lookups to be undone (fds ${backend.fdCount()}, before ${fds})`,
        5000 + factory.forgottenFdMs,
      );
      assert.equal(s.trackedNodes, 1, "only the node looked up on purpose is held");
      assert.equal(s.lookupCount(file.nodeid), 1);
    });

    test("the daemon killed mid-request: everything pending rejects with ENOTCONN, and a new connection works", async (t) => {
      const { session: s, backend, driver } = await connect(t, factory);
      writeFileSync(join(backend.dir, "file"), "x");
      const file = await s.lookup(ROOT, "file");
      const fh = (await s.open(file.nodeid, OpenFlag.O_RDWR)).fh;
      await backend.pause();
      const calls: (() => Promise<unknown>)[] = [
        () => s.getattr(ROOT),
        () => s.lookup(ROOT, "file"),
        () => s.read(file.nodeid, fh, 0, 1 << 20),
        () => s.write(file.nodeid, fh, 0, new Uint8Array(65536)),
      ];
      const pending = Array.from({ length: 64 }, (_, i) => settle(calls[i % 4]!()));
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(driver.pending.inFlight, 64, "64 requests are in the ring when the daemon dies");
      backend.kill("SIGKILL");

      const reason = await Promise.race([driver.closed, new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
      assert.ok(reason !== null, "closed fires");
      assert.ok(isErrno(reason, "ENOTCONN"));
      assert.match(reason.message, /backend is gone/);
      const results = await Promise.all(pending);
      for (const r of results) assert.ok(!r.ok && isErrno(r.error, "ENOTCONN"), String(!r.ok && r.error));
      await rejectsErrno(s.getattr(ROOT), "ENOTCONN");
      assert.equal(s.trackedNodes, 0, "the node table went with the connection");
      assert.deepEqual(driver.pending, { inFlight: 0, waiting: 0 });

      // A fresh daemon, a fresh connection.
      const next = await factory.start();
      t.after(() => next.stop());
      const driver2 = await connectDriver(next.socketPath);
      const s2 = await FuseSession.init(driver2);
      writeFileSync(join(next.dir, "after"), "still here");
      const after = await s2.lookup(ROOT, "after");
      const fh2 = (await s2.open(after.nodeid, OpenFlag.O_RDONLY)).fh;
      assert.equal(Buffer.from(await s2.read(after.nodeid, fh2, 0, 100)).toString(), "still here");
      await s2.close();
      assert.ok(isErrno(await driver2.closed, "ENOTCONN"));
    });

    test("connecting to a socket nobody listens on fails at once", async () => {
      const r = await settle(VirtioFsDriver.connect(join("/tmp", `viofs-no-such-${process.pid}.sock`)));
      assert.ok(!r.ok);
      assert.ok(isErrno(r.error, "ENOENT") || isErrno(r.error, "ECONNREFUSED"), String(r.error));
    });
  });
}
