import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run, type CommandResult, type RunOptions } from './clients.ts';
import { hasCommand, isRoot, requirement } from './services.ts';

/**
 * The docker CLI to drive the private daemon with. Debian's /usr/bin/docker comes from the
 * same docker.io package as /usr/sbin/dockerd, so its API version always matches; a newer
 * CLI earlier on PATH (e.g. /usr/local/bin/docker) would have to negotiate down.
 */
export const dockerCli = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';

/** `skip` option for node:test when a private dockerd cannot be started here. */
export function needsDockerd(): string | false {
  return (
    requirement(isRoot(), 'dockerd needs root') ||
    requirement(hasCommand('dockerd'), 'dockerd is not installed (Debian package docker.io)') ||
    requirement(hasCommand(dockerCli), 'the docker CLI is not installed (Debian package docker.io)')
  );
}

export interface Dockerd {
  /** The daemon's private folder (data, exec root, socket, log, CLI config). */
  dir: string;
  /** DOCKER_HOST value for this daemon: unix://<dir>/docker.sock. */
  host: string;
  /** Environment for the docker CLI: DOCKER_HOST and a private DOCKER_CONFIG. */
  env: NodeJS.ProcessEnv;
  /** Runs the docker CLI against this daemon (asynchronously); on failure rejects with its stderr and the end of the daemon's log (the CommandError as `cause`). */
  docker(args: string[], options?: RunOptions): Promise<CommandResult>;
  /** The end of the daemon's log, for failure messages. */
  logTail(lines?: number): Promise<string>;
  /** SIGTERM, then SIGKILL if it lingers; unmounts and removes `dir`. Safe to call twice. */
  stop(): Promise<void>;
}

export interface DockerdOptions {
  /** How long to wait for `docker info` to answer. */
  startTimeout?: number;
}

/**
 * Starts a private dockerd (vfs storage, no bridge, no iptables, its own containerd) in a
 * fresh folder under /tmp — short, because unix socket paths are limited to ~107 bytes — and
 * returns once `docker info` answers. It never touches the host's default daemon.
 */
export async function startDockerd(options: DockerdOptions = {}): Promise<Dockerd> {
  const dir = await mkdtemp('/tmp/bd-');
  const socket = path.join(dir, 'docker.sock');
  const host = `unix://${socket}`;
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: host, DOCKER_CONFIG: path.join(dir, 'config') };
  delete env.DOCKER_CONTEXT;
  delete env.DOCKER_TLS_VERIFY;
  delete env.DOCKER_CERT_PATH;
  await mkdir(path.join(dir, 'config'));
  // An empty daemon configuration, so that the machine's /etc/docker/daemon.json cannot apply.
  const daemonConfig = path.join(dir, 'daemon.json');
  await writeFile(daemonConfig, '{}\n');
  // dockerd starts its own containerd under the exec root unless a system containerd is
  // listening on /run/containerd/containerd.sock; then private namespaces keep them apart.
  const namespace = `berth-${path.basename(dir).slice(3).toLowerCase()}`;
  const logFile = path.join(dir, 'dockerd.log');
  const log = await open(logFile, 'w');

  let child: ChildProcess;
  try {
    child = spawn(
      'dockerd',
      [
        '--iptables=false',
        '--ip6tables=false',
        '--bridge=none',
        '--storage-driver=vfs',
        '--data-root', path.join(dir, 'data'),
        '--exec-root', path.join(dir, 'exec'),
        '--pidfile', path.join(dir, 'docker.pid'),
        '--host', host,
        '--config-file', daemonConfig,
        '--containerd-namespace', namespace,
        '--containerd-plugins-namespace', `${namespace}-plugins`,
      ],
      // Its own process group, so that a forced stop reaches dockerd and whatever shares its
      // group; the containerd it starts makes a group of its own (see killManagedContainerd).
      { stdio: ['ignore', log.fd, log.fd], detached: true },
    );
  } finally {
    await log.close();
  }
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
    child.once('error', () => {
      exited = true;
      resolve();
    });
  });

  const logTail = async (lines = 30) => {
    const text = await readFile(logFile, 'utf8').catch(() => '');
    return text.split('\n').slice(-lines).join('\n');
  };

  const runDocker = (args: string[], runOptions: RunOptions = {}) =>
    run(dockerCli, args, { env: { ...env, ...runOptions.env }, cwd: runOptions.cwd, timeoutMs: runOptions.timeoutMs ?? 60_000 });
  const docker: Dockerd['docker'] = async (args, runOptions) => {
    try {
      return await runDocker(args, runOptions);
    } catch (error) {
      // What the daemon logged is usually the explanation of a failed command.
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(`${message}\n--- end of the dockerd log ---\n${await logTail(20)}`, { cause: error });
    }
  };

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (!exited && child.pid !== undefined) {
        child.kill('SIGTERM');
        if (!(await within(exit, 20_000))) {
          try {
            process.kill(-child.pid, 'SIGKILL');
          } catch {
            child.kill('SIGKILL');
          }
          await within(exit, 10_000);
          await killManagedContainerd(dir);
        }
      }
      await unmountUnder(dir);
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    })());

  const handle: Dockerd = { dir, host, env, docker, logTail, stop };
  try {
    const deadline = Date.now() + (options.startTimeout ?? 60_000);
    for (;;) {
      if (exited) throw new Error(`dockerd exited during start-up:\n${await logTail()}`);
      try {
        await runDocker(['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 10_000 });
        break;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`dockerd did not answer within the start timeout:\n${await logTail()}`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return handle;
}

async function within(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The containerd that dockerd started runs in a process group of its own; after dockerd had
 * to be killed it may linger. Kills it by its pid file, if the pid still belongs to it.
 */
async function killManagedContainerd(dir: string): Promise<void> {
  const pid = Number((await readFile(path.join(dir, 'exec', 'containerd', 'containerd.pid'), 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0) return;
  const commandLine = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!commandLine.includes(dir)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Unmounts whatever the daemon left mounted under `dir` (deepest first). */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = await readFile('/proc/self/mounts', 'utf8').catch(() => '');
  const points = mounts
    .split('\n')
    .map((line) => line.split(' ')[1])
    .filter((point): point is string => point !== undefined)
    .map((point) => point.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))))
    .filter((point) => point === dir || point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const point of points) {
    await run('umount', ['-l', point], { timeoutMs: 10_000 }).catch(() => undefined);
  }
}
