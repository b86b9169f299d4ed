/**
 * Byte layouts of the inc/winfsp/fsctl.h structures a binding to the real
 * WinFsp DLL exchanges (all little-endian, names UTF-16LE without NUL), and
 * the buffer accounting of `FspFileSystemAddDirInfo` / `AddStreamInfo`, which
 * decides how many entries one ReadDirectory answer may carry.
 *
 * | struct                 | size            | layout                                                          |
 * |------------------------|-----------------|-----------------------------------------------------------------|
 * | FSP_FSCTL_FILE_INFO    | 72              | u32 attrs, u32 tag, u64 alloc, u64 size, u64 ×4 times,           |
 * |                        |                 | u64 index, u32 hardLinks, u32 eaSize                             |
 * | FSP_FSCTL_VOLUME_INFO  | 88              | u64 total, u64 free, u16 labelBytes, WCHAR label[32], pad 6     |
 * | FSP_FSCTL_DIR_INFO     | 104 + 2·name    | u16 size, pad 6, FILE_INFO @8, u64 nextOffset + pad @80, name @104 |
 * | FSP_FSCTL_STREAM_INFO  | 24 + 2·name     | u16 size, pad 6, u64 streamSize @8, u64 allocSize @16, name @24 |
 *
 * Entries in a directory or stream buffer start 8-byte aligned; a 2-byte
 * zero `Size` ends the listing.
 */
import { ProtocolError, ProtocolErrorCode } from "../common/errors.js";
import type { DirInfo, DirectoryChunk, FileInfo, StreamInfo, VolumeInfo } from "./interface.js";
import { VOLUME_LABEL_MAX } from "./interface.js";

export const FILE_INFO_SIZE = 72;
export const VOLUME_INFO_SIZE = 88;
export const DIR_INFO_HEADER_SIZE = 104;
export const STREAM_INFO_HEADER_SIZE = 24;
/** FSP_FSCTL_DEFAULT_ALIGNMENT. */
export const FSCTL_ALIGNMENT = 8;
/** The end-of-listing terminator: a zero UINT16 Size. */
export const LISTING_TERMINATOR_SIZE = 2;

/** FSP_FSCTL_ALIGN_UP(x, 8). */
export function alignUp8(x: number): number {
  return (x + 7) & ~7;
}

/** The bytes a directory entry takes in a ReadDirectory buffer (its aligned size). */
export function dirInfoPackedSize(fileName: string): number {
  return alignUp8(DIR_INFO_HEADER_SIZE + 2 * fileName.length);
}

/** The bytes a stream entry takes in a GetStreamInfo buffer. */
export function streamInfoPackedSize(streamName: string): number {
  return alignUp8(STREAM_INFO_HEADER_SIZE + 2 * streamName.length);
}

/**
 * The accounting of `FspFileSystemAddDirInfo` for a buffer of `length`
 * bytes: {@link add} refuses (and keeps nothing) once an entry's aligned size
 * no longer fits; {@link end} adds the terminator if its 2 bytes fit. A
 * ReadDirectory implementation adds entries in order until `add` refuses or
 * it runs out, then calls `end` only in the second case.
 */
export class DirInfoPacker {
  private used = 0;
  private readonly entries: DirInfo[] = [];
  private ended = false;

  constructor(private readonly length: number) {}

  /** Adds an entry if it fits; false (and nothing kept) when it does not. */
  add(entry: DirInfo): boolean {
    if (this.ended) return false;
    const size = dirInfoPackedSize(entry.fileName);
    if (this.used + size > this.length) return false;
    this.used += size;
    this.entries.push(entry);
    return true;
  }

  /** Adds the end-of-directory terminator if it fits; answers whether it did. */
  end(): boolean {
    if (this.ended) return true;
    if (this.used + LISTING_TERMINATOR_SIZE > this.length) return false;
    this.used += LISTING_TERMINATOR_SIZE;
    this.ended = true;
    return true;
  }

  /** Bytes used so far (what PBytesTransferred would hold). */
  get bytesTransferred(): number {
    return this.used;
  }

  /** The answer to give: the entries added and whether the terminator was. */
  chunk(): DirectoryChunk {
    return { entries: this.entries.slice(), endOfDirectory: this.ended };
  }
}

/** Writes FSP_FSCTL_FILE_INFO at `offset`. */
export function encodeFileInfo(view: DataView, offset: number, info: FileInfo): void {
  view.setUint32(offset, info.fileAttributes >>> 0, true);
  view.setUint32(offset + 4, info.reparseTag >>> 0, true);
  view.setBigUint64(offset + 8, info.allocationSize, true);
  view.setBigUint64(offset + 16, info.fileSize, true);
  view.setBigUint64(offset + 24, info.creationTime, true);
  view.setBigUint64(offset + 32, info.lastAccessTime, true);
  view.setBigUint64(offset + 40, info.lastWriteTime, true);
  view.setBigUint64(offset + 48, info.changeTime, true);
  view.setBigUint64(offset + 56, info.indexNumber, true);
  view.setUint32(offset + 64, info.hardLinks >>> 0, true);
  view.setUint32(offset + 68, info.eaSize >>> 0, true);
}

/** Reads FSP_FSCTL_FILE_INFO at `offset`; a short buffer is a ProtocolError. */
export function decodeFileInfo(view: DataView, offset: number): FileInfo {
  need(view, offset, FILE_INFO_SIZE, "FSP_FSCTL_FILE_INFO");
  return {
    fileAttributes: view.getUint32(offset, true),
    reparseTag: view.getUint32(offset + 4, true),
    allocationSize: view.getBigUint64(offset + 8, true),
    fileSize: view.getBigUint64(offset + 16, true),
    creationTime: view.getBigUint64(offset + 24, true),
    lastAccessTime: view.getBigUint64(offset + 32, true),
    lastWriteTime: view.getBigUint64(offset + 40, true),
    changeTime: view.getBigUint64(offset + 48, true),
    indexNumber: view.getBigUint64(offset + 56, true),
    hardLinks: view.getUint32(offset + 64, true),
    eaSize: view.getUint32(offset + 68, true),
  };
}

/** FSP_FSCTL_VOLUME_INFO as 88 bytes; a label longer than 32 units is cut. */
export function encodeVolumeInfo(info: VolumeInfo): Uint8Array {
  const out = new Uint8Array(VOLUME_INFO_SIZE);
  const view = new DataView(out.buffer);
  const label = info.volumeLabel.slice(0, VOLUME_LABEL_MAX);
  view.setBigUint64(0, info.totalSize, true);
  view.setBigUint64(8, info.freeSize, true);
  view.setUint16(16, label.length * 2, true);
  writeUtf16(view, 18, label);
  return out;
}

/** Reads FSP_FSCTL_VOLUME_INFO; a label length over 64 bytes or odd is a ProtocolError. */
export function decodeVolumeInfo(bytes: Uint8Array): VolumeInfo {
  const view = viewOf(bytes);
  need(view, 0, VOLUME_INFO_SIZE, "FSP_FSCTL_VOLUME_INFO");
  const labelBytes = view.getUint16(16, true);
  if (labelBytes > VOLUME_LABEL_MAX * 2 || labelBytes % 2 !== 0)
    throw new ProtocolError(ProtocolErrorCode.LENGTH, `FSP_FSCTL_VOLUME_INFO: label length ${labelBytes}`);
  return {
    totalSize: view.getBigUint64(0, true),
    freeSize: view.getBigUint64(8, true),
    volumeLabel: readUtf16(view, 18, labelBytes / 2),
  };
}

/** One FSP_FSCTL_DIR_INFO, padded to its aligned size (Size holds the unpadded size). */
export function encodeDirInfo(entry: DirInfo): Uint8Array {
  const size = DIR_INFO_HEADER_SIZE + 2 * entry.fileName.length;
  if (size > 0xffff) throw new RangeError(`directory entry name of ${entry.fileName.length} units`);
  const out = new Uint8Array(alignUp8(size));
  const view = new DataView(out.buffer);
  view.setUint16(0, size, true);
  encodeFileInfo(view, 8, entry.fileInfo);
  view.setBigUint64(80, entry.nextOffset ?? 0n, true);
  writeUtf16(view, DIR_INFO_HEADER_SIZE, entry.fileName);
  return out;
}

/** One FSP_FSCTL_STREAM_INFO, padded to its aligned size. */
export function encodeStreamInfo(entry: StreamInfo): Uint8Array {
  const size = STREAM_INFO_HEADER_SIZE + 2 * entry.streamName.length;
  if (size > 0xffff) throw new RangeError(`stream name of ${entry.streamName.length} units`);
  const out = new Uint8Array(alignUp8(size));
  const view = new DataView(out.buffer);
  view.setUint16(0, size, true);
  view.setBigUint64(8, entry.streamSize, true);
  view.setBigUint64(16, entry.streamAllocationSize, true);
  writeUtf16(view, STREAM_INFO_HEADER_SIZE, entry.streamName);
  return out;
}

/**
 * Packs a ReadDirectory answer as the DLL's buffer would hold it: the
 * entries back to back at 8-byte alignment, then the terminator when the
 * listing ended.
 */
export function encodeDirectoryChunk(chunk: DirectoryChunk): Uint8Array {
  const parts = chunk.entries.map(encodeDirInfo);
  const total = parts.reduce((n, p) => n + p.length, 0) + (chunk.endOfDirectory ? LISTING_TERMINATOR_SIZE : 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Reads a buffer of FSP_FSCTL_DIR_INFO entries (what a ReadDirectory fills).
 * Stops at a zero Size (`endOfDirectory` true) or at the end of the bytes.
 * A Size below the header, past the buffer or odd in its name part is a ProtocolError.
 */
export function decodeDirectoryBuffer(bytes: Uint8Array): DirectoryChunk {
  const view = viewOf(bytes);
  const entries: DirInfo[] = [];
  let at = 0;
  while (at + LISTING_TERMINATOR_SIZE <= bytes.length) {
    const size = view.getUint16(at, true);
    if (size === 0) return { entries, endOfDirectory: true };
    if (size < DIR_INFO_HEADER_SIZE || (size - DIR_INFO_HEADER_SIZE) % 2 !== 0)
      throw new ProtocolError(ProtocolErrorCode.LENGTH, `FSP_FSCTL_DIR_INFO: Size ${size} at ${at}`);
    if (at + size > bytes.length)
      throw new ProtocolError(ProtocolErrorCode.SHORT, `FSP_FSCTL_DIR_INFO: Size ${size} at ${at} of ${bytes.length}`);
    entries.push({
      fileInfo: decodeFileInfo(view, at + 8),
      nextOffset: view.getBigUint64(at + 80, true),
      fileName: readUtf16(view, at + DIR_INFO_HEADER_SIZE, (size - DIR_INFO_HEADER_SIZE) / 2),
    });
    at += alignUp8(size);
  }
  return { entries, endOfDirectory: false };
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function need(view: DataView, offset: number, size: number, what: string): void {
  if (offset < 0 || offset + size > view.byteLength)
    throw new ProtocolError(ProtocolErrorCode.SHORT, `${what}: ${size} bytes at ${offset} of ${view.byteLength}`);
}

function writeUtf16(view: DataView, offset: number, s: string): void {
  for (let i = 0; i < s.length; i++) view.setUint16(offset + 2 * i, s.charCodeAt(i), true);
}

function readUtf16(view: DataView, offset: number, units: number): string {
  let s = "";
  for (let i = 0; i < units; i++) s += String.fromCharCode(view.getUint16(offset + 2 * i, true));
  return s;
}
