import { writeFile } from 'node:fs/promises';
import { hash } from '@node-rs/bcrypt';

/** An htpasswd line as `htpasswd -B` writes it: `$2y$`, cost 5 (its default; keeps tests fast). */
export async function htpasswdLine(user: string, password: string, cost = 5): Promise<string> {
  return `${user}:${await hash(password, { cost, version: '2y' })}`;
}

/** Writes an htpasswd file with one bcrypt line per user. */
export async function writeHtpasswd(file: string, users: Record<string, string>): Promise<void> {
  const lines = await Promise.all(Object.entries(users).map(([user, password]) => htpasswdLine(user, password)));
  await writeFile(file, `${lines.join('\n')}\n`);
}

/** `Authorization: Basic …` for a user and password. */
export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/**
 * The rules the HTTP access tests run under: alice pushes team/*, admin may do anything,
 * everyone logged in pulls, anonymous pulls public/*.
 */
export const aliceAdminRules = [
  { repositories: ['team/*'], subjects: ['user:alice'], actions: ['pull', 'push'] },
  { repositories: ['**'], subjects: ['authenticated'], actions: ['pull'] },
  { repositories: ['public/*'], subjects: ['anonymous'], actions: ['pull'] },
  { repositories: ['**'], subjects: ['user:admin'], actions: ['*'] },
];
