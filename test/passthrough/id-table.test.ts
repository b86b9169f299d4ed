/**
 * The id table behind nodeids and fhs: ids count up, a freed id comes back
 * only after `reuseAfter` others were freed (oldest first, its generation one
 * higher), ids that were never issued read nothing, and PassthroughFs pairs a
 * reused nodeid with a new generation.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { OpenFlag } from "../../src/fuse/abi.js";
import { IdTable } from "../../src/passthrough/id-table.js";
import { ID_REUSE_AFTER } from "../../src/passthrough/inodes.js";
import { ctx, n, openFs, releaseIn, ROOT } from "./helpers.js";

test("IdTable: ids from `first` up; a freed id is issued again once more than reuseAfter wait, oldest first, with the next generation", () => {
  const t = new IdTable<string>({ first: 2, reuseAfter: 2 });
  const ids = ["a", "b", "c", "d"].map((v) => {
    let issued = -1;
    t.add((id, generation) => {
      assert.equal(generation, 0);
      issued = id;
      return v;
    });
    return issued;
  });
  assert.deepEqual(ids, [2, 3, 4, 5]);
  assert.equal(t.size, 4);
  assert.equal(t.get(3), "b");

  assert.equal(t.delete(3), true);
  assert.equal(t.delete(3), false, "a freed id holds nothing");
  assert.equal(t.get(3), undefined);
  t.delete(2);
  // Two wait, reuseAfter 2: a new id still.
  let next = -1;
  t.add((id) => ((next = id), "e"));
  assert.equal(next, 6);
  t.delete(5);
  // Three wait: the oldest freed (3) comes back, generation 1.
  let gen = -1;
  t.add((id, generation) => ((next = id), (gen = generation), "f"));
  assert.equal(next, 3);
  assert.equal(gen, 1);
  assert.equal(t.generation(3), 1);
  assert.equal(t.get(3), "f");
  assert.deepEqual([...t.values()], ["f", "c", "e"]);
  assert.equal(t.size, 3);
});

test("IdTable: numbers that were never issued read nothing; fixed ids below `first`; a failing maker issues nothing", () => {
  const t = new IdTable<string>({ first: 2, reuseAfter: 0 });
  for (const bogus of [-1, 0, 1, 2, 1.5, 2 ** 53, Number.NaN, Infinity]) assert.equal(t.get(bogus), undefined, `id ${bogus}`);
  t.setFixed(1, "root");
  assert.equal(t.get(1), "root");
  assert.throws(() => t.setFixed(1, "again"), RangeError);
  assert.throws(() => t.setFixed(2, "not fixed"), RangeError);

  assert.throws(() =>
    t.add(() => {
      throw new Error("no");
    }),
  );
  assert.equal(t.size, 1);
  // reuseAfter 0: the id the failed maker had is issued next, its generation counted.
  let issued = -1;
  let gen = -1;
  t.add((id, generation) => ((issued = id), (gen = generation), "x"));
  assert.equal(issued, 2);
  assert.equal(gen, 1);

  t.clear();
  assert.equal(t.size, 0);
  assert.equal(t.get(1), undefined, "fixed ids are freed too");
  assert.equal(t.get(2), undefined);
  t.setFixed(1, "root again");
  assert.equal(t.get(1), "root again");
});

test("IdTable: the queue of freed ids grows past its first ring", () => {
  const t = new IdTable<number>({ first: 1, reuseAfter: 200 });
  const ids: number[] = [];
  for (let i = 0; i < 300; i++) t.add((id) => (ids.push(id), i));
  for (const id of ids) t.delete(id);
  // 300 wait, more than 200: the oldest freed comes back first.
  let issued = -1;
  t.add((id) => ((issued = id), 0));
  assert.equal(issued, ids[0]);
  assert.equal(t.generation(issued), 1);
});

test("nodeids come back after ID_REUSE_AFTER others were freed, with a new FUSE generation", async () => {
  const { fs: pfs, share, cleanup } = await openFs("reuse", { retention: { max: 0, ms: 0 } });
  try {
    fs.writeFileSync(path.join(share, "keep"), "k");
    const keep = await pfs.lookup(ctx(), ROOT, n("keep"));
    assert.equal(keep.generation, 0n);
    const seen = new Map<bigint, bigint>();
    for (let i = 0; i <= ID_REUSE_AFTER + 1; i++) {
      const c = await pfs.create(ctx(), ROOT, n(`f${i}`), OpenFlag.O_RDWR, 0o644, 0o022, 0);
      const id = c.entry.nodeid;
      assert.notEqual(id, keep.nodeid, "a nodeid in use is never issued again");
      assert.notEqual(c.open.fh, 0n);
      const before = seen.get(id);
      if (before !== undefined) assert.equal(c.entry.generation, before + 1n, "a reused nodeid has the next generation");
      seen.set(id, c.entry.generation);
      await pfs.release(ctx(), id, releaseIn(c.open.fh));
      await pfs.unlink(ctx(), ROOT, n(`f${i}`));
      pfs.forget(id, 1n);
    }
    const reused = [...seen.values()].filter((g) => g > 0n).length;
    assert.ok(reused >= 1, "past the reuse threshold a freed nodeid was issued again");
    assert.ok(seen.size <= ID_REUSE_AFTER + 1, `no more nodeids than the threshold and one (${seen.size})`);
    assert.equal((await pfs.getattr(ctx(), keep.nodeid, undefined)).attr.size, 1n, "the node held all along is still itself");
  } finally {
    await cleanup();
  }
});
