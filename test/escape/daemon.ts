/**
 * A real `viofs serve` on a scratch directory laid out for attacks, shared by
 * the escape and fault suites and the soak: `<dir>/share` is served,
 * `<dir>/outside` holds canaries the guest must never reach, and
 * {@link Daemon.outsideSnapshot} records everything about them that a read,
 * write, create, link, chmod or chown would change.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ErrnoError } from "../../src/common/errors.js";
import { Errno } from "../../src/common/errno.js";
import { VirtioFsDriver, type DriverOptions } from "../../src/guest/driver.js";
import { FuseSession, type SessionOptions } from "../../src/guest/session.js";
import { start, type Running } from "../host/viofs-process.js";

export interface DaemonOptions {
  /** Extra `viofs serve` flags (the defaults: --sandbox=none --xattr --cache=auto). */
  readonly args?: readonly string[];
  /** --sandbox mode (default none: escapes, if any, would be visible on the host). */
  readonly sandbox?: "none" | "namespace" | "chroot";
  /** --log-level (default error). */
  readonly logLevel?: string;
  /** Where the scratch directory goes (default: the system's tmpdir). */
  readonly parent?: string;
  /** Called with the share before the daemon starts, to plant files. */
  readonly prepare?: (share: string, outside: string) => void;
  /** Reuse this scratch directory (one a stopped Daemon kept) instead of laying out a new one. */
  readonly dir?: string;
  /** Keep the scratch directory when stopping (default false). */
  readonly keep?: boolean;
}

export interface Connection {
  readonly driver: VirtioFsDriver;
  readonly session: FuseSession;
}

function children(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export class Daemon {
  private constructor(
    readonly dir: string,
    readonly share: string,
    readonly outside: string,
    readonly socket: string,
    readonly running: Running,
    private readonly keep: boolean,
  ) {}

  /**
   * Lays out the scratch directory (or takes `options.dir`) and starts `viofs
   * serve`; resolves once it listens. If it never does, the daemon is killed
   * and a scratch directory laid out here is removed.
   */
  static async start(options: DaemonOptions = {}): Promise<Daemon> {
    if (options.dir !== undefined) return Daemon.launch(options.dir, options);
    const dir = fs.mkdtempSync(path.join(options.parent ?? os.tmpdir(), "viofs-escape-"));
    try {
      fs.chmodSync(dir, 0o755);
      fs.mkdirSync(path.join(dir, "share"));
      const outside = path.join(dir, "outside");
      fs.mkdirSync(outside);
      fs.writeFileSync(path.join(outside, "secret"), "the host's secret\n");
      fs.mkdirSync(path.join(outside, "sub"));
      fs.writeFileSync(path.join(outside, "sub", "file"), "file\n");
      return await Daemon.launch(dir, options);
    } catch (error) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Starts `viofs serve` on the laid-out `dir` and waits until it listens. */
  private static async launch(dir: string, options: DaemonOptions): Promise<Daemon> {
    const share = path.join(dir, "share");
    const outside = path.join(dir, "outside");
    options.prepare?.(share, outside);
    const socket = path.join(dir, "vhost.sock");
    const running = start([
      "serve",
      `--socket-path=${socket}`,
      `--shared-dir=${share}`,
      `--sandbox=${options.sandbox ?? "none"}`,
      "--xattr",
      "--cache=auto",
      `--log-level=${options.logLevel ?? "error"}`,
      ...(options.args ?? []),
    ]);
    const deadline = Date.now() + 20_000;
    for (;;) {
      let ready = false;
      try {
        ready = fs.statSync(socket).isSocket();
      } catch {
        ready = false;
      }
      if (ready) break;
      if (running.child.exitCode !== null || Date.now() > deadline) {
        running.child.kill("SIGKILL");
        await running.exited;
        throw new Error(`viofs serve did not listen on ${socket}:\n${running.stderr()}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    return new Daemon(dir, share, outside, socket, running, options.keep ?? false);
  }

  /** The process that serves requests: the daemon, or the deepest child of the namespace launcher. */
  servingPid(): number {
    let pid = this.running.child.pid!;
    for (let kids = children(pid); kids.length > 0; kids = children(pid)) pid = kids[0]!;
    return pid;
  }

  /** Open fds of the serving process. */
  fdCount(): number {
    return fs.readdirSync(`/proc/${this.servingPid()}/fd`).length;
  }

  /** Resident set of the serving process, KiB. */
  rssKiB(): number {
    const m = /^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${this.servingPid()}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  }

  /** Connects a guest driver (retrying while the socket is not accepting yet) and opens a session. */
  async connect(options: { driver?: DriverOptions; session?: SessionOptions } = {}): Promise<Connection> {
    const deadline = Date.now() + 5000;
    let driver: VirtioFsDriver;
    for (;;) {
      try {
        driver = await VirtioFsDriver.connect(this.socket, { memorySize: 32 << 20, queueSize: 256, ...options.driver });
        break;
      } catch (error) {
        if (!(ErrnoError.is(error) && error.errno === Errno.ECONNREFUSED) || Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    try {
      return { driver, session: await FuseSession.init(driver, options.session) };
    } catch (error) {
      driver.close();
      throw error;
    }
  }

  /**
   * Everything outside the share that an escape would change: names, types,
   * modes, owners, sizes, link counts, times and contents under `outside/`
   * and the scratch directory itself, plus /etc/passwd's status.
   */
  outsideSnapshot(): string {
    const lines: string[] = [];
    const walk = (p: string, rel: string): void => {
      const s = fs.lstatSync(p);
      lines.push(`${rel} ${s.mode.toString(8)} ${s.uid}:${s.gid} ${s.size} ${s.nlink} ${s.mtimeMs} ${s.ctimeMs}`);
      if (s.isDirectory()) for (const name of fs.readdirSync(p).sort()) walk(path.join(p, name), `${rel}/${name}`);
      else if (s.isFile()) lines.push(`  ${fs.readFileSync(p, "latin1")}`);
    };
    walk(this.outside, "outside");
    const names = fs.readdirSync(this.dir).filter((n) => n !== "share" && n !== "outside" && !n.startsWith("vhost.sock"));
    lines.push(`scratch: ${names.sort().join(" ")}`);
    const passwd = fs.lstatSync("/etc/passwd");
    lines.push(`/etc/passwd ${passwd.mode} ${passwd.size} ${passwd.nlink} ${passwd.mtimeMs} ${passwd.ctimeMs}`);
    return lines.join("\n");
  }

  /** Stops the daemon (SIGTERM, SIGKILL after `graceMs`) and removes the scratch directory. */
  async stop(graceMs = 5000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running.child.exitCode === null && this.running.child.signalCode === null) this.running.child.kill("SIGTERM");
    const timer = setTimeout(() => this.running.child.kill("SIGKILL"), graceMs);
    const result = await this.running.exited;
    clearTimeout(timer);
    if (!this.keep) fs.rmSync(this.dir, { recursive: true, force: true });
    return result;
  }
}
