//! Time and duration converters: `Time`, `Now`, `FormatTime`, `TruncateTime`,
//! `UnixNano`/`UnixMicro`/`UnixMilli`/`UnixSeconds`, `Duration`, `Nanoseconds` ...
//! `Hours`, and the calendar parts (`Year` ... `Nanosecond`), all in UTC.

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};

use super::types::{arg, string};
use super::{converter, Args, Func, Spec};
use crate::ottl::error::{Eval, RuntimeError};
use crate::ottl::value::Value;

pub const SPECS: &[Spec] = &[
    Spec {
        name: "Time",
        params: &["time", "format", "location?", "locale?"],
        build: time,
    },
    Spec {
        name: "Now",
        params: &[],
        build: |a| Ok(converter(a.rest(), |_| Ok(Value::Time(now())))),
    },
    Spec {
        name: "FormatTime",
        params: &["time", "format"],
        build: format_time,
    },
    Spec {
        name: "TruncateTime",
        params: &["time", "duration"],
        build: truncate_time,
    },
    Spec {
        name: "UnixNano",
        params: &["time"],
        build: |a| unix(a, 1),
    },
    Spec {
        name: "UnixMicro",
        params: &["time"],
        build: |a| unix(a, 1_000),
    },
    Spec {
        name: "UnixMilli",
        params: &["time"],
        build: |a| unix(a, 1_000_000),
    },
    Spec {
        name: "UnixSeconds",
        params: &["time"],
        build: |a| unix(a, 1_000_000_000),
    },
    Spec {
        name: "Duration",
        params: &["duration"],
        build: duration,
    },
    Spec {
        name: "Nanoseconds",
        params: &["duration"],
        build: |a| duration_int(a, 1),
    },
    Spec {
        name: "Microseconds",
        params: &["duration"],
        build: |a| duration_int(a, 1_000),
    },
    Spec {
        name: "Milliseconds",
        params: &["duration"],
        build: |a| duration_int(a, 1_000_000),
    },
    Spec {
        name: "Seconds",
        params: &["duration"],
        build: |a| duration_float(a, 1e9),
    },
    Spec {
        name: "Minutes",
        params: &["duration"],
        build: |a| duration_float(a, 60e9),
    },
    Spec {
        name: "Hours",
        params: &["duration"],
        build: |a| duration_float(a, 3600e9),
    },
    Spec {
        name: "Year",
        params: &["time"],
        build: |a| part(a, |t| t.year().into()),
    },
    Spec {
        name: "Month",
        params: &["time"],
        build: |a| part(a, |t| t.month().into()),
    },
    Spec {
        name: "Day",
        params: &["time"],
        build: |a| part(a, |t| t.day().into()),
    },
    Spec {
        name: "Weekday",
        params: &["time"],
        build: |a| part(a, |t| t.weekday().num_days_from_sunday().into()),
    },
    Spec {
        name: "Hour",
        params: &["time"],
        build: |a| part(a, |t| t.hour().into()),
    },
    Spec {
        name: "Minute",
        params: &["time"],
        build: |a| part(a, |t| t.minute().into()),
    },
    Spec {
        name: "Second",
        params: &["time"],
        build: |a| part(a, |t| t.second().into()),
    },
    Spec {
        name: "Nanosecond",
        params: &["time"],
        build: |a| part(a, |t| t.nanosecond().into()),
    },
];

fn now() -> i64 {
    Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

fn datetime(nanos: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(nanos)
}

fn time_arg(v: &Value) -> Eval<i64> {
    match v {
        Value::Time(t) => Ok(*t),
        other => Err(RuntimeError::new(format!(
            "expected time but got {}",
            other.type_name()
        ))),
    }
}

fn duration_arg(v: &Value) -> Eval<i64> {
    match v {
        Value::Duration(d) => Ok(*d),
        other => Err(RuntimeError::new(format!(
            "expected duration but got {}",
            other.type_name()
        ))),
    }
}

/// A time as RFC 3339 with nanoseconds as needed (Go's `time.RFC3339Nano`).
pub fn format_rfc3339(nanos: i64) -> String {
    datetime(nanos).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// The Collector's strptime directives in chrono's spelling (`%L` milliseconds, `%f`
/// microseconds, `%s` nanoseconds fraction as Go's ctimefmt names them).
fn chrono_format(format: &str) -> String {
    format
        .replace("%L", "%3f")
        .replace("%f", "%6f")
        .replace("%s", "%9f")
}

/// A format with a directive chrono does not know is a config error (formatting with it
/// would fail at run time).
fn check_layout(format: &str, layout: &str) -> Result<(), String> {
    use chrono::format::{Item, StrftimeItems};
    if StrftimeItems::new(layout).any(|i| matches!(i, Item::Error)) {
        return Err(format!("invalid time format {format:?}"));
    }
    Ok(())
}

fn time(mut args: Args) -> Result<Func, String> {
    let format = args
        .literal_str(1)?
        .filter(|f| !f.is_empty())
        .ok_or("Time: format cannot be nil or empty")?;
    match args.literal_str(2)?.as_deref() {
        None | Some("UTC") | Some("Local") => {}
        Some(other) => {
            return Err(format!(
            "Time: location {other:?} is not supported here: times without a zone are read as UTC"
        ))
        }
    }
    let layout = chrono_format(&format);
    check_layout(&format, &layout)?;
    Ok(converter(args.rest(), move |v| {
        let text = string(arg(v, 0))?;
        if text.is_empty() {
            return Err(RuntimeError::new("time cannot be nil"));
        }
        parse_time(text, &layout).map(Value::Time)
    }))
}

/// Parses with defaults for what the format leaves out: January 1st, midnight, UTC (as
/// Go's), and year 1970 where Go takes year 0, which nanoseconds since 1970 cannot hold
/// (differences and calendar parts are the same).
fn parse_time(text: &str, layout: &str) -> Eval<i64> {
    use chrono::format::{parse, Parsed, StrftimeItems};
    let fail = || {
        RuntimeError::new(format!(
            "unable to parse {text:?} with the format {layout:?}"
        ))
    };
    let mut parsed = Parsed::new();
    parse(&mut parsed, text, StrftimeItems::new(layout)).map_err(|_| fail())?;
    if parsed.year().is_none() && parsed.year_div_100().is_none() && parsed.isoyear().is_none() {
        parsed.set_year(1970).map_err(|_| fail())?;
    }
    if parsed.month().is_none() && parsed.ordinal().is_none() && parsed.isoweek().is_none() {
        parsed.set_month(1).map_err(|_| fail())?;
    }
    if parsed.day().is_none() && parsed.ordinal().is_none() && parsed.weekday().is_none() {
        parsed.set_day(1).map_err(|_| fail())?;
    }
    if parsed.hour_div_12().is_none() {
        parsed
            .set_hour(i64::from(parsed.hour_mod_12().unwrap_or(0)))
            .map_err(|_| fail())?;
    }
    if parsed.minute().is_none() {
        parsed.set_minute(0).map_err(|_| fail())?;
    }
    let offset = parsed.offset().unwrap_or(0);
    let naive: NaiveDateTime = parsed
        .to_naive_datetime_with_offset(offset)
        .map_err(|_| fail())?;
    let utc = naive - chrono::Duration::seconds(i64::from(offset));
    utc.and_utc()
        .timestamp_nanos_opt()
        .ok_or_else(|| RuntimeError::new(format!("time {text:?} is out of range")))
}

fn format_time(mut args: Args) -> Result<Func, String> {
    let format = args
        .literal_str(1)?
        .filter(|f| !f.is_empty())
        .ok_or("FormatTime: format cannot be nil or empty")?;
    let layout = chrono_format(&format);
    check_layout(&format, &layout)?;
    Ok(converter(args.rest(), move |v| {
        let t = time_arg(arg(v, 0))?;
        Ok(Value::Str(datetime(t).format(&layout).to_string()))
    }))
}

fn truncate_time(args: Args) -> Result<Func, String> {
    Ok(converter(args.rest(), |v| {
        let t = time_arg(arg(v, 0))?;
        let d = duration_arg(arg(v, 1))?;
        if d <= 0 {
            return Ok(Value::Time(t));
        }
        Ok(Value::Time(t - t.rem_euclid(d)))
    }))
}

fn unix(args: Args, per: i64) -> Result<Func, String> {
    Ok(converter(args.rest(), move |v| {
        Ok(Value::Int(time_arg(arg(v, 0))?.div_euclid(per)))
    }))
}

fn duration(args: Args) -> Result<Func, String> {
    Ok(converter(args.rest(), |v| {
        parse_go_duration(string(arg(v, 0))?).map(Value::Duration)
    }))
}

fn duration_int(args: Args, per: i64) -> Result<Func, String> {
    Ok(converter(args.rest(), move |v| {
        Ok(Value::Int(duration_arg(arg(v, 0))? / per))
    }))
}

fn duration_float(args: Args, per: f64) -> Result<Func, String> {
    Ok(converter(args.rest(), move |v| {
        let d = duration_arg(arg(v, 0))?;
        // Go splits whole units from the remainder for precision.
        let whole = (d as f64 / per).trunc();
        let rest = (d as f64) - whole * per;
        Ok(Value::Double(whole + rest / per))
    }))
}

fn part(args: Args, f: fn(DateTime<Utc>) -> i64) -> Result<Func, String> {
    Ok(converter(args.rest(), move |v| {
        Ok(Value::Int(f(datetime(time_arg(arg(v, 0))?))))
    }))
}

/// Go's `time.ParseDuration`: `300ms`, `-1.5h`, `2h45m`; units ns, us (µs), ms, s, m, h.
pub fn parse_go_duration(text: &str) -> Eval<i64> {
    let invalid = || RuntimeError::new(format!("time: invalid duration {text:?}"));
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| RuntimeError::new(format!("time: missing unit in duration {text:?}")))?;
        let number: f64 = rest[..number_end].parse().map_err(|_| invalid())?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            other => {
                return Err(RuntimeError::new(format!(
                    "time: unknown unit {other:?} in duration {text:?}"
                )))
            }
        };
        total += number * unit;
        rest = &rest[unit_end..];
    }
    let nanos = total.round() as i64;
    Ok(if negative { -nanos } else { nanos })
}

/// Go's `Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s`.
pub fn format_go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    let fraction = |value: u64, per: u64| {
        let whole = value / per;
        let rest = value % per;
        if rest == 0 {
            whole.to_string()
        } else {
            let digits = per.to_string().len() - 1;
            let frac = format!("{rest:0digits$}");
            format!("{whole}.{}", frac.trim_end_matches('0'))
        }
    };
    if n < 1_000 {
        return format!("{sign}{n}ns");
    }
    if n < 1_000_000 {
        return format!("{sign}{}µs", fraction(n, 1_000));
    }
    if n < 1_000_000_000 {
        return format!("{sign}{}ms", fraction(n, 1_000_000));
    }
    let hours = n / 3_600_000_000_000;
    let minutes = (n / 60_000_000_000) % 60;
    let seconds = fraction(n % 60_000_000_000, 1_000_000_000);
    match (hours, minutes) {
        (0, 0) => format!("{sign}{seconds}s"),
        (0, m) => format!("{sign}{m}m{seconds}s"),
        (h, m) => format!("{sign}{h}h{m}m{seconds}s"),
    }
}
