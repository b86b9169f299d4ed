/**
 * `viofs shell`: a cmd-like Windows view of a share, through the whole
 * stack (stack.ts) and the Win32 API (commands.ts). Interactive with line
 * editing, history (up/down) and Tab completion of command and file names;
 * `-c "cmd; cmd"` runs commands and exits (status 0 when every command
 * succeeded, 1 otherwise).
 */
import { createInterface, type Interface } from "node:readline";
import { log } from "../common/log.js";
import { describeFlags, flagValue, hasFlag, parseChoice, parseFlags, type FlagSpec } from "../common/flags.js";
import { LOG_LEVELS, type Level as LogLevel } from "../common/log.js";
import { UsageError } from "../common/usage.js";
import * as W from "../win32/index.js";
import { COMMAND_NAMES, WindowsShell, type ShellOutput } from "./commands.js";
import { childPath, fullPath, splitCommands } from "./parse.js";
import { openStack, shellToken, type Stack } from "./stack.js";

export const shellFlags: Record<string, FlagSpec> = {
  "shared-dir": { value: true, meta: "DIR", help: "serve this host directory here (on a private socket) and open it" },
  "socket-path": { value: true, meta: "PATH", aliases: ["--socket"], help: "open a running backend's share (viofs serve, virtiofsd)" },
  "case-sensitive": { value: false, help: "names compare case-sensitively (default: insensitive, as NTFS)" },
  drive: { value: true, meta: "X:", help: "the drive letter (default V:)" },
  c: { value: true, meta: "COMMANDS", aliases: ["-c"], help: "run these commands (joined by ; or &) and exit" },
  "log-level": { value: true, meta: "LEVEL", help: "error, warn (default), info, debug, trace or off" },
  help: { value: false, aliases: ["-h"], help: "show this text" },
};

export const shellHelp = `Usage: viofs shell (--shared-dir=DIR | --socket-path=PATH) [--case-sensitive] [-c "cmd; cmd"]

A Windows command prompt on a virtio-fs share, through the whole stack: the
guest driver, the FUSE session, the Windows file-system service and the
Win32 API, at a drive letter. With --shared-dir the host device runs in this
process too (as 'viofs serve --xattr --sandbox=none' on a private socket), so
what you do lands in DIR with Windows metadata in Samba's xattrs.

Commands: DIR, TYPE, COPY, MOVE, REN, DEL, MD, RD, CD, ATTRIB, CACLS,
MKLINK, FSUTIL REPARSEPOINT QUERY, ECHO (> and >> to files and streams),
VOL, CLS, HELP, EXIT. Tab completes names; up and down walk the history.

${describeFlags(shellFlags)}
`;

export interface ShellOptions {
  readonly sharedDir?: string;
  readonly socketPath?: string;
  readonly caseSensitive: boolean;
  readonly drive: string;
  readonly commands?: string;
  readonly logLevel: LogLevel;
}

/** Parses argv for `viofs shell`; null for --help. Every mistake is one UsageError line. */
export function parseShellArgs(argv: string[]): ShellOptions | null {
  const parsed = parseFlags(argv, shellFlags);
  if (hasFlag(parsed, "help")) return null;
  if (parsed.positionals.length > 0) throw new UsageError(`unexpected argument '${parsed.positionals[0]}'; commands go after -c, in quotes`);
  const sharedDir = flagValue(parsed, "shared-dir");
  const socketPath = flagValue(parsed, "socket-path");
  if ((sharedDir === undefined) === (socketPath === undefined)) {
    throw new UsageError("say what to open: --shared-dir=DIR (served here) or --socket-path=PATH (a running backend), one of them");
  }
  if (sharedDir === "" || socketPath === "") throw new UsageError("an empty path was given");
  const drive = (flagValue(parsed, "drive") ?? "V:").toUpperCase();
  if (!/^[A-Z]:?$/.test(drive)) throw new UsageError(`--drive must be a letter such as V:, not '${drive}'`);
  const commands = flagValue(parsed, "c");
  return {
    ...(sharedDir !== undefined ? { sharedDir } : {}),
    ...(socketPath !== undefined ? { socketPath } : {}),
    ...(commands !== undefined ? { commands } : {}),
    caseSensitive: hasFlag(parsed, "case-sensitive"),
    drive: drive.length === 1 ? `${drive}:` : drive,
    logLevel: parseChoice("log-level", flagValue(parsed, "log-level") ?? "warn", LOG_LEVELS),
  };
}

export const shellCommand = {
  summary: "A Windows command prompt on a share, through the whole stack",
  run: runShell,
};

export async function runShell(argv: string[]): Promise<number> {
  const options = parseShellArgs(argv);
  if (options === null) {
    process.stdout.write(shellHelp);
    return 0;
  }
  log.setLevel(options.logLevel);
  const token = shellToken();
  const stack = await openStack(
    {
      ...(options.sharedDir !== undefined ? { sharedDir: options.sharedDir } : {}),
      ...(options.socketPath !== undefined ? { socketPath: options.socketPath } : {}),
      caseSensitive: options.caseSensitive,
      drive: options.drive,
    },
    token,
  );
  let code = 1;
  try {
    W.setCurrentProcess(new W.Win32Process(token));
    await W.SetCurrentDirectoryW(`${stack.drive}\\`);
    const output: ShellOutput = {
      write: (text) => process.stdout.write(text),
      error: (text) => process.stderr.write(text),
      isTTY: process.stdout.isTTY === true,
    };
    const shell = new WindowsShell(output, stack.drive);
    code = options.commands !== undefined ? await runCommands(shell, options.commands) : await interact(shell, stack);
    return code;
  } finally {
    await stack.close();
    // Exit even if a handle lingers (a poller or the terminal).
    setTimeout(() => process.exit(code), 1000).unref();
  }
}

/** `-c`: each command in turn; 0 when all succeeded. */
async function runCommands(shell: WindowsShell, commands: string): Promise<number> {
  let failed = false;
  for (const command of splitCommands(commands)) {
    let outcome: number | "exit";
    try {
      outcome = await shell.runLine(command);
    } catch (error) {
      process.stderr.write(`viofs: ${describe(error)}\n`);
      outcome = 1;
    }
    if (outcome === "exit") break;
    if (outcome !== 0) failed = true;
  }
  return failed ? 1 : 0;
}

async function interact(shell: WindowsShell, stack: Stack): Promise<number> {
  const where = stack.hostDir !== null ? `${stack.hostDir}, served here${stack.xattr ? "" : " (no user xattrs there: Windows metadata is not kept)"}` : "the backend's share";
  process.stdout.write(`viofs shell: ${stack.drive} is ${where}.\nType HELP for the commands, EXIT to leave.\n\n`);
  const terminal = process.stdin.isTTY === true && process.stdout.isTTY === true;
  const rl = createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal,
    historySize: 1000,
    removeHistoryDuplicates: true,
    completer: (line: string, callback: (error: Error | null, result: [string[], string]) => void) => {
      complete(shell, line).then(
        (result) => callback(null, result),
        () => callback(null, [[], line]),
      );
    },
  });
  let busy = false;
  rl.on("SIGINT", () => {
    if (busy) {
      shell.cancelled = true;
      return;
    }
    // As cmd: Ctrl-C drops the line and asks again.
    process.stdout.write("^C\n");
    rl.write(null, { ctrl: true, name: "u" });
    prompt(rl, shell);
  });
  prompt(rl, shell);
  for await (const line of rl) {
    // Commands read from a pipe are echoed after the prompt, as cmd does.
    if (!terminal) process.stdout.write(`${line}\n`);
    busy = true;
    let outcome: number | "exit";
    try {
      outcome = await shell.runLine(line);
    } catch (error) {
      // Not a Win32 failure: the stack itself (the backend went away, a bug). One line, and go on.
      process.stderr.write(`viofs: ${describe(error)}\n`);
      outcome = 1;
    } finally {
      busy = false;
    }
    if (outcome === "exit") break;
    process.stdout.write("\n");
    prompt(rl, shell);
  }
  rl.close();
  return 0;
}

function prompt(rl: Interface, shell: WindowsShell): void {
  rl.setPrompt(shell.prompt());
  rl.prompt();
}

/**
 * Tab completion: the first word from the command names, any other from
 * the names in the directory the word points into (directories get a `\`;
 * a name with blanks is quoted).
 */
export async function complete(shell: WindowsShell, line: string): Promise<[string[], string]> {
  let start = 0;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '"') quoted = !quoted;
    else if (!quoted && (line[i] === " " || line[i] === "\t" || line[i] === ">" || line[i] === "&" || line[i] === ";")) start = i + 1;
  }
  const token = line.slice(start);
  const before = line.slice(0, start);
  if (/^\s*$/.test(before) || /[&;]\s*$/.test(before)) {
    const hits = COMMAND_NAMES.filter((n) => n.startsWith(token.toLowerCase()));
    if (hits.length > 0 || token.length > 0) return [hits, token];
  }
  const word = token.replace(/"/g, "");
  const slash = word.lastIndexOf("\\");
  const dirPart = word.slice(0, slash + 1);
  const prefix = word.slice(slash + 1);
  if (/[*?:]/.test(prefix)) return [[], token];
  const dir = fullPath(dirPart.length > 0 ? dirPart : ".", W.GetCurrentDirectoryW());
  const entries = await shell.find(childPath(dir, `${prefix}*`));
  const hits = entries
    .filter((e) => e.cFileName.toLowerCase().startsWith(prefix.toLowerCase()))
    .map((e) => {
      const name = `${dirPart}${e.cFileName}${(e.dwFileAttributes & W.FILE_ATTRIBUTE_DIRECTORY) !== 0 ? "\\" : ""}`;
      return /\s/.test(name) ? `"${name}"` : name;
    })
    .sort((a, b) => a.localeCompare(b));
  return [hits, token];
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
