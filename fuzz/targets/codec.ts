/** Target `codec`: the FUSE request, reply, dirent and extension decoders (fuzz/props/fuse-codec.ts). */
import fc from "fast-check";
import { arbCodecInput, checkCodecInput } from "../props/fuse-codec.js";
import type { Target } from "../runner.js";

export const codecTarget: Target = {
  name: "codec",
  summary: "FUSE decoders: random and mutated requests, replies, dirent streams, extension areas; decode or ProtocolError, views inside, round-trip",
  async setup(tick) {
    return {
      property: fc.property(arbCodecInput, (input) => {
        tick();
        checkCodecInput(input);
      }),
      async teardown() {},
    };
  },
};
