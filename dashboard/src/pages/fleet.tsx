import { enc, type Cell, type CellStatus, type Fleet } from '../api';
import { useApi } from '../live';
import { Badge, Empty, ErrorBox, Loading, Page, Time } from '../ui';

const statusWord: Record<CellStatus, string> = {
  green: 'Healthy',
  yellow: 'Attention',
  red: 'Failing',
  grey: 'Nothing runs',
};

export function CellView({ cell, project, env }: { cell: Cell | undefined; project: string; env: string }) {
  const c: Cell = cell ?? {
    status: 'grey',
    summary: 'not part of this project',
    workloads: [],
    lastRelease: null,
    pendingApprovals: 0,
    drift: false,
  };
  return (
    <div
      class={`cell status-${c.status}`}
      data-testid="fleet-cell"
      data-project={project}
      data-env={env}
      data-status={c.status}
    >
      <div class="cell-head">
        <span class="cell-status">{statusWord[c.status] ?? c.status}</span>
        {c.drift ? <span class="badge tone-yellow">Drift</span> : null}
        {c.pendingApprovals ? (
          <a class="badge tone-yellow" href="#/approvals">
            {c.pendingApprovals} pending approval{c.pendingApprovals === 1 ? '' : 's'}
          </a>
        ) : null}
      </div>
      {c.summary ? <p class="cell-summary">{c.summary}</p> : null}
      {c.workloads && c.workloads.length ? (
        <ul class="cell-workloads">
          {c.workloads.map((w) => (
            <li>
              <span>{w.name}</span> <code>{w.version ?? '—'}</code>
              {w.health && w.health !== 'Healthy' ? (
                <>
                  {' '}
                  <Badge value={w.health} />
                </>
              ) : null}
            </li>
          ))}
        </ul>
      ) : null}
      {c.lastRelease ? (
        <p class="cell-release">
          <a href={`#/releases/${enc(c.lastRelease.namespace)}/${enc(c.lastRelease.name)}`}>
            {c.lastRelease.title || c.lastRelease.name}
          </a>{' '}
          <Badge value={c.lastRelease.phase} />
        </p>
      ) : null}
    </div>
  );
}

export function FleetPage() {
  const { data, error } = useApi<Fleet>('/api/fleet');
  const envs = [...(data?.environments ?? [])].sort((a, b) => (a.rank ?? 0) - (b.rank ?? 0));
  return (
    <Page title="Fleet">
      <ErrorBox error={error} />
      {!data && !error ? <Loading what="the fleet" /> : null}
      {data ? (
        <>
          <ul class="stats">
            <li>
              <strong>{data.projects.length}</strong> projects
            </li>
            <li>
              <strong>{envs.length}</strong> environments
            </li>
            <li>
              <a href="#/approvals">
                <strong data-testid="fleet-pending">{data.pendingApprovals ?? 0}</strong> pending approval
                {data.pendingApprovals === 1 ? '' : 's'}
              </a>
            </li>
            <li>
              <a href="#/breakglass">
                <strong>{data.breakGlass?.length ?? 0}</strong> active break-glass session
                {data.breakGlass?.length === 1 ? '' : 's'}
              </a>
            </li>
          </ul>
          {data.projects.length === 0 ? (
            <Empty>No projects you can read.</Empty>
          ) : (
            <div class="table-wrap">
              <table class="fleet" data-testid="fleet-grid">
                <caption class="sr-only">Projects by environment</caption>
                <thead>
                  <tr>
                    <th scope="col">Project</th>
                    {envs.map((e) => (
                      <th scope="col" data-testid="fleet-env" data-env={e.name}>
                        <span class="env-name">{e.displayName || e.name}</span>
                        {e.frozen ? (
                          <span class="freeze" data-testid="freeze" title={e.freeze?.reason ?? ''}>
                            Frozen{e.freeze?.name ? ` (${e.freeze.name})` : ''}
                            {e.freeze?.until ? (
                              <>
                                {' '}
                                until <Time value={e.freeze.until} />
                              </>
                            ) : null}
                            {e.freeze?.reason ? <span class="freeze-reason">{e.freeze.reason}</span> : null}
                          </span>
                        ) : (
                          <span class="muted small">open</span>
                        )}
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {data.projects.map((p) => (
                    <tr>
                      <th scope="row">
                        <a href={`#/projects/${enc(p.name)}`}>{p.displayName || p.name}</a>
                      </th>
                      {envs.map((e) => (
                        <td>
                          <CellView cell={p.cells[e.name]} project={p.name} env={e.name} />
                        </td>
                      ))}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      ) : null}
    </Page>
  );
}
