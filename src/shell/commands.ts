/**
 * The shell's commands: cmd.exe's built-ins for files (`dir`, `type`,
 * `copy`, `move`, `ren`, `del`, `md`, `rd`, `cd`, `echo … > file`) and the
 * tools next to them (`attrib`, `cacls`/`icacls` with SDDL, `mklink`,
 * `fsutil reparsepoint query`), each done through the Win32 API
 * (`viofs/win32`) on a volume, never through node:fs. Failures print what
 * Windows prints (messages.ts).
 */
import { FileAttribute } from "../windows/attributes.js";
import { decodeReparseBuffer, encodeReparseBuffer } from "../windows/reparse.js";
import * as W from "../win32/index.js";
import { attribLetters, ATTRIBUTE_LETTERS, dirColumn, dirDate, DIR_NAME_COLUMN, groupDigits, humanBytes, reparseTagNames, SETTABLE_ATTRIBUTES } from "./format.js";
import { win32Message } from "./messages.js";
import { baseName, childPath, dirName, fullPath, hasWildcards, parseCommand, splitCommands, type ParsedCommand } from "./parse.js";

const F = FileAttribute;
const SHARE_ALL = W.FILE_SHARE_READ | W.FILE_SHARE_WRITE | W.FILE_SHARE_DELETE;
/** Bytes per READ/WRITE of `copy` and `type`. */
const CHUNK = 1 << 20;
/** Files at least this long show progress while `copy` copies them. */
export const PROGRESS_THRESHOLD = 4 << 20;

/** Where a command's output goes. */
export interface ShellOutput {
  /** Normal output (stdout). */
  write(text: string): void;
  /** Error messages (stderr). */
  error(text: string): void;
  /** Output is a terminal: `cls` clears it, `copy` redraws a progress line. */
  readonly isTTY: boolean;
}

/** What a command ends with: cmd's ERRORLEVEL (0 success), or "exit". */
type Outcome = number | "exit";

/** A command failed in a way already printed; the command's ERRORLEVEL is 1. */
class Reported extends Error {}

/** The line cmd prints for a command it does not know. */
export function notRecognized(name: string): string {
  return `'${name}' is not recognized as an internal or external command,\noperable program or batch file.`;
}

const SYNTAX = "The syntax of the command is incorrect.";

interface CommandSpec {
  readonly help: string;
  readonly run: (this: WindowsShell, c: ParsedCommand, out: Sink) => Promise<number | "exit">;
}

/** The text sink of one command: lines end in "\n" on the console and "\r\n" in a file, as cmd writes them. */
class Sink {
  private readonly chunks: string[] = [];
  constructor(
    private readonly target: ShellOutput | null,
    private readonly eol: string,
  ) {}
  get isTTY(): boolean {
    return this.target?.isTTY ?? false;
  }
  line(text = ""): void {
    this.text(`${text}\n`);
  }
  text(text: string): void {
    const t = this.eol === "\n" ? text : text.replace(/\r?\n/g, this.eol);
    if (this.target !== null) this.target.write(t);
    else this.chunks.push(t);
  }
  /** Data as it is (`type`). */
  raw(text: string): void {
    if (this.target !== null) this.target.write(text);
    else this.chunks.push(text);
  }
  /** A progress line, redrawn in place (what a longer line before left is erased); only on a terminal. */
  progress(text: string): void {
    if (this.target?.isTTY) this.target.write(`\r${text}\x1b[K`);
  }
  collected(): string {
    return this.chunks.join("");
  }
}

/**
 * A cmd-like interpreter over the volume at the current process's current
 * directory. Not reentrant: run one line at a time.
 */
export class WindowsShell {
  /** Set by Ctrl-C; a long command stops at its next step. */
  cancelled = false;

  constructor(
    private readonly output: ShellOutput,
    readonly drive: string,
  ) {}

  /** The prompt: the current directory and `>`. */
  prompt(): string {
    return `${W.GetCurrentDirectoryW()}>`;
  }

  /** Runs a line (commands joined by `&`, `&&`, `;`). Answers the last ERRORLEVEL, or "exit". */
  async runLine(line: string): Promise<Outcome> {
    let level = 0;
    for (const text of splitCommands(line)) {
      this.cancelled = false;
      const outcome = await this.runCommand(text);
      if (outcome === "exit") return "exit";
      level = outcome;
    }
    return level;
  }

  private async runCommand(text: string): Promise<number | "exit"> {
    const c = parseCommand(text);
    if (c === null) {
      this.output.error(`${SYNTAX}\n`);
      return 1;
    }
    if (c.name === "") return 0;
    const key = c.name.toLowerCase();
    if (/^[a-z]:$/.test(key)) return this.changeDrive(key);
    const spec = COMMANDS[key];
    if (spec === undefined) {
      this.output.error(`${notRecognized(c.name)}\n`);
      return 9009;
    }
    const sink = new Sink(c.redirect === null ? this.output : null, c.redirect === null ? "\n" : "\r\n");
    let level: number | "exit";
    try {
      level = await spec.run.call(this, c, sink);
      if (c.redirect !== null) await this.writeRedirect(c.redirect, sink.collected());
    } catch (error) {
      if (error instanceof Reported) return 1;
      if (W.Win32Error.is(error)) {
        this.output.error(`${win32Message(error.code)}\n`);
        return 1;
      }
      throw error;
    }
    return level;
  }

  private changeDrive(drive: string): number {
    if (drive.toUpperCase() === this.drive) return 0;
    this.output.error("The system cannot find the drive specified.\n");
    return 1;
  }

  /** `> file` / `>> file` (streams too: `f:s`): the command's output, written through CreateFileW. */
  private async writeRedirect(redirect: { path: string; append: boolean }, text: string): Promise<void> {
    const path = this.full(redirect.path);
    const h = await W.CreateFileW(path, W.GENERIC_WRITE, W.FILE_SHARE_READ, null, redirect.append ? W.OPEN_ALWAYS : W.CREATE_ALWAYS, 0);
    try {
      if (redirect.append) await W.SetFilePointerEx(h, 0n, W.FILE_END);
      if (text.length > 0) await W.WriteFile(h, Buffer.from(text, "utf8"));
    } finally {
      await W.CloseHandle(h);
    }
  }

  /** The full DOS path of an argument. */
  full(path: string): string {
    return fullPath(path, W.GetCurrentDirectoryW());
  }

  /** Prints a Win32 error as Windows words it and stops the command. */
  private fail(error: unknown): never {
    if (W.Win32Error.is(error)) {
      this.output.error(`${win32Message(error.code)}\n`);
      throw new Reported();
    }
    throw error;
  }

  private say(text: string): never {
    this.output.error(`${text}\n`);
    throw new Reported();
  }

  private errorLine(text: string): void {
    this.output.error(`${text}\n`);
  }

  /** The attributes of a path, or null when it does not exist (any other failure is thrown). */
  private async attributesOf(path: string): Promise<number | null> {
    try {
      return await W.GetFileAttributesW(path);
    } catch (error) {
      if (W.Win32Error.is(error) && (error.code === W.ERROR_FILE_NOT_FOUND || error.code === W.ERROR_PATH_NOT_FOUND)) return null;
      throw error;
    }
  }

  private async isDirectory(path: string): Promise<boolean> {
    const a = await this.attributesOf(path);
    return a !== null && (a & F.FILE_ATTRIBUTE_DIRECTORY) !== 0;
  }

  /**
   * The directory entry of a path, not following a link at its end (as
   * FindFirstFile sees it), or null when there is none. A root is a directory.
   */
  async entry(path: string): Promise<{ attributes: number } | null> {
    if (/^[A-Za-z]:\\?$/.test(path)) {
      const a = await this.attributesOf(path);
      return a === null ? null : { attributes: a };
    }
    let found: W.WIN32_FIND_DATAW[];
    try {
      found = await this.find(path);
    } catch (error) {
      if (W.Win32Error.is(error) && (error.code === W.ERROR_PATH_NOT_FOUND || error.code === W.ERROR_INVALID_NAME)) return null;
      throw error;
    }
    return found.length === 0 ? null : { attributes: found[0]!.dwFileAttributes };
  }

  /** The entries matching a pattern path (`V:\d\*.txt`), without `.` and `..` unless `dots`; none: []. */
  async find(pattern: string, dots = false): Promise<W.WIN32_FIND_DATAW[]> {
    let first: { hFindFile: W.HANDLE; FindFileData: W.WIN32_FIND_DATAW };
    try {
      first = await W.FindFirstFileW(pattern);
    } catch (error) {
      if (W.Win32Error.is(error) && error.code === W.ERROR_FILE_NOT_FOUND) return [];
      throw error;
    }
    const entries = [first.FindFileData];
    try {
      for (;;) {
        try {
          entries.push(await W.FindNextFileW(first.hFindFile));
        } catch (error) {
          if (W.Win32Error.is(error) && error.code === W.ERROR_NO_MORE_FILES) break;
          throw error;
        }
      }
    } finally {
      await W.FindClose(first.hFindFile);
    }
    return dots ? entries : entries.filter((e) => e.cFileName !== "." && e.cFileName !== "..");
  }

  /** The named streams of a file (`:s:$DATA`), without the unnamed one. */
  async streams(path: string): Promise<W.WIN32_FIND_STREAM_DATA[]> {
    let first: { hFindStream: W.HANDLE; FindStreamData: W.WIN32_FIND_STREAM_DATA };
    try {
      first = await W.FindFirstStreamW(path);
    } catch (error) {
      if (W.Win32Error.is(error) && error.code === W.ERROR_HANDLE_EOF) return [];
      throw error;
    }
    const out = [first.FindStreamData];
    try {
      for (;;) {
        try {
          out.push(await W.FindNextStreamW(first.hFindStream));
        } catch (error) {
          if (W.Win32Error.is(error) && error.code === W.ERROR_HANDLE_EOF) break;
          throw error;
        }
      }
    } finally {
      await W.FindClose(first.hFindStream);
    }
    return out.filter((s) => s.cStreamName !== "::$DATA");
  }

  /** The reparse buffer of a path (not followed), or null when it is not a reparse point. */
  async reparseBuffer(path: string): Promise<Uint8Array | null> {
    const h = await W.CreateFileW(path, 0, SHARE_ALL, null, W.OPEN_EXISTING, W.FILE_FLAG_BACKUP_SEMANTICS | W.FILE_FLAG_OPEN_REPARSE_POINT);
    try {
      return await W.DeviceIoControl(h, W.FSCTL_GET_REPARSE_POINT, null, 16 * 1024);
    } catch (error) {
      if (W.Win32Error.is(error) && error.code === W.ERROR_NOT_A_REPARSE_POINT) return null;
      throw error;
    } finally {
      await W.CloseHandle(h);
    }
  }

  // ------------------------------------------------------------- commands

  async dir(c: ParsedCommand, out: Sink): Promise<number> {
    let streams = false;
    let bare = false;
    let want = 0;
    let refuse = F.FILE_ATTRIBUTE_HIDDEN | F.FILE_ATTRIBUTE_SYSTEM;
    const paths: string[] = [];
    for (const a of c.args) {
      const sw = /^\/(.+)$/.exec(a);
      if (sw === null) {
        paths.push(a);
        continue;
      }
      const s = sw[1]!.toUpperCase();
      if (s === "R") streams = true;
      else if (s === "B") bare = true;
      else if (s.startsWith("A")) {
        refuse = 0;
        const letters = s.slice(1).replace(/^:/, "");
        for (let i = 0; i < letters.length; i++) {
          const negate = letters[i] === "-";
          if (negate) i++;
          const bit = ATTRIBUTE_LETTERS[letters[i] ?? ""];
          if (bit === undefined) this.say(`Parameter format not correct - "${letters}".`);
          if (negate) refuse |= bit;
          else want |= bit;
        }
      } else this.say(`Invalid switch - "${sw[1]}".`);
    }
    if (paths.length === 0) paths.push(".");
    let level = 0;
    for (const p of paths) {
      const full = this.full(p);
      let pattern = full;
      if (!hasWildcards(baseName(full)) && (await this.isDirectory(full))) pattern = childPath(full, "*");
      const directory = dirName(pattern);
      const entries = (await this.find(pattern, !bare)).filter((e) => (e.dwFileAttributes & want) === want && (e.dwFileAttributes & refuse) === 0);
      if (!bare) await this.volumeHeader(out, directory);
      if (entries.length === 0) {
        if (!bare) out.line();
        this.errorLine("File Not Found");
        level = 1;
        continue;
      }
      let files = 0;
      let dirs = 0;
      let bytes = 0n;
      for (const e of entries) {
        const size = (BigInt(e.nFileSizeHigh) << 32n) | BigInt(e.nFileSizeLow);
        const isDir = (e.dwFileAttributes & F.FILE_ATTRIBUTE_DIRECTORY) !== 0;
        if (isDir) dirs++;
        else {
          files++;
          bytes += size;
        }
        if (bare) {
          out.line(e.cFileName);
          continue;
        }
        let name = e.cFileName;
        const dot = e.cFileName === "." || e.cFileName === "..";
        if (!dot && (e.dwFileAttributes & F.FILE_ATTRIBUTE_REPARSE_POINT) !== 0) {
          const target = await this.linkTarget(childPath(directory, e.cFileName));
          if (target !== null) name += ` [${target}]`;
        }
        out.line(`${dirDate(e.ftLastWriteTime)}${dirColumn(e.dwFileAttributes, e.dwReserved0, size)}${name}`);
        if (streams && !dot) {
          for (const s of await this.streams(childPath(directory, e.cFileName)).catch(() => [])) {
            out.line(`${groupDigits(s.StreamSize).padStart(DIR_NAME_COLUMN - 1)} ${e.cFileName}${s.cStreamName}`);
          }
        }
      }
      if (bare) continue;
      let free = "";
      try {
        const space = await W.GetDiskFreeSpaceExW(directory);
        free = `${groupDigits(space.lpFreeBytesAvailableToCaller).padStart(15)} bytes free`;
      } catch {
        free = "";
      }
      out.line(`${String(files).padStart(16)} File(s) ${groupDigits(bytes).padStart(14)} bytes`);
      out.line(`${String(dirs).padStart(16)} Dir(s) ${free}`);
    }
    return level;
  }

  private async volumeHeader(out: Sink, directory: string): Promise<void> {
    const letter = directory[0]!.toUpperCase();
    try {
      const v = await W.GetVolumeInformationW(`${letter}:\\`);
      out.line(v.lpVolumeNameBuffer.length > 0 ? ` Volume in drive ${letter} is ${v.lpVolumeNameBuffer}` : ` Volume in drive ${letter} has no label.`);
      const serial = v.lpVolumeSerialNumber >>> 0;
      const hex = serial.toString(16).toUpperCase().padStart(8, "0");
      out.line(` Volume Serial Number is ${hex.slice(0, 4)}-${hex.slice(4)}`);
    } catch {
      out.line(` Volume in drive ${letter} has no label.`);
    }
    out.line();
    out.line(` Directory of ${directory}`);
    out.line();
  }

  /** What `dir` shows in brackets after a link: the print name of a symlink or junction. */
  private async linkTarget(path: string): Promise<string | null> {
    try {
      const buffer = await this.reparseBuffer(path);
      if (buffer === null) return null;
      const p = decodeReparseBuffer(buffer);
      if (p.kind === "symlink" || p.kind === "mount-point") return p.printName.length > 0 ? p.printName : p.substituteName;
      return null;
    } catch {
      return null;
    }
  }

  async type(c: ParsedCommand, out: Sink): Promise<number> {
    if (c.args.length === 0) this.say(SYNTAX);
    for (const a of c.args) {
      const path = this.full(a);
      let h: W.HANDLE;
      try {
        h = await W.CreateFileW(path, W.GENERIC_READ, W.FILE_SHARE_READ | W.FILE_SHARE_WRITE, null, W.OPEN_EXISTING, W.FILE_FLAG_SEQUENTIAL_SCAN);
      } catch (error) {
        if (W.Win32Error.is(error) && error.code === W.ERROR_ACCESS_DENIED && (await this.isDirectory(path))) this.say("Access is denied.");
        this.fail(error);
      }
      try {
        const decoder = new TextDecoder("utf-8");
        for (;;) {
          const data = await W.ReadFile(h, CHUNK);
          if (data.byteLength === 0) break;
          out.raw(decoder.decode(data, { stream: true }));
        }
        out.raw(decoder.decode());
      } finally {
        await W.CloseHandle(h);
      }
    }
    return 0;
  }

  async echo(c: ParsedCommand, out: Sink): Promise<number> {
    if (c.name === "echo.") out.line();
    else if (c.rawArgs.trim() === "") out.line("ECHO is on.");
    else out.line(c.rawArgs);
    return 0;
  }

  async copy(c: ParsedCommand, out: Sink): Promise<number> {
    const paths = c.args.filter((a) => !/^\/[yYvVbB-]+$/.test(a));
    if (paths.length === 0 || paths.length > 2) this.say(SYNTAX);
    const source = this.full(paths[0]!);
    const destination = this.full(paths[1] ?? ".");
    let sources: string[];
    if (hasWildcards(baseName(source))) {
      sources = (await this.find(source)).filter((e) => (e.dwFileAttributes & F.FILE_ATTRIBUTE_DIRECTORY) === 0).map((e) => childPath(dirName(source), e.cFileName));
    } else if (await this.isDirectory(source)) {
      sources = (await this.find(childPath(source, "*"))).filter((e) => (e.dwFileAttributes & F.FILE_ATTRIBUTE_DIRECTORY) === 0).map((e) => childPath(source, e.cFileName));
    } else {
      if ((await this.attributesOf(source)) === null) this.say("The system cannot find the file specified.");
      sources = [source];
    }
    if (sources.length === 0) this.say("The system cannot find the file specified.");
    const intoDirectory = await this.isDirectory(destination);
    if (sources.length > 1 && !intoDirectory) this.say("The system cannot find the path specified.");
    let copied = 0;
    for (const from of sources) {
      const to = intoDirectory ? childPath(destination, baseName(from)) : destination;
      if (to.toUpperCase() === from.toUpperCase()) {
        this.errorLine("The file cannot be copied onto itself.");
        out.line(`${String(copied).padStart(9)} file(s) copied.`);
        return 1;
      }
      if (sources.length > 1) out.line(baseName(from));
      try {
        await this.copyFile(from, to, out);
      } catch (error) {
        if (error instanceof Reported) {
          out.line(`${String(copied).padStart(9)} file(s) copied.`);
          throw error;
        }
        this.fail(error);
      }
      copied++;
    }
    out.line(`${String(copied).padStart(9)} file(s) copied.`);
    return 0;
  }

  /** CopyFile: the data (with progress for long files), the named streams, the attributes and the write time. */
  private async copyFile(from: string, to: string, out: Sink): Promise<void> {
    const attributes = await W.GetFileAttributesW(from);
    const src = await W.CreateFileW(from, W.GENERIC_READ, W.FILE_SHARE_READ, null, W.OPEN_EXISTING, W.FILE_FLAG_SEQUENTIAL_SCAN);
    try {
      const size = Number(await W.GetFileSizeEx(src));
      const times = await W.GetFileTime(src);
      const dst = await W.CreateFileW(to, W.GENERIC_WRITE, 0, null, W.CREATE_ALWAYS, (attributes & SETTABLE_ATTRIBUTES & ~F.FILE_ATTRIBUTE_READONLY) | F.FILE_ATTRIBUTE_ARCHIVE);
      try {
        await this.pump(src, dst, size, size >= PROGRESS_THRESHOLD ? out : null, baseName(from));
        for (const s of await this.streams(from)) {
          const name = s.cStreamName.replace(/:\$DATA$/, "");
          const ss = await W.CreateFileW(`${from}${name}`, W.GENERIC_READ, W.FILE_SHARE_READ, null, W.OPEN_EXISTING, 0);
          try {
            const sd = await W.CreateFileW(`${to}${name}`, W.GENERIC_WRITE, 0, null, W.CREATE_ALWAYS, 0);
            try {
              await this.pump(ss, sd, Number(s.StreamSize), null, name);
            } finally {
              await W.CloseHandle(sd);
            }
          } finally {
            await W.CloseHandle(ss);
          }
        }
        await W.SetFileTime(dst, null, null, times.ftLastWriteTime);
      } finally {
        await W.CloseHandle(dst);
      }
      if ((attributes & F.FILE_ATTRIBUTE_READONLY) !== 0) await W.SetFileAttributesW(to, (attributes & SETTABLE_ATTRIBUTES) | F.FILE_ATTRIBUTE_ARCHIVE);
    } finally {
      await W.CloseHandle(src);
    }
  }

  /** ReadFile/WriteFile in CHUNK pieces; with `progress`, a redrawn percentage line that stays at 100%. */
  private async pump(src: W.HANDLE, dst: W.HANDLE, size: number, progress: Sink | null, name: string): Promise<void> {
    let done = 0;
    let shown = -1;
    const started = Date.now();
    const show = (): void => {
      if (progress === null) return;
      const percent = size === 0 ? 100 : Math.floor((done * 100) / size);
      if (percent === shown) return;
      shown = percent;
      const seconds = Math.max((Date.now() - started) / 1000, 0.001);
      const bar = "#".repeat(Math.floor(percent / 5)).padEnd(20, ".");
      progress.progress(`[${bar}] ${String(percent).padStart(3)}%  ${humanBytes(done)} of ${humanBytes(size)}, ${humanBytes(done / seconds)}/s  ${name}`);
    };
    show();
    for (;;) {
      if (this.cancelled) {
        if (progress?.isTTY) progress.raw("\n");
        this.say("The operation was canceled by the user.");
      }
      const data = await W.ReadFile(src, CHUNK);
      if (data.byteLength === 0) break;
      let written = 0;
      while (written < data.byteLength) written += await W.WriteFile(dst, data.subarray(written));
      done += data.byteLength;
      show();
    }
    if (progress?.isTTY) progress.raw("\n");
  }

  async move(c: ParsedCommand, out: Sink): Promise<number> {
    const paths = c.args.filter((a) => !/^\/[yY-]+$/.test(a));
    if (paths.length !== 2) this.say(SYNTAX);
    const from = this.full(paths[0]!);
    let to = this.full(paths[1]!);
    if ((await this.isDirectory(to)) && !(await this.isDirectory(from))) to = childPath(to, baseName(from));
    try {
      await W.MoveFileExW(from, to, W.MOVEFILE_REPLACE_EXISTING);
    } catch (error) {
      this.fail(error);
    }
    out.line(`${String(1).padStart(9)} file(s) moved.`);
    return 0;
  }

  async ren(c: ParsedCommand): Promise<number> {
    if (c.args.length !== 2 || /[\\/]/.test(c.args[1]!) || /^[A-Za-z]:/.test(c.args[1]!)) this.say(SYNTAX);
    const from = this.full(c.args[0]!);
    const to = childPath(dirName(from), c.args[1]!);
    try {
      await W.MoveFileExW(from, to, 0);
    } catch (error) {
      if (W.Win32Error.is(error) && ([W.ERROR_ALREADY_EXISTS, W.ERROR_FILE_EXISTS, W.ERROR_FILE_NOT_FOUND] as number[]).includes(error.code)) {
        this.say("A duplicate file name exists, or the file\ncannot be found.");
      }
      this.fail(error);
    }
    return 0;
  }

  async del(c: ParsedCommand): Promise<number> {
    const force = c.args.some((a) => /^\/f$/i.test(a));
    const names = c.args.filter((a) => !a.startsWith("/"));
    if (names.length === 0) this.say(SYNTAX);
    let level = 0;
    for (const n of names) {
      const path = this.full(n);
      let targets: string[];
      if (hasWildcards(baseName(path))) {
        targets = (await this.find(path)).filter((e) => (e.dwFileAttributes & F.FILE_ATTRIBUTE_DIRECTORY) === 0).map((e) => childPath(dirName(path), e.cFileName));
      } else {
        const e = await this.entry(path);
        if (e !== null && (e.attributes & F.FILE_ATTRIBUTE_DIRECTORY) !== 0) {
          // A directory: its files, as cmd does once told yes (this shell does not ask).
          targets = (await this.find(childPath(path, "*"))).filter((f) => (f.dwFileAttributes & F.FILE_ATTRIBUTE_DIRECTORY) === 0).map((f) => childPath(path, f.cFileName));
          if (targets.length === 0) continue;
        } else targets = e === null ? [] : [path];
      }
      if (targets.length === 0) {
        this.errorLine(`Could Not Find ${path}`);
        level = 1;
        continue;
      }
      for (const t of targets) {
        try {
          if (force) {
            const a = await W.GetFileAttributesW(t);
            if ((a & F.FILE_ATTRIBUTE_READONLY) !== 0) await W.SetFileAttributesW(t, a & SETTABLE_ATTRIBUTES & ~F.FILE_ATTRIBUTE_READONLY);
          }
          await W.DeleteFileW(t);
        } catch (error) {
          if (!W.Win32Error.is(error)) throw error;
          this.errorLine(`${t}\n${win32Message(error.code)}`);
          level = 1;
        }
      }
    }
    return level;
  }

  async md(c: ParsedCommand): Promise<number> {
    const names = c.args.filter((a) => !a.startsWith("/"));
    if (names.length === 0) this.say(SYNTAX);
    let level = 0;
    for (const n of names) {
      const path = this.full(n);
      if ((await this.entry(path)) !== null) {
        this.errorLine(`A subdirectory or file ${n} already exists.`);
        level = 1;
        continue;
      }
      // Command extensions: the directories on the way are made too.
      const parts = path.slice(3).split("\\");
      let at = path.slice(0, 2);
      for (const part of parts) {
        at = `${at}\\${part}`;
        if ((await this.entry(at)) !== null) continue;
        try {
          await W.CreateDirectoryW(at);
        } catch (error) {
          this.fail(error);
        }
      }
    }
    return level;
  }

  async rd(c: ParsedCommand): Promise<number> {
    const recursive = c.args.some((a) => /^\/s$/i.test(a));
    const names = c.args.filter((a) => !a.startsWith("/"));
    if (names.length === 0) this.say(SYNTAX);
    for (const n of names) {
      const path = this.full(n);
      const a = (await this.entry(path))?.attributes ?? null;
      if (a === null) this.say("The system cannot find the file specified.");
      if ((a & F.FILE_ATTRIBUTE_DIRECTORY) === 0) this.say("The directory name is invalid.");
      try {
        if (recursive && (a & F.FILE_ATTRIBUTE_REPARSE_POINT) === 0) await this.removeTree(path);
        else await W.RemoveDirectoryW(path);
      } catch (error) {
        this.fail(error);
      }
    }
    return 0;
  }

  /** Deletes a tree: files (read-only ones too), links themselves (not their targets), then directories. */
  private async removeTree(dir: string): Promise<void> {
    for (const e of await this.find(childPath(dir, "*"))) {
      if (this.cancelled) this.say("The operation was canceled by the user.");
      const path = childPath(dir, e.cFileName);
      const isDir = (e.dwFileAttributes & F.FILE_ATTRIBUTE_DIRECTORY) !== 0;
      const isLink = (e.dwFileAttributes & F.FILE_ATTRIBUTE_REPARSE_POINT) !== 0;
      if (isDir && !isLink) await this.removeTree(path);
      else {
        if ((e.dwFileAttributes & F.FILE_ATTRIBUTE_READONLY) !== 0) await W.SetFileAttributesW(path, e.dwFileAttributes & SETTABLE_ATTRIBUTES & ~F.FILE_ATTRIBUTE_READONLY);
        if (isDir) await W.RemoveDirectoryW(path);
        else await W.DeleteFileW(path);
      }
    }
    await W.RemoveDirectoryW(dir);
  }

  async cd(c: ParsedCommand, out: Sink): Promise<number> {
    const words = c.args.filter((a) => !/^\/d$/i.test(a));
    if (words.length === 0) {
      out.line(W.GetCurrentDirectoryW());
      return 0;
    }
    // cd takes the rest of the line as one path: `cd My Documents`.
    const target = words.join(" ");
    if (/^[A-Za-z]:$/.test(target)) {
      out.line(W.GetCurrentDirectoryW());
      return 0;
    }
    const path = this.full(target);
    if (path.slice(0, 2).toUpperCase() !== this.drive) this.say("The system cannot find the drive specified.");
    try {
      await W.SetCurrentDirectoryW(path);
    } catch (error) {
      if (W.Win32Error.is(error) && error.code === W.ERROR_FILE_NOT_FOUND) this.say(win32Message(W.ERROR_PATH_NOT_FOUND));
      if (W.Win32Error.is(error) && error.code === W.ERROR_NOT_A_REPARSE_POINT) this.say(win32Message(W.ERROR_DIRECTORY));
      this.fail(error);
    }
    return 0;
  }

  async attrib(c: ParsedCommand, out: Sink): Promise<number> {
    let set = 0;
    let clear = 0;
    const names: string[] = [];
    for (const a of c.args) {
      const m = /^([+-])([RHSAIO])$/i.exec(a);
      if (m !== null) {
        const bit = ATTRIBUTE_LETTERS[m[2]!.toUpperCase()]!;
        if (m[1] === "+") set |= bit;
        else clear |= bit;
      } else if (a.startsWith("/")) {
        if (!/^\/[sdl]$/i.test(a)) this.say(`Parameter format not correct - ${a}`);
      } else if (/^[+-]/.test(a)) this.say(`Parameter format not correct - ${a}`);
      else names.push(a);
    }
    if (names.length === 0) names.push("*");
    let level = 0;
    for (const n of names) {
      const path = this.full(n);
      let targets: { path: string; attributes: number }[];
      if (hasWildcards(baseName(path))) {
        targets = (await this.find(path))
          .filter((e) => (set | clear) === 0 || (e.dwFileAttributes & F.FILE_ATTRIBUTE_DIRECTORY) === 0)
          .map((e) => ({ path: childPath(dirName(path), e.cFileName), attributes: e.dwFileAttributes }));
      } else {
        const e = await this.entry(path);
        targets = e === null ? [] : [{ path, attributes: e.attributes }];
      }
      if (targets.length === 0) {
        this.errorLine(`File not found - ${path}`);
        level = 1;
        continue;
      }
      for (const t of targets) {
        if ((set | clear) === 0) {
          out.line(`${attribLetters(t.attributes)}${t.path}`);
          continue;
        }
        const next = ((t.attributes & SETTABLE_ATTRIBUTES & ~clear) | set) >>> 0;
        try {
          await W.SetFileAttributesW(t.path, next === 0 ? F.FILE_ATTRIBUTE_NORMAL : next);
        } catch (error) {
          if (!W.Win32Error.is(error)) throw error;
          this.errorLine(`${win32Message(error.code)} - ${t.path}`);
          level = 1;
        }
      }
    }
    return level;
  }

  async cacls(c: ParsedCommand, out: Sink): Promise<number> {
    const names: string[] = [];
    let sddl: string | null = null;
    for (let i = 0; i < c.args.length; i++) {
      const a = c.args[i]!;
      if (/^\/set$/i.test(a) || /^\/setsddl$/i.test(a)) {
        sddl = c.args[++i] ?? null;
        if (sddl === null) this.say(`Missing parameter after ${a}.`);
      } else if (a.startsWith("/")) this.say(`Invalid parameter "${a}"`);
      else names.push(a);
    }
    if (names.length === 0) this.say(SYNTAX);
    const everything = W.OWNER_SECURITY_INFORMATION | W.GROUP_SECURITY_INFORMATION | W.DACL_SECURITY_INFORMATION;
    let ok = 0;
    let failed = 0;
    for (const n of names) {
      const path = this.full(n);
      try {
        if (sddl === null) {
          const sd = await W.GetFileSecurityW(path, everything);
          out.line(`${path} ${W.ConvertSecurityDescriptorToStringSecurityDescriptorW(sd, W.SDDL_REVISION_1, everything)}`);
        } else {
          let sd: Uint8Array;
          try {
            sd = W.ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl);
          } catch {
            this.say(`Invalid SDDL string: ${sddl}`);
          }
          await W.SetFileSecurityW(path, sddlParts(sddl), sd);
          out.line(`processed file: ${path}`);
        }
        ok++;
      } catch (error) {
        if (!W.Win32Error.is(error)) throw error;
        this.errorLine(`${path}: ${win32Message(error.code)}`);
        failed++;
      }
    }
    if (sddl !== null) out.line(`Successfully processed ${ok} files; Failed processing ${failed} files`);
    return failed > 0 ? 1 : 0;
  }

  async mklink(c: ParsedCommand, out: Sink): Promise<number> {
    let kind: "file" | "dir" | "hard" | "junction" = "file";
    const names: string[] = [];
    for (const a of c.args) {
      if (/^\/d$/i.test(a)) kind = "dir";
      else if (/^\/h$/i.test(a)) kind = "hard";
      else if (/^\/j$/i.test(a)) kind = "junction";
      else if (a.startsWith("/")) this.say(`Invalid switch - ${a}.`);
      else names.push(a);
    }
    if (names.length !== 2) this.say(SYNTAX);
    const [link, target] = names as [string, string];
    const linkPath = this.full(link);
    try {
      switch (kind) {
        case "file":
        case "dir":
          await W.CreateSymbolicLinkW(linkPath, target, W.SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE | (kind === "dir" ? W.SYMBOLIC_LINK_FLAG_DIRECTORY : 0));
          out.line(`symbolic link created for ${link} <<===>> ${target}`);
          break;
        case "hard":
          await W.CreateHardLinkW(linkPath, this.full(target));
          out.line(`Hardlink created for ${link} <<===>> ${target}`);
          break;
        case "junction":
          await this.junction(linkPath, this.full(target));
          out.line(`Junction created for ${link} <<===>> ${target}`);
          break;
      }
    } catch (error) {
      if (W.Win32Error.is(error) && error.code === W.ERROR_FILE_EXISTS) this.say(win32Message(W.ERROR_ALREADY_EXISTS));
      this.fail(error);
    }
    return 0;
  }

  /** A junction: a directory with a mount-point reparse point to an absolute target (as mklink /j makes it). */
  private async junction(linkPath: string, target: string): Promise<void> {
    await W.CreateDirectoryW(linkPath);
    try {
      const h = await W.CreateFileW(linkPath, W.GENERIC_WRITE, 0, null, W.OPEN_EXISTING, W.FILE_FLAG_BACKUP_SEMANTICS | W.FILE_FLAG_OPEN_REPARSE_POINT);
      try {
        await W.DeviceIoControl(h, W.FSCTL_SET_REPARSE_POINT, encodeReparseBuffer({ kind: "mount-point", substituteName: `\\??\\${target}`, printName: target }), 0);
      } finally {
        await W.CloseHandle(h);
      }
    } catch (error) {
      await W.RemoveDirectoryW(linkPath).catch(() => undefined);
      throw error;
    }
  }

  async fsutil(c: ParsedCommand, out: Sink): Promise<number> {
    const [area, verb, name] = c.args;
    if (area?.toLowerCase() !== "reparsepoint" || verb?.toLowerCase() !== "query" || name === undefined) {
      this.say("Usage: fsutil reparsepoint query <file name>\n(only 'fsutil reparsepoint query' is offered here)");
    }
    const path = this.full(name);
    let buffer: Uint8Array | null;
    try {
      buffer = await this.reparseBuffer(path);
    } catch (error) {
      if (!W.Win32Error.is(error)) throw error;
      this.say(`Error:  ${win32Message(error.code)}`);
    }
    if (buffer === null) this.say(`Error:  ${win32Message(W.ERROR_NOT_A_REPARSE_POINT)}`);
    const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    const tag = view.getUint32(0, true);
    const length = view.getUint16(4, true);
    out.line(`Reparse Tag Value : 0x${tag.toString(16).padStart(8, "0")}`);
    for (const n of reparseTagNames(tag)) out.line(`Tag value: ${n}`);
    out.line();
    try {
      const p = decodeReparseBuffer(buffer);
      if (p.kind === "symlink" || p.kind === "mount-point") {
        out.line(`Substitute Name:  ${p.substituteName}`);
        out.line(`Print Name:       ${p.printName}`);
        if (p.kind === "symlink") out.line(`Flags:            0x${p.flags.toString(16)}${(p.flags & 1) !== 0 ? " (relative)" : ""}`);
        out.line();
      }
    } catch {
      // Shown as bytes only.
    }
    out.line(`Reparse Data Length: 0x${length.toString(16).padStart(8, "0")}`);
    out.line("Reparse Data:");
    const data = buffer.subarray(8, 8 + length);
    for (let i = 0; i < data.byteLength; i += 16) {
      const row = data.subarray(i, i + 16);
      const hex = [...row].map((b) => b.toString(16).padStart(2, "0")).join(" ");
      const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
      out.line(`${i.toString(16).padStart(4, "0")}:  ${hex.padEnd(48)}  ${ascii}`);
    }
    return 0;
  }

  async vol(_c: ParsedCommand, out: Sink): Promise<number> {
    const root = `${this.drive}\\`;
    const v = await W.GetVolumeInformationW(root);
    const hex = (v.lpVolumeSerialNumber >>> 0).toString(16).toUpperCase().padStart(8, "0");
    out.line(v.lpVolumeNameBuffer.length > 0 ? ` Volume in drive ${this.drive[0]} is ${v.lpVolumeNameBuffer}` : ` Volume in drive ${this.drive[0]} has no label.`);
    out.line(` Volume Serial Number is ${hex.slice(0, 4)}-${hex.slice(4)}`);
    return 0;
  }

  async cls(_c: ParsedCommand, out: Sink): Promise<number> {
    if (out.isTTY) out.raw("\x1b[2J\x1b[3J\x1b[H");
    return 0;
  }

  async help(c: ParsedCommand, out: Sink): Promise<number> {
    const which = c.args[0]?.toLowerCase();
    if (which !== undefined) {
      const spec = COMMANDS[which];
      if (spec === undefined) this.say(`This command is not supported by the help utility.`);
      out.line(spec.help);
      return 0;
    }
    out.line("For more information on a specific command, type HELP command-name");
    const names = new Map<CommandSpec, string[]>();
    for (const [name, spec] of Object.entries(COMMANDS)) {
      if (name === "echo.") continue;
      names.set(spec, [...(names.get(spec) ?? []), name.toUpperCase()]);
    }
    for (const [spec, list] of names) out.line(`${list.join(", ").padEnd(15)}${spec.help.split("\n")[0]}`);
    out.line();
    out.line("Commands are joined with & or ;  Output goes to a file (or a stream, f:s) with > and >>.");
    return 0;
  }
}

/**
 * The SECURITY_INFORMATION an SDDL string sets: the parts it has (`O:`,
 * `G:`, `D:`, `S:`), read in order: a SID (`S-1-…` or a two-letter alias)
 * after O: and G:, flags and parenthesized ACEs after D: and S:.
 */
export function sddlParts(sddl: string): number {
  const text = sddl.replace(/\s+/g, "");
  const bits: Record<string, number> = {
    O: W.OWNER_SECURITY_INFORMATION,
    G: W.GROUP_SECURITY_INFORMATION,
    D: W.DACL_SECURITY_INFORMATION,
    S: W.SACL_SECURITY_INFORMATION,
  };
  let info = 0;
  let i = 0;
  while (i + 1 < text.length && text[i + 1] === ":" && bits[text[i]!] !== undefined) {
    const kind = text[i]!;
    info |= bits[kind]!;
    i += 2;
    if (kind === "O" || kind === "G") {
      const sid = /^S-[0-9A-Fa-fx-]+/.exec(text.slice(i));
      i += sid !== null ? sid[0].length : 2;
      continue;
    }
    while (i < text.length && text[i] !== "(" && text[i + 1] !== ":") i++;
    while (text[i] === "(") {
      const close = text.indexOf(")", i);
      if (close < 0) return info;
      i = close + 1;
    }
  }
  return info;
}

function spec(help: string, run: CommandSpec["run"]): CommandSpec {
  return { help, run };
}

const S = WindowsShell.prototype;
const mdSpec = spec("Creates a directory (and the ones on the way).\n  MD [drive:]path", S.md);
const rdSpec = spec("Removes a directory.\n  RD [/S] [/Q] [drive:]path\n  /S  removes the tree under it too (without asking)", S.rd);
const cdSpec = spec("Displays or changes the current directory.\n  CD [/D] [path]   CD ..   CD \\", S.cd);
const delSpec = spec("Deletes files.\n  DEL [/F] [/Q] names   (wildcards: * ?; a directory: the files in it, without asking)\n  /F  deletes read-only files too", S.del);
const renSpec = spec("Renames a file or directory.\n  REN path newname", S.ren);
const caclsSpec = spec(
  "Displays or sets a security descriptor as SDDL.\n  CACLS path               shows O:…G:…D:…\n  CACLS path /SET \"SDDL\"   sets the parts the string names (quote it: ; separates commands)",
  S.cacls,
);

/** The commands, by lower-case name (aliases share a spec). */
const COMMANDS: Readonly<Record<string, CommandSpec>> = {
  attrib: spec(
    "Displays or changes file attributes.\n  ATTRIB [+R|-R] [+A|-A] [+S|-S] [+H|-H] [+I|-I] [+O|-O] [path]",
    S.attrib,
  ),
  cacls: caclsSpec,
  icacls: caclsSpec,
  cd: cdSpec,
  chdir: cdSpec,
  cls: spec("Clears the screen.", S.cls),
  copy: spec("Copies files (data, streams, attributes, write time).\n  COPY source [destination]   (long files show progress)", S.copy),
  del: delSpec,
  erase: delSpec,
  dir: spec(
    "Lists a directory.\n  DIR [path] [/A[[:]attributes]] [/R] [/B]\n  /A  all files (or only those with D R H A S L I, - for not)\n  /R  alternate data streams\n  /B  names only",
    S.dir,
  ),
  echo: spec("Prints text; ECHO text > file, ECHO text >> file, ECHO text > file:stream.", S.echo),
  "echo.": spec("Prints an empty line.", S.echo),
  exit: spec("Leaves the shell (unmounts the volume).", async () => "exit"),
  fsutil: spec("Shows a reparse point.\n  FSUTIL REPARSEPOINT QUERY path", S.fsutil),
  help: spec("Lists the commands; HELP command shows one.", S.help),
  md: mdSpec,
  mkdir: mdSpec,
  mklink: spec("Creates a link.\n  MKLINK [/D | /H | /J] link target\n  /D directory symbolic link, /H hard link, /J junction", S.mklink),
  move: spec("Moves or renames a file or directory.\n  MOVE source destination", S.move),
  rd: rdSpec,
  rmdir: rdSpec,
  ren: renSpec,
  rename: renSpec,
  type: spec("Prints files.\n  TYPE path [path…]   (a stream: TYPE file:stream)", S.type),
  vol: spec("Shows the volume label and serial number.", S.vol),
};

/** Every command name the shell knows (for completion and help). */
export const COMMAND_NAMES: readonly string[] = Object.keys(COMMANDS).filter((n) => n !== "echo.");
