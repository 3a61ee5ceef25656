import { AccessControl } from './access.ts';
import { DatabaseUserAuthenticator, type UserStore } from './database-users.ts';
import { HtpasswdAuthenticator, type AuthLog } from './htpasswd.ts';
import { LdapAuthenticator, type LdapSettings } from './ldap.ts';
import { RobotTokenAuthenticator, type RobotTokenStore } from './robot-tokens.ts';
import { DatabaseRulesPolicy, type AccessRuleStore } from './database-rules.ts';
import { DEFAULT_RULES, RuleAccessPolicy, type AccessRule } from './rules.ts';
import type { AccessPolicy, Authenticator } from './types.ts';
import { createTokenService, setupStep, type TokenServiceSettings } from './token-setup.ts';
import type { RefreshTokenStore } from './tokens.ts';
import { createExternalTokenVerifier, type ExternalTokenSettings } from './external-tokens.ts';
import { DEFAULT_LOGIN_LIMITS, LoginLimiter } from './login-limiter.ts';

/** `auth.ratelimit`: failed logins allowed per account and per client address (windows in ms). */
export interface LoginLimitSettings {
  enabled: boolean;
  account: { failures: number; window: number };
  address: { failures: number; window: number };
  maxentries: number;
}

function createLoginLimiter(settings: LoginLimitSettings | undefined): LoginLimiter | undefined {
  if (settings === undefined) return new LoginLimiter(DEFAULT_LOGIN_LIMITS);
  if (!settings.enabled) return undefined;
  return new LoginLimiter({
    account: { failures: settings.account.failures, windowMs: settings.account.window },
    address: { failures: settings.address.failures, windowMs: settings.address.window },
    maxEntries: settings.maxentries,
  });
}

/** The `auth` and `access` configuration sections, as far as this module needs them. */
export interface AuthSettings {
  auth?: { htpasswd?: { realm: string; path: string } | undefined; ldap?: LdapSettings | undefined; users?: { enabled: boolean; realm: string; remember: number } | undefined; tokenservice?: TokenServiceSettings | undefined; token?: ExternalTokenSettings | undefined; ratelimit?: LoginLimitSettings | undefined } | undefined;
  /** For the token service: its default realm (`http.host`) and where its key is kept. */
  http?: { host?: string | undefined } | undefined;
  storage?: { filesystem: { rootdirectory: string } } | undefined;
  access: { rules?: readonly AccessRule[] | undefined; personalnamespace: boolean };
}

export interface AccessControlSources {
  /** Where robot tokens are looked up; with it, robot tokens work alongside the configured users. */
  robotTokens?: RobotTokenStore | undefined;
  /** Where the users of `auth.users` are kept (the metadata store); needed when it is enabled. */
  users?: UserStore | undefined;
  /** Where the token service keeps refresh tokens; without it, in memory. */
  refreshTokens?: RefreshTokenStore | undefined;
  /** Where the access rules of `berth access add` are kept; they apply alongside `access.rules`. */
  accessRules?: AccessRuleStore | undefined;
}

/** The config file's rules, joined by the database's when there is a store for them. */
function createPolicy(settings: AuthSettings, sources: AccessControlSources, log: AuthLog | undefined): AccessPolicy {
  const personalNamespace = settings.access.personalnamespace;
  if (sources.accessRules) return new DatabaseRulesPolicy({ configRules: settings.access.rules, store: sources.accessRules, personalNamespace, log });
  return new RuleAccessPolicy(settings.access.rules ?? DEFAULT_RULES, { personalNamespace });
}

/**
 * Builds access control from configuration; undefined when no authentication is configured
 * (the registry is then open, as without Berth's auth). Throws when the htpasswd file cannot
 * be used, so a registry with broken auth never starts open.
 */
export async function createAccessControl(settings: AuthSettings, log?: AuthLog, sources: AccessControlSources = {}): Promise<AccessControl | undefined> {
  const htpasswd = settings.auth?.htpasswd;
  const ldap = settings.auth?.ldap;
  const external = settings.auth?.token;
  const users = settings.auth?.users?.enabled ? settings.auth.users : undefined;
  if (external) {
    // Tokens of another service (GitLab, a distribution token server): they alone decide;
    // the rules only filter the catalog for the token's subject.
    if (htpasswd || ldap || users || settings.auth?.tokenservice?.enabled) throw new Error('auth.token (an external token issuer) cannot be combined with auth.htpasswd, auth.ldap, auth.users or auth.tokenservice');
    const verifier = await setupStep(() => createExternalTokenVerifier(external));
    const policy = createPolicy(settings, sources, log);
    return new AccessControl({ authenticators: [], policy, tokens: verifier, challenge: { scheme: 'Bearer', realm: external.realm, service: external.service } });
  }
  if (!htpasswd && !ldap && !users) {
    if (settings.access.rules !== undefined || settings.access.personalnamespace) {
      throw new Error('access rules need an authenticator: configure auth.htpasswd, auth.ldap or auth.users');
    }
    if (settings.auth?.tokenservice?.enabled) throw new Error('the token service needs an authenticator: configure auth.htpasswd, auth.ldap or auth.users');
    return undefined;
  }
  const authenticators: Authenticator[] = [];
  if (htpasswd) authenticators.push(await HtpasswdAuthenticator.open({ path: htpasswd.path, log }));
  // Then the users in the database (one indexed query each login), before a directory.
  if (users) {
    if (!sources.users) throw new Error('auth.users needs the metadata store to look users up in');
    authenticators.push(new DatabaseUserAuthenticator({ store: sources.users, log, rememberMs: users.remember }));
  }
  // After htpasswd (a local file answers first); the first authenticator to accept wins.
  if (ldap) authenticators.push(await setupStep(() => LdapAuthenticator.open(ldap, log)));
  // First: a robot token is recognised by its form and checked with one query, no bcrypt.
  if (sources.robotTokens) authenticators.unshift(new RobotTokenAuthenticator({ store: sources.robotTokens, log }));
  const policy = createPolicy(settings, sources, log);
  const tokens = await createTokenService(settings, sources.refreshTokens);
  const limiter = createLoginLimiter(settings.auth?.ratelimit);
  if (tokens) return new AccessControl({ authenticators, policy, tokens: tokens.service, challenge: tokens.challenge, limiter });
  return new AccessControl({ authenticators, policy, challenge: { scheme: 'Basic', realm: htpasswd?.realm ?? ldap?.realm ?? users!.realm }, limiter });
}
