import type { Cluster, Redis } from 'ioredis';
import { namespaceKeys } from '../keys.js';
import type { StoredModel } from '../stage.js';
import { withScripts } from '../scripts/scripts.js';

/**
 * Versioned models in Redis, shared by every worker: `<ns>:{model:<name>}:latest` holds the newest
 * version, `<ns>:{model:<name>}:v<N>` its bytes. One hash tag keeps both in one slot, so a save is
 * one atomic transaction.
 */
export class ModelStore {
  constructor(
    private readonly client: Redis | Cluster,
    private readonly ns: string,
  ) {}

  private key(name: string, suffix: string): string {
    return namespaceKeys.model(this.ns, name, suffix);
  }

  /** The newest version number, or 0 when there is none. */
  async latestVersion(name: string): Promise<number> {
    return Number((await this.client.get(this.key(name, 'latest'))) ?? 0);
  }

  /** The newest model, if any. */
  async latest(name: string): Promise<StoredModel | undefined> {
    const version = await this.latestVersion(name);
    if (!version) return undefined;
    const bytes = await this.client.getBuffer(this.key(name, `v${version}`));
    return bytes ? { version, bytes } : undefined;
  }

  /**
   * Saves a new version and makes it the newest (unless a concurrent save got a higher version).
   * @returns the version given to these bytes.
   */
  async save(name: string, bytes: Buffer): Promise<number> {
    const version = await this.client.incr(this.key(name, 'seq'));
    await withScripts(this.client).streamctlModelSave(
      this.key(name, 'latest'),
      this.key(name, `v${version}`),
      version,
      bytes,
    );
    // Older versions go after an hour: long enough for readers that are switching.
    if (version > 1) await this.client.expire(this.key(name, `v${version - 1}`), 3600);
    return version;
  }
}
