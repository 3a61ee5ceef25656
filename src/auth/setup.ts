import { AccessControl } from './access.ts';
import { HtpasswdAuthenticator, type AuthLog } from './htpasswd.ts';
import { RobotTokenAuthenticator, type RobotTokenStore } from './robot-tokens.ts';
import { DEFAULT_RULES, RuleAccessPolicy, type AccessRule } from './rules.ts';
import type { Authenticator } from './types.ts';
import { createTokenService, setupStep, type TokenServiceSettings } from './token-setup.ts';
import type { RefreshTokenStore } from './tokens.ts';
import { createExternalTokenVerifier, type ExternalTokenSettings } from './external-tokens.ts';

/** The `auth` and `access` configuration sections, as far as this module needs them. */
export interface AuthSettings {
  auth?: { htpasswd?: { realm: string; path: string } | undefined; tokenservice?: TokenServiceSettings | undefined; token?: ExternalTokenSettings | undefined } | undefined;
  /** For the token service: its default realm (`http.host`) and where its key is kept. */
  http?: { host?: string | undefined } | undefined;
  storage?: { filesystem: { rootdirectory: string } } | undefined;
  access: { rules?: readonly AccessRule[] | undefined; personalnamespace: boolean };
}

export interface AccessControlSources {
  /** Where robot tokens are looked up; with it, robot tokens work alongside the configured users. */
  robotTokens?: RobotTokenStore | undefined;
  /** Where the token service keeps refresh tokens; without it, in memory. */
  refreshTokens?: RefreshTokenStore | undefined;
}

/**
 * Builds access control from configuration; undefined when no authentication is configured
 * (the registry is then open, as without Berth's auth). Throws when the htpasswd file cannot
 * be used, so a registry with broken auth never starts open.
 */
export async function createAccessControl(settings: AuthSettings, log?: AuthLog, sources: AccessControlSources = {}): Promise<AccessControl | undefined> {
  const htpasswd = settings.auth?.htpasswd;
  const external = settings.auth?.token;
  if (external) {
    // Tokens of another service (GitLab, a distribution token server): they alone decide;
    // the rules only filter the catalog for the token's subject.
    if (htpasswd || settings.auth?.tokenservice?.enabled) throw new Error('auth.token (an external token issuer) cannot be combined with auth.htpasswd or auth.tokenservice');
    const verifier = await setupStep(() => createExternalTokenVerifier(external));
    const policy = new RuleAccessPolicy(settings.access.rules ?? DEFAULT_RULES, { personalNamespace: settings.access.personalnamespace });
    return new AccessControl({ authenticators: [], policy, tokens: verifier, challenge: { scheme: 'Bearer', realm: external.realm, service: external.service } });
  }
  if (!htpasswd) {
    if (settings.access.rules !== undefined || settings.access.personalnamespace) {
      throw new Error('access rules need an authenticator: configure auth.htpasswd');
    }
    if (settings.auth?.tokenservice?.enabled) throw new Error('the token service needs an authenticator: configure auth.htpasswd');
    return undefined;
  }
  const authenticators: Authenticator[] = [await HtpasswdAuthenticator.open({ path: htpasswd.path, log })];
  // First: a robot token is recognised by its form and checked with one query, no bcrypt.
  if (sources.robotTokens) authenticators.unshift(new RobotTokenAuthenticator({ store: sources.robotTokens, log }));
  const policy = new RuleAccessPolicy(settings.access.rules ?? DEFAULT_RULES, { personalNamespace: settings.access.personalnamespace });
  const tokens = await createTokenService(settings, sources.refreshTokens);
  if (tokens) return new AccessControl({ authenticators, policy, tokens: tokens.service, challenge: tokens.challenge });
  return new AccessControl({ authenticators, policy, challenge: { scheme: 'Basic', realm: htpasswd.realm } });
}
