/**
 * Text summary of a V8 `.cpuprofile` (as `node --cpu-prof` writes it): the
 * functions with the most self time, and the most inclusive time, as a
 * share of all samples. Not a test:
 *
 *     npx tsx bench/micro/profile.ts FILE.cpuprofile [--top=N] [--inclusive] [--samples]
 *
 * By default each sample weighs the time since the previous one; a thread
 * that was preempted inside a system call then shows that wait as the
 * call's self time. `--samples` counts samples instead, which is closer to
 * CPU time on a busy machine.
 */
import { readFileSync } from "node:fs";
import { relative } from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function label(n: ProfileNode): string {
  const f = n.callFrame;
  const url = f.url.replace(/^file:\/\//, "");
  const where = url === "" ? "" : ` ${url.includes("/dist/") ? url.slice(url.indexOf("/dist/") + 6) : relative(process.cwd(), url)}:${f.lineNumber + 1}`;
  return `${f.functionName || "(anonymous)"}${where}`;
}

function main(argv: string[]): void {
  const file = argv.find((a) => !a.startsWith("--"));
  if (file === undefined) throw new Error("usage: profile.ts FILE.cpuprofile [--top=N] [--inclusive] [--samples]");
  const top = Number(argv.find((a) => a.startsWith("--top="))?.slice(6) ?? 25);
  const bySamples = argv.includes("--samples");
  const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = bySamples ? 1000 : (profile.timeDeltas[i] ?? 0);
    const node = byId.get(profile.samples[i]!)!;
    total += dt;
    const name = label(node);
    if (node.callFrame.functionName === "(idle)") idle += dt;
    self.set(name, (self.get(name) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const l = label(byId.get(id)!);
      if (seen.has(l)) continue;
      seen.add(l);
      inclusive.set(l, (inclusive.get(l) ?? 0) + dt);
    }
  }
  const busy = total - idle;
  const print = (title: string, m: Map<string, number>): void => {
    const unit = bySamples ? "samples" : "ms";
    console.log(`${title} (of ${(busy / 1000).toFixed(0)} ${unit} busy, ${(idle / 1000).toFixed(0)} ${unit} idle)`);
    for (const [name, t] of [...m].sort((x, y) => y[1] - x[1]).slice(0, top)) {
      console.log(`${((100 * t) / busy).toFixed(1).padStart(6)}%  ${name}`);
    }
  };
  self.delete(`(idle)`);
  print("self time", self);
  if (argv.includes("--inclusive")) {
    for (const k of ["(root)", "(idle)", "(program)"]) inclusive.delete(k);
    print("\ninclusive time", inclusive);
  }
}

main(process.argv.slice(2));
