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
