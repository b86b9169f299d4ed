/**
 * Group "driver" (issues #4 and #7, workload 1): FUSE through this
 * project's user-space guest driver (VirtioFsDriver + FuseSession, no VM),
 * `viofs serve` against QEMU's C virtiofsd with its default thread pool (0:
 * every request inline) and with `--thread-pool-size=64`, all running at
 * once on their own copies of the same tree, plus the same work on a host
 * directory through node:fs ("native", the physical limit):
 *
 * - sequential write, then read, of one file in 1 MiB calls, at queue depth
 *   1 (each call awaited) and 16 (16 calls in flight; the session splits each
 *   call into max_write/max_read requests, the same way for both backends);
 *   each write pass after the first (the warm-up's, of the whole file) writes
 *   the file over, opened with O_TRUNC (see {@link SEQ_WRITE_NOTE});
 * - LOOKUP + GETATTR of an existing file (the reference given back with a
 *   batched FORGET), at QD 1 and 16; native: lstat;
 * - CREATE + RELEASE + UNLINK of a new file, at QD 1 and 16; native:
 *   open(O_CREAT|O_EXCL) + close + unlink;
 * - random 4 KiB reads and writes inside the sequential workloads' file
 *   (a fixed permutation of its pages), at QD 1 and 16;
 * - create+close of new files, then the unlink of those files, timed as two
 *   figures of one pass (the FUSE side keeps each CREATE's reference until
 *   its UNLINK, as the kernel's dentry does), at QD 1 and 16;
 * - readdir of a 10,000-entry directory: OPENDIR, READDIR until empty,
 *   RELEASEDIR (native: fs.readdir), QD = listings in flight; entries/s.
 *
 * The subjects take turns within each repetition (order reversed every other
 * repetition), after a warm-up pass of every workload, so that drift on a
 * shared machine falls on all of them alike; each ratio is the median, over
 * the repetitions, of the two subjects' passes in that repetition
 * (Results.pairedRatio). Data stays in the host page
 * cache throughout (nothing is dropped; the comparison is of the transports
 * and servers, not the disk). The bar (issue #7): viofs ≥ 1.2× each
 * virtiofsd on MiB/s and ≥ 1.0× on ops/s and entries/s; 1 MiB sequential
 * read and write ≥ 0.5× native.
 */
import { randomFillSync } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { lstat, open, readdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import { ErrnoError } from "../src/common/errors.js";
import { Errno } from "../src/common/errno.js";
import { FUSE_ROOT_ID, OpenFlag } from "../src/fuse/abi.js";
import { VirtioFsDriver, type DriverOptions } from "../src/guest/driver.js";
import { FuseSession } from "../src/guest/session.js";
import {
  MiB,
  Results,
  commandLineOf,
  formatValue,
  lookupName,
  pool,
  scratchDir,
  startBackend,
  timeSeconds,
  type BackendHandle,
  type BenchContext,
  type DaemonName,
  type BenchGroup,
  type GroupResult,
  type RatioRow,
  type Subject,
} from "./lib.js";

/** Issue #7's bars: viofs ÷ virtiofsd on throughput and on metadata, and sequential 1 MiB I/O ÷ native. */
const IO_GOAL = 1.2;
const OPS_GOAL = 1.0;
const NATIVE_SEQ_GOAL = 0.5;
const PAGE = 4096;

/**
 * Why a write pass truncates the file it wrote before instead of deleting it
 * and creating a new one (the pattern until 2026-11-27): on this kind of host
 * (a VM whose balloon reports free pages to its hypervisor, and 6.x per-CPU
 * page lists that hold hundreds of MiB) a write into pages the hypervisor
 * has not backed costs twice the CPU, and whether a pass got those depended on
 * when and on which thread each daemon closed the deleted file, which it
 * does during the timed loop (the FORGET comes after the CREATE): samples of
 * one subject swung 300–1,400 MiB/s. With O_TRUNC each daemon frees the old
 * data inside the OPEN, before the timer starts, on its request thread
 * (docs/performance.md, "Why the write benchmark writes its file over").
 */
const SEQ_WRITE_NOTE =
  "driver: a seq write pass writes the file over (OPEN with O_TRUNC; native: open \"w+\"; the warm-up writes the whole file first), so each daemon frees the old data before the timed loop; deleting it instead freed it during the loop, on a thread and CPU of the daemon's choosing, and on this host the pass then got fresh pages the hypervisor had to back (samples 300–1,400 MiB/s).";

export interface DriverSettings {
  /** File size of the sequential workloads, MiB. */
  fileMiB: number;
  /** Bytes per read/write call. */
  chunk: number;
  /** Operations per timed pass of each metadata workload. */
  metaOps: number;
  /** Files the LOOKUP workload cycles through. */
  lookupFiles: number;
  /** 4 KiB calls per timed pass of the random workloads. */
  randOps: number;
  /** Entries of the directory the readdir workload lists. */
  listEntries: number;
  /** Whole listings per timed pass of the readdir workload. */
  listings: number;
  queueDepths: number[];
  reps: number;
  driver: Required<Pick<DriverOptions, "memorySize" | "queueSize">>;
}

export function driverSettings(quick: boolean): DriverSettings {
  return quick
    ? {
        fileMiB: 32, chunk: MiB, metaOps: 500, lookupFiles: 1000, randOps: 1000, listEntries: 10_000, listings: 1,
        queueDepths: [1, 16], reps: 3, driver: { memorySize: 128 * MiB, queueSize: 1024 },
      }
    : {
        fileMiB: 1024, chunk: MiB, metaOps: 10000, lookupFiles: 1000, randOps: 20000, listEntries: 10_000, listings: 16,
        queueDepths: [1, 16], reps: 5, driver: { memorySize: 128 * MiB, queueSize: 1024 },
      };
}

/**
 * One side of the comparison. Each workload method runs one pass and
 * resolves with the seconds of its timed loop (opening and closing the file
 * around a pass is not timed).
 */
interface Target {
  readonly name: Subject;
  /** Negotiated limits and the like, for the report. */
  readonly info: Record<string, unknown>;
  write(bytes: number, chunk: Uint8Array, qd: number): Promise<number>;
  read(bytes: number, chunk: number, qd: number): Promise<number>;
  lookupGetattr(ops: number, qd: number): Promise<number>;
  createReleaseUnlink(ops: number, qd: number, tag: string): Promise<number>;
  /** `ops` 4 KiB reads (`write` false) or writes at `offsets` (bytes, within the sequential file). */
  random(offsets: Uint32Array, qd: number, write: boolean, data: Uint8Array): Promise<number>;
  /** Creates and closes `ops` new files (timed), then unlinks them (timed): seconds of each phase. */
  createThenUnlink(ops: number, qd: number, tag: string): Promise<{ create: number; unlink: number }>;
  /** `listings` whole listings of the big directory, `qd` at a time. */
  list(listings: number, qd: number): Promise<number>;
  close(): Promise<void>;
}

const listName = (i: number): string => `entry-${String(i).padStart(6, "0")}.dat`;

/** The tree every subject starts from: bench/lookup/<files>, bench/list/<entries> and an empty bench/create/. */
function seedTree(root: string, s: DriverSettings): void {
  mkdirSync(join(root, "bench", "lookup"), { recursive: true });
  mkdirSync(join(root, "bench", "create"));
  mkdirSync(join(root, "bench", "list"));
  for (let i = 0; i < s.lookupFiles; i++) writeFileSync(join(root, "bench", "lookup", lookupName(i)), "x");
  for (let i = 0; i < s.listEntries; i++) writeFileSync(join(root, "bench", "list", listName(i)), "");
}

/**
 * `count` page-aligned offsets inside the first `bytes` of a file: page
 * i·0x9e3779b1 mod pages, a permutation while `count` ≤ pages (pages is a
 * power of two and the multiplier odd), the same for every subject.
 */
export function randomOffsets(bytes: number, count: number): Uint32Array {
  const pages = Math.floor(bytes / PAGE);
  if (pages < 1 || (pages & (pages - 1)) !== 0 || pages * PAGE > 2 ** 32) throw new RangeError(`random workload: ${bytes} bytes is not a power-of-two number of pages below 4 GiB`);
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = ((Math.imul(i, 0x9e3779b1) >>> 0) % pages) * PAGE;
  return out;
}

class FuseTarget implements Target {
  readonly info: Record<string, unknown>;
  private constructor(
    readonly name: DaemonName,
    private readonly handle: BackendHandle,
    private readonly driver: VirtioFsDriver,
    private readonly session: FuseSession,
    private readonly dirs: { bench: bigint; lookup: bigint; create: bigint; list: bigint },
    private readonly lookupFiles: number,
    private readonly listEntries: number,
  ) {
    const i = session.info;
    this.info = { commandLine: commandLineOf(handle), minor: i.minor, maxWrite: i.maxWrite, maxRead: i.maxRead, maxPages: i.maxPages, serverMaxWrite: i.init.maxWrite, maxBackground: i.init.maxBackground };
  }

  static async start(name: DaemonName, share: string, socketPath: string, s: DriverSettings): Promise<FuseTarget> {
    const handle = await startBackend(name, share, socketPath);
    try {
      const driver = await VirtioFsDriver.connect(socketPath, s.driver);
      const session = await FuseSession.init(driver);
      const bench = (await session.lookup(FUSE_ROOT_ID, "bench")).nodeid;
      const lookup = (await session.lookup(bench, "lookup")).nodeid;
      const create = (await session.lookup(bench, "create")).nodeid;
      const list = (await session.lookup(bench, "list")).nodeid;
      return new FuseTarget(name, handle, driver, session, { bench, lookup, create, list }, s.lookupFiles, s.listEntries);
    } catch (e) {
      await handle.stop(0);
      throw new Error(`${name}: ${e instanceof Error ? e.message : String(e)}\n--- ${name} output (tail):\n${handle.log().split("\n").slice(-20).join("\n")}`, { cause: e });
    }
  }

  /** Runs one pass; a failure names the backend and carries the tail of its output. */
  private async guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      const tail = this.handle.log().split("\n").slice(-25).join("\n");
      throw new Error(`${this.name}: ${what}: ${e instanceof Error ? e.message : String(e)}\n--- ${this.name} output (tail):\n${tail}`, { cause: e });
    }
  }

  write(bytes: number, chunk: Uint8Array, qd: number): Promise<number> {
    return this.guard("seq write", async () => {
      const s = this.session;
      // The first pass creates the file; the others write it over, opened with O_TRUNC as dd and
      // a shell's > do (see SEQ_WRITE_NOTE). A CREATE without O_EXCL of a name that exists is no
      // way to do that: QEMU 7.2's virtiofsd aborts on it (glibc fortify: "O_CREAT without mode").
      const old = await s.lookup(this.dirs.bench, "seq").catch((e: unknown) => {
        if (e instanceof ErrnoError && e.errno === Errno.ENOENT) return null;
        throw e;
      });
      let node: bigint;
      let fh: bigint;
      if (old !== null) {
        node = old.nodeid;
        fh = (await s.open(node, OpenFlag.O_RDWR | OpenFlag.O_TRUNC)).fh;
      } else {
        const c = await s.create(this.dirs.bench, "seq", 0o644, OpenFlag.O_RDWR | OpenFlag.O_CREAT | OpenFlag.O_EXCL);
        node = c.entry.nodeid;
        fh = c.open.fh;
      }
      try {
        return await timeSeconds(() =>
          pool(bytes / chunk.length, qd, async (i) => {
            const n = await s.write(node, fh, i * chunk.length, chunk);
            if (n !== chunk.length) throw new Error(`${this.name}: short write ${n} at ${i * chunk.length}`);
          }),
        );
      } finally {
        await s.release(node, fh, { flags: OpenFlag.O_RDWR });
        s.forget(node);
      }
    });
  }

  read(bytes: number, chunk: number, qd: number): Promise<number> {
    return this.guard("seq read", async () => {
      const s = this.session;
      const e = await s.lookup(this.dirs.bench, "seq");
      const o = await s.open(e.nodeid, OpenFlag.O_RDONLY);
      const free = Array.from({ length: qd }, () => new Uint8Array(chunk));
      try {
        return await timeSeconds(() =>
          pool(bytes / chunk, qd, async (i) => {
            const buf = free.pop()!;
            const n = await s.readInto(e.nodeid, o.fh, i * chunk, buf);
            free.push(buf);
            if (n !== chunk) throw new Error(`${this.name}: short read ${n} at ${i * chunk}`);
          }),
        );
      } finally {
        await s.release(e.nodeid, o.fh, { flags: OpenFlag.O_RDONLY });
        s.forget(e.nodeid);
      }
    });
  }

  lookupGetattr(ops: number, qd: number): Promise<number> {
    return this.guard("LOOKUP+GETATTR", async () => {
      const s = this.session;
      const dir = this.dirs.lookup;
      const files = this.lookupFiles;
      const seconds = await timeSeconds(() =>
        pool(ops, qd, async (i) => {
          const e = await s.lookup(dir, lookupName(i % files));
          await s.getattr(e.nodeid);
          s.forget(e.nodeid);
        }),
      );
      await s.flushForgets();
      return seconds;
    });
  }

  createReleaseUnlink(ops: number, qd: number, tag: string): Promise<number> {
    return this.guard("CREATE+RELEASE+UNLINK", async () => {
      const s = this.session;
      const dir = this.dirs.create;
      const seconds = await timeSeconds(() =>
        pool(ops, qd, async (i) => {
          const name = `${tag}-${i}`;
          const c = await s.create(dir, name, 0o644, OpenFlag.O_WRONLY | OpenFlag.O_CREAT | OpenFlag.O_EXCL);
          await s.release(c.entry.nodeid, c.open.fh, { flags: OpenFlag.O_WRONLY });
          await s.unlink(dir, name);
          s.forget(c.entry.nodeid);
        }),
      );
      await s.flushForgets();
      return seconds;
    });
  }

  random(offsets: Uint32Array, qd: number, write: boolean, data: Uint8Array): Promise<number> {
    return this.guard(write ? "random write" : "random read", async () => {
      const s = this.session;
      const e = await s.lookup(this.dirs.bench, "seq");
      const flags = write ? OpenFlag.O_RDWR : OpenFlag.O_RDONLY;
      const o = await s.open(e.nodeid, flags);
      const free = Array.from({ length: qd }, () => new Uint8Array(PAGE));
      try {
        return await timeSeconds(() =>
          pool(offsets.length, qd, async (i) => {
            let n: number;
            if (write) n = await s.write(e.nodeid, o.fh, offsets[i]!, data);
            else {
              const buf = free.pop()!;
              n = await s.readInto(e.nodeid, o.fh, offsets[i]!, buf);
              free.push(buf);
            }
            if (n !== PAGE) throw new Error(`${this.name}: short ${write ? "write" : "read"} ${n} at ${offsets[i]}`);
          }),
        );
      } finally {
        await s.release(e.nodeid, o.fh, { flags });
        s.forget(e.nodeid);
      }
    });
  }

  createThenUnlink(ops: number, qd: number, tag: string): Promise<{ create: number; unlink: number }> {
    return this.guard("create+close, unlink", async () => {
      const s = this.session;
      const dir = this.dirs.create;
      const nodes: bigint[] = new Array<bigint>(ops);
      const create = await timeSeconds(() =>
        pool(ops, qd, async (i) => {
          const c = await s.create(dir, `${tag}-${i}`, 0o644, OpenFlag.O_WRONLY | OpenFlag.O_CREAT | OpenFlag.O_EXCL);
          await s.release(c.entry.nodeid, c.open.fh, { flags: OpenFlag.O_WRONLY });
          nodes[i] = c.entry.nodeid;
        }),
      );
      const unlink = await timeSeconds(() =>
        pool(ops, qd, async (i) => {
          await s.unlink(dir, `${tag}-${i}`);
        }),
      );
      for (const node of nodes) s.forget(node);
      await s.flushForgets();
      return { create, unlink };
    });
  }

  list(listings: number, qd: number): Promise<number> {
    return this.guard("readdir", async () => {
      const s = this.session;
      const dir = this.dirs.list;
      return timeSeconds(() =>
        pool(listings, qd, async () => {
          const o = await s.opendir(dir);
          let names = 0;
          let offset = 0n;
          try {
            for (;;) {
              const page = await s.readdir(dir, o.fh, offset);
              if (page.length === 0) break;
              names += page.length;
              offset = page[page.length - 1]!.off;
            }
          } finally {
            await s.releasedir(dir, o.fh);
          }
          if (names !== this.listEntries + 2) throw new Error(`${this.name}: readdir gave ${names} entries, not ${this.listEntries} and . and ..`);
        }),
      );
    });
  }

  async close(): Promise<void> {
    try {
      await this.session.close();
    } catch {
      // The backend may already be gone; closing the driver below is what matters.
    }
    this.driver.close();
    await this.handle.stop();
  }
}

/** node:fs on a host directory: the limit of what the host itself does (async calls, libuv pool). */
class NativeTarget implements Target {
  readonly name = "native" as const;
  readonly info = { api: "node:fs/promises", uvThreadpoolSize: process.env["UV_THREADPOOL_SIZE"] ?? "4 (default)" };
  private readonly bench: string;
  constructor(root: string, private readonly lookupFiles: number, private readonly listEntries: number) {
    this.bench = join(root, "bench");
  }

  async write(bytes: number, chunk: Uint8Array, qd: number): Promise<number> {
    const fh = await open(join(this.bench, "seq"), "w+", 0o644);
    try {
      return await timeSeconds(() =>
        pool(bytes / chunk.length, qd, async (i) => {
          const { bytesWritten } = await fh.write(chunk, 0, chunk.length, i * chunk.length);
          if (bytesWritten !== chunk.length) throw new Error(`native: short write ${bytesWritten}`);
        }),
      );
    } finally {
      await fh.close();
    }
  }

  async read(bytes: number, chunk: number, qd: number): Promise<number> {
    const fh = await open(join(this.bench, "seq"), "r");
    const free = Array.from({ length: qd }, () => new Uint8Array(chunk));
    try {
      return await timeSeconds(() =>
        pool(bytes / chunk, qd, async (i) => {
          const buf = free.pop()!;
          const { bytesRead } = await fh.read(buf, 0, chunk, i * chunk);
          free.push(buf);
          if (bytesRead !== chunk) throw new Error(`native: short read ${bytesRead}`);
        }),
      );
    } finally {
      await fh.close();
    }
  }

  async lookupGetattr(ops: number, qd: number): Promise<number> {
    const dir = join(this.bench, "lookup");
    const files = this.lookupFiles;
    return timeSeconds(() =>
      pool(ops, qd, async (i) => {
        await lstat(join(dir, lookupName(i % files)));
      }),
    );
  }

  async createReleaseUnlink(ops: number, qd: number, tag: string): Promise<number> {
    const dir = join(this.bench, "create");
    return timeSeconds(() =>
      pool(ops, qd, async (i) => {
        const path = join(dir, `${tag}-${i}`);
        const fh = await open(path, "wx", 0o644);
        await fh.close();
        await unlink(path);
      }),
    );
  }

  async random(offsets: Uint32Array, qd: number, write: boolean, data: Uint8Array): Promise<number> {
    const fh = await open(join(this.bench, "seq"), write ? "r+" : "r");
    const free = Array.from({ length: qd }, () => new Uint8Array(PAGE));
    try {
      return await timeSeconds(() =>
        pool(offsets.length, qd, async (i) => {
          let n: number;
          if (write) n = (await fh.write(data, 0, PAGE, offsets[i]!)).bytesWritten;
          else {
            const buf = free.pop()!;
            n = (await fh.read(buf, 0, PAGE, offsets[i]!)).bytesRead;
            free.push(buf);
          }
          if (n !== PAGE) throw new Error(`native: short ${write ? "write" : "read"} ${n}`);
        }),
      );
    } finally {
      await fh.close();
    }
  }

  async createThenUnlink(ops: number, qd: number, tag: string): Promise<{ create: number; unlink: number }> {
    const dir = join(this.bench, "create");
    const create = await timeSeconds(() =>
      pool(ops, qd, async (i) => {
        const fh = await open(join(dir, `${tag}-${i}`), "wx", 0o644);
        await fh.close();
      }),
    );
    const unlinkSeconds = await timeSeconds(() => pool(ops, qd, (i) => unlink(join(dir, `${tag}-${i}`))));
    return { create, unlink: unlinkSeconds };
  }

  async list(listings: number, qd: number): Promise<number> {
    const dir = join(this.bench, "list");
    return timeSeconds(() =>
      pool(listings, qd, async () => {
        const names = await readdir(dir);
        if (names.length !== this.listEntries) throw new Error(`native: readdir gave ${names.length} entries`);
      }),
    );
  }

  async close(): Promise<void> {}
}

/** One figure a workload yields per pass. */
interface Figure {
  name: string;
  unit: "MiB/s" | "ops/s" | "entries/s";
  /** Issue #7's bar against native, when there is one (1 MiB sequential I/O). */
  nativeGoal: number | null;
}

interface Workload {
  qd: number;
  /** What one pass yields, in the order {@link pass} answers. */
  figures: Figure[];
  /** One timed pass; resolves with one value per figure. */
  pass(t: Target, tag: string, warmup: boolean): Promise<number[]>;
}

function workloads(s: DriverSettings, chunkData: Uint8Array): Workload[] {
  const bytes = s.fileMiB * MiB;
  const warmBytes = Math.min(bytes, 16 * MiB);
  const warmOps = Math.min(s.metaOps, 500);
  const page = new Uint8Array(PAGE).fill(0x5a);
  const randomAll = randomOffsets(bytes, s.randOps);
  const randomWarm = randomOffsets(warmBytes, Math.min(s.randOps, warmBytes / PAGE, 500));
  const list: Workload[] = [];
  const chunkKiB = s.chunk / 1024;
  const one = (name: string, unit: Figure["unit"], nativeGoal: number | null = null): Figure[] => [{ name, unit, nativeGoal }];
  for (const qd of s.queueDepths) {
    list.push({
      qd,
      figures: one(`seq write ${s.fileMiB} MiB, ${chunkKiB} KiB calls, QD${qd}`, "MiB/s", NATIVE_SEQ_GOAL),
      // The warm-up writes the whole file too: every timed pass then writes over a file of its
      // size, and none is the first to take the file's pages (see SEQ_WRITE_NOTE).
      async pass(t) {
        return [bytes / MiB / (await t.write(bytes, chunkData, qd))];
      },
    });
    list.push({
      qd,
      figures: one(`seq read ${s.fileMiB} MiB, ${chunkKiB} KiB calls, QD${qd}`, "MiB/s", NATIVE_SEQ_GOAL),
      async pass(t, _tag, warmup) {
        const n = warmup ? warmBytes : bytes;
        return [n / MiB / (await t.read(n, s.chunk, qd))];
      },
    });
  }
  for (const qd of s.queueDepths) {
    for (const write of [false, true]) {
      list.push({
        qd,
        figures: one(`random 4 KiB ${write ? "write" : "read"}, QD${qd}`, "MiB/s"),
        async pass(t, _tag, warmup) {
          const offsets = warmup ? randomWarm : randomAll;
          return [(offsets.length * PAGE) / MiB / (await t.random(offsets, qd, write, page))];
        },
      });
    }
  }
  for (const qd of s.queueDepths) {
    list.push({
      qd,
      figures: one(`LOOKUP+GETATTR, QD${qd}`, "ops/s"),
      async pass(t, _tag, warmup) {
        const n = warmup ? warmOps : s.metaOps;
        return [n / (await t.lookupGetattr(n, qd))];
      },
    });
    list.push({
      qd,
      figures: one(`CREATE+RELEASE+UNLINK, QD${qd}`, "ops/s"),
      async pass(t, tag, warmup) {
        const n = warmup ? warmOps : s.metaOps;
        return [n / (await t.createReleaseUnlink(n, qd, tag))];
      },
    });
    list.push({
      qd,
      figures: [
        { name: `create+close, QD${qd}`, unit: "ops/s", nativeGoal: null },
        { name: `unlink, QD${qd}`, unit: "ops/s", nativeGoal: null },
      ],
      async pass(t, tag, warmup) {
        const n = warmup ? warmOps : s.metaOps;
        const r = await t.createThenUnlink(n, qd, `cu-${tag}`);
        return [n / r.create, n / r.unlink];
      },
    });
    list.push({
      qd,
      figures: one(`readdir ${s.listEntries} entries, QD${qd}`, "entries/s"),
      async pass(t, _tag, warmup) {
        const listings = warmup ? 1 : Math.max(s.listings, qd);
        return [(listings * s.listEntries) / (await t.list(listings, qd))];
      },
    });
  }
  return list;
}

/**
 * QEMU 7.2's C virtiofsd (Debian's build) dies when its thread pool starts a
 * second worker: GLib's pool calls sched_getaffinity (syscall 204), which the
 * daemon's own seccomp filter does not allow, so the kernel kills it with
 * SIGSYS (`dmesg`: audit type=1326 … comm="pool" syscall=204). At QD1 the
 * pool keeps one worker; more requests in flight start more.
 */
const TP64_HINT =
  " (QEMU 7.2's virtiofsd with a thread pool is killed by its own seccomp filter when GLib's pool starts a second worker: sched_getaffinity, " +
  "syscall 204, is not on its list; dmesg shows audit type=1326 comm=\"pool\" syscall=204)";

/** The deepest queue a subject is measured at. */
function maxQd(name: Subject): number {
  return name === "virtiofsd-tp64" ? 1 : Number.POSITIVE_INFINITY;
}

export const driverGroup: BenchGroup = {
  name: "driver",
  description:
    "FUSE through the user-space guest driver, no VM: seq and random I/O, LOOKUP+GETATTR, create, unlink, readdir; " +
    "viofs vs virtiofsd (pool 0 and 64) and native node:fs (issues #4, #7)",
  async run(ctx: BenchContext): Promise<GroupResult> {
    const s = driverSettings(ctx.quick);
    const results = new Results("driver");
    const chunkData = new Uint8Array(s.chunk);
    randomFillSync(chunkData);
    const list = workloads(s, chunkData);

    const daemons: DaemonName[] = [...ctx.backends];
    if (ctx.backends.includes("virtiofsd")) daemons.push("virtiofsd-tp64");
    const dir = scratchDir(ctx.tmpRoot, "driver");
    const targets: Target[] = [];
    const notes: string[] = [
      "driver: each 1 MiB call is split by FuseSession into max_write/max_read requests sent together; QD counts calls in flight, not FUSE requests.",
      "driver: the host page cache holds the data for every subject (nothing is dropped); native = node:fs/promises on the host directory (lstat for LOOKUP+GETATTR, libuv's 4 threads).",
      "driver: random 4 KiB I/O goes to the sequential workloads' file; readdir lists with READDIR (32 KiB replies), the same for every daemon.",
      SEQ_WRITE_NOTE,
    ];
    if (daemons.includes("virtiofsd-tp64")) notes.push(`driver: virtiofsd-tp64 is measured at QD1 only.${TP64_HINT}`);
    try {
      for (const name of daemons) {
        const share = join(dir.path, name, "share");
        seedTree(share, s);
        ctx.progress(`driver: starting ${name} and connecting the driver`);
        targets.push(await FuseTarget.start(name, share, join(dir.path, name, "vfs.sock"), s));
      }
      const nativeRoot = join(dir.path, "native");
      seedTree(nativeRoot, s);
      targets.push(new NativeTarget(nativeRoot, s.lookupFiles, s.listEntries));

      // A subject that fails is dropped (with a note) so that the others' figures still count.
      const dropped = new Set<Target>();
      const attempt = async (t: Target, w: Workload, tag: string, warmup: boolean): Promise<number[] | null> => {
        if (dropped.has(t) || w.qd > maxQd(t.name)) return null;
        try {
          return await w.pass(t, tag, warmup);
        } catch (e) {
          if (!(e instanceof Error) || t.name !== "virtiofsd-tp64") throw e;
          dropped.add(t);
          const m = e.message.split("\n")[0];
          notes.push(`driver: virtiofsd-tp64 dropped after it failed (${m}); its figures before that stand.${TP64_HINT}`);
          ctx.progress(`driver: virtiofsd-tp64 failed and is dropped: ${m}`);
          return null;
        }
      };
      // Warm-up: JIT, server threads, the file exists for the read passes.
      for (const t of targets) for (const w of list) await attempt(t, w, `warm-${w.qd}`, true);

      for (const w of list) {
        for (let rep = 0; rep < s.reps * ctx.rounds; rep++) {
          const order = rep % 2 === 0 ? targets : [...targets].reverse();
          for (const t of order) {
            const values = await attempt(t, w, `r${rep}-${w.qd}`, false);
            // Every subject's pass of repetition `rep` is one occasion: they ran back to back.
            if (values !== null) w.figures.forEach((f, i) => results.add(f.name, f.unit, t.name, values[i]!, `rep ${rep}`));
          }
        }
        for (const f of w.figures) {
          ctx.progress(`driver: ${f.name}: ` + targets.map((t) => `${t.name} ${formatValue(results.value(f.name, t.name) ?? null)}`).join(", ") + ` ${f.unit}`);
        }
      }
    } finally {
      for (const t of targets) await t.close().catch(() => undefined);
      dir.cleanup();
    }

    const ratios: RatioRow[] = [];
    const ours: Subject = ctx.backends.includes("viofs") ? "viofs" : "virtiofsd";
    for (const w of list) {
      for (const f of w.figures) {
        const goal = f.unit === "MiB/s" ? IO_GOAL : OPS_GOAL;
        for (const peer of daemons) if (peer !== ours && w.qd <= maxQd(peer)) ratios.push(results.pairedRatio(f.name, f.unit, ours, peer, ours === "viofs" ? goal : null));
        ratios.push(results.pairedRatio(f.name, f.unit, ours, "native", ours === "viofs" ? f.nativeGoal : null));
      }
    }
    return {
      records: results.records(),
      ratios,
      settings: {
        ...s,
        rounds: ctx.rounds,
        subjects: Object.fromEntries(targets.map((t) => [t.name, t.info])),
        order: "per workload: reps × subjects, order reversed on odd reps, after one warm-up pass of everything",
      },
      notes,
    };
  },
};
