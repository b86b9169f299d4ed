/**
 * A small, strict command-line parser shared by every command.
 *
 * Accepts `--flag=value`, `--flag value`, boolean `--flag`, short aliases and
 * `-o a,b=c` option lists (as libvirt writes them for virtiofsd). Unknown
 * flags, missing values and repeated single-value flags are UsageErrors.
 */
import { UsageError } from "./usage.js";

export interface FlagSpec {
  /** Takes a value (`--x=v` / `--x v`) rather than being a switch. */
  value: boolean;
  /** Other spellings, e.g. `["-h"]` or `["--socket"]`. */
  aliases?: string[];
  /** May be given more than once; values accumulate. */
  repeat?: boolean;
  /** One line for --help. */
  help: string;
  /** Placeholder for --help, e.g. `PATH`. */
  meta?: string;
}

export interface ParsedFlags {
  /** Values by canonical flag name (without dashes); switches are "". */
  values: Map<string, string[]>;
  positionals: string[];
}

export function parseFlags(argv: string[], specs: Record<string, FlagSpec>): ParsedFlags {
  const byName = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) {
    byName.set(`--${name}`, name);
    for (const alias of spec.aliases ?? []) byName.set(alias, name);
  }
  const values = new Map<string, string[]>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const key = eq >= 0 && arg.startsWith("--") ? arg.slice(0, eq) : arg;
    const name = byName.get(key);
    if (name === undefined) throw new UsageError(`unknown option '${key}'; see --help`);
    const spec = specs[name]!;
    let value = "";
    if (spec.value) {
      if (eq >= 0 && arg.startsWith("--")) value = arg.slice(eq + 1);
      else if (i + 1 < argv.length) value = argv[++i]!;
      else throw new UsageError(`option '${key}' needs a value${spec.meta ? ` (${spec.meta})` : ""}`);
    } else if (eq >= 0 && arg.startsWith("--")) {
      throw new UsageError(`option '${key}' takes no value`);
    }
    const list = values.get(name) ?? [];
    if (list.length > 0 && !spec.repeat && spec.value) {
      throw new UsageError(`option '${key}' given twice`);
    }
    list.push(value);
    values.set(name, list);
  }
  return { values, positionals };
}

/** The last value of a flag, or undefined. */
export function flagValue(parsed: ParsedFlags, name: string): string | undefined {
  const list = parsed.values.get(name);
  return list?.[list.length - 1];
}

export function hasFlag(parsed: ParsedFlags, name: string): boolean {
  return parsed.values.has(name);
}

/** A whole number within [min, max], or a UsageError naming the flag. */
export function parseCount(flag: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`--${flag} must be a whole number, not '${text}'`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`--${flag} must be between ${min} and ${max}, not ${n}`);
  return n;
}

/** One of the allowed words, or a UsageError listing them. */
export function parseChoice<T extends string>(flag: string, text: string, choices: readonly T[]): T {
  if ((choices as readonly string[]).includes(text)) return text as T;
  throw new UsageError(`--${flag} must be one of ${choices.join(", ")}, not '${text}'`);
}

/** Splits `-o` lists: `source=/d,cache=auto,xattr` → [["source","/d"],["cache","auto"],["xattr",undefined]]. */
export function splitOptionList(text: string): [string, string | undefined][] {
  return text
    .split(",")
    .filter((part) => part.length > 0)
    .map((part) => {
      const eq = part.indexOf("=");
      return eq < 0 ? [part, undefined] : [part.slice(0, eq), part.slice(eq + 1)];
    });
}

/** --help text for a set of flags. */
export function describeFlags(specs: Record<string, FlagSpec>): string {
  const rows = Object.entries(specs).map(([name, spec]) => {
    // One-letter flags are spelled as their short form only (`-o OPTS`).
    const names =
      name.length === 1
        ? `-${name}${spec.value ? ` ${spec.meta ?? "VALUE"}` : ""}`
        : [`--${name}${spec.value ? `=${spec.meta ?? "VALUE"}` : ""}`, ...(spec.aliases ?? [])].join(", ");
    return [names, spec.help] as const;
  });
  const width = Math.min(36, Math.max(...rows.map(([n]) => n.length)));
  return rows.map(([n, h]) => `  ${n.padEnd(width)}  ${h}`).join("\n");
}
