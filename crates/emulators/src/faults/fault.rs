//! The fault vocabulary: one [`Fault`], how it is written, and how it is read
//! back, with `status=` limited to the codes of the emulator that reads it.

use std::fmt;
use std::time::Duration;

/// One thing that goes wrong with a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Wait this long before handling the request.
    Latency(Duration),
    /// Handle the request, then hold the answer for the configured timeout duration.
    Timeout,
    /// Close the connection without answering.
    Reset,
    /// Answer the emulator's error shape with this code (and HTTP status).
    Status {
        /// The error's code (and HTTP status).
        code: u16,
        /// Adds `Retry-After: <n>` when set.
        retry_after_seconds: Option<u64>,
    },
    /// Handle the request, then answer HTTP 200 with invalid JSON.
    Malformed,
    /// The task (or the synchronous generation) fails.
    GenerationFailed,
    /// The task never finishes.
    NeverFinish,
    /// The task is reported expired (VolcEngine's `expired` status). Only the
    /// emulators whose protocol has such a state parse it (`parse_fault_with_codes`
    /// does not).
    Expired,
    /// The provider's safety filters block the request or its result (Google's
    /// `safety`: Imagen's `raiFilteredReason`, Gemini's `promptFeedback` or
    /// `IMAGE_SAFETY`, Veo's `raiMediaFilteredReasons`). Only the emulators whose
    /// protocol has such an answer parse it (`parse_fault_with_codes` does not).
    Safety(SafetyStage),
    /// The GPU runs out of memory during the generation (the self-hosted
    /// Stable Diffusion servers' `oom`: AUTOMATIC1111 answers its
    /// `OutOfMemoryError`, sd.cpp fails the job). Only the emulators whose
    /// protocol has such an answer parse it (`parse_fault_with_codes` does not).
    Oom,
    /// The server restarts while generating: the generation in flight is lost
    /// (the self-hosted servers' `restart`: AUTOMATIC1111 drops the connection
    /// and goes idle, sd.cpp forgets every job). Only the emulators whose
    /// protocol has such a server parse it (`parse_fault_with_codes` does not).
    Restart,
}

/// Where a [`Fault::Safety`] blocks: the request's prompt, or the generated output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SafetyStage {
    /// The prompt is blocked before anything is generated (written `safety`).
    Prompt,
    /// The generated output is filtered (written `safety=output`).
    Output,
}

impl Fault {
    /// Whether this fault marks a task instead of changing the answer.
    pub fn is_task_fault(&self) -> bool {
        matches!(
            self,
            Fault::GenerationFailed
                | Fault::NeverFinish
                | Fault::Expired
                | Fault::Safety(_)
                | Fault::Oom
                | Fault::Restart
        )
    }

    /// The fault's name, without its value or options (`status`, `latency`…),
    /// as the emulators' stats count it.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Latency(_) => "latency",
            Fault::Timeout => "timeout",
            Fault::Reset => "reset",
            Fault::Status { .. } => "status",
            Fault::Malformed => "malformed",
            Fault::GenerationFailed => "generation_failed",
            Fault::NeverFinish => "never_finish",
            Fault::Expired => "expired",
            Fault::Safety(_) => "safety",
            Fault::Oom => "oom",
            Fault::Restart => "restart",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Latency(d) => write!(f, "latency={}", d.as_millis()),
            Fault::Status { code, retry_after_seconds: None } => write!(f, "status={code}"),
            Fault::Status { code, retry_after_seconds: Some(n) } => {
                write!(f, "status={code},retry_after_seconds={n}")
            }
            Fault::Safety(SafetyStage::Output) => f.write_str("safety=output"),
            other => f.write_str(other.name()),
        }
    }
}

/// Parses one fault, as written in the `X-Emulator-Fault` header or a CLI flag:
/// `latency=<ms>`, `timeout`, `reset`, `status=<code>` (optionally followed by
/// `,retry_after_seconds=<n>`; `;` or a space also separate), `malformed`,
/// `generation_failed`, `never_finish`. Names are case-insensitive; `status=`
/// takes only one of `codes` (each emulator has its protocol's codes).
pub fn parse_fault_with_codes(s: &str, codes: &[u16]) -> Result<Fault, String> {
    let mut parts = s.split([',', ';', ' ']).map(str::trim).filter(|p| !p.is_empty());
    let first = parts.next().ok_or_else(|| "empty fault".to_string())?;
    let (name, value) = match first.split_once('=') {
        Some((n, v)) => (n.trim().to_ascii_lowercase(), Some(v.trim())),
        None => (first.to_ascii_lowercase(), None),
    };
    let rest: Vec<&str> = parts.collect();
    let no_options = |fault: Fault| -> Result<Fault, String> {
        if rest.is_empty() {
            Ok(fault)
        } else {
            Err(format!("fault `{name}` takes no options, got `{}`", rest.join(",")))
        }
    };
    let no_value = |fault: Fault| -> Result<Fault, String> {
        match value {
            Some(v) => Err(format!("fault `{name}` takes no value, got `{v}`")),
            None => no_options(fault),
        }
    };
    match name.as_str() {
        "latency" => {
            let ms = value.ok_or("latency needs a value in milliseconds: latency=<ms>")?;
            let ms: u64 =
                ms.parse().map_err(|_| format!("latency must be a whole number of milliseconds, got `{ms}`"))?;
            no_options(Fault::Latency(Duration::from_millis(ms)))
        }
        "timeout" => no_value(Fault::Timeout),
        "reset" => no_value(Fault::Reset),
        "malformed" => no_value(Fault::Malformed),
        "generation_failed" => no_value(Fault::GenerationFailed),
        "never_finish" => no_value(Fault::NeverFinish),
        "status" => {
            let code = value.ok_or("status needs a code: status=<code>")?;
            let code: u16 = code.parse().map_err(|_| format!("status must be a number, got `{code}`"))?;
            if !codes.contains(&code) {
                return Err(format!("status must be one of {codes:?}, got {code}"));
            }
            let mut retry_after_seconds = None;
            for option in rest {
                match option.split_once('=') {
                    Some((k, v)) if k.trim().eq_ignore_ascii_case("retry_after_seconds") => {
                        let v = v.trim();
                        let n: u64 =
                            v.parse().map_err(|_| format!("retry_after_seconds must be a whole number, got `{v}`"))?;
                        retry_after_seconds = Some(n);
                    }
                    _ => return Err(format!("unknown status option `{option}` (known: retry_after_seconds=<n>)")),
                }
            }
            Ok(Fault::Status { code, retry_after_seconds })
        }
        other => Err(format!(
            "unknown fault `{other}` (known: latency=<ms>, timeout, reset, status=<code>[,retry_after_seconds=<n>], \
             malformed, generation_failed, never_finish)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_written_fault_up_to_its_value() {
        let faults = [
            Fault::Latency(Duration::from_millis(5)),
            Fault::Timeout,
            Fault::Reset,
            Fault::Status { code: 429, retry_after_seconds: Some(1) },
            Fault::Malformed,
            Fault::GenerationFailed,
            Fault::NeverFinish,
        ];
        for fault in faults {
            let written = fault.to_string();
            assert_eq!(written.split([',', '=']).next(), Some(fault.name()), "{written}");
            assert_eq!(parse_fault_with_codes(&written, &[429]), Ok(fault));
        }
        assert!(parse_fault_with_codes("status=500", &[429]).is_err());
    }
}
