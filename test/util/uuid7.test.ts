// Time-ordered ids (src/util/uuid7.ts): valid version-7 UUIDs, the millisecond they were made for
// in their first 48 bits, unique, and ids of later milliseconds sort after earlier ones (the B-tree
// locality the job queue and the runs table rely on).
import { describe, expect, it } from 'vitest';
import { uuid7 } from '../../src/util/uuid7.js';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('uuid7', () => {
  it('is a version-7, variant-10 UUID carrying its millisecond', () => {
    for (const ms of [0, 1, 1_700_000_000_123, 2 ** 48 - 1]) {
      const id = uuid7(ms);
      expect(id).toMatch(V7);
      expect(parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(ms);
    }
    expect(uuid7()).toMatch(V7);
  });

  it('is unique over many ids of the same millisecond (the random tail, across pool refills)', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 100_000; i++) ids.add(uuid7(1_700_000_000_000));
    expect(ids.size).toBe(100_000);
  });

  it('sorts by the millisecond it was made for', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => uuid7(1_700_000_000_000 + i * 7));
    expect([...ids].sort()).toEqual(ids);
  });
});
