//! `hookline explain`: the effective order of every hook's taps — per resource (flows and
//! dropdowns) and per custom route (pre- and post-hooks with their policies) — as text or as
//! Mermaid flowcharts. A resource's hooks come from
//! [`Resource::each_hook`](hookline_data::Resource::each_hook), named by their
//! [`HookPoint`](hookline_data::HookPoint).

use std::fmt::Write as _;

use hookline::Explain;
use hookline_data::Resource;

use crate::state::AppState;

/// How to render explain output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExplainFormat {
    /// Numbered lists.
    Text,
    /// Mermaid flowcharts.
    Mermaid,
}

/// `explain` named a resource that does not exist.
#[derive(Debug, thiserror::Error)]
#[error("no resource or route named `{0}`; resources: {1}")]
pub struct UnknownTarget(String, String);

impl AppState {
    /// Explains the hooks of one resource or route (by resource name or route path), or of
    /// everything. Hooks without taps are left out of the text form.
    pub fn explain(
        &self,
        target: Option<&str>,
        format: ExplainFormat,
    ) -> Result<String, UnknownTarget> {
        let data = self.data();
        let resources: Vec<Resource> = data
            .resources()
            .filter(|r| target.is_none_or(|t| t == r.name()))
            .collect();
        let routes: Vec<_> = self
            .inner
            .routes
            .iter()
            .filter(|r| target.is_none_or(|t| t == r.path))
            .collect();
        if let Some(target) = target
            && resources.is_empty()
            && routes.is_empty()
        {
            let names: Vec<String> = data.resources().map(|r| r.name().to_owned()).collect();
            return Err(UnknownTarget(target.to_owned(), names.join(", ")));
        }
        let mut out = String::new();
        for resource in &resources {
            let _ = writeln!(out, "resource `{}`", resource.name());
            for (point, hook) in resource.each_hook() {
                let explain = hook.explain();
                if explain.taps().len() == 0 && format == ExplainFormat::Text {
                    continue;
                }
                write_explain(&mut out, &point.to_string(), &explain, format);
            }
            out.push('\n');
        }
        for route in routes {
            for (method, route_pipeline) in &route.pipelines {
                let pipeline = route_pipeline.pipeline();
                let policies = pipeline.policies();
                let (runs, failures) = (policies.after_runs, policies.after_failures);
                let _ = writeln!(
                    out,
                    "route `{method} {}`: pre-hooks → handler → post-hooks (post-hooks run {runs:?}, failures {failures:?})",
                    route.path
                );
                write_explain(&mut out, "pre-hooks", &pipeline.before().explain(), format);
                write_explain(&mut out, "post-hooks", &pipeline.after().explain(), format);
                out.push('\n');
            }
        }
        Ok(out)
    }
}

fn write_explain(out: &mut String, label: &str, explain: &Explain, format: ExplainFormat) {
    match format {
        ExplainFormat::Text => {
            // The hook's header under the resource or route, its taps one level deeper.
            let text = explain.to_string();
            let mut lines = text.lines();
            let _ = writeln!(out, "  {label}: {}", lines.next().unwrap_or_default());
            for line in lines {
                let _ = writeln!(out, "  {line}");
            }
        }
        ExplainFormat::Mermaid => {
            let _ = writeln!(out, "%% {label}\n{}", explain.mermaid());
        }
    }
}
