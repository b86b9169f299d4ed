/**
 * Wake-up latency of FdPoller: an eventfd write to the readiness callback on
 * the main thread (epoll_wait returning on a worker thread, then the hop back
 * to the event loop). Not a test; run with
 *   npx tsx test/sys/poller-latency.ts [rounds]
 */
import { closeSync } from "node:fs";
import { FdPoller } from "../../src/sys/poller.js";
import { eventfd, eventfdRead, eventfdWrite } from "../../src/sys/eventfd.js";
import { EPOLLIN } from "../../src/sys/constants.js";

const rounds = Number(process.argv[2] ?? 5000);
const poller = new FdPoller();
const fd = eventfd();
const samples: number[] = [];
let sentAt = 0n;
let next: () => void = () => {};

poller.add(fd, EPOLLIN, () => {
  eventfdRead(fd);
  samples.push(Number(process.hrtime.bigint() - sentAt) / 1000);
  next();
});

for (let i = 0; i < rounds; i++) {
  await new Promise<void>((resolve) => {
    next = resolve;
    // leave the loop idle first, so the poller is back in epoll_wait
    setImmediate(() => {
      sentAt = process.hrtime.bigint();
      eventfdWrite(fd);
    });
  });
}
poller.close();
closeSync(fd);

samples.sort((a, b) => a - b);
const at = (q: number): string => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!.toFixed(1);
const mean = samples.reduce((sum, x) => sum + x, 0) / samples.length;
console.log(
  `FdPoller wake-up (eventfd write -> callback), ${rounds} rounds: ` +
    `mean ${mean.toFixed(1)} us, p50 ${at(0.5)} us, p90 ${at(0.9)} us, p99 ${at(0.99)} us, max ${at(1)} us`,
);
