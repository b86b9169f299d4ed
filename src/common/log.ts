/**
 * Levelled logging: one line an event, to stderr (default) or syslog.
 * `log.debug(...)` costs one comparison when debug is off; request tracing
 * calls `log.enabled("debug")` first so it builds no strings it won't print.
 */
export const LOG_LEVEL_ORDER = { off: 0, error: 1, warn: 2, info: 3, debug: 4, trace: 5 } as const;
export type Level = keyof typeof LOG_LEVEL_ORDER;
/** The levels a person may choose (`--log-level`), as --help lists them. */
export const LOG_LEVELS = ["error", "warn", "info", "debug", "trace", "off"] as const satisfies readonly Level[];

type Sink = (level: Exclude<Level, "off">, line: string) => void;

/**
 * LOG_LEVEL_ORDER[level] without a keyed load: `enabled` is inlined into
 * every request's path with a different level at each call site, and one
 * keyed load site seeing five names goes megamorphic (a generic property
 * lookup on each call).
 */
function rank(level: Exclude<Level, "off">): number {
  switch (level) {
    case "error":
      return LOG_LEVEL_ORDER.error;
    case "warn":
      return LOG_LEVEL_ORDER.warn;
    case "info":
      return LOG_LEVEL_ORDER.info;
    case "debug":
      return LOG_LEVEL_ORDER.debug;
    case "trace":
      return LOG_LEVEL_ORDER.trace;
  }
}

const stderrSink: Sink = (level, line) => {
  process.stderr.write(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${line}\n`);
};

export class Logger {
  private threshold: number = LOG_LEVEL_ORDER.info;
  private current: Level = "info";
  private sink: Sink = stderrSink;

  constructor(private readonly prefix = "viofs") {}

  setLevel(level: Level): void {
    this.threshold = LOG_LEVEL_ORDER[level];
    this.current = level;
  }

  /** The level set last. */
  get level(): Level {
    return this.current;
  }

  /** Sends lines somewhere else (syslog, a test's buffer). */
  setSink(sink: Sink): void {
    this.sink = sink;
  }

  enabled(level: Exclude<Level, "off">): boolean {
    return rank(level) <= this.threshold;
  }

  error(message: string): void {
    this.emit("error", message);
  }
  warn(message: string): void {
    this.emit("warn", message);
  }
  info(message: string): void {
    this.emit("info", message);
  }
  debug(message: string): void {
    this.emit("debug", message);
  }
  trace(message: string): void {
    this.emit("trace", message);
  }

  private emit(level: Exclude<Level, "off">, message: string): void {
    if (rank(level) > this.threshold) return;
    this.sink(level, `${this.prefix}: ${message.replace(/\n/g, " ")}`);
  }
}

/** The process-wide logger. */
export const log = new Logger();
