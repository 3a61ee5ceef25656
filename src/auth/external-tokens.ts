import { X509Certificate, createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRemoteJWKSet, decodeProtectedHeader, type JWK, type JWTVerifyGetKey } from 'jose';
import { libtrustKeyId } from './keys.ts';
import { VerifiedTokenCache, verifyTokenClaims, type VerifiedToken } from './tokens.ts';

/** Anything that turns a bearer token into what it proves (Berth's own service, or an external issuer's). */
export interface TokenVerifier {
  verify(token: string, now?: number): Promise<VerifiedToken | { problem: string }>;
}

/** Every asymmetric JWS algorithm; `none` and the HMAC family are never accepted. */
const ASYMMETRIC = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA'] as const;

/** The algorithms a key may sign with: pinned to its type (and curve). */
export function algorithmsFor(key: KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'prime256v1') return ['ES256'];
      if (curve === 'secp384r1') return ['ES384'];
      if (curve === 'secp521r1') return ['ES512'];
      return [];
    }
    case 'rsa':
      return (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048 ? ['RS256', 'RS384', 'RS512'] : [];
    case 'rsa-pss':
      return (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048 ? ['PS256', 'PS384', 'PS512'] : [];
    case 'ed25519':
      return ['EdDSA'];
    default:
      return [];
  }
}

/** The certificates of a PEM bundle. */
export function parseCertificateBundle(pem: string, file = 'bundle'): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error(`${file} holds no PEM certificate`);
  return blocks.map((block, index) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new Error(`${file}: certificate ${index + 1} cannot be read: ${(error as Error).message}`);
    }
  });
}

function withinValidity(certificate: X509Certificate, now: number): boolean {
  return Date.parse(certificate.validFrom) <= now && now <= Date.parse(certificate.validTo);
}

/**
 * The leaf key of an `x5c` chain (base64 DER, leaf first) that leads to a certificate of the
 * bundle; throws when the chain is broken, expired, or reaches no bundle certificate.
 */
export function keyOfChain(x5c: unknown, roots: readonly X509Certificate[], now: number): KeyObject {
  if (!Array.isArray(x5c) || x5c.length === 0 || x5c.length > 10 || !x5c.every((entry) => typeof entry === 'string')) throw new Error('x5c is not a certificate chain');
  const chain = (x5c as string[]).map((entry) => new X509Certificate(Buffer.from(entry, 'base64')));
  for (const certificate of chain) if (!withinValidity(certificate, now)) throw new Error('a certificate of the x5c chain is not valid now');
  for (let i = 0; i + 1 < chain.length; i++) {
    const [child, parent] = [chain[i]!, chain[i + 1]!];
    if (!parent.ca || !child.checkIssued(parent) || !child.verify(parent.publicKey)) throw new Error('the x5c chain is broken');
  }
  const top = chain[chain.length - 1]!;
  const anchored = roots.some((root) => (root.raw.equals(top.raw) || (root.ca && top.checkIssued(root) && top.verify(root.publicKey))) && withinValidity(root, now));
  if (!anchored) throw new Error('the x5c chain does not lead to the root certificate bundle');
  return chain[0]!.publicKey;
}

export interface ExternalTokenOptions {
  issuer: string;
  service: string;
  /** Certificates whose keys sign tokens (found by libtrust `kid`) or anchor `x5c` chains. */
  roots?: readonly X509Certificate[];
  /** Keys of a JWKS, by `kid` (from a file). */
  jwks?: { keys: JWK[] };
  /** A JWKS fetched from a URL, cached and refreshed by jose. */
  remoteJwks?: JWTVerifyGetKey;
  /** Restricts the algorithms further (distribution's `signingalgorithms`). */
  algorithms?: readonly string[] | undefined;
  clockSkewSeconds?: number;
}

/**
 * Verifies tokens of an external issuer (GitLab, a distribution token server): the key is
 * found by the `kid` (libtrust fingerprint of a bundle certificate's key, or a JWKS key id)
 * or by an `x5c` chain to the bundle; the algorithm must fit the key; `iss`, `aud`, `exp`,
 * `nbf` and `iat` are checked as for Berth's own tokens.
 */
export class ExternalTokenVerifier implements TokenVerifier {
  readonly #options: ExternalTokenOptions;
  readonly #byKid = new Map<string, KeyObject>();
  readonly #skew: number;
  readonly #verified = new VerifiedTokenCache();

  private constructor(options: ExternalTokenOptions, byKid: Map<string, KeyObject>) {
    this.#options = options;
    this.#byKid = byKid;
    this.#skew = options.clockSkewSeconds ?? 30;
  }

  /** Throws when a JWKS key cannot be read. */
  static async create(options: ExternalTokenOptions): Promise<ExternalTokenVerifier> {
    const byKid = new Map<string, KeyObject>();
    for (const root of options.roots ?? []) byKid.set(libtrustKeyId(root.publicKey), root.publicKey);
    for (const jwk of options.jwks?.keys ?? []) {
      if (typeof jwk.kid !== 'string' || jwk.d !== undefined || jwk.kty === 'oct') continue;
      byKid.set(jwk.kid, createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' }));
    }
    return new ExternalTokenVerifier(options, byKid);
  }

  async verify(token: string, now = Date.now()): Promise<VerifiedToken | { problem: string }> {
    if (token.length > 8192) return { problem: 'the token is too long' };
    const cached = this.#verified.get(token, now / 1000, this.#skew);
    if (cached) return cached;
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      return { problem: 'the token is malformed' };
    }
    const allowed = this.#options.algorithms ?? ASYMMETRIC;
    const resolve: JWTVerifyGetKey = async (protectedHeader, flattened) => {
      let key: KeyObject | undefined;
      if (protectedHeader.x5c !== undefined && this.#options.roots) key = keyOfChain(protectedHeader.x5c, this.#options.roots, now);
      else if (typeof protectedHeader.kid === 'string') key = this.#byKid.get(protectedHeader.kid);
      if (!key && this.#options.remoteJwks) return this.#options.remoteJwks(protectedHeader, flattened);
      if (!key) throw new Error('unknown key id');
      if (!algorithmsFor(key).includes(protectedHeader.alg ?? '')) throw new Error(`"${protectedHeader.alg}" does not fit the signing key`);
      return key;
    };
    if (!allowed.includes(header.alg ?? '')) return { problem: `the token is invalid: "${header.alg}" is not an accepted algorithm` };
    return verifyTokenClaims(token, resolve, {
      algorithms: [...allowed],
      issuer: this.#options.issuer,
      audience: this.#options.service,
      skewSeconds: this.#skew,
      now,
      cache: this.#verified,
    });
  }
}

/** The `auth.token` section (distribution's keys). */
export interface ExternalTokenSettings {
  realm: string;
  service: string;
  issuer: string;
  rootcertbundle?: string | undefined;
  jwks?: string | undefined;
  signingalgorithms?: string[] | undefined;
}

/** Builds the verifier from configuration: reads the bundle and a JWKS file, or prepares a JWKS URL. */
export async function createExternalTokenVerifier(settings: ExternalTokenSettings): Promise<ExternalTokenVerifier> {
  let roots: X509Certificate[] | undefined;
  if (settings.rootcertbundle) {
    const pem = await readFile(settings.rootcertbundle, 'utf8').catch((error: Error) => {
      throw new Error(`auth.token.rootcertbundle ${settings.rootcertbundle} cannot be read: ${error.message}`);
    });
    roots = parseCertificateBundle(pem, settings.rootcertbundle);
  }
  let jwks: { keys: JWK[] } | undefined;
  let remoteJwks: JWTVerifyGetKey | undefined;
  if (settings.jwks) {
    if (/^https?:\/\//.test(settings.jwks)) {
      remoteJwks = createRemoteJWKSet(new URL(settings.jwks));
    } else {
      const text = await readFile(settings.jwks, 'utf8').catch((error: Error) => {
        throw new Error(`auth.token.jwks ${settings.jwks} cannot be read: ${error.message}`);
      });
      try {
        jwks = JSON.parse(text) as { keys: JWK[] };
        if (!Array.isArray(jwks.keys)) throw new Error('no "keys" list');
      } catch (error) {
        throw new Error(`auth.token.jwks ${settings.jwks} is not a JSON Web Key Set: ${(error as Error).message}`);
      }
    }
  }
  if (!roots && !jwks && !remoteJwks) throw new Error('auth.token needs rootcertbundle or jwks: the keys that sign the tokens');
  return ExternalTokenVerifier.create({ issuer: settings.issuer, service: settings.service, roots, jwks, remoteJwks, algorithms: settings.signingalgorithms });
}
