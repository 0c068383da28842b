// The certificate /metrics is served with over HTTPS: the administrator's
// (tls.crt and tls.key in --metrics-cert-dir, such as a mounted Secret), or
// else one made at start and signed by itself, as controller-runtime does.
// Scrapers then skip verification or pin it; the bearer token still decides
// who may read.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { generate } from 'selfsigned';

export interface ServingCert {
  key: string;
  cert: string;
  /** Where it came from, for the start-up log. */
  source: string;
}

/** Larger files are not read: a PEM key and a certificate chain are a few KiB. */
const maxPemBytes = 1024 * 1024;

async function readPem(dir: string, name: string): Promise<string> {
  const path = join(dir, name);
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    throw new Error(`--metrics-cert-dir: cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (size > maxPemBytes) throw new Error(`--metrics-cert-dir: ${path} is larger than 1 MiB`);
  const text = await readFile(path, 'utf8');
  if (!text.includes('-----BEGIN ')) throw new Error(`--metrics-cert-dir: ${path} is not PEM`);
  return text;
}

export async function servingCertificate(certDir: string | undefined, host: string): Promise<ServingCert> {
  if (certDir !== undefined) {
    const [cert, key] = await Promise.all([readPem(certDir, 'tls.crt'), readPem(certDir, 'tls.key')]);
    return { cert, key, source: certDir };
  }
  const now = new Date();
  const made = await generate([{ name: 'commonName', value: 'pv-lifecycle-operator' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - 60_000),
    notAfterDate: new Date(now.getTime() + 365 * 24 * 3600_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: host },
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  });
  return { cert: made.cert, key: made.private, source: 'self-signed at start' };
}
