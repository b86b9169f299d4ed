/**
 * The security-descriptor helpers a WinFsp file system uses, over the codecs
 * of src/windows/security.ts: FspSetSecurityDescriptor (what SetSecurity
 * stores) on binary self-relative descriptors, and MEMFS's root descriptor.
 */
import { ProtocolError } from "../common/errors.js";
import { NtStatus } from "../windows/ntstatus.js";
import {
  ACL_REVISION,
  AccessMask,
  AceType,
  SeControl,
  WellKnownSid,
  applySecurity,
  decodeSecurityDescriptor,
  encodeSecurityDescriptor,
  type SecurityDescriptor,
} from "../windows/security.js";
import { ntFail, ntOk, type NtResult } from "./interface.js";

/**
 * FspSetSecurityDescriptor: `current` (self-relative, or `null` for a file
 * without one) with the parts `securityInformation` selects replaced from
 * `modification`, generic rights mapped through the file generic mapping
 * (SetPrivateObjectSecurity semantics, see `applySecurity`). A descriptor
 * that does not decode is STATUS_INVALID_SECURITY_DESCR.
 */
export function applySecurityDescriptor(
  current: Uint8Array | null,
  securityInformation: number,
  modification: Uint8Array,
): NtResult<Uint8Array> {
  let base: SecurityDescriptor;
  let change: SecurityDescriptor;
  try {
    base = current === null || current.length === 0 ? { control: 0 } : decodeSecurityDescriptor(current);
    change = decodeSecurityDescriptor(modification);
  } catch (e) {
    if (ProtocolError.is(e)) return ntFail(NtStatus.STATUS_INVALID_SECURITY_DESCR);
    throw e;
  }
  return ntOk(encodeSecurityDescriptor(applySecurity(base, securityInformation, change)));
}

/**
 * MEMFS's root descriptor, `O:BAG:BAD:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FA;;;WD)`:
 * owned by Administrators, full access for SYSTEM, Administrators and
 * Everyone, protected from inheritance.
 */
export function defaultRootSecurityDescriptor(): Uint8Array {
  const allow = (who: (typeof WellKnownSid)[keyof typeof WellKnownSid]) => ({
    type: AceType.ACCESS_ALLOWED,
    flags: 0,
    mask: AccessMask.FILE_ALL_ACCESS,
    sid: who,
  });
  return encodeSecurityDescriptor({
    control: SeControl.SE_DACL_PROTECTED,
    owner: WellKnownSid.BUILTIN_ADMINISTRATORS,
    group: WellKnownSid.BUILTIN_ADMINISTRATORS,
    dacl: {
      revision: ACL_REVISION,
      aces: [allow(WellKnownSid.LOCAL_SYSTEM), allow(WellKnownSid.BUILTIN_ADMINISTRATORS), allow(WellKnownSid.WORLD)],
    },
  });
}
