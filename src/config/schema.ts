import { isIP } from 'node:net';
import { z } from 'zod';

/**
 * The one description of the YAML configuration (SPEC section 5). Defaults live here and nowhere
 * else; `config/gateway.schema.json` is generated from this for editors (`npm run schema`).
 */

function isAddressOrCidr(entry: string): boolean {
  const [address = '', prefix, extra] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}

const hostSchema = z.string().min(1);
const portSchema = z.number().int().min(0).max(65535);
const httpUrlSchema = z.url({ protocol: /^https?$/ });
const durationMs = z.number().int().positive();
const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected an HTTP header name');
const headerMap = z.record(headerName, z.string());
const httpMethod = z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

const serverSchema = z.strictObject({
  host: hostSchema.default('127.0.0.1'),
  port: portSchema.default(8080),
  /** IPs or CIDRs whose X-Forwarded-* headers are believed. Everyone else's are replaced. */
  trustedProxies: z.array(z.string().refine(isAddressOrCidr, 'expected an IP address or CIDR')).default([]),
  shutdownTimeoutMs: durationMs.default(10_000),
  /** Headers larger than this are refused by Node before any of our code runs. */
  maxHeaderBytes: z.number().int().min(1024).default(16_384),
});

const adminSchema = z.strictObject({
  host: hostSchema.default('127.0.0.1'),
  port: portSchema.default(9090),
  /** Bearer token for /audit and /grants. Unset: those endpoints answer 401 to everyone. */
  token: z.string().min(16, 'expected at least 16 characters').optional(),
});

const upstreamSchema = z.strictObject({
  url: httpUrlSchema.default('http://127.0.0.1:8081'),
  timeoutMs: durationMs.default(30_000),
  connectTimeoutMs: durationMs.default(5_000),
  /** Keep-alive pool size towards upstream. */
  connections: z.number().int().positive().default(128),
  /**
   * Identity headers added to every BTG request, templated with {jti} {userId} {teamId} {pkbId}.
   * Client-supplied headers of these names are removed from every request, BTG or not.
   */
  btgHeaders: headerMap.default({
    'X-BTG-Token-Id': '{jti}',
    'X-BTG-User-Id': '{userId}',
    'X-BTG-Team-Id': '{teamId}',
    'X-BTG-Patient-Id': '{pkbId}',
  }),
});

const claimsSchema = z.strictObject({
  team: z.string().min(1).default('team'),
  userType: z.string().min(1).default('user_type'),
  user: z.string().min(1).default('sub'),
  scope: z.string().min(1).default('scope'),
});

const jwtAuthSchema = z
  .strictObject({
    jwksUrl: httpUrlSchema.optional(),
    jwksFile: z.string().min(1).optional(),
    issuer: z.string().min(1).optional(),
    audience: z.string().min(1).optional(),
    algorithms: z.array(z.string().min(1)).min(1).default(['RS256', 'ES256', 'EdDSA']),
    clockToleranceSeconds: z.number().int().min(0).max(300).default(5),
    /** How long jose keeps a fetched JWKS before it may refetch, and the minimum gap between refetches. */
    jwksCacheMaxAgeMs: durationMs.default(600_000),
    jwksCooldownMs: durationMs.default(30_000),
  })
  .refine((v) => (v.jwksUrl === undefined) !== (v.jwksFile === undefined), {
    message: 'exactly one of jwksUrl or jwksFile is required',
  });

const introspectionSchema = z.strictObject({
  url: httpUrlSchema,
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
  cacheSeconds: z.number().int().min(0).default(60),
  negativeCacheSeconds: z.number().int().min(0).default(5),
  timeoutMs: durationMs.default(5_000),
});

const callerAuthSchema = z
  .strictObject({
    type: z.enum(['jwt', 'introspection']).default('jwt'),
    jwt: jwtAuthSchema.optional(),
    introspection: introspectionSchema.optional(),
    claims: claimsSchema.prefault({}),
    /** Bound on cached login contexts (per authenticated bearer token). */
    cacheMaxEntries: z.number().int().positive().default(10_000),
  })
  .superRefine((v, ctx) => {
    if (v.type === 'jwt' && v.jwt === undefined) {
      ctx.addIssue({ code: 'custom', path: ['jwt'], message: 'required when callerAuth.type is jwt' });
    }
    if (v.type === 'introspection' && v.introspection === undefined) {
      ctx.addIssue({ code: 'custom', path: ['introspection'], message: 'required when callerAuth.type is introspection' });
    }
  });

const routeSchema = z.strictObject({
  /** `/patients/{pkbId}/**`: the patient from a path segment; `**` matches any rest, including none. */
  path: z.string().startsWith('/', 'expected a path starting with /'),
  /** Name of the query parameter holding the patient (value `<id>` or `Patient/<id>`). */
  query: z.string().min(1).optional(),
});

const patientLookupSchema = z.strictObject({
  method: z.enum(['GET', 'HEAD']).default('GET'),
  path: z.string().startsWith('/').includes('{pkbId}').default('/patients/{pkbId}'),
  /** Extra headers for the lookup, e.g. a service credential upstream accepts. */
  headers: headerMap.default({}),
  cacheSeconds: z.number().int().min(0).default(30),
  timeoutMs: durationMs.default(5_000),
});

const limitsSchema = z.strictObject({
  grantsPerUserPerHour: z.number().int().min(0).default(30),
  grantsPerTeamPerHour: z.number().int().min(0).default(300),
});

const verifyKeySchema = z
  .strictObject({
    alg: z.enum(['EdDSA', 'ES256', 'HS256']),
    kid: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
    secret: z.string().min(1).optional(),
  })
  .refine((v) => (v.keyFile === undefined) !== (v.secret === undefined), {
    message: 'exactly one of keyFile or secret is required',
  });

const signingSchema = z
  .strictObject({
    alg: z.enum(['EdDSA', 'ES256', 'HS256']).default('EdDSA'),
    kid: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
    secret: z.string().min(1).optional(),
    issuer: z.string().min(1).default('btg-gateway'),
    audience: z.string().min(1).default('btg-gateway'),
    /** Older keys still accepted for verification during rotation. */
    verifyKeys: z.array(verifyKeySchema).default([]),
  })
  .refine((v) => !(v.keyFile !== undefined && v.secret !== undefined), {
    message: 'keyFile and secret are mutually exclusive',
  });

const btgSchema = z
  .strictObject({
    path: z.string().startsWith('/').default('/btg'),
    header: headerName.default('breaktheglass'),
    ttlSeconds: z.number().int().positive().default(1800),
    /** Hard ceiling for ttlSeconds; raising it is a deliberate, visible act. */
    maxTtlSeconds: z.number().int().positive().default(1800),
    /** Tokens whose `iat` is older than this are refused even if `exp` says otherwise. */
    maxTokenAgeSeconds: z.number().int().positive().optional(),
    clockToleranceSeconds: z.number().int().min(0).max(60).default(5),
    maxTokenBytes: z.number().int().min(256).default(4096),
    maxBodyBytes: z.number().int().min(256).default(16_384),
    requiredUserType: z.string().min(1).default('CLINICIAN'),
    enabledTeams: z.array(z.string().min(1)).default(['*']),
    requireReason: z.boolean().default(false),
    methods: z.array(httpMethod).min(1).default(['GET', 'HEAD', 'POST', 'PUT', 'PATCH']),
    routes: z
      .array(routeSchema)
      .default([{ path: '/patients/{pkbId}/**' }, { path: '/fhir/Observation', query: 'patient' }]),
    patientLookup: patientLookupSchema.prefault({}),
    limits: limitsSchema.prefault({}),
    signing: signingSchema.prefault({}),
  })
  .refine((v) => v.ttlSeconds <= v.maxTtlSeconds, {
    path: ['ttlSeconds'],
    message: 'must not exceed btg.maxTtlSeconds',
  });

const fileSinkSchema = z.strictObject({
  type: z.literal('file'),
  path: z.string().min(1).default('./data/audit.jsonl'),
  /** Rotate when the current file would grow past this many bytes; the chain continues. */
  maxBytes: z.number().int().min(4096).default(100 * 1024 * 1024),
});
const stdoutSinkSchema = z.strictObject({ type: z.literal('stdout') });
const postgresSinkSchema = z.strictObject({
  type: z.literal('postgres'),
  url: z.string().min(1),
  table: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'expected a lower-case SQL identifier').default('btg_audit'),
  /** Connect and statement timeout: how long a stalled database may hold a BTG request before 503. */
  timeoutMs: durationMs.default(5_000),
});

const auditSchema = z.strictObject({
  sinks: z
    .array(z.discriminatedUnion('type', [fileSinkSchema, stdoutSinkSchema, postgresSinkSchema]))
    .min(1)
    .default([{ type: 'file', path: './data/audit.jsonl', maxBytes: 100 * 1024 * 1024 }]),
  body: z.enum(['digest', 'capture']).default('digest'),
  maxCaptureBytes: z.number().int().min(0).default(65_536),
  /** Names this replica's hash chain. Must be stable across restarts and unique across replicas. */
  instance: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/).optional(),
});

const webhookSchema = z.strictObject({
  url: httpUrlSchema,
  headers: headerMap.default({}),
  timeoutMs: durationMs.default(5_000),
  retries: z.number().int().min(0).max(20).default(5),
  backoffMs: durationMs.default(500),
});

const notifySchema = z.strictObject({
  webhook: webhookSchema.optional(),
});

const storeSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('memory'),
    maxEntries: z.number().int().positive().default(100_000),
  }),
  z.strictObject({
    type: z.literal('redis'),
    url: z.string().regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL'),
    keyPrefix: z.string().default('btg:'),
  }),
]);

const loggingSchema = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export const configSchema = z.strictObject({
  server: serverSchema.prefault({}),
  admin: adminSchema.prefault({}),
  upstream: upstreamSchema.prefault({}),
  callerAuth: callerAuthSchema,
  btg: btgSchema.prefault({}),
  audit: auditSchema.prefault({}),
  notify: notifySchema.prefault({}),
  store: storeSchema.prefault({ type: 'memory' }),
  logging: loggingSchema.prefault({}),
});

export type GatewayConfig = z.output<typeof configSchema>;
export type RouteRule = z.output<typeof routeSchema>;
export type SigningConfig = z.output<typeof signingSchema>;
export type CallerAuthConfig = GatewayConfig['callerAuth'];
