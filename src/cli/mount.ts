/**
 * `viofs mount`: a virtio-fs share on this Linux host, without a VM. Plays
 * VMM and guest driver in user space against a vhost-user-fs backend (`viofs
 * serve`, QEMU's or the Rust virtiofsd) and relays this kernel's FUSE
 * requests to it through /dev/fuse (src/guest/relay.ts).
 *
 * Runs in the foreground until the mount ends: SIGINT, SIGTERM and SIGHUP
 * unmount, close the backend connection and exit 0; an unmount by someone
 * else exits 0 too; the backend going away unmounts and exits 1 with one
 * line saying so. Bad input (no socket, not a vhost-user-fs backend,
 * mountpoint missing, not a directory or already a mount, no /dev/fuse) is
 * one line and exit 2.
 */
import { accessSync, constants as fsConstants, readFileSync, realpathSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { ErrnoError } from "../common/errors.js";
import { Errno } from "../common/errno.js";
import { log } from "../common/log.js";
import { VirtioFsDriver } from "../guest/driver.js";
import { FuseRelay, type RelayEnd } from "../guest/relay.js";
import { describeFlags, flagValue, hasFlag, parseChoice, parseFlags, splitOptionList, type FlagSpec } from "../common/flags.js";
import { LOG_LEVELS, type Level as LogLevel } from "../common/log.js";
import { UsageError } from "../common/usage.js";

const FUSE_DEVICE = "/dev/fuse";
/** How long connecting and the vhost-user handshake may take before the peer is judged not a backend. */
const CONNECT_TIMEOUT_MS = 10_000;
/** How long a refused connection is retried (a daemon that bound its socket but does not listen yet). */
const REFUSED_RETRY_MS = 1000;
const STOP_SIGNALS: NodeJS.Signals[] = ["SIGTERM", "SIGINT", "SIGHUP"];

export const mountFlags: Record<string, FlagSpec> = {
  "socket-path": { value: true, meta: "PATH", aliases: ["--socket"], help: "the backend's vhost-user socket" },
  tag: { value: true, meta: "TAG", help: "the share's name in /proc/mounts; must match the backend's tag when it offers one" },
  o: { value: true, meta: "OPTS", aliases: ["-o"], repeat: true, help: "mount options: ro, rw" },
  "log-level": { value: true, meta: "LEVEL", help: "error, warn, info (default), debug, trace or off" },
  help: { value: false, aliases: ["-h"], help: "show this text" },
};

export const mountHelp = `Usage: viofs mount --socket-path=PATH MOUNTPOINT [--tag=TAG] [-o ro]

Mounts a vhost-user-fs backend's share (viofs serve, virtiofsd) on this host
through /dev/fuse, as a Linux guest would see it. Stays in the foreground;
Ctrl-C or SIGTERM unmounts. Needs root (or CAP_SYS_ADMIN).

${describeFlags(mountFlags)}
`;

export interface MountOptions {
  socketPath: string;
  mountpoint: string;
  tag?: string;
  readOnly: boolean;
  logLevel: LogLevel;
}

export const mountCommand = {
  summary: "Mount a vhost-user-fs backend's share on this host (through /dev/fuse)",
  run: runMount,
};

/** Parses argv for `viofs mount`; null for --help. Every mistake is one UsageError line. */
export function parseMountArgs(argv: string[]): MountOptions | null {
  const parsed = parseFlags(argv, mountFlags);
  if (hasFlag(parsed, "help")) return null;
  const socketPath = flagValue(parsed, "socket-path");
  if (socketPath === undefined || socketPath === "") throw new UsageError("--socket-path=PATH is required: the backend's vhost-user socket");
  if (parsed.positionals.length === 0) throw new UsageError("no mountpoint given; usage: viofs mount --socket-path=PATH MOUNTPOINT");
  if (parsed.positionals.length > 1) throw new UsageError(`one mountpoint expected, got ${parsed.positionals.length}: ${parsed.positionals.join(" ")}`);
  let readOnly = false;
  for (const list of parsed.values.get("o") ?? []) {
    for (const [name, value] of splitOptionList(list)) {
      if (value !== undefined) throw new UsageError(`mount option '${name}' takes no value`);
      if (name === "ro") readOnly = true;
      else if (name === "rw") readOnly = false;
      else throw new UsageError(`unknown mount option '${name}'; known: ro, rw`);
    }
  }
  const tag = flagValue(parsed, "tag");
  if (tag !== undefined && (tag.length === 0 || Buffer.byteLength(tag) > 36 || /[\s,\\]/.test(tag))) {
    throw new UsageError(`--tag must be 1-36 bytes without spaces, commas or backslashes, not '${tag}'`);
  }
  const options: MountOptions = {
    socketPath,
    mountpoint: resolve(parsed.positionals[0]!),
    readOnly,
    logLevel: parseChoice("log-level", flagValue(parsed, "log-level") ?? "info", LOG_LEVELS),
  };
  if (tag !== undefined) options.tag = tag;
  return options;
}

export async function runMount(argv: string[]): Promise<number> {
  let code = 1;
  try {
    const options = parseMountArgs(argv);
    if (options === null) {
      process.stdout.write(mountHelp);
      code = 0;
      return code;
    }
    log.setLevel(options.logLevel);
    code = await mount(options);
    return code;
  } catch (error) {
    code = error instanceof UsageError ? error.exitCode : 1;
    throw error;
  } finally {
    // Exit even if a handle lingers (a stuck handshake keeps its socket watched).
    setTimeout(() => process.exit(code), 1000).unref();
  }
}

async function mount(options: MountOptions): Promise<number> {
  const { socketPath } = options;
  const mountpoint = checkMountpoint(options.mountpoint);
  checkFuseDevice();
  // Signals are taken from the start: one that comes while connecting or mounting unmounts as soon as there is a mount.
  let stopping = false;
  let relay: FuseRelay | null = null;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal}: unmounting ${mountpoint}`);
    if (relay !== null) void relay.unmount();
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  let end: RelayEnd;
  try {
    const driver = await connectBackend(socketPath);
    const backendTag = driver.tag;
    if (options.tag !== undefined && backendTag !== undefined && backendTag !== options.tag) {
      driver.close();
      throw new UsageError(`${socketPath} serves the tag '${backendTag}', not '${options.tag}'`);
    }
    try {
      relay = await FuseRelay.mount(driver, mountpoint, {
        readOnly: options.readOnly,
        fsName: options.tag ?? backendTag ?? "viofs",
      });
    } catch (error) {
      throw mountError(error, socketPath, mountpoint);
    }
    log.info(`mounted ${socketPath} at ${mountpoint}${options.readOnly ? " (read-only)" : ""}, FUSE 7.${relay.init!.reply.minor}`);
    if (stopping) void relay.unmount();
    end = await relay.closed;
  } finally {
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
  }
  if (end.cause === "backend" && !stopping) {
    const why = end.error?.cause instanceof Error ? end.error.cause.message : (end.error?.message ?? "disconnected");
    throw new UsageError(`the backend at ${socketPath} went away (${why}); ${mountpoint} is unmounted`, 1);
  }
  if (end.cause === "failed") throw new UsageError(`the FUSE connection of ${mountpoint} failed: ${end.error?.message ?? "unknown error"}`, 1);
  log.info(`${mountpoint} unmounted`);
  return 0;
}

/** The mountpoint's real path, or a UsageError when it cannot be mounted on. */
function checkMountpoint(path: string): string {
  let real: string;
  try {
    real = realpathSync(path);
    if (!statSync(real).isDirectory()) throw new UsageError(`mountpoint ${path} is not a directory`);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new UsageError(`mountpoint ${path} does not exist; create the directory first`);
    if (code === "ENOTCONN") throw new UsageError(`mountpoint ${path} is a FUSE mount whose daemon is gone; unmount it first (umount -l ${path})`);
    throw new UsageError(`mountpoint ${path}: ${(error as Error).message}`);
  }
  const existing = mountAt(real);
  if (existing !== null) {
    throw new UsageError(`mountpoint ${path} is busy: ${existing.source} (${existing.fstype}) is mounted there; unmount it or choose another directory`);
  }
  return real;
}

/** The mount whose mount point is `path`, from /proc/self/mountinfo (the last, i.e. top one). */
function mountAt(path: string): { fstype: string; source: string } | null {
  let found: { fstype: string; source: string } | null = null;
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    // id parent major:minor root mountpoint options [optional…] - fstype source superoptions
    const fields = line.split(" ");
    const dash = fields.indexOf("-");
    if (fields.length < 5 || dash < 0) continue;
    if (unescapeMountField(fields[4]!) !== path) continue;
    found = { fstype: fields[dash + 1] ?? "?", source: unescapeMountField(fields[dash + 2] ?? "?") };
  }
  return found;
}

/** mountinfo writes space, tab, newline and backslash as octal escapes. */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

function checkFuseDevice(): void {
  try {
    accessSync(FUSE_DEVICE, fsConstants.R_OK | fsConstants.W_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new UsageError(`no ${FUSE_DEVICE} on this host: load the FUSE module (modprobe fuse)`);
    if (code === "EACCES" || code === "EPERM") throw new UsageError(`cannot open ${FUSE_DEVICE}: permission denied; viofs mount needs root (or CAP_SYS_ADMIN)`);
    throw new UsageError(`cannot use ${FUSE_DEVICE}: ${(error as Error).message}`);
  }
}

/** Connects the driver; a UsageError naming the socket when it is not a vhost-user-fs backend. */
async function connectBackend(socketPath: string): Promise<VirtioFsDriver> {
  try {
    if (!statSync(socketPath).isSocket()) throw new UsageError(`${socketPath} is not a vhost-user-fs backend: not a socket`);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      throw new UsageError(`no vhost-user socket at ${socketPath}; start \`viofs serve\` or virtiofsd first`);
    }
    throw new UsageError(`${socketPath}: ${(error as Error).message}`);
  }
  const deadline = Date.now() + REFUSED_RETRY_MS;
  for (;;) {
    try {
      return await withTimeout(VirtioFsDriver.connect(socketPath), CONNECT_TIMEOUT_MS);
    } catch (error) {
      const refused = ErrnoError.is(error) && error.errno === Errno.ECONNREFUSED;
      if (refused && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      const why = refused ? "nothing accepts connections there (a stale socket?)" : describe(error);
      throw new UsageError(`${socketPath} is not a vhost-user-fs backend: ${why}`);
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no vhost-user handshake within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The UsageError for a failed FuseRelay.mount. */
function mountError(error: unknown, socketPath: string, mountpoint: string): UsageError {
  if (ErrnoError.is(error)) {
    if (error.syscall === "openat" && error.errno === Errno.ENOENT) return new UsageError(`no ${FUSE_DEVICE} on this host: load the FUSE module (modprobe fuse)`);
    if (error.errno === Errno.EPERM || error.errno === Errno.EACCES) {
      return new UsageError(`mounting ${mountpoint} is not permitted: viofs mount needs root (or CAP_SYS_ADMIN)`);
    }
    if (error.syscall === "mount") return new UsageError(`cannot mount ${mountpoint}: ${error.message}`);
    if (error.syscall?.startsWith("FUSE_INIT")) return new UsageError(`${socketPath} is not a vhost-user-fs backend: FUSE INIT failed: ${error.errnoName}`);
  }
  return new UsageError(`${socketPath} is not a vhost-user-fs backend: FUSE INIT failed: ${describe(error)}`);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
