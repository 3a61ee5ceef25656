import { rm } from 'node:fs/promises';
import path from 'node:path';
import { buildUmociImage, containersClientEnv, killRunningCommands, run, runExpectingFailure, type CommandError, type CommandResult, type ContainersClientEnv, type LayoutImage } from './clients.ts';
import { makeTempDir } from './server.ts';

/**
 * A temporary folder with a private skopeo configuration and a umoci image (`oci:<layout>:v1`)
 * to push: what every test that drives skopeo against a Berth with credentials starts from.
 */
export interface SkopeoWorkspace {
  /** The folder; put other files of the test (an htpasswd file, pulled layouts) here. */
  work: string;
  client: ContainersClientEnv;
  layout: string;
  image: LayoutImage;
  skopeo(...args: string[]): Promise<CommandResult>;
  skopeoFails(...args: string[]): Promise<CommandError>;
  /** Arguments of `skopeo copy` pushing the image to `host/repository:v1`, with `creds` when given. */
  pushArgs(host: string, creds: string | undefined, repository: string): string[];
  /** Stops any skopeo still running and removes the folder. */
  close(): Promise<void>;
}

export async function openSkopeoWorkspace(prefix: string, layers = 2): Promise<SkopeoWorkspace> {
  const work = await makeTempDir(prefix);
  const client = await containersClientEnv(path.join(work, 'client'));
  const layout = path.join(work, 'layout');
  const image = await buildUmociImage(layout, 'v1', { layers, workDir: work });
  const skopeoArgs = (args: string[]) => ['--policy', client.policyPath, '--registries.d', client.registriesDir, ...args];
  return {
    work,
    client,
    layout,
    image,
    skopeo: (...args) => run('skopeo', skopeoArgs(args), { env: client.env, timeoutMs: 60_000 }),
    skopeoFails: (...args) => runExpectingFailure('skopeo', skopeoArgs(args), { env: client.env, timeoutMs: 60_000 }),
    pushArgs: (host, creds, repository) => ['copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', ...(creds ? ['--dest-creds', creds] : []), `oci:${layout}:v1`, `docker://${host}/${repository}:v1`],
    async close() {
      killRunningCommands();
      await rm(work, { recursive: true, force: true });
    },
  };
}
