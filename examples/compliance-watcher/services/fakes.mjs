// Fakes for the compliance agent: an EU feed (a GDPR amendment that is updated again after the
// first read) and a US feed (a state privacy law), a Slack webhook for legal, and an LLM that
// rates data-protection changes high and the rest medium.
import { serveFakes } from '../../_fakes/server.mjs';

let euReads = 0;

serveFakes({
  name: 'compliance',
  routes: {
    'GET /eu/regulations.json': () => ({
      json: { regulations: [{ id: 'eu-gdpr-2026-04', title: 'GDPR amendment: processor audits', updated_at: euReads++ === 0 ? '2026-04-01' : '2026-05-15' }] },
    }),
    'GET /us/regulations.json': () => ({ json: { regulations: [{ id: 'us-ca-sb-1', title: 'California SB 1: breach notice in 72h', updated_at: '2026-03-10' }] } }),
    'POST /slack/legal': () => ({ text: 'ok' }),
  },
  llm: (messages) => {
    const changes = JSON.parse(/Changes: (\[.*\])$/s.exec(messages.at(-1)?.content ?? '')?.[1] ?? '[]');
    return changes.map((c) => `${c.id}: ${/gdpr/i.test(c.title) ? 'high - processors must be audited yearly' : 'medium - shorter breach notice window'}`).join('\n');
  },
});
