import type { ApiError } from '../api-types';

const TOKEN_PARAM = 'token';
const TOKEN_KEY = 'lakehouse-console-token';

let token: string | undefined;

/**
 * Reads the per-start token from the page's URL once, keeps it for this tab (a reload still works)
 * and takes it out of the address bar, so that it does not linger in the history.
 */
export function takeToken(): string | undefined {
  const url = new URL(window.location.href);
  const fromUrl = url.searchParams.get(TOKEN_PARAM);
  if (fromUrl !== null) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    url.searchParams.delete(TOKEN_PARAM);
    history.replaceState(null, '', `${url.pathname}${url.search}${url.hash}`);
  }
  token = sessionStorage.getItem(TOKEN_KEY) ?? undefined;
  return token;
}

export class ApiFailure extends Error {
  override readonly name = 'ApiFailure';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function getJson<T>(path: string, query: Record<string, string | undefined> = {}): Promise<T> {
  const params = new URLSearchParams(Object.entries(query).filter((entry): entry is [string, string] => entry[1] !== undefined));
  const search = params.toString();
  return request<T>('GET', search === '' ? path : `${path}?${search}`);
}

export async function postJson<T>(path: string, body: unknown = {}): Promise<T> {
  return request<T>('POST', path, body);
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { 'X-Console-Token': token ?? '' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }), cache: 'no-store' });
  const payload = (await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }))) as T | ApiError;
  if (!response.ok) throw new ApiFailure(response.status, (payload as ApiError).error ?? `${response.status}`);
  return payload as T;
}
