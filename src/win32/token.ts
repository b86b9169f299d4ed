/**
 * The caller's security context and the two security routines the WinFsp
 * DLL borrows from Windows: AccessCheck (what an access token may do to an
 * object with a given security descriptor) and CreatePrivateObjectSecurity
 * (the descriptor of a new file, from its parent's and the creator's).
 *
 * The token is a plain value: a user, groups, an owner and primary group for
 * new objects, a default DACL and privileges (held, and enabled or not). The
 * default token is the one winfsp-tests runs with: an elevated member of
 * BUILTIN\Administrators, traverse checking bypassed (SeChangeNotifyPrivilege
 * enabled), backup, restore, security and symbolic-link privileges held but
 * disabled.
 */
import {
  ACL_REVISION,
  AccessMask,
  AceFlag,
  AceType,
  SeControl,
  WellKnownSid,
  isOpaqueAce,
  mapGenericMask,
  sid,
  sidEquals,
  type Ace,
  type Acl,
  type AnyAce,
  type SecurityDescriptor,
  type Sid,
} from "../windows/security.js";

/** Privilege names (winnt.h SE_*_NAME). */
export const Privilege = {
  SE_BACKUP_NAME: "SeBackupPrivilege",
  SE_RESTORE_NAME: "SeRestorePrivilege",
  SE_CHANGE_NOTIFY_NAME: "SeChangeNotifyPrivilege",
  SE_CREATE_SYMBOLIC_LINK_NAME: "SeCreateSymbolicLinkPrivilege",
  SE_SECURITY_NAME: "SeSecurityPrivilege",
  SE_TAKE_OWNERSHIP_NAME: "SeTakeOwnershipPrivilege",
} as const;

/** What a new token holds. */
export interface AccessTokenInit {
  readonly user: Sid;
  /** Enabled group SIDs (the user SID is not repeated here). */
  readonly groups: readonly Sid[];
  /** Default owner of new objects (TokenOwner). */
  readonly owner: Sid;
  /** Default group of new objects (TokenPrimaryGroup). */
  readonly primaryGroup: Sid;
  /** DACL of new objects that neither the creator nor inheritance gives one (TokenDefaultDacl). */
  readonly defaultDacl: Acl;
  /** Privileges held, by name, with whether each is enabled. */
  readonly privileges: Readonly<Record<string, boolean>>;
}

/** An access token: identity, defaults for new objects and privileges. */
export class AccessToken {
  readonly user: Sid;
  readonly groups: readonly Sid[];
  readonly owner: Sid;
  readonly primaryGroup: Sid;
  readonly defaultDacl: Acl;
  private readonly privileges: Map<string, boolean>;

  constructor(init: AccessTokenInit) {
    this.user = init.user;
    this.groups = init.groups;
    this.owner = init.owner;
    this.primaryGroup = init.primaryGroup;
    this.defaultDacl = init.defaultDacl;
    this.privileges = new Map(Object.entries(init.privileges));
  }

  /**
   * The token winfsp-tests runs under: user S-1-5-21-1-2-3-1001, groups
   * Administrators, Users, Everyone, Authenticated Users and INTERACTIVE;
   * new objects owned by Administrators with default DACL
   * `(A;;GA;;;BA)(A;;GA;;;SY)`.
   */
  static administrator(): AccessToken {
    const allow = (who: Sid): Ace => ({ type: AceType.ACCESS_ALLOWED, flags: 0, mask: AccessMask.GENERIC_ALL, sid: who });
    return new AccessToken({
      user: sid("S-1-5-21-1-2-3-1001"),
      groups: [
        WellKnownSid.BUILTIN_ADMINISTRATORS,
        WellKnownSid.BUILTIN_USERS,
        WellKnownSid.WORLD,
        WellKnownSid.AUTHENTICATED_USERS,
        sid("S-1-5-4"),
        sid("S-1-5-21-1-2-3-513"),
      ],
      owner: WellKnownSid.BUILTIN_ADMINISTRATORS,
      primaryGroup: sid("S-1-5-21-1-2-3-513"),
      defaultDacl: {
        revision: ACL_REVISION,
        aces: [allow(WellKnownSid.BUILTIN_ADMINISTRATORS), allow(WellKnownSid.LOCAL_SYSTEM)],
      },
      privileges: {
        [Privilege.SE_CHANGE_NOTIFY_NAME]: true,
        [Privilege.SE_BACKUP_NAME]: false,
        [Privilege.SE_RESTORE_NAME]: false,
        [Privilege.SE_SECURITY_NAME]: false,
        [Privilege.SE_TAKE_OWNERSHIP_NAME]: false,
        [Privilege.SE_CREATE_SYMBOLIC_LINK_NAME]: false,
      },
    });
  }

  /** Is `s` the user or one of the groups? */
  isMember(s: Sid): boolean {
    if (sidEquals(s, this.user)) return true;
    return this.groups.some((g) => sidEquals(g, s));
  }

  /** Does the token hold the privilege (enabled or not)? */
  holds(name: string): boolean {
    return this.privileges.has(name);
  }

  /** Is the privilege held and enabled? */
  enabled(name: string): boolean {
    return this.privileges.get(name) === true;
  }

  /** AdjustTokenPrivileges for one privilege: false if it is not held. */
  setEnabled(name: string, enabled: boolean): boolean {
    if (!this.privileges.has(name)) return false;
    this.privileges.set(name, enabled);
    return true;
  }

  /** The privileges held, with their state. */
  privilegeList(): { name: string; enabled: boolean }[] {
    return [...this.privileges].map(([name, enabled]) => ({ name, enabled }));
  }
}

/** The outcome of an access check: what was granted, and whether the whole request was. */
export interface AccessCheckResult {
  readonly ok: boolean;
  readonly granted: number;
}

const OWNER_RIGHTS = sid("S-1-3-4");

function aceApplies(ace: AnyAce): ace is Ace {
  return !isOpaqueAce(ace) && (ace.flags & AceFlag.INHERIT_ONLY) === 0;
}

/**
 * AccessCheck against a file security descriptor with the file generic
 * mapping. Rules, in Windows' order:
 *
 * - GENERIC_* rights are mapped; ACCESS_SYSTEM_SECURITY needs
 *   SeSecurityPrivilege enabled; WRITE_OWNER is granted by an enabled
 *   SeTakeOwnershipPrivilege.
 * - The owner gets READ_CONTROL and WRITE_DAC unless an OWNER RIGHTS ACE
 *   says otherwise.
 * - A missing or NULL DACL grants everything; an empty one nothing.
 * - ACEs are read in order; an allow ACE grants the bits not yet denied, a
 *   deny ACE denies the bits not yet granted; ACEs for SIDs not in the token
 *   and inherit-only ACEs are skipped.
 * - MAXIMUM_ALLOWED grants whatever the ACEs allow (denied if that is
 *   nothing); otherwise every requested bit must be granted.
 */
export function accessCheck(sd: SecurityDescriptor, token: AccessToken, desiredAccess: number): AccessCheckResult {
  const maximum = (desiredAccess & AccessMask.MAXIMUM_ALLOWED) !== 0;
  const requested = mapGenericMask(desiredAccess & ~AccessMask.MAXIMUM_ALLOWED) >>> 0;
  let granted = 0;
  if (requested & AccessMask.ACCESS_SYSTEM_SECURITY) {
    if (!token.enabled(Privilege.SE_SECURITY_NAME)) return { ok: false, granted: 0 };
    granted |= AccessMask.ACCESS_SYSTEM_SECURITY;
  }
  if (token.enabled(Privilege.SE_TAKE_OWNERSHIP_NAME)) granted |= AccessMask.WRITE_OWNER;

  const dacl = sd.dacl;
  if (dacl === undefined || dacl === null) {
    granted |= AccessMask.FILE_ALL_ACCESS;
  } else {
    const ownerIsCaller = sd.owner !== undefined && token.isMember(sd.owner);
    const ownerRightsAce = dacl.aces.some((a) => aceApplies(a) && sidEquals(a.sid, OWNER_RIGHTS));
    if (ownerIsCaller && !ownerRightsAce) granted |= AccessMask.READ_CONTROL | AccessMask.WRITE_DAC;
    let denied = 0;
    for (const ace of dacl.aces) {
      if (!aceApplies(ace)) continue;
      const applies = sidEquals(ace.sid, OWNER_RIGHTS) ? ownerIsCaller : token.isMember(ace.sid);
      if (!applies) continue;
      const mask = mapGenericMask(ace.mask);
      if (ace.type === AceType.ACCESS_ALLOWED || ace.type === AceType.ACCESS_ALLOWED_CALLBACK) {
        granted |= mask & ~denied;
      } else if (ace.type === AceType.ACCESS_DENIED || ace.type === AceType.ACCESS_DENIED_CALLBACK) {
        denied |= mask & ~granted;
        if (!maximum && (denied & requested) !== 0) return { ok: false, granted: 0 };
      }
    }
  }
  granted >>>= 0;
  if ((requested & ~granted) !== 0) return { ok: false, granted: 0 };
  if (maximum) return granted === 0 ? { ok: false, granted: 0 } : { ok: true, granted };
  return { ok: true, granted: requested };
}

/** An inherited copy of `ace` for a child object, or null if it does not pass to that kind of object. */
function inheritAce(ace: Ace, isContainer: boolean, owner: Sid, group: Sid): Ace[] {
  const oi = (ace.flags & AceFlag.OBJECT_INHERIT) !== 0;
  const ci = (ace.flags & AceFlag.CONTAINER_INHERIT) !== 0;
  const np = (ace.flags & AceFlag.NO_PROPAGATE_INHERIT) !== 0;
  if (isContainer ? !ci && !oi : !oi) return [];
  const substitute = (s: Sid): Sid =>
    sidEquals(s, WellKnownSid.CREATOR_OWNER) ? owner : sidEquals(s, WellKnownSid.CREATOR_GROUP) ? group : s;
  const out: Ace[] = [];
  const effectiveHere = isContainer ? ci : true;
  if (effectiveHere) {
    out.push({ ...ace, sid: substitute(ace.sid), mask: mapGenericMask(ace.mask), flags: AceFlag.INHERITED });
  }
  if (isContainer && !np) {
    // Keep passing it down; as inherit-only where it does not apply here.
    const flags = (ace.flags & (AceFlag.OBJECT_INHERIT | AceFlag.CONTAINER_INHERIT)) | AceFlag.INHERITED;
    if (!effectiveHere || !sidEquals(substitute(ace.sid), ace.sid)) out.push({ ...ace, flags: flags | AceFlag.INHERIT_ONLY });
    else out[out.length - 1] = { ...out[out.length - 1]!, flags: flags };
  }
  return out;
}

/**
 * CreatePrivateObjectSecurity with the file generic mapping (what WinFsp's
 * FspCreateSecurityDescriptor calls), classic (non auto-inherit) rules:
 *
 * - owner and group from the creator's descriptor, else the token's;
 * - a DACL the creator gives is used (generic rights mapped); otherwise the
 *   parent's inheritable ACEs for this kind of object; otherwise the token's
 *   default DACL (mapped);
 * - a SACL only from the creator.
 */
export function createObjectSecurity(
  parent: SecurityDescriptor | null,
  creator: SecurityDescriptor | null,
  isContainer: boolean,
  token: AccessToken,
): SecurityDescriptor {
  const owner = creator?.owner ?? token.owner;
  const group = creator?.group ?? token.primaryGroup;
  let control = 0;
  let dacl: Acl | null | undefined;
  const mapAcl = (acl: Acl): Acl => ({
    revision: acl.revision,
    aces: acl.aces.map((a) =>
      isOpaqueAce(a) || (a.flags & AceFlag.INHERIT_ONLY) !== 0 ? a : { ...a, mask: mapGenericMask(a.mask) },
    ),
  });
  if (creator !== null && creator.dacl !== undefined) {
    dacl = creator.dacl === null ? null : mapAcl(creator.dacl);
    control |=
      creator.control &
      (SeControl.SE_DACL_PROTECTED | SeControl.SE_DACL_AUTO_INHERITED | SeControl.SE_DACL_AUTO_INHERIT_REQ);
  } else {
    const inherited: Ace[] = [];
    if (parent?.dacl) {
      for (const ace of parent.dacl.aces) if (!isOpaqueAce(ace)) inherited.push(...inheritAce(ace, isContainer, owner, group));
    }
    dacl = inherited.length > 0 ? { revision: ACL_REVISION, aces: inherited } : mapAcl(token.defaultDacl);
  }
  const sd: SecurityDescriptor = {
    control,
    owner,
    group,
    ...(dacl !== undefined ? { dacl } : {}),
    ...(creator?.sacl !== undefined ? { sacl: creator.sacl } : {}),
  };
  return sd;
}
