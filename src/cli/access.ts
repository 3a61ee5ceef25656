import type { Command, Option } from 'commander';
import { CommandError, collect, guarded, table, withMetadata } from './command-kit.ts';
import { validateAccessRule } from '../auth/index.ts';
import type { LoadedConfig } from '../config/index.ts';
import type { AccessRuleRecord } from '../metadata/index.ts';

/**
 * `berth access add | list | remove`: access rules kept in the metadata store. They apply
 * alongside `access.rules` of the config file (the union of both), and a running server
 * picks a change up within a few seconds, without a restart.
 */

interface StoreOptions {
  config?: string;
  data?: string;
}

type Load = (options: StoreOptions) => LoadedConfig;


interface AddOptions extends StoreOptions {
  repositories: string[];
  subjects: string[];
  actions: string[];
  from: string[];
  note?: string;
}

export function registerAccessCommands(program: Command, load: Load, configOption: () => Option): void {
  const access = program.command('access').description('access rules stored in the database, applying alongside access.rules of the config file');
  const withStore = (command: Command) => command.addOption(configOption()).option('-d, --data <dir>', 'data directory (storage.filesystem.rootdirectory)');

  withStore(
    access
      .command('add')
      .description('add a rule; a running server applies it within a few seconds')
      .requiredOption('--repositories <patterns>', 'repository patterns, comma-separated or repeated (* within a component, ** any components)', collect, [])
      .requiredOption('--subjects <subjects>', 'user:NAME, group:NAME, anonymous, authenticated; comma-separated or repeated', collect, [])
      .requiredOption('--actions <actions>', 'pull, push, delete, *; comma-separated or repeated', collect, [])
      .option('--from <cidr>', 'limit the rule to client networks (CIDRs), comma-separated or repeated', collect, [])
      .option('--note <text>', 'a note kept with the rule (who asked for it, why)'),
  ).action(async (options: AddOptions) =>
    guarded(async () => {
      const candidate: Record<string, unknown> = { repositories: listOf(options.repositories), subjects: listOf(options.subjects), actions: listOf(options.actions) };
      const from = listOf(options.from);
      if (from.length > 0) candidate.from = from;
      const checked = validateAccessRule(candidate);
      if ('problems' in checked) throw new CommandError(`invalid rule: ${checked.problems.join('; ')}`);
      const loaded = load(options);
      warnWithoutAuth(loaded);
      await withMetadata(loaded, async (store) => {
        const { rule } = checked;
        const stored = await store.createAccessRule({ repositories: [...rule.repositories], subjects: [...rule.subjects], actions: [...rule.actions], from: rule.from ? [...rule.from] : undefined, note: options.note, createdAt: Date.now() });
        process.stdout.write(`added access rule ${stored.id}: ${summary(stored)}\n`);
      });
    }),
  );

  withStore(access.command('list').description('list the rules stored in the database (not those of the config file)').option('--json', 'print the list as JSON', false)).action(
    async (options: StoreOptions & { json: boolean }) =>
      guarded(async () => {
        await withMetadata(load(options), async (store) => {
          const rules = (await store.listAccessRules()).map(describe);
          if (options.json) {
            process.stdout.write(`${JSON.stringify(rules, null, 2)}\n`);
            return;
          }
          const header = ['ID', 'REPOSITORIES', 'SUBJECTS', 'ACTIONS', 'FROM', 'CREATED', 'NOTE'];
          const rows = rules.map((r) => [String(r.id), text(r.repositories), text(r.subjects), text(r.actions), r.from === undefined ? '-' : text(r.from), r.createdAt, r.note ?? '']);
          process.stdout.write(table([header, ...rows]));
        });
      }),
  );

  withStore(access.command('remove').description('remove a rule by its id; a running server stops applying it within a few seconds').argument('<id>', 'the rule\'s id (berth access list)')).action(
    async (id: string, options: StoreOptions) =>
      guarded(async () => {
        if (!/^[1-9][0-9]{0,15}$/.test(id)) throw new CommandError(`id: "${id.slice(0, 40)}" is not a rule id (a positive whole number)`);
        await withMetadata(load(options), async (store) => {
          if (!(await store.deleteAccessRule(Number(id)))) throw new CommandError(`no access rule with id ${id}`, 1);
          process.stdout.write(`removed access rule ${id}\n`);
        });
      }),
  );
}


/** Values from repeated and comma-separated options, trimmed, without empty ones or duplicates. */
function listOf(values: string[]): string[] {
  return [...new Set(values.flatMap((value) => value.split(',')).map((v) => v.trim()).filter((v) => v !== ''))];
}



function warnWithoutAuth(loaded: LoadedConfig): void {
  const auth = loaded.config.auth;
  if (auth?.htpasswd || auth?.ldap || auth?.users?.enabled || auth?.token) return;
  process.stderr.write(`warning: no authentication is configured (in ${loaded.source}): the registry is open and no access rules apply until it is\n`);
}

function text(value: unknown): string {
  return Array.isArray(value) ? value.join(',') : JSON.stringify(value);
}

function summary(rule: AccessRuleRecord): string {
  return `${text(rule.subjects)} may ${text(rule.actions)} on ${text(rule.repositories)}${rule.from === undefined ? '' : ` from ${text(rule.from)}`}`;
}

function describe(rule: AccessRuleRecord) {
  return { id: rule.id, repositories: rule.repositories, subjects: rule.subjects, actions: rule.actions, from: rule.from, note: rule.note, createdAt: new Date(rule.createdAt).toISOString() };
}

