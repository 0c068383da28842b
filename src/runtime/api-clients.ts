// API clients whose requests cannot hang the operator. Each request (but
// watches, which the informers run and stop themselves) is given up after a
// time limit: a connection into a network black hole otherwise waits for the
// kernel's TCP retransmissions, a quarter of an hour, and the worker running
// it waits too. And all requests in flight can be abandoned at once: on a
// shutdown that outlived its grace period, or when leadership is lost and
// nothing this process still has in flight may land late.
//
// Abandoning a request is as safe as a crash at that point, which every write
// path is built to survive: each write is conditional on the resourceVersion
// it read, and the next leader repairs any half-done sequence.
//
// And requests share their connections. client-node's own authentication makes
// a new connection pool (an undici Agent) for every request, so each request
// opened a new TLS connection, paid a handshake on both ends, and left the
// socket open for the keep-alive time: at a hundred requests a second that is
// hundreds of idle TLS sockets, their buffers in resident memory, and most of
// a request's latency. Here the pool is kept, and made anew only when the TLS
// settings the kubeconfig gives change (a rotated client certificate or CA).
import type { RequestOptions } from 'node:https';
import { isDeepStrictEqual } from 'node:util';

import {
  ApiException,
  type ApiConstructor,
  type ApiType,
  createConfiguration,
  HttpMethod,
  type KubeConfig,
  type Middleware,
  RequestContext,
  type SecurityAuthentication,
  type ResponseContext,
  ServerConfiguration,
} from '@kubernetes/client-node';

import { request } from 'undici';

import { packageInfo } from '../version.ts';
import { formatDuration } from './duration.ts';

export interface ApiClientsOptions {
  /** The limit on each request, in ms. */
  timeoutMs: number;
  /** Sent as User-Agent, so audit logs and field managers name the operator (default pv-lifecycle-operator/<version>). */
  userAgent?: string;
}

/** A request given up on: at its time limit, or abandoned with all the others. */
export class RequestAbandoned extends Error {
  readonly why: 'timeout' | 'abandoned';
  constructor(why: 'timeout' | 'abandoned', message: string) {
    super(message);
    this.name = 'RequestAbandoned';
    this.why = why;
  }
}

/** Whether err is a request abandoned on purpose (not one that timed out). */
export const isAbandoned = (err: unknown): boolean =>
  err instanceof RequestAbandoned && err.why === 'abandoned';

export const defaultUserAgent = `${packageInfo.name}/${packageInfo.version}`;

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

/** How long credentials read from the kubeconfig are used before they are read again. */
export const credentialsRefreshMs = 5_000;

interface Credentials {
  headers: Record<string, string>;
  dispatcher: Dispatcher | undefined;
}

/** What a connection pool is made from: a change of any of these needs a new one. */
function tlsSettings(o: RequestOptions): unknown[] {
  return [o.ca, o.cert, o.key, o.pfx, o.passphrase, o.rejectUnauthorized, o.servername];
}

function sameSettings(a: unknown[], b: unknown[]): boolean {
  return a.length === b.length && a.every((x, i) => isDeepStrictEqual(x, b[i]));
}

/** Aborts ctl with a timeout RequestAbandoned after ms; the timer alone does not keep the process alive. */
function abortAtLimit(ctl: AbortController, ms: number): NodeJS.Timeout {
  const timer = setTimeout(() => {
    ctl.abort(new RequestAbandoned('timeout', `no answer from the API server within ${formatDuration(ms)}`));
  }, ms);
  timer.unref();
  return timer;
}

export class ApiClients {
  private readonly kubeConfig: KubeConfig;
  private readonly opts: ApiClientsOptions;
  private readonly abandon = new AbortController();
  /** sendJson's requests in flight, each with its own controller, for abandonAll. */
  private readonly inFlight = new Set<AbortController>();
  private readonly server: string;
  private pool: { settings: unknown[]; dispatcher: Dispatcher } | undefined;
  private cached: { at: number; value: Promise<Credentials> } | undefined;
  /** The kubeconfig's credentials on each request, over the shared pool. */
  private readonly auth: SecurityAuthentication = {
    getName: () => 'kubeconfig',
    applySecurityAuthentication: (context) => this.authenticate(context),
  };

  constructor(kubeConfig: KubeConfig, opts: ApiClientsOptions) {
    if (!(opts.timeoutMs > 0)) throw new Error('the API request timeout must be more than 0');
    this.kubeConfig = kubeConfig;
    this.opts = opts;
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    this.server = cluster.server;
  }

  /** An API client of the given type whose requests keep to the limit and can be abandoned. */
  make<T extends ApiType>(Api: ApiConstructor<T>, timeoutMs = this.opts.timeoutMs): T {
    const limit: Middleware = {
      pre: (context: RequestContext) => {
        context.setHeaderParam('User-Agent', this.opts.userAgent ?? defaultUserAgent);
        context.setSignal(this.signal(timeoutMs));
        return Promise.resolve(context);
      },
      post: (response: ResponseContext) => Promise.resolve(response),
    };
    return new Api(
      createConfiguration({
        baseServer: new ServerConfiguration(this.server, {}),
        authMethods: { default: this.auth },
        promiseMiddleware: [limit],
      }),
    );
  }

  /**
   * The kubeconfig's credentials and the shared pool on a request. They are
   * read afresh at most every few seconds: reading them means reading the
   * token, CA and key files again and building a pool, which was a good part of
   * a request's CPU. A rotated token or certificate is still picked up within
   * that time, as client-go re-reads its token file periodically too.
   */
  private async authenticate(context: RequestContext): Promise<void> {
    const c = await this.credentials();
    for (const [name, value] of Object.entries(c.headers)) context.setHeaderParam(name, value);
    if (c.dispatcher) context.setDispatcher(c.dispatcher);
  }

  private credentials(): Promise<Credentials> {
    const now = Date.now();
    if (this.cached && now - this.cached.at < credentialsRefreshMs) return this.cached.value;
    // One read for all the requests that find the credentials due at once.
    const value = this.readCredentials();
    this.cached = { at: now, value };
    value.catch(() => {
      if (this.cached?.value === value) this.cached = undefined;
    });
    return value;
  }

  /**
   * The kubeconfig's own authentication (its headers: a token, an exec
   * plugin's credentials) on a scratch request, then the shared pool in place
   * of the new one it made, unless the TLS settings changed since.
   */
  private async readCredentials(): Promise<Credentials> {
    const scratch = new RequestContext(this.server, HttpMethod.GET);
    await this.kubeConfig.applySecurityAuthentication(scratch);
    const headers = scratch.getHeaders();
    const fresh = scratch.getDispatcher();
    if (!fresh) return { headers, dispatcher: undefined };
    const tls: RequestOptions = {};
    await this.kubeConfig.applyToHTTPSOptions(tls);
    const settings = tlsSettings(tls);
    if (this.pool && sameSettings(this.pool.settings, settings)) {
      fresh.close().catch(() => undefined);
      return { headers, dispatcher: this.pool.dispatcher };
    }
    // The old pool's requests in flight finish; then its connections close.
    this.pool?.dispatcher.close().catch(() => undefined);
    this.pool = { settings, dispatcher: fresh };
    return { headers, dispatcher: fresh };
  }

  /**
   * One request with a JSON body and answer, for the few the hot paths send
   * most: over undici's plain request API with the same credentials, pool,
   * time limit and abandonment as the generated clients, but without fetch's
   * web streams and the model (de)serialisation, which cost a binding storm
   * about a third of the operator's CPU. The answer is the API server's JSON as
   * is (timestamps as strings, every field kept, even those newer than the
   * client's models). A failure throws client-node's ApiException with the
   * Status, as the generated clients do.
   */
  async sendJson<T>(
    method: 'GET' | 'PUT' | 'POST' | 'DELETE',
    path: string,
    body?: unknown,
    timeoutMs = this.opts.timeoutMs,
  ): Promise<T> {
    // A controller of its own, not AbortSignal.any over the long-lived
    // abandon signal: Node keeps such a dependent signal, and everything its
    // listeners hold (undici's whole request), for as long as the parent
    // lives, which leaked every request of a 10,000-claim burst into an
    // out-of-memory crash at the Deployment's heap cap.
    const ctl = new AbortController();
    if (this.abandon.signal.aborted) throw this.abandon.signal.reason as Error;
    this.inFlight.add(ctl);
    const timer = abortAtLimit(ctl, timeoutMs);
    try {
      return await this.sendWithin<T>(ctl.signal, method, path, body);
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(ctl);
    }
  }

  private async sendWithin<T>(signal: AbortSignal, method: string, path: string, body: unknown): Promise<T> {
    signal.throwIfAborted();
    // undici notices an abort only once the request has a connection, so a
    // connection stuck in its handshake would hold the caller for undici's own
    // connect timeout: the limit is kept here, whatever undici still waits for.
    const given = new Promise<never>((_, reject) => {
      signal.addEventListener(
        'abort',
        () => {
          reject(signal.reason as Error);
        },
        { once: true },
      );
    });
    given.catch(() => undefined); // lost the race, or never settles
    const withinLimit = <R>(p: Promise<R>): Promise<R> => {
      p.catch(() => undefined); // lost the race: its own failure is of no interest
      return Promise.race([p, given]);
    };
    const c = await withinLimit(this.credentials());
    const response = await withinLimit(
      request(`${this.server}${path}`, {
        method,
        headers: {
          ...c.headers,
          accept: 'application/json',
          'user-agent': this.opts.userAgent ?? defaultUserAgent,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(c.dispatcher ? { dispatcher: c.dispatcher } : {}),
        signal,
      }),
    );
    const text = await withinLimit(response.body.text());
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON (a proxy's error page): kept as text.
    }
    if (response.statusCode >= 200 && response.statusCode < 300) {
      if (typeof parsed === 'string') throw new Error(`the API server answered ${path} with no JSON`);
      return parsed as T;
    }
    const headers = Object.fromEntries(
      Object.entries(response.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)]),
    );
    throw new ApiException(response.statusCode, `HTTP ${String(response.statusCode)}`, parsed, headers);
  }

  /** Aborts every request in flight, and every later one at once. */
  abandonAll(reason: string): void {
    if (this.abandon.signal.aborted) return;
    const why = new RequestAbandoned('abandoned', `request abandoned: ${reason}`);
    this.abandon.abort(why);
    for (const ctl of this.inFlight) ctl.abort(why);
    this.inFlight.clear();
  }

  get abandoned(): boolean {
    return this.abandon.signal.aborted;
  }

  private signal(timeoutMs: number): AbortSignal {
    const limit = new AbortController();
    abortAtLimit(limit, timeoutMs);
    return AbortSignal.any([limit.signal, this.abandon.signal]);
  }
}
