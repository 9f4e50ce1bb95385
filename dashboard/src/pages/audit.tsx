import { useEffect, useState } from 'preact/hooks';
import { qs, type Audit } from '../api';
import { navigate, useApi, type Route } from '../live';
import { Empty, ErrorBox, Loading, Page, Select, TextField, Time, useFleetLists } from '../ui';

/** The filters a route's query names. */
function filters(q: URLSearchParams) {
  return {
    project: q.get('project') ?? '',
    workload: q.get('workload') ?? '',
    user: q.get('user') ?? '',
    since: q.get('since') ?? '24h',
  };
}

export function AuditPage({ route }: { route: Route }) {
  const q = route.query;
  const [f, setF] = useState(() => filters(q));
  useEffect(() => setF(filters(q)), [q]);
  const applied = filters(q);
  const { projects } = useFleetLists();
  const { data, error } = useApi<Audit>(`/api/audit${qs(applied)}`);
  return (
    <Page title="Audit log">
      <form
        class="filters"
        data-testid="audit-form"
        onSubmit={(e) => {
          e.preventDefault();
          navigate(`#/audit${qs(f)}`);
        }}
      >
        <Select
          id="audit-project"
          label="Project"
          value={f.project}
          testid="audit-project"
          placeholder="All projects"
          options={projects.map((p) => ({ value: p.name, label: p.label }))}
          onChange={(v) => setF({ ...f, project: v })}
        />
        <TextField
          id="audit-workload"
          label="Workload"
          value={f.workload}
          testid="audit-workload"
          onInput={(v) => setF({ ...f, workload: v })}
        />
        <TextField
          id="audit-user"
          label="User"
          value={f.user}
          testid="audit-user"
          onInput={(v) => setF({ ...f, user: v })}
        />
        <TextField
          id="audit-since"
          label="Since"
          value={f.since}
          testid="audit-since"
          placeholder="2h"
          onInput={(v) => setF({ ...f, since: v })}
        />
        <div class="field field-button">
          <button type="submit" class="primary" data-testid="audit-submit">
            Filter
          </button>
        </div>
      </form>
      <ErrorBox error={error} />
      {!data && !error ? <Loading what="the audit log" /> : null}
      {data && data.entries.length === 0 ? <Empty>No entries match.</Empty> : null}
      {data && data.entries.length ? (
        <div class="table-wrap">
          <table data-testid="audit-table">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Source</th>
                <th scope="col">Project</th>
                <th scope="col">Actor</th>
                <th scope="col">Action</th>
                <th scope="col">Object</th>
                <th scope="col">Environment</th>
                <th scope="col">Workloads</th>
                <th scope="col">Commit</th>
                <th scope="col">Message</th>
              </tr>
            </thead>
            <tbody>
              {data.entries.map((e) => (
                <tr data-testid="audit-row">
                  <td>
                    <Time value={e.time} />
                  </td>
                  <td>{e.source ?? ''}</td>
                  <td>{e.project ?? ''}</td>
                  <td>{e.actor ?? ''}</td>
                  <td>{e.action ?? ''}</td>
                  <td>{e.object ?? ''}</td>
                  <td>{e.environment ?? ''}</td>
                  <td>{Array.isArray(e.workloads) ? e.workloads.join(', ') : (e.workloads ?? '')}</td>
                  <td>
                    <code>{e.commit ? e.commit.slice(0, 12) : ''}</code>
                  </td>
                  <td class="wrap">{e.message ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </Page>
  );
}
