//! Prometheus metrics: [`Metrics`] (one registry per server, rendered at `/metrics`) and
//! [`TapTiming`], the engine [`Interceptor`] that times every tap of every hook.
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `hookline_http_requests_total` | method, route, status | requests answered |
//! | `hookline_http_request_duration_seconds` | method, route | request latency (histogram) |
//! | `hookline_tap_duration_seconds` | hook, tap, outcome (`ok` / `error`) | tap run time (histogram) |
//! | `hookline_tap_failures_total` | hook, tap | taps that rejected, failed, panicked or timed out |
//!
//! The registry belongs to the server, not the process, so several servers (tests) can run in
//! one process.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use hookline::{HookError, Interceptor, TapInfo};
use metrics::{Counter, Histogram, Key, Label, Level, Metadata, Recorder, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};

const METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// Latency buckets, in seconds: 100 µs to 10 s.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 10.0,
];

/// A server's metrics registry.
#[derive(Clone)]
pub(crate) struct Metrics {
    recorder: Arc<PrometheusRecorder>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let describe = |name: &'static str, unit, help: &'static str| {
            recorder.describe_histogram(name.into(), unit, help.into());
        };
        describe(
            "hookline_http_request_duration_seconds",
            Some(Unit::Seconds),
            "Time to answer an HTTP request.",
        );
        describe(
            "hookline_tap_duration_seconds",
            Some(Unit::Seconds),
            "Run time of one hook tap.",
        );
        recorder.describe_counter(
            "hookline_http_requests_total".into(),
            None,
            "HTTP requests answered.".into(),
        );
        recorder.describe_counter(
            "hookline_tap_failures_total".into(),
            None,
            "Taps that rejected, failed, panicked or timed out.".into(),
        );
        Metrics {
            recorder: Arc::new(recorder),
        }
    }

    /// The Prometheus text exposition of every metric.
    pub(crate) fn render(&self) -> String {
        self.recorder.handle().render()
    }

    /// Drains histogram samples into their buckets; run periodically.
    pub(crate) fn upkeep(&self) {
        self.recorder.handle().run_upkeep();
    }

    /// Records one answered request.
    pub(crate) fn request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let labels = vec![
            Label::new("method", method.to_owned()),
            Label::new("route", route.to_owned()),
        ];
        self.recorder
            .register_histogram(
                &Key::from_parts("hookline_http_request_duration_seconds", labels.clone()),
                &METADATA,
            )
            .record(elapsed.as_secs_f64());
        let mut labels = labels;
        labels.push(Label::new("status", status.to_string()));
        self.recorder
            .register_counter(
                &Key::from_parts("hookline_http_requests_total", labels),
                &METADATA,
            )
            .increment(1);
    }

    /// The interceptor that times taps into this registry.
    pub(crate) fn tap_timing(&self) -> Arc<dyn Interceptor> {
        Arc::new(TapTiming {
            recorder: self.recorder.clone(),
            taps: RwLock::default(),
        })
    }
}

/// Times every tap of the hooks it is installed on.
///
/// A tap's metric handles are looked up once and kept, so timing a call costs a map lookup and
/// an atomic bucket update, not a registry lookup with freshly allocated labels.
pub(crate) struct TapTiming {
    recorder: Arc<PrometheusRecorder>,
    /// Each tap's handles, by the address of its `TapInfo`. An address may be reused by a tap
    /// registered after another was removed, so a hit counts only if the names match too.
    taps: RwLock<HashMap<usize, TapMetrics>>,
}

/// The metric handles of one tap.
struct TapMetrics {
    hook: Box<str>,
    tap: Box<str>,
    ok: Histogram,
    error: Histogram,
    failures: Counter,
}

impl TapMetrics {
    fn new(recorder: &PrometheusRecorder, hook: &str, tap: &str) -> Self {
        let labels = |outcome: Option<&'static str>| {
            let mut labels = vec![
                Label::new("hook", hook.to_owned()),
                Label::new("tap", tap.to_owned()),
            ];
            labels.extend(outcome.map(|outcome| Label::new("outcome", outcome)));
            labels
        };
        let duration = |outcome| {
            recorder.register_histogram(
                &Key::from_parts("hookline_tap_duration_seconds", labels(Some(outcome))),
                &METADATA,
            )
        };
        TapMetrics {
            hook: hook.into(),
            tap: tap.into(),
            ok: duration("ok"),
            error: duration("error"),
            failures: recorder.register_counter(
                &Key::from_parts("hookline_tap_failures_total", labels(None)),
                &METADATA,
            ),
        }
    }

    fn is_for(&self, hook: &str, tap: &str) -> bool {
        *self.hook == *hook && *self.tap == *tap
    }
}

impl TapTiming {
    /// Runs `record` with the handles of `tap` on `hook`, registering them on first use.
    fn with(&self, hook: &str, tap: &TapInfo, record: impl Fn(&TapMetrics)) {
        let address = std::ptr::from_ref(tap) as usize;
        {
            let taps = self.taps.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(metrics) = taps.get(&address).filter(|m| m.is_for(hook, tap.name())) {
                return record(metrics);
            }
        }
        let metrics = TapMetrics::new(&self.recorder, hook, tap.name());
        record(&metrics);
        self.taps
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(address, metrics);
    }
}

impl Interceptor for TapTiming {
    fn result(&self, hook: &str, tap: &TapInfo, elapsed: Duration) {
        self.with(hook, tap, |m| m.ok.record(elapsed.as_secs_f64()));
    }

    fn error(&self, hook: &str, tap: &TapInfo, _error: &HookError, elapsed: Duration) {
        self.with(hook, tap, |m| {
            m.error.record(elapsed.as_secs_f64());
            m.failures.increment(1);
        });
    }
}

#[cfg(test)]
mod tests {
    use hookline::{Flow, SyncHook, TapError};

    use super::*;

    /// The value of the metric line that starts with `prefix`.
    fn value(rendered: &str, prefix: &str) -> f64 {
        let line = rendered
            .lines()
            .find(|line| line.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` in\n{rendered}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    #[test]
    fn taps_are_timed_by_outcome_and_failures_counted_under_their_own_names() {
        let metrics = Metrics::new();
        let hook = SyncHook::<u32>::new("items.before_save");
        hook.tap("even", |n: &mut u32| {
            if n.is_multiple_of(2) {
                Ok(Flow::Continue)
            } else {
                Err(TapError::reject("odd"))
            }
        })
        .unwrap();
        hook.intercept(metrics.tap_timing());
        for mut n in [2, 4, 5] {
            let _ = hook.call(&mut n);
        }
        // Another hook's tap is counted under its own names.
        let other = SyncHook::<u32>::new("items.after_save");
        other.intercept(metrics.tap_timing());
        other
            .tap("audit", |_: &mut u32| Ok(Flow::Continue))
            .unwrap();
        other.call(&mut 1).unwrap();
        metrics.upkeep();

        let rendered = metrics.render();
        let series = |outcome: &str| {
            format!(
                "hookline_tap_duration_seconds_count{{hook=\"items.before_save\",tap=\"even\",outcome=\"{outcome}\"}}"
            )
        };
        assert_eq!(value(&rendered, &series("ok")), 2.0);
        assert_eq!(value(&rendered, &series("error")), 1.0);
        assert_eq!(
            value(
                &rendered,
                "hookline_tap_failures_total{hook=\"items.before_save\",tap=\"even\"}"
            ),
            1.0
        );
        assert_eq!(
            value(
                &rendered,
                "hookline_tap_duration_seconds_count{hook=\"items.after_save\",tap=\"audit\",outcome=\"ok\"}"
            ),
            1.0
        );
    }
}
