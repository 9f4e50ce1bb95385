import { qs, type Variables } from '../api';
import { navigate, useApi, type Route } from '../live';
import { Empty, ErrorBox, Loading, Page, Select, Value, useFleetLists } from '../ui';
import { ScopesEditor } from './variables-editor';

export function VariablesPage({ route }: { route: Route }) {
  const project = route.query.get('project') ?? '';
  const { projects } = useFleetLists();
  const { data, error } = useApi<Variables>(project ? `/api/variables${qs({ project })}` : null);
  return (
    <Page title="HQ Variables">
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <Select
          id="variables-project"
          label="Project"
          value={project}
          testid="variables-project"
          placeholder="Choose a project"
          options={projects.map((p) => ({ value: p.name, label: p.label }))}
          onChange={(v) => navigate(`#/variables${qs({ project: v })}`)}
        />
      </form>
      <ErrorBox error={error} />
      {!project ? <Empty>Choose a project to see its variables.</Empty> : null}
      {project ? <ScopesEditor key={project} project={project} /> : null}
      {project ? <h2>Resolution per tenant</h2> : null}
      {project && !data && !error ? <Loading what="variables" /> : null}
      {data && data.variables.length === 0 ? <Empty>This project defines no HQ variables.</Empty> : null}
      {data?.variables.map((v) => (
        <section class="card" data-testid="variable" data-name={v.name} aria-labelledby={`var-${v.name}`}>
          <h2 id={`var-${v.name}`}>
            <code>{`{{hq.var.${v.name}}}`}</code>
          </h2>
          <div class="two-col">
            <div>
              <h3>Definitions</h3>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Scope</th>
                    <th scope="col">Value</th>
                  </tr>
                </thead>
                <tbody>
                  {v.definitions.map((d) => (
                    <tr>
                      <th scope="row">{d.scope}</th>
                      <td>
                        <Value v={d.value} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <div>
              <h3>Resolves to</h3>
              {v.resolved.length ? (
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Tenant</th>
                      <th scope="col">Environment</th>
                      <th scope="col">Value</th>
                      <th scope="col">From scope</th>
                    </tr>
                  </thead>
                  <tbody>
                    {v.resolved.map((r) => (
                      <tr>
                        <th scope="row">{r.tenant}</th>
                        <td>{r.environment ?? '—'}</td>
                        <td>
                          <Value v={r.value} />
                        </td>
                        <td>{r.scope ?? '—'}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              ) : (
                <Empty>No tenant resolves it.</Empty>
              )}
            </div>
          </div>
        </section>
      ))}
    </Page>
  );
}
