/**
 * A daemon's kick-to-call time, from the kernel's system-call tracepoints:
 * for each thread, the time from a read(2) that returned 8 bytes (the
 * daemon taking an eventfd kick) to that thread's next 8-byte write(2) (the
 * daemon signalling the call eventfd). With a guest that sends one request
 * at a time (a Linux guest under TCG does), that is the time the daemon
 * takes to serve a request once it is woken: its own share of every
 * request's round trip, without the guest's or QEMU's, measured the same way
 * for C virtiofsd and for viofs serve.
 *
 * `perf record` on the daemon's process does the tracing (it needs perf and
 * tracefs, as root); without them the figure is simply absent.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";

export interface ServiceTimes {
  /** Kick-to-call intervals seen. */
  samples: number;
  p50Us: number;
  p90Us: number;
}

const EVENTS = ["syscalls:sys_exit_read", "syscalls:sys_enter_write"];

/** Whether `perf` can record system-call tracepoints here (a dry run of the events). */
export function perfAvailable(): boolean {
  const r = spawnSync("perf", ["record", "-q", "-e", EVENTS.join(","), "-o", "/dev/null", "--", "true"], { stdio: "ignore" });
  return r.error === undefined && r.status === 0;
}

/** A running trace of one process; {@link stop} ends it and reads the figure. */
export class ServiceTrace {
  readonly #perf: ChildProcess;
  readonly #file: string;
  readonly #started: Promise<void>;
  /** Settles when perf has exited (or could not start), whenever that is. */
  readonly #exited: Promise<void>;
  #stopped: Promise<ServiceTimes | null> | null = null;

  constructor(pid: number, file: string) {
    this.#file = file;
    this.#perf = spawn("perf", ["record", "-q", "-e", EVENTS.join(","), "-p", String(pid), "-o", file], { stdio: "ignore" });
    this.#exited = new Promise((resolve) => {
      this.#perf.once("exit", () => resolve());
      // A perf that cannot start leaves no trace: stop() then finds nothing usable.
      this.#perf.once("error", () => resolve());
    });
    // perf attaches within a few ms; what the daemon does before that is not counted.
    this.#started = new Promise((resolve) => setTimeout(resolve, 300));
  }

  /** Resolves once tracing has had time to attach. */
  started(): Promise<void> {
    return this.#started;
  }

  /** Stops tracing; the figure, or null when perf recorded nothing usable. A second call answers the first's figure. */
  stop(): Promise<ServiceTimes | null> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<ServiceTimes | null> {
    if (this.#perf.exitCode === null && this.#perf.signalCode === null) this.#perf.kill("SIGINT");
    await this.#exited;
    try {
      const r = spawnSync("perf", ["script", "-i", this.#file, "-F", "tid,time,event,trace"], { encoding: "utf8", maxBuffer: 1 << 30 });
      if (r.error || r.status !== 0) return null;
      const times = parseServiceTimes(r.stdout);
      return times.samples > 0 ? times : null;
    } finally {
      rmSync(this.#file, { force: true });
    }
  }
}

/**
 * The kick-to-call figure from `perf script -F tid,time,event,trace` output
 * of the {@link EVENTS}: one line per event, `TID TIME: EVENT: ARGS`.
 */
export function parseServiceTimes(text: string): ServiceTimes {
  const kickAt = new Map<number, number>();
  const intervals: number[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s*(\d+)\s+(\d+\.\d+):\s+syscalls:(sys_exit_read|sys_enter_write):\s*(.*)$/.exec(line);
    if (m === null) continue;
    const tid = Number(m[1]);
    const seconds = Number(m[2]);
    const args = m[4]!;
    if (m[3] === "sys_exit_read") {
      if (/^0x0*8$/.test(args.trim())) kickAt.set(tid, seconds);
      continue;
    }
    const kick = kickAt.get(tid);
    if (kick === undefined || !/count: 0x0*8\b/.test(args)) continue;
    intervals.push((seconds - kick) * 1e6);
    kickAt.delete(tid);
  }
  intervals.sort((a, b) => a - b);
  const at = (q: number): number => (intervals.length === 0 ? 0 : intervals[Math.min(intervals.length - 1, Math.floor(intervals.length * q))]!);
  return { samples: intervals.length, p50Us: at(0.5), p90Us: at(0.9) };
}
