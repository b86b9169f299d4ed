/**
 * The micro-benchmarks' timing loop: a warm-up that grows the batch until one
 * batch takes ~1/20 of a round, then timed rounds; CPU time (this process,
 * all threads) and wall time per operation, each the best of the rounds.
 */

export interface Case {
  name: string;
  /** Runs the operation `n` times. */
  run(n: number): void | Promise<void>;
}

/** ns/op of one case. */
export interface Figure {
  cpu: number;
  wall: number;
}

export interface MeasureOptions {
  rounds: number;
  roundMs: number;
  warmupMs: number;
}

export async function measure(c: Case, { rounds, roundMs, warmupMs }: MeasureOptions): Promise<Figure> {
  let n = 64;
  const warmEnd = performance.now() + warmupMs;
  for (;;) {
    const t0 = performance.now();
    await c.run(n);
    const dt = performance.now() - t0;
    if (dt < roundMs / 20) n *= 2;
    if (performance.now() > warmEnd && dt >= roundMs / 20) break;
  }
  let cpu = Infinity;
  let wall = Infinity;
  for (let i = 0; i < rounds; i++) {
    let ops = 0;
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const end = performance.now() + roundMs;
    while (performance.now() < end) {
      await c.run(n);
      ops += n;
    }
    const w = Number(process.hrtime.bigint() - t0) / ops;
    const used = process.cpuUsage(c0);
    cpu = Math.min(cpu, ((used.user + used.system) * 1000) / ops);
    wall = Math.min(wall, w);
  }
  return { cpu, wall };
}
