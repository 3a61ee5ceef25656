import { createHash, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { SignJWT, decodeProtectedHeader, exportJWK, jwtVerify, type JWK, type JWTVerifyGetKey } from 'jose';
import type { SigningKey } from './keys.ts';
import { scopesOfClaim, type AccessClaim, type TokenScope } from './scope.ts';
import type { AccessPolicy, Identity } from './types.ts';

/** What a verified token proves: who asked for it (undefined: anonymous) and what it grants. */
export interface VerifiedToken {
  subject: string | undefined;
  grants: TokenScope[];
}

export interface IssuedToken {
  token: string;
  /** Seconds. */
  expiresIn: number;
  /** RFC 3339. */
  issuedAt: string;
  granted: TokenScope[];
}

export interface TokenServiceOptions {
  key: SigningKey;
  issuer: string;
  /** The `service` clients name and the tokens' audience. */
  service: string;
  /** Lifetime of access tokens in milliseconds. */
  expiryMs: number;
  /** Lifetime of refresh tokens in milliseconds. */
  refreshExpiryMs: number;
  /** Tolerated clock difference for exp, nbf and iat, in seconds; default 30. */
  clockSkewSeconds?: number;
  /** Where refresh tokens are kept (the metadata store has it); default in memory. */
  refreshTokens?: RefreshTokenStore | undefined;
}

/** A refresh token as kept: `hash` is the hex sha256 of the secret, never the secret itself. */
export interface StoredRefreshToken {
  hash: string;
  subject: string;
  /** JSON of the identity (name, groups, source). */
  identity: string;
  service: string;
  clientId: string;
  createdAt: number;
  expiresAt: number;
}

/** Refresh tokens by the hash of their secret; `MetadataStore` has these methods. */
export interface RefreshTokenStore {
  /** Stores one and forgets the expired ones. */
  putRefreshToken(token: StoredRefreshToken): Promise<void>;
  findRefreshToken(hash: string): Promise<StoredRefreshToken | undefined>;
  deleteRefreshToken(hash: string): Promise<void>;
}

/** Refresh tokens held in process (tests, or no database): valid until they expire or a restart. */
export class MemoryRefreshTokenStore implements RefreshTokenStore {
  readonly #entries = new Map<string, StoredRefreshToken>();
  async putRefreshToken(token: StoredRefreshToken): Promise<void> {
    for (const [key, value] of this.#entries) if (value.expiresAt <= token.createdAt) this.#entries.delete(key);
    this.#entries.set(token.hash, token);
  }
  async findRefreshToken(hash: string): Promise<StoredRefreshToken | undefined> {
    return this.#entries.get(hash);
  }
  async deleteRefreshToken(hash: string): Promise<void> {
    this.#entries.delete(hash);
  }
}

/**
 * Tokens already verified, by their exact text (signature included), so a client's requests
 * after the first cost a map lookup instead of a signature check. An entry is used only while
 * the token's `nbf`..`exp` window (with skew) holds; the oldest entries go first when full.
 */
export class VerifiedTokenCache {
  readonly #entries = new Map<string, { result: VerifiedToken; nbf: number; exp: number }>();
  readonly #limit: number;
  constructor(limit = 10_000) {
    this.#limit = limit;
  }
  get(token: string, nowSeconds: number, skew: number): VerifiedToken | undefined {
    const entry = this.#entries.get(token);
    if (!entry) return undefined;
    if (nowSeconds > entry.exp + skew || nowSeconds < entry.nbf - skew) {
      this.#entries.delete(token);
      return undefined;
    }
    return entry.result;
  }
  set(token: string, result: VerifiedToken, nbf: number, exp: number): void {
    if (this.#entries.size >= this.#limit) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(token, { result, nbf, exp });
  }
}

/** Longest token verified; anything longer is refused unread. */
export const MAX_TOKEN_LENGTH = 8192;

const REFRESH_PREFIX = 'brt_';

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/**
 * Narrows requested scopes to what the policy allows the identity (anonymous when
 * undefined): asking for more yields less, never an error. Repositories with no allowed
 * action are left out; the catalog is granted to everyone but robot tokens, as listings are
 * filtered to the repositories the caller may pull anyway.
 */
export function grantScopes(policy: Pick<AccessPolicy, 'actionsOn'>, identity: Identity | undefined, requested: readonly TokenScope[], address?: string): TokenScope[] {
  const granted: TokenScope[] = [];
  for (const scope of requested) {
    if (scope.type === 'registry') {
      // The catalog is filtered by the rules for the token's subject; an identity whose access
      // is its own grants (a robot token) is not judged by the rules, so it gets no catalog.
      if (!identity?.grants) granted.push(scope);
      continue;
    }
    const allowed = policy.actionsOn(identity, scope.name, address);
    const actions = scope.actions.filter((action) => allowed.has(action));
    if (actions.length > 0) granted.push({ type: 'repository', name: scope.name, actions });
  }
  return granted;
}

/**
 * Berth's own Docker token service: signs short-lived JWTs (ES256 or RS256, `kid` in libtrust
 * form) whose `access` claim lists the granted scopes, verifies them on /v2 requests, and
 * keeps refresh tokens for `offline_token`.
 */
export class TokenService {
  readonly issuer: string;
  readonly service: string;
  readonly key: SigningKey;
  readonly expiryMs: number;
  readonly #refreshExpiryMs: number;
  readonly #skew: number;
  readonly #refreshTokens: RefreshTokenStore;
  readonly #verified = new VerifiedTokenCache();

  constructor(options: TokenServiceOptions) {
    this.issuer = options.issuer;
    this.service = options.service;
    this.key = options.key;
    this.expiryMs = options.expiryMs;
    this.#refreshExpiryMs = options.refreshExpiryMs;
    this.#skew = options.clockSkewSeconds ?? 30;
    this.#refreshTokens = options.refreshTokens ?? new MemoryRefreshTokenStore();
  }

  /** Signs a token for the subject (undefined: anonymous) granting exactly `granted`. */
  async issue(subject: string | undefined, granted: readonly TokenScope[], now = Date.now()): Promise<IssuedToken> {
    const seconds = Math.floor(now / 1000);
    const expiresIn = Math.max(1, Math.floor(this.expiryMs / 1000));
    const access: AccessClaim[] = granted.map((scope) => ({ type: scope.type, name: scope.name, actions: [...scope.actions] }));
    const token = await new SignJWT({ access })
      .setProtectedHeader({ alg: this.key.algorithm, typ: 'JWT', kid: this.key.kid })
      .setIssuer(this.issuer)
      .setSubject(subject ?? '')
      .setAudience(this.service)
      .setIssuedAt(seconds)
      .setNotBefore(seconds)
      .setExpirationTime(seconds + expiresIn)
      .setJti(randomUUID())
      .sign(this.key.privateKey);
    return { token, expiresIn, issuedAt: new Date(seconds * 1000).toISOString(), granted: [...granted] };
  }

  /** Verifies a token; answers what it proves, or the reason it proves nothing. */
  async verify(token: string, now = Date.now()): Promise<VerifiedToken | { problem: string }> {
    if (token.length > MAX_TOKEN_LENGTH) return { problem: 'the token is too long' };
    const cached = this.#verified.get(token, now / 1000, this.#skew);
    if (cached) return cached;
    let kid: unknown;
    try {
      kid = decodeProtectedHeader(token).kid;
    } catch {
      return { problem: 'the token is malformed' };
    }
    if (kid !== this.key.kid) return { problem: 'the token was not signed by this service (unknown key id)' };
    return verifyTokenClaims(token, this.key.publicKey, {
      algorithms: [this.key.algorithm],
      issuer: this.issuer,
      audience: this.service,
      skewSeconds: this.#skew,
      now,
      cache: this.#verified,
    });
  }

  /** The public key as a JSON Web Key Set. */
  async jwks(): Promise<{ keys: JWK[] }> {
    const jwk = await exportJWK(this.key.publicKey);
    return { keys: [{ ...jwk, kid: this.key.kid, alg: this.key.algorithm, use: 'sig' }] };
  }

  /**
   * A new refresh token for the identity; only its hash is kept. Undefined for an identity
   * with its own grants (a robot token): it is long-lived already, and a refresh token would
   * outlive its revocation.
   */
  async createRefreshToken(identity: Identity, clientId: string, now = Date.now()): Promise<string | undefined> {
    if (identity.grants) return undefined;
    const secret = REFRESH_PREFIX + randomBytes(32).toString('base64url');
    await this.#refreshTokens.putRefreshToken({
      hash: hashSecret(secret),
      subject: identity.name,
      identity: JSON.stringify({ name: identity.name, groups: identity.groups, source: identity.source }),
      service: this.service,
      clientId,
      createdAt: now,
      expiresAt: now + this.#refreshExpiryMs,
    });
    return secret;
  }

  /** The identity a refresh token stands for; undefined when unknown, expired or for another service. */
  async redeemRefreshToken(secret: string, now = Date.now()): Promise<Identity | undefined> {
    if (secret.length > 256) return undefined;
    const hash = hashSecret(secret);
    const entry = await this.#refreshTokens.findRefreshToken(hash);
    if (!entry || entry.service !== this.service) return undefined;
    if (entry.expiresAt <= now) {
      await this.#refreshTokens.deleteRefreshToken(hash);
      return undefined;
    }
    const { name, groups, source } = JSON.parse(entry.identity) as Identity;
    return { name, groups: [...groups], source };
  }
}

export interface TokenExpectations {
  algorithms: string[];
  issuer: string;
  audience: string;
  /** Tolerated clock difference for exp, nbf and iat. */
  skewSeconds: number;
  /** Epoch milliseconds. */
  now: number;
  /** Where a verified token is remembered until it expires. */
  cache: VerifiedTokenCache;
}

/**
 * The checks every registry token gets, whoever issued it: the signature by `key`, an
 * accepted algorithm, issuer, audience, required exp/nbf/iat (iat not in the future), and a
 * well-formed access claim. Answers what the token proves, or why it proves nothing.
 */
export async function verifyTokenClaims(token: string, key: KeyObject | JWTVerifyGetKey, expect: TokenExpectations): Promise<VerifiedToken | { problem: string }> {
  try {
    const options = {
      algorithms: expect.algorithms,
      issuer: expect.issuer,
      audience: expect.audience,
      clockTolerance: expect.skewSeconds,
      currentDate: new Date(expect.now),
      requiredClaims: ['exp', 'nbf', 'iat', 'iss', 'aud'],
    };
    const { payload } = typeof key === 'function' ? await jwtVerify(token, key, options) : await jwtVerify(token, key, options);
    if (typeof payload.iat !== 'number' || payload.iat > expect.now / 1000 + expect.skewSeconds) return { problem: 'the token was issued in the future' };
    const grants = scopesOfClaim(payload.access ?? []);
    if (!grants) return { problem: 'the token has a malformed access claim' };
    const subject = typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub : undefined;
    const result = { subject, grants };
    expect.cache.set(token, result, payload.nbf!, payload.exp!);
    return result;
  } catch (error) {
    return { problem: `the token is invalid: ${(error as Error).message}` };
  }
}
