// Every call goes to the same origin, with the session cookie; every change carries the
// X-Requested-With header the server requires. Errors keep the server's {error, next}.

export class ApiError extends Error {
  status: number;
  next: string;
  constructor(status: number, error: string, next: string) {
    super(error);
    this.status = status;
    this.next = next;
  }
}

/** Any failure as an ApiError (a network or code error has status 0). */
export function toApiError(e: unknown): ApiError {
  return e instanceof ApiError ? e : new ApiError(0, String(e), '');
}

type Listener = () => void;
const unauthorizedListeners = new Set<Listener>();
export function onUnauthorized(fn: Listener): () => void {
  unauthorizedListeners.add(fn);
  return () => unauthorizedListeners.delete(fn);
}

export async function request<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (method !== 'GET') headers['X-Requested-With'] = 'gitopshq';
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(
      0,
      `${method} ${path} could not reach the dashboard server (${String(e)})`,
      'check that `gitopshq dashboard` is running and reachable, then retry',
    );
  }
  if (res.status === 204) return null as T;
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    if (res.status === 401 && path !== '/api/session') unauthorizedListeners.forEach((fn) => fn());
    const body = isErrorBody(json) ? json : undefined;
    const error =
      body?.error ??
      `${method} ${path} failed: ${res.status} ${res.statusText}${text ? ': ' + text.slice(0, 300) : ''}`;
    throw new ApiError(res.status, error, body?.next ?? '');
  }
  if (json === undefined) {
    throw new ApiError(
      res.status,
      `${method} ${path} answered with something that is not JSON`,
      'check that this address serves `gitopshq dashboard`',
    );
  }
  return json as T;
}

/** Whether an answer is the server's `{error, next}`. */
function isErrorBody(json: unknown): json is ErrorBody {
  if (typeof json !== 'object' || json === null) return false;
  const { error, next } = json as Record<string, unknown>;
  return typeof error === 'string' && (next === null || next === undefined || typeof next === 'string');
}

export const get = <T>(path: string) => request<T>('GET', path);
/** `T`: the answer; `B`: the body the endpoint accepts (both generated from the server's types). */
export const post = <T, B = unknown>(path: string, body: B) => request<T>('POST', path, body);
export const del = <T>(path: string) => request<T>('DELETE', path);

export function qs(params: Record<string, string | number | undefined | null>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && String(v) !== '') p.set(k, String(v));
  }
  const s = p.toString();
  return s ? '?' + s : '';
}

export const enc = encodeURIComponent;

// ---- shapes: generated from the server's Rust types (./generated, docs/dashboard-api.md) ----

export type * from './generated';
import type { ErrorBody } from './generated';
// GitOpsHQ objects come as the API server returns them: the CRD's spec and status.
export type {
  ApprovalRequestObject as ApprovalRequest,
  BreakGlassSessionObject as BreakGlassSession,
  ProjectObject as Project,
  ReleaseObject as Release,
  TenantObject as Tenant,
  WorkloadObject as Workload,
} from './generated';
