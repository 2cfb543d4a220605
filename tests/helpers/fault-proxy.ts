/**
 * A TCP proxy for tests that injects network faults into chosen HTTP requests
 * on their way from a client (the AWS SDK) to a server (the S3 test server).
 *
 * It parses the HTTP/1.1 request heads flowing from the client (bodies framed
 * by Content-Length, keep-alive, several requests per connection) so a rule
 * can pick e.g. "PUT with partNumber=3" (an UploadPart) and, after forwarding
 * N bytes of that request's body:
 *   - `reset`: reset (TCP RST) both the client and the server socket;
 *   - `stall`: forward nothing more in either direction and stop reading,
 *     keeping both sockets open: a black hole, until the client gives up or
 *     the proxy is closed.
 *   - `drop-response`: forward the request, wait until the server starts
 *     answering (so it has surely acted on it), then reset the client without
 *     passing on a byte of the answer: "the request worked, the answer got lost".
 * Requests that match no rule and all responses pass through byte for byte.
 *
 * A request with `Transfer-Encoding` (no Content-Length framing) still gets
 * its rule, but the rest of that connection is then passed through unparsed.
 *
 * `{ raw: true }`: not HTTP (SSH, rclone's sftp): every byte passes through
 * unparsed and rules never match; the test cuts the connections itself with
 * `resetAll()` at a moment it chooses, or with `cutAfter(proxy, N)` once N
 * bytes went up (either mode).
 */
import net from 'node:net';

export interface FaultRequest {
  method: string;
  /** The path of the request target, as sent (still percent-encoded). */
  path: string;
  query: URLSearchParams;
  /** Lower-case names; repeated headers joined with ', '. */
  headers: Record<string, string>;
}

export interface FaultRule {
  match: (req: FaultRequest) => boolean;
  action: 'reset' | 'stall' | 'drop-response';
  /**
   * Request-body bytes forwarded to the server before the fault (default 0:
   * right after the head). A body shorter than this is forwarded whole and
   * the fault follows it.
   */
  afterBodyBytes?: number;
  /** How many matching requests get the fault (default 1; Infinity: all). */
  times?: number;
}

export interface FaultProxy {
  port: number;
  /** `http://127.0.0.1:PORT`, to use as the client's endpoint. */
  url: string;
  /** How many faults have been injected so far (over all rules). */
  hits(): number;
  /** Replaces the rules; each new rule starts with its full `times`. */
  setRules(rules: FaultRule[]): void;
  /** Bytes received from clients so far (all connections). */
  clientBytes(): number;
  /** Resets (TCP RST) every open connection, both sides; the proxy keeps listening. */
  resetAll(): void;
  /** Stops listening and destroys every open socket, stalled ones included. */
  close(): Promise<void>;
}

/** Longest request head accepted; a longer one switches to passthrough. */
const MAX_HEAD_BYTES = 64 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');

interface ActiveRule {
  rule: FaultRule;
  remaining: number;
}

export async function startFaultProxy(
  target: { host: string; port: number },
  rules: FaultRule[] = [],
  options: { raw?: boolean } = {},
): Promise<FaultProxy> {
  let active: ActiveRule[] = [];
  const setRules = (next: FaultRule[]) => {
    active = next.map((rule) => ({ rule, remaining: rule.times ?? 1 }));
  };
  setRules(rules);
  let hits = 0;
  let clientBytes = 0;
  const sockets = new Set<net.Socket>();

  /** The first rule that matches and has attempts left, consuming one. */
  const takeRule = (req: FaultRequest): FaultRule | undefined => {
    const found = active.find((a) => a.remaining > 0 && a.rule.match(req));
    if (!found) return undefined;
    found.remaining--;
    hits++;
    return found.rule;
  };

  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
    }
    client.on('data', (chunk: Buffer) => (clientBytes += chunk.length));
    new Connection(client, upstream, takeRule, options.raw ? 'passthrough' : 'head').start();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as net.AddressInfo;

  return {
    port,
    url: `http://127.0.0.1:${port}`,
    hits: () => hits,
    setRules,
    clientBytes: () => clientBytes,
    resetAll: () => {
      for (const s of sockets) if (!s.destroyed) s.resetAndDestroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

/** One client connection and its server connection. */
class Connection {
  /** Where the client→server byte stream is, relative to HTTP messages. */
  private state: 'head' | 'body' | 'passthrough';
  /** Bytes of an incomplete request head. */
  private head = Buffer.alloc(0);
  /** Body bytes of the current request still to forward. */
  private bodyLeft = 0;
  /** The fault for the current request, and how many body bytes before it. */
  private fault: { rule: FaultRule; bytesLeft: number } | undefined;
  private stalled = false;
  private dropResponse = false;
  private done = false;

  constructor(
    private readonly client: net.Socket,
    private readonly upstream: net.Socket,
    private readonly takeRule: (req: FaultRequest) => FaultRule | undefined,
    initial: 'head' | 'passthrough' = 'head',
  ) {
    this.state = initial;
  }

  start(): void {
    const { client, upstream } = this;
    client.on('data', (chunk: Buffer) => this.fromClient(chunk));
    upstream.on('data', (chunk: Buffer) => {
      if (this.dropResponse) {
        this.done = true;
        client.resetAndDestroy();
        upstream.destroy();
        return;
      }
      if (this.stalled) return;
      if (!client.write(chunk)) upstream.pause();
    });
    // Backpressure both ways; a stalled connection stays paused.
    client.on('drain', () => !this.stalled && upstream.resume());
    upstream.on('drain', () => !this.stalled && client.resume());
    // Half-closes pass through (unless stalled: a black hole sends nothing).
    client.on('end', () => !this.stalled && upstream.end());
    upstream.on('end', () => !this.stalled && client.end());
    // The client going away ends everything; the server going away ends the
    // client side too, except while stalled.
    client.on('close', () => this.destroy());
    upstream.on('close', () => !this.stalled && client.end());
    client.on('error', () => this.destroy());
    upstream.on('error', () => (this.stalled ? upstream.destroy() : this.destroy()));
  }

  private destroy(): void {
    this.done = true;
    this.client.destroy();
    this.upstream.destroy();
  }

  private send(chunk: Buffer): void {
    if (chunk.length > 0 && !this.upstream.write(chunk)) this.client.pause();
  }

  /** Splits the client's bytes into request heads and bodies. */
  private fromClient(chunk: Buffer): void {
    while (chunk.length > 0 && !this.done && !this.stalled) {
      if (this.state === 'passthrough' || this.state === 'body') {
        chunk = this.forwardBody(chunk);
        continue;
      }
      // state 'head': collect until the blank line.
      this.head = Buffer.concat([this.head, chunk]);
      chunk = Buffer.alloc(0);
      // A request may be preceded by stray CRLFs (RFC 9112 §2.2).
      while (this.head.subarray(0, 2).equals(HEAD_END.subarray(0, 2))) this.head = this.head.subarray(2);
      const end = this.head.indexOf(HEAD_END);
      if (end < 0) {
        if (this.head.length > MAX_HEAD_BYTES) {
          this.state = 'passthrough';
          chunk = this.head;
          this.head = Buffer.alloc(0);
        }
        continue;
      }
      const rawHead = this.head.subarray(0, end + HEAD_END.length);
      chunk = this.head.subarray(rawHead.length);
      this.head = Buffer.alloc(0);
      this.startRequest(rawHead);
    }
  }

  /** Forwards a complete head and sets up the body that follows it. */
  private startRequest(rawHead: Buffer): void {
    const req = parseHead(rawHead.toString('latin1'));
    this.send(rawHead);
    if (!req) {
      // Not HTTP as we know it: stop interpreting this connection.
      this.state = 'passthrough';
      return;
    }
    const rule = this.takeRule(req);
    const framed = req.headers['transfer-encoding'] === undefined;
    const length = framed ? Number.parseInt(req.headers['content-length'] ?? '0', 10) || 0 : Infinity;
    this.fault = rule && { rule, bytesLeft: Math.min(rule.afterBodyBytes ?? 0, length) };
    this.bodyLeft = length;
    this.state = framed ? 'body' : 'passthrough';
    if (this.fault && this.fault.bytesLeft === 0) this.inject();
    else if (this.state === 'body' && this.bodyLeft === 0) this.state = 'head';
  }

  /** Forwards body bytes up to the fault or the end of the body; returns the rest. */
  private forwardBody(chunk: Buffer): Buffer {
    let n = this.state === 'body' ? Math.min(chunk.length, this.bodyLeft) : chunk.length;
    if (this.fault) n = Math.min(n, this.fault.bytesLeft);
    this.send(chunk.subarray(0, n));
    this.bodyLeft -= n;
    if (this.fault) {
      this.fault.bytesLeft -= n;
      if (this.fault.bytesLeft === 0) {
        this.inject();
        return Buffer.alloc(0);
      }
    }
    if (this.state === 'body' && this.bodyLeft === 0) this.state = 'head';
    return chunk.subarray(n);
  }

  private inject(): void {
    const rule = this.fault!.rule;
    this.fault = undefined;
    if (rule.action === 'drop-response') {
      // Everything up to here went to the server; nothing more from the client is forwarded.
      this.dropResponse = true;
      this.client.pause();
      return;
    }
    if (rule.action === 'stall') {
      this.stalled = true;
      this.client.pause();
      this.upstream.pause();
      return;
    }
    // Let what was forwarded reach the server first (at most 1 s), then RST
    // both sides.
    this.done = true;
    this.client.pause();
    const reset = () => {
      clearTimeout(timer);
      if (!this.client.destroyed) this.client.resetAndDestroy();
      if (!this.upstream.destroyed) this.upstream.resetAndDestroy();
    };
    const timer = setTimeout(reset, 1000);
    this.upstream.write(Buffer.alloc(0), reset);
  }
}

/** Request line and headers, or undefined if this is not an HTTP/1.x request head. */
function parseHead(text: string): FaultRequest | undefined {
  const lines = text.split('\r\n');
  const requestLine = /^([A-Z]+) (\S+) HTTP\/1\.\d$/.exec(lines[0] ?? '');
  if (!requestLine) return undefined;
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = Object.hasOwn(headers, name) ? `${headers[name]}, ${value}` : value;
  }
  // The target is usually origin-form (/path?query), absolute-form for proxies.
  const url = new URL(requestLine[2]!, 'http://proxy.invalid');
  return { method: requestLine[1]!, path: url.pathname, query: url.searchParams, headers };
}

export interface ProxyCut {
  /** True once the mark was passed and the connections were cut. */
  cut(): boolean;
  /** Lets traffic through again: connections made from now on pass (the proxy's rules are cleared). */
  restore(): void;
  /** Stops watching the proxy (before closing it). */
  stop(): void;
}

/**
 * "The network goes down after N bytes": once `bytes` went from clients to
 * the server through `proxy` (checked every 5 ms, so somewhat more may pass),
 * every connection is reset (TCP RST). Then, until restore(), every
 * connection stays cut, new ones too: a raw proxy's (SSH) are reset at every
 * check, long before a handshake completes; an HTTP proxy's requests are
 * also reset as soon as their head arrives (a rule), so none gets through.
 * `{ once: true }`: only the connections open at that moment are cut; a
 * client that reconnects gets through (a cut, not an outage).
 */
export function cutAfter(proxy: FaultProxy, bytes: number, options: { once?: boolean } = {}): ProxyCut {
  let cut = false;
  let restored = false;
  const watch = setInterval(() => {
    if (restored) return;
    if (!cut) {
      if (proxy.clientBytes() < bytes) return;
      cut = true;
      if (options.once) {
        clearInterval(watch);
        proxy.resetAll();
        return;
      }
      proxy.setRules([{ match: () => true, action: 'reset', times: Infinity }]);
    }
    proxy.resetAll();
  }, 5);
  return {
    cut: () => cut,
    restore: () => {
      restored = true;
      clearInterval(watch);
      if (cut && !options.once) proxy.setRules([]);
    },
    stop: () => clearInterval(watch),
  };
}
