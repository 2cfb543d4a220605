/**
 * Who may talk to `backup ui`, decided per request. Pure functions of the
 * request's headers, tested with tables (tests/ui/security.test.ts):
 *
 * - the token: a random 256-bit value printed in the URL; the first visit
 *   with `?token=` sets it as an HttpOnly, SameSite=Strict cookie and
 *   redirects to the same page without it (out of the address bar and the
 *   history). Scripts may send `Authorization: Bearer TOKEN` instead;
 * - the Host header must name this server as the URL printed it (127.0.0.1,
 *   localhost, [::1], or the --host given, with the port): a page from
 *   another site that rebinds its DNS name to 127.0.0.1 sends its own name
 *   and is refused (DNS rebinding);
 * - a request that changes anything is a POST with a JSON body, the CSRF
 *   token (a second random value, given to the page inside its HTML) in the
 *   X-CSRF-Token header, and no cross-site Origin / Sec-Fetch-Site. A form
 *   on another site can send none of those.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';

export interface Secrets {
  /** The access token (URL, cookie). */
  token: string;
  /** The CSRF token (page, X-CSRF-Token header). */
  csrf: string;
}

export function newSecrets(): Secrets {
  return { token: randomBytes(32).toString('base64url'), csrf: randomBytes(32).toString('base64url') };
}

/** The cookie's name: per port, since cookies are shared by every port of a host. */
export function cookieName(port: number): string {
  return `backup_ui_${port}`;
}

export function sameSecret(given: string | undefined | null, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Every value of one cookie in a Cookie header. All of them: another service on this host (cookies
 * are shared by every port) could plant one of the same name with a narrower Path, which the
 * browser sends first; that must not lock the page out.
 */
export function readCookies(header: string | undefined, name: string): string[] {
  if (!header) return [];
  const values: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) values.push(part.slice(eq + 1).trim());
  }
  return values;
}

/** True for an address that means "every interface" (0.0.0.0, ::). */
export function isWildcard(bindHost: string): boolean {
  return bindHost === '0.0.0.0' || bindHost === '::' || bindHost === '[::]';
}

/** An address as it appears in a URL or a Host header: IPv6 in brackets. */
export function bracketHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/**
 * Host header values this server answers to: `host:port` for each name it is reached by. Bound to
 * every interface (0.0.0.0, ::), that is each address of this machine (`interfaces`) and its name.
 */
export function allowedHosts(bindHost: string, port: number, interfaces: readonly string[] = [], hostname?: string): Set<string> {
  const names = new Set(['127.0.0.1', 'localhost', '[::1]']);
  if (isWildcard(bindHost)) {
    for (const address of interfaces) names.add(bracketHost(address));
    if (hostname) names.add(hostname);
  } else if (bindHost !== '127.0.0.1' && bindHost !== 'localhost') names.add(bracketHost(bindHost));
  return new Set([...names].map((n) => `${n.toLowerCase()}:${port}`));
}

export function hostAllowed(hostHeader: string | undefined, allowed: ReadonlySet<string>): boolean {
  return typeof hostHeader === 'string' && allowed.has(hostHeader.trim().toLowerCase());
}

export type Refusal = { status: 401 | 403 | 405 | 415 | 421; reason: string };

export interface RequestFacts {
  method: string;
  host?: string;
  cookie?: string;
  authorization?: string;
  origin?: string;
  secFetchSite?: string;
  contentType?: string;
  csrfHeader?: string;
}

export interface Policy {
  secrets: Secrets;
  port: number;
  allowed: ReadonlySet<string>;
}

/** True when the request carries the access token (cookie or bearer header). */
export function hasToken(facts: RequestFacts, policy: Policy): boolean {
  const bearer = facts.authorization?.match(/^Bearer\s+(\S+)$/i)?.[1];
  return readCookies(facts.cookie, cookieName(policy.port)).some((value) => sameSecret(value, policy.secrets.token)) || sameSecret(bearer, policy.secrets.token);
}

/**
 * Why a request is refused, or undefined when it may go on. `tokenInQuery`:
 * the request is the first visit with a correct `?token=` (it may go on to be
 * turned into a cookie; nothing else is done for it).
 */
export function refusal(facts: RequestFacts, policy: Policy, tokenInQuery = false): Refusal | undefined {
  if (!hostAllowed(facts.host, policy.allowed)) {
    return { status: 421, reason: 'This server answers only to the address `backup ui` printed (Host header refused).' };
  }
  const method = facts.method.toUpperCase();
  if (method !== 'GET' && method !== 'HEAD' && method !== 'POST') return { status: 405, reason: `${method} is not used here.` };
  if (!tokenInQuery && !hasToken(facts, policy)) {
    return { status: 401, reason: 'Open the URL `backup ui` printed: it carries the access token (start it again for a new one).' };
  }
  if (method === 'POST') {
    const site = facts.secFetchSite?.toLowerCase();
    if (site !== undefined && site !== 'same-origin' && site !== 'none') return { status: 403, reason: 'Cross-site request refused.' };
    if (facts.origin !== undefined && facts.origin !== 'null') {
      let originHost: string | undefined;
      try {
        const url = new URL(facts.origin);
        originHost = url.protocol === 'http:' ? `${url.hostname.toLowerCase()}:${url.port || '80'}` : undefined;
      } catch {
        originHost = undefined;
      }
      if (originHost === undefined || !policy.allowed.has(originHost)) return { status: 403, reason: 'Cross-site request refused (Origin).' };
    } else if (facts.origin === 'null') {
      return { status: 403, reason: 'Cross-site request refused (Origin).' };
    }
    if (!sameSecret(facts.csrfHeader, policy.secrets.csrf)) return { status: 403, reason: 'Missing or wrong CSRF token: reload the page.' };
    if (!/^application\/json\s*(;|$)/i.test(facts.contentType ?? '')) return { status: 415, reason: 'Expected a JSON body (Content-Type: application/json).' };
  }
  return undefined;
}
