import { execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import assert from 'node:assert/strict';
import { sha256 } from './oci.ts';

/**
 * Helpers for tests that drive real clients (skopeo, umoci, podman, …) against an in-process
 * Berth. Clients always run asynchronously: a synchronous child would block the event loop
 * that serves its requests.
 */

const execFileAsync = promisify(execFile);
const running = new Set<ChildProcess>();

export interface CommandResult {
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kills the command (SIGKILL) after this long; default 60 s. */
  timeoutMs?: number;
  /** Written to the command's standard input, which is then closed. */
  input?: string;
}

/** An error from `run`, with what the command printed. */
export class CommandError extends Error {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number | string | undefined;
  constructor(message: string, result: CommandResult, exitCode: number | string | undefined) {
    super(message);
    this.stdout = result.stdout;
    this.stderr = result.stderr;
    this.exitCode = exitCode;
  }
}

/** Runs `command` asynchronously and collects its output; rejects with a CommandError on failure or timeout. */
export async function run(command: string, args: string[], options: RunOptions = {}): Promise<CommandResult> {
  const promise = execFileAsync(command, args, {
    env: options.env,
    cwd: options.cwd,
    timeout: options.timeoutMs ?? 60_000,
    killSignal: 'SIGKILL',
    maxBuffer: 64 * 1024 * 1024,
    encoding: 'utf8',
  });
  running.add(promise.child);
  if (options.input !== undefined) promise.child.stdin?.end(options.input);
  try {
    const { stdout, stderr } = await promise;
    return { stdout, stderr };
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string; code?: number | string; killed?: boolean; signal?: string };
    const result = { stdout: failure.stdout ?? '', stderr: failure.stderr ?? '' };
    const why = failure.killed ? `was killed (${failure.signal ?? 'timeout'})` : `exited with ${String(failure.code)}`;
    throw new CommandError(`${command} ${args.join(' ')} ${why}\n${result.stderr.slice(-4000)}`, result, failure.code);
  } finally {
    running.delete(promise.child);
  }
}

/** Kills every command started by `run` that is still running (for after() hooks). */
export function killRunningCommands(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

/** Runs `run` and expects it to fail; returns the error. */
export async function runExpectingFailure(command: string, args: string[], options: RunOptions = {}): Promise<CommandError> {
  try {
    await run(command, args, options);
  } catch (error) {
    if (error instanceof CommandError) return error;
    throw error;
  }
  throw new Error(`${command} ${args.join(' ')} succeeded but was expected to fail`);
}

// --- containers/image client configuration ------------------------------------------------

export interface ContainersClientEnv {
  /** Environment for skopeo/podman/buildah: HOME, XDG dirs, registries.conf, containers.conf and auth file inside `dir`. */
  env: NodeJS.ProcessEnv;
  /** Path of a policy.json that accepts anything. */
  policyPath: string;
  /** Path of an (empty) registries.d directory. */
  registriesDir: string;
}

/**
 * A private configuration for containers/image clients under `dir`, so the machine's
 * registries.conf, policy.json and credentials cannot interfere.
 */
export async function containersClientEnv(dir: string): Promise<ContainersClientEnv> {
  const home = path.join(dir, 'home');
  const runtime = path.join(dir, 'run');
  const registriesDir = path.join(dir, 'registries.d');
  for (const folder of [home, runtime, registriesDir]) await mkdir(folder, { recursive: true, mode: 0o700 });
  const registriesConf = path.join(dir, 'registries.conf');
  await writeFile(registriesConf, 'unqualified-search-registries = []\n');
  const policyPath = path.join(dir, 'policy.json');
  await writeFile(policyPath, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  const containersConf = path.join(dir, 'containers.conf');
  await writeFile(containersConf, '');
  const authFile = path.join(dir, 'auth.json');
  await writeFile(authFile, JSON.stringify({ auths: {} }));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    XDG_RUNTIME_DIR: runtime,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    XDG_DATA_HOME: path.join(home, '.local', 'share'),
    TMPDIR: process.env.TMPDIR ?? '/tmp',
    CONTAINERS_REGISTRIES_CONF: registriesConf,
    CONTAINERS_CONF: containersConf,
    REGISTRY_AUTH_FILE: authFile,
  };
  return { env, policyPath, registriesDir };
}

// --- OCI image layouts ----------------------------------------------------------------------

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
/** What a client sends in `Accept` to get any kind of manifest back. */
export const MANIFEST_ACCEPT = [DOCKER_MANIFEST, OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST_LIST].join(', ');

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string; variant?: string };
}

/** Reads a blob of an OCI layout by digest. */
export async function readLayoutBlob(layoutDir: string, digest: string): Promise<Buffer> {
  const [algorithm, hex] = digest.split(':');
  return readFile(path.join(layoutDir, 'blobs', algorithm!, hex!));
}

/** The descriptor that index.json of an OCI layout names `tag` (org.opencontainers.image.ref.name). */
export async function layoutDescriptor(layoutDir: string, tag: string): Promise<Descriptor> {
  const index = JSON.parse(await readFile(path.join(layoutDir, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  const found = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!found) throw new Error(`no manifest tagged ${tag} in ${layoutDir}/index.json`);
  return found;
}

export interface LayoutImage {
  manifestDigest: string;
  manifest: Buffer;
  configDigest: string;
  layerDigests: string[];
}

/** The image manifest tagged `tag` in an OCI layout, with its config and layer digests. */
export async function readLayoutImage(layoutDir: string, tag: string): Promise<LayoutImage> {
  const descriptor = await layoutDescriptor(layoutDir, tag);
  const manifest = await readLayoutBlob(layoutDir, descriptor.digest);
  const parsed = JSON.parse(manifest.toString('utf8')) as { config: Descriptor; layers: Descriptor[] };
  return {
    manifestDigest: descriptor.digest,
    manifest,
    configDigest: parsed.config.digest,
    layerDigests: parsed.layers.map((l) => l.digest),
  };
}

/** Writes `bytes` into the layout's blob store and returns its descriptor fields. */
export async function writeLayoutBlob(layoutDir: string, bytes: Uint8Array): Promise<{ digest: string; size: number }> {
  const digest = sha256(bytes);
  const folder = path.join(layoutDir, 'blobs', 'sha256');
  await mkdir(folder, { recursive: true });
  await writeFile(path.join(folder, digest.slice('sha256:'.length)), bytes);
  return { digest, size: bytes.length };
}

/** Writes oci-layout and index.json; blobs must already be in place (writeLayoutBlob). */
export async function writeLayoutIndex(layoutDir: string, manifests: Descriptor[]): Promise<void> {
  await mkdir(layoutDir, { recursive: true });
  await writeFile(path.join(layoutDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(path.join(layoutDir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
}

/** A tar archive (via the tar command) of a few small files with random content (plus one of `extraFileBytes`), for a layer. */
export async function makeLayerTar(workDir: string, name: string, fileCount = 3, extraFileBytes = 0): Promise<string> {
  const root = path.join(workDir, `${name}-root`);
  await mkdir(path.join(root, name), { recursive: true });
  for (let i = 0; i < fileCount; i++) {
    await writeFile(path.join(root, name, `file-${i}.bin`), randomBytes(1024 + Math.floor(Math.random() * 8192)));
  }
  if (extraFileBytes > 0) await writeFile(path.join(root, name, 'large.bin'), randomBytes(extraFileBytes));
  const tarPath = path.join(workDir, `${name}.tar`);
  await run('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '-C', root, '-cf', tarPath, name]);
  return tarPath;
}

export interface UmociImageOptions {
  /** Number of layers, each with distinct random content. */
  layers: number;
  /** Scratch space for layer archives. */
  workDir: string;
  /** Adds a file of this many random (incompressible) bytes to the first layer. */
  largeFileBytes?: number;
  /** Image configuration applied with `umoci config`. */
  env?: string[];
  labels?: Record<string, string>;
  entrypoint?: string[];
  author?: string;
}

/**
 * Builds an image tagged `tag` in the OCI layout at `layoutDir` with umoci (creating the
 * layout if needed): one gzip layer per random tar archive, then the given configuration.
 */
export async function buildUmociImage(layoutDir: string, tag: string, options: UmociImageOptions): Promise<LayoutImage> {
  const image = `${layoutDir}:${tag}`;
  const layoutExists = await readFile(path.join(layoutDir, 'oci-layout')).then(() => true, () => false);
  if (!layoutExists) await run('umoci', ['init', '--layout', layoutDir]);
  await run('umoci', ['new', '--image', image]);
  for (let i = 0; i < options.layers; i++) {
    const tarPath = await makeLayerTar(options.workDir, `${tag}-layer-${i}-${randomBytes(4).toString('hex')}`, 3, i === 0 ? (options.largeFileBytes ?? 0) : 0);
    await run('umoci', ['raw', 'add-layer', '--image', image, '--history.created_by', `layer ${i}`, tarPath]);
  }
  const configArgs: string[] = [];
  for (const value of options.env ?? []) configArgs.push('--config.env', value);
  for (const [key, value] of Object.entries(options.labels ?? {})) configArgs.push('--config.label', `${key}=${value}`);
  for (const value of options.entrypoint ?? []) configArgs.push('--config.entrypoint', value);
  if (options.author) configArgs.push('--author', options.author);
  if (configArgs.length > 0) await run('umoci', ['config', '--image', image, ...configArgs]);
  return readLayoutImage(layoutDir, tag);
}

export interface PlatformImage {
  platform: { architecture: string; os: string; variant?: string };
  manifestDigest: string;
  configDigest: string;
  layerDigests: string[];
}

export interface IndexLayout {
  indexDigest: string;
  index: Buffer;
  images: PlatformImage[];
}

/**
 * Writes an OCI layout (directly, no tool) whose index.json tags `tag` as an image index over
 * one image per platform; each image has `layersPerImage` gzip tar layers of random content.
 */
export async function writeMultiPlatformLayout(
  layoutDir: string,
  tag: string,
  options: { workDir: string; platforms: Array<{ architecture: string; os: string; variant?: string }>; layersPerImage?: number },
): Promise<IndexLayout> {
  const images: PlatformImage[] = [];
  const children: Descriptor[] = [];
  for (const platform of options.platforms) {
    const layers: Descriptor[] = [];
    const diffIds: string[] = [];
    for (let i = 0; i < (options.layersPerImage ?? 2); i++) {
      const tarPath = await makeLayerTar(options.workDir, `${platform.architecture}-${i}-${randomBytes(4).toString('hex')}`, 2);
      const tar = await readFile(tarPath);
      diffIds.push(sha256(tar));
      layers.push({ mediaType: OCI_LAYER_GZIP, ...(await writeLayoutBlob(layoutDir, gzipSync(tar))) });
    }
    const config = Buffer.from(
      JSON.stringify({
        created: new Date().toISOString(),
        architecture: platform.architecture,
        os: platform.os,
        ...(platform.variant ? { variant: platform.variant } : {}),
        config: { Env: [`PLATFORM=${platform.os}/${platform.architecture}`] },
        rootfs: { type: 'layers', diff_ids: diffIds },
      }),
    );
    const configDescriptor = { mediaType: OCI_CONFIG, ...(await writeLayoutBlob(layoutDir, config)) };
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: configDescriptor, layers }));
    const written = await writeLayoutBlob(layoutDir, manifest);
    children.push({ mediaType: OCI_MANIFEST, ...written, platform });
    images.push({ platform, manifestDigest: written.digest, configDigest: configDescriptor.digest, layerDigests: layers.map((l) => l.digest) });
  }
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: children }));
  const indexBlob = await writeLayoutBlob(layoutDir, index);
  await writeLayoutIndex(layoutDir, [{ mediaType: OCI_INDEX, ...indexBlob, annotations: { 'org.opencontainers.image.ref.name': tag } }]);
  return { indexDigest: indexBlob.digest, index, images };
}

// --- observing a server -------------------------------------------------------------------

export interface RecordedRequest {
  method: string;
  url: string;
  status: number;
}

/**
 * Records every request the server answers (method, URL, status) from the Node HTTP server's
 * own events, without changing how it answers. Call `stop()` to detach.
 */
export function recordRequests(server: { http: { server: import('node:http').Server } }): { requests: RecordedRequest[]; stop(): void } {
  const requests: RecordedRequest[] = [];
  const listener = (request: import('node:http').IncomingMessage, response: import('node:http').ServerResponse) => {
    response.once('finish', () => requests.push({ method: request.method ?? '', url: request.url ?? '', status: response.statusCode }));
  };
  server.http.server.on('request', listener);
  return { requests, stop: () => server.http.server.off('request', listener) };
}

// --- Reading back what a client pushed --------------------------------------------------------

export interface ServedManifest {
  /** `Content-Type` as served. */
  mediaType: string;
  digest: string;
  bytes: Buffer;
  body: { mediaType?: string; config?: Descriptor; layers?: Descriptor[]; manifests?: Descriptor[] };
}

/** GETs a manifest from Berth, asserting it is served byte for byte under its `Docker-Content-Digest`. */
export async function fetchServedManifest(baseUrl: string, repository: string, reference: string): Promise<ServedManifest> {
  const response = await fetch(`${baseUrl}/v2/${repository}/manifests/${reference}`, { headers: { accept: MANIFEST_ACCEPT } });
  const bytes = Buffer.from(await response.arrayBuffer());
  assert.equal(response.status, 200, `manifest ${repository}:${reference}`);
  const digest = response.headers.get('docker-content-digest')!;
  assert.equal(sha256(bytes), digest, 'the manifest is served byte for byte under its digest');
  return { mediaType: response.headers.get('content-type')!, digest, bytes, body: JSON.parse(bytes.toString('utf8')) };
}

/** GETs a blob from Berth, asserting its bytes match its digest (and size, when given). */
export async function fetchServedBlob(baseUrl: string, repository: string, descriptor: { digest: string; size?: number }): Promise<Buffer> {
  const response = await fetch(`${baseUrl}/v2/${repository}/blobs/${descriptor.digest}`);
  const bytes = Buffer.from(await response.arrayBuffer());
  assert.equal(response.status, 200, `blob ${descriptor.digest}`);
  assert.equal(sha256(bytes), descriptor.digest, 'a blob is served with the bytes of its digest');
  if (descriptor.size !== undefined) assert.equal(bytes.length, descriptor.size);
  return bytes;
}
