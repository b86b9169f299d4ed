/**
 * Shared pieces of the benchmarks (`npm run bench`, entry bench/run.ts):
 * timing, medians, result records and ratio rows, the JSON report and the
 * stdout table, what machine and versions a run used, scratch directories,
 * and the two vhost-user-fs backends (started through test/vm/backends.ts,
 * so the flags are the ones the VM tests use).
 *
 * Every figure is measured side by side with its peer in the same run:
 * a group measures `viofs` and `virtiofsd` (and, where it makes sense, the
 * host directory through node:fs, `native`) and states each comparison as a
 * {@link RatioRow}. Higher is better for every unit used here (MiB/s, ops/s).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statfsSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { BACKENDS, VIRTIOFSD, spawnDaemon as spawnVmDaemon, type BackendHandle, type BackendName } from "../test/vm/backends.js";
import { repoRoot } from "../test/vm/image.js";
import { QEMU } from "../test/vm/qemu.js";

export type { BackendHandle, BackendName };

/**
 * Who served a figure: a vhost-user-fs backend (`virtiofsd-tp64` is C
 * virtiofsd with `--thread-pool-size=64`; plain `virtiofsd` runs with its
 * default pool of 0), node:fs on the host directory (`native`), this
 * project's Windows service in virtio-win's manner (`virtio-win`), or smbd
 * driven by smbclient (`samba`).
 */
export type Subject = BackendName | "virtiofsd-tp64" | "native" | "virtio-win" | "samba";

export const MiB = 1 << 20;

// ─── Timing ─────────────────────────────────────────────────────────────────

/** A monotonic clock in nanoseconds (process.hrtime). */
export function nowNs(): bigint {
  return process.hrtime.bigint();
}

/** Seconds between two {@link nowNs} readings. */
export function secondsBetween(startNs: bigint, endNs: bigint): number {
  return Number(endNs - startNs) / 1e9;
}

/** Resolves after `ms` milliseconds. */
export function sleepMs(ms: number): Promise<void> {
  return sleep(ms).then(() => undefined);
}

/** Runs `fn` once and resolves with its wall time in seconds. */
export async function timeSeconds(fn: () => Promise<void>): Promise<number> {
  const start = nowNs();
  await fn();
  return secondsBetween(start, nowNs());
}

/** Runs `ops` calls of `one(i)`, `qd` at a time (each worker takes the next index). */
export async function pool(ops: number, qd: number, one: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < ops) await one(next++);
  };
  await Promise.all(Array.from({ length: Math.min(qd, ops) }, worker));
}

/** The name of the `i`th file of a LOOKUP workload's directory. */
export const lookupName = (i: number): string => `l${String(i).padStart(5, "0")}`;

/** The median of a non-empty list (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError("median of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

// ─── Records ────────────────────────────────────────────────────────────────

/** One figure: the median of `samples`, each a throughput in `unit` (higher is better). */
export interface ResultRecord {
  group: string;
  workload: string;
  unit: string;
  backend: Subject;
  value: number;
  /** The highest sample: on a busy machine, the run least disturbed by other work. */
  best: number;
  samples: number[];
}

/** One comparison: `ours` against `peer` on one workload, and whether it meets `goal`. */
export interface RatioRow {
  group: string;
  workload: string;
  unit: string;
  /** Who `ours` and `peer` are (e.g. "viofs" against "virtiofsd"). */
  oursName: Subject;
  peerName: Subject;
  /** Null when that side was not measured (e.g. `viofs serve` not built yet). */
  ours: number | null;
  peer: number | null;
  /** ours / peer (medians; in a paired group the median of each pair's ratio, see Results.pairedRatio); null when either side is missing. */
  ratio: number | null;
  /** The same ratio of the best samples, for information: less sensitive to other load on the machine. */
  ratioOfBest: number | null;
  /** The bar `ratio` must reach; null for a figure kept for information only. */
  goal: number | null;
  /** ratio ≥ goal (or ours ≤ maxOurs); null when there is no bar or nothing to judge. */
  met: boolean | null;
  /**
   * For figures where lower is better (bytes, fds per inode): an upper bound
   * on `ours` that is the bar instead of `goal`; the ratio is then for
   * information. Absent on throughput rows.
   */
  maxOurs?: number | null;
}

/** The key of one subject's samples of one workload in {@link Results}. */
function sampleKey(workload: string, backend: Subject): string {
  return `${workload}\0${backend}`;
}

/** Collects the samples of one group and turns them into records and ratio rows. */
export class Results {
  private readonly samples = new Map<string, { workload: string; unit: string; backend: Subject; values: number[]; pairs: Map<string, number> }>();
  private readonly order: string[] = [];

  constructor(readonly group: string) {}

  /**
   * Adds one sample of `workload` served by `backend`. `pair` names the
   * occasion it was taken on (a boot and a pass): samples of two subjects
   * with the same `pair` were taken side by side, for {@link pairedRatio}.
   */
  add(workload: string, unit: string, backend: Subject, value: number, pair?: string): void {
    const key = sampleKey(workload, backend);
    let entry = this.samples.get(key);
    if (!entry) {
      entry = { workload, unit, backend, values: [], pairs: new Map() };
      this.samples.set(key, entry);
      this.order.push(key);
    }
    entry.values.push(value);
    if (pair !== undefined) {
      if (entry.pairs.has(pair)) throw new Error(`bench: two samples of '${workload}' for ${backend} on occasion '${pair}'`);
      entry.pairs.set(pair, value);
    }
  }

  /** The median of the samples so far, or undefined. */
  value(workload: string, backend: Subject): number | undefined {
    const entry = this.samples.get(sampleKey(workload, backend));
    return entry && entry.values.length > 0 ? median(entry.values) : undefined;
  }

  /** The highest sample so far, or undefined. */
  best(workload: string, backend: Subject): number | undefined {
    const entry = this.samples.get(sampleKey(workload, backend));
    return entry && entry.values.length > 0 ? Math.max(...entry.values) : undefined;
  }

  records(): ResultRecord[] {
    return this.order.map((key) => {
      const e = this.samples.get(key)!;
      return {
        group: this.group,
        workload: e.workload,
        unit: e.unit,
        backend: e.backend,
        value: median(e.values),
        best: Math.max(...e.values),
        samples: [...e.values],
      };
    });
  }

  /**
   * {@link ratio}, with `ratio` the median of ours / peer over the occasions
   * both were measured on (see {@link add}'s `pair`), not the ratio of the
   * two medians: in a paired design each pair shares the machine's and the
   * guest's speed of that moment, which moves more between pairs than the
   * subjects differ. Null when no occasion has both.
   */
  pairedRatio(workload: string, unit: string, ours: Subject, peer: Subject, goal: number | null): RatioRow & { pairs: number } {
    const row = this.ratio(workload, unit, ours, peer, goal);
    const o = this.samples.get(sampleKey(workload, ours))?.pairs;
    const p = this.samples.get(sampleKey(workload, peer))?.pairs;
    const ratios: number[] = [];
    for (const [pair, value] of o ?? []) {
      const other = p?.get(pair);
      if (other !== undefined && other > 0) ratios.push(value / other);
    }
    const ratio = ratios.length > 0 ? median(ratios) : null;
    return { ...row, ratio, met: goal === null || ratio === null ? null : ratio >= goal, pairs: ratios.length };
  }

  /** A ratio row for `workload`: `ours` / `peer`, against `goal` (null: for information). */
  ratio(workload: string, unit: string, ours: Subject, peer: Subject, goal: number | null): RatioRow {
    const o = this.value(workload, ours) ?? null;
    const p = this.value(workload, peer) ?? null;
    const ratio = o !== null && p !== null && p > 0 ? o / p : null;
    const bo = this.best(workload, ours);
    const bp = this.best(workload, peer);
    return {
      group: this.group,
      workload,
      unit,
      oursName: ours,
      peerName: peer,
      ours: o,
      peer: p,
      ratio,
      ratioOfBest: bo !== undefined && bp !== undefined && bp > 0 ? bo / bp : null,
      goal,
      met: goal === null || ratio === null ? null : ratio >= goal,
    };
  }
}

/** What a group hands back to bench/run.ts. */
export interface GroupResult {
  records: ResultRecord[];
  ratios: RatioRow[];
  /** Sizes, counts, repetitions, flags: everything needed to repeat the run. */
  settings: Record<string, unknown>;
  /** Caveats worth reading next to the figures. */
  notes: string[];
}

/** What bench/run.ts gives each group. */
export interface BenchContext {
  readonly quick: boolean;
  /** Backends to measure; "viofs" is dropped when `viofs serve` is not available. */
  readonly backends: readonly BackendName[];
  /** Where scratch directories go (a local file system). */
  readonly tmpRoot: string;
  /**
   * How many times to repeat the group's side-by-side cycle, the subjects'
   * order reversed every other time (default 1). On a busy machine more
   * rounds spread other work more evenly over the subjects.
   */
  readonly rounds: number;
  /** One line of progress to stderr. */
  progress(line: string): void;
}

export interface BenchGroup {
  readonly name: string;
  readonly description: string;
  run(ctx: BenchContext): Promise<GroupResult>;
}

// ─── Machine and versions ───────────────────────────────────────────────────

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  ramBytes: number;
  kernel: string;
  /** The file system type of the scratch directory (statfs f_type, hex) and its name when known. */
  scratchFs: string;
  /** 1-, 5- and 15-minute load averages when the run started (other work on the machine skews figures). */
  loadAverage: number[];
  /**
   * When this machine is a VM whose balloon reports free memory to its
   * hypervisor (virtio_balloon's free page reporting): the smallest block it
   * reports, as a page order (`page_reporting_order`, 11 or more: none), and
   * how much it has reported since boot. Memory freed and then reported is
   * no longer backed, and the next write into it costs the hypervisor's page
   * faults: write figures then swing with where each daemon's pages came
   * from (docs/performance.md, "Free page reporting"). null: not such a VM.
   */
  freePageReporting: { order: number; reportedKiB: number | null } | null;
}

const FS_NAMES: Record<number, string> = { 0xef53: "ext4", 0x01021994: "tmpfs", 0x58465342: "xfs", 0x9123683e: "btrfs", 0x794c7630: "overlayfs" };

export function machineInfo(scratch: string): MachineInfo {
  const cpu = cpus();
  const type = statfsSync(scratch).type;
  return {
    cpuModel: cpu[0]?.model.trim() ?? "unknown",
    cores: cpu.length,
    ramBytes: totalmem(),
    kernel: release(),
    scratchFs: `${FS_NAMES[type] ?? "unknown"} (0x${type.toString(16)})`,
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
    freePageReporting: freePageReporting(),
  };
}

/** The largest buddy-allocator order on x86-64: a `page_reporting_order` above it reports nothing. */
export const MAX_PAGE_ORDER = 10;

/** See {@link MachineInfo.freePageReporting}: null when the page_reporting module is absent (no reporting balloon). */
function freePageReporting(): MachineInfo["freePageReporting"] {
  const read = (name: string): number | null => {
    try {
      const value = Number(readFileSync(`/sys/module/page_reporting/parameters/${name}`, "utf8").trim());
      return Number.isFinite(value) ? value : null;
    } catch {
      return null;
    }
  };
  const order = read("page_reporting_order");
  return order === null ? null : { order, reportedKiB: read("reported_kib") };
}

export interface VersionInfo {
  node: string;
  qemu: string;
  virtiofsd: string;
  /**
   * The checkout: HEAD, `git describe --dirty`, how many files under src/, bin/
   * and bench/ differ from HEAD, and when dist/ (what `viofs serve` runs) was
   * last built: a build older than the edits means the figures are of older code.
   */
  viofs: { commit: string; describe: string; dirtyFiles: number; distBuiltAt: string | null };
}

export function versionInfo(): VersionInfo {
  const firstLine = (program: string, args: string[]): string => {
    const r = spawnSync(program, args, { encoding: "utf8" });
    if (r.error) return `unavailable (${r.error.message})`;
    return `${r.stdout}${r.stderr}`.split("\n").find((l) => l.trim() !== "")?.trim() ?? "unknown";
  };
  const git = (args: string[]): string => {
    try {
      return execFileSync("git", args, { cwd: repoRoot(), encoding: "utf8" }).trim();
    } catch {
      return "unknown";
    }
  };
  const status = git(["status", "--porcelain", "--", "src", "bin", "bench"]);
  return {
    node: process.version,
    qemu: firstLine(QEMU, ["--version"]),
    virtiofsd: firstLine(VIRTIOFSD, ["--version"]),
    viofs: {
      commit: git(["rev-parse", "HEAD"]),
      describe: git(["describe", "--always", "--dirty"]),
      dirtyFiles: status === "" || status === "unknown" ? 0 : status.split("\n").length,
      distBuiltAt: builtAt(),
    },
  };
}

/**
 * When `tsc` last built dist/: its incremental build info is written on every
 * build that emits anything, while an output file keeps its old time when its
 * source did not change (main.js alone once dated a build hours old).
 */
function builtAt(): string | null {
  for (const file of [join("dist", ".tsbuildinfo"), join("dist", "src", "cli", "main.js")]) {
    try {
      return statSync(join(repoRoot(), file)).mtime.toISOString();
    } catch {
      // Not there: the next candidate.
    }
  }
  return null;
}

// ─── Scratch directories and backends ───────────────────────────────────────

/** A fresh directory under `root`, removed by `cleanup`. */
export function scratchDir(root: string, prefix: string): { path: string; cleanup(): void } {
  mkdirSync(root, { recursive: true });
  const path = mkdtempSync(join(root, `viofs-bench-${prefix}-`));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * A private tmpfs at a fresh `<parent>/<prefix>XXXXXX`, so that every
 * daemon's shared directory costs the same to create files in. On a disk
 * file system it need not: ext4 places the inodes of a new directory's files
 * in one block group, and creating a file in a group full of recently deleted
 * inodes scans past them (`recently_deleted`); measured here, 12 µs against
 * 250 µs per create in two fresh directories of one ext4, and the daemon
 * measured second inherited the first one's 2,000 deleted files. Throws
 * (leaving nothing behind) when the mount is refused; `release` unmounts and
 * removes it.
 */
export function mountTmpfs(parent: string, prefix: string, size: string): { path: string; release(): void } {
  const path = mkdtempSync(join(parent, prefix));
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size},mode=1777`, "viofs-bench", path], { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    rmSync(path, { recursive: true, force: true });
    throw new Error(`could not mount a tmpfs at ${path} (${r.error?.message ?? r.stderr.trim()})`);
  }
  return {
    path,
    release: () => {
      spawnSync("umount", [path]);
      rmSync(path, { recursive: true, force: true });
    },
  };
}

/** How the backends run, for the notes of every group that starts them. */
export const BACKEND_NOTE =
  "backends are started with the VM tests' flags (test/vm/backends.ts): virtiofsd -o cache=auto -o xattr (its default namespace sandbox and " +
  "thread pool, which QEMU 7.2's virtiofsd sets to 0: every request inline), viofs serve --cache=auto --xattr --sandbox=none (its default " +
  "thread pool); virtiofsd-tp64 adds --thread-pool-size=64 to virtiofsd's; exact argv in settings.";

/** A vhost-user-fs daemon the benchmarks can start: the VM tests' backends, and C virtiofsd with a 64-thread pool. */
export type DaemonName = BackendName | "virtiofsd-tp64";

/**
 * Starts `name` serving `sharedDir` on `socketPath` with the VM tests' flags
 * (test/vm/backends.ts); `virtiofsd-tp64` is their virtiofsd command line
 * plus `--thread-pool-size=64`.
 */
export function startBackend(name: DaemonName, sharedDir: string, socketPath: string): Promise<BackendHandle> {
  if (name !== "virtiofsd-tp64") return BACKENDS[name].start(sharedDir, socketPath);
  return spawnDaemon(
    [VIRTIOFSD, `--socket-path=${socketPath}`, "-o", `source=${sharedDir}`, "-o", "cache=auto", "-o", "xattr", "--thread-pool-size=64"],
    sharedDir,
    socketPath,
  );
}

/**
 * Spawns a daemon and resolves once `socketPath` is a socket (test/vm's
 * launcher). The handle's `name` is "virtiofsd" (the handle type knows no
 * other names); the argv in /proc tells them apart ({@link commandLineOf}).
 */
export function spawnDaemon(argv: readonly string[], sharedDir: string, socketPath: string): Promise<BackendHandle> {
  return spawnVmDaemon("virtiofsd", [...argv], sharedDir, socketPath);
}

/**
 * The process that does a daemon's work: `pid`, or, while a process has
 * exactly one child, that child (C virtiofsd's namespace sandbox forks: the
 * parent only waits for the worker).
 */
export function workerPid(pid: number): number {
  let p = pid;
  for (let depth = 0; depth < 4; depth++) {
    let children: string[];
    try {
      children = readFileSync(`/proc/${p}/task/${p}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
    } catch {
      break;
    }
    if (children.length !== 1) break;
    p = Number(children[0]);
  }
  return p;
}

/** VmRSS (bytes) and open descriptors (/proc/PID/fd entries) of a live process. */
export function processFootprint(pid: number): { rssBytes: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!m) throw new Error(`bench: no VmRSS in /proc/${pid}/status`);
  return { rssBytes: Number(m[1]) * 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
}

/** The backend's argv as the kernel has it (/proc/<pid>/cmdline), for the report; [] when gone. */
export function commandLineOf(handle: BackendHandle): string[] {
  try {
    return readFileSync(`/proc/${handle.pid}/cmdline`, "utf8").split("\0").filter((x) => x !== "");
  } catch {
    return [];
  }
}

/**
 * Whether `viofs serve` can run: the compiled CLI answers `serve --help`.
 * Returns null when it can, or why not.
 */
export function viofsServeUnavailable(): string | null {
  const bin = join(repoRoot(), "bin", "viofs.js");
  const r = spawnSync(process.execPath, [bin, "serve", "--help"], { encoding: "utf8", timeout: 30_000 });
  if (r.error) return r.error.message;
  if (r.status === 0) return null;
  const text = `${r.stderr}${r.stdout}`.trim().split("\n")[0] ?? "";
  return `'viofs serve --help' exited ${r.status ?? r.signal}: ${text}`;
}

// ─── Report ─────────────────────────────────────────────────────────────────

export interface BenchReport {
  schema: "viofs-bench/1";
  startedAt: string;
  finishedAt: string;
  mode: "quick" | "full";
  argv: string[];
  machine: MachineInfo;
  /** Load averages when the run ended. */
  loadAverageAtEnd: number[];
  versions: VersionInfo;
  /** Per group: its settings. */
  settings: Record<string, unknown>;
  results: ResultRecord[];
  ratios: RatioRow[];
  notes: string[];
  /** Groups that failed, with why. */
  errors: Array<{ group: string; message: string }>;
}

/**
 * Writes the report as `<dir>/<timestamp>.json` and `<dir>/latest.json`
 * (each written whole, then renamed into place); returns the first path.
 */
export function writeReport(report: BenchReport, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const stamp = report.startedAt.replace(/[:.]/g, "-");
  const text = `${JSON.stringify(report, null, 2)}\n`;
  const path = join(dir, `${stamp}.json`);
  for (const target of [path, join(dir, "latest.json")]) {
    const tmp = `${target}.${process.pid}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, target);
  }
  return path;
}

/** A figure with three significant digits (at least), no exponent. */
export function formatValue(value: number | null): string {
  if (value === null) return "—";
  const size = Math.abs(value);
  if (size >= 100) return value.toFixed(0);
  if (size >= 10) return value.toFixed(1);
  if (size >= 0.01 || size === 0) return value.toFixed(2);
  return value.toPrecision(2);
}

/** The ratio rows as a fixed-width table (one line each), ready for stdout. */
export function formatTable(rows: readonly RatioRow[]): string {
  const header = ["group", "workload", "unit", "ours", "peer", "ours/peer", "goal", "met", "best/best"];
  const body = rows.map((r) => [
    r.group,
    r.workload,
    r.unit,
    `${r.oursName} ${formatValue(r.ours)}`,
    `${r.peerName} ${formatValue(r.peer)}`,
    r.ratio === null ? "—" : `${r.ratio.toFixed(2)}×`,
    r.maxOurs !== undefined && r.maxOurs !== null ? `≤ ${formatValue(r.maxOurs)}` : r.goal === null ? "info" : `≥ ${r.goal.toFixed(1)}×`,
    r.met === null ? "" : r.met ? "yes" : "NO",
    r.ratioOfBest === null ? "" : `${r.ratioOfBest.toFixed(2)}×`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}
