/**
 * `viofs shell --shared-dir D` as a person uses it: the compiled bin in a
 * real terminal (tmux), keys typed, the screen read back; then the host
 * directory is checked for what the Windows commands did (the file, the
 * hidden attribute in user.DOSATTRIB, the stream in user.DosStream.*).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fgetxattr } from "../../src/sys/index.js";
import { decodeDosAttrib, FileAttribute } from "../../src/windows/attributes.js";
import { atEnd, scratchDir } from "../scratch.js";
import { compiledViofs, TmuxSession } from "./tmux.js";

/** tmpfs when there is one (user xattrs without ext4's 4 KiB limit), as the conformance shares. */
function scratch(): string {
  return mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "viofs-shell-test-"));
}

function xattr(path: string, name: string): Buffer {
  const fd = openSync(path, "r");
  try {
    return fgetxattr(fd, name);
  } finally {
    closeSync(fd);
  }
}

/** Prompt lines (`V:\…>` with or without a command after). */
function prompts(screen: string): number {
  return screen.split("\n").filter((l) => /^V:\\[^>]*>/.test(l)).length;
}

function lastLine(screen: string): string {
  const lines = screen.replace(/\n+$/, "").split("\n");
  return lines[lines.length - 1] ?? "";
}

function count(screen: string, pattern: RegExp): number {
  return screen.split("\n").filter((l) => pattern.test(l)).length;
}

test("viofs shell in a terminal: dir, copy, attrib +h, echo to a stream, dir /r, completion, history, a long copy", async (t) => {
  const share = scratch();
  writeFileSync(join(share, "a.txt"), "hello\r\n");
  const big = randomBytes(24 << 20);
  writeFileSync(join(share, "big.bin"), big);
  // The shell keeps its socket in a directory of its own under TMPDIR, removed when it exits; one the
  // terminal's end kills (a failed test) cannot, so that directory is made in one of this test's.
  const shellTmp = scratchDir(t, "viofs-shell-tmp-");
  const term = TmuxSession.start(["env", `TMPDIR=${shellTmp}`, ...compiledViofs(), "shell", `--shared-dir=${share}`]);
  atEnd(t, () => {
    term.kill();
    rmSync(share, { recursive: true, force: true });
  });

  await term.waitFor((s) => lastLine(s) === "V:\\>", "the prompt V:\\>");

  /** Types a command and waits for its output and the next prompt. */
  const run = async (command: string, expect: RegExp): Promise<string> => {
    const before = prompts(term.screen());
    term.line(command);
    return term.waitFor((s) => prompts(s) > before && lastLine(s) === "V:\\>" && expect.test(s), `${expect} after '${command}'`, 60_000);
  };

  let screen = await run("dir", /2 File\(s\)\s+25,165,831 bytes/);
  assert.match(screen, /^ Volume in drive V is VIOFS$/m);
  assert.match(screen, /^ Directory of V:\\$/m);
  assert.match(screen, /^\d\d\/\d\d\/\d{4}  \d\d:\d\d [AP]M\s+7 a\.txt$/m);
  assert.match(screen, /^\d\d\/\d\d\/\d{4}  \d\d:\d\d [AP]M\s+25,165,824 big\.bin$/m);

  await run("copy a.txt b.txt", /^\s+1 file\(s\) copied\.$/m);
  await run("attrib +h b.txt", /V:\\>attrib \+h b\.txt\n/);
  screen = await run("attrib b.txt", /^A\s+H\s+V:\\b\.txt$/m);

  await run("echo x > f:s", /V:\\>echo x > f:s\n/);
  screen = await run("dir /r", /^\s+3 f:s:\$DATA$/m);
  // b.txt is hidden now: plain dir leaves it out, dir /a shows it.
  const listing = screen.slice(screen.lastIndexOf("V:\\>dir /r"));
  assert.doesNotMatch(listing, / b\.txt$/m);
  assert.match(listing, /^\d\d\/\d\d\/\d{4}  \d\d:\d\d [AP]M\s+0 f$/m);
  await run("dir /a /b", /^b\.txt$/m);

  // Tab completes a name; Enter runs it.
  term.type("type a.t");
  term.press("Tab");
  await term.waitFor((s) => lastLine(s) === "V:\\>type a.txt", "the completed name 'type a.txt'");
  const hellos = count(term.screen(), /^hello$/);
  term.press("Enter");
  await term.waitFor((s) => count(s, /^hello$/) === hellos + 1 && lastLine(s) === "V:\\>", "hello from type a.txt");
  // Up brings the last command back.
  term.press("Up");
  await term.waitFor((s) => lastLine(s) === "V:\\>type a.txt", "the last command after Up");
  term.press("Enter");
  await term.waitFor((s) => count(s, /^hello$/) === hellos + 2 && lastLine(s) === "V:\\>", "hello again");

  // Ctrl-C drops the line being typed, as in cmd.
  term.type("dir this is not run");
  term.press("C-c");
  await term.waitFor((s) => /^V:\\>dir this is not run\^C$/m.test(s) && lastLine(s) === "V:\\>", "^C and a fresh prompt");

  // Errors as Windows words them.
  await run("type nothing.txt", /^The system cannot find the file specified\.$/m);
  await run("frobnicate", /^'frobnicate' is not recognized as an internal or external command,$/m);

  // A long copy shows progress, left at 100%.
  screen = await run("copy big.bin big2.bin", /100%.*big\.bin\n\s+1 file\(s\) copied\./);
  assert.match(screen, /\[#{20}\] 100% +24\.0 MiB of 24\.0 MiB/);

  term.line("exit");
  await term.waitFor(/^\[exited 0\]$/m, "the shell's exit status 0");

  // What the host directory holds.
  assert.equal(readFileSync(join(share, "b.txt"), "utf8"), "hello\r\n");
  const dos = decodeDosAttrib(xattr(join(share, "b.txt"), "user.DOSATTRIB"));
  assert.equal(dos.attributes & FileAttribute.FILE_ATTRIBUTE_HIDDEN, FileAttribute.FILE_ATTRIBUTE_HIDDEN);
  assert.deepEqual(xattr(join(share, "f"), "user.DosStream.s:$DATA"), Buffer.from("x\r\n\0"));
  assert.equal(readFileSync(join(share, "f")).byteLength, 0);
  assert.ok(readFileSync(join(share, "big2.bin")).equals(big), "big2.bin is a copy of big.bin");
});
