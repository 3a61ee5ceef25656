import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { open } from 'node:fs/promises';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

type SqlValue = null | number | bigint | string | Uint8Array;

/**
 * Adapts Node's built-in `node:sqlite` to the interface Kysely's SqliteDialect expects,
 * so no native addon has to be compiled at install time. Statements are prepared once.
 */
export class NodeSqliteDatabase implements SqliteDatabase {
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, SqliteStatement>();

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  prepare(text: string): SqliteStatement {
    let statement = this.#statements.get(text);
    if (!statement) {
      statement = adaptStatement(this.#db.prepare(text));
      if (this.#statements.size > 500) this.#statements.clear();
      this.#statements.set(text, statement);
    }
    return statement;
  }

  close(): void {
    this.#statements.clear();
    if (this.#db.isOpen) this.#db.close();
  }
}

function adaptStatement(statement: StatementSync): SqliteStatement {
  const reader = statement.columns().length > 0;
  const bind = (parameters: ReadonlyArray<unknown>): SqlValue[] =>
    parameters.map((value) => (typeof value === 'boolean' ? (value ? 1 : 0) : value === undefined ? null : (value as SqlValue)));
  return {
    reader,
    all: (parameters) => statement.all(...bind(parameters)),
    run: (parameters) => {
      const result = statement.run(...bind(parameters));
      return { changes: result.changes, lastInsertRowid: result.lastInsertRowid };
    },
    iterate: (parameters) => statement.iterate(...bind(parameters)) as IterableIterator<unknown>,
  };
}

/**
 * Group commit for SQLite: the database runs with `synchronous=NORMAL` (commits do not
 * block the event loop on fsync) and callers that must be durable before they answer
 * await `sync()`, which fdatasyncs the write-ahead log on the thread pool. Concurrent
 * callers share one sync; a caller arriving during a sync waits for the next one, so
 * every commit made before `sync()` was called is on disk when it resolves.
 */
export class WalSyncer {
  readonly #walPath: string;
  #running: Promise<void> | undefined;
  #queued: Promise<void> | undefined;

  constructor(databasePath: string) {
    this.#walPath = `${databasePath}-wal`;
  }

  sync(): Promise<void> {
    if (!this.#running) {
      this.#running = this.#syncOnce().finally(() => (this.#running = undefined));
      return this.#running;
    }
    if (!this.#queued) {
      const after = this.#running;
      this.#queued = after.then(
        () => {
          this.#queued = undefined;
          return this.sync();
        },
        () => {
          this.#queued = undefined;
          return this.sync();
        },
      );
    }
    return this.#queued;
  }

  async #syncOnce(): Promise<void> {
    let handle;
    try {
      handle = await open(this.#walPath, 'r+');
    } catch (error) {
      // No WAL file means everything is already checkpointed into the main file.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    try {
      await handle.datasync();
    } finally {
      await handle.close();
    }
  }
}

export function openSqlite(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  db.exec(`
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = NORMAL;
    PRAGMA busy_timeout = 10000;
    PRAGMA foreign_keys = ON;
  `);
  return db;
}
