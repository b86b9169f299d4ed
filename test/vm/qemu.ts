/**
 * Boots the test guest (image.ts) in QEMU under TCG with a
 * vhost-user-fs-pci device (or more), runs a shell script on the virtiofs mount, and
 * returns what the script printed.
 *
 * KVM is not used: on the machines this runs on, QEMU with KVM hangs. Guest
 * RAM is a shared memfd, as vhost-user requires (the backend maps it).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildGuestImage, MARKERS, runArchive, type GuestImage } from "./image.js";

export const QEMU = "qemu-system-x86_64";

/** A vhost-user-fs-pci device: its backend's listening socket and its virtiofs tag. */
export interface FsDevice {
  socketPath: string;
  tag: string;
}

export interface RunGuestOptions {
  /** The vhost-user-fs backend's listening socket; it must exist before the call. */
  socketPath: string;
  /** The device's virtiofs tag (1-36 bytes), which the guest mounts at /mnt. */
  tag: string;
  /** Mount this tag instead of `tag` (to test the failure report). */
  mountTag?: string;
  /**
   * More vhost-user-fs-pci devices, each with its own backend socket and
   * tag. The guest does not mount them: the script does, where it wants.
   */
  moreDevices?: readonly FsDevice[];
  /** A busybox `sh` script, run with /mnt as the working directory; stdout and stderr are collected. */
  script: string;
  /** Kill QEMU and reject when the whole run (boot included) takes longer. */
  timeoutMs: number;
  /** Guest RAM, also the size of the shared memfd. Default 512. */
  memMiB?: number;
  /** The device's virtqueue size (vhost-user-fs-pci `queue-size`); QEMU's default when absent. */
  queueSize?: number;
  /** Guest CPUs. Default 1. */
  smp?: number;
  /** Extra kernel command-line words. */
  append?: string[];
  /**
   * Let the guest reboot (QEMU without `-no-reboot`): the script may run
   * `reboot -f`, and the init runs it again on the next boot. The output is
   * the last boot's.
   */
  reboot?: boolean;
  /** A prebuilt image; default {@link buildGuestImage}(). */
  image?: GuestImage;
  /**
   * Aborting kills QEMU and rejects, unless the script has already finished.
   * The harness aborts when the backend dies, so that a crash fails the run
   * at once instead of leaving the guest waiting for a reply until the timeout.
   */
  signal?: AbortSignal;
  /**
   * After the script's end marker, wait at most this long for the guest to
   * unmount and power off, then kill QEMU and resolve with the script's
   * output all the same (`shutdownHung` set). For a benchmark, whose figures
   * are taken by then; without it (the default) a hang there fails the run
   * at `timeoutMs`.
   */
  shutdownGraceMs?: number;
}

export interface GuestRun {
  /** What the script wrote, "\n" line ends (the console's "\r" removed). */
  output: string;
  /** The script's exit status. */
  exitCode: number;
  /** The whole serial console, "\r" and terminal escapes removed. */
  console: string;
  /** The guest's dmesg, taken after unmounting ("" when the shutdown hung). */
  dmesg: string;
  /** The guest did not power off within `shutdownGraceMs` after its script (QEMU was killed). */
  shutdownHung: boolean;
  /** QEMU's argv, program first. */
  commandLine: string[];
  timings: {
    /** QEMU start to the script's start: firmware, kernel, modules, mount. */
    bootMs: number;
    /** The script alone. */
    scriptMs: number;
    /** QEMU start to QEMU exit. */
    totalMs: number;
  };
}

/** QEMU's argv for one run (exported so tests and reports can show it). */
export function qemuCommandLine(o: {
  vmlinuz: string;
  initrd: string;
  socketPath: string;
  tag: string;
  memMiB: number;
  smp: number;
  queueSize?: number;
  moreDevices?: readonly FsDevice[];
  append?: string[];
  reboot?: boolean;
}): string[] {
  const devices = [{ socketPath: o.socketPath, tag: o.tag }, ...(o.moreDevices ?? [])].flatMap((d, i) => {
    const id = i === 0 ? "vfs" : `vfs${i + 1}`;
    const device = ["vhost-user-fs-pci", `chardev=${id}`, `tag=${qemuOpt(d.tag)}`];
    if (o.queueSize !== undefined) device.push(`queue-size=${o.queueSize}`);
    return ["-chardev", `socket,id=${id},path=${qemuOpt(d.socketPath)}`, "-device", device.join(",")];
  });
  return [
    QEMU,
    "-accel", "tcg",
    "-nodefaults",
    "-nographic",
    ...(o.reboot ? [] : ["-no-reboot"]),
    "-smp", String(o.smp),
    "-m", `${o.memMiB}M`,
    "-object", `memory-backend-memfd,id=mem,size=${o.memMiB}M,share=on`,
    "-numa", "node,memdev=mem",
    ...devices,
    "-kernel", o.vmlinuz,
    "-initrd", o.initrd,
    "-append", ["console=ttyS0", "quiet", "panic=-1", ...(o.append ?? [])].join(" "),
    "-serial", "stdio",
  ];
}

/** QEMU option values escape a comma by doubling it. */
function qemuOpt(value: string): string {
  return value.replace(/,/g, ",,");
}

/**
 * Boots, runs `script`, powers off. Resolves once QEMU has exited after the
 * script's end marker; rejects (with the console's tail in the message) on a
 * timeout, a failed mount, or QEMU exiting without the markers.
 */
export async function runGuest(options: RunGuestOptions): Promise<GuestRun> {
  const image = options.image ?? buildGuestImage();
  const memMiB = options.memMiB ?? 512;
  const work = mkdtempSync(join(tmpdir(), "viofs-vm-"));
  try {
    const initrd = join(work, "initrd.img");
    writeFileSync(initrd, Buffer.concat([readFileSync(image.initramfs), runArchive(options.mountTag ?? options.tag, options.script)]));
    const argv = qemuCommandLine({
      vmlinuz: image.kernel.vmlinuz,
      initrd,
      socketPath: options.socketPath,
      tag: options.tag,
      memMiB,
      smp: options.smp ?? 1,
      ...(options.queueSize !== undefined ? { queueSize: options.queueSize } : {}),
      ...(options.moreDevices ? { moreDevices: options.moreDevices } : {}),
      ...(options.append ? { append: options.append } : {}),
      ...(options.reboot ? { reboot: true } : {}),
    });
    return await runQemu(argv, options.timeoutMs, options.signal, options.shutdownGraceMs);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function runQemu(argv: string[], timeoutMs: number, signal?: AbortSignal, shutdownGraceMs?: number): Promise<GuestRun> {
  const [program, ...args] = argv as [string, ...string[]];
  const started = performance.now();
  let raw = "";
  let stderr = "";
  let beginAt: number | undefined;
  let endAt: number | undefined;
  let graceTimer: NodeJS.Timeout | undefined;
  let shutdownHung = false;
  const child = spawn(program, args, { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.setEncoding("utf8");
  child.stderr.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    const from = Math.max(0, raw.length - 64);
    raw += chunk;
    const now = performance.now() - started;
    if (beginAt === undefined && raw.includes(MARKERS.outputBegin, from)) beginAt = now;
    if (endAt === undefined && beginAt !== undefined && raw.includes(MARKERS.outputEnd, from)) {
      endAt = now;
      if (shutdownGraceMs !== undefined) {
        graceTimer = setTimeout(() => {
          shutdownHung = true;
          child.kill("SIGKILL");
        }, shutdownGraceMs);
      }
    }
  });
  child.stderr.on("data", (chunk: string) => {
    stderr += chunk;
  });

  return new Promise<GuestRun>((resolve, reject) => {
    let killedBecause: string | undefined;
    const kill = (why: string): void => {
      killedBecause ??= why;
      child.kill("SIGKILL");
    };
    const timer = setTimeout(() => kill(`test/vm: guest timed out after ${timeoutMs} ms (killed)`), timeoutMs);
    const onAbort = (): void => {
      if (endAt !== undefined) return; // the script is done; let the guest power off
      const reason: unknown = signal?.reason;
      kill(`test/vm: run aborted (QEMU killed): ${reason instanceof Error ? reason.message : String(reason)}`);
    };
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
    const fail = (why: string): void => {
      const text = cleanConsole(raw);
      const err = new Error(
        `${why}\n--- QEMU: ${argv.join(" ")}\n--- stderr:\n${stderr.trim()}\n--- console tail:\n${tail(text, 40)}`,
      );
      reject(Object.assign(err, { console: text }));
    };
    child.on("error", (e) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      fail(`test/vm: cannot start ${program}: ${e.message}`);
    });
    child.on("close", (code, exitSignal) => {
      clearTimeout(timer);
      clearTimeout(graceTimer);
      signal?.removeEventListener("abort", onAbort);
      const totalMs = performance.now() - started;
      if (killedBecause !== undefined) return fail(killedBecause);
      const text = cleanConsole(raw);
      if (text.includes(MARKERS.mountFailed)) return fail("test/vm: the guest could not mount the virtiofs tag");
      const framed = parseFramed(text);
      if (!framed) {
        return fail(`test/vm: QEMU exited (${exitSignal ?? `status ${code}`}) without the guest's end-of-output marker`);
      }
      if (code !== 0 && !shutdownHung) return fail(`test/vm: QEMU exited with ${exitSignal ?? `status ${code}`} after the script`);
      resolve({
        ...framed,
        shutdownHung,
        console: text,
        commandLine: argv,
        timings: {
          bootMs: Math.round(beginAt ?? totalMs),
          scriptMs: Math.round((endAt ?? totalMs) - (beginAt ?? 0)),
          totalMs: Math.round(totalMs),
        },
      });
    });
  });
}

/** Removes "\r" and terminal control sequences (SeaBIOS clears the screen). */
function cleanConsole(raw: string): string {
  return raw.replace(/\r/g, "").replace(/\x1b(\[[0-9;?]*[ -/]*[@-~]|[@-Z\\-_]|c)/g, "");
}

function parseFramed(text: string): { output: string; exitCode: number; dmesg: string } | undefined {
  const end = /@@VIOFS-OUTPUT-END rc=(\d+)@@/g;
  const m = end.exec(text);
  if (!m?.[1]) return undefined;
  // The last boot's output: a guest that rebooted printed the begin marker before.
  const begin = text.lastIndexOf(`${MARKERS.outputBegin}\n`, m.index);
  if (begin < 0) return undefined;
  const from = begin + MARKERS.outputBegin.length + 1;
  const dmesgFrom = text.indexOf(`${MARKERS.dmesgBegin}\n`, end.lastIndex);
  const dmesgTo = text.indexOf(MARKERS.dmesgEnd, dmesgFrom);
  const dmesg = dmesgFrom >= 0 && dmesgTo >= 0 ? text.slice(dmesgFrom + MARKERS.dmesgBegin.length + 1, dmesgTo) : "";
  return { output: text.slice(from, m.index), exitCode: Number(m[1]), dmesg };
}

function tail(text: string, lines: number): string {
  return text.split("\n").slice(-lines).join("\n");
}
