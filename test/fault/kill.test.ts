/**
 * SIGTERM and SIGKILL of the daemon while a guest writes: every write the
 * guest saw acknowledged, and so everything it saw fsync'd, is in the host's
 * files afterwards; the guest's calls in flight fail with ENOTCONN (never
 * hang); SIGTERM is a clean exit (0, socket removed), SIGKILL kills.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { ErrnoError } from "../../src/common/errors.js";
import { errnoName } from "../../src/common/errno.js";
import { FUSE_ROOT_ID, OpenFlag } from "../../src/fuse/abi.js";
import { Daemon } from "../escape/daemon.js";

const BLOCK = 16 * 1024;
const WRITERS = 4;

function block(file: number, k: number): Buffer {
  const b = Buffer.alloc(BLOCK);
  for (let i = 0; i < BLOCK; i += 4) b.writeUInt32LE(((file << 24) ^ (k << 8) ^ i) >>> 0, i);
  return b;
}

for (const signal of ["SIGTERM", "SIGKILL"] as const) {
  test(`${signal} during writes: what the guest saw written and fsync'd is in the files`, async () => {
    const daemon = await Daemon.start({ keep: true });
    try {
      const { driver, session } = await daemon.connect();
      const acked = new Array<number>(WRITERS).fill(0);
      const synced = new Array<number>(WRITERS).fill(0);
      const failures: string[] = [];
      const writer = async (w: number): Promise<void> => {
        const f = await session.create(FUSE_ROOT_ID, `w${w}`, 0o644, OpenFlag.O_RDWR);
        for (let k = 0; ; k++) {
          try {
            await session.write(f.entry.nodeid, f.open.fh, k * BLOCK, block(w, k));
            acked[w] = k + 1;
            if (k % 4 === 3) {
              await session.fsync(f.entry.nodeid, f.open.fh);
              synced[w] = k + 1;
            }
          } catch (error) {
            failures.push(ErrnoError.is(error) ? errnoName(error.errno) : String(error));
            return;
          }
        }
      };
      const writing = Array.from({ length: WRITERS }, (_, w) => writer(w));
      // Let some fsyncs complete, then kill it in the middle of the stream.
      const deadline = Date.now() + 10_000;
      while (Math.min(...synced) < 8 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      assert.ok(Math.min(...synced) >= 8, "every writer had fsyncs acknowledged before the signal");
      daemon.running.child.kill(signal);
      const exit = await daemon.running.exited;
      await Promise.race([Promise.all(writing), new Promise((_r, reject) => setTimeout(() => reject(new Error("a writer hung after the daemon died")), 5000))]);
      driver.close();
      if (signal === "SIGTERM") {
        assert.equal(exit.code, 0, `SIGTERM: a clean exit\n${daemon.running.stderr()}`);
        assert.equal(fs.existsSync(daemon.socket), false, "the socket is removed");
      } else {
        assert.equal(exit.signal, "SIGKILL");
      }
      assert.deepEqual([...new Set(failures)], ["ENOTCONN"], "calls in flight end with ENOTCONN");
      for (let w = 0; w < WRITERS; w++) {
        const data = fs.readFileSync(path.join(daemon.share, `w${w}`));
        assert.ok(synced[w]! <= acked[w]!);
        assert.ok(data.length >= acked[w]! * BLOCK, `w${w}: ${data.length} bytes on the host, ${acked[w]} blocks acknowledged`);
        for (let k = 0; k < acked[w]!; k++) {
          assert.ok(data.subarray(k * BLOCK, (k + 1) * BLOCK).equals(block(w, k)), `w${w} block ${k} (${k < synced[w]! ? "fsync'd" : "acknowledged"}) is on the host`);
        }
      }
    } finally {
      await daemon.stop();
      fs.rmSync(daemon.dir, { recursive: true, force: true });
    }
  });
}
