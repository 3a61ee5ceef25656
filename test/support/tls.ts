import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from './clients.ts';

/**
 * A throwaway certificate authority made with the real `openssl` command (tests using it skip
 * with `needsCommand('openssl')`). Keys are P-256; certificates are valid for two days.
 */
export interface TestCertificateAuthority {
  /** Folder holding the CA files and every issued pair. */
  dir: string;
  /** PEM file of the CA certificate. */
  certificate: string;
  /** Its PEM bytes (for node's `ca` option). */
  pem: Buffer;
  /** Issues a server certificate signed by the CA. */
  issue(name: string, options?: IssueOptions): Promise<IssuedCertificate>;
}

export interface IssueOptions {
  /** Subject common name; default `name`. */
  commonName?: string;
  /** subjectAltName entries; default IP:127.0.0.1 and DNS:localhost. */
  altNames?: string[];
}

export interface IssuedCertificate {
  /** PEM file of the certificate. */
  certificate: string;
  /** PEM file of its private key. */
  key: string;
  /** Serial number, upper-case hex as node's `X509Certificate.serialNumber` prints it. */
  serial: string;
}

const LOCAL_NAMES = ['IP:127.0.0.1', 'DNS:localhost'];

/** Makes a CA under `dir` (created when missing). */
export async function makeCertificateAuthority(dir: string, commonName = 'Berth test CA'): Promise<TestCertificateAuthority> {
  await mkdir(dir, { recursive: true });
  const caCertificate = path.join(dir, 'ca.crt');
  const caKey = path.join(dir, 'ca.key');
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', `/CN=${commonName}`, '-keyout', caKey, '-out', caCertificate,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return {
    dir,
    certificate: caCertificate,
    pem: await readFile(caCertificate),
    async issue(name, options = {}) {
      const certificate = path.join(dir, `${name}.crt`);
      const key = path.join(dir, `${name}.key`);
      const request = path.join(dir, `${name}.csr`);
      const extensions = path.join(dir, `${name}.ext`);
      await writeFile(
        extensions,
        [
          `subjectAltName=${(options.altNames ?? LOCAL_NAMES).join(',')}`,
          'basicConstraints=critical,CA:FALSE',
          'keyUsage=critical,digitalSignature',
          'extendedKeyUsage=serverAuth',
          '',
        ].join('\n'),
      );
      await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${options.commonName ?? name}`, '-keyout', key, '-out', request]);
      // A random serial, so that two certificates for the same names are told apart.
      const bytes = randomBytes(8);
      bytes[0] = (bytes[0]! & 0x3f) | 0x10; // positive, no leading zero byte
      const serial = bytes.toString('hex').toUpperCase();
      await run('openssl', ['x509', '-req', '-in', request, '-CA', caCertificate, '-CAkey', caKey, '-set_serial', `0x${serial}`, '-days', '2', '-extfile', extensions, '-out', certificate]);
      return { certificate, key, serial };
    },
  };
}
