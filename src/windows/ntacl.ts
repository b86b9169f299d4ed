/**
 * Samba's `security.NTACL` xattr (`xattr_NTACL`, librpc/idl/xattr.idl) and
 * the descriptor Samba serves for a file that has none.
 *
 * Layout (NDR, little-endian; unique pointers are referent ids, their data
 * deferred after the scalars; `[relative]` descriptor offsets count from the
 * start of the **value**, not of the descriptor):
 * ```
 * u16 version, u16 level (== version), u32 referent id, then
 * v1  SD                                                           (SD at 8)
 * v2  {u32 ptr, u8 hash[16]}, SD                                   (SD at 28)
 * v3  {u32 ptr, u16 hash_type, u8 hash[64]}, pad 4, SD             (SD at 80)
 * v4  {u32 ptr, u16 hash_type, u8 hash[64], utf8z description,
 *      pad 4, NTTIME time, u8 sys_acl_hash[64]}, pad 4, SD         ("posix_acl": SD at 160)
 * ```
 * Samba 4.17 (`vfs_acl_common.c`) trusts v1 and v2 unconditionally, v3/v4
 * only when their hash matches the POSIX ACL or `acl_xattr:ignore system
 * acls = yes`; with that option it writes v3 with an all-zero SHA-256 hash,
 * without it v4. We read all four, ignore the hashes, and write v1.
 */
import { ProtocolErrorCode } from "../common/errors.js";
import { ByteReader, ByteWriter, malformed } from "./bytes.js";
import {
  AccessMask,
  ACL_REVISION,
  type Ace,
  AceType,
  readSecurityDescriptor,
  type SecurityDescriptor,
  type Sid,
  sidEquals,
  parseSid,
  WellKnownSid,
  writeSecurityDescriptor,
} from "./security.js";

/** The name Samba's acl_xattr uses. */
export const NTACL_XATTR = "security.NTACL";
/**
 * The fallback when the host refuses `security.*` (no CAP_SYS_ADMIN), matching
 * Samba ≥ 4.17's `acl_xattr:security_acl_name = user.NTACL`.
 */
export const NTACL_XATTR_USER = "user.NTACL";

/** `XATTR_SD_HASH_TYPE_*`. */
export const NtAclHashType = { NONE: 0, SHA256: 1 } as const;

/** A decoded `security.NTACL` value. */
export interface NtAcl {
  readonly version: 1 | 2 | 3 | 4;
  readonly sd: SecurityDescriptor;
  /** v3/v4 hash type. */
  readonly hashType?: number;
  /** v2 (16 bytes) or v3/v4 (64 bytes) hash of the mapped POSIX descriptor. */
  readonly hash?: Uint8Array;
  /** v4: what produced the hash, e.g. `posix_acl`. */
  readonly description?: string;
  /** v4: always written as 0 by Samba. */
  readonly time?: bigint;
  /** v4: hash of the system ACL blob. */
  readonly sysAclHash?: Uint8Array;
}

const WHAT = NTACL_XATTR;

function readPointer(r: ByteReader, field: string): void {
  const ref = r.u32(field);
  if (ref === 0) malformed(ProtocolErrorCode.VALUE, WHAT, `${field} is a NULL pointer`);
}

/** Decodes any version (1–4) of `security.NTACL`. Throws {@link ProtocolError} on malformed input. */
export function decodeNtAcl(value: Uint8Array): NtAcl {
  const r = new ByteReader(value, WHAT);
  const version = r.u16("version");
  const level = r.u16("union level");
  if (level !== version) malformed(ProtocolErrorCode.VALUE, WHAT, `union level ${level} differs from version ${version}`);
  if (version < 1 || version > 4) malformed(ProtocolErrorCode.VALUE, WHAT, `unknown version ${version}`);
  readPointer(r, "info pointer");
  const decodeSd = (): SecurityDescriptor => {
    r.align(4);
    return readSecurityDescriptor(value, r.offset, 0, WHAT).sd;
  };
  switch (version) {
    case 1:
      return { version, sd: decodeSd() };
    case 2: {
      readPointer(r, "sd pointer");
      const hash = r.bytesCopy(16, "hash");
      return { version, sd: decodeSd(), hash };
    }
    case 3: {
      readPointer(r, "sd pointer");
      const hashType = r.u16("hash_type");
      const hash = r.bytesCopy(64, "hash");
      return { version, sd: decodeSd(), hashType, hash };
    }
    default: {
      readPointer(r, "sd pointer");
      const hashType = r.u16("hash_type");
      const hash = r.bytesCopy(64, "hash");
      const description = Buffer.from(r.cstring("description")).toString("utf8");
      r.align(4);
      const time = r.u64("time");
      const sysAclHash = r.bytesCopy(64, "sys_acl_hash");
      return { version: 4, sd: decodeSd(), hashType, hash, description, time, sysAclHash };
    }
  }
}

/**
 * Encodes `security.NTACL` version 1: `01 00 01 00`, referent id
 * `00 00 02 00`, then the self-relative descriptor with offsets counted from
 * the start of the value (owner, group, SACL, DACL in that order, as Samba).
 */
export function encodeNtAcl(sd: SecurityDescriptor): Uint8Array {
  const w = new ByteWriter(256);
  w.u16(1);
  w.u16(1);
  w.u32(0x00020000);
  writeSecurityDescriptor(w, sd, 8);
  return w.finish();
}

// ---- identity mapping ----

/** Samba's fallback SID for a Unix uid without a mapping: `S-1-22-1-<uid>`. */
export function unixUserSid(uid: number): Sid {
  return { authority: 22, subAuthorities: [1, uid >>> 0] };
}

/** Samba's fallback SID for a Unix gid without a mapping: `S-1-22-2-<gid>`. */
export function unixGroupSid(gid: number): Sid {
  return { authority: 22, subAuthorities: [2, gid >>> 0] };
}

/** Maps Unix ids to SIDs and back. */
export interface IdMap {
  uidToSid(uid: number): Sid;
  gidToSid(gid: number): Sid;
  /** The uid a SID stands for, or undefined. */
  sidToUid(sid: Sid): number | undefined;
  /** The gid a SID stands for, or undefined. */
  sidToGid(sid: Sid): number | undefined;
}

/** Explicit entries of an {@link IdMap}; SIDs as strings. */
export interface IdMapEntries {
  readonly users?: Iterable<readonly [number, string]>;
  readonly groups?: Iterable<readonly [number, string]>;
}

/**
 * An id map with explicit entries first, then Samba's S-1-22 fallback both
 * ways (`S-1-22-1-<uid>`, `S-1-22-2-<gid>`).
 */
export function createIdMap(entries: IdMapEntries = {}): IdMap {
  const users = [...(entries.users ?? [])].map(([id, s]) => [id, parseSid(s)] as const);
  const groups = [...(entries.groups ?? [])].map(([id, s]) => [id, parseSid(s)] as const);
  const isUnix = (s: Sid, kind: number): number | undefined =>
    s.authority === 22 && s.subAuthorities.length === 2 && s.subAuthorities[0] === kind ? s.subAuthorities[1] : undefined;
  return {
    uidToSid: (uid) => users.find(([id]) => id === uid)?.[1] ?? unixUserSid(uid),
    gidToSid: (gid) => groups.find(([id]) => id === gid)?.[1] ?? unixGroupSid(gid),
    sidToUid: (s) => users.find(([, v]) => sidEquals(v, s))?.[0] ?? isUnix(s, 1),
    sidToGid: (s) => groups.find(([, v]) => sidEquals(v, s))?.[0] ?? isUnix(s, 2),
  };
}

// ---- the descriptor of a file without one ----

/** Samba's `acl_xattr:default acl style`. */
export type DefaultAclStyle = "posix" | "windows" | "everyone";

/** Samba's `SEC_RIGHTS_FILE_READ`: READ_CONTROL|SYNCHRONIZE|READ_DATA|READ_ATTRIBUTES|READ_EA. */
const RIGHTS_FILE_READ = AccessMask.FILE_GENERIC_READ;
/** Samba's `SEC_RIGHTS_FILE_WRITE`: READ_CONTROL|SYNCHRONIZE|WRITE_DATA|WRITE_ATTRIBUTES|WRITE_EA|APPEND_DATA. */
const RIGHTS_FILE_WRITE = AccessMask.FILE_GENERIC_WRITE;

function ownerMask(mode: number): number {
  let mask = 0;
  if (mode & 0o400) mask |= mode & 0o200 ? AccessMask.FILE_ALL_ACCESS : RIGHTS_FILE_READ | AccessMask.FILE_EXECUTE;
  if (mode & 0o200) mask |= RIGHTS_FILE_WRITE | AccessMask.DELETE;
  return mask >>> 0;
}

function otherMask(read: boolean, write: boolean): number {
  let mask = 0;
  if (read) mask |= RIGHTS_FILE_READ | AccessMask.FILE_EXECUTE;
  if (write) mask |= RIGHTS_FILE_WRITE;
  return mask >>> 0;
}

function allow(s: Sid, mask: number): Ace {
  return { type: AceType.ACCESS_ALLOWED, flags: 0, mask, sid: s };
}

/**
 * The descriptor Samba 4.17 serves for a file without `security.NTACL` when
 * `acl_xattr:ignore system acls = yes` (`make_default_filesystem_acl`,
 * source3/smbd/posix_acls.c), owner and group through `idMap`:
 *
 * - `posix` (Samba's default): owner ACE always (rw → FILE_ALL_ACCESS,
 *   r → FILE_GENERIC_READ|FILE_EXECUTE, w adds FILE_GENERIC_WRITE|DELETE);
 *   group and Everyone ACEs when they get anything (r → read|execute,
 *   w → FILE_GENERIC_WRITE, no DELETE); then SYSTEM full. The execute bits
 *   are not consulted.
 * - `windows`: the owner ACE and SYSTEM full.
 * - `everyone`: Everyone full.
 *
 * Control is SE_DACL_PRESENT (+ self-relative); no inheritable ACEs, also for
 * directories.
 */
export function defaultSecurityDescriptor(
  stat: { readonly uid: number; readonly gid: number; readonly mode: number },
  idMap: IdMap = createIdMap(),
  style: DefaultAclStyle = "posix",
): SecurityDescriptor {
  const owner = idMap.uidToSid(stat.uid);
  const group = idMap.gidToSid(stat.gid);
  const aces: Ace[] = [];
  const mode = stat.mode;
  switch (style) {
    case "posix": {
      aces.push(allow(owner, ownerMask(mode)));
      const g = otherMask((mode & 0o040) !== 0, (mode & 0o020) !== 0);
      if (g !== 0) aces.push(allow(group, g));
      const o = otherMask((mode & 0o004) !== 0, (mode & 0o002) !== 0);
      if (o !== 0) aces.push(allow(WellKnownSid.WORLD, o));
      aces.push(allow(WellKnownSid.LOCAL_SYSTEM, AccessMask.FILE_ALL_ACCESS));
      break;
    }
    case "windows":
      aces.push(allow(owner, ownerMask(mode)));
      aces.push(allow(WellKnownSid.LOCAL_SYSTEM, AccessMask.FILE_ALL_ACCESS));
      break;
    case "everyone":
      aces.push(allow(WellKnownSid.WORLD, AccessMask.FILE_ALL_ACCESS));
      break;
  }
  return { control: 0, owner, group, dacl: { revision: ACL_REVISION, aces } };
}
