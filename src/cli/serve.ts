/**
 * `viofs serve`: the host device, in the role of virtiofsd. Serves one host
 * directory to one VM as a vhost-user-fs backend.
 *
 * As virtiofsd: listen (a socket path, or an fd from libvirt), set the
 * open-file limit, enter the sandbox, take ONE connection and serve it; when
 * the VMM disconnects, exit 0. SIGTERM, SIGINT and SIGHUP close the
 * connection, remove the socket file this process created and exit 0.
 */
import { closeSync, existsSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { log, type Level } from "../common/log.js";
import { ErrnoError } from "../common/errors.js";
import { Errno, errnoName } from "../common/errno.js";
import { createServer, serveConnection, type DeviceOptions } from "../host/device.js";
import { FuseDevMount } from "../host/fusedev.js";
import { Listener } from "../host/listener.js";
import { warmUp } from "./warmup.js";
import {
  SANDBOX_PROBE_ENV,
  dropSupplementaryGroups,
  enterChroot,
  enterNamespaceRoot,
  restrictPrivileges,
  runInNamespaces,
  sandboxChild,
  sandboxView,
  setupFileLimit,
  type SandboxChild,
} from "../host/sandbox.js";
import { SOCK_DGRAM, SOCK_STREAM } from "../sys/constants.js";
import { connect, reexecNode, sendmsg, socket, stopLoopIdleMetrics } from "../sys/index.js";
import { probeUserXattrs } from "../host/xattr-probe.js";
import { parseServeArgs, serveHelp, type ServeOptions } from "./serve-options.js";
import { UsageError } from "../common/usage.js";

/**
 * What `--print-capabilities` prints: the vhost-user.json schema libvirt
 * reads (`type` and `features`). "separate-options" tells libvirt to pass
 * `--shared-dir`, `--cache`, `--sandbox`, `--xattr` rather than `-o` lists.
 * "migrate-precopy" is not claimed: the device does not migrate its state.
 */
export const CAPABILITIES = { type: "fs", features: ["separate-options"] } as const;

const STOP_SIGNALS: NodeJS.Signals[] = ["SIGTERM", "SIGINT", "SIGHUP"];

export const serveCommand = {
  summary: "Serve a host directory to a VM (vhost-user-fs device, as virtiofsd)",
  run: runServe,
};

export async function runServe(argv: string[]): Promise<number> {
  const request = parseServeArgs(argv);
  if (request.kind === "help") {
    process.stdout.write(serveHelp);
    return 0;
  }
  if (request.kind === "capabilities") {
    process.stdout.write(`${JSON.stringify(CAPABILITIES, null, 2)}\n`);
    return 0;
  }
  const { options } = request;
  if (options.fuseMount !== undefined && options.sandbox === "namespace") {
    throw new UsageError("--fuse-mount mounts on this host, which a namespace sandbox cannot reach: add --sandbox=none or --sandbox=chroot");
  }
  if (options.socketGroup !== undefined && options.listen.kind === "fd") {
    throw new UsageError("--socket-group applies to --socket-path only (an fd's socket belongs to whoever made it)");
  }
  let code: number;
  try {
    code = await serve(options);
  } catch (error) {
    // A failing system call is the environment's doing: one line, no stack.
    if (ErrnoError.is(error)) throw new UsageError(error.message, 1);
    throw error;
  }
  // virtiofsd exits when its client goes; do so even if a handle lingers.
  setTimeout(() => process.exit(code), 1000).unref();
  return code;
}

async function serve(options: ServeOptions): Promise<number> {
  const relaunch = runOnLargePages(options);
  const child = sandboxChild();
  configureLogging(options);
  if (relaunch !== undefined) log.debug(`node's code stays on 4 KiB pages: ${relaunch}`);
  // Errno errors are the daemon's answers (ENOENT for a LOOKUP), not bugs: their stacks cost more than the calls.
  ErrnoError.captureStacks = options.logLevel === "debug" || options.logLevel === "trace";
  // Once, before any sandbox: the launcher checks, the sandboxed child does not again.
  if (options.xattr && child === null) warnWithoutUserXattrs(options.sharedDir);
  if (options.fuseMount !== undefined) return serveFuseMount(options, options.fuseMount);
  if (options.sandbox === "namespace" && child === null) return launchSandboxed(options);
  return serveHere(options, child);
}

/** The Node flag that puts Node's own code on 2 MiB pages, without a warning where it cannot. */
export const LARGE_PAGES_FLAG = "--use-largepages=silent";

/**
 * Runs the daemon again in place (same pid, same fds: execv) with Node's
 * `--use-largepages`, which copies Node's code (V8's builtins, libuv, node
 * itself: about 24 MiB) onto transparent huge pages. A VM's requests come
 * one at a time with the daemon asleep in between, and each then runs with
 * cold caches and TLBs; a request's path touches code on hundreds of 4 KiB
 * pages, each a page walk, which under nested paging costs many memory reads.
 * Measured as the daemon's kick-to-call time in VM boots (1,000 files
 * created, statted, unlinked; 3 interleaved pairs, each boot's median and
 * p90 over about 10,000 requests): 45-50 µs and p90 124-137 µs on 4 KiB
 * pages, 42-50 µs and p90 100-124 µs on large pages. The guest's throughput
 * moved by less than the boots' own spread. It costs about 9 MiB more
 * resident memory. Skipped when Node was started with `--use-largepages` of any value
 * (so `node --use-largepages=off` turns it off) and where transparent huge
 * pages are off; otherwise returns only when execv failed, with why.
 */
function runOnLargePages(options: ServeOptions): string | undefined {
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)];
  if (given.some((flag) => flag.startsWith("--use-largepages"))) return undefined;
  if (!transparentHugePages()) return "transparent huge pages are off";
  const errno = reexecNode([LARGE_PAGES_FLAG], options.listen.kind === "fd" ? [options.listen.fd] : []);
  return `execv failed: ${errnoName(errno)}`;
}

/** Whether the kernel gives transparent huge pages to a process that asks (madvise) or to all. */
function transparentHugePages(): boolean {
  try {
    return !readFileSync("/sys/kernel/mm/transparent_hugepage/enabled", "utf8").includes("[never]");
  } catch {
    return false;
  }
}

/** `--xattr` on a directory that refuses `user.*` xattrs serves, but Windows guests lose their metadata: say so. */
function warnWithoutUserXattrs(dir: string): void {
  const probe = probeUserXattrs(dir);
  if (probe.ok) return;
  log.warn(
    `${dir} does not take user.* extended attributes (${probe.reason}): Windows guests cannot keep DOS attributes, ` +
      "streams or ACLs there; share a directory on ext4, xfs, btrfs or tmpfs, or leave out --xattr",
  );
}

/** The launcher of the namespace sandbox: makes the socket here, runs the server inside, waits. */
async function launchSandboxed(options: ServeOptions): Promise<number> {
  const listener = openListener(options);
  try {
    return await runInNamespaces({
      listenFd: listener.fd,
      command: [process.execPath, ...process.execArgv, ...process.argv.slice(1)],
      spawned: () => listener.stopListening(),
    });
  } finally {
    listener.close();
  }
}

/** Serves from this process: `--sandbox=none` or `chroot`, or inside the namespaces. */
async function serveHere(options: ServeOptions, child: SandboxChild | null): Promise<number> {
  const stop = new AbortController();
  let listener: Listener | null = null;
  let stoppedAt = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stop.signal.aborted) {
      // Asked again later (not the same Ctrl-C reaching the launcher and us): stop now.
      if (Date.now() - stoppedAt < 1000) return;
      listener?.close();
      process.exit(1);
    }
    log.info(`${signal}: shutting down`);
    stoppedAt = Date.now();
    stop.abort();
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  try {
    child?.reportPid();
    listener = child ? Listener.adopt(child.listenFd) : openListener(options);
    const { fdBudget } = setupFileLimit(options.rlimitNofile, options.threadPoolSize);
    const device = deviceOptions(options, fdBudget);
    // Before the sandbox: the warm-up's directory is in the host's temporary directory, never in the share.
    if (options.warmupRounds > 0) await warmUpRequestPath(device, options.warmupRounds, stop.signal);
    dropSupplementaryGroups();
    let root = resolve(options.sharedDir);
    if (child) {
      enterNamespaceRoot(options.sharedDir);
      root = "/";
    } else if (options.sandbox === "chroot") {
      enterChroot(options.sharedDir);
      root = "/";
    }
    // The main thread makes every metadata call; from here it holds only what serving needs.
    restrictPrivileges({ capabilities: options.capabilities, ...(child ? { parentDeathSignal: "SIGTERM" as const } : {}) });
    child?.reportReady();
    if (process.env[SANDBOX_PROBE_ENV] === "1") {
      process.stdout.write(`${JSON.stringify(sandboxView())}\n`);
      return 0;
    }
    // One wake-up per request: spare each the zero-timeout poll libuv's idle-time metrics add.
    if (!stopLoopIdleMetrics()) log.debug("event loop: idle-time metrics left on (an unfamiliar libuv)");
    return await serveOne(listener, root, device, stop.signal);
  } finally {
    listener?.close();
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
  }
}

/**
 * Runs the request path's JIT warm-up (src/cli/warmup.ts) with its own log
 * lines held back; a host where it cannot run (no writable temporary
 * directory) serves all the same, only colder.
 */
async function warmUpRequestPath(device: DeviceOptions, rounds: number, signal?: AbortSignal): Promise<void> {
  const level = log.level;
  if (log.enabled("info")) log.setLevel("warn");
  try {
    const report = await warmUp(device, { rounds, ...(signal ? { signal } : {}) });
    log.setLevel(level);
    log.info(`warm-up: ${report.requests} requests in ${report.ms.toFixed(0)} ms`);
  } catch (error) {
    log.setLevel(level);
    log.warn(`warm-up skipped: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * The second transport: the same server and file system mounted on this host
 * through the kernel's FUSE client (/dev/fuse), until SIGTERM/SIGINT or an
 * outside unmount.
 */
async function serveFuseMount(options: ServeOptions, mountpoint: string): Promise<number> {
  let isDir = false;
  try {
    isDir = statSync(mountpoint).isDirectory();
  } catch {
    // reported below
  }
  if (!isDir) throw new UsageError(`mount point '${mountpoint}' is not a directory; create it first`);
  if (!existsSync("/dev/fuse")) throw new UsageError("no /dev/fuse on this host: load the module with 'modprobe fuse'");
  const { fdBudget } = setupFileLimit(options.rlimitNofile, options.threadPoolSize);
  const device = deviceOptions(options, fdBudget);
  if (options.warmupRounds > 0) await warmUpRequestPath(device, options.warmupRounds);
  const server = createServer(resolve(options.sharedDir), device);
  const mount = await FuseDevMount.mount(server, resolve(mountpoint), { readOnly: options.readonly });
  if (options.sandbox === "chroot") enterChroot(options.sharedDir);
  log.info(`serving ${options.sharedDir} at ${mountpoint} through /dev/fuse`);
  const onSignal = (signal: NodeJS.Signals): void => {
    log.info(`${signal}: unmounting ${mountpoint}`);
    void mount.unmount();
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  try {
    await mount.closed;
  } finally {
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
  }
  log.info(`${mountpoint} unmounted`);
  return 0;
}

/** Takes one connection and serves it until it closes (0), fails (1) or `stop` ends it (0). */
async function serveOne(listener: Listener, root: string, deviceOptions: DeviceOptions, stop: AbortSignal): Promise<number> {
  if (stop.aborted) return 0;
  const onStop = (): void => listener.stopListening();
  stop.addEventListener("abort", onStop, { once: true });
  let fd: number;
  try {
    log.info("waiting for a vhost-user connection");
    fd = await listener.accept();
  } catch (error) {
    if (stop.aborted && ErrnoError.is(error) && error.errno === Errno.ECANCELED) return 0;
    throw error;
  } finally {
    stop.removeEventListener("abort", onStop);
  }
  // One VMM per server, as virtiofsd: a second connection is refused, not left waiting.
  listener.stopListening();
  log.info("client connected, serving requests");
  const connection = serveConnection(fd, root, deviceOptions);
  const onStopConnection = (): void => connection.close();
  stop.addEventListener("abort", onStopConnection, { once: true });
  if (stop.aborted) connection.close();
  const { error } = await connection.closed;
  stop.removeEventListener("abort", onStopConnection);
  if (stop.aborted) return 0;
  if (error && !isDisconnect(error)) {
    log.error(`the connection failed: ${error.message}`);
    return 1;
  }
  log.info("client disconnected, shutting down");
  return 0;
}

/** The VMM closed the socket (the backend reports a plain EOF as ECONNRESET). */
function isDisconnect(error: Error): boolean {
  return ErrnoError.is(error) && (error.errno === Errno.ECONNRESET || error.errno === Errno.EPIPE);
}

function openListener(options: ServeOptions): Listener {
  if (options.listen.kind === "fd") return Listener.adopt(options.listen.fd);
  const listener = Listener.bind(options.listen.path, options.socketGroup !== undefined ? { group: options.socketGroup } : {});
  log.debug(`listening on ${listener.socketPath}`);
  return listener;
}

/** The device's part of the options; READDIRPLUS is off with cache=never, as in virtiofsd. */
function deviceOptions(options: ServeOptions, fdBudget: number): DeviceOptions {
  const result: DeviceOptions = {
    cache: options.cache,
    xattr: options.xattr,
    readdirplus: options.readdirplus && options.cache !== "never",
    writeback: options.writeback,
    posixLock: options.posixLock,
    flock: options.flock,
    readonly: options.readonly,
    announceSubmounts: options.announceSubmounts,
    killprivV2: options.killprivV2,
    flush: options.flush,
    threadPoolSize: options.threadPoolSize,
    pollMaxUs: options.pollMaxUs,
    kickWaitMs: options.kickWaitMs,
    fdBudget,
  };
  if (options.tag !== undefined) result.tag = options.tag;
  return result;
}

// ---- logging ----

function configureLogging(options: ServeOptions): void {
  log.setLevel(options.logLevel);
  if (!options.syslog) return;
  const sink = openSyslog();
  if (typeof sink === "string") log.warn(`can't log to syslog (${sink}); logging to stderr`);
  else log.setSink(sink);
}

/** syslog(3) severities of our levels (LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG). */
const SEVERITY: Record<Exclude<Level, "off">, number> = { error: 3, warn: 4, info: 6, debug: 7, trace: 7 };
const LOG_USER = 1 << 3;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/**
 * A sink writing to the local syslog daemon through /dev/log, as glibc's
 * syslog(3) does (`<PRI>Mmm dd hh:mm:ss viofs[PID]: message`). The socket is
 * connected now, so it keeps working once the sandbox hides /dev/log.
 * Returns the reason when there is no syslog daemon.
 */
function openSyslog(): ((level: Exclude<Level, "off">, line: string) => void) | string {
  let fd = -1;
  let stream = false;
  for (const type of [SOCK_DGRAM, SOCK_STREAM]) {
    const candidate = socket(type);
    try {
      connect(candidate, "/dev/log");
      fd = candidate;
      stream = type === SOCK_STREAM;
      break;
    } catch (error) {
      closeSync(candidate);
      if (ErrnoError.is(error) && error.errno === Errno.EPROTOTYPE) continue;
      return ErrnoError.is(error) ? `/dev/log: ${error.errnoName}` : String(error);
    }
  }
  if (fd < 0) return "/dev/log: no usable socket";
  let pid = process.pid;
  try {
    // Inside a pid namespace, the pid the host knows us by.
    pid = Number(readlinkSync("/proc/self"));
  } catch {
    // Keep process.pid.
  }
  return (level, line) => {
    const now = new Date();
    const pad = (n: number): string => String(n).padStart(2, "0");
    const stamp = `${MONTHS[now.getMonth()]} ${String(now.getDate()).padStart(2, " ")} ${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}`;
    const message = `<${LOG_USER | SEVERITY[level]}>${stamp} viofs[${pid}]: ${line.replace(/^viofs: /, "")}${stream ? "\0" : ""}`;
    try {
      sendmsg(fd, Buffer.from(message, "utf8"));
    } catch {
      // The daemon went away: a lost line is better than a failing server.
    }
  };
}
