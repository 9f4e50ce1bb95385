import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, get, toApiError, type Change, type ChangedKind } from './api';

// One EventSource per signed-in tab. Every `change` event schedules one refetch of what the
// page shows, debounced so a burst of watch events costs one round of requests.

/** One `change` event: what changed. `null` when the event named nothing readable. */
export type ChangeEvent = Change | null;
type Listener = (events: ChangeEvent[]) => void;
const listeners = new Set<Listener>();
let timer: ReturnType<typeof setTimeout> | undefined;
let pending: ChangeEvent[] = [];
let source: EventSource | undefined;

export type LiveState = 'off' | 'connecting' | 'live' | 'reconnecting';
const stateListeners = new Set<(s: LiveState) => void>();
let liveState: LiveState = 'off';
function setLiveState(s: LiveState) {
  liveState = s;
  stateListeners.forEach((fn) => fn(s));
}

export function onChange(fn: Listener): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

// The first change of a burst schedules the refetch 300 ms later; later changes of the burst
// join it, so a steady stream of events costs at most one round of requests per 300 ms.
export function changed(event: ChangeEvent = null): void {
  pending.push(event);
  if (timer !== undefined) return;
  timer = setTimeout(() => {
    timer = undefined;
    const events = pending;
    pending = [];
    listeners.forEach((fn) => fn(events));
  }, 300);
}

function parse(data: string): ChangeEvent {
  try {
    const v: unknown = JSON.parse(data);
    return v && typeof v === 'object' ? (v as Change) : null;
  } catch {
    return null;
  }
}

/** Whether an event is about one of `kinds`; an event that names nothing may be about anything. */
export function aboutKind(e: ChangeEvent, ...kinds: ChangedKind[]): boolean {
  return !e || kinds.includes(e.kind);
}

export function startEvents(): void {
  if (source) return;
  setLiveState('connecting');
  let wasOpen = false;
  source = new EventSource('/api/events', { withCredentials: true });
  source.addEventListener('open', () => {
    // After a reconnect, changes may have been missed while the stream was down.
    if (wasOpen) changed();
    wasOpen = true;
    setLiveState('live');
  });
  source.addEventListener('change', (e) => changed(parse(String(e.data))));
  source.addEventListener('error', () => {
    if (source && source.readyState === EventSource.CLOSED) setLiveState('off');
    else setLiveState('reconnecting');
  });
}

export function stopEvents(): void {
  source?.close();
  source = undefined;
  setLiveState('off');
}

export function useLiveState(): LiveState {
  const [s, set] = useState(liveState);
  useEffect(() => {
    stateListeners.add(set);
    return () => {
      stateListeners.delete(set);
    };
  }, []);
  return s;
}

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload: () => void;
}

// Fetch `path` (null: nothing to fetch yet), keep the last data while refetching, refetch on
// change event (that `relevant` accepts, when given). Answers to an older path or an older request are dropped.
export function useApi<T>(path: string | null, live = true, relevant?: (e: ChangeEvent) => boolean): Loaded<T> {
  const filter = useRef(relevant);
  filter.current = relevant;
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  const gen = useRef(0);
  const shown = useRef<string | null>(null);

  const load = useCallback(() => {
    if (path === null) return;
    const mine = ++gen.current;
    setLoading(true);
    get<T>(path).then(
      (d) => {
        if (mine !== gen.current) return;
        shown.current = path;
        setData(d);
        setError(undefined);
        setLoading(false);
      },
      (e: unknown) => {
        if (mine !== gen.current) return;
        setError(toApiError(e));
        setLoading(false);
      },
    );
  }, [path]);

  useEffect(() => {
    if (shown.current !== path) {
      setData(undefined);
      setError(undefined);
    }
    if (path === null) {
      gen.current++;
      setLoading(false);
      return;
    }
    load();
    if (!live) return;
    return onChange((events) => {
      const f = filter.current;
      if (!f || events.some((e) => e === null || f(e))) load();
    });
  }, [path, load, live]);

  return { data, error, loading, reload: load };
}

// Hash routing: #/path/segments?query
export interface Route {
  path: string[];
  query: URLSearchParams;
  raw: string;
}

export function parseHash(hash: string): Route {
  const h = hash.replace(/^#/, '');
  const [p, q = ''] = h.split('?', 2);
  const path = p
    .split('/')
    .filter((s) => s !== '')
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
  return { path, query: new URLSearchParams(q), raw: h };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const fn = () => setRoute(parseHash(location.hash));
    addEventListener('hashchange', fn);
    return () => removeEventListener('hashchange', fn);
  }, []);
  return route;
}

export function navigate(href: string): void {
  if (href.startsWith('#')) location.hash = href;
  else if (href.startsWith('/#')) location.hash = href.slice(1);
  else location.href = href;
}
