// A TCP proxy in front of the API server that can be frozen: while frozen it
// passes no byte either way on open connections and holds new ones
// unconnected, which is what a client sees when the network drops packets
// (no reset, no answer). Thawing lets everything flow again. TLS passes
// through untouched, so the API server's certificate still verifies.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer, type Server, type Socket, connect } from 'node:net';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

import { dumpYaml, type KubeConfig, loadYaml } from '@kubernetes/client-node';

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
    return kubeconfigVia(source, target, this.port);
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

/** A copy of the kubeconfig file source, written to target, whose clusters point at 127.0.0.1:port. */
function kubeconfigVia(source: string, target: string, port: number): string {
  mkdirSync(dirname(target), { recursive: true });
  const config = loadYaml<{ clusters: { cluster: { server: string } }[] }>(readFileSync(source, 'utf8'));
  for (const c of config.clusters) {
    const url = new URL(c.cluster.server);
    url.hostname = '127.0.0.1';
    url.port = String(port);
    c.cluster.server = url.toString().replace(/\/$/, '');
  }
  writeFileSync(target, dumpYaml(config), { mode: 0o600 });
  return target;
}

/**
 * The same proxy in a process of its own, for tests whose own process is busy
 * (polling hundreds of objects every 100 ms), so that the proxy's latency does
 * not depend on the test's event loop. Tied to the test process with
 * setpriv --pdeathsig where it exists.
 */
export class FreezableProxyProcess {
  private readonly child: ChildProcess;
  private readonly waiters: { line: string; resolve: () => void }[] = [];
  private readonly listening: Promise<number>;
  private listeningPort = 0;

  private constructor(child: ChildProcess) {
    this.child = child;
    this.listening = new Promise<number>((resolve, reject) => {
      let partial = '';
      child.stdout?.setEncoding('utf8');
      child.stdout?.on('data', (chunk: string) => {
        partial += chunk;
        const lines = partial.split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          const m = /^listening (\d+)$/.exec(line);
          if (m) resolve(Number(m[1]));
          else this.heard(line);
        }
      });
      child.once('exit', (code) => {
        reject(new Error(`the proxy process exited with ${String(code)}`));
      });
    });
  }

  static async start(target: { host: string; port: number }): Promise<FreezableProxyProcess> {
    const main = fileURLToPath(new URL('./tcp-proxy-main.ts', import.meta.url));
    const argv = [process.execPath, '--import', 'tsx', main, target.host, String(target.port)];
    const hasSetpriv = spawnSync('setpriv', ['--help'], { stdio: 'ignore' }).status === 0;
    const [file, ...args] = hasSetpriv ? ['setpriv', '--pdeathsig', 'KILL', '--', ...argv] : argv;
    const proxy = new FreezableProxyProcess(
      spawn(file ?? process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] }),
    );
    proxy.listeningPort = await proxy.listening;
    return proxy;
  }

  get port(): number {
    return this.listeningPort;
  }

  /** Resolves once the proxy passes no more bytes. */
  freeze(): Promise<void> {
    return this.signal('SIGUSR1', 'frozen');
  }

  thaw(): Promise<void> {
    return this.signal('SIGUSR2', 'thawed');
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }

  kubeconfigVia(source: string, target: string): string {
    return kubeconfigVia(source, target, this.port);
  }

  private signal(signal: NodeJS.Signals, answer: string): Promise<void> {
    return new Promise((resolve) => {
      this.waiters.push({ line: answer, resolve });
      this.child.kill(signal);
    });
  }

  private heard(line: string): void {
    const i = this.waiters.findIndex((w) => w.line === line);
    if (i >= 0) this.waiters.splice(i, 1)[0]?.resolve();
  }
}

/** The API server's host and port in a kubeconfig: the proxy's target. */
export function apiServerOf(kc: KubeConfig): { host: string; port: number } {
  const server = new URL(kc.getCurrentCluster()?.server ?? '');
  return { host: server.hostname, port: Number(server.port) };
}
