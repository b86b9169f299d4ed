/**
 * The /dev/fuse transport of the host side: serves a `FuseServer` to this
 * host's own kernel through a FUSE mount, so the same server and file
 * systems that serve a VM over virtio can be mounted and exercised locally:
 * `FuseDevMount.mount(server, mountpoint, options)`.
 *
 * The device handling itself lives in `src/fusedev/mount.ts`, shared with the
 * guest side's mount relay; `FuseServer` is a {@link FuseDevHandler} as it is.
 */
export { FuseDevMount, type FuseDevHandler, type FuseDevMountOptions } from "../fusedev/mount.js";
