/**
 * A program in a real terminal: a tmux session on a private tmux server
 * (`tmux -L`), keys sent with `send-keys`, the screen read with
 * `capture-pane`. Waits poll the screen until a pattern shows, and fail
 * with the screen when it does not.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (where package.json is), from this file in test/ or dist/test/. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("test/shell: cannot find the repository root");
    dir = up;
  }
  return dir;
}

/** `node bin/viofs.js`: the compiled command line (built by `tsc -p .`). */
export function compiledViofs(): string[] {
  const root = repoRoot();
  if (!existsSync(join(root, "dist", "src", "cli", "main.js"))) {
    throw new Error("dist/src/cli/main.js is missing: build first (npx tsc -p . --noEmitOnError false)");
  }
  return [process.execPath, join(root, "bin", "viofs.js")];
}

function quote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

let sessions = 0;

export class TmuxSession {
  private constructor(
    private readonly server: string,
    readonly name: string,
  ) {}

  /**
   * Runs `argv` in a new detached session of `width`×`height`. When the
   * program ends the pane stays, showing `[exited N]`.
   */
  static start(argv: readonly string[], options: { width?: number; height?: number; cwd?: string } = {}): TmuxSession {
    const server = `viofs-test-${process.pid}-${sessions}`;
    const name = `s${sessions++}`;
    const command = `${argv.map(quote).join(" ")}; echo "[exited $?]"; sleep 3600`;
    execFileSync("tmux", [
      "-L",
      server,
      "-f",
      "/dev/null",
      "new-session",
      "-d",
      "-s",
      name,
      "-x",
      String(options.width ?? 160),
      "-y",
      String(options.height ?? 50),
      ...(options.cwd !== undefined ? ["-c", options.cwd] : []),
      command,
    ]);
    const s = new TmuxSession(server, name);
    // Enough scrollback for a whole test's output.
    s.tmux("set-option", "-t", name, "history-limit", "10000");
    return s;
  }

  private tmux(...args: string[]): string {
    return execFileSync("tmux", ["-L", this.server, ...args], { encoding: "utf8" });
  }

  /** Types `text` literally. */
  type(text: string): void {
    this.tmux("send-keys", "-t", this.name, "-l", text);
  }

  /** Presses keys by tmux name: `Enter`, `Tab`, `Up`, `C-c`. */
  press(...keys: string[]): void {
    this.tmux("send-keys", "-t", this.name, ...keys);
  }

  /** Types a line and presses Enter. */
  line(text: string): void {
    this.type(text);
    this.press("Enter");
  }

  /** The screen and its scrollback, wrapped lines joined, trailing blanks dropped. */
  screen(): string {
    return this.tmux("capture-pane", "-p", "-J", "-t", this.name, "-S", "-10000")
      .split("\n")
      .map((l) => l.replace(/\s+$/, ""))
      .join("\n")
      .replace(/\n+$/, "\n");
  }

  /** Waits until the screen matches `pattern` (tested against the whole screen); answers the screen. */
  async waitFor(pattern: RegExp | ((screen: string) => boolean), what: string, ms = 30_000): Promise<string> {
    const deadline = Date.now() + ms;
    const test = typeof pattern === "function" ? pattern : (s: string) => pattern.test(s);
    for (;;) {
      const screen = this.screen();
      if (test(screen)) return screen;
      if (Date.now() > deadline) throw new Error(`the terminal never showed ${what} within ${ms / 1000} s; the screen:\n${screen}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Ends the session and its tmux server. */
  kill(): void {
    try {
      this.tmux("kill-server");
    } catch {
      // Already gone.
    }
  }
}
