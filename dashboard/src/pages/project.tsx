import { enc, type ProjectDetail } from '../api';
import { useApi } from '../live';
import { Badge, Empty, ErrorBox, Loading, Page } from '../ui';
import { CellView } from './fleet';
import { ReleaseTable } from './releases';

const PENDING = ['Draft', 'PendingApproval', 'Approved', 'Deploying'];

export function ProjectPage({ name }: { name: string }) {
  const { data, error } = useApi<ProjectDetail>(`/api/projects/${enc(name)}`);
  const p = data?.project;
  return (
    <Page
      title={p ? p.spec.displayName || p.metadata.name : name}
      actions={
        <>
          <a class="button" href={`#/compare?project=${enc(name)}`}>
            Compare environments
          </a>
          <a class="button" href={`#/variables?project=${enc(name)}`}>
            HQ Variables
          </a>
          <a class="button" href={`#/releases?project=${enc(name)}`}>
            All releases
          </a>
          <a class="button" href={`#/projects/${enc(name)}/repository`} data-testid="project-repository">
            Repository
          </a>
        </>
      }
    >
      <ErrorBox error={error} />
      {!data && !error ? <Loading what="the project" /> : null}
      {p ? (
        <>
          {p.spec.description ? <p>{p.spec.description}</p> : null}
          <dl class="facts">
            <div>
              <dt>Namespace</dt>
              <dd>{p.status?.namespace ?? p.metadata.name}</dd>
            </div>
            <div>
              <dt>Delivery</dt>
              <dd>{p.spec.delivery ?? '—'}</dd>
            </div>
            <div>
              <dt>Repository</dt>
              <dd>
                <code>{p.spec.repository?.url ?? '—'}</code>
              </dd>
            </div>
            <div>
              <dt>Last commit</dt>
              <dd>
                <code>{p.status?.lastCommit?.slice(0, 12) ?? '—'}</code>
              </dd>
            </div>
            <div>
              <dt>Teams</dt>
              <dd>{(p.spec.teams ?? []).map((t) => `${t.group} (${t.role})`).join(', ') || '—'}</dd>
            </div>
          </dl>
          {data.environments.map((e) => (
            <section class="env-section" aria-labelledby={`env-${e.name}`} data-testid="project-env" data-env={e.name}>
              <h2 id={`env-${e.name}`}>{e.name}</h2>
              <div class="env-grid">
                <CellView cell={e.cell} project={p.metadata.name} env={e.name} />
                <div>
                  <h3>Workloads</h3>
                  {e.cell.workloads?.length ? (
                    <table>
                      <thead>
                        <tr>
                          <th scope="col">Workload</th>
                          <th scope="col">Version</th>
                          <th scope="col">Health</th>
                          <th scope="col">Release</th>
                          <th scope="col">Commit</th>
                        </tr>
                      </thead>
                      <tbody>
                        {e.cell.workloads.map((w) => (
                          <tr>
                            <th scope="row">{w.name}</th>
                            <td>
                              <code>{w.version ?? '—'}</code>
                            </td>
                            <td>
                              <Badge value={w.health} />
                            </td>
                            <td>
                              {w.release ? (
                                <a href={`#/releases/${enc(p.metadata.name)}/${enc(w.release)}`}>{w.release}</a>
                              ) : (
                                '—'
                              )}
                            </td>
                            <td>
                              <code>{w.commit?.slice(0, 12) ?? '—'}</code>
                            </td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  ) : (
                    <Empty>Nothing deployed.</Empty>
                  )}
                </div>
              </div>
              {(() => {
                const pending = e.releases.filter((r) => PENDING.includes(r.phase ?? ''));
                return pending.length ? (
                  <p class="message" data-testid="project-pending">
                    Pending in {e.name}:{' '}
                    {pending.map((r, i) => (
                      <>
                        {i ? ', ' : ''}
                        <a href={`#/releases/${enc(r.namespace)}/${enc(r.name)}`}>{r.title || r.name}</a> ({r.phase}
                        {r.approvals ? `, ${r.approvals.received ?? 0} of ${r.approvals.required ?? 0} approvals` : ''})
                      </>
                    ))}
                  </p>
                ) : null;
              })()}
              <h3>Recent releases</h3>
              <ReleaseTable releases={e.releases} showProject={false} />
            </section>
          ))}
          <section aria-labelledby="tenants-h">
            <h2 id="tenants-h">Tenants</h2>
            {data.tenants.length ? (
              <table>
                <thead>
                  <tr>
                    <th scope="col">Tenant</th>
                    <th scope="col">Environment</th>
                    <th scope="col">Cluster</th>
                    <th scope="col">Namespace</th>
                    <th scope="col">State</th>
                  </tr>
                </thead>
                <tbody>
                  {data.tenants.map((t) => (
                    <tr>
                      <th scope="row">{t.metadata.name}</th>
                      <td>{t.spec.environment ?? '—'}</td>
                      <td>{t.spec.cluster ?? '—'}</td>
                      <td>{t.spec.namespace ?? '—'}</td>
                      <td>{t.spec.suspended ? <Badge value="Suspended" tone="yellow" /> : 'active'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <Empty>No tenants.</Empty>
            )}
          </section>
          <section aria-labelledby="workloads-h">
            <h2 id="workloads-h">Workloads</h2>
            {data.workloads.length ? (
              <table>
                <thead>
                  <tr>
                    <th scope="col">Workload</th>
                    <th scope="col">Chart</th>
                    <th scope="col">Version</th>
                    <th scope="col">Target namespace</th>
                    <th scope="col">Values</th>
                  </tr>
                </thead>
                <tbody>
                  {data.workloads.map((w) => (
                    <tr>
                      <th scope="row">{w.metadata.name}</th>
                      <td>{w.spec.chart ?? '—'}</td>
                      <td>
                        <code>{w.spec.version ?? '—'}</code>
                      </td>
                      <td>{w.spec.targetNamespace ?? '—'}</td>
                      <td>
                        <a
                          href={`#/projects/${enc(name)}/workloads/${enc(w.metadata.name ?? '')}/values`}
                          data-testid="edit-values"
                        >
                          Edit values
                        </a>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <Empty>No workloads.</Empty>
            )}
          </section>
        </>
      ) : null}
    </Page>
  );
}
