import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** The signing key of the token service, with what verifiers need to know about it. */
export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** ES256 for an EC P-256 key, RS256 for an RSA key: the only algorithm tokens may carry. */
  algorithm: 'ES256' | 'RS256';
  /** libtrust fingerprint of the public key (`kid` header). */
  kid: string;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/**
 * The key ID in the form libtrust (docker/distribution, GitLab) uses: the SHA-256 of the
 * DER-encoded SubjectPublicKeyInfo, its first 240 bits in base32, as 12 groups of 4
 * characters separated by colons.
 */
export function libtrustKeyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  const encoded = base32(createHash('sha256').update(der).digest().subarray(0, 30));
  return encoded.match(/.{4}/g)!.join(':');
}

function describe(privateKey: KeyObject, file: string): SigningKey {
  const publicKey = createPublicKey(privateKey);
  let algorithm: SigningKey['algorithm'];
  if (privateKey.asymmetricKeyType === 'ec' && privateKey.asymmetricKeyDetails?.namedCurve === 'prime256v1') algorithm = 'ES256';
  else if (privateKey.asymmetricKeyType === 'rsa' && (privateKey.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048) algorithm = 'RS256';
  else throw new Error(`token signing key ${file}: only EC P-256 and RSA (2048 bits or more) private keys are supported`);
  return { privateKey, publicKey, algorithm, kid: libtrustKeyId(publicKey) };
}

/** Reads a PEM private key (EC P-256 or RSA), refusing anything else. */
export async function readSigningKey(file: string): Promise<SigningKey> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (error) {
    throw new Error(`token signing key ${file} cannot be read: ${(error as Error).message}`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (error) {
    throw new Error(`token signing key ${file} is not a PEM private key: ${(error as Error).message}`);
  }
  return describe(privateKey, file);
}

/**
 * The key at `file`; when the file does not exist, a new EC P-256 key is generated and
 * written there (PKCS#8 PEM, mode 0600) so tokens stay valid across restarts.
 */
export async function loadOrCreateSigningKey(file: string): Promise<SigningKey> {
  try {
    return await readSigningKey(file);
  } catch (error) {
    const missing = await readFile(file).then(
      () => false,
      (e: NodeJS.ErrnoException) => e.code === 'ENOENT',
    );
    if (!missing) throw error;
  }
  await mkdir(path.dirname(file), { recursive: true });
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  // 'wx': never overwrite a key another process wrote meanwhile.
  await writeFile(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  await chmod(file, 0o600).catch(() => undefined);
  return readSigningKey(file);
}
