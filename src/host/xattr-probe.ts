/**
 * Whether a directory takes `user.*` extended attributes, which Windows
 * metadata needs (DOS attributes, streams, ACLs in Samba's formats): `viofs
 * serve --xattr` warns without them, `viofs shell` decides on --xattr by it,
 * `viofs doctor` reports it.
 */
import { closeSync, constants as fsConstants, openSync } from "node:fs";
import { ErrnoError } from "../common/errors.js";
import { fgetxattr, fremovexattr, fsetxattr } from "../sys/index.js";

/** The attribute the probe writes and removes again. */
export const PROBE_XATTR = "user.viofs-probe";

/** The result of a probe: ok, or the reason it failed (an errno name where there is one). */
export type ProbeResult = { readonly ok: true } | { readonly ok: false; readonly reason: string; readonly errno?: string };

/**
 * Whether `dir` (a directory) holds `user.*` extended attributes: sets,
 * reads back and removes {@link PROBE_XATTR}. The directory is left as it was.
 */
export function probeUserXattrs(dir: string): ProbeResult {
  let fd: number;
  try {
    fd = openSync(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { ok: false, reason: `cannot open ${dir}: ${code ?? String(error)}`, ...(code !== undefined ? { errno: code } : {}) };
  }
  try {
    const value = Buffer.from("viofs");
    fsetxattr(fd, PROBE_XATTR, value);
    const back = fgetxattr(fd, PROBE_XATTR);
    fremovexattr(fd, PROBE_XATTR);
    if (!back.equals(value)) return { ok: false, reason: "the value read back differs from the one set" };
    return { ok: true };
  } catch (error) {
    if (ErrnoError.is(error)) return { ok: false, reason: `${error.syscall ?? "xattr"}: ${error.errnoName}`, errno: error.errnoName };
    return { ok: false, reason: String(error) };
  } finally {
    closeSync(fd);
  }
}
