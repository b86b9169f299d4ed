/**
 * Group "memory" (issue #7, workload 4): what a live inode costs.
 *
 * Daemons (`viofs serve` and QEMU's C virtiofsd, one after the other on the
 * same host tree of `files` empty files): VmRSS (/proc/PID/status) and open
 * descriptors (/proc/PID/fd) of the daemon process
 *
 * 1. after INIT and the LOOKUP of the directory (the start);
 * 2. after one LOOKUP of every file through the guest driver's session (16
 *    in flight), every reference still held;
 * 3. after every reference is given back (session.forget, sent as
 *    BATCH_FORGET) and the daemon had a moment to act on it; for viofs serve,
 *    which keeps up to DEFAULT_RETENTION.max forgotten inodes' fds open for
 *    DEFAULT_RETENTION.ms (src/passthrough/inodes.ts), read both at once
 *    (those fds, a bar of their own) and after that time (the bar "back to
 *    the start").
 *
 * 4. after the same LOOKUPs again (then forgotten again).
 *
 * Figures: (2 − 1) and (3 − 1) per inode, bytes and fds, and (4 − 2): RSS
 * an allocator keeps after FORGET (V8's heap, malloc's arenas) is reused by
 * the second round, while memory FORGET did not free grows it. The bars:
 * ≤ 1 KiB and ≤ 1 fd per live inode, and back to the start after FORGET
 * (within 64 bytes and 0.001 fd per inode), or at least no growth on the
 * second round (within 64 bytes per inode).
 *
 * The service side, in this process: the V8 heap the guest driver's session
 * holds per tracked inode (after a forced GC), and the Windows service's
 * heap and its daemon's RSS and fds after GetFileAttributesW of
 * `serviceFiles` files through a drive (the service keeps a bounded name
 * cache, so those should stay flat).
 *
 * Lower is better for every figure here; a row's bar is an upper bound on
 * `ours` (RatioRow.maxOurs), and ours/peer is for information.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { ErrnoError } from "../src/common/errors.js";
import { Errno } from "../src/common/errno.js";
import { FUSE_ROOT_ID } from "../src/fuse/abi.js";
import { DEFAULT_RETENTION } from "../src/passthrough/inodes.js";
import { VirtioFsDriver } from "../src/guest/driver.js";
import { FuseSession } from "../src/guest/session.js";
import * as W from "../src/win32/index.js";
import {
  MiB,
  commandLineOf,
  processFootprint,
  scratchDir,
  sleepMs,
  startBackend,
  type BackendHandle,
  type BenchContext,
  type BenchGroup,
  type DaemonName,
  type GroupResult,
  type RatioRow,
  type ResultRecord,
  type Subject,
  workerPid,
} from "./lib.js";
import { ServiceTarget } from "./service.js";

const RSS_PER_INODE_MAX = 1024;
const FDS_PER_INODE_MAX = 1;
const RSS_LEFT_MAX = 64;
const FDS_LEFT_MAX = 0.001;

export interface MemorySettings {
  /** Files looked up through the session, each once. */
  files: number;
  /** Files stat'ed through the Windows service. */
  serviceFiles: number;
  /** LOOKUPs in flight. */
  qd: number;
  /** How long the daemon gets to settle before each reading, ms. */
  settleMs: number;
}

export function memorySettings(quick: boolean): MemorySettings {
  return quick ? { files: 10_000, serviceFiles: 1_000, qd: 16, settleMs: 300 } : { files: 100_000, serviceFiles: 10_000, qd: 16, settleMs: 1500 };
}

const fileName = (i: number): string => `m${String(i).padStart(6, "0")}`;

/** The heap in use after a full collection. */
function heapAfterGc(): number {
  forceGc();
  forceGc();
  return process.memoryUsage().heapUsed;
}

let gcFn: (() => void) | undefined;
function forceGc(): void {
  if (gcFn === undefined) {
    setFlagsFromString("--expose-gc");
    gcFn = runInNewContext("gc") as () => void;
  }
  gcFn();
}

interface Footprint {
  rssBytes: number;
  fds: number;
}

interface DaemonReading {
  name: DaemonName;
  commandLine: string[];
  /** Inodes looked up: every file, or fewer when the daemon ran out of descriptors (EMFILE, or viofs serve's ENFILE past its fd budget). */
  inodes: number;
  /** Why fewer than every file, if so. */
  stoppedBy: string | null;
  start: Footprint;
  looked: Footprint;
  forgotten: Footprint;
  /** Right after FORGET, before viofs serve's retained fds expire (the same reading as `forgotten` for virtiofsd). */
  forgottenAtOnce: Footprint;
  /** After FORGET, the same lookups again (RSS growth past `looked` would be memory FORGET did not free). */
  relooked: Footprint;
  /** The session's heap growth (this process) per inode it tracked. */
  sessionHeapBytes: number;
}

async function measureDaemon(name: DaemonName, share: string, socketPath: string, s: MemorySettings, progress: (l: string) => void): Promise<DaemonReading> {
  const handle = await startBackend(name, share, socketPath);
  let driver: VirtioFsDriver | undefined;
  let session: FuseSession | undefined;
  try {
    driver = await VirtioFsDriver.connect(socketPath, { memorySize: 64 * MiB, queueSize: 1024 });
    session = await FuseSession.init(driver);
    const dir = (await session.lookup(FUSE_ROOT_ID, "mem")).nodeid;
    const pid = workerPid(handle.pid);
    await sleepMs(s.settleMs);
    const start = processFootprint(pid);
    const heap0 = heapAfterGc();
    const sess = session;
    /** LOOKUPs of the first `count` files, `s.qd` in flight, until the daemon runs out of descriptors. */
    const lookupAll = async (count: number): Promise<{ nodes: bigint[]; stoppedBy: string | null }> => {
      const nodes: bigint[] = [];
      let next = 0;
      let stoppedBy: string | null = null;
      await Promise.all(
        Array.from({ length: s.qd }, async () => {
          while (next < count && stoppedBy === null) {
            const i = next++;
            try {
              nodes.push((await sess.lookup(dir, fileName(i))).nodeid);
            } catch (e) {
              if (!(ErrnoError.is(e) && (e.errno === Errno.EMFILE || e.errno === Errno.ENFILE))) throw e;
              stoppedBy ??= `${e.errno === Errno.EMFILE ? "EMFILE" : "ENFILE"} at file ${i}`;
            }
          }
        }),
      );
      return { nodes, stoppedBy };
    };
    const forgetAll = async (nodes: readonly bigint[]): Promise<void> => {
      for (const node of nodes) sess.forget(node);
      await sess.flushForgets();
      // A request after the forgets: the daemon has read the BATCH_FORGETs before it answers.
      await sess.getattr(dir);
      await sleepMs(s.settleMs);
    };
    const { nodes, stoppedBy } = await lookupAll(s.files);
    const sessionHeapBytes = heapAfterGc() - heap0;
    await sleepMs(s.settleMs);
    const looked = processFootprint(pid);
    progress(`memory: ${name}: ${nodes.length} inodes looked up${stoppedBy !== null ? ` (then ${stoppedBy})` : ""}: RSS +${fmtBytes(looked.rssBytes - start.rssBytes)}, fds +${looked.fds - start.fds}`);
    await forgetAll(nodes);
    const forgottenAtOnce = processFootprint(pid);
    if (name === "viofs") await sleepMs(DEFAULT_RETENTION.ms + s.settleMs);
    const forgotten = processFootprint(pid);
    progress(
      `memory: ${name}: after FORGET: RSS ${fmtSigned(forgotten.rssBytes - start.rssBytes)}, fds ${fmtSigned(forgotten.fds - start.fds, "")} from the start` +
        (name === "viofs" ? ` (${fmtSigned(forgottenAtOnce.fds - start.fds, "")} at once, before the retained fds expired)` : ""),
    );
    // The same inodes again: what a daemon freed at FORGET it can reuse, so RSS should not grow much past `looked`.
    const again = await lookupAll(nodes.length);
    await sleepMs(s.settleMs);
    const relooked = processFootprint(pid);
    await forgetAll(again.nodes);
    progress(`memory: ${name}: a second round of ${again.nodes.length} lookups: RSS ${fmtSigned(relooked.rssBytes - looked.rssBytes)} past the first round's`);
    return { name, commandLine: commandLineOf(handle), inodes: nodes.length, stoppedBy, start, looked, forgottenAtOnce, forgotten, relooked, sessionHeapBytes: sessionHeapBytes / nodes.length };
  } catch (e) {
    throw new Error(`${name}: ${e instanceof Error ? e.message : String(e)}\n--- ${name} output (tail):\n${handle.log().split("\n").slice(-20).join("\n")}`, { cause: e });
  } finally {
    await session?.close().catch(() => undefined);
    driver?.close();
    await stopHandle(handle);
  }
}

async function stopHandle(handle: BackendHandle): Promise<void> {
  await handle.stop(1000).catch(() => undefined);
}

interface ServiceReading {
  files: number;
  heapBytes: number;
  daemonStart: Footprint;
  daemonAfter: Footprint;
}

/** The Windows service over viofs serve: GetFileAttributesW of every file, then the heap and the daemon's footprint. */
async function measureService(share: string, socketPath: string, s: MemorySettings): Promise<ServiceReading> {
  W.setCurrentProcess(new W.Win32Process());
  const target = await ServiceTarget.start("viofs", share, socketPath, "M:");
  try {
    await W.GetFileAttributesW(`M:\\mem\\${fileName(0)}`);
    const pid = workerPid(target.daemonPid);
    await sleepMs(s.settleMs);
    const daemonStart = processFootprint(pid);
    const heap0 = heapAfterGc();
    for (let i = 0; i < s.serviceFiles; i++) await W.GetFileAttributesW(`M:\\mem\\${fileName(i)}`);
    const heapBytes = heapAfterGc() - heap0;
    await sleepMs(s.settleMs);
    return { files: s.serviceFiles, heapBytes, daemonStart, daemonAfter: processFootprint(pid) };
  } finally {
    await target.close();
  }
}

/** This process's open-file limit (soft/hard), from /proc/self/limits. */
function fdLimit(): string {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync("/proc/self/limits", "utf8"));
  return m ? `${m[1]}/${m[2]}` : "unknown";
}

function fmtBytes(n: number): string {
  return Math.abs(n) >= MiB ? `${(n / MiB).toFixed(1)} MiB` : `${(n / 1024).toFixed(0)} KiB`;
}
function fmtSigned(n: number, unit = "bytes"): string {
  const text = unit === "bytes" ? fmtBytes(n) : String(n);
  return n >= 0 ? `+${text}` : text;
}

/** A row whose bar is an upper bound on `ours`; `peer` may be absent. */
function boundRow(workload: string, unit: string, ours: number, peerName: Subject | null, peer: number | null, maxOurs: number | null): RatioRow {
  const ratio = peer !== null && peer !== 0 ? ours / peer : null;
  return {
    group: "memory",
    workload,
    unit,
    oursName: "viofs",
    peerName: peerName ?? "viofs",
    ours,
    peer,
    ratio,
    ratioOfBest: null,
    goal: null,
    met: maxOurs === null ? null : ours <= maxOurs,
    maxOurs,
  };
}

export const memoryGroup: BenchGroup = {
  name: "memory",
  description: "daemon RSS and fds per inode after LOOKUP and after FORGET (viofs serve vs virtiofsd); the session's and the service's heap",
  async run(ctx: BenchContext): Promise<GroupResult> {
    const s = memorySettings(ctx.quick);
    const dir = scratchDir(ctx.tmpRoot, "memory");
    const readings: DaemonReading[] = [];
    let service: ServiceReading | null = null;
    const notes: string[] = [
      "memory: lower is better; the bar is an upper bound on viofs's figure (≤ 1 KiB and ≤ 1 fd per live inode; after FORGET within 64 B and 0.001 fd per inode of the start); ours/peer is for information.",
    ];
    try {
      const share = join(dir.path, "share");
      mkdirSync(join(share, "mem"), { recursive: true });
      ctx.progress(`memory: creating ${s.files} files`);
      for (let i = 0; i < s.files; i++) writeFileSync(join(share, "mem", fileName(i)), "");
      // One daemon at a time on the same tree; the order alternates with the rounds.
      const names = ctx.backends.filter((b): b is "viofs" | "virtiofsd" => b === "viofs" || b === "virtiofsd");
      for (let round = 0; round < ctx.rounds; round++) {
        for (const name of round % 2 === 0 ? names : [...names].reverse()) {
          ctx.progress(`memory: ${name}: looking up ${s.files} files`);
          readings.push(await measureDaemon(name, share, join(dir.path, `${name}.sock`), s, ctx.progress));
        }
      }
      if (names.includes("viofs")) {
        ctx.progress(`memory: the Windows service: GetFileAttributesW of ${s.serviceFiles} files`);
        service = await measureService(share, join(dir.path, "svc.sock"), s);
      }
    } finally {
      dir.cleanup();
    }

    const records: ResultRecord[] = [];
    const perInode = (name: DaemonName, f: (r: DaemonReading) => number): number | null => {
      const mine = readings.filter((r) => r.name === name).map(f);
      if (mine.length === 0) return null;
      const sorted = [...mine].sort((a, b) => a - b);
      return sorted[sorted.length >> 1]!;
    };
    const figures: Array<{ workload: string; unit: string; f: (r: DaemonReading) => number; max: number }> = [
      { workload: `daemon RSS per live inode (up to ${s.files} looked up)`, unit: "B/inode", f: (r) => (r.looked.rssBytes - r.start.rssBytes) / r.inodes, max: RSS_PER_INODE_MAX },
      { workload: `daemon fds per live inode (up to ${s.files} looked up)`, unit: "fds/inode", f: (r) => (r.looked.fds - r.start.fds) / r.inodes, max: FDS_PER_INODE_MAX },
      { workload: "daemon RSS left after FORGET, per inode", unit: "B/inode", f: (r) => (r.forgotten.rssBytes - r.start.rssBytes) / r.inodes, max: RSS_LEFT_MAX },
      { workload: "daemon fds left after FORGET, per inode", unit: "fds/inode", f: (r) => (r.forgotten.fds - r.start.fds) / r.inodes, max: FDS_LEFT_MAX },
      { workload: "daemon fds right after FORGET (viofs: retained, bounded)", unit: "fds", f: (r) => r.forgottenAtOnce.fds - r.start.fds, max: DEFAULT_RETENTION.max },
      {
        workload: "daemon RSS growth, second LOOKUP round after FORGET, per inode",
        unit: "B/inode",
        f: (r) => (r.relooked.rssBytes - r.looked.rssBytes) / r.inodes,
        max: RSS_LEFT_MAX,
      },
    ];
    const ratios: RatioRow[] = [];
    for (const fig of figures) {
      for (const r of readings) {
        const value = fig.f(r);
        const prev = records.find((x) => x.workload === fig.workload && x.backend === r.name);
        if (prev) {
          prev.samples.push(value);
          prev.value = perInode(r.name, fig.f)!;
          prev.best = Math.min(...prev.samples);
        } else records.push({ group: "memory", workload: fig.workload, unit: fig.unit, backend: r.name, value, best: value, samples: [value] });
      }
      const ours = perInode("viofs", fig.f);
      if (ours !== null) ratios.push(boundRow(fig.workload, fig.unit, ours, "virtiofsd", perInode("virtiofsd", fig.f), fig.max));
    }
    const session = perInode("viofs", (r) => r.sessionHeapBytes) ?? perInode("virtiofsd", (r) => r.sessionHeapBytes);
    for (const r of readings) {
      if (r.stoppedBy !== null) {
        notes.push(
          `memory: ${r.name} stopped after ${r.inodes} of ${s.files} lookups (${r.stoppedBy}; RLIMIT_NOFILE here is ${fdLimit()}, which a process without ` +
            "CAP_SYS_RESOURCE cannot raise); its per-inode figures are over the inodes it took.",
        );
      }
    }
    if (session !== null) {
      records.push({ group: "memory", workload: "guest session heap per tracked inode", unit: "B/inode", backend: "viofs", value: session, best: session, samples: [session] });
      ratios.push(boundRow("guest session heap per tracked inode", "B/inode", session, null, null, RSS_PER_INODE_MAX));
    }
    if (service !== null) {
      const heap = service.heapBytes / service.files;
      const rss = (service.daemonAfter.rssBytes - service.daemonStart.rssBytes) / service.files;
      const fds = (service.daemonAfter.fds - service.daemonStart.fds) / service.files;
      for (const [workload, unit, value, max] of [
        [`service heap per file stat'ed (${service.files} GetFileAttributesW)`, "B/file", heap, RSS_PER_INODE_MAX],
        ["its daemon's RSS per file stat'ed", "B/file", rss, RSS_PER_INODE_MAX],
        ["its daemon's fds per file stat'ed", "fds/file", fds, FDS_PER_INODE_MAX],
      ] as const) {
        records.push({ group: "memory", workload, unit, backend: "viofs", value, best: value, samples: [value] });
        ratios.push(boundRow(workload, unit, value, null, null, max));
      }
    }
    return {
      records,
      ratios,
      settings: {
        ...s,
        rounds: ctx.rounds,
        readings: readings.map((r) => ({ ...r })),
        service,
      },
      notes,
    };
  },
};
