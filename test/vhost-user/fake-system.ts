/**
 * An in-process stand-in for the kernel, for the state-machine tests: fds are
 * numbers in a table, memfds are ArrayBuffers, eventfds are counters, and a
 * transport pair passes bytes and "duplicates" fds as SCM_RIGHTS would. It
 * counts open fds, so tests can check that nothing leaks, and throws on a
 * double close.
 */
import { errno } from "../../src/common/errors.js";
import type { Mapping, Transport, TransportReceiver } from "../../src/vhost-user/channel.js";
import type { FrontendSystem } from "../../src/vhost-user/frontend.js";

type FakeObject =
  | { kind: "memfd"; buffer: ArrayBuffer }
  | { kind: "eventfd"; counter: bigint; watchers: Set<() => void>; scheduled: boolean }
  | { kind: "other" }
  /** A socket whose peer has closed: a write is EPIPE. */
  | { kind: "orphan" };

export class FakeKernel {
  private next = 100;
  private readonly fds = new Map<number, FakeObject>();
  /** Every fd ever closed, in order. */
  readonly closedLog: number[] = [];

  open(object: FakeObject): number {
    const fd = this.next++;
    this.fds.set(fd, object);
    return fd;
  }

  /** Another fd for the same object (what the receiver of SCM_RIGHTS gets). */
  dup(fd: number): number {
    return this.open(this.get(fd));
  }

  get(fd: number): FakeObject {
    const object = this.fds.get(fd);
    if (!object) throw errno("EBADF", "fake", String(fd));
    return object;
  }

  close(fd: number): void {
    if (!this.fds.delete(fd)) throw new Error(`double close of fake fd ${fd}`);
    this.closedLog.push(fd);
  }

  isOpen(fd: number): boolean {
    return this.fds.has(fd);
  }

  /** Number of open fds. */
  get openCount(): number {
    return this.fds.size;
  }

  /** A socket whose peer has gone (a write answers EPIPE). */
  orphan(): number {
    return this.open({ kind: "orphan" });
  }

  /** An fd for something that is neither a memfd nor an eventfd. */
  other(): number {
    return this.open({ kind: "other" });
  }
}

export class FakeSystem implements FrontendSystem {
  constructor(readonly kernel: FakeKernel) {}

  closeFd(fd: number): void {
    this.kernel.close(fd);
  }

  map(fd: number, offset: bigint, size: bigint): Mapping {
    const object = this.kernel.get(fd);
    if (object.kind !== "memfd") throw errno("ENODEV", "mmap");
    if (offset < 0n || size <= 0n || offset + size > BigInt(object.buffer.byteLength)) throw errno("EINVAL", "mmap");
    let live = true;
    const base = Number(offset);
    const length = Number(size);
    return {
      length,
      view(at: number, n: number): Uint8Array {
        if (!live || at < 0 || n < 0 || at + n > length) throw errno("EINVAL", "view");
        return new Uint8Array(object.buffer, base + at, n);
      },
      unmap() {
        live = false;
      },
    };
  }

  watchEventFd(fd: number, onEvent: () => void): () => void {
    const object = this.kernel.get(fd);
    if (object.kind !== "eventfd") throw errno("EINVAL", "watch");
    const watcher = (): void => onEvent();
    object.watchers.add(watcher);
    if (object.counter > 0n) this.schedule(object);
    return () => object.watchers.delete(watcher);
  }

  signalEventFd(fd: number): void {
    const object = this.kernel.get(fd);
    if (object.kind === "orphan") throw errno("EPIPE", "write");
    if (object.kind !== "eventfd") throw errno("EINVAL", "write");
    object.counter += 1n;
    this.schedule(object);
  }

  /** What each waitEventFd answered, in order. */
  readonly waits: number[] = [];

  /** Never blocks: the first of `fds` with a count (as a kick that came during the wait), left for clearEventFd; else -1 (the time passed). */
  waitEventFd(fds: readonly number[], _timeoutMs: number): number {
    let answer = -1;
    for (let i = 0; i < fds.length && answer < 0; i++) {
      const object = this.kernel.get(fds[i]!);
      if (object.kind === "eventfd" && object.counter > 0n) answer = i;
    }
    this.waits.push(answer);
    return answer;
  }

  /** How many times yieldCpu was called. */
  yields = 0;

  yieldCpu(): void {
    this.yields++;
  }

  /** How many counts clearEventFd found, in order (0: none). */
  readonly clears: bigint[] = [];

  clearEventFd(fd: number): boolean {
    const object = this.kernel.get(fd);
    if (object.kind !== "eventfd") return false;
    const count = object.counter;
    object.counter = 0n;
    this.clears.push(count);
    return count > 0n;
  }

  createMemfd(_name: string, size: bigint): number {
    return this.kernel.open({ kind: "memfd", buffer: new ArrayBuffer(Number(size)) });
  }

  createEventFd(): number {
    return this.kernel.open({ kind: "eventfd", counter: 0n, watchers: new Set(), scheduled: false });
  }

  private schedule(object: Extract<FakeObject, { kind: "eventfd" }>): void {
    if (object.scheduled || object.watchers.size === 0) return;
    object.scheduled = true;
    setImmediate(() => {
      object.scheduled = false;
      if (object.counter === 0n || object.watchers.size === 0) return;
      object.counter = 0n;
      for (const watcher of [...object.watchers]) watcher();
    });
  }
}

/** One end of an in-process stream with fd passing. */
class FakeEnd implements Transport {
  peer!: FakeEnd;
  private receiver: TransportReceiver | null = null;
  private readonly inbox: { bytes: Uint8Array; fds: number[] }[] = [];
  private closed = false;
  private ended = false;
  private flushing = false;

  constructor(private readonly kernel: FakeKernel) {}

  async send(bytes: Uint8Array, fds: readonly number[]): Promise<void> {
    if (this.closed || this.peer.closed) throw errno("EPIPE", "sendmsg");
    const passed = fds.map((fd) => this.kernel.dup(fd));
    this.peer.deliver(bytes.slice(), passed);
  }

  start(receiver: TransportReceiver): void {
    this.receiver = receiver;
    this.flush();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const item of this.inbox.splice(0)) for (const fd of item.fds) this.kernel.close(fd);
    this.peer.flush();
    setImmediate(() => this.finish());
  }

  private deliver(bytes: Uint8Array, fds: number[]): void {
    this.inbox.push({ bytes, fds });
    this.flush();
  }

  private flush(): void {
    if (this.flushing || !this.receiver) return;
    this.flushing = true;
    setImmediate(() => {
      this.flushing = false;
      const receiver = this.receiver;
      if (!receiver || this.closed) return;
      // Hand out at most maxBytes() per read, fds with the first piece, as recvmsg would.
      while (this.inbox.length > 0 && !this.closed) {
        const item = this.inbox[0]!;
        const n = Math.min(item.bytes.length, receiver.maxBytes());
        const piece = item.bytes.subarray(0, n);
        const fds = item.fds.splice(0);
        item.bytes = item.bytes.subarray(n);
        if (item.bytes.length === 0) this.inbox.shift();
        receiver.data(piece, fds);
      }
      if (this.peer.closed) this.finish();
    });
  }

  private finish(): void {
    if (this.ended || !this.receiver) return;
    if (this.inbox.length > 0 && !this.closed) return;
    this.ended = true;
    this.receiver.end(null);
  }
}

/** A connected pair of in-process transports. */
export function fakeTransportPair(kernel: FakeKernel): [Transport, Transport] {
  const a = new FakeEnd(kernel);
  const b = new FakeEnd(kernel);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
