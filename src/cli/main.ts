import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { serve } from '../app/index.ts';
import { AuthSetupError, HtpasswdError, createExternalTokenVerifier, parseHtpasswd, readSigningKey } from '../auth/index.ts';
import { openRegistry } from '../app/index.ts';
import { ConfigError, loadConfig, renderConfigurationReference, type LoadOptions } from '../config/index.ts';
import { TlsSetupError, httpsOptions } from '../http/index.ts';
import { fsck } from '../lifecycle/index.ts';
import { registerAccessCommands } from './access.ts';
import { registerTokenCommands } from './tokens.ts';
import { registerUserCommands } from './users.ts';

const program = new Command();
program.name('berth').description('Berth: a self-hosted OCI container image registry').version('0.1.0');

const configOption = () => new Option('-c, --config <file>', 'YAML configuration file (Berth or distribution config.yml)').env('BERTH_CONFIG');

function load(options: { config?: string; listen?: string; data?: string }) {
  const loadOptions: LoadOptions = { file: options.config, overrides: { listen: options.listen, data: options.data } };
  return loadConfig(loadOptions);
}

program
  .command('serve')
  .description('run the registry')
  .addOption(configOption())
  .option('-l, --listen <host:port>', 'address to listen on (http.addr)')
  .option('-d, --data <dir>', 'data directory (storage.filesystem.rootdirectory)')
  .action(async (options: { config?: string; listen?: string; data?: string }) => {
    const loaded = load(options);
    const server = await serve(loaded);
    const shutdown = (signal: string) => {
      server.logger.info({ signal }, 'shutting down');
      server.stop().then(
        () => process.exit(0),
        (error: unknown) => {
          server.logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
    // SIGHUP reads the TLS certificate and key again at once (they are also watched).
    if (loaded.config.http.tls) process.on('SIGHUP', () => void server.reloadCertificate());
  });

const configCommand = program.command('config').description('inspect configuration');
configCommand
  .command('check')
  .description('validate a configuration file and print the effective configuration')
  .addOption(configOption())
  .option('-q, --quiet', 'print nothing when the configuration is valid')
  .action(async (options: { config?: string; quiet?: boolean }) => {
    const loaded = load(options);
    const htpasswd = loaded.config.auth?.htpasswd?.path;
    if (htpasswd) checkHtpasswd(htpasswd);
    await checkTokenKeys(loaded.config.auth);
    if (loaded.config.http.tls) httpsOptions(loaded.config.http.tls); // the pair serve would refuse
    for (const warning of loaded.warnings) process.stderr.write(`warning: ${warning}\n`);
    // The LDAP service account's password is a secret: never printed.
    if (!options.quiet) process.stdout.write(`${JSON.stringify(loaded.config, (key, value: unknown) => (key === 'bindpassword' ? '[redacted]' : value), 2)}\n`);
    process.stderr.write(`configuration ${loaded.source} is valid\n`);
  });

/** The htpasswd file must be usable for the configuration to be (serve would refuse to start). */
function checkHtpasswd(file: string): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new HtpasswdError(file, [`cannot read the file: ${(error as Error).message}`]);
  }
  const users = parseHtpasswd(text, file);
  process.stderr.write(`htpasswd file ${file}: ${users.size} user(s)\n`);
}

/** Token keys, bundles and key sets must be usable too (a JWKS URL is fetched only when serving). */
async function checkTokenKeys(auth: { tokenservice?: { enabled: boolean; key?: string | undefined } | undefined; token?: Parameters<typeof createExternalTokenVerifier>[0] | undefined } | undefined): Promise<void> {
  try {
    if (auth?.tokenservice?.enabled && auth.tokenservice.key) await readSigningKey(auth.tokenservice.key);
    if (auth?.token) await createExternalTokenVerifier(auth.token);
  } catch (error) {
    throw new AuthSetupError((error as Error).message);
  }
}

configCommand
  .command('reference')
  .description('print the configuration reference (Markdown), generated from the schema')
  .action(() => {
    process.stdout.write(renderConfigurationReference());
  });

program
  .command('fsck')
  .description('check that metadata and stored bytes agree (run it with the server stopped, or accept a racy view)')
  .addOption(configOption())
  .option('-d, --data <dir>', 'data directory (storage.filesystem.rootdirectory)')
  .option('--verify-digests', 're-hash every blob (reads all stored bytes)', false)
  .option('--json', 'print the report as JSON', false)
  .action(async (options: { config?: string; data?: string; verifyDigests: boolean; json: boolean }) => {
    const { config } = load(options);
    const registry = await openRegistry(config);
    try {
      const report = await fsck(registry, { verifyDigests: options.verifyDigests });
      if (options.json) {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      } else {
        process.stdout.write(`checked ${report.blobsChecked} blobs, ${report.manifestsChecked} manifests, ${report.tagsChecked} tags\n`);
        for (const note of report.notes) process.stdout.write(`note: ${note}\n`);
        for (const problem of report.problems) process.stdout.write(`PROBLEM: ${problem}\n`);
        process.stdout.write(report.problems.length === 0 ? 'consistent\n' : `${report.problems.length} problem(s) found\n`);
      }
      process.exitCode = report.problems.length === 0 ? 0 : 1;
    } finally {
      await registry.close();
    }
  });

registerTokenCommands(program, load, configOption);
registerUserCommands(program, load, configOption);
registerAccessCommands(program, load, configOption);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof ConfigError || error instanceof HtpasswdError || error instanceof AuthSetupError || error instanceof TlsSetupError) {
    process.stderr.write(`berth: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
