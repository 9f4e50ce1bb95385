//! `gitopshq status RELEASE`: where a release stands and what comes next — phase, quorum and
//! what is missing, policy verdicts, per-tenant health, the timeline with its actors, the commit,
//! and for a Degraded release the rollback command.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Result;
use gitopshq_crds::release::Release;
use gitopshq_engine::audit::format_time;
use gitopshq_engine::outcome::{self, Attempt};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::kube_client::{KubeArgs, block_on, resources};
use crate::table::{Format, Table};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The release.
    pub release: String,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: Format,
    #[command(flatten)]
    pub kube: KubeArgs,
}

pub fn run(args: Args) -> Result<ExitCode> {
    block_on(async move {
        let session = args.kube.connect().await?;
        let api: Api<Release> = Api::namespaced(session.client.clone(), &session.namespace);
        let release = session
            .call(
                Attempt::new("get", resources::RELEASES, Some(&session.namespace))
                    .on(format!("release {}", args.release)),
                api.get(&args.release),
            )
            .await?;
        match args.output {
            Format::Text => print!("{}", render(&release)),
            Format::Json => println!("{}", serde_json::to_string_pretty(&summary(&release))?),
        }
        Ok(ExitCode::SUCCESS)
    })?
}

/// "1 of 2 approvals received", when an ApprovalPolicy binds the release.
pub fn quorum(release: &Release) -> Option<String> {
    let approvals = release.status.as_ref()?.approvals.as_ref()?;
    Some(format!(
        "{} of {} approvals received",
        approvals.received, approvals.required
    ))
}

/// The text view.
pub fn render(release: &Release) -> String {
    let mut out = String::new();
    let status = release.status.clone().unwrap_or_default();
    let line = |out: &mut String, key: &str, value: &str| {
        let _ = writeln!(out, "{key:<13}{value}");
    };
    line(
        &mut out,
        "Release:",
        &format!(
            "{}/{}",
            release.namespace().unwrap_or_default(),
            release.name_any()
        ),
    );
    line(&mut out, "Title:", &release.spec.title);
    line(
        &mut out,
        "Environment:",
        &format!("{} ({})", release.spec.environment, release.spec.type_),
    );
    let workloads: Vec<String> = release
        .spec
        .changes
        .iter()
        .map(|c| match &c.version {
            Some(v) => format!("{}@{v}", c.workload),
            None => c.workload.clone(),
        })
        .collect();
    if !workloads.is_empty() {
        line(&mut out, "Workloads:", &workloads.join(", "));
    }
    if let Some(target) = &release.spec.rollback_to {
        line(&mut out, "Restores:", &target.release);
    }
    if let Some(by) = &release.spec.created_by {
        line(&mut out, "Created by:", by);
    }
    let phase = gitopshq_engine::outcome::phase_label(release);
    line(&mut out, "Phase:", &phase);
    if let Some(message) = &status.message {
        line(&mut out, "Message:", message);
    }
    if let Some(approvals) = &status.approvals {
        line(&mut out, "Approvals:", &quorum(release).unwrap_or_default());
        for missing in &approvals.missing {
            line(&mut out, "  missing:", missing);
        }
        for a in &approvals.approvers {
            let teams: Vec<&str> = gitopshq_engine::admission::teams(&a.groups).collect();
            let comment = a
                .comment
                .as_deref()
                .map(|c| format!(" \"{c}\""))
                .unwrap_or_default();
            line(
                &mut out,
                "  approved:",
                &format!(
                    "{} ({}) at {}{comment}",
                    a.user,
                    teams.join(", "),
                    format_time(a.time.0)
                ),
            );
        }
    }
    if let Some(session) = status
        .break_glass_session
        .as_ref()
        .or(release.spec.break_glass_session.as_ref())
    {
        line(&mut out, "Break-glass:", session);
    }
    if let Some(commit) = &status.commit {
        line(&mut out, "Commit:", commit);
    }
    if let Some(diff) = &status.diff {
        line(
            &mut out,
            "Diff:",
            &diff.summary.clone().unwrap_or_else(|| {
                format!(
                    "{} added, {} changed, {} removed",
                    diff.added, diff.changed, diff.removed
                )
            }),
        );
    }
    if !status.policy_results.is_empty() {
        out.push_str("\nPolicies:\n");
        let mut table = Table::new(["POLICY", "MODE", "VERDICT", "MESSAGES"]);
        for p in &status.policy_results {
            table.row([
                p.policy.clone(),
                p.mode.to_string(),
                p.verdict.to_string(),
                p.messages.join("; "),
            ]);
        }
        out.push_str(&indent(&table.to_string()));
    }
    if !status.tenants.is_empty() {
        out.push_str("\nTenants:\n");
        let mut table = Table::new(["TENANT", "PHASE", "HEALTH", "MESSAGE"]);
        for t in &status.tenants {
            table.row([
                t.name.clone(),
                t.phase.to_string(),
                t.health.to_string(),
                t.message.clone().unwrap_or_default(),
            ]);
        }
        out.push_str(&indent(&table.to_string()));
    }
    if !status.timeline.is_empty() {
        out.push_str("\nTimeline:\n");
        let mut table = Table::new(["TIME", "PHASE", "ACTOR", "MESSAGE"]);
        for t in &status.timeline {
            table.row([
                format_time(t.time.0),
                t.phase.to_string(),
                t.actor.clone().unwrap_or_default(),
                t.message.clone().unwrap_or_default(),
            ]);
        }
        out.push_str(&indent(&table.to_string()));
    }
    if let Some(next) = outcome::next_step(release) {
        out.push('\n');
        line(&mut out, "Next:", &next);
    }
    out
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

/// The JSON view: the computed lines plus the whole status.
pub fn summary(release: &Release) -> serde_json::Value {
    let status = release.status.clone().unwrap_or_default();
    json!({
        "release": release.name_any(),
        "project": release.namespace(),
        "title": release.spec.title,
        "environment": release.spec.environment,
        "type": release.spec.type_,
        "createdBy": release.spec.created_by,
        "phase": status.phase,
        "message": status.message,
        "approvals": quorum(release),
        "missing": status.approvals.as_ref().map(|a| a.missing.clone()).unwrap_or_default(),
        "commit": status.commit,
        "rollbackCommand": status.message.as_deref().and_then(outcome::rollback_command),
        "next": outcome::next_step(release),
        "status": status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(yaml: &str) -> Release {
        yaml_serde::from_str(yaml).unwrap()
    }

    #[test]
    fn a_pending_release_shows_quorum_missing_and_the_next_step() {
        let r = release(
            "metadata: {name: api-v2, namespace: shop}
spec: {title: api v2, environment: prod, changes: [{workload: api}], submitted: true, createdBy: alice}
status:
  phase: PendingApproval
  reason: AwaitingApproval
  message: 1 of 2 approvals received; needs a team other than sre-team
  approvals:
    required: 2
    received: 1
    missing: [an approver from a team other than sre-team]
    approvers: [{user: bob, groups: [sre-team], time: '2026-01-01T10:00:00Z', comment: fine}]
  policyResults: [{policy: require-limits, mode: Enforce, verdict: Pass}]
  timeline: [{time: '2026-01-01T09:00:00Z', phase: PendingApproval, actor: alice, message: submitted}]",
        );
        let text = render(&r);
        for want in [
            "Phase:       PendingApproval (AwaitingApproval)",
            "Approvals:   1 of 2 approvals received",
            "  missing:   an approver from a team other than sre-team",
            "  approved:  bob (sre-team) at 2026-01-01T10:00:00Z \"fine\"",
            "require-limits   Enforce   Pass",
            "2026-01-01T09:00:00Z   PendingApproval   alice   submitted",
            "Next:        an approver runs: gitopshq approve api-v2 -n shop",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        let json = summary(&r);
        assert_eq!(json["approvals"], "1 of 2 approvals received");
        assert_eq!(json["phase"], "PendingApproval");
    }

    #[test]
    fn a_degraded_release_shows_its_rollback_command() {
        let r = release(
            "metadata: {name: bad, namespace: shop}
spec: {title: bad, environment: prod, changes: [{workload: api}], submitted: true}
status:
  phase: Degraded
  message: '2 of 5 pods CrashLoopBackOff; roll back with: gitopshq rollback api --to good -n shop'
  commit: 0123456789abcdef",
        );
        let text = render(&r);
        assert!(
            text.contains("Next:        roll back: gitopshq rollback api --to good -n shop"),
            "{text}"
        );
        assert!(text.contains("Commit:      0123456789abcdef"));
        assert_eq!(
            summary(&r)["rollbackCommand"],
            "gitopshq rollback api --to good -n shop"
        );
    }
}
