/**
 * The calling process as kernel32 sees it: an access token, a current
 * directory, a handle table (files, mappings, events, find handles,
 * processes, tokens) and the last-error value. One {@link Win32Process} is
 * current; the Win32 functions act on it.
 *
 * Programs run from a volume (CreateProcessW) are emulated: an image is a
 * small file that names a registered program ({@link registerProgram},
 * {@link programImage}); running it maps the image from the volume (so the
 * file is an image in use) and calls the program's function with the
 * command line. Emulated child processes share the parent's handle table,
 * which gives inherited handles their usual meaning (same value in parent
 * and child).
 */
import type { FileObject } from "./fsd.js";
import type { DataSection } from "./mm.js";
import { Deferred } from "./sync.js";
import { AccessToken } from "./token.js";
import type { Volume } from "./volume.js";

export type HANDLE = number;

/** INVALID_HANDLE_VALUE, for callers that keep kernel32's sentinel. */
export const INVALID_HANDLE_VALUE: HANDLE = -1;

/** A waitable kernel object: signalled or not, with waiters. */
export class Waitable {
  protected signalled = false;
  private waiters: Deferred<void>[] = [];

  /** Is the object signalled now (and, for auto-reset kinds, consume it)? */
  protected tryAcquire(): boolean {
    return this.signalled;
  }

  protected wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.resolve();
  }

  /** Waits up to `ms` (Infinity: forever); true if the object was signalled. */
  async wait(ms: number): Promise<boolean> {
    const deadline = performance.now() + ms;
    for (;;) {
      if (this.tryAcquire()) return true;
      const remaining = deadline - performance.now();
      if (remaining <= 0) return false;
      const d = new Deferred<void>();
      this.waiters.push(d);
      let timer: NodeJS.Timeout | undefined;
      const timeout = Number.isFinite(remaining)
        ? new Promise<void>((r) => {
            timer = setTimeout(r, Math.max(1, Math.ceil(remaining)));
          })
        : null;
      await (timeout === null ? d.promise : Promise.race([d.promise, timeout]));
      if (timer !== undefined) clearTimeout(timer);
      this.waiters = this.waiters.filter((x) => x !== d);
    }
  }
}

/** An event object (CreateEventW). */
export class Win32Event extends Waitable {
  constructor(
    private readonly manualReset: boolean,
    initialState: boolean,
  ) {
    super();
    this.signalled = initialState;
  }
  protected override tryAcquire(): boolean {
    if (!this.signalled) return false;
    if (!this.manualReset) this.signalled = false;
    return true;
  }
  set(): void {
    this.signalled = true;
    this.wake();
  }
  reset(): void {
    this.signalled = false;
  }
}

/** A semaphore object (CreateSemaphoreW). */
export class Win32Semaphore extends Waitable {
  constructor(
    private count: number,
    private readonly maximum: number,
  ) {
    super();
    this.signalled = count > 0;
  }
  protected override tryAcquire(): boolean {
    if (this.count <= 0) return false;
    this.count--;
    this.signalled = this.count > 0;
    return true;
  }
  release(n: number): number | null {
    if (this.count + n > this.maximum) return null;
    const previous = this.count;
    this.count += n;
    this.signalled = true;
    this.wake();
    return previous;
  }
}

/** An emulated process started by CreateProcessW. */
export class Win32ChildProcess extends Waitable {
  private static nextId = 1000;
  readonly id = Win32ChildProcess.nextId++;
  exitCode: number | null = null;
  exit(code: number): void {
    this.exitCode = code >>> 0;
    this.signalled = true;
    this.wake();
  }
}

/** What a handle refers to. */
export type HandleObject =
  | { readonly kind: "file"; readonly fileObject: FileObject; readonly volume: Volume; readonly overlapped: boolean; readonly ntPath: string }
  | { readonly kind: "mapping"; readonly section: DataSection<FileObject>; readonly volume: Volume; readonly writable: boolean }
  | { readonly kind: "event"; readonly event: Win32Event }
  | { readonly kind: "semaphore"; readonly semaphore: Win32Semaphore }
  | { readonly kind: "process"; readonly process: Win32ChildProcess }
  | { readonly kind: "thread"; readonly process: Win32ChildProcess }
  | { readonly kind: "token"; readonly token: AccessToken }
  | { readonly kind: "find"; readonly state: FindState }
  | { readonly kind: "find-stream"; readonly state: FindStreamState };

/** A FindFirstFile enumeration: the directory handle and entries not yet returned. */
export interface FindState {
  readonly directory: HANDLE;
  readonly pending: unknown[];
  ended: boolean;
}

/** A FindFirstStreamW enumeration. */
export interface FindStreamState {
  readonly pending: unknown[];
}

/** A program CreateProcessW can run: gets the command line, answers the exit code. */
export type Program = (commandLine: string, process: Win32Process) => Promise<number>;

const programs = new Map<string, Program>();
const IMAGE_MAGIC = "MZ\u0000viofs-image:";

/** Registers a program under `name`, so an image made by {@link programImage} runs it. */
export function registerProgram(name: string, program: Program): void {
  programs.set(name, program);
}

/** The bytes of an executable image that runs the registered program `name`. */
export function programImage(name: string): Uint8Array {
  return Buffer.from(`${IMAGE_MAGIC}${name}\u0000`, "latin1");
}

/** The program an image names, or null when the image is not one (ERROR_BAD_EXE_FORMAT). */
export function programOfImage(image: Uint8Array): Program | null {
  const text = Buffer.from(image).toString("latin1");
  if (!text.startsWith(IMAGE_MAGIC)) return null;
  const end = text.indexOf("\u0000", IMAGE_MAGIC.length);
  const name = text.slice(IMAGE_MAGIC.length, end < 0 ? undefined : end);
  return programs.get(name) ?? null;
}

/** The caller's process state. */
export class Win32Process {
  token: AccessToken;
  /** The current directory, a drive-absolute path such as `X:\dir`. */
  currentDirectory = "C:\\";
  /** Developer mode: CreateSymbolicLinkW with ALLOW_UNPRIVILEGED_CREATE needs no privilege. */
  developerMode = true;
  lastError = 0;
  private readonly handles = new Map<HANDLE, HandleObject>();
  private nextHandle = 4;

  constructor(token: AccessToken = AccessToken.administrator()) {
    this.token = token;
  }

  insert(object: HandleObject): HANDLE {
    const h = this.nextHandle;
    this.nextHandle += 4;
    this.handles.set(h, object);
    return h;
  }

  get(handle: HANDLE): HandleObject | undefined {
    return this.handles.get(handle);
  }

  remove(handle: HANDLE): HandleObject | undefined {
    const o = this.handles.get(handle);
    this.handles.delete(handle);
    return o;
  }

  /** The handles open now, in creation order. */
  openHandles(): HANDLE[] {
    return [...this.handles.keys()];
  }
}

let current = new Win32Process();

/** The process the Win32 functions act on. */
export function currentProcess(): Win32Process {
  return current;
}

/** Makes `p` the current process (tests run each backend in a fresh one). */
export function setCurrentProcess(p: Win32Process): void {
  current = p;
}
