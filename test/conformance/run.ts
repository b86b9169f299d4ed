/**
 * `npm run conformance`: the ported winfsp-tests (every test of the external
 * mode, optional ones included) on every backend, one after the other;
 * prints a table test × backend and writes the results as JSON.
 *
 *   node dist/test/conformance/run.js [--backend=memfs,viofs-serve,virtiofsd]
 *       [--test=REGEX] [--json=PATH] [--verbose]
 *
 * The JSON goes to test/conformance/results/latest.json unless told
 * otherwise. The exit code is 1 when a test failed on some backend.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { execFileSync } from "node:child_process";
import { BACKENDS } from "./backends.js";
import { VIRTIOFSD } from "../vm/backends.js";
import { repoRoot } from "../vm/image.js";
import { allTests, runBackend, type Backend, type TestResult } from "./suite.js";

/** Drive letters, one per backend in table order. */
const DRIVES = ["M:", "V:", "Q:", "R:", "S:"];

/** The JSON written. */
export interface ConformanceReport {
  readonly date: string;
  readonly node: string;
  readonly virtiofsd: string;
  readonly backends: readonly string[];
  readonly tests: readonly { readonly name: string; readonly optional: boolean }[];
  readonly results: readonly TestResult[];
  readonly summary: Readonly<Record<string, { readonly passed: number; readonly failed: number }>>;
}

function virtiofsdVersion(): string {
  try {
    return execFileSync(VIRTIOFSD, ["--version"], { encoding: "utf8" }).split("\n")[0] ?? "";
  } catch {
    return "unavailable";
  }
}

/** The table: one row per test, one column per backend, totals at the end. */
export function formatTable(backends: readonly string[], tests: readonly { name: string; optional: boolean }[], results: readonly TestResult[]): string {
  const cell = new Map(results.map((r) => [`${r.test}\u0000${r.backend}`, r]));
  const nameWidth = Math.max(...tests.map((t) => t.name.length + 6), 4);
  const widths = backends.map((b) => Math.max(b.length, 6));
  const row = (first: string, cells: string[]): string => `${first.padEnd(nameWidth)}  ${cells.map((c, i) => c.padEnd(widths[i]!)).join("  ")}`.trimEnd();
  const lines = [row("test", [...backends]), row("-".repeat(nameWidth), widths.map((w) => "-".repeat(w)))];
  for (const t of tests) {
    const cells = backends.map((b) => {
      const r = cell.get(`${t.name}\u0000${b}`);
      return r === undefined ? "-" : !r.passed ? "FAIL" : r.notes !== undefined ? "pass*" : "pass";
    });
    lines.push(row(t.optional ? `${t.name} (opt)` : t.name, cells));
  }
  lines.push(row("-".repeat(nameWidth), widths.map((w) => "-".repeat(w))));
  const total = (b: string, optional: boolean): string => {
    const rs = results.filter((r) => r.backend === b && r.optional === optional);
    return `${rs.filter((r) => r.passed).length}/${rs.length}`;
  };
  lines.push(row("regular passed", backends.map((b) => total(b, false))));
  lines.push(row("optional passed", backends.map((b) => total(b, true))));
  const noted = results.filter((r) => r.passed && r.notes !== undefined);
  if (noted.length > 0) lines.push("", "pass*: passed, but part of the test did not run:");
  for (const r of noted) lines.push(`  ${r.test} on ${r.backend}: ${r.notes!.join("; ")}`);
  return lines.join("\n");
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      backend: { type: "string" },
      test: { type: "string" },
      json: { type: "string" },
      verbose: { type: "boolean", default: false },
    },
  });
  const names = values.backend?.split(",").map((s) => s.trim()) ?? BACKENDS.map((b) => b.name);
  const backends: Backend[] = names.map((n) => {
    const b = BACKENDS.find((x) => x.name === n);
    if (b === undefined) throw new Error(`no backend ${n}; the backends are ${BACKENDS.map((x) => x.name).join(", ")}`);
    return b;
  });
  const filter = values.test === undefined ? null : new RegExp(values.test);
  const tests = allTests.filter((t) => filter === null || filter.test(t.name));
  const results: TestResult[] = [];
  for (const [i, backend] of backends.entries()) {
    process.stderr.write(`conformance: ${backend.name} (${tests.length} tests)\n`);
    try {
      await runBackend(backend, tests, DRIVES[i]!, (r) => {
        results.push(r);
        if (values.verbose || !r.passed) process.stderr.write(`  ${r.passed ? "pass" : "FAIL"} ${r.test} (${r.milliseconds} ms)${r.error !== undefined ? `: ${r.error.split("\n")[0]}` : ""}\n`);
      });
    } catch (e) {
      const error = `backend failed: ${e instanceof Error ? e.message : String(e)}`;
      process.stderr.write(`  ${error}\n`);
      for (const t of tests)
        if (!results.some((r) => r.backend === backend.name && r.test === t.name))
          results.push({ test: t.name, optional: t.optional, backend: backend.name, passed: false, milliseconds: 0, error });
    }
  }
  const backendNames = backends.map((b) => b.name);
  process.stdout.write(`${formatTable(backendNames, tests, results)}\n`);
  const summary: Record<string, { passed: number; failed: number }> = {};
  for (const b of backendNames) {
    const rs = results.filter((r) => r.backend === b);
    summary[b] = { passed: rs.filter((r) => r.passed).length, failed: rs.filter((r) => !r.passed).length };
  }
  const report: ConformanceReport = {
    date: new Date().toISOString(),
    node: process.version,
    virtiofsd: virtiofsdVersion(),
    backends: backendNames,
    tests: tests.map((t) => ({ name: t.name, optional: t.optional })),
    results,
    summary,
  };
  const path = values.json ?? join(repoRoot(), "test", "conformance", "results", "latest.json");
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
  process.stderr.write(`conformance: results in ${path}\n`);
  return results.every((r) => r.passed) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`conformance: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(2);
  },
);
