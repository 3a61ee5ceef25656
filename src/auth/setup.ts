import { AccessControl } from './access.ts';
import { HtpasswdAuthenticator, type AuthLog } from './htpasswd.ts';
import { DEFAULT_RULES, RuleAccessPolicy, type AccessRule } from './rules.ts';
import type { Authenticator } from './types.ts';

/** The `auth` and `access` configuration sections, as far as this module needs them. */
export interface AuthSettings {
  auth?: { htpasswd?: { realm: string; path: string } | undefined } | undefined;
  access: { rules?: readonly AccessRule[] | undefined; personalnamespace: boolean };
}

/**
 * Builds access control from configuration; undefined when no authentication is configured
 * (the registry is then open, as without Berth's auth). Throws when the htpasswd file cannot
 * be used, so a registry with broken auth never starts open.
 */
export async function createAccessControl(settings: AuthSettings, log?: AuthLog): Promise<AccessControl | undefined> {
  const htpasswd = settings.auth?.htpasswd;
  if (!htpasswd) {
    if (settings.access.rules !== undefined || settings.access.personalnamespace) {
      throw new Error('access rules need an authenticator: configure auth.htpasswd');
    }
    return undefined;
  }
  const authenticators: Authenticator[] = [await HtpasswdAuthenticator.open({ path: htpasswd.path, log })];
  const policy = new RuleAccessPolicy(settings.access.rules ?? DEFAULT_RULES, { personalNamespace: settings.access.personalnamespace });
  return new AccessControl({ authenticators, policy, challenge: { scheme: 'Basic', realm: htpasswd.realm } });
}
