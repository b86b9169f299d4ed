/**
 * A daemon's wake-to-call time, from the kernel's system-call tracepoints:
 * for each thread, the time from its return from a wait for fds (poll,
 * ppoll, epoll_wait, epoll_pwait, with something ready) to that thread's
 * next 8-byte write(2) (the daemon signalling a call eventfd). With a guest
 * that sends one request at a time (a Linux guest under TCG does), that is
 * the time the daemon takes to serve a request once the kick has woken it:
 * its own share of every request's round trip, without the guest's or
 * QEMU's, measured the same way for C virtiofsd (ppoll, then a read of the
 * kick) and for viofs serve (poll, then a read of the kick, or Node's event
 * loop), and for any daemon whose wait needs no read of the kick.
 *
 * `perf record` on the daemon's process does the tracing (it needs perf and
 * tracefs, as root); without them the figure is simply absent.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";

export interface ServiceTimes {
  /** Wake-to-call intervals seen. */
  samples: number;
  p50Us: number;
  p90Us: number;
}

const WAITS = ["poll", "ppoll", "epoll_wait", "epoll_pwait"];
const EVENTS = [...WAITS.map((w) => `syscalls:sys_exit_${w}`), "syscalls:sys_enter_write"];
/** One of the {@link EVENTS} as `perf script -F tid,time,event,trace` prints it: tid, seconds, which, arguments. */
const EVENT_LINE = new RegExp(`^\\s*(\\d+)\\s+(\\d+\\.\\d+):\\s+syscalls:sys_(exit_(?:${WAITS.join("|")})|enter_write):\\s*(.*)$`);

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
 * The wake-to-call figure from `perf script -F tid,time,event,trace` output
 * of the {@link EVENTS}: one line per event, `TID TIME: EVENT: ARGS`. A
 * wait's exit counts when it returned a positive count (ready fds; not 0, the
 * time passed, nor an error); a thread's later wake-ups before its call move
 * the start (the last one woke it for the request).
 */
export function parseServiceTimes(text: string): ServiceTimes {
  const wokeAt = new Map<number, number>();
  const intervals: number[] = [];
  for (const line of text.split("\n")) {
    const m = EVENT_LINE.exec(line);
    if (m === null) continue;
    const tid = Number(m[1]);
    const seconds = Number(m[2]);
    const args = m[4]!.trim();
    if (m[3] !== "enter_write") {
      if (readyCount(args) > 0n) wokeAt.set(tid, seconds);
      continue;
    }
    const woke = wokeAt.get(tid);
    if (woke === undefined || !/count: 0x0*8\b/.test(args)) continue;
    intervals.push((seconds - woke) * 1e6);
    wokeAt.delete(tid);
  }
  intervals.sort((a, b) => a - b);
  const at = (q: number): number => (intervals.length === 0 ? 0 : intervals[Math.min(intervals.length - 1, Math.floor(intervals.length * q))]!);
  return { samples: intervals.length, p50Us: at(0.5), p90Us: at(0.9) };
}

/** A system call's return value as perf prints it ("0x1"; an error as a 64-bit two's complement), negative as -1n. */
function readyCount(text: string): bigint {
  if (!/^0x[0-9a-f]{1,16}$/i.test(text)) return -1n;
  return BigInt.asIntN(64, BigInt(text));
}
