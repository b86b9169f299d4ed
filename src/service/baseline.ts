/**
 * The "virtio-win" baseline: the service behaving as virtio-win's
 * `virtiofs.exe` does (docs: /work/shared/reference/virtiofs-anchors.md §2),
 * so benchmarks can compare the two approaches on the same device path.
 *
 * What the baseline changes (FuseWindowsOptions.baseline):
 * - one FUSE request in flight at a time: every request the service sends
 *   waits for the previous one's reply ({@link serialSession});
 * - READ in chunks of `max_pages` × 4 KiB and WRITE in chunks of
 *   `max_write`, one after another (virtio-win's `SubmitReadRequest` and
 *   `SubmitWriteRequest` loops);
 * - no name or attribute cache: every open walks the path with one LOOKUP
 *   per component, and attributes are fetched each time they are needed
 *   (the options resolve `nameCacheSize` and `maxCacheMs` to 0);
 * - on case-insensitive volumes, a miss of the exact spelling scans the
 *   whole directory (OPENDIR, READDIR in 4 KiB pages, RELEASEDIR) instead of
 *   consulting a name index (virtio-win's `NameAwareRequest`).
 *
 * Everything else (Windows metadata in xattrs, the volume flags) stays as
 * in the normal service: the baseline measures the request pattern, not
 * missing features.
 */
import type { FuseSession, ReadOptions, WriteOptions } from "../guest/session.js";
import { Mutex } from "./mutex.js";

/** The baselines the service can reproduce. */
export type Baseline = "virtio-win";

/** READDIR buffer of virtio-win's case-insensitive scan, bytes. */
export const BASELINE_READDIR_SIZE = 4096;

/** The guest page size virtio-win's READ chunk counts in. */
const PAGE = 4096;

/** Session methods that send a request and wait for its reply: each holds the one slot. */
const SERIAL: ReadonlySet<PropertyKey> = new Set<keyof FuseSession>([
  "lookup", "getattr", "setattr", "statx", "readlink", "symlink", "mknod", "mkdir", "unlink", "rmdir",
  "rename", "rename2", "link", "open", "create", "tmpfile", "flush", "release", "fsync", "fallocate",
  "lseek", "copyFileRange", "opendir", "readdir", "readdirplus", "releasedir", "fsyncdir", "statfs",
  "access", "syncfs", "bmap", "ioctl", "poll", "setxattr", "getxattr", "getxattrSize", "listxattr",
  "listxattrSize", "removexattr", "getlk", "setlk", "setlkw", "request",
]);

/**
 * A view of `session` that sends one request at a time (in the order the
 * service asked), with READ and WRITE cut into virtio-win's chunks, each
 * chunk its own turn. FORGET batches, which have no reply, pass through.
 */
export function serialSession(session: FuseSession): FuseSession {
  const slot = new Mutex();
  const readChunk = Math.max(1, Math.min(session.info.maxPages * PAGE, session.info.maxRead));
  const writeChunk = Math.max(1, session.info.maxWrite);

  const readInto = async (nodeid: bigint, fh: bigint, offset: bigint | number, target: Uint8Array, o?: ReadOptions): Promise<number> => {
    let total = 0;
    do {
      const sink = target.subarray(total, Math.min(target.length, total + readChunk));
      const n = await slot.run(() => session.readInto(nodeid, fh, BigInt(offset) + BigInt(total), sink, o));
      total += n;
      if (n < sink.length) break;
    } while (total < target.length);
    return total;
  };
  const read = async (nodeid: bigint, fh: bigint, offset: bigint | number, size: number, o?: ReadOptions): Promise<Uint8Array> => {
    const target = new Uint8Array(size);
    const n = await readInto(nodeid, fh, offset, target, o);
    return n === size ? target : target.subarray(0, n);
  };
  const write = async (nodeid: bigint, fh: bigint, offset: bigint | number, data: Uint8Array, o?: WriteOptions): Promise<number> => {
    let total = 0;
    do {
      const part = data.subarray(total, Math.min(data.length, total + writeChunk));
      const n = await slot.run(() => session.write(nodeid, fh, BigInt(offset) + BigInt(total), part, o));
      total += n;
      if (n < part.length) break;
    } while (total < data.length);
    return total;
  };
  const overrides = new Map<PropertyKey, unknown>([
    ["read", read],
    ["readInto", readInto],
    ["write", write],
  ]);

  return new Proxy(session, {
    get(target, prop) {
      const own = overrides.get(prop);
      if (own !== undefined) return own;
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      const method = value as (...args: unknown[]) => unknown;
      if (!SERIAL.has(prop)) return method.bind(target);
      return (...args: unknown[]) => slot.run(async () => method.apply(target, args));
    },
  });
}
