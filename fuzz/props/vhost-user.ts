/**
 * The vhost-user backend under hostile frontends (for `npm run fuzz`): a
 * sequence of messages, after an optional QEMU-like start (owner, features,
 * a memory table, two configured rings), each with any request code, header
 * flags, a payload that is a valid encoding, a truncated or extended one, or
 * random bytes, a declared size that may lie, and 0 to 40 fds of any kind.
 *
 * Properties, after every message (the fake kernel and a microtask transport
 * make the backend's handling finish within one event-loop turn):
 * - the connection ends only on a framing error (a header version other
 *   than 1, a payload over 4 KiB, more than 32 fds); anything else is
 *   answered or ignored and the connection goes on;
 * - `onError` only ever sees ProtocolErrors or ErrnoErrors (never a
 *   TypeError or RangeError: those would be bugs);
 * - a memory-table change that was refused (a non-zero REPLY_ACK) leaves the
 *   mapped memory exactly as it was;
 * - every reply is a well-formed reply to a request that was sent;
 * and at the end, once both sides have closed, every fd the frontend passed
 * has been closed by the backend (the fake kernel's open count is zero).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { ErrnoError, ProtocolError } from "../../src/common/errors.js";
import { VhostUserBackend } from "../../src/vhost-user/backend.js";
import type { Transport, TransportReceiver } from "../../src/vhost-user/channel.js";
import {
  FrontendRequest as R,
  HeaderFlag,
  MAX_FDS,
  MAX_PAYLOAD_SIZE,
  ProtocolFeature,
  VhostFeature,
  bit,
  decodeU64,
  encodeConfig,
  encodeLog,
  encodeMemRegMsg,
  encodeMemoryTable,
  encodeMessage,
  encodeU64,
  encodeVringAddr,
  encodeVringFile,
  encodeVringState,
  type MemoryRegionDesc,
  MessageDecoder,
  type Message,
} from "../../src/vhost-user/messages.js";
import { FakeKernel, FakeSystem } from "../../test/vhost-user/fake-system.js";
import { FS_FEATURES, RecordingDevice } from "../../test/vhost-user/helpers.js";

const RAM = 0x8000;
const USER_BASE = 0x7f00_0000_0000n;
const GUEST_BASE = 0x4000_0000n;

/** One end of an in-process stream with fd passing; delivery is a microtask, so a whole exchange ends within one turn. */
class MicrotaskEnd implements Transport {
  peer!: MicrotaskEnd;
  private receiver: TransportReceiver | null = null;
  private readonly inbox: { bytes: Uint8Array; fds: number[] }[] = [];
  private closed = false;
  private ended = false;
  private scheduled = false;

  constructor(private readonly kernel: FakeKernel) {}

  async send(bytes: Uint8Array, fds: readonly number[]): Promise<void> {
    if (this.closed || this.peer.closed) throw new ErrnoError(32 /* EPIPE */, "sendmsg");
    const passed = fds.map((fd) => this.kernel.dup(fd));
    this.peer.inbox.push({ bytes: bytes.slice(), fds: passed });
    this.peer.schedule();
  }

  start(receiver: TransportReceiver): void {
    this.receiver = receiver;
    this.schedule();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const item of this.inbox.splice(0)) for (const fd of item.fds) this.kernel.close(fd);
    this.peer.schedule();
    queueMicrotask(() => this.finish());
  }

  get isEnded(): boolean {
    return this.ended;
  }

  private schedule(): void {
    if (this.scheduled || !this.receiver) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      const receiver = this.receiver;
      if (!receiver || this.closed || this.ended) return;
      while (this.inbox.length > 0 && !this.closed && !this.ended) {
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
    for (const item of this.inbox.splice(0)) for (const fd of item.fds) this.kernel.close(fd);
    this.receiver.end(null);
  }
}

type FdKind = "memfd" | "small-memfd" | "eventfd" | "other";

export interface FuzzMessage {
  request: number;
  flags: number;
  payload: Uint8Array;
  /** Added to the payload length in the header (0: honest). */
  sizeLie: number;
  fds: FdKind[];
}

export interface VhostCase {
  prefix: boolean;
  messages: FuzzMessage[];
}

const REQUESTS = Object.values(R) as number[];

const u64 = fc.oneof(fc.bigInt({ min: 0n, max: 0x2_0000n }), fc.constantFrom(GUEST_BASE, USER_BASE, USER_BASE + 0x8000n, 2n ** 63n, 2n ** 64n - 1n), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }));
const region: fc.Arbitrary<MemoryRegionDesc> = fc.record({
  guestPhysAddr: fc.oneof(fc.constant(GUEST_BASE), u64),
  memorySize: fc.oneof(fc.constantFrom(BigInt(RAM), 0n, 4096n, BigInt(RAM) + 1n, 2n ** 64n - 1n), u64),
  userspaceAddr: fc.oneof(fc.constant(USER_BASE), u64),
  mmapOffset: fc.oneof(fc.constant(0n), fc.constantFrom(4096n, BigInt(RAM)), u64),
});
const ringIndex = fc.oneof(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 0xffff_ffff }));

/** A payload that is a valid encoding for some request (not necessarily the one it is sent with). */
const validPayload: fc.Arbitrary<Uint8Array> = fc.oneof(
  u64.map((v) => encodeU64(v)),
  fc.record({ index: ringIndex, num: fc.oneof(fc.constantFrom(0, 1, 2, 8, 256, 1024, 1025, 32768), fc.integer({ min: 0, max: 0xffff_ffff })) }).map(encodeVringState),
  fc
    .record({ index: ringIndex, flags: fc.integer({ min: 0, max: 3 }), descUserAddr: u64, availUserAddr: u64, usedUserAddr: u64, logGuestAddr: u64 })
    .map(encodeVringAddr),
  fc.record({ index: fc.integer({ min: 0, max: 255 }), noFd: fc.boolean() }).map(encodeVringFile),
  fc.array(region, { maxLength: 8 }).map(encodeMemoryTable),
  // Nine regions, one more than a table may hold: the count field says 9.
  fc.array(region, { minLength: 8, maxLength: 8 }).map((r) => {
    const p = encodeMemoryTable(r);
    new DataView(p.buffer, p.byteOffset).setUint32(0, 9, true);
    return p;
  }),
  region.map(encodeMemRegMsg),
  fc.record({ mmapSize: u64, mmapOffset: u64 }).map(encodeLog),
  fc.record({ offset: fc.nat({ max: 300 }), flags: fc.nat({ max: 2 }), data: fc.uint8Array({ maxLength: 64 }) }).map(encodeConfig),
);

const payload: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 4, arbitrary: validPayload },
  {
    weight: 2,
    arbitrary: fc.tuple(validPayload, fc.integer({ min: -16, max: 16 })).map(([p, d]) => (d < 0 ? p.subarray(0, Math.max(0, p.length + d)) : Uint8Array.from([...p, ...new Uint8Array(d).fill(0xee)]))),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) },
);

const fuzzMessage: fc.Arbitrary<FuzzMessage> = fc.record({
  request: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...REQUESTS) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 60 }) }, { weight: 1, arbitrary: fc.nat() }),
  flags: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(1, 1 | HeaderFlag.NEED_REPLY) },
    { weight: 1, arbitrary: fc.constantFrom(0, 2, 3, 1 | HeaderFlag.REPLY, 1 | 0x10, 5) },
    { weight: 1, arbitrary: fc.nat() },
  ),
  payload,
  sizeLie: fc.oneof({ weight: 12, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(MAX_PAYLOAD_SIZE + 1, 0x7fff_ffff) }),
  fds: fc.oneof(
    { weight: 6, arbitrary: fc.array(fc.constantFrom<FdKind>("memfd", "small-memfd", "eventfd", "other"), { maxLength: 3 }) },
    { weight: 1, arbitrary: fc.array(fc.constantFrom<FdKind>("eventfd", "other"), { minLength: 8, maxLength: MAX_FDS + 8 }) },
  ),
});

export const vhostCase: fc.Arbitrary<VhostCase> = fc.record({ prefix: fc.boolean(), messages: fc.array(fuzzMessage, { minLength: 1, maxLength: 6 }) });

/** A framing error ends the connection by design. */
function framingBad(m: FuzzMessage): boolean {
  return (m.flags & HeaderFlag.VERSION_MASK) !== 1 || m.payload.length + m.sizeLie > MAX_PAYLOAD_SIZE || m.fds.length > MAX_FDS;
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function frame(m: FuzzMessage): Uint8Array {
  const bytes = encodeMessage(m.request >>> 0, m.flags >>> 0, m.payload);
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(8, (m.payload.length + m.sizeLie) >>> 0, true);
  return bytes;
}

export interface VhostCounts {
  messages: number;
  refused: number;
  framingEnds: number;
}

/** Runs one case against a fresh backend and checks the properties of the module comment. */
export async function checkVhostCase(c: VhostCase, counts: VhostCounts): Promise<void> {
  const kernel = new FakeKernel();
  const system = new FakeSystem(kernel);
  const front = new MicrotaskEnd(kernel);
  const back = new MicrotaskEnd(kernel);
  front.peer = back;
  back.peer = front;
  const bugs: string[] = [];
  const backend = new VhostUserBackend({
    device: new RecordingDevice(),
    transport: back,
    system,
    onError: (error, request) => {
      if (!ProtocolError.is(error) && !ErrnoError.is(error)) bugs.push(`${request}: ${String((error as Error)?.stack ?? error)}`);
      else counts.refused++;
    },
  });
  backend.start();
  // The frontend's side: every reply decoded (a malformed one would throw out of the property).
  const replies: Message[] = [];
  const decoder = new MessageDecoder({ closeFd: (fd) => system.closeFd(fd) });
  let decodeError: unknown = null;
  front.start({
    maxBytes: () => decoder.bytesWanted(),
    data: (bytes, fds) => {
      try {
        replies.push(...decoder.push(bytes, fds));
      } catch (error) {
        decodeError = error;
      }
    },
    end: () => undefined,
  });
  const sent = new Set<number>();
  const drain = async (): Promise<void> => {
    await turn();
    assert.equal(decodeError, null, "a malformed reply");
  };
  const send = async (request: number, p: Uint8Array, fds: number[] = [], needReply = true): Promise<void> => {
    sent.add(request);
    await front.send(encodeMessage(request, needReply ? 1 | HeaderFlag.NEED_REPLY : 1, p), fds);
  };
  try {
    if (c.prefix) {
      await send(R.SET_OWNER, new Uint8Array(0), [], false);
      await send(R.SET_PROTOCOL_FEATURES, encodeU64(bit(ProtocolFeature.REPLY_ACK) | bit(ProtocolFeature.CONFIGURE_MEM_SLOTS) | bit(ProtocolFeature.MQ)));
      await send(R.SET_FEATURES, encodeU64(FS_FEATURES | bit(VhostFeature.PROTOCOL_FEATURES)));
      const ram = system.createMemfd("ram", BigInt(RAM));
      await send(R.SET_MEM_TABLE, encodeMemoryTable([{ guestPhysAddr: GUEST_BASE, memorySize: BigInt(RAM), userspaceAddr: USER_BASE, mmapOffset: 0n }]), [ram]);
      system.closeFd(ram);
      for (const index of [0, 1]) {
        const base = USER_BASE + BigInt(index * 0x4000);
        await send(R.SET_VRING_NUM, encodeVringState({ index, num: 64 }));
        await send(R.SET_VRING_ADDR, encodeVringAddr({ index, flags: 0, descUserAddr: base, availUserAddr: base + 0x1000n, usedUserAddr: base + 0x2000n, logGuestAddr: 0n }));
        const kick = system.createEventFd();
        await send(R.SET_VRING_KICK, encodeVringFile({ index, noFd: false }), [kick]);
        system.closeFd(kick);
        await send(R.SET_VRING_ENABLE, encodeVringState({ index, num: 1 }));
      }
      await drain();
      assert.ok(!front.isEnded, "the prefix is accepted");
    }
    for (const m of c.messages) {
      if (front.isEnded) break;
      counts.messages++;
      const memoryBefore = backend.memory;
      const fds = m.fds.map((kind) =>
        kind === "memfd" ? system.createMemfd("x", BigInt(RAM)) : kind === "small-memfd" ? system.createMemfd("y", 4096n) : kind === "eventfd" ? system.createEventFd() : kernel.other(),
      );
      const before = replies.length;
      sent.add(m.request >>> 0);
      await front.send(frame(m), fds).catch(() => undefined);
      for (const fd of fds) system.closeFd(fd);
      await drain();
      if (front.isEnded) {
        counts.framingEnds++;
        assert.ok(framingBad(m), `the connection ended after a message with no framing error (request ${m.request}, flags 0x${m.flags.toString(16)})`);
        break;
      }
      for (const r of replies.slice(before)) {
        assert.ok(sent.has(r.request), `a reply to request ${r.request}, which was never sent`);
        assert.equal(r.flags & (HeaderFlag.REPLY | HeaderFlag.VERSION_MASK), HeaderFlag.REPLY | 1, "a reply carries REPLY and version 1");
        if ((m.request === R.SET_MEM_TABLE || m.request === R.ADD_MEM_REG || m.request === R.REM_MEM_REG) && r.request === m.request && r.payload.length === 8 && (m.flags & HeaderFlag.NEED_REPLY) !== 0) {
          if (decodeU64(r.payload) !== 0n) assert.equal(backend.memory, memoryBefore, "a refused memory change left the mapping as it was");
        }
      }
    }
  } finally {
    front.close();
    await backend.closed;
    await turn();
  }
  assert.deepEqual(bugs, [], "onError saw a bug, not a refusal");
  assert.equal(kernel.openCount, 0, "every fd passed to the backend was closed");
}
