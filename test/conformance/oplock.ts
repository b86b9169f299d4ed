/**
 * winfsp-tests oplock-test.c (optional tests): an oplock requested on one
 * handle (legacy FSCTLs and FSCTL_REQUEST_OPLOCK levels) is broken by
 * another handle's open and write, acknowledged as the test says, and
 * broken no more than expected; an exclusive oplock is not granted while
 * another handle is open.
 *
 * The C test registers a wait on the oplock handle (a file handle is
 * signalled when its I/O completes); here the wait is on the completion
 * of the OVERLAPPED that carried the request, which is the same event.
 */
import * as W from "../../src/win32/index.js";
import { ASSERT, GRGW, SRSW, fails, optionalTest, type ConformanceTest, type TestContext } from "./harness.js";

const REQUEST_OPLOCK_INPUT_BUFFER_SIZE = 12;
const REQUEST_OPLOCK_OUTPUT_BUFFER_SIZE = 24;

function oplockInput(level: number, flags: number): Uint8Array {
  const b = new Uint8Array(REQUEST_OPLOCK_INPUT_BUFFER_SIZE);
  const v = new DataView(b.buffer);
  v.setUint16(0, W.REQUEST_OPLOCK_CURRENT_VERSION, true);
  v.setUint16(2, REQUEST_OPLOCK_INPUT_BUFFER_SIZE, true);
  v.setUint32(4, level, true);
  v.setUint32(8, flags, true);
  return b;
}

/** DeviceIoControl on an overlapped handle that must go pending (FALSE, ERROR_IO_PENDING). */
async function pends(p: Promise<unknown>, what: string): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (W.Win32Error.is(e) && e.code === W.ERROR_IO_PENDING && W.GetLastError() === W.ERROR_IO_PENDING) return;
    throw e;
  }
  ASSERT(false, `${what}: expected ERROR_IO_PENDING, but it completed`);
}

/** RequestOplock and OplockBreakWait: every break callback releases `semaphore`. */
async function requestOplock(fileName: string, requestCode: number, breakCode: number, semaphore: W.HANDLE): Promise<void> {
  const file = await W.CreateFileW(fileName, W.FILE_READ_ATTRIBUTES, 0, null, W.OPEN_EXISTING, W.FILE_FLAG_OVERLAPPED);
  const ov = new W.OVERLAPPED(0);
  let information = breakCode;
  let output: Uint8Array | null = null;

  const onBreak = async (): Promise<void> => {
    output = ov.output;
    let rearmed = false;
    switch (information) {
      default: {
        const level = information;
        information = 0;
        const ackRequired = output !== null && output.byteLength >= 16 && (new DataView(output.buffer, output.byteOffset).getUint32(12, true) & W.REQUEST_OPLOCK_OUTPUT_FLAG_ACK_REQUIRED) !== 0;
        if (ackRequired) rearmed = await rearm(W.DeviceIoControl(file, W.FSCTL_REQUEST_OPLOCK, oplockInput(level, W.REQUEST_OPLOCK_INPUT_FLAG_ACK), REQUEST_OPLOCK_OUTPUT_BUFFER_SIZE, ov));
        break;
      }
      case W.FSCTL_OPLOCK_BREAK_ACKNOWLEDGE:
        information = 0;
        rearmed = await rearm(W.DeviceIoControl(file, W.FSCTL_OPLOCK_BREAK_ACKNOWLEDGE, null, 0, ov));
        break;
      case 0:
        break;
    }
    if (!rearmed) await W.CloseHandle(file);
    W.ReleaseSemaphore(semaphore, 1);
  };
  /** The request went pending: wait for it again (RegisterWaitForSingleObject). */
  const rearm = async (p: Promise<unknown>): Promise<boolean> => {
    try {
      await p;
      return false;
    } catch (e) {
      if (!W.Win32Error.is(e) || e.code !== W.ERROR_IO_PENDING) return false;
    }
    void ov.completion.then(onBreak);
    return true;
  };

  switch (requestCode) {
    case W.FSCTL_REQUEST_OPLOCK_LEVEL_1:
    case W.FSCTL_REQUEST_OPLOCK_LEVEL_2:
    case W.FSCTL_REQUEST_BATCH_OPLOCK:
    case W.FSCTL_REQUEST_FILTER_OPLOCK:
      await pends(W.DeviceIoControl(file, requestCode, null, 0, ov), "oplock request");
      break;
    default:
      await pends(
        W.DeviceIoControl(file, W.FSCTL_REQUEST_OPLOCK, oplockInput(requestCode, W.REQUEST_OPLOCK_INPUT_FLAG_REQUEST), REQUEST_OPLOCK_OUTPUT_BUFFER_SIZE, ov),
        "oplock request",
      );
      break;
  }
  void ov.completion.then(onBreak);
}

async function oplock_dotest2(t: TestContext, requestCode: number, breakCode: number, waitFlags: number, createFlags: number): Promise<void> {
  const bufferSize = 16 * W.PAGE_SIZE;
  const buffer = new Uint8Array(bufferSize);
  const semaphore = W.CreateSemaphoreW(null, 0, 2);
  const path = `${t.prefix}\\file0`;
  await W.CloseHandle(await W.CreateFileW(path, GRGW, SRSW, null, W.CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL));
  await requestOplock(path, requestCode, breakCode, semaphore);
  const h = await W.CreateFileW(path, GRGW, SRSW, null, W.OPEN_EXISTING, createFlags);
  if (waitFlags & 1) ASSERT((await W.WaitForSingleObject(semaphore, W.INFINITE)) === W.WAIT_OBJECT_0, "a break after the open");
  else ASSERT((await W.WaitForSingleObject(semaphore, 300)) === W.WAIT_TIMEOUT, "no break after the open");
  if (createFlags & W.FILE_FLAG_OVERLAPPED) {
    const ov = new W.OVERLAPPED(0);
    try {
      await W.WriteFile(h, buffer, ov);
    } catch (e) {
      if (!W.Win32Error.is(e) || e.code !== W.ERROR_IO_PENDING) throw e;
    }
    await W.GetOverlappedResult(h, ov, true);
  } else await W.WriteFile(h, buffer);
  if (waitFlags & 2) ASSERT((await W.WaitForSingleObject(semaphore, W.INFINITE)) === W.WAIT_OBJECT_0, "a break after the write");
  ASSERT((await W.WaitForSingleObject(semaphore, 300)) === W.WAIT_TIMEOUT, "no further break");
  await W.CloseHandle(h);
  await W.DeleteFileW(path);
  await W.CloseHandle(semaphore);
}

/** oplock_dotest, external mode: the four create flag sets. */
async function oplock_dotest(t: TestContext, requestCode: number, breakCode: number, waitFlags: number): Promise<void> {
  for (const flags of [0, W.FILE_FLAG_NO_BUFFERING, W.FILE_FLAG_OVERLAPPED, W.FILE_FLAG_OVERLAPPED | W.FILE_FLAG_NO_BUFFERING])
    await oplock_dotest2(t, requestCode, breakCode, waitFlags, flags);
}

async function oplock_not_granted_test(t: TestContext): Promise<void> {
  const path = `${t.prefix}\\file0`;
  const h1 = await W.CreateFileW(path, GRGW, SRSW, null, W.CREATE_NEW, W.FILE_ATTRIBUTE_NORMAL);
  const h2 = await W.CreateFileW(path, GRGW, SRSW, null, W.OPEN_EXISTING, W.FILE_FLAG_OVERLAPPED);
  const ov = new W.OVERLAPPED(0);
  try {
    await W.DeviceIoControl(h2, W.FSCTL_REQUEST_FILTER_OPLOCK, null, 0, ov);
    ASSERT(false, "FSCTL_REQUEST_FILTER_OPLOCK succeeded with two handles open");
  } catch (e) {
    if (!W.Win32Error.is(e)) throw e;
    ASSERT(e.code === W.ERROR_OPLOCK_NOT_GRANTED || e.code === W.ERROR_IO_PENDING, `FSCTL_REQUEST_FILTER_OPLOCK: ${e.name}`);
    if (e.code === W.ERROR_IO_PENDING) await fails(W.GetOverlappedResult(h2, ov, true), W.ERROR_OPLOCK_NOT_GRANTED);
  }
  await W.CloseHandle(h2);
  await W.CloseHandle(h1);
  await W.DeleteFileW(path);
}

const R = W.OPLOCK_LEVEL_CACHE_READ;
const WR = W.OPLOCK_LEVEL_CACHE_WRITE;
const H = W.OPLOCK_LEVEL_CACHE_HANDLE;

export const oplockTests: readonly ConformanceTest[] = [
  optionalTest("oplock_level1_test", (t) => oplock_dotest(t, W.FSCTL_REQUEST_OPLOCK_LEVEL_1, W.FSCTL_OPLOCK_BREAK_ACKNOWLEDGE, 3)),
  optionalTest("oplock_level2_test", (t) => oplock_dotest(t, W.FSCTL_REQUEST_OPLOCK_LEVEL_2, 0, 2)),
  optionalTest("oplock_batch_test", (t) => oplock_dotest(t, W.FSCTL_REQUEST_BATCH_OPLOCK, 0, 1)),
  optionalTest("oplock_filter_test", (t) => oplock_dotest(t, W.FSCTL_REQUEST_FILTER_OPLOCK, 0, 1)),
  optionalTest("oplock_rwh_test", (t) => oplock_dotest(t, R | WR | H, R | H, 3)),
  optionalTest("oplock_rw_test", (t) => oplock_dotest(t, R | WR, R, 3)),
  optionalTest("oplock_rh_test", (t) => oplock_dotest(t, R | H, 0, 2)),
  optionalTest("oplock_r_test", (t) => oplock_dotest(t, R, 0, 2)),
  optionalTest("oplock_not_granted_test", oplock_not_granted_test),
];
