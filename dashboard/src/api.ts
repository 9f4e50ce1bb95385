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
    throw new ApiError(0, `${method} ${path} could not reach the dashboard server (${String(e)})`,
      'check that `gitopshq dashboard` is running and reachable, then retry');
  }
  if (res.status === 204) return null as T;
  const text = await res.text();
  let json: any = undefined;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    if (res.status === 401 && path !== '/api/session') unauthorizedListeners.forEach((fn) => fn());
    const error = json && typeof json.error === 'string' ? json.error
      : `${method} ${path} failed: ${res.status} ${res.statusText}${text ? ': ' + text.slice(0, 300) : ''}`;
    const next = json && typeof json.next === 'string' ? json.next : '';
    throw new ApiError(res.status, error, next);
  }
  if (json === undefined) {
    throw new ApiError(res.status, `${method} ${path} answered with something that is not JSON`,
      'check that this address serves `gitopshq dashboard`');
  }
  return json as T;
}

export const get = <T>(path: string) => request<T>('GET', path);
export const post = <T>(path: string, body: unknown) => request<T>('POST', path, body);
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

// ---- shapes (docs/dashboard-api.md; objects keep the field names of the CRDs) ----

export interface Session { user: string; groups: string[] }

export interface Meta { name: string; namespace?: string; creationTimestamp?: string; uid?: string }

export interface FleetEnvironment {
  name: string; displayName?: string; rank?: number; color?: string; frozen?: boolean;
  freeze?: { name?: string; reason?: string; until?: string } | null;
}
export interface CellWorkload { name: string; version?: string; health?: string; release?: string; commit?: string }
export interface ReleaseRef { namespace: string; name: string; title?: string; phase?: string; type?: string }
export interface Cell {
  status: 'green' | 'yellow' | 'red' | 'grey' | string; summary?: string;
  workloads?: CellWorkload[]; lastRelease?: ReleaseRef | null; pendingApprovals?: number; drift?: boolean;
}
export interface FleetProject { name: string; displayName?: string; cells: Record<string, Cell> }
export interface Fleet {
  environments: FleetEnvironment[]; projects: FleetProject[];
  breakGlass?: BreakGlassSession[]; pendingApprovals?: number;
}

export interface ApprovalsSummary { required?: number; received?: number; message?: string }
export interface ReleaseSummary {
  namespace: string; name: string; title?: string; environment?: string; type?: string; phase?: string;
  createdBy?: string; created?: string; message?: string; approvals?: ApprovalsSummary | null;
}

export interface PolicyResult { policy: string; mode?: string; verdict?: string; messages?: string[] }
export interface Approver { user?: string; groups?: string[]; time?: string; comment?: string }
export interface TimelineEntry { time?: string; phase?: string; message?: string; actor?: string }
export interface Release {
  metadata: Meta;
  spec: {
    title?: string; notes?: string; environment?: string; tenants?: string[]; tenantSelector?: unknown;
    changes?: { workload: string; version?: string; values?: unknown }[]; type?: string;
    rollbackTo?: { release?: string }; breakGlassSession?: string; submitted?: boolean; createdBy?: string;
  };
  status?: {
    phase?: string; reason?: string; message?: string; policyResults?: PolicyResult[];
    approvals?: { required?: number; received?: number; approvers?: Approver[]; missing?: unknown };
    commit?: string; renderedDigest?: string; diff?: unknown; timeline?: TimelineEntry[];
    tenants?: { name: string; phase?: string; health?: string }[];
  };
}
export interface Decision { decision?: string; comment?: string; user?: string; groups?: string[]; time?: string }
export interface ApprovalRequest {
  metadata: Meta;
  spec: { release?: string; policy?: string; decisions?: Decision[] };
  status?: { phase?: string; received?: number; required?: number; message?: string };
}
export interface DecisionCheck { allowed: boolean; permitted: boolean; reason?: string | null; progress?: string }
export interface ReleaseDetail {
  release: Release; approvalRequest: ApprovalRequest | null; decision: DecisionCheck | null;
  /** The same check for Reject; absent from older servers, then `decision` applies to both. */
  rejectDecision?: DecisionCheck | null; diff: string | null;
}

export interface Workload {
  metadata: Meta;
  spec: { chart?: string; version?: string; targetNamespace?: string; environments?: Record<string, { version?: string }> };
  status?: { environments?: Record<string, { version?: string; release?: string; commit?: string; health?: string }> };
}
export interface Tenant {
  metadata: Meta;
  spec: { environment?: string; cluster?: string; namespace?: string; labels?: Record<string, string>; suspended?: boolean };
}
export interface Project {
  metadata: Meta;
  spec: {
    displayName?: string; description?: string; environments?: string[];
    repository?: { url?: string; branch?: string; path?: string }; delivery?: string;
    teams?: { group: string; role: string; environments?: string[] }[];
  };
  status?: { namespace?: string; phase?: string; lastCommit?: string };
}
export interface ProjectDetail {
  project: Project;
  environments: { name: string; cell: Cell; releases: ReleaseSummary[] }[];
  workloads: Workload[]; tenants: Tenant[];
}

export interface BreakGlassSession {
  metadata: Meta;
  spec: {
    justification?: string; severity?: string;
    scope?: { environments?: string[]; workloads?: string[]; tenants?: string[] };
    duration?: string; incidentUrl?: string; closed?: boolean; closingNote?: string; requestedBy?: string;
  };
  status?: {
    phase?: string; activatedAt?: string; expiresAt?: string;
    actions?: { time?: string; user?: string; release?: string; operation?: string }[]; sealedDigest?: string;
  };
}

export interface FieldDiff { path: string; left: unknown; right: unknown }
export interface CompareResult {
  left: string; right: string; identical: boolean;
  workloads: {
    workload: string; leftChart?: string | null; rightChart?: string | null; values?: FieldDiff[];
    manifests?: { object: string; change: string; fields?: FieldDiff[] }[];
  }[];
}

export interface Variable {
  name: string;
  definitions: { scope: string; value: unknown }[];
  resolved: { tenant: string; environment?: string; value: unknown; scope?: string }[];
}

export interface ChartInfo {
  name: string; description?: string; owners?: string[]; latest?: string;
  versions: {
    version: string; changelog?: string; deprecated?: boolean; deprecationMessage?: string;
    consumers?: { project: string; workload: string; environment?: string }[];
  }[];
}

export interface AuditEntry {
  time?: string; source?: string; project?: string; actor?: string; action?: string; object?: string;
  message?: string; environment?: string; workloads?: string[] | string; commit?: string;
}

export interface LogLine { time?: string; tenant?: string; pod?: string; container?: string; text: string }
/** `failures`: containers whose log could not be read, and why. */
export interface Logs { statement: string; lines: LogLine[]; failures?: string[] }

export interface SearchItem { kind: string; label: string; detail?: string; href: string }
