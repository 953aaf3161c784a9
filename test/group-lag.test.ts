import { describe, expect, it } from 'vitest';
import { compareIds, knownLag } from '../src/pipeline/group-lag.js';

describe('knownLag', () => {
  it('is 0 for a group delivered the stream’s last entry, whatever Redis’s lag says', () => {
    // As after an AOF rewrite and a restart: entries-read behind entries-added for good.
    expect(knownLag({ lag: 2352, lastDeliveredId: '1700000000000-5', lastId: '1700000000000-5', length: 400 })).toBe(0);
    expect(knownLag({ lag: null, lastDeliveredId: '1700000000000-5', lastId: '1700000000000-5' })).toBe(0);
    // Delivered past the last entry (the last entries were deleted): nothing is left either.
    expect(knownLag({ lag: 7, lastDeliveredId: '1700000000001-0', lastId: '1700000000000-9' })).toBe(0);
  });

  it('takes Redis’s lag when the group is behind, capped by the entries the stream holds', () => {
    expect(knownLag({ lag: 12, lastDeliveredId: '1700000000000-1', lastId: '1700000000000-5', length: 400 })).toBe(12);
    expect(knownLag({ lag: 900, lastDeliveredId: '1700000000000-1', lastId: '1700000000000-5', length: 400 })).toBe(
      400,
    );
    expect(knownLag({ lag: 12, lastDeliveredId: '0-0', lastId: '1700000000000-5' })).toBe(12);
  });

  it('asks for a count when Redis cannot tell and the group is behind', () => {
    expect(
      knownLag({ lag: null, lastDeliveredId: '1700000000000-1', lastId: '1700000000000-5', length: 4 }),
    ).toBeNull();
    expect(knownLag({ lag: undefined, lastDeliveredId: '0-0', lastId: '1700000000000-5' })).toBeNull();
  });

  it('is 0 for an empty stream', () => {
    expect(knownLag({ lag: null, lastDeliveredId: '0-0', lastId: null })).toBe(0);
    expect(knownLag({ lag: 3, lastDeliveredId: '0-0', lastId: '1700000000000-5', length: 0 })).toBe(0);
  });
});

describe('compareIds', () => {
  it('compares milliseconds, then sequence, as numbers rather than text', () => {
    expect(compareIds('9-0', '10-0')).toBe(-1);
    expect(compareIds('10-2', '10-10')).toBe(-1);
    expect(compareIds('10-10', '10-2')).toBe(1);
    expect(compareIds('1700000000000-5', '1700000000000-5')).toBe(0);
    expect(compareIds('18446744073709551615-0', '18446744073709551614-99')).toBe(1);
  });
});
