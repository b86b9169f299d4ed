/**
 * Creating as the caller. A new file, directory, node or symlink must belong
 * to the guest's uid and gid, take its group from a setgid parent the way the
 * kernel decides it, and be refused where the caller may not create. Like
 * virtiofsd (which switches the euid of one worker thread per request), the
 * create call runs with the calling thread's credentials switched:
 *
 * - setfsuid/setfsgid, which act on the calling thread only and switch only
 *   the ids used for file access. While the fsuid is not 0 the kernel also
 *   drops the thread's file capabilities (CAP_CHOWN, CAP_DAC_OVERRIDE,
 *   CAP_FOWNER, CAP_FSETID, CAP_MKNOD...), so the host checks the caller's
 *   permissions, and a non-root caller cannot keep S_ISGID on a file of a
 *   group it is not in;
 * - the supplementary groups, set to the one the request carries
 *   (FUSE_CREATE_SUPP_GROUP) or to none, with the raw setgroups system call
 *   (this thread only), so the daemon's own groups never count for the
 *   caller (CVE-2022-0358);
 * - the process umask, set to the caller's for the length of the call, so
 *   the kernel applies it exactly as for a local create (it ignores the umask
 *   under a default ACL); left alone when the daemon's umask (read once:
 *   nothing here changes it for good) takes the same bits off the mode as the
 *   caller's would. That is every create of a guest whose umask is the
 *   daemon's, and every create of a client that masked the mode itself (no
 *   FUSE_DONT_MASK) with bits the daemon's umask does not touch.
 *
 * All of it is synchronous on the JavaScript thread: no other request runs
 * in between, and the thread pool doing file I/O keeps the daemon's
 * credentials. A daemon that is not root cannot switch; it then creates as
 * itself (ownership is the daemon's) and says so through {@link enabled}.
 */
import { errno } from "../common/errors.js";
import type { Context } from "../server/filesystem.js";
import { umask as setUmask } from "../sys/fs.js";
import { getgroups, setfsgid, setfsuid, setThreadGroups } from "../sys/credentials.js";

/** `-1` as an id: invalid, so setfsuid/setfsgid only report the current value. */
const QUERY = 0xffff_ffff;

export class CallerCredentials {
  /** Whether creates run as the caller (the daemon is root). */
  readonly enabled: boolean;
  readonly #daemonGroups: readonly number[];
  readonly #daemonUmask: number;

  constructor() {
    this.#daemonGroups = getgroups();
    this.#daemonUmask = setUmask(0o022);
    setUmask(this.#daemonUmask);
    this.enabled = process.geteuid?.() === 0 && CallerCredentials.#canSwitch();
  }

  static #canSwitch(): boolean {
    const previous = setfsuid(65534);
    const now = setfsuid(QUERY);
    setfsuid(previous);
    return now === 65534;
  }

  /**
   * Runs `fn` as the caller of `ctx`, creating with `create.mode` under
   * `create.umask` when given. The daemon's credentials and umask are back
   * when it returns or throws.
   */
  run<T>(ctx: Context, create: { umask: number; mode: number } | undefined, fn: () => T): T {
    // The kernel creates with mode & ~umask & 0o777 (plus the special bits): switch only when that differs.
    const oldMask = create === undefined || (create.mode & 0o777 & (create.umask ^ this.#daemonUmask)) === 0 ? undefined : setUmask(create.umask);
    try {
      if (!this.enabled || (ctx.uid === 0 && ctx.gid === 0 && ctx.suppGroup === undefined)) return fn();
      return this.#as(ctx, fn);
    } finally {
      if (oldMask !== undefined) setUmask(oldMask);
    }
  }

  #as<T>(ctx: Context, fn: () => T): T {
    const groups = ctx.suppGroup === undefined ? [] : [ctx.suppGroup];
    const switchGroups = groups.length > 0 || this.#daemonGroups.length > 0;
    if (switchGroups) setThreadGroups(groups);
    const oldGid = setfsgid(ctx.gid);
    const oldUid = setfsuid(ctx.uid);
    try {
      // setfsuid cannot fail loudly: check, and refuse rather than create as root.
      if (setfsuid(QUERY) !== ctx.uid >>> 0 || setfsgid(QUERY) !== ctx.gid >>> 0) throw errno("EPERM", "setfsuid");
      return fn();
    } finally {
      setfsuid(oldUid);
      setfsgid(oldGid);
      if (switchGroups) setThreadGroups(this.#daemonGroups);
    }
  }
}
