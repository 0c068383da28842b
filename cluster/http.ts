// Minimal HTTP(S) GET for readiness probes of the control plane components.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface ProbeOptions {
  ca?: Buffer;
  token?: string;
  /** Components that serve a self-signed certificate of their own. */
  insecure?: boolean;
  timeoutMs?: number;
}

export interface ProbeResult {
  status: number;
  body: string;
}

export function httpGet(url: string, opts: ProbeOptions = {}): Promise<ProbeResult> {
  const target = new URL(url);
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      {
        method: 'GET',
        ca: opts.ca,
        rejectUnauthorized: opts.insecure !== true,
        headers: opts.token ? { Authorization: `Bearer ${opts.token}` } : {},
        timeout: opts.timeoutMs ?? 2000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timed out after ${opts.timeoutMs ?? 2000} ms`)));
    req.on('error', reject);
    req.end();
  });
}
