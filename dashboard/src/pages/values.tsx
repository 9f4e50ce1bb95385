import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Mark, YamlEditor as Editor } from '../editor';
import {
  ApiError,
  enc,
  post,
  qs,
  toApiError,
  type CheckValues,
  type CreateRelease,
  type ReleaseWritten,
  type SaveValues,
  type ValuesCheck,
  type ValuesEditor,
  type ValuesLayer,
  type ValuesPreview,
} from '../api';
import { navigate, useApi, type Route } from '../live';
import { Empty, ErrorBox, Loading, Page } from '../ui';
import { DiffView } from './release';

// The values editor: one layer of a workload's values (its own, one environment's, or one
// tenant's override) in a YAML editor. Each pause in typing sends the text to the server, which
// checks it as the webhook and the renderer would (YAML, values schema, HQ variables, render)
// and answers findings at their lines, the rendered objects and the diff against the stored
// values. Saving applies the layer as the signed-in person.

const CHECK_DELAY_MS = 250;
// The repository preview reads Git: asked after a longer pause, and only while its tab is open.
const PREVIEW_DELAY_MS = 600;

function layerHash(project: string, workload: string, params: Record<string, string | undefined>): string {
  return `#/projects/${enc(project)}/workloads/${enc(workload)}/values${qs(params)}`;
}

/** A text put into the editor from outside (opened, reloaded, saved); a new object each time. */
interface Loaded {
  text: string;
}

// The CodeMirror editor, loaded when the page opens: created once, its text, read-only state
// and marks replaced from outside, each change reported.
function YamlEditor({
  doc,
  readOnly,
  marks,
  onChange,
}: {
  doc: Loaded;
  readOnly: boolean;
  marks: Mark[];
  onChange: (text: string) => void;
}) {
  const host = useRef<HTMLDivElement>(null);
  const [editor, setEditor] = useState<Editor | null>(null);
  const [failed, setFailed] = useState<string | undefined>();
  const changed = useRef(onChange);
  changed.current = onChange;
  const initial = useRef({ text: doc.text, readOnly });

  useEffect(() => {
    let made: Editor | null = null;
    let gone = false;
    import('../editor').then(
      (m) => {
        if (gone) return;
        made = m.createYamlEditor(host.current!, initial.current.text, initial.current.readOnly, 'Values (YAML)', (t) =>
          changed.current(t),
        );
        setEditor(made);
      },
      (e: unknown) => setFailed(String(e)),
    );
    return () => {
      gone = true;
      made?.destroy();
    };
  }, []);

  // Only a text loaded from the server replaces the editor's; what the person types stays
  // the editor's own, so typing never races a re-render.
  useEffect(() => editor?.setText(doc.text), [editor, doc]);
  useEffect(() => editor?.setReadOnly(readOnly), [editor, readOnly]);
  useEffect(() => editor?.setMarks(marks), [editor, marks]);

  return (
    <>
      {failed ? <ErrorBox error={new ApiError(0, `the editor did not load: ${failed}`, 'reload the page')} /> : null}
      <div class="code-editor" ref={host} />
    </>
  );
}

// Findings that have a line, as marks in the editor.
function marksOf(check: ValuesCheck | undefined): Mark[] {
  return (check?.findings ?? [])
    .filter((f) => f.line)
    .map((f) => ({ line: f.line ?? 1, column: f.column ?? 1, message: f.message }));
}

// A labelled text input; its id is also its test id.
function TextField({
  id,
  label,
  value,
  onInput,
  multiline,
}: {
  id: string;
  label: string;
  value: string;
  onInput: (value: string) => void;
  multiline?: boolean;
}) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {multiline ? (
        <textarea id={id} value={value} data-testid={id} onInput={(e) => onInput(e.currentTarget.value)} />
      ) : (
        <input id={id} value={value} data-testid={id} onInput={(e) => onInput(e.currentTarget.value)} />
      )}
    </div>
  );
}

function CreateReleaseForm({
  project,
  workload,
  environment,
  tenants,
  candidates,
}: {
  project: string;
  workload: string;
  environment: string;
  /** Fixed targets (a tenant's override), or none: the person picks. */
  tenants: string[];
  /** The environment's tenants that run the workload. */
  candidates: string[];
}) {
  const [target, setTarget] = useState<'all' | 'named' | 'labels'>('all');
  const [named, setNamed] = useState<string[]>([]);
  const [labels, setLabels] = useState('');
  const stamp = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 12);
  const [name, setName] = useState(`${workload}-${environment}-${stamp}`.toLowerCase());
  const [title, setTitle] = useState(`${workload} values in ${environment}`);
  const [notes, setNotes] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>();
  const create = async (submit: boolean) => {
    setBusy(true);
    setError(undefined);
    try {
      const written = await post<ReleaseWritten, CreateRelease>(`/api/projects/${enc(project)}/releases`, {
        name: name.trim(),
        title: title.trim(),
        notes: notes.trim() || undefined,
        environment,
        tenants: tenants.length ? tenants : target === 'named' ? named : [],
        tenantSelector: !tenants.length && target === 'labels' ? labels.trim() : undefined,
        changes: [{ workload }],
        submit,
      });
      const m = written.release.metadata;
      navigate(`#/releases/${enc(m.namespace ?? project)}/${enc(m.name ?? name)}`);
    } catch (e) {
      setError(toApiError(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="create-h" data-testid="create-release" class="card form">
      <h2 id="create-h">Create a release</h2>
      <p class="muted">
        Delivers workload <code>{workload}</code> with its stored values to {environment}
        {tenants.length ? ` (tenants ${tenants.join(', ')})` : ''}. Policies and approvals apply as for kubectl; a Draft
        can be reviewed on its page and submitted there.
      </p>
      <TextField id="release-name" label="Name" value={name} onInput={setName} />
      <TextField id="release-title" label="Title" value={title} onInput={setTitle} />
      <TextField id="release-notes" label="Notes" value={notes} onInput={setNotes} multiline />
      {tenants.length ? null : (
        <fieldset class="tenants" data-testid="release-target">
          <legend>Tenants</legend>
          <label>
            <input type="radio" name="release-target" checked={target === 'all'} onChange={() => setTarget('all')} />{' '}
            every tenant of {environment} that runs it ({candidates.length})
          </label>
          <label>
            <input
              type="radio"
              name="release-target"
              data-testid="release-target-named"
              checked={target === 'named'}
              onChange={() => setTarget('named')}
            />{' '}
            these tenants:
          </label>
          {target === 'named'
            ? candidates.map((t) => (
                <label class="indent">
                  <input
                    type="checkbox"
                    data-testid="release-tenant"
                    data-tenant={t}
                    checked={named.includes(t)}
                    onChange={(e) => setNamed(e.currentTarget.checked ? [...named, t] : named.filter((x) => x !== t))}
                  />{' '}
                  {t}
                </label>
              ))
            : null}
          <label>
            <input
              type="radio"
              name="release-target"
              checked={target === 'labels'}
              onChange={() => setTarget('labels')}
            />{' '}
            tenants labelled
          </label>
          {target === 'labels' ? (
            <TextField id="release-labels" label="Labels (tier=canary,region=eu)" value={labels} onInput={setLabels} />
          ) : null}
        </fieldset>
      )}
      <div class="buttons">
        <button type="button" disabled={busy} data-testid="release-draft" onClick={() => void create(false)}>
          Create draft
        </button>
        <button
          type="button"
          class="primary"
          disabled={busy}
          data-testid="release-submit"
          onClick={() => void create(true)}
        >
          Create and submit
        </button>
      </div>
      <ErrorBox error={error} />
    </section>
  );
}

export function ValuesPage({ project, workload, route }: { project: string; workload: string; route: Route }) {
  const environment = route.query.get('environment') || undefined;
  const tenantOverride = route.query.get('override') || undefined;
  const renderFor = route.query.get('tenant') || undefined;
  const path = `/api/projects/${enc(project)}/workloads/${enc(workload)}/values${qs({ environment, tenantOverride })}`;
  // Opened once per layer: a change elsewhere must not replace what the person is typing.
  const opened = useApi<ValuesEditor>(path, false);
  const editor = opened.data;
  const [text, setText] = useState<string | null>(null);
  const [doc, setDoc] = useState<Loaded | null>(null);
  const [layer, setLayer] = useState<ValuesLayer | undefined>();
  const [check, setCheck] = useState<ValuesCheck | undefined>();
  const [checkError, setCheckError] = useState<ApiError | undefined>();
  const [saveError, setSaveError] = useState<ApiError | undefined>();
  const [saved, setSaved] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const [creating, setCreating] = useState(false);
  const [view, setView] = useState<'diff' | 'repository' | 'rendered'>('diff');
  const [repoPreview, setRepoPreview] = useState<ValuesPreview | undefined>();
  const [repoError, setRepoError] = useState<ApiError | undefined>();
  const previewed = useRef(0);
  // Bumped when the stored values change under the same text: the diff must be asked again.
  const [revision, setRevision] = useState(0);
  const sent = useRef(0);

  useEffect(() => {
    if (!editor) return;
    setLayer(editor.layer);
    setText(editor.layer.text);
    setDoc({ text: editor.layer.text });
    setSaved(undefined);
    setSaveError(undefined);
  }, [editor]);

  // Check each pause in typing; only the answer to the latest text is shown.
  useEffect(() => {
    if (text === null) return;
    const mine = ++sent.current;
    const timer = setTimeout(() => {
      post<ValuesCheck, CheckValues>(`/api/projects/${enc(project)}/workloads/${enc(workload)}/values/check`, {
        text,
        environment,
        tenantOverride,
        tenant: tenantOverride ? undefined : renderFor,
      }).then(
        (c) => {
          if (mine !== sent.current) return;
          setCheck(c);
          setCheckError(undefined);
        },
        (e: unknown) => {
          if (mine !== sent.current) return;
          setCheckError(toApiError(e));
        },
      );
    }, CHECK_DELAY_MS);
    return () => clearTimeout(timer);
  }, [text, revision, project, workload, environment, tenantOverride, renderFor]);

  // What a release of the text would change in the repository: asked only while that tab is
  // open and the text renders (it reads the repository), after a longer pause.
  useEffect(() => {
    if (view !== 'repository' || text === null || !check?.rendered) return;
    const mine = ++previewed.current;
    const timer = setTimeout(() => {
      post<ValuesPreview, CheckValues>(`/api/projects/${enc(project)}/workloads/${enc(workload)}/values/preview`, {
        text,
        environment,
        tenantOverride,
        tenant: tenantOverride ? undefined : renderFor,
      }).then(
        (p) => {
          if (mine !== previewed.current) return;
          setRepoPreview(p);
          setRepoError(undefined);
        },
        (e: unknown) => {
          if (mine !== previewed.current) return;
          setRepoError(toApiError(e));
        },
      );
    }, PREVIEW_DELAY_MS);
    return () => clearTimeout(timer);
  }, [view, text, check, project, workload, environment, tenantOverride, renderFor]);

  const save = async () => {
    if (text === null) return;
    setBusy(true);
    setSaveError(undefined);
    setSaved(undefined);
    try {
      const stored = await post<ValuesLayer, SaveValues>(
        `/api/projects/${enc(project)}/workloads/${enc(workload)}/values`,
        { text, environment, tenantOverride, resourceVersion: layer?.resourceVersion ?? undefined },
      );
      setLayer(stored);
      setSaved(`Saved to ${stored.kind.toLowerCase()} ${stored.name} (version ${stored.resourceVersion ?? '?'}).`);
      // The stored text as the server writes it (comments are not kept), checked again: the
      // diff is against the stored values, which just changed.
      setText(stored.text);
      setDoc({ text: stored.text });
      setRevision((r) => r + 1);
    } catch (e) {
      setSaveError(toApiError(e));
    } finally {
      setBusy(false);
    }
  };

  const reload = () => {
    setText(null);
    setDoc(null);
    opened.reload();
  };

  const layerEnvironment = environment ?? editor?.tenants.find((t) => t.name === tenantOverride)?.environment;
  const tenantsHere = editor?.tenants.filter((t) => !layerEnvironment || t.environment === layerEnvironment) ?? [];
  const readOnly = !editor?.edit.allowed;
  const dirty = text !== null && layer !== undefined && text !== layer.text;
  const findings = check?.findings ?? [];
  const marks = useMemo(() => marksOf(check), [check]);
  const scopeValue = environment ? `env:${environment}` : tenantOverride ? `tenant:${tenantOverride}` : 'workload';
  const pickScope = (value: string) => {
    const [kind, name] = value.split(':', 2);
    navigate(
      layerHash(project, workload, {
        environment: kind === 'env' ? name : undefined,
        override: kind === 'tenant' ? name : undefined,
      }),
    );
  };

  return (
    <Page title={`Values: ${workload}`}>
      <p class="crumbs">
        <a href={`#/projects/${enc(project)}`}>{project}</a> / {workload}
        {editor ? (
          <>
            {' '}
            · chart <code>{editor.chart}</code> <code>{editor.version}</code>
          </>
        ) : null}
      </p>
      <ErrorBox error={opened.error} />
      {!editor && !opened.error ? <Loading what="values" /> : null}
      {editor ? (
        <>
          <div class="filters">
            <div class="field">
              <label for="values-scope">Layer</label>
              <select
                id="values-scope"
                data-testid="values-scope"
                value={scopeValue}
                onChange={(e) => pickScope(e.currentTarget.value)}
              >
                <option value="workload">Workload (every environment)</option>
                {editor.environments.map((e) => (
                  <option value={`env:${e}`}>Environment {e}</option>
                ))}
                {editor.tenants.map((t) => (
                  <option value={`tenant:${t.name}`}>
                    Tenant {t.name} ({t.environment})
                  </option>
                ))}
              </select>
            </div>
            {!tenantOverride ? (
              <div class="field">
                <label for="values-tenant">Render for</label>
                <select
                  id="values-tenant"
                  data-testid="values-tenant"
                  value={renderFor ?? ''}
                  onChange={(e) =>
                    navigate(
                      layerHash(project, workload, {
                        environment,
                        tenant: e.currentTarget.value || undefined,
                      }),
                    )
                  }
                >
                  <option value="">first tenant</option>
                  {tenantsHere.map((t) => (
                    <option value={t.name}>{t.name}</option>
                  ))}
                </select>
              </div>
            ) : null}
          </div>
          <p class="muted">
            Editing <code>{editor.layer.kind}</code> <code>{editor.layer.name}</code>
            {environment ? (
              <>
                {' '}
                <code>spec.environments.{environment}.values</code>
              </>
            ) : tenantOverride ? (
              <>
                {' '}
                <code>spec.workloads.{workload}.values</code>
              </>
            ) : (
              <>
                {' '}
                <code>spec.values</code>
              </>
            )}
            .
          </p>
          {readOnly ? (
            <p class="notice" role="note" data-testid="values-readonly">
              <strong>Read-only:</strong> {editor.edit.reason}
            </p>
          ) : null}
          <div class="editor-grid">
            <section aria-labelledby="values-h">
              <h2 id="values-h">Values</h2>
              {doc !== null ? (
                <YamlEditor doc={doc} readOnly={readOnly} marks={marks} onChange={setText} />
              ) : (
                <Loading what="values" />
              )}
              <div data-testid="values-findings" aria-live="polite">
                {check && findings.length === 0 ? (
                  <p class="ok" data-testid="values-valid">
                    Valid: renders for tenant {check.tenant} ({check.environment}).
                  </p>
                ) : null}
                {findings.length ? (
                  <ul class="findings">
                    {findings.map((f) => (
                      <li data-testid="values-finding">
                        {f.line ? <strong>line {f.line}:</strong> : null} {f.message}
                      </li>
                    ))}
                  </ul>
                ) : null}
              </div>
              <ErrorBox error={checkError} />
              <div class="buttons">
                <button
                  type="button"
                  class="primary"
                  data-testid="values-save"
                  disabled={readOnly || busy || !dirty || findings.length > 0}
                  title={
                    readOnly
                      ? (editor.edit.reason ?? '')
                      : findings.length
                        ? 'fix the findings first'
                        : !dirty
                          ? 'nothing changed'
                          : ''
                  }
                  onClick={() => void save()}
                >
                  Save
                </button>
                <button type="button" onClick={reload} data-testid="values-reload">
                  Reload stored values
                </button>
                {layerEnvironment ? (
                  <button
                    type="button"
                    data-testid="values-create-release"
                    disabled={dirty}
                    title={dirty ? 'save first: a release delivers the stored values' : ''}
                    onClick={() => setCreating(true)}
                  >
                    Create release…
                  </button>
                ) : null}
              </div>
              {saved && !dirty ? (
                <p class="ok" role="status" data-testid="values-saved">
                  {saved}
                </p>
              ) : null}
              <ErrorBox error={saveError} />
            </section>
            <section aria-labelledby="preview-h">
              <h2 id="preview-h">Preview{check?.tenant ? ` for ${check.tenant}` : ''}</h2>
              <div class="tabs" role="tablist">
                {(
                  [
                    ['diff', 'Diff against stored'],
                    ['repository', 'Against what runs'],
                    ['rendered', 'Rendered'],
                  ] as const
                ).map(([tab, label]) => (
                  <button
                    type="button"
                    role="tab"
                    aria-selected={view === tab}
                    data-testid={`values-tab-${tab}`}
                    onClick={() => setView(tab)}
                  >
                    {label}
                  </button>
                ))}
              </div>
              {view === 'diff' ? (
                check?.diff ? (
                  <DiffView diff={check.diff} testid="values-diff" />
                ) : (
                  <Empty>{check?.rendered ? 'No change for this tenant.' : 'No render yet.'}</Empty>
                )
              ) : view === 'repository' ? (
                <div data-testid="values-repository">
                  <ErrorBox error={repoError} />
                  {repoPreview ? (
                    <>
                      <p class="muted">
                        What a release of these values would change in the GitOps repository now, for{' '}
                        {repoPreview.environment}, with the values earlier releases recorded there:{' '}
                        <strong data-testid="values-repository-summary">{repoPreview.summary}</strong>
                      </p>
                      {Object.entries(repoPreview.tenants).length ? (
                        <ul data-testid="values-repository-tenants">
                          {Object.entries(repoPreview.tenants).map(([t, summary]) => (
                            <li>
                              <strong>{t}</strong>: {summary}
                            </li>
                          ))}
                        </ul>
                      ) : null}
                      {repoPreview.unified ? (
                        <DiffView diff={repoPreview.unified} testid="values-repository-diff" />
                      ) : (
                        <Empty>No change to what runs now.</Empty>
                      )}
                    </>
                  ) : !repoError ? (
                    <Loading what="the repository's preview" />
                  ) : null}
                </div>
              ) : check?.rendered ? (
                <pre class="rendered" data-testid="values-rendered" tabIndex={0}>
                  {check.rendered}
                </pre>
              ) : (
                <Empty>No render yet.</Empty>
              )}
            </section>
          </div>
          {creating && layerEnvironment ? (
            <CreateReleaseForm
              project={project}
              workload={workload}
              environment={layerEnvironment}
              tenants={tenantOverride ? [tenantOverride] : []}
              candidates={tenantsHere.map((t) => t.name)}
            />
          ) : null}
        </>
      ) : null}
    </Page>
  );
}
