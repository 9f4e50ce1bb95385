import { useEffect, useState } from 'preact/hooks';
import { enc, qs, type Comparison, type FieldDiff, type ProjectDetail, type Releases } from '../api';
import { navigate, useApi, type Route } from '../live';
import { Badge, Empty, ErrorBox, Loading, Page, Select, Value, same, useFleetLists } from '../ui';

function Rows({ rows, left, right }: { rows: FieldDiff[]; left: string; right: string }) {
  return (
    <table class="compare">
      <thead>
        <tr>
          <th scope="col">Path</th>
          <th scope="col">{left}</th>
          <th scope="col">{right}</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((f) => {
          const diff = !same(f.left, f.right);
          return (
            <tr class={diff ? 'changed' : ''} data-testid="compare-row" data-changed={String(diff)} data-path={f.path}>
              <th scope="row">
                <code>{f.path}</code>
                {diff ? <span class="sr-only"> (differs)</span> : null}
              </th>
              <td>
                <Value v={f.left} />
              </td>
              <td>
                <Value v={f.right} />
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

export function ComparePage({ route }: { route: Route }) {
  const q = route.query;
  const [project, setProject] = useState(q.get('project') ?? '');
  const [left, setLeft] = useState(q.get('left') ?? '');
  const [right, setRight] = useState(q.get('right') ?? '');
  const [workload, setWorkload] = useState(q.get('workload') ?? '');
  useEffect(() => {
    setProject(q.get('project') ?? '');
    setLeft(q.get('left') ?? '');
    setRight(q.get('right') ?? '');
    setWorkload(q.get('workload') ?? '');
  }, [q]);
  const { projects, environments } = useFleetLists();
  const pd = useApi<ProjectDetail>(project ? `/api/projects/${enc(project)}` : null);
  const envNames = pd.data?.project.spec.environments ?? environments.map((e) => e.name);
  const tenants = pd.data?.tenants ?? [];
  const rel = useApi<Releases>(project ? `/api/releases${qs({ project })}` : null);
  const sides = [
    ...envNames.map((e) => ({ value: e, label: e, group: 'Environments' })),
    ...tenants.map((t) => ({ value: t.metadata.name, label: t.metadata.name, group: 'Tenants' })),
    ...tenants
      .filter((t) => t.spec.environment)
      .map((t) => ({
        value: `${t.spec.environment}/${t.metadata.name}`,
        label: `${t.spec.environment}/${t.metadata.name}`,
        group: 'Environment / tenant',
      })),
    // A release: its first tenant as the release would leave it.
    ...(rel.data?.releases ?? []).map((r) => ({
      value: `release:${r.name}`,
      label: `${r.name} (${r.environment})`,
      group: 'Releases',
    })),
  ];
  const applied = {
    project: q.get('project') ?? '',
    left: q.get('left') ?? '',
    right: q.get('right') ?? '',
    workload: q.get('workload') ?? '',
  };
  const ready = applied.project && applied.left && applied.right;
  const { data, error, loading } = useApi<Comparison>(ready ? `/api/compare${qs(applied)}` : null);
  return (
    <Page title="Environment compare">
      <form
        class="filters"
        data-testid="compare-form"
        onSubmit={(e) => {
          e.preventDefault();
          navigate(`#/compare${qs({ project, left, right, workload })}`);
        }}
      >
        <Select
          id="compare-project"
          label="Project"
          value={project}
          onChange={setProject}
          testid="compare-project"
          required
          options={projects.map((p) => ({ value: p.name, label: p.label }))}
          placeholder="Choose a project"
        />
        <Select
          id="compare-left"
          label="Left"
          value={left}
          onChange={setLeft}
          testid="compare-left"
          options={sides}
          required
          placeholder="Choose"
        />
        <Select
          id="compare-right"
          label="Right"
          value={right}
          onChange={setRight}
          testid="compare-right"
          options={sides}
          required
          placeholder="Choose"
        />
        <Select
          id="compare-workload"
          label="Workload"
          value={workload}
          onChange={setWorkload}
          testid="compare-workload"
          placeholder="All workloads"
          options={(pd.data?.workloads ?? []).map((w) => ({ value: w.metadata.name, label: w.metadata.name }))}
        />
        <div class="field field-button">
          <button type="submit" class="primary" data-testid="compare-submit">
            Compare
          </button>
        </div>
      </form>
      <ErrorBox error={error} />
      {!ready ? <Empty>Choose a project and two environments or tenants to compare.</Empty> : null}
      {ready && !data && !error && loading ? <Loading what="the comparison" /> : null}
      {data ? (
        <div data-testid="compare-result" data-identical={String(data.identical)}>
          <p class="message">
            {data.identical
              ? `${data.left} and ${data.right} render identically.`
              : `Differences between ${data.left} and ${data.right}; changed fields are highlighted.`}
          </p>
          {data.workloads.map((w) => (
            <section class="card" aria-labelledby={`cmp-${w.workload}`}>
              <h2 id={`cmp-${w.workload}`}>{w.workload}</h2>
              <h3>Chart and values</h3>
              <Rows
                left={data.left}
                right={data.right}
                rows={[{ path: 'chart', left: w.leftChart ?? null, right: w.rightChart ?? null }, ...(w.values ?? [])]}
              />
              <h3>Rendered manifests</h3>
              {w.manifests?.length ? (
                w.manifests.map((m) => (
                  <div class="manifest">
                    <p>
                      <code>{m.object}</code>{' '}
                      <Badge
                        value={m.change}
                        tone={m.change === 'added' ? 'green' : m.change === 'removed' ? 'red' : 'yellow'}
                      />
                    </p>
                    {m.fields?.length ? <Rows left={data.left} right={data.right} rows={m.fields} /> : null}
                  </div>
                ))
              ) : (
                <Empty>Rendered manifests are the same.</Empty>
              )}
            </section>
          ))}
        </div>
      ) : null}
    </Page>
  );
}
