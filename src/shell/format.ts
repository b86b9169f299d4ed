/**
 * How cmd.exe (en-US) writes what `dir` and `attrib` show: dates as
 * `MM/DD/YYYY  hh:mm AM`, sizes with thousands separators, the `<DIR>`
 * column, attribute letters.
 */
import { FileAttribute } from "../windows/attributes.js";
import { filetimeToDate } from "../windows/filetime.js";
import { ReparseTag } from "../windows/reparse.js";

const F = FileAttribute;

/** `1,234,567`. */
export function groupDigits(n: bigint | number): string {
  return BigInt(n)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** `11/25/2026  08:23 PM` in local time, as `dir` shows a FILETIME. */
export function dirDate(filetime: bigint): string {
  const d = filetimeToDate(filetime);
  const pad = (n: number): string => String(n).padStart(2, "0");
  const hours = d.getHours() % 12 === 0 ? 12 : d.getHours() % 12;
  return `${pad(d.getMonth() + 1)}/${pad(d.getDate())}/${d.getFullYear()}  ${pad(hours)}:${pad(d.getMinutes())} ${d.getHours() < 12 ? "AM" : "PM"}`;
}

/**
 * The column between the date and the name: `<DIR>`, `<SYMLINK>`,
 * `<SYMLINKD>`, `<JUNCTION>` padded to 15 after four blanks, or the size
 * right-aligned in 18; then a blank. `dir` lines are `date + column + name`.
 */
export function dirColumn(attributes: number, reparseTag: number, size: bigint): string {
  const isDir = (attributes & F.FILE_ATTRIBUTE_DIRECTORY) !== 0;
  let kind: string | null = isDir ? "<DIR>" : null;
  if ((attributes & F.FILE_ATTRIBUTE_REPARSE_POINT) !== 0) {
    if (reparseTag === ReparseTag.IO_REPARSE_TAG_SYMLINK) kind = isDir ? "<SYMLINKD>" : "<SYMLINK>";
    else if (reparseTag === ReparseTag.IO_REPARSE_TAG_MOUNT_POINT) kind = "<JUNCTION>";
  }
  return kind !== null ? `    ${kind.padEnd(15)}` : `${groupDigits(size).padStart(18)} `;
}

/** The width of a `dir` line before the name: the date (20) and the column (19). */
export const DIR_NAME_COLUMN = 39;

/** The attribute letters `attrib` shows, in its columns: `A  SHR O I  ` … then the path. */
export function attribLetters(attributes: number): string {
  const at = (bit: number, letter: string): string => ((attributes & bit) !== 0 ? letter : " ");
  return [
    at(F.FILE_ATTRIBUTE_ARCHIVE, "A"),
    " ",
    " ",
    at(F.FILE_ATTRIBUTE_SYSTEM, "S"),
    at(F.FILE_ATTRIBUTE_HIDDEN, "H"),
    at(F.FILE_ATTRIBUTE_READONLY, "R"),
    at(F.FILE_ATTRIBUTE_OFFLINE, "O"),
    at(F.FILE_ATTRIBUTE_NOT_CONTENT_INDEXED, "I"),
    " ",
    at(F.FILE_ATTRIBUTE_REPARSE_POINT, "L"),
  ]
    .join("")
    .padEnd(21);
}

/** Letters of `attrib +x` / `-x` and `dir /a:x`, with their bits. */
export const ATTRIBUTE_LETTERS: Readonly<Record<string, number>> = {
  R: F.FILE_ATTRIBUTE_READONLY,
  H: F.FILE_ATTRIBUTE_HIDDEN,
  S: F.FILE_ATTRIBUTE_SYSTEM,
  A: F.FILE_ATTRIBUTE_ARCHIVE,
  D: F.FILE_ATTRIBUTE_DIRECTORY,
  L: F.FILE_ATTRIBUTE_REPARSE_POINT,
  I: F.FILE_ATTRIBUTE_NOT_CONTENT_INDEXED,
  O: F.FILE_ATTRIBUTE_OFFLINE,
};

/** The attributes `attrib` may change (SetFileAttributes takes these). */
export const SETTABLE_ATTRIBUTES =
  F.FILE_ATTRIBUTE_READONLY |
  F.FILE_ATTRIBUTE_HIDDEN |
  F.FILE_ATTRIBUTE_SYSTEM |
  F.FILE_ATTRIBUTE_ARCHIVE |
  F.FILE_ATTRIBUTE_OFFLINE |
  F.FILE_ATTRIBUTE_NOT_CONTENT_INDEXED;

/** `12.3 MiB`. */
export function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** The names of a reparse tag's bits and kind, as `fsutil reparsepoint query` lists them. */
export function reparseTagNames(tag: number): string[] {
  const names: string[] = [];
  if ((tag & 0x80000000) !== 0) names.push("Microsoft");
  if ((tag & 0x20000000) !== 0) names.push("Name Surrogate");
  if ((tag & 0x10000000) !== 0) names.push("Directory");
  switch (tag >>> 0) {
    case ReparseTag.IO_REPARSE_TAG_SYMLINK:
      names.push("Symbolic Link");
      break;
    case ReparseTag.IO_REPARSE_TAG_MOUNT_POINT:
      names.push("Mount Point");
      break;
    case ReparseTag.IO_REPARSE_TAG_NFS:
      names.push("NFS");
      break;
  }
  return names;
}
