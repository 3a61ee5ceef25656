import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import path from 'node:path';
import { createSecureContext, type SecureContextOptions, type Server as TlsServer } from 'node:tls';
import type { Logger } from '../log/index.ts';

/** Where the certificate chain and its private key are read from (`http.tls`). */
export interface TlsFiles {
  certificate: string;
  key: string;
}

/** Berth never speaks anything older than TLS 1.2. */
export const MINIMUM_TLS_VERSION = 'TLSv1.2' as const;

/** HSTS on every HTTPS response: two years. */
export const HSTS_HEADER = 'max-age=63072000';

interface CertificatePair {
  cert: Buffer;
  key: Buffer;
  certificate: X509Certificate;
}

/**
 * Checks that `cert` is a PEM certificate chain, `key` a private key, and that the key belongs
 * to the first certificate; throws a readable error otherwise.
 */
function checkPair(cert: Buffer, key: Buffer, files: TlsFiles): CertificatePair {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (error) {
    throw new Error(`${files.certificate} holds no readable PEM certificate: ${(error as Error).message}`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new Error(`${files.key} holds no readable private key: ${(error as Error).message}`);
  }
  if (!certificate.checkPrivateKey(privateKey)) throw new Error(`${files.key} is not the private key of the certificate in ${files.certificate}`);
  // What the server will use: any remaining problem (a broken chain entry) surfaces here.
  createSecureContext(contextOptions(cert, key));
  return { cert, key, certificate };
}

function contextOptions(cert: Buffer, key: Buffer): SecureContextOptions {
  return { cert, key, minVersion: MINIMUM_TLS_VERSION };
}

/** A certificate or key Berth cannot serve with: the start stops (exit 2). */
export class TlsSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TlsSetupError';
  }
}

/** The `https` options of the server, read at start (a missing or broken pair stops the start). */
export function httpsOptions(files: TlsFiles): SecureContextOptions {
  try {
    const pair = checkPair(readFileSync(files.certificate), readFileSync(files.key), files);
    return contextOptions(pair.cert, pair.key);
  } catch (error) {
    throw new TlsSetupError(`http.tls: ${(error as Error).message}`);
  }
}

function describe(certificate: X509Certificate): Record<string, string> {
  return { subject: certificate.subject.replace(/\n/g, ', '), serial: certificate.serialNumber, notAfter: certificate.validTo };
}

export interface CertificateReloader {
  /** Reads the files now; switches new connections to a changed, valid pair. True when it switched. */
  reload(): Promise<boolean>;
  close(): void;
}

export interface CertificateReloadOptions {
  /** How often the files are read even without a change notice; default 60 s. */
  pollIntervalMs?: number;
  /** Quiet time after a change notice before the files are read (cert and key written one after the other); default 200 ms. */
  settleMs?: number;
}

/**
 * Keeps the server's certificate in step with its files: a change noticed in their folders
 * (renames and symlink swaps included), a periodic read, or `reload()` (SIGHUP) reads both
 * files, and when they changed and form a valid pair, new connections get them
 * (`setSecureContext`); connections already open keep theirs. A pair that is unreadable or
 * does not match is logged once and the current certificate stays.
 */
export function watchCertificate(server: TlsServer, files: TlsFiles, logger: Logger, options: CertificateReloadOptions = {}): CertificateReloader {
  let current: { cert: Buffer; key: Buffer } = { cert: readFileSync(files.certificate), key: readFileSync(files.key) };
  let lastFailure = '';
  let closed = false;

  const check = async (): Promise<boolean> => {
    let cert: Buffer;
    let key: Buffer;
    try {
      [cert, key] = await Promise.all([readFile(files.certificate), readFile(files.key)]);
    } catch (error) {
      fail(`unreadable: ${(error as Error).message}`, (error as Error).message);
      return false;
    }
    if (closed) return false;
    if (cert.equals(current.cert) && key.equals(current.key)) {
      lastFailure = '';
      return false;
    }
    let pair: CertificatePair;
    try {
      pair = checkPair(cert, key, files);
    } catch (error) {
      fail(createHash('sha256').update(cert).update(key).digest('hex'), (error as Error).message);
      return false;
    }
    server.setSecureContext(contextOptions(pair.cert, pair.key));
    current = { cert, key };
    lastFailure = '';
    logger.info(describe(pair.certificate), 'TLS certificate reloaded; new connections use it');
    return true;
  };
  const fail = (signature: string, reason: string) => {
    if (signature === lastFailure) return;
    lastFailure = signature;
    logger.error({ certificate: files.certificate, key: files.key, reason }, 'new TLS certificate not used; keeping the current one');
  };

  // One check at a time; a reload asked for during a check gets a fresh check right after it.
  let running: Promise<boolean> | undefined;
  let queued: Promise<boolean> | undefined;
  const reload = (): Promise<boolean> => {
    if (closed) return Promise.resolve(false);
    if (running) {
      queued ??= running.then(() => {
        queued = undefined;
        return reload();
      });
      return queued;
    }
    running = check()
      .catch((error: unknown) => {
        logger.error({ err: error }, 'TLS certificate check failed');
        return false;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };

  let settle: NodeJS.Timeout | undefined;
  const changed = () => {
    clearTimeout(settle);
    settle = setTimeout(() => void reload(), options.settleMs ?? 200).unref();
  };
  const watchers: FSWatcher[] = [];
  for (const folder of new Set([path.dirname(path.resolve(files.certificate)), path.dirname(path.resolve(files.key))])) {
    try {
      const watcher = watch(folder, { persistent: false }, changed);
      watcher.on('error', (error) => logger.warn({ folder, err: error.message }, 'cannot watch the TLS certificate folder; relying on the periodic check'));
      watchers.push(watcher);
    } catch (error) {
      logger.warn({ folder, err: (error as Error).message }, 'cannot watch the TLS certificate folder; relying on the periodic check');
    }
  }
  const poll = setInterval(() => void reload(), options.pollIntervalMs ?? 60_000).unref();

  return {
    reload,
    close() {
      closed = true;
      clearTimeout(settle);
      clearInterval(poll);
      for (const watcher of watchers) watcher.close();
    },
  };
}

const PLAIN_HTTP_BODY = 'This port speaks HTTPS: use https:// instead.\r\n';
const PLAIN_HTTP_ANSWER = [
  'HTTP/1.1 400 Bad Request',
  'Connection: close',
  'Content-Type: text/plain; charset=utf-8',
  `Content-Length: ${Buffer.byteLength(PLAIN_HTTP_BODY)}`,
  '',
  PLAIN_HTTP_BODY,
].join('\r\n');

/**
 * Answers plain HTTP sent to the TLS port with a 400 "this port speaks HTTPS" and closes the
 * connection, instead of the bare disconnect of a failed handshake. Each new connection's
 * first bytes are looked at: a TLS record (0x16) goes on to the TLS server unchanged,
 * anything starting like an HTTP method is answered, anything else is closed. A connection
 * that sends nothing within `firstByteTimeoutMs` is closed. `close()` drops the connections
 * still waiting (before the server closes).
 */
export function answerPlainHttp(server: TlsServer, firstByteTimeoutMs = 30_000): { close(): void } {
  // Taken before anyone else listens: only the TLS server's own connection listener.
  const handOver = server.listeners('connection') as Array<(socket: Socket) => void>;
  server.removeAllListeners('connection');
  const waiting = new Set<Socket>();
  const ignore = () => {};
  server.on('connection', (socket: Socket) => {
    waiting.add(socket);
    socket.on('error', ignore);
    socket.setTimeout(firstByteTimeoutMs, () => socket.destroy());
    const done = () => {
      waiting.delete(socket);
      socket.setTimeout(0);
      socket.removeListener('error', ignore);
    };
    socket.once('close', () => waiting.delete(socket));
    const first = () => {
      const chunk = socket.read() as Buffer | null;
      if (chunk === null) return void socket.once('readable', first);
      if (chunk[0] === 0x16) {
        done();
        // Back into the stream: the TLS socket consumes what is buffered before reading on.
        socket.unshift(chunk);
        for (const listener of handOver) listener.call(server, socket);
      } else if (/^[A-Z]/.test(String.fromCharCode(chunk[0]!))) {
        done();
        socket.on('error', ignore);
        socket.end(PLAIN_HTTP_ANSWER);
      } else {
        socket.destroy();
      }
    };
    socket.once('readable', first);
  });
  return {
    close() {
      for (const socket of waiting) socket.destroy();
      waiting.clear();
    },
  };
}
