import { grantedActions as tokenGrantedActions, grantsCatalog } from './scope.ts';
import type { TokenVerifier } from './external-tokens.ts';
import type { LoginLimiter } from './login-limiter.ts';
import type { AccessPolicy, Action, Authenticator, Challenge, Credentials, Decision, Identity, RepositoryScope } from './types.ts';

export interface AccessControlOptions {
  /** Tried in order; the first to accept the credentials decides the identity. */
  authenticators: readonly Authenticator[];
  policy: AccessPolicy;
  challenge: Challenge;
  /** Token mode: /v2 requests need a bearer token this verifies (see decideBearer). */
  tokens?: TokenVerifier | undefined;
  /** Brute-force protection for password logins; undefined: none. */
  limiter?: LoginLimiter | undefined;
}

/** A password login: the identity, a failure, or a refusal because of earlier failures. */
export type LoginResult =
  | { outcome: 'ok'; identity: Identity }
  | { outcome: 'failed' }
  | { outcome: 'limited'; retryAfterSeconds: number; reason: string };

/**
 * The one place requests are judged: who the credentials prove (authenticators), and whether
 * that identity, or anonymous, has the actions a request needs (the policy).
 */
export class AccessControl {
  readonly challenge: Challenge;
  /** Berth's token service or an external issuer's verifier when /v2 requests need bearer tokens; undefined with Basic. */
  readonly tokens: TokenVerifier | undefined;
  readonly #authenticators: readonly Authenticator[];
  readonly #policy: AccessPolicy;
  readonly #limiter: LoginLimiter | undefined;

  constructor(options: AccessControlOptions) {
    this.#authenticators = options.authenticators;
    this.#policy = options.policy;
    this.challenge = options.challenge;
    this.tokens = options.tokens;
    this.#limiter = options.limiter;
  }

  /**
   * Authenticates a login from `address` under brute-force protection: refused without
   * checking the password while the account or the address has too many recent failures;
   * a failure is counted against both.
   */
  async login(credentials: Credentials, address: string | undefined): Promise<LoginResult> {
    const account = credentials.kind === 'basic' ? credentials.username : undefined;
    if (this.#limiter && account !== undefined) {
      const check = this.#limiter.check(account, address);
      if (check.limited) return { outcome: 'limited', retryAfterSeconds: check.retryAfterSeconds, reason: `too many failed logins for this ${check.by}; try again later` };
    }
    const identity = await this.authenticate(credentials);
    if (identity) return { outcome: 'ok', identity };
    if (this.#limiter && account !== undefined) this.#limiter.failed(account, address);
    return { outcome: 'failed' };
  }

  /** The identity the credentials prove; undefined when they prove none (wrong, unknown). */
  async authenticate(credentials: Credentials): Promise<Identity | undefined> {
    for (const authenticator of this.#authenticators) {
      const identity = await authenticator.authenticate(credentials);
      if (identity) return identity;
    }
    return undefined;
  }

  /** Whether the authenticator that accepted the identity still knows it (false when it is gone). */
  async stillExists(identity: Identity): Promise<boolean> {
    const authenticator = this.#authenticators.find((each) => each.name === identity.source);
    if (!authenticator) return false;
    return authenticator.exists ? authenticator.exists(identity.name) : true;
  }

  /** Brings the policy's database rules up to date (a cached read); call before judging a request. */
  async refreshPolicy(): Promise<void> {
    await this.#policy.refresh?.();
  }

  /** The identity's own grants when it carries them (robot tokens), else what the policy gives. */
  actionsOn(identity: Identity | undefined, repository: string, address?: string): ReadonlySet<Action> {
    if (identity?.grants) return grantedActions(identity.grants, repository);
    return this.#policy.actionsOn(identity, repository, address);
  }

  /** True when the identity (or anonymous) has every one of `actions` on `repository`. */
  allows(identity: Identity | undefined, repository: string, actions: readonly Action[], address?: string): boolean {
    const granted = this.actionsOn(identity, repository, address);
    return actions.every((action) => granted.has(action));
  }

  /** See AccessPolicy.pullableRepositories; an identity with grants may pull only what they name. */
  pullableRepositories(identity: Identity | undefined, address?: string): ((repository: string) => boolean) | undefined {
    if (identity?.grants) {
      const grants = identity.grants;
      return (repository) => grantedActions(grants, repository).has('pull');
    }
    return this.#policy.pullableRepositories(identity, address);
  }

  /**
   * Judges a request. `credentials` undefined: anonymous; null: credentials were presented
   * but could not be read. `requireIdentity` asks for any authenticated caller (`GET /v2/`).
   * `address`: the client's, for brute-force limits and rules limited to networks.
   */
  async decide(credentials: Credentials | undefined | null, scopes: readonly RepositoryScope[], requireIdentity = false, catalog = false, address?: string): Promise<Decision> {
    await this.refreshPolicy();
    if (this.tokens) return this.#decideBearer(this.tokens, credentials, scopes, catalog);
    if (credentials?.kind === 'bearer') return { outcome: 'unauthenticated', reason: 'bearer tokens are not accepted: the token service is not enabled' };
    if (credentials === null) return { outcome: 'unauthenticated', reason: 'the Authorization header cannot be read' };
    let identity: Identity | undefined;
    if (credentials !== undefined) {
      const login = await this.login(credentials, address);
      if (login.outcome === 'limited') return login;
      if (login.outcome === 'failed') return { outcome: 'unauthenticated', reason: 'invalid username or password' };
      identity = login.identity;
    }
    if (!identity && requireIdentity) return { outcome: 'unauthenticated', reason: 'authentication required' };
    for (const scope of scopes) {
      if (this.allows(identity, scope.repository, scope.actions, address)) continue;
      // Anonymous callers are asked to log in; they may have the right once they do.
      if (!identity) return { outcome: 'unauthenticated', reason: 'authentication required' };
      return { outcome: 'denied', identity, reason: `${identity.name} may not ${scope.actions.join(' and ')} ${scope.repository}` };
    }
    return { outcome: 'allow', identity };
  }

  /**
   * Token mode: every request needs a valid token, and the token's `access` claim alone says
   * what it may do (the rules were applied when it was issued). Too little access is a 401
   * `insufficient_scope`, so clients fetch a wider token; `catalog` needs `registry:catalog:*`.
   */
  async #decideBearer(tokens: TokenVerifier, credentials: Credentials | undefined | null, scopes: readonly RepositoryScope[], catalog: boolean): Promise<Decision> {
    if (credentials?.kind !== 'bearer') return { outcome: 'unauthenticated', reason: 'a bearer token from the token service is required' };
    const verified = await tokens.verify(credentials.token);
    if ('problem' in verified) return { outcome: 'unauthenticated', reason: verified.problem, error: 'invalid_token' };
    const { subject, grants } = verified;
    for (const scope of scopes) {
      const granted = tokenGrantedActions(grants, scope.repository);
      if (!scope.actions.every((action) => granted.has(action))) {
        return { outcome: 'unauthenticated', reason: `the token does not grant ${scope.actions.join(' and ')} on ${scope.repository}`, error: 'insufficient_scope' };
      }
    }
    if (catalog && !grantsCatalog(grants)) return { outcome: 'unauthenticated', reason: 'the token does not grant the catalog', error: 'insufficient_scope' };
    if (subject === undefined) return { outcome: 'allow', identity: undefined };
    // The catalog is filtered by the rules for the token's subject; everything else is judged
    // by the token's grants alone (mount sources included).
    const repositoryGrants: RepositoryScope[] = [];
    for (const grant of grants) if (grant.type === 'repository') repositoryGrants.push({ repository: grant.name, actions: grant.actions });
    const identity: Identity = catalog ? { name: subject, groups: [], source: 'token' } : { name: subject, groups: [], source: 'token', grants: repositoryGrants };
    return { outcome: 'allow', identity };
  }

  close(): void {
    for (const authenticator of this.#authenticators) authenticator.close?.();
  }
}

/** The actions grants give on a repository: the union of the grants that name it exactly. */
function grantedActions(grants: readonly RepositoryScope[], repository: string): ReadonlySet<Action> {
  const actions = new Set<Action>();
  for (const grant of grants) if (grant.repository === repository) for (const action of grant.actions) actions.add(action);
  return actions;
}
