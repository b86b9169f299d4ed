/**
 * Long names on the host (names.ts has the format): the full name of a
 * file stored under a long-name host name lives in its xattr
 * `user.viofs:name`. This module writes and removes that xattr, and gives
 * listings the Windows name of an entry whose host name has the long form.
 */
import { Errno } from "../common/errno.js";
import { ErrnoError } from "../common/errors.js";
import type { Logger } from "../common/log.js";
import type { FuseSession } from "../guest/session.js";
import type { MetadataStore } from "./metadata.js";
import { LONG_NAME_XATTR, isLongHostName, longNameFromXattr, windowsNameOf } from "./names.js";
import type { ServiceNode } from "./nodes.js";

/** Room asked for when reading the xattr: a full name is at most 765 bytes. */
const VALUE_GUESS = 1024;

export class LongNames {
  constructor(
    private readonly session: FuseSession,
    private readonly log: Logger,
    private readonly metadata: MetadataStore,
  ) {}

  /** Whether `node` can be given a long name: it holds `user.*` xattrs and the backend keeps them. */
  canHold(node: ServiceNode): boolean {
    return node.holdsXattrs && this.metadata.xattrsSupported;
  }

  /** Stores the full name `value` (LONG_NAME_XATTR's value) on `node`; false when the host refuses. */
  async store(node: ServiceNode, value: Uint8Array): Promise<boolean> {
    if (!this.canHold(node)) return false;
    try {
      await this.session.setxattr(node.nodeid, LONG_NAME_XATTR, value);
    } catch (error) {
      if (!ErrnoError.is(error)) throw error;
      this.log.debug(`service: node ${node.nodeid}: cannot keep a long name: ${error.message}`);
      return false;
    }
    this.metadata.dropMeta(node);
    this.metadata.expireAttr(node);
    return true;
  }

  /** Removes the full name from `node` (renamed to an ordinary name); a missing one is no error. */
  async clear(node: ServiceNode): Promise<void> {
    if (!this.canHold(node)) return;
    try {
      await this.session.removexattr(node.nodeid, LONG_NAME_XATTR);
    } catch (error) {
      if (!ErrnoError.is(error)) throw error;
      if (error.errno !== Errno.ENODATA) this.log.debug(`service: node ${node.nodeid}: removing ${LONG_NAME_XATTR}: ${error.message}`);
      return;
    }
    this.metadata.dropMeta(node);
    this.metadata.expireAttr(node);
  }

  /**
   * The Windows name of the entry `host` of directory `dir`: for a host
   * name of the long form, the full name from the entry's xattr (read
   * through `nodeid` when the listing gave one, else looked up) when it
   * matches, the host name otherwise. Undefined for host names Windows
   * cannot show.
   */
  async listedName(dir: ServiceNode, host: string, nodeid: bigint): Promise<string | undefined> {
    if (!isLongHostName(host) || !this.metadata.xattrsSupported) return windowsNameOf(host);
    let value: Uint8Array | undefined;
    try {
      if (nodeid !== 0n) value = await this.session.getxattr(nodeid, LONG_NAME_XATTR, VALUE_GUESS);
      else {
        const entry = await this.session.lookup(dir.nodeid, host);
        try {
          value = await this.session.getxattr(entry.nodeid, LONG_NAME_XATTR, VALUE_GUESS);
        } finally {
          this.session.forget(entry.nodeid, 1);
        }
      }
    } catch (error) {
      // No xattr, a symlink (no user.* xattrs), a value too long, gone: the host name as it is.
      if (!ErrnoError.is(error)) throw error;
    }
    return windowsNameOf(longNameFromXattr(host, value) ?? host);
  }
}
