/**
 * Serving a directory to a client in this same process: `viofs shell` (the
 * Windows service over viofs serve) and `viofs serve`'s warm-up (its own
 * guest driver). The vhost-user socket lives in a private directory of the
 * host's temporary directory, takes one connection, and can be removed as
 * soon as that client is connected.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serveConnection, type DeviceConnection, type DeviceOptions } from "./device.js";
import { Listener } from "./listener.js";

export interface PrivateServing {
  /** The socket to connect to. */
  readonly socketPath: string;
  /** Resolves once the one client is connected and served; rejects if {@link close} came first. */
  readonly accepted: Promise<void>;
  /** Stops listening and removes the socket and its directory; the connection goes on. Idempotent. */
  removeSocket(): void;
  /** Ends the connection (if one was made) and waits for it, then {@link removeSocket}. */
  close(): Promise<void>;
}

/** Serves `root` with `options` to the first client of a fresh socket under `tmpRoot` (default the host's temporary directory). */
export function servePrivately(root: string, options: DeviceOptions, prefix: string, tmpRoot: string = tmpdir()): PrivateServing {
  const dir = mkdtempSync(join(tmpRoot, prefix));
  const socketPath = join(dir, "vhost.sock");
  let listener: Listener | null = null;
  let connection: DeviceConnection | null = null;
  const removeSocket = (): void => {
    listener?.close();
    listener = null;
    rmSync(dir, { recursive: true, force: true });
  };
  let accepted: Promise<void>;
  try {
    const bound = Listener.bind(socketPath);
    listener = bound;
    accepted = bound.accept().then((fd) => {
      // One client: a second connection is refused, not left waiting.
      bound.stopListening();
      // The client is in this process: it cannot kick while a kick wait blocks the event loop.
      connection = serveConnection(fd, root, { ...options, kickWaitMs: 0 });
    });
  } catch (error) {
    removeSocket();
    throw error;
  }
  // A close() before any client rejects `accepted`; a caller that stopped waiting must not see that as unhandled.
  accepted.catch(() => undefined);
  return {
    socketPath,
    accepted,
    removeSocket,
    async close() {
      const open: DeviceConnection | null = connection;
      if (open !== null) {
        open.close();
        await open.closed;
      }
      removeSocket();
    },
  };
}
