/**
 * `viofs serve` options, spelled as virtiofsd spells them so that libvirt's
 * `<binary path=…/>` and existing scripts work unchanged: both the Rust
 * daemon's `--flag` forms and the C daemon's `-o source=…,cache=…,xattr` lists.
 */
import { statSync } from "node:fs";
import { DEFAULT_DEVICE_OPTIONS, DEFAULT_KICK_WAIT_MS, DEFAULT_POLL_MAX_US, type DeviceOptions } from "../host/device.js";
import { KICK_WAIT_TURN_MS } from "../vhost-user/backend.js";
import type { CacheMode, FlushMode } from "../passthrough/options.js";
import { CAPABILITIES, type CapabilityName } from "../sys/constants.js";
import { LOG_LEVELS, type Level as LogLevel } from "../common/log.js";
import { UsageError } from "../common/usage.js";
import { describeFlags, flagValue, hasFlag, parseChoice, parseCount, parseFlags, splitOptionList, type FlagSpec } from "../common/flags.js";

export const CACHE_MODES = ["auto", "always", "never", "metadata"] as const satisfies readonly CacheMode[];
export const SANDBOX_MODES = ["namespace", "chroot", "none"] as const;
export const FLUSH_MODES = ["auto", "always"] as const satisfies readonly FlushMode[];
export type SandboxMode = (typeof SANDBOX_MODES)[number];

/**
 * What `viofs serve` was asked for: the device's options (one connection's
 * file system and FUSE flags, see src/host/device.ts) and the daemon's own.
 */
export interface ServeOptions extends Omit<DeviceOptions, "fdBudget"> {
  /** Where to listen, or an fd already listening (libvirt). */
  listen: { kind: "path"; path: string } | { kind: "fd"; fd: number };
  sharedDir: string;
  sandbox: SandboxMode;
  socketGroup?: string;
  rlimitNofile?: number;
  /** The capabilities the serving thread keeps (bits by number): virtiofsd's set, changed by --modcaps. */
  capabilities: bigint;
  logLevel: LogLevel;
  syslog: boolean;
  /** Serve through /dev/fuse at this mount point instead of vhost-user. */
  fuseMount?: string;
  /** Rounds of the request path's warm-up before the first connection (src/host/warmup.ts); 0: none. */
  warmupRounds: number;
}

/**
 * About 21,700 requests (20,000 without --xattr), about 2 s here. With 600
 * rounds a Linux guest's first 2,000 creates still ran at 1,020–1,230 µs
 * each against 690–1,180 µs for its second 2,000 (3 boots); with 1,500 at
 * 780–930 µs (2 boots), where C virtiofsd's took 630 µs.
 */
export const DEFAULT_WARMUP_ROUNDS = 1500;

/** The warm-up stops after this long even if rounds remain. */
export const DEFAULT_WARMUP_BUDGET_MS = 3000;

export const serveFlags: Record<string, FlagSpec> = {
  "socket-path": { value: true, meta: "PATH", aliases: ["--socket"], help: "vhost-user socket to listen on (created 0600)" },
  fd: { value: true, meta: "N", help: "an already-listening socket fd (as libvirt passes it)" },
  "shared-dir": { value: true, meta: "DIR", help: "the host directory to share" },
  o: { value: true, meta: "OPTS", aliases: ["-o"], repeat: true, help: "virtiofsd option list: source=DIR,cache=…,xattr,flock,posix_lock,…" },
  cache: { value: true, meta: "MODE", help: "auto (default), always, never or metadata" },
  xattr: { value: false, help: "serve extended attributes" },
  "no-readdirplus": { value: false, help: "answer READDIR only" },
  flush: { value: true, meta: "MODE", help: "auto (default): a guest's close(2) is no FLUSH where the FLUSH would do nothing (FOPEN_NOFLUSH: files on a tmpfs, ext4, xfs or btrfs share before the guest's first POSIX lock); always: every close is a FLUSH, as virtiofsd" },
  writeback: { value: false, help: "let the guest cache writes (FUSE_WRITEBACK_CACHE)" },
  readonly: { value: false, help: "refuse every change with EROFS" },
  "announce-submounts": { value: false, help: "report submounts so the guest sees separate file systems" },
  "thread-pool-size": { value: true, meta: "N", help: "worker threads for blocking I/O (0: inline)" },
  "poll-max": { value: true, meta: "USEC", help: `poll a request queue for up to USEC µs before sleeping until a kick (adaptive, as QEMU's poll-max-ns; default ${DEFAULT_POLL_MAX_US}; 0: never)` },
  "kick-wait": { value: true, meta: "MS", help: `after serving, wait up to MS ms for the guest's next kick before going back to the event loop (as virtiofsd's queue threads wait; default ${DEFAULT_KICK_WAIT_MS}; 0: never)` },
  sandbox: { value: true, meta: "MODE", help: "namespace (default), chroot or none" },
  tag: { value: true, meta: "TAG", help: "virtio-fs tag (1-36 bytes) offered through GET_CONFIG" },
  "socket-group": { value: true, meta: "GROUP", help: "group owning the socket (mode 0660)" },
  modcaps: { value: true, meta: "LIST", help: "change the capabilities kept while serving, as virtiofsd: +sys_admin:-mknod" },
  "rlimit-nofile": { value: true, meta: "N", help: "open-file limit; the guest's fd budget follows from it" },
  "log-level": { value: true, meta: "LEVEL", help: "error, warn, info (default), debug, trace or off" },
  debug: { value: false, aliases: ["-d"], help: "the same as --log-level=debug (as C virtiofsd's -d)" },
  syslog: { value: false, help: "log to syslog instead of stderr" },
  "print-capabilities": { value: false, help: "print the vhost-user capabilities as JSON and exit" },
  "fuse-mount": { value: true, meta: "DIR", help: "serve through /dev/fuse at DIR instead of vhost-user" },
  warmup: { value: true, meta: "N", help: `rounds of request-path warm-up on a private temporary directory before the first connection (default ${DEFAULT_WARMUP_ROUNDS}, at most ${DEFAULT_WARMUP_BUDGET_MS / 1000} s; 0: none)` },
  help: { value: false, aliases: ["-h"], help: "show this text" },
  // Accepted for compatibility with virtiofsd; viofs never daemonizes.
  foreground: { value: false, aliases: ["-f"], help: "accepted for compatibility (viofs stays in the foreground)" },
};

export const serveHelp = `Usage: viofs serve (--socket-path=PATH | --fd=N) (--shared-dir=DIR | -o source=DIR) [options]

Serves a host directory to a VM as a vhost-user-fs device (the role of virtiofsd).

${describeFlags(serveFlags)}
`;

export type ServeRequest = { kind: "help" } | { kind: "capabilities" } | { kind: "serve"; options: ServeOptions };

/** Parses argv for `viofs serve`; every mistake is one UsageError line. */
export function parseServeArgs(argv: string[]): ServeRequest {
  const parsed = parseFlags(argv, serveFlags);
  if (hasFlag(parsed, "help")) return { kind: "help" };
  if (hasFlag(parsed, "print-capabilities")) return { kind: "capabilities" };
  if (parsed.positionals.length > 0) {
    throw new UsageError(`unexpected argument '${parsed.positionals[0]}'; the shared directory goes in --shared-dir=DIR`);
  }

  const opts = {
    source: flagValue(parsed, "shared-dir"),
    cache: flagValue(parsed, "cache"),
    xattr: hasFlag(parsed, "xattr"),
    readdirplus: !hasFlag(parsed, "no-readdirplus"),
    writeback: hasFlag(parsed, "writeback"),
    posixLock: DEFAULT_DEVICE_OPTIONS.posixLock,
    flock: DEFAULT_DEVICE_OPTIONS.flock,
    readonly: hasFlag(parsed, "readonly"),
    announceSubmounts: hasFlag(parsed, "announce-submounts"),
    killprivV2: DEFAULT_DEVICE_OPTIONS.killprivV2,
    sandbox: flagValue(parsed, "sandbox"),
    logLevel: flagValue(parsed, "log-level") ?? (hasFlag(parsed, "debug") ? "debug" : undefined),
    threadPoolSize: flagValue(parsed, "thread-pool-size"),
    modcaps: flagValue(parsed, "modcaps"),
  };
  for (const list of parsed.values.get("o") ?? []) {
    for (const [key, value] of splitOptionList(list)) {
      const needValue = (): string => {
        if (value === undefined || value === "") throw new UsageError(`-o ${key} needs a value (${key}=…)`);
        return value;
      };
      switch (key) {
        case "source":
          if (opts.source !== undefined && opts.source !== value) throw new UsageError("the shared directory is given twice (--shared-dir and -o source)");
          opts.source = needValue();
          break;
        case "cache":
          opts.cache = needValue() === "none" ? "never" : needValue();
          break;
        case "sandbox":
          opts.sandbox = needValue();
          break;
        case "log_level":
        case "loglevel":
          opts.logLevel = needValue() === "err" ? "error" : needValue();
          break;
        case "thread_pool_size":
          opts.threadPoolSize = needValue();
          break;
        case "xattr":
        case "no_xattr":
          opts.xattr = key === "xattr";
          break;
        case "readdirplus":
        case "no_readdirplus":
          opts.readdirplus = key === "readdirplus";
          break;
        case "writeback":
        case "no_writeback":
          opts.writeback = key === "writeback";
          break;
        case "flock":
        case "no_flock":
          opts.flock = key === "flock";
          break;
        case "posix_lock":
        case "no_posix_lock":
          opts.posixLock = key === "posix_lock";
          break;
        case "killpriv_v2":
        case "no_killpriv_v2":
          opts.killprivV2 = key === "killpriv_v2";
          break;
        case "announce_submounts":
          opts.announceSubmounts = true;
          break;
        case "readonly":
          opts.readonly = true;
          break;
        case "modcaps":
          opts.modcaps = needValue();
          break;
        // Accepted and ignored, as virtiofsd does for settings that do not apply here.
        case "timeout":
        case "max_idle_threads":
        case "allow_direct_io":
        case "no_allow_direct_io":
        case "norace":
          break;
        default:
          throw new UsageError(`unknown -o option '${key}'; see --help`);
      }
    }
  }

  const socketPath = flagValue(parsed, "socket-path");
  const fdText = flagValue(parsed, "fd");
  const fuseMount = flagValue(parsed, "fuse-mount");
  const transports = [socketPath, fdText, fuseMount].filter((x) => x !== undefined).length;
  if (transports === 0) throw new UsageError("say where to listen: --socket-path=PATH or --fd=N (or --fuse-mount=DIR)");
  if (transports > 1) throw new UsageError("give only one of --socket-path, --fd and --fuse-mount");
  const listen: ServeOptions["listen"] =
    fdText !== undefined ? { kind: "fd", fd: parseCount("fd", fdText, 0, 1 << 20) } : { kind: "path", path: socketPath ?? "" };

  if (opts.source === undefined) throw new UsageError("say which directory to share: --shared-dir=DIR or -o source=DIR");
  let isDir = false;
  try {
    isDir = statSync(opts.source).isDirectory();
  } catch {
    throw new UsageError(`shared directory '${opts.source}' does not exist; create it or fix the path`);
  }
  if (!isDir) throw new UsageError(`shared directory '${opts.source}' is not a directory`);

  const tag = flagValue(parsed, "tag");
  if (tag !== undefined && (Buffer.byteLength(tag) < 1 || Buffer.byteLength(tag) > 36)) {
    throw new UsageError(`--tag must be 1 to 36 bytes, not ${Buffer.byteLength(tag)}`);
  }
  const rlimit = flagValue(parsed, "rlimit-nofile");
  const group = flagValue(parsed, "socket-group");

  const options: ServeOptions = {
    listen,
    sharedDir: opts.source,
    cache: parseChoice("cache", opts.cache ?? DEFAULT_DEVICE_OPTIONS.cache, CACHE_MODES),
    xattr: opts.xattr,
    readdirplus: opts.readdirplus,
    writeback: opts.writeback,
    posixLock: opts.posixLock,
    flock: opts.flock,
    readonly: opts.readonly,
    announceSubmounts: opts.announceSubmounts,
    killprivV2: opts.killprivV2,
    flush: parseChoice("flush", flagValue(parsed, "flush") ?? DEFAULT_DEVICE_OPTIONS.flush, FLUSH_MODES),
    threadPoolSize: parseCount("thread-pool-size", opts.threadPoolSize ?? "0", 0, 1024),
    pollMaxUs: parseCount("poll-max", flagValue(parsed, "poll-max") ?? String(DEFAULT_POLL_MAX_US), 0, 1_000_000),
    kickWaitMs: parseCount("kick-wait", flagValue(parsed, "kick-wait") ?? String(DEFAULT_KICK_WAIT_MS), 0, KICK_WAIT_TURN_MS),
    sandbox: parseChoice("sandbox", opts.sandbox ?? "namespace", SANDBOX_MODES),
    capabilities: parseModcaps(opts.modcaps),
    logLevel: parseChoice("log-level", opts.logLevel ?? "info", LOG_LEVELS),
    syslog: hasFlag(parsed, "syslog"),
    warmupRounds: parseCount("warmup", flagValue(parsed, "warmup") ?? String(DEFAULT_WARMUP_ROUNDS), 0, 100_000),
  };
  if (tag !== undefined) options.tag = tag;
  if (group !== undefined) options.socketGroup = group;
  // 0 leaves the limit as it is (virtiofsd's meaning).
  if (rlimit !== undefined && rlimit !== "0") options.rlimitNofile = parseCount("rlimit-nofile", rlimit, 64, 1 << 30);
  if (fuseMount !== undefined) options.fuseMount = fuseMount;
  return { kind: "serve", options };
}

/**
 * What the serving thread keeps of root's capabilities, as virtiofsd: what
 * file ownership, modes, special files and running creating calls as the
 * caller need. Without CAP_SYS_ADMIN, `trusted.*` and `security.*` xattrs
 * (but `security.capability`) are the kernel's EPERM.
 */
export const DEFAULT_CAPABILITIES: readonly CapabilityName[] = ["chown", "dac_override", "fowner", "fsetid", "setgid", "setuid", "mknod", "setfcap"];

/** virtiofsd's `--modcaps=+sys_admin:-mknod` (`,` works as the separator too) applied to {@link DEFAULT_CAPABILITIES}. */
export function parseModcaps(list: string | undefined): bigint {
  let mask = 0n;
  for (const name of DEFAULT_CAPABILITIES) mask |= 1n << BigInt(CAPABILITIES[name]);
  if (list === undefined) return mask;
  for (const item of list.split(/[:,]/)) {
    const m = /^([+-])(?:cap_)?([a-z_]+)$/i.exec(item.trim());
    const name = m?.[2]?.toLowerCase();
    if (!m || name === undefined || !(name in CAPABILITIES)) {
      throw new UsageError(`--modcaps: '${item}' is not +NAME or -NAME of a capability (as in capabilities(7), e.g. +sys_admin)`);
    }
    const bit = 1n << BigInt(CAPABILITIES[name as CapabilityName]);
    mask = m[1] === "+" ? mask | bit : mask & ~bit;
  }
  return mask;
}
