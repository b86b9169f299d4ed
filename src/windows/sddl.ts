/**
 * Security Descriptor Definition Language, both ways, with the behaviour of
 * advapi32's ConvertStringSecurityDescriptorToSecurityDescriptorW and
 * ConvertSecurityDescriptorToStringSecurityDescriptorW (SDDL_REVISION_1):
 *
 * - `O:sid G:sid D:flags(ace)… S:flags(ace)…`, each part at most once, in
 *   any order when parsing; written in the order O, G, D, S.
 * - ACL flags `P`, `AR`, `AI` (written in that order), and
 *   `NO_ACCESS_CONTROL` for a NULL ACL.
 * - ACE `type;flags;rights;object guid;inherit object guid;sid`.
 * - Rights as two-letter codes or a number (`0x…` hex or decimal). When
 *   writing, a mask equal to one composite code (`FA`, `FR`, `FW`, `FX`,
 *   `KA`, `KR`, `KW`, `KX`) or one single-bit code is written as that code;
 *   otherwise a mask made only of lettered bits is written as their codes in
 *   ascending bit order (`GXGR`, `CCDCLCSWRPWPDTLOCRSDRCWDWO`); anything else
 *   as `0x` and lower-case hex.
 * - Well-known SID aliases (`WD`, `SY`, `BA`, `BU`, `CO`, …); the
 *   domain-relative ones (`LA`, `DA`, `DU`, …) need a domain SID.
 *
 * Failures are {@link ProtocolError}s (the Win32 layer turns them into
 * ERROR_INVALID_PARAMETER, as Windows does for a malformed string).
 */
import { ProtocolErrorCode } from "../common/errors.js";
import { malformed } from "./bytes.js";
import { normalizeGuid } from "./guid.js";
import {
  ACL_REVISION,
  ACL_REVISION_DS,
  type Acl,
  type AnyAce,
  type Ace,
  AceFlag,
  AceType,
  AccessMask,
  formatSid,
  isOpaqueAce,
  parseSid,
  SecurityInformation,
  type SecurityDescriptor,
  SeControl,
  type Sid,
  sidEquals,
} from "./security.js";

const WHAT = "SDDL";

/** SID aliases that stand for one fixed SID. */
const SID_ALIASES: readonly (readonly [string, string])[] = [
  ["WD", "S-1-1-0"],
  ["CO", "S-1-3-0"],
  ["CG", "S-1-3-1"],
  ["OW", "S-1-3-4"],
  ["NU", "S-1-5-2"],
  ["IU", "S-1-5-4"],
  ["SU", "S-1-5-6"],
  ["AN", "S-1-5-7"],
  ["ED", "S-1-5-9"],
  ["PS", "S-1-5-10"],
  ["AU", "S-1-5-11"],
  ["RC", "S-1-5-12"],
  ["SY", "S-1-5-18"],
  ["LS", "S-1-5-19"],
  ["NS", "S-1-5-20"],
  ["WR", "S-1-5-33"],
  ["BA", "S-1-5-32-544"],
  ["BU", "S-1-5-32-545"],
  ["BG", "S-1-5-32-546"],
  ["PU", "S-1-5-32-547"],
  ["AO", "S-1-5-32-548"],
  ["SO", "S-1-5-32-549"],
  ["PO", "S-1-5-32-550"],
  ["BO", "S-1-5-32-551"],
  ["RE", "S-1-5-32-552"],
  ["RU", "S-1-5-32-554"],
  ["RD", "S-1-5-32-555"],
  ["NO", "S-1-5-32-556"],
  ["MU", "S-1-5-32-558"],
  ["LU", "S-1-5-32-559"],
  ["IS", "S-1-5-32-568"],
  ["CY", "S-1-5-32-569"],
  ["ER", "S-1-5-32-573"],
  ["CD", "S-1-5-32-574"],
  ["RA", "S-1-5-32-575"],
  ["ES", "S-1-5-32-576"],
  ["MS", "S-1-5-32-577"],
  ["HA", "S-1-5-32-578"],
  ["AA", "S-1-5-32-579"],
  ["RM", "S-1-5-32-580"],
  ["UD", "S-1-5-84-0-0-0-0-0"],
  ["AC", "S-1-15-2-1"],
  ["LW", "S-1-16-4096"],
  ["ME", "S-1-16-8192"],
  ["MP", "S-1-16-8448"],
  ["HI", "S-1-16-12288"],
  ["SI", "S-1-16-16384"],
  ["AS", "S-1-18-1"],
  ["SS", "S-1-18-2"],
];

/** SID aliases relative to the (machine or domain) SID given in the options. */
const DOMAIN_RID_ALIASES: readonly (readonly [string, number])[] = [
  ["RO", 498],
  ["LA", 500],
  ["LG", 501],
  ["DA", 512],
  ["DU", 513],
  ["DG", 514],
  ["DC", 515],
  ["DD", 516],
  ["CA", 517],
  ["SA", 518],
  ["EA", 519],
  ["PA", 520],
  ["CN", 522],
  ["AP", 525],
  ["KA", 526],
  ["EK", 527],
  ["RS", 553],
];

const ACE_TYPES: readonly (readonly [string, number])[] = [
  ["A", AceType.ACCESS_ALLOWED],
  ["D", AceType.ACCESS_DENIED],
  ["AU", AceType.SYSTEM_AUDIT],
  ["AL", AceType.SYSTEM_ALARM],
  ["OA", AceType.ACCESS_ALLOWED_OBJECT],
  ["OD", AceType.ACCESS_DENIED_OBJECT],
  ["OU", AceType.SYSTEM_AUDIT_OBJECT],
  ["OL", AceType.SYSTEM_ALARM_OBJECT],
  ["ML", AceType.SYSTEM_MANDATORY_LABEL],
  ["SP", AceType.SYSTEM_SCOPED_POLICY_ID],
];

/** ACE flags in the order Windows writes them (ascending bits). */
const ACE_FLAGS: readonly (readonly [string, number])[] = [
  ["OI", AceFlag.OBJECT_INHERIT],
  ["CI", AceFlag.CONTAINER_INHERIT],
  ["NP", AceFlag.NO_PROPAGATE_INHERIT],
  ["IO", AceFlag.INHERIT_ONLY],
  ["ID", AceFlag.INHERITED],
  ["CR", AceFlag.CRITICAL],
  ["SA", AceFlag.SUCCESSFUL_ACCESS],
  ["FA", AceFlag.FAILED_ACCESS],
];

/** Rights standing for one bit, ascending. */
const RIGHT_BITS: readonly (readonly [string, number])[] = [
  ["CC", 0x00000001],
  ["DC", 0x00000002],
  ["LC", 0x00000004],
  ["SW", 0x00000008],
  ["RP", 0x00000010],
  ["WP", 0x00000020],
  ["DT", 0x00000040],
  ["LO", 0x00000080],
  ["CR", 0x00000100],
  ["SD", AccessMask.DELETE],
  ["RC", AccessMask.READ_CONTROL],
  ["WD", AccessMask.WRITE_DAC],
  ["WO", AccessMask.WRITE_OWNER],
  ["GA", AccessMask.GENERIC_ALL],
  ["GX", AccessMask.GENERIC_EXECUTE],
  ["GW", AccessMask.GENERIC_WRITE],
  ["GR", AccessMask.GENERIC_READ],
];

/** Rights standing for a combination. */
const RIGHT_COMPOSITES: readonly (readonly [string, number])[] = [
  ["FA", AccessMask.FILE_ALL_ACCESS],
  ["FR", AccessMask.FILE_GENERIC_READ],
  ["FW", AccessMask.FILE_GENERIC_WRITE],
  ["FX", AccessMask.FILE_GENERIC_EXECUTE],
  ["KA", AccessMask.KEY_ALL_ACCESS],
  ["KR", AccessMask.KEY_READ],
  ["KW", AccessMask.KEY_WRITE],
  ["KX", AccessMask.KEY_EXECUTE],
];

/** Mandatory-label rights, used only in ML ACEs. */
const LABEL_RIGHTS: readonly (readonly [string, number])[] = [
  ["NW", AccessMask.SYSTEM_MANDATORY_LABEL_NO_WRITE_UP],
  ["NR", AccessMask.SYSTEM_MANDATORY_LABEL_NO_READ_UP],
  ["NX", AccessMask.SYSTEM_MANDATORY_LABEL_NO_EXECUTE_UP],
];

/** Options shared by parsing and formatting. */
export interface SddlOptions {
  /** The SID domain-relative aliases (`LA`, `DA`, `DU`, …) refer to; without it they are refused. */
  readonly domainSid?: Sid;
}

// ---- parsing ----

class Cursor {
  pos = 0;
  constructor(readonly text: string) {}
  get done(): boolean {
    return this.pos >= this.text.length;
  }
  peek(n = 1): string {
    return this.text.slice(this.pos, this.pos + n);
  }
  skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
  }
  fail(detail: string): never {
    return malformed(ProtocolErrorCode.VALUE, WHAT, `${detail} at offset ${this.pos} of ${JSON.stringify(this.text)}`);
  }
}

function parseSidToken(token: string, options: SddlOptions, c: Cursor): Sid {
  if (/^[sS]-/.test(token)) return parseSid(token);
  const upper = token;
  for (const [alias, text] of SID_ALIASES) if (alias === upper) return parseSid(text);
  for (const [alias, rid] of DOMAIN_RID_ALIASES) {
    if (alias === upper) {
      if (options.domainSid === undefined) c.fail(`SID alias ${alias} needs a domain SID`);
      return { authority: options.domainSid.authority, subAuthorities: [...options.domainSid.subAuthorities, rid] };
    }
  }
  return c.fail(`unknown SID ${JSON.stringify(token)}`);
}

/**
 * Reads the SID after `O:` or `G:`. Like advapi32, the value runs up to the
 * letter before the next `:` (or the end), so a hex authority such as
 * `S-1-0x000100000000` followed by `D:` is not misread.
 */
function readOwnerSid(c: Cursor, options: SddlOptions): Sid {
  c.skipSpace();
  const colon = c.text.indexOf(":", c.pos);
  const end = colon < 0 ? c.text.length : colon - 1;
  if (end <= c.pos) c.fail("missing SID");
  const token = c.text.slice(c.pos, end).trim();
  const at = c.pos;
  c.pos = end;
  try {
    return parseSidToken(token, options, c);
  } catch (e) {
    c.pos = at;
    throw e;
  }
}

function parseRights(token: string, isLabel: boolean, c: Cursor): number {
  if (/^0[xX][0-9a-fA-F]+$/.test(token)) return parseNumber(parseInt(token.slice(2), 16), c);
  if (/^\d+$/.test(token)) return parseNumber(Number(token), c);
  if (token.length % 2 !== 0) c.fail(`rights ${JSON.stringify(token)}`);
  let mask = 0;
  for (let i = 0; i < token.length; i += 2) {
    const code = token.slice(i, i + 2);
    const bit =
      RIGHT_BITS.find(([n]) => n === code)?.[1] ??
      RIGHT_COMPOSITES.find(([n]) => n === code)?.[1] ??
      (isLabel ? LABEL_RIGHTS.find(([n]) => n === code)?.[1] : undefined);
    if (bit === undefined) c.fail(`unknown right ${JSON.stringify(code)}`);
    mask |= bit;
  }
  return mask >>> 0;
}

function parseNumber(n: number, c: Cursor): number {
  if (!Number.isSafeInteger(n) || n > 0xffffffff) c.fail(`rights value ${n} exceeds 32 bits`);
  return n >>> 0;
}

function parseAce(body: string, options: SddlOptions, c: Cursor): Ace {
  const fields = body.split(";").map((f) => f.trim());
  if (fields.length !== 6) c.fail(`ACE ${JSON.stringify(body)} has ${fields.length} fields, expected 6`);
  const [typeText, flagText, rightsText, objectText, inheritText, sidText] = fields as [string, string, string, string, string, string];
  const type = ACE_TYPES.find(([n]) => n === typeText)?.[1];
  if (type === undefined) c.fail(`unsupported ACE type ${JSON.stringify(typeText)}`);
  let flags = 0;
  if (flagText.length % 2 !== 0) c.fail(`ACE flags ${JSON.stringify(flagText)}`);
  for (let i = 0; i < flagText.length; i += 2) {
    const f = ACE_FLAGS.find(([n]) => n === flagText.slice(i, i + 2))?.[1];
    if (f === undefined) c.fail(`unknown ACE flag ${JSON.stringify(flagText.slice(i, i + 2))}`);
    flags |= f;
  }
  const mask = parseRights(rightsText, type === AceType.SYSTEM_MANDATORY_LABEL, c);
  const isObject = type >= AceType.ACCESS_ALLOWED_OBJECT && type <= AceType.SYSTEM_ALARM_OBJECT;
  if (!isObject && (objectText !== "" || inheritText !== "")) c.fail(`object GUIDs in a non-object ACE ${JSON.stringify(body)}`);
  const objectType = objectText !== "" ? normalizeGuid(objectText, WHAT) : undefined;
  const inheritedObjectType = inheritText !== "" ? normalizeGuid(inheritText, WHAT) : undefined;
  if (sidText === "") c.fail(`ACE ${JSON.stringify(body)} has no SID`);
  const aceSid = parseSidToken(sidText, options, c);
  return {
    type,
    flags,
    mask,
    sid: aceSid,
    ...(objectType !== undefined ? { objectType } : {}),
    ...(inheritedObjectType !== undefined ? { inheritedObjectType } : {}),
  };
}

/** Reads ACL flags and ACEs after `D:`/`S:`; returns the ACL (null for NO_ACCESS_CONTROL) and the flags. */
function readAcl(c: Cursor, options: SddlOptions): { acl: Acl | null; flags: { p: boolean; ar: boolean; ai: boolean } } {
  const flags = { p: false, ar: false, ai: false };
  let isNull = false;
  for (;;) {
    c.skipSpace();
    if (c.peek(17) === "NO_ACCESS_CONTROL") {
      isNull = true;
      c.pos += 17;
    } else if (c.peek(2) === "AR") {
      flags.ar = true;
      c.pos += 2;
    } else if (c.peek(2) === "AI") {
      flags.ai = true;
      c.pos += 2;
    } else if (c.peek(1) === "P" && c.peek(2) !== "P:") {
      flags.p = true;
      c.pos += 1;
    } else break;
  }
  const aces: Ace[] = [];
  for (;;) {
    c.skipSpace();
    if (c.peek() !== "(") break;
    const close = c.text.indexOf(")", c.pos);
    if (close < 0) c.fail("unterminated ACE");
    aces.push(parseAce(c.text.slice(c.pos + 1, close), options, c));
    c.pos = close + 1;
  }
  if (isNull && aces.length > 0) c.fail("NO_ACCESS_CONTROL with ACEs");
  if (isNull) return { acl: null, flags };
  const revision = aces.some((a) => a.objectType !== undefined || a.inheritedObjectType !== undefined || (a.type >= 5 && a.type <= 8))
    ? ACL_REVISION_DS
    : ACL_REVISION;
  return { acl: { revision, aces }, flags };
}

/**
 * ConvertStringSecurityDescriptorToSecurityDescriptorW: an SDDL string to a
 * descriptor. Parts that are not in the string are absent.
 */
export function parseSddl(text: string, options: SddlOptions = {}): SecurityDescriptor {
  const c = new Cursor(text);
  const C = SeControl;
  let control = 0;
  let owner: Sid | undefined;
  let group: Sid | undefined;
  let dacl: Acl | null | undefined;
  let sacl: Acl | null | undefined;
  for (;;) {
    c.skipSpace();
    if (c.done) break;
    const tag = c.peek(2);
    c.pos += 2;
    switch (tag) {
      case "O:":
        if (owner !== undefined) c.fail("owner given twice");
        owner = readOwnerSid(c, options);
        break;
      case "G:":
        if (group !== undefined) c.fail("group given twice");
        group = readOwnerSid(c, options);
        break;
      case "D:": {
        if (dacl !== undefined) c.fail("DACL given twice");
        const { acl, flags } = readAcl(c, options);
        dacl = acl;
        if (flags.p) control |= C.SE_DACL_PROTECTED;
        if (flags.ar) control |= C.SE_DACL_AUTO_INHERIT_REQ;
        if (flags.ai) control |= C.SE_DACL_AUTO_INHERITED;
        break;
      }
      case "S:": {
        if (sacl !== undefined) c.fail("SACL given twice");
        const { acl, flags } = readAcl(c, options);
        sacl = acl;
        if (flags.p) control |= C.SE_SACL_PROTECTED;
        if (flags.ar) control |= C.SE_SACL_AUTO_INHERIT_REQ;
        if (flags.ai) control |= C.SE_SACL_AUTO_INHERITED;
        break;
      }
      default:
        c.pos -= 2;
        c.fail(`expected O:, G:, D: or S:, found ${JSON.stringify(tag)}`);
    }
  }
  return {
    control,
    ...(owner !== undefined ? { owner } : {}),
    ...(group !== undefined ? { group } : {}),
    ...(sacl !== undefined ? { sacl } : {}),
    ...(dacl !== undefined ? { dacl } : {}),
  };
}

// ---- formatting ----

function sidText(s: Sid, options: SddlOptions): string {
  const text = formatSid(s);
  for (const [alias, aliasSid] of SID_ALIASES) if (aliasSid === text) return alias;
  const d = options.domainSid;
  if (d !== undefined && s.subAuthorities.length === d.subAuthorities.length + 1) {
    const prefix: Sid = { authority: s.authority, subAuthorities: s.subAuthorities.slice(0, -1) };
    if (sidEquals(prefix, d)) {
      const rid = s.subAuthorities[s.subAuthorities.length - 1];
      const alias = DOMAIN_RID_ALIASES.find(([, r]) => r === rid)?.[0];
      if (alias !== undefined) return alias;
    }
  }
  return text;
}

function rightsText(mask: number, isLabel: boolean): string {
  const m = mask >>> 0;
  if (isLabel) {
    const exact = LABEL_RIGHTS.find(([, v]) => v === m);
    if (exact) return exact[0];
    if ((m & ~0x7) === 0 && m !== 0) return LABEL_RIGHTS.filter(([, v]) => m & v).map(([n]) => n).join("");
  }
  const composite = RIGHT_COMPOSITES.find(([, v]) => v === m);
  if (composite) return composite[0];
  let covered = 0;
  let out = "";
  for (const [name, bit] of RIGHT_BITS) {
    if ((m & bit) >>> 0 === bit) {
      out += name;
      covered |= bit;
    }
  }
  if (m !== 0 && covered >>> 0 === m) return out;
  return `0x${m.toString(16)}`;
}

function aceText(ace: AnyAce, options: SddlOptions): string {
  if (isOpaqueAce(ace)) return malformed(ProtocolErrorCode.VALUE, WHAT, `ACE type 0x${ace.type.toString(16)} has no SDDL form`);
  const type = ACE_TYPES.find(([, v]) => v === ace.type)?.[0];
  if (type === undefined) return malformed(ProtocolErrorCode.VALUE, WHAT, `ACE type 0x${ace.type.toString(16)} has no SDDL form`);
  let flags = "";
  let covered = 0;
  for (const [name, bit] of ACE_FLAGS) {
    if (ace.flags & bit) {
      flags += name;
      covered |= bit;
    }
  }
  if (covered !== ace.flags) malformed(ProtocolErrorCode.VALUE, WHAT, `ACE flags 0x${ace.flags.toString(16)} have no SDDL form`);
  const rights = rightsText(ace.mask, ace.type === AceType.SYSTEM_MANDATORY_LABEL);
  return `(${type};${flags};${rights};${ace.objectType ?? ""};${ace.inheritedObjectType ?? ""};${sidText(ace.sid, options)})`;
}

function aclText(acl: Acl | null, p: boolean, ar: boolean, ai: boolean, options: SddlOptions): string {
  let out = `${p ? "P" : ""}${ar ? "AR" : ""}${ai ? "AI" : ""}`;
  if (acl === null) return `${out}NO_ACCESS_CONTROL`;
  for (const ace of acl.aces) out += aceText(ace, options);
  return out;
}

/**
 * ConvertSecurityDescriptorToStringSecurityDescriptorW: the SDDL of the parts
 * named by `info` (default: owner, group, DACL and SACL) that are present.
 */
export function formatSddl(
  sd: SecurityDescriptor,
  info: number = SecurityInformation.OWNER | SecurityInformation.GROUP | SecurityInformation.DACL | SecurityInformation.SACL,
  options: SddlOptions = {},
): string {
  const C = SeControl;
  const I = SecurityInformation;
  let out = "";
  if (info & I.OWNER && sd.owner !== undefined) out += `O:${sidText(sd.owner, options)}`;
  if (info & I.GROUP && sd.group !== undefined) out += `G:${sidText(sd.group, options)}`;
  if (info & I.DACL && sd.dacl !== undefined) {
    const c = sd.control;
    out += `D:${aclText(sd.dacl, (c & C.SE_DACL_PROTECTED) !== 0, (c & C.SE_DACL_AUTO_INHERIT_REQ) !== 0, (c & C.SE_DACL_AUTO_INHERITED) !== 0, options)}`;
  }
  if (info & (I.SACL | I.LABEL) && sd.sacl !== undefined) {
    const c = sd.control;
    out += `S:${aclText(sd.sacl, (c & C.SE_SACL_PROTECTED) !== 0, (c & C.SE_SACL_AUTO_INHERIT_REQ) !== 0, (c & C.SE_SACL_AUTO_INHERITED) !== 0, options)}`;
  }
  return out;
}
