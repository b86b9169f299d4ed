/**
 * Micro-benchmark of the FUSE codec and of the server's request path, in
 * nanoseconds per operation. Not a test and not part of `npm run bench`:
 *
 *     npx tsx bench/micro/codec.ts [--json] [--filter REGEXP]
 *
 * Each case runs for a fixed time after a warm-up, in seven rounds; the
 * best round is printed, as CPU time and as wall time per operation. The
 * machine may be shared: CPU time leaves out the time the process waited for
 * a core, and slower rounds measure the neighbours, not the code. The messages are the ones the Linux client sends on
 * metadata and I/O paths (LOOKUP with a short name, GETATTR, READ and WRITE
 * headers), the replies the ones a passthrough file system gives.
 * `handle` cases run `FuseServer.handle` end to end over a file system that
 * answers from constants, with a reply target that drops the bytes;
 * `handleChain` cases take the virtio path: the request copied out of a
 * "guest" buffer by the descriptor-chain Reader, the reply written into
 * another by ChainReply (as the vhost-user-fs device does, minus the ring).
 */
import { Opcode } from "../../src/fuse/abi.js";
import {
  decodeRequest,
  encodeErrorReply,
  encodeReply,
  encodeRequestBytes,
  type Request,
} from "../../src/fuse/messages.js";
import { DirentplusEncoder } from "../../src/fuse/dirent.js";
import type { AttrOut, EntryOut, OpenOut, WriteOut } from "../../src/fuse/structs.js";
import { errno } from "../../src/common/errors.js";
import { log } from "../../src/common/log.js";
import { FileSystemBase, type Context } from "../../src/server/filesystem.js";
import { ChainReply } from "../../src/server/reply.js";
import { FuseServer } from "../../src/server/server.js";
import { Reader, Writer } from "../../src/virtio/chain-io.js";
import { attrOut, discard, entryOut, header, readyServer } from "./fixtures.js";
import { measure as measureCase, type Case, type Figure } from "./measure.js";

// ─── Harness ───────────────────────────────────────────────────────────────

/** Keeps results alive so the optimiser cannot drop the work. */
let sink: unknown = null;

const ROUNDS = 7;
const ROUND_MS = 200;
const WARMUP_MS = 300;

const measure = (c: Case): Promise<Figure> => measureCase(c, { rounds: ROUNDS, roundMs: ROUND_MS, warmupMs: WARMUP_MS });

// ─── Messages ──────────────────────────────────────────────────────────────


const lookupReq = encodeRequestBytes({ opcode: Opcode.LOOKUP, header: header(1n), name: Buffer.from("file-0042.txt") });
const getattrReq = encodeRequestBytes({ opcode: Opcode.GETATTR, header: header(7n), arg: { getattrFlags: 0, fh: 0n } });
const readReq = encodeRequestBytes({
  opcode: Opcode.READ,
  header: header(7n),
  arg: { fh: 3n, offset: 1n << 20n, size: 128 << 10, readFlags: 0, lockOwner: 0n, flags: 0o100002 },
});
/** WRITE header and `fuse_write_in` only, its data left in place (as `handleChain` passes it). */
const writeData = new Uint8Array(4096);
const writeReqWhole = encodeRequestBytes({
  opcode: Opcode.WRITE,
  header: header(7n),
  arg: { fh: 3n, offset: 0n, size: writeData.byteLength, writeFlags: 0, lockOwner: 0n, flags: 0o100002 },
  data: writeData,
});

const names = Array.from({ length: 100 }, (_, i) => Buffer.from(`file-${String(i).padStart(4, "0")}.txt`));
const openOut: OpenOut = { fh: 3n, openFlags: 0, backingId: 0 };
const writeOut: WriteOut = { size: 4096 };

// ─── Server ────────────────────────────────────────────────────────────────

/** One ENOENT for every miss, so the figure is the server's and not the cost of making an Error. */
const ENOENT = errno("ENOENT", "lookup");
const missing = encodeRequestBytes({ opcode: Opcode.LOOKUP, header: header(1n), name: Buffer.from("no-such-file") });

/** Answers LOOKUP and GETATTR from constants; a LOOKUP of "no-such-file" is ENOENT. */
class ConstFs extends FileSystemBase {
  override lookup(_ctx: Context, _parent: bigint, name: Uint8Array): Promise<EntryOut> {
    return name[0] === 0x6e ? Promise.reject(ENOENT) : Promise.resolve(entryOut);
  }
  override getattr(_ctx: Context, _nodeid: bigint, _fh: bigint | undefined): Promise<AttrOut> {
    return Promise.resolve(attrOut);
  }
}



// ─── Cases ─────────────────────────────────────────────────────────────────

function decodeCase(name: string, bytes: Uint8Array): Case {
  return {
    name: `decodeRequest ${name} (${bytes.byteLength} B)`,
    run(n) {
      let r: Request | null = null;
      for (let i = 0; i < n; i++) r = decodeRequest(bytes);
      sink = r;
    },
  };
}

/** `handleChain` over a one-buffer readable part and a 4 KiB writable part, both reused. */
function chainCase(server: FuseServer, name: string, request: Uint8Array): Case {
  const readable = [new Uint8Array(request)];
  const writable = [new Uint8Array(4096)];
  return {
    name: `handleChain ${name} (virtio path)`,
    async run(n) {
      let w: Writer | null = null;
      for (let i = 0; i < n; i++) {
        w = new Writer(writable);
        await server.handleChain(new Reader(readable), new ChainReply(w));
      }
      sink = w?.bytesWritten;
    },
  };
}

async function cases(): Promise<Case[]> {
  const server = await readyServer(new ConstFs());
  return [
    decodeCase("LOOKUP", lookupReq),
    decodeCase("GETATTR", getattrReq),
    decodeCase("READ", readReq),
    decodeCase("WRITE header+4K", writeReqWhole),
    {
      name: "encodeReply LOOKUP (EntryOut)",
      run(n) {
        let r: Uint8Array[] | null = null;
        for (let i = 0; i < n; i++) r = encodeReply(0x1234n, Opcode.LOOKUP, entryOut);
        sink = r;
      },
    },
    {
      name: "encodeReply GETATTR (AttrOut)",
      run(n) {
        let r: Uint8Array[] | null = null;
        for (let i = 0; i < n; i++) r = encodeReply(0x1234n, Opcode.GETATTR, attrOut);
        sink = r;
      },
    },
    {
      name: "encodeReply OPEN (OpenOut)",
      run(n) {
        let r: Uint8Array[] | null = null;
        for (let i = 0; i < n; i++) r = encodeReply(0x1234n, Opcode.OPEN, openOut);
        sink = r;
      },
    },
    {
      name: "encodeReply WRITE (WriteOut)",
      run(n) {
        let r: Uint8Array[] | null = null;
        for (let i = 0; i < n; i++) r = encodeReply(0x1234n, Opcode.WRITE, writeOut);
        sink = r;
      },
    },
    {
      name: "READDIRPLUS entry (100 a reply)",
      run(n) {
        let e = new DirentplusEncoder(1 << 17);
        for (let i = 0; i < n; i++) {
          if (i % 100 === 0) e = new DirentplusEncoder(1 << 17);
          e.add({ entry: entryOut, dirent: { ino: 42n, off: BigInt(i + 1), type: 8, name: names[i % 100]! } });
        }
        sink = e.finish();
      },
    },
    {
      name: "encodeErrorReply ENOENT",
      run(n) {
        let r: Uint8Array | null = null;
        for (let i = 0; i < n; i++) r = encodeErrorReply(0x1234n, 2);
        sink = r;
      },
    },
    {
      name: "handle GETATTR end to end",
      async run(n) {
        for (let i = 0; i < n; i++) await server.handle(getattrReq, discard);
      },
    },
    {
      name: "handle LOOKUP end to end",
      async run(n) {
        for (let i = 0; i < n; i++) await server.handle(lookupReq, discard);
      },
    },
    {
      name: "handle LOOKUP -> ENOENT",
      async run(n) {
        for (let i = 0; i < n; i++) await server.handle(missing, discard);
      },
    },
    chainCase(server, "GETATTR", getattrReq),
    chainCase(server, "LOOKUP", lookupReq),
  ];
}

// ─── Main ──────────────────────────────────────────────────────────────────

async function main(): Promise<void> {
  log.setLevel("warn");
  const args = process.argv.slice(2);
  const json = args.includes("--json");
  const at = args.indexOf("--filter");
  const filter = at >= 0 ? new RegExp(args[at + 1] ?? "", "i") : null;
  const results: ({ name: string } & Figure)[] = [];
  if (!json) console.log(`${"case".padEnd(40)} ${"cpu ns/op".padStart(10)} ${"wall ns/op".padStart(10)}`);
  for (const c of await cases()) {
    if (filter && !filter.test(c.name)) continue;
    const f = await measure(c);
    results.push({ name: c.name, ...f });
    if (!json) console.log(`${c.name.padEnd(40)} ${f.cpu.toFixed(0).padStart(10)} ${f.wall.toFixed(0).padStart(10)}`);
  }
  if (json) console.log(JSON.stringify({ node: process.version, unit: "ns/op", results }, null, 2));
  if (sink === undefined) console.log("");
}

await main();
