import { enc, qs, type CommitDetail, type CommitRow, type RepositoryLog, type RepositoryTree } from '../api';
import { useApi, type Route } from '../live';
import { Empty, ErrorBox, Loading, Page, Time } from '../ui';
import { DiffView } from './release';

// The GitOps repository of one project, as GitOpsHQ wrote it: the history with each commit's
// trailers linked to the release, people and session they name; one commit's diff; the tree at
// any commit. Read by the server through its clone cache, as far as the person may read the
// project.

function repositoryHash(project: string, params: Record<string, string | undefined>): string {
  return `#/projects/${enc(project)}/repository${qs(params)}`;
}

function commitHash(project: string, commit: string): string {
  return `#/projects/${enc(project)}/repository/commits/${enc(commit)}`;
}

function Trailers({ commit }: { commit: CommitRow }) {
  if (!commit.trailers.length) return <span class="muted">no GitOpsHQ trailers</span>;
  return (
    <dl class="trailers" data-testid="commit-trailers">
      {commit.trailers.map((t) => (
        <div>
          <dt>{t.key}</dt>
          <dd>{t.href ? <a href={t.href}>{t.value}</a> : <code>{t.value}</code>}</dd>
        </div>
      ))}
    </dl>
  );
}

function History({ project, log, selected }: { project: string; log: RepositoryLog; selected?: string | null }) {
  if (!log.commits.length) return <Empty>No commit touches this project's folder yet.</Empty>;
  return (
    <table data-testid="repository-history">
      <thead>
        <tr>
          <th scope="col">Commit</th>
          <th scope="col">Title</th>
          <th scope="col">Release</th>
          <th scope="col">Time</th>
        </tr>
      </thead>
      <tbody>
        {log.commits.map((c) => {
          const release = c.trailers.find((t) => t.key === 'GitOpsHQ-Release');
          return (
            <tr class={c.commit === selected ? 'selected' : undefined} data-testid="repository-commit">
              <td>
                <a href={commitHash(project, c.commit)}>
                  <code>{c.short}</code>
                </a>
              </td>
              <td>{c.title}</td>
              <td>{release?.href ? <a href={release.href}>{release.value}</a> : '—'}</td>
              <td>
                <Time value={c.time} />
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function Tree({ project, commit, path }: { project: string; commit?: string; path?: string }) {
  const { data, error } = useApi<RepositoryTree>(
    `/api/projects/${enc(project)}/repository/tree${qs({ commit, path })}`,
    false,
  );
  if (error) return <ErrorBox error={error} />;
  if (!data) return <Loading what="the tree" />;
  if (!data.commit) return <Empty>The repository has no commit for this project yet.</Empty>;
  const parts = data.path.slice(data.root.length).split('/').filter(Boolean);
  const at = (p: string) => repositoryHash(project, { commit: data.commit ?? undefined, path: p });
  return (
    <section aria-labelledby="tree-h" data-testid="repository-tree">
      <h2 id="tree-h">
        Files at <code>{data.commit.slice(0, 12)}</code>
      </h2>
      <p class="crumbs" data-testid="tree-path">
        <a href={at(data.root)}>{data.root}</a>
        {parts.map((part, i) => (
          <>
            {' / '}
            <a href={at([data.root, ...parts.slice(0, i + 1)].join('/'))}>{part}</a>
          </>
        ))}
      </p>
      {data.file !== null && data.file !== undefined ? (
        <pre class="rendered" data-testid="repository-file" tabIndex={0}>
          {data.file}
        </pre>
      ) : (
        <ul class="entries">
          {data.entries.map((e) => (
            <li data-testid="tree-entry">
              <a href={at(e.path)}>
                {e.kind === 'folder' ? '📁 ' : '📄 '}
                {e.name}
                {e.kind === 'folder' ? '/' : ''}
              </a>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function CommitView({ project, commit }: { project: string; commit: string }) {
  const { data, error } = useApi<CommitDetail>(
    `/api/projects/${enc(project)}/repository/commits/${enc(commit)}`,
    false,
  );
  return (
    <Page title={data ? data.commit.title : `Commit ${commit.slice(0, 12)}`}>
      <p class="crumbs">
        <a href={`#/projects/${enc(project)}`}>{project}</a> / <a href={repositoryHash(project, {})}>repository</a> /{' '}
        <code>{commit.slice(0, 12)}</code>
      </p>
      <ErrorBox error={error} />
      {!data && !error ? <Loading what="the commit" /> : null}
      {data ? (
        <>
          <dl class="facts">
            <div>
              <dt>Commit</dt>
              <dd>
                <code data-testid="commit-id">{data.commit.commit}</code>
              </dd>
            </div>
            <div>
              <dt>Author</dt>
              <dd>{data.commit.author}</dd>
            </div>
            <div>
              <dt>Time</dt>
              <dd>
                <Time value={data.commit.time} />
              </dd>
            </div>
          </dl>
          {data.notes ? <p class="notes">{data.notes}</p> : null}
          <section aria-labelledby="trailers-h">
            <h2 id="trailers-h">Trailers</h2>
            <Trailers commit={data.commit} />
          </section>
          <p>
            <a href={repositoryHash(project, { commit: data.commit.commit })} data-testid="browse-at-commit">
              Browse the files at this commit
            </a>
          </p>
          <section aria-labelledby="commit-diff-h">
            <h2 id="commit-diff-h">Changes</h2>
            {data.diff ? <DiffView diff={data.diff} testid="commit-diff" /> : <Empty>No change to this project.</Empty>}
          </section>
        </>
      ) : null}
    </Page>
  );
}

export function RepositoryPage({ project, commit, route }: { project: string; commit?: string; route: Route }) {
  const log = useApi<RepositoryLog>(`/api/projects/${enc(project)}/repository/log`);
  if (commit) return <CommitView project={project} commit={commit} />;
  const at = route.query.get('commit') || undefined;
  const path = route.query.get('path') || undefined;
  return (
    <Page title={`Repository: ${project}`}>
      <p class="crumbs">
        <a href={`#/projects/${enc(project)}`}>{project}</a> / repository
      </p>
      <ErrorBox error={log.error} />
      {log.data ? (
        <dl class="facts">
          <div>
            <dt>URL</dt>
            <dd>
              <code>{log.data.url}</code>
            </dd>
          </div>
          <div>
            <dt>Branch</dt>
            <dd>
              <code>{log.data.branch}</code>
            </dd>
          </div>
          <div>
            <dt>Folder</dt>
            <dd>
              <code>{log.data.root}</code>
            </dd>
          </div>
        </dl>
      ) : null}
      <div class="editor-grid">
        <section aria-labelledby="history-h">
          <h2 id="history-h">History</h2>
          {log.data ? <History project={project} log={log.data} selected={at} /> : <Loading what="the history" />}
        </section>
        <Tree project={project} commit={at} path={path} />
      </div>
    </Page>
  );
}
