import { openMetadataStore } from '../app/index.ts';
import { RobotTokenError } from '../auth/index.ts';
import type { LoadedConfig } from '../config/index.ts';
import type { MetadataStore } from '../metadata/index.ts';

/** What the management commands (token, user, access) share. */

/** A failure the user can fix: printed as `berth: …` without a stack; exit 2 for unusable input, 1 for nothing found. */
export class CommandError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 2) {
    super(message);
    this.name = 'CommandError';
    this.exitCode = exitCode;
  }
}

/** Runs a command's action, turning expected failures (CommandError, refused robot scopes) into a message and an exit code. */
export async function guarded(action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (error) {
    if (!(error instanceof CommandError || error instanceof RobotTokenError)) throw error;
    process.stderr.write(`berth: ${error.message}\n`);
    process.exitCode = error.exitCode;
  }
}

/** Commander reducer for an option that may be repeated. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Opens the metadata store of the configuration for one action, and closes it after. */
export async function withMetadata<T>(loaded: LoadedConfig, action: (store: MetadataStore) => Promise<T>): Promise<T> {
  const store = await openMetadataStore(loaded.config);
  try {
    return await action(store);
  } finally {
    await store.close();
  }
}

/** Epoch milliseconds as ISO 8601; null stays null. */
export function isoTime(ms: number): string;
export function isoTime(ms: number | null): string | null;
export function isoTime(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** Rows as aligned text columns; the first row is the header. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ')).join('\n') + '\n';
}
