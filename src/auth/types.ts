/** What a caller may do with a repository. `*` in configuration stands for all three. */
export type Action = 'pull' | 'push' | 'delete';

export const ALL_ACTIONS: readonly Action[] = ['pull', 'push', 'delete'];

/** Who a request comes from, once an authenticator has accepted its credentials. */
export interface Identity {
  /** The account name (`user:NAME` in access rules). */
  readonly name: string;
  /** Groups the account belongs to (`group:NAME` in access rules); htpasswd users have none. */
  readonly groups: readonly string[];
  /** Which authenticator accepted the credentials (for logs), e.g. `htpasswd`. */
  readonly source: string;
  /**
   * When present, exactly what this identity may do (a robot token's scopes): access rules
   * are not consulted for it and cannot widen it. Absent: the AccessPolicy decides.
   */
  readonly grants?: readonly RepositoryScope[];
}

/**
 * Credentials as a request presents them, already taken out of their transport: HTTP Basic,
 * or a bearer token from the token service (judged by AccessControl itself, from its claims).
 */
export type Credentials =
  | { readonly kind: 'basic'; readonly username: string; readonly password: string }
  | { readonly kind: 'bearer'; readonly token: string };

/**
 * Checks credentials. Answers the identity they prove, or undefined when they prove nothing
 * (unknown user, wrong password, a kind of credentials this authenticator does not handle).
 */
export interface Authenticator {
  readonly name: string;
  authenticate(credentials: Credentials): Promise<Identity | undefined>;
  /** Whether an account it once accepted still exists (refresh tokens check it); absent: assumed. */
  exists?(name: string): Promise<boolean>;
  close?(): void;
}

/** Answers which actions an identity (undefined: anonymous) has on a repository. */
export interface AccessPolicy {
  /** `address`: the client's address, for rules limited to networks (`from`); undefined: unknown. */
  actionsOn(identity: Identity | undefined, repository: string, address?: string): ReadonlySet<Action>;
  /**
   * A test for the repositories the identity may pull, or undefined when it may pull every
   * repository (so listings need no filtering).
   */
  pullableRepositories(identity: Identity | undefined, address?: string): ((repository: string) => boolean) | undefined;
  /** Brings rules kept elsewhere (the database) up to date; called before a request is judged. */
  refresh?(): Promise<void>;
}

/** What a request needs: actions on repositories (a Docker token `scope` has the same shape). */
export interface RepositoryScope {
  readonly repository: string;
  readonly actions: readonly Action[];
}

/** How a client is told to authenticate (the HTTP layer writes it as `WWW-Authenticate`). */
export type Challenge =
  | { readonly scheme: 'Basic'; readonly realm: string }
  /** Token mode; `realm` undefined: the token endpoint of the URL the request came to. */
  | { readonly scheme: 'Bearer'; readonly realm: string | undefined; readonly service: string };

/**
 * The outcome for one request: allowed, unauthenticated (401 with a challenge: no or wrong
 * credentials) or denied (403: authenticated but without the right).
 */
export type Decision =
  | { readonly outcome: 'allow'; readonly identity: Identity | undefined }
  | {
      readonly outcome: 'unauthenticated';
      readonly reason: string;
      /** With bearer tokens: the presented token is bad, or grants too little (RFC 6750). */
      readonly error?: 'invalid_token' | 'insufficient_scope';
    }
  | { readonly outcome: 'denied'; readonly identity: Identity; readonly reason: string }
  /** Too many failed logins for the account or from the address (429 with `Retry-After`). */
  | { readonly outcome: 'limited'; readonly reason: string; readonly retryAfterSeconds: number };
