/**
 * The vhost-user wire format (QEMU docs/interop/vhost-user.rst), shared by the
 * backend (the host device, the role virtiofsd plays) and the frontend (the
 * VMM role our user-space guest driver plays). Pure: no I/O, no fds opened.
 *
 * A message is a 12-byte header `{ request u32, flags u32, size u32 }` followed
 * by `size` payload bytes; every number is in the machine's byte order. File
 * descriptors travel beside the bytes as SCM_RIGHTS ancillary data.
 *
 * What is here:
 * - the constants (request codes for both directions, header flags, feature
 *   and protocol-feature bits, limits);
 * - one typed struct, decoder and encoder per payload layout;
 * - {@link FRONTEND_REQUESTS}: for every frontend→backend request, its payload
 *   rule, its fd rule and whether it always has a reply, with
 *   {@link checkFrontendRequest} applying it;
 * - {@link MessageDecoder}: a push decoder for a byte stream with fds that
 *   checks its limits before allocating.
 *
 * Every decoder copies what it reads out of the message and rejects a short,
 * long or inconsistent payload with a {@link ProtocolError}; none reads past
 * the payload it was given.
 */
import { endianness } from "node:os";
import { ProtocolError, ProtocolErrorCode } from "../common/errors.js";

/** `true` on every host viofs runs on (x86_64, aarch64); the wire is native-endian. */
const LE = endianness() === "LE";

// ─── Header ────────────────────────────────────────────────────────────────

/** Bytes in a message header. */
export const HEADER_SIZE = 12;
/** The protocol version carried in the low two bits of `flags`. */
export const VHOST_USER_VERSION = 0x1;
/** The bits of the header's `flags` field. */
export const HeaderFlag = {
  /** The version field (bits 0-1), always {@link VHOST_USER_VERSION}. */
  VERSION_MASK: 0x3,
  /** Set on every reply. */
  REPLY: 0x4,
  /** The sender wants a u64 ack (0 = success) even for a request without a reply. */
  NEED_REPLY: 0x8,
} as const;
/** Every flag bit the protocol defines; others are refused. */
export const KNOWN_FLAGS = HeaderFlag.VERSION_MASK | HeaderFlag.REPLY | HeaderFlag.NEED_REPLY;

// ─── Limits (checked before anything is allocated) ─────────────────────────

/** Largest payload accepted (rust-vmm's MAX_MSG_SIZE; QEMU's largest payload is far smaller). */
export const MAX_PAYLOAD_SIZE = 0x1000;
/** Most fds accepted on one message (rust-vmm's MAX_ATTACHED_FD_ENTRIES). */
export const MAX_FDS = 32;
/** Regions in a SET_MEM_TABLE message (QEMU's VHOST_MEMORY_BASELINE_NREGIONS). */
export const MAX_MEM_TABLE_REGIONS = 8;
/** Largest virtio config space carried by GET_CONFIG / SET_CONFIG. */
export const MAX_CONFIG_SIZE = 256;

// ─── Request codes ─────────────────────────────────────────────────────────

/** Requests the frontend sends to the backend on the main socket. */
export const FrontendRequest = {
  GET_FEATURES: 1,
  SET_FEATURES: 2,
  SET_OWNER: 3,
  RESET_OWNER: 4,
  SET_MEM_TABLE: 5,
  SET_LOG_BASE: 6,
  SET_LOG_FD: 7,
  SET_VRING_NUM: 8,
  SET_VRING_ADDR: 9,
  SET_VRING_BASE: 10,
  GET_VRING_BASE: 11,
  SET_VRING_KICK: 12,
  SET_VRING_CALL: 13,
  SET_VRING_ERR: 14,
  GET_PROTOCOL_FEATURES: 15,
  SET_PROTOCOL_FEATURES: 16,
  GET_QUEUE_NUM: 17,
  SET_VRING_ENABLE: 18,
  SEND_RARP: 19,
  NET_SET_MTU: 20,
  /** Formerly SET_SLAVE_REQ_FD. */
  SET_BACKEND_REQ_FD: 21,
  IOTLB_MSG: 22,
  SET_VRING_ENDIAN: 23,
  GET_CONFIG: 24,
  SET_CONFIG: 25,
  CREATE_CRYPTO_SESSION: 26,
  CLOSE_CRYPTO_SESSION: 27,
  POSTCOPY_ADVISE: 28,
  POSTCOPY_LISTEN: 29,
  POSTCOPY_END: 30,
  GET_INFLIGHT_FD: 31,
  SET_INFLIGHT_FD: 32,
  GPU_SET_SOCKET: 33,
  RESET_DEVICE: 34,
  VRING_KICK: 35,
  GET_MAX_MEM_SLOTS: 36,
  ADD_MEM_REG: 37,
  REM_MEM_REG: 38,
  SET_STATUS: 39,
  GET_STATUS: 40,
  GET_SHARED_OBJECT: 41,
  SET_DEVICE_STATE_FD: 42,
  CHECK_DEVICE_STATE: 43,
} as const;
export type FrontendRequestCode = (typeof FrontendRequest)[keyof typeof FrontendRequest];

/** Requests the backend sends to the frontend on the backend channel (SET_BACKEND_REQ_FD). */
export const BackendRequest = {
  IOTLB_MSG: 1,
  CONFIG_CHANGE_MSG: 2,
  VRING_HOST_NOTIFIER_MSG: 3,
  VRING_CALL: 4,
  VRING_ERR: 5,
  SHARED_OBJECT_ADD: 6,
  SHARED_OBJECT_REMOVE: 7,
  SHARED_OBJECT_LOOKUP: 8,
} as const;
export type BackendRequestCode = (typeof BackendRequest)[keyof typeof BackendRequest];

const frontendNames = new Map<number, string>(Object.entries(FrontendRequest).map(([k, v]) => [v, k]));
const backendNames = new Map<number, string>(Object.entries(BackendRequest).map(([k, v]) => [v, k]));

/** `GET_FEATURES`, or `request#99` for a code this table does not know. */
export function frontendRequestName(code: number): string {
  return frontendNames.get(code) ?? `request#${code}`;
}
/** `CONFIG_CHANGE_MSG`, or `backend-request#99`. */
export function backendRequestName(code: number): string {
  return backendNames.get(code) ?? `backend-request#${code}`;
}

// ─── Feature bits ──────────────────────────────────────────────────────────

/**
 * Bit numbers of the feature bits vhost adds to the virtio feature word (the
 * virtio ones are `VirtioFeature` in `src/virtio/ring.ts`).
 */
export const VhostFeature = {
  /** VHOST_F_LOG_ALL: the backend logs dirty pages (migration). */
  LOG_ALL: 26,
  /** VHOST_USER_F_PROTOCOL_FEATURES: GET/SET_PROTOCOL_FEATURES exist; rings start disabled. */
  PROTOCOL_FEATURES: 30,
} as const;

/** Bit numbers of the vhost-user protocol features (GET/SET_PROTOCOL_FEATURES). */
export const ProtocolFeature = {
  MQ: 0,
  LOG_SHMFD: 1,
  RARP: 2,
  REPLY_ACK: 3,
  MTU: 4,
  /** Formerly SLAVE_REQ. */
  BACKEND_REQ: 5,
  CROSS_ENDIAN: 6,
  CRYPTO_SESSION: 7,
  PAGEFAULT: 8,
  CONFIG: 9,
  /** Formerly SLAVE_SEND_FD. */
  BACKEND_SEND_FD: 10,
  HOST_NOTIFIER: 11,
  INFLIGHT_SHMFD: 12,
  RESET_DEVICE: 13,
  INBAND_NOTIFICATIONS: 14,
  CONFIGURE_MEM_SLOTS: 15,
  STATUS: 16,
  XEN_MMAP: 17,
  SHARED_OBJECT: 18,
  DEVICE_STATE: 19,
} as const;

/** The mask of one feature bit: `bit(ProtocolFeature.REPLY_ACK)`. */
export function bit(n: number): bigint {
  return 1n << BigInt(n);
}
/** Whether `mask` has bit `n`. */
export function hasBit(mask: bigint, n: number): boolean {
  return (mask & bit(n)) !== 0n;
}

// ─── Payload structs ───────────────────────────────────────────────────────

/** Bits 0-7 of the SET_VRING_KICK/CALL/ERR payload: the vring index. */
export const VRING_IDX_MASK = 0xff;
/** Bit 8 of the SET_VRING_KICK/CALL/ERR payload: no fd attached (poll instead). */
export const VRING_NOFD_MASK = 0x100;
/** `vhost_vring_addr.flags` bit: log used-ring writes (VHOST_VRING_F_LOG). */
export const VRING_F_LOG = 0x1;
/** `VhostUserConfig.flags` values. */
export const ConfigFlag = { FRONTEND: 0, MIGRATION: 1 } as const;

/** `struct vhost_vring_state` (8 bytes): SET_VRING_NUM/BASE/ENABLE, GET_VRING_BASE. */
export interface VringState {
  index: number;
  num: number;
}
export const VRING_STATE_SIZE = 8;

/** `struct vhost_vring_addr` (40 bytes): ring addresses in the frontend's address space. */
export interface VringAddr {
  index: number;
  /** {@link VRING_F_LOG} or 0. */
  flags: number;
  descUserAddr: bigint;
  usedUserAddr: bigint;
  availUserAddr: bigint;
  logGuestAddr: bigint;
}
export const VRING_ADDR_SIZE = 40;

/** The u64 of SET_VRING_KICK/CALL/ERR: which ring, and whether an fd comes with it. */
export interface VringFile {
  index: number;
  /** {@link VRING_NOFD_MASK} was set: no fd is attached. */
  noFd: boolean;
}

/** `VhostUserMemoryRegion` (32 bytes). */
export interface MemoryRegionDesc {
  guestPhysAddr: bigint;
  memorySize: bigint;
  /** The region's address in the frontend's own address space (ring addresses use these). */
  userspaceAddr: bigint;
  /** Where the region starts inside the fd sent with it. */
  mmapOffset: bigint;
}
export const MEMORY_REGION_SIZE = 32;
/** `VhostUserMemory` header before its regions: nregions u32, padding u32. */
export const MEMORY_TABLE_HEADER_SIZE = 8;
/** `VhostUserMemRegMsg` (40 bytes): padding u64 + one region, for ADD_MEM_REG/REM_MEM_REG. */
export const MEM_REG_MSG_SIZE = 40;

/** `VhostUserLog` (16 bytes): SET_LOG_BASE with LOG_SHMFD. */
export interface LogDesc {
  mmapSize: bigint;
  mmapOffset: bigint;
}
export const LOG_SIZE = 16;

/** `VhostUserConfig`: 12-byte header then `size` bytes of config space. */
export interface ConfigAccess {
  offset: number;
  size: number;
  /** A {@link ConfigFlag} value. */
  flags: number;
  /** `size` bytes (a private copy). */
  data: Uint8Array;
}
export const CONFIG_HEADER_SIZE = 12;

/** `VhostUserInflight` (24 bytes with its trailing padding). */
export interface InflightDesc {
  mmapSize: bigint;
  mmapOffset: bigint;
  numQueues: number;
  queueSize: number;
}
export const INFLIGHT_SIZE = 24;

/** `VhostUserVringArea` (24 bytes): BACKEND VRING_HOST_NOTIFIER_MSG. */
export interface VringArea {
  /** Vring index in bits 0-7, {@link VRING_NOFD_MASK} in bit 8. */
  u64: bigint;
  size: bigint;
  offset: bigint;
}
export const VRING_AREA_SIZE = 24;

/** `struct vhost_iotlb_msg` (32 bytes with padding). */
export interface IotlbMsg {
  iova: bigint;
  size: bigint;
  uaddr: bigint;
  perm: number;
  type: number;
}
export const IOTLB_MSG_SIZE = 32;

/** `VhostUserTransferDeviceState` (8 bytes): SET_DEVICE_STATE_FD. */
export interface TransferDeviceState {
  direction: number;
  phase: number;
}
export const TRANSFER_STATE_SIZE = 8;

export const U64_SIZE = 8;

// ─── Message ───────────────────────────────────────────────────────────────

/**
 * One decoded message. `payload` is a private copy. The receiver owns `fds`:
 * it must close every fd it does not keep.
 */
export interface Message {
  request: number;
  flags: number;
  payload: Uint8Array;
  fds: number[];
}

/** Whether the header asks for a REPLY_ACK answer. */
export function needsReply(message: Pick<Message, "flags">): boolean {
  return (message.flags & HeaderFlag.NEED_REPLY) !== 0;
}
/** Whether the header is a reply. */
export function isReply(message: Pick<Message, "flags">): boolean {
  return (message.flags & HeaderFlag.REPLY) !== 0;
}

// ─── Encoding ──────────────────────────────────────────────────────────────

/** A whole message: header then payload. */
export function encodeMessage(request: number, flags: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  if (payload.length > MAX_PAYLOAD_SIZE) throw new RangeError(`vhost-user payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD_SIZE}`);
  const out = new Uint8Array(HEADER_SIZE + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, request >>> 0, LE);
  view.setUint32(4, flags >>> 0, LE);
  view.setUint32(8, payload.length, LE);
  out.set(payload, HEADER_SIZE);
  return out;
}

/** A request: version 1, NEED_REPLY when asked. */
export function encodeRequest(request: number, payload?: Uint8Array, needReply = false): Uint8Array {
  return encodeMessage(request, VHOST_USER_VERSION | (needReply ? HeaderFlag.NEED_REPLY : 0), payload);
}

/** A reply to `request`: version 1 and REPLY, the flags QEMU insists on. */
export function encodeReply(request: number, payload?: Uint8Array): Uint8Array {
  return encodeMessage(request, VHOST_USER_VERSION | HeaderFlag.REPLY, payload);
}

function writer(size: number): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(size);
  return { bytes, view: new DataView(bytes.buffer) };
}

function u64Value(value: bigint | number): bigint {
  const v = BigInt(value);
  if (v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new RangeError(`${v} is not a u64`);
  return v;
}

export function encodeU64(value: bigint | number): Uint8Array {
  const { bytes, view } = writer(U64_SIZE);
  view.setBigUint64(0, u64Value(value), LE);
  return bytes;
}

export function encodeVringState(state: VringState): Uint8Array {
  const { bytes, view } = writer(VRING_STATE_SIZE);
  view.setUint32(0, state.index, LE);
  view.setUint32(4, state.num, LE);
  return bytes;
}

export function encodeVringAddr(addr: VringAddr): Uint8Array {
  const { bytes, view } = writer(VRING_ADDR_SIZE);
  view.setUint32(0, addr.index, LE);
  view.setUint32(4, addr.flags, LE);
  view.setBigUint64(8, u64Value(addr.descUserAddr), LE);
  view.setBigUint64(16, u64Value(addr.usedUserAddr), LE);
  view.setBigUint64(24, u64Value(addr.availUserAddr), LE);
  view.setBigUint64(32, u64Value(addr.logGuestAddr), LE);
  return bytes;
}

/** The u64 of SET_VRING_KICK/CALL/ERR. */
export function encodeVringFile(file: VringFile): Uint8Array {
  if (!Number.isInteger(file.index) || file.index < 0 || file.index > VRING_IDX_MASK) throw new RangeError(`vring index ${file.index} out of range`);
  return encodeU64(file.index | (file.noFd ? VRING_NOFD_MASK : 0));
}

function putRegion(view: DataView, at: number, region: MemoryRegionDesc): void {
  view.setBigUint64(at, u64Value(region.guestPhysAddr), LE);
  view.setBigUint64(at + 8, u64Value(region.memorySize), LE);
  view.setBigUint64(at + 16, u64Value(region.userspaceAddr), LE);
  view.setBigUint64(at + 24, u64Value(region.mmapOffset), LE);
}

/** SET_MEM_TABLE: the header and only the regions present (as QEMU sends it). */
export function encodeMemoryTable(regions: readonly MemoryRegionDesc[]): Uint8Array {
  if (regions.length > MAX_MEM_TABLE_REGIONS) throw new RangeError(`${regions.length} regions exceed ${MAX_MEM_TABLE_REGIONS}`);
  const { bytes, view } = writer(MEMORY_TABLE_HEADER_SIZE + regions.length * MEMORY_REGION_SIZE);
  view.setUint32(0, regions.length, LE);
  regions.forEach((region, i) => putRegion(view, MEMORY_TABLE_HEADER_SIZE + i * MEMORY_REGION_SIZE, region));
  return bytes;
}

/** ADD_MEM_REG / REM_MEM_REG. */
export function encodeMemRegMsg(region: MemoryRegionDesc): Uint8Array {
  const { bytes, view } = writer(MEM_REG_MSG_SIZE);
  putRegion(view, 8, region);
  return bytes;
}

export function encodeLog(log: LogDesc): Uint8Array {
  const { bytes, view } = writer(LOG_SIZE);
  view.setBigUint64(0, u64Value(log.mmapSize), LE);
  view.setBigUint64(8, u64Value(log.mmapOffset), LE);
  return bytes;
}

/** GET_CONFIG / SET_CONFIG: `size` is `data.length`. */
export function encodeConfig(access: Omit<ConfigAccess, "size">): Uint8Array {
  if (access.data.length > MAX_CONFIG_SIZE) throw new RangeError(`config access of ${access.data.length} bytes exceeds ${MAX_CONFIG_SIZE}`);
  const { bytes, view } = writer(CONFIG_HEADER_SIZE + access.data.length);
  view.setUint32(0, access.offset, LE);
  view.setUint32(4, access.data.length, LE);
  view.setUint32(8, access.flags, LE);
  bytes.set(access.data, CONFIG_HEADER_SIZE);
  return bytes;
}

export function encodeInflight(inflight: InflightDesc): Uint8Array {
  const { bytes, view } = writer(INFLIGHT_SIZE);
  view.setBigUint64(0, u64Value(inflight.mmapSize), LE);
  view.setBigUint64(8, u64Value(inflight.mmapOffset), LE);
  view.setUint16(16, inflight.numQueues, LE);
  view.setUint16(18, inflight.queueSize, LE);
  return bytes;
}

export function encodeVringArea(area: VringArea): Uint8Array {
  const { bytes, view } = writer(VRING_AREA_SIZE);
  view.setBigUint64(0, u64Value(area.u64), LE);
  view.setBigUint64(8, u64Value(area.size), LE);
  view.setBigUint64(16, u64Value(area.offset), LE);
  return bytes;
}

// ─── Decoding ──────────────────────────────────────────────────────────────

function expectSize(payload: Uint8Array, size: number, what: string): DataView {
  if (payload.length < size) throw new ProtocolError(ProtocolErrorCode.SHORT, `${what}: payload of ${payload.length} bytes, expected ${size}`);
  if (payload.length > size) throw new ProtocolError(ProtocolErrorCode.LONG, `${what}: payload of ${payload.length} bytes, expected ${size}`);
  return new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
}

const U64_LIMIT = 1n << 64n;

export function decodeU64(payload: Uint8Array, what = "u64"): bigint {
  return expectSize(payload, U64_SIZE, what).getBigUint64(0, LE);
}

export function decodeVringState(payload: Uint8Array, what = "vring state"): VringState {
  const view = expectSize(payload, VRING_STATE_SIZE, what);
  return { index: view.getUint32(0, LE), num: view.getUint32(4, LE) };
}

export function decodeVringAddr(payload: Uint8Array, what = "vring address"): VringAddr {
  const view = expectSize(payload, VRING_ADDR_SIZE, what);
  return {
    index: view.getUint32(0, LE),
    flags: view.getUint32(4, LE),
    descUserAddr: view.getBigUint64(8, LE),
    usedUserAddr: view.getBigUint64(16, LE),
    availUserAddr: view.getBigUint64(24, LE),
    logGuestAddr: view.getBigUint64(32, LE),
  };
}

/** The u64 of SET_VRING_KICK/CALL/ERR; bits other than 0-8 must be clear. */
export function decodeVringFile(payload: Uint8Array, what = "vring file"): VringFile {
  const value = decodeU64(payload, what);
  if ((value & ~BigInt(VRING_IDX_MASK | VRING_NOFD_MASK)) !== 0n) {
    throw new ProtocolError(ProtocolErrorCode.VALUE, `${what}: reserved bits set in 0x${value.toString(16)}`);
  }
  const n = Number(value);
  return { index: n & VRING_IDX_MASK, noFd: (n & VRING_NOFD_MASK) !== 0 };
}

function readRegion(view: DataView, at: number, what: string): MemoryRegionDesc {
  const region = {
    guestPhysAddr: view.getBigUint64(at, LE),
    memorySize: view.getBigUint64(at + 8, LE),
    userspaceAddr: view.getBigUint64(at + 16, LE),
    mmapOffset: view.getBigUint64(at + 24, LE),
  };
  if (region.memorySize === 0n) throw new ProtocolError(ProtocolErrorCode.VALUE, `${what}: memory region of size 0`);
  for (const [name, base] of [
    ["guest address", region.guestPhysAddr],
    ["user address", region.userspaceAddr],
    ["mmap offset", region.mmapOffset],
  ] as const) {
    if (base + region.memorySize > U64_LIMIT) {
      throw new ProtocolError(ProtocolErrorCode.ADDRESS, `${what}: ${name} 0x${base.toString(16)} + size 0x${region.memorySize.toString(16)} overflows 64 bits`);
    }
  }
  return region;
}

/**
 * SET_MEM_TABLE. The payload holds exactly `nregions` regions (QEMU sends no
 * unused slots), 0 ≤ nregions ≤ 8, padding 0, each region non-empty and
 * without 64-bit overflow. An empty table decodes; the backend decides.
 */
export function decodeMemoryTable(payload: Uint8Array, what = "memory table"): MemoryRegionDesc[] {
  if (payload.length < MEMORY_TABLE_HEADER_SIZE) {
    throw new ProtocolError(ProtocolErrorCode.SHORT, `${what}: payload of ${payload.length} bytes, expected at least ${MEMORY_TABLE_HEADER_SIZE}`);
  }
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const count = view.getUint32(0, LE);
  if (count > MAX_MEM_TABLE_REGIONS) throw new ProtocolError(ProtocolErrorCode.LIMIT, `${what}: ${count} regions, at most ${MAX_MEM_TABLE_REGIONS}`);
  if (view.getUint32(4, LE) !== 0) throw new ProtocolError(ProtocolErrorCode.VALUE, `${what}: padding is not zero`);
  const expected = MEMORY_TABLE_HEADER_SIZE + count * MEMORY_REGION_SIZE;
  if (payload.length !== expected) {
    throw new ProtocolError(ProtocolErrorCode.LENGTH, `${what}: ${count} regions need ${expected} bytes, payload has ${payload.length}`);
  }
  const regions: MemoryRegionDesc[] = [];
  for (let i = 0; i < count; i++) regions.push(readRegion(view, MEMORY_TABLE_HEADER_SIZE + i * MEMORY_REGION_SIZE, `${what} region ${i}`));
  return regions;
}

/** ADD_MEM_REG / REM_MEM_REG; the leading padding u64 is ignored as QEMU leaves it unset. */
export function decodeMemRegMsg(payload: Uint8Array, what = "memory region"): MemoryRegionDesc {
  return readRegion(expectSize(payload, MEM_REG_MSG_SIZE, what), 8, what);
}

export function decodeLog(payload: Uint8Array, what = "log"): LogDesc {
  const view = expectSize(payload, LOG_SIZE, what);
  const log = { mmapSize: view.getBigUint64(0, LE), mmapOffset: view.getBigUint64(8, LE) };
  if (log.mmapOffset + log.mmapSize > U64_LIMIT) throw new ProtocolError(ProtocolErrorCode.ADDRESS, `${what}: offset + size overflows 64 bits`);
  return log;
}

/** GET_CONFIG / SET_CONFIG: payload is exactly 12 + size, size ≤ 256, offset + size ≤ 256, flags known. */
export function decodeConfig(payload: Uint8Array, what = "config"): ConfigAccess {
  if (payload.length < CONFIG_HEADER_SIZE) {
    throw new ProtocolError(ProtocolErrorCode.SHORT, `${what}: payload of ${payload.length} bytes, expected at least ${CONFIG_HEADER_SIZE}`);
  }
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const offset = view.getUint32(0, LE);
  const size = view.getUint32(4, LE);
  const flags = view.getUint32(8, LE);
  if (size > MAX_CONFIG_SIZE || offset > MAX_CONFIG_SIZE - size) {
    throw new ProtocolError(ProtocolErrorCode.LIMIT, `${what}: offset ${offset} size ${size} reaches past ${MAX_CONFIG_SIZE}`);
  }
  if (payload.length !== CONFIG_HEADER_SIZE + size) {
    throw new ProtocolError(ProtocolErrorCode.LENGTH, `${what}: size ${size} but ${payload.length - CONFIG_HEADER_SIZE} data bytes`);
  }
  if (flags !== ConfigFlag.FRONTEND && flags !== ConfigFlag.MIGRATION) throw new ProtocolError(ProtocolErrorCode.VALUE, `${what}: unknown flags ${flags}`);
  return { offset, size, flags, data: payload.slice(CONFIG_HEADER_SIZE) };
}

export function decodeInflight(payload: Uint8Array, what = "inflight"): InflightDesc {
  const view = expectSize(payload, INFLIGHT_SIZE, what);
  return {
    mmapSize: view.getBigUint64(0, LE),
    mmapOffset: view.getBigUint64(8, LE),
    numQueues: view.getUint16(16, LE),
    queueSize: view.getUint16(18, LE),
  };
}

export function decodeVringArea(payload: Uint8Array, what = "vring area"): VringArea {
  const view = expectSize(payload, VRING_AREA_SIZE, what);
  return { u64: view.getBigUint64(0, LE), size: view.getBigUint64(8, LE), offset: view.getBigUint64(16, LE) };
}

export function decodeIotlbMsg(payload: Uint8Array, what = "iotlb"): IotlbMsg {
  const view = expectSize(payload, IOTLB_MSG_SIZE, what);
  return {
    iova: view.getBigUint64(0, LE),
    size: view.getBigUint64(8, LE),
    uaddr: view.getBigUint64(16, LE),
    perm: view.getUint8(24),
    type: view.getUint8(25),
  };
}

export function decodeTransferDeviceState(payload: Uint8Array, what = "device state transfer"): TransferDeviceState {
  const view = expectSize(payload, TRANSFER_STATE_SIZE, what);
  return { direction: view.getUint32(0, LE), phase: view.getUint32(4, LE) };
}

// ─── The frontend→backend request table ────────────────────────────────────

/** How long a request's payload is. */
export type PayloadRule =
  | { readonly kind: "fixed"; readonly size: number }
  /** 8 + 32·nregions bytes: SET_MEM_TABLE. */
  | { readonly kind: "memory-table" }
  /** 12 + size bytes: GET_CONFIG, SET_CONFIG. */
  | { readonly kind: "config" }
  /** Not checked here (requests no vhost-user-fs peer sends; the backend refuses them). */
  | { readonly kind: "any" };

/** Which fds a request carries. */
export type FdRule =
  | "none"
  | "one"
  /** One fd unless the payload's {@link VRING_NOFD_MASK} is set, then none. */
  | "vring"
  /** One fd per region in the table. */
  | "per-region"
  /** None or one (SET_LOG_BASE carries one with LOG_SHMFD; REM_MEM_REG tolerates one, to be closed). */
  | "optional-one";

export interface RequestSpec {
  readonly name: string;
  readonly payload: PayloadRule;
  readonly fds: FdRule;
  /** The request has a reply of its own, whatever NEED_REPLY says. */
  readonly alwaysReplies: boolean;
}

const fixed = (size: number): PayloadRule => ({ kind: "fixed", size });
const EMPTY = fixed(0);
const U64 = fixed(U64_SIZE);
const STATE = fixed(VRING_STATE_SIZE);
const R = FrontendRequest;

function spec(request: number, payload: PayloadRule, fds: FdRule = "none", alwaysReplies = false): [number, RequestSpec] {
  return [request, { name: frontendRequestName(request), payload, fds, alwaysReplies }];
}

/** Every frontend→backend request: payload, fds and replies, as the spec and QEMU define them. */
export const FRONTEND_REQUESTS: ReadonlyMap<number, RequestSpec> = new Map([
  spec(R.GET_FEATURES, EMPTY, "none", true),
  spec(R.SET_FEATURES, U64),
  spec(R.SET_OWNER, EMPTY),
  spec(R.RESET_OWNER, EMPTY),
  spec(R.SET_MEM_TABLE, { kind: "memory-table" }, "per-region"),
  // QEMU sends a VhostUserLog here (not the u64 the table in the spec shows).
  spec(R.SET_LOG_BASE, fixed(LOG_SIZE), "optional-one"),
  spec(R.SET_LOG_FD, EMPTY, "one"),
  spec(R.SET_VRING_NUM, STATE),
  spec(R.SET_VRING_ADDR, fixed(VRING_ADDR_SIZE)),
  spec(R.SET_VRING_BASE, STATE),
  spec(R.GET_VRING_BASE, STATE, "none", true),
  spec(R.SET_VRING_KICK, U64, "vring"),
  spec(R.SET_VRING_CALL, U64, "vring"),
  spec(R.SET_VRING_ERR, U64, "vring"),
  spec(R.GET_PROTOCOL_FEATURES, EMPTY, "none", true),
  spec(R.SET_PROTOCOL_FEATURES, U64),
  spec(R.GET_QUEUE_NUM, EMPTY, "none", true),
  spec(R.SET_VRING_ENABLE, STATE),
  spec(R.SEND_RARP, U64),
  spec(R.NET_SET_MTU, U64),
  spec(R.SET_BACKEND_REQ_FD, EMPTY, "one"),
  spec(R.IOTLB_MSG, fixed(IOTLB_MSG_SIZE), "none", true),
  spec(R.SET_VRING_ENDIAN, STATE),
  spec(R.GET_CONFIG, { kind: "config" }, "none", true),
  spec(R.SET_CONFIG, { kind: "config" }),
  spec(R.CREATE_CRYPTO_SESSION, { kind: "any" }, "none", true),
  spec(R.CLOSE_CRYPTO_SESSION, U64),
  spec(R.POSTCOPY_ADVISE, EMPTY, "none", true),
  spec(R.POSTCOPY_LISTEN, EMPTY),
  spec(R.POSTCOPY_END, EMPTY, "none", true),
  spec(R.GET_INFLIGHT_FD, fixed(INFLIGHT_SIZE), "none", true),
  spec(R.SET_INFLIGHT_FD, fixed(INFLIGHT_SIZE), "one"),
  spec(R.GPU_SET_SOCKET, EMPTY, "one"),
  spec(R.RESET_DEVICE, EMPTY),
  spec(R.VRING_KICK, STATE),
  spec(R.GET_MAX_MEM_SLOTS, EMPTY, "none", true),
  spec(R.ADD_MEM_REG, fixed(MEM_REG_MSG_SIZE), "one"),
  spec(R.REM_MEM_REG, fixed(MEM_REG_MSG_SIZE), "optional-one"),
  spec(R.SET_STATUS, U64),
  spec(R.GET_STATUS, EMPTY, "none", true),
  spec(R.GET_SHARED_OBJECT, fixed(16), "none", true),
  spec(R.SET_DEVICE_STATE_FD, fixed(TRANSFER_STATE_SIZE), "one", true),
  spec(R.CHECK_DEVICE_STATE, EMPTY, "none", true),
]);

/**
 * Checks a frontend→backend request against {@link FRONTEND_REQUESTS}: known
 * code, not a reply, no unknown flag bits, payload length, fd count. Returns
 * its spec. Throws a {@link ProtocolError} (UNKNOWN, VALUE, SHORT, LONG,
 * LENGTH, FDS); it closes nothing: the caller still owns `message.fds`.
 */
export function checkFrontendRequest(message: Message): RequestSpec {
  const found = FRONTEND_REQUESTS.get(message.request);
  if (!found) throw new ProtocolError(ProtocolErrorCode.UNKNOWN, `unknown vhost-user request ${message.request}`);
  const name = found.name;
  if ((message.flags & ~KNOWN_FLAGS) !== 0) throw new ProtocolError(ProtocolErrorCode.VALUE, `${name}: unknown header flags 0x${message.flags.toString(16)}`);
  if (isReply(message)) throw new ProtocolError(ProtocolErrorCode.VALUE, `${name}: a request carries the REPLY flag`);
  const { payload, fds } = message;
  switch (found.payload.kind) {
    case "fixed":
      expectSize(payload, found.payload.size, name);
      break;
    case "memory-table":
      decodeMemoryTable(payload, name);
      break;
    case "config":
      decodeConfig(payload, name);
      break;
    case "any":
      break;
  }
  let wanted: readonly number[];
  switch (found.fds) {
    case "none":
      wanted = [0];
      break;
    case "one":
      wanted = [1];
      break;
    case "optional-one":
      wanted = [0, 1];
      break;
    case "vring":
      wanted = [decodeVringFile(payload, name).noFd ? 0 : 1];
      break;
    case "per-region":
      wanted = [new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getUint32(0, LE)];
      break;
  }
  if (!wanted.includes(fds.length)) {
    throw new ProtocolError(ProtocolErrorCode.FDS, `${name}: ${fds.length} fds attached, expected ${wanted.join(" or ")}`);
  }
  return found;
}

/**
 * Checks a reply (as the frontend receives it): the flags QEMU requires
 * (version 1 and REPLY, nothing else), the request it answers, and the payload
 * size when one is given. Closes nothing.
 */
export function checkReply(message: Message, request: number, payloadSize?: number): void {
  const name = frontendRequestName(request);
  if (message.flags !== (VHOST_USER_VERSION | HeaderFlag.REPLY)) {
    throw new ProtocolError(ProtocolErrorCode.VALUE, `reply to ${name}: flags 0x${message.flags.toString(16)}, expected 0x${(VHOST_USER_VERSION | HeaderFlag.REPLY).toString(16)}`);
  }
  if (message.request !== request) {
    throw new ProtocolError(ProtocolErrorCode.STATE, `reply to ${name} is for ${frontendRequestName(message.request)}`);
  }
  if (payloadSize !== undefined) expectSize(message.payload, payloadSize, `reply to ${name}`);
  if (message.fds.length !== 0) throw new ProtocolError(ProtocolErrorCode.FDS, `reply to ${name}: ${message.fds.length} unexpected fds`);
}

// ─── The stream decoder ────────────────────────────────────────────────────

export interface MessageDecoderOptions {
  /** Closes an fd the decoder holds and must give up (on error or disposal). */
  closeFd: (fd: number) => void;
  /** Largest payload accepted; default {@link MAX_PAYLOAD_SIZE}. */
  maxPayload?: number;
  /** Most fds on one message; default {@link MAX_FDS}. */
  maxFds?: number;
}

const enum ReadState {
  Header,
  Payload,
  /** A framing error happened: the stream cannot be resynchronised. */
  Failed,
}

/**
 * A push decoder for the vhost-user byte stream. Feed it whatever `recvmsg`
 * returns, bytes and fds together; it returns each complete {@link Message}.
 *
 * Fds belong to the message that the chunk they came with starts in (or the
 * message that starts at the chunk's first byte). The kernel attaches a
 * sender's fds to the first byte of its `sendmsg`, so reading at most
 * {@link bytesWanted} bytes per `recvmsg` keeps every fd with its message.
 *
 * A framing error (version ≠ 1, payload over the limit, too many fds) is
 * unrecoverable: `push` closes every fd it holds or was given and throws a
 * {@link ProtocolError}; the connection must be dropped. Per-message errors
 * (wrong payload for the request) are for the receiver to find, with
 * {@link checkFrontendRequest} or {@link checkReply}.
 */
export class MessageDecoder {
  private state = ReadState.Header;
  private readonly header = new Uint8Array(HEADER_SIZE);
  private filled = 0;
  private request = 0;
  private flags = 0;
  private payload: Uint8Array = new Uint8Array(0);
  private fds: number[] = [];
  private readonly closeFd: (fd: number) => void;
  private readonly maxPayload: number;
  private readonly maxFds: number;

  constructor(options: MessageDecoderOptions) {
    this.closeFd = options.closeFd;
    this.maxPayload = options.maxPayload ?? MAX_PAYLOAD_SIZE;
    this.maxFds = options.maxFds ?? MAX_FDS;
  }

  /** Bytes still needed to finish the header or payload being read (at least 1). */
  bytesWanted(): number {
    if (this.state === ReadState.Payload) return Math.max(1, this.payload.length - this.filled);
    return HEADER_SIZE - this.filled;
  }

  /** Whether part of a message has been received. */
  get pending(): boolean {
    return this.state !== ReadState.Failed && (this.filled > 0 || this.state === ReadState.Payload || this.fds.length > 0);
  }

  /**
   * Consumes `chunk` (copied) and takes ownership of `fds`. Returns the
   * messages completed by this chunk, in order; ownership of their fds passes
   * to the caller.
   */
  push(chunk: Uint8Array, fds: readonly number[] = []): Message[] {
    if (this.state === ReadState.Failed) {
      this.closeAll(fds);
      throw new ProtocolError(ProtocolErrorCode.STATE, "vhost-user stream already failed");
    }
    const out: Message[] = [];
    try {
      this.takeFds(fds);
      let at = 0;
      // A chunk of fds alone (no bytes) still belongs to the message in progress.
      while (at < chunk.length) {
        if (this.state === ReadState.Header) {
          const n = Math.min(HEADER_SIZE - this.filled, chunk.length - at);
          this.header.set(chunk.subarray(at, at + n), this.filled);
          this.filled += n;
          at += n;
          if (this.filled === HEADER_SIZE) this.beginPayload();
        } else {
          const n = Math.min(this.payload.length - this.filled, chunk.length - at);
          this.payload.set(chunk.subarray(at, at + n), this.filled);
          this.filled += n;
          at += n;
        }
        if (this.state === ReadState.Payload && this.filled === this.payload.length) out.push(this.finish());
      }
      return out;
    } catch (error) {
      this.fail();
      for (const message of out) this.closeAll(message.fds);
      throw error;
    }
  }

  /**
   * The stream ended. Closes the fds of a partial message; throws a
   * ProtocolError (SHORT) if a message was cut off, returns quietly otherwise.
   */
  end(): void {
    const cut = this.pending;
    const where = this.state === ReadState.Payload ? `payload ${this.filled}/${this.payload.length}` : `header ${this.filled}/${HEADER_SIZE}`;
    this.fail();
    if (cut) throw new ProtocolError(ProtocolErrorCode.SHORT, `vhost-user stream ended inside a message (${where} bytes)`);
  }

  /** Closes every fd held and refuses further input. */
  dispose(): void {
    this.fail();
  }

  private takeFds(fds: readonly number[]): void {
    if (this.fds.length + fds.length > this.maxFds) {
      this.closeAll(fds);
      throw new ProtocolError(ProtocolErrorCode.FDS, `more than ${this.maxFds} fds on one vhost-user message (${this.fds.length + fds.length})`);
    }
    this.fds.push(...fds);
  }

  private beginPayload(): void {
    const view = new DataView(this.header.buffer);
    this.request = view.getUint32(0, LE);
    this.flags = view.getUint32(4, LE);
    const size = view.getUint32(8, LE);
    if ((this.flags & HeaderFlag.VERSION_MASK) !== VHOST_USER_VERSION) {
      throw new ProtocolError(ProtocolErrorCode.VALUE, `vhost-user version ${this.flags & HeaderFlag.VERSION_MASK} (flags 0x${this.flags.toString(16)}), expected ${VHOST_USER_VERSION}`);
    }
    if (size > this.maxPayload) {
      throw new ProtocolError(ProtocolErrorCode.LIMIT, `${frontendRequestName(this.request)}: payload of ${size} bytes exceeds ${this.maxPayload}`);
    }
    this.state = ReadState.Payload;
    this.payload = new Uint8Array(size);
    this.filled = 0;
  }

  private finish(): Message {
    const message: Message = { request: this.request, flags: this.flags, payload: this.payload, fds: this.fds };
    this.state = ReadState.Header;
    this.filled = 0;
    this.payload = new Uint8Array(0);
    this.fds = [];
    return message;
  }

  private fail(): void {
    this.state = ReadState.Failed;
    this.closeAll(this.fds);
    this.fds = [];
    this.payload = new Uint8Array(0);
    this.filled = 0;
  }

  private closeAll(fds: readonly number[]): void {
    for (const fd of fds) {
      try {
        this.closeFd(fd);
      } catch {
        // An fd that cannot be closed is gone already; nothing else to do.
      }
    }
  }
}
