/**
 * The guest for the VM tests: Debian's kernel (unpacked by scripts/setup.sh
 * into `.cache/vm/linux-<version>/`) and an initramfs built here from
 * busybox-static, the virtio/fuse/virtiofs modules, getfattr/setfattr with
 * their two shared libraries, and an `/init` that
 *
 *  1. loads the modules in {@link GUEST_MODULES} order (built-in ones are skipped),
 *  2. mounts the virtiofs tag named in `/viofs/tag` at `/mnt`,
 *  3. runs `/viofs/script.sh` in `/mnt`, its stdout and stderr framed on the
 *     console by {@link MARKERS}, its exit status in the end marker,
 *  4. unmounts, prints dmesg between markers, and powers off.
 *
 * The base initramfs has no per-run content and is cached by the hash of its
 * bytes as `.cache/vm/initramfs-<hash>.cpio.gz`. The tag and script travel in a
 * second, uncompressed archive ({@link runArchive}) appended to it: the kernel
 * unpacks concatenated archives in order (buffer-format.rst), provided each
 * starts at a multiple of 4 bytes, which is why the base file is zero-padded.
 */
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync, gzipSync } from "node:zlib";
import { CpioWriter } from "./cpio.js";

/** Modules the guest inserts, dependencies first (virtiofs needs fuse, virtio and virtio_ring). */
export const GUEST_MODULES = [
  "virtio_ring",
  "virtio",
  "virtio_pci_modern_dev",
  "virtio_pci_legacy_dev",
  "virtio_pci",
  "fuse",
  "virtiofs",
] as const;

/** Console lines framing what the guest reports. Each is a whole line. */
export const MARKERS = {
  outputBegin: "@@VIOFS-OUTPUT-BEGIN@@",
  /** Followed by ` rc=<status>@@`. */
  outputEnd: "@@VIOFS-OUTPUT-END",
  mountFailed: "@@VIOFS-MOUNT-FAILED@@",
  dmesgBegin: "@@VIOFS-DMESG-BEGIN@@",
  dmesgEnd: "@@VIOFS-DMESG-END@@",
} as const;

/** Host programs copied into the guest, with the libraries `ldd` names for them. */
const DYNAMIC_PROGRAMS = ["/usr/bin/getfattr", "/usr/bin/setfattr"];
const BUSYBOX = "/bin/busybox";

const INIT = `#!/bin/busybox sh
# viofs test guest. Written by test/vm/image.ts.
export PATH=/usr/bin:/bin:/usr/sbin:/sbin TZ=UTC0 HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# Kernel messages stay in dmesg and off the console, where they could split a framed line.
echo 1 >/proc/sys/kernel/printk
for m in $(cat /etc/viofs/modules); do
  [ -e "/lib/modules/$m.ko" ] || continue
  insmod "/lib/modules/$m.ko" || echo "viofs-init: insmod $m failed"
done
if mount -t virtiofs "$(cat /viofs/tag)" /mnt; then
  cd /mnt
  echo '${MARKERS.outputBegin}'
  sh /viofs/script.sh </dev/null 2>&1
  rc=$?
  cd /
  echo "${MARKERS.outputEnd} rc=$rc@@"
  umount /mnt || echo "viofs-init: umount failed"
else
  echo '${MARKERS.mountFailed}'
fi
echo '${MARKERS.dmesgBegin}'
dmesg
echo '${MARKERS.dmesgEnd}'
poweroff -f
`;

/** The repository root: the nearest directory above this file holding package.json (works from src and from dist). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error("test/vm: no package.json above " + fileURLToPath(import.meta.url));
    dir = up;
  }
}

export function defaultCacheDir(): string {
  return join(repoRoot(), ".cache", "vm");
}

export interface GuestKernel {
  /** e.g. `6.1.0-56-amd64`. */
  version: string;
  vmlinuz: string;
  /** The unpacked `lib/modules/<version>` subset: `kernel/…`, `modules.builtin`. */
  modulesDir: string;
}

/** The kernel scripts/setup.sh unpacked and named in `.cache/vm/current`. */
export function findGuestKernel(cacheDir = defaultCacheDir()): GuestKernel {
  const hint = "run scripts/setup.sh (it unpacks Debian's linux-image into .cache/vm)";
  let version: string;
  try {
    version = readFileSync(join(cacheDir, "current"), "utf8").trim();
  } catch {
    throw new Error(`test/vm: no guest kernel in ${cacheDir}: ${hint}`);
  }
  const dir = join(cacheDir, `linux-${version}`);
  if (!existsSync(join(dir, ".complete"))) throw new Error(`test/vm: guest kernel ${dir} is incomplete: ${hint}`);
  return { version, vmlinuz: join(dir, "vmlinuz"), modulesDir: join(dir, "modules") };
}

export interface GuestImage {
  kernel: GuestKernel;
  /** The base initramfs (gzip-compressed newc), length a multiple of 4. */
  initramfs: string;
  /** Modules packed as files; the others are built into the kernel. */
  modules: string[];
}

const built = new Map<string, GuestImage>();

/** Builds the base initramfs, or finds it in the cache. Memoized per cache dir. */
export function buildGuestImage(options: { cacheDir?: string } = {}): GuestImage {
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const memo = built.get(cacheDir);
  if (memo) return memo;
  const kernel = findGuestKernel(cacheDir);
  const { archive, modules } = baseArchive(kernel);
  const hash = createHash("sha256").update(archive).digest("hex").slice(0, 20);
  const path = join(cacheDir, `initramfs-${hash}.cpio.gz`);
  if (!existsSync(path)) {
    const gz = gzipSync(archive, { level: 6 });
    const padded = Buffer.concat([gz, Buffer.alloc((4 - (gz.length % 4)) % 4)]);
    mkdirSync(cacheDir, { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, padded);
    renameSync(tmp, path);
  }
  const image = { kernel, initramfs: path, modules };
  built.set(cacheDir, image);
  return image;
}

/** The per-run archive appended to the base: `/viofs/tag` and `/viofs/script.sh`. */
export function runArchive(tag: string, script: string): Buffer {
  return new CpioWriter()
    .add({ kind: "dir", path: "viofs" })
    .add({ kind: "file", path: "viofs/tag", data: tag })
    .add({ kind: "file", path: "viofs/script.sh", data: script, mode: 0o755 })
    .finish();
}

function baseArchive(kernel: GuestKernel): { archive: Buffer; modules: string[] } {
  const cpio = new CpioWriter();
  const dirs = new Set<string>();
  const ensureDir = (path: string): void => {
    if (path === "." || path === "" || dirs.has(path)) return;
    ensureDir(dirname(path));
    cpio.add({ kind: "dir", path });
    dirs.add(path);
  };
  const addFile = (path: string, data: Uint8Array | string, mode: number): void => {
    ensureDir(dirname(path));
    cpio.add({ kind: "file", path, data, mode });
  };

  for (const d of ["proc", "sys", "dev", "mnt", "tmp", "root", "etc/viofs", "lib/modules"]) ensureDir(d);
  cpio.add({ kind: "chardev", path: "dev/console", major: 5, minor: 1 });
  cpio.add({ kind: "chardev", path: "dev/null", major: 1, minor: 3, mode: 0o666 });

  addFile("bin/busybox", readFileSync(BUSYBOX), 0o755);
  const applets = execFileSync(BUSYBOX, ["--list-full"], { encoding: "utf8" }).split("\n").filter(Boolean).sort();
  for (const applet of applets) {
    if (applet === "bin/busybox") continue;
    ensureDir(dirname(applet));
    cpio.add({ kind: "symlink", path: applet, target: "/bin/busybox" });
  }
  if (!applets.includes("bin/sh")) cpio.add({ kind: "symlink", path: "bin/sh", target: "/bin/busybox" });

  const libraries = new Set<string>();
  for (const program of DYNAMIC_PROGRAMS) {
    addFile(program.slice(1), readFileSync(program), 0o755);
    for (const lib of sharedLibraries(program)) libraries.add(lib);
  }
  for (const lib of [...libraries].sort()) addFile(lib.slice(1), readFileSync(realpathSync(lib)), 0o755);

  const modules = findModules(kernel);
  for (const m of modules) addFile(`lib/modules/${m.name}.ko`, moduleBytes(m.path), 0o644);
  addFile("etc/viofs/modules", modules.map((m) => m.name).join("\n") + "\n", 0o644);
  addFile("init", INIT, 0o755);
  return { archive: cpio.finish(), modules: modules.map((m) => m.name) };
}

/** The absolute paths `ldd` prints for a program (the loader included). */
function sharedLibraries(program: string): string[] {
  const out = execFileSync("ldd", [program], { encoding: "utf8" });
  const libs: string[] = [];
  for (const line of out.split("\n")) {
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (m?.[1]) libs.push(m[1]);
  }
  if (libs.length === 0) throw new Error(`test/vm: ldd names no libraries for ${program}:\n${out}`);
  return libs;
}

/** Each of {@link GUEST_MODULES} that is a file; throws for one that is neither a file nor built in. */
function findModules(kernel: GuestKernel): { name: string; path: string }[] {
  const norm = (name: string): string => name.replace(/-/g, "_");
  const moduleName = (file: string): string => norm(basename(file).replace(/\.ko(\.(xz|zst|gz))?$/, ""));
  const builtin = new Set(
    readFileSync(join(kernel.modulesDir, "modules.builtin"), "utf8").split("\n").filter(Boolean).map(moduleName),
  );
  const files = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (/\.ko(\.(xz|zst|gz))?$/.test(entry)) files.set(moduleName(entry), path);
    }
  };
  walk(join(kernel.modulesDir, "kernel"));
  const found: { name: string; path: string }[] = [];
  for (const name of GUEST_MODULES) {
    const path = files.get(name);
    if (path) found.push({ name, path });
    else if (!builtin.has(name)) throw new Error(`test/vm: module ${name} is neither in ${kernel.modulesDir} nor built in`);
  }
  return found;
}

/** A module's ELF bytes; compressed ones are expanded here because busybox insmod may not. */
function moduleBytes(path: string): Buffer {
  if (path.endsWith(".ko")) return readFileSync(path);
  if (path.endsWith(".gz")) return gunzipSync(readFileSync(path));
  const tool = path.endsWith(".xz") ? "xz" : "zstd";
  return execFileSync(tool, ["-dc", path], { maxBuffer: 256 << 20 });
}
