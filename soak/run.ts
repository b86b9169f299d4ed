/**
 * `npm run soak [-- --minutes=10 --workers=16 --sandbox=none|namespace --seed=N]`:
 * concurrent workers of mixed file operations through the guest driver
 * (one VirtioFsDriver, one FuseSession, as one guest) against a real
 * `viofs serve`, every byte checked against an in-memory model.
 *
 * Each worker owns a directory of the share and a model of it (names →
 * contents): it creates, writes at random offsets, truncates, reads back
 * ranges and whole files, renames (within its directory and through a
 * subdirectory, sometimes over another file), deletes, lists and fsyncs;
 * every read and listing is compared with the model byte for byte, and at
 * the end every file is compared with the host's copy too. Prints a line
 * every 10 s; records the daemon's open fds and RSS before, during and after
 * (after every handle is released and every node forgotten); writes a JSON
 * report to soak/results/; exits 1 on any mismatch or unexpected error.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { ErrnoError } from "../src/common/errors.js";
import { errnoName } from "../src/common/errno.js";
import { FUSE_ROOT_ID, OpenFlag } from "../src/fuse/abi.js";
import type { FuseSession } from "../src/guest/session.js";
import { Daemon } from "../test/escape/daemon.js";

/** A deterministic PRNG (mulberry32), one per worker. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface FileModel {
  data: Uint8Array;
  /** Where it is: the worker directory or its "sub" directory. */
  inSub: boolean;
}

interface Open {
  nodeid: bigint;
  fh: bigint;
}

interface Counters {
  ops: number;
  bytesWritten: number;
  bytesRead: number;
  reads: number;
  writes: number;
  truncates: number;
  renames: number;
  deletes: number;
  creates: number;
  listings: number;
  fsyncs: number;
  mismatches: number;
  errors: number;
}

const MAX_FILE = 1 << 20;
const FILES_PER_WORKER = 12;

class Worker {
  private readonly files = new Map<string, FileModel>();
  private readonly open = new Map<string, Open>();
  private dir = 0n;
  private sub = 0n;
  private next = 0;
  readonly problems: string[] = [];

  constructor(
    readonly id: number,
    private readonly session: FuseSession,
    private readonly random: () => number,
    private readonly c: Counters,
  ) {}

  private int(n: number): number {
    return Math.floor(this.random() * n);
  }

  private fail(what: string): void {
    this.c.mismatches++;
    if (this.problems.length < 20) this.problems.push(`worker ${this.id}: ${what}`);
  }

  async setup(): Promise<void> {
    this.dir = (await this.session.mkdir(FUSE_ROOT_ID, `w${this.id}`, 0o755)).nodeid;
    this.sub = (await this.session.mkdir(this.dir, "sub", 0o755)).nodeid;
  }

  private parentOf(f: FileModel): bigint {
    return f.inSub ? this.sub : this.dir;
  }

  /** An open handle on `name`, opening it (LOOKUP + OPEN) if needed. */
  private async handle(name: string): Promise<Open> {
    const have = this.open.get(name);
    if (have) return have;
    const f = this.files.get(name)!;
    const e = await this.session.lookup(this.parentOf(f), name);
    const o = await this.session.open(e.nodeid, OpenFlag.O_RDWR);
    const h = { nodeid: e.nodeid, fh: o.fh };
    this.open.set(name, h);
    return h;
  }

  private async close(name: string): Promise<void> {
    const h = this.open.get(name);
    if (!h) return;
    this.open.delete(name);
    await this.session.release(h.nodeid, h.fh);
    this.session.forget(h.nodeid);
  }

  private pickName(): string | undefined {
    const names = [...this.files.keys()];
    return names.length === 0 ? undefined : names[this.int(names.length)];
  }

  async step(): Promise<void> {
    const r = this.random();
    const name = this.pickName();
    if (name === undefined || (r < 0.08 && this.files.size < FILES_PER_WORKER)) return this.create();
    if (r < 0.38) return this.write(name);
    if (r < 0.68) return this.read(name);
    if (r < 0.74) return this.truncate(name);
    if (r < 0.82) return this.rename(name);
    if (r < 0.86) return this.remove(name);
    if (r < 0.92) return this.list();
    if (r < 0.95) return this.fsync(name);
    return this.close(name);
  }

  private async create(): Promise<void> {
    const name = `f${this.next++}`;
    const inSub = this.int(4) === 0;
    const made = await this.session.create(inSub ? this.sub : this.dir, name, 0o644, OpenFlag.O_RDWR | OpenFlag.O_EXCL);
    this.files.set(name, { data: new Uint8Array(0), inSub });
    this.open.set(name, { nodeid: made.entry.nodeid, fh: made.open.fh });
    this.c.creates++;
  }

  private async write(name: string): Promise<void> {
    const f = this.files.get(name)!;
    const h = await this.handle(name);
    const size = this.int(4) === 0 ? 1 + this.int(256 * 1024) : 1 + this.int(8192);
    const offset = Math.min(this.int(f.data.length + 16384), MAX_FILE - size);
    const bytes = new Uint8Array(size);
    const seed = this.int(0xffffffff);
    for (let i = 0; i < size; i++) bytes[i] = (seed + i * 31 + (i >> 8)) & 0xff;
    const n = await this.session.write(h.nodeid, h.fh, offset, bytes);
    if (n !== size) this.fail(`short write to ${name}: ${n} of ${size}`);
    const end = Math.max(f.data.length, offset + n);
    if (end > f.data.length) {
      const grown = new Uint8Array(end);
      grown.set(f.data);
      f.data = grown;
    }
    f.data.set(bytes.subarray(0, n), offset);
    this.c.writes++;
    this.c.bytesWritten += n;
  }

  private async read(name: string): Promise<void> {
    const f = this.files.get(name)!;
    const h = await this.handle(name);
    const whole = this.int(5) === 0;
    const offset = whole ? 0 : this.int(f.data.length + 100);
    const size = whole ? f.data.length + 100 : 1 + this.int(64 * 1024);
    const got = await this.session.read(h.nodeid, h.fh, offset, size);
    const want = f.data.subarray(Math.min(offset, f.data.length), Math.min(offset + size, f.data.length));
    if (!Buffer.from(got).equals(Buffer.from(want))) {
      let at = 0;
      while (at < Math.min(got.length, want.length) && got[at] === want[at]) at++;
      this.fail(`read of ${name} [${offset}, +${size}): ${got.length} bytes, model ${want.length}, first difference at ${offset + at}`);
    }
    this.c.reads++;
    this.c.bytesRead += got.length;
  }

  private async truncate(name: string): Promise<void> {
    const f = this.files.get(name)!;
    const h = await this.handle(name);
    const size = this.int(3) === 0 ? 0 : this.int(Math.min(MAX_FILE, f.data.length * 2 + 4096));
    await this.session.setattr(h.nodeid, { size, fh: h.fh });
    const next = new Uint8Array(size);
    next.set(f.data.subarray(0, Math.min(size, f.data.length)));
    f.data = next;
    this.c.truncates++;
  }

  private async rename(name: string): Promise<void> {
    const f = this.files.get(name)!;
    const toSub = this.int(2) === 0;
    // Sometimes over another file of the same directory (which it replaces).
    const victims = [...this.files.entries()].filter(([n, g]) => n !== name && g.inSub === toSub).map(([n]) => n);
    const target = victims.length > 0 && this.int(3) === 0 ? victims[this.int(victims.length)]! : `f${this.next++}`;
    // Keep handles honest: close both names first (an open handle follows the inode, the model by name).
    await this.close(name);
    if (this.files.has(target)) await this.close(target);
    await this.session.rename(this.parentOf(f), name, toSub ? this.sub : this.dir, target);
    this.files.delete(name);
    this.files.set(target, { data: f.data, inSub: toSub });
    this.c.renames++;
  }

  private async remove(name: string): Promise<void> {
    const f = this.files.get(name)!;
    await this.close(name);
    await this.session.unlink(this.parentOf(f), name);
    this.files.delete(name);
    this.c.deletes++;
  }

  private async list(): Promise<void> {
    for (const [dirId, inSub] of [
      [this.dir, false],
      [this.sub, true],
    ] as const) {
      const o = await this.session.opendir(dirId);
      const seen: string[] = [];
      let offset = 0n;
      for (;;) {
        const entries = await this.session.readdir(dirId, o.fh, offset);
        if (entries.length === 0) break;
        for (const e of entries) seen.push(Buffer.from(e.name).toString());
        offset = entries[entries.length - 1]!.off;
      }
      await this.session.releasedir(dirId, o.fh);
      const got = seen.filter((n) => n !== "." && n !== ".." && n !== "sub").sort();
      const want = [...this.files.entries()].filter(([, g]) => g.inSub === inSub).map(([n]) => n).sort();
      if (got.join("/") !== want.join("/")) this.fail(`listing of ${inSub ? "sub" : "dir"}: ${got.join(",")} but model ${want.join(",")}`);
    }
    this.c.listings++;
  }

  private async fsync(name: string): Promise<void> {
    const h = await this.handle(name);
    await this.session.fsync(h.nodeid, h.fh);
    this.c.fsyncs++;
  }

  /** Releases every handle, checks every file against the host's copy, forgets the directories. */
  async finish(share: string): Promise<void> {
    for (const name of [...this.open.keys()]) await this.close(name);
    for (const [name, f] of this.files) {
      const host = fs.readFileSync(path.join(share, `w${this.id}`, f.inSub ? "sub" : "", name));
      if (!host.equals(Buffer.from(f.data))) this.fail(`host copy of ${name}: ${host.length} bytes, model ${f.data.length}`);
    }
    this.session.forget(this.sub);
    this.session.forget(this.dir);
  }
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { minutes: { type: "string" }, workers: { type: "string" }, sandbox: { type: "string" }, seed: { type: "string" } },
  });
  const minutes = Number(values.minutes ?? "10");
  const workers = Number(values.workers ?? "16");
  const seed = Number(values.seed ?? String(Date.now() % 1_000_000));
  const sandbox = (values.sandbox ?? "none") as "none" | "namespace";
  if (!(minutes > 0) || !Number.isInteger(workers) || workers < 1) {
    console.error("usage: npm run soak -- [--minutes=10] [--workers=16] [--sandbox=none|namespace] [--seed=N]");
    return 2;
  }
  console.log(`soak: ${workers} workers for ${minutes} min against viofs serve --sandbox=${sandbox}, seed ${seed}`);
  const daemon = await Daemon.start({ sandbox });
  const conn = await daemon.connect({ driver: { memorySize: 128 << 20, queueSize: 1024 } });
  const { session } = conn;
  const before = { fds: daemon.fdCount(), rssKiB: daemon.rssKiB() };
  console.log(`daemon pid ${daemon.servingPid()}: ${before.fds} fds, ${(before.rssKiB / 1024).toFixed(1)} MiB RSS`);
  const c: Counters = { ops: 0, bytesWritten: 0, bytesRead: 0, reads: 0, writes: 0, truncates: 0, renames: 0, deletes: 0, creates: 0, listings: 0, fsyncs: 0, mismatches: 0, errors: 0 };
  const crew = Array.from({ length: workers }, (_, i) => new Worker(i, session, rng(seed * 1000 + i), c));
  for (const w of crew) await w.setup();
  const errors: string[] = [];
  const samples: { s: number; ops: number; fds: number; rssKiB: number }[] = [];
  const started = Date.now();
  const deadline = started + minutes * 60_000;
  let stop = false;
  const ticker = setInterval(() => {
    const s = (Date.now() - started) / 1000;
    const sample = { s: Math.round(s), ops: c.ops, fds: daemon.fdCount(), rssKiB: daemon.rssKiB() };
    samples.push(sample);
    console.log(
      `  ${sample.s} s: ${c.ops.toLocaleString("en-US")} ops (${Math.round(c.ops / s)}/s), ${(c.bytesWritten / 2 ** 20).toFixed(0)} MiB written, ${(c.bytesRead / 2 ** 20).toFixed(0)} MiB read, mismatches ${c.mismatches}, errors ${c.errors}; daemon ${sample.fds} fds, ${(sample.rssKiB / 1024).toFixed(1)} MiB RSS`,
    );
  }, 10_000);
  await Promise.all(
    crew.map(async (w) => {
      while (!stop && Date.now() < deadline) {
        try {
          await w.step();
          c.ops++;
        } catch (error) {
          c.errors++;
          if (errors.length < 20) errors.push(`worker ${w.id}: ${ErrnoError.is(error) ? `${errnoName(error.errno)} ${error.message}` : String((error as Error)?.stack ?? error)}`);
          if (c.errors > 100) stop = true;
        }
      }
    }),
  );
  clearInterval(ticker);
  for (const w of crew) await w.finish(daemon.share).catch((error: unknown) => errors.push(`finish ${w.id}: ${String(error)}`));
  await session.flushForgets();
  // Give the daemon a moment to close what the last forgets released.
  await new Promise((r) => setTimeout(r, 500));
  const after = { fds: daemon.fdCount(), rssKiB: daemon.rssKiB() };
  const seconds = (Date.now() - started) / 1000;
  await session.close();
  conn.driver.close();
  await daemon.stop();
  const problems = crew.flatMap((w) => w.problems);
  const report = {
    date: new Date().toISOString(),
    minutes,
    workers,
    sandbox,
    seed,
    seconds: Math.round(seconds),
    counters: c,
    opsPerSecond: Math.round(c.ops / seconds),
    daemon: { before, after, peakFds: Math.max(...samples.map((s) => s.fds), after.fds), peakRssKiB: Math.max(...samples.map((s) => s.rssKiB), after.rssKiB) },
    problems,
    errors,
    samples,
  };
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)).replace(/\/dist\/soak$/, "/soak"), "results");
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `soak-${report.date.replace(/[:.]/g, "-")}.json`);
  fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(
    `soak: ${c.ops.toLocaleString("en-US")} ops in ${Math.round(seconds)} s, ${c.mismatches} mismatches, ${c.errors} errors; daemon fds ${before.fds} → ${after.fds}, RSS ${(before.rssKiB / 1024).toFixed(1)} → ${(after.rssKiB / 1024).toFixed(1)} MiB; ${file}`,
  );
  for (const p of [...problems, ...errors]) console.log(`  ${p}`);
  return c.mismatches > 0 || c.errors > 0 ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
