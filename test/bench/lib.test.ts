/**
 * The benchmark plumbing (bench/): statistics, result records and ratio rows,
 * the report files, the table, the VM group's guest script and output
 * parser, and the guest helper run for real on a host directory. Nothing here
 * times anything: figures come from `npm run bench`.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Results, formatTable, machineInfo, median, writeReport, type BenchReport } from "../../bench/lib.js";
import { buildHelper, epochMicros, guestScript, parseGuestOutput, vmSettings } from "../../bench/vm.js";

test("median: odd and even counts, unsorted input left alone, empty input refused", () => {
  const values = [5, 1, 3];
  assert.equal(median(values), 3);
  assert.deepEqual(values, [5, 1, 3]);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([7]), 7);
  assert.throws(() => median([]), RangeError);
});

test("Results: records carry the median, the best sample and every sample, in first-seen order", () => {
  const r = new Results("g");
  r.add("w", "ops/s", "virtiofsd", 100);
  r.add("w", "ops/s", "viofs", 80);
  r.add("w", "ops/s", "virtiofsd", 300);
  r.add("w", "ops/s", "viofs", 95);
  r.add("w", "ops/s", "virtiofsd", 200);
  r.add("w", "ops/s", "viofs", 90);
  assert.deepEqual(r.records(), [
    { group: "g", workload: "w", unit: "ops/s", backend: "virtiofsd", value: 200, best: 300, samples: [100, 300, 200] },
    { group: "g", workload: "w", unit: "ops/s", backend: "viofs", value: 90, best: 95, samples: [80, 95, 90] },
  ]);
  const row = r.ratio("w", "ops/s", "viofs", "virtiofsd", 0.8);
  assert.equal(row.ratio, 90 / 200);
  assert.equal(row.ratioOfBest, 95 / 300);
  assert.equal(row.met, false);
  assert.equal(r.ratio("w", "ops/s", "viofs", "virtiofsd", 0.4).met, true);
  assert.equal(r.ratio("w", "ops/s", "viofs", "virtiofsd", null).met, null, "no goal: information only");
});

test("Results: a side that was not measured gives null values, ratio and verdict", () => {
  const r = new Results("g");
  r.add("w", "MiB/s", "virtiofsd", 10);
  const row = r.ratio("w", "MiB/s", "viofs", "virtiofsd", 1);
  assert.deepEqual(
    { ours: row.ours, peer: row.peer, ratio: row.ratio, ratioOfBest: row.ratioOfBest, met: row.met },
    { ours: null, peer: 10, ratio: null, ratioOfBest: null, met: null },
  );
});

test("Results.pairedRatio: the median of the pairs' ratios, occasions one side lacks left out; a repeated occasion refused", () => {
  const r = new Results("vm");
  // Occasion speeds move more than the subjects differ: ours is 0.9× the peer on each, yet the medians say 1.3×.
  const peer = { a: 100, b: 300, c: 310, d: 320 };
  const ours = { a: 90, b: 270, c: 279, e: 1000 };
  for (const [k, v] of Object.entries(peer)) r.add("w", "ops/s", "virtiofsd", v, k);
  for (const [k, v] of Object.entries(ours)) r.add("w", "ops/s", "viofs", v, k);
  const row = r.pairedRatio("w", "ops/s", "viofs", "virtiofsd", 0.9);
  assert.equal(row.pairs, 3, "d and e have no partner");
  assert.ok(Math.abs(row.ratio! - 0.9) < 1e-9, String(row.ratio));
  assert.equal(row.met, true);
  assert.ok(Math.abs(r.ratio("w", "ops/s", "viofs", "virtiofsd", 0.9).ratio! - 274.5 / 305) < 1e-9, "the plain ratio of medians, for comparison");
  assert.throws(() => r.add("w", "ops/s", "viofs", 1, "a"), /two samples of 'w' for viofs on occasion 'a'/);
  assert.equal(new Results("g").pairedRatio("x", "ops/s", "viofs", "virtiofsd", 1).ratio, null);
});

test("formatTable: a header, a rule and one aligned line per row", () => {
  const r = new Results("vm");
  r.add("write 64 MiB", "MiB/s", "virtiofsd", 100);
  r.add("write 64 MiB", "MiB/s", "viofs", 95);
  r.add("stat", "ops/s", "virtiofsd", 1000);
  const text = formatTable([r.ratio("write 64 MiB", "MiB/s", "viofs", "virtiofsd", 0.9), r.ratio("stat", "ops/s", "viofs", "virtiofsd", 0.9)]);
  const lines = text.split("\n");
  assert.equal(lines.length, 4);
  assert.match(lines[0]!, /^group\s+workload\s+unit\s+ours\s+peer\s+ours\/peer\s+goal\s+met\s+best\/best$/);
  assert.match(lines[1]!, /^-+\s+-+/);
  assert.match(lines[2]!, /viofs 95\.0\s+virtiofsd 100\s+0\.95×\s+≥ 0\.9×\s+yes\s+0\.95×$/);
  assert.match(lines[3]!, /viofs —\s+virtiofsd 1000\s+—\s+≥ 0\.9×$/);
  assert.equal(lines[2]!.indexOf("MiB/s"), lines[3]!.indexOf("ops/s"), "columns line up");
});

test("writeReport: <timestamp>.json and latest.json, the same JSON, no temporary files left", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "viofs-bench-test-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const report: BenchReport = {
    schema: "viofs-bench/1",
    startedAt: "2026-01-02T03:04:05.678Z",
    finishedAt: "2026-01-02T03:05:00.000Z",
    mode: "quick",
    argv: ["--quick"],
    machine: { cpuModel: "cpu", cores: 2, ramBytes: 1, kernel: "k", scratchFs: "ext4 (0xef53)", loadAverage: [0, 0, 0], freePageReporting: { order: 9, reportedKiB: null } },
    loadAverageAtEnd: [0, 0, 0],
    versions: { node: "v20", qemu: "q", virtiofsd: "v", viofs: { commit: "c", describe: "d", dirtyFiles: 0, distBuiltAt: null } },
    settings: {},
    results: [],
    ratios: [],
    notes: [],
    errors: [],
  };
  const path = writeReport(report, join(dir, "results"));
  assert.equal(path, join(dir, "results", "2026-01-02T03-04-05-678Z.json"));
  assert.deepEqual(readdirSync(join(dir, "results")).sort(), ["2026-01-02T03-04-05-678Z.json", "latest.json"]);
  assert.deepEqual(JSON.parse(readFileSync(path, "utf8")), report);
  assert.equal(readFileSync(join(dir, "results", "latest.json"), "utf8"), readFileSync(path, "utf8"));
});

test("machineInfo: the balloon's free page reporting as this machine's sysfs shows it, or null without the module", () => {
  const m = machineInfo(tmpdir());
  const dir = "/sys/module/page_reporting/parameters";
  if (!existsSync(dir)) {
    assert.equal(m.freePageReporting, null);
    return;
  }
  const order = Number(readFileSync(join(dir, "page_reporting_order"), "utf8").trim());
  assert.ok(m.freePageReporting !== null);
  assert.equal(m.freePageReporting.order, order);
  assert.ok(Number.isInteger(order) && order >= 0, `order ${order}`);
  const reported = m.freePageReporting.reportedKiB;
  assert.ok(reported === null || (Number.isInteger(reported) && reported >= 0), `reported ${reported}`);
});

test("epochMicros: $EPOCHREALTIME to integer microseconds; anything else is refused", () => {
  assert.equal(epochMicros("1795630481.043836"), 1795630481043836n);
  assert.equal(epochMicros("10.5"), 10500000n, "a short fraction is padded, not shifted");
  for (const bad of ["", "1795630481", "1.2.3", "-1.000001", "1.0000001", "x.1"]) assert.throws(() => epochMicros(bad), /EPOCHREALTIME/);
});

test("parseGuestOutput: samples of every kind, seconds from the guest's clocks, info lines", () => {
  const out = [
    "info clocksource tsc",
    "sample 2 write 1 100.000000 102.000000 67108864",
    "sample 1 read 1 200.250000 200.750000 67108864",
    "sample 1 fsops 1 create 2000 4000000000",
    "sample 2 shell 1 stat 10.000000 12.500000 2000",
    "done",
    "",
  ].join("\n");
  const { samples, info } = parseGuestOutput(out);
  assert.deepEqual(info, { clocksource: "tsc" });
  assert.deepEqual(samples, [
    { subject: 2, kind: "write", tool: "dd", rep: 1, amount: 67108864, seconds: 2 },
    { subject: 1, kind: "read", tool: "dd", rep: 1, amount: 67108864, seconds: 0.5 },
    { subject: 1, kind: "create", tool: "helper", rep: 1, amount: 2000, seconds: 4 },
    { subject: 2, kind: "stat", tool: "shell", rep: 1, amount: 2000, seconds: 2.5 },
  ]);
});

test("parseGuestOutput: an error line, a missing 'done', a malformed or implausible sample each throw", () => {
  assert.throws(() => parseGuestOutput("error write rc=1\nsample 1 write 1 1.0 2.0 10\ndone\n"), /the guest reported:\nerror write rc=1/);
  assert.throws(() => parseGuestOutput("sample 1 write 1 1.000000 2.000000 10\n"), /did not finish/);
  assert.throws(() => parseGuestOutput("sample 1 fsops 1 rename 10 5\ndone\n"), /malformed/);
  assert.throws(() => parseGuestOutput("sample write 1 1.000000 2.000000 10\ndone\n"), /malformed/, "a line without its subject");
  assert.throws(() => parseGuestOutput("sample 1 write 1 2.000000 1.000000 10\ndone\n"), /implausible/);
  assert.throws(() => parseGuestOutput("sample 1 bogus 1\ndone\n"), /unknown sample/);
});

test("guestScript: sizes, counts and repetitions from the settings; the helper and shell variants only when asked", () => {
  const s = { ...vmSettings(false), sizeMiB: 8, files: 50, reps: 2, shellLoops: false };
  const script = guestScript(s, true);
  assert.match(script, /dd if=\/dev\/zero of="\$B\/big" bs=1M count=8 conv=fsync/);
  assert.match(script, /^N=50$/m);
  assert.match(script, /for rep in \$\(seq 1 2\); do/);
  assert.match(script, /FSOPS=\/tmp\/fsops/);
  assert.doesNotMatch(script, /sample \$x shell/);
  assert.doesNotMatch(script, /mount -t virtiofs/, "one subject: the init's /mnt only");
  const two = guestScript(s, true, ["t-one", "t-two"]);
  assert.match(two, /^mkdir -p \/m2 && mount -t virtiofs 't-two' \/m2 /m);
  assert.match(two, /^FWD="1 2"$/m);
  assert.match(two, /^REV="2 1"$/m);
  assert.doesNotMatch(two, /umount/, "the guest's poweroff ends the further mounts");
  assert.match(guestScript({ ...s, shellLoops: true }, false), /sample \$x shell \$rep unlink/);
  assert.doesNotMatch(guestScript(s, false), /\/tmp\/fsops/);
  // Every timed phase starts from dropped guest caches.
  assert.equal(script.match(/drop\b/g)!.length >= 4, true);
});

test("the guest helper, built for real, creates, stats and unlinks files on a host directory", (t) => {
  const built = buildHelper();
  if (built.path === null) {
    // No compiler: the VM group then falls back to shell loops and says so.
    assert.ok(built.why.length > 0);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "viofs-fsops-test-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const run = (op: string, count = 25): string[] => execFileSync(built.path, [op, dir, String(count)], { encoding: "utf8" }).trim().split(" ");
  const created = run("create");
  assert.deepEqual(created.slice(0, 2), ["create", "25"]);
  assert.ok(Number(created[2]) > 0, "elapsed nanoseconds");
  assert.equal(readdirSync(dir).length, 25);
  assert.ok(existsSync(join(dir, "f00000")) && existsSync(join(dir, "f00024")));
  assert.deepEqual(run("stat").slice(0, 2), ["stat", "25"]);
  assert.deepEqual(run("unlink").slice(0, 2), ["unlink", "25"]);
  assert.deepEqual(readdirSync(dir), []);
  // A failure is reported with the path and errno text, exit status 1.
  assert.throws(
    () => execFileSync(built.path, ["stat", dir, "1"], { encoding: "utf8", stdio: "pipe" }),
    (e: Error & { status?: number; stderr?: string }) => e.status === 1 && /fsops: stat .*f00000: No such file or directory/.test(e.stderr ?? ""),
  );
});
