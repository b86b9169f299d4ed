/**
 * `viofs shell`: a cmd-like Windows view of a virtio-fs share through the
 * whole stack (host device, guest driver, FUSE session, Windows service,
 * Win32 API).
 *
 * - {@link openStack}: brings the stack up (serving a directory here, or
 *   attaching to a backend's socket) and mounts the volume at a drive.
 * - {@link WindowsShell}: the interpreter (`runLine`, `prompt`), over the
 *   Win32 API of the current process.
 * - {@link runShell}: the `viofs shell` command (REPL or `-c`).
 */
export { WindowsShell, notRecognized, sddlParts, PROGRESS_THRESHOLD, COMMAND_NAMES, type ShellOutput } from "./commands.js";
export { openStack, shellToken, SHELL_TAG, type Stack, type StackOptions } from "./stack.js";
export { runShell, parseShellArgs, complete, shellCommand, shellHelp, type ShellOptions } from "./repl.js";
export { win32Message, hasWin32Message } from "./messages.js";
export { probeUserXattrs, type ProbeResult } from "../host/xattr-probe.js";
