import { useState } from 'preact/hooks';
import {
  enc,
  post,
  type BatchDraft,
  type PromoteRequest,
  type PromotionObject,
  type PromotionTarget,
  type PromotionWritten,
} from '../api';
import { changed } from '../live';
import { Badge, Empty, ErrorBox, useAction } from '../ui';

/** The promotions of a release so far, batch by batch. */
function PromotionList({ namespace, promotions }: { namespace: string; promotions: PromotionObject[] }) {
  if (!promotions.length) return <Empty>No promotion of this release yet.</Empty>;
  return (
    <table data-testid="promotions">
      <thead>
        <tr>
          <th scope="col">Promotion</th>
          <th scope="col">Into</th>
          <th scope="col">Phase</th>
          <th scope="col">Batches</th>
        </tr>
      </thead>
      <tbody>
        {promotions.map((p) => (
          <tr data-testid="promotion" data-name={p.metadata.name ?? ''}>
            <th scope="row">{p.metadata.name}</th>
            <td>{p.spec.toEnvironment ?? 'its own environment'}</td>
            <td>
              <Badge value={p.status?.phase ?? 'Progressing'} testid="promotion-phase" />{' '}
              {p.status?.progress ? <span class="muted">{p.status.progress}</span> : null}
            </td>
            <td>
              <ol class="batches">
                {p.spec.batches.map((b) => {
                  const st = p.status?.batches?.find((s) => s.name === b.name);
                  return (
                    <li data-testid="promotion-batch" data-name={b.name}>
                      <strong>{b.name}</strong> ({b.tenants?.length ? b.tenants.join(', ') : 'the rest'}
                      {b.soak ? `, soak ${b.soak}` : ''}
                      {b.requireApproval ? ', approval' : ''}) <Badge value={st?.phase ?? 'Pending'} />{' '}
                      {st?.release ? (
                        <a href={`#/releases/${enc(namespace)}/${enc(st.release)}`}>{st.release}</a>
                      ) : null}
                    </li>
                  );
                })}
              </ol>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function defaultBatches(tenants: string[]): BatchDraft[] {
  if (tenants.length < 2) return [{ name: 'all', tenants: [], soak: '', requireApproval: false }];
  return [
    { name: 'canary', tenants: [tenants[0]], soak: '10m', requireApproval: false },
    { name: 'rest', tenants: [], soak: '', requireApproval: false },
  ];
}

/**
 * Promote a delivered release, choosing the environment and the batches. Each environment says
 * beforehand whether the person may promote there (RBAC, the release grant, the promotion
 * gate), in the webhook's words; the webhook judges the click again.
 */
export function PromotePanel({
  namespace,
  name,
  targets,
  promotions,
}: {
  namespace: string;
  name: string;
  targets: PromotionTarget[];
  promotions: PromotionObject[];
}) {
  const [environment, setEnvironment] = useState(
    targets.find((t) => t.check.allowed)?.environment ?? targets[0]?.environment ?? '',
  );
  const target = targets.find((t) => t.environment === environment);
  const [batches, setBatches] = useState<BatchDraft[]>(() => defaultBatches(target?.tenants ?? []));
  const [pauseOnDegraded, setPauseOnDegraded] = useState(true);
  const { busy, error, run } = useAction();
  const pick = (env: string) => {
    setEnvironment(env);
    setBatches(defaultBatches(targets.find((t) => t.environment === env)?.tenants ?? []));
  };
  const update = (i: number, change: Partial<BatchDraft>) =>
    setBatches(batches.map((b, j) => (j === i ? { ...b, ...change } : b)));
  const takenBy = (tenant: string, except: number) =>
    batches.findIndex((b, j) => j !== except && b.tenants.includes(tenant));
  const allowed = target?.check.allowed ?? false;
  const send = () =>
    run(async () => {
      await post<PromotionWritten, PromoteRequest>(`/api/releases/${enc(namespace)}/${enc(name)}/promote`, {
        toEnvironment: environment,
        batches: batches.map((b) => ({ ...b, soak: b.soak?.trim() || undefined })),
        pauseOnDegraded,
      });
      changed();
    });
  return (
    <section aria-labelledby="promote-h" data-testid="promote">
      <h2 id="promote-h">Promote</h2>
      <PromotionList namespace={namespace} promotions={promotions} />
      {targets.length ? (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void send();
          }}
        >
          <p class="muted">
            Delivers what this release recorded to the environment's tenants batch by batch: each batch is a release of
            its own (with approval if asked), healthy for its soak before the next starts. A batch with no tenant takes
            the rest (last batch only).
          </p>
          <div class="field">
            <label for="promote-environment">Into environment</label>
            <select
              id="promote-environment"
              data-testid="promote-environment"
              value={environment}
              onChange={(e) => pick(e.currentTarget.value)}
            >
              {targets.map((t) => (
                <option value={t.environment}>
                  {t.environment} ({t.tenants.length} tenant{t.tenants.length === 1 ? '' : 's'})
                </option>
              ))}
            </select>
          </div>
          {target && !target.check.allowed && target.check.reason ? (
            <p class="reason" data-testid="promote-reason">
              {target.check.reason}
            </p>
          ) : null}
          <ol class="batch-editor">
            {batches.map((b, i) => (
              <li data-testid="promote-batch">
                <div class="filters">
                  <div class="field">
                    <label for={`batch-${i}-name`}>Batch name</label>
                    <input
                      id={`batch-${i}-name`}
                      data-testid="promote-batch-name"
                      value={b.name}
                      onInput={(e) => update(i, { name: e.currentTarget.value })}
                    />
                  </div>
                  <div class="field">
                    <label for={`batch-${i}-soak`}>Soak</label>
                    <input
                      id={`batch-${i}-soak`}
                      data-testid="promote-batch-soak"
                      value={b.soak ?? ''}
                      placeholder="10m"
                      onInput={(e) => update(i, { soak: e.currentTarget.value })}
                    />
                  </div>
                  <div class="field">
                    <label>
                      <input
                        type="checkbox"
                        data-testid="promote-batch-approval"
                        checked={b.requireApproval}
                        onChange={(e) => update(i, { requireApproval: e.currentTarget.checked })}
                      />{' '}
                      needs approval
                    </label>
                  </div>
                  <button
                    type="button"
                    disabled={batches.length < 2}
                    title={batches.length < 2 ? 'a promotion has at least one batch' : `remove batch ${b.name}`}
                    onClick={() => setBatches(batches.filter((_, j) => j !== i))}
                  >
                    Remove batch
                  </button>
                </div>
                <fieldset class="tenants">
                  <legend>Tenants {b.tenants.length ? '' : '(none: the rest)'}</legend>
                  {(target?.tenants ?? []).map((t) => {
                    const other = takenBy(t, i);
                    return (
                      <label title={other >= 0 ? `in batch ${batches[other].name}` : ''}>
                        <input
                          type="checkbox"
                          data-testid="promote-batch-tenant"
                          data-tenant={t}
                          checked={b.tenants.includes(t)}
                          disabled={other >= 0}
                          onChange={(e) =>
                            update(i, {
                              tenants: e.currentTarget.checked ? [...b.tenants, t] : b.tenants.filter((x) => x !== t),
                            })
                          }
                        />{' '}
                        {t}
                      </label>
                    );
                  })}
                </fieldset>
              </li>
            ))}
          </ol>
          <div class="buttons">
            <button
              type="button"
              onClick={() =>
                setBatches([
                  ...batches,
                  { name: `wave-${batches.length + 1}`, tenants: [], soak: '', requireApproval: false },
                ])
              }
            >
              Add batch
            </button>
            <label>
              <input
                type="checkbox"
                checked={pauseOnDegraded}
                onChange={(e) => setPauseOnDegraded(e.currentTarget.checked)}
              />{' '}
              pause when a batch degrades
            </label>
            <button
              type="submit"
              class="primary"
              data-testid="promote-button"
              disabled={busy || !allowed}
              title={allowed ? `promote ${name} into ${environment}` : (target?.check.reason ?? '')}
            >
              Promote
            </button>
          </div>
        </form>
      ) : null}
      <ErrorBox error={error} />
    </section>
  );
}
