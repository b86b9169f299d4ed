/**
 * Micro-benchmark of the vhost-user-fs device's request path in one
 * process, without system calls: a driver-side queue (DriverQueue) puts FUSE
 * requests into a split virtqueue in plain memory, the VirtioFsDevice takes
 * them (pop, walk, Reader/Writer, ChainReply), the FuseServer answers them
 * over a file system that answers from constants, and the device pushes them
 * back and decides whether to notify (the notification itself is counted,
 * not signalled). Not a test and not part of `npm run bench`:
 *
 *     npx tsx bench/micro/device-path.ts [--filter WORD] [--count N]
 *
 * `--count N` runs each case N times once, untimed: a fixed amount of work
 * whose instructions `valgrind --tool=callgrind` can count, a figure this
 * shared machine's noise leaves alone (CPU time per CREATE+RELEASE+UNLINK
 * cycle moved 40-77 µs between identical runs; the instruction count of
 * 20,000 cycles repeats to 0.2%).
 *
 * The passthrough cases create and write files under the host's temporary
 * directory: point TMPDIR at a tmpfs (as `npm run bench` serves from one),
 * or a disk's journal dominates the CREATE cycle.
 *
 * The `passthrough` cases serve GETATTR and LOOKUP of a real file through
 * PassthroughFs instead (a statx, or an openat, a statx and a close, each),
 * and a 128 KiB READ into 32 page buffers after the out header, as a Linux
 * guest's readahead sends it (one preadv of 32 iovecs); a 128 KiB WRITE;
 * the driver bench's CREATE+RELEASE+UNLINK cycle at QD16; and a 32 KiB READDIR
 * of a 1,000-entry directory from its start (about 800 entries), and a
 * READDIRPLUS of it (about 195 entries, each a statx by name: 2026-11-28,
 * 1.23 ms a reply, 63% of it in those statx calls).
 *
 * Prints CPU and wall ns per request, the best of seven rounds, next to
 * `handleChain` alone over the same messages, so that the difference is what
 * the device layer adds. QD1 waits for each reply before the next request;
 * QD16 keeps 16 in flight.
 */
import { Opcode, OpenFlag } from "../../src/fuse/abi.js";
import { encodeRequestBytes, type RequestHeader } from "../../src/fuse/messages.js";
import { CreateIn, EntryOut, InHeader, OutHeader, type AttrOut } from "../../src/fuse/structs.js";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { log } from "../../src/common/log.js";
import { PassthroughFs } from "../../src/passthrough/passthrough.js";
import { VirtioFsDevice } from "../../src/host/device.js";
import { FileSystemBase, type Context } from "../../src/server/filesystem.js";
import { ChainReply } from "../../src/server/reply.js";
import { FuseServer } from "../../src/server/server.js";
import { Reader, Writer } from "../../src/virtio/chain-io.js";
import { DriverQueue } from "../../src/virtio/driver-queue.js";
import { GuestMemory } from "../../src/virtio/memory.js";
import { featureMask, splitQueueLayout } from "../../src/virtio/ring.js";
import type { Vring } from "../../src/vhost-user/backend.js";
import { attrOut, entryOut, header, readyServer } from "./fixtures.js";
import { measure as measureCase, type Case, type Figure } from "./measure.js";

let sink: unknown = null;

const ROUNDS = 7;
const ROUND_MS = 250;

const measure = (c: Case): Promise<Figure> => measureCase(c, { rounds: ROUNDS, roundMs: ROUND_MS, warmupMs: 400 });

// ─── Messages and file system ──────────────────────────────────────────────

const getattrReq = encodeRequestBytes({ opcode: Opcode.GETATTR, header: header(7n), arg: { getattrFlags: 0, fh: 0n } });
const lookupReq = encodeRequestBytes({ opcode: Opcode.LOOKUP, header: header(1n), name: Buffer.from("file-0042.txt") });


/** Answers LOOKUP and GETATTR from constants, synchronously (as the passthrough's metadata methods do). */
class ConstFs extends FileSystemBase {
  override lookup(_ctx: Context, _parent: bigint, _name: Uint8Array): EntryOut {
    return entryOut;
  }
  override getattr(_ctx: Context, _nodeid: bigint, _fh: bigint | undefined): AttrOut {
    return attrOut;
  }
}



// ─── The ring ──────────────────────────────────────────────────────────────

const QUEUE_SIZE = 256;
const REPLY_ROOM = 4096;
const PAGE = 4096;
/** A READ as a Linux guest's readahead sends it: 128 KiB into 32 pages after the out header. */
const READ_PAGES = 32;
/** A READDIR's size: what a Linux guest asks (one page) times 8, as the driver bench lists. */
const READDIR_SIZE = 32 * 1024;

/** A request queue (index 1) of a VirtioFsDevice, fed by a DriverQueue in the same memory. */
class Rig {
  readonly driver: DriverQueue<number>;
  readonly device: VirtioFsDevice;
  notifications = 0;
  private readonly bytes: Uint8Array;
  private readonly slotBase: number;
  private readonly slotSize: number;
  private waiter: (() => void) | null = null;

  constructor(
    server: FuseServer,
    eventIdx: boolean,
    /** Reply buffers, lengths in bytes, each on a page of its own after the request's pages. */
    private readonly reply: readonly number[] = [REPLY_ROOM],
    /** Pages the request may take (one readable buffer). */
    private readonly requestPages = 1,
  ) {
    const layout = splitQueueLayout(QUEUE_SIZE, 0n, 4);
    this.slotBase = Math.ceil(Number(layout.end) / 4096) * 4096;
    // The request's pages, then a page for each reply buffer.
    this.slotSize = (requestPages + reply.length) * PAGE;
    const size = this.slotBase + QUEUE_SIZE * this.slotSize;
    this.bytes = new Uint8Array(size);
    const memory = new GuestMemory([{ guestAddr: 0n, size: BigInt(size), userAddr: 0x7000_0000_0000n, bytes: this.bytes }]);
    this.driver = new DriverQueue<number>({ memory, size: QUEUE_SIZE, ...layout, eventIdx });
    this.device = new VirtioFsDevice(server);
    const vring: Vring = {
      index: 1,
      size: QUEUE_SIZE,
      memory,
      descAddr: layout.descAddr,
      availAddr: layout.availAddr,
      usedAddr: layout.usedAddr,
      nextAvail: 0,
      features: eventIdx ? featureMask("RING_EVENT_IDX") : 0n,
      notify: () => {
        this.notifications++;
        const w = this.waiter;
        this.waiter = null;
        w?.();
      },
      signalError: () => {
        throw new Error("ring error");
      },
    };
    this.device.queueStarted(vring);
  }

  /** Puts `request` in slot `slot` and makes it available; returns whether the device wants a kick. */
  submit(request: Uint8Array, slot: number): boolean {
    const at = this.slotBase + slot * this.slotSize;
    this.bytes.set(request, at);
    this.driver.add([{ gpa: at, len: request.byteLength }], this.reply.map((len, i) => ({ gpa: at + (this.requestPages + i) * PAGE, len })), slot);
    return this.driver.kickNeeded();
  }

  kick(): void {
    this.device.queueKicked(1);
  }

  /** The u64 at `offset` of slot `slot`'s first reply buffer. */
  replyU64(slot: number, offset: number): bigint {
    const at = this.slotBase + slot * this.slotSize + this.requestPages * PAGE + offset;
    return new DataView(this.bytes.buffer, this.bytes.byteOffset).getBigUint64(at, true);
  }

  /** Resolves at the next notification. */
  notified(): Promise<void> {
    return new Promise((resolve) => (this.waiter = resolve));
  }

  /** Submits `requests` in slots 0.., kicks, and waits for all of them; `replied` sees each slot as it completes. */
  async round(requests: readonly Uint8Array[], replied?: (slot: number) => void): Promise<void> {
    let kick = false;
    requests.forEach((r, slot) => (kick = this.submit(r, slot) || kick));
    let done = 0;
    while (done < requests.length) {
      const woken = this.notified();
      if (kick) this.kick();
      kick = false;
      for (const used of this.driver.takeUsed()) {
        replied?.(used.token);
        done++;
      }
      if (done < requests.length) await woken;
    }
  }
}

function deviceCase(name: string, server: FuseServer, request: Uint8Array, qd: number, reply?: readonly number[]): Case {
  const rig = new Rig(server, true, reply, Math.ceil(request.length / PAGE));
  return {
    name: `device ${name} QD${qd}`,
    async run(n) {
      let done = 0;
      let sent = 0;
      const free: number[] = Array.from({ length: qd }, (_, i) => i);
      while (done < n) {
        let kick = false;
        while (sent < n && free.length > 0) {
          kick = rig.submit(request, free.pop()!) || kick;
          sent++;
        }
        const woken = rig.notified();
        if (kick) rig.kick();
        await woken;
        for (const used of rig.driver.takeUsed()) {
          free.push(used.token);
          done++;
        }
      }
      sink = rig.notifications;
    },
  };
}

/**
 * The driver bench's LOOKUP+GETATTR at QD16 in one process: 16 LOOKUPs of
 * names cycling through `files`, then a GETATTR of each node looked up, and
 * a BATCH_FORGET of every 256 references given back, as FuseSession batches
 * them. One operation is a LOOKUP plus a GETATTR (and 1/256 of a forget).
 */
function lookupGetattrCase(server: FuseServer, dir: bigint, files: number): Case {
  const rig = new Rig(server, true);
  const qd = 16;
  const lookups = Array.from({ length: files }, (_, i) =>
    encodeRequestBytes({ opcode: Opcode.LOOKUP, header: header(dir), name: Buffer.from(benchName(i)) }),
  );
  let next = 0;
  let forgets: bigint[] = [];
  /** One round (see Rig.round); the u64 after each reply's header. */
  const round = async (requests: Uint8Array[]): Promise<bigint[]> => {
    const out: bigint[] = [];
    await rig.round(requests, (slot) => (out[slot] = rig.replyU64(slot, OutHeader.SIZE)));
    return out;
  };
  return {
    name: `device passthrough LOOKUP+GETATTR+FORGET QD${qd}`,
    async run(n) {
      for (let done = 0; done < n; done += qd) {
        const nodes = await round(Array.from({ length: qd }, () => lookups[next++ % files]!));
        await round(nodes.map((nodeid) => encodeRequestBytes({ opcode: Opcode.GETATTR, header: header(nodeid), arg: { getattrFlags: 0, fh: 0n } })));
        forgets.push(...nodes);
        if (forgets.length >= 256) {
          const batch = encodeRequestBytes({ opcode: Opcode.BATCH_FORGET, header: header(0n), forgets: forgets.map((nodeid) => ({ nodeid, nlookup: 1n })) });
          forgets = [];
          // No reply: the chain comes back empty.
          await round([batch]);
        }
      }
    },
  };
}

const benchName = (i: number): string => `l${String(i).padStart(5, "0")}`;

/** A root caller's header (creates run as the daemon, as in the driver bench: no credential switch). */
const rootHeader = (nodeid: bigint): RequestHeader => ({ unique: 0x1234n, nodeid, uid: 0, gid: 0, pid: 4242 });

/**
 * The driver bench's CREATE+RELEASE+UNLINK at QD16 in one process: 16
 * CREATEs of new names in `dir`, then the RELEASE and the UNLINK of each,
 * then a BATCH_FORGET of the 16 nodes (FuseSession sends one per 256; here
 * the batch keeps the node table small). Requests are patched copies of
 * templates (name digits, node id, fh written in place), so that encoding
 * them costs little next to serving them.
 */
function createCycleCase(server: FuseServer, dir: bigint): Case {
  const rig = new Rig(server, true);
  const qd = 16;
  const digits = 8;
  const name = (i: number): Buffer => Buffer.from(`c${String(i).padStart(digits, "0")}`);
  const flags = OpenFlag.O_WRONLY | OpenFlag.O_CREAT | OpenFlag.O_EXCL;
  const createT = encodeRequestBytes({ opcode: Opcode.CREATE, header: rootHeader(dir), arg: { flags, mode: 0o100644, umask: 0o022, openFlags: 0 }, name: name(0) });
  const unlinkT = encodeRequestBytes({ opcode: Opcode.UNLINK, header: rootHeader(dir), name: name(0) });
  const releaseT = encodeRequestBytes({ opcode: Opcode.RELEASE, header: rootHeader(0n), arg: { fh: 0n, flags: OpenFlag.O_WRONLY, releaseFlags: 0, lockOwner: 0n } });
  // Where the name's digits start in CREATE (after the header and fuse_create_in) and in UNLINK (after the header).
  const createDigits = InHeader.SIZE + CreateIn.SIZE + 1;
  const unlinkDigits = InHeader.SIZE + 1;
  const withName = (template: Uint8Array, at: number, i: number): Uint8Array => {
    const r = template.slice();
    const s = String(i).padStart(digits, "0");
    for (let k = 0; k < digits; k++) r[at + k] = s.charCodeAt(k);
    return r;
  };
  const release = (nodeid: bigint, fh: bigint): Uint8Array => {
    const r = releaseT.slice();
    const v = new DataView(r.buffer, r.byteOffset, r.byteLength);
    v.setBigUint64(16, nodeid, true);
    v.setBigUint64(InHeader.SIZE, fh, true);
    return r;
  };
  let next = 0;
  return {
    name: `device passthrough CREATE+RELEASE+UNLINK+FORGET QD${qd}`,
    async run(n) {
      for (let done = 0; done < n; done += qd) {
        const first = next;
        next += qd;
        const nodes: bigint[] = [];
        const fhs: bigint[] = [];
        await rig.round(
          Array.from({ length: qd }, (_, k) => withName(createT, createDigits, first + k)),
          (slot) => {
            nodes[slot] = rig.replyU64(slot, OutHeader.SIZE);
            fhs[slot] = rig.replyU64(slot, OutHeader.SIZE + EntryOut.SIZE);
          },
        );
        await rig.round([
          ...nodes.map((nodeid, k) => release(nodeid, fhs[k]!)),
          ...Array.from({ length: qd }, (_, k) => withName(unlinkT, unlinkDigits, first + k)),
        ]);
        await rig.round([encodeRequestBytes({ opcode: Opcode.BATCH_FORGET, header: rootHeader(0n), forgets: nodes.map((nodeid) => ({ nodeid, nlookup: 1n })) })]);
      }
    },
  };
}

function chainCase(name: string, server: FuseServer, request: Uint8Array): Case {
  const readable = [new Uint8Array(request)];
  const writable = [new Uint8Array(REPLY_ROOM)];
  return {
    name: `handleChain ${name} alone`,
    async run(n) {
      for (let i = 0; i < n; i++) await server.handleChain(new Reader(readable), new ChainReply(new Writer(writable)));
    },
  };
}

async function main(): Promise<void> {
  log.setLevel("error");
  const filter = process.argv.includes("--filter") ? process.argv[process.argv.indexOf("--filter") + 1]! : "";
  const count = process.argv.includes("--count") ? Number(process.argv[process.argv.indexOf("--count") + 1]) : 0;
  if (!Number.isSafeInteger(count) || count < 0) {
    console.error("device-path: --count wants a whole number of operations, e.g. --count 20000");
    process.exit(2);
  }
  const server = await readyServer(new ConstFs());
  const dir = mkdtempSync(join(tmpdir(), "viofs-device-path-"));
  mkdirSync(join(dir, "share"));
  writeFileSync(join(dir, "share", "file-0042.txt"), "x");
  mkdirSync(join(dir, "share", "lookup"));
  for (let i = 0; i < 1000; i++) writeFileSync(join(dir, "share", "lookup", benchName(i)), "x");
  writeFileSync(join(dir, "share", "data.bin"), Buffer.alloc(READ_PAGES * PAGE, 0x5a));
  const pfs = new PassthroughFs(
    { root: join(dir, "share"), cache: "auto", xattr: true, readonly: false, posixLocks: true, flock: true, announceSubmounts: false, writeback: false },
    { inline: true },
  );
  const real = await readyServer(pfs);
  // A node the GETATTRs can name: looked up once (and never forgotten).
  const looked = await pfs.lookup({ unique: 1n, uid: 0, gid: 0, pid: 1 }, 1n, Buffer.from("file-0042.txt"));
  const realGetattr = encodeRequestBytes({ opcode: Opcode.GETATTR, header: header(looked.nodeid), arg: { getattrFlags: 0, fh: 0n } });
  const data = await pfs.lookup({ unique: 2n, uid: 0, gid: 0, pid: 1 }, 1n, Buffer.from("data.bin"));
  const opened = await pfs.open({ unique: 3n, uid: 0, gid: 0, pid: 1 }, data.nodeid, 0, 0);
  const writable = await pfs.open({ unique: 6n, uid: 0, gid: 0, pid: 1 }, data.nodeid, OpenFlag.O_WRONLY, 0);
  const readReq = encodeRequestBytes({
    opcode: Opcode.READ,
    header: header(data.nodeid),
    arg: { fh: opened.fh, offset: 0n, size: READ_PAGES * PAGE, readFlags: 0, lockOwner: 0n, flags: 0 },
  });
  const lookupDir = await pfs.lookup({ unique: 4n, uid: 0, gid: 0, pid: 1 }, 1n, Buffer.from("lookup"));
  // A READDIR of 32 KiB from the start of the 1,000-entry directory (about 800 entries a reply, the same ones each time).
  const listing = await pfs.opendir({ unique: 7n, uid: 0, gid: 0, pid: 1 }, lookupDir.nodeid, 0);
  const readdirReq = encodeRequestBytes({
    opcode: Opcode.READDIR,
    header: header(lookupDir.nodeid),
    arg: { fh: listing.fh, offset: 0n, size: READDIR_SIZE, readFlags: 0, lockOwner: 0n, flags: 0 },
  });
  const readdirReply = [16, ...Array.from({ length: READDIR_SIZE / PAGE }, () => PAGE)];
  // The same as READDIRPLUS: about 195 entries a reply, each a lookup (counted, never forgotten: harmless here).
  const readdirplusReq = encodeRequestBytes({
    opcode: Opcode.READDIRPLUS,
    header: header(lookupDir.nodeid),
    arg: { fh: listing.fh, offset: 0n, size: READDIR_SIZE, readFlags: 0, lockOwner: 0n, flags: 0 },
  });
  mkdirSync(join(dir, "share", "create"));
  const createDir = await pfs.lookup({ unique: 5n, uid: 0, gid: 0, pid: 1 }, 1n, Buffer.from("create"));
  const readReply = [16, ...Array.from({ length: READ_PAGES }, () => PAGE)];
  // A 128 KiB WRITE (header, fuse_write_in and data in one readable buffer) at offset 0 of the same file.
  const writeReq = encodeRequestBytes({
    opcode: Opcode.WRITE,
    header: header(data.nodeid),
    arg: { fh: writable.fh, offset: 0n, size: READ_PAGES * PAGE, writeFlags: 0, lockOwner: 0n, flags: 0 },
    data: new Uint8Array(READ_PAGES * PAGE).fill(0x5a),
  });
  // LOOKUPs add a reference each (as the guest's would, until FORGET): harmless here.
  const list: Case[] = [
    chainCase("GETATTR", server, getattrReq),
    deviceCase("GETATTR", server, getattrReq, 1),
    deviceCase("GETATTR", server, getattrReq, 16),
    chainCase("LOOKUP", server, lookupReq),
    deviceCase("LOOKUP", server, lookupReq, 1),
    deviceCase("LOOKUP", server, lookupReq, 16),
    chainCase("passthrough GETATTR", real, realGetattr),
    deviceCase("passthrough GETATTR", real, realGetattr, 1),
    deviceCase("passthrough GETATTR", real, realGetattr, 16),
    deviceCase("passthrough LOOKUP", real, lookupReq, 16),
    lookupGetattrCase(real, lookupDir.nodeid, 1000),
    createCycleCase(real, createDir.nodeid),
    deviceCase("passthrough READ 128 KiB in pages", real, readReq, 1, readReply),
    // 34 descriptors a chain, no indirect tables here: 7 fit the 256-entry ring.
    deviceCase("passthrough READ 128 KiB in pages", real, readReq, 4, readReply),
    deviceCase("passthrough WRITE 128 KiB", real, writeReq, 1),
    deviceCase("passthrough READDIR 32 KiB", real, readdirReq, 1, readdirReply),
    deviceCase("passthrough READDIRPLUS 32 KiB", real, readdirplusReq, 1, readdirReply),
  ].filter((c) => c.name.includes(filter));
  if (count > 0) {
    // Fixed work, no timing: for counting instructions (valgrind --tool=callgrind), which the machine's noise leaves alone.
    for (const c of list) {
      await c.run(count);
      console.log(`${c.name}: ran ${count}`);
    }
  } else {
    console.log(`${"case".padEnd(34)} ${"cpu ns/op".padStart(10)} ${"wall ns/op".padStart(10)}`);
    for (const c of list) {
      const f = await measure(c);
      console.log(`${c.name.padEnd(34)} ${f.cpu.toFixed(0).padStart(10)} ${f.wall.toFixed(0).padStart(10)}`);
    }
  }
  await pfs.destroy();
  rmSync(dir, { recursive: true, force: true });
  if (sink === Symbol.for("never")) console.log(sink);
}

await main();
