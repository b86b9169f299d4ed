/**
 * Windows metadata on a POSIX host, in Samba's formats byte for byte: NT
 * status codes, DOS attributes (`user.DOSATTRIB`), security descriptors
 * (binary, SDDL, `security.NTACL`), alternate data streams
 * (`user.DosStream.*`), reparse points and EAs. Pure codecs: no I/O.
 */
export * from "./ntstatus.js";
export * from "./filetime.js";
export * from "./attributes.js";
export * from "./security.js";
export * from "./sddl.js";
export * from "./ntacl.js";
export * from "./streams.js";
export * from "./reparse.js";
export * from "./ea.js";
export { normalizeGuid } from "./guid.js";
