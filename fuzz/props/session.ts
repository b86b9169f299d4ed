/**
 * The guest-side FuseSession against a hostile device (for `npm run fuzz`):
 * a transport whose replies come from a real FuseServer over an in-memory
 * file system, then are (or are not) tampered with: bytes flipped, cut or
 * extended, the length field, error or unique rewritten, or the whole reply
 * replaced by random bytes. INIT goes through the same treatment.
 *
 * Properties: every call settles (no hang); a rejection is an ErrnoError
 * with an errno in 1..511 or a ProtocolError, nothing else; a READ never
 * returns more than asked, a WRITE never claims more than sent; the session's
 * node table never holds a negative count and close() always completes.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { ErrnoError, ProtocolError } from "../../src/common/errors.js";
import { FUSE_ROOT_ID, Mode, OpenFlag } from "../../src/fuse/abi.js";
import { concatChunks } from "../../src/fuse/messages.js";
import { FuseSession } from "../../src/guest/session.js";
import type { FuseTransport } from "../../src/guest/transport.js";
import { MessageReply } from "../../src/server/reply.js";
import { FuseServer } from "../../src/server/server.js";
import { MemFs } from "../../test/server/memfs.js";

/** How one reply is tampered with. */
export type Tamper =
  | { kind: "none" }
  | { kind: "flip"; flips: [number, number][] }
  | { kind: "cut"; keep: number }
  | { kind: "extend"; extra: Uint8Array }
  | { kind: "len"; len: number }
  | { kind: "error"; error: number }
  | { kind: "unique"; xor: number }
  | { kind: "random"; bytes: Uint8Array };

export const tamper: fc.Arbitrary<Tamper> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<Tamper>({ kind: "none" }) },
  { weight: 2, arbitrary: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }).map((flips): Tamper => ({ kind: "flip", flips })) },
  { weight: 1, arbitrary: fc.nat({ max: 200 }).map((keep): Tamper => ({ kind: "cut", keep })) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 64 }).map((extra): Tamper => ({ kind: "extend", extra })) },
  { weight: 1, arbitrary: fc.oneof(fc.nat({ max: 300 }), fc.nat()).map((len): Tamper => ({ kind: "len", len })) },
  { weight: 1, arbitrary: fc.oneof(fc.integer({ min: -600, max: 5 }), fc.integer()).map((error): Tamper => ({ kind: "error", error })) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 0xffff }).map((xor): Tamper => ({ kind: "unique", xor })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((bytes): Tamper => ({ kind: "random", bytes })) },
);

function apply(t: Tamper, reply: Uint8Array): Uint8Array {
  const out = reply.slice();
  const v = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
  switch (t.kind) {
    case "none":
      return out;
    case "flip":
      for (const [at, value] of t.flips) if (out.length > 0) out[at % out.length] = value;
      return out;
    case "cut":
      return out.subarray(0, Math.min(out.length, t.keep));
    case "extend": {
      const longer = new Uint8Array(out.length + t.extra.length);
      longer.set(out);
      longer.set(t.extra, out.length);
      return longer;
    }
    case "len":
      if (out.length >= 4) v(out).setUint32(0, t.len >>> 0, true);
      return out;
    case "error":
      if (out.length >= 8) v(out).setInt32(4, t.error | 0, true);
      return out;
    case "unique":
      if (out.length >= 16) v(out).setBigUint64(8, v(out).getBigUint64(8, true) ^ BigInt(t.xor), true);
      return out;
    case "random":
      return t.bytes.slice();
  }
}

/** A transport that serves requests with a FuseServer and tampers with each reply in turn. */
class TamperingTransport implements FuseTransport {
  readonly maxRequestSize = 1 << 20;
  readonly maxReplySize = 1 << 20;
  readonly closed: Promise<Error>;
  private reason: Error | null = null;
  private resolveClosed!: (e: Error) => void;
  private next = 0;
  private first = true;

  constructor(
    private readonly server: FuseServer,
    private readonly initTamper: Tamper,
    private readonly tampers: readonly Tamper[],
  ) {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  get closeReason(): Error | null {
    return this.reason;
  }

  private async serve(chunks: readonly Uint8Array[], capacity: number): Promise<Uint8Array> {
    if (this.reason) throw this.reason;
    const replies: Uint8Array[] = [];
    await this.server.handle(concatChunks(chunks).slice(), new MessageReply((m) => void replies.push(m.slice())));
    if (capacity === 0) return new Uint8Array(0);
    const t = this.first ? this.initTamper : this.tampers[this.next++ % this.tampers.length]!;
    this.first = false;
    const reply = apply(t, replies[0] ?? new Uint8Array(0));
    // The device can write no more than the room it was given.
    return reply.subarray(0, Math.min(reply.length, capacity));
  }

  submit(chunks: readonly Uint8Array[], capacity: number): Promise<Uint8Array> {
    return this.serve(chunks, capacity);
  }

  async submitInto(chunks: readonly Uint8Array[], head: Uint8Array, sink: Uint8Array): Promise<number> {
    const reply = await this.serve(chunks, head.length + sink.length);
    head.set(reply.subarray(0, head.length));
    if (reply.length > head.length) sink.set(reply.subarray(head.length));
    return reply.length;
  }

  close(): void {
    if (this.reason) return;
    this.reason = new ErrnoError(107 /* ENOTCONN */, "fuzz transport");
    this.resolveClosed(this.reason);
  }
}

/** What the session is asked to do; ids refer to entries and handles seen so far. */
export type Call =
  | { op: "lookup"; name: string }
  | { op: "getattr"; node: number }
  | { op: "open"; node: number; flags: number }
  | { op: "read"; node: number; fh: number; offset: number; size: number }
  | { op: "write"; node: number; fh: number; offset: number; size: number }
  | { op: "create"; name: string }
  | { op: "mkdir"; name: string }
  | { op: "readdir"; node: number; fh: number; plus: boolean }
  | { op: "opendir"; node: number }
  | { op: "readlink"; node: number }
  | { op: "setattr"; node: number; size: number }
  | { op: "getxattr"; node: number }
  | { op: "listxattr"; node: number }
  | { op: "statfs" }
  | { op: "release"; node: number; fh: number }
  | { op: "forget"; node: number }
  | { op: "raw"; opcode: number; body: Uint8Array };

const names = fc.constantFrom("file", "dir", "link", "missing", "new", "..", "");
const pick = fc.nat({ max: 7 });
export const call: fc.Arbitrary<Call> = fc.oneof(
  fc.record({ op: fc.constant("lookup" as const), name: names }),
  fc.record({ op: fc.constant("getattr" as const), node: pick }),
  fc.record({ op: fc.constant("open" as const), node: pick, flags: fc.constantFrom(OpenFlag.O_RDONLY, OpenFlag.O_RDWR, OpenFlag.O_WRONLY | OpenFlag.O_APPEND) }),
  fc.record({ op: fc.constant("read" as const), node: pick, fh: pick, offset: fc.nat({ max: 200 }), size: fc.oneof(fc.nat({ max: 300 }), fc.constant(300_000)) }),
  fc.record({ op: fc.constant("write" as const), node: pick, fh: pick, offset: fc.nat({ max: 200 }), size: fc.oneof(fc.nat({ max: 300 }), fc.constant(4096)) }),
  fc.record({ op: fc.constant("create" as const), name: names }),
  fc.record({ op: fc.constant("mkdir" as const), name: names }),
  fc.record({ op: fc.constant("readdir" as const), node: pick, fh: pick, plus: fc.boolean() }),
  fc.record({ op: fc.constant("opendir" as const), node: pick }),
  fc.record({ op: fc.constant("readlink" as const), node: pick }),
  fc.record({ op: fc.constant("setattr" as const), node: pick, size: fc.nat({ max: 500 }) }),
  fc.record({ op: fc.constant("getxattr" as const), node: pick }),
  fc.record({ op: fc.constant("listxattr" as const), node: pick }),
  fc.record({ op: fc.constant("statfs" as const) }),
  fc.record({ op: fc.constant("release" as const), node: pick, fh: pick }),
  fc.record({ op: fc.constant("forget" as const), node: pick }),
  fc.record({ op: fc.constant("raw" as const), opcode: fc.integer({ min: 1, max: 52 }), body: fc.uint8Array({ maxLength: 64 }) }),
);

export const sessionCase = fc.record({
  /** INIT's reply is tampered with less often, so that most cases reach the calls. */
  initTamper: fc.oneof({ weight: 7, arbitrary: fc.constant<Tamper>({ kind: "none" }) }, { weight: 1, arbitrary: tamper }),
  tampers: fc.array(tamper, { minLength: 1, maxLength: 8 }),
  calls: fc.array(call, { minLength: 1, maxLength: 6 }),
});

export type SessionCase = typeof sessionCase extends fc.Arbitrary<infer T> ? T : never;

export interface SessionCounts {
  calls: number;
  ok: number;
  errno: number;
  protocol: number;
  initFailed: number;
}

function classify(error: unknown, counts: SessionCounts, what: string): void {
  if (ErrnoError.is(error)) {
    assert.ok(error.errno >= 1 && error.errno <= 511, `${what}: errno ${error.errno} outside 1..511`);
    counts.errno++;
    return;
  }
  if (ProtocolError.is(error)) {
    counts.protocol++;
    return;
  }
  assert.fail(`${what}: rejected with neither an errno nor a ProtocolError: ${String((error as Error)?.stack ?? error)}`);
}

/** Settles `p` or fails after a second: a transport that answers at once must never leave a call hanging. */
async function settles<T>(p: Promise<T>, what: string): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_r, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} never settled`)), 1000);
  });
  try {
    return await Promise.race([
      p.then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
      ),
      hang,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export async function checkSessionCase(c: SessionCase, counts: SessionCounts): Promise<void> {
  const fs = new MemFs();
  fs.add(1n, "file", Mode.S_IFREG | 0o644, new Uint8Array(1000).fill(7));
  fs.add(1n, "dir", Mode.S_IFDIR | 0o755);
  const server = new FuseServer(fs);
  const transport = new TamperingTransport(server, c.initTamper, c.tampers);
  const init = await settles(FuseSession.init(transport, { forgetDelayMs: 0 }), "INIT");
  if (!init.ok) {
    classify(init.error, counts, "INIT");
    counts.initFailed++;
    return;
  }
  const session = init.value;
  const nodes: bigint[] = [FUSE_ROOT_ID];
  const handles: bigint[] = [];
  const held = new Map<bigint, number>();
  const node = (i: number): bigint => nodes[i % nodes.length]!;
  const fh = (i: number): bigint => (handles.length === 0 ? BigInt(i) : handles[i % handles.length]!);
  const hold = (nodeid: bigint): void => {
    nodes.push(nodeid);
    held.set(nodeid, (held.get(nodeid) ?? 0) + 1);
  };
  for (const k of c.calls) {
    counts.calls++;
    const run = async (): Promise<unknown> => {
      switch (k.op) {
        case "lookup":
          return hold((await session.lookup(FUSE_ROOT_ID, k.name)).nodeid);
        case "getattr":
          return session.getattr(node(k.node));
        case "open":
          return handles.push((await session.open(node(k.node), k.flags)).fh);
        case "read": {
          const data = await session.read(node(k.node), fh(k.fh), k.offset, k.size);
          assert.ok(data.length <= k.size, `READ returned ${data.length} bytes of ${k.size} asked`);
          return data;
        }
        case "write": {
          const n = await session.write(node(k.node), fh(k.fh), k.offset, new Uint8Array(k.size).fill(1));
          assert.ok(n <= k.size, `WRITE claims ${n} bytes of ${k.size}`);
          return n;
        }
        case "create": {
          const r = await session.create(FUSE_ROOT_ID, k.name, 0o644, OpenFlag.O_RDWR);
          hold(r.entry.nodeid);
          return handles.push(r.open.fh);
        }
        case "mkdir":
          return hold((await session.mkdir(FUSE_ROOT_ID, k.name, 0o755)).nodeid);
        case "opendir":
          return handles.push((await session.opendir(node(k.node))).fh);
        case "readdir":
          if (!k.plus) return session.readdir(node(k.node), fh(k.fh));
          for (const e of await session.readdirplus(node(k.node), fh(k.fh))) if (e.entry.nodeid !== 0n) hold(e.entry.nodeid);
          return;
        case "readlink":
          return session.readlink(node(k.node));
        case "setattr":
          return session.setattr(node(k.node), { size: k.size });
        case "getxattr":
          return session.getxattr(node(k.node), "user.x");
        case "listxattr":
          return session.listxattr(node(k.node));
        case "statfs":
          return session.statfs();
        case "release":
          return session.release(node(k.node), fh(k.fh));
        case "forget": {
          const id = node(k.node);
          const n = held.get(id) ?? 0;
          if (n === 0) return;
          held.set(id, n - 1);
          return session.forget(id);
        }
        case "raw":
          return session.request(k.opcode, node(0), k.body);
      }
    };
    const r = await settles(run(), k.op);
    if (r.ok) counts.ok++;
    else classify(r.error, counts, k.op);
    for (const [id, n] of held) assert.equal(session.lookupCount(id), n, `lookup count of node ${id}`);
  }
  await settles(session.close(), "close");
}
