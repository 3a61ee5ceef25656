import type { Command, Option } from 'commander';
import { CommandError, collect, guarded, isoTime, table, withMetadata } from './command-kit.ts';
import { hashUserPassword, userNameProblem } from '../auth/index.ts';
import type { LoadedConfig } from '../config/index.ts';
import type { UserRecord } from '../metadata/index.ts';

/** `berth user add | passwd | del | list | groups`: users kept in the metadata store (`auth.users`). */

interface StoreOptions {
  config?: string;
  data?: string;
}

type Load = (options: StoreOptions) => LoadedConfig;


const MAX_PASSWORD_BYTES = 72; // bcrypt ignores what follows

export function registerUserCommands(program: Command, load: Load, configOption: () => Option): void {
  const user = program.command('user').description('users stored in the database (auth.users): passwords as bcrypt hashes, and groups');
  const withStore = (command: Command) => command.addOption(configOption()).option('-d, --data <dir>', 'data directory (storage.filesystem.rootdirectory)');

  withStore(
    user
      .command('add')
      .description('add a user; the password is read from stdin (--password-stdin) or prompted for, never from arguments')
      .argument('<name>', 'user name (a-z 0-9 . _ -, up to 64 characters)')
      .option('-g, --group <group>', 'a group of the user (repeatable, or comma-separated)', collect, [])
      .option('--password-stdin', 'read the password from standard input', false),
  ).action(async (name: string, options: StoreOptions & { group: string[]; passwordStdin: boolean }) =>
    guarded(async () => {
      checkName(name);
      const groups = groupsOf(options.group);
      const loaded = load(options);
      warnWithoutUsers(loaded);
      const password = await readPassword(options.passwordStdin);
      const passwordHash = await hashUserPassword(password);
      await withMetadata(loaded, async (store) => {
        const now = Date.now();
        const record: UserRecord = { name, passwordHash, groups, createdAt: now, updatedAt: now, disabled: false };
        if (!(await store.createUser(record))) throw new CommandError(`a user named "${name}" exists already; use \`berth user passwd\` to change its password`);
        process.stdout.write(`added user ${name}${groups.length > 0 ? ` (groups: ${groups.join(', ')})` : ''}\n`);
      });
    }),
  );

  withStore(
    user
      .command('passwd')
      .description('change a user\'s password; a running server refuses the old one from the next request')
      .argument('<name>', 'user name')
      .option('--password-stdin', 'read the password from standard input', false),
  ).action(async (name: string, options: StoreOptions & { passwordStdin: boolean }) =>
    guarded(async () => {
      checkName(name);
      const loaded = load(options);
      await withMetadata(loaded, async (store) => {
        if (!(await store.findUser(name))) throw new CommandError(`no user named "${name}"`, 1);
        const passwordHash = await hashUserPassword(await readPassword(options.passwordStdin));
        if (!(await store.setUserPassword(name, passwordHash, Date.now()))) throw new CommandError(`no user named "${name}"`, 1);
        process.stdout.write(`changed the password of ${name}\n`);
      });
    }),
  );

  withStore(user.command('del').description('delete a user; a running server refuses it from the next request').argument('<name>', 'user name')).action(
    async (name: string, options: StoreOptions) =>
      guarded(async () => {
        checkName(name);
        await withMetadata(load(options), async (store) => {
          if (!(await store.deleteUser(name))) throw new CommandError(`no user named "${name}"`, 1);
          process.stdout.write(`deleted user ${name}\n`);
        });
      }),
  );

  withStore(user.command('list').description('list users and their groups (never their password hashes)').option('--json', 'print the list as JSON', false)).action(
    async (options: StoreOptions & { json: boolean }) =>
      guarded(async () => {
        await withMetadata(load(options), async (store) => {
          const users = (await store.listUsers()).map(describe);
          if (options.json) {
            process.stdout.write(`${JSON.stringify(users, null, 2)}\n`);
            return;
          }
          const header = ['NAME', 'GROUPS', 'STATUS', 'CREATED', 'UPDATED'];
          const rows = users.map((u) => [u.name, u.groups.join(',') || '-', u.disabled ? 'disabled' : 'active', u.createdAt, u.updatedAt]);
          process.stdout.write(table([header, ...rows]));
        });
      }),
  );

  withStore(
    user
      .command('groups')
      .description('show or change a user\'s groups (--set replaces them, --add and --remove edit them)')
      .argument('<name>', 'user name')
      .option('--set <groups>', 'the complete list of groups, comma-separated ("" for none)')
      .option('--add <group>', 'add a group (repeatable, or comma-separated)', collect, [])
      .option('--remove <group>', 'remove a group (repeatable, or comma-separated)', collect, []),
  ).action(async (name: string, options: StoreOptions & { set?: string; add: string[]; remove: string[] }) =>
    guarded(async () => {
      checkName(name);
      if (options.set !== undefined && (options.add.length > 0 || options.remove.length > 0)) throw new CommandError('give --set, or --add and --remove, not both');
      const set = options.set === undefined ? undefined : groupsOf([options.set]);
      const add = groupsOf(options.add);
      const remove = groupsOf(options.remove);
      await withMetadata(load(options), async (store) => {
        const existing = await store.findUser(name);
        if (!existing) throw new CommandError(`no user named "${name}"`, 1);
        let groups = existing.groups;
        if (set !== undefined || add.length > 0 || remove.length > 0) {
          groups = [...new Set([...(set ?? existing.groups), ...add])].filter((g) => !remove.includes(g)).sort();
          if (!(await store.setUserGroups(name, groups, Date.now()))) throw new CommandError(`no user named "${name}"`, 1);
        }
        process.stdout.write(`${name}: ${groups.length > 0 ? groups.join(', ') : '(no groups)'}\n`);
      });
    }),
  );
}


function checkName(name: string): void {
  const problem = userNameProblem(name);
  if (problem) throw new CommandError(problem);
}

/** Group names from repeated and comma-separated options, checked, without duplicates, sorted. */
function groupsOf(values: string[]): string[] {
  const groups = values.flatMap((value) => value.split(',')).map((g) => g.trim()).filter((g) => g !== '');
  for (const group of groups) {
    const problem = userNameProblem(group, 'group name');
    if (problem) throw new CommandError(problem);
  }
  return [...new Set(groups)].sort();
}



function checkPassword(password: string): string {
  if (password === '') throw new CommandError('the password is empty');
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) throw new CommandError(`the password is longer than ${MAX_PASSWORD_BYTES} bytes (bcrypt would ignore the rest)`);
  return password;
}

/** The password: all of stdin (one trailing newline dropped) or, on a terminal, prompted for twice. */
async function readPassword(fromStdin: boolean): Promise<string> {
  if (fromStdin) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return checkPassword(Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, ''));
  }
  if (!process.stdin.isTTY) throw new CommandError('give --password-stdin to read the password from standard input (it is never taken from arguments)');
  const password = checkPassword(await prompt('Password: '));
  if ((await prompt('Repeat password: ')) !== password) throw new CommandError('the passwords do not match');
  return password;
}

/** Reads one line from the terminal without echoing it. */
function prompt(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const input = process.stdin;
    process.stderr.write(question);
    input.setRawMode(true);
    input.resume();
    let text = '';
    const done = (error?: Error) => {
      input.setRawMode(false);
      input.pause();
      input.off('data', onData);
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(text);
    };
    const onData = (data: Buffer) => {
      for (const char of data.toString('utf8')) {
        if (char === '\r' || char === '\n') return done();
        if (char === '\u0003' || char === '\u0004') return done(new CommandError('cancelled', 1));
        if (char === '\u007f' || char === '\b') text = text.slice(0, -1);
        else text += char;
      }
    };
    input.on('data', onData);
  });
}

function warnWithoutUsers(loaded: LoadedConfig): void {
  if (loaded.config.auth?.users?.enabled) return;
  process.stderr.write(`warning: auth.users is not enabled (in ${loaded.source}): users in the database cannot log in until it is\n`);
}


function describe(user: UserRecord) {
  return { name: user.name, groups: user.groups, disabled: user.disabled, createdAt: isoTime(user.createdAt), updatedAt: isoTime(user.updatedAt) };
}

