//! Writing families in Prometheus's text format (0.0.4), for the numbers read at
//! scrape time (the recorder writes its own).

use std::fmt::Write;

pub struct Exposition<'a> {
    out: &'a mut String,
}

impl<'a> Exposition<'a> {
    /// Appends to `out` (a rendering that ends with a new line, or nothing).
    pub fn new(out: &'a mut String) -> Self {
        Self { out }
    }

    /// Starts a family: its help and type (`counter`, `gauge`).
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample of the family just started.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (index, (key, value)) in labels.iter().enumerate() {
                if index > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{key}=\"{}\"", escape(value));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", number(value));
    }

    /// A family of one sample without labels.
    pub fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// A label value with `\`, `"` and new lines escaped.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_and_numbers_are_written_as_the_format_says() {
        let mut out = String::new();
        let mut exposition = Exposition::new(&mut out);
        exposition.family("a", "gauge", "Help with a \\ and\na line.");
        exposition.sample("a", &[("scope", "k\"ie\\x\ny")], 1.5);
        exposition.sample("a", &[], f64::INFINITY);
        exposition.single("b", "gauge", "B.", 3.0);
        assert_eq!(
            out,
            "# HELP a Help with a \\\\ and\\na line.\n# TYPE a gauge\na{scope=\"k\\\"ie\\\\x\\ny\"} 1.5\na +Inf\n\n\
             # HELP b B.\n# TYPE b gauge\nb 3\n"
        );
    }
}
