// A fake cluster for the DevOps agent: one crash-looping pod, one hot deployment (checkout at 950m
// of a 1000m limit), a Slack webhook and an LLM that diagnoses.
import { serveFakes } from '../../_fakes/server.mjs';

serveFakes({
  name: 'devops',
  routes: {
    'GET /api/v1/pods': () => ({
      json: {
        items: [
          { metadata: { name: 'payments-7d9f-x2k4', labels: { app: 'payments' } }, status: { phase: 'Pending', reason: 'CrashLoopBackOff' } },
          { metadata: { name: 'batch-import-1', labels: { app: 'batch' } }, status: { phase: 'Succeeded' } },
        ],
      },
    }),
    'GET /apis/metrics.k8s.io/v1beta1/pods': () => ({
      json: {
        items: [
          { metadata: { name: 'checkout-5c6b-aa11', labels: { app: 'checkout' } }, containers: [{ usage: { cpu: '950m' } }], limitMillicores: 1000 },
          { metadata: { name: 'search-77c2-bb22', labels: { app: 'search' } }, containers: [{ usage: { cpu: '200m' } }], limitMillicores: 1000 },
        ],
      },
    }),
    'PATCH /apis/apps/v1/namespaces/default/deployments/checkout/scale': ({ body }) => ({ json: { kind: 'Scale', spec: body.spec } }),
    'POST /slack': () => ({ text: 'ok' }),
  },
  llm: (messages) => {
    const pods = /fixes: (.*)$/s.exec(messages.at(-1)?.content ?? '')?.[1] ?? 'the pods';
    return `${pods.split(':')[0]} is crash-looping; check its last logs (kubectl logs --previous) and its memory limit.`;
  },
});
