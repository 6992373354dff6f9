import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BtgProxy } from './access/btg-proxy.js';
import type { AuditTrail } from './audit/audit-trail.js';
import { auditInstance, openAuditTrail } from './audit/create-audit-trail.js';
import { createCallerAuthenticator } from './auth/create-authenticator.js';
import { GrantEndpoint } from './btg/grant-endpoint.js';
import { PatientLookup } from './btg/patient-lookup.js';
import type { GatewayConfig } from './config/schema.js';
import { compileTrustedProxies } from './http/client-address.js';
import type { Logger } from './logger.js';
import { createMetrics, initialiseSeries, type GatewayMetrics } from './metrics.js';
import { silentNotifier, type GrantNotifier } from './notify/grant-notifier.js';
import { WebhookNotifier } from './notify/webhook-notifier.js';
import { Forwarder } from './proxy/forwarder.js';
import { WebSocketProxy } from './proxy/websocket-proxy.js';
import { planReload } from './reload.js';
import { buildRuntime, type Runtime } from './runtime.js';
import { AdminHandler, type ReadinessCheck } from './server/admin-handler.js';
import { AuditApi } from './server/audit-api.js';
import { MainHandler } from './server/main-handler.js';
import { createGrantStore } from './store/create-store.js';
import type { GrantStore } from './store/grant-store.js';

export interface Gateway {
  readonly mainAddress: AddressInfo;
  readonly adminAddress: AddressInfo;
  readonly metrics: GatewayMetrics;
  /**
   * Swaps routes, enabled teams, limits, keys and audit body mode (SPEC 10). In-flight requests keep
   * the rules they started with. Sections that need a restart are named in the log.
   */
  reload(config: GatewayConfig): Promise<void>;
  /** Stops accepting, lets in-flight requests finish (up to server.shutdownTimeoutMs), flushes, closes. */
  stop(): Promise<void>;
}

export interface GatewayOptions {
  logger: Logger;
  /** Default true; tests turn Node's process metrics off to keep scrapes small. */
  collectDefaultMetrics?: boolean;
  /** Epoch milliseconds; injectable for tests of expiry. */
  now?: () => number;
}

/** Builds every part from a validated config and starts both listeners. */
export async function startGateway(config: GatewayConfig, options: GatewayOptions): Promise<Gateway> {
  const { logger } = options;
  const now = options.now ?? Date.now;
  let runtime = await buildRuntime(config, { logger, now });
  const authenticator = await createCallerAuthenticator(config.callerAuth, { now, logger });
  const store = await createGrantStore(config.store, { now, logger });
  const metrics = createMetrics({
    collectDefaults: options.collectDefaultMetrics,
    countActiveGrants: async () => (await store.activeGrants()).length,
  });
  const audit = await openAuditTrail(config, metrics, logger).catch((err: unknown) => abandonStart(err, [store, authenticator]));
  initialiseSeries(metrics, [...new Set(config.audit.sinks.map((sink) => sink.type))]);
  const notifier = createNotifier(config, metrics, logger);
  const forwarder = new Forwarder(config.upstream, metrics);
  const webSockets = new WebSocketProxy(config.upstream.url, logger);
  const trustedProxies = compileTrustedProxies(config.server.trustedProxies);
  const reservedHeaders = new Set([
    config.btg.header.toLowerCase(),
    ...Object.keys(config.upstream.btgHeaders).map((name) => name.toLowerCase()),
  ]);
  const current = (): Runtime => runtime;

  const main = new MainHandler({
    forwarder,
    webSockets,
    trustedProxies,
    reservedHeaders,
    logger,
    runtime: current,
    grants: new GrantEndpoint({
      authenticator,
      store,
      patients: new PatientLookup(config.upstream.url, config.btg.patientLookup, store),
      audit,
      metrics,
      notifier,
      runtime: current,
      logger,
    }),
    btg: new BtgProxy({ authenticator, store, audit, forwarder, webSockets, metrics, logger, reservedHeaders }),
  });
  const admin = new AdminHandler({
    metrics,
    auditApi: new AuditApi({ adminToken: config.admin.token, audit, store }),
    trustedProxies,
    readiness: () => readinessChecks(audit, store),
    logger,
  });

  const mainServer = createServer({ maxHeaderSize: config.server.maxHeaderBytes }, main.onRequest);
  mainServer.on('checkContinue', main.onCheckContinue);
  mainServer.on('upgrade', main.onUpgrade);
  mainServer.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy(err);
  });
  const adminServer = createServer(admin.onRequest);

  const mainAddress = await listen(mainServer, config.server.host, config.server.port).catch((err: unknown) =>
    abandonStart(err, [audit, store, authenticator]),
  );
  const adminAddress = await listen(adminServer, config.admin.host, config.admin.port).catch(async (err: unknown) => {
    await closeServer(mainServer, 0);
    return abandonStart(err, [audit, store, authenticator]);
  });
  logger.info(
    {
      main: `${mainAddress.address}:${mainAddress.port}`,
      admin: `${adminAddress.address}:${adminAddress.port}`,
      upstream: config.upstream.url,
      instance: auditInstance(config),
    },
    'btg-gateway listening',
  );

  let stopping: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    const timeoutMs = config.server.shutdownTimeoutMs;
    webSockets.close();
    await Promise.all([closeServer(mainServer, timeoutMs), closeServer(adminServer, timeoutMs)]);
    await forwarder.close();
    await notifier.close();
    await audit.close();
    await store.close();
    await authenticator.close();
    logger.info('btg-gateway stopped');
  };
  const reload = async (next: GatewayConfig): Promise<void> => {
    const plan = planReload(runtime.config, next);
    const replacement = await buildRuntime(plan.config, { logger, now, previous: runtime });
    for (const note of plan.ignored) logger.warn(note);
    runtime = replacement;
    logger.info({ routes: plan.config.btg.routes.length, enabledTeams: plan.config.btg.enabledTeams.length }, 'configuration reloaded');
  };
  return { mainAddress, adminAddress, metrics, reload, stop: () => (stopping ??= stop()) };
}

function createNotifier(config: GatewayConfig, metrics: GatewayMetrics, logger: Logger): GrantNotifier {
  const webhook = config.notify.webhook;
  if (!webhook) return silentNotifier;
  return new WebhookNotifier(webhook, {
    logger,
    instance: auditInstance(config),
    onDeliveryFailed: (reason) => metrics.notifyFailures.inc({ reason }),
    closeTimeoutMs: config.server.shutdownTimeoutMs,
  });
}

/** /readyz: ready when every audit sink could take a write and the grant store answers. */
function readinessChecks(audit: AuditTrail, store: GrantStore): ReadinessCheck[] {
  return [
    {
      name: 'audit',
      check: async () => {
        const result = await audit.check();
        if (!result.ok) throw new Error(result.failures.map((f) => `${f.sink}: ${f.message}`).join('; '));
      },
    },
    { name: 'store', check: () => store.ping() },
  ];
}

/**
 * A start-up that fails half-way releases what it opened: a reconnecting Redis client or a database
 * pool would otherwise keep the failed process alive, neither serving nor exiting.
 */
async function abandonStart(err: unknown, opened: ReadonlyArray<{ close(): Promise<void> }>): Promise<never> {
  await Promise.allSettled(opened.map((part) => part.close()));
  throw err;
}

function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** Stops accepting; idle keep-alive sockets close now, busy ones when their response ends or at the deadline. */
function closeServer(server: Server, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const deadline = setTimeout(() => server.closeAllConnections(), timeoutMs);
    deadline.unref();
    server.close(() => {
      clearTimeout(deadline);
      resolve();
    });
    server.closeIdleConnections();
  });
}
