use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use gitopshq_engine::layout::{GitOpsSettings, release_layout_owned};
use gitopshq_engine::plan;

use super::Inputs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub inputs: Inputs,
    /// Environment to render.
    #[arg(long = "env", value_name = "ENV")]
    pub environment: String,
    /// Only this tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only this workload.
    #[arg(long)]
    pub workload: Option<String>,
    /// Write the tree the GitOps repository would hold (one file per object, kustomizations,
    /// Argo CD / Flux objects) into this folder instead of printing YAML.
    #[arg(short = 'o', long = "output-dir", value_name = "OUTDIR")]
    pub output_dir: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let (catalog, project, targets) = args.inputs.environment_targets(
        &args.environment,
        args.tenant.as_deref(),
        args.workload.as_deref(),
    )?;
    if targets.is_empty() {
        eprintln!(
            "nothing to render: project {project} has no tenant in {} running the selected workloads",
            args.environment
        );
        return Ok(ExitCode::SUCCESS);
    }
    let rendered = plan::render_target_files(&catalog, targets)?;
    match args.output_dir {
        None => {
            let mut out = String::new();
            for r in &rendered {
                let id = r.id();
                for file in &r.files {
                    out.push_str("---\n# Source: ");
                    out.push_str(&id);
                    out.push('/');
                    out.push_str(&file.file_name);
                    out.push('\n');
                    out.push_str(&String::from_utf8_lossy(&file.yaml));
                }
            }
            print!("{out}");
        }
        Some(dir) => {
            let repository = plan::repository_ref(&catalog, &project, None)?;
            let pairs = rendered.len();
            let request = plan::layout_request(
                &catalog,
                &project,
                &args.environment,
                rendered,
                repository,
                GitOpsSettings::default(),
            )?;
            let layout = release_layout_owned(request)?;
            for (path, bytes) in &layout.files {
                let file = dir.join(path);
                if let Some(parent) = file.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create {}", parent.display()))?;
                }
                std::fs::write(&file, bytes)
                    .with_context(|| format!("cannot write {}", file.display()))?;
            }
            eprintln!(
                "rendered {} object files for {} tenant/workload pairs into {}",
                layout.files.len(),
                pairs,
                dir.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
