/**
 * Extended attributes as Samba maps them (source3/smbd/smb2_trans2.c): EA
 * `NAME` is the xattr `user.NAME`, the value stored raw. Samba's private
 * xattrs (DOSATTRIB, NTACL, streams, reparse…) are neither listed nor
 * settable; names Windows could not hold are not listed; a set reuses the
 * spelling of an existing EA that matches case-insensitively; an empty
 * value deletes.
 *
 * EA flags, which Samba does not keep, go to a sidecar xattr of viofs's own,
 * {@link EA_FLAGS_XATTR}: for each EA whose flags are not 0 (in practice
 * FILE_NEED_EA), one entry `u8 flags, u8 nameLength, name` (the EA name as
 * stored, without `user.`, bytes as on the wire). No entry means flags 0;
 * entries naming no existing EA are ignored; the xattr is removed when no
 * EA has flags. Its name holds a `:`, which Samba's EA listing skips (an
 * invalid Windows EA name), so Samba clients do not see it. Open with
 * FILE_NO_EA_KNOWLEDGE is refused for a file with a FILE_NEED_EA EA.
 */
import { Errno } from "../common/errno.js";
import type { Logger } from "../common/log.js";
import type { FuseSession } from "../guest/session.js";
import { FILE_NEED_EA, canonicalEaXattr, checkSetEa, eaNameOfXattr, isListableEaValue, type FullEa } from "../windows/ea.js";
import { foldCase } from "../windows/streams.js";
import { NtStatus } from "../windows/ntstatus.js";
import { NT_OK, ntFail, type NtResult } from "../winfsp/interface.js";
import type { MetadataStore } from "./metadata.js";
import type { ServiceNode } from "./nodes.js";
import { isErrno, statusOfError } from "./status.js";

/** The sidecar xattr of EA flags (see the module comment). */
export const EA_FLAGS_XATTR = "user.viofs:eaflags";

/** Decodes {@link EA_FLAGS_XATTR}: folded EA name → flags. Undefined when malformed. */
export function decodeEaFlags(value: Uint8Array): Map<string, number> | undefined {
  const out = new Map<string, number>();
  let at = 0;
  while (at < value.length) {
    if (at + 2 > value.length) return undefined;
    const flags = value[at]!;
    const length = value[at + 1]!;
    if (length === 0 || at + 2 + length > value.length) return undefined;
    const name = Buffer.from(value.subarray(at + 2, at + 2 + length)).toString("latin1");
    out.set(foldCase(name), flags);
    at += 2 + length;
  }
  return out;
}

/** Encodes {@link EA_FLAGS_XATTR} from (stored name, flags) pairs with flags not 0. */
export function encodeEaFlags(entries: Iterable<readonly [string, number]>): Uint8Array {
  const parts: number[] = [];
  for (const [name, flags] of entries) {
    const bytes = Buffer.from(name, "latin1");
    if (flags === 0 || bytes.length === 0 || bytes.length > 255) continue;
    parts.push(flags & 0xff, bytes.length, ...bytes);
  }
  return new Uint8Array(parts);
}

export class EaStore {
  constructor(
    private readonly session: FuseSession,
    private readonly log: Logger,
    private readonly metadata: MetadataStore,
  ) {}

  /** Every EA of the node, names as stored, in ordinal order of their upper case. */
  async list(node: ServiceNode): Promise<FullEa[]> {
    if (!node.holdsXattrs) return [];
    const meta = await this.metadata.meta(node);
    const names = [...meta.names].flatMap((x) => {
      const name = eaNameOfXattr(x);
      return name === undefined ? [] : [{ xattr: x, name }];
    });
    const values = await Promise.all(names.map(({ xattr }) => this.metadata.getXattr(node, xattr, 4096)));
    const flags = await this.flags(node);
    const out: FullEa[] = [];
    names.forEach(({ name }, i) => {
      const value = values[i];
      if (value !== undefined && isListableEaValue(value.length)) out.push({ flags: flags.get(foldCase(name)) ?? 0, name, value });
    });
    // Host listing order varies by file system (tmpfs lists newest first): answer them in ordinal order of the folded name, as MemoryFileSystem.
    const key = (ea: FullEa): string => foldCase(ea.name);
    return out.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  }

  /** The stored EA flags of the node (folded name → flags); empty when none are stored or the value is malformed. */
  private async flags(node: ServiceNode): Promise<Map<string, number>> {
    const meta = await this.metadata.meta(node);
    if (!meta.names.has(EA_FLAGS_XATTR)) return new Map();
    const value = await this.metadata.getXattr(node, EA_FLAGS_XATTR, 1024);
    if (value === undefined) return new Map();
    const decoded = decodeEaFlags(value);
    if (decoded === undefined) {
      this.log.warn(`service: node ${node.nodeid}: ignoring a malformed ${EA_FLAGS_XATTR}`);
      return new Map();
    }
    return decoded;
  }

  /** Whether the node has an EA flagged FILE_NEED_EA (Open refuses FILE_NO_EA_KNOWLEDGE then). */
  async needsEaKnowledge(node: ServiceNode): Promise<boolean> {
    if (!node.holdsXattrs) return false;
    for (const ea of await this.list(node)) if ((ea.flags & FILE_NEED_EA) !== 0) return true;
    return false;
  }

  /**
   * Sets, replaces or (empty value) deletes each EA. Every entry is checked
   * first (STATUS_INVALID_EA_NAME, STATUS_ACCESS_DENIED for a private name,
   * STATUS_EA_TOO_LARGE), so a refused list changes nothing.
   */
  async apply(node: ServiceNode, eas: readonly FullEa[]): Promise<NtResult<void>> {
    if (eas.length === 0) return NT_OK;
    for (const ea of eas) {
      const status = checkSetEa(ea);
      if (status !== NtStatus.STATUS_SUCCESS) return ntFail(status);
    }
    if (!this.metadata.xattrsSupported) return ntFail(NtStatus.STATUS_EAS_NOT_SUPPORTED);
    return node.lock.run(async () => {
      const meta = await this.metadata.meta(node);
      const flags = await this.flags(node);
      const before = encodeEaFlags(flags);
      try {
        for (const ea of eas) {
          const key = foldCase(ea.name);
          if (ea.value.length === 0 || ea.flags === 0) flags.delete(key);
          else flags.set(key, ea.flags);
          const xattr = canonicalEaXattr(meta.names, ea.name);
          if (ea.value.length === 0) {
            try {
              await this.session.removexattr(node.nodeid, xattr);
            } catch (error) {
              if (!isErrno(error, Errno.ENODATA)) throw error;
            }
            meta.names.delete(xattr);
          } else {
            await this.session.setxattr(node.nodeid, xattr, ea.value);
            meta.names.add(xattr);
          }
        }
        await this.storeFlags(node, meta.names, flags, before);
      } catch (error) {
        if (isErrno(error, Errno.ENOSYS)) this.metadata.noteNoXattrs(error.message);
        return ntFail(statusOfError(error, this.log, "ea-set"));
      } finally {
        // EA sizes are recounted on the next read.
        this.metadata.dropMeta(node);
        this.metadata.expireAttr(node);
      }
      return NT_OK;
    });
  }

  /** Writes the flags sidecar when it changed (removed when no EA has flags). */
  private async storeFlags(node: ServiceNode, xattrs: Set<string>, flags: Map<string, number>, before: Uint8Array): Promise<void> {
    // Stored under the spelling the EA has on the host.
    const spelled = new Map<string, string>();
    for (const x of xattrs) {
      const name = eaNameOfXattr(x);
      if (name !== undefined) spelled.set(foldCase(name), name);
    }
    const entries: [string, number][] = [];
    for (const [key, f] of flags) {
      const name = spelled.get(key);
      if (name !== undefined && f !== 0) entries.push([name, f]);
    }
    const value = encodeEaFlags(entries);
    if (Buffer.compare(value, before) === 0 && (value.length > 0) === xattrs.has(EA_FLAGS_XATTR)) return;
    if (value.length === 0) {
      try {
        await this.session.removexattr(node.nodeid, EA_FLAGS_XATTR);
      } catch (error) {
        if (!isErrno(error, Errno.ENODATA)) throw error;
      }
      xattrs.delete(EA_FLAGS_XATTR);
    } else {
      await this.session.setxattr(node.nodeid, EA_FLAGS_XATTR, value);
      xattrs.add(EA_FLAGS_XATTR);
    }
  }

  /** Removes every EA (Overwrite and supersede drop them). */
  async clear(node: ServiceNode): Promise<NtResult<void>> {
    if (!node.holdsXattrs) return NT_OK;
    const eas = await this.list(node);
    return this.apply(
      node,
      eas.map((ea) => ({ flags: 0, name: ea.name, value: new Uint8Array(0) })),
    );
  }
}
