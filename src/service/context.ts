/**
 * File contexts and their FUSE handles.
 *
 * One {@link FuseFileContext} per Create/Open, until Close. A context on a
 * regular file holds a FUSE file handle when the opener was granted data
 * access, opened with the matching flags (read, write or both); one that
 * lacks what a later call needs is opened again (the FSD did the access
 * check). Directories, symlinks and special files get no handle: a FIFO
 * opened on the host would block.
 */
import { Errno } from "../common/errno.js";
import type { Logger } from "../common/log.js";
import { OpenFlag } from "../fuse/abi.js";
import type { FuseSession } from "../guest/session.js";
import { AccessMask } from "../windows/security.js";
import type { Listing } from "./directory.js";
import { joinWindowsPath } from "./names.js";
import type { ServiceNode } from "./nodes.js";
import { isErrno } from "./status.js";

/** Access rights that read a file's data (and what implies them). */
export const READ_ACCESS =
  AccessMask.FILE_READ_DATA | AccessMask.FILE_EXECUTE | AccessMask.GENERIC_READ | AccessMask.GENERIC_EXECUTE | AccessMask.GENERIC_ALL | AccessMask.MAXIMUM_ALLOWED;
/** Access rights that write a file's data. */
export const WRITE_ACCESS = AccessMask.FILE_WRITE_DATA | AccessMask.FILE_APPEND_DATA | AccessMask.GENERIC_WRITE | AccessMask.GENERIC_ALL | AccessMask.MAXIMUM_ALLOWED;

/** One open of a file, directory or named stream. */
export class FuseFileContext {
  closed = false;
  /** FUSE handle of a regular file (or null), the nodeid it belongs to, and what it may do. */
  fh: bigint | null = null;
  fhNodeid = 0n;
  fhReadable = false;
  fhWritable = false;
  /** The snapshot ReadDirectory answers from. */
  listing: Listing | null = null;

  constructor(
    /** The file or directory (for a stream: its main file); the context holds one of its users. */
    readonly node: ServiceNode,
    /** The stored-case components of the name it was opened by (updated by Rename). */
    public names: readonly string[],
    /** The stream's stored name, or null for the main stream. */
    readonly stream: string | null,
  ) {
    node.opens++;
  }

  /** The stored-case full name, `\Dir\File:stream`. */
  get fileName(): string {
    return joinWindowsPath(this.names, this.stream);
  }
}

/** Opens, reopens and releases the FUSE handles of contexts. */
export class Handles {
  constructor(
    private readonly session: FuseSession,
    private readonly log: Logger,
  ) {}

  /** Opens a FUSE handle for a context on a regular file, with read and/or write access. */
  async open(ctx: FuseFileContext, read: boolean, write: boolean): Promise<void> {
    const node = ctx.node;
    let out;
    try {
      out = await this.session.open(node.nodeid, write ? (read ? OpenFlag.O_RDWR : OpenFlag.O_WRONLY) : OpenFlag.O_RDONLY);
    } catch (error) {
      // A host file we may write but not read still takes Windows writes.
      if (!(write && read && isErrno(error, Errno.EACCES))) throw error;
      read = false;
      out = await this.session.open(node.nodeid, OpenFlag.O_WRONLY);
    }
    await this.drop(ctx);
    ctx.fh = out.fh;
    ctx.fhNodeid = node.nodeid;
    ctx.fhReadable = read;
    ctx.fhWritable = write;
  }

  /** The context's handle, opened again (read and write) when it has none that can do what is asked. */
  async handle(ctx: FuseFileContext, write: boolean): Promise<bigint> {
    const fits = ctx.fh !== null && ctx.fhNodeid === ctx.node.nodeid && (write ? ctx.fhWritable : ctx.fhReadable);
    if (!fits) await this.open(ctx, true, write || ctx.fhWritable);
    return ctx.fh!;
  }

  /** Releases the context's handle, if it has one (a failed RELEASE is only logged: nothing can be done). */
  async drop(ctx: FuseFileContext): Promise<void> {
    if (ctx.fh === null) return;
    const fh = ctx.fh;
    ctx.fh = null;
    await this.session.release(ctx.fhNodeid, fh).catch((error: unknown) => {
      this.log.debug(`service: RELEASE of handle ${fh}: ${String(error)}`);
    });
  }
}
