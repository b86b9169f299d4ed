/**
 * `viofs shell -c "…"`: the commands without a terminal (the compiled bin,
 * or the sources under tsx), through the whole stack on a real directory;
 * then what the host holds. Also what a person gets wrong: commands the
 * shell does not know, names that are not there, and bad command lines
 * (one line, exit 2).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { closeSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fgetxattr, flistxattr } from "../../src/sys/index.js";
import { start } from "../host/viofs-process.js";

function scratch(): string {
  return mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "viofs-shell-c-"));
}

async function viofs(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const running = start(args);
  const { code } = await running.exited;
  return { code, stdout: running.stdout(), stderr: running.stderr() };
}

function xattrNames(path: string): string[] {
  const fd = openSync(path, "r");
  try {
    return flistxattr(fd);
  } finally {
    closeSync(fd);
  }
}

function xattr(path: string, name: string): Buffer {
  const fd = openSync(path, "r");
  try {
    return fgetxattr(fd, name);
  } finally {
    closeSync(fd);
  }
}

/** A refusal: exit 2 and exactly one line `viofs: …` matching `pattern`, no stack. */
function assertOneLine(result: { code: number | null; stderr: string; stdout: string }, pattern: RegExp): void {
  assert.equal(result.code, 2, `exit status; stderr:\n${result.stderr}`);
  const lines = result.stderr.split("\n").filter((l) => l.length > 0);
  assert.equal(lines.length, 1, `one line expected, got:\n${result.stderr}`);
  assert.match(lines[0]!, /^viofs: /);
  assert.match(lines[0]!, pattern);
}

test("-c: md, cd, echo > and >>, type, move, ren, del, mklink /d /j, fsutil, cacls show and set, attrib, copy, rd /s", async (t) => {
  const share = scratch();
  t.after(() => rmSync(share, { recursive: true, force: true }));
  writeFileSync(join(share, "a.txt"), "data\r\n");
  const commands = [
    "md x\\y\\z",
    "cd x",
    "cd",
    "echo one > y\\n.txt",
    "echo two >> y\\n.txt",
    "type y\\n.txt",
    "cd ..",
    "move a.txt x",
    "ren x\\a.txt b.txt",
    "dir /b x",
    "del x\\b.txt",
    "mklink l x\\y\\n.txt",
    "mklink /d ld x",
    "mklink /j j x\\y",
    "dir",
    "fsutil reparsepoint query l",
    "fsutil reparsepoint query j",
    "type j\\n.txt",
    'cacls x /set "D:(A;;FA;;;WD)"',
    "cacls x",
    "copy x\\y\\n.txt c.txt",
    "attrib +r +s c.txt",
    "attrib c.txt",
    "vol",
    "md gone\\deep\\er",
    "echo x > gone\\deep\\f",
    "rd /s gone",
    "help md",
  ];
  const r = await viofs(["shell", `--shared-dir=${share}`, "-c", commands.join(" & ")]);
  assert.equal(r.stderr, "");
  assert.equal(r.code, 0, r.stdout);
  const out = r.stdout;
  assert.match(out, /^V:\\x$/m);
  assert.match(out, /^one\r\ntwo\r\n/m);
  assert.match(out, /^\s+1 file\(s\) moved\.$/m);
  assert.match(out, /^b\.txt\ny\n/m);
  assert.match(out, /^symbolic link created for l <<===>> x\\y\\n\.txt$/m);
  assert.match(out, /^symbolic link created for ld <<===>> x$/m);
  assert.match(out, /^Junction created for j <<===>> x\\y$/m);
  assert.match(out, /<JUNCTION>\s+j \[V:\\x\\y\]$/m);
  assert.match(out, /<SYMLINK>\s+l \[x\\y\\n\.txt\]$/m);
  assert.match(out, /<SYMLINKD>\s+ld \[x\]$/m);
  assert.match(out, /^Reparse Tag Value : 0xa000000c\nTag value: Microsoft\nTag value: Name Surrogate\nTag value: Symbolic Link$/m);
  assert.match(out, /^Reparse Tag Value : 0xa0000003$/m);
  assert.match(out, /^Substitute Name:  \\\?\?\\V:\\x\\y$/m);
  assert.match(out, /^processed file: V:\\x\nSuccessfully processed 1 files; Failed processing 0 files$/m);
  assert.match(out, /^V:\\x O:\S*G:\S*D:\(A;;FA;;;WD\)$/m);
  assert.match(out, /^\s+1 file\(s\) copied\.$/m);
  assert.match(out, /^A  S R\s+V:\\c\.txt$/m);
  assert.match(out, /^ Volume in drive V is VIOFS\n Volume Serial Number is [0-9A-F]{4}-[0-9A-F]{4}$/m);
  assert.match(out, /^Creates a directory/m);

  // The host directory.
  assert.equal(readFileSync(join(share, "x", "y", "n.txt"), "utf8"), "one\r\ntwo\r\n");
  assert.equal(existsSync(join(share, "a.txt")), false);
  assert.equal(existsSync(join(share, "x", "b.txt")), false);
  assert.equal(readlinkSync(join(share, "l")), "x/y/n.txt");
  assert.equal(readlinkSync(join(share, "ld")), "x/");
  assert.ok(lstatSync(join(share, "j")).isDirectory());
  assert.ok(xattrNames(join(share, "j")).includes("user.SmbReparse"), "the junction's buffer is kept in user.SmbReparse");
  assert.ok(xattrNames(join(share, "x")).some((n) => n === "security.NTACL" || n === "user.NTACL"), "cacls /set stored an NTACL");
  assert.equal(readFileSync(join(share, "c.txt"), "utf8"), "one\r\ntwo\r\n");
  assert.ok(xattr(join(share, "c.txt"), "user.DOSATTRIB").byteLength > 0);
  assert.equal(existsSync(join(share, "gone")), false);
});

test("-c: what a person gets wrong is answered as Windows answers it, and the exit status is 1", async (t) => {
  const share = scratch();
  t.after(() => rmSync(share, { recursive: true, force: true }));
  writeFileSync(join(share, "f.txt"), "x");
  const commands = [
    "frobnicate",
    "type missing.txt",
    "cd nowhere",
    "del nowhere",
    "md d",
    "md d",
    "rd d\\e",
    "fsutil reparsepoint query f.txt",
    "ren nothing other",
    "attrib +r f.txt",
    "del f.txt",
    "dir *.zzz",
    'cacls f.txt /set "D:(bogus"',
    "copy f.txt f.txt",
    "echo still here",
  ];
  const r = await viofs(["shell", `--shared-dir=${share}`, "-c", commands.join(";")]);
  assert.equal(r.code, 1);
  const err = r.stderr;
  assert.match(err, /^'frobnicate' is not recognized as an internal or external command,\noperable program or batch file\.$/m);
  assert.match(err, /^The system cannot find the file specified\.$/m);
  assert.match(err, /^The system cannot find the path specified\.$/m);
  assert.match(err, /^Could Not Find V:\\nowhere$/m);
  assert.match(err, /^A subdirectory or file d already exists\.$/m);
  assert.match(err, /^Error:  The file or directory is not a reparse point\.$/m);
  assert.match(err, /^A duplicate file name exists, or the file\ncannot be found\.$/m);
  assert.match(err, /^V:\\f\.txt\nAccess is denied\.$/m);
  assert.match(err, /^File Not Found$/m);
  assert.match(err, /^Invalid SDDL string: D:\(bogus$/m);
  assert.match(err, /^The file cannot be copied onto itself\.$/m);
  assert.doesNotMatch(err, /at .*\.(js|ts):\d+/, "no stack trace");
  assert.match(r.stdout, /^still here$/m);
  assert.equal(readFileSync(join(share, "f.txt"), "utf8"), "x", "the read-only file was not deleted");
});

test("--socket-path: the shell attaches to a running viofs serve", async (t) => {
  const dir = scratch();
  const share = join(dir, "share");
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(share);
  writeFileSync(join(share, "from-host.txt"), "host\n");
  const socket = join(dir, "vhost.sock");
  const server = start(["serve", `--socket-path=${socket}`, `--shared-dir=${share}`, "--sandbox=none", "--xattr"]);
  t.after(() => server.child.kill("SIGKILL"));
  await server.waitFor(/waiting for a vhost-user connection/);
  const r = await viofs(["shell", `--socket-path=${socket}`, "-c", "dir /b & echo hi > s.txt:t & type from-host.txt"]);
  assert.equal(r.stderr, "");
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^from-host\.txt$/m);
  assert.match(r.stdout, /^host$/m);
  assert.equal(readFileSync(join(share, "s.txt"), "utf8"), "");
  assert.deepEqual(xattr(join(share, "s.txt"), "user.DosStream.t:$DATA"), Buffer.from("hi\r\n\0"));
  // viofs serve ends with its one connection.
  assert.equal((await server.exited).code, 0);
});

test("bad command lines: one line, exit 2", async (t) => {
  const dir = scratch();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assertOneLine(await viofs(["shell", "--bogus"]), /unknown option '--bogus'/);
  assertOneLine(await viofs(["shell"]), /--shared-dir=DIR .* or --socket-path=PATH/);
  assertOneLine(await viofs(["shell", `--shared-dir=${dir}`, `--socket-path=${join(dir, "s")}`]), /one of them/);
  assertOneLine(await viofs(["shell", `--shared-dir=${join(dir, "nope")}`, "-c", "dir"]), /shared directory '.*nope' does not exist/);
  assertOneLine(await viofs(["shell", `--socket-path=${join(dir, "nope.sock")}`, "-c", "dir"]), /no vhost-user socket at .*nope\.sock/);
  writeFileSync(join(dir, "file"), "");
  assertOneLine(await viofs(["shell", `--socket-path=${join(dir, "file")}`, "-c", "dir"]), /is not a vhost-user-fs backend: not a socket/);
  assertOneLine(await viofs(["shell", `--shared-dir=${dir}`, "--drive=VV", "-c", "dir"]), /--drive must be a letter/);

  // A socket whose peer hangs up at once is not a vhost-user-fs backend.
  const path = join(dir, "rude.sock");
  const rude = createServer((c) => c.destroy());
  await new Promise<void>((resolve) => rude.listen(path, resolve));
  t.after(() => rude.close());
  assertOneLine(await viofs(["shell", `--socket-path=${path}`, "-c", "dir"]), /rude\.sock is not a vhost-user-fs backend/);

  const help = await viofs(["shell", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: viofs shell /);
  const top = await viofs(["help"]);
  assert.match(top.stdout, /^\s+shell\s+\S/m);
  assert.match(top.stdout, /^\s+doctor\s+\S/m);
});

test("names are case-insensitive unless --case-sensitive; commands read from a pipe are echoed after the prompt", async (t) => {
  const share = scratch();
  t.after(() => rmSync(share, { recursive: true, force: true }));
  const insensitive = await viofs(["shell", `--shared-dir=${share}`, "-c", "echo a > Name.txt & echo b > NAME.TXT & type name.txt & dir /b"]);
  assert.equal(insensitive.code, 0, insensitive.stderr);
  assert.match(insensitive.stdout, /^b\r?\nName\.txt\n$/);
  rmSync(join(share, "Name.txt"));
  const sensitive = await viofs(["shell", `--shared-dir=${share}`, "--case-sensitive", "-c", "echo a > Name.txt & echo b > NAME.TXT & type name.txt & dir /b"]);
  assert.equal(sensitive.code, 1);
  assert.equal(sensitive.stderr, "The system cannot find the file specified.\n");
  assert.match(sensitive.stdout, /^NAME\.TXT\nName\.txt\n$/);

  // Without a terminal the shell reads commands from stdin until EOF.
  const piped = start(["shell", `--shared-dir=${share}`], { stdio: ["pipe", "pipe", "pipe"] });
  piped.child.stdin!.end("cd \\\ntype Name.txt\n");
  const { code } = await piped.exited;
  assert.equal(code, 0, piped.stderr());
  assert.match(piped.stdout(), /^V:\\>cd \\\n\nV:\\>type Name\.txt\na\r\n\nV:\\>$/m);
});
