// End-to-end checks of the dashboard in Chromium, against a running `gitopshq dashboard`.
//
//   DASHBOARD_URL=http://127.0.0.1:PORT SCREENSHOTS=dir DASHBOARD_SCENARIO='{...}' \
//     node dashboard/tests/browser.mjs approvals|after|authoring|workbench|rollback|promote
//
// Prints one line per step; on a failure prints what was expected and what was found, with
// the page's visible error text, and exits 1.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const phase = process.argv[2];
const base = (process.env.DASHBOARD_URL || '').replace(/\/$/, '');
const shots = process.env.SCREENSHOTS || '';
const scenario = JSON.parse(process.env.DASHBOARD_SCENARIO || 'null');
const WAIT = Number(process.env.DASHBOARD_WAIT_MS || 30000); // one element or text
const PHASE_WAIT = Number(process.env.DASHBOARD_PHASE_WAIT_MS || 60000); // a release changing phase
const TOTAL = Number(process.env.DASHBOARD_TOTAL_MS || 15 * 60000); // the whole run

if (!['approvals', 'after', 'authoring', 'workbench', 'rollback', 'promote'].includes(phase) || !base || !scenario) {
  console.error(
    'usage: DASHBOARD_URL=… DASHBOARD_SCENARIO=… [SCREENSHOTS=dir] node dashboard/tests/browser.mjs approvals|after|authoring|workbench|rollback|promote',
  );
  process.exit(2);
}
if (shots) fs.mkdirSync(shots, { recursive: true });

class Mismatch extends Error {
  constructor(what, expected, found) {
    super(what);
    this.expected = expected;
    this.found = found;
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
const watchdog = setTimeout(() => {
  console.log(`FAIL the whole run took longer than ${TOTAL} ms`);
  process.exit(1);
}, TOTAL);

let current = null; // the page of the step running, for error reporting
const t0 = Date.now();

async function visibleErrors(page) {
  if (!page) return '';
  try {
    const texts = await page.locator('[data-testid="error"], [data-testid="bg-invalid"]').allInnerTexts();
    return texts
      .map((t) => t.replace(/\s+/g, ' ').trim())
      .filter(Boolean)
      .join(' | ');
  } catch {
    return '';
  }
}

async function step(name, fn) {
  const started = Date.now();
  try {
    await fn();
    console.log(`ok   ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } catch (e) {
    console.log(`FAIL ${name}`);
    if (e instanceof Mismatch) {
      console.log(`     ${e.message}`);
      console.log(`     expected: ${e.expected}`);
      console.log(`     found:    ${e.found}`);
    } else {
      console.log(
        `     ${String(e && e.message ? e.message : e)
          .split('\n')
          .slice(0, 6)
          .join('\n     ')}`,
      );
    }
    if (current) {
      console.log(`     url:      ${current.url()}`);
      const errs = await visibleErrors(current);
      console.log(`     page errors: ${errs || '(none shown)'}`);
      if (shots)
        await current.screenshot({ path: path.join(shots, `failure-${phase}.png`), fullPage: true }).catch(() => {});
    }
    await browser.close().catch(() => {});
    process.exit(1);
  }
}

// Poll a value from the page until `ok(value)` holds, without reloading the page.
async function waitFor(page, what, read, ok, expected, timeout = WAIT) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await read();
    } catch (e) {
      last = `(unreadable: ${String(e.message || e).split('\n')[0]})`;
    }
    if (ok(last)) return last;
    if (Date.now() > end) throw new Mismatch(`${what} (after ${timeout} ms)`, expected, JSON.stringify(last));
    await page.waitForTimeout(250);
  }
}

// Options are matched by their value property (an option whose value is its text has no value attribute).
const optionCount = (page, id, value) =>
  page
    .locator(`[data-testid="${id}"]`)
    .evaluateAll((els, v) => els.reduce((n, el) => n + [...el.options].filter((o) => o.value === v).length, 0), value);
const tid = (page, id) => page.locator(`[data-testid="${id}"]`);
const text = async (loc) => ((await loc.count()) ? (await loc.first().innerText()).replace(/\s+/g, ' ').trim() : null);

async function shot(page, name) {
  if (!shots) return;
  await page.screenshot({ path: path.join(shots, name), fullPage: true });
}

async function signIn(user, { screenshot } = {}) {
  const token = scenario.users[user];
  if (!token) throw new Mismatch(`a token for ${user}`, `scenario.users.${user}`, 'missing');
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
  const page = await context.newPage();
  current = page;
  page.on('pageerror', (e) => console.log(`     (page script error as ${user}: ${e.message})`));
  await page.goto(`${base}/#/fleet`);
  await tid(page, 'signin-token').waitFor({ timeout: WAIT });
  if (screenshot) await shot(page, 'signin.png');
  await tid(page, 'signin-token').fill(token);
  await tid(page, 'signin-button').click();
  const who = await waitFor(
    page,
    `signed in as ${user}`,
    () => text(tid(page, 'current-user')),
    (v) => !!v,
    'the current user shown in the header',
  );
  const groups = await text(tid(page, 'current-groups'));
  return { context, page, who, groups };
}

const rel = scenario.release;
const releaseHash = `#/releases/${encodeURIComponent(rel.namespace)}/${encodeURIComponent(rel.name)}`;

async function openRelease(page) {
  await page.goto(`${base}/${releaseHash}`);
  await tid(page, 'release-phase').waitFor({ timeout: WAIT });
}

async function readDecision(page) {
  const approve = tid(page, 'approve-button');
  if ((await approve.count()) === 0)
    return { missing: 'no Approve button yet', none: await text(tid(page, 'decision-none')) };
  return {
    disabled: await approve.isDisabled(),
    rejectDisabled: await tid(page, 'reject-button').isDisabled(),
    reason: await text(tid(page, 'decision-reason')),
    permitted: await tid(page, 'decision').getAttribute('data-permitted'),
  };
}

async function waitPhase(page, phases, timeout) {
  return waitFor(
    page,
    `release phase one of ${phases.join(', ')}`,
    () => text(tid(page, 'release-phase')),
    (v) => phases.includes(v),
    phases.join(' or '),
    timeout,
  );
}

async function approve(page, comment) {
  await tid(page, 'decision-comment').fill(comment);
  await tid(page, 'approve-button').click();
  const r = await waitFor(
    page,
    'the decision is recorded',
    async () => ({ done: await text(tid(page, 'decision-done')), errors: await visibleErrors(page) }),
    (v) => (v.done ?? '').startsWith('Approved') || !!v.errors,
    'Approved: your decision is recorded.',
  );
  if (!(r.done ?? '').startsWith('Approved'))
    throw new Mismatch('the decision is recorded', 'Approved: your decision is recorded.', r.errors);
}

if (phase === 'approvals') {
  let creator, notPermitted, first, same, second;
  await step(`sign in as ${scenario.creator} (the release's creator)`, async () => {
    creator = await signIn(scenario.creator, { screenshot: true });
    console.log(`     signed in as ${creator.who} (${creator.groups ?? 'no groups'})`);
  });
  await step('the creator sees the release PendingApproval', async () => {
    await openRelease(creator.page);
    await waitPhase(creator.page, ['PendingApproval'], PHASE_WAIT);
  });
  await step('the creator cannot approve: Approve disabled, the reason says "cannot approve"', async () => {
    const d = await waitFor(
      creator.page,
      'the decision check',
      () => readDecision(creator.page),
      (d) => d.disabled && /cannot approve/i.test(d.reason ?? ''),
      'Approve disabled with a reason mentioning "cannot approve"',
    );
    console.log(`     reason: ${d.reason} (permitted: ${d.permitted})`);
    // Self-approval does not bar a Reject: the creator's Reject follows its own check (not clicked).
    if (d.rejectDisabled) {
      throw new Mismatch(
        'the creator may reject: Reject enabled',
        'Reject enabled',
        `Reject disabled (${(await text(tid(creator.page, 'reject-reason'))) ?? d.reason})`,
      );
    }
    await shot(creator.page, 'release-pending.png');
  });
  await creator.context.close();

  await step(`${scenario.notPermitted} is not permitted to approve`, async () => {
    notPermitted = await signIn(scenario.notPermitted);
    await openRelease(notPermitted.page);
    const d = await waitFor(
      notPermitted.page,
      'the decision check',
      () => readDecision(notPermitted.page),
      (d) => d.disabled && d.permitted === 'false' && /^not permitted/i.test(d.reason ?? ''),
      'Approve disabled, marked "Not permitted: …"',
    );
    console.log(`     reason: ${d.reason}`);
  });
  await notPermitted.context.close();

  const [a1, a2] = scenario.approvers;
  await step(`${a1} approves with a comment; progress becomes "1 of 2"`, async () => {
    first = await signIn(a1);
    await first.page.goto(`${base}/#/approvals`);
    await waitFor(
      first.page,
      'the release in the approval queue',
      () => first.page.locator(`[data-testid="approval-item"][data-release="${rel.namespace}/${rel.name}"]`).count(),
      (n) => n > 0,
      `an item for ${rel.namespace}/${rel.name}`,
    );
    await shot(first.page, 'approvals.png');
    await openRelease(first.page);
    const d = await waitFor(
      first.page,
      'the decision check',
      () => readDecision(first.page),
      (d) => !d.disabled,
      'Approve enabled',
    );
    if (d.reason) console.log(`     note: ${d.reason}`);
    await approve(first.page, `Reviewed by ${a1} in the browser test`);
    const p = await waitFor(
      first.page,
      'approval progress',
      () => text(tid(first.page, 'approvals-progress')),
      (v) => (v ?? '').includes('1 of 2'),
      '"1 of 2"',
      PHASE_WAIT,
    );
    console.log(`     progress: ${p}`);
  });

  await step(`${scenario.sameTeam} (same team as ${a1}) is gated: "team other than"`, async () => {
    same = await signIn(scenario.sameTeam);
    await openRelease(same.page);
    const d = await waitFor(
      same.page,
      'the decision check',
      () => readDecision(same.page),
      (d) => d.disabled && d.permitted !== 'false' && /team other than/i.test(d.reason ?? ''),
      'Approve disabled, permitted, reason containing "team other than"',
    );
    console.log(`     reason: ${d.reason}`);
    if (!d.rejectDisabled) console.log('     note: Reject stays enabled');
  });
  await same.context.close();

  await step(`${a2} approves; the page turns Deployed or Healthy by live updates`, async () => {
    second = await signIn(a2);
    await openRelease(second.page);
    await waitFor(
      second.page,
      'the decision check',
      () => readDecision(second.page),
      (d) => !d.disabled,
      `Approve enabled for ${a2}`,
    );
    await approve(second.page, `Second approval by ${a2}`);
    const ph = await waitPhase(second.page, ['Deployed', 'Healthy'], PHASE_WAIT);
    console.log(`     phase: ${ph}`);
  });
  await step(`${a1}'s open page followed without a reload`, async () => {
    current = first.page;
    const ph = await waitPhase(first.page, ['Deployed', 'Healthy', 'Deploying', 'Approved'], PHASE_WAIT);
    console.log(`     phase: ${ph}`);
  });
  await browser.close();
  clearTimeout(watchdog);
  console.log(`done approvals in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  process.exit(0);
}

// A developer's day: edit values with live checks, save, create a release and submit it.
async function authoring() {
  const a = scenario.authoring;
  const layer = `#/projects/${encodeURIComponent(a.project)}/workloads/${encodeURIComponent(a.workload)}/values?environment=${encodeURIComponent(a.environment)}`;
  const editor = (page) => page.locator('[data-testid="values-text"]');
  const typeValues = async (page, values) => {
    await editor(page).click();
    await page.keyboard.press('Control+a');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(values);
  };

  await step(
    `${a.readOnly} (no release grant in ${a.environment}) sees the ${a.environment} values read-only, with the reason`,
    async () => {
      const s = await signIn(a.readOnly);
      await s.page.goto(`${base}/${layer}`);
      const reason = await waitFor(
        s.page,
        'the read-only notice',
        () => text(tid(s.page, 'values-readonly')),
        (v) => !!v && v.includes(a.readOnly) && v.includes(a.environment) && v.includes('ReleaseManager'),
        `Read-only: … ${a.readOnly} … may not … ${a.environment} … ReleaseManager`,
      );
      await editor(s.page).waitFor({ timeout: WAIT });
      const editable = await editor(s.page).getAttribute('contenteditable');
      if (editable !== 'false') throw new Mismatch('the editor is read-only', 'contenteditable=false', editable);
      if (!(await tid(s.page, 'values-save').isDisabled()))
        throw new Mismatch('Save is disabled', 'disabled', 'enabled');
      console.log(`     ${reason}`);
      await shot(s.page, 'values-readonly.png');
      await s.context.close();
    },
  );

  const s = await signIn(a.developer);
  const page = s.page;
  await step(`${a.developer} opens the ${a.environment} values of ${a.workload} from the palette`, async () => {
    await page.goto(`${base}/#/fleet`);
    await page.keyboard.press('Control+k');
    await tid(page, 'palette').waitFor({ timeout: WAIT });
    await page.keyboard.type(a.workload);
    const options = tid(page, 'palette-option');
    const index = await waitFor(
      page,
      'the palette offers the values editor',
      () => options.allInnerTexts().then((all) => all.findIndex((t) => t.includes('edit its values'))),
      (i) => i >= 0,
      'an option "workload in … · edit its values"',
    );
    for (let i = 0; i < index; i++) await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    await tid(page, 'values-scope').waitFor({ timeout: WAIT });
    await tid(page, 'values-scope').selectOption(`env:${a.environment}`);
    await waitFor(
      page,
      'the environment layer',
      () => page.evaluate(() => location.hash),
      (h) => h.includes(`environment=${a.environment}`),
      layer,
    );
    await editor(page).waitFor({ timeout: WAIT });
  });

  await step('an unresolved HQ variable is marked at its line, naming environment and tenant', async () => {
    await typeValues(page, a.broken);
    const finding = await waitFor(
      page,
      'the finding',
      () => text(tid(page, 'values-finding')),
      (v) => !!v && v.includes(a.missingVariable) && v.includes(`line ${a.brokenLine}:`) && v.includes(a.environment),
      `line ${a.brokenLine}: … ${a.missingVariable} … ${a.environment}`,
    );
    await waitFor(
      page,
      'the editor marks the line',
      () => page.locator('.cm-lintRange-error').count(),
      (n) => n > 0,
      'a marked range',
    );
    if (!(await tid(page, 'values-save').isDisabled()))
      throw new Mismatch('Save waits for a clean check', 'disabled', 'enabled');
    console.log(`     ${finding}`);
    await shot(page, 'values-error.png');
  });

  await step('the fixed values render, and the diff against the stored values shows the change', async () => {
    await typeValues(page, a.fixed);
    await waitFor(
      page,
      'the check of the fixed values',
      async () => (await text(tid(page, 'values-valid'))) ?? (await text(tid(page, 'values-findings'))),
      (v) => !!v && v.startsWith('Valid'),
      'Valid: renders for tenant …',
    );
    await tid(page, 'values-tab-diff').click();
    const diff = await waitFor(
      page,
      'the diff',
      async () => ((await tid(page, 'values-diff').count()) ? await tid(page, 'values-diff').innerText() : null),
      (v) => !!v && v.includes(a.diffShows),
      `a diff with ${a.diffShows}`,
    );
    console.log(`     ${diff.slice(0, 160)}…`);
    await shot(page, 'values-diff.png');
  });

  await step('against what runs: what a release of these values would change in the repository now', async () => {
    await tid(page, 'values-tab-repository').click();
    const summary = await waitFor(
      page,
      'the repository preview',
      async () =>
        (await text(tid(page, 'values-repository-summary'))) ??
        (await text(page.locator('[data-testid="values-repository"] [data-testid="error"]'))),
      (v) => !!v && v.includes('changed'),
      '… changed (a sentence of objects added, removed, changed)',
    );
    const diff = await text(tid(page, 'values-repository-diff'));
    if (!diff || !diff.includes(a.repositoryShows))
      throw new Mismatch('the repository diff', a.repositoryShows, diff?.slice(0, 400));
    if (diff.includes(a.repositoryOmits))
      throw new Mismatch(
        'the preview lays out as the controllers do',
        `no ${a.repositoryOmits} change`,
        diff.slice(0, 400),
      );
    console.log(`     ${summary}`);
    await shot(page, 'values-repository.png');
    await tid(page, 'values-tab-diff').click();
  });

  await step('Save applies the values as the developer', async () => {
    await tid(page, 'values-save').click();
    const saved = await waitFor(
      page,
      'saved',
      async () => (await text(tid(page, 'values-saved'))) ?? (await visibleErrors(page)),
      (v) => !!v,
      'Saved to workload …',
    );
    if (!saved.startsWith('Saved to workload')) throw new Mismatch('the save', 'Saved to workload …', saved);
    console.log(`     ${saved}`);
  });

  await step(
    'a Draft release is created from the editor, shows its policy results and rendered diff, and is submitted on its page',
    async () => {
      await tid(page, 'values-create-release').click();
      await tid(page, 'release-name').fill(a.release);
      await tid(page, 'release-title').fill(a.title);
      await tid(page, 'release-notes').fill('Resource limits set in the values editor.');
      await tid(page, 'release-target-named').check();
      for (const t of a.releaseTenants)
        await page.locator(`[data-testid="release-tenant"][data-tenant="${t}"]`).check();
      await tid(page, 'release-draft').click();
      await waitPhase(page, ['Draft'], PHASE_WAIT);
      await tid(page, 'submit-button').waitFor({ timeout: WAIT });
      const before = await waitFor(
        page,
        'the Draft shows its policy results before it is submitted',
        () => text(tid(page, 'policy-results')),
        (v) => !!v && v.includes(a.policy) && v.includes('Pass'),
        `${a.policy} … Pass`,
        PHASE_WAIT,
      );
      const preview = await waitFor(
        page,
        'the Draft shows what it would change in the repository',
        async () => ((await tid(page, 'release-diff').count()) ? await tid(page, 'release-diff').innerText() : null),
        (v) => !!v && v.includes(a.diffShows),
        `a rendered diff with ${a.diffShows}`,
      );
      console.log(`     before submitting: ${before}; diff of ${preview.split('\n').length} lines`);
      if (await tid(page, 'submit-button').isDisabled())
        throw new Mismatch('Submit is enabled', 'enabled', await text(tid(page, 'submit-reason')));
      await shot(page, 'release-draft.png');
      await tid(page, 'submit-button').click();
      await waitPhase(page, ['PendingApproval'], PHASE_WAIT);
    },
  );

  await step('the release page shows the policy results and the pending approvals', async () => {
    const policies = await waitFor(
      page,
      'the policy results',
      () => text(tid(page, 'policy-results')),
      (v) => !!v && v.includes(a.policy) && v.includes('Pass'),
      `${a.policy} … Pass`,
    );
    const progress = await waitFor(
      page,
      'the approvals',
      () => text(tid(page, 'approvals-progress')),
      (v) => !!v && v.includes('0 of 2'),
      '0 of 2 approvals received',
    );
    console.log(`     ${policies} | ${progress}`);
    await shot(page, 'release-submitted.png');
  });

  const r = scenario.repository;
  await step(
    'the repository browser shows the delivered commit with its trailers, its diff and its files',
    async () => {
      await page.goto(`${base}/#/projects/${encodeURIComponent(r.project)}`);
      await tid(page, 'project-repository').click();
      const row = page.locator('[data-testid="repository-commit"]', { hasText: r.release });
      await waitFor(
        page,
        'the history lists the delivery commit',
        () => row.count(),
        (n) => n > 0,
        `a commit whose release is ${r.release}`,
      );
      await shot(page, 'repository.png');
      await row.first().locator('a').first().click();
      const trailers = await waitFor(
        page,
        'the commit page lists its trailers',
        () => text(tid(page, 'commit-trailers')),
        (v) =>
          !!v &&
          v.includes(`GitOpsHQ-Release ${r.namespace}/${r.release}`) &&
          r.approvers.every((a) => v.includes(`GitOpsHQ-Approved-By ${a}`)),
        `GitOpsHQ-Release ${r.namespace}/${r.release}, approved by ${r.approvers.join(' and ')}`,
      );
      const link = await page
        .locator('[data-testid="commit-trailers"] a', { hasText: `${r.namespace}/${r.release}` })
        .getAttribute('href');
      if (link !== `#/releases/${r.namespace}/${r.release}`)
        throw new Mismatch('the release trailer links to the release', `#/releases/${r.namespace}/${r.release}`, link);
      const diff = await text(tid(page, 'commit-diff'));
      if (!diff || !diff.includes(r.file)) throw new Mismatch('the commit diff names the file', r.file, diff);
      console.log(`     ${trailers.slice(0, 200)}…`);
      await shot(page, 'repository-commit.png');
      await tid(page, 'browse-at-commit').click();
      for (const part of r.path) {
        await page.locator('[data-testid="tree-entry"] a', { hasText: new RegExp(`^\\W*${part}/?$`) }).click();
      }
      await page.locator('[data-testid="tree-entry"] a', { hasText: r.file }).click();
      const file = await waitFor(
        page,
        'the file at that commit',
        () => text(tid(page, 'repository-file')),
        (v) => !!v && v.includes(r.fileShows),
        r.fileShows,
      );
      console.log(`     ${r.file}: ${file.slice(0, 80)}…`);
    },
  );

  const v = scenario.variables;
  const scopeCard = (p, label) => p.locator(`[data-testid="variable-scope"][data-scope="${label}"]`);
  const envScope = `environment/${v.environment}`;
  await step(
    `${a.readOnly} sees the ${v.environment} variables read-only with the reason, and the project's open to change`,
    async () => {
      const s = await signIn(a.readOnly);
      await s.page.goto(`${base}/#/variables?project=${encodeURIComponent(v.project)}`);
      const reason = await waitFor(
        s.page,
        `the ${envScope} scope's read-only notice`,
        () => text(scopeCard(s.page, envScope).locator('[data-testid="scope-readonly"]')),
        (r) => !!r && r.includes(a.readOnly) && r.includes(v.environment),
        `Read-only: … ${a.readOnly} … ${v.environment} …`,
      );
      if (!(await scopeCard(s.page, envScope).locator('[data-testid="variable-save"]').isDisabled()))
        throw new Mismatch('Save is disabled in that scope', 'disabled', 'enabled');
      if (await scopeCard(s.page, 'project').locator('[data-testid="scope-readonly"]').count())
        throw new Mismatch('the project scope is open to a Developer', 'no read-only notice', reason);
      console.log(`     ${reason}`);
      await s.context.close();
    },
  );

  await step(`${a.developer} sets ${v.name} in ${envScope}; it is listed as env-pinned`, async () => {
    await page.goto(`${base}/#/variables?project=${encodeURIComponent(v.project)}`);
    const card = scopeCard(page, envScope);
    await card.waitFor({ timeout: WAIT });
    await card.locator('[data-testid="variable-name"]').fill(v.name);
    await card.locator('[data-testid="variable-value"]').fill(v.value);
    await card.locator('[data-testid="variable-save"]').click();
    const row = card.locator(`[data-testid="scope-variable"][data-name="${v.name}"]`);
    const shown = await waitFor(
      page,
      `${v.name} in the ${envScope} table`,
      () => text(row),
      (r) => !!r && r.includes(v.value) && r.includes('env-pinned'),
      `${v.name} env-pinned ${v.value}`,
    );
    console.log(`     ${shown}`);
    await shot(page, 'variables-editor.png');
  });

  await step(`a Secret reference ${a.developer} may not read is refused by the webhook, naming it`, async () => {
    const card = scopeCard(page, envScope);
    await card.locator('[data-testid="variable-name"]').fill(v.secretVariable);
    await card.locator('[data-testid="variable-kind"]').selectOption('secret');
    await card.locator('[data-testid="variable-secret-name"]').fill(v.secret);
    await card.locator('[data-testid="variable-secret-key"]').fill(v.secretKey);
    await card.locator('[data-testid="variable-save"]').click();
    const refusal = await waitFor(
      page,
      'the refusal',
      () => text(card.locator('[data-testid="error"]')),
      (e) => !!e && e.includes(`may not read Secret`) && e.includes(v.secret) && e.includes(v.secretVariable),
      `… may not read Secret …/${v.secret} … ${v.secretVariable}`,
    );
    console.log(`     ${refusal.slice(0, 240)}`);
    if (await card.locator(`[data-testid="scope-variable"][data-name="${v.secretVariable}"]`).count())
      throw new Mismatch('nothing was written', `no ${v.secretVariable} row`, 'a row');
  });

  await browser.close();
  clearTimeout(watchdog);
  console.log(`done authoring in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  process.exit(0);
}

if (phase === 'authoring') await authoring();

// The policy workbench: the embedded tests run from the page, then a pasted object evaluated.
async function workbench() {
  const w = scenario.workbench;
  let page;
  await step(`sign in as ${w.user} and open policy ${w.policy}`, async () => {
    ({ page } = await signIn(w.user));
    await page.goto(`${base}/#/policies/${encodeURIComponent(w.policy)}`);
    await tid(page, 'policy-rego').waitFor({ timeout: WAIT });
    const rego = await text(tid(page, 'policy-rego'));
    if (!/package /.test(rego ?? '')) throw new Mismatch('the Rego is shown', 'a package line', rego);
  });

  await step('Run tests: every embedded test passes', async () => {
    const rows = await tid(page, 'policy-test').count();
    if (rows === 0) throw new Mismatch('the embedded tests are listed', 'at least one test row', 'none');
    await tid(page, 'run-tests').click();
    const results = await waitFor(
      page,
      'every test row says passed',
      () => tid(page, 'policy-test').evaluateAll((els) => els.map((e) => e.getAttribute('data-result'))),
      (v) => Array.isArray(v) && v.length === rows && v.every((r) => r === 'passed'),
      `${rows} × passed`,
    );
    console.log(`     ${results.length} tests: ${await text(tid(page, 'tests-summary'))}`);
  });

  await step(`evaluate a pasted object: denied with "${w.denyContains}"`, async () => {
    await tid(page, 'evaluate-object').fill(w.object);
    await tid(page, 'evaluate-object-button').click();
    const messages = await waitFor(
      page,
      'the deny message',
      async () => (await visibleErrors(page)) || ((await text(tid(page, 'evaluation'))) ?? ''),
      (v) => v.includes(w.denyContains),
      `a deny message containing "${w.denyContains}"`,
    );
    const verdict = await tid(page, 'evaluation').getAttribute('data-verdict');
    if (verdict !== 'Deny') throw new Mismatch('the verdict', 'Deny', verdict);
    console.log(`     ${verdict}: ${messages.slice(0, 100)}`);
    console.log(`     ${await text(tid(page, 'evaluation-summary'))}`);
    await shot(page, 'workbench.png');
  });

  await browser.close();
  clearTimeout(watchdog);
  console.log(`done workbench in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  process.exit(0);
}

if (phase === 'workbench') await workbench();

// A rollback started from a delivered release's page: a Draft whose page shows the rollback's
// diff, then submitted there.
async function rollback() {
  const r = scenario.rollback;
  const { page } = await signIn(r.user);
  await step(`${r.user} starts a rollback of ${r.workload} from release ${r.target}`, async () => {
    await page.goto(`${base}/#/releases/${encodeURIComponent(r.namespace)}/${encodeURIComponent(r.target)}`);
    await tid(page, 'rollback').waitFor({ timeout: WAIT });
    const button = tid(page, 'rollback-button');
    if (await button.isDisabled())
      throw new Mismatch('the rollback button is enabled', 'enabled', await text(tid(page, 'rollback-reason')));
    await tid(page, 'rollback-workload').selectOption(r.workload);
    await tid(page, 'rollback-notes').fill(r.notes);
    await button.click();
    await waitFor(
      page,
      'the rollback Draft opens',
      () => page.evaluate(() => location.hash),
      (h) => h.startsWith(`#/releases/${r.namespace}/rollback-${r.workload}-`),
      `#/releases/${r.namespace}/rollback-${r.workload}-…`,
    );
  });
  await step("the Draft shows the rollback's diff before Submit", async () => {
    await waitFor(
      page,
      'the Draft phase',
      () => text(tid(page, 'release-phase')),
      (v) => v === 'Draft',
      'Draft',
    );
    const diff = await waitFor(
      page,
      "the rollback's diff",
      () => text(tid(page, 'release-diff')),
      (v) => !!v && v.includes(r.diffRemoves) && v.includes(r.diffRestores),
      `a diff removing "${r.diffRemoves}" and restoring "${r.diffRestores}"`,
    );
    console.log(`     ${diff.slice(0, 160)}…`);
    await shot(page, 'release-rollback.png');
  });
  await step('Submit sends the rollback on', async () => {
    const submit = tid(page, 'submit-button');
    if (await submit.isDisabled())
      throw new Mismatch('Submit is enabled', 'enabled', await text(tid(page, 'submit-reason')));
    await submit.click();
    const phase = await waitFor(
      page,
      'the rollback leaves Draft',
      () => text(tid(page, 'release-phase')),
      (v) => !!v && v !== 'Draft',
      'a phase after Draft',
      PHASE_WAIT,
    );
    console.log(`     ${phase}`);
  });
  await browser.close();
  clearTimeout(watchdog);
  console.log(`done rollback in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  process.exit(0);
}

if (phase === 'rollback') await rollback();

// A delivered release promoted from its page to the environment's other tenants, in two
// batches chosen there.
async function promote() {
  const p = scenario.promote;
  const { page } = await signIn(p.user);
  await step(`${p.user} chooses the batches of a promotion of ${p.release} into ${p.environment}`, async () => {
    await page.goto(`${base}/#/releases/${encodeURIComponent(p.namespace)}/${encodeURIComponent(p.release)}`);
    await tid(page, 'promote').waitFor({ timeout: WAIT });
    await tid(page, 'promote-environment').selectOption(p.environment);
    const tenants = await waitFor(
      page,
      'the tenants offered',
      () =>
        page
          .locator('[data-testid="promote-batch"]')
          .first()
          .locator('[data-testid="promote-batch-tenant"]')
          .evaluateAll((all) => all.map((e) => e.dataset.tenant).join(',')),
      (v) => v === p.tenants.join(','),
      p.tenants.join(','),
    );
    console.log(`     tenants: ${tenants}`);
    const batches = page.locator('[data-testid="promote-batch"]');
    const count = await batches.count();
    if (count !== 2) throw new Mismatch('two batches by default for two tenants', 2, count);
    await batches.nth(0).locator('[data-testid="promote-batch-soak"]').fill(p.soak);
    const button = tid(page, 'promote-button');
    if (await button.isDisabled())
      throw new Mismatch('Promote is enabled', 'enabled', await text(tid(page, 'promote-reason')));
    await shot(page, 'release-promote.png');
    await button.click();
  });
  await step('the promotion is listed with its first batch started as a release', async () => {
    const first = page.locator('[data-testid="promotion"]').first().locator('[data-testid="promotion-batch"]').first();
    const shown = await waitFor(
      page,
      'the first batch with its release',
      () =>
        first
          .locator('a')
          .count()
          .then(async (n) => (n ? text(first) : null)),
      (v) => !!v && v.startsWith(p.firstBatch),
      `${p.firstBatch} … with a link to its release`,
      PHASE_WAIT,
    );
    console.log(`     ${shown}`);
  });
  await browser.close();
  clearTimeout(watchdog);
  console.log(`done promote in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  process.exit(0);
}

if (phase === 'promote') await promote();

// phase === 'after'
const user = scenario.approvers[0];
let s;
await step(`sign in as ${user}`, async () => {
  s = await signIn(user, { screenshot: true });
  console.log(`     signed in as ${s.who} (${s.groups ?? 'no groups'})`);
});
const page = s.page;
let environment;

await step('the release page shows Healthy', async () => {
  await openRelease(page);
  await waitPhase(page, ['Healthy'], PHASE_WAIT);
  environment = await text(tid(page, 'release-environment'));
  const timeline = await page.locator('[data-testid="timeline"] tbody tr').count();
  console.log(`     environment ${environment}, ${timeline} timeline entries`);
  await shot(page, 'release.png');
});

await step("the fleet page renders the project's cell", async () => {
  const env = scenario.breakGlass?.environment || environment;
  await page.goto(`${base}/#/fleet`);
  const cell = page.locator(`[data-testid="fleet-cell"][data-project="${rel.namespace}"][data-env="${env}"]`);
  await waitFor(
    page,
    `the ${rel.namespace} × ${env} cell`,
    () => cell.count(),
    (n) => n > 0,
    `a cell for ${rel.namespace} in ${env}`,
  );
  console.log(`     ${env}: ${await cell.getAttribute('data-status')} — ${await text(cell)}`);
  await shot(page, 'fleet.png');
});

await step('the project page renders', async () => {
  await page.goto(`${base}/#/projects/${encodeURIComponent(rel.namespace)}`);
  await waitFor(
    page,
    'project environments',
    () => tid(page, 'project-env').count(),
    (n) => n > 0,
    'at least one environment section',
  );
  await shot(page, 'project.png');
});

await step('the releases list renders', async () => {
  await page.goto(`${base}/#/releases?project=${encodeURIComponent(rel.namespace)}`);
  await waitFor(
    page,
    'release rows',
    () => tid(page, 'release-row').count(),
    (n) => n > 0,
    'at least one release',
  );
  await shot(page, 'releases.png');
});

let sessionName;
await step('open a break-glass session (SEV2, environment + workload, 1h)', async () => {
  const bg = scenario.breakGlass;
  await page.goto(`${base}/#/breakglass`);
  await tid(page, 'bg-form').waitFor({ timeout: WAIT });
  await waitFor(
    page,
    'projects in the picker',
    () => optionCount(page, 'bg-namespace', bg.namespace),
    (n) => n > 0,
    `option ${bg.namespace}`,
  );
  await tid(page, 'bg-namespace').selectOption(bg.namespace);
  // The validation runs before anything is sent: a short justification is refused in the page.
  await tid(page, 'bg-justification').fill('too short');
  await tid(page, 'bg-submit').click();
  await waitFor(
    page,
    'the short justification is refused',
    () => text(tid(page, 'bg-invalid')),
    (v) => /at least 20/.test(v ?? ''),
    'a message asking for at least 20 characters',
  );
  await tid(page, 'bg-justification').fill(
    `Browser test: ${bg.workload} in ${bg.environment} needs an emergency change`,
  );
  await tid(page, 'bg-severity').selectOption('SEV2');
  await tid(page, 'bg-duration').selectOption('1h');
  const envBox = tid(page, `bg-env-${bg.environment}`);
  await envBox.waitFor({ timeout: WAIT });
  await envBox.check();
  const wlBox = tid(page, `bg-workload-${bg.workload}`);
  await wlBox.waitFor({ timeout: WAIT });
  await wlBox.check();
  await tid(page, 'bg-incident').fill('https://incidents.example.com/INC-1234');
  await tid(page, 'bg-submit').click();
  sessionName = await waitFor(
    page,
    'the session is created',
    async () =>
      (await tid(page, 'bg-created')
        .getAttribute('data-name', { timeout: 500 })
        .catch(() => null)) ?? (await visibleErrors(page)),
    (v) => !!v && !v.includes(' '),
    'the name of the new session',
  );
  console.log(`     session ${bg.namespace}/${sessionName}`);
  await waitFor(
    page,
    'the banner',
    () => text(tid(page, 'breakglass-banner')),
    (v) => /Break-Glass Session Active/i.test(v ?? ''),
    'the break-glass banner',
  );
  await waitFor(
    page,
    'the session is listed as Active',
    () =>
      page
        .locator(`[data-testid="bg-session"][data-name="${sessionName}"]`)
        .getAttribute('data-phase', { timeout: 500 })
        .catch(() => null),
    (v) => v === 'Active',
    'Active',
  );
  await shot(page, 'breakglass.png');
});

await step('another page shows the banner with a running countdown', async () => {
  await page.goto(`${base}/#/charts`);
  const banner = await waitFor(
    page,
    'the banner',
    () => text(tid(page, 'breakglass-banner')),
    (v) => /Break-Glass Session Active — all actions are being recorded/i.test(v ?? ''),
    '"Break-Glass Session Active — all actions are being recorded"',
  );
  const c1 = await waitFor(
    page,
    'the countdown',
    () => text(tid(page, 'breakglass-countdown')),
    (v) => /^\d+:\d\d:\d\d$/.test(v ?? ''),
    'H:MM:SS',
  );
  await page.waitForTimeout(2200);
  const c2 = await text(tid(page, 'breakglass-countdown'));
  if (c2 === c1) throw new Mismatch('the countdown runs', 'a value different from ' + c1 + ' two seconds later', c2);
  console.log(`     ${banner.slice(0, 80)}… countdown ${c1} → ${c2}`);
  await shot(page, 'charts-breakglass.png');
});

await step('close the session with a note; the banner goes away', async () => {
  await page.goto(`${base}/#/breakglass`);
  const note = page.locator(`[data-testid="bg-close-note"][data-session="${sessionName}"]`);
  await note.waitFor({ timeout: WAIT });
  await note.fill('Incident resolved; closing from the browser test.');
  await page.locator(`[data-testid="bg-close-button"][data-session="${sessionName}"]`).click();
  await waitFor(
    page,
    'the banner is gone',
    () => tid(page, 'breakglass-banner').count(),
    (n) => n === 0,
    'no banner',
    PHASE_WAIT,
  );
  await waitFor(
    page,
    'the session is closed',
    () =>
      page
        .locator(`[data-testid="bg-session"][data-name="${sessionName}"]`)
        .getAttribute('data-phase', { timeout: 500 })
        .catch(() => null),
    (v) => v === 'Closed' || v === 'Closing',
    'Closed (or Closing until the controller seals it)',
    PHASE_WAIT,
  );
});

await step(`compare ${scenario.compare.left} with ${scenario.compare.right}: at least one row differs`, async () => {
  const c = scenario.compare;
  await page.goto(`${base}/#/compare`);
  await waitFor(
    page,
    'projects in the picker',
    () => optionCount(page, 'compare-project', c.project),
    (n) => n > 0,
    `option ${c.project}`,
  );
  await tid(page, 'compare-project').selectOption(c.project);
  await waitFor(
    page,
    'sides in the picker',
    () => optionCount(page, 'compare-left', c.left),
    (n) => n > 0,
    `option ${c.left}`,
  );
  await tid(page, 'compare-left').selectOption(c.left);
  await tid(page, 'compare-right').selectOption(c.right);
  await tid(page, 'compare-submit').click();
  await tid(page, 'compare-result')
    .waitFor({ timeout: WAIT })
    .catch(() => {});
  const n = await waitFor(
    page,
    'differing rows',
    () => page.locator('[data-testid="compare-row"][data-changed="true"]').count(),
    (n) => n > 0,
    'at least one highlighted row',
  );
  console.log(`     ${n} differing rows`);
  await shot(page, 'compare.png');
});

await step('HQ Variables renders', async () => {
  await page.goto(`${base}/#/variables?project=${encodeURIComponent(rel.namespace)}`);
  await waitFor(
    page,
    'variables',
    async () =>
      (await tid(page, 'variable').count()) ||
      (await page.locator('main .empty').count()) ||
      (await visibleErrors(page)),
    (v) => typeof v === 'number' && v > 0,
    'variables or the empty message',
  );
  console.log(`     ${await tid(page, 'variable').count()} variables`);
  await shot(page, 'variables.png');
});

await step('Clusters renders, with the register command', async () => {
  await page.goto(`${base}/#/clusters`);
  await waitFor(
    page,
    'clusters',
    async () =>
      (await tid(page, 'register-command').count()) &&
      ((await tid(page, 'cluster').count()) || (await page.locator('main .empty').count())),
    (v) => typeof v === 'number' && v > 0,
    'cluster cards (or the empty message) under the register command',
  );
  const cards = tid(page, 'cluster');
  for (let i = 0; i < (await cards.count()); i++) {
    const card = cards.nth(i);
    console.log(
      `     ${await card.getAttribute('data-name')}: ${await card.getAttribute('data-phase')}, ${await tid(card, 'cluster-tenant').count()} tenants`,
    );
  }
  await shot(page, 'clusters.png');
});

await step('Chart registry renders', async () => {
  await page.goto(`${base}/#/charts`);
  await waitFor(
    page,
    'charts',
    async () =>
      (await tid(page, 'chart').count()) || (await page.locator('main .empty').count()) || (await visibleErrors(page)),
    (v) => typeof v === 'number' && v > 0,
    'charts or the empty message',
  );
  console.log(
    `     ${await tid(page, 'chart').count()} charts, ${await tid(page, 'deprecated-badge').count()} deprecated versions`,
  );
  await shot(page, 'charts.png');
});

await step(`Audit log filtered by ${scenario.diagnostics.workload} shows entries`, async () => {
  await page.goto(`${base}/#/audit`);
  await waitFor(
    page,
    'projects in the picker',
    () => optionCount(page, 'audit-project', rel.namespace),
    (n) => n > 0,
    `option ${rel.namespace}`,
  );
  await tid(page, 'audit-project').selectOption(rel.namespace);
  await tid(page, 'audit-workload').fill(scenario.diagnostics.workload);
  await tid(page, 'audit-since').fill('24h');
  await tid(page, 'audit-submit').click();
  const n = await waitFor(
    page,
    'audit rows',
    async () => (await tid(page, 'audit-row').count()) || (await visibleErrors(page)) || 0,
    (v) => typeof v === 'number' && v > 0,
    'at least one entry',
  );
  console.log(`     ${n} entries`);
  await shot(page, 'audit.png');
});

await step('Diagnostics shows the limits statement above the lines', async () => {
  const d = scenario.diagnostics;
  await page.goto(`${base}/#/diagnostics`);
  await waitFor(
    page,
    'projects in the picker',
    () => optionCount(page, 'diag-project', d.project),
    (n) => n > 0,
    `option ${d.project}`,
  );
  await tid(page, 'diag-project').selectOption(d.project);
  await waitFor(
    page,
    'workloads in the picker',
    () => optionCount(page, 'diag-workload', d.workload),
    (n) => n > 0,
    `option ${d.workload}`,
  );
  await tid(page, 'diag-workload').selectOption(d.workload);
  await tid(page, 'diag-submit').click();
  const st = await waitFor(
    page,
    'the statement',
    async () => (await text(tid(page, 'diagnostics-statement'))) ?? (await visibleErrors(page)) ?? null,
    (v) => !!v && v !== '' && !v.startsWith('Error'),
    'the statement of the limits',
  );
  const above = await page.evaluate(() => {
    const a = document.querySelector('[data-testid="diagnostics-statement"]');
    const b = document.querySelector('[data-testid="diagnostics-lines"]');
    return !!a && !!b && !!(a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING);
  });
  if (!above) throw new Mismatch('the statement comes before the lines', 'statement above the lines box', 'not above');
  console.log(`     ${st} (${await page.locator('[data-testid="diagnostics-lines"] .log-line').count()} lines)`);
  await shot(page, 'diagnostics.png');
});

await step('Diagnostics follows new lines until Stop', async () => {
  await tid(page, 'diagnostics-follow').check();
  await tid(page, 'diag-submit').click();
  const st = await waitFor(
    page,
    'the follow statement',
    async () => (await visibleErrors(page)) || ((await text(tid(page, 'diagnostics-statement'))) ?? ''),
    (v) => /following new lines/i.test(v) || /following/i.test(v),
    'a statement containing "following new lines"',
  );
  // Without a kubelet behind the workload cluster the followed containers may end at once.
  if (await tid(page, 'diagnostics-stop').count())
    await tid(page, 'diagnostics-stop')
      .click()
      .catch(() => {});
  await waitFor(
    page,
    'the stream stopped or ended',
    () => tid(page, 'diagnostics-stop').count(),
    (n) => n === 0,
    'no Stop button',
  );
  const how = await text(tid(page, 'diagnostics-follow-status'));
  console.log(`     follow: ${how}`);
  console.log(`     ${st} (${await page.locator('[data-testid="diagnostics-lines"] .log-line').count()} lines)`);
});

await step('Ctrl+K palette: typing part of the release name, Enter opens the release', async () => {
  await page.goto(`${base}/#/fleet`);
  await tid(page, 'fleet-grid')
    .waitFor({ timeout: WAIT })
    .catch(() => {});
  await page.keyboard.press('Control+k');
  await tid(page, 'palette').waitFor({ timeout: WAIT });
  const part = rel.name.includes('-') ? rel.name.slice(rel.name.indexOf('-') + 1) : rel.name;
  await tid(page, 'palette-input').fill(part);
  const target = releaseHash;
  const hrefs = await waitFor(
    page,
    'palette results',
    () => tid(page, 'palette-option').evaluateAll((els) => els.map((e) => e.getAttribute('data-href'))),
    (v) => Array.isArray(v) && v.some((h) => (h ?? '').endsWith(target)),
    `an option for ${target}`,
  );
  const idx = hrefs.findIndex((h) => (h ?? '').endsWith(target));
  for (let i = 0; i < idx; i++) await page.keyboard.press('ArrowDown');
  await shot(page, 'palette.png');
  await page.keyboard.press('Enter');
  await waitFor(
    page,
    'the release page',
    () => page.evaluate(() => location.hash),
    (h) => h === target,
    target,
  );
  await tid(page, 'release-phase').waitFor({ timeout: WAIT });
  console.log(`     typed "${part}", option ${idx + 1}, now at ${target}`);
});

await step('Escape closes the palette', async () => {
  await page.keyboard.press('Control+k');
  await tid(page, 'palette').waitFor({ timeout: WAIT });
  await page.keyboard.press('Escape');
  await waitFor(
    page,
    'the palette closed',
    () => tid(page, 'palette').count(),
    (n) => n === 0,
    'no palette',
  );
});

await browser.close();
clearTimeout(watchdog);
console.log(`done after in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
process.exit(0);
