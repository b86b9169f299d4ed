/**
 * Shared memory: memfd_create(2) and mmap(2) with views that JavaScript can
 * read and write without a copy (guest RAM for the vhost-user frontend, guest
 * memory regions received by the backend).
 */
import { ErrnoError } from "../common/errors.js";
import { Errno } from "../common/errno.js";
import * as libc from "./libc.js";
import {
  F_ADD_SEALS,
  F_GET_SEALS,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_NORESERVE,
  MAP_PRIVATE,
  MAP_SHARED,
  MFD_CLOEXEC,
  PROT_READ,
  PROT_WRITE,
} from "./constants.js";
import { cstring } from "./path.js";

/** The longest single view Node allows (`buffer.constants.MAX_LENGTH`, 4 GiB on 64-bit). */
export const MAX_VIEW_LENGTH = 2 ** 32;

/**
 * An anonymous memory file, sized to `size` bytes when given (ftruncate).
 * `flags` are MFD_* (default MFD_CLOEXEC). Returns the fd; the caller closes it.
 */
export function memfdCreate(name: string, size?: number | bigint, flags: number = MFD_CLOEXEC): number {
  const fd = libc.check(libc.memfd_create(cstring(name, "memfd_create"), flags), "memfd_create", name);
  if (size !== undefined && libc.ftruncate(fd, size) < 0) {
    const errno = libc.lastErrno();
    libc.close(fd);
    throw new ErrnoError(errno, "ftruncate", name);
  }
  return fd;
}

/**
 * Adds F_SEAL_* seals to a memfd created with MFD_ALLOW_SEALING (e.g.
 * F_SEAL_SHRINK | F_SEAL_SEAL so that no one can shrink guest RAM under a
 * mapping, which would turn accesses past the new end into SIGBUS).
 */
export function memfdAddSeals(fd: number, seals: number): void {
  libc.check(libc.fcntlInt(fd, F_ADD_SEALS, seals), "fcntl(F_ADD_SEALS)");
}

/**
 * The F_SEAL_* seals of a memfd (EINVAL for other files). A backend that
 * maps memory it received can check for F_SEAL_SHRINK: without it, the peer
 * could truncate the file and fault this process (SIGBUS) on access.
 */
export function memfdGetSeals(fd: number): number {
  return libc.check(libc.fcntlInt(fd, F_GET_SEALS, 0), "fcntl(F_GET_SEALS)");
}

/** What a {@link Mapping}'s address range is at a given moment. */
interface Region {
  readonly address: bigint;
  readonly length: number;
  /** The Mapping object and every ArrayBuffer over the range that may still be reachable. */
  holders: number;
  /** unmap() was called: the range holds a private placeholder, not the file. */
  unmapped: boolean;
  /** The range was given back to the kernel. */
  released: boolean;
}

function release(region: Region): void {
  if (region.released) return;
  region.released = true;
  // Nothing can reach the range any more; failure here would only leak address space.
  libc.munmap(region.address, region.length);
}

const holders = new FinalizationRegistry<Region>((region) => {
  region.holders -= 1;
  if (region.holders === 0) release(region);
});

/**
 * A mapping of a file (or memfd) into this process, with zero-copy views.
 *
 * Lifetime contract: views handed out stay safe to touch after {@link unmap}.
 * unmap() drops the file's pages at once, but while any view may still be
 * reachable the address range is kept reserved by a private, zero-filled
 * placeholder, so a stale view reads zeros and its writes go nowhere instead
 * of faulting the process. The range itself is returned to the kernel when
 * the Mapping and all its views have been garbage-collected.
 */
export class Mapping {
  readonly #region: Region;
  #bytes: Uint8Array | undefined;

  /** Use {@link mmap}. */
  constructor(address: bigint, length: number) {
    this.#region = { address, length, holders: 1, unmapped: false, released: false };
    holders.register(this, this.#region);
  }

  /** The address of the first byte. */
  get address(): bigint {
    return this.#region.address;
  }

  /** The length in bytes. */
  get length(): number {
    return this.#region.length;
  }

  /** Whether {@link unmap} has been called. */
  get unmapped(): boolean {
    return this.#region.unmapped;
  }

  /**
   * The whole mapping as one view. Throws E2BIG when the mapping is longer
   * than {@link MAX_VIEW_LENGTH}; use {@link view} for parts of it then.
   */
  get bytes(): Uint8Array {
    if (this.#bytes === undefined) this.#bytes = this.view(0, this.#region.length);
    return this.#bytes;
  }

  /**
   * A view of `length` bytes at `offset`, without a copy. Throws EINVAL when
   * the range is not inside the mapping (or the mapping is unmapped) and
   * E2BIG when it is longer than {@link MAX_VIEW_LENGTH}.
   */
  view(offset: number, length: number): Uint8Array {
    const region = this.#region;
    if (
      region.unmapped ||
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > region.length
    ) {
      throw new ErrnoError(Errno.EINVAL, "Mapping.view");
    }
    if (length > MAX_VIEW_LENGTH) throw new ErrnoError(Errno.E2BIG, "Mapping.view");
    if (length === 0) return new Uint8Array(0);
    const buffer = libc.viewAt(region.address + BigInt(offset), length);
    region.holders += 1;
    holders.register(buffer, region);
    return new Uint8Array(buffer);
  }

  /**
   * Drops the mapping of the file. Idempotent. See the class comment for
   * what happens to views that are still reachable.
   */
  unmap(): void {
    const region = this.#region;
    if (region.unmapped) return;
    region.unmapped = true;
    this.#bytes = undefined;
    const placeholder = libc.mmap(
      region.address,
      region.length,
      PROT_READ | PROT_WRITE,
      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
      -1,
      0,
    );
    if (placeholder === null || placeholder === libc.MAP_FAILED) {
      // Could not keep the range reserved (ENOMEM): views must not outlive this call.
      region.released = true;
      libc.check(libc.munmap(region.address, region.length), "munmap");
    }
  }
}

/**
 * Maps `length` bytes of `fd` from `offset` (a multiple of the page size).
 * Defaults: PROT_READ | PROT_WRITE, MAP_SHARED. The fd may be closed once
 * this returns; the mapping keeps the file.
 */
export function mmap(
  fd: number,
  offset: number | bigint,
  length: number,
  prot: number = PROT_READ | PROT_WRITE,
  flags: number = MAP_SHARED,
): Mapping {
  if (!Number.isSafeInteger(length) || length <= 0) throw new ErrnoError(Errno.EINVAL, "mmap");
  const address = libc.mmap(null, length, prot, flags, fd, offset);
  if (address === null || address === libc.MAP_FAILED) libc.fail("mmap");
  return new Mapping(address, length);
}
