/**
 * Property tests: random and mutated messages make the decoders return a value
 * or throw a ProtocolError, nothing else; whatever decodes re-encodes to the
 * same value; every view a decoder returns lies inside the message. The
 * generators and checks live in fuzz/props/fuse-codec.ts, which `npm run fuzz`
 * runs a million times; these are the bounded runs.
 */
import { test } from "node:test";
import fc from "fast-check";
import {
  arbDirentStream,
  arbExtensionArea,
  arbMutatedRequest,
  arbRandomRequest,
  arbReply,
  checkDirents,
  checkExtensions,
  checkReply,
  checkRequest,
} from "../../fuzz/props/fuse-codec.js";

const RUNS = 1500;

test("random requests: decode or ProtocolError; decoded ones round-trip", () => {
  fc.assert(fc.property(arbRandomRequest, checkRequest), { numRuns: RUNS * 2 });
});

test("mutated request vectors: decode or ProtocolError", () => {
  fc.assert(fc.property(arbMutatedRequest, checkRequest), { numRuns: RUNS * 2 });
});

test("random replies: decode or ProtocolError; decoded ones round-trip", () => {
  fc.assert(fc.property(arbReply, checkReply), { numRuns: RUNS });
});

test("dirent and direntplus streams: decode or ProtocolError", () => {
  fc.assert(fc.property(arbDirentStream, checkDirents), { numRuns: RUNS });
});

test("extension areas: decode or ProtocolError; decoded ones round-trip", () => {
  fc.assert(fc.property(arbExtensionArea, checkExtensions), { numRuns: RUNS });
});
