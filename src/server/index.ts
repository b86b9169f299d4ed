/**
 * The host side's FUSE server: decode, dispatch to a {@link FileSystem},
 * encode; transport-independent (virtio descriptor chains or /dev/fuse).
 */
export * from "./filesystem.js";
export * from "./reply.js";
export * from "./server.js";
export { entryOfFields, ReplyDirSink } from "./dir-sink.js";
