/**
 * Windows file-name wildcard matching with the semantics of the NT kernel's
 * `FsRtlIsNameInExpression` (specified in [MS-FSA] 2.1.4.4), which is what
 * the WinFsp FSD uses to filter directory listings (`FspFileNameInExpression`).
 *
 * Wildcards in an expression:
 *
 * | char | name       | matches                                                            |
 * |------|------------|--------------------------------------------------------------------|
 * | `*`  | star       | zero or more characters (dots included)                             |
 * | `?`  | question   | exactly one character                                              |
 * | `<`  | DOS_STAR   | zero or more characters, but never the **last** `.` of the name     |
 * | `>`  | DOS_QM     | one character that is not `.`; at a `.` or at the end of the name   |
 * |      |            | it matches nothing (so a run of them ends where the name part ends) |
 * | `"`  | DOS_DOT    | a `.`, or nothing at the end of the name                            |
 *
 * Every other character matches itself; with `ignoreCase` both sides are
 * compared after {@link upcase}. Unlike the kernel routine, the expression
 * need not be upper-cased by the caller.
 *
 * Win32 `FindFirstFile` rewrites DOS-style patterns into the DOS wildcards
 * before they reach a file system (`*.*` → `*`, `*.` → `<"`, `?` next to `.`
 * → `>` …); that rewriting belongs to the Win32 layer, not here.
 *
 * The matcher is a small NFA over expression positions, so it is linear in
 * `name.length × expression.length` and never backtracks.
 */

const STAR = 0x2a; // *
const QUESTION = 0x3f; // ?
const DOS_STAR = 0x3c; // <
const DOS_QM = 0x3e; // >
const DOS_DOT = 0x22; // "
const DOT = 0x2e; // .

/** The characters that make an expression a wildcard expression. */
const WILDCARDS = new Set([STAR, QUESTION, DOS_STAR, DOS_QM, DOS_DOT]);

/** True if `expression` holds any of `* ? < > "` (FsRtlDoesNameContainWildCards). */
export function hasWildcards(expression: string): boolean {
  for (let i = 0; i < expression.length; i++) if (WILDCARDS.has(expression.charCodeAt(i))) return true;
  return false;
}

/**
 * Upper-cases one UTF-16 code unit the way an NT upcase table does for the
 * characters it covers: simple (one unit to one unit) case mapping, no
 * special casing, no normalization. Units whose upper case is longer than one
 * unit (e.g. `ß` → `SS`) or that are surrogates map to themselves.
 */
export function upcaseUnit(unit: number): number {
  if (unit < 0x61) return unit;
  if (unit <= 0x7a) return unit - 0x20;
  if (unit < 0x80 || (unit >= 0xd800 && unit <= 0xdfff)) return unit;
  const up = String.fromCharCode(unit).toUpperCase();
  return up.length === 1 ? up.charCodeAt(0) : unit;
}

/** Upper-cases a name unit by unit with {@link upcaseUnit}; the length never changes. */
export function upcase(name: string): string {
  let ascii = true;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0x61) {
      ascii = false;
      break;
    }
  }
  if (ascii) return name;
  let out = "";
  for (let i = 0; i < name.length; i++) out += String.fromCharCode(upcaseUnit(name.charCodeAt(i)));
  return out;
}

/**
 * Does `name` match `expression`? See the module comment for the wildcard
 * rules. `name` is a single path component and must not itself hold wildcards
 * (it is matched literally if it does).
 */
export function isNameInExpression(expression: string, name: string, ignoreCase: boolean): boolean {
  // [MS-FSA] 2.1.4.4 part 1: the special cases.
  if (expression.length === 0 || name.length === 0) return expression.length === name.length;
  if (expression === "*" || expression === "*.*") return true;
  if (ignoreCase) {
    expression = upcase(expression);
    name = upcase(name);
  }
  if (expression.charCodeAt(0) === STAR && !hasWildcards(expression.slice(1))) {
    const tail = expression.slice(1);
    return name.length >= tail.length && name.endsWith(tail);
  }

  const n = expression.length;
  const lastDot = name.lastIndexOf(".");
  // `current[i]` is true when the expression has been matched up to (not including) position i.
  let current = new Uint8Array(n + 1);
  let next = new Uint8Array(n + 1);
  current[0] = 1;

  for (let pos = 0; ; pos++) {
    const atEnd = pos === name.length;
    const ch = atEnd ? -1 : name.charCodeAt(pos);
    closeOverEmpty(expression, current, atEnd, ch);
    if (atEnd) return current[n] === 1;

    next.fill(0);
    let any = false;
    for (let i = 0; i < n; i++) {
      if (current[i] === 0) continue;
      const e = expression.charCodeAt(i);
      let stay = false;
      let advance = false;
      switch (e) {
        case STAR:
          stay = true;
          break;
        case DOS_STAR:
          // May eat any character except the final dot of the name.
          stay = ch !== DOT || pos !== lastDot;
          break;
        case QUESTION:
          advance = true;
          break;
        case DOS_QM:
          advance = ch !== DOT;
          break;
        case DOS_DOT:
          advance = ch === DOT;
          break;
        default:
          advance = e === ch;
          break;
      }
      if (stay) next[i] = 1;
      if (advance) next[i + 1] = 1;
      any ||= stay || advance;
    }
    if (!any) return false;
    [current, next] = [next, current];
  }
}

/**
 * Adds to `states` every position reachable without consuming a character,
 * given what comes next in the name (`ch`, or the end of the name).
 */
function closeOverEmpty(expression: string, states: Uint8Array, atEnd: boolean, ch: number): void {
  const n = expression.length;
  for (let i = 0; i < n; i++) {
    if (states[i] === 0) continue;
    const e = expression.charCodeAt(i);
    const empty =
      e === STAR ||
      e === DOS_STAR ||
      (e === DOS_QM && (atEnd || ch === DOT)) ||
      (e === DOS_DOT && atEnd);
    if (empty) states[i + 1] = 1;
  }
}
