import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ProtocolError, ProtocolErrorCode } from "../../src/common/errors.js";
import { VirtioFeature } from "../../src/virtio/ring.js";
import {
  ConfigFlag,
  FrontendRequest,
  FRONTEND_REQUESTS,
  HEADER_SIZE,
  HeaderFlag,
  MAX_FDS,
  MAX_PAYLOAD_SIZE,
  MessageDecoder,
  ProtocolFeature,
  VhostFeature,
  bit,
  checkFrontendRequest,
  checkReply,
  decodeConfig,
  decodeInflight,
  decodeLog,
  decodeMemRegMsg,
  decodeMemoryTable,
  decodeU64,
  decodeVringAddr,
  decodeVringArea,
  decodeVringFile,
  decodeVringState,
  encodeConfig,
  encodeInflight,
  encodeLog,
  encodeMemRegMsg,
  encodeMemoryTable,
  encodeMessage,
  encodeReply,
  encodeRequest,
  encodeU64,
  encodeVringAddr,
  encodeVringArea,
  encodeVringFile,
  encodeVringState,
  frontendRequestName,
  type Message,
} from "../../src/vhost-user/messages.js";

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
const fromHex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text.replace(/\s+/g, ""), "hex"));

function code(error: unknown): string {
  assert.ok(ProtocolError.is(error), `expected a ProtocolError, got ${String(error)}`);
  return error.code;
}
function throwsCode(fn: () => unknown, expected: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown !== undefined, `expected ${expected}, nothing thrown`);
  assert.equal(code(thrown), expected);
}
function message(request: number, payload: Uint8Array = new Uint8Array(0), fds: number[] = [], flags = 1): Message {
  return { request, flags, payload, fds };
}

test("constants match vhost-user.rst", () => {
  assert.equal(FrontendRequest.GET_FEATURES, 1);
  assert.equal(FrontendRequest.GET_VRING_BASE, 11);
  assert.equal(FrontendRequest.GET_PROTOCOL_FEATURES, 15);
  assert.equal(FrontendRequest.SET_VRING_ENABLE, 18);
  assert.equal(FrontendRequest.SET_BACKEND_REQ_FD, 21);
  assert.equal(FrontendRequest.GET_CONFIG, 24);
  assert.equal(FrontendRequest.RESET_DEVICE, 34);
  assert.equal(FrontendRequest.GET_MAX_MEM_SLOTS, 36);
  assert.equal(FrontendRequest.REM_MEM_REG, 38);
  assert.equal(FrontendRequest.GET_STATUS, 40);
  assert.equal(FrontendRequest.CHECK_DEVICE_STATE, 43);
  assert.equal(ProtocolFeature.REPLY_ACK, 3);
  assert.equal(ProtocolFeature.BACKEND_REQ, 5);
  assert.equal(ProtocolFeature.CONFIG, 9);
  assert.equal(ProtocolFeature.INFLIGHT_SHMFD, 12);
  assert.equal(ProtocolFeature.CONFIGURE_MEM_SLOTS, 15);
  assert.equal(ProtocolFeature.STATUS, 16);
  assert.equal(ProtocolFeature.DEVICE_STATE, 19);
  assert.equal(bit(VhostFeature.PROTOCOL_FEATURES), 0x4000_0000n);
  assert.equal(bit(VirtioFeature.VERSION_1), 0x1_0000_0000n);
  assert.equal(frontendRequestName(9), "SET_VRING_ADDR");
  assert.equal(frontendRequestName(999), "request#999");
  // Every code from 1 to 43 has a spec.
  for (let request = 1; request <= 43; request++) assert.ok(FRONTEND_REQUESTS.has(request), `request ${request}`);
});

test("header vectors: GET_FEATURES request and its reply", () => {
  assert.equal(hex(encodeRequest(FrontendRequest.GET_FEATURES)), "01000000" + "01000000" + "00000000");
  assert.equal(hex(encodeRequest(FrontendRequest.SET_OWNER, undefined, true)), "03000000" + "09000000" + "00000000");
  const features = bit(VirtioFeature.VERSION_1) | bit(VhostFeature.PROTOCOL_FEATURES) | bit(VirtioFeature.RING_EVENT_IDX);
  assert.equal(hex(encodeReply(FrontendRequest.GET_FEATURES, encodeU64(features))), "01000000" + "05000000" + "08000000" + "0000006001000000");
  assert.equal(encodeMessage(1, 1).length, HEADER_SIZE);
  assert.throws(() => encodeMessage(1, 1, new Uint8Array(MAX_PAYLOAD_SIZE + 1)), RangeError);
});

test("payload vectors round-trip", () => {
  const state = { index: 1, num: 1024 };
  assert.equal(hex(encodeVringState(state)), "01000000" + "00040000");
  assert.deepEqual(decodeVringState(encodeVringState(state)), state);

  const addr = { index: 1, flags: 0, descUserAddr: 0x7f00_0000_1000n, usedUserAddr: 0x7f00_0000_3000n, availUserAddr: 0x7f00_0000_2000n, logGuestAddr: 0n };
  const addrBytes = encodeVringAddr(addr);
  assert.equal(addrBytes.length, 40);
  assert.equal(hex(addrBytes.subarray(0, 16)), "01000000" + "00000000" + "0010000000 7f0000".replace(/ /g, ""));
  assert.deepEqual(decodeVringAddr(addrBytes), addr);

  assert.equal(hex(encodeVringFile({ index: 2, noFd: false })), "0200000000000000");
  assert.equal(hex(encodeVringFile({ index: 0, noFd: true })), "0001000000000000");
  assert.deepEqual(decodeVringFile(fromHex("0101000000000000")), { index: 1, noFd: true });

  const region = { guestPhysAddr: 0n, memorySize: 0x10000n, userspaceAddr: 0x7f12_3456_0000n, mmapOffset: 0n };
  const table = encodeMemoryTable([region, { ...region, guestPhysAddr: 0x1_0000_0000n, mmapOffset: 0x10000n }]);
  assert.equal(table.length, 8 + 64);
  assert.equal(hex(table.subarray(0, 16)), "02000000" + "00000000" + "0000000000000000");
  assert.deepEqual(decodeMemoryTable(table)[1], { ...region, guestPhysAddr: 0x1_0000_0000n, mmapOffset: 0x10000n });

  const regMsg = encodeMemRegMsg(region);
  assert.equal(regMsg.length, 40);
  assert.deepEqual(decodeMemRegMsg(regMsg), region);

  assert.deepEqual(decodeLog(encodeLog({ mmapSize: 4096n, mmapOffset: 0n })), { mmapSize: 4096n, mmapOffset: 0n });
  const inflight = { mmapSize: 8192n, mmapOffset: 0n, numQueues: 2, queueSize: 128 };
  assert.equal(encodeInflight(inflight).length, 24);
  assert.deepEqual(decodeInflight(encodeInflight(inflight)), inflight);
  const area = { u64: 0x101n, size: 4096n, offset: 0n };
  assert.deepEqual(decodeVringArea(encodeVringArea(area)), area);

  // virtio-fs config: tag[36] + num_request_queues, read whole.
  const data = new Uint8Array(40);
  data.set(new TextEncoder().encode("myfs"));
  data[36] = 1;
  const config = encodeConfig({ offset: 0, flags: ConfigFlag.FRONTEND, data });
  assert.equal(hex(config.subarray(0, 12)), "00000000" + "28000000" + "00000000");
  assert.deepEqual(decodeConfig(config), { offset: 0, size: 40, flags: 0, data });
});

test("payload decoders reject malformed input with stable codes", () => {
  throwsCode(() => decodeU64(new Uint8Array(7)), ProtocolErrorCode.SHORT);
  throwsCode(() => decodeU64(new Uint8Array(9)), ProtocolErrorCode.LONG);
  throwsCode(() => decodeVringAddr(new Uint8Array(32)), ProtocolErrorCode.SHORT);
  throwsCode(() => decodeVringFile(fromHex("0102000000000000")), ProtocolErrorCode.VALUE);
  throwsCode(() => decodeVringFile(encodeU64(1n << 63n)), ProtocolErrorCode.VALUE);
  // Memory table: short, 9 regions, padding, size mismatch, zero size, overflow.
  throwsCode(() => decodeMemoryTable(new Uint8Array(4)), ProtocolErrorCode.SHORT);
  const nine = new Uint8Array(8 + 9 * 32);
  nine[0] = 9;
  throwsCode(() => decodeMemoryTable(nine), ProtocolErrorCode.LIMIT);
  const region = { guestPhysAddr: 0n, memorySize: 0x1000n, userspaceAddr: 0x1000n, mmapOffset: 0n };
  const padded = encodeMemoryTable([region]);
  padded[4] = 1;
  throwsCode(() => decodeMemoryTable(padded), ProtocolErrorCode.VALUE);
  const claimsTwo = encodeMemoryTable([region]);
  claimsTwo[0] = 2;
  throwsCode(() => decodeMemoryTable(claimsTwo), ProtocolErrorCode.LENGTH);
  const withSlack = new Uint8Array(8 + 8 * 32);
  withSlack.set(encodeMemoryTable([region]));
  throwsCode(() => decodeMemoryTable(withSlack), ProtocolErrorCode.LENGTH);
  throwsCode(() => decodeMemoryTable(encodeMemoryTable([{ ...region, memorySize: 0n }])), ProtocolErrorCode.VALUE);
  throwsCode(() => decodeMemoryTable(encodeMemoryTable([{ ...region, guestPhysAddr: 0xffff_ffff_ffff_f000n, memorySize: 0x2000n }])), ProtocolErrorCode.ADDRESS);
  throwsCode(() => decodeMemRegMsg(encodeMemRegMsg({ ...region, mmapOffset: 0xffff_ffff_ffff_ffffn })), ProtocolErrorCode.ADDRESS);
  assert.deepEqual(decodeMemoryTable(encodeMemoryTable([])), []);
  // Config: size over 256, offset + size over 256, data length mismatch, flags.
  const big = encodeConfig({ offset: 0, flags: 0, data: new Uint8Array(8) });
  new DataView(big.buffer).setUint32(4, 257, true);
  throwsCode(() => decodeConfig(big), ProtocolErrorCode.LIMIT);
  throwsCode(() => decodeConfig(encodeConfig({ offset: 250, flags: 0, data: new Uint8Array(8) })), ProtocolErrorCode.LIMIT);
  const short = encodeConfig({ offset: 0, flags: 0, data: new Uint8Array(8) });
  throwsCode(() => decodeConfig(short.subarray(0, 16)), ProtocolErrorCode.LENGTH);
  throwsCode(() => decodeConfig(encodeConfig({ offset: 0, flags: 7, data: new Uint8Array(4) })), ProtocolErrorCode.VALUE);
  throwsCode(() => decodeConfig(new Uint8Array(11)), ProtocolErrorCode.SHORT);
});

test("checkFrontendRequest: sizes, flags and fd rules from the table", () => {
  assert.equal(checkFrontendRequest(message(FrontendRequest.GET_FEATURES)).alwaysReplies, true);
  throwsCode(() => checkFrontendRequest(message(FrontendRequest.GET_FEATURES, new Uint8Array(8))), ProtocolErrorCode.LONG);
  throwsCode(() => checkFrontendRequest(message(FrontendRequest.SET_FEATURES, new Uint8Array(4))), ProtocolErrorCode.SHORT);
  throwsCode(() => checkFrontendRequest(message(0)), ProtocolErrorCode.UNKNOWN);
  throwsCode(() => checkFrontendRequest(message(44)), ProtocolErrorCode.UNKNOWN);
  throwsCode(() => checkFrontendRequest(message(FrontendRequest.GET_FEATURES, undefined, [], 1 | HeaderFlag.REPLY)), ProtocolErrorCode.VALUE);
  throwsCode(() => checkFrontendRequest(message(FrontendRequest.GET_FEATURES, undefined, [], 1 | 0x10)), ProtocolErrorCode.VALUE);
  // fds where none belong, missing where one belongs.
  throwsCode(() => checkFrontendRequest(message(FrontendRequest.GET_FEATURES, undefined, [10])), ProtocolErrorCode.FDS);
  throwsCode(() => checkFrontendRequest(message(FrontendRequest.SET_VRING_KICK, encodeVringFile({ index: 0, noFd: false }))), ProtocolErrorCode.FDS);
  checkFrontendRequest(message(FrontendRequest.SET_VRING_KICK, encodeVringFile({ index: 0, noFd: false }), [10]));
  checkFrontendRequest(message(FrontendRequest.SET_VRING_CALL, encodeVringFile({ index: 0, noFd: true })));
  throwsCode(() => checkFrontendRequest(message(FrontendRequest.SET_VRING_CALL, encodeVringFile({ index: 0, noFd: true }), [10])), ProtocolErrorCode.FDS);
  const region = { guestPhysAddr: 0n, memorySize: 0x1000n, userspaceAddr: 0x1000n, mmapOffset: 0n };
  const table = encodeMemoryTable([region, { ...region, guestPhysAddr: 0x1000n }]);
  checkFrontendRequest(message(FrontendRequest.SET_MEM_TABLE, table, [10, 11]));
  throwsCode(() => checkFrontendRequest(message(FrontendRequest.SET_MEM_TABLE, table, [10])), ProtocolErrorCode.FDS);
  throwsCode(() => checkFrontendRequest(message(FrontendRequest.SET_MEM_TABLE, table, [10, 11, 12])), ProtocolErrorCode.FDS);
  throwsCode(() => checkFrontendRequest(message(FrontendRequest.ADD_MEM_REG, encodeMemRegMsg(region))), ProtocolErrorCode.FDS);
  checkFrontendRequest(message(FrontendRequest.REM_MEM_REG, encodeMemRegMsg(region), [10]));
  checkFrontendRequest(message(FrontendRequest.REM_MEM_REG, encodeMemRegMsg(region)));
});

test("checkReply: flags, request and size", () => {
  const reply = (request: number, payload: Uint8Array, flags = 5, fds: number[] = []): Message => ({ request, flags, payload, fds });
  checkReply(reply(1, encodeU64(1n)), 1, 8);
  throwsCode(() => checkReply(reply(1, encodeU64(1n), 1), 1, 8), ProtocolErrorCode.VALUE);
  throwsCode(() => checkReply(reply(1, encodeU64(1n), 0xd), 1, 8), ProtocolErrorCode.VALUE);
  throwsCode(() => checkReply(reply(15, encodeU64(1n)), 1, 8), ProtocolErrorCode.STATE);
  throwsCode(() => checkReply(reply(1, new Uint8Array(4)), 1, 8), ProtocolErrorCode.SHORT);
  throwsCode(() => checkReply(reply(1, encodeU64(1n), 5, [3]), 1, 8), ProtocolErrorCode.FDS);
});

/** A decoder whose closed fds are recorded. */
function recordingDecoder(): { decoder: MessageDecoder; closed: number[] } {
  const closed: number[] = [];
  return { decoder: new MessageDecoder({ closeFd: (fd) => closed.push(fd) }), closed };
}

test("MessageDecoder: whole messages, split at every byte, fds with their message", () => {
  const a = encodeRequest(FrontendRequest.SET_FEATURES, encodeU64(0x1_4000_0000n));
  const b = encodeRequest(FrontendRequest.SET_VRING_KICK, encodeVringFile({ index: 1, noFd: false }), true);
  const c = encodeRequest(FrontendRequest.GET_FEATURES);
  const stream = new Uint8Array([...a, ...b, ...c]);
  for (let cut = 1; cut < stream.length; cut++) {
    const { decoder, closed } = recordingDecoder();
    const chunks: [Uint8Array, number[]][] = [];
    // Cut the stream once at `cut`, and also at the message boundaries, as recvmsg with bytesWanted would.
    const bounds = [...new Set([0, cut, a.length, a.length + b.length, stream.length])].sort((x, y) => x - y);
    for (let i = 0; i + 1 < bounds.length; i++) {
      const from = bounds[i]!;
      chunks.push([stream.subarray(from, bounds[i + 1]!), from === a.length ? [42] : []]);
    }
    const out = chunks.flatMap(([bytes, fds]) => decoder.push(bytes, fds));
    assert.equal(out.length, 3);
    assert.equal(out[0]!.request, FrontendRequest.SET_FEATURES);
    assert.equal(decodeU64(out[0]!.payload), 0x1_4000_0000n);
    assert.deepEqual(out[0]!.fds, []);
    assert.equal(out[1]!.request, FrontendRequest.SET_VRING_KICK);
    assert.equal(out[1]!.flags, 1 | HeaderFlag.NEED_REPLY);
    assert.deepEqual(out[1]!.fds, [42]);
    assert.deepEqual(out[2]!.payload, new Uint8Array(0));
    assert.equal(decoder.pending, false);
    decoder.end();
    assert.deepEqual(closed, []);
  }
});

test("MessageDecoder: bytesWanted follows header then payload", () => {
  const { decoder } = recordingDecoder();
  assert.equal(decoder.bytesWanted(), 12);
  const msg = encodeRequest(FrontendRequest.SET_VRING_ADDR, encodeVringAddr({ index: 0, flags: 0, descUserAddr: 0n, usedUserAddr: 0n, availUserAddr: 0n, logGuestAddr: 0n }));
  decoder.push(msg.subarray(0, 5));
  assert.equal(decoder.bytesWanted(), 7);
  decoder.push(msg.subarray(5, 12));
  assert.equal(decoder.bytesWanted(), 40);
  assert.equal(decoder.push(msg.subarray(12)).length, 1);
  assert.equal(decoder.bytesWanted(), 12);
});

test("MessageDecoder: framing errors close every fd and poison the stream", () => {
  // Wrong version.
  {
    const { decoder, closed } = recordingDecoder();
    const bad = encodeMessage(FrontendRequest.GET_FEATURES, 2);
    throwsCode(() => decoder.push(bad, [7, 8]), ProtocolErrorCode.VALUE);
    assert.deepEqual(closed, [7, 8]);
    throwsCode(() => decoder.push(encodeRequest(1), [9]), ProtocolErrorCode.STATE);
    assert.deepEqual(closed, [7, 8, 9]);
  }
  // Size over the limit is refused from the header alone: nothing allocated.
  {
    const { decoder, closed } = recordingDecoder();
    const header = new Uint8Array(12);
    const view = new DataView(header.buffer);
    view.setUint32(0, 5, true);
    view.setUint32(4, 1, true);
    view.setUint32(8, 0xffff_ffff, true);
    throwsCode(() => decoder.push(header, [3]), ProtocolErrorCode.LIMIT);
    assert.deepEqual(closed, [3]);
  }
  // Too many fds, across two chunks of one message; a complete earlier message's fds are closed too.
  {
    const { decoder, closed } = recordingDecoder();
    const first = encodeRequest(FrontendRequest.SET_LOG_FD);
    const fds = Array.from({ length: MAX_FDS }, (_, i) => 100 + i);
    const second = encodeRequest(FrontendRequest.SET_MEM_TABLE, new Uint8Array(8));
    decoder.push(second.subarray(0, 4), fds);
    throwsCode(() => decoder.push(second.subarray(4), [200]), ProtocolErrorCode.FDS);
    assert.deepEqual(closed.sort((x, y) => x - y), [...fds, 200]);
    void first;
  }
  // Messages completed in the failing chunk give their fds back too.
  {
    const { decoder, closed } = recordingDecoder();
    const good = encodeRequest(FrontendRequest.SET_LOG_FD);
    const bad = encodeMessage(FrontendRequest.GET_FEATURES, 0);
    throwsCode(() => decoder.push(new Uint8Array([...good, ...bad]), [5]), ProtocolErrorCode.VALUE);
    assert.deepEqual(closed, [5]);
  }
});

test("MessageDecoder: end() inside a message closes its fds and reports SHORT", () => {
  const { decoder, closed } = recordingDecoder();
  const msg = encodeRequest(FrontendRequest.SET_FEATURES, encodeU64(1n));
  decoder.push(msg.subarray(0, 14), [4]);
  assert.equal(decoder.pending, true);
  throwsCode(() => decoder.end(), ProtocolErrorCode.SHORT);
  assert.deepEqual(closed, [4]);
  const clean = recordingDecoder();
  clean.decoder.end();
  assert.deepEqual(clean.closed, []);
});

test("MessageDecoder never throws anything but ProtocolError on arbitrary bytes", () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), fc.array(fc.nat(3), { maxLength: 8 }), (chunks, fdCounts) => {
      const closed: number[] = [];
      const given: number[] = [];
      const decoder = new MessageDecoder({ closeFd: (fd) => closed.push(fd), maxFds: 4 });
      const delivered: number[] = [];
      let next = 1000;
      try {
        chunks.forEach((chunk, i) => {
          const fds = Array.from({ length: fdCounts[i] ?? 0 }, () => next++);
          given.push(...fds);
          for (const m of decoder.push(chunk, fds)) {
            assert.ok(m.payload.length <= MAX_PAYLOAD_SIZE);
            delivered.push(...m.fds);
          }
        });
        decoder.dispose();
      } catch (error) {
        assert.ok(ProtocolError.is(error), String(error));
      }
      // Every fd given is either delivered or closed, exactly once.
      assert.deepEqual([...delivered, ...closed].sort((x, y) => x - y), [...given].sort((x, y) => x - y));
    }),
    { numRuns: 500 },
  );
});
