import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a shared service that can go silent: while muted, requests still reach
 * the service but its replies are dropped, as with a stalled network or a server that executed a
 * command and then lost the connection. It can also be cut: every connection is reset and new ones
 * are refused, as when the service stops. The service itself is never touched.
 */
export class MutingProxy {
  #muted = false;
  #cut = false;
  #dropped = Buffer.alloc(0);
  readonly #waiters: { suffix: Buffer; resolve: () => void }[] = [];
  readonly #sockets = new Set<Socket>();

  private constructor(private readonly server: Server) {}

  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<MutingProxy> {
    const server = createServer();
    const proxy = new MutingProxy(server);
    server.on('connection', (client) => {
      if (proxy.#cut) client.on('error', () => undefined).resetAndDestroy();
      else proxy.#bridge(client, connect(targetPort, targetHost));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  mute(): void {
    this.#muted = true;
    this.#dropped = Buffer.alloc(0);
  }

  unmute(): void {
    this.#muted = false;
  }

  /** Resets every open connection and refuses new ones until `restore()`, as a stopped service would. */
  cut(): void {
    this.#cut = true;
    for (const socket of this.#sockets) socket.resetAndDestroy();
  }

  restore(): void {
    this.#cut = false;
  }

  /** Resolves once the replies dropped since `mute()` end with `suffix`. */
  droppedUntil(suffix: Buffer): Promise<void> {
    return new Promise((resolve) => {
      this.#waiters.push({ suffix, resolve });
      this.#settle();
    });
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  #bridge(client: Socket, service: Socket): void {
    for (const socket of [client, service]) {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.on('data', (chunk) => service.write(chunk));
    service.on('data', (chunk) => {
      if (!this.#muted) {
        client.write(chunk);
        return;
      }
      this.#dropped = Buffer.concat([this.#dropped, chunk]);
      this.#settle();
    });
    client.on('close', () => service.destroy());
    service.on('close', () => client.destroy());
  }

  #settle(): void {
    for (const waiter of [...this.#waiters]) {
      const tail = this.#dropped.subarray(Math.max(0, this.#dropped.length - waiter.suffix.length));
      if (!tail.equals(waiter.suffix)) continue;
      this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  }
}
