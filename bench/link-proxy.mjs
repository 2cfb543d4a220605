/**
 * A TCP proxy on 127.0.0.1 that behaves like a network link of a given
 * speed: what the client sends (the upload direction) leaves the proxy at
 * no more than `bytesPerSecond`, shared by every connection through it (an
 * S3 upload's parallel parts share one link, as they do on a real uplink).
 * The answers come back unthrottled. Used by bench/destinations.mjs
 * --link-mbps: destinations behind a link, as an off-site bucket or a NAS
 * across the network are, rather than servers on the CLI's own cores.
 *
 * Pacing: each chunk (at most 64 KiB, a socket read) books the link for
 * length / rate after the previous booking; the client's socket is paused
 * until its chunk's booking has passed, so the kernel's buffers and TCP's
 * own flow control carry the wait back to the client. Backpressure from the
 * server side (write() returning false) pauses it too.
 *
 * startLinkProxy() runs it in a process of its own (this file as a script):
 * the bench runs its probes with spawnSync, which would stop a proxy on its
 * own event loop, and the proxy's CPU is then counted with the servers'.
 *
 *   node bench/link-proxy.mjs TARGET_PORT BYTES_PER_SECOND   # prints the port, serves until killed
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

/** A link proxy in a child process: { port, pid, stop() }. */
export async function startLinkProxy({ targetPort, bytesPerSecond }) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), String(targetPort), String(bytesPerSecond)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(Number(out.trim()));
    });
    child.once('exit', (code) => reject(new Error(`link proxy exited (${code}) before listening`)));
  });
  process.on('exit', () => child.kill('SIGKILL'));
  return {
    port,
    pid: child.pid,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function serveLink({ targetHost = '127.0.0.1', targetPort, bytesPerSecond }) {
  let linkFreeAt = performance.now();
  const sockets = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: targetHost, port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    upstream.pipe(client);
    client.on('data', (chunk) => {
      const now = performance.now();
      linkFreeAt = Math.max(linkFreeAt, now) + (chunk.length / bytesPerSecond) * 1000;
      const drained = upstream.write(chunk);
      const wait = linkFreeAt - now;
      if (!drained || wait > 1) {
        client.pause();
        const resume = () => setTimeout(() => client.resume(), Math.max(0, linkFreeAt - performance.now()));
        if (drained) resume();
        else upstream.once('drain', resume);
      }
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    port: server.address().port,
    stop: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [targetPort, bytesPerSecond] = process.argv.slice(2).map(Number);
  if (!(targetPort > 0) || !(bytesPerSecond > 0)) {
    process.stderr.write('usage: node bench/link-proxy.mjs TARGET_PORT BYTES_PER_SECOND\n');
    process.exit(2);
  }
  const link = await serveLink({ targetPort, bytesPerSecond });
  process.stdout.write(`${link.port}\n`);
  process.on('SIGTERM', () => {
    link.stop();
    process.exit(0);
  });
}
