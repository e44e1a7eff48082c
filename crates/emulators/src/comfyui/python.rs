//! How Python writes values, for the messages ComfyUI builds with f-strings
//! (`f"{x}: '{val}' not in {list_info}"`, `"Value {} smaller than min of {}"`)
//! and the conversions its validation applies (`int(val)`, `float(val)`,
//! `str(val)`): a JSON value as `json.loads` reads it, then as `str()` and
//! `repr()` write it.

use serde_json::Value;

/// `repr(f)` of a Python float: the shortest round-trip digits, `.0` on whole
/// numbers, an exponent (`1e+16`, `1e-05`) outside `[1e-4, 1e16)`.
pub(super) fn float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let magnitude = f.abs();
    if magnitude != 0.0 && !(1e-4..1e16).contains(&magnitude) {
        // Rust writes `1e16` and `1.5e-5`; Python `1e+16` and `1.5e-05`.
        let written = format!("{f:e}");
        let Some((mantissa, exponent)) = written.split_once('e') else { return written };
        let (sign, digits) = match exponent.strip_prefix('-') {
            Some(digits) => ('-', digits),
            None => ('+', exponent),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    let written = format!("{f}");
    if written.contains('.') { written } else { format!("{written}.0") }
}

/// `repr(s)` of a Python string: single quotes unless the text has a single
/// quote and no double one.
pub(super) fn repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// `str(v)` of what `json.loads` makes of `v`.
pub(super) fn str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => repr(other),
    }
}

/// `repr(v)` of what `json.loads` makes of `v`.
pub(super) fn repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (None, Some(u), _) => u.to_string(),
            (None, None, Some(f)) => float(f),
            (None, None, None) => n.to_string(),
        },
        Value::String(s) => repr_str(s),
        Value::Array(items) => format!("[{}]", items.iter().map(repr).collect::<Vec<_>>().join(", ")),
        Value::Object(map) => {
            let items: Vec<String> = map.iter().map(|(k, v)| format!("{}: {}", repr_str(k), repr(v))).collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// `str(list)` of a list of strings (`['a.safetensors', 'b.safetensors']`).
pub(super) fn list_of_str(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|s| repr_str(s)).collect::<Vec<_>>().join(", "))
}

/// Python's name of the type `json.loads` makes of `v`.
pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// A Python exception: its type's full name and its message.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Exception {
    pub(super) kind: &'static str,
    pub(super) message: String,
}

impl Exception {
    pub(super) fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }
}

/// `int(v)`: an integer, or the exception Python raises.
pub(super) fn to_int(v: &Value) -> Result<i128, Exception> {
    match v {
        Value::Bool(b) => Ok(i128::from(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Ok(i128::from(i)),
            (None, Some(u), _) => Ok(i128::from(u)),
            // int(7.9) is 7; the cast saturates past i128's range.
            (None, None, Some(f)) => Ok(f.trunc() as i128),
            (None, None, None) => Err(Exception::new("ValueError", "cannot convert to integer")),
        },
        Value::String(s) => s.trim().replace('_', "").parse::<i128>().map_err(|_| {
            Exception::new("ValueError", format!("invalid literal for int() with base 10: {}", repr_str(s)))
        }),
        other => Err(Exception::new(
            "TypeError",
            format!(
                "int() argument must be a string, a bytes-like object or a real number, not '{}'",
                type_name(other)
            ),
        )),
    }
}

/// `float(v)`: a float, or the exception Python raises.
pub(super) fn to_float(v: &Value) -> Result<f64, Exception> {
    match v {
        Value::Bool(b) => Ok(if *b { 1.0 } else { 0.0 }),
        Value::Number(n) => {
            n.as_f64().ok_or_else(|| Exception::new("OverflowError", "int too large to convert to float"))
        }
        Value::String(s) => {
            s.trim().replace('_', "").parse::<f64>().map_err(|_| {
                Exception::new("ValueError", format!("could not convert string to float: {}", repr_str(s)))
            })
        }
        other => Err(Exception::new(
            "TypeError",
            format!("float() argument must be a string or a real number, not '{}'", type_name(other)),
        )),
    }
}

/// An integer as JSON (a Python int past 64 bits becomes a float).
pub(super) fn int_json(i: i128) -> Value {
    if let Ok(i) = i64::try_from(i) {
        Value::from(i)
    } else if let Ok(u) = u64::try_from(i) {
        Value::from(u)
    } else {
        Value::from(i as f64)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn values_are_written_as_python_writes_them() {
        assert_eq!(float(1.0), "1.0");
        assert_eq!(float(0.0), "0.0");
        assert_eq!(float(-2.5), "-2.5");
        assert_eq!(float(100.0), "100.0");
        assert_eq!(float(1e16), "1e+16");
        assert_eq!(float(1.5e-5), "1.5e-05");
        assert_eq!(repr_str("it's"), "\"it's\"");
        assert_eq!(repr_str("x.safetensors"), "'x.safetensors'");
        assert_eq!(list_of_str(&["a".into(), "b".into()]), "['a', 'b']");
        assert_eq!(str_of(&json!("x")), "x");
        assert_eq!(str_of(&json!(null)), "None");
        assert_eq!(str_of(&json!(true)), "True");
        assert_eq!(str_of(&json!(7.0)), "7.0");
        assert_eq!(repr(&json!({ "a": [1, "b"] })), "{'a': [1, 'b']}");
        assert_eq!(type_name(&json!(1.5)), "float");
    }

    #[test]
    fn conversions_follow_int_and_float() {
        assert_eq!(to_int(&json!(7.9)), Ok(7));
        assert_eq!(to_int(&json!(" 12 ")), Ok(12));
        assert_eq!(to_int(&json!(true)), Ok(1));
        assert_eq!(to_int(&json!(u64::MAX)), Ok(i128::from(u64::MAX)));
        let e = to_int(&json!("abc")).expect_err("not a number");
        assert_eq!((e.kind, e.message.as_str()), ("ValueError", "invalid literal for int() with base 10: 'abc'"));
        assert_eq!(to_int(&json!(null)).expect_err("None").kind, "TypeError");
        assert_eq!(to_float(&json!("1e3")), Ok(1000.0));
        assert_eq!(to_float(&json!(3)), Ok(3.0));
        let e = to_float(&json!("x")).expect_err("not a number");
        assert_eq!(e.message, "could not convert string to float: 'x'");
        assert_eq!(int_json(5), json!(5));
        assert_eq!(int_json(i128::from(u64::MAX)), json!(u64::MAX));
    }
}
