/** Target `vhost-user`: the backend state machine under hostile frontends (fuzz/props/vhost-user.ts). */
import fc from "fast-check";
import { checkVhostCase, vhostCase, type VhostCounts } from "../props/vhost-user.js";
import type { Target } from "../runner.js";

export const vhostUserTarget: Target = {
  name: "vhost-user",
  summary: "vhost-user backend: any request, flags, payload (valid, cut, extended, random), lying sizes, 0-40 fds of any kind; only framing errors end the connection, refusals are ProtocolErrors, refused memory changes change nothing, no fd leaks",
  async setup(tick) {
    const counts: VhostCounts = { messages: 0, refused: 0, framingEnds: 0 };
    return {
      property: fc.asyncProperty(vhostCase, async (c) => {
        tick();
        await checkVhostCase(c, counts);
      }),
      stats: () => ({ ...counts }),
      async teardown() {},
    };
  },
};
