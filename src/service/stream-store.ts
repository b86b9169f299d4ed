/**
 * Alternate data streams. Up to 65535 bytes, as Samba's `vfs_streams_xattr`
 * keeps them: stream `s` of a file or directory is the xattr
 * `user.DosStream.s:$DATA`, whose value is the stream's bytes and one
 * trailing 0x00. Larger streams, which Samba's format cannot hold, are
 * chunked into viofs's own xattrs `user.viofs:s<kkkk>:s` (64 KiB of data
 * each; src/windows/streams.ts has the layout), which Samba does not see.
 * A stream changes format as it crosses 65535 bytes, either way: the new
 * form is written first, then the old one removed. Names keep the case
 * they were created with and are matched case-insensitively; GetStreamInfo
 * lists each stream once, whatever its form.
 *
 * I/O model: every write reaches the host at once (under the main file's
 * lock), so every handle sees every write, and the host (and Samba) see it
 * immediately. A Samba-form stream is read-modify-written whole (at most
 * 64 KiB); a chunked stream only in the chunks a call touches. A file
 * system out of xattr room (ext4 without ea_inode keeps about 4 KiB per
 * inode) answers ENOSPC → STATUS_DISK_FULL, as Samba answers; a stream past
 * 4 GiB (65536 chunks) is STATUS_FILE_SYSTEM_LIMITATION (writes) or
 * STATUS_DISK_FULL (sizes). Nothing is ever truncated silently.
 */
import { ProtocolError } from "../common/errors.js";
import { Errno } from "../common/errno.js";
import type { Logger } from "../common/log.js";
import { XattrFlag } from "../fuse/abi.js";
import type { FuseSession } from "../guest/session.js";
import { NtStatus } from "../windows/ntstatus.js";
import {
  STREAM_CHUNKS_MAX,
  STREAM_CHUNK_SIZE,
  STREAM_MAX_SIZE,
  decodeStreamValue,
  encodeStreamValue,
  findStream,
  parseStreamChunkXattr,
  streamChunkXattrName,
  streamSizeOfValue,
  streamXattrName,
} from "../windows/streams.js";
import { NT_OK, ntFail, ntOk, type NtResult } from "../winfsp/interface.js";
import { NO_XATTR_SUPPORT, type MetadataStore } from "./metadata.js";
import type { ServiceNode } from "./nodes.js";
import { isErrno, statusOfError } from "./status.js";

/** The largest stream: 65536 chunks of 64 KiB. */
const STREAM_LIMIT = STREAM_CHUNKS_MAX * STREAM_CHUNK_SIZE;

/** Where a stream's bytes are. */
interface Layout {
  /** `samba`: one `user.DosStream.` value; `chunks`: viofs's chunk xattrs. */
  readonly form: "samba" | "chunks";
  readonly size: number;
  /** Chunks in use (`chunks` form). */
  readonly count: number;
  /** Every chunk index present on the host, stale ones included. */
  readonly chunkIndexes: readonly number[];
}

/** A change to a stream's bytes: `data` at `at`. */
interface Patch {
  readonly at: number;
  readonly data: Uint8Array;
}

export class StreamStore {
  constructor(
    private readonly session: FuseSession,
    private readonly log: Logger,
    private readonly metadata: MetadataStore,
  ) {}

  /** The xattr of a stream name; STATUS_OBJECT_NAME_INVALID when the name cannot be one. */
  static xattrOf(name: string): NtResult<string> {
    try {
      return ntOk(streamXattrName(name));
    } catch (error) {
      if (ProtocolError.is(error)) return ntFail(NtStatus.STATUS_OBJECT_NAME_INVALID);
      throw error;
    }
  }

  /** The stored spelling of stream `name` of `node`, or undefined. */
  async find(node: ServiceNode, name: string): Promise<string | undefined> {
    if (!node.holdsXattrs) return undefined;
    return findStream((await this.metadata.meta(node)).streams, name);
  }

  /** The stream names of `node`, stored spelling. */
  async list(node: ServiceNode): Promise<string[]> {
    if (!node.holdsXattrs) return [];
    return [...(await this.metadata.meta(node)).streams];
  }

  /** Creates an empty stream; STATUS_OBJECT_NAME_COLLISION when one of that name (any case) exists. */
  async create(node: ServiceNode, name: string): Promise<NtResult<void>> {
    const xattr = StreamStore.xattrOf(name);
    if (!xattr.ok) return xattr;
    return node.lock.run(async () => {
      if ((await this.find(node, name)) !== undefined) return ntFail(NtStatus.STATUS_OBJECT_NAME_COLLISION);
      try {
        await this.session.setxattr(node.nodeid, xattr.value, encodeStreamValue(new Uint8Array(0)), XattrFlag.CREATE);
      } catch (error) {
        if (isErrno(error, Errno.EEXIST)) return ntFail(NtStatus.STATUS_OBJECT_NAME_COLLISION);
        return ntFail(this.setStatus(error));
      }
      const meta = await this.metadata.meta(node);
      meta.names.add(xattr.value);
      meta.streams.push(name);
      this.metadata.noteOwnXattrChange(node);
      return NT_OK;
    });
  }

  /** Where the bytes of stream `name` (stored spelling) are; STATUS_OBJECT_NAME_NOT_FOUND when it is gone. */
  private async layout(node: ServiceNode, name: string): Promise<NtResult<Layout>> {
    const xattr = StreamStore.xattrOf(name);
    if (!xattr.ok) return xattr;
    const meta = await this.metadata.meta(node);
    const chunkIndexes: number[] = [];
    for (const x of meta.names) {
      const c = parseStreamChunkXattr(x);
      if (c !== undefined && c.name === name) chunkIndexes.push(c.index);
    }
    chunkIndexes.sort((a, b) => a - b);
    try {
      if (meta.names.has(xattr.value) || !chunkIndexes.includes(0)) {
        const size = streamSizeOfValue(await this.session.getxattrSize(node.nodeid, xattr.value));
        return ntOk({ form: "samba", size, count: 0, chunkIndexes });
      }
      let count = 0;
      while (chunkIndexes[count] === count) count++;
      const last = await this.session.getxattrSize(node.nodeid, streamChunkXattrName(name, count - 1));
      return ntOk({ form: "chunks", size: (count - 1) * STREAM_CHUNK_SIZE + last, count, chunkIndexes });
    } catch (error) {
      return ntFail(statusOfError(error, this.log, "xattr-get"));
    }
  }

  /** Bytes [from, to) of a stream in `layout` (to ≤ its size). */
  private async bytes(node: ServiceNode, name: string, layout: Layout, from: number, to: number): Promise<NtResult<Uint8Array>> {
    const out = new Uint8Array(Math.max(0, to - from));
    if (out.length === 0) return ntOk(out);
    try {
      if (layout.form === "samba") {
        const value = await this.metadata.getXattr(node, streamXattrName(name), 4096);
        if (value === undefined) return ntFail(NtStatus.STATUS_OBJECT_NAME_NOT_FOUND);
        out.set(decodeStreamValue(value).subarray(from, to));
        return ntOk(out);
      }
      for (let k = Math.floor(from / STREAM_CHUNK_SIZE); k * STREAM_CHUNK_SIZE < to; k++) {
        const value = await this.metadata.getXattr(node, streamChunkXattrName(name, k), STREAM_CHUNK_SIZE);
        if (value === undefined) return ntFail(NtStatus.STATUS_OBJECT_NAME_NOT_FOUND);
        const base = k * STREAM_CHUNK_SIZE;
        const lo = Math.max(from, base);
        const hi = Math.min(to, base + value.length);
        if (hi > lo) out.set(value.subarray(lo - base, hi - base), lo - from);
      }
      return ntOk(out);
    } catch (error) {
      return ntFail(statusOfError(error, this.log, "xattr-get"));
    }
  }

  /** The stream's bytes; STATUS_OBJECT_NAME_NOT_FOUND when it is gone. */
  async contents(node: ServiceNode, name: string): Promise<NtResult<Uint8Array>> {
    const layout = await this.layout(node, name);
    if (!layout.ok) return layout;
    return this.bytes(node, name, layout.value, 0, layout.value.size);
  }

  /** The stream's size. */
  async size(node: ServiceNode, name: string): Promise<NtResult<number>> {
    const layout = await this.layout(node, name);
    return layout.ok ? ntOk(layout.value.size) : layout;
  }

  /** Read into `buffer` at `offset`: STATUS_END_OF_FILE at or past the end. */
  async read(node: ServiceNode, name: string, buffer: Uint8Array, offset: bigint): Promise<NtResult<number>> {
    const layout = await this.layout(node, name);
    if (!layout.ok) return layout;
    const size = layout.value.size;
    if (offset >= BigInt(size)) return ntFail(NtStatus.STATUS_END_OF_FILE);
    const from = Number(offset);
    const n = Math.min(buffer.length, size - from);
    const data = await this.bytes(node, name, layout.value, from, from + n);
    if (!data.ok) return data;
    buffer.set(data.value);
    return ntOk(n);
  }

  /**
   * Writes with the Write member's rules (append, constrained I/O, zero
   * fill); answers the bytes written and the new size.
   */
  async write(
    node: ServiceNode,
    name: string,
    buffer: Uint8Array,
    offset: bigint,
    writeToEndOfFile: boolean,
    constrainedIo: boolean,
  ): Promise<NtResult<{ bytes: number; size: number }>> {
    return node.lock.run(async () => {
      const layout = await this.layout(node, name);
      if (!layout.ok) return layout;
      const oldSize = layout.value.size;
      const at = writeToEndOfFile && !constrainedIo ? BigInt(oldSize) : offset;
      let length = buffer.length;
      if (constrainedIo) {
        if (at >= BigInt(oldSize)) return ntOk({ bytes: 0, size: oldSize });
        length = Math.min(length, oldSize - Number(at));
      }
      const end = at + BigInt(length);
      if (end > BigInt(STREAM_LIMIT)) return ntFail(NtStatus.STATUS_FILE_SYSTEM_LIMITATION);
      if (length === 0) return ntOk({ bytes: 0, size: oldSize });
      const size = Math.max(oldSize, Number(end));
      const written = await this.store(node, name, layout.value, size, { at: Number(at), data: buffer.subarray(0, length) });
      if (!written.ok) return written;
      return ntOk({ bytes: length, size });
    });
  }

  /** Truncates or zero-extends the stream to `size` bytes. */
  async setSize(node: ServiceNode, name: string, size: bigint): Promise<NtResult<number>> {
    if (size > BigInt(STREAM_LIMIT)) return ntFail(NtStatus.STATUS_DISK_FULL);
    return node.lock.run(async () => {
      const layout = await this.layout(node, name);
      if (!layout.ok) return layout;
      const n = Number(size);
      if (n === layout.value.size) return ntOk(n);
      const written = await this.store(node, name, layout.value, n, null);
      if (!written.ok) return written;
      return ntOk(n);
    });
  }

  /** Removes a stream, in either form; a stream already gone is no error. */
  async remove(node: ServiceNode, name: string): Promise<NtResult<void>> {
    const xattr = StreamStore.xattrOf(name);
    if (!xattr.ok) return xattr;
    const meta = await this.metadata.meta(node);
    const doomed = [xattr.value, ...[...meta.names].filter((x) => parseStreamChunkXattr(x)?.name === name)];
    for (const x of doomed) {
      try {
        await this.session.removexattr(node.nodeid, x);
      } catch (error) {
        if (!isErrno(error, Errno.ENODATA)) return ntFail(statusOfError(error, this.log));
      }
      meta.names.delete(x);
    }
    meta.streams = meta.streams.filter((s) => s !== name);
    this.metadata.noteOwnXattrChange(node);
    return NT_OK;
  }

  /**
   * Gives the stream `size` bytes: its old bytes (zero-extended), with
   * `patch` over them. Samba's form up to 65535 bytes, chunks beyond; a
   * change of form writes the new one before removing the old.
   */
  private async store(node: ServiceNode, name: string, old: Layout, size: number, patch: Patch | null): Promise<NtResult<void>> {
    const meta = await this.metadata.meta(node);
    const samba = streamXattrName(name);
    try {
      if (size <= STREAM_MAX_SIZE) {
        const kept = await this.bytes(node, name, old, 0, Math.min(old.size, size));
        if (!kept.ok) return kept;
        const next = new Uint8Array(size);
        next.set(kept.value);
        if (patch !== null) next.set(patch.data, patch.at);
        // REPLACE while in Samba's form, so a stream removed meanwhile is not brought back.
        await this.session.setxattr(node.nodeid, samba, encodeStreamValue(next), old.form === "samba" ? XattrFlag.REPLACE : 0);
        meta.names.add(samba);
        await this.removeChunks(node, meta.names, name, old.chunkIndexes, 0);
      } else {
        const count = Math.ceil(size / STREAM_CHUNK_SIZE);
        const fromSamba = old.form === "samba" ? await this.bytes(node, name, old, 0, old.size) : null;
        if (fromSamba !== null && !fromSamba.ok) return fromSamba;
        // The chunks that change: all when leaving Samba's form; else those the patch or the new end touch.
        let first = count;
        let last = -1;
        if (fromSamba !== null) {
          first = 0;
          last = count - 1;
        } else {
          if (patch !== null) {
            first = Math.floor(patch.at / STREAM_CHUNK_SIZE);
            last = Math.floor((patch.at + patch.data.length - 1) / STREAM_CHUNK_SIZE);
          }
          if (size !== old.size) {
            first = Math.min(first, Math.floor(Math.min(old.size, size) / STREAM_CHUNK_SIZE));
            last = count - 1;
          }
        }
        for (let k = first; k <= Math.min(last, count - 1); k++) {
          const base = k * STREAM_CHUNK_SIZE;
          const chunk = new Uint8Array(Math.min(STREAM_CHUNK_SIZE, size - base));
          const oldEnd = Math.min(old.size, base + chunk.length);
          if (oldEnd > base) {
            if (fromSamba !== null) chunk.set(fromSamba.value!.subarray(base, oldEnd));
            else {
              const prior = await this.bytes(node, name, old, base, oldEnd);
              if (!prior.ok) return prior;
              chunk.set(prior.value);
            }
          }
          if (patch !== null) {
            const lo = Math.max(patch.at, base);
            const hi = Math.min(patch.at + patch.data.length, base + chunk.length);
            if (hi > lo) chunk.set(patch.data.subarray(lo - patch.at, hi - patch.at), lo - base);
          }
          const x = streamChunkXattrName(name, k);
          await this.session.setxattr(node.nodeid, x, chunk);
          meta.names.add(x);
        }
        await this.removeChunks(node, meta.names, name, old.chunkIndexes, count);
        if (old.form === "samba") {
          await this.session.removexattr(node.nodeid, samba).catch((error: unknown) => {
            if (!isErrno(error, Errno.ENODATA)) throw error;
          });
          meta.names.delete(samba);
        }
      }
    } catch (error) {
      if (isErrno(error, Errno.ENODATA)) return ntFail(NtStatus.STATUS_OBJECT_NAME_NOT_FOUND);
      return ntFail(this.setStatus(error));
    } finally {
      this.metadata.noteOwnXattrChange(node);
    }
    return NT_OK;
  }

  /** Removes the chunks of `name` from index `from` on. */
  private async removeChunks(node: ServiceNode, names: Set<string>, name: string, indexes: readonly number[], from: number): Promise<void> {
    for (const k of indexes) {
      if (k < from) continue;
      const x = streamChunkXattrName(name, k);
      try {
        await this.session.removexattr(node.nodeid, x);
      } catch (error) {
        if (!isErrno(error, Errno.ENODATA)) throw error;
      }
      names.delete(x);
    }
  }

  /**
   * E2BIG → FILE_SYSTEM_LIMITATION, ENOSPC/EDQUOT → DISK_FULL (as Samba
   * answers); no xattrs on this backend or file system → NOT_SUPPORTED.
   */
  private setStatus(error: unknown): number {
    if (isErrno(error, ...NO_XATTR_SUPPORT)) {
      if (error.errno === Errno.ENOSYS) this.metadata.noteNoXattrs(error.message);
      return NtStatus.STATUS_NOT_SUPPORTED;
    }
    return statusOfError(error, this.log, "stream-write");
  }
}
