/**
 * The folders of src/ are layers, and each imports only the layers below it
 * (DEVELOPERS.md, "Import graph"). This test reads every source file's
 * imports and fails on one that reaches a layer it may not, and on koffi
 * loaded anywhere but src/sys/libc.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root: the tests run from dist/test/package/ or test/package/. */
function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!statSync(join(dir, "package.json"), { throwIfNoEntry: false })) {
    const up = dirname(dir);
    if (up === dir) throw new Error("layers.test: no package.json above the test");
    dir = up;
  }
  return dir;
}

const SRC = join(repositoryRoot(), "src");

/** What each layer may import besides itself ("cli", the entry point, may import any). */
const ALLOWED: Record<string, readonly string[]> = {
  common: [],
  fuse: ["common"],
  sys: ["common"],
  virtio: ["common"],
  windows: ["common"],
  winfsp: ["common", "windows"],
  "vhost-user": ["common", "sys", "virtio"],
  server: ["common", "fuse"],
  passthrough: ["common", "fuse", "server", "sys"],
  fusedev: ["common", "fuse", "sys"],
  host: ["common", "fusedev", "passthrough", "server", "sys", "vhost-user", "virtio"],
  guest: ["common", "fuse", "fusedev", "sys", "vhost-user", "virtio"],
  service: ["common", "fuse", "guest", "windows", "winfsp"],
  win32: ["common", "sys", "windows", "winfsp"],
  shell: ["common", "host", "service", "win32", "windows"],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith(".ts") ? [path] : [];
  });
}

/** The module specifiers a file imports or re-exports (static and dynamic). */
function specifiers(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s+"([^"]+)"/g)) found.push(m[1]!);
  for (const m of text.matchAll(/(?:^|\n)\s*import\s+"([^"]+)"/g)) found.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g)) found.push(m[1]!);
  return found;
}

/** The layer (first folder under src/) of a path, or null for src/ itself. */
function layerOf(path: string): string | null {
  const parts = relative(SRC, path).split(sep);
  return parts.length > 1 ? parts[0]! : null;
}

const files = sourceFiles(SRC);

test("every folder of src/ is a known layer", () => {
  const layers = new Set(files.map(layerOf).filter((l): l is string => l !== null));
  assert.deepEqual([...layers].filter((l) => l !== "cli" && !(l in ALLOWED)), []);
  assert.ok(files.length > 100, `only ${files.length} source files found under ${SRC}`);
});

test("each layer imports only the layers below it", () => {
  const wrong: string[] = [];
  let relativeImports = 0;
  for (const file of files) {
    const from = layerOf(file);
    if (from === null || from === "cli") continue;
    for (const spec of specifiers(readFileSync(file, "utf8"))) {
      if (!spec.startsWith(".")) continue;
      relativeImports++;
      const to = layerOf(resolve(dirname(file), spec));
      if (to === null || to === from) continue;
      if (!ALLOWED[from]!.includes(to)) wrong.push(`${relative(SRC, file)} imports ${spec} (${from} → ${to})`);
    }
  }
  assert.ok(relativeImports > 500, `only ${relativeImports} relative imports seen: the pattern no longer matches`);
  assert.deepEqual(wrong, []);
});

test("koffi is loaded by src/sys/libc.ts alone", () => {
  const users = files.filter((f) => specifiers(readFileSync(f, "utf8")).includes("koffi")).map((f) => relative(SRC, f));
  assert.deepEqual(users, [join("sys", "libc.ts")]);
});
