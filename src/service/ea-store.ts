/**
 * Extended attributes as Samba maps them (source3/smbd/smb2_trans2.c): EA
 * `NAME` is the xattr `user.NAME`, the value stored raw. Samba's private
 * xattrs (DOSATTRIB, NTACL, streams, reparse…) are neither listed nor
 * settable; names Windows could not hold are not listed; a set reuses the
 * spelling of an existing EA that matches case-insensitively; an empty
 * value deletes. EA flags (FILE_NEED_EA) are not stored, as in Samba, so
 * Open never refuses FILE_NO_EA_KNOWLEDGE.
 */
import { Errno } from "../common/errno.js";
import type { Logger } from "../common/log.js";
import type { FuseSession } from "../guest/session.js";
import { canonicalEaXattr, checkSetEa, eaNameOfXattr, isListableEaValue, type FullEa } from "../windows/ea.js";
import { NtStatus } from "../windows/ntstatus.js";
import { NT_OK, ntFail, type NtResult } from "../winfsp/interface.js";
import type { MetadataStore } from "./metadata.js";
import type { ServiceNode } from "./nodes.js";
import { isErrno, statusOfError } from "./status.js";

export class EaStore {
  constructor(
    private readonly session: FuseSession,
    private readonly log: Logger,
    private readonly metadata: MetadataStore,
  ) {}

  /** Every EA of the node, in listing order, names as stored. */
  async list(node: ServiceNode): Promise<FullEa[]> {
    if (!node.holdsXattrs) return [];
    const meta = await this.metadata.meta(node);
    const names = [...meta.names].flatMap((x) => {
      const name = eaNameOfXattr(x);
      return name === undefined ? [] : [{ xattr: x, name }];
    });
    const values = await Promise.all(names.map(({ xattr }) => this.metadata.getXattr(node, xattr, 4096)));
    const out: FullEa[] = [];
    names.forEach(({ name }, i) => {
      const value = values[i];
      if (value !== undefined && isListableEaValue(value.length)) out.push({ flags: 0, name, value });
    });
    return out;
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
      try {
        for (const ea of eas) {
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
      } catch (error) {
        if (isErrno(error, Errno.ENOSYS)) this.metadata.noteNoXattrs(error.message);
        return ntFail(statusOfError(error, this.log, "ea-set"));
      } finally {
        // EA sizes are recounted on the next read.
        node.meta = null;
        this.metadata.expireAttr(node);
      }
      return NT_OK;
    });
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
