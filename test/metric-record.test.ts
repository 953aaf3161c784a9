import { describe, expect, it } from 'vitest';
import {
  decodeMetricRecord,
  encodeMetricRecord,
  isMetricRecord,
  recordCepFields,
  recordFeatures,
  writeScore,
  type MetricRecord,
} from '../src/pipeline/stages/metric-record.js';

const original = Buffer.from(
  '{"key":"host-0001","type":"latency","value":12.5,"time":1700000000123,"truth":{"anomaly":false}}',
);
const record: MetricRecord = {
  type: 'latency',
  value: 12.5,
  time: 1700000000123,
  ready: true,
  degraded: false,
  mean: 10.25,
  std: 1.5,
  z: 1.5,
  delta: -0.75,
  score: null,
  source: null,
  anomaly: false,
  model: 0,
  ref: Buffer.from('{"region":"eu-west-1"}'),
  original,
};

describe('metric record', () => {
  it('round-trips every field and keeps the original event byte for byte', () => {
    const buf = encodeMetricRecord(record);
    expect(isMetricRecord(buf)).toBe(true);
    expect(isMetricRecord(original)).toBe(false);
    const back = decodeMetricRecord(buf);
    expect({ ...back, ref: back.ref.toString(), original: back.original.toString() }).toEqual({
      ...record,
      ref: record.ref.toString(),
      original: original.toString(),
    });
    expect(recordFeatures(buf)).toEqual({ ready: true, z: 1.5, delta: -0.75, std: 1.5 });
  });

  it('writes a score into the record in place, and clears it', () => {
    const buf = encodeMetricRecord(record);
    expect(decodeMetricRecord(buf)).toMatchObject({ score: null, anomaly: false, model: 0 });
    writeScore(buf, 0.8125, true, 7);
    expect(decodeMetricRecord(buf)).toMatchObject({
      score: 0.8125,
      anomaly: true,
      model: 7,
      z: 1.5,
      type: 'latency',
    });
    expect(recordCepFields(buf)).toMatchObject({ score: 0.8125, anomaly: true, type: 'latency' });
    expect(decodeMetricRecord(buf).source).toBe('forest');
    // The fallback's score is marked as such, and a forest's score written over it is not.
    writeScore(buf, 5.5, true, 0, 'zscore');
    expect(decodeMetricRecord(buf)).toMatchObject({ score: 5.5, source: 'zscore', anomaly: true });
    writeScore(buf, 0.7, false, 8);
    expect(decodeMetricRecord(buf)).toMatchObject({ score: 0.7, source: 'forest', anomaly: false });
    writeScore(buf, null, false, 7);
    expect(decodeMetricRecord(buf)).toMatchObject({ score: null, source: null, anomaly: false });
  });

  it('rejects a truncated record', () => {
    const buf = encodeMetricRecord(record);
    expect(() => decodeMetricRecord(buf.subarray(0, buf.length - 1))).toThrow(/wrong length/);
    expect(() => decodeMetricRecord(Buffer.from('{}'))).toThrow(/not a metric record/);
  });
});
