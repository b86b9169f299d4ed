/**
 * Alternate data streams as Samba's `vfs_streams_xattr` keeps them: stream
 * `s` of a file or directory is the xattr `user.DosStream.s:$DATA`, whose
 * value is the stream's bytes and one trailing 0x00. Names keep the case
 * they were created with and are matched case-insensitively.
 *
 * I/O model: read-modify-write per call. A read is one GETXATTR; a write
 * or a size change reads the value, changes it, and writes it back at once
 * (under the main file's lock), so every handle sees every write, the host
 * (and Samba) see it immediately, and a value the host cannot hold fails
 * the write that made it so: more than 65535 bytes is
 * STATUS_FILE_SYSTEM_LIMITATION before anything is sent, and a file system
 * out of xattr room (ext4 without ea_inode keeps about 4 KiB per inode)
 * answers ENOSPC → STATUS_DISK_FULL. Nothing is ever truncated silently.
 * Streams are at most 64 KiB, so the cost of rewriting is bounded.
 */
import { ProtocolError } from "../common/errors.js";
import { Errno } from "../common/errno.js";
import type { Logger } from "../common/log.js";
import { XattrFlag } from "../fuse/abi.js";
import type { FuseSession } from "../guest/session.js";
import { NtStatus } from "../windows/ntstatus.js";
import {
  STREAM_MAX_SIZE,
  decodeStreamValue,
  encodeStreamValue,
  findStream,
  streamSizeOfValue,
  streamXattrName,
} from "../windows/streams.js";
import { NT_OK, ntFail, ntOk, type NtResult } from "../winfsp/interface.js";
import { NO_XATTR_SUPPORT, type MetadataStore } from "./metadata.js";
import type { ServiceNode } from "./nodes.js";
import { isErrno, statusOfError } from "./status.js";

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

  /** The stream's bytes; STATUS_OBJECT_NAME_NOT_FOUND when it is gone. */
  async contents(node: ServiceNode, name: string): Promise<NtResult<Uint8Array>> {
    const xattr = StreamStore.xattrOf(name);
    if (!xattr.ok) return xattr;
    let value: Uint8Array | undefined;
    try {
      value = await this.metadata.getXattr(node, xattr.value, 4096);
    } catch (error) {
      return ntFail(statusOfError(error, this.log, "xattr-get"));
    }
    if (value === undefined) return ntFail(NtStatus.STATUS_OBJECT_NAME_NOT_FOUND);
    return ntOk(decodeStreamValue(value));
  }

  /** The stream's size. */
  async size(node: ServiceNode, name: string): Promise<NtResult<number>> {
    const xattr = StreamStore.xattrOf(name);
    if (!xattr.ok) return xattr;
    try {
      return ntOk(streamSizeOfValue(await this.session.getxattrSize(node.nodeid, xattr.value)));
    } catch (error) {
      return ntFail(statusOfError(error, this.log, "xattr-get"));
    }
  }

  /** Read into `buffer` at `offset`: STATUS_END_OF_FILE at or past the end. */
  async read(node: ServiceNode, name: string, buffer: Uint8Array, offset: bigint): Promise<NtResult<number>> {
    const data = await this.contents(node, name);
    if (!data.ok) return data;
    if (offset >= BigInt(data.value.length)) return ntFail(NtStatus.STATUS_END_OF_FILE);
    const from = Number(offset);
    const n = Math.min(buffer.length, data.value.length - from);
    buffer.set(data.value.subarray(from, from + n));
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
      const data = await this.contents(node, name);
      if (!data.ok) return data;
      const old = data.value;
      const at = writeToEndOfFile && !constrainedIo ? BigInt(old.length) : offset;
      let length = buffer.length;
      if (constrainedIo) {
        if (at >= BigInt(old.length)) return ntOk({ bytes: 0, size: old.length });
        length = Math.min(length, old.length - Number(at));
      }
      const end = at + BigInt(length);
      if (end > BigInt(STREAM_MAX_SIZE)) return ntFail(NtStatus.STATUS_FILE_SYSTEM_LIMITATION);
      const size = Math.max(old.length, Number(end));
      const next = new Uint8Array(size);
      next.set(old);
      next.set(buffer.subarray(0, length), Number(at));
      const written = await this.store(node, name, next);
      if (!written.ok) return written;
      return ntOk({ bytes: length, size });
    });
  }

  /** Truncates or zero-extends the stream to `size` bytes. */
  async setSize(node: ServiceNode, name: string, size: bigint): Promise<NtResult<number>> {
    if (size > BigInt(STREAM_MAX_SIZE)) return ntFail(NtStatus.STATUS_DISK_FULL);
    return node.lock.run(async () => {
      const data = await this.contents(node, name);
      if (!data.ok) return data;
      const n = Number(size);
      if (n === data.value.length) return ntOk(n);
      const next = new Uint8Array(n);
      next.set(data.value.subarray(0, Math.min(n, data.value.length)));
      const written = await this.store(node, name, next);
      if (!written.ok) return written;
      return ntOk(n);
    });
  }

  /** Removes a stream; a stream already gone is no error. */
  async remove(node: ServiceNode, name: string): Promise<NtResult<void>> {
    const xattr = StreamStore.xattrOf(name);
    if (!xattr.ok) return xattr;
    try {
      await this.session.removexattr(node.nodeid, xattr.value);
    } catch (error) {
      if (!isErrno(error, Errno.ENODATA)) return ntFail(statusOfError(error, this.log));
    }
    const meta = await this.metadata.meta(node);
    meta.names.delete(xattr.value);
    meta.streams = meta.streams.filter((s) => s !== name);
    this.metadata.noteOwnXattrChange(node);
    return NT_OK;
  }

  private async store(node: ServiceNode, name: string, data: Uint8Array): Promise<NtResult<void>> {
    const xattr = StreamStore.xattrOf(name);
    if (!xattr.ok) return xattr;
    try {
      await this.session.setxattr(node.nodeid, xattr.value, encodeStreamValue(data), XattrFlag.REPLACE);
    } catch (error) {
      if (isErrno(error, Errno.ENODATA)) return ntFail(NtStatus.STATUS_OBJECT_NAME_NOT_FOUND);
      return ntFail(this.setStatus(error));
    }
    this.metadata.noteOwnXattrChange(node);
    return NT_OK;
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
