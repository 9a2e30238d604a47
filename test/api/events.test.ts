import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeadLetter } from '../../src/store/types.js';
import { FakeControlPlane } from './fake-control.js';
import { call, startApi, type Running } from './harness.js';

let control: FakeControlPlane;
let api: Running;

function deadLetter(id: number, consumer: string): DeadLetter {
  return {
    deliveryId: id,
    consumer,
    attempts: 5,
    lastError: 'boom',
    deadAt: control.now,
    event: { id: `e${id}`, name: 'ticket.created', payload: {}, source: null, createdAt: control.now, seq: id },
  };
}

beforeEach(async () => {
  control = new FakeControlPlane();
  control.addAgent('triage');
  api = await startApi(control);
});
afterEach(() => api.close());

describe('POST /api/events', () => {
  it('publishes an event and answers 202 with its id', async () => {
    const res = await call(api.url, 'POST', '/api/events', { name: 'ticket.created', data: { id: 7 }, id: 'ext-7' });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ id: 'ext-7', published: true });
    expect(control.events).toEqual([expect.objectContaining({ id: 'ext-7', name: 'ticket.created', payload: { id: 7 } })]);
  });

  it('reports a duplicate id as not published', async () => {
    await call(api.url, 'POST', '/api/events', { name: 'ticket.created', id: 'same' });
    const res = await call(api.url, 'POST', '/api/events', { name: 'ticket.created', id: 'same' });
    expect(res.body).toEqual({ id: 'same', published: false });
    expect(control.events).toHaveLength(1);
  });

  it.each([
    [{}, 'body.name: required'],
    [{ name: '' }, 'body.name: must not be empty'],
    [{ name: 'has space' }, "body.name: event names are letters, digits, '.', '_', ':', '/' and '-'"],
    [{ name: 'ok', id: 5 }, 'body.id: Expected string, received number'],
    [{ name: 'ok', extra: 1 }, "body: unknown field(s) 'extra'"],
    ['not an object', 'body: Expected object, received string'],
  ])('answers 400 naming the field for %j', async (body, message) => {
    const res = await call(api.url, 'POST', '/api/events', typeof body === 'string' ? JSON.stringify(body) : body);
    expect(res.status).toBe(400);
    expect(res.body.error).toEqual({ code: 'invalid_request', message });
    expect(control.events).toHaveLength(0);
  });
});

describe('GET /api/events', () => {
  it('lists events after a sequence number and by name', async () => {
    for (const name of ['a', 'b', 'a']) await call(api.url, 'POST', '/api/events', { name });
    const after = await call(api.url, 'GET', '/api/events?after=1');
    expect(after.body.events.map((e: { seq: number }) => e.seq)).toEqual([2, 3]);
    const named = await call(api.url, 'GET', '/api/events?name=a&limit=1');
    expect(named.body.events.map((e: { seq: number }) => e.seq)).toEqual([1]);
  });
});

describe('dead letters', () => {
  beforeEach(() => {
    control.deadLetters.push(deadLetter(1, 'triage'), deadLetter(2, 'triage'), deadLetter(3, 'other'));
  });

  it('lists dead letters, by agent', async () => {
    const res = await call(api.url, 'GET', '/api/dead-letters?agent=triage');
    expect(res.status).toBe(200);
    expect(res.body.deadLetters.map((d: DeadLetter) => d.deliveryId)).toEqual([1, 2]);
  });

  it('redrives by ids, by agent, or all when asked explicitly', async () => {
    expect((await call(api.url, 'POST', '/api/dead-letters/redrive', { ids: [2] })).body).toEqual({ redriven: 1 });
    expect((await call(api.url, 'POST', '/api/dead-letters/redrive', { agent: 'triage' })).body).toEqual({ redriven: 1 });
    expect((await call(api.url, 'POST', '/api/dead-letters/redrive', { all: true })).body).toEqual({ redriven: 1 });
    expect(control.deadLetters).toEqual([]);
  });

  it('refuses a redrive that does not say what to redrive', async () => {
    const res = await call(api.url, 'POST', '/api/dead-letters/redrive', {});
    expect(res.status).toBe(400);
    expect(res.body.error).toEqual({ code: 'invalid_request', message: 'body: say what to redrive: agent, ids, or all: true' });
    expect(control.deadLetters).toHaveLength(3);
  });

  it('answers 400 naming the bad id', async () => {
    const res = await call(api.url, 'POST', '/api/dead-letters/redrive', { ids: [1, 'two'] });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toBe('body.ids.1: Expected number, received string');
  });
});
