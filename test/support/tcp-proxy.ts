// A TCP proxy in front of the API server that can be frozen: while frozen it
// passes no byte either way on open connections and holds new ones
// unconnected, which is what a client sees when the network drops packets
// (no reset, no answer). Thawing lets everything flow again. TLS passes
// through untouched, so the API server's certificate still verifies.
import { createServer, type Server, type Socket, connect } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';

import { dumpYaml, loadYaml } from '@kubernetes/client-node';

export class FreezableProxy {
  private readonly server: Server;
  private readonly target: { host: string; port: number };
  private readonly sockets = new Set<Socket>();
  private readonly held: Socket[] = [];
  private frozen = false;

  private constructor(server: Server, target: { host: string; port: number }) {
    this.server = server;
    this.target = target;
    server.on('connection', (client) => {
      this.track(client);
      if (this.frozen) {
        client.pause();
        this.held.push(client);
      } else {
        this.link(client);
      }
    });
  }

  static async start(target: { host: string; port: number }): Promise<FreezableProxy> {
    const server = createServer();
    const proxy = new FreezableProxy(server, target);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('proxy not listening');
    return address.port;
  }

  /** Stops every byte, both ways, on every connection, until thaw(). */
  freeze(): void {
    this.frozen = true;
    for (const s of this.sockets) s.pause();
  }

  thaw(): void {
    this.frozen = false;
    for (const s of this.sockets) s.resume();
    for (const client of this.held.splice(0)) if (!client.destroyed) this.link(client);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
  }

  /** A copy of a kubeconfig file whose clusters point at this proxy; returns its path. */
  kubeconfigVia(source: string, target: string): string {
    const config = loadYaml<{ clusters: { cluster: { server: string } }[] }>(readFileSync(source, 'utf8'));
    for (const c of config.clusters) {
      const url = new URL(c.cluster.server);
      url.hostname = '127.0.0.1';
      url.port = String(this.port);
      c.cluster.server = url.toString().replace(/\/$/, '');
    }
    writeFileSync(target, dumpYaml(config), { mode: 0o600 });
    return target;
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => s.destroy());
  }

  private link(client: Socket): void {
    const upstream = connect(this.target.port, this.target.host);
    this.track(upstream);
    if (this.frozen) upstream.pause();
    this.forward(client, upstream);
    this.forward(upstream, client);
    client.resume();
  }

  private forward(from: Socket, to: Socket): void {
    from.on('data', (chunk: Buffer) => {
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => {
      if (!this.frozen) from.resume();
    });
    from.on('end', () => to.end());
    from.on('close', () => to.destroy());
  }
}
