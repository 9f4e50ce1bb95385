import { useState } from 'preact/hooks';
import {
  ApiError,
  enc,
  post,
  type BreakGlass,
  type BreakGlassLimits,
  type BreakGlassSession,
  type CloseBreakGlass,
  type OpenBreakGlass,
  type ProjectDetail,
  type SessionWritten,
  type Severity,
} from '../api';
import { changed, useApi } from '../live';
import { Badge, Empty, ErrorBox, Loading, Page, Select, TextField, Time, useFleetLists } from '../ui';

function Checks({
  legend,
  name,
  options,
  value,
  onChange,
}: {
  legend: string;
  name: string;
  options: string[];
  value: string[];
  onChange: (v: string[]) => void;
}) {
  return (
    <fieldset class="checks">
      <legend>{legend}</legend>
      {options.length === 0 ? <span class="muted small">none to choose</span> : null}
      {options.map((o) => {
        const id = `bg-${name}-${o}`;
        return (
          <span class="check">
            <input
              type="checkbox"
              id={id}
              data-testid={id}
              checked={value.includes(o)}
              onChange={(e) => {
                const on = e.currentTarget.checked;
                onChange(on ? [...value, o] : value.filter((x) => x !== o));
              }}
            />
            <label for={id}>{o}</label>
          </span>
        );
      })}
    </fieldset>
  );
}

/** `limits`: what the webhook accepts, as the server states it. */
function OpenForm({ limits }: { limits: BreakGlassLimits }) {
  const { projects, environments } = useFleetLists();
  const [namespace, setNamespace] = useState('');
  const [justification, setJustification] = useState('');
  const [severity, setSeverity] = useState<Severity>(
    limits.severities.includes('SEV2') ? 'SEV2' : limits.severities[0],
  );
  const [envs, setEnvs] = useState<string[]>([]);
  const [workloads, setWorkloads] = useState<string[]>([]);
  const [tenants, setTenants] = useState<string[]>([]);
  const [duration, setDuration] = useState(limits.durations.includes('1h') ? '1h' : limits.durations[0]);
  const [incidentUrl, setIncidentUrl] = useState('');
  const [invalid, setInvalid] = useState<string | undefined>();
  const [error, setError] = useState<ApiError | undefined>();
  const [created, setCreated] = useState<BreakGlassSession | undefined>();
  const [busy, setBusy] = useState(false);
  const pd = useApi<ProjectDetail>(namespace ? `/api/projects/${enc(namespace)}` : null);
  const envOptions = pd.data?.project.spec.environments ?? environments.map((e) => e.name);
  const minimum = limits.minJustification;
  const tooShort = justification.trim().length < minimum;

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    setCreated(undefined);
    if (!namespace) return setInvalid('Choose the project whose namespace the session is opened in.');
    if (tooShort)
      return setInvalid(
        `The justification needs at least ${minimum} characters (it has ${justification.trim().length}).`,
      );
    if (envs.length + workloads.length + tenants.length === 0)
      return setInvalid('Choose at least one environment, workload or tenant for the scope.');
    setInvalid(undefined);
    setBusy(true);
    try {
      const res = await post<SessionWritten, OpenBreakGlass>('/api/breakglass', {
        namespace,
        justification: justification.trim(),
        severity,
        environments: envs,
        workloads,
        tenants,
        duration,
        incidentUrl,
      });
      setCreated(res.session);
      setJustification('');
      changed();
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, String(err), ''));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      class="card form"
      onSubmit={(e) => void submit(e)}
      noValidate
      data-testid="bg-form"
      aria-labelledby="bg-open-h"
    >
      <h2 id="bg-open-h">Open a break-glass session</h2>
      <div class="form-grid">
        <Select
          id="bg-namespace"
          label="Project (namespace)"
          value={namespace}
          testid="bg-namespace"
          required
          placeholder="Choose a project"
          options={projects.map((p) => ({ value: p.name, label: p.label }))}
          onChange={(v) => {
            setNamespace(v);
            setWorkloads([]);
            setTenants([]);
          }}
        />
        <Select
          id="bg-severity"
          label="Severity"
          value={severity}
          testid="bg-severity"
          onChange={(v) => setSeverity(limits.severities.find((s) => s === v) ?? severity)}
          options={limits.severities.map((s) => ({ value: s, label: s }))}
        />
        <Select
          id="bg-duration"
          label={`Duration (at most ${limits.maxDuration})`}
          value={duration}
          testid="bg-duration"
          onChange={setDuration}
          options={limits.durations.map((s) => ({ value: s, label: s }))}
        />
        <TextField
          id="bg-incident"
          label="Incident URL"
          type="url"
          value={incidentUrl}
          onInput={setIncidentUrl}
          testid="bg-incident"
          placeholder="https://…"
        />
      </div>
      <div class="field">
        <label for="bg-justification">Justification (at least {minimum} characters)</label>
        <textarea
          id="bg-justification"
          rows={3}
          value={justification}
          data-testid="bg-justification"
          required
          minLength={minimum}
          aria-describedby="bg-justification-count"
          aria-invalid={invalid && tooShort ? 'true' : undefined}
          onInput={(e) => setJustification(e.currentTarget.value)}
        />
        <small id="bg-justification-count" class={tooShort ? 'hint warn' : 'hint'}>
          {justification.trim().length} / {minimum} characters
        </small>
      </div>
      <Checks legend="Environments" name="env" options={envOptions} value={envs} onChange={setEnvs} />
      <Checks
        legend="Workloads"
        name="workload"
        options={(pd.data?.workloads ?? []).map((w) => w.metadata.name)}
        value={workloads}
        onChange={setWorkloads}
      />
      <Checks
        legend="Tenants"
        name="tenant"
        options={(pd.data?.tenants ?? []).map((t) => t.metadata.name)}
        value={tenants}
        onChange={setTenants}
      />
      {invalid ? (
        <p class="error" role="alert" data-testid="bg-invalid">
          {invalid}
        </p>
      ) : null}
      <ErrorBox error={error} />
      <ErrorBox error={pd.error} />
      <button type="submit" class="danger" data-testid="bg-submit" disabled={busy}>
        Open break-glass session
      </button>
      {created ? (
        <p class="ok" role="status" data-testid="bg-created" data-name={created.metadata.name}>
          Opened session {created.metadata.name} in {created.metadata.namespace}.
        </p>
      ) : null}
    </form>
  );
}

function CloseForm({ s }: { s: BreakGlassSession }) {
  const [note, setNote] = useState('');
  const [error, setError] = useState<ApiError | undefined>();
  const [busy, setBusy] = useState(false);
  const id = `bg-close-${s.metadata.namespace}-${s.metadata.name}`;
  const close = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await post<SessionWritten, CloseBreakGlass>(
        `/api/breakglass/${enc(s.metadata.namespace ?? '')}/${enc(s.metadata.name)}/close`,
        { note },
      );
      changed();
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, String(err), ''));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="close-form" onSubmit={(e) => void close(e)}>
      <div class="field">
        <label for={id}>Closing note</label>
        <textarea
          id={id}
          rows={2}
          value={note}
          data-testid="bg-close-note"
          data-session={s.metadata.name}
          onInput={(e) => setNote(e.currentTarget.value)}
        />
      </div>
      <button type="submit" data-testid="bg-close-button" data-session={s.metadata.name} disabled={busy}>
        Close session
      </button>
      <ErrorBox error={error} />
    </form>
  );
}

export function BreakGlassPage() {
  const { data, error } = useApi<BreakGlass>('/api/breakglass');
  return (
    <Page title="Break-glass">
      <p>
        A break-glass session lifts freeze windows for its scope until it expires or is closed; every action taken under
        it is recorded and sealed.
      </p>
      {data ? <OpenForm limits={data.limits} /> : null}
      <h2>Sessions</h2>
      <ErrorBox error={error} />
      {!data && !error ? <Loading what="sessions" /> : null}
      {data && data.sessions.length === 0 ? <Empty>No break-glass sessions.</Empty> : null}
      {data && data.sessions.length ? (
        <ul class="cards">
          {data.sessions.map((s) => {
            const sc = s.spec.scope ?? {};
            // Closed by its spec but not yet by the controller: no longer usable, not yet sealed.
            const phase =
              s.spec.closed && (!s.status?.phase || s.status.phase === 'Active')
                ? 'Closing'
                : (s.status?.phase ?? 'Pending');
            return (
              <li
                class={`card ${phase === 'Active' ? 'card-active' : ''}`}
                data-testid="bg-session"
                data-name={s.metadata.name}
                data-phase={phase}
              >
                <h3 class="card-title">
                  {s.metadata.namespace}/{s.metadata.name} <Badge value={phase} />{' '}
                  <Badge
                    value={s.spec.severity}
                    tone={s.spec.severity === 'SEV1' || s.spec.severity === 'SEV2' ? 'red' : 'yellow'}
                  />
                </h3>
                <dl class="facts">
                  <div>
                    <dt>Requested by</dt>
                    <dd>{s.spec.requestedBy ?? '—'}</dd>
                  </div>
                  <div>
                    <dt>Scope</dt>
                    <dd>
                      {[
                        ...(sc.environments ?? []).map((e) => `env ${e}`),
                        ...(sc.workloads ?? []).map((w) => `workload ${w}`),
                        ...(sc.tenants ?? []).map((t) => `tenant ${t}`),
                      ].join(', ') || '—'}
                    </dd>
                  </div>
                  <div>
                    <dt>Duration</dt>
                    <dd>{s.spec.duration ?? '—'}</dd>
                  </div>
                  <div>
                    <dt>Activated</dt>
                    <dd>
                      <Time value={s.status?.activatedAt} />
                    </dd>
                  </div>
                  <div>
                    <dt>Expires</dt>
                    <dd>
                      <Time value={s.status?.expiresAt} />
                    </dd>
                  </div>
                  <div>
                    <dt>Incident</dt>
                    <dd>
                      {s.spec.incidentUrl ? (
                        <a href={s.spec.incidentUrl} rel="noreferrer">
                          {s.spec.incidentUrl}
                        </a>
                      ) : (
                        '—'
                      )}
                    </dd>
                  </div>
                </dl>
                <p>
                  <strong>Justification:</strong> {s.spec.justification}
                </p>
                {s.spec.closingNote ? (
                  <p>
                    <strong>Closing note:</strong> {s.spec.closingNote}
                  </p>
                ) : null}
                {s.status?.actions?.length ? (
                  <table>
                    <caption>Recorded actions</caption>
                    <thead>
                      <tr>
                        <th scope="col">Time</th>
                        <th scope="col">User</th>
                        <th scope="col">Operation</th>
                        <th scope="col">Release</th>
                      </tr>
                    </thead>
                    <tbody>
                      {s.status.actions.map((a) => (
                        <tr>
                          <td>
                            <Time value={a.time} />
                          </td>
                          <td>{a.user}</td>
                          <td>{a.operation}</td>
                          <td>{a.release}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                ) : null}
                {s.status?.sealedDigest ? (
                  <p class="small">
                    Sealed digest <code>{s.status.sealedDigest}</code>
                  </p>
                ) : null}
                {phase === 'Active' ? <CloseForm s={s} /> : null}
              </li>
            );
          })}
        </ul>
      ) : null}
    </Page>
  );
}
