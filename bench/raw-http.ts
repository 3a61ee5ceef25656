import net from 'node:net';

/**
 * Closed-loop GETs of one URL over raw keep-alive sockets: the request is a constant buffer
 * and the response parser only finds the status, Content-Length and the end of the body.
 * node:http spends ~60 µs of client CPU per request, which on a small machine makes the
 * load generator the bottleneck of a manifest GET benchmark; this costs a fraction of that.
 */

export interface LoopResult {
  latenciesMs: number[];
  elapsedSeconds: number;
}

const headerEnd = Buffer.from('\r\n\r\n');

class Connection {
  readonly #socket: net.Socket;
  #buffered: Buffer = Buffer.alloc(0);
  #bodyRemaining = -1;
  #waiting: { resolve: () => void; reject: (error: Error) => void } | undefined;

  constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('error', (error) => this.#fail(error));
    socket.on('close', () => this.#fail(new Error('connection closed by the server')));
  }

  static open(host: string, port: number): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port }, () => {
        socket.off('error', reject);
        resolve(new Connection(socket));
      });
      socket.once('error', reject);
    });
  }

  /** Sends the request and resolves when the whole response has arrived. */
  exchange(requestBytes: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
      this.#socket.write(requestBytes);
    });
  }

  close(): void {
    this.#socket.removeAllListeners('close');
    this.#socket.destroy();
  }

  #receive(chunk: Buffer): void {
    if (this.#bodyRemaining < 0) {
      this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
      const end = this.#buffered.indexOf(headerEnd);
      if (end === -1) return;
      const head = this.#buffered.toString('latin1', 0, end);
      const status = Number(head.slice(9, 12));
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (status !== 200 || !length) {
        this.#fail(new Error(`expected 200 with Content-Length, got: ${head.split('\r\n')[0]}`));
        return;
      }
      this.#bodyRemaining = Number(length[1]) - (this.#buffered.length - end - headerEnd.length);
      this.#buffered = Buffer.alloc(0);
    } else {
      this.#bodyRemaining -= chunk.length;
    }
    if (this.#bodyRemaining === 0) {
      this.#bodyRemaining = -1;
      const waiting = this.#waiting;
      this.#waiting = undefined;
      waiting?.resolve();
    } else if (this.#bodyRemaining < 0) {
      this.#fail(new Error('more bytes than Content-Length (pipelining is not used, so this is a server bug)'));
    }
  }

  #fail(error: Error): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.reject(error);
  }
}

/** `concurrency` connections, each sending GET `url` again as soon as a response completes, for `durationMs`. */
export async function getLoop(url: URL, headers: Record<string, string>, concurrency: number, durationMs: number): Promise<LoopResult> {
  const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`, ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)];
  const requestBytes = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  const connections = await Promise.all(Array.from({ length: concurrency }, () => Connection.open(url.hostname, Number(url.port))));
  const latenciesMs: number[] = [];
  const start = performance.now();
  const deadline = start + durationMs;
  try {
    await Promise.all(
      connections.map(async (connection) => {
        while (performance.now() < deadline) {
          const sent = performance.now();
          await connection.exchange(requestBytes);
          latenciesMs.push(performance.now() - sent);
        }
      }),
    );
  } finally {
    for (const connection of connections) connection.close();
  }
  return { latenciesMs, elapsedSeconds: (performance.now() - start) / 1000 };
}

/**
 * GETs `url` on a fresh connection and counts the body bytes. The socket reads into one
 * reused 4 MiB buffer (`onread`), so a pull at gigabytes per second costs the client a
 * few thousand callbacks and no garbage; node:http would allocate and parse every 64 KiB.
 */
export function download(url: URL, headers: Record<string, string> = {}): Promise<{ status: number; bytes: number }> {
  const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`, 'Connection: close', ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)];
  return new Promise((resolve, reject) => {
    let head = '';
    let status = 0;
    let expected = -1;
    let bytes = 0;
    const finish = (error?: Error) => {
      socket.destroy();
      if (error) reject(error);
      else resolve({ status, bytes });
    };
    const socket = net.connect({
      host: url.hostname,
      port: Number(url.port),
      onread: {
        buffer: Buffer.allocUnsafe(4 * 1024 * 1024),
        callback: (length: number, buffer: Uint8Array) => {
          let offset = 0;
          if (expected < 0) {
            head += Buffer.from(buffer.buffer, buffer.byteOffset, length).toString('latin1');
            const end = head.indexOf('\r\n\r\n');
            if (end === -1) return true;
            status = Number(head.slice(9, 12));
            const match = /\r\ncontent-length:\s*(\d+)/i.exec(head.slice(0, end));
            if (!match) {
              finish(new Error(`no Content-Length in: ${head.split('\r\n')[0]}`));
              return false;
            }
            expected = Number(match[1]);
            offset = length - (head.length - end - 4);
          }
          bytes += length - offset;
          if (bytes >= expected) finish();
          return true;
        },
      },
    });
    socket.on('connect', () => socket.write(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'));
    socket.on('error', (error) => finish(error));
    socket.on('end', () => finish(bytes === expected ? undefined : new Error(`connection closed after ${bytes} of ${expected} body bytes`)));
  });
}
