/**
 * The campaign runner of `npm run fuzz`: each target is a fast-check property
 * run for `runs` inputs (1,000,000 by default), with a progress line every
 * 10 s and a result per target (inputs, failures, seconds, inputs/s). A
 * failure prints fast-check's report with the seed and counterexample path;
 * `--target=NAME --seed=S --path=P` replays exactly that input.
 */
import fc from "fast-check";

/** What a target gives the runner: its property, and how to clean up after it. */
export interface Campaign {
  readonly property: fc.IRawProperty<unknown, boolean>;
  /** Extra figures for the summary (chains served, errors seen…). */
  stats?(): Record<string, number>;
  teardown(): Promise<void>;
}

export interface Target {
  readonly name: string;
  /** One line: what is fed in, what must hold. */
  readonly summary: string;
  /** Builds the property; `tick` must be called once per input. */
  setup(tick: () => void): Promise<Campaign>;
}

export interface RunOptions {
  readonly runs: number;
  readonly seed?: number;
  readonly path?: string;
  /** Milliseconds between progress lines (default 10 000). */
  readonly progressMs?: number;
  readonly write?: (line: string) => void;
}

export interface TargetResult {
  readonly target: string;
  readonly inputs: number;
  readonly failures: number;
  readonly seconds: number;
  readonly inputsPerSecond: number;
  readonly seed: number;
  readonly counterexamplePath?: string;
  readonly report?: string;
  readonly stats?: Record<string, number>;
}

/** Runs one target's campaign. */
export async function runTarget(target: Target, options: RunOptions): Promise<TargetResult> {
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const progressMs = options.progressMs ?? 10_000;
  const seed = options.seed ?? (Date.now() ^ (Math.random() * 0x7fff_ffff)) | 0;
  const started = performance.now();
  let inputs = 0;
  let lastReport = started;
  const tick = (): void => {
    inputs++;
    if ((inputs & 1023) !== 0) return;
    const now = performance.now();
    if (now - lastReport < progressMs) return;
    lastReport = now;
    const s = (now - started) / 1000;
    write(`  ${target.name}: ${inputs.toLocaleString("en-US")} inputs, ${Math.round(inputs / s).toLocaleString("en-US")}/s, ${s.toFixed(0)} s`);
  };
  const campaign = await target.setup(tick);
  let details: fc.RunDetails<unknown>;
  try {
    const params: fc.Parameters<unknown> = { numRuns: options.runs, seed, ...(options.path !== undefined ? { path: options.path } : {}) };
    details = await fc.check(campaign.property, params);
  } finally {
    await campaign.teardown();
  }
  const seconds = (performance.now() - started) / 1000;
  const result: TargetResult = {
    target: target.name,
    inputs: details.numRuns,
    failures: details.failed ? 1 : 0,
    seconds: Math.round(seconds * 10) / 10,
    inputsPerSecond: Math.round(details.numRuns / seconds),
    seed: details.seed,
    ...(details.failed ? { counterexamplePath: details.counterexamplePath ?? "", report: `${fc.defaultReportMessage(details) ?? ""}\n${String((details.errorInstance as Error | undefined)?.stack ?? details.errorInstance ?? "")}` } : {}),
    ...(campaign.stats ? { stats: campaign.stats() } : {}),
  };
  return result;
}
