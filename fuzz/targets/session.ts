/** Target `session`: the guest-side FuseSession against replies tampered with (fuzz/props/session.ts). */
import fc from "fast-check";
import { checkSessionCase, sessionCase, type SessionCounts } from "../props/session.js";
import type { Target } from "../runner.js";

export const sessionTarget: Target = {
  name: "session",
  summary: "guest FuseSession: replies from a real server, flipped, cut, extended, with lying len/error/unique, or random; calls settle, reject only with errno 1..511 or ProtocolError, lookup counts stay exact",
  async setup(tick) {
    const counts: SessionCounts = { calls: 0, ok: 0, errno: 0, protocol: 0, initFailed: 0 };
    return {
      property: fc.asyncProperty(sessionCase, async (c) => {
        tick();
        await checkSessionCase(c, counts);
      }),
      stats: () => ({ ...counts }),
      async teardown() {},
    };
  },
};
