/**
 * The C library through koffi: the one file that sees koffi and its loose
 * types. Everything here is a raw declaration with a TypeScript signature and
 * C's conventions (a negative return and `errno` on failure); the modules
 * beside this one wrap them into typed calls that throw {@link ErrnoError}.
 *
 * Conventions of the declarations:
 * - A buffer argument (`Buf`) is a `Uint8Array` (koffi passes its address, no
 *   copy), a raw address (`bigint`) or `null`.
 * - A C string argument (`CStr`) is a JS string (koffi encodes it as UTF-8 and
 *   adds the NUL) or a `Uint8Array` that already ends in a NUL. Callers check
 *   for embedded NULs first (see `cstring` in path.ts): koffi would cut the
 *   string there without a word.
 * - Variadic C functions (`syscall`, `fcntl`, `prctl`) are declared with fixed
 *   prototypes, one per use. On x86_64 System V that is ABI-correct for integer
 *   and pointer arguments: koffi's trampoline sets `%al` (the vector-register
 *   count a variadic callee reads) on every call, and fixed prototypes are what
 *   allow `.async` (koffi cannot call variadic functions asynchronously).
 * - `.async(...args, callback)` runs the call on a libuv worker thread. koffi
 *   saves the worker's `errno` and restores it around the callback, so
 *   {@link lastErrno} inside the callback is the call's errno.
 */
import koffi from "koffi";
import { ErrnoError } from "../common/errors.js";
import { SYS } from "./constants.js";

/** A pointer argument: a buffer or typed array (its address is passed), an address, or NULL. */
export type Buf = ArrayBufferView | bigint | null;
/** A C string argument: a JS string, or bytes that end in a NUL. */
export type CStr = string | Uint8Array;

/** A native function: a synchronous call, and `.async` on a libuv worker thread. */
export interface NativeFunction<A extends unknown[], R> {
  (...args: A): R;
  async(...args: [...A, (error: unknown, result: R) => void]): void;
}

const lib = koffi.load("libc.so.6");

function declare<A extends unknown[], R>(prototype: string): NativeFunction<A, R> {
  return lib.func(prototype) as unknown as NativeFunction<A, R>;
}

function sys<A extends unknown[]>(number: number, params: string[]): NativeFunction<A, number> {
  const fixed = lib.func("syscall", "long", ["long", ...params]) as unknown as NativeFunction<[number, ...A], number>;
  const call = ((...args: A) => fixed(number, ...args)) as NativeFunction<A, number>;
  call.async = (...args) => {
    const callback = args.pop() as (error: unknown, result: number) => void;
    fixed.async(number, ...(args as unknown as A), callback);
  };
  return call;
}

// ---- errno ----

/** The calling thread's errno (inside an `.async` callback: the call's errno). */
export function lastErrno(): number {
  return koffi.errno();
}

/** Throws the current errno as an {@link ErrnoError} for `call`. */
export function fail(call: string, path?: string): never {
  throw new ErrnoError(koffi.errno(), call, path);
}

/** `result` when it is not negative; otherwise throws the current errno. */
export function check(result: number, call: string, path?: string): number {
  if (result < 0) fail(call, path);
  return result;
}

/** The arguments of running async calls: the buffers among them must stay alive until the call ends. */
const inFlight = new Set<unknown[]>();

/**
 * Runs `fn(...args)` on a libuv worker thread and resolves with its result,
 * or rejects with an {@link ErrnoError} when the result is negative. The
 * arguments (buffers in particular) must stay untouched until it settles.
 */
export function checkAsync<A extends unknown[]>(
  fn: NativeFunction<A, number>,
  args: A,
  call: string,
  path?: string,
): Promise<number> {
  return new Promise((resolve, reject) => {
    inFlight.add(args);
    fn.async(...args, (error: unknown, result: number) => {
      inFlight.delete(args);
      if (error) reject(error);
      else if (result < 0) reject(new ErrnoError(koffi.errno(), call, path));
      else resolve(result);
    });
  });
}

// ---- memory ----

/** The address of a buffer's first byte (the buffer is moved off the V8 heap if it was on it). */
export function addressOf(buffer: Uint8Array): bigint {
  return koffi.address(buffer);
}

/** An ArrayBuffer over `length` bytes of native memory at `address`, without a copy. */
export function viewAt(address: bigint, length: number): ArrayBuffer {
  return koffi.view(address, length);
}

/** `(void *)-1`, mmap's failure value, as koffi returns it. */
export const MAP_FAILED = 0xffff_ffff_ffff_ffffn;

// ---- declarations (x86_64 LP64: long = 64 bits, off_t = int64_t) ----

export const close = declare<[fd: number], number>("int close(int fd)");
export const read = declare<[fd: number, buf: Buf, count: number], number>(
  "long read(int fd, void *buf, unsigned long count)",
);
export const write = declare<[fd: number, buf: Buf, count: number], number>(
  "long write(int fd, const void *buf, unsigned long count)",
);
export const writev = declare<[fd: number, iov: Buf, iovcnt: number], number>(
  "long writev(int fd, const void *iov, int iovcnt)",
);
export const preadv = declare<[fd: number, iov: Buf, iovcnt: number, offset: number], number>(
  "long preadv(int fd, const void *iov, int iovcnt, int64_t offset)",
);
export const pwritev = declare<[fd: number, iov: Buf, iovcnt: number, offset: number], number>(
  "long pwritev(int fd, const void *iov, int iovcnt, int64_t offset)",
);
export const fcntlInt = declare<[fd: number, cmd: number, arg: number], number>(
  "int fcntl(int fd, int cmd, long arg)",
);
export const fcntlPtr = declare<[fd: number, cmd: number, arg: Buf], number>(
  "int fcntl(int fd, int cmd, void *arg)",
);

export const memfd_create = declare<[name: CStr, flags: number], number>(
  "int memfd_create(const char *name, unsigned int flags)",
);
export const mmap = declare<
  [addr: Buf, length: number, prot: number, flags: number, fd: number, offset: number | bigint],
  bigint | null
>("void *mmap(void *addr, unsigned long length, int prot, int flags, int fd, int64_t offset)");
export const munmap = declare<[addr: bigint, length: number], number>("int munmap(void *addr, unsigned long length)");
export const ftruncate = declare<[fd: number, length: number | bigint], number>(
  "int ftruncate(int fd, int64_t length)",
);

export const eventfd = declare<[initval: number, flags: number], number>(
  "int eventfd(unsigned int initval, int flags)",
);

export const sched_yield = declare<[], number>("int sched_yield(void)");
export const poll = declare<[fds: Buf, nfds: number, timeout: number], number>("int poll(void *fds, unsigned long nfds, int timeout)");
export const epoll_create1 = declare<[flags: number], number>("int epoll_create1(int flags)");
export const epoll_ctl = declare<[epfd: number, op: number, fd: number, event: Buf], number>(
  "int epoll_ctl(int epfd, int op, int fd, void *event)",
);
export const epoll_wait = declare<[epfd: number, events: Buf, maxevents: number, timeout: number], number>(
  "int epoll_wait(int epfd, void *events, int maxevents, int timeout)",
);

export const socket = declare<[domain: number, type: number, protocol: number], number>(
  "int socket(int domain, int type, int protocol)",
);
export const socketpair = declare<[domain: number, type: number, protocol: number, sv: Int32Array], number>(
  "int socketpair(int domain, int type, int protocol, int *sv)",
);
export const bind = declare<[fd: number, addr: Buf, len: number], number>(
  "int bind(int fd, const void *addr, unsigned int len)",
);
export const connect = declare<[fd: number, addr: Buf, len: number], number>(
  "int connect(int fd, const void *addr, unsigned int len)",
);
export const listen = declare<[fd: number, backlog: number], number>("int listen(int fd, int backlog)");
export const accept4 = declare<[fd: number, addr: Buf, len: Buf, flags: number], number>(
  "int accept4(int fd, void *addr, void *len, int flags)",
);
export const shutdown = declare<[fd: number, how: number], number>("int shutdown(int fd, int how)");
export const sendmsg = declare<[fd: number, msg: Buf, flags: number], number>(
  "long sendmsg(int fd, const void *msg, int flags)",
);
export const recvmsg = declare<[fd: number, msg: Buf, flags: number], number>(
  "long recvmsg(int fd, void *msg, int flags)",
);
export const getsockopt = declare<[fd: number, level: number, name: number, value: Buf, len: Buf], number>(
  "int getsockopt(int fd, int level, int name, void *value, void *len)",
);

export const openat = declare<[dirfd: number, path: CStr, flags: number, mode: number], number>(
  "int openat(int dirfd, const char *path, int flags, unsigned int mode)",
);
export const openat2 = sys<[dirfd: number, path: CStr, how: Buf, size: number]>(SYS.openat2, [
  "int",
  "const char *",
  "void *",
  "unsigned long",
]);
export const fstatat = declare<[dirfd: number, path: CStr, buf: Buf, flags: number], number>(
  "int fstatat(int dirfd, const char *path, void *buf, int flags)",
);
export const statx = declare<[dirfd: number, path: CStr, flags: number, mask: number, buf: Buf], number>(
  "int statx(int dirfd, const char *path, int flags, unsigned int mask, void *buf)",
);
export const fstatfs = declare<[fd: number, buf: Buf], number>("int fstatfs(int fd, void *buf)");
export const mkdirat = declare<[dirfd: number, path: CStr, mode: number], number>(
  "int mkdirat(int dirfd, const char *path, unsigned int mode)",
);
export const mknodat = declare<[dirfd: number, path: CStr, mode: number, dev: bigint], number>(
  "int mknodat(int dirfd, const char *path, unsigned int mode, uint64_t dev)",
);
export const unlinkat = declare<[dirfd: number, path: CStr, flags: number], number>(
  "int unlinkat(int dirfd, const char *path, int flags)",
);
export const renameat2 = declare<
  [olddirfd: number, oldpath: CStr, newdirfd: number, newpath: CStr, flags: number],
  number
>("int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags)");
export const linkat = declare<[olddirfd: number, oldpath: CStr, newdirfd: number, newpath: CStr, flags: number], number>(
  "int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)",
);
export const symlinkat = declare<[target: CStr, newdirfd: number, linkpath: CStr], number>(
  "int symlinkat(const char *target, int newdirfd, const char *linkpath)",
);
export const readlinkat = declare<[dirfd: number, path: CStr, buf: Buf, size: number], number>(
  "long readlinkat(int dirfd, const char *path, void *buf, unsigned long size)",
);
export const fchmodat2 = sys<[dirfd: number, path: CStr, mode: number, flags: number]>(SYS.fchmodat2, [
  "int",
  "const char *",
  "unsigned int",
  "int",
]);
export const fchmodat = declare<[dirfd: number, path: CStr, mode: number, flags: number], number>(
  "int fchmodat(int dirfd, const char *path, unsigned int mode, int flags)",
);
export const fchownat = declare<[dirfd: number, path: CStr, owner: number, group: number, flags: number], number>(
  "int fchownat(int dirfd, const char *path, unsigned int owner, unsigned int group, int flags)",
);
export const utimensat = declare<[dirfd: number, path: CStr | null, times: Buf, flags: number], number>(
  "int utimensat(int dirfd, const char *path, const void *times, int flags)",
);
export const umask = declare<[mask: number], number>("unsigned int umask(unsigned int mask)");
export const clock_gettime = declare<[clock: number, ts: Buf], number>("int clock_gettime(int clk_id, void *tp)");
export const getdents64 = declare<[fd: number, dirp: Buf, count: number], number>(
  "long getdents64(int fd, void *dirp, unsigned long count)",
);
export const setfsuid = declare<[uid: number], number>("int setfsuid(unsigned int uid)");
export const setfsgid = declare<[gid: number], number>("int setfsgid(unsigned int gid)");
export const getgroups = declare<[size: number, list: Uint32Array], number>("int getgroups(int size, _Out_ uint32_t *list)");
/** The raw system call, not glibc's wrapper (which sets every thread's groups). */
export const setgroupsRaw = sys<[size: number, list: Uint32Array]>(SYS.setgroups, ["unsigned long", "const uint32_t *"]);

export const fgetxattr = declare<[fd: number, name: CStr, value: Buf, size: number], number>(
  "long fgetxattr(int fd, const char *name, void *value, unsigned long size)",
);
export const fsetxattr = declare<[fd: number, name: CStr, value: Buf, size: number, flags: number], number>(
  "int fsetxattr(int fd, const char *name, const void *value, unsigned long size, int flags)",
);
export const flistxattr = declare<[fd: number, list: Buf, size: number], number>(
  "long flistxattr(int fd, void *list, unsigned long size)",
);
export const fremovexattr = declare<[fd: number, name: CStr], number>("int fremovexattr(int fd, const char *name)");
/** getxattrat(2) (Linux 6.13): `args` is a struct xattr_args { u64 value; u32 size; u32 flags; }. */
export const getxattrat = sys<[dirfd: number, path: CStr, atFlags: number, name: CStr, args: Buf, size: number]>(SYS.getxattrat, [
  "int",
  "const char *",
  "unsigned int",
  "const char *",
  "void *",
  "unsigned long",
]);
export const getxattr = declare<[path: CStr, name: CStr, value: Buf, size: number], number>(
  "long getxattr(const char *path, const char *name, void *value, unsigned long size)",
);
export const setxattr = declare<[path: CStr, name: CStr, value: Buf, size: number, flags: number], number>(
  "int setxattr(const char *path, const char *name, const void *value, unsigned long size, int flags)",
);
export const listxattr = declare<[path: CStr, list: Buf, size: number], number>(
  "long listxattr(const char *path, void *list, unsigned long size)",
);
export const removexattr = declare<[path: CStr, name: CStr], number>(
  "int removexattr(const char *path, const char *name)",
);

export const fallocate = declare<[fd: number, mode: number, offset: number | bigint, len: number | bigint], number>(
  "int fallocate(int fd, int mode, int64_t offset, int64_t len)",
);
export const lseek = declare<[fd: number, offset: number | bigint, whence: number], number | bigint>(
  "int64_t lseek(int fd, int64_t offset, int whence)",
);
export const copy_file_range = declare<
  [fdIn: number, offIn: BigInt64Array | null, fdOut: number, offOut: BigInt64Array | null, len: number, flags: number],
  number
>("long copy_file_range(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out, unsigned long len, unsigned int flags)");
export const fsync = declare<[fd: number], number>("int fsync(int fd)");
export const fdatasync = declare<[fd: number], number>("int fdatasync(int fd)");
export const syncfs = declare<[fd: number], number>("int syncfs(int fd)");
export const flock = declare<[fd: number, operation: number], number>("int flock(int fd, int operation)");
export const name_to_handle_at = declare<
  [dirfd: number, path: CStr, handle: Buf, mountId: Int32Array, flags: number],
  number
>("int name_to_handle_at(int dirfd, const char *path, void *handle, int *mount_id, int flags)");
export const open_by_handle_at = declare<[mountFd: number, handle: Buf, flags: number], number>(
  "int open_by_handle_at(int mount_fd, void *handle, int flags)",
);

export const unshare = declare<[flags: number], number>("int unshare(int flags)");
export const mount = declare<
  [source: CStr | null, target: CStr, fstype: CStr | null, flags: number, data: CStr | null],
  number
>("int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)");
export const umount2 = declare<[target: CStr, flags: number], number>("int umount2(const char *target, int flags)");
export const pivot_root = sys<[newRoot: CStr, putOld: CStr]>(SYS.pivot_root, ["const char *", "const char *"]);
export const chroot = declare<[path: CStr], number>("int chroot(const char *path)");
/** `argv` ends with null, as execv(3) requires. */
export const execv = declare<[path: CStr, argv: (string | null)[]], number>("int execv(const char *path, const char **argv)");
/** signal(2) with the handler as a number: SIG_DFL 0, SIG_IGN 1; answers the previous one (-1: SIG_ERR). */
export const signal = declare<[signum: number, handler: number | bigint], number | bigint>("intptr_t signal(int signum, intptr_t handler)");
export const fchdir = declare<[fd: number], number>("int fchdir(int fd)");
export const prctl = declare<[option: number, arg2: number | bigint, arg3: number, arg4: number, arg5: number], number>(
  "int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)",
);
export const capget = declare<[header: Buf, data: Buf], number>("int capget(void *header, void *data)");
export const capset = declare<[header: Buf, data: Buf], number>("int capset(void *header, const void *data)");
export const getrlimit = declare<[resource: number, rlim: Buf], number>("int getrlimit(int resource, void *rlim)");
export const setrlimit = declare<[resource: number, rlim: Buf], number>("int setrlimit(int resource, const void *rlim)");

// ---- this process's own libuv (node's event loop) ----

let defaultLoop: bigint | null | undefined;

/**
 * The address of `uv_default_loop()`, node's main-thread loop (the running
 * executable exports libuv for addons), or null when it is not reachable.
 * Looked up on the first call.
 */
export function uvDefaultLoopAddress(): bigint | null {
  if (defaultLoop === undefined) {
    try {
      const call = koffi.load(null as unknown as string).func("void *uv_default_loop(void)") as unknown as () => unknown;
      defaultLoop = koffi.address(call()) as bigint;
    } catch {
      defaultLoop = null;
    }
  }
  return defaultLoop;
}
