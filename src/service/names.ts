/**
 * Windows names in the service, and how they map onto host names.
 *
 * Windows side: WinFsp volume-relative names, `\` the root, components
 * separated by `\`, at most 255 UTF-16 units each (VolumeParams
 * maxComponentLength), a named stream only in the last component
 * (`\dir\file:stream`, the FSD having dropped `:$DATA`).
 *
 * Host side: one UTF-8 name per component, at most 255 bytes (NAME_MAX), any
 * byte but NUL and `/`. The mapping between the two:
 *
 * - A Windows name is encoded as UTF-8 (a lone surrogate, which has no
 *   UTF-8, is STATUS_OBJECT_NAME_INVALID). A name of 255 UTF-16 units can
 *   need up to 765 bytes; one whose UTF-8 exceeds the host's 255 bytes is
 *   stored under a **long-name host name** (below), with the full name in
 *   the xattr {@link LONG_NAME_XATTR} of the file.
 *
 * Long names. The host name of a long name `N` (its host spelling, in
 * UTF-8, over 255 bytes) is
 *
 *     <prefix>:viofs-<hash>
 *
 * where `<hash>` is the first 20 bytes of SHA-256 over the UTF-8 of `N`
 * in RFC 4648 base32 (upper case, 32 characters, no padding), and
 * `<prefix>` is the longest run of whole characters from the start of `N`
 * whose UTF-8 fits in 255 − 39 = 216 bytes, so `ls` on the host still shows
 * what the file is. The name is a function of `N` alone, so a lookup
 * computes it with no listing. The file's xattr `user.viofs:name` holds the
 * UTF-8 of `N` (no terminator); listings show `N` where that xattr is
 * present, decodes, and hashes to the name's `<hash>` (so a copied or
 * hard-linked file keeps no wrong name), and the host name as it is
 * otherwise (which then opens that file as any ordinary name does). No new
 * file gets an ordinary name (≤ 255 bytes) that ends in `:viofs-` and 32
 * base32 characters (STATUS_OBJECT_NAME_INVALID; {@link mayCreateName}),
 * so an ordinary name never takes a long name's place: `:` is a character
 * Windows names hold only as U+F03A. A long name needs a host file that takes
 * `user.*` xattrs (a file or directory, on a backend with xattrs): where it
 * cannot be kept, creating or renaming to it is STATUS_OBJECT_NAME_INVALID.
 * - Characters Windows forbids in names (below 0x20 and `"*:<>?\|`, plus `/`)
 *   are refused with STATUS_OBJECT_NAME_INVALID, as are `.` and `..`.
 * - Host names holding characters Windows cannot show are listed with the
 *   private-use mapping Cygwin, WinFsp's FUSE layer and SFU use: character c
 *   appears as U+F000 + c, and such a name maps back to the host byte when
 *   opened. A Windows name holding U+F000 + `/` or + NUL has no host
 *   spelling and is refused. Host names that are not valid UTF-8 have no
 *   Windows spelling and are left out of listings.
 */
import { createHash } from "node:crypto";
import { NtStatus } from "../windows/ntstatus.js";
import { parseStreamSuffix } from "../windows/streams.js";
import { upcase } from "../winfsp/wildcard.js";
import { ntFail, ntOk, type NtResult } from "../winfsp/interface.js";

/** The longest component, in UTF-16 units on Windows and in bytes on the host. */
export const NAME_MAX = 255;

/** The base of the private-use block that stands for characters Windows forbids. */
const PRIVATE_BASE = 0xf000;

/** A volume-relative name split into its parts. */
export interface WindowsPath {
  /** The components after the root; empty for the root itself. */
  readonly components: readonly string[];
  /** The bare stream name of `\file:stream`; `null` for the main stream. */
  readonly stream: string | null;
}

/** True for a UTF-16 unit Windows forbids in a file name (FsRtl's legal-character table for ASCII). */
function forbiddenUnit(c: number): boolean {
  return c < 0x20 || c === 0x22 || c === 0x2a || c === 0x2f || c === 0x3a || c === 0x3c || c === 0x3e || c === 0x3f || c === 0x5c || c === 0x7c;
}

/**
 * Checks one Windows component: 1..255 units, no forbidden character, not
 * `.` or `..`. Answers STATUS_OBJECT_NAME_INVALID otherwise.
 */
export function checkComponent(name: string): NtResult<string> {
  if (name.length === 0 || name.length > NAME_MAX || name === "." || name === "..") return ntFail(NtStatus.STATUS_OBJECT_NAME_INVALID);
  for (let i = 0; i < name.length; i++) if (forbiddenUnit(name.charCodeAt(i))) return ntFail(NtStatus.STATUS_OBJECT_NAME_INVALID);
  return ntOk(name);
}

/**
 * Parses a volume-relative name: `\`, `\a\b`, `\a\b:s`, `\a\b:s:$DATA`,
 * `\a\b::$DATA` (the main stream). Anything else is STATUS_OBJECT_NAME_INVALID:
 * no leading `\`, an empty component, a forbidden character, a `:` outside
 * the last component, a stream type other than `$DATA`.
 */
export function parseWindowsPath(fileName: string): NtResult<WindowsPath> {
  if (fileName.length === 0 || fileName.charCodeAt(0) !== 0x5c) return ntFail(NtStatus.STATUS_OBJECT_NAME_INVALID);
  if (fileName === "\\") return ntOk({ components: [], stream: null });
  const colon = fileName.indexOf(":");
  const path = colon < 0 ? fileName : fileName.slice(0, colon);
  let stream: string | null = null;
  if (colon >= 0) {
    const parsed = parseStreamSuffix(fileName.slice(colon + 1));
    if (parsed === undefined || parsed.length > NAME_MAX) return ntFail(NtStatus.STATUS_OBJECT_NAME_INVALID);
    stream = parsed === "" ? null : parsed;
  }
  const components = path === "\\" ? [] : path.slice(1).split("\\");
  for (const c of components) {
    const checked = checkComponent(c);
    if (!checked.ok) return checked;
  }
  return ntOk({ components, stream });
}

/** Joins components into a volume-relative name (`\` for none), with `:stream` when given. */
export function joinWindowsPath(components: readonly string[], stream: string | null = null): string {
  const main = components.length === 0 ? "\\" : `\\${components.join("\\")}`;
  return stream === null ? main : `${main}:${stream}`;
}

/** The last component of a path, `""` for the root. */
export function lastComponent(components: readonly string[]): string {
  return components.length === 0 ? "" : components[components.length - 1]!;
}

/**
 * The host name of a checked Windows component: private-use characters
 * mapped back; a long name's host name when its UTF-8 exceeds 255 bytes.
 * STATUS_OBJECT_NAME_INVALID when the host cannot spell it.
 */
export function hostNameOf(windowsName: string): NtResult<string> {
  const host = spell(windowsName);
  if (!host.ok) return host;
  if (Buffer.byteLength(host.value, "utf8") > NAME_MAX) return ntOk(longHostName(host.value));
  return host;
}

/**
 * Whether a new file may be given the Windows name `windowsName`, whose
 * host name is `host`: not when the name is ordinary but looks like a long
 * name's host name (see the module comment).
 */
export function mayCreateName(windowsName: string, host: string): boolean {
  return longNameValue(windowsName) !== null || !LONG_NAME_PATTERN.test(host);
}

/**
 * The value of {@link LONG_NAME_XATTR} for a Windows name that needs a long
 * host name (the UTF-8 of its full host spelling); null for a name that
 * fits the host as it is, or has no host spelling.
 */
export function longNameValue(windowsName: string): Uint8Array | null {
  const host = spell(windowsName);
  if (!host.ok) return null;
  const bytes = Buffer.from(host.value, "utf8");
  return bytes.length > NAME_MAX ? new Uint8Array(bytes) : null;
}

/** The full host spelling of a checked Windows component, before any length limit. */
function spell(windowsName: string): NtResult<string> {
  let host = "";
  for (let i = 0; i < windowsName.length; i++) {
    const c = windowsName.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = windowsName.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return ntFail(NtStatus.STATUS_OBJECT_NAME_INVALID);
      host += windowsName[i]! + windowsName[i + 1]!;
      i++;
      continue;
    }
    if (c >= 0xdc00 && c <= 0xdfff) return ntFail(NtStatus.STATUS_OBJECT_NAME_INVALID);
    if (c >= PRIVATE_BASE && c < PRIVATE_BASE + 0x80 && forbiddenUnit(c - PRIVATE_BASE)) {
      const ascii = c - PRIVATE_BASE;
      if (ascii === 0 || ascii === 0x2f) return ntFail(NtStatus.STATUS_OBJECT_NAME_INVALID);
      host += String.fromCharCode(ascii);
      continue;
    }
    host += windowsName[i]!;
  }
  if (host === "." || host === "..") return ntFail(NtStatus.STATUS_OBJECT_NAME_INVALID);
  return ntOk(host);
}

/** The xattr holding a long name's full host spelling (see the module comment). */
export const LONG_NAME_XATTR = "user.viofs:name";

const LONG_MARKER = ":viofs-";
const HASH_CHARS = 32;
const LONG_NAME_PATTERN = /:viofs-[A-Z2-7]{32}$/;
const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** RFC 4648 base32 of `bytes` (a multiple of 5 bytes long: no padding). */
function base32(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i + 5 <= bytes.length; i += 5) {
    let v = 0n;
    for (let j = 0; j < 5; j++) v = (v << 8n) | BigInt(bytes[i + j]!);
    for (let k = 7; k >= 0; k--) out += BASE32[Number((v >> BigInt(k * 5)) & 31n)];
  }
  return out;
}

/** The host name a long host spelling is stored under (see the module comment). */
export function longHostName(full: string): string {
  const hash = base32(createHash("sha256").update(full, "utf8").digest().subarray(0, 20));
  const budget = NAME_MAX - LONG_MARKER.length - HASH_CHARS;
  let prefix = "";
  let bytes = 0;
  for (const ch of full) {
    const n = Buffer.byteLength(ch, "utf8");
    if (bytes + n > budget) break;
    prefix += ch;
    bytes += n;
  }
  return `${prefix}${LONG_MARKER}${hash}`;
}

/** Whether a host name has the form of a long name's. */
export function isLongHostName(host: string): boolean {
  return LONG_NAME_PATTERN.test(host) && Buffer.byteLength(host, "utf8") <= NAME_MAX;
}

/**
 * The full host spelling a long-name host name stands for, given the value
 * of its {@link LONG_NAME_XATTR} (undefined when absent): the value when it
 * is valid UTF-8, longer than 255 bytes and maps to exactly `host`;
 * otherwise undefined (show the host name as it is).
 */
export function longNameFromXattr(host: string, value: Uint8Array | undefined): string | undefined {
  if (value === undefined || value.length <= NAME_MAX) return undefined;
  let full: string;
  try {
    full = strictUtf8.decode(value);
  } catch {
    return undefined;
  }
  return longHostName(full) === host ? full : undefined;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The Windows spelling of a host name (raw bytes from READDIR, or a string
 * already decoded): characters Windows forbids become U+F000 + c. Undefined
 * for names that are not valid UTF-8, and for `.` and `..`.
 */
export function windowsNameOf(host: Uint8Array | string): string | undefined {
  let text: string;
  if (typeof host === "string") text = host;
  else {
    try {
      text = strictUtf8.decode(host);
    } catch {
      return undefined;
    }
  }
  if (text === "." || text === "..") return undefined;
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    out += forbiddenUnit(c) ? String.fromCharCode(PRIVATE_BASE + c) : text[i]!;
  }
  return out;
}

/** The comparison key of a name on a case-insensitive volume: NT-style simple upper case per unit. */
export function foldName(name: string): string {
  return upcase(name);
}
