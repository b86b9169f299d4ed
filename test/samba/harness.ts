/**
 * A real Samba server for tests: smbd on a loopback address, port 445,
 * sharing one directory with `vfs objects = acl_xattr streams_xattr`, and
 * the smbclient / smbcacls commands to look at that share from the Windows
 * side, with their output parsed.
 *
 * Each server binds its own 127.0.0.N (smbcacls only talks to port 445, and
 * several test files may run at once), keeps all its state in a temp
 * directory, and is stopped by its pid. Needs root (port 445, and smbd
 * writing security.NTACL) and the packages `samba`, `smbclient` and
 * `samba-vfs-modules` (acl_xattr.so, streams_xattr.so).
 */
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, mkdirSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** Where Debian's samba-vfs-modules puts the modules the share needs. */
export const VFS_MODULE_DIR = "/usr/lib/x86_64-linux-gnu/samba/vfs";

export interface SambaOptions {
  /** `acl_xattr:ignore system acls` (default true: the NT ACL is authoritative, as the project recommends). */
  readonly ignoreSystemAcls?: boolean;
  /** More `name = value` lines for the share section. */
  readonly shareOptions?: readonly string[];
}

/** What `smbclient -c 'allinfo <file>'` reports. */
export interface AllInfo {
  /** Creation time, to the second (smbclient prints no more). */
  readonly createTime: Date;
  readonly accessTime: Date;
  readonly writeTime: Date;
  readonly changeTime: Date;
  /** The attribute dword smbclient prints in parentheses. */
  readonly attributes: number;
  /** The letters smbclient prints before it (e.g. `RHSA`). */
  readonly attributeLetters: string;
  /** Streams by name as listed (`::$DATA`, `:name:$DATA`) with their sizes. */
  readonly streams: ReadonlyMap<string, number>;
}

/** One EA as `smbclient -c 'geteas <file>'` lists it. */
export interface SambaEa {
  readonly name: string;
  readonly flags: number;
  readonly value: Uint8Array;
}

/** The result of one client command. */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A dummy domain SID for smbcacls' SDDL, so it does not ask the server's LSA. */
const DOMAIN_SID = "S-1-5-21-1-2-3";

function run(cmd: string, args: readonly string[], timeoutMs = 30_000): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { env: { ...process.env, TZ: "UTC", LANG: "C", LC_ALL: "C" }, timeout: timeoutMs, maxBuffer: 16 << 20, encoding: "utf8" },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== "number") {
          reject(new Error(`${cmd} ${args.join(" ")}: ${error.message}\n${stderr}`));
          return;
        }
        resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
      },
    );
  });
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** Throws, naming the package to install, when this machine cannot run the harness. */
export function checkSambaInstalled(): void {
  const missing: string[] = [];
  if (!existsSync("/usr/sbin/smbd")) missing.push("samba");
  if (!existsSync("/usr/bin/smbclient") || !existsSync("/usr/bin/smbcacls")) missing.push("smbclient");
  if (!existsSync(join(VFS_MODULE_DIR, "acl_xattr.so")) || !existsSync(join(VFS_MODULE_DIR, "streams_xattr.so"))) {
    missing.push("samba-vfs-modules");
  }
  if (missing.length > 0) throw new Error(`Samba harness: install ${missing.join(", ")} (scripts/setup.sh)`);
  if (process.getuid?.() !== 0) throw new Error("Samba harness: needs root (port 445, security.NTACL)");
}

/** A running smbd sharing one directory as `share`. */
export class SambaServer {
  private exited = false;

  private constructor(
    /** The loopback address smbd listens on. */
    readonly address: string,
    /** The shared host directory. */
    readonly shareDir: string,
    /** The temp directory with smb.conf, state and logs. */
    readonly stateDir: string,
    private readonly child: ChildProcess,
  ) {
    child.once("exit", () => {
      this.exited = true;
    });
  }

  /** `//address/share`. */
  get unc(): string {
    return `//${this.address}/share`;
  }

  get configFile(): string {
    return join(this.stateDir, "smb.conf");
  }

  /** Starts smbd for `shareDir` and waits until it accepts connections. */
  static async start(shareDir: string, options: SambaOptions = {}): Promise<SambaServer> {
    checkSambaInstalled();
    let lastError = "";
    for (let attempt = 0; attempt < 6; attempt++) {
      const address = `127.0.${1 + Math.floor(Math.random() * 250)}.${2 + Math.floor(Math.random() * 250)}`;
      if (await canConnect(address, 445)) continue; // someone else's server
      const stateDir = mkdtempSync(join(tmpdir(), "viofs-samba-"));
      for (const d of ["private", "lock", "state", "cache", "pid", "ncalrpc"]) mkdirSync(join(stateDir, d));
      writeFileSync(join(stateDir, "smb.conf"), smbConf(address, shareDir, stateDir, options));
      const log = openSync(join(stateDir, "smbd.out"), "w");
      const child = spawn("/usr/sbin/smbd", ["-F", "--no-process-group", "--debug-stdout", "-s", join(stateDir, "smb.conf")], {
        detached: true,
        stdio: ["ignore", log, log],
        env: { ...process.env, TZ: "UTC" },
      });
      closeSync(log);
      const server = new SambaServer(address, shareDir, stateDir, child);
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline && !server.exited) {
        if (await canConnect(address, 445)) return server;
        await sleep(50);
      }
      lastError = readFileSync(join(stateDir, "smbd.out"), "utf8").slice(-2000);
      await server.stop();
    }
    throw new Error(`Samba harness: smbd did not start:\n${lastError}`);
  }

  /** Stops smbd (SIGTERM to it, SIGKILL to its process group after 10 s) and removes the state directory. */
  async stop(): Promise<void> {
    const pid = this.child.pid;
    if (pid !== undefined && !this.exited) {
      const gone = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => {
        try {
          process.kill(-pid, "SIGKILL");
        } catch {
          // already gone
        }
      }, 10_000);
      await gone;
      clearTimeout(timer);
    }
    rmSync(this.stateDir, { recursive: true, force: true });
  }

  /** Runs `smbclient -c <commands>` as guest; throws when it exits non-zero unless `allowFailure`. */
  async smbclient(commands: string, allowFailure = false): Promise<CommandResult> {
    const r = await run("/usr/bin/smbclient", ["-s", this.configFile, this.unc, "-N", "-c", commands]);
    if (r.code !== 0 && !allowFailure) throw new Error(`smbclient -c ${JSON.stringify(commands)} exited ${r.code}:\n${r.stdout}${r.stderr}`);
    return r;
  }

  /** `allinfo` of a path in the share. */
  async allinfo(path: string): Promise<AllInfo> {
    const r = await this.smbclient(`allinfo "${path}"`);
    return parseAllInfo(r.stdout);
  }

  /** `allinfo` of several paths in one smbclient run (each connection costs about half a second). */
  async allinfoMany(paths: readonly string[]): Promise<AllInfo[]> {
    const r = await this.smbclient(paths.map((p) => `allinfo "${p}"`).join("; "));
    const chunks = r.stdout.split(/^(?=altname: )/m).filter((c) => c.startsWith("altname: "));
    if (chunks.length !== paths.length) throw new Error(`allinfo of ${paths.length} paths gave ${chunks.length} answers:\n${r.stdout}${r.stderr}`);
    return chunks.map(parseAllInfo);
  }

  /** The SD smbcacls reports, as SDDL (Samba's spelling: `0x%08x` masks, aliases for well-known SIDs). */
  async getSddl(path: string): Promise<string> {
    const r = await run("/usr/bin/smbcacls", ["-s", this.configFile, this.unc, path, "-N", "--sddl", `--domain-sid=${DOMAIN_SID}`]);
    if (r.code !== 0) throw new Error(`smbcacls ${path} exited ${r.code}:\n${r.stdout}${r.stderr}`);
    return r.stdout.trim();
  }

  /** Sets the whole SD (owner, group, DACL as given) with `smbcacls --sddl --set`. */
  async setSddl(path: string, sddl: string): Promise<void> {
    const r = await run("/usr/bin/smbcacls", [
      "-s",
      this.configFile,
      this.unc,
      path,
      "-N",
      "--sddl",
      `--domain-sid=${DOMAIN_SID}`,
      "--set",
      sddl,
    ]);
    if (r.code !== 0) throw new Error(`smbcacls --set ${path} exited ${r.code}:\n${r.stdout}${r.stderr}`);
  }

  /** The EAs smbclient lists for a path. */
  async getEas(path: string): Promise<SambaEa[]> {
    const r = await this.smbclient(`geteas "${path}"`);
    return parseGetEas(r.stdout);
  }

  /** Reads a file or `file:stream` of the share through SMB. */
  async get(path: string): Promise<Buffer> {
    const local = join(this.stateDir, `get-${Math.random().toString(36).slice(2)}`);
    await this.smbclient(`get "${path}" "${local}"`);
    const data = readFileSync(local);
    rmSync(local);
    return data;
  }

  /** Writes a file or `file:stream` of the share through SMB; returns smbclient's result (it may report an NTSTATUS). */
  async put(path: string, data: Uint8Array): Promise<CommandResult> {
    const local = join(this.stateDir, `put-${Math.random().toString(36).slice(2)}`);
    writeFileSync(local, data);
    const r = await this.smbclient(`put "${local}" "${path}"`, true);
    rmSync(local);
    return r;
  }
}

function smbConf(address: string, shareDir: string, stateDir: string, options: SambaOptions): string {
  const global = [
    "netbios name = VIOFSTEST",
    "workgroup = VIOFS",
    "server role = standalone server",
    `interfaces = ${address}/8`,
    "bind interfaces only = yes",
    "smb ports = 445",
    "disable netbios = yes",
    `private dir = ${join(stateDir, "private")}`,
    `lock directory = ${join(stateDir, "lock")}`,
    `state directory = ${join(stateDir, "state")}`,
    `cache directory = ${join(stateDir, "cache")}`,
    `pid directory = ${join(stateDir, "pid")}`,
    `ncalrpc dir = ${join(stateDir, "ncalrpc")}`,
    `log file = ${join(stateDir, "log.%m")}`,
    "log level = 1",
    `passdb backend = tdbsam:${join(stateDir, "private", "passdb.tdb")}`,
    "map to guest = bad user",
    "guest account = root",
    "load printers = no",
    "printing = bsd",
    "printcap name = /dev/null",
    "disable spoolss = yes",
  ];
  const share = [
    `path = ${shareDir}`,
    "read only = no",
    "guest ok = yes",
    "vfs objects = acl_xattr streams_xattr",
    "store dos attributes = yes",
    "ea support = yes",
    `acl_xattr:ignore system acls = ${options.ignoreSystemAcls ?? true ? "yes" : "no"}`,
    ...(options.shareOptions ?? []),
  ];
  return `[global]\n${global.map((l) => `  ${l}\n`).join("")}\n[share]\n${share.map((l) => `  ${l}\n`).join("")}`;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** Parses smbclient's `Wed Nov 25 18:05:03 2026 UTC`. */
export function parseSmbTime(text: string): Date {
  const m = /^\w{3} (\w{3}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4}) UTC$/.exec(text.trim());
  if (!m) throw new Error(`unexpected smbclient time ${JSON.stringify(text)}`);
  const month = MONTHS.indexOf(m[1]!);
  return new Date(Date.UTC(Number(m[6]), month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])));
}

/** Parses `allinfo` output. */
export function parseAllInfo(out: string): AllInfo {
  const field = (name: string): string => {
    const m = new RegExp(`^${name}:\\s*(.*)$`, "m").exec(out);
    if (!m) throw new Error(`allinfo output has no ${name}:\n${out}`);
    return m[1]!;
  };
  const attr = /^attributes: (\S*) \(([0-9a-fA-F]+)\)$/m.exec(out);
  if (!attr) throw new Error(`allinfo output has no attributes:\n${out}`);
  const streams = new Map<string, number>();
  for (const m of out.matchAll(/^stream: \[(.*)\], (\d+) bytes$/gm)) streams.set(m[1]!, Number(m[2]));
  return {
    createTime: parseSmbTime(field("create_time")),
    accessTime: parseSmbTime(field("access_time")),
    writeTime: parseSmbTime(field("write_time")),
    changeTime: parseSmbTime(field("change_time")),
    attributes: parseInt(attr[2]!, 16),
    attributeLetters: attr[1]!,
    streams,
  };
}

/**
 * Parses `geteas` output: `NAME (flags) =` then Samba's `dump_data` lines,
 * `[0000] ` and up to 16 bytes as `XX ` (two more spaces after the eighth),
 * padded to full width before the ASCII column.
 */
export function parseGetEas(out: string): SambaEa[] {
  const eas: SambaEa[] = [];
  let current: { name: string; flags: number; bytes: number[] } | undefined;
  for (const line of out.split("\n")) {
    const head = /^(.*) \((\d+)\) =$/.exec(line);
    if (head) {
      if (current) eas.push({ name: current.name, flags: current.flags, value: Uint8Array.from(current.bytes) });
      current = { name: head[1]!, flags: Number(head[2]), bytes: [] };
      continue;
    }
    if (!current || !/^\[[0-9A-Fa-f]{4}\] /.test(line)) continue;
    for (let i = 0; i < 16; i++) {
      const col = 7 + 3 * i + (i >= 8 ? 2 : 0);
      const hex = line.slice(col, col + 2);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) break;
      current.bytes.push(parseInt(hex, 16));
    }
  }
  if (current) eas.push({ name: current.name, flags: current.flags, value: Uint8Array.from(current.bytes) });
  return eas;
}
