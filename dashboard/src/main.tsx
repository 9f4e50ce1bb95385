import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, del, get, onUnauthorized, post, toApiError, type Session, type SignIn } from './api';
import { startEvents, stopEvents, useRoute, type Route } from './live';
import { ErrorBox, Page } from './ui';
import { BreakGlassBanner, Header, Nav, Palette } from './shell';
import { FleetPage } from './pages/fleet';
import { ProjectPage } from './pages/project';
import { ReleasePage } from './pages/release';
import { ReleasesPage } from './pages/releases';
import { ApprovalsPage } from './pages/approvals';
import { ComparePage } from './pages/compare';
import { VariablesPage } from './pages/variables';
import { ChartsPage } from './pages/charts';
import { ClustersPage } from './pages/clusters';
import { BreakGlassPage } from './pages/breakglass';
import { AuditPage } from './pages/audit';
import { DiagnosticsPage } from './pages/diagnostics';
import { ValuesPage } from './pages/values';
import { PoliciesPage, PolicyPage } from './pages/workbench';
import { RepositoryPage } from './pages/repository';
import './style.css';

const THEME_KEY = 'gitopshq-theme';
const media = matchMedia('(prefers-color-scheme: dark)');

function useTheme(): [string, () => void] {
  const [stored, setStored] = useState<string | null>(() => localStorage.getItem(THEME_KEY));
  const [system, setSystem] = useState(media.matches ? 'dark' : 'light');
  useEffect(() => {
    const fn = () => setSystem(media.matches ? 'dark' : 'light');
    media.addEventListener('change', fn);
    return () => media.removeEventListener('change', fn);
  }, []);
  const theme = stored === 'dark' || stored === 'light' ? stored : system;
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
  }, [theme]);
  const toggle = () => {
    const next = theme === 'dark' ? 'light' : 'dark';
    localStorage.setItem(THEME_KEY, next);
    setStored(next);
  };
  return [theme, toggle];
}

function SignIn({
  onSignedIn,
  session,
  onSignOut,
  notice,
}: {
  onSignedIn: (s: Session) => void;
  session: Session | null;
  onSignOut: () => void;
  notice?: string;
}) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<ApiError | undefined>();
  const [busy, setBusy] = useState(false);
  if (session) {
    return (
      <Page title="Signed in">
        <dl class="facts">
          <div>
            <dt>User</dt>
            <dd data-testid="signin-user">{session.user}</dd>
          </div>
          <div>
            <dt>Groups</dt>
            <dd data-testid="signin-groups">{session.groups.join(', ') || '—'}</dd>
          </div>
        </dl>
        <p>
          Every request this dashboard makes reaches the Kubernetes API as this user, so RBAC and the admission webhook
          decide exactly as they do for kubectl.
        </p>
        <button type="button" onClick={onSignOut}>
          Sign out
        </button>
      </Page>
    );
  }
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const s = await post<Session, SignIn>('/api/session', { token: token.trim() });
      setToken('');
      onSignedIn(s);
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, String(err), ''));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" class="signin">
      <form class="card form" onSubmit={(e) => void submit(e)} data-testid="signin-form" aria-labelledby="signin-h">
        <h1 id="signin-h">Sign in to GitOpsHQ</h1>
        {notice ? (
          <p class="message" role="status">
            {notice}
          </p>
        ) : null}
        <p>
          Paste a bearer token the Kubernetes API server accepts (an OIDC ID token, or{' '}
          <code>kubectl create token NAME</code>). The dashboard acts as that user.
        </p>
        <div class="field">
          <label for="signin-token">Bearer token</label>
          <input
            id="signin-token"
            type="password"
            autoComplete="off"
            value={token}
            required
            data-testid="signin-token"
            onInput={(e) => setToken(e.currentTarget.value)}
          />
        </div>
        <ErrorBox error={error} />
        <button type="submit" class="primary" disabled={busy || !token.trim()} data-testid="signin-button">
          Sign in
        </button>
      </form>
    </main>
  );
}

function Content({ route, session, onSignOut }: { route: Route; session: Session; onSignOut: () => void }) {
  const [a, b, c, d, e] = route.path;
  switch (a ?? 'fleet') {
    case 'fleet':
      return <FleetPage />;
    case 'projects':
      if (b && c === 'workloads' && d && e === 'values') return <ValuesPage project={b} workload={d} route={route} />;
      if (b && c === 'repository')
        return <RepositoryPage project={b} commit={d === 'commits' ? e : undefined} route={route} />;
      return b ? <ProjectPage name={b} /> : <FleetPage />;
    case 'releases':
      return b && c ? <ReleasePage namespace={b} name={c} /> : <ReleasesPage route={route} />;
    case 'approvals':
      return <ApprovalsPage />;
    case 'compare':
      return <ComparePage route={route} />;
    case 'variables':
      return <VariablesPage route={route} />;
    case 'charts':
      return <ChartsPage />;
    case 'policies':
      return b ? <PolicyPage name={b} /> : <PoliciesPage />;
    case 'clusters':
      return <ClustersPage />;
    case 'breakglass':
      return <BreakGlassPage />;
    case 'audit':
      return <AuditPage route={route} />;
    case 'diagnostics':
      return <DiagnosticsPage route={route} />;
    case 'signin':
      return <SignIn session={session} onSignedIn={() => undefined} onSignOut={onSignOut} />;
    default:
      return (
        <Page title="Not found">
          <p>
            There is no page <code>#{route.raw}</code>. <a href="#/fleet">Go to the fleet</a>.
          </p>
        </Page>
      );
  }
}

function App() {
  const route = useRoute();
  const [theme, toggleTheme] = useTheme();
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [bootError, setBootError] = useState<ApiError | undefined>();
  const [notice, setNotice] = useState<string | undefined>();
  const [palette, setPalette] = useState(false);
  const main = useRef<HTMLElement>(null);
  const lastPath = useRef<string>('');

  useEffect(() => {
    get<Session>('/api/session').then(setSession, (e: unknown) => {
      if (e instanceof ApiError && e.status === 401) setSession(null);
      else {
        setSession(null);
        setBootError(toApiError(e));
      }
    });
    return onUnauthorized(() => {
      setNotice('Your session ended; sign in again.');
      setSession(null);
    });
  }, []);

  useEffect(() => {
    if (session) startEvents();
    else stopEvents();
  }, [session]);

  useEffect(() => {
    if (!session) return;
    const fn = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && (e.key === 'k' || e.key === 'K')) {
        e.preventDefault();
        setPalette((p) => !p);
      } else if (e.key === 'Escape') {
        setPalette(false);
      }
    };
    addEventListener('keydown', fn);
    return () => removeEventListener('keydown', fn);
  }, [session]);

  // Move focus to the new page's heading when the page (not its query) changes.
  const pathKey = route.path.join('/');
  useEffect(() => {
    if (lastPath.current && lastPath.current !== pathKey) {
      setTimeout(() => document.getElementById('page-title')?.focus(), 0);
    }
    lastPath.current = pathKey;
  }, [pathKey]);

  const signOut = async () => {
    try {
      await del('/api/session');
    } catch {
      /* the cookie is cleared either way */
    }
    stopEvents();
    setNotice(undefined);
    setSession(null);
  };

  if (session === undefined)
    return (
      <p class="muted boot" role="status">
        Loading…
      </p>
    );
  if (session === null) {
    return (
      <>
        {bootError ? (
          <div class="boot">
            <ErrorBox error={bootError} />
          </div>
        ) : null}
        <SignIn
          session={null}
          notice={notice}
          onSignOut={() => void signOut()}
          onSignedIn={(s) => {
            setBootError(undefined);
            setNotice(undefined);
            setSession(s);
          }}
        />
      </>
    );
  }
  return (
    <>
      <a
        class="skip"
        href="#main"
        onClick={(e) => {
          e.preventDefault();
          main.current?.focus();
        }}
      >
        Skip to content
      </a>
      <BreakGlassBanner />
      <Header
        session={session}
        onSignOut={() => void signOut()}
        onPalette={() => setPalette(true)}
        theme={theme}
        onTheme={toggleTheme}
      />
      <div class="layout">
        <Nav route={route} />
        <main id="main" ref={main} tabIndex={-1}>
          <Content route={route} session={session} onSignOut={() => void signOut()} />
        </main>
      </div>
      <Palette open={palette} onClose={() => setPalette(false)} />
    </>
  );
}

render(<App />, document.getElementById('app')!);
