import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { BreakGlass, Search, SearchItem, Session } from './api';
import { aboutKind, navigate, useApi, useLiveState, type Route } from './live';

export function useNow(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [active]);
  return now;
}

function countdown(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${h}:${pad(m)}:${pad(s % 60)}`;
}

// Shown on every page while a break-glass session is active. A labelled region rather than a
// live region: the countdown changes every second and is not to be announced each time.
export function BreakGlassBanner() {
  const { data, reload } = useApi<BreakGlass>('/api/breakglass', true, (e) => aboutKind(e, 'breakglasssessions'));
  const activeAll = (data?.sessions ?? []).filter((s) => s.status?.phase === 'Active' && !s.spec.closed);
  const now = useNow(activeAll.length > 0);
  const active = activeAll.filter((s) => !s.status?.expiresAt || Date.parse(s.status.expiresAt) > now - 1000);
  const expired = activeAll.length > active.length;
  useEffect(() => {
    if (expired) reload();
  }, [expired, reload]);
  if (active.length === 0) return null;
  const soonest = active
    .filter((s) => s.status?.expiresAt)
    .sort((a, b) => Date.parse(a.status!.expiresAt!) - Date.parse(b.status!.expiresAt!))[0];
  return (
    <section class="banner" aria-label="Break-glass session active" data-testid="breakglass-banner">
      <strong>Break-Glass Session Active — all actions are being recorded</strong>
      <span class="banner-detail">
        {active
          .map(
            (s) =>
              `${s.metadata.namespace}/${s.metadata.name} (${s.spec.severity ?? ''}${s.spec.requestedBy ? `, ${s.spec.requestedBy}` : ''})`,
          )
          .join('; ')}
      </span>
      {soonest ? (
        <span>
          ends in{' '}
          <time data-testid="breakglass-countdown" dateTime={soonest.status!.expiresAt ?? undefined}>
            {countdown(Date.parse(soonest.status!.expiresAt!) - now)}
          </time>
        </span>
      ) : null}
      <a href="#/breakglass">Manage</a>
    </section>
  );
}

function score(item: SearchItem, terms: string[]): number {
  const label = item.label.toLowerCase();
  const hay = `${item.label} ${item.detail ?? ''} ${item.kind} ${item.href}`.toLowerCase();
  let s = 0;
  for (const t of terms) {
    if (!hay.includes(t)) return -1;
    s += label === t ? 4 : label.startsWith(t) ? 3 : label.includes(t) ? 2 : 1;
  }
  return s;
}

export function Palette({ open, onClose }: { open: boolean; onClose: () => void }) {
  const [text, setText] = useState('');
  const [active, setActive] = useState(0);
  const input = useRef<HTMLInputElement>(null);
  const returnTo = useRef<Element | null>(null);
  const { data, error } = useApi<Search>(open ? '/api/search' : null);
  useEffect(() => {
    if (open) {
      returnTo.current = document.activeElement;
      setText('');
      setActive(0);
      input.current?.focus();
    } else if (returnTo.current instanceof HTMLElement) {
      returnTo.current.focus();
    }
  }, [open]);
  const results = useMemo(() => {
    const terms = text.toLowerCase().split(/\s+/).filter(Boolean);
    const items = data?.items ?? [];
    if (terms.length === 0) return items.slice(0, 50);
    return items
      .map((it, i) => ({ it, i, s: score(it, terms) }))
      .filter((x) => x.s >= 0)
      .sort((a, b) => b.s - a.s || a.i - b.i)
      .slice(0, 50)
      .map((x) => x.it);
  }, [data, text]);
  useEffect(() => {
    document.getElementById(`palette-opt-${active}`)?.scrollIntoView({ block: 'nearest' });
  }, [active]);
  if (!open) return null;
  const go = (it: SearchItem | undefined) => {
    if (!it) return;
    onClose();
    navigate(it.href);
  };
  const onKey = (e: KeyboardEvent) => {
    if (e.key === 'ArrowDown') {
      e.preventDefault();
      setActive((a) => Math.min(a + 1, Math.max(results.length - 1, 0)));
    } else if (e.key === 'ArrowUp') {
      e.preventDefault();
      setActive((a) => Math.max(a - 1, 0));
    } else if (e.key === 'Home') {
      e.preventDefault();
      setActive(0);
    } else if (e.key === 'End') {
      e.preventDefault();
      setActive(Math.max(results.length - 1, 0));
    } else if (e.key === 'Enter') {
      e.preventDefault();
      go(results[active]);
    } else if (e.key === 'Escape') {
      e.preventDefault();
      onClose();
    } else if (e.key === 'Tab') {
      e.preventDefault();
    }
  };
  return (
    <div
      class="palette-backdrop"
      onClick={(e) => {
        if (e.target === e.currentTarget) onClose();
      }}
    >
      <div class="palette" role="dialog" aria-modal="true" aria-labelledby="palette-title" data-testid="palette">
        <h2 id="palette-title" class="sr-only">
          Jump to
        </h2>
        <label for="palette-input" class="sr-only">
          Search projects, workloads, releases, environments and policies
        </label>
        <input
          id="palette-input"
          ref={input}
          type="text"
          role="combobox"
          aria-expanded="true"
          aria-controls="palette-list"
          aria-autocomplete="list"
          aria-activedescendant={results.length ? `palette-opt-${active}` : undefined}
          placeholder="Jump to a project, workload, release, environment or policy…"
          value={text}
          data-testid="palette-input"
          autoComplete="off"
          onInput={(e) => {
            setText(e.currentTarget.value);
            setActive(0);
          }}
          onKeyDown={onKey}
        />
        {error ? (
          <p class="error" role="alert" data-testid="error">
            {error.message}
            {error.next ? ` — Next: ${error.next}` : ''}
          </p>
        ) : null}
        <ul id="palette-list" role="listbox" aria-label="Results">
          {results.map((it, i) => (
            <li
              id={`palette-opt-${i}`}
              role="option"
              aria-selected={i === active}
              class={i === active ? 'active' : ''}
              data-testid="palette-option"
              data-href={it.href}
              data-kind={it.kind}
              onMouseMove={() => setActive(i)}
              onClick={() => go(it)}
            >
              <span class="badge tone-grey">{it.kind}</span> <span class="palette-label">{it.label}</span>
              {it.detail ? <span class="muted small"> {it.detail}</span> : null}
            </li>
          ))}
          {data && results.length === 0 ? (
            <li class="muted" role="presentation">
              Nothing matches.
            </li>
          ) : null}
        </ul>
        <p class="small muted">↑ ↓ to choose, Enter to open, Esc to close</p>
      </div>
    </div>
  );
}

export const NAV: { href: string; label: string; match: string }[] = [
  { href: '#/fleet', label: 'Fleet', match: 'fleet' },
  { href: '#/releases', label: 'Releases', match: 'releases' },
  { href: '#/approvals', label: 'Approvals', match: 'approvals' },
  { href: '#/compare', label: 'Environment compare', match: 'compare' },
  { href: '#/variables', label: 'HQ Variables', match: 'variables' },
  { href: '#/charts', label: 'Chart registry', match: 'charts' },
  { href: '#/policies', label: 'Policies', match: 'policies' },
  { href: '#/clusters', label: 'Clusters', match: 'clusters' },
  { href: '#/breakglass', label: 'Break-glass', match: 'breakglass' },
  { href: '#/audit', label: 'Audit log', match: 'audit' },
  { href: '#/diagnostics', label: 'Diagnostics', match: 'diagnostics' },
];

export function Nav({ route }: { route: Route }) {
  const here = route.path[0] === 'projects' ? 'fleet' : (route.path[0] ?? 'fleet');
  return (
    <nav class="side" aria-label="Pages">
      <ul>
        {NAV.map((n) => (
          <li>
            <a href={n.href} aria-current={here === n.match ? 'page' : undefined}>
              {n.label}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}

export function Header({
  session,
  onSignOut,
  onPalette,
  theme,
  onTheme,
}: {
  session: Session;
  onSignOut: () => void;
  onPalette: () => void;
  theme: string;
  onTheme: () => void;
}) {
  const live = useLiveState();
  return (
    <header class="top">
      <a class="brand" href="#/fleet">
        GitOpsHQ
      </a>
      <button
        type="button"
        class="palette-button"
        data-testid="palette-button"
        onClick={onPalette}
        aria-keyshortcuts="Control+K"
      >
        Jump to… <kbd>Ctrl</kbd>+<kbd>K</kbd>
      </button>
      <span class={`live live-${live}`} data-testid="live-status" title="Live updates from the cluster">
        {live === 'live'
          ? 'Live'
          : live === 'reconnecting'
            ? 'Reconnecting…'
            : live === 'connecting'
              ? 'Connecting…'
              : 'Offline'}
      </span>
      <span class="spacer" />
      <button
        type="button"
        onClick={onTheme}
        data-testid="theme-toggle"
        aria-label={`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`}
      >
        {theme === 'dark' ? 'Light theme' : 'Dark theme'}
      </button>
      <a class="who" href="#/signin">
        <span class="sr-only">Signed in as </span>
        <strong data-testid="current-user">{session.user}</strong>
        {session.groups.length ? (
          <span class="groups" data-testid="current-groups">
            {session.groups.join(', ')}
          </span>
        ) : null}
      </a>
      <button type="button" onClick={onSignOut} data-testid="signout-button">
        Sign out
      </button>
    </header>
  );
}
