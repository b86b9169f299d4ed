/**
 * Micro-benchmark of the vhost-user-fs host device through the user-space
 * guest driver (VirtioFsDriver + FuseSession, no VM), C virtiofsd beside one
 * or more builds of `viofs serve` in the same run. Not a test and not part
 * of `npm run bench`:
 *
 *     npx tsx bench/micro/device.ts [--viofs=LABEL=DIR]... [--rounds=N] [--ops=N]
 *                                   [--mib=N] [--only=WORD,...] [--prof=DIR] [--json]
 *                                   [--no-virtiofsd] [--wrap="strace -f -c -o FILE"] [--node-flag=FLAG]...
 *                                   [--verbose]
 *
 * `DIR` is a checkout with a compiled `dist/` (`bin/viofs.js` is started from
 * it); default: this repository as `viofs`. Several `--viofs` compare builds
 * (before/after) against each other and against virtiofsd under the same
 * machine load. `--prof=DIR` runs every viofs build with `--cpu-prof` and
 * writes its profile there (summarise with bench/micro/profile.ts).
 *
 * Workloads (each subject in turn per round, order rotated every round;
 * the figure is the median of the rounds):
 * - getattr QD1: one GETATTR at a time on one inode, µs per op;
 * - getattr QD16: 16 GETATTRs in flight, µs per op (throughput);
 * - lookup+getattr QD1: LOOKUP of an existing name, GETATTR, FORGET;
 * - read / write 4KiB QD1: the request path of small I/O, µs per op;
 * - read QD1 / QD8: 1 MiB READs of a file in the page cache, GB/s;
 * - write QD1 / QD8: 1 MiB WRITEs, GB/s.
 * Next to each figure: the server's CPU time per op (µs, user+system of
 * the serving process from /proc, all its threads), which on a shared
 * machine says more about the code than wall time does.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { FUSE_ROOT_ID, OpenFlag } from "../../src/fuse/abi.js";
import { VirtioFsDriver } from "../../src/guest/driver.js";
import { FuseSession } from "../../src/guest/session.js";

const VIRTIOFSD = "/usr/lib/qemu/virtiofsd";
const MiB = 1 << 20;

interface Args {
  builds: { label: string; dir: string }[];
  rounds: number;
  ops: number;
  mib: number;
  only: string[] | null;
  prof: string | null;
  json: boolean;
  virtiofsd: boolean;
  /** A command the viofs builds run under (e.g. `strace -f -c -o FILE`), split at spaces. */
  wrap: string[];
  /** Extra node flags for the viofs builds. */
  nodeFlags: string[];
  /** Also print context switches per op (voluntary/involuntary, all threads) and the user share of CPU time. */
  verbose: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const here = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
  const args: Args = { builds: [], rounds: 5, ops: 4000, mib: 128, only: null, prof: null, json: false, virtiofsd: true, wrap: [], nodeFlags: [], verbose: false };
  for (const arg of argv) {
    const eq = arg.indexOf("=");
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    const value = eq < 0 ? "" : arg.slice(eq + 1);
    switch (flag) {
      case "--viofs": {
        const at = value.indexOf("=");
        args.builds.push(at < 0 ? { label: "viofs", dir: resolve(value) } : { label: value.slice(0, at), dir: resolve(value.slice(at + 1)) });
        break;
      }
      case "--rounds":
        args.rounds = Number(value);
        break;
      case "--ops":
        args.ops = Number(value);
        break;
      case "--mib":
        args.mib = Number(value);
        break;
      case "--only":
        args.only = value.split(",").filter(Boolean);
        break;
      case "--prof":
        args.prof = resolve(value);
        break;
      case "--verbose":
        args.verbose = true;
        break;
      case "--json":
        args.json = true;
        break;
      case "--wrap":
        args.wrap = value.split(" ").filter(Boolean);
        break;
      case "--node-flag":
        args.nodeFlags.push(value);
        break;
      case "--no-virtiofsd":
        args.virtiofsd = false;
        break;
      default:
        throw new Error(`unknown argument ${arg}`);
    }
  }
  if (args.builds.length === 0) args.builds.push({ label: "viofs", dir: here });
  return args;
}

// ─── Backends ──────────────────────────────────────────────────────────────

interface Subject {
  label: string;
  child: ChildProcess;
  driver: VirtioFsDriver;
  session: FuseSession;
  dir: string;
  file: bigint;
  fileFh: bigint;
  lookupDir: bigint;
  output: () => string;
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** `pid` and its descendants so far. */
function family(pid: number): number[] {
  const pids = [pid];
  for (let i = 0; i < pids.length; i++) pids.push(...children(pids[i]!));
  return pids;
}

/** Calls `use` with `/proc/P/task/T/<file>` of every thread of `pid` and its descendants (threads gone meanwhile are skipped). */
function eachThread(pid: number, file: string, use: (text: string) => void): void {
  for (const p of family(pid)) {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      let text: string;
      try {
        text = readFileSync(`/proc/${p}/task/${t}/${file}`, "utf8");
      } catch {
        continue; // Gone.
      }
      use(text);
    }
  }
}

/** Context switches (voluntary, involuntary) of every thread of `pid` and its descendants so far. */
function switches(pid: number): [number, number] {
  let vol = 0;
  let invol = 0;
  eachThread(pid, "status", (status) => {
    vol += Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0);
    invol += Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0);
  });
  return [vol, invol];
}

/** User and system CPU seconds of `pid` and its descendants so far (clock ticks, 10 ms). */
function userSystem(pid: number): [number, number] {
  let user = 0;
  let system = 0;
  for (const p of family(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      user += Number(fields[11]) / 100;
      system += Number(fields[12]) / 100;
    } catch {
      // Gone.
    }
  }
  return [user, system];
}

/** Minor page faults of `pid` (all threads) so far. */
function minorFaults(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[7]);
  } catch {
    return 0;
  }
}

/** CPU seconds on a core (all threads, ns resolution from schedstat) of `pid` and its descendants. */
function cpuSeconds(pid: number): number {
  let total = 0;
  eachThread(pid, "schedstat", (schedstat) => {
    total += Number(schedstat.split(" ")[0]) / 1e9;
  });
  return total;
}

async function start(label: string, argv: string[], dir: string, socketPath: string, env: NodeJS.ProcessEnv): Promise<Subject> {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"], env });
  let out = "";
  child.stdout!.setEncoding("utf8").on("data", (s: string) => (out += s));
  child.stderr!.setEncoding("utf8").on("data", (s: string) => (out += s));
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      if (statSync(socketPath).isSocket()) break;
    } catch {
      // Not yet.
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${label} did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  let driver: VirtioFsDriver | undefined;
  for (let tries = 0; ; tries++) {
    try {
      driver = await VirtioFsDriver.connect(socketPath, { memorySize: 128 * MiB, queueSize: 1024 });
      break;
    } catch (e) {
      if (tries > 100) throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  const session = await FuseSession.init(driver);
  const lookupDir = (await session.lookup(FUSE_ROOT_ID, "lookup")).nodeid;
  const file = (await session.lookup(FUSE_ROOT_ID, "data")).nodeid;
  const fileFh = (await session.open(file, OpenFlag.O_RDWR)).fh;
  return { label, child, driver, session, dir, file, fileFh, lookupDir, output: () => out };
}

function seed(share: string, mib: number): void {
  mkdirSync(join(share, "lookup"), { recursive: true });
  for (let i = 0; i < 100; i++) writeFileSync(join(share, "lookup", `f${i}`), "x");
  const chunk = Buffer.alloc(MiB);
  randomFillSync(chunk);
  const parts: Buffer[] = [];
  for (let i = 0; i < mib; i++) parts.push(chunk);
  writeFileSync(join(share, "data"), Buffer.concat(parts));
}

// ─── Workloads ─────────────────────────────────────────────────────────────

interface Workload {
  name: string;
  unit: "µs/op" | "GB/s";
  /** Operations of one pass and the bytes they move. */
  run(s: Subject): Promise<{ ops: number; bytes: number }>;
}

async function pool(ops: number, qd: number, one: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < ops) await one(next++);
  };
  await Promise.all(Array.from({ length: Math.min(qd, ops) }, worker));
}

function workloads(a: Args): Workload[] {
  const chunk = new Uint8Array(MiB);
  randomFillSync(chunk);
  const ioOps = a.mib;
  const list: Workload[] = [];
  for (const qd of [1, 16]) {
    list.push({
      name: `getattr QD${qd}`,
      unit: "µs/op",
      async run(s) {
        await pool(a.ops, qd, async () => {
          await s.session.getattr(s.file);
        });
        return { ops: a.ops, bytes: 0 };
      },
    });
  }
  list.push({
    name: "lookup+getattr QD1",
    unit: "µs/op",
    async run(s) {
      const n = a.ops >> 1;
      await pool(n, 1, async (i) => {
        const e = await s.session.lookup(s.lookupDir, `f${i % 100}`);
        await s.session.getattr(e.nodeid);
        s.session.forget(e.nodeid);
      });
      await s.session.flushForgets();
      return { ops: n, bytes: 0 };
    },
  });
  const small = chunk.subarray(0, 4096);
  list.push({
    name: "read 4KiB QD1",
    unit: "µs/op",
    async run(s) {
      const buf = new Uint8Array(4096);
      await pool(a.ops, 1, async (i) => {
        const n = await s.session.readInto(s.file, s.fileFh, (i % (a.mib * 256)) * 4096, buf);
        if (n !== 4096) throw new Error(`${s.label}: short read ${n}`);
      });
      return { ops: a.ops, bytes: a.ops * 4096 };
    },
  });
  list.push({
    name: "write 4KiB QD1",
    unit: "µs/op",
    async run(s) {
      await pool(a.ops, 1, async (i) => {
        const n = await s.session.write(s.file, s.fileFh, (i % (a.mib * 256)) * 4096, small);
        if (n !== 4096) throw new Error(`${s.label}: short write ${n}`);
      });
      return { ops: a.ops, bytes: a.ops * 4096 };
    },
  });
  for (const qd of [1, 8]) {
    list.push({
      name: `read 1MiB QD${qd}`,
      unit: "GB/s",
      async run(s) {
        const free = Array.from({ length: qd }, () => new Uint8Array(MiB));
        await pool(ioOps, qd, async (i) => {
          const buf = free.pop()!;
          const n = await s.session.readInto(s.file, s.fileFh, i * MiB, buf);
          free.push(buf);
          if (n !== MiB) throw new Error(`${s.label}: short read ${n}`);
        });
        return { ops: ioOps, bytes: ioOps * MiB };
      },
    });
  }
  for (const qd of [1, 8]) {
    list.push({
      name: `write 1MiB QD${qd}`,
      unit: "GB/s",
      async run(s) {
        await pool(ioOps, qd, async (i) => {
          const n = await s.session.write(s.file, s.fileFh, i * MiB, chunk);
          if (n !== MiB) throw new Error(`${s.label}: short write ${n}`);
        });
        return { ops: ioOps, bytes: ioOps * MiB };
      },
    });
  }
  return a.only === null ? list : list.filter((w) => a.only!.some((o) => w.name.includes(o)));
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

// ─── Main ──────────────────────────────────────────────────────────────────

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const verbose = a.verbose;
  const root = mkdtempSync(join(tmpdir(), "viofs-micro-device-"));
  const subjects: Subject[] = [];
  const log = (s: string): void => void process.stderr.write(s + "\n");
  try {
    const env = { ...process.env };
    const plan: { label: string; argv: (share: string, sock: string) => string[]; env: NodeJS.ProcessEnv }[] = [];
    if (a.virtiofsd) {
      plan.push({ label: "virtiofsd", argv: (share, sock) => [VIRTIOFSD, `--socket-path=${sock}`, "-o", `source=${share}`, "-o", "cache=auto", "-o", "xattr"], env });
    }
    for (const b of a.builds) {
      const node = [...a.wrap, process.execPath, ...a.nodeFlags];
      if (a.prof !== null) node.push("--cpu-prof", `--cpu-prof-dir=${join(a.prof, b.label)}`);
      plan.push({
        label: b.label,
        argv: (share, sock) => [...node, join(b.dir, "bin", "viofs.js"), "serve", `--socket-path=${sock}`, `--shared-dir=${share}`, "--cache=auto", "--xattr", "--sandbox=none"],
        env,
      });
    }
    for (const p of plan) {
      const dir = join(root, p.label.replace(/[^\w.-]/g, "_"));
      const share = join(dir, "share");
      mkdirSync(share, { recursive: true });
      seed(share, a.mib);
      subjects.push(await start(p.label, p.argv(share, join(dir, "vfs.sock")), dir, join(dir, "vfs.sock"), p.env));
    }
    const list = workloads(a);
    // Warm-up: JIT and page cache.
    for (const s of subjects) for (const w of list) await w.run(s);

    const table: { workload: string; unit: string; label: string; value: number; cpuUsPerOp: number; faultsPerOp: number; samples: number[] }[] = [];
    for (const w of list) {
      const samples = new Map<string, number[]>(subjects.map((s) => [s.label, []]));
      const cpu = new Map<string, number[]>(subjects.map((s) => [s.label, []]));
      const faults = new Map<string, number[]>(subjects.map((s) => [s.label, []]));
      const ctx = new Map<string, [number, number][]>(subjects.map((s) => [s.label, []]));
      const userSys = new Map<string, [number, number]>(subjects.map((s) => [s.label, [0, 0]]));
      for (let r = 0; r < a.rounds; r++) {
        const order = subjects.map((_, i) => subjects[(i + r) % subjects.length]!);
        for (const s of order) {
          const pid = s.child.pid!;
          const f0 = minorFaults(pid);
          const [v0, i0] = switches(pid);
          const [u0, k0] = userSystem(pid);
          const c0 = cpuSeconds(pid);
          const t0 = process.hrtime.bigint();
          const { ops, bytes } = await w.run(s);
          const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
          const c1 = cpuSeconds(pid);
          faults.get(s.label)!.push((minorFaults(pid) - f0) / ops);
          const [v1, i1] = switches(pid);
          const [u1, k1] = userSystem(pid);
          userSys.get(s.label)![0] += u1 - u0;
          userSys.get(s.label)![1] += k1 - k0;
          ctx.get(s.label)!.push([(v1 - v0) / ops, (i1 - i0) / ops]);
          samples.get(s.label)!.push(w.unit === "GB/s" ? bytes / seconds / 1e9 : (seconds * 1e6) / ops);
          cpu.get(s.label)!.push(((c1 - c0) * 1e6) / ops);
        }
      }
      const line = subjects
        .map((s) => {
          const v = median(samples.get(s.label)!);
          const c = median(cpu.get(s.label)!);
          const f = median(faults.get(s.label)!);
          const [us, ks] = userSys.get(s.label)!;
          const cs = verbose
            ? ` cs ${median(ctx.get(s.label)!.map((x) => x[0])).toFixed(1)}v/${median(ctx.get(s.label)!.map((x) => x[1])).toFixed(1)}i` +
              ` user ${((100 * us) / (us + ks || 1)).toFixed(0)}%`
            : "";
          table.push({ workload: w.name, unit: w.unit, label: s.label, value: v, cpuUsPerOp: c, faultsPerOp: f, samples: samples.get(s.label)! });
          return `${s.label} ${v.toFixed(w.unit === "GB/s" ? 2 : 1)} (cpu ${c.toFixed(1)} µs/op${f >= 0.05 ? `, ${f.toFixed(1)} faults/op` : ""}${cs})`;
        })
        .join(" | ");
      log(`${w.name.padEnd(20)} [${w.unit}] ${line}`);
    }
    if (a.json) process.stdout.write(JSON.stringify({ load: readFileSync("/proc/loadavg", "utf8").trim(), table }, null, 1) + "\n");
    log(`load average at end: ${readFileSync("/proc/loadavg", "utf8").trim()}`);
  } finally {
    for (const s of subjects) {
      try {
        await s.session.release(s.file, s.fileFh, { flags: OpenFlag.O_RDWR });
        await s.session.close();
      } catch {
        // Gone.
      }
      s.driver.close();
    }
    await Promise.all(
      subjects.map(
        (s) =>
          new Promise<void>((done) => {
            if (s.child.exitCode !== null || s.child.signalCode !== null) return done();
            const timer = setTimeout(() => s.child.kill("SIGKILL"), 5000);
            s.child.on("close", () => {
              clearTimeout(timer);
              done();
            });
          }),
      ),
    );
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
