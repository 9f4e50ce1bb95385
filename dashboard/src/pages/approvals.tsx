import { enc, type Approvals, type DecisionCheck, type ReleaseSummary } from '../api';
import { useApi } from '../live';
import { Badge, Empty, ErrorBox, Loading, Page, Time } from '../ui';
import { DecisionPanel } from './release';

function progressText(a: ReleaseSummary['approvals'], d: DecisionCheck | null): string {
  const count = a ? `${a.received ?? 0} of ${a.required ?? 0}` : '';
  const message = a?.message || d?.progress || '';
  if (!message) return count ? `${count} approvals received` : '';
  return count && !message.includes(count) ? `${count} approvals received — ${message}` : message;
}

export function ApprovalsPage() {
  const { data, error } = useApi<Approvals>('/api/approvals');
  return (
    <Page title="Approvals">
      <ErrorBox error={error} />
      {!data && !error ? <Loading what="the approval queue" /> : null}
      {data && data.items.length === 0 ? <Empty>Nothing waits for approval.</Empty> : null}
      {data && data.items.length ? (
        <ul class="cards">
          {data.items.map(({ release: r, decision, rejectDecision }, i) => (
            <li class="card" data-testid="approval-item" data-release={`${r.namespace}/${r.name}`}>
              <h2 class="card-title">
                <a href={`#/releases/${enc(r.namespace)}/${enc(r.name)}`}>{r.title || r.name}</a>
              </h2>
              <p class="small muted">
                {r.namespace} · {r.environment ?? '—'} · {r.type ?? 'Deploy'} · by {r.createdBy ?? '—'} ·{' '}
                <Time value={r.created} />
              </p>
              <p>
                <Badge value={r.phase} />{' '}
                <span data-testid="approvals-progress">{progressText(r.approvals, decision)}</span>
              </p>
              {r.overdue ? (
                <p class="overdue" data-testid="approval-overdue">
                  <Badge value="Overdue" /> {r.overdue}
                </p>
              ) : null}
              <DecisionPanel
                namespace={r.namespace}
                name={r.name}
                decision={decision}
                rejectDecision={rejectDecision}
                idPrefix={`approval-${i}`}
              />
            </li>
          ))}
        </ul>
      ) : null}
    </Page>
  );
}
