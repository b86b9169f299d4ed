/**
 * JIT warm-up of the request path, before the first guest connects.
 *
 * V8 runs new code in its interpreter and optimises only what proved hot; a
 * fresh daemon served a guest's first ~6,000 requests at 60–80 µs each
 * (kick to notify) against 13–22 µs once compiled, so a VM's first minutes
 * of metadata work ran at half speed (measured in bench/vm.ts: a cold create
 * phase 0.56× C virtiofsd, the same phase warm 0.81×). C virtiofsd has no
 * such ramp.
 *
 * This drives the real path — split virtqueue (driver side in plain memory,
 * device side as for a guest), VirtioFsDevice, FuseServer, PassthroughFs
 * with the daemon's own options — over a private directory of the host's
 * temporary directory, with the requests a Linux guest sends most: LOOKUP
 * (miss and hit), CREATE, WRITE and READ (one page, and 128 KiB in page-sized
 * buffers through an indirect table), FLUSH, RELEASE, GETATTR, SETATTR,
 * OPEN, GETXATTR, UNLINK, FORGET and BATCH_FORGET on the hiprio queue, and
 * now and then MKDIR, READDIRPLUS, RENAME, RMDIR and STATFS. Nothing of the
 * shared directory is touched; the private directory is removed at the end.
 * It runs in slices (the event loop turns between them, so a signal still
 * stops the daemon) and within a time budget.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FAttr, FUSE_ROOT_ID, InitFlag, Opcode, OpenFlag, splitInitFlags } from "../fuse/abi.js";
import { decodeReply, encodeRequestBytes, type ReplyOf, type Request, type RequestOf, type ReplyOpcode } from "../fuse/messages.js";
import { GuestAllocator } from "../virtio/allocator.js";
import { DriverQueue, type Segment } from "../virtio/driver-queue.js";
import { GuestMemory } from "../virtio/memory.js";
import { featureMask, splitQueueLayout } from "../virtio/ring.js";
import type { Vring } from "../vhost-user/backend.js";
import { createServer, VirtioFsDevice, type DeviceOptions } from "./device.js";

export interface WarmupOptions {
  /** Rounds of the workload (each about 16 requests); default 1,000. */
  rounds?: number;
  /** Stop after this long even if rounds remain; default 1,500 ms. */
  budgetMs?: number;
  /** Stops at the next slice. */
  signal?: AbortSignal;
  /** Where the private directory goes; default the host's temporary directory. */
  tmpRoot?: string;
}

export interface WarmupReport {
  requests: number;
  rounds: number;
  ms: number;
}

const QUEUE_SIZE = 128;
const PAGE = 4096;
/** A Linux guest reads and writes in 128 KiB requests of page-sized buffers (readahead, writeback). */
const BIG_PAGES = 32;
/** Room for the header segment of a request or a reply. */
const HEAD_ROOM = PAGE;
const ROUNDS_PER_SLICE = 25;

/** fuse_in_header (40) + fuse_write_in (40): the part of a WRITE before its data. */
const WRITE_HEAD = 80;
/** fuse_out_header: the part of a READ reply before its data. */
const OUT_HEADER = 16;

/** INIT flags as a Linux 6.1 virtiofs guest offers them. */
const GUEST_INIT_FLAGS =
  InitFlag.ASYNC_READ |
  InitFlag.POSIX_LOCKS |
  InitFlag.ATOMIC_O_TRUNC |
  InitFlag.EXPORT_SUPPORT |
  InitFlag.BIG_WRITES |
  InitFlag.DONT_MASK |
  InitFlag.FLOCK_LOCKS |
  InitFlag.HAS_IOCTL_DIR |
  InitFlag.AUTO_INVAL_DATA |
  InitFlag.DO_READDIRPLUS |
  InitFlag.READDIRPLUS_AUTO |
  InitFlag.ASYNC_DIO |
  InitFlag.WRITEBACK_CACHE |
  InitFlag.NO_OPEN_SUPPORT |
  InitFlag.PARALLEL_DIROPS |
  InitFlag.HANDLE_KILLPRIV |
  InitFlag.POSIX_ACL |
  InitFlag.ABORT_ERROR |
  InitFlag.MAX_PAGES |
  InitFlag.CACHE_SYMLINKS |
  InitFlag.NO_OPENDIR_SUPPORT |
  InitFlag.EXPLICIT_INVAL_DATA |
  InitFlag.HANDLE_KILLPRIV_V2 |
  InitFlag.SETXATTR_EXT |
  InitFlag.INIT_EXT;

/** One queue of the device with its driver side. */
class Lane {
  readonly driver: DriverQueue<number>;
  private waiter: (() => void) | null = null;

  constructor(
    private readonly device: VirtioFsDevice,
    readonly index: number,
    memory: GuestMemory,
    base: bigint,
    indirect: GuestAllocator,
  ) {
    const layout = splitQueueLayout(QUEUE_SIZE, base);
    this.driver = new DriverQueue<number>({ memory, size: QUEUE_SIZE, ...layout, eventIdx: true, indirectAllocator: indirect });
    const vring: Vring = {
      index,
      size: QUEUE_SIZE,
      memory,
      descAddr: layout.descAddr,
      availAddr: layout.availAddr,
      usedAddr: layout.usedAddr,
      nextAvail: 0,
      features: featureMask("VERSION_1") | featureMask("RING_EVENT_IDX") | featureMask("RING_INDIRECT_DESC"),
      notify: () => {
        const w = this.waiter;
        this.waiter = null;
        w?.();
      },
      signalError: () => {
        throw new Error(`warm-up: queue ${index} reported a ring error`);
      },
    };
    device.queueStarted(vring);
  }

  /** Submits one chain and waits until the device has returned it; resolves to the bytes it wrote. */
  async run(readable: readonly Segment[], writable: readonly Segment[]): Promise<number> {
    if (this.driver.add(readable, writable, 0) < 0) throw new Error("warm-up: the queue is full");
    const kick = this.driver.kickNeeded();
    let used = kick ? this.take() : null;
    if (kick) this.device.queueKicked(this.index);
    used ??= this.take();
    while (used === null) {
      // Answered asynchronously (a thread-pool read): wait for the notification.
      await new Promise<void>((resolve) => (this.waiter = resolve));
      used = this.take();
    }
    return used;
  }

  private take(): number | null {
    const done = this.driver.takeUsed();
    return done.length === 0 ? null : done[0]!.len;
  }
}

/** The guest side of the warm-up: one request at a time, laid out as a Linux guest lays them out. */
class WarmupClient {
  readonly memory: GuestMemory;
  readonly hiprio: Lane;
  readonly requests: Lane;
  requestsSent = 0;
  private unique = 0n;
  private readonly bytes: Uint8Array;
  private readonly headAt: number;
  private readonly replyAt: number;
  private readonly pagesAt: number;

  constructor(device: VirtioFsDevice) {
    const ringBytes = Number(splitQueueLayout(QUEUE_SIZE, 0n).end);
    const ringRoom = Math.ceil(ringBytes / PAGE) * PAGE;
    const indirectAt = 2 * ringRoom;
    const indirectRoom = 16 * PAGE;
    this.headAt = indirectAt + indirectRoom;
    this.replyAt = this.headAt + HEAD_ROOM;
    this.pagesAt = this.replyAt + HEAD_ROOM;
    const size = this.pagesAt + BIG_PAGES * PAGE;
    this.bytes = new Uint8Array(size);
    this.memory = new GuestMemory([{ guestAddr: 0n, size: BigInt(size), userAddr: 0x7f00_0000_0000n, bytes: this.bytes }]);
    const indirect = new GuestAllocator(indirectAt, indirectRoom);
    this.hiprio = new Lane(device, 0, this.memory, 0n, indirect);
    this.requests = new Lane(device, 1, this.memory, BigInt(ringRoom), indirect);
  }

  header(nodeid: bigint): RequestOf<typeof Opcode.LOOKUP>["header"] {
    this.unique += 2n;
    return { unique: this.unique, nodeid, uid: 0, gid: 0, pid: 1 };
  }

  /**
   * Sends `req` and decodes its reply. A WRITE's data and a READ's reply go
   * in `pages` page-sized buffers; everything else in one buffer each way.
   */
  async call<R extends Request & { opcode: ReplyOpcode }>(req: R, pages = 1): Promise<ReplyOf<R["opcode"]>> {
    const bytes = encodeRequestBytes(req);
    const readable: Segment[] = [];
    if (req.opcode === Opcode.WRITE) {
      this.bytes.set(bytes.subarray(0, WRITE_HEAD), this.headAt);
      readable.push({ gpa: this.headAt, len: WRITE_HEAD });
      this.bytes.set(bytes.subarray(WRITE_HEAD), this.pagesAt);
      for (let at = WRITE_HEAD; at < bytes.byteLength; at += PAGE) {
        readable.push({ gpa: this.pagesAt + at - WRITE_HEAD, len: Math.min(PAGE, bytes.byteLength - at) });
      }
    } else {
      if (bytes.byteLength > HEAD_ROOM) throw new RangeError("warm-up: request too long");
      this.bytes.set(bytes, this.headAt);
      readable.push({ gpa: this.headAt, len: bytes.byteLength });
    }
    const writable: Segment[] = [];
    const reading = req.opcode === Opcode.READ;
    if (reading) {
      writable.push({ gpa: this.replyAt, len: OUT_HEADER });
      for (let i = 0; i < pages; i++) writable.push({ gpa: this.pagesAt + i * PAGE, len: PAGE });
    } else {
      writable.push({ gpa: this.replyAt, len: HEAD_ROOM });
    }
    const len = await this.requests.run(readable, writable);
    this.requestsSent++;
    let reply: Uint8Array;
    if (reading && len > OUT_HEADER) {
      reply = new Uint8Array(len);
      reply.set(this.bytes.subarray(this.replyAt, this.replyAt + OUT_HEADER));
      reply.set(this.bytes.subarray(this.pagesAt, this.pagesAt + len - OUT_HEADER), OUT_HEADER);
    } else {
      reply = this.bytes.slice(this.replyAt, this.replyAt + len);
    }
    return decodeReply(req, reply) as ReplyOf<R["opcode"]>;
  }

  /** A request without a reply, on the hiprio queue (FORGET, BATCH_FORGET). */
  async forget(req: RequestOf<typeof Opcode.FORGET> | RequestOf<typeof Opcode.BATCH_FORGET>): Promise<void> {
    const bytes = encodeRequestBytes(req);
    if (bytes.byteLength > HEAD_ROOM) throw new RangeError("warm-up: request too long");
    this.bytes.set(bytes, this.headAt);
    await this.hiprio.run([{ gpa: this.headAt, len: bytes.byteLength }], []);
    this.requestsSent++;
  }
}

/** The body of a successful reply; anything else is a bug of the request path, reported as such. */
function ok<T>(what: string, r: { ok: true; body: T } | { ok: false; errno: number }): T {
  if (!r.ok) throw new Error(`warm-up: ${what} failed with errno ${r.errno}`);
  return r.body;
}

function failed(what: string, r: { ok: boolean; errno?: number }, errno: number): void {
  if (r.ok || r.errno !== errno) throw new Error(`warm-up: ${what} answered ${r.ok ? "success" : `errno ${r.errno}`}, not errno ${errno}`);
}

const ENOENT = 2;

/** One round: the life of a file as a guest sees it, and every 16th round a directory's. */
async function round(c: WarmupClient, n: number, small: Uint8Array, big: Uint8Array): Promise<void> {
  const name = Buffer.from(`w${n % 64}`);
  failed("LOOKUP of a new name", await c.call({ opcode: Opcode.LOOKUP, header: c.header(FUSE_ROOT_ID), name }), ENOENT);
  const created = ok(
    "CREATE",
    await c.call({
      opcode: Opcode.CREATE,
      header: c.header(FUSE_ROOT_ID),
      arg: { flags: OpenFlag.O_WRONLY | OpenFlag.O_CREAT | OpenFlag.O_EXCL, mode: 0o100644, umask: 0o022, openFlags: 0 },
      name,
    }),
  );
  const node = created.entry.nodeid;
  const fh = created.open.fh;
  const data = n % 4 === 0 ? big : small;
  const io = { fh, offset: 0n, lockOwner: 0n, flags: OpenFlag.O_WRONLY };
  ok("WRITE", await c.call({ opcode: Opcode.WRITE, header: c.header(node), arg: { ...io, size: data.byteLength, writeFlags: 0 }, data }));
  ok("FLUSH", await c.call({ opcode: Opcode.FLUSH, header: c.header(node), arg: { fh, lockOwner: 0n } }));
  ok("RELEASE", await c.call({ opcode: Opcode.RELEASE, header: c.header(node), arg: { fh, flags: OpenFlag.O_WRONLY, releaseFlags: 0, lockOwner: 0n } }));
  ok("GETATTR", await c.call({ opcode: Opcode.GETATTR, header: c.header(node), arg: { getattrFlags: 0, fh: 0n } }));
  const t = BigInt(1_700_000_000 + n);
  ok(
    "SETATTR",
    await c.call({
      opcode: Opcode.SETATTR,
      header: c.header(node),
      arg: {
        valid: FAttr.ATIME | FAttr.MTIME,
        fh: 0n,
        size: 0n,
        lockOwner: 0n,
        atime: t,
        mtime: t,
        ctime: 0n,
        atimensec: 0,
        mtimensec: 0,
        ctimensec: 0,
        mode: 0,
        uid: 0,
        gid: 0,
      },
    }),
  );
  await c.forget({ opcode: Opcode.FORGET, header: c.header(node), arg: { nlookup: 1n } });
  const found = ok("LOOKUP", await c.call({ opcode: Opcode.LOOKUP, header: c.header(FUSE_ROOT_ID), name }));
  const opened = ok("OPEN", await c.call({ opcode: Opcode.OPEN, header: c.header(found.nodeid), arg: { flags: OpenFlag.O_RDONLY, openFlags: 0 } }));
  const pages = data === big ? BIG_PAGES : 1;
  const read = { fh: opened.fh, offset: 0n, size: pages * PAGE, readFlags: 0, lockOwner: 0n, flags: OpenFlag.O_RDONLY };
  ok("READ", await c.call({ opcode: Opcode.READ, header: c.header(found.nodeid), arg: read }, pages));
  const release = { fh: opened.fh, flags: OpenFlag.O_RDONLY, releaseFlags: 0, lockOwner: 0n };
  ok("RELEASE", await c.call({ opcode: Opcode.RELEASE, header: c.header(found.nodeid), arg: release }));
  // The kernel asks for security.capability before a write when xattrs are on; the answer is ENODATA (or EOPNOTSUPP without --xattr).
  await c.call({ opcode: Opcode.GETXATTR, header: c.header(found.nodeid), arg: { size: 0 }, name: Buffer.from("security.capability") });
  ok("UNLINK", await c.call({ opcode: Opcode.UNLINK, header: c.header(FUSE_ROOT_ID), name }));
  await c.forget({ opcode: Opcode.BATCH_FORGET, header: c.header(0n), forgets: [{ nodeid: found.nodeid, nlookup: 1n }] });
  if (n % 16 === 0) await directoryRound(c, n);
}

async function directoryRound(c: WarmupClient, n: number): Promise<void> {
  const name = Buffer.from(`d${n % 64}`);
  const dir = ok("MKDIR", await c.call({ opcode: Opcode.MKDIR, header: c.header(FUSE_ROOT_ID), arg: { mode: 0o40755, umask: 0o022 }, name }));
  const opened = ok("OPENDIR", await c.call({ opcode: Opcode.OPENDIR, header: c.header(dir.nodeid), arg: { flags: OpenFlag.O_RDONLY, openFlags: 0 } }));
  const list = { fh: opened.fh, offset: 0n, size: PAGE, readFlags: 0, lockOwner: 0n, flags: 0 };
  ok("READDIRPLUS", await c.call({ opcode: Opcode.READDIRPLUS, header: c.header(dir.nodeid), arg: list }));
  ok("RELEASEDIR", await c.call({ opcode: Opcode.RELEASEDIR, header: c.header(dir.nodeid), arg: { fh: opened.fh, flags: 0, releaseFlags: 0, lockOwner: 0n } }));
  const moved = Buffer.from(`e${n % 64}`);
  ok("RENAME", await c.call({ opcode: Opcode.RENAME, header: c.header(FUSE_ROOT_ID), arg: { newdir: FUSE_ROOT_ID }, name, newName: moved }));
  ok("RMDIR", await c.call({ opcode: Opcode.RMDIR, header: c.header(FUSE_ROOT_ID), name: moved }));
  ok("STATFS", await c.call({ opcode: Opcode.STATFS, header: c.header(FUSE_ROOT_ID) }));
  await c.forget({ opcode: Opcode.FORGET, header: c.header(dir.nodeid), arg: { nlookup: 1n } });
}

/**
 * Runs the warm-up with the daemon's device options (as writable, without a
 * tag) and removes its directory. Throws only for what would break serving
 * too; a host without a usable temporary directory is the caller's to report.
 */
export async function warmUp(options: DeviceOptions, warmup: WarmupOptions = {}): Promise<WarmupReport> {
  const rounds = warmup.rounds ?? 1000;
  const budgetMs = warmup.budgetMs ?? 1500;
  const started = performance.now();
  const dir = mkdtempSync(join(warmup.tmpRoot ?? tmpdir(), "viofs-warmup-"));
  const { tag: _tag, ...rest } = options;
  const server = createServer(dir, { ...rest, readonly: false });
  let client: WarmupClient | null = null;
  let done = 0;
  try {
    const device = new VirtioFsDevice(server);
    client = new WarmupClient(device);
    const { flags, flags2 } = splitInitFlags(GUEST_INIT_FLAGS);
    const init = await client.call({
      opcode: Opcode.INIT,
      header: client.header(0n),
      arg: { major: 7, minor: 38, maxReadahead: 128 * 1024, flags, flags2 },
    });
    ok("INIT", init);
    const small = new Uint8Array(PAGE).fill(0x5a);
    const big = new Uint8Array(BIG_PAGES * PAGE).fill(0xa5);
    while (done < rounds && !warmup.signal?.aborted && performance.now() - started < budgetMs) {
      const end = Math.min(rounds, done + ROUNDS_PER_SLICE);
      for (; done < end; done++) await round(client, done, small, big);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  } finally {
    await server.reset();
    rmSync(dir, { recursive: true, force: true });
  }
  return { requests: client?.requestsSent ?? 0, rounds: done, ms: performance.now() - started };
}
