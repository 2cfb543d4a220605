/**
 * A raw TCP proxy whose answers can be made to stall: after `stallAnswers(n)`
 * at most n more bytes go from the server to the client, then nothing (both
 * sockets stay open: a black hole mid-download). The request side always
 * passes. tests/helpers/fault-proxy.ts stalls requests only; this is the
 * other direction, for a download that stops mid-body.
 */
import net from 'node:net';

export interface StallProxy {
  url: string;
  stallAnswers(afterBytes: number): void;
  close(): Promise<void>;
}

export async function startStallProxy(target: { host: string; port: number }): Promise<StallProxy> {
  let budget = Infinity;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (budget <= 0) return;
      const pass = chunk.subarray(0, Math.min(chunk.length, budget));
      budget -= pass.length;
      if (!client.write(pass)) upstream.pause();
    });
    client.on('drain', () => upstream.resume());
    upstream.on('end', () => budget > 0 && client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stallAnswers: (afterBytes) => (budget = afterBytes),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
