/**
 * Which names from a request may reach a system call. Every name the guest
 * sends is one path component: it is resolved relative to a directory fd the
 * file system holds, never joined into a path.
 */
import { errno } from "../common/errors.js";

const SLASH = 0x2f;
const DOT = 0x2e;

/** "." */
export function isDot(name: Uint8Array): boolean {
  return name.length === 1 && name[0] === DOT;
}

/** ".." */
export function isDotDot(name: Uint8Array): boolean {
  return name.length === 2 && name[0] === DOT && name[1] === DOT;
}

/**
 * A name LOOKUP accepts: one component, not empty, without '/' or NUL.
 * "." and ".." pass (the client sends them only with EXPORT_SUPPORT) and are
 * handled by the caller. EINVAL otherwise.
 */
export function checkLookupName(name: Uint8Array, op: string): void {
  if (name.length === 0 || name.includes(SLASH) || name.includes(0)) throw errno("EINVAL", op);
}

/**
 * A name a creating, removing or renaming operation accepts: as for
 * {@link checkLookupName}, and neither "." nor "..". EINVAL otherwise.
 */
export function checkEntryName(name: Uint8Array, op: string): void {
  checkLookupName(name, op);
  if (isDot(name) || isDotDot(name)) throw errno("EINVAL", op);
}
