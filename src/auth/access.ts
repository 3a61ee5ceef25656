import type { AccessPolicy, Action, Authenticator, Challenge, Credentials, Decision, Identity, RepositoryScope } from './types.ts';

export interface AccessControlOptions {
  /** Tried in order; the first to accept the credentials decides the identity. */
  authenticators: readonly Authenticator[];
  policy: AccessPolicy;
  challenge: Challenge;
}

/**
 * The one place requests are judged: who the credentials prove (authenticators), and whether
 * that identity, or anonymous, has the actions a request needs (the policy).
 */
export class AccessControl {
  readonly challenge: Challenge;
  readonly #authenticators: readonly Authenticator[];
  readonly #policy: AccessPolicy;

  constructor(options: AccessControlOptions) {
    this.#authenticators = options.authenticators;
    this.#policy = options.policy;
    this.challenge = options.challenge;
  }

  /** The identity the credentials prove; undefined when they prove none (wrong, unknown). */
  async authenticate(credentials: Credentials): Promise<Identity | undefined> {
    for (const authenticator of this.#authenticators) {
      const identity = await authenticator.authenticate(credentials);
      if (identity) return identity;
    }
    return undefined;
  }

  actionsOn(identity: Identity | undefined, repository: string): ReadonlySet<Action> {
    return this.#policy.actionsOn(identity, repository);
  }

  /** True when the identity (or anonymous) has every one of `actions` on `repository`. */
  allows(identity: Identity | undefined, repository: string, actions: readonly Action[]): boolean {
    const granted = this.#policy.actionsOn(identity, repository);
    return actions.every((action) => granted.has(action));
  }

  /** See AccessPolicy.pullableRepositories. */
  pullableRepositories(identity: Identity | undefined): ((repository: string) => boolean) | undefined {
    return this.#policy.pullableRepositories(identity);
  }

  /**
   * Judges a request. `credentials` undefined: anonymous; null: credentials were presented
   * but could not be read. `requireIdentity` asks for any authenticated caller (`GET /v2/`).
   */
  async decide(credentials: Credentials | undefined | null, scopes: readonly RepositoryScope[], requireIdentity = false): Promise<Decision> {
    if (credentials === null) return { outcome: 'unauthenticated', reason: 'the Authorization header cannot be read' };
    let identity: Identity | undefined;
    if (credentials !== undefined) {
      identity = await this.authenticate(credentials);
      if (!identity) return { outcome: 'unauthenticated', reason: 'invalid username or password' };
    }
    if (!identity && requireIdentity) return { outcome: 'unauthenticated', reason: 'authentication required' };
    for (const scope of scopes) {
      if (this.allows(identity, scope.repository, scope.actions)) continue;
      // Anonymous callers are asked to log in; they may have the right once they do.
      if (!identity) return { outcome: 'unauthenticated', reason: 'authentication required' };
      return { outcome: 'denied', identity, reason: `${identity.name} may not ${scope.actions.join(' and ')} ${scope.repository}` };
    }
    return { outcome: 'allow', identity };
  }

  close(): void {
    for (const authenticator of this.#authenticators) authenticator.close?.();
  }
}
