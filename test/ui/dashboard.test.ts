// The dashboard in a real browser (Debian's chromium through playwright-core) against a real daemon
// with token auth and seeded data, on SQLite and on PostgreSQL. One browser for the file, one
// daemon per backend; each test opens its own browser context (its own cookies).
//
// Idle views: "no request over 30 s" is checked without waiting 30 s. The page runs on Playwright's
// installed clock; after it loaded, the test advances the page's own clock by 60 s
// (`page.clock.runFor`), which fires every setTimeout/setInterval the page registered, as a poll
// would be. Then a fence request made by the test itself must be the only request observed.
import fs from 'node:fs';
import path from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import type { Browser, BrowserContext, Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropSchemas, havePostgres } from '../helpers/services.js';
import { waitFor } from '../helpers/project.js';
import { SCREENSHOTS, ensureUiBuilt, haveChromium, launch } from './browser.js';
import { seedLedger, startUiDaemon, usd, type Backend, type UiDaemon } from './harness.js';

/** Each view, a locator that says it has loaded its data, and its bound on API requests at load. */
const VIEWS: Array<{ name: string; hash: string; ready: string; maxApi: number }> = [
  { name: 'fleet', hash: '#/', ready: '[data-row="alpha"]', maxApi: 2 }, // session + fleet
  { name: 'agent', hash: '#/agents/alpha', ready: 'h2:text("Runs")', maxApi: 2 }, // session + agent
  { name: 'jobs', hash: '#/jobs', ready: 'h2:text("Dead jobs")', maxApi: 5 }, // session + queues, jobs, dead, dead letters
  { name: 'workflows', hash: '#/workflows', ready: 'h2:text("Definitions")', maxApi: 4 }, // session + workflows, runs, approvals
  { name: 'spend', hash: '#/spend', ready: '[data-testid="spend-total"]', maxApi: 2 },
  { name: 'search', hash: '#/search', ready: '[data-testid="search-results"]', maxApi: 2 },
  { name: 'audit', hash: '#/audit', ready: 'th:text("Actor")', maxApi: 2 },
  { name: 'nodes', hash: '#/nodes', ready: 'td:text("this daemon")', maxApi: 3 }, // session + health, nodes
];

const skipAll = !haveChromium();
let browser: Browser;
let closeBrowser: (() => Promise<void>) | null = null;
const schemas: string[] = [];

beforeAll(async () => {
  if (skipAll) return;
  await ensureUiBuilt();
  ({ browser, close: closeBrowser } = await launch());
}, 120_000);

afterAll(async () => {
  await closeBrowser?.();
  await dropSchemas(schemas);
});

async function signIn(d: UiDaemon, token: string): Promise<{ ctx: BrowserContext; page: Page }> {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await ctx.newPage();
  await page.goto(`${d.url}/ui/`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('[data-row="alpha"]').waitFor();
  return { ctx, page };
}

const apiRequests = (page: Page): Request[] => {
  const seen: Request[] = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname.startsWith('/api/')) seen.push(r);
  });
  return seen;
};

const fence = (page: Page) => page.evaluate(() => fetch('/api/health').then((r) => r.status));

const live = (page: Page) => page.locator('[data-live="live"]').waitFor();

describe.each<Backend>(['sqlite', 'postgres'])('dashboard in chromium on %s', (backend) => {
  let d: UiDaemon;
  let skip = skipAll;
  const shots = backend === 'sqlite';

  beforeAll(async () => {
    if (skip) return;
    if (backend === 'postgres' && !(await havePostgres())) {
      skip = true;
      return;
    }
    d = await startUiDaemon(backend);
    if (d.schema) schemas.push(d.schema);
    await seedLedger(d, 120);
    await d.api(d.admin, 'POST', '/api/events', { name: 'tock', data: { customer: 'acme-zebra', amount: 42 } });
    await d.api(d.admin, 'POST', '/api/jobs', { name: 'orphans', payload: { n: 1 } });
    await waitFor('alpha ran on its tock', async () => ((await d.api(d.admin, 'GET', '/api/agents/alpha/runs')).body.runs.length > 0 ? true : null));
    if (shots) fs.mkdirSync(SCREENSHOTS, { recursive: true });
  }, 120_000);

  afterAll(async () => {
    await d?.close();
  });

  it('the sign-in page is accessible and signs in', async () => {
    if (skip) return;
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 700 } });
    const page = await ctx.newPage();
    await page.goto(`${d.url}/ui/`);
    await page.getByLabel('API token').waitFor();
    if (shots) {
      const axe = await new AxeBuilder({ page }).analyze();
      expect(axe.violations.map((x) => `login: ${x.id}`)).toEqual([]);
      await page.screenshot({ path: path.join(SCREENSHOTS, 'login.png') });
    }
    await page.getByLabel('API token').fill('oc_wrong_token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'sign-in refused' }).waitFor();
    await ctx.close();
  });

  it.each(VIEWS)('the $name page renders with a bounded number of API requests, no axe violations, and no request while idle', async (v) => {
    if (skip) return;
    const { ctx } = await signIn(d, d.admin);
    const page = await ctx.newPage();
    await page.clock.install();
    const seen = apiRequests(page);
    await page.goto(`${d.url}/ui/${v.hash}`);
    await page.locator(v.ready).first().waitFor();
    await live(page);
    // A fence: requests are observed in order, so once the test's own request is seen, every
    // request the page made while loading has been counted.
    await fence(page);
    const loaded = seen.map((r) => new URL(r.url()).pathname).slice(0, -1);
    expect(loaded.length, `${v.name}: ${loaded.join(', ')}`).toBeLessThanOrEqual(v.maxApi);
    expect(loaded.length, v.name).toBeGreaterThanOrEqual(2);

    // The DOM does not depend on the backend: accessibility and screenshots once, on SQLite.
    if (shots) {
      const axe = await new AxeBuilder({ page }).analyze();
      expect(axe.violations.map((x) => `${v.name}: ${x.id} ${x.nodes.map((n) => n.target.join(' ')).join(' | ')}`)).toEqual([]);
      await page.screenshot({ path: path.join(SCREENSHOTS, `${v.name}.png`), fullPage: true });
    }

    // Idle: a minute of the page's own time passes; only the test's fence request may appear.
    seen.length = 0;
    await page.clock.runFor(60_000);
    await fence(page);
    expect(seen.map((r) => new URL(r.url()).pathname), v.name).toEqual(['/api/health']);
    await ctx.close();
  });

  it('a state change made elsewhere reaches the fleet table without a reload; bulk "all matching" shows a dry-run count first', async () => {
    if (skip) return;
    const { ctx, page } = await signIn(d, d.admin);
    await live(page);
    const row = page.locator('[data-row="charlie"]');
    await expect(row.locator('.badge').textContent()).resolves.toBe('running');
    let navigations = 0;
    page.on('framenavigated', () => navigations++);
    expect((await d.api(d.admin, 'POST', '/api/agents/charlie/pause')).status).toBe(200);
    await row.locator('.badge:text("paused")').waitFor();
    await d.api(d.admin, 'POST', '/api/agents/charlie/resume');
    await row.locator('.badge:text("running")').waitFor();
    expect(navigations).toBe(0);

    await page.getByLabel('Filter').fill('search');
    await expect(page.getByTestId('fleet-count').textContent()).resolves.toContain('2 of 5');
    await page.getByRole('button', { name: 'Pause all matching' }).click();
    await expect(page.getByTestId('dry-run-count').textContent()).resolves.toContain('2 items: bravo, delta');
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.locator('[data-row="delta"] .badge:text("paused")').waitFor();
    await page.locator('[data-row="bravo"] .badge:text("paused")').waitFor();
    if (shots) await page.screenshot({ path: path.join(SCREENSHOTS, 'fleet-bulk.png') });
    await d.api(d.admin, 'POST', '/api/ui/agents/bulk/resume', { names: ['bravo', 'delta'], dryRun: false });
    await ctx.close();
  });

  it('agent page: trigger a run, see it and its state version live, open its timeline, diff two versions and roll back', async () => {
    if (skip) return;
    const { ctx, page } = await signIn(d, d.admin);
    await page.goto(`${d.url}/ui/#/agents/bravo`);
    await live(page);
    const runButtons = page.getByRole('button', { name: /^Timeline of run / });
    const shown = await runButtons.count();
    const before = (await d.api(d.admin, 'GET', '/api/agents/bravo')).body.runsTotal as number;
    await page.getByRole('button', { name: 'Trigger' }).click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    await waitFor('bravo ran', async () => ((await d.api(d.admin, 'GET', '/api/agents/bravo')).body.runsTotal > before ? true : null));
    await page.getByRole('button', { name: 'Trigger' }).click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    // Two runs → two state versions (runs: 1, runs: 2), shown without a reload.
    const versions = await waitFor('two state versions on screen', async () => {
      const n = await page.locator('button[aria-label^="Roll back to v"]').count();
      return n >= 2 ? n : null;
    });
    expect(versions).toBeGreaterThanOrEqual(2);
    // The finished runs are listed without a reload; the newest one's timeline: started, the state
    // version it wrote (bravo's `runs` key), finished.
    await waitFor('two more runs on screen', async () => ((await runButtons.count()) >= shown + 2 ? true : null));
    const newest = (await d.api(d.admin, 'GET', '/api/agents/bravo/runs')).body.runs[0] as { id: string };
    await page.getByRole('button', { name: `Timeline of run ${newest.id}` }).click();
    const timeline = page.getByTestId('run-timeline');
    await timeline.locator('td', { hasText: /^bravo v\d+: runs$/ }).waitFor();
    expect(await timeline.locator('tbody tr').first().textContent()).toContain('started');
    await timeline.locator('tbody tr').last().locator('.badge', { hasText: 'succeeded' }).waitFor();
    if (shots) {
      const axe = await new AxeBuilder({ page }).include('[data-testid="run-timeline"]').analyze();
      expect(axe.violations.map((x) => `run timeline: ${x.id}`)).toEqual([]);
    }
    const vs = (await d.api(d.admin, 'GET', '/api/agents/bravo/state/versions')).body.versions.map((v: { version: number }) => v.version) as number[];
    await page.getByLabel('From version').selectOption(String(vs[vs.length - 1]));
    await page.getByLabel('To version').selectOption(String(vs[0]));
    await page.getByRole('button', { name: 'Compare' }).click();
    await expect(page.getByTestId('state-diff').locator('td.mono').first().textContent()).resolves.toBe('runs');
    if (shots) await page.screenshot({ path: path.join(SCREENSHOTS, 'agent.png'), fullPage: true });
    await page.getByRole('button', { name: `Roll back to v${vs[vs.length - 1]}` }).click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    await waitFor('rolled back', async () => {
      const s = (await d.api(d.admin, 'GET', '/api/agents/bravo/state')).body;
      return s.state.runs === 1 ? s : null;
    });
    await ctx.close();
  });

  it('approving a workflow step from the inbox resumes the run to completion', async () => {
    if (skip) return;
    const { ctx, page } = await signIn(d, d.admin);
    await page.goto(`${d.url}/ui/#/workflows`);
    await live(page);
    const { runId } = (await d.api(d.admin, 'POST', '/api/workflows/release/runs', {})).body as { runId: string };
    // The gate appears in the inbox by push (the page does not reload or poll).
    const item = page.getByTestId('approvals').locator('li', { hasText: 'signoff' });
    await item.waitFor();
    await page.goto(`${d.url}/ui/#/workflows/${runId}`);
    await page.locator('[data-step="signoff"][data-status="waiting"]').waitFor();
    if (shots) await page.screenshot({ path: path.join(SCREENSHOTS, 'workflows.png'), fullPage: true });
    await page.getByTestId('approvals').locator('li', { hasText: 'signoff' }).getByRole('button', { name: 'Approve' }).click();
    const done = await waitFor('run finished', async () => {
      const r = (await d.api(d.admin, 'GET', `/api/workflow-runs/${runId}`)).body;
      return r.run.status === 'running' ? null : r;
    });
    expect(done.run.status).toBe('succeeded');
    await page.locator('[data-step="ship"][data-status="succeeded"]').waitFor();
    await ctx.close();
  });

  it('jobs, search, audit and spend: each main action works; spend totals equal the ledger to the cent', async () => {
    if (skip) return;
    const { ctx, page } = await signIn(d, d.admin);
    await page.goto(`${d.url}/ui/#/jobs`);
    await page.getByRole('button', { name: 'Cancel' }).first().click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    await waitFor('job cancelled', async () => ((await d.api(d.admin, 'GET', '/api/jobs?status=cancelled')).body.jobs.length === 1 ? true : null));

    await page.goto(`${d.url}/ui/#/search`);
    await page.getByLabel('Text in payload').fill('acme-zebra');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByTestId('search-results').locator('td', { hasText: 'acme-zebra' }).first().waitFor();
    // Only runs of the matching event: one, or more where a handler's commit conflicted with a
    // concurrent one (each attempt is a run record with status 'conflict').
    // The table may still show the previous answer for a moment: wait until it holds only matches.
    const rows = page.getByTestId('search-results').locator('tbody tr');
    await waitFor('only matching rows listed', async () => {
      const n = await rows.count();
      return n >= 1 && (await rows.filter({ hasText: 'acme-zebra' }).count()) === n ? true : null;
    });
    if (shots) await page.screenshot({ path: path.join(SCREENSHOTS, 'search.png'), fullPage: true });

    await page.goto(`${d.url}/ui/#/audit`);
    await page.getByRole('button', { name: 'Verify chain' }).click();
    await expect(page.getByTestId('verdict').textContent()).resolves.toMatch(/^Chain verified: \d+ records intact$/);

    for (const days of [30, 1]) {
      await page.goto(`${d.url}/ui/#/spend`);
      await page.getByLabel('Period').selectOption(String(days));
      const expected = usd(await d.ledgerNusd(days));
      await page.getByTestId('spend-total').filter({ hasText: expected }).waitFor();
      expect(await page.getByTestId('spend-total').textContent()).toBe(expected);
    }
    await ctx.close();
  });

  it('a viewer sees no action buttons; a forged state-changing request without the CSRF token is refused', async () => {
    if (skip) return;
    const { ctx, page } = await signIn(d, d.viewer);
    // Action buttons ("Pause alpha", "Trigger", "Re-drive all dead"), not sort headers ("Restarts").
    const actions = /^(Pause|Resume|Restart|Trigger|Roll back|Approve|Reject|Start|Cancel|Retry|Re-drive|Replay)(\s|…|$)/;
    // A viewer may not read the audit log: the section is not offered.
    expect(await page.getByRole('link', { name: 'Audit log' }).count()).toBe(0);
    for (const v of VIEWS.filter((x) => x.name !== 'audit')) {
      await page.goto(`${d.url}/ui/${v.hash}`);
      // The view's data is on screen before counting what it offers.
      await page.locator(v.ready).first().waitFor();
      expect(await page.getByRole('button', { name: actions }).count(), v.name).toBe(0);
      expect(await page.locator('input[type="checkbox"]').count(), v.name).toBe(0);
    }
    if (shots) await page.screenshot({ path: path.join(SCREENSHOTS, 'viewer.png') });
    await ctx.close();

    // An admin's session: a same-origin script without the CSRF token is refused; with it, allowed.
    const admin = await signIn(d, d.admin);
    const forged = await admin.page.evaluate(async () => {
      const r = await fetch('/api/agents/echo/pause', { method: 'POST' });
      return { status: r.status, body: await r.json() };
    });
    expect(forged).toMatchObject({ status: 403, body: { error: { code: 'csrf_required' } } });
    expect((await d.api(d.admin, 'GET', '/api/agents/echo')).body.desired).toBe('running');
    await admin.ctx.close();
  });
});
