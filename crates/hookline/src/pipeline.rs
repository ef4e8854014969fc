//! [`Pipeline`]: before-taps → handler → after-taps, with per-pipeline policies (when after-taps run, what their failures do).
//!
//! - Before-taps ([`Before`]) may change the input, put typed values into the [`Share`] map,
//!   short-circuit with an output ([`Flow::Return`]), or reject.
//! - The handler is given per call (`pipeline.run(input, async |input, share| ..)`), so it can
//!   borrow whatever the caller has — a database transaction, a request — and costs no box.
//! - After-taps ([`After`]) see the outcome and its [`Origin`]. On success they may transform
//!   the output; on the error path they observe it but cannot turn it into a success: the
//!   original error is returned after they ran.
//!
//! Policies: [`AfterRuns`] (`OnSuccess` for AdminForth's `afterSave`, `Always` for Enfyra's
//! post-hooks) and [`AfterFailures`] (`Abort` on the first failure, or `Isolate` every after-tap
//! and record failures in [`Outcome::isolated`] / [`HookError::suppressed`]).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::dispatch::{TapCall, run_handler};
use crate::error::{HookError, Phase};
use crate::flow::{Flow, Origin, Outcome, TapError};
use crate::hook::{Handler, Hook};
use crate::share::Share;

/// When after-taps run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AfterRuns {
    /// Only when the handler (or a short-circuit) produced an output. AdminForth's `afterSave`.
    #[default]
    OnSuccess,
    /// Also when a before-tap or the handler failed — Enfyra's post-hooks, as its docs promise.
    Always,
}

/// What a failing after-tap does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AfterFailures {
    /// The first failure stops the after-taps and is returned (AdminForth). On the error path
    /// the original error is still the one returned, with the failure in its `suppressed` list.
    #[default]
    Abort,
    /// Every after-tap runs; failures are recorded (returned in the report and logged as
    /// `tracing` errors) but do not change the result (Enfyra's per-post-hook try/catch, minus
    /// the silence).
    Isolate,
}

/// A pipeline's policies, as [`Pipeline::policies`] reports them (for explain output and
/// checks). Set them with [`Pipeline::after_runs`], [`Pipeline::after_failures`] and
/// [`Pipeline::handler_commits`].
///
/// ```
/// use hookline::{AfterFailures, AfterRuns, Pipeline, Policies};
/// let route: Pipeline<u32, String> = Pipeline::new("GET /items/{id}")
///     .after_runs(AfterRuns::Always)
///     .after_failures(AfterFailures::Isolate);
/// let Policies { after_runs, after_failures, handler_commits, .. } = route.policies();
/// assert_eq!((after_runs, after_failures, handler_commits), (AfterRuns::Always, AfterFailures::Isolate, false));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Policies {
    /// When after-taps run.
    pub after_runs: AfterRuns,
    /// What a failing after-tap does.
    pub after_failures: AfterFailures,
    /// Whether a successful handler has committed its effects, so that after-phase errors are
    /// marked [`committed`](HookError::committed).
    pub handler_commits: bool,
}

/// What before-taps receive: the input, and the share map.
#[derive(Debug)]
pub struct Before<I> {
    /// The input; before-taps may change it.
    pub input: I,
    /// Values for the handler and the after-taps.
    pub share: Share,
}

/// What after-taps receive: the input, the result and how it came, and the share map.
#[derive(Debug)]
pub struct After<I, O> {
    input: I,
    result: Result<O, HookError>,
    origin: Origin,
    share: Share,
}

impl<I, O> After<I, O> {
    /// The input, as the before-taps left it.
    pub fn input(&self) -> &I {
        &self.input
    }

    /// The output, on the success path.
    pub fn output(&self) -> Option<&O> {
        self.result.as_ref().ok()
    }

    /// The output, to transform it (success path only).
    pub fn output_mut(&mut self) -> Option<&mut O> {
        self.result.as_mut().ok()
    }

    /// The error, on the error path. It can be read, never replaced.
    pub fn error(&self) -> Option<&HookError> {
        self.result.as_ref().err()
    }

    /// The status the caller will see: 200 on success, else the error's status (Enfyra's
    /// `@STATUS`).
    pub fn status(&self) -> u16 {
        self.error().map_or(200, HookError::status)
    }

    /// How the output (or error) came to be. On the error path, [`Origin::ShortCircuit`] means
    /// a before-tap failed and the handler never ran; [`Origin::Handler`] that the handler ran
    /// and failed.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The share map the before-taps filled.
    pub fn share(&self) -> &Share {
        &self.share
    }

    /// The share map, mutably (for after-taps that pass values on to later after-taps).
    pub fn share_mut(&mut self) -> &mut Share {
        &mut self.share
    }
}

/// Before-taps → handler → after-taps for an input `I` and an output `O`.
///
/// ```
/// use hookline::{AfterFailures, AfterRuns, Flow, Origin, Pipeline, TapError};
/// # futures_util::FutureExt::now_or_never(async {
/// // Enfyra: post-hooks always run, see the error, and cannot hide it.
/// let route: Pipeline<u32, String> = Pipeline::new("GET /items/{id}")
///     .after_runs(AfterRuns::Always)
///     .after_failures(AfterFailures::Isolate);
/// route.before().tap("reject-zero", |ctx: &mut hookline::Before<u32>| {
///     if ctx.input == 0 { return Err(TapError::reject("id 0 does not exist").with_status(404)); }
///     Ok(Flow::Continue)
/// })?;
/// let audit = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
/// let log = audit.clone();
/// route.after().tap("audit", move |ctx: &mut hookline::After<u32, String>| {
///     log.lock().unwrap().push(ctx.status());
///     Ok(Flow::Continue)
/// })?;
///
/// let ok = route.run(7, async |id: &mut u32, _share: &hookline::Share| Ok(format!("item {id}"))).await?;
/// assert_eq!((ok.output.as_str(), ok.origin), ("item 7", Origin::Handler));
/// let err = route.run(0, async |id: &mut u32, _share: &hookline::Share| Ok(format!("item {id}"))).await.unwrap_err();
/// assert_eq!(err.status(), 404);
/// assert_eq!(*audit.lock().unwrap(), [200, 404]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap().unwrap();
/// ```
pub struct Pipeline<I, O> {
    before: Hook<Before<I>, O>,
    after: Hook<After<I, O>>,
    after_runs: AfterRuns,
    after_failures: AfterFailures,
    handler_commits: bool,
    name: Arc<str>,
}

impl<I, O> Clone for Pipeline<I, O> {
    fn clone(&self) -> Self {
        Pipeline {
            before: self.before.clone(),
            after: self.after.clone(),
            after_runs: self.after_runs,
            after_failures: self.after_failures,
            handler_commits: self.handler_commits,
            name: self.name.clone(),
        }
    }
}

impl<I, O> fmt::Debug for Pipeline<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("name", &self.name)
            .field("after_runs", &self.after_runs)
            .field("after_failures", &self.after_failures)
            .field("handler_commits", &self.handler_commits)
            .finish()
    }
}

impl<I: Send + 'static, O: Send + 'static> Pipeline<I, O> {
    /// A pipeline with no taps; the hooks are named `{name}.before` and `{name}.after`.
    /// Defaults: [`AfterRuns::OnSuccess`], [`AfterFailures::Abort`].
    pub fn new(name: impl Into<Cow<'static, str>>) -> Self {
        let name: Cow<'static, str> = name.into();
        Pipeline {
            before: Hook::new(format!("{name}.before")),
            after: Hook::new(format!("{name}.after")),
            after_runs: AfterRuns::default(),
            after_failures: AfterFailures::default(),
            handler_commits: false,
            name: Arc::from(&*name),
        }
    }

    /// Sets when after-taps run.
    pub fn after_runs(mut self, policy: AfterRuns) -> Self {
        self.after_runs = policy;
        self
    }

    /// Sets what a failing after-tap does.
    pub fn after_failures(mut self, policy: AfterFailures) -> Self {
        self.after_failures = policy;
        self
    }

    /// Declares that a successful handler has committed its effects (a database write), so
    /// after-phase errors are marked [`committed`](HookError::committed).
    pub fn handler_commits(mut self, commits: bool) -> Self {
        self.handler_commits = commits;
        self
    }

    /// The pipeline's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The before-taps' hook.
    pub fn before(&self) -> &Hook<Before<I>, O> {
        &self.before
    }

    /// The after-taps' hook.
    pub fn after(&self) -> &Hook<After<I, O>> {
        &self.after
    }

    /// The policies, for explain output.
    pub fn policies(&self) -> Policies {
        Policies {
            after_runs: self.after_runs,
            after_failures: self.after_failures,
            handler_commits: self.handler_commits,
        }
    }

    /// Runs before-taps, then `handler` (unless a before-tap short-circuited or failed), then
    /// after-taps, per the policies.
    pub async fn run<F>(&self, input: I, handler: F) -> Result<Outcome<O>, HookError>
    where
        F: AsyncFnOnce(&mut I, &Share) -> Result<O, TapError>,
    {
        let mut before = Before {
            input,
            share: Share::new(),
        };
        let produced = match self.before.call_in(Phase::Before, &mut before).await {
            Ok(Some((output, tap))) => Ok((
                output,
                Origin::ShortCircuit {
                    tap: tap.name_arc().clone(),
                },
            )),
            Ok(None) => {
                let Before { input, share } = &mut before;
                run_handler(&self.name, Phase::Handler, handler(input, share))
                    .await
                    .map(|output| (output, Origin::Handler))
            }
            Err(error) => Err(error),
        };
        let Before { input, share } = before;
        let (result, origin) = match produced {
            Ok((output, origin)) => (Ok(output), origin),
            // A before-tap that failed ended the call as a short-circuit does: the handler never
            // ran, and the error names the tap.
            Err(error) => {
                let origin = match (error.phase(), error.tap()) {
                    (Phase::Before, Some(tap)) => Origin::ShortCircuit {
                        tap: Arc::from(tap.name()),
                    },
                    _ => Origin::Handler,
                };
                (Err(error), origin)
            }
        };
        self.finish(input, result, origin, share).await
    }

    /// Runs only the after-taps, for an output that did not come from the handler — a cache hit
    /// ([`Origin::Cache`]) — so that after-taps run on every path.
    pub async fn complete(
        &self,
        input: I,
        output: O,
        origin: Origin,
    ) -> Result<Outcome<O>, HookError> {
        self.finish(input, Ok(output), origin, Share::new()).await
    }

    async fn finish(
        &self,
        input: I,
        result: Result<O, HookError>,
        origin: Origin,
        share: Share,
    ) -> Result<Outcome<O>, HookError> {
        let result = match result {
            Err(error) if self.after_runs == AfterRuns::OnSuccess => return Err(error),
            result => result,
        };
        if self.after.is_empty() {
            return result.map(|output| Outcome {
                output,
                origin,
                isolated: Vec::new(),
            });
        }
        let committed = self.handler_commits && result.is_ok();
        let mut after = After {
            input,
            result,
            origin,
            share,
        };
        let mut isolated = Vec::new();
        let snapshot = self.after.snapshot();
        let interceptors = snapshot.interceptors.as_deref();
        for slot in snapshot.taps.iter() {
            let call = TapCall {
                hook: self.after.name_arc(),
                info: &slot.info,
                phase: Phase::After,
                interceptors,
            };
            let flow = match &slot.handler {
                Handler::Sync(f) => call.run_sync(|| f(&mut after)),
                Handler::Async(f) => call.run_async(&**f, &mut after).await,
            };
            match flow {
                Ok(Flow::Continue) => {}
                Ok(Flow::Return(())) => break,
                Err(error) => {
                    let error = error.set_committed(committed);
                    match (self.after_failures, &mut after.result) {
                        (AfterFailures::Abort, Ok(_)) => return Err(error),
                        (AfterFailures::Abort, Err(original)) => {
                            original.push_suppressed(error);
                            break;
                        }
                        (AfterFailures::Isolate, _) => {
                            tracing::error!(
                                hook = error.hook(),
                                tap = slot.info.name(),
                                site = %slot.info.site(),
                                error = %error,
                                "isolated after-tap failed"
                            );
                            isolated.push(error);
                        }
                    }
                }
            }
        }
        match after.result {
            Ok(output) => Ok(Outcome {
                output,
                origin: after.origin,
                isolated,
            }),
            Err(mut error) => {
                for failure in isolated {
                    error.push_suppressed(failure);
                }
                Err(error)
            }
        }
    }
}
