// The fake patient API the bench proxies to: ~2 KB of JSON per patient record list, keep-alive.
// Runs in its own process (forked by bench/lib/processes.js) so its CPU is never counted as a proxy's.
import { createServer } from 'node:http';
import { announceReady } from './announce.js';

const RECORD_COUNT = 12;
const bodies = new Map();

function recordsBody(pkbId) {
  let body = bodies.get(pkbId);
  if (body === undefined) {
    const records = Array.from({ length: RECORD_COUNT }, (_, i) => ({
      id: `r${i + 1}`,
      type: ['allergy', 'medication', 'diagnosis', 'procedure'][i % 4],
      date: `2026-${String((i % 12) + 1).padStart(2, '0')}-14`,
      text: `Bench record ${i + 1} for ${pkbId}: lorem ipsum dolor sit amet consectetur`,
      author: 'dr.bench',
    }));
    body = Buffer.from(JSON.stringify({ pkbId, name: 'Bench Patient', birthDate: '1970-01-01', records }));
    bodies.set(pkbId, body);
  }
  return body;
}

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
}

const NOT_FOUND = Buffer.from('{"error":"not_found"}');

const server = createServer((req, res) => {
  // Drain any request body (POSTs through pass-through) so the connection stays reusable.
  req.resume();
  const match = /^\/patients\/([^/?]+)(\/records)?(?:\?|$)/.exec(req.url ?? '');
  if (match === null) return send(res, 404, NOT_FOUND);
  const pkbId = match[1];
  if (match[2]) return send(res, 200, recordsBody(pkbId));
  return send(res, 200, Buffer.from(JSON.stringify({ pkbId, name: 'Bench Patient' })));
});
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
server.listen(0, '127.0.0.1', () => announceReady(server));
