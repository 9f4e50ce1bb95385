import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, toApiError, type Fleet } from './api';
import { useApi } from './live';

export function ErrorBox({ error }: { error: ApiError | undefined | null }) {
  if (!error) return null;
  return (
    <div class="error" role="alert" data-testid="error">
      <p class="error-what">
        <strong>Error{error.status ? ` (${error.status})` : ''}:</strong> {error.message}
      </p>
      {error.next ? (
        <p class="error-next">
          <strong>Next:</strong> {error.next}
        </p>
      ) : null}
    </div>
  );
}

export function Page({
  title,
  children,
  actions,
}: {
  title: ComponentChildren;
  children: ComponentChildren;
  actions?: ComponentChildren;
}) {
  const h1 = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    const text = h1.current?.textContent ?? '';
    document.title = `${text} · GitOpsHQ`;
  });
  return (
    <>
      <div class="page-head">
        <h1 id="page-title" tabIndex={-1} ref={h1}>
          {title}
        </h1>
        {actions ? <div class="page-actions">{actions}</div> : null}
      </div>
      {children}
    </>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="muted" role="status">
      Loading {what}…
    </p>
  );
}

export function Time({ value }: { value: string | undefined | null }) {
  if (!value) return <span class="muted">—</span>;
  const d = new Date(value);
  if (isNaN(d.getTime())) return <span>{value}</span>;
  return (
    <time dateTime={value} title={value}>
      {formatTime(d)}
    </time>
  );
}

export function formatTime(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

const phaseTone: Record<string, string> = {
  Healthy: 'green',
  Deployed: 'green',
  Approved: 'green',
  Succeeded: 'green',
  Pass: 'green',
  Closed: 'grey',
  PendingApproval: 'yellow',
  Deploying: 'yellow',
  Progressing: 'yellow',
  Pending: 'yellow',
  Draft: 'grey',
  Paused: 'yellow',
  Warn: 'yellow',
  Superseded: 'grey',
  Cancelled: 'grey',
  Expired: 'grey',
  Closing: 'grey',
  Failed: 'red',
  Degraded: 'red',
  Blocked: 'red',
  Rejected: 'red',
  Deny: 'red',
  Active: 'red',
  Unhealthy: 'red',
};

export function Badge({ value, tone, testid }: { value: string | undefined | null; tone?: string; testid?: string }) {
  if (!value)
    return (
      <span class="muted" data-testid={testid}>
        —
      </span>
    );
  const t = tone ?? phaseTone[value] ?? 'grey';
  return (
    <span class={`badge tone-${t}`} data-testid={testid}>
      {value}
    </span>
  );
}

export function Value({ v }: { v: unknown }) {
  if (v === null || v === undefined) return <span class="absent">(absent)</span>;
  if (typeof v === 'string') return <code>{v}</code>;
  return <code>{JSON.stringify(v)}</code>;
}

export function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

// Projects and environments for pickers, from the fleet view.
export function useFleetLists() {
  const fleet = useApi<Fleet>('/api/fleet');
  return {
    fleet,
    projects: fleet.data?.projects.map((p) => ({ name: p.name, label: p.displayName || p.name })) ?? [],
    environments: [...(fleet.data?.environments ?? [])].sort((a, b) => (a.rank ?? 0) - (b.rank ?? 0)),
  };
}

export function Select({
  id,
  label,
  value,
  onChange,
  options,
  placeholder,
  testid,
  required,
}: {
  id: string;
  label: string;
  value: string;
  onChange: (v: string) => void;
  options: { value: string; label: string; group?: string }[];
  placeholder?: string;
  testid?: string;
  required?: boolean;
}) {
  const groups = new Map<string, { value: string; label: string }[]>();
  for (const o of options) {
    const g = o.group ?? '';
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g)!.push(o);
  }
  const known = options.some((o) => o.value === value);
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select
        id={id}
        value={value}
        required={required}
        data-testid={testid}
        onChange={(e) => onChange(e.currentTarget.value)}
      >
        <option value="">{placeholder ?? '—'}</option>
        {!known && value ? <option value={value}>{value}</option> : null}
        {[...groups.entries()].map(([g, opts]) =>
          g ? (
            <optgroup label={g}>
              {opts.map((o) => (
                <option value={o.value}>{o.label}</option>
              ))}
            </optgroup>
          ) : (
            opts.map((o) => <option value={o.value}>{o.label}</option>)
          ),
        )}
      </select>
    </div>
  );
}

export function TextField({
  id,
  label,
  value,
  onInput,
  placeholder,
  testid,
  type,
  hint,
  min,
  max,
}: {
  id: string;
  label: string;
  value: string;
  onInput: (v: string) => void;
  placeholder?: string;
  testid?: string;
  type?: 'text' | 'number' | 'url';
  hint?: string;
  min?: number;
  max?: number;
}) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input
        id={id}
        {...({ type: type ?? 'text' } as { type: 'text' })}
        value={value}
        placeholder={placeholder}
        data-testid={testid}
        min={min}
        max={max}
        aria-describedby={hint ? `${id}-hint` : undefined}
        onInput={(e) => onInput(e.currentTarget.value)}
      />
      {hint ? (
        <small id={`${id}-hint`} class="hint">
          {hint}
        </small>
      ) : null}
    </div>
  );
}

// One button's request: busy while it runs, its error kept to show.
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>();
  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await action();
    } catch (e) {
      setError(toApiError(e));
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run };
}
