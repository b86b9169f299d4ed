/**
 * The passthrough file system's options, and what each cache mode means for
 * the client: entry and attribute timeouts, and the FOPEN_* flags of OPEN,
 * CREATE and OPENDIR replies (virtiofsd's `--cache` table).
 */
import { FOpen } from "../fuse/abi.js";
import type { Retention } from "./inodes.js";

/** How much the client may cache. */
export type CacheMode = "auto" | "always" | "never" | "metadata";

export interface PassthroughOptions {
  /** The host directory to share. */
  readonly root: string;
  /** never: 0 s and direct I/O; auto: 1 s; metadata and always: 86400 s, with the page/dir caches kept. */
  readonly cache: CacheMode;
  /** Serve SETXATTR/GETXATTR/LISTXATTR/REMOVEXATTR (ENOSYS otherwise, as virtiofsd). */
  readonly xattr: boolean;
  /** Refuse every change with EROFS. Honoured by {@link createPassthrough}, which wraps the file system. */
  readonly readonly: boolean;
  /** Serve GETLK/SETLK/SETLKW with POSIX byte-range locks. */
  readonly posixLocks: boolean;
  /** Serve flock(2) locks (SETLK/SETLKW with FUSE_LK_FLOCK). */
  readonly flock: boolean;
  /** Mark submount roots (another st_dev or mount) with FUSE_ATTR_SUBMOUNT. */
  readonly announceSubmounts: boolean;
  /** The most fds the guest may make this file system hold (inodes, handles, lock fds); ENFILE past it. */
  readonly fdBudget?: number;
  /** How many forgotten nodes' O_PATH fds stay open for a new lookup, and how long (see inodes.ts; default DEFAULT_RETENTION). */
  readonly retention?: Retention;
  /** Negotiate FUSE_WRITEBACK_CACHE (the client then caches writes; safe only with exclusive access). */
  readonly writeback: boolean;
  /** Honour O_DIRECT from the guest (stripped otherwise, as virtiofsd's default). */
  readonly allowDirectIo?: boolean;
  /** Keep O_NOATIME from the guest (stripped otherwise, as virtiofsd's default). */
  readonly preserveNoatime?: boolean;
  /** Negotiate FUSE_HANDLE_KILLPRIV_V2 (off by default, as in virtiofsd). */
  readonly killprivV2?: boolean;
  /**
   * "auto" (the default): opens of regular files whose FLUSH would do
   * nothing carry FOPEN_NOFLUSH, so the guest's close(2) is no round trip
   * (see PassthroughFs's module comment); "always": every close is a FLUSH,
   * as with virtiofsd.
   */
  readonly flush?: FlushMode;
}

/** When the client is told it may close a file without a FLUSH. */
export type FlushMode = "auto" | "always";

/** What a cache mode means for replies. */
export interface CachePolicy {
  /** entry_valid and attr_valid, in seconds. */
  readonly timeout: bigint;
  /** FOPEN_* for a regular file. */
  readonly fileFlags: number;
  /** FOPEN_* for a directory. */
  readonly dirFlags: number;
  /** Whether READDIRPLUS is worth offering (not with cache=never, as virtiofsd). */
  readonly readdirplus: boolean;
}

const DAY = 86_400n;

const policies: Record<CacheMode, CachePolicy> = {
  never: { timeout: 0n, fileFlags: FOpen.DIRECT_IO, dirFlags: 0, readdirplus: false },
  auto: { timeout: 1n, fileFlags: 0, dirFlags: 0, readdirplus: true },
  metadata: { timeout: DAY, fileFlags: FOpen.DIRECT_IO, dirFlags: FOpen.CACHE_DIR | FOpen.KEEP_CACHE, readdirplus: true },
  always: { timeout: DAY, fileFlags: FOpen.KEEP_CACHE, dirFlags: FOpen.CACHE_DIR | FOpen.KEEP_CACHE, readdirplus: true },
};

/** The reply policy of a cache mode. */
export function cachePolicy(mode: CacheMode): CachePolicy {
  const policy = policies[mode];
  if (policy === undefined) throw new TypeError(`unknown cache mode ${String(mode)}`);
  return policy;
}
