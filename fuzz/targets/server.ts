/**
 * Target `server`: arbitrary messages through a FuseServer over a
 * PassthroughFs on a scratch share (on tmpfs, so FSYNC costs nothing).
 * Beside the share: an `outside` directory with canaries, which the share
 * points to through symlinks (`to-outside`, `to-secret`), plus FIFOs and a
 * device node inside the share. Per input: the request settles within 2 s,
 * is answered exactly once with a valid reply (checkReplies), and nothing
 * outside the share changed (names, sizes, modes, link counts, times of the
 * canaries and of the share's parent). Every EPOCH inputs the session is
 * ended with DESTROY: every fd the file system opened must be closed again;
 * then the share is rebuilt.
 *
 * Replay: the server's state carries over between the inputs of an epoch,
 * so a replayed counterexample runs against a fresh share; the report shows
 * the message's bytes.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import fc from "fast-check";
import { Opcode } from "../../src/fuse/abi.js";
import { encodeRequestBytes } from "../../src/fuse/messages.js";
import { PassthroughFs } from "../../src/passthrough/passthrough.js";
import { MessageReply } from "../../src/server/reply.js";
import { FuseServer } from "../../src/server/server.js";
import { procSelfFd } from "../../src/sys/fs.js";
import { defaults } from "../../test/passthrough/helpers.js";
import { initReq } from "../../test/server/client.js";
import { anyRequest, checkReplies, defuse, within } from "../props/fuse-server.js";
import type { Target } from "../runner.js";

const EPOCH = 5000;

/**
 * What must not change outside the share, cheaply (once per input): the
 * status of each watched directory (an entry added, removed or renamed
 * changes its mtime/ctime/nlink) and of each canary file (a write, chmod,
 * chown or hard link changes its size, mode, owner, times or nlink).
 */
function snapshot(paths: string[]): string {
  let out = "";
  for (const p of paths) {
    const s = fs.lstatSync(p);
    out += `${p} ${s.mode} ${s.uid} ${s.gid} ${s.size} ${s.nlink} ${s.mtimeMs} ${s.ctimeMs}\n`;
  }
  return out;
}

function openFds(): number {
  return fs.readdirSync("/proc/self/fd").length;
}

export const serverTarget: Target = {
  name: "server",
  summary: "FuseServer + PassthroughFs on a tmpfs share: any message settles, is answered once and validly, nothing outside the share changes, DESTROY closes every fd",
  async setup(tick) {
    const base = fs.mkdtempSync("/dev/shm/viofs-fuzz-server-");
    const share = path.join(base, "share");
    const outside = path.join(base, "outside");
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, "secret"), "secret");
    fs.mkdirSync(path.join(outside, "sub"));
    fs.writeFileSync(path.join(outside, "sub", "file"), "file");
    procSelfFd(); // the one /proc/self/fd fd the process keeps
    const watched = [base, outside, path.join(outside, "sub"), path.join(outside, "secret"), path.join(outside, "sub", "file"), "/etc/passwd"];
    let server: FuseServer | null = null;
    let inEpoch = 0;
    let epochs = 0;
    let fdsBefore = 0;
    let before = "";
    let answered = 0;
    let errors = 0;

    const build = async (): Promise<FuseServer> => {
      fs.rmSync(share, { recursive: true, force: true });
      fs.mkdirSync(share);
      fs.writeFileSync(path.join(share, "a"), "0123456789");
      fs.mkdirSync(path.join(share, "b"));
      fs.mkdirSync(path.join(share, "sub"));
      fs.writeFileSync(path.join(share, "sub", "c"), "c");
      fs.symlinkSync(outside, path.join(share, "to-outside"));
      fs.symlinkSync("../outside/secret", path.join(share, "to-secret"));
      fs.symlinkSync("/etc/passwd", path.join(share, "d"));
      fs.linkSync(path.join(share, "a"), path.join(share, "c")); // a second name for "a"
      before = snapshot(watched);
      fdsBefore = openFds();
      const pfs = new PassthroughFs({ root: share, ...defaults, fdBudget: 256 });
      const s = new FuseServer(pfs, { posixLocks: true, flock: true, restartOnInit: true });
      await s.handle(encodeRequestBytes(initReq()), new MessageReply(() => {}));
      return s;
    };

    const endEpoch = async (): Promise<void> => {
      if (!server) return;
      await server.handle(encodeRequestBytes({ opcode: Opcode.DESTROY, header: { unique: 0x9000n, nodeid: 0n, uid: 0, gid: 0, pid: 1 } }), new MessageReply(() => {}));
      assert.equal(server.inFlightCount, 0, "nothing left in flight");
      assert.equal(openFds(), fdsBefore, "DESTROY closed every fd the file system opened");
      server = null;
      epochs++;
    };

    return {
      property: fc.asyncProperty(anyRequest, async (raw) => {
        tick();
        if (server === null || inEpoch >= EPOCH) {
          await endEpoch();
          server = await build();
          inEpoch = 0;
        }
        inEpoch++;
        const s = server;
        // An input may have been DESTROY or a refused INIT: serve the next ones in a session again.
        if (s.negotiated === null) await s.handle(encodeRequestBytes(initReq()), new MessageReply(() => {}));
        const bytes = defuse(raw.slice());
        const replies: Uint8Array[] = [];
        await within(s.handle(bytes, new MessageReply((m) => void replies.push(m.slice()))), 2000);
        checkReplies(bytes, replies);
        if (replies.length > 0) {
          answered++;
          if (new DataView(replies[0]!.buffer, replies[0]!.byteOffset).getInt32(4, true) !== 0) errors++;
        }
        assert.equal(snapshot(watched), before, "something outside the share changed");
      }),
      stats: () => ({ epochs, answered, errorReplies: errors }),
      async teardown() {
        try {
          await endEpoch();
        } finally {
          fs.rmSync(base, { recursive: true, force: true });
        }
      },
    };
  },
};
