/**
 * Windows security identifiers, ACEs, ACLs and self-relative security
 * descriptors ([MS-DTYP] §2.4), in binary and as TypeScript values.
 *
 * Binary layouts (little-endian except the SID authority):
 * ```
 * SID   u8 revision (1), u8 count (≤ 15), u48 authority (big-endian), u32 sub[count]
 * ACE   u8 type, u8 flags, u16 size (whole ACE), u32 mask, then by type:
 *       plain/callback/label…: SID, application data up to size
 *       object types: u32 object flags, [GUID type], [GUID inherited type], SID, data
 * ACL   u8 revision (2..4), u8 sbz1, u16 size, u16 count, u16 sbz2, ACEs
 * SD    u8 revision (1), u8 sbz1, u16 control, u32 offsets of owner, group,
 *       SACL, DACL (0 = absent), then the parts
 * ```
 * Decoders copy nothing they have not bounds-checked and reject what
 * RtlValidRelativeSecurityDescriptor would reject with a ProtocolError.
 */
import { ProtocolErrorCode } from "../common/errors.js";
import { ByteReader, ByteWriter, malformed } from "./bytes.js";
import { readGuid, writeGuid } from "./guid.js";

// ---- constants ----

/** Access-mask bits for files and directories, standard, generic and special rights (winnt.h). */
export const AccessMask = {
  FILE_READ_DATA: 0x0001,
  FILE_LIST_DIRECTORY: 0x0001,
  FILE_WRITE_DATA: 0x0002,
  FILE_ADD_FILE: 0x0002,
  FILE_APPEND_DATA: 0x0004,
  FILE_ADD_SUBDIRECTORY: 0x0004,
  FILE_READ_EA: 0x0008,
  FILE_WRITE_EA: 0x0010,
  FILE_EXECUTE: 0x0020,
  FILE_TRAVERSE: 0x0020,
  FILE_DELETE_CHILD: 0x0040,
  FILE_READ_ATTRIBUTES: 0x0080,
  FILE_WRITE_ATTRIBUTES: 0x0100,
  DELETE: 0x00010000,
  READ_CONTROL: 0x00020000,
  WRITE_DAC: 0x00040000,
  WRITE_OWNER: 0x00080000,
  SYNCHRONIZE: 0x00100000,
  STANDARD_RIGHTS_REQUIRED: 0x000f0000,
  STANDARD_RIGHTS_READ: 0x00020000,
  STANDARD_RIGHTS_WRITE: 0x00020000,
  STANDARD_RIGHTS_EXECUTE: 0x00020000,
  STANDARD_RIGHTS_ALL: 0x001f0000,
  SPECIFIC_RIGHTS_ALL: 0x0000ffff,
  ACCESS_SYSTEM_SECURITY: 0x01000000,
  MAXIMUM_ALLOWED: 0x02000000,
  GENERIC_ALL: 0x10000000,
  GENERIC_EXECUTE: 0x20000000,
  GENERIC_WRITE: 0x40000000,
  GENERIC_READ: 0x80000000,
  FILE_GENERIC_READ: 0x00120089,
  FILE_GENERIC_WRITE: 0x00120116,
  FILE_GENERIC_EXECUTE: 0x001200a0,
  FILE_ALL_ACCESS: 0x001f01ff,
  KEY_READ: 0x00020019,
  KEY_WRITE: 0x00020006,
  KEY_EXECUTE: 0x00020019,
  KEY_ALL_ACCESS: 0x000f003f,
  SYSTEM_MANDATORY_LABEL_NO_WRITE_UP: 0x1,
  SYSTEM_MANDATORY_LABEL_NO_READ_UP: 0x2,
  SYSTEM_MANDATORY_LABEL_NO_EXECUTE_UP: 0x4,
} as const;

/** ACE types (winnt.h *_ACE_TYPE). */
export const AceType = {
  ACCESS_ALLOWED: 0x00,
  ACCESS_DENIED: 0x01,
  SYSTEM_AUDIT: 0x02,
  SYSTEM_ALARM: 0x03,
  ACCESS_ALLOWED_COMPOUND: 0x04,
  ACCESS_ALLOWED_OBJECT: 0x05,
  ACCESS_DENIED_OBJECT: 0x06,
  SYSTEM_AUDIT_OBJECT: 0x07,
  SYSTEM_ALARM_OBJECT: 0x08,
  ACCESS_ALLOWED_CALLBACK: 0x09,
  ACCESS_DENIED_CALLBACK: 0x0a,
  ACCESS_ALLOWED_CALLBACK_OBJECT: 0x0b,
  ACCESS_DENIED_CALLBACK_OBJECT: 0x0c,
  SYSTEM_AUDIT_CALLBACK: 0x0d,
  SYSTEM_ALARM_CALLBACK: 0x0e,
  SYSTEM_AUDIT_CALLBACK_OBJECT: 0x0f,
  SYSTEM_ALARM_CALLBACK_OBJECT: 0x10,
  SYSTEM_MANDATORY_LABEL: 0x11,
  SYSTEM_RESOURCE_ATTRIBUTE: 0x12,
  SYSTEM_SCOPED_POLICY_ID: 0x13,
  SYSTEM_PROCESS_TRUST_LABEL: 0x14,
  SYSTEM_ACCESS_FILTER: 0x15,
} as const;

/** ACE header flags. */
export const AceFlag = {
  OBJECT_INHERIT: 0x01,
  CONTAINER_INHERIT: 0x02,
  NO_PROPAGATE_INHERIT: 0x04,
  INHERIT_ONLY: 0x08,
  INHERITED: 0x10,
  CRITICAL: 0x20,
  SUCCESSFUL_ACCESS: 0x40,
  FAILED_ACCESS: 0x80,
} as const;

/** Flags of object ACEs saying which GUIDs follow. */
export const AceObjectFlag = {
  OBJECT_TYPE_PRESENT: 0x1,
  INHERITED_OBJECT_TYPE_PRESENT: 0x2,
} as const;

/** SECURITY_DESCRIPTOR_CONTROL bits. */
export const SeControl = {
  SE_OWNER_DEFAULTED: 0x0001,
  SE_GROUP_DEFAULTED: 0x0002,
  SE_DACL_PRESENT: 0x0004,
  SE_DACL_DEFAULTED: 0x0008,
  SE_SACL_PRESENT: 0x0010,
  SE_SACL_DEFAULTED: 0x0020,
  SE_DACL_TRUSTED: 0x0040,
  SE_SERVER_SECURITY: 0x0080,
  SE_DACL_AUTO_INHERIT_REQ: 0x0100,
  SE_SACL_AUTO_INHERIT_REQ: 0x0200,
  SE_DACL_AUTO_INHERITED: 0x0400,
  SE_SACL_AUTO_INHERITED: 0x0800,
  SE_DACL_PROTECTED: 0x1000,
  SE_SACL_PROTECTED: 0x2000,
  SE_RM_CONTROL_VALID: 0x4000,
  SE_SELF_RELATIVE: 0x8000,
} as const;

/** SECURITY_INFORMATION bits (which parts GetSecurity/SetSecurity address). */
export const SecurityInformation = {
  OWNER: 0x00000001,
  GROUP: 0x00000002,
  DACL: 0x00000004,
  SACL: 0x00000008,
  LABEL: 0x00000010,
  ATTRIBUTE: 0x00000020,
  SCOPE: 0x00000040,
  PROCESS_TRUST_LABEL: 0x00000080,
  BACKUP: 0x00010000,
  UNPROTECTED_SACL: 0x10000000,
  UNPROTECTED_DACL: 0x20000000,
  PROTECTED_SACL: 0x40000000,
  PROTECTED_DACL: 0x80000000,
} as const;

export const ACL_REVISION = 2;
export const ACL_REVISION_DS = 4;
export const SECURITY_DESCRIPTOR_REVISION = 1;
/** RtlValidSid's limit. */
export const SID_MAX_SUB_AUTHORITIES = 15;

// ---- SIDs ----

/** A security identifier. Revision is always 1. */
export interface Sid {
  /** The 48-bit identifier authority. */
  readonly authority: number;
  /** Up to 15 sub-authorities, each a u32. */
  readonly subAuthorities: readonly number[];
}

/** Parses `S-1-<authority>-<sub>…` (authority decimal or `0x` hex; `s-` accepted). */
export function parseSid(text: string): Sid {
  const what = "SID";
  const m = /^[sS]-1-(0[xX][0-9a-fA-F]{1,12}|\d{1,15})((?:-\d{1,10})*)$/.exec(text);
  if (!m) malformed(ProtocolErrorCode.VALUE, what, `${JSON.stringify(text)} is not a SID string`);
  const authority = m[1]!.toLowerCase().startsWith("0x") ? parseInt(m[1]!.slice(2), 16) : Number(m[1]);
  if (authority > 0xffffffffffff) malformed(ProtocolErrorCode.VALUE, what, `authority of ${text} exceeds 48 bits`);
  const subAuthorities = m[2] === "" ? [] : m[2]!.slice(1).split("-").map(Number);
  if (subAuthorities.length > SID_MAX_SUB_AUTHORITIES) {
    malformed(ProtocolErrorCode.VALUE, what, `${text} has more than ${SID_MAX_SUB_AUTHORITIES} sub-authorities`);
  }
  for (const s of subAuthorities) {
    if (s > 0xffffffff) malformed(ProtocolErrorCode.VALUE, what, `sub-authority ${s} of ${text} exceeds 32 bits`);
  }
  return { authority, subAuthorities };
}

/** `S-1-…`; an authority of 2^32 or more is written as `0x` and 12 hex digits, as Windows does. */
export function formatSid(sid: Sid): string {
  const auth =
    sid.authority >= 0x100000000 ? `0x${sid.authority.toString(16).toUpperCase().padStart(12, "0")}` : String(sid.authority);
  return ["S-1", auth, ...sid.subAuthorities.map(String)].join("-");
}

/** Shorthand: a SID from its string, for constants and tests. */
export function sid(text: string): Sid {
  return parseSid(text);
}

export function sidEquals(a: Sid, b: Sid): boolean {
  return (
    a.authority === b.authority &&
    a.subAuthorities.length === b.subAuthorities.length &&
    a.subAuthorities.every((s, i) => s === b.subAuthorities[i])
  );
}

/** Bytes of a SID in binary form: 8 + 4 per sub-authority. */
export function sidSize(sid: Sid): number {
  return 8 + 4 * sid.subAuthorities.length;
}

export function writeSid(w: ByteWriter, sid: Sid): void {
  if (sid.subAuthorities.length > SID_MAX_SUB_AUTHORITIES) {
    malformed(ProtocolErrorCode.VALUE, "SID", `${sid.subAuthorities.length} sub-authorities`);
  }
  w.u8(1);
  w.u8(sid.subAuthorities.length);
  // The 48-bit authority is big-endian.
  const hi = Math.floor(sid.authority / 0x100000000);
  w.u8((hi >>> 8) & 0xff);
  w.u8(hi & 0xff);
  w.u32be(sid.authority % 0x100000000);
  for (const s of sid.subAuthorities) w.u32(s);
}

export function readSid(r: ByteReader, field = "SID"): Sid {
  const revision = r.u8(field);
  if (revision !== 1) malformed(ProtocolErrorCode.VALUE, r.what, `${field} revision ${revision}, expected 1`);
  const count = r.u8(field);
  if (count > SID_MAX_SUB_AUTHORITIES) {
    malformed(ProtocolErrorCode.VALUE, r.what, `${field} has ${count} sub-authorities, at most ${SID_MAX_SUB_AUTHORITIES}`);
  }
  const auth = r.bytesCopy(6, field);
  const authority = auth[0]! * 2 ** 40 + auth[1]! * 2 ** 32 + ((auth[2]! << 24) >>> 0) + (auth[3]! << 16) + (auth[4]! << 8) + auth[5]!;
  const subAuthorities: number[] = [];
  for (let i = 0; i < count; i++) subAuthorities.push(r.u32(field));
  return { authority, subAuthorities };
}

/** A SID in binary form. */
export function encodeSid(sid: Sid): Uint8Array {
  const w = new ByteWriter(sidSize(sid));
  writeSid(w, sid);
  return w.finish();
}

/** A SID from binary form; the bytes must hold exactly one SID. */
export function decodeSid(bytes: Uint8Array): Sid {
  const r = new ByteReader(bytes, "SID");
  const s = readSid(r);
  if (r.remaining !== 0) malformed(ProtocolErrorCode.LONG, "SID", `${r.remaining} bytes after the SID`);
  return s;
}

/** Well-known SIDs used by the default descriptors and the tests. */
export const WellKnownSid = {
  NULL: sid("S-1-0-0"),
  WORLD: sid("S-1-1-0"),
  CREATOR_OWNER: sid("S-1-3-0"),
  CREATOR_GROUP: sid("S-1-3-1"),
  OWNER_RIGHTS: sid("S-1-3-4"),
  AUTHENTICATED_USERS: sid("S-1-5-11"),
  LOCAL_SYSTEM: sid("S-1-5-18"),
  BUILTIN_ADMINISTRATORS: sid("S-1-5-32-544"),
  BUILTIN_USERS: sid("S-1-5-32-545"),
} as const;

// ---- ACEs and ACLs ----

/** An ACE whose layout is known: a SID after the mask (and, for object types, the object part). */
export interface Ace {
  readonly type: number;
  readonly flags: number;
  readonly mask: number;
  readonly sid: Sid;
  /** Object ACEs: the object type GUID (text), when present. */
  readonly objectType?: string | undefined;
  /** Object ACEs: the inherited object type GUID (text), when present. */
  readonly inheritedObjectType?: string | undefined;
  /** Bytes between the SID and the end of the ACE (callback conditions, attribute values, padding). */
  readonly applicationData?: Uint8Array | undefined;
}

/** An ACE of a type whose layout is not known (e.g. compound): kept as bytes after the header. */
export interface OpaqueAce {
  readonly type: number;
  readonly flags: number;
  readonly body: Uint8Array;
}

export type AnyAce = Ace | OpaqueAce;

export function isOpaqueAce(ace: AnyAce): ace is OpaqueAce {
  return "body" in ace;
}

export interface Acl {
  /** 2 (ACL_REVISION) or 4 (ACL_REVISION_DS, needed for object ACEs); 3 is also valid. */
  readonly revision: number;
  readonly aces: readonly AnyAce[];
}

function isObjectAceType(type: number): boolean {
  return (type >= 0x05 && type <= 0x08) || type === 0x0b || type === 0x0c || type === 0x0f || type === 0x10;
}

function isSidAceType(type: number): boolean {
  return type <= 0x03 || (type >= 0x09 && type <= 0x0e && !isObjectAceType(type)) || (type >= 0x11 && type <= 0x15);
}

function writeAce(w: ByteWriter, ace: AnyAce): void {
  const start = w.offset;
  w.u8(ace.type);
  w.u8(ace.flags);
  w.u16(0); // size, patched
  if (isOpaqueAce(ace)) {
    w.bytes(ace.body);
  } else {
    w.u32(ace.mask);
    if (isObjectAceType(ace.type)) {
      let objectFlags = 0;
      if (ace.objectType !== undefined) objectFlags |= AceObjectFlag.OBJECT_TYPE_PRESENT;
      if (ace.inheritedObjectType !== undefined) objectFlags |= AceObjectFlag.INHERITED_OBJECT_TYPE_PRESENT;
      w.u32(objectFlags);
      if (ace.objectType !== undefined) writeGuid(w, ace.objectType);
      if (ace.inheritedObjectType !== undefined) writeGuid(w, ace.inheritedObjectType);
    } else if (!isSidAceType(ace.type)) {
      malformed(ProtocolErrorCode.VALUE, "ACE", `type 0x${ace.type.toString(16)} has no known layout; give it as an OpaqueAce`);
    }
    writeSid(w, ace.sid);
    if (ace.applicationData !== undefined) w.bytes(ace.applicationData);
  }
  w.align(4, start);
  const size = w.offset - start;
  if (size > 0xffff) malformed(ProtocolErrorCode.LIMIT, "ACE", `${size} bytes exceed 65535`);
  w.patchU16(start + 2, size);
}

function readAce(r: ByteReader, aclEnd: number, index: number): AnyAce {
  const start = r.offset;
  const field = `ACE ${index}`;
  const type = r.u8(field);
  const flags = r.u8(field);
  const size = r.u16(field);
  if (size < 4 || start + size > aclEnd) {
    malformed(ProtocolErrorCode.LENGTH, r.what, `${field} size ${size} does not fit the ACL (${aclEnd - start} bytes left)`);
  }
  if (size % 4 !== 0) malformed(ProtocolErrorCode.LENGTH, r.what, `${field} size ${size} is not a multiple of 4`);
  const end = start + size;
  const sub = new ByteReader(r.bytes.subarray(0, end), r.what, r.offset);
  let ace: AnyAce;
  if (isObjectAceType(type) || isSidAceType(type)) {
    const mask = sub.u32(field);
    let objectType: string | undefined;
    let inheritedObjectType: string | undefined;
    if (isObjectAceType(type)) {
      const objectFlags = sub.u32(field);
      if (objectFlags & AceObjectFlag.OBJECT_TYPE_PRESENT) objectType = readGuid(sub, field);
      if (objectFlags & AceObjectFlag.INHERITED_OBJECT_TYPE_PRESENT) inheritedObjectType = readGuid(sub, field);
    }
    const aceSid = readSid(sub, `${field} SID`);
    const applicationData = sub.remaining > 0 ? sub.bytesCopy(sub.remaining) : undefined;
    ace = {
      type,
      flags,
      mask: mask >>> 0,
      sid: aceSid,
      ...(objectType !== undefined ? { objectType } : {}),
      ...(inheritedObjectType !== undefined ? { inheritedObjectType } : {}),
      ...(applicationData !== undefined ? { applicationData } : {}),
    };
  } else {
    ace = { type, flags, body: sub.bytesCopy(sub.remaining, field) };
  }
  r.seek(end);
  return ace;
}

function writeAcl(w: ByteWriter, acl: Acl): void {
  const start = w.offset;
  if (acl.aces.length > 0xffff) malformed(ProtocolErrorCode.LIMIT, "ACL", `${acl.aces.length} ACEs`);
  w.u8(acl.revision);
  w.u8(0);
  w.u16(0); // size, patched
  w.u16(acl.aces.length);
  w.u16(0);
  for (const ace of acl.aces) writeAce(w, ace);
  const size = w.offset - start;
  if (size > 0xffff) malformed(ProtocolErrorCode.LIMIT, "ACL", `${size} bytes exceed 65535`);
  w.patchU16(start + 2, size);
}

function readAcl(r: ByteReader, field: string): Acl {
  const start = r.offset;
  const revision = r.u8(field);
  if (revision < 2 || revision > 4) malformed(ProtocolErrorCode.VALUE, r.what, `${field} revision ${revision}, expected 2..4`);
  r.u8(field);
  const size = r.u16(field);
  const count = r.u16(field);
  r.u16(field);
  if (size < 8 || start + size > r.length) {
    malformed(ProtocolErrorCode.LENGTH, r.what, `${field} size ${size} does not fit (${r.length - start} bytes from its start)`);
  }
  const end = start + size;
  const aces: AnyAce[] = [];
  for (let i = 0; i < count; i++) aces.push(readAce(r, end, i));
  // Bytes between the last ACE and AclSize are free space; Windows allows them.
  return { revision, aces };
}

/** Bytes of an ACL in binary form. */
export function encodeAcl(acl: Acl): Uint8Array {
  const w = new ByteWriter();
  writeAcl(w, acl);
  return w.finish();
}

/** An ACL from binary form (free space after the last ACE is allowed and dropped). */
export function decodeAcl(bytes: Uint8Array): Acl {
  return readAcl(new ByteReader(bytes, "ACL"), "ACL");
}

// ---- security descriptors ----

/**
 * A security descriptor. For each ACL, `undefined` means "not present"
 * (the control bit clear) and `null` means "present but NULL" (a NULL DACL
 * grants everyone everything). Encoding derives SE_DACL_PRESENT,
 * SE_SACL_PRESENT and SE_SELF_RELATIVE from the fields.
 */
export interface SecurityDescriptor {
  /** Control bits other than the three derived ones (they are ignored here). */
  readonly control: number;
  /** The resource-manager control byte (Sbz1), meaningful with SE_RM_CONTROL_VALID. */
  readonly rmControl?: number;
  readonly owner?: Sid | undefined;
  readonly group?: Sid | undefined;
  readonly sacl?: Acl | null | undefined;
  readonly dacl?: Acl | null | undefined;
}

const DERIVED_CONTROL = SeControl.SE_DACL_PRESENT | SeControl.SE_SACL_PRESENT | SeControl.SE_SELF_RELATIVE;

/** The control word an encoded descriptor carries. */
export function encodedControl(sd: SecurityDescriptor): number {
  let control = (sd.control & ~DERIVED_CONTROL) | SeControl.SE_SELF_RELATIVE;
  if (sd.dacl !== undefined) control |= SeControl.SE_DACL_PRESENT;
  if (sd.sacl !== undefined) control |= SeControl.SE_SACL_PRESENT;
  return control;
}

/**
 * Writes a self-relative descriptor at the writer's position. Parts follow
 * the header in Samba's order (owner, group, SACL, DACL), so the bytes match
 * what Samba's NDR writes. `offsetBias` is added to every part offset: 0 for
 * a standalone descriptor; the descriptor's position in the enclosing blob
 * for Samba's `security.NTACL`, whose offsets count from the blob start.
 */
export function writeSecurityDescriptor(w: ByteWriter, sd: SecurityDescriptor, offsetBias = 0): void {
  const start = w.offset;
  w.u8(SECURITY_DESCRIPTOR_REVISION);
  w.u8(sd.rmControl ?? 0);
  w.u16(encodedControl(sd));
  const offsetsAt = w.offset;
  w.zeros(16);
  const place = (slot: number, write: () => void): void => {
    w.align(4, start);
    w.patchU32(offsetsAt + slot * 4, w.offset - start + offsetBias);
    write();
  };
  if (sd.owner !== undefined) place(0, () => writeSid(w, sd.owner!));
  if (sd.group !== undefined) place(1, () => writeSid(w, sd.group!));
  if (sd.sacl) place(2, () => writeAcl(w, sd.sacl!));
  if (sd.dacl) place(3, () => writeAcl(w, sd.dacl!));
}

/** A standalone self-relative security descriptor in binary form. */
export function encodeSecurityDescriptor(sd: SecurityDescriptor): Uint8Array {
  const w = new ByteWriter(256);
  writeSecurityDescriptor(w, sd);
  return w.finish();
}

/**
 * Reads a self-relative descriptor whose header is at `sdOffset` in `blob`;
 * part offsets count from `offsetBase` (equal to `sdOffset` for a standalone
 * descriptor, 0 inside Samba's `security.NTACL`). Returns the descriptor and
 * the offset just past its furthest part.
 */
export function readSecurityDescriptor(
  blob: Uint8Array,
  sdOffset: number,
  offsetBase: number,
  what = "security descriptor",
): { sd: SecurityDescriptor; end: number } {
  const r = new ByteReader(blob, what, sdOffset);
  const revision = r.u8("revision");
  if (revision !== SECURITY_DESCRIPTOR_REVISION) malformed(ProtocolErrorCode.VALUE, what, `revision ${revision}, expected 1`);
  const rmControl = r.u8("sbz1");
  const control = r.u16("control");
  if ((control & SeControl.SE_SELF_RELATIVE) === 0) {
    malformed(ProtocolErrorCode.VALUE, what, "not self-relative (SE_SELF_RELATIVE clear)");
  }
  const offOwner = r.u32("owner offset");
  const offGroup = r.u32("group offset");
  const offSacl = r.u32("SACL offset");
  const offDacl = r.u32("DACL offset");
  let end = r.offset;
  const at = (offset: number, field: string): ByteReader => {
    const abs = offsetBase + offset;
    if (abs < sdOffset + 20 || abs >= blob.byteLength) {
      malformed(ProtocolErrorCode.LENGTH, what, `${field} offset ${offset} points outside the descriptor`);
    }
    return new ByteReader(blob, what, abs);
  };
  const track = (rr: ByteReader): void => {
    end = Math.max(end, rr.offset);
  };
  let owner: Sid | undefined;
  let group: Sid | undefined;
  let sacl: Acl | null | undefined;
  let dacl: Acl | null | undefined;
  if (offOwner !== 0) {
    const rr = at(offOwner, "owner");
    owner = readSid(rr, "owner");
    track(rr);
  }
  if (offGroup !== 0) {
    const rr = at(offGroup, "group");
    group = readSid(rr, "group");
    track(rr);
  }
  if (control & SeControl.SE_SACL_PRESENT) {
    if (offSacl === 0) sacl = null;
    else {
      const rr = at(offSacl, "SACL");
      sacl = readAcl(rr, "SACL");
      track(rr);
    }
  }
  if (control & SeControl.SE_DACL_PRESENT) {
    if (offDacl === 0) dacl = null;
    else {
      const rr = at(offDacl, "DACL");
      dacl = readAcl(rr, "DACL");
      track(rr);
    }
  }
  const sd: SecurityDescriptor = {
    control: control & ~DERIVED_CONTROL,
    ...(rmControl !== 0 ? { rmControl } : {}),
    ...(owner !== undefined ? { owner } : {}),
    ...(group !== undefined ? { group } : {}),
    ...(sacl !== undefined ? { sacl } : {}),
    ...(dacl !== undefined ? { dacl } : {}),
  };
  return { sd, end };
}

/** A standalone self-relative security descriptor from binary form. Bytes after its parts are allowed. */
export function decodeSecurityDescriptor(bytes: Uint8Array): SecurityDescriptor {
  return readSecurityDescriptor(bytes, 0, 0).sd;
}

/** Structural equality of two descriptors (control compared without the derived bits). */
export function securityDescriptorEquals(a: SecurityDescriptor, b: SecurityDescriptor): boolean {
  return Buffer.from(encodeSecurityDescriptor(a)).equals(Buffer.from(encodeSecurityDescriptor(b)));
}

// ---- generic mapping and SECURITY_INFORMATION ----

/** The file object generic mapping (IoGetFileObjectGenericMapping). */
export const FILE_GENERIC_MAPPING = {
  read: AccessMask.FILE_GENERIC_READ,
  write: AccessMask.FILE_GENERIC_WRITE,
  execute: AccessMask.FILE_GENERIC_EXECUTE,
  all: AccessMask.FILE_ALL_ACCESS,
} as const;

/** RtlMapGenericMask: replaces GENERIC_* bits by the rights they stand for. */
export function mapGenericMask(mask: number, mapping = FILE_GENERIC_MAPPING): number {
  let out = mask & 0x0fffffff;
  if (mask & AccessMask.GENERIC_READ) out |= mapping.read;
  if (mask & AccessMask.GENERIC_WRITE) out |= mapping.write;
  if (mask & AccessMask.GENERIC_EXECUTE) out |= mapping.execute;
  if (mask & AccessMask.GENERIC_ALL) out |= mapping.all;
  return out >>> 0;
}

function mapAclGeneric(acl: Acl | null | undefined): Acl | null | undefined {
  if (!acl) return acl;
  return {
    revision: acl.revision,
    aces: acl.aces.map((ace) =>
      isOpaqueAce(ace) || (ace.flags & AceFlag.INHERIT_ONLY) !== 0 ? ace : { ...ace, mask: mapGenericMask(ace.mask) },
    ),
  };
}

/**
 * The parts of a descriptor a GetSecurity with `info` returns: unrequested
 * owner/group are absent, an unrequested DACL/SACL is "not present".
 */
export function filterSecurityDescriptor(sd: SecurityDescriptor, info: number): SecurityDescriptor {
  const I = SecurityInformation;
  const C = SeControl;
  let control = sd.control;
  if (!(info & I.DACL)) control &= ~(C.SE_DACL_AUTO_INHERIT_REQ | C.SE_DACL_AUTO_INHERITED | C.SE_DACL_PROTECTED | C.SE_DACL_DEFAULTED);
  if (!(info & I.SACL)) control &= ~(C.SE_SACL_AUTO_INHERIT_REQ | C.SE_SACL_AUTO_INHERITED | C.SE_SACL_PROTECTED | C.SE_SACL_DEFAULTED);
  if (!(info & I.OWNER)) control &= ~C.SE_OWNER_DEFAULTED;
  if (!(info & I.GROUP)) control &= ~C.SE_GROUP_DEFAULTED;
  return {
    control,
    ...(sd.rmControl !== undefined ? { rmControl: sd.rmControl } : {}),
    ...(info & I.OWNER && sd.owner !== undefined ? { owner: sd.owner } : {}),
    ...(info & I.GROUP && sd.group !== undefined ? { group: sd.group } : {}),
    ...(info & I.SACL && sd.sacl !== undefined ? { sacl: sd.sacl } : {}),
    ...(info & I.DACL && sd.dacl !== undefined ? { dacl: sd.dacl } : {}),
  };
}

/**
 * What SetSecurity stores: `current` with the parts named by `info` taken
 * from `modification` (the way SetPrivateObjectSecurity does it for a file,
 * without inheritance propagation): owner and group replace when given; a
 * DACL/SACL replaces together with its control bits (PROTECTED,
 * AUTO_INHERITED, AUTO_INHERIT_REQ), GENERIC_* rights in effective ACEs are
 * mapped through the file generic mapping (so `GA` reads back as `FA`), and
 * PROTECTED_/UNPROTECTED_DACL (SACL) in `info` set or clear SE_*_PROTECTED.
 */
export function applySecurity(current: SecurityDescriptor, info: number, modification: SecurityDescriptor): SecurityDescriptor {
  const I = SecurityInformation;
  const C = SeControl;
  const daclBits = C.SE_DACL_AUTO_INHERIT_REQ | C.SE_DACL_AUTO_INHERITED | C.SE_DACL_PROTECTED | C.SE_DACL_DEFAULTED;
  const saclBits = C.SE_SACL_AUTO_INHERIT_REQ | C.SE_SACL_AUTO_INHERITED | C.SE_SACL_PROTECTED | C.SE_SACL_DEFAULTED;
  let control = current.control;
  let owner = current.owner;
  let group = current.group;
  let dacl = current.dacl;
  let sacl = current.sacl;
  if (info & I.OWNER && modification.owner !== undefined) {
    owner = modification.owner;
    control = (control & ~C.SE_OWNER_DEFAULTED) | (modification.control & C.SE_OWNER_DEFAULTED);
  }
  if (info & I.GROUP && modification.group !== undefined) {
    group = modification.group;
    control = (control & ~C.SE_GROUP_DEFAULTED) | (modification.control & C.SE_GROUP_DEFAULTED);
  }
  if (info & I.DACL) {
    dacl = mapAclGeneric(modification.dacl);
    control = (control & ~daclBits) | (modification.control & daclBits);
    if (info & I.PROTECTED_DACL) control |= C.SE_DACL_PROTECTED;
    if (info & I.UNPROTECTED_DACL) control &= ~C.SE_DACL_PROTECTED;
  }
  if (info & I.SACL) {
    sacl = mapAclGeneric(modification.sacl);
    control = (control & ~saclBits) | (modification.control & saclBits);
    if (info & I.PROTECTED_SACL) control |= C.SE_SACL_PROTECTED;
    if (info & I.UNPROTECTED_SACL) control &= ~C.SE_SACL_PROTECTED;
  }
  return {
    control,
    ...(current.rmControl !== undefined ? { rmControl: current.rmControl } : {}),
    ...(owner !== undefined ? { owner } : {}),
    ...(group !== undefined ? { group } : {}),
    ...(sacl !== undefined ? { sacl } : {}),
    ...(dacl !== undefined ? { dacl } : {}),
  };
}
