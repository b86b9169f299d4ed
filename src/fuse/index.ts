/**
 * The FUSE wire protocol as virtio-fs uses it (7.38 and compatible older
 * minors), shared by the device (decodes requests, encodes replies) and the
 * driver (encodes requests, decodes replies). Knows nothing of transports.
 */
export * from "./abi.js";
export * from "./wire.js";
export * from "./structs.js";
export * from "./messages.js";
export * from "./extensions.js";
export * from "./dirent.js";
export * from "./reply-target.js";
