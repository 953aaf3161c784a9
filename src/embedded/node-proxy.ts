/**
 * A fault proxy in front of one Redis node, as the supervisor runs it (`up --fault-proxy`): every
 * client reaches the node through it, so that network faults (toxics) act on their traffic while
 * replication and the cluster bus stay direct. The proxy itself is built by `src/chaos/proxy/` and
 * handed to the supervisor as a factory, so that the deployment does not depend on the fault layer.
 */
export interface NodeProxy {
  /** The port it listens on, on 127.0.0.1. */
  readonly port: number | undefined;
  /** Adds a toxic given as data; returns it as applied. @throws a UsageError for a bad toxic. */
  addToxic(toxic: unknown): unknown;
  removeToxic(name: string): boolean;
  toxics(): unknown[];
  /** Connection and byte counters, in total and per toxic. */
  stats(): unknown;
  close(): Promise<void>;
}

/** Starts a proxy to `upstream` on a free port. */
export type NodeProxyFactory = (upstream: { host: string; port: number }) => Promise<NodeProxy>;
