/** Test helpers shared by the vhost-user tests: a recording device and a raw peer. */
import type { Vring, VhostUserDevice } from "../../src/vhost-user/backend.js";
import type { SystemIO, Transport } from "../../src/vhost-user/channel.js";
import { MessageDecoder, type Message } from "../../src/vhost-user/messages.js";
import { VirtioFeature } from "../../src/virtio/ring.js";
import { bit } from "../../src/vhost-user/messages.js";

export const FS_FEATURES = bit(VirtioFeature.VERSION_1) | bit(VirtioFeature.RING_INDIRECT_DESC) | bit(VirtioFeature.RING_EVENT_IDX);

/** A virtio-fs config space: tag[36] then le32 num_request_queues. */
export function fsConfig(tag: string, requestQueues = 1): Uint8Array {
  const config = new Uint8Array(40);
  config.set(new TextEncoder().encode(tag).subarray(0, 36));
  new DataView(config.buffer).setUint32(36, requestQueues, true);
  return config;
}

/** A device that records what the backend tells it. */
export class RecordingDevice implements VhostUserDevice {
  readonly events: string[] = [];
  readonly running = new Map<number, Vring>();
  readonly kicks = new Map<number, number>();
  resets = 0;
  /** What queueStopped answers: the ring's start index plus this. */
  advance = 0;
  private waiters: { test: () => boolean; resolve: () => void }[] = [];

  constructor(
    readonly numQueues = 2,
    readonly maxQueueSize = 1024,
    readonly features = FS_FEATURES,
    readonly config?: Uint8Array,
  ) {}

  queueStarted(vring: Vring): void {
    this.events.push(`start ${vring.index}`);
    this.running.set(vring.index, vring);
    this.poke();
  }
  queueKicked(index: number): void {
    this.events.push(`kick ${index}`);
    this.kicks.set(index, (this.kicks.get(index) ?? 0) + 1);
    this.poke();
  }
  async queueStopped(index: number): Promise<number> {
    this.events.push(`stop ${index}`);
    const vring = this.running.get(index);
    this.running.delete(index);
    this.poke();
    return ((vring?.nextAvail ?? 0) + this.advance) & 0xffff;
  }
  reset(): void {
    this.events.push("reset");
    this.resets++;
    this.poke();
  }

  /** Resolves once `test()` holds (checked after every event). */
  until(test: () => boolean, what = "condition", ms = 5000): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; events: ${this.events.join(", ")}`)), ms);
      this.waiters.push({
        test,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  private poke(): void {
    this.waiters = this.waiters.filter((w) => {
      if (!w.test()) return true;
      w.resolve();
      return false;
    });
  }
}

/** A frontend that speaks raw bytes, for malformed-input tests. */
export class RawPeer {
  private readonly decoder: MessageDecoder;
  private readonly inbox: Message[] = [];
  private waiting: ((message: Message) => void) | null = null;
  readonly ended: Promise<Error | null>;

  constructor(
    private readonly transport: Transport,
    system: Pick<SystemIO, "closeFd">,
  ) {
    this.decoder = new MessageDecoder({ closeFd: (fd) => system.closeFd(fd) });
    this.ended = new Promise((resolve) => {
      transport.start({
        maxBytes: () => this.decoder.bytesWanted(),
        data: (bytes, fds) => {
          for (const message of this.decoder.push(bytes, fds)) {
            if (this.waiting) {
              const w = this.waiting;
              this.waiting = null;
              w(message);
            } else this.inbox.push(message);
          }
        },
        end: (error) => resolve(error),
      });
    });
  }

  send(bytes: Uint8Array, fds: readonly number[] = []): Promise<void> {
    return this.transport.send(bytes, fds);
  }

  /** The next message, or a rejection after `ms`. */
  next(ms = 5000): Promise<Message> {
    const queued = this.inbox.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        reject(new Error("no reply"));
      }, ms);
      this.waiting = (message) => {
        clearTimeout(timer);
        resolve(message);
      };
    });
  }

  /** Resolves true if no message arrives within `ms`. */
  async silent(ms = 50): Promise<boolean> {
    try {
      const message = await this.next(ms);
      this.inbox.unshift(message);
      return false;
    } catch {
      return true;
    }
  }

  close(): void {
    this.transport.close();
  }
}
