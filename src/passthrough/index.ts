/**
 * The passthrough file system: a host directory served to a guest (the role
 * of virtiofsd's PassthroughFs), and its read-only view.
 */
import type { FileSystem } from "../server/filesystem.js";
import { PassthroughFs } from "./passthrough.js";
import { ReadOnlyFs } from "./read-only.js";
import type { PassthroughOptions } from "./options.js";

export { PassthroughFs } from "./passthrough.js";
export { ReadOnlyFs } from "./read-only.js";
export { cachePolicy, type CacheMode, type CachePolicy, type PassthroughOptions } from "./options.js";

/** The file system `options` describe: a {@link PassthroughFs}, behind a {@link ReadOnlyFs} when `readonly`. */
export function createPassthrough(options: PassthroughOptions): FileSystem {
  const fs = new PassthroughFs(options);
  return options.readonly ? new ReadOnlyFs(fs) : fs;
}
