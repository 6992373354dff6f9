// Reference: fastify 5 with @fastify/reply-from (undici underneath), logging off.
import replyFrom from '@fastify/reply-from';
import Fastify from 'fastify';
import { announceReady, upstreamFromArgs } from './announce.js';

const app = Fastify({ logger: false, keepAliveTimeout: 65_000 });
await app.register(replyFrom, { base: upstreamFromArgs(), undici: { connections: 128, pipelining: 1 } });
// Bodies are streamed through, not parsed.
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
app.all('/*', (req, reply) => reply.from(req.url));
await app.listen({ port: 0, host: '127.0.0.1' });
announceReady(app.server);
