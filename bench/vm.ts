/**
 * Group "vm" (issue #3): a real Linux guest (test/vm's image, QEMU under TCG)
 * with a virtiofs device for each daemon, QEMU's C virtiofsd and `viofs
 * serve`, each serving a share of its own, in one boot. The guest runs every
 * workload on each mount in turn, the order alternating between workloads
 * and between repetitions (and which daemon's share is /mnt between boots):
 *
 * - write: `dd if=/dev/zero bs=1M count=<size> conv=fsync` into a new file;
 * - read: the same file with `dd bs=1M` after `sync; echo 3 > drop_caches`;
 * - create, stat, unlink of <files> files, each phase after dropping the
 *   guest's caches (so every stat is a LOOKUP and every unlink a
 *   LOOKUP + UNLINK), by a small static helper (bench/guest/fsops.c) that
 *   makes one system call per operation and times itself;
 * - the same three phases as busybox shell loops (`: >f`, `[ -e f ]`, `rm f`:
 *   builtins or NOFORK applets, so no fork per file), to show how much of a
 *   shell loop is the emulated CPU rather than the file system.
 *
 * One boot for both daemons, not a boot each: the guest's speed under TCG
 * differs from boot to boot and the host's from minute to minute, more than
 * the daemons differ; side by side in one boot, a pair of passes seconds
 * apart sees the same guest and the same host.
 *
 * Times are taken inside the guest ($EPOCHREALTIME, microseconds; the helper
 * uses CLOCK_MONOTONIC). Each workload runs `reps` times on each daemon in a
 * boot; the figure is the median, over every boot and pass, of viofs's
 * pass ÷ virtiofsd's same pass (Results.pairedRatio). The bar: viofs ≥ 0.9×
 * virtiofsd on every figure.
 *
 * Where perf can trace system calls, each boot also reports the daemon's
 * wake-to-call time (service-time.ts): how long it takes to serve a request
 * once woken, the daemon's own share of the guest's round trips.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { defaultCacheDir, repoRoot, buildGuestImage } from "../test/vm/image.js";
import { runGuest, type GuestRun } from "../test/vm/qemu.js";
import {
  MiB,
  Results,
  commandLineOf,
  formatValue,
  median,
  scratchDir,
  sleepMs,
  startBackend,
  type BackendHandle,
  type BackendName,
  type BenchContext,
  type BenchGroup,
  type GroupResult,
  type RatioRow,
  workerPid,
} from "./lib.js";
import { ServiceTrace, perfAvailable, type ServiceTimes } from "./service-time.js";

const GOAL = 0.9;
/** How long the guest may take to unmount and power off after its script. */
const SHUTDOWN_GRACE_MS = 30_000;
const TAG = "viofs-bench";
/** Where the helper sits in the share; the guest copies it to its own /tmp before timing anything. */
const HELPER_DIR = ".viofs-bench-bin";

export interface VmSettings {
  sizeMiB: number;
  files: number;
  reps: number;
  /** Also run the shell-loop variant of the metadata workload. */
  shellLoops: boolean;
  /**
   * Files of the shell-loop variant. Fewer than `files` in full mode: C
   * virtiofsd on the machine of 2026-11-28 ran out of fds (EMFILE at the
   * 19,965th create, its limit 20,000) in both full runs with 2,000 (five
   * reps of 2,000 helper creates and 2,000 shell creates a boot), as if it held
   * an fd for every file created in the boot.
   */
  shellFiles: number;
  memMiB: number;
  smp: number;
  timeoutMs: number;
}

export function vmSettings(quick: boolean): VmSettings {
  return quick
    ? { sizeMiB: 64, files: 2000, reps: 1, shellLoops: false, shellFiles: 1000, memMiB: 512, smp: 1, timeoutMs: 300_000 }
    : { sizeMiB: 64, files: 2000, reps: 5, shellLoops: true, shellFiles: 1000, memMiB: 512, smp: 1, timeoutMs: 900_000 };
}

/** Workload names, as they appear in records and ratio rows. */
function names(s: VmSettings): Record<"write" | "read" | "create" | "stat" | "unlink" | "meta" | "shCreate" | "shStat" | "shUnlink" | "shMeta", string> {
  const n = s.files;
  return {
    write: `write ${s.sizeMiB} MiB (dd bs=1M conv=fsync)`,
    read: `read ${s.sizeMiB} MiB, cold (dd bs=1M)`,
    create: `create ${n} files (helper)`,
    stat: `stat ${n} files, cold (helper)`,
    unlink: `unlink ${n} files, cold (helper)`,
    meta: `create+stat+unlink ${n} files (helper)`,
    shCreate: `create ${s.shellFiles} files (shell loop)`,
    shStat: `stat ${s.shellFiles} files, cold (shell loop)`,
    shUnlink: `unlink ${s.shellFiles} files, cold (shell loop)`,
    shMeta: `create+stat+unlink ${s.shellFiles} files (shell loop)`,
  };
}

/**
 * The busybox sh script the guest runs. Subject 1's share is the guest's
 * /mnt (the init mounts it); the script mounts each further tag in `tags`
 * (subjects 2, 3, …) at /m2, /m3, … Every workload runs on every subject
 * back to back, in an order that alternates between workloads and between
 * repetitions, so that no subject always goes first. Every timed line
 * starts with "sample <subject> ".
 */
export function guestScript(s: VmSettings, helper: boolean, tags: readonly string[] = ["one"]): string {
  const n = tags.length;
  const all = Array.from({ length: n }, (_, i) => i + 1);
  const dirs = all.map((x) => `D${x}=${x === 1 ? "/mnt" : `/m${x}`}/viofs-bench`);
  const mounts = tags.slice(1).map((tag, i) => `mkdir -p /m${i + 2} && mount -t virtiofs '${tag}' /m${i + 2} || { echo "error mount ${tag}"; exit 1; }`);
  /** A loop over the subjects, each with its bench directory in $B, in the order of workload `j`. */
  const each = (j: number, body: string[]): string[] => [`  for x in $(ord ${j}); do at $x`, ...body.map((l) => `    ${l}`), "  done"];
  const lines = [
    "set -u",
    "export LC_ALL=C",
    ...mounts,
    ...dirs,
    // at X: subject X's bench directory into $B.
    `at() { case $1 in ${all.map((x) => `${x}) B=$D${x};;`).join(" ")} esac; }`,
    `FWD="${all.join(" ")}"`,
    `REV="${[...all].reverse().join(" ")}"`,
    // Workload j of repetition rep runs forwards or backwards; rep is the loop's variable.
    'ord() { if [ $(( (rep + $1) % 2 )) = 1 ]; then echo "$REV"; else echo "$FWD"; fi; }',
    'for x in $FWD; do at $x; rm -rf "$B"; mkdir "$B" || exit 1; done',
    "FSOPS=",
    helper ? `cp /mnt/${HELPER_DIR}/fsops /tmp/fsops && chmod 755 /tmp/fsops && FSOPS=/tmp/fsops` : ":",
    "drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }",
    'echo "info clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"',
    'echo "info guest_kernel $(uname -r)"',
    `N=${s.files}`,
    `SN=${s.shellFiles}`,
    `for rep in $(seq 1 ${s.reps}); do`,
    ...each(0, [
      'rm -f "$B/big"; drop',
      "s=$EPOCHREALTIME",
      `dd if=/dev/zero of="$B/big" bs=1M count=${s.sizeMiB} conv=fsync 2>/dev/null || echo "error write rc=$?"`,
      "e=$EPOCHREALTIME",
      'echo "sample $x write $rep $s $e $(stat -c %s "$B/big")"',
    ]),
    ...each(1, [
      "drop",
      "s=$EPOCHREALTIME",
      'dd if="$B/big" of=/dev/null bs=1M 2>/dev/null || echo "error read rc=$?"',
      "e=$EPOCHREALTIME",
      'echo "sample $x read $rep $s $e $(stat -c %s "$B/big")"',
    ]),
    '  if [ -n "$FSOPS" ]; then',
    '    for x in $FWD; do at $x; mkdir "$B/m"; done',
    "    j=2",
    "    for op in create stat unlink; do",
    '      for x in $(ord $j); do at $x',
    "        drop",
    '        out=$("$FSOPS" $op "$B/m" $N) || echo "error fsops $op"',
    '        echo "sample $x fsops $rep $out"',
    "      done",
    "      j=$((j + 1))",
    "    done",
    '    for x in $FWD; do at $x; rmdir "$B/m" || echo "error rmdir m"; done',
    "  fi",
  ];
  if (s.shellLoops) {
    const loop = (j: number, op: string, body: string): string[] =>
      each(j, [
        'cd "$B/s" || exit 1',
        "drop; s=$EPOCHREALTIME; i=0",
        `while [ $i -lt $SN ]; do ${body}; i=$((i + 1)); done`,
        `e=$EPOCHREALTIME; echo "sample $x shell $rep ${op} $s $e $SN"`,
      ]);
    lines.push(
      '  for x in $FWD; do at $x; mkdir "$B/s"; done',
      ...loop(5, "create", ': >"f$i" || echo "error create f$i"'),
      ...loop(6, "stat", '[ -e "f$i" ] || echo "error stat f$i"'),
      ...loop(7, "unlink", 'rm "f$i" || echo "error unlink f$i"'),
      '  cd /; for x in $FWD; do at $x; rmdir "$B/s" || echo "error rmdir s"; done',
    );
  }
  lines.push(
    "done",
    'cd /; for x in $FWD; do at $x; rm -rf "$B"; done',
    // /m2, … stay mounted: the init unmounts /mnt and powers off, and each daemon sees QEMU go. An unmount
    // that hangs (C virtiofsd's device did, in 3 of about 10 boots of 2026-11-27) would hold the script past
    // its end, where the run's shutdown grace no longer covers it.
    "echo done",
  );
  return `${lines.join("\n")}\n`;
}

/** Microseconds since the epoch from an $EPOCHREALTIME value ("1795630481.043836"). */
export function epochMicros(text: string): bigint {
  const m = /^(\d+)\.(\d{1,6})$/.exec(text);
  if (!m) throw new Error(`bench/vm: not an $EPOCHREALTIME value: '${text}'`);
  return BigInt(m[1]!) * 1_000_000n + BigInt(m[2]!.padEnd(6, "0"));
}

/** One timed run inside the guest: on which subject (1-based), what was done, how much, in how many seconds. */
export interface GuestSample {
  subject: number;
  kind: "write" | "read" | "create" | "stat" | "unlink";
  tool: "dd" | "helper" | "shell";
  rep: number;
  amount: number;
  seconds: number;
}

/** Parses the script's output; throws on an error line, a malformed sample or a missing "done". */
export function parseGuestOutput(output: string): { samples: GuestSample[]; info: Record<string, string> } {
  const samples: GuestSample[] = [];
  const info: Record<string, string> = {};
  const lines = output.split("\n").filter((l) => l !== "");
  const errors = lines.filter((l) => !l.startsWith("sample ") && !l.startsWith("info ") && l !== "done");
  if (errors.length > 0) throw new Error(`bench/vm: the guest reported:\n${errors.slice(0, 20).join("\n")}`);
  if (lines.at(-1) !== "done") throw new Error(`bench/vm: the guest script did not finish:\n${lines.slice(-10).join("\n")}`);
  const seconds = (s: string, e: string): number => Number(epochMicros(e) - epochMicros(s)) / 1e6;
  for (const line of lines) {
    const f = line.split(" ");
    if (f[0] === "info") {
      info[f[1]!] = f.slice(2).join(" ");
      continue;
    }
    if (f[0] !== "sample") continue;
    const subject = Number(f[1]);
    if (!Number.isInteger(subject) || subject < 1) throw new Error(`bench/vm: malformed line '${line}'`);
    const rep = Number(f[3]);
    if (f[2] === "write" || f[2] === "read") {
      // sample <subject> write|read <rep> <start> <end> <bytes>
      if (f.length !== 7) throw new Error(`bench/vm: malformed line '${line}'`);
      samples.push({ subject, kind: f[2], tool: "dd", rep, amount: Number(f[6]), seconds: seconds(f[4]!, f[5]!) });
    } else if (f[2] === "fsops") {
      // sample <subject> fsops <rep> <op> <count> <ns>
      const op = f[4];
      if (f.length !== 7 || (op !== "create" && op !== "stat" && op !== "unlink")) throw new Error(`bench/vm: malformed line '${line}'`);
      samples.push({ subject, kind: op, tool: "helper", rep, amount: Number(f[5]), seconds: Number(f[6]) / 1e9 });
    } else if (f[2] === "shell") {
      // sample <subject> shell <rep> <op> <start> <end> <count>
      const op = f[4];
      if (f.length !== 8 || (op !== "create" && op !== "stat" && op !== "unlink")) throw new Error(`bench/vm: malformed line '${line}'`);
      samples.push({ subject, kind: op, tool: "shell", rep, amount: Number(f[7]), seconds: seconds(f[5]!, f[6]!) });
    } else {
      throw new Error(`bench/vm: unknown sample '${line}'`);
    }
  }
  for (const s of samples) {
    if (!Number.isFinite(s.seconds) || s.seconds <= 0 || !Number.isFinite(s.amount) || s.amount <= 0) {
      throw new Error(`bench/vm: implausible sample ${JSON.stringify(s)}`);
    }
  }
  return { samples, info };
}

/**
 * The helper, built static with the host's gcc and cached by the hash of its
 * source in .cache/bench/; null (and the reason) when there is no compiler.
 */
export function buildHelper(): { path: string } | { path: null; why: string } {
  const source = join(repoRoot(), "bench", "guest", "fsops.c");
  const hash = createHash("sha256").update(readFileSync(source)).digest("hex").slice(0, 16);
  const dir = join(defaultCacheDir(), "..", "bench");
  const path = join(dir, `fsops-${hash}`);
  if (existsSync(path)) return { path };
  mkdirSync(dir, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  const r = spawnSync("gcc", ["-static", "-O2", "-s", "-o", tmp, source], { encoding: "utf8" });
  if (r.error || r.status !== 0) return { path: null, why: r.error?.message ?? r.stderr.trim() };
  renameSync(tmp, path);
  return { path };
}

/** QEMU's argv names per-run temporary files; keep their shape, not their random names. */
function scrubTmp(arg: string): string {
  return arg.replace(/\/tmp\/[^,\s]*?(viofs-[A-Za-z-]*?)[A-Za-z0-9]{6}(?=\/)/g, "$TMP/$1XXXXXX");
}

/** One subject of a boot: the daemon serving one of the guest's devices. */
interface BootSubject {
  backend: BackendName;
  commandLine: string[];
  samples: GuestSample[];
  /** The daemon's wake-to-call time over the whole guest run (service-time.ts), when traced. */
  service: ServiceTimes | null;
}

interface BootOutcome {
  subjects: BootSubject[];
  info: Record<string, string>;
  guest: GuestRun;
}

/** What viofs serve logs once its warm-up is over and it waits for QEMU. */
const READY_LINE = "waiting for a vhost-user connection";

/** Waits (up to 30 s) for a viofs serve's warm-up to end, so that the trace sees only the guest's requests. */
async function warmedUp(handle: BackendHandle): Promise<void> {
  const deadline = performance.now() + 30_000;
  while (!handle.log().includes(READY_LINE) && performance.now() < deadline) await sleepMs(20);
}

/**
 * One boot of the guest with a virtiofs device per backend, each daemon
 * serving a share of its own; `order[0]`'s is the guest's /mnt (and holds
 * the helper).
 */
async function bootOnce(ctx: BenchContext, order: readonly BackendName[], s: VmSettings, helper: string | null, trace: boolean): Promise<BootOutcome> {
  const dir = scratchDir(ctx.tmpRoot, "vm");
  const handles: BackendHandle[] = [];
  const commandLines: string[][] = [];
  const tracers: Array<ServiceTrace | null> = [];
  try {
    const died = new AbortController();
    for (const [i, backend] of order.entries()) {
      const share = join(dir.path, `share-${backend}`);
      mkdirSync(share);
      if (i === 0 && helper !== null) {
        mkdirSync(join(share, HELPER_DIR));
        copyFileSync(helper, join(share, HELPER_DIR, "fsops"));
        chmodSync(join(share, HELPER_DIR, "fsops"), 0o755);
      }
      const handle = await startBackend(backend, share, join(dir.path, `${backend}.sock`));
      handles.push(handle);
      commandLines.push(commandLineOf(handle).map((a) => a.replaceAll(dir.path, "$DIR")));
      void handle.exited.then((x) => died.abort(new Error(`${backend} exited (${x.signal ?? `status ${x.code}`}) while the guest ran`)));
    }
    for (const [i, handle] of handles.entries()) {
      let tracer: ServiceTrace | null = null;
      if (trace) {
        if (order[i] !== "virtiofsd") await warmedUp(handle);
        tracer = new ServiceTrace(workerPid(handle.pid), join(dir.path, `${order[i]}.perf`));
        await tracer.started();
      }
      tracers.push(tracer);
    }
    const tags = order.map((b) => `${TAG}-${b}`);
    let guest: GuestRun;
    try {
      guest = await runGuest({
        socketPath: handles[0]!.socketPath,
        tag: tags[0]!,
        moreDevices: handles.slice(1).map((h, i) => ({ socketPath: h.socketPath, tag: tags[i + 1]! })),
        script: guestScript(s, helper !== null, tags),
        timeoutMs: s.timeoutMs,
        memMiB: s.memMiB,
        smp: s.smp,
        signal: died.signal,
        // The figures are in once the script ends; a guest stuck in its unmount afterwards costs no run.
        shutdownGraceMs: SHUTDOWN_GRACE_MS,
      });
    } catch (e) {
      const tails = handles.map((h, i) => `--- ${order[i]} output (tail):\n${h.log().split("\n").slice(-20).join("\n")}`);
      throw new Error(`${e instanceof Error ? e.message : String(e)}\n${tails.join("\n")}`, { cause: e });
    }
    const services = await Promise.all(tracers.map((t) => t?.stop() ?? Promise.resolve(null)));
    if (guest.exitCode !== 0) throw new Error(`bench/vm: the guest script exited ${guest.exitCode} against ${order.join(" and ")}:\n${guest.output}`);
    const { samples, info } = parseGuestOutput(guest.output);
    const subjects = order.map((backend, i) => ({
      backend,
      commandLine: commandLines[i]!,
      samples: samples.filter((x) => x.subject === i + 1),
      service: services[i] ?? null,
    }));
    return { subjects, info, guest };
  } finally {
    // Stopped already when the guest ran its course (stop() answers once).
    await Promise.all(tracers.map((t) => t?.stop()));
    // Both daemons exit by themselves once QEMU has gone; stop() waits for that, then signals.
    await Promise.all(handles.map((h) => h.stop()));
    dir.cleanup();
  }
}

export const vmGroup: BenchGroup = {
  name: "vm",
  description: "Linux guest under QEMU TCG on a virtiofs mount: dd write/read, create/stat/unlink (issue #3)",
  async run(ctx: BenchContext): Promise<GroupResult> {
    const s = vmSettings(ctx.quick);
    const w = names(s);
    const results = new Results("vm");
    const notes: string[] = [];
    buildGuestImage(); // fail early, before any daemon starts, when the guest kernel is missing
    const built = buildHelper();
    const helper = built.path;
    if (built.path === null) notes.push(`vm: no static helper (gcc failed: ${built.why}); metadata figures come from shell loops only`);
    const trace = perfAvailable();
    if (!trace) notes.push("vm: perf cannot trace system calls here; no wake-to-call times");
    const service = new Map<BackendName, number[]>();

    const boots: Array<Record<string, unknown>> = [];
    for (let round = 0; round < ctx.rounds; round++) {
      // Which daemon's share is the guest's /mnt (and whose device the guest finds first) alternates between boots.
      const order = round % 2 === 0 ? ctx.backends : [...ctx.backends].reverse();
      const which = ctx.rounds > 1 ? ` (boot ${round + 1} of ${ctx.rounds})` : "";
      ctx.progress(`vm: booting the guest with a device for each of ${order.join(", ")}${which}, ${s.reps} rep${s.reps > 1 ? "s" : ""} of every workload on each…`);
      const out = await bootOnce(ctx, order, s, helper, trace);
      if (out.guest.shutdownHung) {
        notes.push(`vm: in boot ${round + 1}, the guest did not unmount and power off within ${SHUTDOWN_GRACE_MS / 1000} s after the workload; QEMU was killed, the figures kept`);
      }
      boots.push({
        round: round + 1,
        backends: out.subjects.map((x) => ({ backend: x.backend, wakeToCall: x.service, commandLine: x.commandLine })),
        ...out.guest.timings,
        info: out.info,
        qemuCommandLine: out.guest.commandLine.map(scrubTmp),
      });
      for (const { backend, samples, service: times } of out.subjects) {
        if (times !== null) service.set(backend, [...(service.get(backend) ?? []), times.p50Us]);
        // This boot's figures, per workload, in the order of `w`.
        const figures = new Map<string, { unit: string; values: number[] }>();
        const add = (name: string, unit: string, value: number, rep: number): void => {
          const f = figures.get(name) ?? { unit, values: [] };
          f.values.push(value);
          figures.set(name, f);
          // Pass `rep` of this boot, on every daemon: one occasion, the passes seconds apart.
          results.add(name, unit, backend, value, `boot ${round + 1} pass ${rep}`);
        };
        const phase = new Map<string, number>();
        for (const x of samples) {
          if (x.tool === "dd") {
            add(x.kind === "write" ? w.write : w.read, "MiB/s", x.amount / MiB / x.seconds, x.rep);
            continue;
          }
          const shell = x.tool === "shell";
          const name = { create: shell ? w.shCreate : w.create, stat: shell ? w.shStat : w.stat, unlink: shell ? w.shUnlink : w.unlink }[x.kind as "create" | "stat" | "unlink"];
          add(name, "ops/s", x.amount / x.seconds, x.rep);
          phase.set(`${x.tool} ${x.kind} ${x.rep}`, x.seconds);
        }
        // The whole metadata cycle per rep: 3 × files operations over the sum of the three phases.
        for (let rep = 1; rep <= s.reps; rep++) {
          for (const [tool, name] of [["helper", w.meta], ["shell", w.shMeta]] as const) {
            const t = ["create", "stat", "unlink"].map((k) => phase.get(`${tool} ${k} ${rep}`));
            const files = tool === "shell" ? s.shellFiles : s.files;
            if (t.every((x) => x !== undefined)) add(name, "ops/s", (3 * files) / t.reduce((a, b) => a! + b!, 0)!, rep);
          }
        }
        for (const name of Object.values(w)) {
          const f = figures.get(name);
          if (f) ctx.progress(`vm: ${backend}: ${name}: ${formatValue(median(f.values))} ${f.unit}`);
        }
        if (times !== null) ctx.progress(`vm: ${backend}: kick to call ${times.p50Us.toFixed(0)} µs median, ${times.p90Us.toFixed(0)} µs at p90 (${times.samples} requests)`);
      }
      ctx.progress(`vm: boot ${(out.guest.timings.bootMs / 1000).toFixed(1)} s, script ${(out.guest.timings.scriptMs / 1000).toFixed(1)} s`);
    }

    // Lower is better here, unlike every figure above: a note, not a ratio row.
    for (const [backend, medians] of service) {
      notes.push(`vm: ${backend}'s wake-to-call time (each boot's median over the whole guest run, service-time.ts): ${medians.map((m) => `${m.toFixed(0)} µs`).join(", ")}`);
    }
    const ratios: RatioRow[] = [];
    for (const [key, name] of Object.entries(w)) {
      const unit = key === "write" || key === "read" ? "MiB/s" : "ops/s";
      if (results.value(name, "virtiofsd") === undefined && results.value(name, "viofs") === undefined) continue;
      // The shell-loop figures mostly time the emulated CPU; kept for information.
      ratios.push(results.pairedRatio(name, unit, "viofs", "virtiofsd", key.startsWith("sh") ? null : GOAL));
    }
    notes.push(
      "vm: ours/peer is the median of the pairs' ratios: each pass of a workload on one daemon against the same pass on the other, seconds apart in the same boot (ours and peer are each daemon's median, for information).",
      "vm: times are taken inside the guest; caches are dropped in the guest before every timed phase; the host page cache is left alone (same for both backends).",
      s.shellLoops
        ? "vm: shell-loop figures are dominated by busybox sh interpreting under TCG (compare them with the helper rows); only the helper rows are held to the bar."
        : "vm: the shell-loop variant runs in full mode only.",
    );
    return {
      records: results.records(),
      ratios,
      settings: { ...s, rounds: ctx.rounds, layout: "one boot per round, a device per daemon, every workload on each in alternating order", tag: TAG, accel: "tcg", helper: helper !== null ? "bench/guest/fsops.c (gcc -static -O2)" : "none", boots },
      notes,
    };
  },
};
