import { useState } from 'preact/hooks';
import {
  ApiError,
  enc,
  post,
  toApiError,
  type CancelRelease,
  type Decided,
  type DecisionBody,
  type DecisionCheck,
  type DecisionKind,
  type EditCheck,
  type ProjectDetail,
  type ReleaseDetail,
  type ReleasePhase,
  type ReleaseWritten,
  type RollbackBody,
} from '../api';
import { changed, navigate, useApi, type ChangeEvent } from '../live';
import { Badge, Empty, ErrorBox, Loading, Page, Time, useAction } from '../ui';
import { PromotePanel } from './promote';

// Why a decision is refused (or a note about it), as the server's check gives it.
function Reason({ check, text, id, testid }: { check: DecisionCheck; text: string; id: string; testid: string }) {
  return (
    <p
      id={id}
      class={`decision-reason ${check.permitted ? 'gated' : 'not-permitted'}`}
      data-testid={testid}
      data-permitted={String(check.permitted)}
    >
      {check.permitted ? (
        text
      ) : (
        <>
          <strong>Not permitted:</strong> {text.replace(/^not permitted:\s*/i, '')}
        </>
      )}
    </p>
  );
}

// Approve / Reject with an optional comment. Each button follows its own check from the server
// (`decision` for Approve, `rejectDecision` for Reject, or `decision` for both when the server
// sends no separate one): disabled, with the reason next to it, when the signed-in user may not
// make that decision.
export function DecisionPanel({
  namespace,
  name,
  decision,
  rejectDecision,
  idPrefix,
  onDone,
}: {
  namespace: string;
  name: string;
  decision: DecisionCheck | null;
  rejectDecision?: DecisionCheck | null;
  idPrefix: string;
  onDone?: () => void;
}) {
  const [comment, setComment] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>();
  const [done, setDone] = useState<string | undefined>();
  if (!decision)
    return (
      <p class="muted" data-testid="decision-none">
        No approval is asked of anyone for this release.
      </p>
    );
  const reject = rejectDecision ?? decision;
  const separate = reject !== decision;
  const reason =
    decision.reason ??
    (decision.allowed
      ? null
      : separate
        ? 'you cannot approve this release now'
        : 'you cannot decide on this release now');
  const ownRejectReason = separate
    ? (reject.reason ?? (reject.allowed ? null : 'you cannot reject this release now'))
    : null;
  // The same words for both buttons are shown once.
  const rejectReason = ownRejectReason !== null && ownRejectReason !== reason ? ownRejectReason : null;
  const send = async (d: DecisionKind) => {
    setBusy(true);
    setError(undefined);
    setDone(undefined);
    try {
      await post<Decided, DecisionBody>(`/api/releases/${enc(namespace)}/${enc(name)}/decision`, {
        decision: d,
        comment,
      });
      setDone(d === 'Approve' ? 'Approved: your decision is recorded.' : 'Rejected: your decision is recorded.');
      setComment('');
      onDone?.();
      changed();
    } catch (e) {
      setError(toApiError(e));
    } finally {
      setBusy(false);
    }
  };
  const reasonId = `${idPrefix}-reason`;
  const rejectReasonId = `${idPrefix}-reject-reason`;
  const rejectDescribedBy =
    rejectReason !== null ? rejectReasonId : reason && (!separate || ownRejectReason !== null) ? reasonId : undefined;
  return (
    <div
      class="decision"
      data-testid="decision"
      data-allowed={String(decision.allowed)}
      data-permitted={String(decision.permitted)}
      data-reject-allowed={String(reject.allowed)}
    >
      <div class="field">
        <label for={`${idPrefix}-comment`}>Comment (optional)</label>
        <textarea
          id={`${idPrefix}-comment`}
          rows={2}
          value={comment}
          data-testid="decision-comment"
          disabled={!decision.allowed && !reject.allowed}
          onInput={(e) => setComment(e.currentTarget.value)}
        />
      </div>
      <div class="decision-row">
        <button
          type="button"
          class="primary"
          data-testid="approve-button"
          disabled={!decision.allowed || busy}
          aria-describedby={reason ? reasonId : undefined}
          onClick={() => void send('Approve')}
        >
          Approve
        </button>
        <button
          type="button"
          class="danger"
          data-testid="reject-button"
          disabled={!reject.allowed || busy}
          aria-describedby={rejectDescribedBy}
          onClick={() => void send('Reject')}
        >
          Reject
        </button>
        {reason ? <Reason check={decision} text={reason} id={reasonId} testid="decision-reason" /> : null}
        {rejectReason !== null ? (
          <Reason check={reject} text={rejectReason} id={rejectReasonId} testid="reject-reason" />
        ) : null}
      </div>
      {done ? (
        <p class="ok" role="status" data-testid="decision-done">
          {done}
        </p>
      ) : null}
      <ErrorBox error={error} />
    </div>
  );
}

// Submit a Draft as the person. The button says beforehand when their grants do not allow it;
// a freeze or a policy answers at the click, as for kubectl.
function SubmitPanel({ namespace, name, check }: { namespace: string; name: string; check: EditCheck }) {
  const { busy, error, run } = useAction();
  const send = () =>
    run(async () => {
      await post<ReleaseWritten, Record<string, never>>(`/api/releases/${enc(namespace)}/${enc(name)}/submit`, {});
      changed();
    });
  return (
    <section aria-labelledby="submit-h" data-testid="submit">
      <h2 id="submit-h">Submit</h2>
      <p class="muted">
        A Draft delivers nothing. Submitting it asks the policies and, where an approval policy binds the environment,
        the approvers; its spec cannot change afterwards.
      </p>
      <button
        type="button"
        class="primary"
        data-testid="submit-button"
        disabled={busy || !check.allowed}
        onClick={() => void send()}
      >
        Submit release
      </button>
      {!check.allowed && check.reason ? (
        <p class="reason" data-testid="submit-reason">
          {check.reason}
        </p>
      ) : null}
      <ErrorBox error={error} />
    </section>
  );
}

// Roll a workload back to what this release delivered: a Rollback Draft is created as the
// person and opened, so its page shows the rollback's diff and policy results before Submit.
// The button says beforehand why it is disabled (not delivered, or RBAC).
function RollbackPanel({
  namespace,
  name,
  workloads,
  check,
}: {
  namespace: string;
  name: string;
  workloads: string[];
  check: EditCheck;
}) {
  const [workload, setWorkload] = useState(workloads[0] ?? '');
  const [title, setTitle] = useState('');
  const [notes, setNotes] = useState('');
  const { busy, error, run } = useAction();
  const send = () =>
    run(async () => {
      const written = await post<ReleaseWritten, RollbackBody>(
        `/api/releases/${enc(namespace)}/${enc(name)}/rollback`,
        { workload, title: title.trim() || undefined, notes: notes.trim() || undefined, tenants: [], submit: false },
      );
      navigate(`#/releases/${enc(namespace)}/${enc(written.release.metadata.name ?? '')}`);
    });
  return (
    <section aria-labelledby="rollback-h" data-testid="rollback">
      <h2 id="rollback-h">Roll back to this release</h2>
      <p class="muted">
        Restores what this release delivered for one workload, as a new commit (history is kept). It opens as a Draft:
        read its diff and policy results, then submit it.
      </p>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          void send();
        }}
      >
        <div class="field">
          <label for="rollback-workload">Workload</label>
          <select
            id="rollback-workload"
            data-testid="rollback-workload"
            value={workload}
            disabled={!check.allowed}
            onChange={(e) => setWorkload(e.currentTarget.value)}
          >
            {workloads.map((w) => (
              <option value={w}>{w}</option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="rollback-title">Title</label>
          <input
            id="rollback-title"
            data-testid="rollback-title"
            value={title}
            placeholder={`Roll ${workload} back to ${name}`}
            disabled={!check.allowed}
            onInput={(e) => setTitle(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="rollback-notes">Notes</label>
          <input
            id="rollback-notes"
            data-testid="rollback-notes"
            value={notes}
            placeholder="the incident, what went wrong"
            disabled={!check.allowed}
            onInput={(e) => setNotes(e.currentTarget.value)}
          />
        </div>
        <div class="buttons">
          <button
            type="submit"
            data-testid="rollback-button"
            disabled={busy || !check.allowed || !workload}
            title={check.allowed ? '' : (check.reason ?? '')}
          >
            Create rollback draft
          </button>
        </div>
      </form>
      {!check.allowed && check.reason ? (
        <p class="reason" data-testid="rollback-reason">
          {check.reason}
        </p>
      ) : null}
      <ErrorBox error={error} />
    </section>
  );
}

// Phases in which nothing of a release is delivered yet: it may still be cancelled.
const CANCELLABLE: (ReleasePhase | undefined)[] = [undefined, 'Draft', 'PendingApproval', 'Approved', 'Blocked'];

// Cancel a release that is not delivered yet, with a reason. The webhook decides who may (the
// creator, the submitter, or a ReleaseManager or Admin of the environment); its refusal is shown.
function CancelPanel({ namespace, name }: { namespace: string; name: string }) {
  const [reason, setReason] = useState('');
  const { busy, error, run } = useAction();
  const send = () =>
    run(async () => {
      await post<ReleaseWritten, CancelRelease>(`/api/releases/${enc(namespace)}/${enc(name)}/cancel`, {
        reason: reason.trim() || undefined,
      });
      setReason('');
      changed();
    });
  return (
    <section aria-labelledby="cancel-h" data-testid="cancel">
      <h2 id="cancel-h">Cancel</h2>
      <p class="muted">Nothing of this release is delivered yet. Cancelling it is final: approvals no longer count.</p>
      <div class="field">
        <label for="cancel-reason">Reason</label>
        <input
          id="cancel-reason"
          type="text"
          value={reason}
          data-testid="cancel-reason"
          onInput={(e) => setReason(e.currentTarget.value)}
        />
      </div>
      <button type="button" class="danger" data-testid="cancel-button" disabled={busy} onClick={() => void send()}>
        Cancel release
      </button>
      <ErrorBox error={error} />
    </section>
  );
}

function progressOf(d: ReleaseDetail): { received?: number; required?: number; message?: string } | null {
  const ar = d.approvalRequest?.status;
  const st = d.release.status?.approvals;
  const received = ar?.received ?? st?.received;
  const required = ar?.required ?? st?.required;
  const message = ar?.message ?? d.decision?.progress ?? undefined;
  if (received === undefined && required === undefined && !message) return null;
  return { received, required, message };
}

export function DiffView({ diff, testid = 'release-diff' }: { diff: string; testid?: string }) {
  const lines = diff.split('\n');
  return (
    <pre class="diff" data-testid={testid} tabIndex={0} aria-label="Rendered manifests diff">
      {lines.map((l) => {
        const cls =
          l.startsWith('+++') || l.startsWith('---')
            ? 'd-file'
            : l.startsWith('@@')
              ? 'd-hunk'
              : l.startsWith('+')
                ? 'd-add'
                : l.startsWith('-')
                  ? 'd-del'
                  : 'd-ctx';
        return (
          <span class={cls}>
            {l}
            {'\n'}
          </span>
        );
      })}
    </pre>
  );
}

export function ReleasePage({ namespace, name }: { namespace: string; name: string }) {
  // A release page depends on its namespace's objects, and on cluster-scoped ones (policies).
  const mine = (e: ChangeEvent) => !e?.namespace || e.namespace === namespace;
  const { data, error } = useApi<ReleaseDetail>(`/api/releases/${enc(namespace)}/${enc(name)}`, true, mine);
  // Only for the repository URL, which no watched kind changes.
  const project = useApi<ProjectDetail>(`/api/projects/${enc(namespace)}`, false);
  const r = data?.release;
  const st = r?.status;
  const progress = data ? progressOf(data) : null;
  const repo = project.data?.project.spec.repository?.url;
  const commitHref =
    st?.commit && repo && /^https?:\/\//.test(repo)
      ? `${repo.replace(/\.git$/, '').replace(/\/$/, '')}/commit/${st.commit}`
      : null;
  const decisions = data?.approvalRequest?.spec.decisions ?? [];
  return (
    <Page title={r ? r.spec.title || r.metadata.name : name}>
      <p class="crumbs">
        <a href={`#/projects/${enc(namespace)}`}>{namespace}</a> /{' '}
        <a href={`#/releases?project=${enc(namespace)}`}>releases</a> / {name}
      </p>
      <ErrorBox error={error} />
      {!data && !error ? <Loading what="the release" /> : null}
      {r ? (
        <>
          <dl class="facts">
            <div>
              <dt>Phase</dt>
              <dd>
                <Badge value={st?.phase ?? 'Draft'} testid="release-phase" />
              </dd>
            </div>
            <div>
              <dt>Environment</dt>
              <dd data-testid="release-environment">{r.spec.environment ?? '—'}</dd>
            </div>
            <div>
              <dt>Type</dt>
              <dd>{r.spec.type ?? 'Deploy'}</dd>
            </div>
            <div>
              <dt>Created by</dt>
              <dd data-testid="release-created-by">{r.spec.createdBy ?? '—'}</dd>
            </div>
            <div>
              <dt>Created</dt>
              <dd>
                <Time value={r.metadata.creationTimestamp} />
              </dd>
            </div>
            <div>
              <dt>Commit</dt>
              <dd data-testid="release-commit">
                {st?.commit ? (
                  commitHref ? (
                    <a href={commitHref} rel="noreferrer">
                      <code>{st.commit.slice(0, 12)}</code>
                    </a>
                  ) : (
                    <code title={st.commit}>{st.commit.slice(0, 12)}</code>
                  )
                ) : (
                  '—'
                )}
              </dd>
            </div>
            {r.spec.breakGlassSession ? (
              <div>
                <dt>Break-glass</dt>
                <dd>{r.spec.breakGlassSession}</dd>
              </div>
            ) : null}
            {r.spec.cancellation ? (
              <div>
                <dt>Cancelled by</dt>
                <dd data-testid="release-cancelled-by">
                  {r.spec.cancellation.user ?? '—'} <Time value={r.spec.cancellation.time} />
                  {r.spec.cancellation.reason ? `: ${r.spec.cancellation.reason}` : ''}
                </dd>
              </div>
            ) : null}
          </dl>
          {st?.message ? (
            <p class="message" data-testid="release-message">
              {st.reason ? <strong>{st.reason}: </strong> : null}
              {st.message}
            </p>
          ) : null}
          {data.submit && !r.spec.cancellation ? (
            <SubmitPanel namespace={namespace} name={name} check={data.submit} />
          ) : null}
          {!r.spec.cancellation && CANCELLABLE.includes(st?.phase ?? undefined) ? (
            <CancelPanel namespace={namespace} name={name} />
          ) : null}
          {data.promotionTargets.length || data.promotions.length ? (
            <PromotePanel
              namespace={namespace}
              name={name}
              targets={data.promotionTargets}
              promotions={data.promotions}
            />
          ) : null}
          {r.spec.submitted && !r.spec.cancellation && r.spec.changes?.length ? (
            <RollbackPanel
              namespace={namespace}
              name={name}
              workloads={(r.spec.changes ?? []).map((c) => c.workload)}
              check={data.rollback}
            />
          ) : null}
          {r.spec.notes ? (
            <section aria-labelledby="notes-h">
              <h2 id="notes-h">Notes</h2>
              <p class="notes">{r.spec.notes}</p>
            </section>
          ) : null}

          <section aria-labelledby="approvals-h">
            <h2 id="approvals-h">Approvals</h2>
            {progress ? (
              <p class="progress" data-testid="approvals-progress">
                {progress.received !== undefined &&
                progress.required !== undefined &&
                !(progress.message ?? '').includes(`${progress.received} of ${progress.required}`) ? (
                  <strong>
                    {progress.received} of {progress.required} approvals received.{' '}
                  </strong>
                ) : null}
                {progress.message}
              </p>
            ) : (
              <p class="muted">
                {r.spec.submitted
                  ? 'No approval policy binds this release.'
                  : 'A Draft asks for no approval: the approval policies of its environment apply once it is submitted.'}
              </p>
            )}
            {progress && progress.required ? (
              <progress max={progress.required} value={progress.received ?? 0} aria-label="approvals received" />
            ) : null}
            {decisions.length ? (
              <table data-testid="decisions">
                <thead>
                  <tr>
                    <th scope="col">Decision</th>
                    <th scope="col">User</th>
                    <th scope="col">Groups</th>
                    <th scope="col">Time</th>
                    <th scope="col">Comment</th>
                  </tr>
                </thead>
                <tbody>
                  {decisions.map((d) => (
                    <tr>
                      <td>
                        <Badge value={d.decision} tone={d.decision === 'Approve' ? 'green' : 'red'} />
                      </td>
                      <td>{d.user ?? '—'}</td>
                      <td>{(d.groups ?? []).join(', ')}</td>
                      <td>
                        <Time value={d.time} />
                      </td>
                      <td>{d.comment ?? ''}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : st?.approvals?.approvers?.length ? (
              <ul>
                {st.approvals.approvers.map((a) => (
                  <li>
                    {a.user} ({(a.groups ?? []).join(', ')}) <Time value={a.time} />
                    {a.comment ? ` — ${a.comment}` : ''}
                  </li>
                ))}
              </ul>
            ) : null}
            {st?.approvals?.missing ? (
              <p class="small">
                Still needed:{' '}
                {Array.isArray(st.approvals.missing) ? st.approvals.missing.join('; ') : String(st.approvals.missing)}
              </p>
            ) : null}
            {data?.approvalRequest || data?.decision ? (
              <DecisionPanel
                namespace={namespace}
                name={name}
                decision={data.decision}
                rejectDecision={data.rejectDecision}
                idPrefix="release-decision"
              />
            ) : null}
          </section>

          <section aria-labelledby="policy-h">
            <h2 id="policy-h">Policy results</h2>
            {st?.policyResults?.length ? (
              <table data-testid="policy-results">
                <thead>
                  <tr>
                    <th scope="col">Policy</th>
                    <th scope="col">Mode</th>
                    <th scope="col">Verdict</th>
                    <th scope="col">Messages</th>
                  </tr>
                </thead>
                <tbody>
                  {st.policyResults.map((p) => (
                    <tr>
                      <th scope="row">{p.policy}</th>
                      <td>
                        <Badge value={p.mode} tone={p.mode === 'Enforce' ? 'red' : 'yellow'} />
                      </td>
                      <td>
                        <Badge value={p.verdict} />
                      </td>
                      <td>
                        {(p.messages ?? []).length ? (
                          <ul>
                            {p.messages!.map((m) => (
                              <li>{m}</li>
                            ))}
                          </ul>
                        ) : (
                          '—'
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <Empty>No policy evaluated this release.</Empty>
            )}
          </section>

          {r.spec.changes?.length ? (
            <section aria-labelledby="changes-h">
              <h2 id="changes-h">Changes</h2>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Workload</th>
                    <th scope="col">Version</th>
                    <th scope="col">Values</th>
                  </tr>
                </thead>
                <tbody>
                  {r.spec.changes.map((c) => (
                    <tr>
                      <th scope="row">{c.workload}</th>
                      <td>
                        <code>{c.version ?? '—'}</code>
                      </td>
                      <td>{c.values ? <code>{JSON.stringify(c.values)}</code> : '—'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </section>
          ) : null}

          {st?.tenants?.length ? (
            <section aria-labelledby="tenants-h">
              <h2 id="tenants-h">Tenants</h2>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Tenant</th>
                    <th scope="col">Phase</th>
                    <th scope="col">Health</th>
                  </tr>
                </thead>
                <tbody>
                  {st.tenants.map((t) => (
                    <tr>
                      <th scope="row">{t.name}</th>
                      <td>
                        <Badge value={t.phase} />
                      </td>
                      <td>
                        <Badge value={t.health} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </section>
          ) : null}

          <section aria-labelledby="timeline-h">
            <h2 id="timeline-h">Timeline</h2>
            {st?.timeline?.length ? (
              <table data-testid="timeline">
                <thead>
                  <tr>
                    <th scope="col">Time</th>
                    <th scope="col">Phase</th>
                    <th scope="col">Message</th>
                    <th scope="col">Actor</th>
                  </tr>
                </thead>
                <tbody>
                  {st.timeline.map((t) => (
                    <tr>
                      <td>
                        <Time value={t.time} />
                      </td>
                      <td>
                        <Badge value={t.phase} />
                      </td>
                      <td>{t.message ?? ''}</td>
                      <td>{t.actor ?? '—'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <Empty>No timeline yet.</Empty>
            )}
          </section>

          <section aria-labelledby="diff-h">
            <h2 id="diff-h">Rendered diff</h2>
            {data?.diff ? (
              <DiffView diff={data.diff} />
            ) : (
              <Empty>
                {st?.diff
                  ? `Summary: ${typeof st.diff === 'string' ? st.diff : JSON.stringify(st.diff)}`
                  : 'No rendered diff yet.'}
              </Empty>
            )}
          </section>
        </>
      ) : null}
    </Page>
  );
}
