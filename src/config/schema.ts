import { z } from 'zod';
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

const accessRule = z.strictObject({
  repositories: z.array(repositoryPattern).min(1).describe('Repository patterns: `*` matches within one path component, `**` any number of components.'),
  subjects: z
    .array(z.string().regex(/^(?:anonymous|authenticated|(?:user|group):.+)$/, 'must be user:NAME, group:NAME, anonymous or authenticated'))
    .min(1)
    .describe('Who the rule is for: `user:NAME`, `group:NAME`, `anonymous`, `authenticated`.'),
  actions: z.array(z.enum(['pull', 'push', 'delete', '*'])).min(1).describe('What they may do: `pull`, `push`, `delete`, `*` (all).'),
});

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
        .describe('Verify bearer tokens of an external issuer (GitLab, a distribution token server), as distribution\'s `auth.token` does; exclusive with `htpasswd` and `tokenservice`.'),
    })
    .optional()
    .describe('Authentication; when unset the registry is open to everyone (no access rules apply).'),
  access: z
    .strictObject({
      rules: z
        .array(accessRule)
        .optional()
        .describe('Access rules; an identity has the union of the actions of every rule that matches it and the repository. Unset: every authenticated user may pull and push everything, anonymous nothing.'),
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
