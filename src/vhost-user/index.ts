/**
 * vhost-user, both ends. The host device (`viofs serve`) builds a
 * {@link VhostUserBackend} per accepted connection around its
 * {@link VhostUserDevice}; the guest side dials a backend with
 * {@link connectFrontend} (or builds a {@link VhostUserFrontend} on any
 * {@link Transport}) and puts DriverQueues on the rings it gets back.
 */
export * from "./messages.js";
export * from "./channel.js";
export * from "./backend.js";
export * from "./frontend.js";
export * from "./system.js";
