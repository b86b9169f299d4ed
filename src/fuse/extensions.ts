/**
 * Request extensions (7.38): the area of `fuse_in_header.total_extlen` 8-byte
 * units at the end of a request, holding a sequence of 8-byte-aligned
 * extensions, each starting with `fuse_ext_header { size, type }`:
 *
 * - type 0–31: a `fuse_secctx_header { size, nr_secctx }` followed by
 *   `nr_secctx` records of `fuse_secctx { size }`, the NUL-terminated context
 *   name and `size` bytes of context, each record padded to 8 bytes;
 * - type 32 (`FUSE_EXT_GROUPS`): `fuse_supp_groups { nr_groups, groups[] }`,
 *   padded to 8 bytes;
 * - other types: kept raw, for the caller to ignore or refuse.
 *
 * The Linux client sends them with CREATE, MKDIR, MKNOD, SYMLINK and TMPFILE
 * when SECURITY_CTX or CREATE_SUPP_GROUP was negotiated.
 */
import { ProtocolError, ProtocolErrorCode } from "../common/errors.js";
import { ExtType, fuseRecAlign } from "./abi.js";
import { ExtHeader, Secctx } from "./structs.js";
import { checkName, WireReader, WireWriter } from "./wire.js";

/** One security context: its name (e.g. `security.selinux`) and label bytes. */
export interface SecurityContext {
  name: Buffer;
  value: Uint8Array;
}

/** A decoded extension. */
export type Extension =
  | { kind: "secctx"; contexts: SecurityContext[] }
  | { kind: "groups"; groups: number[] }
  | { kind: "unknown"; type: number; data: Uint8Array };

function bad(code: (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode], message: string): ProtocolError {
  return new ProtocolError(code, `request extension: ${message}`);
}

/** Decodes an extension area (a request's `extensions`). Only ProtocolError is thrown. */
export function decodeExtensions(bytes: Uint8Array): Extension[] {
  const r = new WireReader(bytes, "request extensions");
  const out: Extension[] = [];
  while (r.remaining > 0) {
    const h = ExtHeader.decode(r);
    if (h.size < ExtHeader.SIZE || h.size % 8 !== 0) {
      throw bad(ProtocolErrorCode.VALUE, `size ${h.size} is not a multiple of 8 of at least 8`);
    }
    const bodySize = h.size - ExtHeader.SIZE;
    if (bodySize > r.remaining) {
      throw bad(ProtocolErrorCode.LENGTH, `size ${h.size} overruns the area (${r.remaining + ExtHeader.SIZE} left)`);
    }
    const body = new WireReader(r.bytesView(bodySize), "request extension");
    if (h.type <= ExtType.MAX_NR_SECCTX) {
      out.push({ kind: "secctx", contexts: decodeSecctx(body, h.type) });
    } else if (h.type === ExtType.GROUPS) {
      out.push({ kind: "groups", groups: decodeGroups(body) });
    } else {
      out.push({ kind: "unknown", type: h.type, data: body.rest() });
    }
  }
  return out;
}

function decodeSecctx(r: WireReader, count: number): SecurityContext[] {
  const contexts: SecurityContext[] = [];
  for (let i = 0; i < count; i++) {
    const start = r.offset;
    const { size } = Secctx.decode(r);
    const name = r.name("security context name");
    const value = r.bytesView(size, "security context");
    const pad = fuseRecAlign(r.offset - start) - (r.offset - start);
    r.skip(pad);
    contexts.push({ name, value });
  }
  r.end();
  return contexts;
}

function decodeGroups(r: WireReader): number[] {
  const n = r.u32();
  // The body is fuseRecAlign(8 + 4 + 4n) - 8 bytes: exactly enough for n groups plus padding.
  if (fuseRecAlign(ExtHeader.SIZE + 4 + 4 * n) !== ExtHeader.SIZE + r.bytes.byteLength) {
    throw bad(ProtocolErrorCode.LENGTH, `${n} supplementary groups do not fit ${ExtHeader.SIZE + r.bytes.byteLength} bytes`);
  }
  const groups: number[] = new Array<number>(n);
  for (let i = 0; i < n; i++) groups[i] = r.u32();
  r.skip(r.remaining);
  return groups;
}

function extensionSize(e: Extension): number {
  switch (e.kind) {
    case "secctx":
      return e.contexts.reduce((n, c) => n + fuseRecAlign(Secctx.SIZE + c.name.byteLength + 1 + c.value.byteLength), 8);
    case "groups":
      return fuseRecAlign(ExtHeader.SIZE + 4 + 4 * e.groups.length);
    case "unknown":
      return fuseRecAlign(ExtHeader.SIZE + e.data.byteLength);
  }
}

/** Encodes extensions into an area for a request's `extensions`. */
export function encodeExtensions(list: readonly Extension[]): Uint8Array {
  const total = list.reduce((n, e) => n + extensionSize(e), 0);
  const w = new WireWriter(total);
  for (const e of list) {
    const size = extensionSize(e);
    const start = w.offset;
    switch (e.kind) {
      case "secctx":
        if (e.contexts.length > ExtType.MAX_NR_SECCTX) {
          throw new ProtocolError(ProtocolErrorCode.LIMIT, `${e.contexts.length} security contexts (at most 31)`);
        }
        ExtHeader.encode(w, { size, type: e.contexts.length });
        for (const c of e.contexts) {
          checkName(c.name, "security context name");
          const recStart = w.offset;
          Secctx.encode(w, { size: c.value.byteLength });
          w.name(c.name, "security context name");
          w.bytesIn(c.value);
          w.skip(fuseRecAlign(w.offset - recStart) - (w.offset - recStart));
        }
        break;
      case "groups":
        ExtHeader.encode(w, { size, type: ExtType.GROUPS });
        w.u32(e.groups.length);
        for (const g of e.groups) w.u32(g, "supplementary group");
        break;
      case "unknown":
        if (e.type <= ExtType.GROUPS) throw new ProtocolError(ProtocolErrorCode.VALUE, `extension type ${e.type} is not unknown`);
        ExtHeader.encode(w, { size, type: e.type });
        w.bytesIn(e.data);
        break;
    }
    w.skip(start + size - w.offset);
  }
  return w.finish();
}
