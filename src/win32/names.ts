/**
 * Names as the Windows I/O path sees them:
 *
 * - Win32 paths (`X:\dir\file`, `\\?\X:\dir\file`, relative ones) become NT
 *   paths (`\??\X:\dir\file`) the way RtlDosPathNameToNtPathName does it:
 *   `\\?\` paths are taken verbatim, every other path is made absolute
 *   against the current directory and normalized (`/` becomes `\`, `.` and
 *   `..` fold, runs of separators collapse, trailing dots and spaces leave
 *   each component; a trailing `\` is kept).
 * - The WinFsp FSD's validation of a volume-relative name
 *   (src/sys/name.c, FspFileNameIsValid): legal characters (the FsRtl NTFS
 *   table for ASCII, everything else legal), no `\\` inside, components of at
 *   most MaxComponentLength UTF-16 units, and the stream syntax
 *   `name:stream`, `name:stream:$DATA`, `name::$DATA` only in the last
 *   component.
 * - Directory patterns (FspFileNameIsValidPattern) and the DOS-wildcard
 *   translation Win32 FindFirstFile applies before a pattern reaches the FSD.
 */
import { upcase } from "../winfsp/wildcard.js";

const BACKSLASH = 0x5c;
const COLON = 0x3a;

/**
 * The FsRtl legal-character classes of an ASCII character, as far as the FSD
 * asks about them: legal in an NTFS file name, legal in a stream name, a
 * wildcard.
 */
function asciiClass(c: number): { ntfs: boolean; stream: boolean; wild: boolean } {
  if (c === 0) return { ntfs: false, stream: false, wild: false };
  if (c < 0x20) return { ntfs: false, stream: true, wild: false };
  switch (c) {
    case 0x22: // "
    case 0x2a: // *
    case 0x3c: // <
    case 0x3e: // >
    case 0x3f: // ?
      return { ntfs: false, stream: true, wild: true };
    case 0x7c: // |
      return { ntfs: false, stream: true, wild: false };
    case 0x2f: // /
    case 0x5c: // \
    case 0x3a: // :
      return { ntfs: false, stream: false, wild: false };
    default:
      return { ntfs: true, stream: true, wild: false };
  }
}

/** The result of parsing a volume-relative name the FSD accepted. */
export interface ParsedName {
  /**
   * The file node name: the name with `:$DATA` removed so that a named
   * stream has a single colon (`\file0:foo`), `\file0::$DATA` reduced to
   * `\file0`, and one trailing backslash removed.
   */
  readonly fileName: string;
  /** A single trailing `\` was removed (the root `\` keeps its backslash). */
  readonly hasTrailingBackslash: boolean;
  /** The bare stream name of a named stream, else `null` (also for `::$DATA`). */
  readonly streamName: string | null;
  /** The name ended in `:$DATA` (with or without a stream name). */
  readonly dataType: boolean;
}

/**
 * FspFileNameIsValid followed by the FSD's stream and trailing-backslash
 * handling (create.c). `null` when the name is invalid
 * (STATUS_OBJECT_NAME_INVALID). `namedStreams` false makes any `:` invalid.
 * The name must already be volume-relative (start with `\`); a leading `\\`
 * has been reduced by the caller.
 */
export function parseFileName(name: string, maxComponentLength: number, namedStreams: boolean): ParsedName | null {
  if (name.length === 0) return null;
  let colons = 0;
  let streamStart = -1;
  let streamEnd = -1;
  let typeStart = -1;
  let componentStart = 0;
  let streamChars = false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === BACKSLASH) {
      if (colons > 0) return null;
      if (i - componentStart > maxComponentLength) return null;
      componentStart = i + 1;
      if (i + 1 < name.length && name.charCodeAt(i + 1) === BACKSLASH) return null;
    } else if (c === COLON) {
      if (!namedStreams) return null;
      streamChars = true;
      colons++;
      if (colons === 1) streamStart = i + 1;
      else if (colons === 2) {
        streamEnd = i;
        typeStart = i + 1;
      } else return null;
    } else if (c < 0x80) {
      const k = asciiClass(c);
      if (!(streamChars ? k.stream : k.ntfs)) return null;
    }
  }
  if (name.length - componentStart > maxComponentLength) return null;

  let base = name;
  let streamName: string | null = null;
  let dataType = false;
  if (colons > 0) {
    if (typeStart < 0) {
      streamName = name.slice(streamStart);
      if (streamName.length === 0) return null;
    } else {
      if (name.length - typeStart !== 5 || upcase(name.slice(typeStart)) !== "$DATA") return null;
      dataType = true;
      streamName = name.slice(streamStart, streamEnd);
    }
    const mainEnd = streamStart - 1;
    base = streamName.length > 0 ? `${name.slice(0, mainEnd)}:${streamName}` : name.slice(0, mainEnd);
    if (streamName.length === 0) streamName = null;
  }

  let hasTrailingBackslash = false;
  if (base.length >= 2 && base.charCodeAt(base.length - 1) === BACKSLASH) {
    hasTrailingBackslash = true;
    base = base.slice(0, -1);
  }
  return { fileName: base, hasTrailingBackslash, streamName, dataType };
}

/**
 * FspFileNameIsValid without streams and without the trailing-backslash
 * tolerance: a plain main-file name (used for rename targets).
 */
export function isValidMainFileName(name: string, maxComponentLength: number): boolean {
  const p = parseFileName(name, maxComponentLength, false);
  return p !== null && !p.hasTrailingBackslash;
}

/**
 * FspFileNameIsValidPattern: wildcards allowed, no `\`, no `:`, at most
 * MaxComponentLength units. An empty pattern is valid (it means "all").
 */
export function isValidPattern(pattern: string, maxComponentLength: number): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charCodeAt(i);
    if (c === BACKSLASH || c === COLON) return false;
    if (c < 0x80) {
      const k = asciiClass(c);
      if (!k.ntfs && !k.wild) return false;
    }
  }
  return pattern.length <= maxComponentLength;
}

/** FspFileNameSuffix / FspPathSuffix: `\a\b\c` → `\a\b` and `c`; `\c` → `\` and `c`. */
export function splitLast(path: string): { parent: string; last: string } {
  const i = path.lastIndexOf("\\");
  if (i < 0) return { parent: "", last: path };
  return { parent: i === 0 ? "\\" : path.slice(0, i), last: path.slice(i + 1) };
}

/** UTF-16 index of the last component (FspPathSuffixIndex). */
export function lastComponentIndex(path: string): number {
  const i = path.lastIndexOf("\\");
  return i < 0 ? 0 : i + 1;
}

/** `parent` + `\` + `child`, without doubling the root's backslash. */
export function joinName(parent: string, child: string): string {
  return parent === "\\" || parent === "" ? `\\${child}` : `${parent}\\${child}`;
}

/** The comparison key of a name on a volume: itself, or upper-cased when the volume is case-insensitive. */
export function nameKey(name: string, caseInsensitive: boolean): string {
  return caseInsensitive ? upcase(name) : name;
}

/** Is `name` equal to `prefix`, or below it (`prefix\…`), or one of its streams (`prefix:…`)? */
export function isNameOrDescendant(nameK: string, prefixK: string): boolean {
  if (nameK === prefixK) return true;
  if (!nameK.startsWith(prefixK)) return false;
  const c = nameK.charCodeAt(prefixK.length);
  if (prefixK === "\\") return true;
  return c === BACKSLASH || c === COLON;
}

// ------------------------------------------------------------ Win32 paths

/** A Win32 path resolved to the NT namespace. */
export interface NtPath {
  /** The full NT path, e.g. `\??\X:\dir\file` (or `\??\X:` for a volume). */
  readonly ntPath: string;
}

/**
 * The kind of a DOS path (RtlDetermineDosPathNameType_U): `\\?\…` verbatim,
 * `\\.\…` device, `\\server\share` UNC, `X:\…` drive-absolute, `X:…`
 * drive-relative, `\…` rooted, anything else relative.
 */
export type DosPathKind = "verbatim" | "device" | "unc" | "drive-absolute" | "drive-relative" | "rooted" | "relative";

export function dosPathKind(path: string): DosPathKind {
  const s = (i: number): number => path.charCodeAt(i);
  const sep = (c: number): boolean => c === BACKSLASH || c === 0x2f;
  if (sep(s(0)) && sep(s(1))) {
    if ((s(2) === 0x3f || s(2) === 0x2e) && sep(s(3))) return s(2) === 0x3f && s(0) === BACKSLASH && s(1) === BACKSLASH && s(3) === BACKSLASH ? "verbatim" : "device";
    return "unc";
  }
  if (sep(s(0))) return "rooted";
  if (path.length >= 2 && s(1) === COLON && /[A-Za-z]/.test(path[0]!)) return sep(s(2)) ? "drive-absolute" : "drive-relative";
  return "relative";
}

/** Trailing dots and spaces go from a component (`a.` → `a`), except the dot entries. */
function trimComponent(c: string): string {
  if (c === "." || c === "..") return c;
  let end = c.length;
  while (end > 0 && (c.charCodeAt(end - 1) === 0x2e || c.charCodeAt(end - 1) === 0x20)) end--;
  return c.slice(0, end);
}

/**
 * RtlGetFullPathName_U for a drive path: `root` is `X:`, `rest` the path
 * after it. Separators collapse, `.`/`..` fold (never above the root),
 * components lose trailing dots and spaces, a trailing separator is kept.
 */
function normalizeDrivePath(root: string, rest: string): string {
  const parts = rest.split(/[\\/]+/);
  const trailing = rest.length > 0 && /[\\/]$/.test(rest);
  const out: string[] = [];
  for (const raw of parts) {
    if (raw.length === 0) continue;
    const c = trimComponent(raw);
    if (c === "." || c.length === 0) continue;
    if (c === "..") {
      out.pop();
      continue;
    }
    out.push(c);
  }
  let full = `${root}\\${out.join("\\")}`;
  if (trailing && out.length > 0) full += "\\";
  return full;
}

/**
 * The NT path of a Win32 path, relative paths resolved against `cwd`
 * (a drive-absolute path such as `X:\dir`). `null` when the path cannot name
 * anything (empty; a UNC or `\\.\` device path this emulation has no
 * provider for): the caller answers ERROR_INVALID_NAME / PATH_NOT_FOUND.
 */
export function dosPathToNtPath(path: string, cwd: string): string | null {
  if (path.length === 0) return null;
  switch (dosPathKind(path)) {
    case "verbatim":
      return `\\??\\${path.slice(4)}`;
    case "device": {
      // \\.\X: style: normalized, but the device name kept as is.
      const rest = path.slice(4).replace(/\//g, "\\");
      return `\\??\\${rest}`;
    }
    case "unc":
      return null;
    case "drive-absolute":
      return `\\??\\${normalizeDrivePath(path.slice(0, 2).toUpperCase(), path.slice(2))}`;
    case "drive-relative": {
      const drive = path.slice(0, 2).toUpperCase();
      const base = cwd.slice(0, 2).toUpperCase() === drive ? cwd.slice(2) : "\\";
      return `\\??\\${normalizeDrivePath(drive, `${base}\\${path.slice(2)}`)}`;
    }
    case "rooted":
      return `\\??\\${normalizeDrivePath(cwd.slice(0, 2).toUpperCase(), path)}`;
    case "relative":
      return `\\??\\${normalizeDrivePath(cwd.slice(0, 2).toUpperCase(), `${cwd.slice(2)}\\${path}`)}`;
  }
}

/**
 * The pattern Win32 FindFirstFile hands the file system for the last
 * component the caller gave: `*.*` matches everything (`*`); otherwise a `*`
 * before a `.` becomes DOS_STAR (`<`), `?` becomes DOS_QM (`>`), and a `.`
 * before a `?` or `*` becomes DOS_DOT (`"`), so that `*.txt`, `a?.b` and
 * `*.` keep their MS-DOS meanings under FsRtlIsNameInExpression.
 */
export function win32PatternToNt(pattern: string): string {
  if (pattern === "*.*") return "*";
  const out = pattern.split("");
  for (let i = 0; i < out.length; i++) {
    if (i > 0 && pattern[i] === "." && pattern[i - 1] === "*") out[i - 1] = "<";
    if (pattern[i] === "?") {
      out[i] = ">";
      if (i > 0 && pattern[i - 1] === ".") out[i - 1] = '"';
    } else if (pattern[i] === "*") {
      if (i > 0 && pattern[i - 1] === ".") out[i - 1] = '"';
    }
  }
  return out.join("");
}
