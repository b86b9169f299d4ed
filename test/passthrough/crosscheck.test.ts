/**
 * One behavioural expectation, two implementations (ZenFS-style): the same
 * path-level operations run through node:fs on one scratch tree and through
 * the passthrough file system on another, with a small path walker playing
 * the guest kernel (component by component, following symlinks as the kernel
 * would). Every operation must give the same result or the same errno, and
 * the two trees must end up identical. A fixed scenario first, then random
 * sequences (fast-check).
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import fc from "fast-check";
import { ErrnoError } from "../../src/common/errors.js";
import { FAttr, OpenFlag } from "../../src/fuse/abi.js";
import type { EntryOut } from "../../src/fuse/structs.js";
import { NO_ENTRY } from "../../src/server/filesystem.js";
import { S_IFDIR, S_IFLNK, S_IFMT } from "../../src/sys/constants.js";
import { PassthroughFs } from "../../src/passthrough/passthrough.js";
import { ALL_FLAGS, ctx, defaults, listDir, n, readIn, releaseIn, ROOT, scratchDir, setattrIn, writeIn } from "./helpers.js";

/** A path-level file system, as a program sees one. */
interface Driver {
  mkdir(p: string, mode: number): Promise<void>;
  writeFile(p: string, data: string): Promise<void>;
  appendFile(p: string, data: string): Promise<void>;
  readFile(p: string): Promise<string>;
  truncate(p: string, length: number): Promise<void>;
  unlink(p: string): Promise<void>;
  rmdir(p: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  symlink(target: string, p: string): Promise<void>;
  link(existing: string, p: string): Promise<void>;
  chmod(p: string, mode: number): Promise<void>;
  readdir(p: string): Promise<string[]>;
}

class NodeDriver implements Driver {
  constructor(private readonly root: string) {}
  #p(p: string): string {
    return path.join(this.root, p);
  }
  async mkdir(p: string, mode: number) {
    fs.mkdirSync(this.#p(p), mode);
  }
  async writeFile(p: string, data: string) {
    fs.writeFileSync(this.#p(p), data, { mode: 0o644 });
  }
  async appendFile(p: string, data: string) {
    fs.appendFileSync(this.#p(p), data, { mode: 0o644 });
  }
  async readFile(p: string) {
    return fs.readFileSync(this.#p(p), "utf8");
  }
  async truncate(p: string, length: number) {
    fs.truncateSync(this.#p(p), length);
  }
  async unlink(p: string) {
    fs.unlinkSync(this.#p(p));
  }
  async rmdir(p: string) {
    fs.rmdirSync(this.#p(p));
  }
  async rename(from: string, to: string) {
    fs.renameSync(this.#p(from), this.#p(to));
  }
  async symlink(target: string, p: string) {
    fs.symlinkSync(target, this.#p(p));
  }
  async link(existing: string, p: string) {
    fs.linkSync(this.#p(existing), this.#p(p));
  }
  async chmod(p: string, mode: number) {
    fs.chmodSync(this.#p(p), mode);
  }
  async readdir(p: string) {
    return fs.readdirSync(this.#p(p)).sort();
  }
}

/** Where a path leads: the directory it ends in, the last name, and the entry when it exists. */
interface Walked {
  parent: bigint;
  name: string;
  entry?: EntryOut;
}

function enoent(): ErrnoError {
  return new ErrnoError(2, "walk");
}

/** The passthrough file system driven the way the guest kernel drives it. */
class FuseDriver implements Driver {
  readonly umask = process.umask();
  constructor(private readonly pfs: PassthroughFs) {}

  async #lookup(parent: bigint, name: string): Promise<EntryOut | undefined> {
    try {
      const entry = await this.pfs.lookup(ctx(), parent, n(name));
      return entry === NO_ENTRY ? undefined : entry;
    } catch (error) {
      if (ErrnoError.is(error) && error.errnoName === "ENOENT") return undefined;
      throw error;
    }
  }

  /** Resolves `p` from the root, following symlinks in the middle always and at the end when `followLast`. */
  async walk(p: string, followLast: boolean, depth = 0): Promise<Walked> {
    if (depth > 8) throw new ErrnoError(40, "walk"); // ELOOP
    const parts = p.split("/");
    let dir = ROOT;
    for (let i = 0; i < parts.length; i++) {
      const name = parts[i]!;
      const entry = await this.#lookup(dir, name);
      const last = i === parts.length - 1;
      if (entry !== undefined && (entry.attr.mode & S_IFMT) === S_IFLNK && (!last || followLast)) {
        const target = Buffer.from(await this.pfs.readlink(ctx(), entry.nodeid)).toString();
        return this.walk([...parts.slice(0, i), target, ...parts.slice(i + 1)].join("/"), followLast, depth + 1);
      }
      if (last) return entry === undefined ? { parent: dir, name } : { parent: dir, name, entry };
      if (entry === undefined) throw enoent();
      if ((entry.attr.mode & S_IFMT) !== S_IFDIR) throw new ErrnoError(20, "walk"); // ENOTDIR
      dir = entry.nodeid;
    }
    throw enoent();
  }

  async #existing(p: string, follow: boolean): Promise<EntryOut> {
    const w = await this.walk(p, follow);
    if (w.entry === undefined) throw enoent();
    return w.entry;
  }

  async #openForWrite(p: string, extra: number): Promise<{ node: bigint; fh: bigint }> {
    const w = await this.walk(p, true);
    if (w.entry === undefined) {
      const c = await this.pfs.create(ctx(), w.parent, n(w.name), OpenFlag.O_WRONLY | OpenFlag.O_CREAT | extra, 0o644, this.umask, 0);
      return { node: c.entry.nodeid, fh: c.open.fh };
    }
    if ((w.entry.attr.mode & S_IFMT) === S_IFDIR) throw new ErrnoError(21, "open"); // EISDIR
    const o = await this.pfs.open(ctx(), w.entry.nodeid, OpenFlag.O_WRONLY | extra, 0);
    return { node: w.entry.nodeid, fh: o.fh };
  }

  async #write(p: string, data: string, extra: number) {
    const { node, fh } = await this.#openForWrite(p, extra);
    const bytes = Buffer.from(data);
    const size = (await this.pfs.getattr(ctx(), node, undefined)).attr.size;
    await this.pfs.write(ctx(), node, writeIn(fh, extra & OpenFlag.O_APPEND ? size : 0n, bytes.length), [bytes]);
    await this.pfs.release(ctx(), node, releaseIn(fh));
  }

  async mkdir(p: string, mode: number) {
    const w = await this.walk(p, false);
    if (w.entry !== undefined) throw new ErrnoError(17, "mkdir"); // EEXIST
    await this.pfs.mkdir(ctx(), w.parent, n(w.name), mode, this.umask);
  }
  writeFile(p: string, data: string) {
    return this.#write(p, data, OpenFlag.O_TRUNC);
  }
  appendFile(p: string, data: string) {
    return this.#write(p, data, OpenFlag.O_APPEND);
  }
  async readFile(p: string) {
    const e = await this.#existing(p, true);
    if ((e.attr.mode & S_IFMT) === S_IFDIR) throw new ErrnoError(21, "read"); // EISDIR
    const o = await this.pfs.open(ctx(), e.nodeid, OpenFlag.O_RDONLY, 0);
    const chunks: Buffer[] = [];
    for (let offset = 0n; ; ) {
      const buffer = Buffer.alloc(7);
      const got = await this.pfs.read(ctx(), e.nodeid, readIn(o.fh, offset, buffer.length), [buffer]);
      chunks.push(buffer.subarray(0, got));
      offset += BigInt(got);
      if (got < buffer.length) break;
    }
    await this.pfs.release(ctx(), e.nodeid, releaseIn(o.fh));
    return Buffer.concat(chunks).toString();
  }
  async truncate(p: string, length: number) {
    const e = await this.#existing(p, true);
    await this.pfs.setattr(ctx(), e.nodeid, setattrIn({ valid: FAttr.SIZE, size: BigInt(length) }));
  }
  async unlink(p: string) {
    const w = await this.walk(p, false);
    await this.pfs.unlink(ctx(), w.parent, n(w.name));
  }
  async rmdir(p: string) {
    const w = await this.walk(p, false);
    await this.pfs.rmdir(ctx(), w.parent, n(w.name));
  }
  async rename(from: string, to: string) {
    const a = await this.walk(from, false);
    const b = await this.walk(to, false);
    await this.pfs.rename(ctx(), a.parent, n(a.name), b.parent, n(b.name), 0);
  }
  async symlink(target: string, p: string) {
    const w = await this.walk(p, false);
    await this.pfs.symlink(ctx(), w.parent, n(w.name), n(target));
  }
  async link(existing: string, p: string) {
    const e = await this.#existing(existing, false);
    const w = await this.walk(p, false);
    await this.pfs.link(ctx(), e.nodeid, w.parent, n(w.name));
  }
  async chmod(p: string, mode: number) {
    const e = await this.#existing(p, true);
    await this.pfs.setattr(ctx(), e.nodeid, setattrIn({ valid: FAttr.MODE, mode }));
  }
  async readdir(p: string) {
    const e = await this.#existing(p, true);
    const names = (await listDir(this.pfs, e.nodeid, 4)).map((r) => r.name);
    return names.filter((name) => name !== "." && name !== "..").sort();
  }
}

/** An operation and its arguments. */
type Op =
  | ["mkdir", string, number]
  | ["writeFile", string, string]
  | ["appendFile", string, string]
  | ["readFile", string]
  | ["truncate", string, number]
  | ["unlink", string]
  | ["rmdir", string]
  | ["rename", string, string]
  | ["symlink", string, string]
  | ["link", string, string]
  | ["chmod", string, number]
  | ["readdir", string];

/** The result of an operation: its value, or the errno name it failed with. */
async function outcome(driver: Driver, op: Op): Promise<string> {
  try {
    const [name, ...args] = op;
    const value = await (driver[name] as (...a: unknown[]) => Promise<unknown>).apply(driver, args);
    return `ok ${JSON.stringify(value ?? null)}`;
  } catch (error) {
    if (ErrnoError.is(error)) return error.errnoName;
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string") return code;
    throw error;
  }
}

/** The tree as lstat sees it: type, permissions, size, link count, content or target. */
function snapshot(root: string): string[] {
  return fs
    .readdirSync(root, { recursive: true, encoding: "utf8" })
    .sort()
    .map((name) => {
      const full = path.join(root, name);
      const st = fs.lstatSync(full);
      const what = st.isSymbolicLink()
        ? `-> ${fs.readlinkSync(full)}`
        : st.isFile()
          ? JSON.stringify(fs.readFileSync(full, "utf8"))
          : "";
      return `${name} ${(st.mode >>> 0).toString(8)} ${st.isDirectory() ? "-" : st.size} ${st.nlink} ${what}`;
    });
}

async function compare(ops: readonly Op[]): Promise<void> {
  const scratch = scratchDir("cross");
  const left = path.join(scratch.dir, "node");
  const right = path.join(scratch.dir, "fuse");
  fs.mkdirSync(left);
  fs.mkdirSync(right);
  const pfs = new PassthroughFs({ ...defaults, root: right });
  try {
    await pfs.init({ minor: 38, clientFlags: ALL_FLAGS });
    const node = new NodeDriver(left);
    const fuse = new FuseDriver(pfs);
    for (const [i, op] of ops.entries()) {
      const expected = await outcome(node, op);
      const actual = await outcome(fuse, op);
      assert.equal(actual, expected, `op ${i} ${JSON.stringify(op)}`);
    }
    assert.deepEqual(snapshot(right), snapshot(left));
  } finally {
    await pfs.destroy();
    scratch.remove();
  }
}

test("a fixed scenario gives the same results through node:fs and through the passthrough", async () => {
  await compare([
    ["mkdir", "a", 0o755],
    ["mkdir", "a", 0o755],
    ["mkdir", "a/b", 0o700],
    ["writeFile", "a/f", "hello"],
    ["appendFile", "a/f", " world"],
    ["readFile", "a/f"],
    ["readFile", "a"],
    ["writeFile", "a", "x"],
    ["truncate", "a/f", 3],
    ["readFile", "a/f"],
    ["symlink", "f", "a/l"],
    ["readFile", "a/l"],
    ["writeFile", "a/l", "via link"],
    ["symlink", "missing", "a/dangling"],
    ["readFile", "a/dangling"],
    ["writeFile", "a/dangling", "created through a dangling link"],
    ["symlink", "loop", "loop"],
    ["readFile", "loop"],
    ["link", "a/f", "hard"],
    ["link", "a", "dirlink"],
    ["link", "a/l", "symhard"],
    ["chmod", "hard", 0o600],
    ["chmod", "a/dangling", 0o640],
    ["rename", "a/f", "a/b/g"],
    ["rename", "a", "a/b/c"],
    ["rmdir", "a"],
    ["unlink", "a"],
    ["unlink", "a/b"],
    ["rmdir", "a/b/g"],
    ["readdir", "a"],
    ["readdir", "a/b"],
    ["readdir", "hard"],
    ["mkdir", "hard/x", 0o755],
    ["mkdir", "nope/x", 0o755],
    ["rename", "a/b/g", "a/missing/g"],
    ["rename", "a/b", "hard"],
    ["rename", "hard", "a/b"],
    ["unlink", "a/b"],
    ["rmdir", "a/missing"],
    ["readdir", "."],
  ]);
});

test("random operation sequences give the same results through node:fs and through the passthrough", async () => {
  const name = fc.constantFrom("a", "b", "c");
  const p = fc.oneof(name, fc.tuple(name, name).map(([x, y]) => `${x}/${y}`), fc.tuple(name, name, name).map((xs) => xs.join("/")));
  const data = fc.string({ maxLength: 12 });
  const mode = fc.constantFrom(0o755, 0o700, 0o644, 0o600, 0o4755, 0o2750);
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: fc.tuple(fc.constant("mkdir" as const), p, mode) },
    { weight: 4, arbitrary: fc.tuple(fc.constant("writeFile" as const), p, data) },
    { weight: 2, arbitrary: fc.tuple(fc.constant("appendFile" as const), p, data) },
    { weight: 2, arbitrary: fc.tuple(fc.constant("readFile" as const), p) },
    { weight: 1, arbitrary: fc.tuple(fc.constant("truncate" as const), p, fc.nat(20)) },
    { weight: 2, arbitrary: fc.tuple(fc.constant("unlink" as const), p) },
    { weight: 2, arbitrary: fc.tuple(fc.constant("rmdir" as const), p) },
    { weight: 3, arbitrary: fc.tuple(fc.constant("rename" as const), p, p) },
    { weight: 2, arbitrary: fc.tuple(fc.constant("symlink" as const), fc.oneof(name, p), p) },
    { weight: 2, arbitrary: fc.tuple(fc.constant("link" as const), p, p) },
    { weight: 1, arbitrary: fc.tuple(fc.constant("chmod" as const), p, mode) },
    { weight: 1, arbitrary: fc.tuple(fc.constant("readdir" as const), fc.oneof(fc.constant("."), p)) },
  );
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 30 }), (ops) => compare(ops)),
    { numRuns: 60 },
  );
});
