// examples/devops end to end: the seed's DevOps agent against its fakes (Kubernetes, Slack, LLM).
import { describe, expect, it } from 'vitest';
import { useExample } from './harness.js';

const ex = useExample('devops', 'DEVOPS_PORT');

describe('examples/devops', () => {
  it('diagnoses the crash-looping pod to Slack and scales the hot deployment, one replica per run', async () => {
    expect(await ex().run('devops-agent')).toMatchObject({ status: 'succeeded' });
    const got = await ex().received();
    const slack = got.filter((r) => r.path === '/slack').map((r) => (r.body as { text: string }).text);
    expect(slack[0]).toMatch(/^🔧 \*1 unhealthy pods detected\*\nDiagnosis: payments-7d9f-x2k4 is crash-looping/);
    expect(slack[1]).toBe('📈 Scaled *checkout* to 3 replicas');
    expect(got.filter((r) => r.path.endsWith('/scale'))).toEqual([{ path: '/apis/apps/v1/namespaces/default/deployments/checkout/scale', body: { spec: { replicas: 3 } } }]);
    expect((await ex().daemon.getState('devops-agent')).state).toEqual({ replicas_checkout: 3 });

    expect(await ex().run('devops-agent')).toMatchObject({ status: 'succeeded' });
    expect((await ex().daemon.getState('devops-agent')).state).toEqual({ replicas_checkout: 4 });
  });
});
