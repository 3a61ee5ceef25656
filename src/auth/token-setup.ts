import path from 'node:path';
import { loadOrCreateSigningKey, readSigningKey } from './keys.ts';
import { TokenService, type RefreshTokenStore } from './tokens.ts';
import type { Challenge } from './types.ts';

/** The `auth.tokenservice` configuration section. */
export interface TokenServiceSettings {
  enabled: boolean;
  realm?: string | undefined;
  issuer: string;
  service: string;
  /** Milliseconds. */
  expiry: number;
  /** Milliseconds. */
  refreshexpiry: number;
  key?: string | undefined;
}

/** A token key, certificate bundle or key set Berth cannot use: the start stops (exit 2). */
export class AuthSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuthSetupError';
  }
}

/** Runs a setup step, turning its failure into an AuthSetupError. */
export async function setupStep<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    throw error instanceof AuthSetupError ? error : new AuthSetupError((error as Error).message);
  }
}

/** The file the signing key is generated into when `auth.tokenservice.key` is not given. */
export const GENERATED_KEY_FILE = 'token-signing-key.pem';

/**
 * The token service as configured, with the Bearer challenge that points clients at it;
 * undefined when it is not enabled. A configured key must exist and be usable; without one,
 * a key is generated under the data directory on first start and reused afterwards.
 * Refresh tokens go to `refreshTokens` (the metadata store), or stay in memory without it.
 */
export async function createTokenService(settings: {
  auth?: { tokenservice?: TokenServiceSettings | undefined } | undefined;
  http?: { host?: string | undefined } | undefined;
  storage?: { filesystem: { rootdirectory: string } } | undefined;
}, refreshTokens?: RefreshTokenStore): Promise<{ service: TokenService; challenge: Challenge } | undefined> {
  const config = settings.auth?.tokenservice;
  if (!config?.enabled) return undefined;
  const root = settings.storage?.filesystem.rootdirectory ?? './data';
  const key = await setupStep(() => (config.key ? readSigningKey(config.key) : loadOrCreateSigningKey(path.join(root, GENERATED_KEY_FILE))));
  const service = new TokenService({ key, issuer: config.issuer, service: config.service, expiryMs: config.expiry, refreshExpiryMs: config.refreshexpiry, refreshTokens });
  const host = settings.http?.host?.replace(/\/$/, '');
  const realm = config.realm ?? (host ? `${host}/auth/token` : undefined);
  return { service, challenge: { scheme: 'Bearer', realm, service: config.service } };
}
