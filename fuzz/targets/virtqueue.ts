/** Target `virtqueue`: the device side of a split virtqueue under arbitrary descriptor tables (fuzz/props/virtqueue.ts). */
import fc from "fast-check";
import { checkScenario, scenario, type ScenarioCounts } from "../props/virtqueue.js";
import type { Target } from "../runner.js";

export const virtqueueTarget: Target = {
  name: "virtqueue",
  summary: "device-side virtqueue: arbitrary descriptor tables, indirect tables and avail rings; ProtocolError only, views inside regions, guards intact, bad chains answered or ring broken, good chains still served",
  async setup(tick) {
    const counts: ScenarioCounts = { chains: 0, errors: 0, broken: 0, servedAfter: 0 };
    return {
      property: fc.property(scenario, (s) => {
        tick();
        checkScenario(s, counts);
      }),
      stats: () => ({ ...counts }),
      async teardown() {},
    };
  },
};
