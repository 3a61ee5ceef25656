import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as toYaml } from 'yaml';
import { deepMerge, makeTempDir } from './server.ts';

/**
 * Berth as a real child process (`bin/berth.js serve --config FILE`, as installed), for tests that
 * kill it, signal it, restart it on the same data directory or measure its memory. The
 * in-process server in server.ts is the default; use this one only when the process itself
 * is under test.
 */

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const berthScript = path.join(repoRoot, 'bin/berth.js');
/** The Node flags on the first line of bin/berth.js (`#!/usr/bin/env -S node FLAGS`). */
export function nodeFlagsOfBerthCommand(): string[] {
  const shebang = readFileSync(berthScript, 'utf8').split('\n', 1)[0]!;
  const match = /^#!\/usr\/bin\/env -S node(?<flags>(?: +\S+)*)$/.exec(shebang);
  if (!match) throw new Error(`unexpected first line in bin/berth.js: ${shebang}`);
  return match.groups!.flags!.trim().split(/ +/).filter(Boolean);
}
/** The `berth` command as it is installed: bin/berth.js with its Node flags. */
const berthCommand = [...nodeFlagsOfBerthCommand(), berthScript];
/** Keep this much of each output stream for diagnostics. */
const outputTail = 256 * 1024;

export interface ChildServerOptions {
  /** Raw configuration (as in YAML), merged over the defaults: 127.0.0.1, a free port, the data dir, info logs. */
  config?: Record<string, unknown>;
  /** Use this data directory instead of a fresh one; it is then not removed by close(). */
  dataDir?: string;
  /** How long to wait for GET /v2/ to answer. */
  startTimeoutMs?: number;
  /** Extra node options before the script (for example --cpu-prof or V8 flags). */
  nodeArgs?: string[];
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ChildServer {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly dataDir: string;
  readonly configFile: string;
  /** Output collected so far (tails), for assertion messages. */
  readonly stdout: string;
  readonly stderr: string;
  /** Undefined while the process runs. */
  readonly exitStatus: ExitStatus | undefined;
  kill(signal?: NodeJS.Signals): void;
  /** Resolves when the process has exited; rejects after timeoutMs. */
  waitForExit(timeoutMs?: number): Promise<ExitStatus>;
  /** Starts a new process on the same data directory and configuration (the old one must have exited). */
  restart(): Promise<ChildServer>;
  /** Kills the process if it still runs and removes the data directory if this fixture created it. */
  close(): Promise<void>;
  /** stdout and stderr tails, formatted for a failure message. */
  diagnostics(): string;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Starts Berth as a child process on 127.0.0.1 and a free port and waits until GET /v2/ answers. */
export async function startChildServer(options: ChildServerOptions = {}): Promise<ChildServer> {
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await makeTempDir('berth-child-'));
  const configFile = path.join(await makeTempDir('berth-child-config-'), 'config.yml');
  let closed = false;
  const cleanup = async () => {
    if (closed) return;
    closed = true;
    await rm(path.dirname(configFile), { recursive: true, force: true });
    if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
  };
  try {
    return await launch({
      dataDir,
      configFile,
      config: options.config ?? {},
      startTimeoutMs: options.startTimeoutMs ?? 60_000,
      nodeArgs: options.nodeArgs ?? [],
      cleanup,
    });
  } catch (error) {
    await cleanup();
    throw error;
  }
}

interface LaunchSettings {
  dataDir: string;
  configFile: string;
  config: Record<string, unknown>;
  startTimeoutMs: number;
  nodeArgs: string[];
  cleanup: () => Promise<void>;
  port?: number;
}

async function launch(settings: LaunchSettings, attempt = 0): Promise<ChildServer> {
  const port = settings.port ?? (await freePort());
  const config = deepMerge(
    {
      http: { addr: `127.0.0.1:${port}` },
      log: { level: 'info' },
      storage: { filesystem: { rootdirectory: settings.dataDir } },
    },
    settings.config,
  );
  await writeFile(settings.configFile, toYaml(config));

  // The child reads its configuration from the file only: BERTH_*/REGISTRY_* variables of the test run would override it.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('BERTH_') && !name.startsWith('REGISTRY_')));
  const child = spawn(process.execPath, [...settings.nodeArgs, ...berthCommand, 'serve', '--config', settings.configFile], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    stdout = (stdout + text).slice(-outputTail);
    if (process.env.BERTH_TEST_LOGS) process.stderr.write(text);
  });
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    stderr = (stderr + text).slice(-outputTail);
    if (process.env.BERTH_TEST_LOGS) process.stderr.write(text);
  });
  let exitStatus: ExitStatus | undefined;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      exitStatus = { code, signal };
      resolve(exitStatus);
    });
  });
  const url = `http://127.0.0.1:${port}`;
  const diagnostics = () => `--- berth stdout (tail) ---\n${stdout.slice(-8000)}\n--- berth stderr (tail) ---\n${stderr.slice(-8000)}`;

  const ready = await waitUntilReady(url, exited, settings.startTimeoutMs);
  if (!ready) {
    // Someone took the port between our probe and the child's listen: try another one.
    if (exitStatus && /EADDRINUSE/.test(stderr + stdout) && attempt < 3) return launch({ ...settings, port: undefined }, attempt + 1);
    if (!exitStatus) {
      child.kill('SIGKILL');
      await exited;
    }
    throw new Error(`berth did not start (exit ${JSON.stringify(exitStatus)})\n${diagnostics()}`);
  }

  const server: ChildServer = {
    url,
    port,
    pid: child.pid!,
    dataDir: settings.dataDir,
    configFile: settings.configFile,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    get exitStatus() {
      return exitStatus;
    },
    kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (!exitStatus) child.kill(signal);
    },
    async waitForExit(timeoutMs = 30_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`berth (pid ${child.pid}) did not exit within ${timeoutMs} ms\n${diagnostics()}`)), timeoutMs);
      });
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    async restart() {
      if (!exitStatus) throw new Error('restart() needs the previous process to have exited; kill it and waitForExit() first');
      // The same port when it is still free (it usually is), so URLs the test holds stay valid.
      return launch({ ...settings, port });
    },
    async close() {
      if (!exitStatus) {
        child.kill('SIGKILL');
        await exited;
      }
      await settings.cleanup();
    },
    diagnostics,
  };
  return server;
}

/** Polls GET /v2/ until it answers 200; false when the process exits first or time runs out. */
async function waitUntilReady(url: string, exited: Promise<ExitStatus>, timeoutMs: number): Promise<boolean> {
  let hasExited = false;
  void exited.then(() => (hasExited = true));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !hasExited) {
    try {
      const response = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      if (response.status === 200) return true;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (typeof address !== 'object' || address === null) throw new Error('could not find a free port');
  return address.port;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `berth ARGS` as a child process (asynchronously: never blocks an in-process server). */
export function runBerth(args: string[], timeoutMs = 120_000): Promise<CliResult> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('BERTH_') && !name.startsWith('REGISTRY_')));
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [...berthCommand, ...args], { cwd: repoRoot, env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(new Error(`berth ${args.join(' ')} failed to run: ${error.message}\n${stderr}`));
        return;
      }
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

/** Resident set size of a running process in bytes (Linux /proc), or undefined once it is gone. */
export async function readRss(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Samples a process's RSS every intervalMs until stop(), which returns the peak and the sample count. */
export function sampleRss(pid: number, intervalMs = 100): { stop(): Promise<{ peak: number; samples: number }> } {
  let peak = 0;
  let samples = 0;
  let active = true;
  const loop = (async () => {
    while (active) {
      const rss = await readRss(pid);
      if (rss !== undefined) {
        samples++;
        peak = Math.max(peak, rss);
      }
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  return {
    async stop() {
      active = false;
      await loop;
      const last = await readRss(pid);
      if (last !== undefined) peak = Math.max(peak, last);
      return { peak, samples };
    },
  };
}

export function hasProcFs(): boolean {
  try {
    readFileSync('/proc/self/status', 'utf8');
    return true;
  } catch {
    return false;
  }
}

/*
 * Deterministic pseudo-random bytes of any length, generated on the fly so a test can push
 * hundreds of MiB without holding them: block i (1 MiB) is the AES-128-CTR keystream for
 * key = sha256(seed), counter = i. Any offset can be regenerated, so an upload can be
 * resumed from wherever the server says it stands.
 */
const blockSize = 1024 * 1024;
const zeros = Buffer.alloc(blockSize);

function pseudoRandomBlock(key: Buffer, index: number): Buffer {
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(Math.floor(index / 2 ** 32), 0);
  iv.writeUInt32BE(index % 2 ** 32, 4);
  return createCipheriv('aes-128-ctr', key, iv).update(zeros);
}

/** The bytes [start, end) of the pseudo-random stream for `seed`, in pieces of at most 1 MiB. */
export function* pseudoRandomBytes(seed: string, start: number, end: number): Generator<Buffer> {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  for (let offset = start; offset < end; ) {
    const index = Math.floor(offset / blockSize);
    const from = offset - index * blockSize;
    const to = Math.min(blockSize, end - index * blockSize);
    yield pseudoRandomBlock(key, index).subarray(from, to);
    offset += to - from;
  }
}

/** sha256 digest (`sha256:…`) of the first `size` pseudo-random bytes for `seed`. */
export function pseudoRandomDigest(seed: string, size: number): string {
  const hash = createHash('sha256');
  for (const piece of pseudoRandomBytes(seed, 0, size)) hash.update(piece);
  return `sha256:${hash.digest('hex')}`;
}

export interface StreamedResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * Sends a request whose body is streamed from `body` with backpressure (node:http, one fresh
 * connection), and collects the (small) response.
 */
export function streamRequest(
  url: string | URL,
  options: { method: string; headers?: Record<string, string | number>; body?: Iterable<Buffer> | AsyncIterable<Buffer> },
): Promise<StreamedResponse> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: options.method, headers: options.headers, agent: false });
    request.once('error', reject);
    request.once('response', (response) => {
      const pieces: Buffer[] = [];
      response.on('data', (piece: Buffer) => pieces.push(piece));
      response.once('error', reject);
      response.once('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(pieces) }));
    });
    (async () => {
      if (options.body) {
        for await (const piece of options.body) {
          if (request.destroyed) return;
          if (!request.write(piece)) {
            await new Promise<void>((resolveDrain) => {
              const done = () => {
                request.off('drain', done);
                request.off('close', done);
                resolveDrain();
              };
              request.on('drain', done);
              request.on('close', done);
            });
          }
        }
      }
      request.end();
    })().catch((error: unknown) => request.destroy(error as Error));
  });
}

/** Streams a GET response through sha256 without keeping it; returns the digest, size and status. */
export function hashGet(url: string | URL): Promise<{ status: number; digest: string; size: number }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent: false }, (response) => {
      const hash = createHash('sha256');
      let size = 0;
      response.on('data', (piece: Buffer) => {
        hash.update(piece);
        size += piece.length;
      });
      response.once('error', reject);
      response.once('end', () => resolve({ status: response.statusCode ?? 0, digest: `sha256:${hash.digest('hex')}`, size }));
    });
    request.once('error', reject);
  });
}

/** Polls `check` every intervalMs until it returns true; rejects with `what` after timeoutMs. */
export async function pollUntil(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000, intervalMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Size of a file in bytes, or -1 when it does not exist. */
export async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return -1;
  }
}

export interface FsckJsonReport {
  blobsChecked: number;
  manifestsChecked: number;
  tagsChecked: number;
  problems: string[];
  notes: string[];
}

/** Runs `berth fsck --json --data DIR [extra]` as a child process and parses its report. */
export async function runFsck(dataDir: string, extra: string[] = []): Promise<CliResult & { report: FsckJsonReport }> {
  const result = await runBerth(['fsck', '--json', '--data', dataDir, ...extra]);
  let report: FsckJsonReport;
  try {
    report = JSON.parse(result.stdout) as FsckJsonReport;
  } catch {
    throw new Error(`berth fsck printed no JSON report (exit ${result.code})\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  }
  return { ...result, report };
}
