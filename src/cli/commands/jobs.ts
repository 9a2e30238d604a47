// `openclaw jobs enqueue|list|show|dead|redrive|cancel` and `openclaw queues`: the job queue.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { jsonOption, parseJson, parsePositiveInt, targetOptions } from '../context.js';
import { UsageError } from '../errors.js';
import { formatRelative, formatTimestamp, renderTable } from '../format.js';
import type { JobRecord } from '../../jobs/types.js';
import type { QueueView } from '../../jobs/module.js';

const STATUSES = ['waiting', 'delayed', 'active', 'completed', 'dead', 'cancelled'];

function parseInteger(name: string) {
  return (v: string): number => {
    if (!/^-?\d+$/.test(v)) throw new UsageError(`${name}: expected a whole number, got '${v}'`);
    return Number(v);
  };
}

function truncate(s: string, n: number): string {
  const one = s.replace(/\s+/g, ' ');
  return one.length > n ? one.slice(0, n - 1) + '…' : one;
}

function jobTable(jobs: JobRecord[], now: number): string {
  return renderTable(
    ['Id', 'Queue', 'Status', 'Pri', 'Attempts', 'Run At', 'Updated', 'Error'],
    jobs.map((j) => [
      j.id,
      j.queue,
      j.status === 'waiting' && j.runAt > now ? 'delayed' : j.status,
      String(j.priority),
      `${j.attempts}/${j.maxAttempts}`,
      formatTimestamp(j.runAt),
      formatRelative(j.updatedAt, now),
      truncate(j.error ?? '-', 50),
    ]),
    { align: ['left', 'left', 'left', 'right', 'right'] },
  );
}

export function registerJobs(program: Command, ctx: CliContext): void {
  const jobs = program.command('jobs').description('background jobs: enqueue, inspect, cancel, dead letters');

  const enqueue = jobs
    .command('enqueue <name>')
    .description('enqueue a job on the queue NAME (served by the agent with @job(NAME))')
    .option('--payload <json>', 'the job payload as JSON', parseJson('--payload'))
    .option('--priority <n>', 'higher runs first (default 0)', parseInteger('--priority'))
    .option('--delay <duration>', "run no earlier than now + this ('10s', '5m')")
    .option('--run-at <time>', 'run no earlier than this ISO-8601 time')
    .option('--max-attempts <n>', 'attempts before dead-lettering', parsePositiveInt('--max-attempts'))
    .option('--timeout <duration>', 'per-attempt timeout')
    .option('--key <key>', 'idempotency key')
    .option('--mode <mode>', 'with --key: dedupe (default) | replace | debounce')
    .option('--concurrency-key <key>', 'group for per-key concurrency and rate limits')
    .option('--id <id>', 'a job id of your choosing (enqueueing it twice is a no-op)');
  targetOptions(jsonOption(enqueue)).action(
    async (
      name: string,
      o: { payload?: unknown; priority?: number; delay?: string; runAt?: string; maxAttempts?: number; timeout?: string; key?: string; mode?: string; concurrencyKey?: string; id?: string; json?: boolean },
    ) => {
      if (o.mode && !['dedupe', 'replace', 'debounce'].includes(o.mode)) throw new UsageError(`--mode: expected dedupe, replace or debounce, got '${o.mode}'`);
      if (o.mode && !o.key) throw new UsageError('--mode needs --key (the idempotency key)');
      const opts: Record<string, unknown> = {};
      if (o.priority !== undefined) opts.priority = o.priority;
      if (o.delay) opts.delay = o.delay;
      if (o.runAt) opts.runAt = o.runAt;
      if (o.maxAttempts !== undefined) opts.maxAttempts = o.maxAttempts;
      if (o.timeout) opts.timeout = o.timeout;
      if (o.key) opts.key = o.key;
      if (o.mode) opts.mode = o.mode;
      if (o.concurrencyKey) opts.concurrencyKey = o.concurrencyKey;
      if (o.id) opts.id = o.id;
      const res = await ctx.client(enqueue).request<{ id: string; created: boolean; warning?: string }>('POST', '/api/jobs', {
        body: { name, ...(o.payload !== undefined ? { payload: o.payload } : {}), ...(Object.keys(opts).length ? { opts } : {}) },
      });
      if (res.warning) ctx.warn(`warning: ${res.warning}`);
      if (o.json) return ctx.printJson(res);
      ctx.print(res.created ? `Enqueued ${name} job ${res.id}` : `Job ${res.id} already exists for this ${o.key ? 'key' : 'id'}; ${o.mode === 'replace' || o.mode === 'debounce' ? 'updated it' : 'nothing enqueued'}`);
    },
  );

  const list = jobs
    .command('list')
    .description('list jobs, newest first')
    .option('--queue <name>', 'only this queue')
    .option('--status <status>', `one of ${STATUSES.join(', ')}`)
    .option('--limit <n>', 'how many (default 50)', parsePositiveInt('--limit'));
  targetOptions(jsonOption(list)).action(async (o: { queue?: string; status?: string; limit?: number; json?: boolean }) => {
    if (o.status && !STATUSES.includes(o.status)) throw new UsageError(`--status: expected one of ${STATUSES.join(', ')}, got '${o.status}'`);
    const res = await ctx.client(list).request<{ jobs: JobRecord[] }>('GET', '/api/jobs', { query: { queue: o.queue, status: o.status, limit: o.limit ?? 50 } });
    if (o.json) return ctx.printJson(res);
    if (res.jobs.length === 0) return ctx.print('No jobs.');
    ctx.print(jobTable(res.jobs, ctx.now()));
  });

  const show = jobs.command('show <id>').description('one job: status, attempts, payload, result, error');
  targetOptions(jsonOption(show)).action(async (id: string, o: { json?: boolean }) => {
    const j = await ctx.client(show).request<JobRecord>('GET', `/api/jobs/${encodeURIComponent(id)}`);
    if (o.json) return ctx.printJson(j);
    const now = ctx.now();
    const lines = [
      `Job ${j.id}`,
      `  queue:       ${j.queue}`,
      `  status:      ${j.status === 'waiting' && j.runAt > now ? 'delayed' : j.status}`,
      `  priority:    ${j.priority}`,
      `  attempts:    ${j.attempts}/${j.maxAttempts}`,
      `  run at:      ${formatTimestamp(j.runAt)}`,
      `  enqueued:    ${formatTimestamp(j.createdAt)}`,
      ...(j.finishedAt ? [`  finished:    ${formatTimestamp(j.finishedAt)}`] : []),
      ...(j.key ? [`  key:         ${j.key} (${j.keyMode})`] : []),
      ...(j.concurrencyKey ? [`  concurrency: ${j.concurrencyKey}`] : []),
      ...(j.runId ? [`  last run:    ${j.runId}`] : []),
      `  payload:     ${JSON.stringify(j.payload)}`,
      ...(j.result !== null ? [`  result:      ${JSON.stringify(j.result)}`] : []),
      ...(j.error ? [`  error:       ${j.error}`] : []),
    ];
    ctx.print(lines.join('\n'));
  });

  const dead = jobs
    .command('dead')
    .description('list dead-lettered jobs (every attempt failed)')
    .option('--queue <name>', 'only this queue')
    .option('--limit <n>', 'how many (default 50)', parsePositiveInt('--limit'));
  targetOptions(jsonOption(dead)).action(async (o: { queue?: string; limit?: number; json?: boolean }) => {
    const res = await ctx.client(dead).request<{ jobs: JobRecord[] }>('GET', '/api/jobs/dead', { query: { queue: o.queue, limit: o.limit ?? 50 } });
    if (o.json) return ctx.printJson(res);
    if (res.jobs.length === 0) return ctx.print('No dead jobs.');
    ctx.print(jobTable(res.jobs, ctx.now()));
  });

  const redrive = jobs
    .command('redrive [ids...]')
    .description('run dead-lettered jobs again (attempts reset): these ids, or all of --queue, or --all')
    .option('--queue <name>', "all of this queue's dead jobs")
    .option('--all', 'every dead job of every queue');
  targetOptions(jsonOption(redrive)).action(async (ids: string[], o: { queue?: string; all?: boolean; json?: boolean }) => {
    if (ids.length === 0 && !o.queue && !o.all) throw new UsageError('jobs redrive: say what to re-drive: job ids, --queue NAME, or --all');
    const res = await ctx.client(redrive).request<{ redriven: number }>('POST', '/api/jobs/dead/redrive', {
      body: { ...(ids.length ? { ids } : {}), ...(o.queue ? { queue: o.queue } : {}), ...(o.all ? { all: true } : {}) },
    });
    if (o.json) return ctx.printJson(res);
    ctx.print(`Re-drove ${res.redriven} job(s)`);
  });

  const cancel = jobs.command('cancel <id>').description('cancel a waiting or running job (a running handler cannot complete it)');
  targetOptions(jsonOption(cancel)).action(async (id: string, o: { json?: boolean }) => {
    const j = await ctx.client(cancel).request<JobRecord>('POST', `/api/jobs/${encodeURIComponent(id)}/cancel`);
    if (o.json) return ctx.printJson(j);
    ctx.print(j.status === 'cancelled' ? `Cancelled job ${j.id}` : `Job ${j.id} is ${j.status}; nothing to cancel`);
  });

  const queues = program.command('queues').description('job queues: handler, counts by status, policy');
  targetOptions(jsonOption(queues)).action(async (o: { json?: boolean }) => {
    const res = await ctx.client(queues).request<{ queues: QueueView[] }>('GET', '/api/queues');
    if (o.json) return ctx.printJson(res);
    if (res.queues.length === 0) return ctx.print('No queues.');
    ctx.print(
      renderTable(
        ['Queue', 'Handler', 'Waiting', 'Delayed', 'Active', 'Done', 'Dead', 'Concurrency', 'Rate'],
        res.queues.map((q) => [
          q.queue,
          q.agent ? `${q.agent}.${q.method}()` : 'none: jobs wait',
          String(q.waiting),
          String(q.delayed),
          String(q.active),
          String(q.completed),
          String(q.dead),
          String(q.policy.concurrency),
          q.policy.rateLimit ?? '-',
        ]),
        { align: ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right'] },
      ),
    );
    const unserved = res.queues.filter((q) => !q.served && q.waiting + q.delayed > 0);
    for (const q of unserved) ctx.warn(`warning: no agent serves queue '${q.queue}': its ${q.waiting + q.delayed} job(s) wait until an agent with @job('${q.queue}') is configured`);
  });
}
