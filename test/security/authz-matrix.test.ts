// Issue 14, item 1: the permission check must see exactly the target the handler acts on. A real
// daemon with token auth, on SQLite and on PostgreSQL: every registered route × every token role ×
// a team token and a team-less one × every place a target can be given (path, query, body, ids
// that resolve to agents). The other team's agent is put at one place while the caller's own agent
// is at the others; the request must be refused (403), rejected as malformed (400), or leave the
// other team's agent untouched — checked after the whole matrix on its dead letter, its state and
// its status. Before the fix `?agent=own` + body `{agent: other}` redrove the other's dead letter.
// Item 6: each agent serves a job queue (a queue is its handler agent's team's); the other team's
// queue is named in the query, the body, a batch, or by a job id, and its delayed job must be
// untouched and unseen. A team token publishes only its agents' declared events and public ones.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { createModules } from '../../src/daemon/module-list.js';
import { roleAllows, TOKEN_ROLES, type TokenRole } from '../../src/security/auth/roles.js';
import { makeProject, waitFor } from '../helpers/project.js';
import { dropSchemas, havePostgres, PG_URL, uniqueSchema } from '../helpers/services.js';

const OWN = 'own-a';
const OTHER = 'other-b';
const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

type Call = { status: number; json: Record<string, unknown> & { error?: { code: string; message: string } } };

async function start(store: 'sqlite' | 'postgres'): Promise<{ daemon: Daemon; dir: string; call: (m: string, u: string, t: string, b?: unknown) => Promise<Call> }> {
  const schema = uniqueSchema('oc_authz');
  if (store === 'postgres') schemas.push(schema);
  const agent = (name: string, team: string, source: string) =>
    `  ${name}:\n    source: ${path.join(FIXTURES, source)}\n    owner: ${team}\n    events: { max_attempts: 1, initial_delay: 10ms, max_delay: 10ms }\n`;
  const { dir, configFile } = makeProject({
    agents: agent(OWN, 'team-a', 'team-queue-own.ts') + agent(OTHER, 'team-b', 'team-queue-other.ts'),
    ...(store === 'postgres' ? { store: { kind: 'postgres' as const, url: PG_URL, schema } } : {}),
    extra: `security:\n  events:\n    public: [ping]\n    emits:\n      ${OWN}: ["own.*"]\n      ${OTHER}: ["other.*"]\n`,
  });
  fs.writeFileSync(configFile, fs.readFileSync(configFile, 'utf8').replace('auth: local-trust', 'auth: token'));
  const daemon = await Daemon.start(await loadConfig(configFile), { modules: createModules() });
  const call = async (method: string, url: string, token: string, body?: unknown): Promise<Call> => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(daemon.url + url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let json = {};
    try {
      json = JSON.parse(text);
    } catch {}
    return { status: res.status, json };
  };
  return { daemon, dir, call };
}

for (const store of ['sqlite', 'postgres'] as const) {
  describe(`authorization matrix (${store})`, () => {
    it('no route acts on another team’s agent, wherever the target is given', async (ctx) => {
      if (store === 'postgres' && !(await havePostgres())) return ctx.skip();
      const { daemon, dir, call } = await start(store);
      try {
        const admin = fs.readFileSync(path.join(dir, '.openclaw', 'token'), 'utf8').trim();
        const mk = async (role: TokenRole, team?: string) => {
          const r = await call('POST', '/api/tokens', admin, { role, name: `${role}-${team ?? 'all'}`, ...(team ? { team } : {}) });
          expect(r.status).toBe(201);
          return r.json.token as string;
        };
        // Both agents dead-letter `boom`; the other team's agent holds a state key.
        expect((await call('POST', '/api/events', admin, { name: 'boom' })).status).toBe(202);
        const dead = await waitFor('both dead letters', async () => {
          const dl = (await call('GET', '/api/dead-letters', admin)).json.deadLetters as { deliveryId: number; consumer: string }[];
          return dl.length === 2 ? dl : null;
        });
        const ownDl = dead.find((d) => d.consumer === OWN)!.deliveryId;
        const otherDl = dead.find((d) => d.consumer === OTHER)!.deliveryId;
        expect((await call('PUT', `/api/agents/${OTHER}/state`, admin, { writes: [{ key: 'k', value: 'kept' }] })).status).toBe(200);
        // A job waits in the other team's queue (delayed, so it stays there).
        const otherJob = await call('POST', '/api/jobs', admin, { name: 'q-other', payload: { secret: 'other-team-payload' }, opts: { delay: '1h' } });
        expect(otherJob.status).toBe(201);
        const otherJobId = otherJob.json.id as string;

        const otherRuns = async () => ((await call('GET', `/api/agents/${OTHER}/runs?limit=1000`, admin)).json.runs as unknown[]).length;
        const runsBefore = await otherRuns();
        expect(runsBefore).toBeGreaterThan(0);

        const principals: { label: string; role: TokenRole; token: string }[] = [];
        for (const role of TOKEN_ROLES) principals.push({ label: `${role}@team-a`, role, token: await mk(role, 'team-a') });

        const failures: string[] = [];
        let checked = 0;
        const routes = daemon.apiRoutes().filter((r) => r.permission !== 'public' && r.url !== '/api/daemon/stop');
        for (const r of routes) {
          const withPath = (agent: string) => r.url.replace(':name', agent).replace(':agent', agent).replace(/:[A-Za-z]+/g, 'x');
          const namesAgent = r.url.includes(':agent') || r.url.startsWith('/api/agents/:name');
          const hasBody = r.method === 'POST' || r.method === 'PUT';
          // Where the other team's agent is placed; the caller's own agent is everywhere else.
          const variants: { where: string; url: string; body?: unknown; other?: boolean }[] = [];
          if (namesAgent) variants.push({ where: 'path', url: withPath(OTHER), ...(hasBody ? { body: { agent: OWN } } : {}) });
          variants.push({ where: 'query', url: `${withPath(OWN)}?agent=${OTHER}`, ...(hasBody ? { body: { agent: OWN } } : {}) });
          // Job routes name a queue (its handler agent is the target) or a job.
          if (r.url.startsWith('/api/jobs') || r.url === '/api/queues') {
            const own = r.url.includes(':id') ? withPath(OWN) : r.url;
            if (r.url.includes(':id')) variants.push({ where: 'job id', url: r.url.replace(':id', otherJobId), other: true });
            if (r.method === 'GET' && r.url !== '/api/queues' && !r.url.includes(':id')) variants.push({ where: 'queue in query', url: `${own}?queue=q-other`, other: true });
            if (hasBody) {
              variants.push({ where: 'queue in body', url: own, body: { name: 'q-other', opts: { delay: '1h' } }, other: true });
              variants.push({ where: 'queue in batch', url: own, body: { jobs: [{ name: 'q-own' }, { name: 'q-other', opts: { delay: '1h' } }] }, other: true });
              variants.push({ where: 'queue in redrive', url: own, body: { queue: 'q-other' }, other: true });
            }
          }
          if (hasBody) {
            variants.push({ where: 'body', url: `${withPath(OWN)}?agent=${OWN}`, body: { agent: OTHER } });
            variants.push({ where: 'body+ids', url: `${withPath(OWN)}?agent=${OWN}`, body: { ids: [ownDl, otherDl] } });
            variants.push({ where: 'ids', url: withPath(OWN), body: { ids: [otherDl] } });
          }
          for (const p of principals) {
            if (!roleAllows(p.role, r.permission!)) continue; // the role table is auth-rbac.test.ts's
            for (const v of variants) {
              const res = await call(r.method, v.url, p.token, v.body);
              checked++;
              // Refused, malformed, or not found: fine. A 2xx that names the other agent in its
              // answer (or any effect on it, checked below) is the split this test exists for.
              if (res.status >= 200 && res.status < 300 && (v.where === 'path' || v.other)) {
                failures.push(`${r.method} ${r.url} as ${p.label}, other agent in ${v.where}: HTTP ${res.status} ${JSON.stringify(res.json).slice(0, 200)}`);
              }
              if (res.status === 403 && v.where !== 'path' && !namesAgent && !/team|scoped/.test(res.json.error?.message ?? '')) {
                failures.push(`${r.method} ${r.url} as ${p.label}: unexpected 403 ${res.json.error?.message}`);
              }
              // No answer to a team token shows the other team's job (its list, its queue stats).
              if (res.status < 300 && /q-other|other-team-payload/.test(JSON.stringify(res.json))) failures.push(`${r.method} ${r.url} as ${p.label} (${v.where}): shows the other team's queue`);
              if (res.status >= 500) failures.push(`${r.method} ${r.url} as ${p.label} (${v.where}): HTTP ${res.status}`);
            }
          }
        }
        expect(failures).toEqual([]);
        expect(checked).toBeGreaterThan(100);

        // The other team's agent is untouched: no new run (a redrive would run its handler again),
        // its dead letter, its state, its status.
        expect(await otherRuns()).toBe(runsBefore);
        const left = (await call('GET', `/api/dead-letters?agent=${OTHER}`, admin)).json.deadLetters as { deliveryId: number }[];
        expect(left.map((d) => d.deliveryId)).toEqual([otherDl]);
        expect((await call('GET', `/api/agents/${OTHER}/state`, admin)).json).toMatchObject({ state: { k: 'kept' } });
        expect((await call('GET', `/api/agents/${OTHER}`, admin)).json).toMatchObject({ status: 'running' });
        const otherJobs = (await call('GET', '/api/jobs?queue=q-other', admin)).json.jobs as { id: string; status: string }[];
        expect(otherJobs.map((j) => [j.id, j.status])).toEqual([[otherJobId, expect.stringMatching(/^(waiting|delayed)$/)]]); // not cancelled

        // Item 6, jobs: a team token enqueues to and reads its team's queue; the whole list only by queue.
        const devA = principals.find((p) => p.role === 'developer')!.token;
        const mine = await call('POST', '/api/jobs', devA, { name: 'q-own', payload: { n: 1 } });
        expect(mine.status).toBe(201);
        expect((await call('GET', `/api/jobs/${mine.json.id as string}`, devA)).status).toBe(200);
        expect((await call('GET', '/api/jobs?queue=q-own', devA)).status).toBe(200);
        const queues = (await call('GET', '/api/queues', devA)).json.queues as { queue: string }[];
        expect(queues.map((q) => q.queue)).toEqual(['q-own']);
        const whole = await call('GET', '/api/jobs', devA);
        expect([whole.status, whole.json.error?.message]).toEqual([403, expect.stringContaining('?queue= (q-own)')]);
        const unserved = await call('POST', '/api/jobs', devA, { name: 'nobody-serves' });
        expect([unserved.status, unserved.json.error?.message]).toEqual([403, expect.stringContaining("no agent serves queue 'nobody-serves'")]);
        expect((await call('POST', '/api/jobs/dead/redrive', devA, { queue: 'q-own' })).status).toBe(403); // jobs:admin stays team-less
        // A token without a team still reaches every queue.
        expect((await call('GET', '/api/jobs', admin)).status).toBe(200);

        // Item 6, publishing: its agents' declared events and public ones; not another team's or undeclared ones.
        for (const name of ['own.created', 'ping']) expect([name, (await call('POST', '/api/events', devA, { name })).status]).toEqual([name, 202]);
        const theirs = await call('POST', '/api/events', devA, { name: 'other.created' });
        expect([theirs.status, theirs.json.error?.message]).toEqual([403, expect.stringContaining(`emitted by '${OTHER}', not by an agent of team 'team-a'`)]);
        const undeclared = await call('POST', '/api/events', devA, { name: 'boom' });
        expect([undeclared.status, undeclared.json.error?.message]).toEqual([403, expect.stringContaining('security.events')]);
        expect((await call('POST', '/api/events', admin, { name: 'other.created' })).status).toBe(202);

        // Item 6: the metrics carry every team's series, so a team token is refused them by team.
        const viewerA = principals.find((p) => p.role === 'viewer')!.token;
        const m = await call('GET', '/api/metrics', viewerA);
        expect([m.status, m.json.error?.message]).toEqual([403, expect.stringContaining("belongs to team 'team-a'")]);
        expect((await call('GET', '/api/metrics', admin)).status).toBe(200);

        // The reported split itself, and ids that resolve to the other team's agent.
        const adminA = principals.find((p) => p.role === 'admin')!.token;
        const split = await call('POST', `/api/dead-letters/redrive?agent=${OWN}`, adminA, { agent: OTHER });
        expect([split.status, split.json.error?.message]).toEqual([403, expect.stringContaining(`agent '${OTHER}'`)]);
        expect((await call('POST', `/api/dead-letters/redrive?agent=${OWN}`, adminA, { ids: [otherDl] })).status).toBe(403);
        // The matrix redrove the own agent's dead letter (allowed); it fails again and is dead again.
        await waitFor('own dead letter back', async () => ((await call('GET', `/api/dead-letters?agent=${OWN}`, admin)).json.deadLetters as unknown[]).length === 1);
        const ownOnly = await call('POST', '/api/dead-letters/redrive', adminA, { ids: [ownDl] });
        expect([ownOnly.status, ownOnly.json.redriven]).toEqual([200, 1]);
      } finally {
        await daemon.shutdown();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }, 120_000);
  });
}
