// Fakes for the content pipeline: two RSS feeds (the AI feed gains an article after its first
// read), a CMS that wants `Authorization: Bearer <token>`, and an LLM that "summarises".
import { serveFakes } from '../../_fakes/server.mjs';

const item = (id, title, text) => `<item><guid>${id}</guid><title>${title}</title><link>https://news.example/${id}</link><description><![CDATA[${text}]]></description></item>`;
const feed = (...items) => ({ type: 'application/rss+xml', text: `<?xml version="1.0"?><rss version="2.0"><channel><title>news</title>${items.join('')}</channel></rss>` });
let aiReads = 0;

serveFakes({
  name: 'content',
  routes: {
    'GET /feeds/tech.xml': () => feed(item('tech-1', 'Postgres 18 ships async I/O', 'Reads get faster.'), item('tech-2', 'Node 24 is LTS', 'Upgrade notes inside.')),
    'GET /feeds/ai.xml': () => (aiReads++ === 0 ? feed(item('ai-1', 'Agents in production', 'What breaks at 3 a.m.')) : feed(item('ai-1', 'Agents in production', 'What breaks at 3 a.m.'), item('ai-2', 'Budgets for LLM calls', 'Reserve before you spend.'))),
    'POST /cms/articles': ({ body }) => ({ status: 201, json: { id: `post-${body.title.length}`, ...body } }),
  },
  llm: (messages) => {
    const title = /Title: (.*)\n/.exec(messages.at(-1)?.content ?? '')?.[1] ?? 'the article';
    return `Summary of "${title}".`;
  },
});
