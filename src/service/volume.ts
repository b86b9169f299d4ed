/**
 * The parts of one mounted share that the service's modules share: the
 * session, the node table and name cache, the metadata store and the path
 * resolver, with the options and the credentials of creations.
 */
import type { Logger } from "../common/log.js";
import type { CallOptions, FuseSession } from "../guest/session.js";
import type { LongNames } from "./long-names.js";
import type { MetadataStore } from "./metadata.js";
import type { DentryCache, NodeTable } from "./nodes.js";
import type { ResolvedOptions } from "./options.js";
import type { Resolver } from "./resolver.js";

export interface Volume {
  readonly session: FuseSession;
  readonly log: Logger;
  readonly options: ResolvedOptions;
  readonly nodes: NodeTable;
  readonly dentries: DentryCache;
  readonly metadata: MetadataStore;
  readonly resolver: Resolver;
  readonly longNames: LongNames;
  /** Request credentials of CREATE, MKDIR, SYMLINK and MKNOD (the configured owner), if any. */
  readonly creds: CallOptions | undefined;
}
