/**
 * Running the `viofs` command line in tests: the compiled bin, or (under tsx)
 * the sources through a small launcher, with stdout/stderr collected.
 */
import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { atEnd } from "../scratch.js";

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) dir = dirname(dir);
  return dir;
}

export const ROOT = repoRoot();

/**
 * node and the arguments that start `viofs`: the compiled bin, or the
 * sources through tsx (a launcher in a directory of its own, removed when
 * this process exits; the children have read it by then).
 */
function viofsCommand(): string[] {
  if (!fileURLToPath(import.meta.url).endsWith(".ts")) return [process.execPath, join(ROOT, "bin", "viofs.js")];
  const dir = mkdtempSync(join(tmpdir(), "viofs-launch-"));
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755); // readable by the unprivileged users some tests run it as
  const launcher = join(dir, "viofs.mjs");
  writeFileSync(launcher, `import { main } from ${JSON.stringify(join(ROOT, "src", "cli", "main.ts"))};\nprocess.exitCode = await main(process.argv.slice(2));\n`);
  return [process.execPath, "--import", "tsx", launcher];
}

export const VIOFS = viofsCommand();

export interface Running {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits until stderr matches, or fails (with the output) after `ms`. */
  waitFor(pattern: RegExp, ms?: number): Promise<void>;
}

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  /** A command to run viofs under (e.g. `setpriv …`). */
  prefix?: string[];
  /** Flags for the node that runs viofs (e.g. `--cpu-prof`), before its script. */
  nodeFlags?: string[];
  stdio?: StdioOptions;
  detached?: boolean;
}

/** Starts `viofs <args>` from the repository root. */
export function start(args: string[], options: StartOptions = {}): Running {
  const [node, ...script] = VIOFS as [string, ...string[]];
  const [program, ...rest] = [...(options.prefix ?? []), node, ...(options.nodeFlags ?? []), ...script] as [string, ...string[]];
  const child = spawn(program, [...rest, ...args], {
    cwd: ROOT,
    stdio: options.stdio ?? ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...options.env },
    detached: options.detached ?? false,
  });
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (s: string) => (out += s));
  child.stderr!.setEncoding("utf8").on("data", (s: string) => (err += s));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    async waitFor(pattern, ms = 20_000) {
      const deadline = Date.now() + ms;
      while (!pattern.test(err)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`viofs never printed ${pattern}; stderr:\n${err}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}

/**
 * Stops `running` when `t` ends if it still runs then (a test that failed
 * before its end): SIGTERM, which a namespace launcher passes on to the
 * server inside, then SIGKILL after `graceMs`; waits for it either way.
 */
export function stopAtEnd(t: TestContext, running: Running, graceMs = 5000): Running {
  atEnd(t, async () => {
    const { child } = running;
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await running.exited;
    clearTimeout(timer);
  });
  return running;
}
