/**
 * The two kinds of error every layer uses, each with a stable `code`:
 *
 * - {@link ProtocolError}: malformed input from a peer (a guest, a kernel, a
 *   vhost-user frontend or backend). The transport decides what to do with it:
 *   an error reply, a broken ring, a closed connection. Never a crash.
 * - {@link ErrnoError}: a file-system or system-call failure carrying a Linux
 *   errno. On the FUSE wire it becomes `fuse_out_header.error = -errno`.
 *
 * Anything else that escapes a request handler is a bug and is answered EIO.
 */
import { errnoMessage, errnoName, Errno, type ErrnoName } from "./errno.js";

const brand = Symbol.for("viofs.error");

export abstract class ViofsError extends Error {
  /** A stable, greppable identifier such as `VIOFS_PROTO_SHORT`. */
  abstract readonly code: string;
  readonly [brand] = true;
  static isViofsError(value: unknown): value is ViofsError {
    return typeof value === "object" && value !== null && brand in value;
  }
}

/** The stable codes of protocol errors. */
export const ProtocolErrorCode = {
  /** The message ends before a fixed-size field or struct. */
  SHORT: "VIOFS_PROTO_SHORT",
  /** The message carries bytes after everything it declares. */
  LONG: "VIOFS_PROTO_LONG",
  /** Declared lengths disagree with each other or with the message. */
  LENGTH: "VIOFS_PROTO_LENGTH",
  /** A string is not NUL-terminated, holds a NUL, or is not valid. */
  STRING: "VIOFS_PROTO_STRING",
  /** A field holds a value the protocol does not allow. */
  VALUE: "VIOFS_PROTO_VALUE",
  /** A size exceeds the limit set before allocation. */
  LIMIT: "VIOFS_PROTO_LIMIT",
  /** An opcode, request type or message type that is not known. */
  UNKNOWN: "VIOFS_PROTO_UNKNOWN",
  /** A message arrived in a state that does not allow it. */
  STATE: "VIOFS_PROTO_STATE",
  /** A guest address or descriptor outside what was mapped or allowed. */
  ADDRESS: "VIOFS_PROTO_ADDRESS",
  /** A descriptor chain that loops, is too long or is ordered wrongly. */
  CHAIN: "VIOFS_PROTO_CHAIN",
  /** File descriptors missing from, or in excess of, what a message needs. */
  FDS: "VIOFS_PROTO_FDS",
} as const;
export type ProtocolErrorCodeValue = (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode];

/** Malformed input from a peer. */
export class ProtocolError extends ViofsError {
  override readonly name = "ProtocolError";
  constructor(
    readonly code: ProtocolErrorCodeValue,
    message: string,
  ) {
    super(message);
  }
  static is(value: unknown): value is ProtocolError {
    return ViofsError.isViofsError(value) && value.name === "ProtocolError";
  }
}

/**
 * A failure with a Linux errno: a system call, or a file-system answer.
 *
 * In a daemon most of these are answers (a LOOKUP of a name that is not
 * there), made thousands of times a second, so they are cheap to make: the
 * message is composed when first read, and {@link ErrnoError.captureStacks}
 * can turn off the stack trace, which costs more than the failed call itself
 * (measured: 4.2 µs with a trace, 0.9 µs without).
 */
export class ErrnoError extends ViofsError {
  /** Whether new ErrnoErrors capture a stack trace (default true; `viofs serve` turns it off below debug logging). */
  static captureStacks = true;

  declare readonly name: "ErrnoError";
  /** The positive errno value. */
  readonly errno: number;
  /** The call or operation that failed, e.g. `openat2`. */
  readonly syscall: string | undefined;
  /** What it was applied to, when that helps a reader. */
  readonly path: string | undefined;
  /** `VIOFS_ERRNO_<NAME>`, e.g. `VIOFS_ERRNO_ENOENT`. */
  readonly code: string;
  /** The symbolic name, e.g. `ENOENT`. */
  readonly errnoName: string;
  constructor(errno: number, syscall?: string, path?: string) {
    // No message argument: `message` is the prototype's getter below, composed when read.
    if (ErrnoError.captureStacks) {
      super();
    } else {
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 0;
      super();
      Error.stackTraceLimit = limit;
    }
    this.errno = errno;
    this.syscall = syscall;
    this.path = path;
    const name = errnoName(errno);
    this.errnoName = name;
    this.code = `VIOFS_ERRNO_${name}`;
  }
  override get message(): string {
    const where = this.syscall ? `${this.syscall}${this.path !== undefined ? ` ${JSON.stringify(this.path)}` : ""}: ` : "";
    return `${where}${this.errnoName} (${errnoMessage(this.errno)})`;
  }
  static is(value: unknown): value is ErrnoError {
    return ViofsError.isViofsError(value) && value.name === "ErrnoError";
  }
}
Object.defineProperty(ErrnoError.prototype, "name", { value: "ErrnoError", writable: true, configurable: true });

/** Builds an {@link ErrnoError} from a name: `errno("ENOENT", "lookup")`. */
export function errno(name: ErrnoName, syscall?: string, path?: string): ErrnoError {
  return new ErrnoError(Errno[name], syscall, path);
}

/** The errno to report for any thrown value: its own, or EIO for a bug. */
export function toErrno(error: unknown): number {
  return ErrnoError.is(error) ? error.errno : Errno.EIO;
}
