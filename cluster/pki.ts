// Keys, certificates and tokens for the local control plane, made with the
// openssl command line tool (present on Debian and most Linux systems).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Pki {
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  /** RSA key that signs service account tokens (its public half is derived by the apiserver). */
  serviceAccountKey: string;
  tokenFile: string;
  adminToken: string;
}

/** Names and addresses the apiserver's serving certificate must cover. */
export const apiServerSubjectAltNames = [
  'IP:127.0.0.1',
  'IP:10.0.0.1',
  'DNS:localhost',
  'DNS:kubernetes',
  'DNS:kubernetes.default',
  'DNS:kubernetes.default.svc',
  'DNS:kubernetes.default.svc.cluster.local',
];

/** One line of kube-apiserver's --token-auth-file: token,user,uid,"group1,group2". */
export function tokenFileLine(token: string, user: string, uid: string, groups: string[]): string {
  if (/[,"\n]/.test(token) || /[,"\n]/.test(user) || /[,"\n]/.test(uid)) {
    throw new Error('token, user and uid must not contain commas, quotes or newlines');
  }
  return `${token},${user},${uid},"${groups.join(',')}"\n`;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error(
        'the openssl command is required to make the local cluster certificates (apt-get install openssl)',
        {
          cause: err,
        },
      );
    }
    throw new Error(`openssl ${args[0] ?? ''} failed: ${e.stderr ?? e.message}`, { cause: err });
  }
}

export async function createPki(dir: string): Promise<Pki> {
  const p = (name: string) => join(dir, name);
  const pki: Pki = {
    caCert: p('ca.crt'),
    caKey: p('ca.key'),
    serverCert: p('apiserver.crt'),
    serverKey: p('apiserver.key'),
    serviceAccountKey: p('service-account.key'),
    tokenFile: p('tokens.csv'),
    adminToken: randomBytes(24).toString('hex'),
  };

  await openssl(['genrsa', '-out', pki.caKey, '2048']);
  await openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    pki.caKey,
    '-sha256',
    '-days',
    '3650',
    '-subj',
    '/CN=pv-lifecycle-operator-local-ca',
    '-out',
    pki.caCert,
  ]);
  await openssl(['genrsa', '-out', pki.serverKey, '2048']);
  const csr = p('apiserver.csr');
  await openssl(['req', '-new', '-key', pki.serverKey, '-subj', '/CN=kube-apiserver', '-out', csr]);
  const ext = p('apiserver.ext');
  await writeFile(
    ext,
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      `subjectAltName=${apiServerSubjectAltNames.join(',')}`,
      '',
    ].join('\n'),
  );
  await openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    pki.caCert,
    '-CAkey',
    pki.caKey,
    '-CAcreateserial',
    '-days',
    '3650',
    '-sha256',
    '-extfile',
    ext,
    '-out',
    pki.serverCert,
  ]);
  await openssl(['genrsa', '-out', pki.serviceAccountKey, '2048']);
  await writeFile(pki.tokenFile, tokenFileLine(pki.adminToken, 'admin', 'admin', ['system:masters']), {
    mode: 0o600,
  });
  return pki;
}

export async function readCaBase64(pki: Pki): Promise<string> {
  return (await readFile(pki.caCert)).toString('base64');
}
