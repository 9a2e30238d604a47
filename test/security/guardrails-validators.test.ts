// Output validators on emitted events, applied by the daemon when a run commits: pii_filter
// (redact | block | warn, Luhn-checked card numbers) and json_schema (block), through a real daemon
// with a real agent worker; the detectors on their own; config refusals.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { guardrailsModule } from '../../src/security/guardrails/module.js';
import { luhnValid, scanPii } from '../../src/security/guardrails/pii.js';
import { makeProject, waitFor } from '../helpers/project.js';

const EMITTER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'emitter.ts');
const CARD = '4111 1111 1111 1111'; // Luhn-valid (a test Visa number)
const NOT_CARD = '4111 1111 1111 1112'; // same shape, fails the Luhn check

describe('PII detectors', () => {
  it('checks card numbers with Luhn and leaves other digit runs alone', () => {
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
    expect(luhnValid('79927398713')).toBe(true);
    const r = scanPii(
      { a: `pay with ${CARD} or 5500-0000-0000-0004`, b: NOT_CARD, c: 'order 1234567890123', d: 'ssn 123-45-6789, bogus 000-12-3456', e: 'ring +1 (555) 123-4567', f: 'x@y.io' },
      ['email', 'phone', 'ssn', 'credit_card'],
      true,
    );
    expect(r.value).toEqual({
      a: 'pay with [REDACTED:credit_card] or [REDACTED:credit_card]',
      b: NOT_CARD,
      c: 'order 1234567890123',
      d: 'ssn [REDACTED:ssn], bogus 000-12-3456',
      e: 'ring [REDACTED:phone]',
      f: '[REDACTED:email]',
    });
    expect(r.findings.map((f) => `${f.kind}@${f.path}`)).toEqual(['credit_card@data.a', 'credit_card@data.a', 'ssn@data.d', 'phone@data.e', 'email@data.f']);
    // `fields` narrows what is looked for.
    expect(scanPii({ a: `x@y.io ${CARD}` }, ['email'], true).value).toEqual({ a: `[REDACTED:email] ${CARD}` });
  });
});

describe('validators through a real daemon', () => {
  let daemons: Daemon[] = [];
  afterEach(async () => {
    await Promise.all(daemons.map((d) => d.shutdown('test end')));
    daemons = [];
  });

  async function start(validators: string, files: Record<string, string> = {}): Promise<Daemon> {
    const { dir, configFile } = makeProject({ extra: `security:\n  validators:\n${validators}`, agents: `  emitter:\n    source: ${EMITTER}\n` });
    for (const [name, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      fs.writeFileSync(path.join(dir, name), text);
    }
    const d = await Daemon.start(await loadConfig(configFile), { modules: [guardrailsModule()] });
    daemons.push(d);
    await waitFor('emitter running', async () => (await d.getAgent('emitter')).status === 'running');
    return d;
  }

  async function emit(d: Daemon, events: Array<{ name: string; data: unknown }>) {
    const { runId } = await waitFor('trigger accepted', () => d.trigger('emitter', { events }));
    return waitFor(`run ${runId}`, async () => (await d.listRuns('emitter')).find((r) => r.id === runId && r.status !== 'running' && r.finishedAt));
  }

  const eventsNamed = async (d: Daemon, name: string) => (await d.listEvents({ name })).map((e) => e.payload);
  const runs = async (d: Daemon) => ((await d.getState('emitter')).state.runs as number | undefined) ?? 0;

  it('pii_filter: redact replaces matches, block fails the run and commits nothing of it, warn logs and counts', async () => {
    const d = await start(
      [
        `    - { type: pii_filter, action: redact, events: [contact] }\n`,
        `    - { type: pii_filter, action: block, fields: [credit_card, ssn], events: [payment] }\n`,
        `    - { type: pii_filter, action: warn, fields: [email], events: [note] }\n`,
      ].join(''),
    );
    // redact
    const contact = { email: 'ann@example.com', phone: '+1 555 123 4567', ssn: '123-45-6789', card: CARD, notCard: NOT_CARD, text: 'call 555-123-4567 or mail bob@example.org' };
    expect(await emit(d, [{ name: 'contact', data: contact }])).toMatchObject({ status: 'succeeded' });
    expect(await eventsNamed(d, 'contact')).toEqual([
      {
        email: '[REDACTED:email]',
        phone: '[REDACTED:phone]',
        ssn: '[REDACTED:ssn]',
        card: '[REDACTED:credit_card]',
        notCard: NOT_CARD,
        text: 'call [REDACTED:phone] or mail [REDACTED:email]',
      },
    ]);

    // block: a Luhn-valid card fails the run; its other emit and its state write do not commit
    const before = await runs(d);
    const blocked = await emit(d, [
      { name: 'fine', data: { ok: true } },
      { name: 'payment', data: { card: CARD } },
    ]);
    expect(blocked.status).toBe('failed');
    expect(blocked.error).toContain("validator pii_filter (security.validators[1]) blocked event 'payment' emitted by agent 'emitter'");
    expect(blocked.error).toContain('credit card at data.card');
    expect(await eventsNamed(d, 'payment')).toEqual([]);
    expect(await eventsNamed(d, 'fine')).toEqual([]);
    expect(await runs(d)).toBe(before);
    // a number that fails the Luhn check is not a card: the run commits
    expect(await emit(d, [{ name: 'payment', data: { card: NOT_CARD } }])).toMatchObject({ status: 'succeeded' });
    expect(await eventsNamed(d, 'payment')).toEqual([{ card: NOT_CARD }]);

    // warn: committed unchanged, one log line, one count
    expect(await emit(d, [{ name: 'note', data: { by: 'carol@example.com' } }])).toMatchObject({ status: 'succeeded' });
    expect(await eventsNamed(d, 'note')).toEqual([{ by: 'carol@example.com' }]);
    const logs = await d.recentLogs('daemon', { limit: 200 });
    expect(logs.some((l) => l.level === 'warning' && l.msg.includes("pii_filter (security.validators[2]) warning on event 'note'") && l.msg.includes('email at data.by'))).toBe(true);
    const counter = (await d.metrics.getSingleMetric('openclaw_guardrail_violations_total')!.get()).values;
    expect(counter.find((v) => v.labels.action === 'warn')?.value).toBe(1);
    expect(counter.find((v) => v.labels.action === 'redact')?.value).toBe(1);
  });

  it('json_schema: an event that does not match its schema fails the run; one that matches commits', async () => {
    const schema = { type: 'object', required: ['id', 'total'], properties: { id: { type: 'string' }, total: { type: 'number', minimum: 0 } }, additionalProperties: false };
    const d = await start(`    - type: json_schema\n      action: block\n      schema_path: schemas/order.json\n      events: [order]\n`, { 'schemas/order.json': JSON.stringify(schema) });
    const bad = await emit(d, [{ name: 'order', data: { id: 7, total: -1, extra: true } }]);
    expect(bad.status).toBe('failed');
    expect(bad.error).toContain("validator json_schema (security.validators[0]) blocked event 'order'");
    expect(bad.error).toContain('does not match schemas/order.json');
    expect(bad.error).toContain('data.id must be string');
    expect(await eventsNamed(d, 'order')).toEqual([]);
    expect(await emit(d, [{ name: 'order', data: { id: 'A-1', total: 12.5 } }])).toMatchObject({ status: 'succeeded' });
    expect(await emit(d, [{ name: 'other', data: { anything: 1 } }])).toMatchObject({ status: 'succeeded' }); // not an 'order'
    expect(await eventsNamed(d, 'order')).toEqual([{ id: 'A-1', total: 12.5 }]);
  });

  it('refuses content_safety and a missing schema file with clear messages', async () => {
    const { configFile } = makeProject({ extra: `security:\n  validators:\n    - { type: content_safety, action: block, categories: [hate_speech] }\n`, agents: `  emitter:\n    source: ${EMITTER}\n` });
    await expect(loadConfig(configFile)).rejects.toThrow(/openclaw\.yaml:\d+.*security\.validators\[0\]: content_safety is not supported/s);
    const missing = makeProject({ extra: `security:\n  validators:\n    - { type: json_schema, action: block, schema_path: schemas/nope.json }\n`, agents: `  emitter:\n    source: ${EMITTER}\n` });
    await expect(Daemon.start(await loadConfig(missing.configFile), { modules: [guardrailsModule()] })).rejects.toThrow(/security\.validators\[0\]\.schema_path: cannot read the JSON Schema .*nope\.json: ENOENT/);
  });
});
