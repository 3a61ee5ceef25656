import type { Command, Option } from 'commander';
import { openMetadataStore } from '../app/index.ts';
import { CommandError, collect, guarded, isoTime, table } from './command-kit.ts';
import { formatRobotScope, generateRobotToken, parseRobotScopes, robotTokenNameProblem } from '../auth/index.ts';
import { parseDuration, type LoadedConfig } from '../config/index.ts';
import type { RobotTokenRecord } from '../metadata/index.ts';

/** `berth token create | list | revoke`: CI / robot tokens in the metadata store. */

interface StoreOptions {
  config?: string;
  data?: string;
}

type Load = (options: StoreOptions) => LoadedConfig;

const DEFAULT_EXPIRY = '90d';

export function registerTokenCommands(program: Command, load: Load, configOption: () => Option): void {
  const token = program.command('token').description('CI / robot tokens: secrets that grant exactly their scopes, as a Basic password');

  token
    .command('create')
    .description('create a token and print it (the only time it is shown)')
    .requiredOption('-n, --name <name>', 'name of the token (a-z 0-9 . _ -), unique among tokens not revoked')
    .requiredOption('-s, --scope <scope>', 'repository:NAME:ACTIONS, actions pull, push, delete or * (repeatable)', collect, [])
    .option('-e, --expires <duration>', `lifetime (e.g. 30d, 12h) or "never"`, DEFAULT_EXPIRY)
    .option('--json', 'print the token and its details as JSON', false)
    .addOption(configOption())
    .option('-d, --data <dir>', 'data directory (storage.filesystem.rootdirectory)')
    .action(async (options: StoreOptions & { name: string; scope: string[]; expires: string; json: boolean }) =>
      guarded(async () => {
        const nameProblem = robotTokenNameProblem(options.name);
        if (nameProblem) throw new CommandError(nameProblem);
        if (options.scope.length === 0) throw new CommandError('give at least one --scope repository:NAME:ACTIONS');
        const scopes = parseRobotScopes(options.scope).map(formatRobotScope);
        const now = Date.now();
        const expiresAt = expiryOf(options.expires, now);
        const loaded = load(options);
        warnWithoutAuth(loaded);
        const store = await openMetadataStore(loaded.config);
        try {
          const generated = generateRobotToken();
          const record: RobotTokenRecord = { id: generated.id, name: options.name, secretHash: generated.secretHash, scopes, createdAt: now, expiresAt, lastUsedAt: null, revokedAt: null };
          if (!(await store.createRobotToken(record))) {
            throw new CommandError(`a token named "${options.name}" exists and is not revoked; revoke it first or choose another name`);
          }
          if (options.json) {
            process.stdout.write(`${JSON.stringify({ ...describe(record, now), token: generated.token }, null, 2)}\n`);
          } else {
            process.stdout.write(
              [
                `id:      ${record.id}`,
                `name:    ${record.name}`,
                `scopes:  ${scopes.join(' ')}`,
                `expires: ${isoTime(expiresAt) ?? 'never'}`,
                `token:   ${generated.token}`,
                '',
              ].join('\n'),
            );
            process.stderr.write('The token is shown only this once: store it as a CI secret now. Use it as the password with any user name.\n');
          }
        } finally {
          await store.close();
        }
      }),
    );

  token
    .command('list')
    .description('list tokens (never their secrets), revoked and expired ones included')
    .option('--json', 'print the list as JSON', false)
    .addOption(configOption())
    .option('-d, --data <dir>', 'data directory (storage.filesystem.rootdirectory)')
    .action(async (options: StoreOptions & { json: boolean }) =>
      guarded(async () => {
        const store = await openMetadataStore(load(options).config);
        try {
          const now = Date.now();
          const tokens = (await store.listRobotTokens()).map((record) => describe(record, now));
          if (options.json) {
            process.stdout.write(`${JSON.stringify(tokens, null, 2)}\n`);
            return;
          }
          const header = ['ID', 'NAME', 'STATUS', 'SCOPES', 'CREATED', 'EXPIRES', 'LAST USED', 'REVOKED'];
          const rows = tokens.map((t) => [t.id, t.name, t.status, t.scopes.join(' '), t.createdAt, t.expiresAt ?? 'never', t.lastUsedAt ?? 'never', t.revokedAt ?? '-']);
          process.stdout.write(table([header, ...rows]));
        } finally {
          await store.close();
        }
      }),
    );

  token
    .command('revoke')
    .description('revoke a token by id or name; a running server refuses it from its next request')
    .argument('<token>', 'the token id, or the name of a token that is not revoked')
    .addOption(configOption())
    .option('-d, --data <dir>', 'data directory (storage.filesystem.rootdirectory)')
    .action(async (which: string, options: StoreOptions) =>
      guarded(async () => {
        const store = await openMetadataStore(load(options).config);
        try {
          const tokens = await store.listRobotTokens();
          const target = tokens.find((t) => t.id === which) ?? tokens.find((t) => t.name === which && t.revokedAt === null);
          if (!target) {
            const revoked = tokens.some((t) => t.name === which);
            throw new CommandError(revoked ? `every token named "${which}" is revoked already` : `no token with the id or name "${which}"`, 1);
          }
          if (!(await store.revokeRobotToken(target.id, Date.now()))) {
            process.stdout.write(`token ${target.id} (${target.name}) was revoked already\n`);
            return;
          }
          process.stdout.write(`revoked token ${target.id} (${target.name})\n`);
        } finally {
          await store.close();
        }
      }),
    );
}



function expiryOf(text: string, now: number): number | null {
  if (text === 'never') return null;
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) throw new CommandError(`--expires "${text.slice(0, 80)}" is not a positive duration (examples: 12h, 30d, 1h30m) or "never"`);
  return now + ms;
}

function warnWithoutAuth(loaded: LoadedConfig): void {
  if (loaded.config.auth?.htpasswd || loaded.config.auth?.ldap || loaded.config.auth?.users?.enabled) return;
  process.stderr.write(`warning: no authentication is configured (auth.htpasswd, in ${loaded.source}): the registry is open, and tokens are only checked once it is\n`);
}


function describe(record: RobotTokenRecord, now: number) {
  const status = record.revokedAt !== null ? 'revoked' : record.expiresAt !== null && record.expiresAt <= now ? 'expired' : 'active';
  return {
    id: record.id,
    name: record.name,
    status,
    scopes: record.scopes,
    createdAt: isoTime(record.createdAt)!,
    expiresAt: isoTime(record.expiresAt),
    lastUsedAt: isoTime(record.lastUsedAt),
    revokedAt: isoTime(record.revokedAt),
  };
}

