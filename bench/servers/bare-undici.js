// Reference: a minimal undici reverse proxy (Pool.stream straight into the client response).
import { createServer } from 'node:http';
import { Pool } from 'undici';
import { announceReady, upstreamFromArgs } from './announce.js';

// undici refuses these in a request, and they must not be relayed in a response either.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer', 'host', 'expect']);

const pool = new Pool(upstreamFromArgs(), { connections: 128, pipelining: 1 });

function withoutHopByHop(headers) {
  const kept = {};
  for (const name in headers) if (!HOP_BY_HOP.has(name)) kept[name] = headers[name];
  return kept;
}

const server = createServer((req, res) => {
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  pool
    .stream(
      { path: req.url, method: req.method, headers: withoutHopByHop(req.headers), body: hasBody ? req : null },
      ({ statusCode, headers }) => {
        res.writeHead(statusCode, withoutHopByHop(headers));
        return res;
      },
    )
    .catch(() => {
      if (res.headersSent) res.destroy();
      else res.writeHead(502).end();
    });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => announceReady(server));
