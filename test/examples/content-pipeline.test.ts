// examples/content-pipeline end to end: the seed's content pipeline against its fakes.
import { describe, expect, it } from 'vitest';
import { useExample } from './harness.js';

const ex = useExample('content-pipeline', 'CONTENT_PORT');

describe('examples/content-pipeline', () => {
  it('publishes each new article once, as a summarised draft', async () => {
    const posts = async () => (await ex().received()).filter((r) => r.path === '/cms/articles').map((r) => r.body as { title: string; summary: string; status: string; source_url: string });
    expect(await ex().run('content-pipeline')).toMatchObject({ status: 'succeeded' });
    expect((await posts()).map((p) => p.title)).toEqual(['Postgres 18 ships async I/O', 'Node 24 is LTS', 'Agents in production']);
    expect((await posts())[0]).toEqual({ title: 'Postgres 18 ships async I/O', summary: 'Summary of "Postgres 18 ships async I/O".', source_url: 'https://news.example/tech-1', category: 'auto-curated', status: 'draft' });

    // The AI feed gained one article: only that one is published.
    expect(await ex().run('content-pipeline')).toMatchObject({ status: 'succeeded' });
    expect((await posts()).map((p) => p.title).slice(3)).toEqual(['Budgets for LLM calls']);
    expect((await ex().daemon.getState('content-pipeline')).state.processed_ids).toEqual(['tech-1', 'tech-2', 'ai-1', 'ai-2']);
    expect(ex().daemon.logs.recent('content-pipeline').filter((l) => l.msg.startsWith('Published: ')).length).toBe(4);
  });
});
