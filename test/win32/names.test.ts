/** File names as the FSD parses them, DOS paths as the Win32 layer turns them into NT paths, FindFirstFile patterns. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { dosPathToNtPath, parseFileName, win32PatternToNt } from "../../src/win32/names.js";

describe("parseFileName", () => {
  it("keeps a named stream with one colon and drops :$DATA", () => {
    assert.deepEqual(parseFileName("\\file0:foo", 255, true), { fileName: "\\file0:foo", hasTrailingBackslash: false, streamName: "foo", dataType: false });
    assert.deepEqual(parseFileName("\\file0:foo:$DATA", 255, true), { fileName: "\\file0:foo", hasTrailingBackslash: false, streamName: "foo", dataType: true });
  });

  it("reads file::$DATA as the main stream", () => {
    assert.deepEqual(parseFileName("\\file0::$DATA", 255, true), { fileName: "\\file0", hasTrailingBackslash: false, streamName: null, dataType: true });
  });

  it("refuses empty stream names, a trailing colon, other stream types, wildcards and empty components", () => {
    for (const bad of ["\\file0:", "\\file0:foo:", "\\file0:foo:$NONEXISTANTATTR", "\\file0:foo:$DATA:", "\\a*b", "\\a<b", "\\a\\\\b", ""]) {
      assert.equal(parseFileName(bad, 255, true), null, bad);
    }
  });

  it("refuses any colon where streams are not supported", () => {
    assert.equal(parseFileName("\\file0:foo", 255, false), null);
    assert.notEqual(parseFileName("\\file0", 255, false), null);
  });

  it("removes one trailing backslash and says so; the root keeps its own", () => {
    assert.deepEqual(parseFileName("\\dir\\", 255, true), { fileName: "\\dir", hasTrailingBackslash: true, streamName: null, dataType: false });
    assert.deepEqual(parseFileName("\\", 255, true), { fileName: "\\", hasTrailingBackslash: false, streamName: null, dataType: false });
  });

  it("limits each component, in UTF-16 units", () => {
    assert.notEqual(parseFileName(`\\${"\u3041".repeat(255)}`, 255, true), null);
    assert.equal(parseFileName(`\\${"a".repeat(256)}`, 255, true), null);
  });
});

describe("dosPathToNtPath", () => {
  it("maps drive paths, relative paths and rooted paths against the current directory", () => {
    assert.equal(dosPathToNtPath("X:\\a\\b", "C:\\"), "\\??\\X:\\a\\b");
    assert.equal(dosPathToNtPath("a\\..\\b", "X:\\dir"), "\\??\\X:\\dir\\b");
    assert.equal(dosPathToNtPath("\\x", "X:\\dir"), "\\??\\X:\\x");
    assert.equal(dosPathToNtPath("X:", "X:\\dir"), "\\??\\X:\\dir\\");
  });

  it("collapses . and strips trailing dots, except in \\\\?\\ paths, which pass verbatim", () => {
    assert.equal(dosPathToNtPath("X:\\a\\.\\b.", "C:\\"), "\\??\\X:\\a\\b");
    assert.equal(dosPathToNtPath("\\\\?\\X:\\a\\..", "C:\\"), "\\??\\X:\\a\\..");
  });
});

describe("win32PatternToNt", () => {
  it("turns FindFirstFile's wildcards into the DOS wildcards", () => {
    assert.equal(win32PatternToNt("*.*"), "*");
    assert.equal(win32PatternToNt("*"), "*");
    assert.equal(win32PatternToNt("a?b"), "a>b");
    assert.equal(win32PatternToNt("*.txt"), "<.txt");
    assert.equal(win32PatternToNt("?.?"), '>">');
    assert.equal(win32PatternToNt("a.b"), "a.b");
  });
});
