/**
 * Directory change notification with the semantics of the kernel's notify
 * package (FsRtlNotifyFullChangeDirectory / FsRtlNotifyFullReportChange),
 * which WinFsp's FSD feeds with the changes it performs itself:
 *
 * - A watch belongs to a directory handle and is created by its first
 *   ReadDirectoryChangesW; its filter, subtree flag and buffer size are
 *   fixed then.
 * - A change is reported relative to the watched directory
 *   (`Subdirectory\file0`, `file0:foo` for a stream). With a request
 *   pending it completes that request; otherwise it is buffered until the
 *   next request, so nothing between two calls is lost.
 * - Buffered changes that outgrow the buffer size are dropped and the next
 *   request completes with STATUS_NOTIFY_ENUM_DIR and no records.
 * - Cleanup of the handle completes a pending request with
 *   STATUS_NOTIFY_CLEANUP; deleting the watched directory completes it with
 *   STATUS_DELETE_PENDING.
 */
import { NtStatus } from "../windows/ntstatus.js";
import { isNameOrDescendant, nameKey } from "./names.js";
import { Deferred } from "./sync.js";

/** One FILE_NOTIFY_INFORMATION record. */
export interface NotifyRecord {
  readonly action: number;
  /** Relative to the watched directory. */
  readonly fileName: string;
}

/** How a ReadDirectoryChangesW request ends. */
export interface NotifyCompletion {
  readonly status: number;
  readonly records: readonly NotifyRecord[];
}

/** The size a record takes in a FILE_NOTIFY_INFORMATION buffer: 12 + name, 4-aligned. */
export function notifyRecordSize(fileName: string): number {
  return (12 + 2 * fileName.length + 3) & ~3;
}

interface Watch {
  readonly owner: object;
  /** The current name of the watched directory (follows renames). */
  readonly directoryName: () => string;
  readonly watchTree: boolean;
  readonly filter: number;
  readonly bufferLength: number;
  buffered: NotifyRecord[];
  bufferedBytes: number;
  overflowed: boolean;
  pending: Deferred<NotifyCompletion> | null;
}

/** The watches of one volume. */
export class NotifyList {
  private readonly watches = new Map<object, Watch>();

  constructor(private readonly caseInsensitive: boolean) {}

  /**
   * A ReadDirectoryChangesW request on the directory handle `owner`. Answers
   * at once when changes are buffered, else when the next matching change
   * happens.
   */
  request(
    owner: object,
    directoryName: () => string,
    watchTree: boolean,
    filter: number,
    bufferLength: number,
  ): Promise<NotifyCompletion> {
    let w = this.watches.get(owner);
    if (w === undefined) {
      w = {
        owner,
        directoryName,
        watchTree,
        filter,
        bufferLength,
        buffered: [],
        bufferedBytes: 0,
        overflowed: false,
        pending: null,
      };
      this.watches.set(owner, w);
    }
    if (w.pending !== null) return Promise.resolve({ status: NtStatus.STATUS_INVALID_PARAMETER, records: [] });
    if (w.overflowed) {
      w.overflowed = false;
      return Promise.resolve({ status: NtStatus.STATUS_NOTIFY_ENUM_DIR, records: [] });
    }
    if (w.buffered.length > 0) {
      const records = w.buffered;
      w.buffered = [];
      w.bufferedBytes = 0;
      return Promise.resolve({ status: NtStatus.STATUS_SUCCESS, records });
    }
    w.pending = new Deferred<NotifyCompletion>();
    return w.pending.promise;
  }

  /**
   * A change the FSD performed: `fullName` is the changed name
   * (`\dir\file`, `\dir\file:stream`), `filter` the FILE_NOTIFY_CHANGE_*
   * bits it touches, `action` the FILE_ACTION_* value.
   */
  report(fullName: string, filter: number, action: number): void {
    const nameK = nameKey(fullName, this.caseInsensitive);
    const slash = fullName.lastIndexOf("\\");
    const parentK = slash <= 0 ? "\\" : nameK.slice(0, slash);
    for (const w of this.watches.values()) {
      if ((w.filter & filter) === 0) continue;
      const dir = w.directoryName();
      const dirK = nameKey(dir, this.caseInsensitive);
      let relative: string;
      if (parentK === dirK) relative = fullName.slice(slash + 1);
      else if (w.watchTree && nameK !== dirK && isNameOrDescendant(parentK, dirK)) {
        relative = fullName.slice(dir === "\\" ? 1 : dir.length + 1);
      } else continue;
      const record: NotifyRecord = { action, fileName: relative };
      if (w.pending !== null) {
        const p = w.pending;
        w.pending = null;
        p.resolve({ status: NtStatus.STATUS_SUCCESS, records: [record] });
        continue;
      }
      if (w.overflowed) continue;
      const size = notifyRecordSize(relative);
      if (w.bufferedBytes + size > w.bufferLength) {
        w.overflowed = true;
        w.buffered = [];
        w.bufferedBytes = 0;
        continue;
      }
      w.buffered.push(record);
      w.bufferedBytes += size;
    }
  }

  /** The handle's last cleanup: its watch ends. */
  cleanup(owner: object): void {
    const w = this.watches.get(owner);
    if (w === undefined) return;
    this.watches.delete(owner);
    w.pending?.resolve({ status: NtStatus.STATUS_NOTIFY_CLEANUP, records: [] });
  }

  /** The directory `name` is being deleted: its watches end. */
  deletePending(name: string): void {
    const k = nameKey(name, this.caseInsensitive);
    for (const [owner, w] of this.watches) {
      if (nameKey(w.directoryName(), this.caseInsensitive) !== k) continue;
      this.watches.delete(owner);
      w.pending?.resolve({ status: NtStatus.STATUS_DELETE_PENDING, records: [] });
    }
  }
}
