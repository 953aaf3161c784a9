import type { StageContext } from '../../src/pipeline/stage.js';

/** A StageContext for calling a stage directly: emitted events are collected, services refuse. */
export function stageContext(
  params: Record<string, unknown> = {},
  emitted: Map<string, unknown[]> = new Map(),
): StageContext {
  const refuse = () => Promise.reject(new Error('no Redis services in this test'));
  return {
    stage: 'test',
    partition: 0,
    namespace: 'test',
    params,
    emit: (stream, events) => void emitted.set(stream, [...(emitted.get(stream) ?? []), ...events]),
    services: { lookup: refuse, models: { latestVersion: refuse, latest: refuse, save: refuse } },
  };
}
