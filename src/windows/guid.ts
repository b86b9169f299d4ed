/**
 * GUIDs in their Windows binary form (Data1 u32 LE, Data2 u16 LE, Data3 u16
 * LE, Data4 8 bytes) and their text form `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`
 * (lower case when formatted; either case, optional braces, when parsed).
 */
import { ProtocolErrorCode } from "../common/errors.js";
import { type ByteReader, type ByteWriter, malformed } from "./bytes.js";

/** Bytes of a GUID in binary form. */
export const GUID_SIZE = 16;

const GUID_RE = /^\{?([0-9a-fA-F]{8})-([0-9a-fA-F]{4})-([0-9a-fA-F]{4})-([0-9a-fA-F]{4})-([0-9a-fA-F]{12})\}?$/;

/** Canonical (lower-case, no braces) text of a GUID string; throws on a malformed one. */
export function normalizeGuid(text: string, what = "GUID"): string {
  const m = GUID_RE.exec(text);
  if (!m || text.startsWith("{") !== text.endsWith("}")) {
    malformed(ProtocolErrorCode.VALUE, what, `${JSON.stringify(text)} is not a GUID`);
  }
  return `${m[1]}-${m[2]}-${m[3]}-${m[4]}-${m[5]}`.toLowerCase();
}

/** Writes a GUID given as text. */
export function writeGuid(w: ByteWriter, text: string): void {
  const hex = normalizeGuid(text).replaceAll("-", "");
  w.u32(parseInt(hex.slice(0, 8), 16));
  w.u16(parseInt(hex.slice(8, 12), 16));
  w.u16(parseInt(hex.slice(12, 16), 16));
  w.bytes(Buffer.from(hex.slice(16), "hex"));
}

/** Reads a GUID as canonical text. */
export function readGuid(r: ByteReader, field = "GUID"): string {
  const d1 = r.u32(field).toString(16).padStart(8, "0");
  const d2 = r.u16(field).toString(16).padStart(4, "0");
  const d3 = r.u16(field).toString(16).padStart(4, "0");
  const d4 = Buffer.from(r.bytesCopy(8, field)).toString("hex");
  return `${d1}-${d2}-${d3}-${d4.slice(0, 4)}-${d4.slice(4)}`;
}
