// Run and event ids are UUIDv7 (src/util/ids.ts): minted in order, so the stores' unique indexes on
// them grow at one edge instead of taking each insert on a random page.
import { describe, expect, it } from 'vitest';
import { uuidv7 } from '../../src/util/ids.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('uuidv7', () => {
  it('is a version 7 UUID carrying its millisecond', () => {
    const at = Date.now() + 3_600_000;
    const id = uuidv7(at);
    expect(id).toMatch(UUID_V7);
    expect(parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBeGreaterThanOrEqual(at);
  });

  it('sorts in minting order, within one millisecond and past 4,096 ids in it, and never repeats', () => {
    const at = Date.now() + 60_000;
    const ids = Array.from({ length: 10_000 }, () => uuidv7(at));
    ids.push(uuidv7(at - 5)); // a clock that stepped back still sorts after
    for (let i = 1; i < ids.length; i++) expect(ids[i - 1]! < ids[i]!, `${ids[i - 1]} < ${ids[i]}`).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(UUID_V7);
  });

  it('is unique over many ids (the random tail, across refills of the random pool)', () => {
    // The tails alone: uniqueness within a process already follows from (ms, counter), so a broken
    // random pool (never refilled, zeros) shows only here.
    const tails = new Set<string>();
    for (let i = 0; i < 100_000; i++) tails.add(uuidv7().slice(-17));
    expect(tails.size).toBeGreaterThan(99_990);
  });
});
