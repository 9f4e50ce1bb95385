import { enc, type Charts } from '../api';
import { useApi } from '../live';
import { Empty, ErrorBox, Loading, Page } from '../ui';

export function ChartsPage() {
  const { data, error } = useApi<Charts>('/api/charts');
  return (
    <Page title="Chart registry">
      <ErrorBox error={error} />
      {!data && !error ? <Loading what="charts" /> : null}
      {data && data.charts.length === 0 ? <Empty>No charts are registered.</Empty> : null}
      {data?.charts.map((c) => (
        <section class="card" data-testid="chart" data-name={c.name} aria-labelledby={`chart-${c.name}`}>
          <h2 id={`chart-${c.name}`}>
            {c.name} {c.latest ? <span class="badge tone-green">latest {c.latest}</span> : null}
          </h2>
          {c.description ? <p>{c.description}</p> : null}
          <p class="small muted">Owners: {(c.owners ?? []).join(', ') || '—'}</p>
          <table>
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">Status</th>
                <th scope="col">Changelog</th>
                <th scope="col">Consumers</th>
              </tr>
            </thead>
            <tbody>
              {c.versions.map((v) => (
                <tr data-testid="chart-version" data-version={v.version}>
                  <th scope="row">
                    <code>{v.version}</code>
                  </th>
                  <td>
                    {v.deprecated ? (
                      <>
                        <span class="badge tone-red" data-testid="deprecated-badge">
                          Deprecated
                        </span>
                        {v.deprecationMessage ? <div class="small">{v.deprecationMessage}</div> : null}
                      </>
                    ) : (
                      <span class="badge tone-green">Supported</span>
                    )}
                  </td>
                  <td>{v.changelog ?? '—'}</td>
                  <td>
                    {v.consumers?.length ? (
                      <ul class="plain">
                        {v.consumers.map((u) => (
                          <li>
                            <a href={`#/projects/${enc(u.project)}`}>{u.project}</a> / {u.workload}
                            {u.environment ? ` (${u.environment})` : ''}
                          </li>
                        ))}
                      </ul>
                    ) : (
                      <span class="muted">none</span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ))}
    </Page>
  );
}
