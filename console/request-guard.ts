import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** The header the page sends the per-start token in. */
export const TOKEN_HEADER = 'x-console-token';

/** A new per-start token: 32 random bytes, hex. */
export function newToken(): string {
  return randomBytes(32).toString('hex');
}

export interface GuardSettings {
  /** The port the console listens on: the only one a Host or Origin may name. */
  readonly port: number;
  readonly token: string;
}

/**
 * Why a request must be refused, or undefined to serve it. Every request must name the console in
 * `Host` as `127.0.0.1:PORT` or `localhost:PORT` (a DNS-rebinding page names its own host), and may
 * carry an `Origin` only if it is the console's own (`http://` + that Host). API requests must also
 * not be cross-site by the browser's `Sec-Fetch-Site`, and must carry the per-start token in
 * `X-Console-Token`: a page of another origin cannot read it, and cannot send the header without a
 * CORS preflight, which the console never grants.
 */
export function refusalOf(headers: IncomingHttpHeaders, settings: GuardSettings, options: { readonly api: boolean }): string | undefined {
  const host = headers.host;
  const allowedHosts = [`127.0.0.1:${settings.port}`, `localhost:${settings.port}`];
  if (host === undefined || !allowedHosts.includes(host.toLowerCase())) {
    return `Host ${host === undefined ? '(none)' : JSON.stringify(host)} is not ${allowedHosts.join(' or ')}`;
  }
  const origin = headers.origin;
  if (origin !== undefined && origin.toLowerCase() !== `http://${host.toLowerCase()}`) {
    return `Origin ${JSON.stringify(origin)} is not this console's (http://${host})`;
  }
  if (!options.api) return undefined;
  const site = headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return `a ${site} request may not use the console's API`;
  const token = headers[TOKEN_HEADER];
  if (typeof token !== 'string' || token === '') return `the ${TOKEN_HEADER} header with the console's token is missing (open the URL the console printed)`;
  if (!sameSecret(token, settings.token)) return `the ${TOKEN_HEADER} header does not hold this console's token (it changes at every start)`;
  return undefined;
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
