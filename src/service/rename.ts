/**
 * Rename over FUSE, with the Windows rules MemoryFileSystem follows: an
 * existing target is STATUS_OBJECT_NAME_COLLISION unless replacing, a
 * directory target STATUS_ACCESS_DENIED, a directory into itself
 * STATUS_INVALID_PARAMETER. On case-insensitive volumes a target that
 * differs only in case from an existing name is that name (a collision, or
 * replaced and then given the new spelling); a case-only change of the file
 * itself is a rename. The name cache and case indexes follow; open contexts
 * keep working, the renamed one under its new name.
 */
import { ErrnoError } from "../common/errors.js";
import { Errno } from "../common/errno.js";
import { RenameFlag } from "../fuse/abi.js";
import { NtStatus } from "../windows/ntstatus.js";
import { NT_OK, ntFail, type NtResult } from "../winfsp/interface.js";
import type { FuseFileContext } from "./context.js";
import { hostNameOf, lastComponent, longNameValue, mayCreateName, parseWindowsPath } from "./names.js";
import type { ServiceNode } from "./nodes.js";
import { isErrno } from "./status.js";
import type { Volume } from "./volume.js";

export class Renamer {
  constructor(private readonly v: Volume) {}

  /** Renames the context's file `fileName` to `newFileName` (see the module comment). Throws ErrnoErrors of the host. */
  async rename(ctx: FuseFileContext, fileName: string, newFileName: string, replaceIfExists: boolean): Promise<NtResult<void>> {
    if (ctx.stream !== null || ctx.node.pinned) return ntFail(NtStatus.STATUS_INVALID_PARAMETER);
    const from = parseWindowsPath(fileName);
    if (!from.ok) return from;
    const to = parseWindowsPath(newFileName);
    if (!to.ok) return to;
    if (to.value.stream !== null || to.value.components.length === 0 || from.value.components.length === 0) return ntFail(NtStatus.STATUS_INVALID_PARAMETER);

    const oldParentWalk = await this.v.resolver.walkParent(from.value.components);
    if (!oldParentWalk.ok) return oldParentWalk;
    const oldParent = oldParentWalk.value.node;
    const held: ServiceNode[] = [oldParent];
    try {
      const source = await this.v.resolver.child(oldParent, lastComponent(from.value.components));
      if (!source.ok) return source;
      if (source.value === null) return ntFail(NtStatus.STATUS_OBJECT_NAME_NOT_FOUND);
      held.push(source.value.node);
      if (source.value.node !== ctx.node) return ntFail(NtStatus.STATUS_OBJECT_NAME_NOT_FOUND);
      const oldName = source.value.name;
      const oldHost = hostNameOf(oldName);
      if (!oldHost.ok) return oldHost;

      const newParentWalk = await this.v.resolver.walkParent(to.value.components);
      if (!newParentWalk.ok) return newParentWalk;
      const newParent = newParentWalk.value.node;
      held.push(newParent);
      const newName = lastComponent(to.value.components);
      const newHost = hostNameOf(newName);
      if (!newHost.ok) return newHost;
      const newLong = longNameValue(newName);
      if (!mayCreateName(newName, newHost.value) || (newLong !== null && !this.v.longNames.canHold(ctx.node))) {
        return ntFail(NtStatus.STATUS_OBJECT_NAME_INVALID);
      }

      const target = await this.v.resolver.child(newParent, newName);
      if (!target.ok) return target;
      if (target.value !== null) held.push(target.value.node);
      const targetIsOther = target.value !== null && target.value.node !== ctx.node;
      if (targetIsOther) {
        if (!replaceIfExists) return ntFail(NtStatus.STATUS_OBJECT_NAME_COLLISION);
        if (target.value!.node.kind === "directory") return ntFail(NtStatus.STATUS_ACCESS_DENIED);
      }
      if (oldParent === newParent && oldHost.value === newHost.value) return NT_OK;

      // The full name goes on first: a host that cannot keep it refuses the rename before anything moves.
      if (newLong !== null && !(await this.v.longNames.store(ctx.node, newLong))) return ntFail(NtStatus.STATUS_OBJECT_NAME_INVALID);
      const targetName = targetIsOther ? target.value!.name : newName;
      const targetHost = hostNameOf(targetName);
      if (!targetHost.ok) return targetHost;
      try {
        if (targetIsOther) await this.v.session.rename(oldParent.nodeid, oldHost.value, newParent.nodeid, targetHost.value);
        else await this.noReplace(oldParent, oldHost.value, newParent, newHost.value);
      } catch (error) {
        // The file keeps its old name: give it back its own full name (or none).
        if (newLong !== null) {
          const oldLong = longNameValue(oldName);
          if (oldLong !== null) await this.v.longNames.store(ctx.node, oldLong);
          else await this.v.longNames.clear(ctx.node);
        }
        if (isErrno(error, Errno.EEXIST, Errno.ENOTEMPTY)) return ntFail(replaceIfExists ? NtStatus.STATUS_ACCESS_DENIED : NtStatus.STATUS_OBJECT_NAME_COLLISION);
        if (isErrno(error, Errno.EISDIR)) return ntFail(NtStatus.STATUS_ACCESS_DENIED);
        throw error;
      }
      this.v.resolver.noteRemoved(oldParent, oldName, oldHost.value);
      if (targetIsOther) this.v.resolver.noteRemoved(newParent, targetName, targetHost.value);
      if (targetIsOther && targetHost.value !== newHost.value) {
        // Replaced a case variant: the file takes the new spelling.
        await this.noReplace(newParent, targetHost.value, newParent, newHost.value);
      }
      if (newLong === null && longNameValue(oldName) !== null) await this.v.longNames.clear(ctx.node);
      this.v.resolver.noteAdded(newParent, newName, newHost.value, ctx.node, { entryValid: 1n, entryValidNsec: 0 });
      ctx.names = [...newParentWalk.value.names, newName];
      ctx.node.linkIsDirectory = null;
      return NT_OK;
    } finally {
      for (const n of held) this.v.nodes.release(n);
    }
  }

  /**
   * RENAME2 with NOREPLACE. A server that does not know the flag answers
   * ENOSYS or EINVAL; EINVAL is also "a directory into itself", so the plain
   * RENAME it falls back to is sent only when the target is free (and gives
   * that EINVAL again when it was the reason).
   */
  private async noReplace(parent: ServiceNode, name: string, newParent: ServiceNode, newName: string): Promise<void> {
    try {
      await this.v.session.rename2(parent.nodeid, name, newParent.nodeid, newName, RenameFlag.NOREPLACE);
      return;
    } catch (error) {
      if (!isErrno(error, Errno.EINVAL, Errno.ENOSYS)) throw error;
    }
    let exists = true;
    try {
      const e = await this.v.session.lookup(newParent.nodeid, newName);
      this.v.session.forget(e.nodeid, 1);
    } catch (error) {
      if (!isErrno(error, Errno.ENOENT)) throw error;
      exists = false;
    }
    if (exists) throw new ErrnoError(Errno.EEXIST, "FUSE_RENAME2", newName);
    await this.v.session.rename(parent.nodeid, name, newParent.nodeid, newName);
  }
}
