// A tiny local "production": GET /healthy → 200, GET /broken → 503, POST /alerts prints the alert.
// Started by OpenClaw as a command agent; its stdout/stderr appear in `openclaw logs targets`.
import http from 'node:http';

const port = Number(process.env.PORT || 18480);
let alerts = 0;

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/healthy') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'ok', uptime_s: Math.round(process.uptime()) }));
    return;
  }
  if (req.method === 'GET' && req.url === '/broken') {
    res.writeHead(503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'unavailable', reason: 'database connection pool exhausted' }));
    return;
  }
  if (req.method === 'POST' && req.url === '/alerts') {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      alerts++;
      let text = body;
      try {
        const a = JSON.parse(body);
        text = `[${a.agent ?? '?'}] ${a.text ?? body}`;
      } catch {
        // not JSON: print as is
      }
      console.log(`ALERT #${alerts} received: ${text}`);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not found');
});

server.listen(port, '127.0.0.1', () => {
  console.log(`targets listening on http://127.0.0.1:${port} (/healthy → 200, /broken → 503, POST /alerts)`);
});

function shutdown(signal) {
  console.log(`targets: ${signal}, closing`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
