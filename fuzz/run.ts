/**
 * `npm run fuzz [-- --runs=N --target=NAME[,NAME] --seed=S --path=P]`: long
 * fast-check campaigns, 1,000,000 inputs per target by default. Prints a
 * progress line every 10 s, a result line per target and a summary table;
 * exits 1 if any target failed, after printing the seed and path that replay
 * the failing input (`--target=NAME --seed=S --path=P`).
 */
import { parseArgs } from "node:util";
import { log } from "../src/common/log.js";
import { runTarget, type Target, type TargetResult } from "./runner.js";
import { codecTarget } from "./targets/codec.js";
import { serverTarget } from "./targets/server.js";
import { virtqueueTarget } from "./targets/virtqueue.js";
import { vhostUserTarget } from "./targets/vhost-user.js";
import { sessionTarget } from "./targets/session.js";

export const TARGETS: readonly Target[] = [codecTarget, serverTarget, virtqueueTarget, vhostUserTarget, sessionTarget];

function usage(): string {
  return [
    "Usage: npm run fuzz -- [--runs=N] [--target=NAME[,NAME…]] [--seed=S --path=P]",
    "Targets:",
    ...TARGETS.map((t) => `  ${t.name.padEnd(11)} ${t.summary}`),
  ].join("\n");
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: "string" },
      target: { type: "string" },
      seed: { type: "string" },
      path: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(usage());
    return 0;
  }
  const runs = values.runs === undefined ? 1_000_000 : Number(values.runs.replace(/_/g, ""));
  if (!Number.isSafeInteger(runs) || runs < 1) {
    console.error(`fuzz: --runs must be a positive integer, not ${values.runs}\n${usage()}`);
    return 2;
  }
  const names = values.target === undefined ? TARGETS.map((t) => t.name) : values.target.split(",");
  const targets: Target[] = [];
  for (const name of names) {
    const target = TARGETS.find((t) => t.name === name);
    if (!target) {
      console.error(`fuzz: unknown target '${name}'\n${usage()}`);
      return 2;
    }
    targets.push(target);
  }
  if (values.path !== undefined && (values.seed === undefined || targets.length !== 1)) {
    console.error("fuzz: --path replays one input: give it with --seed and a single --target");
    return 2;
  }
  const seed = values.seed === undefined ? undefined : Number(values.seed);
  log.setLevel("off");
  const results: TargetResult[] = [];
  for (const target of targets) {
    console.log(`${target.name}: ${target.summary}`);
    const r = await runTarget(target, { runs, ...(seed !== undefined ? { seed } : {}), ...(values.path !== undefined ? { path: values.path } : {}) });
    results.push(r);
    const extra = r.stats ? ` (${Object.entries(r.stats).map(([k, v]) => `${k} ${v.toLocaleString("en-US")}`).join(", ")})` : "";
    console.log(
      `${r.target}: ${r.failures === 0 ? "ok" : "FAILED"}, ${r.inputs.toLocaleString("en-US")} inputs in ${r.seconds} s, ${r.inputsPerSecond.toLocaleString("en-US")}/s${extra}`,
    );
    if (r.failures > 0) {
      console.log(r.report);
      console.log(`replay: npm run fuzz -- --target=${r.target} --seed=${r.seed} --path=${r.counterexamplePath} --runs=1`);
    }
  }
  console.log("\ntarget       inputs       failures  seconds  inputs/s");
  for (const r of results) {
    console.log(
      `${r.target.padEnd(12)} ${r.inputs.toLocaleString("en-US").padStart(11)}  ${String(r.failures).padStart(8)}  ${r.seconds.toFixed(1).padStart(7)}  ${r.inputsPerSecond.toLocaleString("en-US").padStart(8)}`,
    );
  }
  const failed = results.filter((r) => r.failures > 0);
  if (failed.length > 0) {
    console.log(`\n${failed.length} target(s) failed: ${failed.map((r) => `${r.target} (seed ${r.seed}, path ${r.counterexamplePath})`).join("; ")}`);
    return 1;
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
