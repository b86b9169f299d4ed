/** viofs: the package's public entry. */
export * from "./common/errors.js";
export { Errno, errnoName, errnoMessage, type ErrnoName } from "./common/errno.js";
