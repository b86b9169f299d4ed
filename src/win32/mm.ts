/**
 * The memory manager's part of file I/O, emulated: data sections (what
 * CreateFileMapping creates and MapViewOfFile maps) and image sections
 * (what running a program from the volume creates).
 *
 * A data section is the file's pages in memory. Views are windows onto that
 * one buffer, so all views of a file see each other's stores at once. The
 * section is filled by paging reads when it is created and written back by
 * paging writes (ConstrainedIo: never past end of file), page by page, for
 * the pages that differ from what was last read or written: when a view is
 * flushed or unmapped, before a handle reads a range (so a read sees mapped
 * stores), and when the section goes away. A handle's write updates the
 * section's copy of the range it wrote. This gives the coherency WinFsp's FSD
 * obtains from the cache manager (flush before non-cached reads, purge on
 * non-cached writes).
 *
 * A section keeps a reference on the file object it was created through, so
 * the file system's Close waits until the last mapping handle and view are
 * gone, as in Windows; a file deleted while mapped keeps its pages until
 * then.
 *
 * An image section exists while a process runs the file: it makes
 * MmFlushImageSection fail, so the file cannot be deleted, opened for
 * writing, or replaced by a rename, but it can be renamed.
 */
import { PAGE_SIZE } from "./constants.js";

/** What the memory manager asks of the FSD: paging I/O through the section's file object. */
export interface PagingIo<F> {
  /** Paging read: at most `length` bytes at `offset` (fewer at end of file). */
  pagingRead(fileObject: F, offset: bigint, length: number): Promise<{ status: number; data: Uint8Array }>;
  /** Paging write (ConstrainedIo): never extends the file. */
  pagingWrite(fileObject: F, offset: bigint, data: Uint8Array): Promise<number>;
  /** The file's current size, as the FSD knows it. */
  fileSize(fileObject: F): Promise<bigint>;
  /** The section took / released its reference on the file object. */
  reference(fileObject: F): void;
  dereference(fileObject: F): Promise<void>;
}

/** One MapViewOfFile: a window onto the section's pages. */
export class MappedView {
  /** The mapped bytes: stores into it are stores into the file's pages. */
  readonly bytes: Uint8Array;
  constructor(
    readonly section: DataSection<unknown>,
    readonly offset: number,
    readonly length: number,
    readonly writable: boolean,
  ) {
    this.bytes = section.memory.subarray(offset, offset + length);
  }
}

/** A file's data section. */
export class DataSection<F> {
  memory: Uint8Array;
  /** The contents as last read from or written to the file: the clean copy dirty pages are found against. */
  private shadow: Uint8Array;
  /** Open mapping handles. */
  handles = 0;
  /** Mapping handles or views that allow writing (MmDoesFileHaveUserWritableReferences). */
  writableReferences = 0;
  readonly views = new Set<MappedView>();
  private deleted = false;

  private constructor(
    private readonly io: PagingIo<F>,
    readonly fileObject: F,
    size: number,
    private readonly onDelete: () => void,
  ) {
    this.memory = new Uint8Array(size);
    this.shadow = new Uint8Array(size);
  }

  /** Creates a section of `size` bytes over the file, filled by paging reads. */
  static async create<F>(io: PagingIo<F>, fileObject: F, size: number, onDelete: () => void): Promise<DataSection<F>> {
    const s = new DataSection(io, fileObject, size, onDelete);
    io.reference(fileObject);
    await s.fill(0, size);
    return s;
  }

  get size(): number {
    return this.memory.length;
  }

  private async fill(from: number, to: number): Promise<void> {
    const fileSize = Number(await this.io.fileSize(this.fileObject));
    const end = Math.min(to, fileSize);
    for (let at = from; at < end; ) {
      const n = Math.min(end - at, 1 << 20);
      const r = await this.io.pagingRead(this.fileObject, BigInt(at), n);
      if (r.data.length === 0) break;
      this.memory.set(r.data, at);
      this.shadow.set(r.data, at);
      at += r.data.length;
    }
  }

  /** Grows the section to `size` (a larger mapping of the same file). */
  async grow(size: number): Promise<void> {
    if (size <= this.memory.length) return;
    const old = this.memory.length;
    const memory = new Uint8Array(size);
    memory.set(this.memory);
    const shadow = new Uint8Array(size);
    shadow.set(this.shadow);
    this.memory = memory;
    this.shadow = shadow;
    await this.fill(old, size);
  }

  /** Writes back the dirty pages that intersect [offset, offset+length) (the whole section by default). */
  async flush(offset = 0, length = this.memory.length): Promise<number> {
    const fileSize = Number(await this.io.fileSize(this.fileObject));
    const first = Math.floor(offset / PAGE_SIZE) * PAGE_SIZE;
    const last = Math.min(this.memory.length, offset + length, fileSize);
    for (let page = first; page < last; page += PAGE_SIZE) {
      const end = Math.min(page + PAGE_SIZE, this.memory.length, fileSize);
      if (!differs(this.memory, this.shadow, page, end)) continue;
      const data = this.memory.slice(page, end);
      const status = await this.io.pagingWrite(this.fileObject, BigInt(page), data);
      if (status >>> 0 >= 0x80000000) return status;
      this.shadow.set(data, page);
    }
    return 0;
  }

  /** A handle wrote `data` at `offset`: the section's copy follows. */
  update(offset: bigint, data: Uint8Array): void {
    const start = Number(offset);
    if (start >= this.memory.length) return;
    const n = Math.min(data.length, this.memory.length - start);
    this.memory.set(data.subarray(0, n), start);
    this.shadow.set(data.subarray(0, n), start);
  }

  /** The file was truncated to `size`: pages past it read as zeros. */
  truncate(size: bigint): void {
    const at = Number(size);
    if (at >= this.memory.length) return;
    this.memory.fill(0, at);
    this.shadow.fill(0, at);
  }

  map(offset: number, length: number, writable: boolean): MappedView {
    const v = new MappedView(this as DataSection<unknown>, offset, length, writable);
    this.views.add(v);
    if (writable) this.writableReferences++;
    return v;
  }

  /** UnmapViewOfFile: the view's dirty pages are written back. */
  async unmap(view: MappedView): Promise<void> {
    if (!this.views.delete(view)) return;
    if (view.writable) this.writableReferences--;
    await this.flush(view.offset, view.length);
    await this.maybeDelete();
  }

  /** CloseHandle of a mapping. */
  async closeHandle(writable: boolean): Promise<void> {
    this.handles--;
    if (writable) this.writableReferences--;
    await this.maybeDelete();
  }

  /** Is there any mapping handle or view? */
  get inUse(): boolean {
    return this.handles > 0 || this.views.size > 0;
  }

  private async maybeDelete(): Promise<void> {
    if (this.inUse || this.deleted) return;
    this.deleted = true;
    await this.flush();
    this.onDelete();
    await this.io.dereference(this.fileObject);
  }
}

function differs(a: Uint8Array, b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (a[i] !== b[i]) return true;
  return false;
}

/** A file's image section: mapped by the processes running it; it holds a reference on the file object it was made through. */
export class ImageSection<F> {
  /** Processes that have the image mapped. */
  views = 0;
  constructor(
    readonly image: Uint8Array,
    readonly fileObject: F,
  ) {}
}
