import { z } from 'zod';
import { cidrProblem } from '../auth/network.ts';
import { parseDuration } from './duration.ts';

/**
 * The one configuration schema: source of the types, the defaults, the validation errors
 * and the reference in docs/configuration.md. Keys follow CNCF distribution's
 * `config.yml` where they mean the same thing, so its files load unchanged.
 */
const duration = (fallback: string) =>
  z
    .union([z.string(), z.number()])
    .default(fallback)
    .transform((value, context) => {
      if (typeof value === 'number') return value * 1000;
      const ms = parseDuration(value);
      if (ms === undefined) {
        context.addIssue({ code: 'custom', message: `"${value}" is not a duration (examples: 30s, 15m, 24h, 7d)` });
        return z.NEVER;
      }
      return ms;
    });

const listenAddress = z.string().regex(/^(?:\[[0-9a-fA-F:.]+\]|[^:\s]*):\d{1,5}$/, 'must be HOST:PORT or :PORT');

const repositoryPattern = z
  .string()
  .min(1)
  .refine((pattern) => pattern.split('/').every((c) => c !== '' && (c === '**' || !c.includes('**'))), {
    message: 'a repository pattern is path components separated by /; * matches within one component, ** must be a whole component',
  });

const cidr = z.string().superRefine((value, context) => {
  const problem = cidrProblem(value);
  if (problem) context.addIssue({ code: 'custom', message: problem });
});

/** One access rule (`access.rules[]`); also validates the rules kept in the database (`berth access add`). */
export const accessRuleSchema = z.strictObject({
  repositories: z.array(repositoryPattern).min(1).describe('Repository patterns: `*` matches within one path component, `**` any number of components.'),
  subjects: z
    .array(z.string().regex(/^(?:anonymous|authenticated|(?:user|group):.+)$/, 'must be user:NAME, group:NAME, anonymous or authenticated'))
    .min(1)
    .describe('Who the rule is for: `user:NAME`, `group:NAME`, `anonymous`, `authenticated`.'),
  actions: z.array(z.enum(['pull', 'push', 'delete', '*'])).min(1).describe('What they may do: `pull`, `push`, `delete`, `*` (all).'),
  from: z
    .array(cidr)
    .min(1)
    .optional()
    .describe('Client networks (CIDRs such as `10.0.0.0/8`, `fd00::/8`) the rule applies from; unset: any address. With bearer tokens it is checked when the token is issued.'),
});

const loginLimit = (failures: number) =>
  z
    .strictObject({
      failures: z.number().int().positive().default(failures).describe('Failed logins allowed within the window; more are answered 429 until the oldest leaves it.'),
      window: duration('5m').describe('Length of the sliding window.'),
    })
    .prefault({});

export const configSchema = z.strictObject({
  version: z.union([z.string(), z.number()]).optional().describe('Accepted for compatibility with distribution; ignored.'),
  log: z
    .strictObject({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info').describe('Minimum level written to the JSON log on stdout.'),
      accesslog: z
        .strictObject({ disabled: z.boolean().default(false).describe('Skip the one log line per request.') })
        .prefault({}),
    })
    .prefault({}),
  http: z
    .strictObject({
      addr: listenAddress.default('127.0.0.1:5000').describe('Address to listen on; `:5000` listens on every interface.'),
      host: z.url().optional().describe('External base URL (scheme and host) used in absolute links; relative links when unset.'),
      headers: z.record(z.string(), z.array(z.string())).default({}).describe('Extra headers added to every response.'),
      draintimeout: duration('30s').describe('How long a graceful shutdown waits for requests in flight.'),
      allow: z
        .array(cidr)
        .default([])
        .describe('Client networks (CIDRs; IPv4, IPv6, IPv4-mapped IPv6) allowed to connect; others get 403 DENIED before anything else. Empty: everyone.'),
      trustedproxies: z
        .array(cidr)
        .default([])
        .describe('Proxies (CIDRs) whose `X-Forwarded-For` is believed: the client is the right-most address in it that is not a trusted proxy. Empty: the socket peer is the client.'),
      tls: z
        .strictObject({
          certificate: z.string().describe('PEM certificate chain file.'),
          key: z.string().describe('PEM private key file.'),
        })
        .optional()
        .describe('Serve HTTPS (TLS 1.2 or newer) with this certificate.'),
    })
    .prefault({}),
  storage: z
    .strictObject({
      filesystem: z
        .strictObject({ rootdirectory: z.string().default('./data').describe('Directory for blob bytes, upload sessions and, by default, the SQLite database.') })
        .prefault({}),
      delete: z.strictObject({ enabled: z.boolean().default(false).describe('Allow DELETE of blobs, manifests and tags.') }).prefault({}),
      fsync: z.boolean().default(true).describe('fsync blob bytes and metadata before acknowledging a write.'),
      maintenance: z
        .strictObject({
          uploadpurging: z
            .strictObject({
              enabled: z.boolean().default(true).describe('Remove abandoned upload sessions.'),
              age: duration('24h').describe('An upload untouched this long is abandoned.'),
              interval: duration('1h').describe('How often to look for abandoned uploads.'),
              dryrun: z.boolean().default(false).describe('Only log how many uploads would be purged.'),
            })
            .prefault({}),
        })
        .prefault({}),
    })
    .prefault({}),
  database: z
    .strictObject({
      sqlite: z
        .strictObject({ path: z.string().optional().describe('SQLite file; default `<rootdirectory>/berth.db`.') })
        .prefault({}),
    })
    .prefault({}),
  validation: z
    .strictObject({
      manifests: z
        .strictObject({
          urls: z
            .strictObject({
              allow: z.array(z.string()).default([]).describe('Regular expressions; a foreign layer URL must match one.'),
              deny: z.array(z.string()).default([]).describe('Regular expressions; a foreign layer URL must match none.'),
            })
            .prefault({}),
        })
        .prefault({}),
    })
    .prefault({}),
  auth: z
    .strictObject({
      htpasswd: z
        .strictObject({
          realm: z.string().min(1).default('berth').describe('Realm named in the `WWW-Authenticate: Basic` challenge.'),
          path: z.string().min(1).describe('htpasswd file with bcrypt hashes (`htpasswd -B`); reread when it changes.'),
        })
        .optional()
        .describe('Authenticate users from an htpasswd file with HTTP Basic.'),
      ldap: z
        .strictObject({
          realm: z.string().min(1).default('berth').describe('Realm named in the `WWW-Authenticate: Basic` challenge (`auth.htpasswd.realm` wins when both are set).'),
          url: z.string().regex(/^ldaps?:\/\/[^/?#\s]+\/?$/, 'must be ldap://HOST[:PORT] or ldaps://HOST[:PORT]').describe('Directory server: `ldap://host:389` or `ldaps://host:636`.'),
          binddn: z
            .string()
            .min(1)
            .optional()
            .describe('Without `searchbase`: the user\'s DN with `{username}`, e.g. `uid={username},ou=people,dc=example,dc=org`. With `searchbase`: the service account the search binds as (unset: anonymous).'),
          bindpassword: z.string().min(1).optional().describe('Password of the `binddn` service account.'),
          searchbase: z.string().min(1).optional().describe('Search-then-bind: base DN under which the user entry is searched with `searchfilter`, then bound to with the password.'),
          searchfilter: z.string().min(1).default('(uid={username})').describe('Filter that finds exactly one user entry; `{username}` is replaced by the escaped user name.'),
          groupattribute: z.string().min(1).optional().describe('Attribute of the user entry that lists its groups, e.g. `memberOf`: group DNs (the first RDN\'s value is the name) or plain names.'),
          groupsearchbase: z.string().min(1).optional().describe('Base DN of a group search; each entry found is a group of the user.'),
          groupsearchfilter: z
            .string()
            .min(1)
            .default('(|(member={dn})(uniqueMember={dn})(memberUid={username}))')
            .describe('Filter of the group search; `{dn}` is the user\'s DN, `{username}` the user name (both escaped).'),
          groupnameattribute: z.string().min(1).default('cn').describe('Attribute of a group entry that is its name (`group:NAME` in access rules).'),
          starttls: z.boolean().default(false).describe('Upgrade the `ldap://` connection with StartTLS before binding.'),
          tls: z
            .strictObject({
              ca: z.string().min(1).optional().describe('PEM file of the certificate authorities trusted for the directory (default: the system\'s).'),
              insecureskipverify: z.boolean().default(false).describe('Accept any server certificate (testing only).'),
            })
            .optional()
            .describe('TLS of `ldaps://` and StartTLS connections.'),
          timeout: duration('5s').describe('Connect and operation timeout; a directory that does not answer in time refuses the login (401).'),
          remember: duration('1m').describe('How long a verified login and its groups are remembered, so Basic on every request binds once; 0 turns it off.'),
        })
        .optional()
        .refine((ldap) => !ldap || ldap.searchbase !== undefined || ldap.binddn?.includes('{username}') === true, 'give binddn with {username} (a DN template) or searchbase (search-then-bind)')
        .describe('Authenticate users against an LDAP directory with HTTP Basic (bind as the user); groups become `group:NAME` subjects.'),
      users: z
        .strictObject({
          enabled: z.boolean().default(true).describe('Accept the users kept in the metadata database (`berth user add`); false keeps them but refuses their logins.'),
          realm: z.string().min(1).default('berth').describe('Realm named in the `WWW-Authenticate: Basic` challenge (`auth.htpasswd.realm` and `auth.ldap.realm` win when set).'),
          remember: duration('5m').describe('How long a verified password is remembered (bound to the stored hash: `berth user passwd` ends it); 0 turns it off. A deleted user is refused at once regardless.'),
        })
        .optional()
        .describe('Authenticate users stored in the metadata database (`berth user add|passwd|del|list|groups`) with HTTP Basic; their groups become `group:NAME` subjects.'),
      tokenservice: z
        .strictObject({
          enabled: z.boolean().default(true).describe('Serve `/auth/token` and require `Authorization: Bearer` tokens from it on /v2.'),
          realm: z.url().optional().describe('Token endpoint URL named in the Bearer challenge; default `<http.host>/auth/token`, or the URL the request came to.'),
          issuer: z.string().min(1).default('berth').describe('`iss` of the tokens issued, checked on tokens presented.'),
          service: z.string().min(1).default('berth').describe('Service name in the challenge and `aud` of the tokens.'),
          expiry: duration('5m').describe('Lifetime of an access token.'),
          refreshexpiry: duration('30d').describe('Lifetime of a refresh token (`offline_token=true`, OAuth2 `access_type=offline`).'),
          key: z
            .string()
            .min(1)
            .optional()
            .describe('PEM private key (EC P-256: ES256, or RSA: RS256) that signs tokens; default: one generated into `<rootdirectory>/token-signing-key.pem` (mode 0600).'),
        })
        .optional()
        .describe('Berth\'s own Docker token service: users log in to it with the authenticators above and get short-lived tokens granting what the access rules allow.'),
      token: z
        .strictObject({
          realm: z.url().describe('Token endpoint of the external issuer, named in the Bearer challenge.'),
          service: z.string().min(1).describe('Service name in the challenge; tokens must carry it as `aud`.'),
          issuer: z.string().min(1).describe('Tokens must carry it as `iss`.'),
          rootcertbundle: z
            .string()
            .min(1)
            .optional()
            .describe('PEM certificates: a token is accepted when its `kid` is the libtrust fingerprint of one of their keys, or its `x5c` chain leads to one of them.'),
          jwks: z.string().min(1).optional().describe('JSON Web Key Set file, or an `https://` URL fetched and cached; keys are found by `kid`.'),
          signingalgorithms: z.array(z.string()).optional().describe('Accept only these JWS algorithms (each must also fit its key: ES256 for P-256, RS256/384/512 for RSA, …).'),
          autoredirect: z
            .boolean()
            .optional()
            .refine((value) => value !== true, 'autoredirect is not implemented; give realm as the full URL')
            .describe('Accepted for compatibility with distribution; must be false.'),
        })
        .optional()
        .refine((token) => !token || token.rootcertbundle !== undefined || token.jwks !== undefined, 'give rootcertbundle or jwks: the keys that sign the tokens')
        .describe('Verify bearer tokens of an external issuer (GitLab, a distribution token server), as distribution\'s `auth.token` does; exclusive with `htpasswd`, `ldap`, `users` and `tokenservice`.'),
      ratelimit: z
        .strictObject({
          enabled: z.boolean().default(true).describe('Limit failed logins (Basic on /v2 and `/auth/token`); a limited login is answered 429 TOOMANYREQUESTS with `Retry-After`.'),
          account: loginLimit(10).describe('Failed logins per account name.'),
          address: loginLimit(30).describe('Failed logins per client address.'),
          maxentries: z.number().int().positive().default(10_000).describe('Most accounts, and most addresses, remembered; the least recently failed are forgotten first.'),
        })
        .prefault({})
        .describe('Brute-force protection, in memory (per process, reset by a restart).'),
    })
    .optional()
    .describe('Authentication; when unset the registry is open to everyone (no access rules apply).'),
  access: z
    .strictObject({
      rules: z
        .array(accessRuleSchema)
        .optional()
        .describe('Access rules; an identity has the union of the actions of every rule that matches it and the repository. Rules added with `berth access add` (kept in the database) apply too. No rules in either: every authenticated user may pull and push everything, anonymous nothing.'),
      personalnamespace: z.boolean().default(false).describe('Give every user all actions on `<user>/*`.'),
    })
    .prefault({}),
  limits: z
    .strictObject({
      manifestbytes: z.number().int().positive().default(4 * 1024 * 1024).describe('Largest manifest accepted, in bytes.'),
      pagesize: z.number().int().positive().max(100_000).default(1000).describe('Most entries one `_catalog` or tag list page returns.'),
    })
    .prefault({}),
  cache: z
    .strictObject({
      manifestbytes: z.number().int().min(0).default(64 * 1024 * 1024).describe('In-process manifest cache size in bytes; 0 disables it.'),
    })
    .prefault({}),
});

export type BerthConfig = z.output<typeof configSchema>;
