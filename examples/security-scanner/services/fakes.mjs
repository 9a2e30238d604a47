// Fakes for the security agent: Elasticsearch with a minute of logs (an SQL injection, a brute
// force, a 404, a normal request), a firewall, and an LLM that rates entries by their signature.
import { serveFakes } from '../../_fakes/server.mjs';

const LOGS = [
  { source_ip: '203.0.113.7', message: "GET /search?q=' OR 1=1 -- SQL injection attempt" },
  { source_ip: '198.51.100.23', message: 'POST /login 401 brute force: 50 failures in 60s' },
  { source_ip: '192.0.2.10', message: 'GET /favicon.ico 404' },
  { source_ip: '192.0.2.11', message: 'GET /api/orders 200' },
];

const LEVELS = [
  [/sql injection|path traversal/i, 'critical'],
  [/brute force/i, 'high'],
  [/xss/i, 'medium'],
];

serveFakes({
  name: 'security',
  routes: {
    'POST /_search': () => ({ json: { hits: { hits: LOGS.map((l, i) => ({ _id: String(i), _source: { '@timestamp': new Date().toISOString(), ...l } })) } } }),
    'POST /firewall/block': ({ body }) => ({ json: { blocked: body.ip } }),
  },
  llm: (messages) => {
    const entries = JSON.parse(messages.at(-1)?.content ?? '[]');
    const threats = entries.map((e) => ({ source_ip: e.source_ip, level: LEVELS.find(([re]) => re.test(e.message))?.[1] ?? 'low', reason: e.message }));
    return JSON.stringify({ threats });
  },
});
