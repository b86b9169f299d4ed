/**
 * Group "driver" (issue #4): FUSE through this project's user-space guest
 * driver (VirtioFsDriver + FuseSession, no VM), against QEMU's C virtiofsd
 * and `viofs serve`, both running at once on their own copies of the same
 * tree, plus the same work on a host directory through node:fs ("native",
 * the limit issue #7 measures against):
 *
 * - sequential write, then read, of one file in 1 MiB calls, at queue depth
 *   1 (each call awaited) and 16 (16 calls in flight; the session splits each
 *   call into max_write/max_read requests, the same way for both backends);
 * - LOOKUP + GETATTR of an existing file (the reference given back with a
 *   batched FORGET), at QD 1 and 16; native: lstat;
 * - CREATE + RELEASE + UNLINK of a new file, at QD 1 and 16; native:
 *   open(O_CREAT|O_EXCL) + close + unlink.
 *
 * The subjects take turns within each repetition (order reversed every other
 * repetition), after a warm-up pass of every workload, so that drift on a
 * shared machine falls on all of them alike. Data stays in the host page
 * cache throughout (nothing is dropped; the comparison is of the transports
 * and servers, not the disk). The bar: viofs ≥ 1.0× virtiofsd on MiB/s and
 * ≥ 0.8× on ops/s.
 */
import { randomFillSync } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { lstat, open, unlink } from "node:fs/promises";
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
  scratchDir,
  startBackend,
  timeSeconds,
  type BackendHandle,
  type BackendName,
  type BenchContext,
  type BenchGroup,
  type GroupResult,
  type RatioRow,
  type Subject,
} from "./lib.js";

const IO_GOAL = 1.0;
const OPS_GOAL = 0.8;

export interface DriverSettings {
  /** File size of the sequential workloads, MiB. */
  fileMiB: number;
  /** Bytes per read/write call. */
  chunk: number;
  /** Operations per timed pass of each metadata workload. */
  metaOps: number;
  /** Files the LOOKUP workload cycles through. */
  lookupFiles: number;
  queueDepths: number[];
  reps: number;
  driver: Required<Pick<DriverOptions, "memorySize" | "queueSize">>;
}

export function driverSettings(quick: boolean): DriverSettings {
  return quick
    ? { fileMiB: 64, chunk: MiB, metaOps: 2000, lookupFiles: 1000, queueDepths: [1, 16], reps: 3, driver: { memorySize: 128 * MiB, queueSize: 1024 } }
    : { fileMiB: 256, chunk: MiB, metaOps: 10000, lookupFiles: 1000, queueDepths: [1, 16], reps: 5, driver: { memorySize: 128 * MiB, queueSize: 1024 } };
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
  close(): Promise<void>;
}

/** Runs `ops` calls of `one(i)`, `qd` at a time (each worker takes the next index). */
async function pool(ops: number, qd: number, one: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < ops) await one(next++);
  };
  await Promise.all(Array.from({ length: Math.min(qd, ops) }, worker));
}

const lookupName = (i: number): string => `l${String(i).padStart(5, "0")}`;

/** The tree every subject starts from: bench/lookup/<files> and an empty bench/create/. */
function seedTree(root: string, s: DriverSettings): void {
  mkdirSync(join(root, "bench", "lookup"), { recursive: true });
  mkdirSync(join(root, "bench", "create"));
  for (let i = 0; i < s.lookupFiles; i++) writeFileSync(join(root, "bench", "lookup", lookupName(i)), "x");
}

class FuseTarget implements Target {
  readonly info: Record<string, unknown>;
  private constructor(
    readonly name: BackendName,
    private readonly handle: BackendHandle,
    private readonly driver: VirtioFsDriver,
    private readonly session: FuseSession,
    private readonly dirs: { bench: bigint; lookup: bigint; create: bigint },
    private readonly lookupFiles: number,
  ) {
    const i = session.info;
    this.info = { commandLine: commandLineOf(handle), minor: i.minor, maxWrite: i.maxWrite, maxRead: i.maxRead, maxPages: i.maxPages, serverMaxWrite: i.init.maxWrite, maxBackground: i.init.maxBackground };
  }

  static async start(name: BackendName, share: string, socketPath: string, s: DriverSettings): Promise<FuseTarget> {
    const handle = await startBackend(name, share, socketPath);
    try {
      const driver = await VirtioFsDriver.connect(socketPath, s.driver);
      const session = await FuseSession.init(driver);
      const bench = (await session.lookup(FUSE_ROOT_ID, "bench")).nodeid;
      const lookup = (await session.lookup(bench, "lookup")).nodeid;
      const create = (await session.lookup(bench, "create")).nodeid;
      return new FuseTarget(name, handle, driver, session, { bench, lookup, create }, s.lookupFiles);
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
      // A new file every pass: QEMU 7.2's virtiofsd aborts (glibc fortify: "O_CREAT without mode")
      // on a CREATE without O_EXCL of a name that exists, and answers EIO to an UNLINK of a name
      // it holds no inode for. The Linux client never sends either: it looks the name up first.
      const old = await s.lookup(this.dirs.bench, "seq").catch((e: unknown) => {
        if (e instanceof ErrnoError && e.errno === Errno.ENOENT) return null;
        throw e;
      });
      if (old !== null) {
        await s.unlink(this.dirs.bench, "seq");
        s.forget(old.nodeid);
      }
      const c = await s.create(this.dirs.bench, "seq", 0o644, OpenFlag.O_RDWR | OpenFlag.O_CREAT | OpenFlag.O_EXCL);
      const node = c.entry.nodeid;
      try {
        return await timeSeconds(() =>
          pool(bytes / chunk.length, qd, async (i) => {
            const n = await s.write(node, c.open.fh, i * chunk.length, chunk);
            if (n !== chunk.length) throw new Error(`${this.name}: short write ${n} at ${i * chunk.length}`);
          }),
        );
      } finally {
        await s.release(node, c.open.fh, { flags: OpenFlag.O_RDWR });
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
  constructor(root: string, private readonly lookupFiles: number) {
    this.bench = join(root, "bench");
  }

  async write(bytes: number, chunk: Uint8Array, qd: number): Promise<number> {
    await unlink(join(this.bench, "seq")).catch(() => undefined);
    const fh = await open(join(this.bench, "seq"), "wx+", 0o644);
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

  async close(): Promise<void> {}
}

interface Workload {
  key: "write" | "read" | "lookup" | "create";
  name: string;
  unit: "MiB/s" | "ops/s";
  qd: number;
  /** One timed pass; resolves with the figure. */
  pass(t: Target, tag: string, warmup: boolean): Promise<number>;
}

function workloads(s: DriverSettings, chunkData: Uint8Array): Workload[] {
  const bytes = s.fileMiB * MiB;
  const warmBytes = Math.min(bytes, 16 * MiB);
  const warmOps = Math.min(s.metaOps, 500);
  const list: Workload[] = [];
  const chunkKiB = s.chunk / 1024;
  for (const qd of s.queueDepths) {
    list.push({
      key: "write",
      name: `seq write ${s.fileMiB} MiB, ${chunkKiB} KiB calls, QD${qd}`,
      unit: "MiB/s",
      qd,
      async pass(t, _tag, warmup) {
        const n = warmup ? warmBytes : bytes;
        return n / MiB / (await t.write(n, chunkData, qd));
      },
    });
    list.push({
      key: "read",
      name: `seq read ${s.fileMiB} MiB, ${chunkKiB} KiB calls, QD${qd}`,
      unit: "MiB/s",
      qd,
      async pass(t, _tag, warmup) {
        const n = warmup ? warmBytes : bytes;
        return n / MiB / (await t.read(n, s.chunk, qd));
      },
    });
  }
  for (const qd of s.queueDepths) {
    list.push({
      key: "lookup",
      name: `LOOKUP+GETATTR, QD${qd}`,
      unit: "ops/s",
      qd,
      async pass(t, _tag, warmup) {
        const n = warmup ? warmOps : s.metaOps;
        return n / (await t.lookupGetattr(n, qd));
      },
    });
    list.push({
      key: "create",
      name: `CREATE+RELEASE+UNLINK, QD${qd}`,
      unit: "ops/s",
      qd,
      async pass(t, tag, warmup) {
        const n = warmup ? warmOps : s.metaOps;
        return n / (await t.createReleaseUnlink(n, qd, tag));
      },
    });
  }
  return list;
}

export const driverGroup: BenchGroup = {
  name: "driver",
  description: "FUSE through the user-space guest driver, no VM: seq I/O, LOOKUP+GETATTR, CREATE+RELEASE+UNLINK (issue #4; native node:fs for #7)",
  async run(ctx: BenchContext): Promise<GroupResult> {
    const s = driverSettings(ctx.quick);
    const results = new Results("driver");
    const chunkData = new Uint8Array(s.chunk);
    randomFillSync(chunkData);
    const list = workloads(s, chunkData);

    const dir = scratchDir(ctx.tmpRoot, "driver");
    const targets: Target[] = [];
    try {
      for (const name of ctx.backends) {
        const share = join(dir.path, name, "share");
        seedTree(share, s);
        ctx.progress(`driver: starting ${name} and connecting the driver`);
        targets.push(await FuseTarget.start(name, share, join(dir.path, name, "vfs.sock"), s));
      }
      const nativeRoot = join(dir.path, "native");
      seedTree(nativeRoot, s);
      targets.push(new NativeTarget(nativeRoot, s.lookupFiles));

      // Warm-up: JIT, server threads, the file exists for the read passes.
      for (const t of targets) for (const w of list) await w.pass(t, `warm-${w.qd}`, true);

      for (const w of list) {
        for (let rep = 0; rep < s.reps * ctx.rounds; rep++) {
          const order = rep % 2 === 0 ? targets : [...targets].reverse();
          for (const t of order) results.add(w.name, w.unit, t.name, await w.pass(t, `r${rep}-${w.qd}`, false));
        }
        ctx.progress(
          `driver: ${w.name}: ` + targets.map((t) => `${t.name} ${formatValue(results.value(w.name, t.name) ?? null)}`).join(", ") + ` ${w.unit}`,
        );
      }
    } finally {
      for (const t of targets) await t.close().catch(() => undefined);
      dir.cleanup();
    }

    const ratios: RatioRow[] = [];
    const haveViofs = ctx.backends.includes("viofs");
    for (const w of list) {
      ratios.push(results.ratio(w.name, w.unit, "viofs", "virtiofsd", w.unit === "MiB/s" ? IO_GOAL : OPS_GOAL));
      ratios.push(results.ratio(w.name, w.unit, haveViofs ? "viofs" : "virtiofsd", "native", null));
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
      notes: [
        "driver: each 1 MiB call is split by FuseSession into max_write/max_read requests sent together; QD counts calls in flight, not FUSE requests.",
        "driver: the host page cache holds the data for every subject (nothing is dropped); native = node:fs/promises on the host directory (lstat for LOOKUP+GETATTR).",
      ],
    };
  },
};
