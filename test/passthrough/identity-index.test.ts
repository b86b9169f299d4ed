/**
 * The identity index behind the inode table: set, get and delete by
 * (device, inode number) agree with a Map under random churn (deletion moves
 * entries back across the table's wrap-around), bigint identities live
 * apart, and growth keeps every entry.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { IdentityIndex } from "../../src/passthrough/identity-index.js";

/** A deterministic xorshift32 generator. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

test("IdentityIndex agrees with a Map through random sets and deletes, growth included", () => {
  const index = new IdentityIndex<number>();
  const model = new Map<string, number>();
  const next = rng(12345);
  // Few devices, inode numbers from a small range (collisions in the probe sequence) and some above 2^32.
  const key = (): [number, number] => {
    const r = next();
    const dev = r % 3;
    const ino = r & 8 ? (next() % 200) + 2 ** 33 * (r % 2) : next() % 400;
    return [dev, ino];
  };
  for (let step = 0; step < 50_000; step++) {
    const [dev, ino] = key();
    const k = `${dev}:${ino}`;
    const op = next() % 3;
    if (op === 0) {
      index.set(dev, ino, step);
      model.set(k, step);
    } else if (op === 1) {
      assert.equal(index.delete(dev, ino), model.delete(k), `delete ${k} at step ${step}`);
    } else {
      assert.equal(index.get(dev, ino), model.get(k), `get ${k} at step ${step}`);
    }
    assert.equal(index.size, model.size);
  }
  for (const [k, v] of model) {
    const [dev, ino] = k.split(":").map(Number) as [number, number];
    assert.equal(index.get(dev, ino), v, `final ${k}`);
  }
  assert.deepEqual([...index.values()].sort((a, b) => a - b), [...model.values()].sort((a, b) => a - b));
});

test("IdentityIndex: bigint identities, replacing a value, clear", () => {
  const index = new IdentityIndex<string>();
  index.set(1, 2 ** 60 as unknown as number, "rounded number");
  index.set(1n, 2n ** 60n + 1n, "big");
  index.set(1, 5, "small");
  assert.equal(index.get(1n, 2n ** 60n + 1n), "big");
  assert.equal(index.get(1, 5), "small");
  index.set(1, 5, "replaced");
  assert.equal(index.get(1, 5), "replaced");
  assert.equal(index.size, 3);
  assert.equal(index.delete(1n, 2n ** 60n + 1n), true);
  assert.equal(index.delete(1n, 2n ** 60n + 1n), false);
  assert.equal(index.get(2, 5), undefined, "another device");
  index.clear();
  assert.equal(index.size, 0);
  assert.equal(index.get(1, 5), undefined);
  for (let i = 0; i < 1000; i++) index.set(7, i, String(i));
  assert.equal(index.size, 1000);
  for (let i = 0; i < 1000; i += 2) index.delete(7, i);
  for (let i = 0; i < 1000; i++) assert.equal(index.get(7, i), i % 2 ? String(i) : undefined);
});
