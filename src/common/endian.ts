/**
 * The host's byte order, for code that reads or writes wire data through
 * typed arrays (whose elements are in the host's order) instead of DataView.
 */

/** The platform is little-endian (typed-array and Atomics accesses of little-endian data rely on it). */
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
