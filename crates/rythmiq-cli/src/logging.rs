//! The process's log output and start-up banner: text (ANSI colours only on a terminal and only when `NO_COLOR`
//! is unset or empty, per no-color.org) or JSON lines (`--log-format json`, `RYTHMIQ_LOG_FORMAT=json`) for log
//! collectors, one object per event with its fields and the span path. No extra dependency: the JSON formatter is
//! a small `FormatEvent` over `serde_json`.

use std::fmt::Write as _;

use tracing::field::{Field, Visit};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// How log lines are written to stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable; colour only on a terminal without NO_COLOR.
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

/// Whether colours may be used: stderr is a terminal and `NO_COLOR` is unset or empty.
pub fn colour_allowed(no_color: Option<&std::ffi::OsStr>, is_terminal: bool) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty())
}

static FORMAT: std::sync::OnceLock<LogFormat> = std::sync::OnceLock::new();

/// The format [`init`] installed (text before that).
pub fn format() -> LogFormat {
    FORMAT.get().copied().unwrap_or(LogFormat::Text)
}

/// Installs the global subscriber (the binary calls this once). The filter is `RUST_LOG`, default `warn`.
pub fn init(format: LogFormat) {
    let _ = FORMAT.set(format);
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter);
    match format {
        LogFormat::Text => {
            let ansi = colour_allowed(
                std::env::var_os("NO_COLOR").as_deref(),
                std::io::IsTerminal::is_terminal(&std::io::stderr()),
            );
            builder.with_ansi(ansi).init();
        }
        LogFormat::Json => builder.with_ansi(false).event_format(JsonLines).init(),
    }
}

/// What the start-up banner names.
#[derive(Clone, Debug)]
pub struct Banner {
    pub command: &'static str,
    /// Backend and location, password masked.
    pub database: String,
    pub storage: String,
    /// Model name and folder.
    pub model: String,
    /// OCR engines with versions, and how many are loaded (one per worker slot).
    pub engines: String,
    pub worker_slots: usize,
    /// The address served, if any.
    pub listen: Option<String>,
}

impl Banner {
    /// One line: `rythmiq 0.1.0 serve: database=... storage=... model=... engines=... worker_slots=N`.
    pub fn text(&self) -> String {
        let mut line = format!(
            "rythmiq {} {}: database={} storage={} model={} engines={} worker_slots={}",
            env!("CARGO_PKG_VERSION"),
            self.command,
            self.database,
            self.storage,
            self.model,
            self.engines,
            self.worker_slots
        );
        if let Some(listen) = &self.listen {
            let _ = write!(line, " listen={listen}");
        }
        line
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "level": "INFO",
            "target": "rythmiq",
            "message": "starting",
            "fields": {
                "version": env!("CARGO_PKG_VERSION"),
                "command": self.command,
                "database": self.database,
                "storage": self.storage,
                "model": self.model,
                "engines": self.engines,
                "worker_slots": self.worker_slots,
                "listen": self.listen,
            }
        })
    }

    /// Writes the banner to stderr in the log format, whatever the log filter.
    pub fn print(&self, format: LogFormat) {
        match format {
            LogFormat::Text => eprintln!("{}", self.text()),
            LogFormat::Json => eprintln!("{}", self.json()),
        }
    }
}

/// One JSON object per event: timestamp, level, target, message, fields, and the spans from the root.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let mut fields = serde_json::Map::new();
        event.record(&mut JsonVisitor(&mut fields));
        let mut line = serde_json::Map::new();
        line.insert("timestamp".into(), chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true).into());
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        if let Some(message) = fields.remove("message") {
            line.insert("message".into(), message);
        }
        line.insert("fields".into(), serde_json::Value::Object(fields));
        if let Some(scope) = ctx.event_scope() {
            let spans: Vec<serde_json::Value> = scope
                .from_root()
                .map(|span| {
                    let extensions = span.extensions();
                    let fields = extensions.get::<FormattedFields<N>>().map(|f| f.to_string()).unwrap_or_default();
                    serde_json::json!({ "name": span.name(), "fields": fields })
                })
                .collect();
            if !spans.is_empty() {
                line.insert("spans".into(), spans.into());
            }
        }
        writeln!(writer, "{}", serde_json::Value::Object(line))
    }
}

struct JsonVisitor<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl Visit for JsonVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), rythmiq_types::ErrorChain(value).to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_set_and_non_empty_turns_colours_off() {
        assert!(colour_allowed(None, true));
        assert!(colour_allowed(Some(std::ffi::OsStr::new("")), true));
        assert!(!colour_allowed(Some(std::ffi::OsStr::new("1")), true));
        assert!(!colour_allowed(None, false));
    }

    #[test]
    fn the_banner_is_one_line_naming_everything() {
        let banner = Banner {
            command: "serve",
            database: "sqlite:rythmiq-data/rythmiq.db".into(),
            storage: "file:///tmp/store".into(),
            model: "best_int (models/best_int)".into(),
            engines: "tesseract 5.3.0 x2".into(),
            worker_slots: 2,
            listen: Some("127.0.0.1:8000".into()),
        };
        let text = banner.text();
        assert!(!text.contains('\n'));
        for needle in
            ["database=sqlite:", "storage=file://", "model=best_int", "engines=tesseract 5.3.0 x2", "worker_slots=2"]
        {
            assert!(text.contains(needle), "{needle} in {text}");
        }
        assert_eq!(banner.json()["fields"]["worker_slots"], 2);
    }
}
