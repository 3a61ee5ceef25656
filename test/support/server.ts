import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { serve, type RunningServer } from '../../src/app/index.ts';
import { configSchema, type LoadedConfig } from '../../src/config/index.ts';

export interface TestServer extends RunningServer {
  dataDir: string;
  /** Stops the server and removes its data directory. */
  close(): Promise<void>;
}

export interface TestServerOptions {
  /** Raw configuration, as it would appear in YAML; merged over the test defaults. */
  config?: Record<string, unknown>;
  dataDir?: string;
  /** Receives the server's JSON log lines (default: discarded, or stderr with BERTH_TEST_LOGS). */
  logs?: NodeJS.WritableStream;
}

/** An in-process Berth on 127.0.0.1 and a free port, with data in a fresh temporary folder. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? (await makeTempDir('berth-test-'));
  const raw = deepMerge(
    {
      http: { addr: '127.0.0.1:0', draintimeout: '2s' },
      log: { level: 'warn', accesslog: { disabled: true } },
      storage: { filesystem: { rootdirectory: dataDir }, fsync: false },
    },
    options.config ?? {},
  );
  const loaded: LoadedConfig = { config: configSchema.parse(raw), warnings: [], source: 'test' };
  const silent = new Writable({ write: (_chunk, _encoding, callback) => callback() });
  const server = await serve(loaded, options.logs ?? (process.env.BERTH_TEST_LOGS ? process.stderr : silent));
  return {
    ...server,
    dataDir,
    async close() {
      await server.stop();
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export async function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}

/** Merges raw configuration objects: nested mappings merge, anything else is replaced. */
export function deepMerge(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const result: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const existing = result[key];
    result[key] =
      typeof value === 'object' && value !== null && !Array.isArray(value) && typeof existing === 'object' && existing !== null
        ? deepMerge(existing as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return result;
}
