/**
 * `viofs doctor`: checks this host for what viofs needs and says, for each
 * thing missing, how to get it. One line a check:
 *
 *   ok       memfd           memfd_create works (guest memory for viofs mount and viofs shell)
 *   missing  /dev/fuse       no /dev/fuse (optional: viofs mount, serve --fuse-mount) — modprobe fuse
 *
 * Exit 0 when every required check passes, 1 otherwise; bad input (an
 * unknown flag, a shared directory that is not there) is one line, exit 2.
 */
import { spawnSync } from "node:child_process";
import { accessSync, closeSync, constants as fsConstants, existsSync, statSync } from "node:fs";
import { release, tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { ErrnoError } from "../common/errors.js";
import { eventfd, memfdCreate } from "../sys/index.js";
import { probeUserXattrs } from "../host/xattr-probe.js";
import { describeFlags, flagValue, hasFlag, parseFlags, type FlagSpec } from "../common/flags.js";
import { UsageError } from "../common/usage.js";

export const doctorFlags: Record<string, FlagSpec> = {
  "shared-dir": { value: true, meta: "DIR", help: "also check that DIR holds user.* xattrs (needed with --xattr)" },
  help: { value: false, aliases: ["-h"], help: "show this text" },
};

export const doctorHelp = `Usage: viofs doctor [--shared-dir=DIR]

Checks this host for what viofs needs (Node, memfd, eventfd, user xattrs,
namespaces for --sandbox=namespace, /dev/fuse, QEMU, virtiofsd) and prints
one line per check: ok, or missing and how to get it. Exit 0 when every
required check passes, 1 otherwise.

${describeFlags(doctorFlags)}
`;

/** One check's answer. */
export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  /** A failing required check makes the exit status 1. */
  readonly required: boolean;
  /** What was found. */
  readonly detail: string;
  /** How to get it, when it is missing. */
  readonly fix?: string;
}

export const doctorCommand = {
  summary: "Check this host for what viofs needs, and say how to get what is missing",
  run: runDoctor,
};

export async function runDoctor(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, doctorFlags);
  if (hasFlag(parsed, "help")) {
    process.stdout.write(doctorHelp);
    return 0;
  }
  if (parsed.positionals.length > 0) throw new UsageError(`unexpected argument '${parsed.positionals[0]}'; see --help`);
  const sharedDir = flagValue(parsed, "shared-dir");
  if (sharedDir !== undefined) {
    let isDir = false;
    try {
      isDir = statSync(sharedDir).isDirectory();
    } catch {
      throw new UsageError(`shared directory '${sharedDir}' does not exist; create it or fix the path`);
    }
    if (!isDir) throw new UsageError(`shared directory '${sharedDir}' is not a directory`);
  }
  const results = runChecks(sharedDir);
  for (const r of results) process.stdout.write(`${formatCheck(r)}\n`);
  const failed = results.filter((r) => r.required && !r.ok).length;
  const optional = results.filter((r) => !r.required && !r.ok).length;
  const tail = optional > 0 ? ` (${optional} optional missing)` : "";
  process.stdout.write(failed === 0 ? `viofs doctor: all required checks passed${tail}\n` : `viofs doctor: ${failed} required check${failed > 1 ? "s" : ""} failed${tail}\n`);
  return failed === 0 ? 0 : 1;
}

/** `ok       name            detail` or `missing  name            detail — fix`. */
export function formatCheck(r: CheckResult): string {
  const status = r.ok ? "ok" : "missing";
  const text = r.ok ? r.detail : `${r.detail}${r.required ? "" : " (optional)"}${r.fix !== undefined ? ` — ${r.fix}` : ""}`;
  return `${status.padEnd(8)} ${r.name.padEnd(15)} ${text}`;
}

/** Every check, in order. */
export function runChecks(sharedDir: string | undefined): CheckResult[] {
  return [checkNode(), checkKernel(), checkMemfd(), checkEventfd(), checkXattrs(sharedDir), checkNamespaces(), checkFuse(), checkQemu(), checkVirtiofsd()];
}

function checkNode(): CheckResult {
  const major = Number(process.versions.node.split(".")[0]);
  return major >= 20
    ? { name: "node", ok: true, required: true, detail: `Node.js ${process.versions.node}` }
    : { name: "node", ok: false, required: true, detail: `Node.js ${process.versions.node} is older than 20`, fix: "install Node.js 20 or later (https://nodejs.org, or apt-get install nodejs from NodeSource)" };
}

/** memfd and OFD locks need 3.17; openat2 5.6; viofs is tested on 6.x. */
function checkKernel(): CheckResult {
  const text = release();
  const [major, minor] = text.split(/[.-]/).map(Number) as [number, number];
  const recent = major > 5 || (major === 5 && minor >= 6);
  return recent
    ? { name: "kernel", ok: true, required: false, detail: `Linux ${text}` }
    : { name: "kernel", ok: false, required: false, detail: `Linux ${text} is older than 5.6 (no openat2; viofs is tested on 6.x)`, fix: "upgrade the kernel (apt-get install linux-image-amd64)" };
}

function checkMemfd(): CheckResult {
  try {
    closeSync(memfdCreate("viofs-doctor", 4096));
    return { name: "memfd", ok: true, required: true, detail: "memfd_create works (shared guest memory for viofs mount and viofs shell)" };
  } catch (error) {
    return { name: "memfd", ok: false, required: true, detail: `memfd_create failed: ${describe(error)}`, fix: "a Linux kernel of 3.17 or later with CONFIG_MEMFD_CREATE" };
  }
}

function checkEventfd(): CheckResult {
  try {
    closeSync(eventfd());
    return { name: "eventfd", ok: true, required: true, detail: "eventfd works (virtqueue kicks and calls)" };
  } catch (error) {
    return { name: "eventfd", ok: false, required: true, detail: `eventfd failed: ${describe(error)}`, fix: "a Linux kernel with CONFIG_EVENTFD" };
  }
}

/** On the shared directory (required), or without one on the temporary directory (for information). */
function checkXattrs(sharedDir: string | undefined): CheckResult {
  const dir = sharedDir ?? tmpdir();
  const probe = probeUserXattrs(dir);
  const required = sharedDir !== undefined;
  if (probe.ok) return { name: "user xattrs", ok: true, required, detail: `${dir} holds user.* xattrs (--xattr, Windows metadata)` };
  const fix =
    probe.errno === "ENOTSUP" || probe.errno === "EOPNOTSUPP"
      ? "share a directory on ext4, xfs, btrfs or tmpfs (or remount with -o user_xattr)"
      : probe.errno === "EACCES" || probe.errno === "EPERM"
        ? `run as the owner of ${dir}, or as root`
        : "share a directory on a file system with user xattrs";
  return { name: "user xattrs", ok: false, required, detail: `${dir} refuses user.* xattrs (${probe.reason})`, fix };
}

/** What `viofs serve --sandbox=namespace` (the default) runs. */
function checkNamespaces(): CheckResult {
  const probe = spawnSync("unshare", ["--mount", "--pid", "--net", "--fork", "--kill-child", "true"], { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8", timeout: 10_000 });
  if (probe.error !== undefined) {
    const code = (probe.error as NodeJS.ErrnoException).code;
    return {
      name: "namespaces",
      ok: false,
      required: false,
      detail: code === "ENOENT" ? "no 'unshare' in PATH (needed by --sandbox=namespace, the default)" : `cannot run 'unshare': ${code ?? probe.error.message}`,
      fix: "apt-get install util-linux, or serve with --sandbox=chroot or --sandbox=none",
    };
  }
  if (probe.status !== 0) {
    const reason = (probe.stderr ?? "").trim().split("\n")[0]?.replace(/^unshare:\s*/, "") || `exit status ${probe.status}`;
    return {
      name: "namespaces",
      ok: false,
      required: false,
      detail: `mount/pid/net namespaces refused: ${reason} (--sandbox=namespace, the default)`,
      fix: "run as root (or with CAP_SYS_ADMIN), or serve with --sandbox=chroot or --sandbox=none",
    };
  }
  return { name: "namespaces", ok: true, required: false, detail: "mount, pid and net namespaces can be made (--sandbox=namespace)" };
}

function checkFuse(): CheckResult {
  if (!existsSync("/dev/fuse")) {
    return { name: "/dev/fuse", ok: false, required: false, detail: "no /dev/fuse (viofs mount, serve --fuse-mount)", fix: "modprobe fuse (the module is in linux-image; fuse3 brings the tools)" };
  }
  try {
    accessSync("/dev/fuse", fsConstants.R_OK | fsConstants.W_OK);
  } catch {
    return { name: "/dev/fuse", ok: false, required: false, detail: "/dev/fuse is not readable and writable here (viofs mount, serve --fuse-mount)", fix: "run as root (mounting needs CAP_SYS_ADMIN)" };
  }
  return { name: "/dev/fuse", ok: true, required: false, detail: "/dev/fuse can be opened (viofs mount, serve --fuse-mount)" };
}

/** QEMU 4.2 brought vhost-user-fs-pci; memory-backend-memfd share=on is older (2.12). */
function checkQemu(): CheckResult {
  const run = spawnSync("qemu-system-x86_64", ["--version"], { encoding: "utf8", timeout: 10_000 });
  if (run.error !== undefined || run.status !== 0) {
    return { name: "qemu", ok: false, required: false, detail: "no qemu-system-x86_64 (to run a VM on the share)", fix: "apt-get install qemu-system-x86" };
  }
  const m = /version (\d+)\.(\d+)(?:\.(\d+))?/.exec(run.stdout);
  if (m === null) return { name: "qemu", ok: false, required: false, detail: `qemu-system-x86_64 --version said '${run.stdout.trim().split("\n")[0]}'`, fix: "apt-get install qemu-system-x86" };
  const [major, minor] = [Number(m[1]), Number(m[2])];
  const version = `${m[1]}.${m[2]}${m[3] !== undefined ? `.${m[3]}` : ""}`;
  if (major < 4 || (major === 4 && minor < 2)) {
    return { name: "qemu", ok: false, required: false, detail: `QEMU ${version} has no vhost-user-fs-pci (4.2 or later)`, fix: "apt-get install qemu-system-x86 from a newer release" };
  }
  return {
    name: "qemu",
    ok: true,
    required: false,
    detail: `QEMU ${version} (vhost-user-fs-pci; guest RAM: -object memory-backend-memfd,id=mem,size=…,share=on -numa node,memdev=mem)`,
  };
}

/** QEMU's C virtiofsd (Debian 12) or the Rust one (Debian 13, its own package), for comparisons and benchmarks. */
function checkVirtiofsd(): CheckResult {
  const places = ["/usr/lib/qemu/virtiofsd", "/usr/libexec/virtiofsd", ...(process.env.PATH ?? "").split(delimiter).filter((d) => d.length > 0).map((d) => join(d, "virtiofsd"))];
  const found = places.find((p) => {
    try {
      accessSync(p, fsConstants.X_OK);
      return statSync(p).isFile();
    } catch {
      return false;
    }
  });
  return found !== undefined
    ? { name: "virtiofsd", ok: true, required: false, detail: `${found} (the reference the tests and benchmarks compare with)` }
    : { name: "virtiofsd", ok: false, required: false, detail: "no virtiofsd (the reference for tests and benchmarks)", fix: "apt-get install qemu-system-common (Debian 12) or virtiofsd (Debian 13)" };
}

function describe(error: unknown): string {
  return ErrnoError.is(error) ? error.errnoName : error instanceof Error ? error.message : String(error);
}
