/**
 * Reparse points on the host, the way Samba ≥ 4.21 keeps them:
 *
 * - IO_REPARSE_TAG_SYMLINK is a real host symlink. Target mapping
 *   (`\` ↔ `/`, each name through the service's name mapping):
 *   | Windows substitute name            | host target                          |
 *   |------------------------------------|--------------------------------------|
 *   | relative `..\dir\file`             | `../dir/file`                        |
 *   | volume-rooted `\dir\file` (RELATIVE flag and a leading `\`) | `<hostRoot>/dir/file` when the share's host path is known, else the same place relative to the link (`../dir/file`) |
 *   | absolute NT path `\??\C:\x` (no flag) | `/??/C:/x` (not followed on the host) |
 *   Read back, a host target under `hostRoot` is volume-rooted, any other
 *   absolute target an absolute NT path, a relative one relative. The print
 *   name is the substitute name (without `\??\` for absolute ones).
 *   A link made as a directory (SYMBOLIC_LINK_FLAG_DIRECTORY: set on a
 *   directory) keeps that in the target's trailing `/` (as `ln -s dir/ x`
 *   makes), so it stays a directory link whatever its target is, or whether
 *   it exists; a link without the mark is a directory when it resolves to one.
 * - IO_REPARSE_TAG_NFS is a real FIFO, socket or device (LNK: a symlink),
 *   read back as Samba does.
 * - Any other tag is the whole buffer in `user.SmbReparse`, with
 *   FILE_ATTRIBUTE_REPARSE_POINT in `user.DOSATTRIB` (regular files, and
 *   directories too, where Samba would refuse).
 */
import type { FuseSession } from "../guest/session.js";
import { NtStatus } from "../windows/ntstatus.js";
import { FileAttribute } from "../windows/attributes.js";
import {
  SYMLINK_FLAG_RELATIVE,
  encodeReparseBuffer,
  nfsReparseForStat,
  type SymlinkReparse,
} from "../windows/reparse.js";
import { ntFail, ntOk, type NtResult } from "../winfsp/interface.js";
import type { MetadataStore } from "./metadata.js";
import { hostNameOf, windowsNameOf } from "./names.js";
import type { ServiceNode } from "./nodes.js";

/** Maps a Windows path component of a link target; `.` and `..` pass through. */
function hostComponent(c: string): NtResult<string> {
  if (c === "." || c === "..") return ntOk(c);
  return hostNameOf(c);
}

/** Whether a host symlink target carries the directory-link mark, a trailing `/`. */
export function isDirectoryLinkTarget(target: string): boolean {
  return target.length > 1 && target.endsWith("/");
}

/**
 * The host target for a symlink buffer's substitute name and flags, for a
 * link at `linkComponents` (its full path, components); `directory` adds the
 * directory-link mark. STATUS_IO_REPARSE_DATA_INVALID for an empty name or
 * one the host cannot hold.
 */
export function hostSymlinkTarget(
  substituteName: string,
  flags: number,
  linkComponents: readonly string[],
  hostRoot: string | undefined,
  directory = false,
): NtResult<string> {
  const target = hostTarget(substituteName, flags, linkComponents, hostRoot);
  if (!target.ok || !directory || target.value.endsWith("/")) return target;
  return ntOk(`${target.value}/`);
}

function hostTarget(substituteName: string, flags: number, linkComponents: readonly string[], hostRoot: string | undefined): NtResult<string> {
  if (substituteName.length === 0 || substituteName.includes("\0")) return ntFail(NtStatus.STATUS_IO_REPARSE_DATA_INVALID);
  if ((flags & SYMLINK_FLAG_RELATIVE) === 0) return ntOk(substituteName.replaceAll("\\", "/"));
  const rooted = substituteName.startsWith("\\");
  const parts = substituteName.split("\\").filter((c) => c.length > 0);
  const mapped: string[] = [];
  for (const c of parts) {
    const h = hostComponent(c);
    if (!h.ok) return ntFail(NtStatus.STATUS_IO_REPARSE_DATA_INVALID);
    mapped.push(h.value);
  }
  if (!rooted) return mapped.length === 0 ? ntFail(NtStatus.STATUS_IO_REPARSE_DATA_INVALID) : ntOk(mapped.join("/"));
  if (hostRoot !== undefined) return ntOk(`${hostRoot.replace(/\/+$/, "")}/${mapped.join("/")}`);
  const up = Math.max(0, linkComponents.length - 1);
  const rel = [...Array<string>(up).fill(".."), ...mapped];
  return ntOk(rel.length === 0 ? "." : rel.join("/"));
}

/** The symlink reparse point a host symlink target reads back as (see the module comment). */
export function windowsSymlinkOf(hostTarget: string, hostRoot: string | undefined): SymlinkReparse {
  const target = isDirectoryLinkTarget(hostTarget) ? hostTarget.replace(/\/+$/, "") || "/" : hostTarget;
  const root = hostRoot?.replace(/\/+$/, "");
  const mapPart = (c: string): string => (c === "." || c === ".." || c === "" ? c : (windowsNameOf(c) ?? c));
  if (target.startsWith("/")) {
    if (root !== undefined && root !== "" && (target === root || target.startsWith(`${root}/`))) {
      const rest = target.slice(root.length).split("/").filter((c) => c.length > 0).map(mapPart);
      const name = `\\${rest.join("\\")}`;
      return { kind: "symlink", substituteName: name, printName: name, flags: SYMLINK_FLAG_RELATIVE };
    }
    const name = target.replaceAll("/", "\\");
    const print = name.startsWith("\\??\\") ? name.slice(4) : name;
    return { kind: "symlink", substituteName: name, printName: print, flags: 0 };
  }
  const name = target.split("/").map(mapPart).join("\\");
  return { kind: "symlink", substituteName: name, printName: name, flags: SYMLINK_FLAG_RELATIVE };
}

/** Reads the reparse point of a node. */
export class ReparseStore {
  constructor(
    private readonly session: FuseSession,
    private readonly metadata: MetadataStore,
    readonly hostRoot: string | undefined,
  ) {}

  /** A symlink's target (read once: targets never change). */
  async linkTarget(node: ServiceNode): Promise<string> {
    if (node.linkTarget === null) node.linkTarget = (await this.session.readlink(node.nodeid)).toString("utf8");
    return node.linkTarget;
  }

  /**
   * The node's reparse buffer: symlink, NFS special file, or the stored
   * `user.SmbReparse` when DOSATTRIB carries REPARSE_POINT.
   * STATUS_NOT_A_REPARSE_POINT otherwise. Throws ErrnoErrors.
   */
  async bufferOf(node: ServiceNode): Promise<NtResult<Uint8Array>> {
    switch (node.kind) {
      case "symlink":
        return ntOk(encodeReparseBuffer(windowsSymlinkOf(await this.linkTarget(node), this.hostRoot)));
      case "special": {
        const nfs = nfsReparseForStat(node.attr.mode, node.attr.rdev);
        return nfs === undefined ? ntFail(NtStatus.STATUS_NOT_A_REPARSE_POINT) : ntOk(encodeReparseBuffer(nfs));
      }
      default: {
        const meta = await this.metadata.meta(node);
        const flagged = ((meta.dos?.attributes ?? 0) & FileAttribute.FILE_ATTRIBUTE_REPARSE_POINT) !== 0;
        if (!flagged || meta.reparse === undefined || meta.reparse.length < 4) return ntFail(NtStatus.STATUS_NOT_A_REPARSE_POINT);
        return ntOk(meta.reparse.slice());
      }
    }
  }
}
