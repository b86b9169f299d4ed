/**
 * Opportunistic locks as the kernel's oplock package (FsRtlOplockFsctrl,
 * FsRtlCheckOplock) gives them to WinFsp's FSD, as far as the oplock tests
 * of winfsp-tests exercise them:
 *
 * - Legacy requests: LEVEL_1, BATCH and FILTER are exclusive and granted
 *   only while the requesting handle is the file's only one; LEVEL_2 is
 *   shared. FSCTL_REQUEST_OPLOCK asks for a mask of READ (R), WRITE (W)
 *   and HANDLE (H) caching; W needs the only handle. Shared levels are
 *   refused while byte-range locks exist; BATCH, FILTER and H on a
 *   delete-pending file: STATUS_DELETE_PENDING. Refusal:
 *   STATUS_OPLOCK_NOT_GRANTED. A granted request stays pending until the
 *   oplock breaks.
 * - Breaks: an open by another handle that asks for more than attribute
 *   access breaks LEVEL_1 to level 2, BATCH and FILTER to none, and W out
 *   of a requested level (RWH → RH, RW → R); an overwrite or supersede also
 *   breaks the read levels. A write by another handle breaks everything to
 *   none. Breaks of LEVEL_1, BATCH, FILTER, W and H wait for the holder's
 *   acknowledgement (or its close) before the breaking request goes on;
 *   breaks of LEVEL_2 and R do not.
 * - Acknowledgements: FSCTL_OPLOCK_BREAK_ACKNOWLEDGE of a break to level 2
 *   keeps a LEVEL_2 oplock (the acknowledging request pends as that oplock);
 *   FSCTL_REQUEST_OPLOCK with the ACK flag and the new level keeps that
 *   level (pending), or none (completes at once) for level 0.
 * - The holder's cleanup releases its oplock and ends any wait on it.
 */
import { NtStatus } from "../windows/ntstatus.js";
import { AccessMask } from "../windows/security.js";
import {
  FILE_OPLOCK_BROKEN_TO_LEVEL_2,
  FILE_OPLOCK_BROKEN_TO_NONE,
  FSCTL_OPBATCH_ACK_CLOSE_PENDING,
  FSCTL_OPLOCK_BREAK_ACKNOWLEDGE,
  FSCTL_OPLOCK_BREAK_ACK_NO_2,
  FSCTL_REQUEST_BATCH_OPLOCK,
  FSCTL_REQUEST_FILTER_OPLOCK,
  FSCTL_REQUEST_OPLOCK,
  FSCTL_REQUEST_OPLOCK_LEVEL_1,
  FSCTL_REQUEST_OPLOCK_LEVEL_2,
  OPLOCK_LEVEL_CACHE_HANDLE,
  OPLOCK_LEVEL_CACHE_READ,
  OPLOCK_LEVEL_CACHE_WRITE,
  REQUEST_OPLOCK_INPUT_FLAG_ACK,
  REQUEST_OPLOCK_INPUT_FLAG_REQUEST,
  REQUEST_OPLOCK_OUTPUT_FLAG_ACK_REQUIRED,
} from "./constants.js";
import { Deferred } from "./sync.js";

/** STATUS_INVALID_OPLOCK_PROTOCOL: an acknowledgement with no break to acknowledge. */
const STATUS_INVALID_OPLOCK_PROTOCOL = 0xc00000e3;

/** How a pending oplock request completes. */
export interface OplockCompletion {
  readonly status: number;
  /** IO_STATUS_BLOCK.Information: a FILE_OPLOCK_BROKEN_* value, or the output size for FSCTL_REQUEST_OPLOCK. */
  readonly information: number;
  /** REQUEST_OPLOCK_OUTPUT_BUFFER fields, for FSCTL_REQUEST_OPLOCK. */
  readonly output: { readonly originalLevel: number; readonly newLevel: number; readonly flags: number } | null;
}

/** REQUEST_OPLOCK_OUTPUT_BUFFER is 20 bytes. */
export const REQUEST_OPLOCK_OUTPUT_SIZE = 20;

/** The answer to an oplock FSCTL: done now, or pending until a break. */
export type OplockFsctlResult =
  | { readonly status: number; readonly output: OplockCompletion["output"] }
  | { readonly pending: Promise<OplockCompletion> };

type Kind = "level1" | "batch" | "filter" | "level2" | "requested";

interface Holder {
  readonly owner: object;
  kind: Kind;
  /** Requested oplocks: the R/W/H mask held. */
  level: number;
  irp: Deferred<OplockCompletion> | null;
  /** A break was sent and waits for acknowledgement. */
  breaking: boolean;
  /** What the break leaves: LEVEL_2 for legacy, a mask for requested; 0 = none. */
  breakTo: number;
  readonly acked: Deferred<void>;
}

/** The state a request is judged against. */
export interface OplockContext {
  readonly handleCount: number;
  readonly locksHeld: boolean;
  readonly deletePending: boolean;
}

const ATTRIBUTE_ONLY =
  AccessMask.FILE_READ_ATTRIBUTES | AccessMask.FILE_WRITE_ATTRIBUTES | AccessMask.SYNCHRONIZE | AccessMask.READ_CONTROL;

/** The oplocks of one file node. */
export class Oplock {
  private holders: Holder[] = [];

  /** True when some exclusive or handle-caching oplock is held (rename and delete must break it). */
  get hasBatchOrHandle(): boolean {
    return this.holders.some((h) => h.kind === "batch" || (h.kind === "requested" && (h.level & OPLOCK_LEVEL_CACHE_HANDLE) !== 0));
  }

  /** An oplock FSCTL on a handle of this file. */
  fsctl(owner: object, code: number, input: { level: number; flags: number } | null, ctx: OplockContext): OplockFsctlResult {
    switch (code) {
      case FSCTL_REQUEST_OPLOCK_LEVEL_1:
      case FSCTL_REQUEST_BATCH_OPLOCK:
      case FSCTL_REQUEST_FILTER_OPLOCK: {
        const kind: Kind = code === FSCTL_REQUEST_OPLOCK_LEVEL_1 ? "level1" : code === FSCTL_REQUEST_BATCH_OPLOCK ? "batch" : "filter";
        if (kind !== "level1" && ctx.deletePending) return { status: NtStatus.STATUS_DELETE_PENDING, output: null };
        if (ctx.handleCount !== 1 || this.holders.length > 0) return { status: NtStatus.STATUS_OPLOCK_NOT_GRANTED, output: null };
        return { pending: this.grant(owner, kind, 0) };
      }
      case FSCTL_REQUEST_OPLOCK_LEVEL_2: {
        if (ctx.locksHeld || this.holders.some((h) => h.kind !== "level2" && h.kind !== "requested"))
          return { status: NtStatus.STATUS_OPLOCK_NOT_GRANTED, output: null };
        return { pending: this.grant(owner, "level2", 0) };
      }
      case FSCTL_OPLOCK_BREAK_ACKNOWLEDGE:
      case FSCTL_OPLOCK_BREAK_ACK_NO_2:
      case FSCTL_OPBATCH_ACK_CLOSE_PENDING: {
        const h = this.holders.find((x) => x.owner === owner && x.breaking);
        if (h === undefined) return { status: STATUS_INVALID_OPLOCK_PROTOCOL, output: null };
        if (code === FSCTL_OPLOCK_BREAK_ACKNOWLEDGE && h.breakTo === FILE_OPLOCK_BROKEN_TO_LEVEL_2) {
          h.kind = "level2";
          h.breaking = false;
          h.irp = new Deferred<OplockCompletion>();
          h.acked.resolve();
          return { pending: h.irp.promise };
        }
        this.remove(h);
        return { status: NtStatus.STATUS_SUCCESS, output: null };
      }
      case FSCTL_REQUEST_OPLOCK: {
        if (input === null) return { status: NtStatus.STATUS_INVALID_PARAMETER, output: null };
        const level = input.level & (OPLOCK_LEVEL_CACHE_READ | OPLOCK_LEVEL_CACHE_WRITE | OPLOCK_LEVEL_CACHE_HANDLE);
        if ((input.flags & REQUEST_OPLOCK_INPUT_FLAG_ACK) !== 0) {
          const h = this.holders.find((x) => x.owner === owner && x.kind === "requested" && x.breaking);
          if (h === undefined) return { status: STATUS_INVALID_OPLOCK_PROTOCOL, output: null };
          if (level === 0 || (level & ~h.breakTo) !== 0) {
            this.remove(h);
            return { status: NtStatus.STATUS_SUCCESS, output: { originalLevel: h.level, newLevel: 0, flags: 0 } };
          }
          h.level = level;
          h.breaking = false;
          h.irp = new Deferred<OplockCompletion>();
          h.acked.resolve();
          return { pending: h.irp.promise };
        }
        if ((input.flags & REQUEST_OPLOCK_INPUT_FLAG_REQUEST) === 0 || (level & OPLOCK_LEVEL_CACHE_READ) === 0)
          return { status: NtStatus.STATUS_INVALID_PARAMETER, output: null };
        if ((level & OPLOCK_LEVEL_CACHE_HANDLE) !== 0 && ctx.deletePending)
          return { status: NtStatus.STATUS_DELETE_PENDING, output: null };
        const others = this.holders.filter((h) => h.owner !== owner);
        const exclusive = (level & OPLOCK_LEVEL_CACHE_WRITE) !== 0;
        if (exclusive ? ctx.handleCount !== 1 || others.length > 0 : ctx.locksHeld || others.some((h) => h.kind !== "requested" && h.kind !== "level2"))
          return { status: NtStatus.STATUS_OPLOCK_NOT_GRANTED, output: null };
        return { pending: this.grant(owner, "requested", level) };
      }
      default:
        return { status: NtStatus.STATUS_INVALID_DEVICE_REQUEST, output: null };
    }
  }

  private grant(owner: object, kind: Kind, level: number): Promise<OplockCompletion> {
    const irp = new Deferred<OplockCompletion>();
    this.holders.push({ owner, kind, level, irp, breaking: false, breakTo: 0, acked: new Deferred<void>() });
    return irp.promise;
  }

  private remove(h: Holder): void {
    this.holders = this.holders.filter((x) => x !== h);
    h.acked.resolve();
  }

  /** Sends the break: completes the holder's pending request. Answers the wait, or null when none is needed. */
  private breakHolder(h: Holder, to: number, needsAck: boolean): Promise<void> | null {
    const irp = h.irp;
    h.irp = null;
    if (h.kind === "requested") {
      const flags = needsAck ? REQUEST_OPLOCK_OUTPUT_FLAG_ACK_REQUIRED : 0;
      irp?.resolve({
        status: NtStatus.STATUS_SUCCESS,
        information: REQUEST_OPLOCK_OUTPUT_SIZE,
        output: { originalLevel: h.level, newLevel: to, flags },
      });
    } else {
      irp?.resolve({ status: NtStatus.STATUS_SUCCESS, information: to === FILE_OPLOCK_BROKEN_TO_LEVEL_2 ? to : FILE_OPLOCK_BROKEN_TO_NONE, output: null });
    }
    if (!needsAck) {
      this.remove(h);
      return null;
    }
    h.breaking = true;
    h.breakTo = to;
    return h.acked.promise;
  }

  /**
   * A create by a handle other than the holders': breaks what conflicts and
   * answers what to wait for before the create may finish (null: nothing).
   */
  checkCreate(opener: object, desiredAccess: number, overwrite: boolean): Promise<void> | null {
    if ((desiredAccess & ~ATTRIBUTE_ONLY) === 0 && !overwrite) return null;
    const waits: Promise<void>[] = [];
    for (const h of [...this.holders]) {
      if (h.owner === opener) continue;
      if (h.breaking) {
        waits.push(h.acked.promise);
        continue;
      }
      let wait: Promise<void> | null = null;
      switch (h.kind) {
        case "level1":
          wait = this.breakHolder(h, overwrite ? FILE_OPLOCK_BROKEN_TO_NONE : FILE_OPLOCK_BROKEN_TO_LEVEL_2, true);
          break;
        case "batch":
        case "filter":
          wait = this.breakHolder(h, FILE_OPLOCK_BROKEN_TO_NONE, true);
          break;
        case "level2":
          if (overwrite) wait = this.breakHolder(h, FILE_OPLOCK_BROKEN_TO_NONE, false);
          break;
        case "requested": {
          let to = h.level & ~OPLOCK_LEVEL_CACHE_WRITE;
          if (overwrite) to = 0;
          if (to !== h.level) wait = this.breakHolder(h, to, (h.level & (OPLOCK_LEVEL_CACHE_WRITE | OPLOCK_LEVEL_CACHE_HANDLE)) !== 0);
          break;
        }
      }
      if (wait !== null) waits.push(wait);
    }
    return waits.length === 0 ? null : Promise.all(waits).then(() => undefined);
  }

  /** A write (not paging I/O) through `writer`: breaks every other holder to none. */
  checkWrite(writer: object): Promise<void> | null {
    const waits: Promise<void>[] = [];
    for (const h of [...this.holders]) {
      if (h.owner === writer) continue;
      if (h.breaking) {
        waits.push(h.acked.promise);
        continue;
      }
      const needsAck =
        h.kind === "level1" ||
        h.kind === "batch" ||
        h.kind === "filter" ||
        (h.kind === "requested" && (h.level & (OPLOCK_LEVEL_CACHE_WRITE | OPLOCK_LEVEL_CACHE_HANDLE)) !== 0);
      const wait = this.breakHolder(h, h.kind === "requested" ? 0 : FILE_OPLOCK_BROKEN_TO_NONE, needsAck);
      if (wait !== null) waits.push(wait);
    }
    return waits.length === 0 ? null : Promise.all(waits).then(() => undefined);
  }

  /** A rename or delete disposition: breaks batch and handle caching held by others. */
  checkNamespaceChange(changer: object): Promise<void> | null {
    const waits: Promise<void>[] = [];
    for (const h of [...this.holders]) {
      if (h.owner === changer) continue;
      if (h.breaking) {
        waits.push(h.acked.promise);
        continue;
      }
      let wait: Promise<void> | null = null;
      if (h.kind === "batch" || h.kind === "filter" || h.kind === "level1") wait = this.breakHolder(h, FILE_OPLOCK_BROKEN_TO_NONE, true);
      else if (h.kind === "requested" && (h.level & OPLOCK_LEVEL_CACHE_HANDLE) !== 0)
        wait = this.breakHolder(h, h.level & ~OPLOCK_LEVEL_CACHE_HANDLE & ~OPLOCK_LEVEL_CACHE_WRITE, true);
      if (wait !== null) waits.push(wait);
    }
    return waits.length === 0 ? null : Promise.all(waits).then(() => undefined);
  }

  /** The holder's handle was cleaned up: its oplock goes, and any wait on it ends. */
  cleanup(owner: object): void {
    for (const h of this.holders.filter((x) => x.owner === owner)) {
      const irp = h.irp;
      h.irp = null;
      irp?.resolve({ status: NtStatus.STATUS_SUCCESS, information: FILE_OPLOCK_BROKEN_TO_NONE, output: null });
      this.remove(h);
    }
  }
}
