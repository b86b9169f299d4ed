/**
 * The benchmarks' entry point (`npm run bench`):
 *
 *     node dist/bench/run.js [--quick] [--only=driver,vm,service,memory] [--backends=virtiofsd,viofs]
 *                            [--rounds=N] [--out=bench/results] [--tmp=/tmp]
 *
 * Runs each group, every figure side by side with its peer in this one run,
 * prints one progress line per workload to stderr and a table of ratios to
 * stdout, and writes the whole report (machine, versions, settings, samples)
 * to `<out>/<timestamp>.json` and `<out>/latest.json`.
 *
 * `--quick` keeps the whole run under three minutes (smaller files, fewer
 * repetitions). `viofs serve` is measured when the compiled CLI answers
 * `serve --help` (build first: `npx tsc -p .`); otherwise its side of every
 * ratio is empty and the report says why. Exits 1 when a group failed, 2 on
 * bad arguments; a missed bar is reported, not an error.
 */
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../test/vm/image.js";
import { driverGroup } from "./driver.js";
import {
  BACKEND_NOTE,
  formatTable,
  machineInfo,
  MAX_PAGE_ORDER,
  mountTmpfs,
  versionInfo,
  viofsServeUnavailable,
  writeReport,
  type BackendName,
  type BenchGroup,
  type BenchReport,
  type RatioRow,
  type ResultRecord,
} from "./lib.js";
import { memoryGroup } from "./memory.js";
import { serviceGroup } from "./service.js";
import { vmGroup } from "./vm.js";

const GROUPS: readonly BenchGroup[] = [driverGroup, vmGroup, serviceGroup, memoryGroup];
const ALL_BACKENDS: readonly BackendName[] = ["virtiofsd", "viofs"];

interface Args {
  quick: boolean;
  only: string[];
  backends: BackendName[];
  out: string;
  tmp: string;
  rounds: number;
}

const USAGE = `usage: bench/run.js [--quick] [--only=${GROUPS.map((g) => g.name).join(",")}] [--backends=virtiofsd,viofs] [--rounds=N] [--out=DIR] [--tmp=DIR]

  --quick       smaller sizes and fewer repetitions: the whole run in under 3 minutes
  --only=LIST   the groups to run (default all, in the order below)
  --backends=L  the vhost-user-fs daemons to measure (default virtiofsd,viofs); with virtiofsd the driver
                group also runs virtiofsd --thread-pool-size=64; without viofs the service group measures Samba only
  --rounds=N    repeat each group's side-by-side cycle N times, order alternating (vm: N boots, each with a device per backend)
  --out=DIR     where the JSON report goes (default bench/results): <start time>.json and latest.json
  --tmp=DIR     where scratch trees go (default: a tmpfs the run mounts and unmounts, which needs root)
  --help        this text

Every figure is a ratio of medians from the same run (subjects interleaved, order reversed every other
repetition); progress goes to stderr, the table to stdout. Exit status 1 when a group failed, 2 on bad arguments.

groups:
${GROUPS.map((g) => `  ${g.name.padEnd(8)} ${g.description}`).join("\n")}
`;

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    quick: false,
    only: GROUPS.map((g) => g.name),
    backends: [...ALL_BACKENDS],
    out: join(repoRoot(), "bench", "results"),
    tmp: "",
    rounds: 1,
  };
  const list = (value: string): string[] => value.split(",").map((x) => x.trim()).filter(Boolean);
  for (const arg of argv) {
    const eq = arg.indexOf("=");
    const [flag, value] = eq < 0 ? [arg, ""] : [arg.slice(0, eq), arg.slice(eq + 1)];
    switch (flag) {
      case "--quick":
        args.quick = true;
        break;
      case "--only":
        args.only = list(value);
        for (const g of args.only) if (!GROUPS.some((x) => x.name === g)) throw new UsageError(`unknown group '${g}'`);
        break;
      case "--backends":
        args.backends = list(value) as BackendName[];
        for (const b of args.backends) if (!ALL_BACKENDS.includes(b)) throw new UsageError(`unknown backend '${b}'`);
        break;
      case "--out":
        args.out = value;
        break;
      case "--tmp":
        if (value === "") throw new UsageError("--tmp needs a directory");
        args.tmp = value;
        break;
      case "--rounds":
        args.rounds = Number(value);
        if (!Number.isSafeInteger(args.rounds) || args.rounds < 1) throw new UsageError(`--rounds needs a positive integer, not '${value}'`);
        break;
      case "--help":
      case "-h":
        process.stdout.write(USAGE);
        process.exit(0);
        break;
      default:
        throw new UsageError(`unknown argument '${arg}'`);
    }
  }
  if (args.only.length === 0 || args.backends.length === 0) throw new UsageError("--only and --backends need at least one name");
  return args;
}

class UsageError extends Error {}

async function main(argv: readonly string[]): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`bench: ${e.message}\n${USAGE}`);
    return 2;
  }
  let scratch: { path: string; release(): void };
  try {
    scratch = args.tmp === "" ? mountTmpfs(tmpdir(), "viofs-bench-tmpfs-", "8g") : { path: args.tmp, release: () => undefined };
  } catch (e) {
    process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)} for the scratch trees; run as root, or pass --tmp=DIR to use a directory\n`);
    return 2;
  }
  try {
    return await measure(args, argv, scratch.path);
  } finally {
    scratch.release();
  }
}


async function measure(args: Args, argv: readonly string[], tmp: string): Promise<number> {
  const started = new Date();
  const machine = machineInfo(tmp);
  const t0 = performance.now();
  const progress = (line: string): void => {
    process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
  };

  const notes: string[] = [BACKEND_NOTE];
  if (args.tmp === "") notes.push("scratch trees (every shared directory) are on a tmpfs the run mounts: the same file-system costs for every subject");
  const backends = [...args.backends];
  if (backends.includes("viofs")) {
    const why = viofsServeUnavailable();
    if (why !== null) {
      backends.splice(backends.indexOf("viofs"), 1);
      notes.push(`viofs serve not measured: ${why}`);
      progress(`viofs serve is not available (${why}); measuring ${backends.join(", ") || "nothing"} only`);
    }
  }

  const results: ResultRecord[] = [];
  const ratios: RatioRow[] = [];
  const settings: Record<string, unknown> = { backends, quick: args.quick, rounds: args.rounds, tmpRoot: args.tmp === "" ? "tmpfs" : args.tmp };
  const errors: BenchReport["errors"] = [];
  for (const group of GROUPS.filter((g) => args.only.includes(g.name))) {
    progress(`${group.name}: ${group.description}`);
    try {
      const r = await group.run({ quick: args.quick, backends, tmpRoot: tmp, rounds: args.rounds, progress });
      results.push(...r.records);
      ratios.push(...r.ratios);
      settings[group.name] = r.settings;
      notes.push(...r.notes);
    } catch (e) {
      const message = e instanceof Error ? (e.stack ?? e.message) : String(e);
      errors.push({ group: group.name, message });
      progress(`${group.name}: FAILED: ${message.split("\n")[0]}`);
    }
  }

  const report: BenchReport = {
    schema: "viofs-bench/1",
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    mode: args.quick ? "quick" : "full",
    argv: [...argv],
    machine,
    loadAverageAtEnd: loadavg().map((x) => Math.round(x * 100) / 100),
    versions: versionInfo(),
    settings,
    results,
    ratios,
    notes,
    errors,
  };
  const path = writeReport(report, args.out);
  const m = report.machine;
  process.stdout.write(
    `viofs bench (${report.mode}), ${m.cpuModel} × ${m.cores}, ${(m.ramBytes / 2 ** 30).toFixed(0)} GiB, kernel ${m.kernel}, ` +
      `load ${m.loadAverage[0]} → ${report.loadAverageAtEnd[0]}, ` +
      (m.freePageReporting !== null && m.freePageReporting.order <= MAX_PAGE_ORDER ? `free page reporting (order ${m.freePageReporting.order}), ` : "") +
      `node ${report.versions.node}, viofs ${report.versions.viofs.describe} (dist built ${report.versions.viofs.distBuiltAt ?? "never"})\n\n` +
      `${formatTable(ratios)}\n\n` +
      (notes.length > 0 ? `${notes.map((n) => `- ${n}`).join("\n")}\n\n` : "") +
      (errors.length > 0 ? `FAILED groups: ${errors.map((e) => `${e.group}: ${e.message.split("\n")[0]}`).join("; ")}\n\n` : "") +
      `written to ${path} (and latest.json); ${((performance.now() - t0) / 1000).toFixed(0)} s\n`,
  );
  return errors.length > 0 ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
