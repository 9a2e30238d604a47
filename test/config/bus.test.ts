// The `bus:` section: backends, the url each needs, the store each needs, located errors.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { configErrorSync } from './helpers.js';

const PG = 'store: postgres://u@db:5432/x\n';
const parse = (text: string) => parseConfig(`project: x\n${text}`, '/srv/app/openclaw.yaml', { env: {} });

describe('bus config', () => {
  it('defaults to the embedded bus (no bus on the config)', () => {
    expect(parse('').bus).toBeUndefined();
    expect(parse('bus:\n  backend: embedded\n').bus).toBeUndefined();
  });

  it('reads a redis or nats bus on PostgreSQL', () => {
    expect(parse(`${PG}bus:\n  backend: redis\n  url: redis://r:6379\n  name: shop\n`).bus).toEqual({ backend: 'redis', url: 'redis://r:6379', name: 'shop', maxDeliveries: 20 });
    expect(parse(`${PG}bus: { backend: nats, url: "nats://n:4222", max_deliveries: 5 }\n`).bus).toEqual({ backend: 'nats', url: 'nats://n:4222', name: null, maxDeliveries: 5 });
  });

  it('says where the url is missing or wrong', () => {
    const missing = configErrorSync(() => parse(`${PG}bus:\n  backend: redis\n`));
    expect(missing.issues).toMatchObject([{ field: 'bus', line: 3, message: expect.stringContaining('needs `url` for backend redis') }]);
    const wrong = configErrorSync(() => parse(`${PG}bus:\n  backend: nats\n  url: redis://r:6379\n`));
    expect(wrong.issues).toMatchObject([{ field: 'bus.url', line: 5, message: expect.stringContaining('nats://host:4222') }]);
    const embedded = configErrorSync(() => parse('bus:\n  url: redis://r:6379\n'));
    expect(embedded.issues[0]).toMatchObject({ field: 'bus.url', message: expect.stringContaining('applies only to `backend: redis`') });
  });

  it('suggests the backend meant, and rejects unknown keys', () => {
    const err = configErrorSync(() => parse(`${PG}bus:\n  backend: reddis\n  uri: redis://r\n`));
    expect(err.issues.map((i) => [i.field, i.message])).toEqual([
      ['bus.backend', expect.stringContaining('did you mean "redis"?')],
      ['bus.uri', expect.stringContaining('did you mean `url`?')],
    ]);
  });

  it('refuses an external bus on a SQLite store, at bus.backend', () => {
    const err = configErrorSync(() => parse('bus:\n  backend: redis\n  url: redis://r:6379\n'));
    expect(err.issues).toMatchObject([{ field: 'bus.backend', line: 3, message: expect.stringContaining('needs a PostgreSQL store') }]);
  });
});
