// The embedded bus (the store's event log and delivery rows) against the bus conformance suite, on
// a real SQLite file and a real PostgreSQL schema; plus what only PostgreSQL can show: an event
// whose sequence number commits late is not skipped.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EmbeddedBus } from '../../src/bus/embedded.js';
import type { BusFixture } from '../../src/bus/types.js';
import { openStore, type Store } from '../../src/store/index.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { dropSchemas, havePostgres, PG_URL, uniqueSchema } from '../helpers/services.js';
import { busConformance } from './conformance.js';
import { queries } from '../../src/store/postgres/queries.js';

const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

async function sqliteFixture(): Promise<BusFixture> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-bus-'));
  const clock = new FakeClock();
  const store = await openStore({ kind: 'sqlite', path: path.join(dir, 'bus.db') }, { clock });
  return fixture(store, clock, () => fs.rmSync(dir, { recursive: true, force: true }));
}

async function postgresFixture(): Promise<BusFixture> {
  const schema = uniqueSchema('oc_bus');
  schemas.push(schema);
  const clock = new FakeClock();
  const store = await openStore({ kind: 'postgres', url: PG_URL, schema }, { clock });
  return fixture(store, clock, () => undefined);
}

function fixture(store: Store, clock: FakeClock, cleanup: () => void): BusFixture {
  return {
    bus: new EmbeddedBus(store, clock),
    advance: (ms) => clock.advance(ms),
    now: () => clock.now(),
    async close() {
      await store.close();
      cleanup();
    },
  };
}

busConformance('embedded on SQLite', sqliteFixture);

const pgUp = await havePostgres();
describe.runIf(pgUp)('PostgreSQL', () => {
  busConformance('embedded on PostgreSQL', postgresFixture);

  it('never skips an event whose lower sequence number commits after a higher one (late commit)', async () => {
    const fx = await postgresFixture();
    try {
      const store = (fx.bus as unknown as { store: Store }).store;
      await fx.bus.subscribe('g', ['x']);
      // Producer A takes its sequence number first but holds its transaction open (the store's own
      // publish statement inside a transaction that waits on a gate); producer B appends after it
      // and commits first.
      let openGate!: () => void;
      const gate = new Promise<void>((r) => (openGate = r));
      let aInside!: () => void;
      const aHasSeq = new Promise<void>((r) => (aInside = r));
      const ev = (id: string) => ({ id, name: 'x', payload: id, source: 'p', createdAt: fx.now() });
      const h = store.handle();
      if (h.dialect !== 'postgres') throw new Error('expected PostgreSQL');
      const a = h.tx(async (c) => {
        await c.query(queries(h.schema).publish, [['a-low'], ['x'], ['"a-low"'], ['p'], [fx.now()], [null], fx.now(), [null], [null]]);
        aInside();
        await gate;
      });
      await aHasSeq;
      expect(await fx.bus.append([ev('b-high')])).toBe(1);
      const [bOnly, ...none] = await fx.bus.claim('g', { limit: 10, leaseMs: 30_000 });
      expect(none).toEqual([]);
      expect(bOnly!.event.id).toBe('b-high');
      expect(await fx.bus.ack([bOnly!])).toBe(1);
      openGate();
      await a;
      const late = await fx.bus.claim('g', { limit: 10, leaseMs: 30_000 });
      expect(late.map((d) => d.event.id)).toEqual(['a-low']);
      expect(late[0]!.event.seq).toBeLessThan(bOnly!.event.seq);
    } finally {
      await fx.close();
    }
  });
});
