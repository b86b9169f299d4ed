/**
 * A/B of `viofs serve` builds (and C virtiofsd) through the user-space guest
 * driver, interleaved, with the daemon's CPU per operation: the tool for
 * deciding whether a change to the host device's request path pays. Not a
 * test and not part of `npm run bench`:
 *
 *     npx tsx bench/micro/serve-ab.ts [--viofs=LABEL:PATH/src/cli/main.ts[:NODEFLAG,...[:SERVEFLAG,...]]]... [--no-virtiofsd]
 *                                     [--rounds=N] [--ops=N] [--mib=N] [--only=WORD] [--node-flag=FLAG]...
 *
 * Each `--viofs` is a checkout's CLI entry point, run with tsx (so a base
 * worktree needs no build); the default is this checkout's. SERVEFLAGs
 * are added to its `viofs serve` command line (`--poll-max=0`). Every round runs
 * every workload once per subject, the subjects' order alternating, so the
 * machine's load swings hit all of them alike. Printed per workload and
 * subject: ops/s (or MiB/s) best and median, daemon CPU µs per operation
 * (all its threads, from /proc/PID/task/TID/schedstat) best and median, and
 * the ratio of the medians to virtiofsd's.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { FUSE_ROOT_ID, OpenFlag } from "../../src/fuse/abi.js";
import { VirtioFsDriver } from "../../src/guest/driver.js";
import { FuseSession } from "../../src/guest/session.js";
import { VIRTIOFSD } from "../../test/vm/backends.js";
import { lookupName, median, mountTmpfs, pool, spawnDaemon, timeSeconds, type BackendHandle } from "../lib.js";

const here = dirname(fileURLToPath(import.meta.url));
const MiB = 1 << 20;
const LOOKUP_FILES = 1000;

interface Args {
  viofs: { label: string; main: string; flags: string[]; serveFlags: string[] }[];
  virtiofsd: boolean;
  rounds: number;
  ops: number;
  mib: number;
  only: string;
  /** Extra node flags for the viofs daemons (e.g. --perf-basic-prof). */
  nodeFlags: string[];
}

function parseArgs(argv: string[]): Args {
  const a: Args = { viofs: [], virtiofsd: true, rounds: 5, ops: 2000, mib: 32, only: "", nodeFlags: [] };
  for (const arg of argv) {
    const [k, v = ""] = arg.split(/=(.*)/s) as [string, string?];
    if (k === "--viofs") {
      const [label = "", main = "", flags = "", serveFlags = ""] = v.split(":");
      a.viofs.push({ label, main: resolve(main), flags: flags ? flags.split(",") : [], serveFlags: serveFlags ? serveFlags.split(",") : [] });
    } else if (k === "--no-virtiofsd") a.virtiofsd = false;
    else if (k === "--rounds") a.rounds = Number(v);
    else if (k === "--ops") a.ops = Number(v);
    else if (k === "--mib") a.mib = Number(v);
    else if (k === "--only") a.only = v;
    else if (k === "--node-flag") a.nodeFlags.push(v);
    else throw new Error(`serve-ab: unknown argument ${arg}`);
  }
  if (a.viofs.length === 0) a.viofs.push({ label: "viofs", main: resolve(here, "../../src/cli/main.ts"), flags: [], serveFlags: [] });
  return a;
}

/** CPU nanoseconds of every live thread of `pid`. */
function cpuNs(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return total;
}

/** read(2)-family and write(2)-family system calls of `pid` so far (/proc/PID/io). */
function syscalls(pid: number): { r: number; w: number } {
  const io = readFileSync(`/proc/${pid}/io`, "utf8");
  return { r: Number(/syscr: (\d+)/.exec(io)?.[1]), w: Number(/syscw: (\d+)/.exec(io)?.[1]) };
}

class Subject {
  private constructor(
    readonly label: string,
    readonly handle: BackendHandle,
    readonly session: FuseSession,
    readonly dirs: { bench: bigint; lookup: bigint; create: bigint },
  ) {}

  static async start(label: string, argv: (share: string, socket: string) => string[], root: string): Promise<Subject> {
    const share = join(root, label, "share");
    mkdirSync(join(share, "bench", "lookup"), { recursive: true });
    mkdirSync(join(share, "bench", "create"));
    for (let i = 0; i < LOOKUP_FILES; i++) writeFileSync(join(share, "bench", "lookup", lookupName(i)), "x");
    const socket = join(root, label, "vfs.sock");
    const handle = await spawnDaemon(argv(share, socket), share, socket);
    // The socket file appears at bind(), a moment before listen(): retry a refused connect briefly.
    let driver: VirtioFsDriver | undefined;
    for (let attempt = 0; driver === undefined; attempt++) {
      try {
        driver = await VirtioFsDriver.connect(socket, { memorySize: 128 * MiB, queueSize: 1024 });
      } catch (error) {
        if (attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const session = await FuseSession.init(driver);
    const bench = (await session.lookup(FUSE_ROOT_ID, "bench")).nodeid;
    const lookup = (await session.lookup(bench, "lookup")).nodeid;
    const create = (await session.lookup(bench, "create")).nodeid;
    return new Subject(label, handle, session, { bench, lookup, create });
  }

  /** The daemon's worker (virtiofsd forks once: the parent only waits). */
  pid(): number {
    const children = readFileSync(`/proc/${this.handle.pid}/task/${this.handle.pid}/children`, "utf8").trim();
    return children ? Number(children.split(/\s+/)[0]) : this.handle.pid;
  }

  async stop(): Promise<void> {
    await this.session.close().catch(() => undefined);
    await this.handle.stop(1000);
  }
}

interface Workload {
  name: string;
  unit: string;
  /** Runs one pass; resolves with [amount (ops or MiB), seconds]. */
  pass(s: Subject, tag: string): Promise<[number, number]>;
}

function workloads(a: Args): Workload[] {
  const list: Workload[] = [];
  const chunk = new Uint8Array(MiB).fill(0x5a);
  for (const qd of [1, 16]) {
    list.push({
      name: `LOOKUP+GETATTR QD${qd}`,
      unit: "ops/s",
      async pass(s) {
        const sec = await timeSeconds(() =>
          pool(a.ops, qd, async (i) => {
            const e = await s.session.lookup(s.dirs.lookup, lookupName(i % LOOKUP_FILES));
            await s.session.getattr(e.nodeid);
            s.session.forget(e.nodeid);
          }),
        );
        await s.session.flushForgets();
        return [a.ops, sec];
      },
    });
    list.push({
      name: `CREATE+RELEASE+UNLINK QD${qd}`,
      unit: "ops/s",
      async pass(s, tag) {
        const dir = s.dirs.create;
        const sec = await timeSeconds(() =>
          pool(a.ops, qd, async (i) => {
            const name = `${tag}-${i}`;
            const c = await s.session.create(dir, name, 0o644, OpenFlag.O_WRONLY | OpenFlag.O_CREAT | OpenFlag.O_EXCL);
            await s.session.release(c.entry.nodeid, c.open.fh, { flags: OpenFlag.O_WRONLY });
            await s.session.unlink(dir, name);
            s.session.forget(c.entry.nodeid);
          }),
        );
        await s.session.flushForgets();
        return [a.ops, sec];
      },
    });
    list.push({
      name: `seq write ${a.mib} MiB QD${qd}`,
      unit: "MiB/s",
      async pass(s, tag) {
        const ss = s.session;
        const c = await ss.create(s.dirs.bench, `seq-${tag}`, 0o644, OpenFlag.O_RDWR | OpenFlag.O_CREAT | OpenFlag.O_EXCL);
        const sec = await timeSeconds(() =>
          pool(a.mib, qd, async (i) => {
            await ss.write(c.entry.nodeid, c.open.fh, i * MiB, chunk);
          }),
        );
        await ss.release(c.entry.nodeid, c.open.fh, { flags: OpenFlag.O_RDWR });
        await ss.unlink(s.dirs.bench, `seq-${tag}`);
        ss.forget(c.entry.nodeid);
        return [a.mib, sec];
      },
    });
    list.push({
      name: `seq read ${a.mib} MiB QD${qd}`,
      unit: "MiB/s",
      async pass(s, tag) {
        const ss = s.session;
        const name = `seqr-${tag}`;
        const c = await ss.create(s.dirs.bench, name, 0o644, OpenFlag.O_RDWR | OpenFlag.O_CREAT | OpenFlag.O_EXCL);
        for (let i = 0; i < a.mib; i++) await ss.write(c.entry.nodeid, c.open.fh, i * MiB, chunk);
        const free = Array.from({ length: qd }, () => new Uint8Array(MiB));
        const sec = await timeSeconds(() =>
          pool(a.mib, qd, async (i) => {
            const buf = free.pop()!;
            await ss.readInto(c.entry.nodeid, c.open.fh, i * MiB, buf);
            free.push(buf);
          }),
        );
        await ss.release(c.entry.nodeid, c.open.fh, { flags: OpenFlag.O_RDWR });
        await ss.unlink(s.dirs.bench, name);
        ss.forget(c.entry.nodeid);
        return [a.mib, sec];
      },
    });
  }
  return list.filter((w) => w.name.includes(a.only));
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  // Shares on a tmpfs of their own, as npm run bench has them (see mountTmpfs: on a disk file system a
  // create's cost depends on the directory's block group, which is not what an A/B compares).
  let scratch: { path: string; release(): void };
  try {
    scratch = mountTmpfs(tmpdir(), "viofs-serve-ab-", "4g");
  } catch (error) {
    process.stderr.write(`serve-ab: ${(error as Error).message}; the shares are on ${tmpdir()}'s file system\n`);
    const path = mkdtempSync(join(tmpdir(), "viofs-serve-ab-"));
    scratch = { path, release: () => rmSync(path, { recursive: true, force: true }) };
  }
  const root = scratch.path;
  const runner = join(root, "serve.mjs");
  writeFileSync(
    runner,
    'process.env.UV_THREADPOOL_SIZE ??= "32";\nconst { main } = await import(process.argv[2]);\nprocess.exitCode = await main(process.argv.slice(3));\n',
  );
  const subjects: Subject[] = [];
  try {
    if (a.virtiofsd) {
      subjects.push(
        await Subject.start("virtiofsd", (share, socket) => [VIRTIOFSD, `--socket-path=${socket}`, "-o", `source=${share}`, "-o", "cache=auto", "-o", "xattr"], root),
      );
    }
    for (const v of a.viofs) {
      subjects.push(
        await Subject.start(
          v.label,
          (share, socket) => [process.execPath, ...a.nodeFlags, ...v.flags, "--import", "tsx", runner, v.main, "serve", `--socket-path=${socket}`, `--shared-dir=${share}`, "--cache=auto", "--xattr", "--sandbox=none", ...v.serveFlags],
          root,
        ),
      );
    }
    const list = workloads(a);
    const rate = new Map<string, number[]>();
    const cpu = new Map<string, number[]>();
    const io = new Map<string, [number, number][]>();
    // Warm-up: one pass each.
    for (const w of list) for (const s of subjects) await w.pass(s, "warm");
    for (let r = 0; r < a.rounds; r++) {
      for (const w of list) {
        const order = r % 2 === 0 ? subjects : [...subjects].reverse();
        for (const s of order) {
          const pid = s.pid();
          const c0 = cpuNs(pid);
          const io0 = syscalls(pid);
          const [amount, sec] = await w.pass(s, `r${r}`);
          const c1 = cpuNs(pid);
          const io1 = syscalls(pid);
          if (r === 0 && w === list[0]) process.stderr.write(`${s.label}: pid ${pid}\n`);
          const key = `${w.name}|${s.label}`;
          (rate.get(key) ?? rate.set(key, []).get(key)!).push(amount / sec);
          (cpu.get(key) ?? cpu.set(key, []).get(key)!).push((c1 - c0) / 1000 / amount);
          (io.get(key) ?? io.set(key, []).get(key)!).push([(io1.r - io0.r) / amount, (io1.w - io0.w) / amount]);
        }
      }
      process.stderr.write(`round ${r + 1}/${a.rounds} done\n`);
    }
    console.log(`${"workload".padEnd(28)} ${"subject".padEnd(10)} ${"best".padStart(9)} ${"median".padStart(9)} ${"×vfsd".padStart(6)} ${"cpuµs/op best".padStart(14)} ${"median".padStart(8)} ${"reads/op".padStart(9)} ${"writes/op".padStart(9)}`);
    for (const w of list) {
      const ref = median(rate.get(`${w.name}|virtiofsd`) ?? [NaN]);
      for (const s of subjects) {
        const key = `${w.name}|${s.label}`;
        const rs = rate.get(key)!;
        const cs = cpu.get(key)!;
        const ios = io.get(key)!;
        const [reads, writes] = ios[ios.length >> 1]!;
        const ratio = median(rs) / ref;
        console.log(
          `${w.name.padEnd(28)} ${s.label.padEnd(10)} ${Math.max(...rs).toFixed(0).padStart(9)} ${median(rs).toFixed(0).padStart(9)} ${(Number.isNaN(ratio) ? "-" : ratio.toFixed(2)).padStart(6)} ${Math.min(...cs).toFixed(1).padStart(14)} ${median(cs).toFixed(1).padStart(8)} ${reads.toFixed(2).padStart(9)} ${writes.toFixed(2).padStart(9)}`,
        );
      }
    }
  } finally {
    for (const s of subjects) await s.stop();
    scratch.release();
  }
}

await main();
