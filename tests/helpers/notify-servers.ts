/**
 * Real servers on 127.0.0.1 for the notification tests: an HTTP server that
 * records every request and answers as the test says (a status, or never),
 * and an SMTP server (smtp-server) that parses what it receives (mailparser),
 * plain or with a self-signed certificate made by openssl at test time.
 */
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** What to answer the n-th request (0-based): a status, or 'hang' (never answer). */
export type Answer = (request: ReceivedRequest, index: number) => number | 'hang';

export interface HttpRecorder {
  /** http://127.0.0.1:PORT */
  origin: string;
  requests: ReceivedRequest[];
  close(): Promise<void>;
}

export async function startHttp(answer: Answer = () => 200): Promise<HttpRecorder> {
  const requests: ReceivedRequest[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const received = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
      requests.push(received);
      const status = answer(received, requests.length - 1);
      if (status === 'hang') return;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'no');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface ReceivedMail {
  from: string;
  to: string[];
  parsed: ParsedMail;
}

export interface SmtpRecorder {
  port: number;
  mails: ReceivedMail[];
  /** user:password pairs tried. */
  logins: Array<{ username: string; password: string }>;
  close(): Promise<void>;
}

export interface SmtpOptions {
  /** Implicit TLS with this key/certificate; without it: plain, STARTTLS disabled. */
  tls?: { key: Buffer; cert: Buffer };
  /** STARTTLS offered with this key/certificate (plain connection first). */
  starttls?: { key: Buffer; cert: Buffer };
  /** Accept only this user/password (else any login, or none). */
  credentials?: { user: string; password: string };
  /** The refusal's text for a wrong login (a careless server quoting the password, say). */
  refusal?: (username: string, password: string) => string;
}

export async function startSmtp(options: SmtpOptions = {}): Promise<SmtpRecorder> {
  const mails: ReceivedMail[] = [];
  const logins: Array<{ username: string; password: string }> = [];
  const tls = options.tls ?? options.starttls;
  const server = new SMTPServer({
    secure: options.tls !== undefined,
    ...(tls ? { key: tls.key, cert: tls.cert } : {}),
    disabledCommands: tls ? [] : ['STARTTLS'],
    authOptional: true,
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback) {
      const username = auth.username ?? '';
      const password = auth.password ?? '';
      logins.push({ username, password });
      const want = options.credentials;
      if (want && (username !== want.user || password !== want.password)) callback(new Error(options.refusal ? options.refusal(username, password) : 'Invalid username or password'));
      else callback(null, { user: username });
    },
    onData(stream, session, callback) {
      simpleParser(stream).then(
        (parsed) => {
          mails.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            parsed,
          });
          callback();
        },
        (error: Error) => callback(error),
      );
    },
  });
  // A client refusing the certificate closes the connection mid-handshake: the server reports it as an error event.
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return { port, mails, logins, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** A self-signed certificate for 127.0.0.1, made now with openssl. */
export async function selfSignedCert(dir: string): Promise<{ key: Buffer; cert: Buffer }> {
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
    { stdio: 'ignore' },
  );
  return { key: await fs.readFile(keyFile), cert: await fs.readFile(certFile) };
}
