/**
 * cmd.exe's command-line grammar, the part the shell uses: commands joined
 * by `&`, `&&` or `;`; words split at blanks, `"…"` grouping (the quotes
 * dropped); `> file` and `>> file` redirection anywhere in the command;
 * switches are words starting with `/`. Paths are DOS paths resolved
 * against the current directory as kernelbase does.
 */

/** One command: its name, its words after the name, and where its output goes. */
export interface ParsedCommand {
  /** The command word as typed (compare case-insensitively). */
  readonly name: string;
  /** The words after the name, quotes removed. */
  readonly args: readonly string[];
  /** The text after the name exactly as typed, minus the redirection (what `echo` prints). */
  readonly rawArgs: string;
  /** `> path` or `>> path`. */
  readonly redirect: { readonly path: string; readonly append: boolean } | null;
}

/** Splits a line at unquoted `&`, `&&` and `;`; empty commands are dropped. */
export function splitCommands(line: string): string[] {
  const out: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"') quoted = !quoted;
    else if (!quoted && (c === "&" || c === ";")) {
      out.push(line.slice(start, i));
      if (c === "&" && line[i + 1] === "&") i++;
      start = i + 1;
    }
  }
  out.push(line.slice(start));
  return out.map((s) => s.trim()).filter((s) => s.length > 0);
}

/** Words of `text`: blanks separate, `"…"` groups (quotes dropped), `""` is an empty word. */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quoted = false;
  for (const c of text) {
    if (c === '"') {
      quoted = !quoted;
      inWord = true;
    } else if (!quoted && (c === " " || c === "\t")) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/**
 * Parses one command. The name ends at a blank, a `/` (`dir/a`) or a
 * redirection; `echo.` is `echo` with nothing to print. A `>` without a
 * file name is a syntax error (null).
 */
export function parseCommand(text: string): ParsedCommand | null {
  // Take the redirection out first: an unquoted > or >>, then one word.
  let rest = "";
  let redirect: { path: string; append: boolean } | null = null;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') quoted = !quoted;
    if (quoted || c !== ">") {
      rest += c;
      continue;
    }
    const append = text[i + 1] === ">";
    let j = i + (append ? 2 : 1);
    while (text[j] === " " || text[j] === "\t") j++;
    let target = "";
    let q = false;
    for (; j < text.length; j++) {
      const d = text[j]!;
      if (d === '"') {
        q = !q;
        continue;
      }
      if (!q && (d === " " || d === "\t" || d === ">")) break;
      target += d;
    }
    if (target.length === 0) return null;
    redirect = { path: target, append };
    i = j - 1;
  }
  const trimmed = rest.replace(/^[\s@]+/, "");
  let name = /^[^\s/]*/.exec(trimmed)![0];
  let after = trimmed.slice(name.length);
  // `echo.` and `echo.text`, `cd..` and `cd\`: the name ends where the argument starts.
  const glued = /^(echo)[.:](.*)$/i.exec(name) ?? /^(cd|chdir)([.\\].*)$/i.exec(name);
  if (glued !== null) {
    const echo = /^echo$/i.test(glued[1]!);
    // A bare `echo.` prints an empty line, where `echo` alone prints the echo state.
    name = echo && glued[2] === "" && after.trim() === "" ? "echo." : glued[1]!;
    after = (echo ? glued[2]! : ` ${glued[2]!}`) + after;
  }
  name = name.replace(/"/g, "");
  const rawArgs = after.startsWith(" ") || after.startsWith("\t") ? after.slice(1) : after;
  return { name, args: splitWords(after), rawArgs: redirect ? rawArgs.replace(/\s+$/, "") : rawArgs, redirect };
}

/** Whether a name has DOS wildcards. */
export function hasWildcards(name: string): boolean {
  return /[*?]/.test(name);
}

/**
 * The full DOS path of `path` for a current directory `cwd` (`V:\dir`):
 * drive-absolute, rooted (`\x`), drive-relative (`V:x`, the shell's own
 * drive only: `f:s` is file `f`, stream `s`) or relative; `/` is `\`;
 * `.` and `..` resolved (never above the root). A stream suffix stays on the
 * last component.
 */
export function fullPath(path: string, cwd: string): string {
  const drive = cwd.slice(0, 2).toUpperCase();
  let p = path.replace(/\//g, "\\");
  let base: string[];
  if (/^[A-Za-z]:\\/.test(p)) {
    base = [];
    const d = p.slice(0, 2).toUpperCase();
    p = p.slice(3);
    return joinPath(d, resolveParts(base, p));
  }
  if (/^[A-Za-z]:$/.test(p) || (/^[A-Za-z]:[^\\]/.test(p) && p.slice(0, 2).toUpperCase() === drive)) {
    // Drive-relative: the current directory of that drive (the shell has one drive).
    const d = p.slice(0, 2).toUpperCase();
    const start = d === drive ? components(cwd.slice(3)) : [];
    return joinPath(d, resolveParts(start, p.slice(2)));
  }
  if (p.startsWith("\\")) return joinPath(drive, resolveParts([], p.slice(1)));
  return joinPath(drive, resolveParts(components(cwd.slice(3)), p));
}

function components(p: string): string[] {
  return p.split("\\").filter((c) => c.length > 0);
}

function resolveParts(start: string[], rest: string): string[] {
  const parts = [...start];
  for (const c of rest.split("\\")) {
    if (c === "" || c === ".") continue;
    if (c === "..") parts.pop();
    else parts.push(c);
  }
  return parts;
}

function joinPath(drive: string, parts: string[]): string {
  return `${drive}\\${parts.join("\\")}`;
}

/** The last component of a full path (`""` for a root). */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf("\\") + 1);
}

/** The directory of a full path (`V:\` for a file in the root). */
export function dirName(path: string): string {
  const i = path.lastIndexOf("\\");
  return i <= 2 ? path.slice(0, 3) : path.slice(0, i);
}

/** `dir` + `name`, with one backslash between. */
export function childPath(dir: string, name: string): string {
  return dir.endsWith("\\") ? dir + name : `${dir}\\${name}`;
}
