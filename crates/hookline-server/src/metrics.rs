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

use std::sync::Arc;
use std::time::Duration;

use hookline::{HookError, Interceptor, TapInfo};
use metrics::{Key, Label, Level, Metadata, Recorder, Unit};
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
        })
    }
}

/// Times every tap of the hooks it is installed on.
pub(crate) struct TapTiming {
    recorder: Arc<PrometheusRecorder>,
}

impl TapTiming {
    fn duration(&self, hook: &str, tap: &TapInfo, outcome: &'static str, elapsed: Duration) {
        let labels = vec![
            Label::new("hook", hook.to_owned()),
            Label::new("tap", tap.name().to_owned()),
            Label::new("outcome", outcome),
        ];
        self.recorder
            .register_histogram(
                &Key::from_parts("hookline_tap_duration_seconds", labels),
                &METADATA,
            )
            .record(elapsed.as_secs_f64());
    }
}

impl Interceptor for TapTiming {
    fn result(&self, hook: &str, tap: &TapInfo, elapsed: Duration) {
        self.duration(hook, tap, "ok", elapsed);
    }

    fn error(&self, hook: &str, tap: &TapInfo, _error: &HookError, elapsed: Duration) {
        self.duration(hook, tap, "error", elapsed);
        let labels = vec![
            Label::new("hook", hook.to_owned()),
            Label::new("tap", tap.name().to_owned()),
        ];
        self.recorder
            .register_counter(
                &Key::from_parts("hookline_tap_failures_total", labels),
                &METADATA,
            )
            .increment(1);
    }
}
