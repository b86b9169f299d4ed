/**
 * The service as a whole: several shares (tags) in one service, C virtiofsd
 * and viofs serve side by side; Control codes; DispatcherStopped.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, openSync, readFileSync } from "node:fs";
import { fsetxattr } from "../../src/sys/fs.js";
import { FuseWindowsService } from "../../src/service/shares.js";
import { ViofsControl } from "../../src/service/fuse-fs.js";
import { FileAttribute, encodeDosAttrib } from "../../src/windows/attributes.js";
import { AccessMask, decodeSecurityDescriptor } from "../../src/windows/security.js";
import { formatSddl } from "../../src/windows/sddl.js";
import { virtiofsd, viofsServe } from "../guest/backends.js";
import { FACTORIES, closeFile, create, createRequest, fails, mount, ok, open, startVirtiofsdWithoutXattr } from "./helpers.js";
import { Logger } from "../../src/common/log.js";
import { statSync } from "node:fs";

test("several shares in one service: C virtiofsd and viofs serve side by side, each by its tag", async (t) => {
  const a = await virtiofsd.start();
  t.after(() => a.stop());
  const b = await viofsServe.start();
  t.after(() => b.stop());
  await assert.rejects(
    FuseWindowsService.start([
      { socketPath: a.socketPath, tag: "same" },
      { socketPath: b.socketPath, tag: "same" },
    ]),
    /two shares are named "same"/,
  );
  // Both daemons served that one connection; they end with it.
  assert.equal(await a.exited, 0);
  assert.equal(await b.exited, 0);

  const c = await virtiofsd.start();
  t.after(() => c.stop());
  const d = await viofsServe.start();
  t.after(() => d.stop());
  const service = await FuseWindowsService.start([
    { socketPath: c.socketPath, tag: "qemu", options: { caseInsensitive: true } },
    { socketPath: d.socketPath, tag: "viofs" },
  ]);
  try {
    assert.deepEqual(service.tags, ["qemu", "viofs"]);
    assert.throws(() => service.fileSystem("nope"), /no share is named "nope"/);
    for (const [tag, dir] of [["qemu", c.dir], ["viofs", d.dir]] as const) {
      const fs = service.fileSystem(tag);
      assert.equal(ok(await fs.getVolumeInfo()).volumeLabel, tag);
      const f = await create(fs, `\\${tag}.txt`);
      ok(await fs.write(f.fileContext, Buffer.from(`on ${tag}`), 0n, false, false));
      await closeFile(fs, f.fileContext);
      assert.equal(readFileSync(`${dir}/${tag}.txt`, "utf8"), `on ${tag}`);
    }
    assert.equal(service.fileSystem("qemu").volumeParams.caseSensitiveSearch, false);
    assert.equal(service.fileSystem("viofs").volumeParams.caseSensitiveSearch, true);
    fails(await service.fileSystem("viofs").open({ fileName: "\\qemu.txt", createOptions: 1 << 24, grantedAccess: 0x80 }), "STATUS_OBJECT_NAME_NOT_FOUND");
  } finally {
    await service.stop();
  }
  assert.equal(await c.exited, 0);
  assert.equal(await d.exited, 0);
});

for (const factory of FACTORIES) {
  describe(`service over ${factory.name}: Control and DispatcherStopped`, () => {
    test("Control: the share query, cache invalidation, unknown codes and short buffers; DispatcherStopped", async (t) => {
      const m = await mount(t, factory);
      const root = await open(m.fs, "\\", AccessMask.FILE_READ_ATTRIBUTES);
      const query = ok(await m.fs.control(root, ViofsControl.QUERY_SHARE, new Uint8Array(0), 4096));
      const info = JSON.parse(Buffer.from(query).toString("utf8")) as Record<string, unknown>;
      assert.equal(info.tag, "share");
      assert.match(String(info.fuse), /^7\.3\d$/);
      assert.equal(info.xattrs, true);
      fails(await m.fs.control(root, ViofsControl.QUERY_SHARE, new Uint8Array(0), 8), "STATUS_BUFFER_OVERFLOW");
      fails(await m.fs.control(root, 0x804d0148, new Uint8Array(4), 4), "STATUS_INVALID_DEVICE_REQUEST");

      const f = await create(m.fs, "\\f");
      assert.equal(ok(await m.fs.getFileInfo(f.fileContext)).fileAttributes, FileAttribute.FILE_ATTRIBUTE_ARCHIVE);
      // Changed on the host behind the service's back: seen at once after INVALIDATE_CACHES.
      const fd = openSync(m.host("\\f"), "r");
      fsetxattr(fd, "user.DOSATTRIB", encodeDosAttrib({ attributes: FileAttribute.FILE_ATTRIBUTE_SYSTEM, createTime: 130000000000000000n }));
      closeSync(fd);
      assert.deepEqual(ok(await m.fs.control(root, ViofsControl.INVALIDATE_CACHES, new Uint8Array(0), 0)), new Uint8Array(0));
      const after = ok(await m.fs.getFileInfo(f.fileContext));
      assert.equal(after.fileAttributes, FileAttribute.FILE_ATTRIBUTE_SYSTEM);
      assert.equal(after.creationTime, 130000000000000000n);
      await closeFile(m.fs, f.fileContext);
      await closeFile(m.fs, root);

      assert.equal(m.fs.dispatcherStoppedNormally, null);
      await m.fs.dispatcherStopped(true);
      assert.equal(m.fs.dispatcherStoppedNormally, true);
      assert.equal(m.session.trackedNodes, 0, "every reference given back, its FORGETs sent");
      assert.equal(m.session.stats.pendingForgets, 0);
    });
  });
}

test("a backend without xattrs (C virtiofsd without -o xattr): files work, Windows metadata is refused as unsupported, never faked", async (t) => {
  const lines: string[] = [];
  const log = new Logger("test");
  log.setSink((_level, line) => lines.push(line));
  const m = await mount(t, startVirtiofsdWithoutXattr, { log });
  const p = m.fs.volumeParams;
  assert.equal(p.namedStreams, false);
  assert.equal(p.extendedAttributes, false);
  assert.equal(p.persistentAcls, false);
  const f = await create(m.fs, "\\plain.txt", { fileAttributes: FileAttribute.FILE_ATTRIBUTE_HIDDEN });
  assert.ok(statSync(m.host("\\plain.txt")).isFile());
  assert.equal(f.fileInfo.fileAttributes, 0, "nothing to keep DOS attributes in");
  ok(await m.fs.write(f.fileContext, Buffer.from("data"), 0n, false, false));
  const info = ok(await m.fs.setBasicInfo(f.fileContext, { fileAttributes: 0xffffffff, creationTime: 0n, lastAccessTime: 0n, lastWriteTime: 130000000000000000n, changeTime: 0n }));
  assert.equal(info.lastWriteTime, 130000000000000000n, "times still reach the host");
  fails(await m.fs.setBasicInfo(f.fileContext, { fileAttributes: FileAttribute.FILE_ATTRIBUTE_READONLY, creationTime: 0n, lastAccessTime: 0n, lastWriteTime: 0n, changeTime: 0n }), "STATUS_NOT_SUPPORTED");
  assert.match(formatSddlOf(ok(await m.fs.getSecurity(f.fileContext))), /^O:S-1-22-1-0G:S-1-22-2-0D:/);
  fails(await m.fs.setSecurity(f.fileContext, 4, ok(await m.fs.getSecurity(f.fileContext))), "STATUS_NOT_SUPPORTED");
  fails(await m.fs.createEx(createRequest("\\plain.txt:stream")), "STATUS_NOT_SUPPORTED");
  fails(await m.fs.setEa(f.fileContext, [{ flags: 0, name: "X", value: Buffer.from("1") }]), "STATUS_EAS_NOT_SUPPORTED");
  assert.deepEqual(ok(await m.fs.getEa(f.fileContext)), []);
  assert.deepEqual(ok(await m.fs.getStreamInfo(f.fileContext)).map((s) => s.streamName), [""]);
  await closeFile(m.fs, f.fileContext);
  assert.ok(lines.some((l) => /keeps no xattrs/.test(l)), "said once in the log");
  assert.equal(lines.filter((l) => /keeps no xattrs/.test(l)).length, 1);
});

function formatSddlOf(sd: Uint8Array): string {
  return formatSddl(decodeSecurityDescriptor(sd));
}
