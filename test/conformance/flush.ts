/**
 * winfsp-tests flush-test.c: the rdwr sequence with a FlushFileBuffers
 * before the final read, on the file's handle (flush_test) or on a volume
 * handle (flush_volume_test).
 *
 * flush_volume_test's body is a no-op in winfsp-tests' external mode (it
 * has only MEMFS branches); here it runs its MEMFS body against the volume
 * under test, `\\?\X:` standing for `\\?\GLOBALROOT\Device\Volume{…}`.
 * Where the C test skips the flush when the volume cannot be opened, this
 * port requires the open to succeed.
 */
import * as W from "../../src/win32/index.js";
import { ASSERT, GRGW, SRSW, test, type ConformanceTest, type TestContext } from "./harness.js";
import { rdwrSequence } from "./rdwr.js";

const FLAGS = [0, W.FILE_FLAG_WRITE_THROUGH, W.FILE_FLAG_NO_BUFFERING];

async function flush_test(t: TestContext): Promise<void> {
  for (const flags of FLAGS) {
    await rdwrSequence(t, flags, {
      beforeFinalRead: async (h) => {
        await W.FlushFileBuffers(h);
      },
    });
  }
}

async function flush_volume_test(t: TestContext): Promise<void> {
  for (const flags of FLAGS) {
    await rdwrSequence(t, flags, {
      beforeFinalRead: async () => {
        const volume = await W.CreateFileW(`\\\\?\\${t.drive}`, GRGW, SRSW, null, W.OPEN_EXISTING, 0);
        ASSERT(volume !== W.INVALID_HANDLE_VALUE, "volume handle");
        await W.FlushFileBuffers(volume);
        await W.CloseHandle(volume);
      },
    });
  }
}

export const flushTests: readonly ConformanceTest[] = [test("flush_test", flush_test), test("flush_volume_test", flush_volume_test)];
