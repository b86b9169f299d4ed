/**
 * Paths and names as system calls take them: a JS string (UTF-8) or raw
 * bytes (a name from a FUSE request, which need not be UTF-8). Both are
 * checked for an embedded NUL, which C would take as the end of the string.
 */
import { Buffer } from "node:buffer";
import { ErrnoError } from "../common/errors.js";
import { Errno } from "../common/errno.js";
import type { CStr } from "./libc.js";

/** A path or name: a UTF-8 string, or its raw bytes without a terminating NUL. */
export type PathLike = string | Uint8Array;

/**
 * The C string for `path`: a string as is (koffi adds the NUL), bytes copied
 * with a NUL appended. Throws EINVAL for a path that holds a NUL.
 */
export function cstring(path: PathLike, call: string): CStr {
  if (typeof path === "string") {
    if (path.includes("\0")) throw new ErrnoError(Errno.EINVAL, call, path);
    return path;
  }
  if (path.includes(0)) throw new ErrnoError(Errno.EINVAL, call, display(path));
  const bytes = Buffer.allocUnsafe(path.length + 1);
  bytes.set(path);
  bytes[path.length] = 0;
  return bytes;
}

/** A path as an error message shows it. */
export function display(path: PathLike): string {
  return typeof path === "string" ? path : Buffer.from(path.buffer, path.byteOffset, path.length).toString("utf8");
}
