/**
 * Alternate data streams kept as xattrs the way Samba's `vfs_streams_xattr`
 * keeps them (defaults `streams_xattr:prefix = user.DosStream.` and
 * `store_stream_type = yes`):
 *
 * - stream `name` of type `$DATA` lives in xattr `user.DosStream.<name>:$DATA`,
 *   the name stored with the case it was created with;
 * - the value is the stream's bytes followed by **one** extra byte (`0x00`
 *   when Samba creates it: "xattrs need at least 1 byte"); the stream's size
 *   is the value length minus one, and an empty stream is the single byte;
 * - a stream is opened by comparing names case-insensitively with the
 *   existing ones (Samba's `get_real_stream_name`);
 * - a write that would make the stream reach 64 KiB (`smbd max xattr size`,
 *   also the VFS value limit less the extra byte) fails with
 *   STATUS_FILE_SYSTEM_LIMITATION, and a file system that runs out of xattr
 *   room (ext4 without `ea_inode`: about 4 KiB for all of a file's xattrs)
 *   gives ENOSPC → STATUS_DISK_FULL: both exactly what Samba 4.17 answers.
 */
import { ProtocolErrorCode } from "../common/errors.js";
import { Errno } from "../common/errno.js";
import { malformed } from "./bytes.js";
import { errnoToNtStatus, NtStatus } from "./ntstatus.js";

export const STREAM_XATTR_PREFIX = "user.DosStream.";
export const STREAM_TYPE_SUFFIX = ":$DATA";

/** The VFS limit on one xattr value (XATTR_SIZE_MAX). */
export const XATTR_SIZE_MAX = 65536;
/** The largest stream an xattr can hold: the value limit less the trailing byte (Samba: offset+n < 65536). */
export const STREAM_MAX_SIZE = XATTR_SIZE_MAX - 1;
/** The VFS limit on an xattr name (XATTR_NAME_MAX). */
export const XATTR_NAME_MAX = 255;
/** The longest stream name whose xattr name fits in {@link XATTR_NAME_MAX} bytes (UTF-8). */
export const STREAM_NAME_MAX_BYTES = XATTR_NAME_MAX - STREAM_XATTR_PREFIX.length - STREAM_TYPE_SUFFIX.length;

/**
 * Characters a stream name may not contain (NTFS_STREAM_LEGAL allows control
 * characters and `"*<>?|`, but never NUL, `/`, `\` or `:`).
 */
const ILLEGAL_STREAM_CHARS = /[\0/\\:]/;

/**
 * Splits what follows the first `:` of a Windows name (`stream`,
 * `stream:$DATA`, `:$DATA` for the main stream; type compared
 * case-insensitively) into the stream name, `""` for the main stream.
 * Returns undefined for a syntax Windows rejects (empty name without type,
 * a type other than `$DATA`, an empty type).
 */
export function parseStreamSuffix(suffix: string): string | undefined {
  const colon = suffix.indexOf(":");
  const name = colon < 0 ? suffix : suffix.slice(0, colon);
  if (colon >= 0 && suffix.slice(colon + 1).toUpperCase() !== "$DATA") return undefined;
  if (colon < 0 && name === "") return undefined;
  if (ILLEGAL_STREAM_CHARS.test(name)) return undefined;
  return name;
}

/** The xattr holding stream `name` (a named stream: not empty). */
export function streamXattrName(name: string): string {
  if (name === "" || ILLEGAL_STREAM_CHARS.test(name)) {
    malformed(ProtocolErrorCode.VALUE, "stream name", `${JSON.stringify(name)} is not a named stream`);
  }
  const xattr = `${STREAM_XATTR_PREFIX}${name}${STREAM_TYPE_SUFFIX}`;
  if (Buffer.byteLength(xattr, "utf8") > XATTR_NAME_MAX) {
    malformed(ProtocolErrorCode.LIMIT, "stream name", `xattr name for ${JSON.stringify(name)} exceeds ${XATTR_NAME_MAX} bytes`);
  }
  return xattr;
}

/**
 * The stream name of a stream xattr, or undefined for any other xattr.
 * Like Samba, an xattr with the prefix but without `:$DATA` is not a stream
 * of ours (it would be one under `store_stream_type = no`).
 */
export function streamNameOfXattr(xattr: string): string | undefined {
  if (!xattr.startsWith(STREAM_XATTR_PREFIX) || !xattr.endsWith(STREAM_TYPE_SUFFIX)) return undefined;
  const name = xattr.slice(STREAM_XATTR_PREFIX.length, xattr.length - STREAM_TYPE_SUFFIX.length);
  return name === "" ? undefined : name;
}

/**
 * Streams larger than Samba's format holds (over {@link STREAM_MAX_SIZE}
 * bytes) are viofs's own: chunk `k` (0, 1, …) of stream `name` is the xattr
 * `user.viofs:s<kkkk>:<name>` (`kkkk` four lower-case hex digits), each
 * chunk {@link STREAM_CHUNK_SIZE} bytes of data (no trailing byte) but the
 * last, which holds the remaining 1…65536. Such a stream has no
 * `user.DosStream.` xattr; where both exist (an interrupted switch), the
 * Samba one is the stream and the chunks are stale. The `:` keeps the
 * chunks out of Samba's EA listing, and they lack Samba's stream prefix:
 * Samba does not see streams over 65535 bytes (it cannot store them either).
 */
export const STREAM_CHUNK_PREFIX = "user.viofs:s";
/** Data bytes per chunk of a large stream: one whole xattr value. */
export const STREAM_CHUNK_SIZE = XATTR_SIZE_MAX;
/** Most chunks of one stream (four hex digits): streams up to 4 GiB. */
export const STREAM_CHUNKS_MAX = 0x10000;

/** The xattr of chunk `index` of large stream `name`. */
export function streamChunkXattrName(name: string, index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= STREAM_CHUNKS_MAX) malformed(ProtocolErrorCode.LIMIT, "stream chunk", `index ${index}`);
  return `${STREAM_CHUNK_PREFIX}${index.toString(16).padStart(4, "0")}:${name}`;
}

/** The stream name and chunk index of a chunk xattr, or undefined for any other xattr. */
export function parseStreamChunkXattr(xattr: string): { name: string; index: number } | undefined {
  if (!xattr.startsWith(STREAM_CHUNK_PREFIX)) return undefined;
  const rest = xattr.slice(STREAM_CHUNK_PREFIX.length);
  if (!/^[0-9a-f]{4}:./su.test(rest)) return undefined;
  const name = rest.slice(5);
  if (ILLEGAL_STREAM_CHARS.test(name)) return undefined;
  return { name, index: parseInt(rest.slice(0, 4), 16) };
}

/** The stream names among a file's xattr names (Samba's, then large ones), each once, in listing order. */
export function listStreams(xattrs: Iterable<string>): string[] {
  const out: string[] = [];
  const large: string[] = [];
  for (const x of xattrs) {
    const n = streamNameOfXattr(x);
    if (n !== undefined) out.push(n);
    else {
      const chunk = parseStreamChunkXattr(x);
      if (chunk !== undefined && chunk.index === 0) large.push(chunk.name);
    }
  }
  const seen = new Set(out);
  for (const n of large) if (!seen.has(n)) out.push(n);
  return out;
}

/**
 * Windows-style case folding for name comparison: simple upper-casing per
 * UTF-16 unit, no normalisation (what NTFS's upcase table does for the BMP).
 */
export function foldCase(name: string): string {
  let out = "";
  for (const ch of name) {
    const up = ch.length === 1 ? ch.toUpperCase() : ch;
    out += up.length === 1 ? up : ch;
  }
  return out;
}

/**
 * The stored spelling of stream `name` among `existing` stream names: an
 * exact match first, else the first case-insensitive one, else undefined.
 */
export function findStream(existing: Iterable<string>, name: string): string | undefined {
  const list = [...existing];
  if (list.includes(name)) return name;
  const folded = foldCase(name);
  return list.find((n) => foldCase(n) === folded);
}

/** The xattr value for stream contents: the bytes and one trailing 0x00. */
export function encodeStreamValue(data: Uint8Array): Uint8Array {
  if (data.byteLength > STREAM_MAX_SIZE) {
    malformed(ProtocolErrorCode.LIMIT, "stream", `${data.byteLength} bytes exceed ${STREAM_MAX_SIZE}`);
  }
  const out = new Uint8Array(data.byteLength + 1);
  out.set(data);
  return out;
}

/**
 * The stream contents of an xattr value: all bytes but the last. An empty
 * value (which Samba never writes) reads as an empty stream.
 */
export function decodeStreamValue(value: Uint8Array): Uint8Array {
  return new Uint8Array(value.subarray(0, Math.max(0, value.byteLength - 1)));
}

/** The stream size a value of `valueLength` bytes stands for. */
export function streamSizeOfValue(valueLength: number): number {
  return valueLength === 0 ? 0 : valueLength - 1;
}

/**
 * The status for a write that would end at `end` (offset + length): success
 * when it fits an xattr, STATUS_FILE_SYSTEM_LIMITATION otherwise.
 */
export function streamWriteLimitStatus(end: number | bigint): number {
  return BigInt(end) > BigInt(STREAM_MAX_SIZE) ? NtStatus.STATUS_FILE_SYSTEM_LIMITATION : NtStatus.STATUS_SUCCESS;
}

/**
 * The status for a failed setxattr of a stream value: E2BIG (over the VFS
 * limit) → FILE_SYSTEM_LIMITATION; ENOSPC/EDQUOT (no xattr room) →
 * DISK_FULL; everything else as {@link errnoToNtStatus}.
 */
export function streamSetxattrStatus(errno: number): number {
  if (errno === Errno.ENOSPC || errno === Errno.EDQUOT) return NtStatus.STATUS_DISK_FULL;
  return errnoToNtStatus(errno, "stream-write").status;
}
