import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import type http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { writeHtpasswd } from '../test/support/htpasswd.ts';
import { nodeFlagsOfBerthCommand } from '../test/support/process.ts';
import { createAgent, request } from './http-client.ts';

export type RegistryKind = 'berth' | 'distribution';
export const registryKinds: readonly RegistryKind[] = ['berth', 'distribution'];

export const projectRoot = path.resolve(import.meta.dirname, '..');
export const distributionBinary = '/usr/bin/docker-registry';

/** A registry child process listening on 127.0.0.1, with its own data directory. */
export interface RegistryProcess {
  kind: RegistryKind;
  base: URL;
  pid: number;
  dataDir: string;
  /** Keep-alive connections to this registry, up to 64 at a time. */
  agent: http.Agent;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Run Berth with --cpu-prof, writing the profile here when it exits. */
  berthCpuProfileDir?: string | undefined;
  /**
   * Berth only: authentication with one htpasswd user and the built-in token service, so
   * every /v2 request needs a bearer token; its data lives in `workDir/berth-bearer`.
   */
  tokenAuth?: { user: string; password: string } | undefined;
}

const live = new Set<RegistryProcess>();

/** Starts one registry in `workDir/<kind>` and waits until /v2/ answers 200. */
export async function startRegistry(kind: RegistryKind, workDir: string, options: StartOptions = {}): Promise<RegistryProcess> {
  const name = options.tokenAuth ? `${kind}-bearer` : kind;
  const dataDir = path.join(workDir, name);
  await mkdir(dataDir, { recursive: true });
  const port = await freePort();
  const configFile = path.join(workDir, `${name}.yml`);
  let child: ChildProcess;
  if (kind === 'berth') {
    let auth: string[] = [];
    if (options.tokenAuth) {
      const htpasswd = path.join(workDir, `${name}.htpasswd`);
      await writeHtpasswd(htpasswd, { [options.tokenAuth.user]: options.tokenAuth.password });
      auth = tokenAuthConfig(htpasswd);
    }
    await writeFile(configFile, berthConfig(port, dataDir) + auth.join('\n'));
    // The berth command as installed: bin/berth.js with the Node flags on its first line.
    const profile = options.berthCpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', options.berthCpuProfileDir] : [];
    const args = [...nodeFlags(), ...profile, 'bin/berth.js', 'serve', '--config', configFile];
    child = spawn(process.execPath, args, { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  } else {
    await writeFile(configFile, distributionConfig(port, dataDir));
    child = spawn(distributionBinary, ['serve', configFile], { cwd: workDir, stdio: ['ignore', 'pipe', 'pipe'] });
  }
  const output = captureOutput(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  if (child.pid === undefined) throw new Error(`${kind} did not start: ${output()}`);
  const agent = createAgent(64);
  const registry: RegistryProcess = {
    kind,
    base: new URL(`http://127.0.0.1:${port}`),
    pid: child.pid,
    dataDir,
    agent,
    async stop() {
      live.delete(registry);
      agent.destroy();
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const stopped = await Promise.race([exited.then(() => true), delay(10_000, false)]);
        if (!stopped) {
          child.kill('SIGKILL');
          await exited;
        }
      }
    },
  };
  live.add(registry);
  try {
    // With tokens, an anonymous GET /v2/ is answered 401 once Berth is up.
    await waitUntilReady(registry, exited, output, options.tokenAuth ? 401 : 200);
  } catch (error) {
    await registry.stop();
    throw error;
  }
  return registry;
}

/** Stops every registry still running (normal end, error or signal). */
export async function stopAllRegistries(): Promise<void> {
  await Promise.allSettled([...live].map((registry) => registry.stop()));
}

function berthConfig(port: number, dataDir: string): string {
  return [
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  draintimeout: 2s',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(dataDir)}`,
    '  delete:',
    '    enabled: true',
    '',
  ].join('\n');
}

/** htpasswd users and the built-in token service (tokens valid for an hour: longer than any run). */
function tokenAuthConfig(htpasswdFile: string): string[] {
  return [
    'auth:',
    '  htpasswd:',
    `    path: ${JSON.stringify(htpasswdFile)}`,
    '  tokenservice:',
    '    service: berth-bench',
    '    expiry: 1h',
    '',
  ];
}

/** distribution as Debian ships it (in-memory blob descriptor cache), minus auth and health checks. */
function distributionConfig(port: number, dataDir: string): string {
  return [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    'storage:',
    '  cache:',
    '    blobdescriptor: inmemory',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(dataDir)}`,
    '  delete:',
    '    enabled: true',
    '',
  ].join('\n');
}

async function waitUntilReady(registry: RegistryProcess, exited: Promise<number | null>, output: () => string, readyStatus: number): Promise<void> {
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (exitCode !== undefined) throw new Error(`${registry.kind} exited with code ${exitCode} before it was ready:\n${output()}`);
    try {
      const response = await request(new URL('/v2/', registry.base), { agent: registry.agent });
      if (response.status === readyStatus) return;
    } catch {
      // not listening yet
    }
    await delay(50);
  }
  throw new Error(`${registry.kind} did not answer GET /v2/ with ${readyStatus} within 30 s:\n${output()}`);
}

/** Keeps the last 8 KiB a child wrote (it logs at warn level, so errors only). */
function captureOutput(child: ChildProcess): () => string {
  let text = '';
  const keep = (chunk: Buffer) => {
    text = (text + chunk.toString('utf8')).slice(-8192);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => text;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Samples a process's resident set size (VmRSS) every `intervalMs` and keeps the peak. */
export function sampleRss(pid: number, intervalMs = 50): { initial: number; stop(): number } {
  let peak = 0;
  const sample = () => {
    const rss = currentRss(pid);
    peak = Math.max(peak, rss);
    return rss;
  };
  const initial = sample();
  const timer = setInterval(sample, intervalMs);
  return {
    initial,
    stop() {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

/** VmRSS in bytes, 0 once the process is gone. */
export function currentRss(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The Node flags the installed berth command runs with. */
export function nodeFlags(): string[] {
  return nodeFlagsOfBerthCommand();
}

function newestModification(directory: string): number {
  let newest = 0;
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const full = path.join(directory, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestModification(full) : statSync(full).mtimeMs);
  }
  return newest;
}

/** Which code bin/berth.js will run: the compiled dist/ when it is at least as new as src/ (its own rule). */
export function berthCode(): string {
  try {
    if (statSync(path.join(projectRoot, 'dist/.built')).mtimeMs >= newestModification(path.join(projectRoot, 'src'))) return 'compiled dist/';
  } catch {
    // no build
  }
  return 'TypeScript sources (dist/ missing or older than src/; `npm run build` first)';
}
