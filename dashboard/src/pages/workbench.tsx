import { useState } from 'preact/hooks';
import {
  ApiError,
  enc,
  post,
  type DryRun,
  type DryRunVerdict,
  type EvaluatePolicy,
  type Policies,
  type PolicyBinding,
  type PolicyDetail,
  type PolicyMessages,
  type PolicyProblem,
  type Releases,
  type TestCaseResult,
  type TestRun,
} from '../api';
import { aboutKind, useApi } from '../live';
import { Badge, Empty, ErrorBox, Loading, Page, Select } from '../ui';

// Policies change rarely and the event stream does not report them: the pages refetch only
// after a reconnect, when anything may have changed.
const onReconnect = (e: Parameters<typeof aboutKind>[0]) => aboutKind(e);

const verdictTone: Record<DryRunVerdict, string> = {
  Pass: 'green',
  Warn: 'yellow',
  Deny: 'red',
  NotBound: 'grey',
  Error: 'red',
};

const verdictText: Record<DryRunVerdict, string> = {
  Pass: 'Pass',
  Warn: 'Warn',
  Deny: 'Deny',
  NotBound: 'Not bound',
  Error: 'Error',
};

function toError(err: unknown): ApiError {
  return err instanceof ApiError ? err : new ApiError(0, String(err), '');
}

function Bindings({ bindings }: { bindings: PolicyBinding[] }) {
  if (bindings.length === 0) return <span class="muted">none: only tested, never enforced</span>;
  return (
    <ul class="plain">
      {bindings.map((b) => (
        <li>
          <Badge value={b.mode} tone={b.mode === 'Enforce' ? 'red' : 'yellow'} />{' '}
          {b.environments?.length ? b.environments.join(', ') : 'every environment'}
        </li>
      ))}
    </ul>
  );
}

export function PoliciesPage() {
  const { data, error } = useApi<Policies>('/api/policies', true, onReconnect);
  return (
    <Page title="Policies">
      <p class="muted">
        The OPA policies admission judges releases by. Open one to read its Rego, run its embedded tests and evaluate it
        on an object or a release, with the engine the admission webhook uses.
      </p>
      <ErrorBox error={error} />
      {!data && !error ? <Loading what="policies" /> : null}
      {data && data.policies.length === 0 ? <Empty>No policies exist.</Empty> : null}
      {data && data.policies.length ? (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Policy</th>
                <th scope="col">Package</th>
                <th scope="col">Compiles</th>
                <th scope="col">Embedded tests</th>
                <th scope="col">Bindings</th>
              </tr>
            </thead>
            <tbody>
              {data.policies.map((p) => (
                <tr data-testid="policy-row" data-name={p.name}>
                  <th scope="row">
                    <a href={`#/policies/${enc(p.name)}`}>{p.name}</a>
                    {p.description ? <div class="muted small">{p.description}</div> : null}
                  </th>
                  <td>{p.package ? <code>{p.package}</code> : '—'}</td>
                  <td>
                    {p.compiled === null ? (
                      <span class="muted">not checked yet</span>
                    ) : (
                      <Badge value={p.compiled ? 'Compiles' : 'Does not compile'} tone={p.compiled ? 'green' : 'red'} />
                    )}
                  </td>
                  <td>
                    {p.passed} passed, {p.failed} failed
                  </td>
                  <td>
                    <Bindings bindings={p.bindings} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </Page>
  );
}

// The Rego with line numbers, so that "line 7" in an error can be found; that line is marked.
function Rego({ text, mark }: { text: string; mark: number | null }) {
  const lines = text.replace(/\n$/, '').split('\n');
  const width = String(lines.length).length;
  return (
    <pre class="rendered rego" data-testid="policy-rego" aria-label="Rego module">
      {lines.map((line, i) => {
        const n = i + 1;
        const content = (
          <>
            <span class="muted" aria-hidden="true">
              {String(n).padStart(width, ' ')}{' '}
            </span>
            {line}
            {'\n'}
          </>
        );
        return n === mark ? <mark data-testid="rego-marked-line">{content}</mark> : content;
      })}
    </pre>
  );
}

function Messages({ messages, testid }: { messages: PolicyMessages; testid?: string }) {
  const deny = messages.deny ?? [];
  const warn = messages.warn ?? [];
  if (deny.length === 0 && warn.length === 0) return <span class="muted">no message</span>;
  return (
    <ul class="plain" data-testid={testid}>
      {deny.map((m) => (
        <li>
          <Badge value="deny" tone="red" /> {m}
        </li>
      ))}
      {warn.map((m) => (
        <li>
          <Badge value="warn" tone="yellow" /> {m}
        </li>
      ))}
    </ul>
  );
}

function Problem({ problem, testid }: { problem: PolicyProblem; testid: string }) {
  const where =
    problem.line !== null
      ? `${problem.source === 'rego' ? 'Rego' : 'your text'}, line ${problem.line}${problem.column !== null ? `, column ${problem.column}` : ''}: `
      : '';
  return (
    <p class="findings" role="alert" data-testid={testid} data-source={problem.source} data-line={problem.line ?? ''}>
      {where}
      {problem.message}
    </p>
  );
}

function caseResult(c: TestCaseResult | undefined): 'not run' | 'passed' | 'failed' {
  if (!c) return 'not run';
  return c.passed ? 'passed' : 'failed';
}

function Tests({ detail, run }: { detail: PolicyDetail; run: TestRun | undefined }) {
  if (detail.tests.length === 0) return <Empty>This policy has no embedded tests.</Empty>;
  return (
    <div class="table-wrap">
      <table data-testid="policy-tests">
        <thead>
          <tr>
            <th scope="col">Test</th>
            <th scope="col">Expects</th>
            <th scope="col">Result</th>
          </tr>
        </thead>
        <tbody>
          {detail.tests.map((t) => {
            const c = run?.cases.find((x) => x.name === t.name);
            const result = caseResult(c);
            return (
              <tr data-testid="policy-test" data-name={t.name} data-result={result}>
                <th scope="row">
                  {t.name}
                  <details>
                    <summary class="small">input</summary>
                    <pre class="rendered small">{JSON.stringify(t.input, null, 2)}</pre>
                  </details>
                </th>
                <td>
                  <Messages messages={t.expect} />
                </td>
                <td>
                  <span data-testid="policy-test-result">
                    <Badge value={result} tone={result === 'passed' ? 'green' : result === 'failed' ? 'red' : 'grey'} />
                  </span>
                  {c && !c.passed ? (
                    c.error ? (
                      <p class="small" data-testid="policy-test-error">
                        {c.error}
                      </p>
                    ) : (
                      <div class="small">
                        <p>Got instead:</p>
                        <Messages messages={c.got} testid="policy-test-got" />
                      </div>
                    )
                  ) : null}
                  {c?.prints.length ? <pre class="rendered small">{c.prints.join('\n')}</pre> : null}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function Evaluation({ run }: { run: DryRun }) {
  return (
    <section class="card" data-testid="evaluation" data-verdict={run.verdict} aria-labelledby="evaluation-h">
      <h3 id="evaluation-h">
        <span data-testid="evaluation-verdict">
          <Badge value={verdictText[run.verdict]} tone={verdictTone[run.verdict]} />
        </span>{' '}
        in {run.environment}
        {run.mode ? ` (bound ${run.mode})` : ''}
      </h3>
      <p data-testid="evaluation-summary">{run.summary}</p>
      {run.problem ? <Problem problem={run.problem} testid="evaluation-problem" /> : null}
      {run.results.length ? (
        <table>
          <thead>
            <tr>
              <th scope="col">{run.scope === 'workload' ? 'Object' : 'Input'}</th>
              <th scope="col">Messages</th>
            </tr>
          </thead>
          <tbody>
            {run.results.map((r) => (
              <tr data-testid="evaluation-result" data-origin={r.origin}>
                <th scope="row">{r.origin}</th>
                <td>
                  {r.error ? (
                    <p class="findings" data-testid="evaluation-error">
                      {r.error}
                    </p>
                  ) : (
                    <Messages messages={{ deny: r.deny, warn: r.warn }} testid="evaluation-messages" />
                  )}
                  {r.prints.length ? <pre class="rendered small">{r.prints.join('\n')}</pre> : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

function EvaluatePanel({ detail, onProblem }: { detail: PolicyDetail; onProblem: (p: PolicyProblem | null) => void }) {
  const [text, setText] = useState('');
  const [environment, setEnvironment] = useState('');
  const [release, setRelease] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>();
  const [run, setRun] = useState<DryRun | undefined>();
  const releases = useApi<Releases>('/api/releases', true, (e) => aboutKind(e, 'releases'));
  const env = environment || detail.defaultEnvironment || '';

  const evaluate = async (body: EvaluatePolicy) => {
    setBusy(true);
    setError(undefined);
    try {
      const res = await post<DryRun, EvaluatePolicy>(`/api/policies/${enc(detail.name)}/evaluate`, body);
      setRun(res);
      onProblem(res.problem?.source === 'rego' ? res.problem : null);
    } catch (err) {
      setRun(undefined);
      setError(toError(err));
    } finally {
      setBusy(false);
    }
  };
  const onObject = (e: Event) => {
    e.preventDefault();
    void evaluate({ object: text, environment: env || undefined });
  };
  const onRelease = (e: Event) => {
    e.preventDefault();
    const [namespace, name] = release.split('/', 2);
    if (namespace && name) void evaluate({ release: { namespace, name } });
  };
  const releaseOptions = (releases.data?.releases ?? []).map((r) => ({
    value: `${r.namespace}/${r.name}`,
    label: `${r.name} — ${r.title || r.name} (${r.environment ?? '?'}, ${r.phase ?? 'Draft'})`,
    group: r.namespace,
  }));

  return (
    <section aria-labelledby="evaluate-h">
      <h2 id="evaluate-h">Evaluate</h2>
      <p class="muted small">
        Nothing is admitted or written: the policy is evaluated as admission would evaluate it, and the verdict is the
        one its binding gives in the environment.
      </p>
      <div class="two-col">
        <form class="card form" onSubmit={onObject} data-testid="evaluate-object-form" aria-labelledby="paste-h">
          <h3 id="paste-h">A pasted object</h3>
          <div class="field">
            <label for="evaluate-object">Kubernetes objects, YAML or JSON</label>
            <textarea
              id="evaluate-object"
              rows={14}
              spellcheck={false}
              class="mono"
              value={text}
              data-testid="evaluate-object"
              placeholder={'apiVersion: apps/v1\nkind: Deployment\n…'}
              aria-describedby="evaluate-object-hint"
              onInput={(e) => setText(e.currentTarget.value)}
            />
            <small id="evaluate-object-hint" class="hint">
              Several objects: separate them with <code>---</code>, or paste a JSON array or a List.
            </small>
          </div>
          <Select
            id="evaluate-environment"
            label="Judged in environment"
            value={env}
            onChange={setEnvironment}
            testid="evaluate-environment"
            options={detail.environments.map((e) => ({
              value: e.name,
              label: `${e.name} (${e.mode ?? 'not bound'})`,
            }))}
          />
          <div class="buttons">
            <button type="submit" class="primary" disabled={busy || !text.trim()} data-testid="evaluate-object-button">
              Evaluate the object
            </button>
          </div>
        </form>
        <form class="card form" onSubmit={onRelease} data-testid="evaluate-release-form" aria-labelledby="release-h">
          <h3 id="release-h">A release's rendered objects</h3>
          <p class="small muted">
            The release is rendered as the controller would render it now, and judged in its own environment.
          </p>
          <ErrorBox error={releases.error} />
          <Select
            id="evaluate-release"
            label="Release"
            value={release}
            onChange={setRelease}
            testid="evaluate-release"
            placeholder={releases.data ? 'Pick a release' : 'Loading releases…'}
            options={releaseOptions}
          />
          <div class="buttons">
            <button type="submit" class="primary" disabled={busy || !release} data-testid="evaluate-release-button">
              Evaluate the release
            </button>
          </div>
        </form>
      </div>
      {busy ? (
        <p class="muted" role="status">
          Evaluating…
        </p>
      ) : null}
      <ErrorBox error={error} />
      {run ? <Evaluation run={run} /> : null}
    </section>
  );
}

export function PolicyPage({ name }: { name: string }) {
  const { data, error } = useApi<PolicyDetail>(`/api/policies/${enc(name)}`, true, onReconnect);
  const [run, setRun] = useState<TestRun | undefined>();
  const [running, setRunning] = useState(false);
  const [runError, setRunError] = useState<ApiError | undefined>();
  const [evaluationProblem, setEvaluationProblem] = useState<PolicyProblem | null>(null);

  const runTests = async () => {
    setRunning(true);
    setRunError(undefined);
    try {
      setRun(await post<TestRun, Record<string, never>>(`/api/policies/${enc(name)}/test`, {}));
    } catch (err) {
      setRun(undefined);
      setRunError(toError(err));
    } finally {
      setRunning(false);
    }
  };

  const status = data?.status;
  const regoProblem = run?.problem ?? evaluationProblem;
  const markedLine = regoProblem?.line ?? null;

  return (
    <Page title={`Policy ${name}`}>
      <p class="crumbs">
        <a href="#/policies">Policies</a> / {name}
      </p>
      <ErrorBox error={error} />
      {!data && !error ? <Loading what="the policy" /> : null}
      {data ? (
        <>
          <dl class="facts">
            <div>
              <dt>Description</dt>
              <dd>{data.description ?? '—'}</dd>
            </div>
            <div>
              <dt>Package</dt>
              <dd>{status?.package ? <code>{status.package}</code> : '—'}</dd>
            </div>
            <div>
              <dt>Compiles</dt>
              <dd data-testid="policy-compiled">
                {status ? (
                  <Badge value={status.compiled ? 'yes' : 'no'} tone={status.compiled ? 'green' : 'red'} />
                ) : (
                  <span class="muted">not checked yet</span>
                )}
                {status?.error ? <div class="small">{status.error}</div> : null}
              </dd>
            </div>
            <div>
              <dt>Embedded tests (as last checked)</dt>
              <dd>{status?.tests ? `${status.tests.passed ?? 0} passed, ${status.tests.failed ?? 0} failed` : '—'}</dd>
            </div>
            <div>
              <dt>Bindings</dt>
              <dd>
                <Bindings bindings={data.bindings} />
              </dd>
            </div>
          </dl>

          <section aria-labelledby="rego-h">
            <h2 id="rego-h">Rego</h2>
            {regoProblem ? <Problem problem={regoProblem} testid="rego-problem" /> : null}
            <Rego text={data.rego} mark={markedLine} />
          </section>

          <section aria-labelledby="tests-h">
            <h2 id="tests-h">Embedded tests</h2>
            <div class="buttons">
              <button
                type="button"
                class="primary"
                disabled={running}
                onClick={() => void runTests()}
                data-testid="run-tests"
              >
                {running ? 'Running…' : 'Run tests'}
              </button>
              {run ? (
                <span data-testid="tests-summary" role="status">
                  {run.compiled ? `${run.passed} passed, ${run.failed} failed` : 'The policy does not compile.'}
                </span>
              ) : null}
            </div>
            <ErrorBox error={runError} />
            <Tests detail={data} run={run} />
          </section>

          <EvaluatePanel detail={data} onProblem={setEvaluationProblem} />
        </>
      ) : null}
    </Page>
  );
}
