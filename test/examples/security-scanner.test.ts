// examples/security-scanner end to end: the seed's security agent against its fakes.
import { describe, expect, it } from 'vitest';
import { useExample } from './harness.js';

const ex = useExample('security-scanner', 'SECURITY_PORT');

describe('examples/security-scanner', () => {
  it('blocks the critical and high sources once, and emits threats_detected each run', async () => {
    expect(await ex().run('security-agent')).toMatchObject({ status: 'succeeded' });
    const blocks = () => ex().received().then((r) => r.filter((x) => x.path === '/firewall/block').map((x) => x.body));
    expect(await blocks()).toEqual([
      { ip: '203.0.113.7', duration: '24h' },
      { ip: '198.51.100.23', duration: '24h' },
    ]);
    const [event] = await ex().daemon.listEvents({ name: 'threats_detected' });
    expect(event!.payload).toMatchObject({ count: 2, blocked_ips: ['203.0.113.7', '198.51.100.23'], threats: [{ level: 'critical' }, { level: 'high' }] });

    // Still blocked on the next run: no second block call, an event that blocked nothing.
    expect(await ex().run('security-agent')).toMatchObject({ status: 'succeeded' });
    expect(await blocks()).toHaveLength(2);
    const events = await ex().daemon.listEvents({ name: 'threats_detected' });
    expect(events.map((e) => (e.payload as { blocked_ips: string[] }).blocked_ips)).toEqual([['203.0.113.7', '198.51.100.23'], []]);
  });
});
