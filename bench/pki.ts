/**
 * A throwaway test PKI made with the openssl CLI, shaped like the seed deployment's
 * cfssl setup (ref/seed-deployment.md): one RSA-2048 CA ("etcd"), and one RSA-2048
 * certificate (CN etcd, SANs 127.0.0.1 and localhost, EKU serverAuth + clientAuth)
 * that every member uses as server, peer and client certificate, and that the load
 * generator presents as its client certificate. Files go in a directory the caller
 * owns and removes. The bench does not import from test/, so this is its own copy.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Pki {
  readonly dir: string;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`openssl ${args[0] ?? ''} failed (is the openssl CLI installed?): ${stderr.trim() || String(err)}`);
  }
}

export function makePki(dir: string): Pki {
  const subject = '/C=CN/ST=SH/L=BS/O=etcd/OU=System/CN=etcd';
  openssl(
    [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '3650',
      '-keyout', 'ca-etcd-key.pem', '-out', 'ca-etcd.pem', '-subj', subject,
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    ],
    dir,
  );
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'etcd-key.pem', '-out', 'etcd.csr', '-subj', subject], dir);
  writeFileSync(
    join(dir, 'etcd-ext.cnf'),
    [
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      'extendedKeyUsage=serverAuth,clientAuth',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'basicConstraints=CA:FALSE',
      '',
    ].join('\n'),
  );
  openssl(
    [
      'x509', '-req', '-in', 'etcd.csr', '-CA', 'ca-etcd.pem', '-CAkey', 'ca-etcd-key.pem', '-CAcreateserial',
      '-sha256', '-days', '3650', '-out', 'etcd.pem', '-extfile', 'etcd-ext.cnf',
    ],
    dir,
  );
  return {
    dir,
    caFile: join(dir, 'ca-etcd.pem'),
    certFile: join(dir, 'etcd.pem'),
    keyFile: join(dir, 'etcd-key.pem'),
  };
}
