import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { enc, qs, type Logs, type ProjectDetail } from '../api';
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

const KEYS = ['project', 'workload', 'tenant', 'container', 'tail', 'since', 'grep'] as const;
type Form = Record<(typeof KEYS)[number], string>;

export function DiagnosticsPage({ route }: { route: Route }) {
  const q = route.query;
  const read = (): Form => {
    const f = {} as Form;
    for (const k of KEYS) f[k] = q.get(k) ?? (k === 'tail' ? '100' : k === 'since' ? '1h' : '');
    return f;
  };
  const [f, setF] = useState(read);
  useEffect(() => setF(read()), [route.raw]);
  const applied = read();
  const { projects } = useFleetLists();
  const pd = useApi<ProjectDetail>(f.project ? `/api/projects/${enc(f.project)}` : null);
  const ready = applied.project && applied.workload;
  // Logs are read on request, not on every change of the objects the other pages watch.
  const { data, error, loading, reload } = useApi<Logs>(ready ? `/api/logs${qs(applied)}` : null, false);
  const set = (k: keyof Form) => (v: string) => setF({ ...f, [k]: v });
  return (
    <Page title="Diagnostics">
      <p class="limits" data-testid="diagnostics-limits">Limits: at most 10000 lines (tail), a time range of at most 168h (since), at most 50 pods per tenant.</p>
      <form class="filters" data-testid="diagnostics-form" onSubmit={(e) => {
        e.preventDefault();
        const target = `#/diagnostics${qs(f)}`;
        if ('#' + route.raw === target) reload(); else navigate(target);
      }}>
        <Select id="diag-project" label="Project" value={f.project} testid="diag-project" required placeholder="Choose a project"
          options={projects.map((p) => ({ value: p.name, label: p.label }))} onChange={(v) => setF({ ...f, project: v, workload: '', tenant: '' })} />
        <Select id="diag-workload" label="Workload" value={f.workload} testid="diag-workload" required placeholder="Choose a workload"
          options={(pd.data?.workloads ?? []).map((w) => ({ value: w.metadata.name, label: w.metadata.name }))} onChange={set('workload')} />
        <Select id="diag-tenant" label="Tenant" value={f.tenant} testid="diag-tenant" placeholder="All tenants"
          options={(pd.data?.tenants ?? []).map((t) => ({ value: t.metadata.name, label: `${t.metadata.name}${t.spec.environment ? ` (${t.spec.environment})` : ''}` }))} onChange={set('tenant')} />
        <TextField id="diag-container" label="Container" value={f.container} testid="diag-container" onInput={set('container')} />
        <TextField id="diag-tail" label="Tail (lines)" type="number" min={1} max={10000} value={f.tail} testid="diag-tail" onInput={set('tail')} />
        <TextField id="diag-since" label="Since" value={f.since} testid="diag-since" placeholder="1h" onInput={set('since')} />
        <TextField id="diag-grep" label="Search" value={f.grep} testid="diag-grep" onInput={set('grep')} />
        <div class="field field-button"><button type="submit" class="primary" data-testid="diag-submit">Show logs</button></div>
      </form>
      <ErrorBox error={error} />
      <ErrorBox error={pd.error} />
      {!ready ? <Empty>Choose a project and a workload.</Empty> : null}
      {ready && loading && !data ? <Loading what="logs" /> : null}
      {data ? (
        <>
          <p class="statement" data-testid="diagnostics-statement">{data.statement}</p>
          {data.lines.length === 0 ? <Empty>No lines.</Empty> : null}
          <pre class="logs" data-testid="diagnostics-lines" tabIndex={0} aria-label="Log lines">
            {data.lines.map((l) => (
              <span class="log-line"><span class="log-meta">{l.time ?? ''} {l.tenant ?? ''}/{l.pod ?? ''}/{l.container ?? ''}</span> <Highlight text={l.text} term={applied.grep} />{'\n'}</span>
            ))}
          </pre>
        </>
      ) : null}
    </Page>
  );
}
