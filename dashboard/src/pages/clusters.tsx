import { enc, type Clusters } from '../api';
import { useApi } from '../live';
import { Badge, Empty, ErrorBox, Loading, Page, Time } from '../ui';

const phaseTone: Record<string, string> = {
  green: 'green',
  red: 'red',
  yellow: 'yellow',
  grey: 'grey',
};

export function ClustersPage() {
  const { data, error } = useApi<Clusters>('/api/clusters');
  return (
    <Page title="Clusters">
      <ErrorBox error={error} />
      {data ? (
        <p>
          Register a workload cluster (a ServiceAccount there with only the rights GitOpsHQ needs, its token in the
          management cluster): <code data-testid="register-command">{data.register}</code>
        </p>
      ) : null}
      {!data && !error ? <Loading what="clusters" /> : null}
      {data && data.clusters.length === 0 ? <Empty>No clusters are registered, or you may not list them.</Empty> : null}
      {data?.clusters.map((c) => (
        <section
          class="card"
          data-testid="cluster"
          data-name={c.name}
          data-phase={c.phase ?? ''}
          aria-labelledby={`cluster-${c.name}`}
        >
          <h2 id={`cluster-${c.name}`}>
            {c.name} <Badge value={c.phase ?? 'Not reported yet'} tone={phaseTone[c.status]} testid="cluster-phase" />
          </h2>
          <dl class="facts">
            <div>
              <dt>Kubernetes</dt>
              <dd data-testid="cluster-version">{c.serverVersion ?? '—'}</dd>
            </div>
            <div>
              <dt>Last heartbeat</dt>
              <dd>
                <Time value={c.lastHeartbeat} />
              </dd>
            </div>
            <div>
              <dt>Environments</dt>
              <dd>{c.environments.length ? c.environments.join(', ') : 'any'}</dd>
            </div>
            <div>
              <dt>Tenants</dt>
              <dd>{c.tenants.length}</dd>
            </div>
            {Object.keys(c.labels).length ? (
              <div>
                <dt>Labels</dt>
                <dd>
                  {Object.entries(c.labels)
                    .map(([k, v]) => `${k}=${v}`)
                    .join(', ')}
                </dd>
              </div>
            ) : null}
          </dl>
          {c.message && c.phase !== 'Connected' ? (
            <div class="error" data-testid="cluster-message">
              <p>{c.message}</p>
            </div>
          ) : null}
          {c.tenants.length ? (
            <table>
              <thead>
                <tr>
                  <th scope="col">Project</th>
                  <th scope="col">Tenant</th>
                  <th scope="col">Environment</th>
                  <th scope="col">Namespace</th>
                  <th scope="col">Health</th>
                </tr>
              </thead>
              <tbody>
                {c.tenants.map((t) => (
                  <tr data-testid="cluster-tenant" data-tenant={t.name}>
                    <td>
                      <a href={`#/projects/${enc(t.project)}`}>{t.project}</a>
                    </td>
                    <th scope="row">{t.name}</th>
                    <td>{t.environment}</td>
                    <td>
                      <code>{t.namespace}</code>
                    </td>
                    <td>
                      <Badge value={t.health} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p class="muted small">No tenants you may read run here.</p>
          )}
          <p class="small muted">
            Rotate its token: <code>{c.rotate}</code> · Remove it: <code>{c.unregister}</code>
          </p>
        </section>
      ))}
    </Page>
  );
}
