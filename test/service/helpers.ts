/**
 * Shared pieces of the service tests: both backends (QEMU's C virtiofsd
 * `-o xattr` and `viofs serve --xattr`) in every run, a service mounted over
 * a real driver and session per test, a transport wrapper that counts the
 * FUSE opcodes sent, the interface's create/open arguments, and host-side
 * looks at files and xattrs through the kernel.
 */
import type { TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { opcodeName } from "../../src/fuse/abi.js";
import { FuseSession, type SessionOptions } from "../../src/guest/session.js";
import type { FuseTransport, QueueKind } from "../../src/guest/transport.js";
import { FuseWindowsFileSystem, type FuseFileContext } from "../../src/service/fuse-fs.js";
import type { FuseWindowsOptions } from "../../src/service/options.js";
import { fgetxattr, flistxattr } from "../../src/sys/fs.js";
import { NtStatus } from "../../src/windows/ntstatus.js";
import { AccessMask } from "../../src/windows/security.js";
import { CreateDisposition, CreateOption } from "../../src/winfsp/constants.js";
import type { CreateExIn, NtResult, OpenResult } from "../../src/winfsp/interface.js";
import { VIRTIOFSD, virtiofsd, viofsServe, type Backend, type BackendFactory } from "../guest/backends.js";
import { connectDriver } from "../guest/helpers.js";

/** Both backends, always: C virtiofsd first, then `viofs serve` (needs the compiled dist/). */
export const FACTORIES: readonly BackendFactory[] = [virtiofsd, viofsServe];

/** A FuseTransport that counts the opcodes of the requests it carries. */
export class CountingTransport implements FuseTransport {
  readonly counts = new Map<string, number>();
  /** Requests sent and not yet answered, and the most there were at once since the last reset. */
  inFlight = 0;
  peakInFlight = 0;

  constructor(private readonly inner: FuseTransport) {}

  get maxRequestSize(): number {
    return this.inner.maxRequestSize;
  }
  get maxReplySize(): number {
    return this.inner.maxReplySize;
  }
  get closed(): Promise<Error> {
    return this.inner.closed;
  }
  get closeReason(): Error | null {
    return this.inner.closeReason;
  }

  private note(request: readonly Uint8Array[]): string {
    const head = Buffer.concat(request.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength))).subarray(0, 8);
    const name = opcodeName(head.readUInt32LE(4));
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
    return name;
  }

  /** Counts a request in flight until its reply; FORGETs and INTERRUPTs (no reply of their own) are not counted. */
  private track<T>(opcode: string, reply: Promise<T>): Promise<T> {
    if (opcode === "FORGET" || opcode === "BATCH_FORGET" || opcode === "INTERRUPT") return reply;
    this.inFlight++;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
    return reply.finally(() => this.inFlight--);
  }

  submit(request: readonly Uint8Array[], replyCapacity: number, queue?: QueueKind): Promise<Uint8Array> {
    return this.track(this.note(request), this.inner.submit(request, replyCapacity, queue));
  }

  submitInto(request: readonly Uint8Array[], head: Uint8Array, sink: Uint8Array, queue?: QueueKind): Promise<number> {
    return this.track(this.note(request), this.inner.submitInto(request, head, sink, queue));
  }

  close(): void {
    this.inner.close();
  }

  /** Requests of `opcode` (e.g. "LOOKUP") since the last reset. */
  count(opcode: string): number {
    return this.counts.get(opcode) ?? 0;
  }

  /** All requests since the last reset. */
  total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }

  reset(): void {
    this.counts.clear();
    this.peakInFlight = this.inFlight;
  }
}

/** What a mount needs of a started daemon. */
export type Daemon = Pick<Backend, "dir" | "socketPath" | "stop">;

/**
 * QEMU's C virtiofsd without `-o xattr` (it then answers ENOSYS to every
 * xattr request), on a fresh directory.
 */
export async function startVirtiofsdWithoutXattr(): Promise<Daemon> {
  const root = mkdtempSync(join(tmpdir(), "viofs-service-noxattr-"));
  const dir = join(root, "share");
  mkdirSync(dir);
  const socketPath = join(root, "vhost.sock");
  const child = spawn(VIRTIOFSD, [`--socket-path=${socketPath}`, "-o", `source=${dir}`, "-o", "cache=auto"], { stdio: "ignore" });
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const deadline = Date.now() + 15_000;
  while (!existsSync(socketPath)) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill("SIGKILL");
      rmSync(root, { recursive: true, force: true });
      throw new Error("virtiofsd without xattr did not listen");
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    dir,
    socketPath,
    async stop() {
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

export interface Mounted {
  readonly backend: Daemon;
  readonly session: FuseSession;
  readonly fs: FuseWindowsFileSystem;
  readonly counter: CountingTransport;
  /** The host path of a volume-relative name (`\a\b` → `<share>/a/b`). */
  host(name: string): string;
}

/**
 * Starts `factory`'s daemon on a fresh directory, connects a driver and a
 * session (through a {@link CountingTransport}) and mounts the service; the
 * test's teardown closes everything.
 */
export async function mount(
  t: TestContext,
  factory: BackendFactory | (() => Promise<Daemon>),
  options: FuseWindowsOptions = {},
  session: SessionOptions = {},
): Promise<Mounted> {
  const backend = typeof factory === "function" ? await factory() : await factory.start();
  let counter: CountingTransport | undefined;
  let s: FuseSession | undefined;
  t.after(async () => {
    if (s !== undefined) await s.close().catch(() => undefined);
    counter?.close();
    await backend.stop();
  });
  const driver = await connectDriver(backend.socketPath);
  counter = new CountingTransport(driver);
  s = await FuseSession.init(counter, session);
  const fs = await FuseWindowsFileSystem.mount(s, { hostRoot: backend.dir, ...options }, "share");
  return {
    backend,
    session: s,
    fs,
    counter,
    host: (name: string) => join(backend.dir, ...name.split("\\").filter((c) => c.length > 0)),
  };
}

const statusNames = new Map<number, string>(Object.entries(NtStatus).map(([k, v]) => [v >>> 0, k]));

/** The name of an NTSTATUS, for readable assertions. */
export function statusName(status: number): string {
  return statusNames.get(status >>> 0) ?? `0x${(status >>> 0).toString(16)}`;
}

/** Asserts success and answers the value. */
export function ok<T>(r: NtResult<T>, what = "call"): T {
  assert.ok(r.ok, `${what}: expected success, got ${statusName(r.status)}`);
  return r.value;
}

/** Asserts a failure with `expected` (a status name). */
export function fails(r: NtResult<unknown>, expected: keyof typeof NtStatus, what = "call"): void {
  assert.equal(r.ok, false, `${what}: expected ${expected}, got success`);
  assert.equal(statusName(r.status), expected, what);
}

/** CreateOptions with a disposition. */
export function createOptions(disposition: number, options = 0): number {
  return ((disposition << 24) | options) >>> 0;
}

/** A CreateEx request with everything defaulted. */
export function createRequest(fileName: string, fields: Partial<CreateExIn> = {}): CreateExIn {
  return {
    fileName,
    createOptions: createOptions(CreateDisposition.FILE_CREATE),
    grantedAccess: AccessMask.FILE_ALL_ACCESS,
    fileAttributes: 0,
    securityDescriptor: null,
    allocationSize: 0n,
    ea: null,
    reparseData: null,
    ...fields,
  };
}

/** Creates a file (or, with `directory`, a directory) and answers the open result. */
export async function create(
  fs: FuseWindowsFileSystem,
  fileName: string,
  fields: Partial<CreateExIn> & { directory?: boolean } = {},
): Promise<OpenResult<FuseFileContext>> {
  const { directory, ...rest } = fields;
  const options = createOptions(CreateDisposition.FILE_CREATE, directory ? CreateOption.FILE_DIRECTORY_FILE : 0);
  return ok(await fs.createEx(createRequest(fileName, { createOptions: options, ...rest })), `create ${fileName}`);
}

/** Opens an existing name with full access. */
export async function open(fs: FuseWindowsFileSystem, fileName: string, grantedAccess: number = AccessMask.FILE_ALL_ACCESS): Promise<FuseFileContext> {
  const r = await fs.open({ fileName, createOptions: createOptions(CreateDisposition.FILE_OPEN), grantedAccess });
  return ok(r, `open ${fileName}`).fileContext;
}

/** Cleanup (with flags) and Close, as the FSD sends them at the last handle. */
export async function closeFile(fs: FuseWindowsFileSystem, ctx: FuseFileContext, flags = 0, fileName: string | null = null): Promise<void> {
  await fs.cleanup(ctx, fileName, flags);
  await fs.close(ctx);
}

/** A host xattr's value, or undefined when absent (read through the kernel). */
export function hostXattr(path: string, name: string): Buffer | undefined {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    return fgetxattr(fd, name);
  } catch (error) {
    if ((error as { errnoName?: string }).errnoName === "ENODATA") return undefined;
    throw error;
  } finally {
    closeSync(fd);
  }
}

/** A host file's xattr names. */
export function hostXattrNames(path: string): string[] {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    return flistxattr(fd);
  } finally {
    closeSync(fd);
  }
}

/** FILETIME now. */
export function nowFiletime(): bigint {
  return BigInt(Date.now()) * 10_000n + 116444736000000000n;
}

/** Asserts a FILETIME within `seconds` of now. */
export function assertRecent(ft: bigint, what: string, seconds = 30): void {
  const d = nowFiletime() - ft;
  assert.ok(d > -BigInt(seconds) * 10_000_000n && d < BigInt(seconds) * 10_000_000n, `${what}: ${ft} is not within ${seconds} s of now`);
}

/**
 * `factory`'s daemon on a share in tmpfs (`/dev/shm`), whose xattrs may be
 * as large as the VFS allows (ext4 without ea_inode keeps about 4 KiB per
 * inode): the backends make their scratch directory under `os.tmpdir()`
 * synchronously at the start of `start()`, so TMPDIR is pointed at tmpfs
 * for exactly that call.
 */
export function onTmpfs(factory: BackendFactory): () => Promise<Daemon> {
  return () => {
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = "/dev/shm";
    try {
      return factory.start();
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
  };
}
