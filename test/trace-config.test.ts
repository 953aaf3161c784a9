import { describe, expect, it } from 'vitest';
import { traceConfig } from '../src/observe/trace-config.js';

describe('traceConfig', () => {
  it('is off with no flag and no OTLP endpoint', () => {
    expect(traceConfig(undefined, {}, 'streamctl-producer')).toMatchObject({ enabled: false, ratio: 0 });
  });

  it('--trace-sample turns it on at that ratio, and wins over the sampler variables', () => {
    expect(traceConfig(0.01, { OTEL_TRACES_SAMPLER: 'always_on' }, 's')).toMatchObject({ enabled: true, ratio: 0.01 });
    expect(traceConfig(0, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:4318' }, 's').enabled).toBe(false);
  });

  it('an OTLP endpoint turns it on; the standard sampler variables set the ratio', () => {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
    expect(traceConfig(undefined, env, 's')).toMatchObject({ enabled: true, ratio: 1 });
    expect(
      traceConfig(
        undefined,
        { ...env, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' },
        's',
      ),
    ).toMatchObject({ enabled: true, ratio: 0.25 });
    expect(traceConfig(undefined, { ...env, OTEL_TRACES_SAMPLER: 'always_off' }, 's').enabled).toBe(false);
    expect(traceConfig(undefined, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' }, 's').enabled).toBe(
      true,
    );
  });

  it('OTEL_SDK_DISABLED wins over everything; OTEL_SERVICE_NAME names the service', () => {
    expect(traceConfig(1, { OTEL_SDK_DISABLED: 'true' }, 's').enabled).toBe(false);
    expect(traceConfig(1, { OTEL_SERVICE_NAME: 'checkout' }, 'streamctl-producer').serviceName).toBe('checkout');
    expect(traceConfig(1, {}, 'streamctl-producer').serviceName).toBe('streamctl-producer');
  });

  it('the exporter protocol: http/protobuf by default, the traces variable first, an unknown one refused', () => {
    expect(traceConfig(1, {}, 's').protocol).toBe('http/protobuf');
    expect(traceConfig(1, { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, 's').protocol).toBe('http/json');
    expect(
      traceConfig(1, { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' }, 's')
        .protocol,
    ).toBe('grpc');
    expect(() => traceConfig(1, { OTEL_EXPORTER_OTLP_PROTOCOL: 'http' }, 's')).toThrow(
      expect.objectContaining({ code: 'BAD_OTLP_PROTOCOL', exitCode: 2 }),
    );
  });
});
