// Reference: the plainest http-proxy reverse proxy, with a keep-alive agent towards upstream.
import { Agent, createServer } from 'node:http';
import httpProxy from 'http-proxy';
import { announceReady, upstreamFromArgs } from './announce.js';

const proxy = httpProxy.createProxyServer({
  target: upstreamFromArgs(),
  agent: new Agent({ keepAlive: true, maxSockets: 128 }),
  xfwd: true,
});
proxy.on('error', (_err, _req, res) => {
  if (res.headersSent) res.destroy();
  else res.writeHead(502).end();
});
const server = createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => announceReady(server));
