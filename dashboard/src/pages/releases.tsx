import { enc, qs, type Releases, type ReleaseSummary } from '../api';
import { navigate, useApi, type Route } from '../live';
import { Badge, Empty, ErrorBox, Loading, Page, Select, Time, useFleetLists } from '../ui';

export function ReleaseTable({ releases, showProject = true }: { releases: ReleaseSummary[]; showProject?: boolean }) {
  if (releases.length === 0) return <Empty>No releases.</Empty>;
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">Release</th>
            {showProject ? <th scope="col">Project</th> : null}
            <th scope="col">Environment</th>
            <th scope="col">Type</th>
            <th scope="col">Phase</th>
            <th scope="col">Approvals</th>
            <th scope="col">Created by</th>
            <th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {releases.map((r) => (
            <tr data-testid="release-row" data-release={`${r.namespace}/${r.name}`}>
              <th scope="row">
                <a href={`#/releases/${enc(r.namespace)}/${enc(r.name)}`}>{r.title || r.name}</a>
                <div class="muted small">{r.name}</div>
              </th>
              {showProject ? <td>{r.namespace}</td> : null}
              <td>{r.environment ?? '—'}</td>
              <td>{r.type ?? '—'}</td>
              <td>
                <Badge value={r.phase} />
                {r.message ? <div class="small muted">{r.message}</div> : null}
              </td>
              <td>
                {r.approvals ? (
                  <span>
                    {r.approvals.received ?? 0} of {r.approvals.required ?? 0}
                  </span>
                ) : (
                  <span class="muted">—</span>
                )}
              </td>
              <td>{r.createdBy ?? '—'}</td>
              <td>
                <Time value={r.created} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function ReleasesPage({ route }: { route: Route }) {
  const project = route.query.get('project') ?? '';
  const { projects } = useFleetLists();
  const { data, error } = useApi<Releases>(`/api/releases${qs({ project })}`);
  return (
    <Page title="Releases">
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <Select
          id="releases-project"
          label="Project"
          value={project}
          placeholder="All projects"
          options={projects.map((p) => ({ value: p.name, label: p.label }))}
          onChange={(v) => navigate(`#/releases${qs({ project: v })}`)}
        />
      </form>
      <ErrorBox error={error} />
      {!data && !error ? <Loading what="releases" /> : null}
      {data ? <ReleaseTable releases={data.releases} /> : null}
    </Page>
  );
}
