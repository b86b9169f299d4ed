/**
 * JIT warm-up of `viofs serve`'s request path, before the first guest
 * connects.
 *
 * V8 runs new code in its interpreter and optimises only what proved hot: a
 * fresh daemon served a guest's first ~6,000 requests at 60–80 µs each (kick
 * to notify) against 13–22 µs once compiled, and its compiler threads took
 * CPU from QEMU's while the guest worked; a VM's first minute of metadata
 * work ran at about half speed (bench/vm.ts), where C virtiofsd has no ramp.
 *
 * This serves two private vhost-user connections, one after the other (see
 * PRELUDE_ROUNDS), exactly as a VMM's would be
 * served (host/device.ts's serveConnection: vhost-user backend, guest memory
 * mapped from a memfd, kick and call eventfds, split virtqueues, FUSE server,
 * passthrough with the daemon's own options) to this process's own guest
 * driver (guest/driver.ts, chains laid out as a Linux guest's: the headers
 * in descriptors of their own, the rest in pages), so
 * the same code is compiled against the same classes. The workload is what a
 * guest sends most: LOOKUP (miss and hit), CREATE, WRITE and READ (one page,
 * and 508 KiB written, 128 KiB read, through indirect tables), FLUSH (when
 * the CREATE reply asks for it, and every 8th round), RELEASE
 * (with a 64-bit lock owner as Linux sends), GETATTR, SETATTR,
 * OPEN, GETXATTR, UNLINK, FORGET (alone, in one buffer on the hiprio queue, as
 * Linux sends it), and every 16th round MKDIR,
 * READDIRPLUS, RENAME, RMDIR and STATFS. Everything lives in a private
 * directory of the host's temporary directory, removed at the end; the
 * shared directory is never touched. It stops early on its time budget or
 * its signal, and fails as a whole (the caller serves anyway, only colder).
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Errno } from "../common/errno.js";
import { ErrnoError } from "../common/errors.js";
import { FOpen, FUSE_ROOT_ID, OpenFlag } from "../fuse/abi.js";
import { VirtioFsDriver } from "../guest/driver.js";
import { FuseSession } from "../guest/session.js";
import type { DeviceOptions } from "../host/device.js";
import { servePrivately, type PrivateServing } from "../host/private-serve.js";
import { FdPoller } from "../sys/poller.js";
import { DEFAULT_WARMUP_BUDGET_MS, DEFAULT_WARMUP_ROUNDS } from "./serve-options.js";

export interface WarmupOptions {
  /** Rounds of the workload (15 requests each, 8 more every 16th); default {@link DEFAULT_WARMUP_ROUNDS}. */
  rounds?: number;
  /** Stop after this long even if rounds remain; default {@link DEFAULT_WARMUP_BUDGET_MS}. */
  budgetMs?: number;
  /** Stops at the next round. */
  signal?: AbortSignal;
  /** Where the private directory goes; default the host's temporary directory. */
  tmpRoot?: string;
}

export interface WarmupReport {
  /** FUSE requests answered: INIT and every call of the rounds (the batched forgets not counted). */
  requests: number;
  rounds: number;
  ms: number;
}

const PAGE = 4096;
/** A Linux guest reads 128 KiB a request (readahead) and writes back up to ~512 KiB, in page-sized buffers. */
const BIG_READ = 32 * PAGE;
const BIG_WRITE = 127 * PAGE;
/**
 * Linux sends a hash of the file's owner as the lock owner (FLUSH, RELEASE,
 * READ): 64 bits, so the decoders see the u32 halves past 2^31 and the u64
 * past 2^53 that a guest's requests carry, not only small numbers.
 */
const LOCK_OWNER = 0xd3a1_7c5e_9b20_48f1n;
const O_LARGEFILE = 0o100000;

/** The guest's answer when the name is not there; anything else is a failure of the warm-up. */
async function missing(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (error) {
    if (ErrnoError.is(error) && error.errno === Errno.ENOENT) return;
    throw error;
  }
  throw new Error("warm-up: a name that was never created was found");
}

/** The answer for an attribute not set: ENODATA, or EOPNOTSUPP where the host file system has no such xattrs. */
async function noAttribute(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (error) {
    if (ErrnoError.is(error) && (error.errno === Errno.ENODATA || error.errno === Errno.EOPNOTSUPP)) return;
    throw error;
  }
}

/** One round: the life of a file as a guest sees it, and every 16th round a directory's. Returns the requests sent. */
async function round(s: FuseSession, n: number, small: Uint8Array, big: Uint8Array, xattr: boolean): Promise<number> {
  const name = `w${n % 64}`;
  await missing(s.lookup(FUSE_ROOT_ID, name));
  const writing = OpenFlag.O_WRONLY | O_LARGEFILE;
  const created = await s.create(FUSE_ROOT_ID, name, 0o100644, writing | OpenFlag.O_CREAT | OpenFlag.O_EXCL, 0o022);
  const node = created.entry.nodeid;
  const data = n % 4 === 0 ? big : small;
  await s.write(node, created.open.fh, 0n, data, { flags: writing });
  // As Linux: no FLUSH for a file opened with FOPEN_NOFLUSH; every 8th round one all the same, for guests that lock.
  const flushed = (created.open.openFlags & FOpen.NOFLUSH) === 0 || n % 8 === 0;
  if (flushed) await s.flush(node, created.open.fh, LOCK_OWNER);
  await s.release(node, created.open.fh, { flags: writing, lockOwner: LOCK_OWNER });
  await s.getattr(node);
  const t = { sec: BigInt(1_700_000_000 + n), nsec: 0 };
  await s.setattr(node, { atime: t, mtime: t });
  s.forget(node);
  const found = await s.lookup(FUSE_ROOT_ID, name);
  const reading = OpenFlag.O_RDONLY | O_LARGEFILE;
  const opened = await s.open(found.nodeid, reading);
  await s.read(found.nodeid, opened.fh, 0n, Math.min(data.byteLength, BIG_READ), { flags: reading, lockOwner: LOCK_OWNER });
  await s.release(found.nodeid, opened.fh, { flags: reading, lockOwner: LOCK_OWNER });
  // The kernel asks for security.capability before a write when xattrs are on.
  if (xattr) await noAttribute(s.getxattrSize(found.nodeid, "security.capability"));
  await s.unlink(FUSE_ROOT_ID, name);
  s.forget(found.nodeid);
  let sent = (xattr ? 14 : 13) - (flushed ? 0 : 1);
  if (n % 16 === 0) {
    const dir = await s.mkdir(FUSE_ROOT_ID, `d${n % 64}`, 0o40755, 0o022);
    const list = await s.opendir(dir.nodeid, OpenFlag.O_RDONLY);
    s.forgetEntries(await s.readdirplus(dir.nodeid, list.fh));
    await s.releasedir(dir.nodeid, list.fh);
    await s.rename(FUSE_ROOT_ID, `d${n % 64}`, FUSE_ROOT_ID, `e${n % 64}`);
    await s.rmdir(FUSE_ROOT_ID, `e${n % 64}`);
    await s.statfs();
    s.forget(dir.nodeid);
    sent += 7;
  }
  return sent;
}

/**
 * Rounds of the first of the warm-up's two connections. Ending a connection
 * writes fields the request path only reads while it runs (a backend's
 * `disconnecting`, a ring's `running`, a stream's state), and V8 then throws
 * away every compiled function that had taken them for constants: ended
 * last, the warm-up left a guest's first requests to recompile about 40
 * functions. A short first connection makes those writes early; what the
 * second one compiles survives its end (about 25 compiles after the guest
 * connects instead of 40, and a first 250 create cycles through the guest
 * driver at 356–363 µs of daemon CPU each instead of 459–481).
 */
const PRELUDE_ROUNDS = 100;

/**
 * Runs the warm-up with the daemon's device options (as writable, without a
 * tag) and removes everything it made, whatever happens.
 */
export async function warmUp(options: DeviceOptions, warmup: WarmupOptions = {}): Promise<WarmupReport> {
  const rounds = warmup.rounds ?? DEFAULT_WARMUP_ROUNDS;
  const budgetMs = warmup.budgetMs ?? DEFAULT_WARMUP_BUDGET_MS;
  const started = performance.now();
  const dir = mkdtempSync(join(warmup.tmpRoot ?? tmpdir(), "viofs-warmup-"));
  // Its own poller, closed at the end: the shared one would keep its epoll fd for good.
  const poller = new FdPoller();
  let requests = 0;
  let done = 0;
  const plan = rounds > PRELUDE_ROUNDS ? [PRELUDE_ROUNDS, rounds - PRELUDE_ROUNDS] : [rounds];
  try {
    const share = join(dir, "share");
    mkdirSync(share, { mode: 0o700 });
    const { tag: _tag, ...rest } = options;
    const small = new Uint8Array(PAGE).fill(0x5a);
    const big = new Uint8Array(BIG_WRITE).fill(0xa5);
    for (const [k, count] of plan.entries()) {
      if (k > 0 && (warmup.signal?.aborted || performance.now() - started >= budgetMs)) break;
      let serving: PrivateServing | null = null;
      let driver: VirtioFsDriver | null = null;
      let session: FuseSession | null = null;
      try {
        serving = servePrivately(share, { ...rest, readonly: false }, `socket-${k}-`, dir);
        [driver] = await Promise.all([
          VirtioFsDriver.connect(serving.socketPath, { memorySize: 16 << 20, queueSize: 128, maxSegment: PAGE, splitHeaders: true, poller }),
          serving.accepted,
        ]);
        serving.removeSocket();
        session = await FuseSession.init(driver, { uid: 0, gid: 0, pid: 1, forgetDelayMs: 0 });
        requests += 1;
        const end = done + count;
        while (done < end && !warmup.signal?.aborted && performance.now() - started < budgetMs) {
          requests += await round(session, done, small, big, options.xattr);
          done++;
        }
        await session.flushForgets();
      } finally {
        await session?.close().catch(() => undefined);
        driver?.close();
        await serving?.close();
      }
    }
  } finally {
    poller.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return { requests, rounds: done, ms: performance.now() - started };
}
