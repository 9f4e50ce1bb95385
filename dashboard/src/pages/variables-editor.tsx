import { useState } from 'preact/hooks';
import {
  post,
  type ScopeVariable,
  type ScopeVariables,
  type VariableChange,
  type VariableEdit,
  type VariableScopes,
} from '../api';
import { useApi } from '../live';
import { Empty, ErrorBox, Loading, Value, useAction } from '../ui';

const enc = encodeURIComponent;

/** Every scope of `project` with its variables; each scope can be changed where allowed. */
export function ScopesEditor({ project }: { project: string }) {
  const path = `/api/projects/${enc(project)}/variables`;
  const opened = useApi<VariableScopes>(path);
  const [written, setWritten] = useState<VariableScopes | undefined>();
  const scopes = (written ?? opened.data)?.scopes;
  if (opened.error) return <ErrorBox error={opened.error} />;
  if (!scopes) return <Loading what="scopes" />;
  const send = async (edit: VariableEdit) => {
    const answer = await post<VariableScopes, VariableEdit>(path, edit);
    setWritten(answer);
  };
  return (
    <section aria-labelledby="scopes-h" data-testid="variable-scopes">
      <h2 id="scopes-h">Scopes</h2>
      <p class="muted">
        <code>{'{{hq.var.NAME}}'}</code> takes the tenant's definition, then the environment's, then the project's;{' '}
        <code>{'{{hq.var.env.NAME}}'}</code> reads the environment's only.
      </p>
      {scopes.map((s) => (
        <ScopeCard key={s.label} scope={s} send={send} />
      ))}
    </section>
  );
}

interface Draft {
  name: string;
  kind: 'value' | 'secret';
  text: string;
  secret: string;
  key: string;
}

const blank: Draft = { name: '', kind: 'value', text: '', secret: '', key: '' };

function draftOf(v: ScopeVariable): Draft {
  if (v.secretRef) return { name: v.name, kind: 'secret', text: '', secret: v.secretRef.name, key: v.secretRef.key };
  return {
    name: v.name,
    kind: 'value',
    text: typeof v.value === 'string' ? v.value : JSON.stringify(v.value),
    secret: '',
    key: '',
  };
}

function ScopeCard({ scope, send }: { scope: ScopeVariables; send: (e: VariableEdit) => Promise<void> }) {
  const [draft, setDraft] = useState<Draft>(blank);
  const { busy, error, run } = useAction();
  const [done, setDone] = useState<string | undefined>();
  const id = scope.label.replace(/[^a-z0-9-]/gi, '-');
  const allowed = scope.edit.allowed;
  const reason = scope.edit.reason ?? '';

  const write = (name: string, change: VariableChange, object: string | null, what: string) =>
    run(async () => {
      setDone(undefined);
      await send({
        scope: scope.scope,
        object,
        resourceVersion: object ? (scope.objects[object] ?? null) : null,
        name,
        change,
      });
      setDone(what);
      setDraft(blank);
    });
  const target = Object.prototype.hasOwnProperty.call(scope.objects, scope.target) ? scope.target : null;
  const holder = (name: string) => scope.variables.find((v) => v.name === name)?.object ?? target;
  const save = () => {
    const name = draft.name.trim();
    const change: VariableChange =
      draft.kind === 'value'
        ? { kind: 'value', text: draft.text }
        : { kind: 'secret', secret: draft.secret, key: draft.key };
    void write(name, change, holder(name), `Saved ${name} in ${scope.label}.`);
  };
  const incomplete =
    !draft.name.trim() || (draft.kind === 'value' ? !draft.text.trim() : !draft.secret.trim() || !draft.key.trim());

  return (
    <section class="card" data-testid="variable-scope" data-scope={scope.label} aria-labelledby={`scope-${id}`}>
      <h3 id={`scope-${id}`}>
        {scope.label}
        {scope.environment && scope.scope.tenant ? <span class="muted"> (renders in {scope.environment})</span> : null}
      </h3>
      {!allowed ? (
        <p class="notice" role="note" data-testid="scope-readonly">
          <strong>Read-only:</strong> {reason}
        </p>
      ) : null}
      {scope.variables.length ? (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Value</th>
              <th scope="col">Object</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {scope.variables.map((v) => (
              <tr data-testid="scope-variable" data-name={v.name}>
                <th scope="row">
                  <code>{v.name}</code>
                  {scope.scope.environment && !scope.scope.tenant ? (
                    <span
                      class="badge tone-grey"
                      title={`also {{hq.var.env.${v.name}}}: the environment's value, whatever a tenant defines`}
                      data-testid="variable-pinned"
                    >
                      env-pinned{v.pinnedUses.length ? `: ${v.pinnedUses.join(', ')}` : ''}
                    </span>
                  ) : null}
                </th>
                <td>
                  {v.secretRef ? (
                    <span data-testid="variable-secret">
                      Secret <code>{v.secretRef.name}</code> key <code>{v.secretRef.key}</code>{' '}
                      <span class="muted">(value not shown)</span>
                    </span>
                  ) : (
                    <Value v={v.value} />
                  )}
                </td>
                <td>{v.object}</td>
                <td class="buttons">
                  <button
                    type="button"
                    disabled={!allowed || busy}
                    title={allowed ? `change ${v.name}` : reason}
                    onClick={() => setDraft(draftOf(v))}
                  >
                    Edit
                  </button>
                  <button
                    type="button"
                    data-testid="variable-remove"
                    disabled={!allowed || busy}
                    title={allowed ? `remove ${v.name} from ${v.object}` : reason}
                    onClick={() =>
                      void write(v.name, { kind: 'remove' }, v.object, `Removed ${v.name} from ${scope.label}.`)
                    }
                  >
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <Empty>No variables in this scope.</Empty>
      )}
      <form
        class="filters"
        data-testid="variable-form"
        onSubmit={(e) => {
          e.preventDefault();
          save();
        }}
      >
        <div class="field">
          <label for={`${id}-name`}>Name</label>
          <input
            id={`${id}-name`}
            data-testid="variable-name"
            value={draft.name}
            disabled={!allowed}
            onInput={(e) => setDraft({ ...draft, name: e.currentTarget.value })}
          />
        </div>
        <div class="field">
          <label for={`${id}-kind`}>Kind</label>
          <select
            id={`${id}-kind`}
            data-testid="variable-kind"
            value={draft.kind}
            disabled={!allowed}
            onChange={(e) => setDraft({ ...draft, kind: e.currentTarget.value === 'secret' ? 'secret' : 'value' })}
          >
            <option value="value">Value</option>
            <option value="secret">Secret reference</option>
          </select>
        </div>
        {draft.kind === 'value' ? (
          <div class="field">
            <label for={`${id}-value`}>Value</label>
            <input
              id={`${id}-value`}
              data-testid="variable-value"
              value={draft.text}
              disabled={!allowed}
              aria-describedby={`${id}-value-hint`}
              onInput={(e) => setDraft({ ...draft, text: e.currentTarget.value })}
            />
            <small id={`${id}-value-hint`} class="hint">
              Read as YAML: 5432 is a number, '5432' text.
            </small>
          </div>
        ) : (
          <>
            <div class="field">
              <label for={`${id}-secret`}>Secret</label>
              <input
                id={`${id}-secret`}
                data-testid="variable-secret-name"
                value={draft.secret}
                disabled={!allowed}
                onInput={(e) => setDraft({ ...draft, secret: e.currentTarget.value })}
              />
            </div>
            <div class="field">
              <label for={`${id}-key`}>Key</label>
              <input
                id={`${id}-key`}
                data-testid="variable-secret-key"
                value={draft.key}
                disabled={!allowed}
                onInput={(e) => setDraft({ ...draft, key: e.currentTarget.value })}
              />
            </div>
          </>
        )}
        <div class="buttons">
          <button
            type="submit"
            class="primary"
            data-testid="variable-save"
            disabled={!allowed || busy || incomplete}
            title={
              !allowed
                ? reason
                : incomplete
                  ? 'name the variable and give its value or Secret key'
                  : `save to ${holder(draft.name.trim()) ?? scope.target}`
            }
          >
            Save
          </button>
        </div>
      </form>
      <ErrorBox error={error} />
      {done ? (
        <p class="ok" role="status" data-testid="variable-saved">
          {done}
        </p>
      ) : null}
    </section>
  );
}
