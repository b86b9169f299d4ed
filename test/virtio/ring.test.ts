import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  VirtioFeature,
  availRingSize,
  descTableSize,
  featureMask,
  hasFeature,
  isValidQueueSize,
  needEvent,
  splitQueueLayout,
  usedRingSize,
} from "../../src/virtio/ring.js";

test("needEvent is vring_need_event: the event index lies in [old, new) modulo 2^16", () => {
  assert.equal(needEvent(0, 1, 0), true);
  assert.equal(needEvent(1, 1, 0), false);
  assert.equal(needEvent(5, 10, 3), true);
  assert.equal(needEvent(10, 10, 3), false);
  assert.equal(needEvent(2, 10, 3), false);
  assert.equal(needEvent(0xffff, 2, 0xfffe), true, "across the wrap");
  assert.equal(needEvent(1, 2, 0xfffe), true);
  assert.equal(needEvent(2, 2, 0xfffe), false);
  assert.equal(needEvent(7, 7, 7), false, "nothing published");
  const u16 = fc.integer({ min: 0, max: 0xffff });
  fc.assert(
    fc.property(u16, u16, u16, (ev, nw, old) => {
      const inWindow = ((ev - old) & 0xffff) < ((nw - old) & 0xffff);
      assert.equal(needEvent(ev, nw, old), inWindow);
    }),
    { numRuns: 2000 },
  );
});

test("layout sizes and alignment follow VIRTIO 1.2 §2.7", () => {
  assert.equal(descTableSize(256), 4096);
  assert.equal(availRingSize(256), 6 + 512);
  assert.equal(availRingSize(256, false), 4 + 512);
  assert.equal(usedRingSize(256), 6 + 2048);
  assert.equal(usedRingSize(256, false), 4 + 2048);
  const l = splitQueueLayout(128, 0x10000n);
  assert.equal(l.descAddr, 0x10000n);
  assert.equal(l.availAddr, 0x10800n);
  assert.equal(l.usedAddr % 4n, 0n);
  assert.ok(l.usedAddr >= l.availAddr + BigInt(availRingSize(128)));
  assert.equal(splitQueueLayout(128, 0n, 4096).usedAddr, 4096n);
  for (const n of [1, 2, 128, 32768]) assert.ok(isValidQueueSize(n));
  for (const n of [0, 3, 100, 65536, 1.5, -2]) assert.ok(!isValidQueueSize(n));
});

test("feature bits are in one table", () => {
  assert.equal(VirtioFeature.VERSION_1, 32);
  assert.equal(VirtioFeature.RING_INDIRECT_DESC, 28);
  assert.equal(VirtioFeature.RING_EVENT_IDX, 29);
  assert.equal(VirtioFeature.ACCESS_PLATFORM, 33);
  assert.equal(VirtioFeature.RING_PACKED, 34);
  assert.equal(VirtioFeature.IN_ORDER, 35);
  assert.equal(VirtioFeature.NOTIFICATION_DATA, 38);
  assert.equal(VirtioFeature.RING_RESET, 40);
  assert.equal(featureMask("VERSION_1"), 0x1_0000_0000n);
  assert.ok(hasFeature(featureMask("RING_EVENT_IDX") | featureMask("VERSION_1"), "RING_EVENT_IDX"));
  assert.ok(!hasFeature(featureMask("VERSION_1"), "RING_PACKED"));
});
