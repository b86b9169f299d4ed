/**
 * Scratch directories for tests: made fresh under `os.tmpdir()` and removed
 * when their owner ends, whether it passed or failed. Removal never recurses
 * through a live mount: whatever is mounted at or below the directory (a
 * FUSE mount, a tmpfs) is detached first, so the walk stays on the scratch
 * directory's own file system.
 *
 * Owners: a test (`scratchDir(t, …)`, `atEnd(t, …)`: gone when `t` ends) or
 * the enclosing file or `describe()` (`suiteScratchDir(…)`: gone after its
 * last test).
 */
import { after, type TestContext } from "node:test";
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { MNT_DETACH } from "../src/sys/constants.js";
import { umount2 } from "../src/sys/process.js";

/** Something to do when a test ends (stop a daemon, remove a directory); a promise it returns is awaited. */
export type Cleanup = () => unknown;

const stacks = new WeakMap<TestContext, Cleanup[]>();

/**
 * Runs `cleanup` when `t` ends, passed or failed. The cleanups of one test
 * run last-registered first (a daemon started in a directory is stopped
 * before the directory goes), all of them even when one throws; the first
 * failure is then the hook's. They run as one `t.after` hook, registered by
 * the test's first `atEnd`.
 */
export function atEnd(t: TestContext, cleanup: Cleanup): void {
  let stack = stacks.get(t);
  if (stack === undefined) {
    const pending: Cleanup[] = [];
    stacks.set(t, pending);
    t.after(async () => {
      const failures: unknown[] = [];
      while (pending.length > 0) {
        try {
          await pending.pop()!();
        } catch (error) {
          failures.push(error);
        }
      }
      if (failures.length === 1) throw failures[0];
      if (failures.length > 1) throw new AggregateError(failures, `${failures.length} cleanups of the test failed`);
    });
    stack = pending;
  }
  stack.push(cleanup);
}

/** Decodes the octal escapes mountinfo writes for a space, tab, newline and backslash in a path. */
function unescapeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** The mount points at or below `dir` in this process's mount namespace (/proc/self/mountinfo), deepest first. */
export function mountsUnder(dir: string): string[] {
  const root = existsSync(dir) ? realpathSync(dir) : resolve(dir);
  const found = new Set<string>();
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const field = line.split(" ")[4];
    if (field === undefined) continue;
    const point = unescapeMountPath(field);
    if (point === root || point.startsWith(`${root}/`)) found.add(point);
  }
  return [...found].sort((a, b) => b.length - a.length);
}

/** How many times removeScratch detaches what is mounted before it gives up (a mount point may hold a stack of mounts). */
const DETACH_ROUNDS = 8;

/**
 * Removes `dir` and everything in it. Every mount at or below `dir` is
 * detached first (umount2 MNT_DETACH: a dead or frozen FUSE daemon does not
 * block it); if one stays mounted (no privilege to unmount), this throws and
 * leaves the tree alone rather than delete through the mount. A `dir` that
 * is already gone is fine.
 */
export function removeScratch(dir: string): void {
  for (let round = 0; ; round++) {
    const mounts = mountsUnder(dir);
    if (mounts.length === 0) break;
    if (round === DETACH_ROUNDS) throw new Error(`test scratch: ${mounts.join(", ")} stay mounted; ${dir} is left in place`);
    for (const point of mounts) {
      try {
        umount2(point, MNT_DETACH);
      } catch {
        // Gone meanwhile, or not ours to unmount: the next round's listing tells.
      }
    }
  }
  rmSync(dir, { recursive: true, force: true });
}

/** A fresh directory `<parent>/<prefix>XXXXXX` (parent: the system's tmpdir), removed with {@link removeScratch} when `t` ends. */
export function scratchDir(t: TestContext, prefix: string, parent: string = tmpdir()): string {
  const dir = mkdtempSync(join(parent, prefix));
  atEnd(t, () => removeScratch(dir));
  return dir;
}

/**
 * A fresh directory `<parent>/<prefix>XXXXXX`, removed with
 * {@link removeScratch} after the last test of the enclosing `describe()`,
 * or of the file when called at its top level. Call it there, not inside a
 * test (use {@link scratchDir} in a test).
 */
export function suiteScratchDir(prefix: string, parent: string = tmpdir()): string {
  const dir = mkdtempSync(join(parent, prefix));
  after(() => removeScratch(dir));
  return dir;
}
