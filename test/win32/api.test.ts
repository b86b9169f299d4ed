/**
 * The kernel32-style API over the in-memory reference: failures as
 * Win32Error (numeric code, symbolic name, GetLastError), overlapped I/O at
 * explicit offsets, DOS wildcards in FindFirstFileW, SDDL both ways,
 * volume information and the clock files are stamped with.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as W from "../../src/win32/index.js";

const GRGW = (W.GENERIC_READ | W.GENERIC_WRITE) >>> 0;
const SRSW = W.FILE_SHARE_READ | W.FILE_SHARE_WRITE;

async function rejects(p: Promise<unknown>, code: number, name: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(W.Win32Error.is(e), "a Win32Error");
    assert.equal(e.code, code);
    assert.equal(e.name, name);
    assert.equal(W.GetLastError(), code);
    return true;
  });
}

describe("viofs/win32 over Volume.memory", () => {
  let volume: W.Volume;
  before(() => {
    W.setCurrentProcess(new W.Win32Process());
    volume = W.Volume.memory({ drive: "T:" });
  });
  after(async () => {
    await volume.unmount();
  });

  it("rejects with the Win32 error's number and symbol, and sets the last error", async () => {
    await rejects(W.CreateFileW("T:\\missing", W.GENERIC_READ, 0, null, W.OPEN_EXISTING, 0), 2, "ERROR_FILE_NOT_FOUND");
    await rejects(W.CreateFileW("T:\\no\\such\\file", W.GENERIC_READ, 0, null, W.OPEN_EXISTING, 0), 3, "ERROR_PATH_NOT_FOUND");
    await rejects(W.CreateFileW("T:\\bad<name", GRGW, 0, null, W.CREATE_NEW, 0), 123, "ERROR_INVALID_NAME");
    const e = W.Win32Error.fromStatus(W.NtStatus.STATUS_SHARING_VIOLATION, "test");
    assert.equal(e.code, W.ERROR_SHARING_VIOLATION);
    assert.equal(e.status, W.NtStatus.STATUS_SHARING_VIOLATION >>> 0);
  });

  it("reads and writes at the OVERLAPPED's offset on an overlapped handle, at the file pointer otherwise", async () => {
    const h = await W.CreateFileW("T:\\rw", GRGW, SRSW, null, W.CREATE_NEW, W.FILE_FLAG_OVERLAPPED | W.FILE_FLAG_DELETE_ON_CLOSE);
    const ov = new W.OVERLAPPED(100);
    const written = await W.WriteFile(h, Buffer.from("hello"), ov).catch(async (e: unknown) => {
      if (!W.Win32Error.is(e) || e.code !== W.ERROR_IO_PENDING) throw e;
      return W.GetOverlappedResult(h, ov, true);
    });
    assert.equal(written, 5);
    assert.equal((await W.GetFileSizeEx(h)), 105n);
    ov.Offset = 101;
    await W.ReadFile(h, 3, ov).catch(async (e: unknown) => {
      if (!W.Win32Error.is(e) || e.code !== W.ERROR_IO_PENDING) throw e;
      await W.GetOverlappedResult(h, ov, true);
    });
    assert.equal(Buffer.from(ov.output!).toString(), "ell");
    await W.CloseHandle(h);
    await rejects(W.GetFileSizeEx(h), 6, "ERROR_INVALID_HANDLE");

    const s = await W.CreateFileW("T:\\seq", GRGW, SRSW, null, W.CREATE_NEW, W.FILE_FLAG_DELETE_ON_CLOSE);
    await W.WriteFile(s, Buffer.from("abcdef"));
    assert.equal(await W.SetFilePointerEx(s, 2n, W.FILE_BEGIN), 2n);
    assert.equal(Buffer.from(await W.ReadFile(s, 2)).toString(), "cd");
    await W.CloseHandle(s);
  });

  it("matches FindFirstFileW patterns with DOS wildcard rules", async () => {
    await W.CreateDirectoryW("T:\\find", null);
    for (const n of ["a.txt", "b.TXT", "noext", "c.txt.bak"]) await W.CloseHandle(await W.CreateFileW(`T:\\find\\${n}`, GRGW, 0, null, W.CREATE_NEW, 0));
    const names = async (pattern: string): Promise<string[]> => {
      const f = await W.FindFirstFileW(`T:\\find\\${pattern}`);
      const out = [f.FindFileData.cFileName];
      for (;;) {
        try {
          out.push((await W.FindNextFileW(f.hFindFile)).cFileName);
        } catch (e) {
          assert.ok(W.Win32Error.is(e) && e.code === W.ERROR_NO_MORE_FILES);
          break;
        }
      }
      await W.FindClose(f.hFindFile);
      return out.filter((n) => n !== "." && n !== "..").sort();
    };
    assert.deepEqual(await names("*.txt"), ["a.txt", "b.TXT"]);
    assert.deepEqual(await names("*.*"), ["a.txt", "b.TXT", "c.txt.bak", "noext"]);
    assert.deepEqual(await names("?.txt"), ["a.txt", "b.TXT"]);
    await rejects(W.FindFirstFileW("T:\\find\\*.doc"), 2, "ERROR_FILE_NOT_FOUND");
  });

  it("converts SDDL both ways and maps generic rights when a descriptor is stored", async () => {
    const sd = W.ConvertStringSecurityDescriptorToSecurityDescriptorW("D:P(A;;GA;;;SY)(A;;GA;;;BA)", 1);
    await W.CloseHandle(await W.CreateFileW("T:\\sd", GRGW, 0, { lpSecurityDescriptor: sd }, W.CREATE_NEW, 0));
    const text = W.ConvertSecurityDescriptorToStringSecurityDescriptorW(await W.GetFileSecurityW("T:\\sd", W.DACL_SECURITY_INFORMATION), 1, W.DACL_SECURITY_INFORMATION);
    assert.equal(text, "D:P(A;;FA;;;SY)(A;;FA;;;BA)");
    await W.DeleteFileW("T:\\sd");
  });

  it("answers volume information and free space", async () => {
    const v = await W.GetVolumeInformationW("T:\\");
    assert.equal(v.lpMaximumComponentLength, 255);
    assert.ok((v.lpFileSystemFlags & 0x2) !== 0, "FILE_CASE_PRESERVED_NAMES");
    const space = await W.GetDiskFreeSpaceExW("T:\\");
    assert.ok(space.lpTotalNumberOfBytes >= space.lpTotalNumberOfFreeBytes);
  });

  it("keeps the system time on the clock files are stamped with: a new file is never older", async () => {
    for (let i = 0; i < 20; i++) {
      const before = W.GetSystemTimeAsFileTime();
      const h = await W.CreateFileW(`T:\\clock${i}`, GRGW, 0, null, W.CREATE_NEW, W.FILE_FLAG_DELETE_ON_CLOSE);
      const info = await W.GetFileInformationByHandle(h);
      await W.CloseHandle(h);
      assert.ok(info.ftLastWriteTime >= before, `stamped ${info.ftLastWriteTime} before ${before}`);
      assert.ok(info.ftLastWriteTime - before < 10_000_000n);
    }
  });
});
