// examples/compliance-watcher end to end: the seed's compliance agent against its fakes.
import { describe, expect, it } from 'vitest';
import { useExample } from './harness.js';

const ex = useExample('compliance-watcher', 'COMPLIANCE_PORT');

describe('examples/compliance-watcher', () => {
  it('reports new and updated regulations once, and alerts legal on high impact', async () => {
    const slack = async () => (await ex().received()).filter((r) => r.path === '/slack/legal').map((r) => (r.body as { text: string }).text);
    expect(await ex().run('compliance-agent')).toMatchObject({ status: 'succeeded' });
    let events = await ex().daemon.listEvents({ name: 'regulatory_changes' });
    expect(events.map((e) => (e.payload as { changes: Array<{ id: string }> }).changes.map((c) => c.id))).toEqual([['eu-gdpr-2026-04', 'us-ca-sb-1']]);
    expect(events[0]!.payload).toMatchObject({ high_impact_count: 1, impact_analysis: expect.stringContaining('us-ca-sb-1: medium') });
    expect(await slack()).toEqual([expect.stringMatching(/^⚖️ \*2 regulatory changes detected\*, 1 high impact\neu-gdpr-2026-04: high/)]);

    // Next read: only the GDPR amendment changed (new updated_at); the US law is known.
    expect(await ex().run('compliance-agent')).toMatchObject({ status: 'succeeded' });
    events = await ex().daemon.listEvents({ name: 'regulatory_changes' });
    expect(events.map((e) => (e.payload as { changes: Array<{ id: string }> }).changes.map((c) => c.id))).toEqual([['eu-gdpr-2026-04', 'us-ca-sb-1'], ['eu-gdpr-2026-04']]);
    expect((await ex().daemon.getState('compliance-agent')).state.known_regulations).toEqual({ 'eu-gdpr-2026-04': '2026-05-15', 'us-ca-sb-1': '2026-03-10' });
    expect(await slack()).toHaveLength(2);
  });
});
