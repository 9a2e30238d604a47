// The outside world for the seed examples, on one local port: each example's services/fakes.mjs
// declares the routes it needs (a Kubernetes API, Elasticsearch, a firewall, pricing pages, RSS
// feeds, a CMS, regulatory feeds, a Slack webhook) and how its fake LLM answers. Started by OpenClaw
// as a command agent, so `openclaw dev` in an example runs with no network at all.
//
//   GET  /_received              what was POSTed/PATCHed to the fakes so far (for tests and curiosity)
//   POST /v1/chat/completions    an OpenAI-compatible endpoint answering with llm(messages)
import http from 'node:http';

/**
 * @param {object} opts
 * @param {Record<string, (req: {method: string, path: string, query: URLSearchParams, body: unknown}) => {status?: number, json?: unknown, text?: string, type?: string} | undefined>} opts.routes
 *   keyed by "METHOD /path"; return undefined for 404
 * @param {(messages: Array<{role: string, content: string}>, json: boolean) => string} opts.llm
 */
export function serveFakes({ name, routes, llm }) {
  const port = Number(process.env.PORT);
  if (!port) throw new Error(`${name} fakes: set PORT`);
  const received = [];

  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fakes');
      let body = raw;
      try {
        body = raw ? JSON.parse(raw) : null;
      } catch {
        // not JSON: keep the text
      }
      const send = (status, payload, type = 'application/json') => {
        res.writeHead(status, { 'content-type': type });
        res.end(type === 'application/json' ? JSON.stringify(payload) : payload);
      };
      if (req.method === 'GET' && url.pathname === '/_received') return send(200, received);
      if (req.method === 'POST' && url.pathname === '/v1/chat/completions') {
        const messages = body?.messages ?? [];
        const content = llm(messages, body?.response_format?.type === 'json_object');
        const words = (s) => Math.max(1, Math.ceil(s.length / 4));
        const prompt = words(messages.map((m) => m.content).join(' '));
        return send(200, {
          id: `chatcmpl-fake-${received.length}`,
          object: 'chat.completion',
          created: Math.floor(Date.now() / 1000),
          model: body?.model ?? 'fake-llm',
          choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
          usage: { prompt_tokens: prompt, completion_tokens: words(content), total_tokens: prompt + words(content) },
        });
      }
      if (req.method !== 'GET') {
        received.push({ path: url.pathname, body });
        console.log(`${name} fakes: ${req.method} ${url.pathname} ${typeof body === 'string' ? body : JSON.stringify(body)}`);
      }
      const route = routes[`${req.method} ${url.pathname}`];
      const out = route?.({ method: req.method, path: url.pathname, query: url.searchParams, body });
      if (!out) return send(404, { error: `no fake for ${req.method} ${url.pathname}` });
      if (out.text !== undefined) return send(out.status ?? 200, out.text, out.type ?? 'text/plain');
      return send(out.status ?? 200, out.json ?? {});
    });
  });

  server.listen(port, '127.0.0.1', () => console.log(`${name} fakes listening on http://127.0.0.1:${port}`));
  const shutdown = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}
