/**
 * The listening vhost-user socket of `viofs serve`, as virtiofsd sets it up:
 * either a path it creates (mode 0600, or 0660 with a group) guarded by a
 * `<socket>.pid` lock file, or an fd a manager such as libvirt created and
 * passed (`--fd=N`), which is checked to be a listening AF_UNIX stream socket.
 *
 * A path already holding a socket is probed before anything replaces it: a
 * live one (another server listens there) is refused, a stale one (left by a
 * process that died) is removed. The probe never disturbs a live server when
 * it can avoid it: virtiofsd-like servers take exactly one connection and
 * quit when it closes, so a test connection would end them. The pid-file
 * lock and the kernel's list of listening sockets (/proc/net/unix) answer
 * first; only a socket found in neither is probed by connecting.
 *
 * Every failure a person can fix is a {@link UsageError} (exit 1) of one line
 * that says what to do.
 */
import { chmodSync, chownSync, closeSync, fstatSync, lstatSync, openSync, readFileSync, statSync, unlinkSync, writeSync, ftruncateSync, constants as fsConstants } from "node:fs";
import { spawnSync } from "node:child_process";
import { dirname, resolve } from "node:path";
import { ErrnoError } from "../common/errors.js";
import { Errno, errnoMessage } from "../common/errno.js";
import { UsageError } from "../common/usage.js";
import * as libc from "../sys/libc.js";
import { AF_UNIX, F_SETFD, FD_CLOEXEC, LOCK_EX, O_NONBLOCK, SOCK_STREAM, SOL_SOCKET } from "../sys/constants.js";
import { acceptAsync, connectUnix, flock, getFileFlags, listenUnix, setFileFlags } from "../sys/index.js";

// asm-generic/socket.h: the getsockopt names that describe a socket.
const SO_TYPE = 3;
const SO_ACCEPTCONN = 30;
const SO_DOMAIN = 39;

/** `__SO_ACCEPTCON` in the Flags column of /proc/net/unix: the socket listens. */
const PROC_NET_UNIX_LISTENING = 0x10000;

/** How the socket file is protected. */
export interface BindOptions {
  /** Group that may connect as well (mode 0660); a name or a number. */
  group?: string;
  /** Listen backlog (default 16). */
  backlog?: number;
}

export class Listener {
  private readonly abort = new AbortController();
  private listening = true;

  private constructor(
    /** The listening fd (non-blocking, close-on-exec). */
    readonly fd: number,
    /** The socket file this process created and removes at the end; null for an adopted fd. */
    readonly socketPath: string | null,
    private pidFile: PidFile | null,
  ) {}

  /**
   * Creates the socket at `path`: takes the `<path>.pid` lock, refuses a
   * socket in use, replaces a stale one, binds with mode 0600 (0660 and the
   * group's ownership with `options.group`) and listens.
   */
  static bind(path: string, options: BindOptions = {}): Listener {
    const absolute = resolve(path);
    const parent = dirname(absolute);
    if (!isDirectory(parent)) {
      throw new UsageError(`the socket's directory '${parent}' does not exist; create it or choose another --socket-path`, 1);
    }
    const gid = options.group === undefined ? undefined : resolveGroup(options.group);
    const pidFile = PidFile.lock(`${absolute}.pid`, absolute);
    let fd = -1;
    try {
      clearStalePath(absolute);
      // The file appears at bind(2) with 0777 & ~umask; set the umask so that
      // nobody else can connect between bind and chmod.
      const previous = process.umask(0o177);
      try {
        fd = listenUnix(absolute, options.backlog ?? 16);
      } catch (error) {
        throw explainBindError(error, absolute);
      } finally {
        process.umask(previous);
      }
      if (gid !== undefined) {
        try {
          chownSync(absolute, -1, gid);
          chmodSync(absolute, 0o660);
        } catch (error) {
          throw new UsageError(`cannot give socket ${absolute} to group '${options.group}': ${describe(error)}; check that you may use that group`, 1);
        }
      }
      return new Listener(fd, absolute, pidFile);
    } catch (error) {
      if (fd >= 0) {
        closeSync(fd);
        unlinkQuietly(absolute);
      }
      pidFile.release();
      throw error;
    }
  }

  /**
   * Takes over an fd that is already listening (libvirt's `--fd=N`): checks
   * that it is an AF_UNIX stream socket in the listening state, and makes it
   * non-blocking and close-on-exec.
   */
  static adopt(fd: number): Listener {
    const option = (name: number): number => {
      const value = Buffer.alloc(4);
      const length = new Uint32Array([4]);
      if (libc.getsockopt(fd, SOL_SOCKET, name, value, length) < 0) {
        const errno = libc.lastErrno();
        if (errno === Errno.EBADF) throw new UsageError(`--fd=${fd} is not an open file descriptor; pass the fd of a listening socket`, 1);
        if (errno === Errno.ENOTSOCK) throw new UsageError(`--fd=${fd} is ${describeFd(fd)}, not a socket; pass the fd of a listening Unix socket`, 1);
        throw new UsageError(`--fd=${fd}: getsockopt: ${errnoMessage(errno)}`, 1);
      }
      return value.readInt32LE(0);
    };
    if (option(SO_DOMAIN) !== AF_UNIX) throw new UsageError(`--fd=${fd} is not a Unix (AF_UNIX) socket; vhost-user needs one`, 1);
    if (option(SO_TYPE) !== SOCK_STREAM) throw new UsageError(`--fd=${fd} is not a stream (SOCK_STREAM) socket; vhost-user needs one`, 1);
    if (option(SO_ACCEPTCONN) !== 1) throw new UsageError(`--fd=${fd} is a socket that is not listening; call listen(2) on it before passing it`, 1);
    setFileFlags(fd, getFileFlags(fd) | O_NONBLOCK);
    libc.check(libc.fcntlInt(fd, F_SETFD, FD_CLOEXEC), "fcntl(F_SETFD)");
    return new Listener(fd, null, null);
  }

  /**
   * Waits (without blocking the event loop) for the next connection and
   * returns its fd, non-blocking and close-on-exec; the caller owns it.
   * Rejects with ECANCELED once {@link stopListening} or {@link close} is called.
   */
  accept(): Promise<number> {
    if (!this.listening) return Promise.reject(new ErrnoError(Errno.ECANCELED, "accept"));
    return acceptAsync(this.fd, { signal: this.abort.signal });
  }

  /**
   * Closes the listening fd: further connections are refused. The socket and
   * pid files stay until {@link close} (a process that handed the fd on keeps
   * its lock while the other one serves). Idempotent.
   */
  stopListening(): void {
    if (!this.listening) return;
    this.listening = false;
    this.abort.abort(new ErrnoError(Errno.ECANCELED, "accept"));
    closeSync(this.fd);
  }

  /** Stops listening, removes the socket file this process created and releases the pid-file lock. Idempotent. */
  close(): void {
    this.stopListening();
    if (this.socketPath !== null) unlinkQuietly(this.socketPath);
    this.pidFile?.release();
    this.pidFile = null;
  }
}

/**
 * `<socket>.pid`: an exclusively flock(2)ed file holding the pid of the
 * server of that socket, as virtiofsd keeps one. The lock lives as long as
 * the fd; the file is removed (still locked) at the end.
 */
class PidFile {
  private constructor(
    private readonly path: string,
    private fd: number,
  ) {}

  static lock(path: string, socketPath: string): PidFile {
    for (;;) {
      let fd: number;
      try {
        fd = openSync(path, fsConstants.O_WRONLY | fsConstants.O_CREAT, 0o600);
      } catch (error) {
        throw new UsageError(`cannot create the pid file ${path}: ${describe(error)}; check the socket directory's permissions`, 1);
      }
      try {
        flock(fd, LOCK_EX);
      } catch (error) {
        closeSync(fd);
        if (ErrnoError.is(error) && error.errno === Errno.EAGAIN) {
          const holder = readPid(path);
          throw new UsageError(`socket ${socketPath} is in use by another process${holder ? ` (pid ${holder})` : ""}; stop it or choose another path`, 1);
        }
        throw error;
      }
      // The holder before us may have removed the file between our open and
      // our lock: then we locked an orphan, and start again.
      let current: number | null = null;
      try {
        current = statSync(path).ino;
      } catch {
        current = null;
      }
      if (current !== fstatSync(fd).ino) {
        closeSync(fd);
        continue;
      }
      ftruncateSync(fd, 0);
      writeSync(fd, `${process.pid}\n`, 0);
      return new PidFile(path, fd);
    }
  }

  release(): void {
    if (this.fd < 0) return;
    unlinkQuietly(this.path);
    closeSync(this.fd);
    this.fd = -1;
  }
}

/** Makes room for the socket at `path`: nothing there, or a socket nobody listens on (removed). */
function clearStalePath(path: string): void {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw new UsageError(`cannot look at ${path}: ${describe(error)}`, 1);
  }
  if (!isSocket) throw new UsageError(`${path} exists and is not a socket; remove it or choose another --socket-path`, 1);
  if (listedAsListening(path) || answersConnect(path)) {
    throw new UsageError(`socket ${path} is in use by another process; stop it or choose another path`, 1);
  }
  try {
    unlinkSync(path);
  } catch (error) {
    throw new UsageError(`cannot remove the stale socket ${path}: ${describe(error)}`, 1);
  }
}

/** Whether a socket bound to `path` listens in this network namespace (/proc/net/unix), without touching it. */
function listedAsListening(path: string): boolean {
  let table: string;
  try {
    table = readFileSync("/proc/net/unix", "utf8");
  } catch {
    return false;
  }
  // Num RefCount Protocol Flags Type St Inode Path
  for (const line of table.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 8) continue;
    const flags = Number.parseInt(fields[3]!, 16);
    if ((flags & PROC_NET_UNIX_LISTENING) !== 0 && fields.slice(7).join(" ") === path) return true;
  }
  return false;
}

/** Whether something accepts connections at `path` (ECONNREFUSED: nobody listens). */
function answersConnect(path: string): boolean {
  try {
    closeSync(connectUnix(path));
    return true;
  } catch (error) {
    if (ErrnoError.is(error)) {
      if (error.errno === Errno.ECONNREFUSED || error.errno === Errno.ENOENT) return false;
      // A full backlog: someone listens and is busy.
      if (error.errno === Errno.EAGAIN) return true;
    }
    throw new UsageError(`cannot check whether socket ${path} is in use: ${describe(error)}`, 1);
  }
}

function explainBindError(error: unknown, path: string): unknown {
  if (!ErrnoError.is(error)) return error;
  switch (error.errno) {
    case Errno.ENAMETOOLONG:
      return new UsageError(`socket path ${path} is too long (a Unix socket path holds at most 107 bytes); choose a shorter one`, 1);
    case Errno.EADDRINUSE:
      return new UsageError(`socket ${path} was created by another process meanwhile; stop it or choose another path`, 1);
    case Errno.EACCES:
    case Errno.EPERM:
    case Errno.EROFS:
      return new UsageError(`cannot create socket ${path}: ${errnoMessage(error.errno)}; choose a directory you may write to`, 1);
    default:
      return new UsageError(`cannot listen on ${path}: ${error.message}`, 1);
  }
}

/** A group name (from /etc/group, else NSS through getent) or number, as its gid. */
export function resolveGroup(group: string): number {
  if (/^\d+$/.test(group)) return Number(group);
  try {
    for (const line of readFileSync("/etc/group", "utf8").split("\n")) {
      const [name, , gid] = line.split(":");
      if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
    }
  } catch {
    // No /etc/group: ask NSS below.
  }
  const answer = spawnSync("getent", ["group", group], { encoding: "utf8" });
  const gid = answer.status === 0 ? answer.stdout.split(":")[2] : undefined;
  if (gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  throw new UsageError(`--socket-group: no group named '${group}'; give an existing group name or number`, 1);
}

function readPid(path: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(path, "utf8"), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function describeFd(fd: number): string {
  try {
    const stat = fstatSync(fd);
    if (stat.isFile()) return "a regular file";
    if (stat.isDirectory()) return "a directory";
    if (stat.isFIFO()) return "a pipe";
    if (stat.isCharacterDevice()) return "a character device";
    return "not a socket";
  } catch {
    return "an unknown kind of file";
  }
}

function describe(error: unknown): string {
  if (ErrnoError.is(error)) return errnoMessage(error.errno);
  const code = (error as NodeJS.ErrnoException).code;
  return code ?? String(error);
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone (or never made): nothing to clean.
  }
}
