/**
 * Security descriptors in Samba's `security.NTACL` (version 1, exactly as
 * set), with `user.NTACL` as the fallback where the backend refuses
 * `security.*` (C virtiofsd without CAP_SYS_ADMIN answers EPERM; Samba ≥
 * 4.17 reads it with `acl_xattr:security_acl_name = user.NTACL`).
 *
 * - Reading: the preferred name first, then the other; versions 1–4 are
 *   read and their hashes ignored (the stored descriptor is authoritative).
 *   A value that does not decode is logged and ignored.
 * - No stored descriptor: the one Samba serves under `ignore system acls`,
 *   built from the host uid/gid/mode (owner S-1-22-1-uid, group
 *   S-1-22-2-gid, or what the configured id map says).
 * - Writing: the preferred name; EPERM/EACCES/EOPNOTSUPP on `security.*`
 *   switches the store to `user.NTACL` for good (logged once). A stale copy
 *   under the other name is removed when we can, so reads see what was set.
 */
import { ProtocolError } from "../common/errors.js";
import { Errno } from "../common/errno.js";
import type { Logger } from "../common/log.js";
import type { FuseSession } from "../guest/session.js";
import {
  NTACL_XATTR,
  NTACL_XATTR_USER,
  createIdMap,
  decodeNtAcl,
  defaultSecurityDescriptor,
  encodeNtAcl,
  type DefaultAclStyle,
  type IdMap,
} from "../windows/ntacl.js";
import { decodeSecurityDescriptor, encodeSecurityDescriptor } from "../windows/security.js";
import type { MetadataStore } from "./metadata.js";
import type { ServiceNode } from "./nodes.js";
import { isErrno } from "./status.js";

/** How descriptors are kept. */
export interface AclOptions {
  /** The xattr tried first (default `security.NTACL`). */
  readonly ntaclXattr?: typeof NTACL_XATTR | typeof NTACL_XATTR_USER;
  /** uid/gid ↔ SID map (default: Samba's S-1-22 fallback only). */
  readonly idMap?: IdMap;
  /** The descriptor of files without one (default `posix`, Samba's default). */
  readonly defaultAclStyle?: DefaultAclStyle;
}

export class AclStore {
  private preferred: string;
  private readonly idMap: IdMap;
  private readonly style: DefaultAclStyle;

  constructor(
    private readonly session: FuseSession,
    private readonly log: Logger,
    private readonly metadata: MetadataStore,
    options: AclOptions = {},
  ) {
    this.preferred = options.ntaclXattr ?? NTACL_XATTR;
    this.idMap = options.idMap ?? createIdMap();
    this.style = options.defaultAclStyle ?? "posix";
  }

  /** The xattr descriptors are written to now. */
  get xattrName(): string {
    return this.preferred;
  }

  private get other(): string {
    return this.preferred === NTACL_XATTR ? NTACL_XATTR_USER : NTACL_XATTR;
  }

  /** The stored descriptor (self-relative), or undefined when the node has none that decodes. */
  async stored(node: ServiceNode): Promise<Uint8Array | undefined> {
    const meta = await this.metadata.meta(node);
    for (const name of [this.preferred, this.other]) {
      if (!meta.names.has(name)) continue;
      const value = await this.metadata.getXattr(node, name, 4096);
      if (value === undefined) continue;
      try {
        return encodeSecurityDescriptor(decodeNtAcl(value).sd);
      } catch (error) {
        if (!ProtocolError.is(error)) throw error;
        this.log.warn(`service: node ${node.nodeid}: ignoring ${name}: ${error.message}`);
      }
    }
    return undefined;
  }

  /** The descriptor of a node without a stored one, from its uid, gid and mode. */
  async synthesized(node: ServiceNode): Promise<Uint8Array> {
    const attr = await this.metadata.attr(node);
    return encodeSecurityDescriptor(defaultSecurityDescriptor(attr, this.idMap, this.style));
  }

  /** The node's descriptor: stored, else synthesized. */
  async get(node: ServiceNode): Promise<Uint8Array> {
    return (await this.stored(node)) ?? (await this.synthesized(node));
  }

  /**
   * Stores a self-relative descriptor as NTACL v1. Throws a ProtocolError
   * for a descriptor that does not decode, and the ErrnoError of a failed
   * SETXATTR.
   */
  async set(node: ServiceNode, descriptor: Uint8Array): Promise<void> {
    const value = encodeNtAcl(decodeSecurityDescriptor(descriptor));
    const meta = await this.metadata.meta(node);
    try {
      await this.session.setxattr(node.nodeid, this.preferred, value);
    } catch (error) {
      if (this.preferred !== NTACL_XATTR || !isErrno(error, Errno.EPERM, Errno.EACCES, Errno.EOPNOTSUPP) || !node.holdsXattrs) throw error;
      this.log.info(`service: the backend refuses ${NTACL_XATTR} (${error.errnoName}); keeping descriptors in ${NTACL_XATTR_USER}`);
      this.preferred = NTACL_XATTR_USER;
      await this.session.setxattr(node.nodeid, this.preferred, value);
    }
    meta.names.add(this.preferred);
    if (meta.names.has(this.other)) {
      try {
        await this.session.removexattr(node.nodeid, this.other);
        meta.names.delete(this.other);
      } catch (error) {
        // security.NTACL cannot be removed without privilege; reads prefer the name we write to.
        if (!isErrno(error, Errno.EPERM, Errno.EACCES, Errno.ENODATA, Errno.EOPNOTSUPP)) throw error;
        if (isErrno(error, Errno.ENODATA)) meta.names.delete(this.other);
      }
    }
    this.metadata.noteOwnXattrChange(node);
  }
}
