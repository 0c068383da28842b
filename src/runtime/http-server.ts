// The operator's one HTTP listener: Prometheus metrics and the probes the
// kubelet calls. /healthz answers whether the process should be restarted,
// /readyz whether it is doing its job yet (informers synced, say); keeping
// them apart stops a slow start from turning into a restart loop.
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

import type { Metrics } from './metrics.ts';
import type { Verdict } from './metrics-auth.ts';

/** Passes by returning true; false or throwing fails it. */
export type Check = () => boolean | Promise<boolean>;

/** One check, or several by name so a failure says which. */
export type Checks = Check | Readonly<Record<string, Check>>;

export interface HttpServerOptions {
  /**
   * host:port, [ipv6]:port or :port (every interface); port 0 takes a free
   * one. The command line's "0", which turns the server off, is the caller's
   * to handle: it never gets here.
   */
  bindAddress: string;
  metrics: Metrics;
  readyChecks: Checks;
  /** Passing while absent: being able to answer at all is the basic health. */
  healthChecks?: Checks;
  /** Serve HTTPS with this key and certificate (PEM) instead of HTTP. */
  tls?: { key: string; cert: string };
  /**
   * Who may read /metrics (secure metrics); everyone when absent. The probes
   * stay open: the kubelet calls them without a token.
   */
  authorize?: (authorization: string | undefined, path: string) => Promise<Verdict>;
}

export interface HttpServer {
  address: { host: string; port: number };
  close(): Promise<void>;
}

export function parseBindAddress(value: string): { host: string | undefined; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value);
  const port = Number(match?.[3]);
  if (!match || port > 65535) {
    throw new Error(`invalid bind address "${value}": expected host:port, [ipv6]:port or :port`);
  }
  const host = match[1] ?? match[2];
  return { host: host === '' ? undefined : host, port };
}

/** Names of the failing checks, each with the error that failed it if any. */
async function failures(checks: Checks): Promise<string[]> {
  const named = typeof checks === 'function' ? { check: checks } : checks;
  const results = await Promise.all(
    Object.entries(named).map(async ([name, check]) => {
      try {
        return (await check()) ? undefined : name;
      } catch (err) {
        return `${name}: ${err instanceof Error ? err.message : String(err)}`;
      }
    }),
  );
  return results.filter((r) => r !== undefined);
}

function reply(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8') {
  res.writeHead(status, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
  res.end(body);
}

async function probe(res: ServerResponse, checks: Checks | undefined, what: string): Promise<void> {
  const failed = checks ? await failures(checks) : [];
  if (failed.length === 0) reply(res, 200, 'ok');
  else reply(res, 503, `${what}: ${failed.join(', ')}\n`);
}

export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const { host, port } = parseBindAddress(options.bindAddress);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const routes: Record<string, (() => Promise<void>) | undefined> = {
      '/metrics': async () => {
        const verdict = await options.authorize?.(req.headers.authorization, path);
        if (verdict && !verdict.allowed) {
          if (verdict.status === 401) res.setHeader('WWW-Authenticate', 'Bearer');
          reply(res, verdict.status, `${verdict.reason}\n`);
          return;
        }
        reply(res, 200, await options.metrics.scrape(), options.metrics.contentType);
      },
      '/healthz': () => probe(res, options.healthChecks, 'unhealthy'),
      '/readyz': () => probe(res, options.readyChecks, 'not ready'),
    };
    const route = routes[path];
    if (!route) {
      reply(res, 404, 'not found\n');
    } else if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      reply(res, 405, 'method not allowed\n');
    } else {
      await route();
    }
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) reply(res, 500, `${err instanceof Error ? err.message : String(err)}\n`);
      else res.destroy();
    });
  };
  const server: Server = options.tls
    ? createTlsServer({ key: options.tls.key, cert: options.tls.cert, minVersion: 'TLSv1.2' }, onRequest)
    : createServer(onRequest);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;

  return {
    address: { host: bound.address, port: bound.port },
    close: () =>
      new Promise<void>((resolve, reject) => {
        // Probes and scrapes are short; idle keep-alive connections must not hold the port.
        server.close((err) => {
          if (err) reject(err);
          else resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
