import type { AddressInfo } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { ClientNetwork, createAccessControl } from '../auth/index.ts';
import type { LoadedConfig } from '../config/index.ts';
import { createHttpServer, watchCertificate } from '../http/index.ts';
import { createLogger, type Logger } from '../log/index.ts';
import type { Registry } from '../registry/index.ts';
import { openRegistry } from './open-registry.ts';

export interface RunningServer {
  url: string;
  registry: Registry;
  http: FastifyInstance;
  logger: Logger;
  /** Stops accepting, lets requests in flight finish (up to the drain timeout), closes stores. */
  stop(): Promise<void>;
  /** With TLS: reads the certificate and key files again now (SIGHUP); true when new connections get a new pair. */
  reloadCertificate(): Promise<boolean>;
}

/** Starts Berth as configured and returns once it listens. */
export async function serve(loaded: LoadedConfig, logDestination?: NodeJS.WritableStream): Promise<RunningServer> {
  const { config } = loaded;
  const logger = createLogger(config.log.level, logDestination);
  for (const warning of loaded.warnings) logger.warn({ source: loaded.source }, warning);
  const registry = await openRegistry(config);
  // Before anything listens: a broken htpasswd file stops the start, never an open registry.
  // Robot tokens live in the metadata store, so they work alongside the configured users.
  let access;
  try {
    access = await createAccessControl(config, logger, { robotTokens: registry.metadata, users: registry.metadata, refreshTokens: registry.metadata, accessRules: registry.metadata });
  } catch (error) {
    await registry.close();
    throw error;
  }
  let http: FastifyInstance;
  try {
    http = await createHttpServer({
      access,
      registry,
      logger,
      baseUrl: config.http.host,
      headers: config.http.headers,
      accessLog: !config.log.accesslog.disabled,
      tls: config.http.tls,
      network: new ClientNetwork(config.http),
    });
  } catch (error) {
    // A certificate that cannot be used stops the start; nothing stays open.
    await registry.close();
    access?.close();
    throw error;
  }

  // New connections follow the certificate files as they are renewed; no restart needed.
  const certificates = config.http.tls ? watchCertificate(http.server as unknown as TlsServer, config.http.tls, logger) : undefined;
  const reloadCertificate = async () => (certificates ? certificates.reload() : false);

  const { host, port } = splitAddress(config.http.addr);
  await http.listen({ host, port });
  const address = http.server.address() as AddressInfo;
  const scheme = config.http.tls ? 'https' : 'http';
  const url = `${scheme}://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  logger.info(
    { url, root: config.storage.filesystem.rootdirectory, delete: config.storage.delete.enabled, auth: access ? access.challenge.scheme : 'none (open registry)' },
    'berth is listening',
  );

  const purging = config.storage.maintenance.uploadpurging;
  const purgeTimer = purging.enabled
    ? setInterval(() => {
        registry.uploads
          .purgeExpired(Date.now(), purging.dryrun)
          .then((count) => count > 0 && logger.info({ count, dryRun: purging.dryrun }, purging.dryrun ? 'abandoned uploads (dry run: kept)' : 'purged abandoned uploads'))
          .catch((error: unknown) => logger.error({ err: error }, 'upload purge failed'));
      }, purging.interval).unref()
    : undefined;

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      clearInterval(purgeTimer);
      certificates?.close();
      const drain = setTimeout(() => {
        logger.warn('drain timeout reached; closing remaining connections (their uploads stay resumable)');
        http.server.closeAllConnections();
      }, config.http.draintimeout).unref();
      await http.close();
      clearTimeout(drain);
      await registry.close();
      access?.close();
      logger.info('berth stopped');
    })());
  return { url, registry, http, logger, stop, reloadCertificate };
}

export function splitAddress(address: string): { host: string; port: number } {
  const index = address.lastIndexOf(':');
  let host = address.slice(0, index);
  if (host.startsWith('[')) host = host.slice(1, -1);
  return { host: host === '' ? '0.0.0.0' : host, port: Number(address.slice(index + 1)) };
}
