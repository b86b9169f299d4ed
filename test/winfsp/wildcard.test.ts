import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { hasWildcards, isNameInExpression, upcase, upcaseUnit } from "../../src/winfsp/wildcard.js";

const match = (expr: string, name: string, ignoreCase = false): boolean => isNameInExpression(expr, name, ignoreCase);

test("MS-FSA special cases: empty strings, * and *.*", () => {
  assert.equal(match("", ""), true);
  assert.equal(match("", "a"), false);
  assert.equal(match("a", ""), false);
  assert.equal(match("*", "anything.at.all"), true);
  assert.equal(match("*.*", "noextension"), true, "*.* matches every name, as FsRtlIsNameInExpression special-cases it");
});

test("* and ? match any characters, dots included", () => {
  assert.equal(match("*.txt", "a.txt"), true);
  assert.equal(match("*.txt", "a.b.txt"), true);
  assert.equal(match("*.txt", "a.txt.bak"), false);
  assert.equal(match("file?", "file1"), true);
  assert.equal(match("file?", "file"), false);
  assert.equal(match("file?", "file12"), false);
  assert.equal(match("a*b*c", "axxbyyc"), true);
  assert.equal(match("a*b*c", "axxbyy"), false);
  assert.equal(match("?.?", "a.b"), true);
  assert.equal(match("dir*", "."), false);
  assert.equal(match("dir*", ".."), false);
  assert.equal(match("dir*", "dir10"), true);
});

test("literal tail after a leading * is compared against the end of the name", () => {
  assert.equal(match("*abc", "xxabc"), true);
  assert.equal(match("*abc", "abc"), true);
  assert.equal(match("*abc", "abcx"), false);
  assert.equal(match("*abc", "bc"), false);
});

test("DOS_STAR < never eats the last dot", () => {
  assert.equal(match("<", "abc"), true);
  assert.equal(match("<", "a.b"), false);
  assert.equal(match("<", "a.b.c"), false);
  assert.equal(match("<.txt", "a.txt"), true);
  assert.equal(match("<.txt", "a.b.txt"), true, "earlier dots may be eaten");
  assert.equal(match("<.txt", "atxt"), false);
  assert.equal(match('<"', "abc"), true, '"*." (no extension) as Win32 rewrites it');
  assert.equal(match('<"', "a.b"), false);
});

test("DOS_QM > matches one non-dot character, or nothing at a dot or the end", () => {
  assert.equal(match(">>>", "ab"), true);
  assert.equal(match(">>>", "abc"), true);
  assert.equal(match(">>>", "abcd"), false);
  assert.equal(match(">>>", "a.b"), false);
  const eightDotThree = '>>>>>>>>">>>';
  assert.equal(match(eightDotThree, "abc"), true);
  assert.equal(match(eightDotThree, "abc.de"), true);
  assert.equal(match(eightDotThree, "abcdefgh.ijk"), true);
  assert.equal(match(eightDotThree, "abcdefghi"), false);
  assert.equal(match(eightDotThree, "a.b.c"), false);
  assert.equal(match(">.txt", ".txt"), true, "at a dot a DOS_QM matches nothing");
});

test('DOS_DOT " matches a dot, or nothing at the end', () => {
  assert.equal(match('a"', "a"), true);
  assert.equal(match('a"', "a."), true);
  assert.equal(match('a"', "ab"), false);
  assert.equal(match('a"b', "a.b"), true);
  assert.equal(match('a"b', "ab"), false);
});

test("ignoreCase compares upper-cased names and expressions", () => {
  assert.equal(match("*.TXT", "a.txt"), false);
  assert.equal(match("*.TXT", "a.txt", true), true);
  assert.equal(match("FILE?", "file1", true), true);
  assert.equal(match("ä*", "Äpfel", true), true);
  assert.equal(match("ä*", "Äpfel", false), false);
});

test("upcase maps one UTF-16 unit to one and never changes the length", () => {
  assert.equal(upcase("abcXYZ.1"), "ABCXYZ.1");
  assert.equal(upcase("straße"), "STRAßE");
  assert.equal(upcase("ﬀ"), "ﬀ", "multi-unit upper cases are left alone");
  assert.equal(upcaseUnit(0xd83d), 0xd83d, "surrogates are left alone");
  assert.equal(upcase("ǆ"), "Ǆ");
});

test("hasWildcards recognises all five wildcard characters", () => {
  for (const w of ["*", "?", "<", ">", '"']) assert.equal(hasWildcards(`a${w}b`), true, w);
  assert.equal(hasWildcards("plain.name"), false);
});

test("matching never backtracks exponentially", () => {
  const name = "a".repeat(5000);
  const started = Date.now();
  assert.equal(match("*a*a*a*a*a*a*a*a*b", name), false);
  assert.ok(Date.now() - started < 2000);
});

test("for * ? and literals the matcher agrees with a regular expression", () => {
  const toRegex = (expr: string): RegExp =>
    new RegExp(`^${[...expr].map((c) => (c === "*" ? "[^]*" : c === "?" ? "[^]" : c === "." ? "\\." : c)).join("")}$`);
  fc.assert(
    fc.property(
      fc.stringMatching(/^[ab.*?]{1,8}$/),
      fc.stringMatching(/^[ab.]{1,10}$/),
      (expr, name) => {
        fc.pre(expr !== "*.*");
        assert.equal(match(expr, name), toRegex(expr).test(name), `${expr} vs ${name}`);
      },
    ),
    { numRuns: 2000 },
  );
});
