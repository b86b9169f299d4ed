/**
 * The shell's command-line grammar (cmd's, the part it uses) and its DOS
 * path resolution, and the Win32 message table.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { fullPath, parseCommand, splitCommands, splitWords } from "../../src/shell/parse.js";
import { hasWin32Message, win32Message } from "../../src/shell/messages.js";
import { sddlParts } from "../../src/shell/commands.js";
import { attribLetters, dirColumn, groupDigits } from "../../src/shell/format.js";

test("commands split at unquoted &, && and ;", () => {
  assert.deepEqual(splitCommands("dir & type a && md b; cd c"), ["dir", "type a", "md b", "cd c"]);
  assert.deepEqual(splitCommands('cacls f /set "D:(A;;FA;;;WD)" & dir'), ['cacls f /set "D:(A;;FA;;;WD)"', "dir"]);
  assert.deepEqual(splitCommands(" ; & "), []);
});

test("words: blanks split, quotes group and go", () => {
  assert.deepEqual(splitWords(' copy "My file.txt"  b '), ["copy", "My file.txt", "b"]);
  assert.deepEqual(splitWords('a "" b'), ["a", "", "b"]);
});

test("a command: name, switches glued to it, redirection anywhere", () => {
  assert.deepEqual(parseCommand("dir/a /r"), { name: "dir", args: ["/a", "/r"], rawArgs: "/a /r", redirect: null });
  assert.deepEqual(parseCommand("echo x > f:s"), { name: "echo", args: ["x"], rawArgs: "x", redirect: { path: "f:s", append: false } });
  assert.deepEqual(parseCommand('echo  two  words>>"my log"'), { name: "echo", args: ["two", "words"], rawArgs: " two  words", redirect: { path: "my log", append: true } });
  assert.equal(parseCommand("echo.")?.name, "echo.");
  assert.deepEqual(parseCommand("echo.text"), { name: "echo", args: ["text"], rawArgs: "text", redirect: null });
  assert.deepEqual(parseCommand("cd.."), { name: "cd", args: [".."], rawArgs: "..", redirect: null });
  assert.deepEqual(parseCommand('echo "a > b"')?.redirect, null);
  assert.equal(parseCommand("echo x >"), null);
});

test("DOS paths resolve against the current directory, streams stay on the name", () => {
  const cwd = "V:\\dir\\sub";
  assert.equal(fullPath("f", cwd), "V:\\dir\\sub\\f");
  assert.equal(fullPath("f:s", cwd), "V:\\dir\\sub\\f:s");
  assert.equal(fullPath("..\\x", cwd), "V:\\dir\\x");
  assert.equal(fullPath("..\\..\\..\\..", cwd), "V:\\");
  assert.equal(fullPath("\\top", cwd), "V:\\top");
  assert.equal(fullPath("V:x", cwd), "V:\\dir\\sub\\x");
  assert.equal(fullPath("v:\\a/b/./c", cwd), "V:\\a\\b\\c");
  assert.equal(fullPath(".", "V:\\"), "V:\\");
});

test("what dir and attrib print", () => {
  assert.equal(groupDigits(25165824n), "25,165,824");
  assert.equal(groupDigits(0), "0");
  assert.equal(dirColumn(0x20, 0, 7n), `${"7".padStart(18)} `);
  assert.equal(dirColumn(0x10, 0, 0n), "    <DIR>          ");
  assert.equal(dirColumn(0x410, 0xa000000c, 0n), "    <SYMLINKD>     ");
  assert.equal(dirColumn(0x410, 0xa0000003, 0n), "    <JUNCTION>     ");
  assert.equal(attribLetters(0x20 | 0x2), "A   H".padEnd(21));
  assert.equal(attribLetters(0x1 | 0x4), "   S R".padEnd(21));
});

test("SDDL parts name the security information to set", () => {
  assert.equal(sddlParts("D:(A;;FA;;;WD)"), 0x4);
  assert.equal(sddlParts("O:BAG:SYD:(A;;FA;;;WD)"), 0x7);
  assert.equal(sddlParts("S:(AU;SA;FA;;;WD)"), 0x8);
});

test("Win32 messages are Windows' words; unknown codes name themselves", () => {
  assert.equal(win32Message(2), "The system cannot find the file specified.");
  assert.equal(win32Message(3), "The system cannot find the path specified.");
  assert.equal(win32Message(5), "Access is denied.");
  assert.equal(win32Message(145), "The directory is not empty.");
  assert.equal(hasWin32Message(9999), false);
  assert.match(win32Message(9999), /\(error 9999\)\.$/);
});
