import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Cluster, Redis } from 'ioredis';
import type { AppendArgs } from './append.js';

/**
 * Reads a Lua script from src/pipeline/scripts. The .lua files are not compiled, so from dist/ they
 * are found in the package's src/ folder.
 */
function load(name: string): string {
  const candidates = [
    new URL(`./${name}.lua`, import.meta.url),
    new URL(`../../../../src/pipeline/scripts/${name}.lua`, import.meta.url),
  ];
  for (const u of candidates) {
    const path = fileURLToPath(u);
    if (existsSync(path)) return readFileSync(path, 'utf8');
  }
  throw new Error(`Lua script ${name}.lua not found`);
}

/** read.lua's and claim.lua's arguments (see their headers). */
type FencedReadArgs = [lease: string, stream: string, token: string, group: string, consumer: string, count: number];

export interface ScriptCommands {
  streamctlAppend(...args: AppendArgs): Promise<string | null>;
  streamctlCommit(numKeys: number, ...args: (string | Buffer | number)[]): Promise<number>;
  streamctlLeaseRenew(lease: string, token: string, ttlMs: number): Promise<number>;
  streamctlLeaseRelease(lease: string, token: string): Promise<number>;
  streamctlDlqReplay(dlq: string, ...ids: string[]): Promise<number>;
  streamctlModelSave(latest: string, versionKey: string, version: number, bytes: Buffer): Promise<number>;
  streamctlReadBuffer(...args: FencedReadArgs): Promise<unknown>;
  streamctlClaimBuffer(...args: FencedReadArgs): Promise<unknown>;
}

export type ScriptClient = (Redis | Cluster) & ScriptCommands;

const defined = new WeakSet<object>();

/** Adds streamctl's scripts to a client (EVALSHA with automatic fallback to EVAL). */
export function withScripts(client: Redis | Cluster): ScriptClient {
  if (!defined.has(client)) {
    client.defineCommand('streamctlAppend', { numberOfKeys: 2, lua: load('append') });
    client.defineCommand('streamctlCommit', { lua: load('commit') });
    client.defineCommand('streamctlLeaseRenew', { numberOfKeys: 1, lua: load('lease-renew') });
    client.defineCommand('streamctlLeaseRelease', { numberOfKeys: 1, lua: load('lease-release') });
    client.defineCommand('streamctlDlqReplay', { numberOfKeys: 1, lua: load('dlq-replay') });
    client.defineCommand('streamctlModelSave', { numberOfKeys: 2, lua: load('model-save') });
    client.defineCommand('streamctlRead', { numberOfKeys: 2, lua: load('read') });
    client.defineCommand('streamctlClaim', { numberOfKeys: 2, lua: load('claim') });
    defined.add(client);
  }
  return client as ScriptClient;
}
