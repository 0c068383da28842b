// Who may read /metrics when it is served securely: the bearer token is
// authenticated by the API server (TokenReview) and the user it names must be
// allowed "get" on the path (SubjectAccessReview), as controller-runtime's
// secure metrics and kube-rbac-proxy do. Answers are cached briefly by a hash
// of the token, so a scrape every few seconds costs no API calls.
import { createHash } from 'node:crypto';

import type { AuthenticationV1Api, AuthorizationV1Api } from '@kubernetes/client-node';

export type Verdict =
  | { allowed: true; user: string }
  /** 401: no or a bad token; 403: a user without the right; 503: the API server could not be asked. */
  | { allowed: false; status: 401 | 403 | 503; reason: string };

export interface MetricsAuthOptions {
  /** How long an answer of the API server is reused (default 60 s; refusals 10 s). */
  ttlMs?: number;
  /** Answers kept at once (default 256): a flood of distinct tokens evicts, never grows. */
  maxEntries?: number;
  now?: () => number;
}

/** Tokens longer than this are refused unread (a service account token is about 1 KiB). */
export const maxTokenBytes = 16 * 1024;

type Reviews = {
  authn: Pick<AuthenticationV1Api, 'createTokenReview'>;
  authz: Pick<AuthorizationV1Api, 'createSubjectAccessReview'>;
};

export class MetricsAuthorizer {
  private readonly reviews: Reviews;
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly cache = new Map<string, { verdict: Verdict; until: number }>();

  constructor(reviews: Reviews, opts: MetricsAuthOptions = {}) {
    this.reviews = reviews;
    this.ttlMs = opts.ttlMs ?? 60_000;
    this.maxEntries = opts.maxEntries ?? 256;
    this.now = opts.now ?? Date.now;
  }

  /** The verdict for a request's Authorization header on path. */
  async check(authorization: string | undefined, path: string): Promise<Verdict> {
    const match = /^Bearer ([^\s]+)$/i.exec(authorization ?? '');
    const token = match?.[1];
    if (!token) return { allowed: false, status: 401, reason: 'a bearer token is required' };
    if (token.length > maxTokenBytes) return { allowed: false, status: 401, reason: 'the token is too long' };
    const key = createHash('sha256').update(token).update('\0').update(path).digest('hex');
    const cached = this.cache.get(key);
    if (cached && cached.until > this.now()) return cached.verdict;
    const verdict = await this.ask(token, path);
    if (verdict.allowed || verdict.status !== 503) {
      this.cache.delete(key);
      if (this.cache.size >= this.maxEntries) {
        const oldest = this.cache.keys().next().value;
        if (oldest !== undefined) this.cache.delete(oldest);
      }
      this.cache.set(key, {
        verdict,
        until: this.now() + (verdict.allowed ? this.ttlMs : Math.min(this.ttlMs, 10_000)),
      });
    }
    return verdict;
  }

  private async ask(token: string, path: string): Promise<Verdict> {
    let user;
    try {
      const review = await this.reviews.authn.createTokenReview({ body: { spec: { token } } });
      if (!review.status?.authenticated || !review.status.user?.username) {
        return {
          allowed: false,
          status: 401,
          reason: review.status?.error || 'the token is not authenticated',
        };
      }
      user = review.status.user;
    } catch (err) {
      return { allowed: false, status: 503, reason: `could not review the token: ${(err as Error).message}` };
    }
    const username = user.username ?? '';
    try {
      const access = await this.reviews.authz.createSubjectAccessReview({
        body: {
          spec: {
            user: username,
            groups: user.groups,
            uid: user.uid,
            extra: user.extra,
            nonResourceAttributes: { path, verb: 'get' },
          },
        },
      });
      if (!access.status?.allowed) {
        return {
          allowed: false,
          status: 403,
          reason: `${username} may not get ${path}${access.status?.reason ? `: ${access.status.reason}` : ''}`,
        };
      }
    } catch (err) {
      return { allowed: false, status: 503, reason: `could not review access: ${(err as Error).message}` };
    }
    return { allowed: true, user: username };
  }
}
