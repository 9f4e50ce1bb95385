import type { JSX } from 'preact';
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { ApiError, enc, get, qs, type LogLine, type Logs, type ProjectDetail } from '../api';
import { navigate, useApi, type Route } from '../live';
import { Empty, ErrorBox, Loading, Page, Select, TextField, useFleetLists } from '../ui';

function Highlight({ text, term }: { text: string; term: string }) {
  if (!term) return <>{text}</>;
  const parts: (string | JSX.Element)[] = [];
  const lower = text.toLowerCase();
  const t = term.toLowerCase();
  let at = 0;
  for (let i = lower.indexOf(t); i >= 0 && t; i = lower.indexOf(t, at)) {
    parts.push(text.slice(at, i), <mark>{text.slice(i, i + t.length)}</mark>);
    at = i + t.length;
  }
  parts.push(text.slice(at));
  return <>{parts}</>;
}

// Following keeps at most this many lines on the page, dropping the oldest.
export const MAX_FOLLOWED_LINES = 5000;

type Followed = LogLine & { seq: number };
type StreamPhase = 'connecting' | 'open' | 'ended' | 'stopped' | 'interrupted' | 'failed';
interface StreamState {
  statement: string | null;
  lines: Followed[];
  /** How many of the oldest lines were dropped to keep MAX_FOLLOWED_LINES. */
  dropped: number;
  phase: StreamPhase;
  /** The `end` event's words. */
  ended?: string;
  /** Containers whose log cannot be read (any more), and why. */
  failures: string[];
  error?: ApiError;
  /** The stream this state is of (query and run), so a new one never shows an old one's lines. */
  of?: string;
}
const opening: StreamState = { statement: null, lines: [], dropped: 0, phase: 'connecting', failures: [] };

function parseLine(data: string): LogLine {
  try {
    const v: unknown = JSON.parse(data);
    if (v && typeof v === 'object' && typeof (v as Partial<LogLine>).text === 'string') return v as LogLine;
  } catch {
    // shown as it came
  }
  return { time: null, tenant: '', pod: '', container: '', text: data };
}

// Follow `GET /api/logs/stream` + `query` (null: nothing to follow). A new `run` opens a new
// stream. The stream is closed when the query or run changes, on unmount, by `stop`, on `end`
// and on a lost connection (EventSource would reconnect and send the tail again). An error
// before the statement is explained by asking `GET /api/logs` the same once: EventSource
// cannot read the JSON error the server answers with.
function useLogStream(query: string | null, run: number): StreamState & { stop: () => void } {
  const [state, setState] = useState<StreamState>(opening);
  const stopRef = useRef<() => void>(() => {});
  useEffect(() => {
    stopRef.current = () => {};
    if (query === null) return;
    const of = `${run} ${query}`;
    setState({ ...opening, of });
    let current = true; // this effect has not been cleaned up
    let open = true; // the EventSource is not closed
    let statement = false;
    let seq = 0;
    let buffer: Followed[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const es = new EventSource(`/api/logs/stream${query}`, { withCredentials: true });
    // Lines arriving in a burst (the tail, first of all) are drawn together.
    const flush = () => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      const add = buffer;
      buffer = [];
      if (!add.length || !current) return;
      setState((s) => {
        const lines = s.lines.concat(add);
        const over = Math.max(0, lines.length - MAX_FOLLOWED_LINES);
        return { ...s, lines: over ? lines.slice(over) : lines, dropped: s.dropped + over };
      });
    };
    const close = (phase: StreamPhase, more: Partial<StreamState> = {}) => {
      if (!open) return;
      open = false;
      es.close();
      flush();
      if (current) setState((s) => ({ ...s, ...more, phase }));
    };
    es.addEventListener('statement', (e) => {
      statement = true;
      if (current && open) setState((s) => ({ ...s, statement: String(e.data), phase: 'open' }));
    });
    es.addEventListener('line', (e) => {
      if (!open) return;
      buffer.push({ ...parseLine(String(e.data)), seq: seq++ });
      if (timer === undefined) timer = setTimeout(flush, 100);
    });
    es.addEventListener('failure', (e) => {
      if (!open || !current) return;
      let why = String(e.data || '');
      try {
        const f = JSON.parse(why) as { tenant?: string; pod?: string; container?: string; message?: string };
        why = `${f.tenant ?? ''}/${f.pod ?? ''}/${f.container ?? ''}: ${f.message ?? ''}`;
      } catch {
        /* shown as sent */
      }
      setState((s) => ({ ...s, failures: s.failures.concat(why) }));
    });
    es.addEventListener('end', (e) => close('ended', { ended: String(e.data || '') }));
    es.addEventListener('error', () => {
      if (!open) return;
      if (statement) {
        close('interrupted', {
          error: new ApiError(
            0,
            'the log stream was interrupted: the connection to the dashboard server was lost',
            'press Follow logs to follow again (the tail is read again)',
          ),
        });
        return;
      }
      close('failed');
      get<Logs>(`/api/logs${query}`).then(
        () => {
          if (current)
            setState((s) => ({
              ...s,
              error: new ApiError(
                0,
                `GET /api/logs/stream${query} could not be opened, although GET /api/logs with the same query answers`,
                'try again; if it keeps failing, check that any proxy in front of the dashboard passes server-sent events (text/event-stream) through',
              ),
            }));
        },
        (err: unknown) => {
          if (current)
            setState((s) => ({ ...s, error: err instanceof ApiError ? err : new ApiError(0, String(err), '') }));
        },
      );
    });
    stopRef.current = () => close('stopped');
    return () => {
      current = false;
      open = false;
      es.close();
      if (timer !== undefined) clearTimeout(timer);
      stopRef.current = () => {};
    };
  }, [query, run]);
  const stop = useCallback(() => stopRef.current(), []);
  return { ...(state.of === `${run} ${query}` ? state : opening), stop };
}

const KEYS = ['project', 'workload', 'tenant', 'container', 'tail', 'since', 'grep'] as const;
type Form = Record<(typeof KEYS)[number], string> & { follow: boolean };

/** The form a route's query fills in. */
function formOf(q: URLSearchParams): Form {
  const f = { follow: q.get('follow') === '1' } as Form;
  for (const k of KEYS) f[k] = q.get(k) ?? (k === 'tail' ? '100' : k === 'since' ? '1h' : '');
  return f;
}

function LogLines({ lines, term, follow }: { lines: (LogLine & { seq?: number })[]; term: string; follow: boolean }) {
  const box = useRef<HTMLPreElement>(null);
  // While following, new lines keep the box scrolled to the end unless the reader scrolled up.
  const pinned = useRef(true);
  useLayoutEffect(() => {
    const el = box.current;
    if (follow && el && pinned.current) el.scrollTop = el.scrollHeight;
  }, [lines, follow]);
  return (
    <pre
      class="logs"
      data-testid="diagnostics-lines"
      tabIndex={0}
      aria-label="Log lines"
      ref={box}
      onScroll={(e) => {
        const el = e.currentTarget;
        pinned.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
      }}
    >
      {lines.map((l) => (
        <span class="log-line" key={l.seq}>
          <span class="log-meta">
            {l.time ?? ''} {l.tenant ?? ''}/{l.pod ?? ''}/{l.container ?? ''}
          </span>{' '}
          <Highlight text={l.text} term={term} />
          {'\n'}
        </span>
      ))}
    </pre>
  );
}

function Failures({ failures }: { failures: string[] }) {
  if (!failures.length) return null;
  return (
    <div class="small" data-testid="diagnostics-failures">
      <p>
        Not read ({failures.length} {failures.length === 1 ? 'container' : 'containers'}):
      </p>
      <ul>
        {failures.map((f) => (
          <li>{f}</li>
        ))}
      </ul>
    </div>
  );
}

function FollowStatus({ s }: { s: StreamState & { stop: () => void } }) {
  const streaming = s.phase === 'connecting' || s.phase === 'open';
  const n = `${s.lines.length} ${s.lines.length === 1 ? 'line' : 'lines'} shown`;
  const words =
    s.phase === 'connecting'
      ? 'Opening the log stream…'
      : s.phase === 'open'
        ? 'Following new lines.'
        : s.phase === 'ended'
          ? `The stream ended${s.ended ? `: ${s.ended}` : ''}.`
          : s.phase === 'stopped'
            ? 'Stopped following.'
            : s.phase === 'interrupted'
              ? 'The stream was interrupted.'
              : 'The log stream could not be opened.';
  return (
    <div class="follow-status">
      <p role="status" data-testid="diagnostics-follow-status" data-phase={s.phase}>
        {words}
      </p>
      {s.statement !== null ? <p class="small muted">{n}</p> : null}
      {streaming ? (
        <button type="button" data-testid="diagnostics-stop" onClick={s.stop}>
          Stop
        </button>
      ) : null}
    </div>
  );
}

export function DiagnosticsPage({ route }: { route: Route }) {
  const q = route.query;
  const [f, setF] = useState(() => formOf(q));
  useEffect(() => setF(formOf(q)), [q]);
  const applied = formOf(q);
  const { follow, ...params } = applied;
  const { projects } = useFleetLists();
  const pd = useApi<ProjectDetail>(f.project ? `/api/projects/${enc(f.project)}` : null);
  const ready = applied.project && applied.workload;
  const query = qs(params);
  // Logs are read on request, not on every change of the objects the other pages watch.
  const { data, error, loading, reload } = useApi<Logs>(ready && !follow ? `/api/logs${query}` : null, false);
  // Submitting the same form again while following opens a new stream.
  const [run, setRun] = useState(0);
  const stream = useLogStream(ready && follow ? query : null, run);
  const streaming = stream.phase === 'connecting' || stream.phase === 'open';
  const set = (k: (typeof KEYS)[number]) => (v: string) => setF({ ...f, [k]: v });
  return (
    <Page title="Diagnostics">
      <p class="limits" data-testid="diagnostics-limits">
        Limits: at most 10000 lines (tail), a time range of at most 168h (since), at most 50 pods per tenant. While
        following, the page keeps the newest {MAX_FOLLOWED_LINES} lines.
      </p>
      <form
        class="filters"
        data-testid="diagnostics-form"
        onSubmit={(e) => {
          e.preventDefault();
          const { follow: on, ...rest } = f;
          const target = `#/diagnostics${qs({ ...rest, follow: on ? '1' : '' })}`;
          if ('#' + route.raw !== target) navigate(target);
          else if (on) setRun((n) => n + 1);
          else reload();
        }}
      >
        <Select
          id="diag-project"
          label="Project"
          value={f.project}
          testid="diag-project"
          required
          placeholder="Choose a project"
          options={projects.map((p) => ({ value: p.name, label: p.label }))}
          onChange={(v) => setF({ ...f, project: v, workload: '', tenant: '' })}
        />
        <Select
          id="diag-workload"
          label="Workload"
          value={f.workload}
          testid="diag-workload"
          required
          placeholder="Choose a workload"
          options={(pd.data?.workloads ?? []).map((w) => ({ value: w.metadata.name, label: w.metadata.name }))}
          onChange={set('workload')}
        />
        <Select
          id="diag-tenant"
          label="Tenant"
          value={f.tenant}
          testid="diag-tenant"
          placeholder="All tenants"
          options={(pd.data?.tenants ?? []).map((t) => ({
            value: t.metadata.name,
            label: `${t.metadata.name}${t.spec.environment ? ` (${t.spec.environment})` : ''}`,
          }))}
          onChange={set('tenant')}
        />
        <TextField
          id="diag-container"
          label="Container"
          value={f.container}
          testid="diag-container"
          onInput={set('container')}
        />
        <TextField
          id="diag-tail"
          label="Tail (lines)"
          type="number"
          min={1}
          max={10000}
          value={f.tail}
          testid="diag-tail"
          onInput={set('tail')}
        />
        <TextField
          id="diag-since"
          label="Since"
          value={f.since}
          testid="diag-since"
          placeholder="1h"
          onInput={set('since')}
        />
        <TextField id="diag-grep" label="Search" value={f.grep} testid="diag-grep" onInput={set('grep')} />
        <div class="field field-check">
          <span class="check">
            <input
              type="checkbox"
              id="diag-follow"
              data-testid="diagnostics-follow"
              checked={f.follow}
              onChange={(e) => {
                const on = e.currentTarget.checked;
                setF({ ...f, follow: on });
                // Switching follow off stops the stream at once; the lines stay.
                if (!on) stream.stop();
              }}
            />
            <label for="diag-follow">Follow new lines</label>
          </span>
        </div>
        <div class="field field-button">
          <button type="submit" class="primary" data-testid="diag-submit">
            {f.follow ? 'Follow logs' : 'Show logs'}
          </button>
        </div>
      </form>
      {follow ? <ErrorBox error={stream.error} /> : <ErrorBox error={error} />}
      <ErrorBox error={pd.error} />
      {!ready ? <Empty>Choose a project and a workload.</Empty> : null}
      {ready && !follow && loading && !data ? <Loading what="logs" /> : null}
      {ready && !follow && data ? (
        <>
          <p class="statement" data-testid="diagnostics-statement">
            {data.statement}
          </p>
          <Failures failures={data.failures ?? []} />
          {data.lines.length === 0 ? <Empty>No lines.</Empty> : null}
          <LogLines lines={data.lines} term={applied.grep} follow={false} />
        </>
      ) : null}
      {ready && follow ? (
        <>
          <FollowStatus s={stream} />
          {stream.phase === 'failed' && !stream.error ? (
            <Loading what="why the log stream could not be opened" />
          ) : null}
          {stream.statement !== null ? (
            <>
              <p class="statement" data-testid="diagnostics-statement">
                {stream.statement}
              </p>
              <Failures failures={stream.failures} />
              {stream.dropped ? (
                <p class="small muted" data-testid="diagnostics-dropped">
                  The oldest {stream.dropped} {stream.dropped === 1 ? 'line was' : 'lines were'} dropped: the page keeps
                  the newest {MAX_FOLLOWED_LINES}.
                </p>
              ) : null}
              {stream.lines.length === 0 ? <Empty>{streaming ? 'No lines yet.' : 'No lines.'}</Empty> : null}
              <LogLines lines={stream.lines} term={applied.grep} follow={streaming} />
            </>
          ) : null}
        </>
      ) : null}
    </Page>
  );
}
