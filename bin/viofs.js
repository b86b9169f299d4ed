#!/usr/bin/env node
// Blocking waits (SETLKW, flock, /dev/fuse reads, epoll) each hold a libuv
// pool thread; give file I/O room beside them. Must be set before the pool starts.
process.env.UV_THREADPOOL_SIZE ??= "32";
const { main } = await import("../dist/src/cli/main.js");

process.exitCode = await main(process.argv.slice(2));
