/**
 * Split virtqueues over guest memory: the device side (vhost-user-fs backend)
 * and the driver side (our user-space guest driver), with bounds-checked
 * guest memory and Reader/Writer over descriptor chains. No system calls:
 * mapping memory and signalling eventfds belong to the layers around this one.
 */
export * from "./ring.js";
export { GuestMemory, GUEST_ADDR_LIMIT, type GuestRegion } from "./memory.js";
export { Reader, Writer } from "./chain-io.js";
export {
  DeviceQueue,
  DescriptorChain,
  DEFAULT_MAX_INDIRECT,
  MAX_INDIRECT_LIMIT,
  MAX_CHAIN_BYTES,
  type DeviceQueueConfig,
} from "./device-queue.js";
export { DriverQueue, type DriverQueueConfig, type Segment, type UsedBuffer } from "./driver-queue.js";
export { GuestAllocator } from "./allocator.js";
