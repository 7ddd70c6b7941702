//! The task types a pipeline may use, their parameters (§4) and the common attributes (§5).

use std::fmt;

/// Every task type of the issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // each variant is the task of the same name in §4
pub enum TaskType {
    Http,
    Bridge,
    JsonParse,
    Multiply,
    Divide,
    Sum,
    Mean,
    Median,
    Mode,
    Any,
    LessThan,
    Length,
    Lowercase,
    Uppercase,
    Lookup,
    Conditional,
    Merge,
    Memo,
    HexEncode,
    HexDecode,
    Base64Encode,
    Base64Decode,
}

/// Attributes every task accepts (§5), in canonical spelling.
pub const COMMON_ATTRIBUTES: &[&str] = &[
    "index",
    "timeout",
    "retries",
    "minBackoff",
    "maxBackoff",
    "failEarly",
    "tags",
    "streamID",
];

impl TaskType {
    /// All types, alphabetically by name.
    pub const ALL: [TaskType; 22] = [
        TaskType::Any,
        TaskType::Base64Decode,
        TaskType::Base64Encode,
        TaskType::Bridge,
        TaskType::Conditional,
        TaskType::Divide,
        TaskType::HexDecode,
        TaskType::HexEncode,
        TaskType::Http,
        TaskType::JsonParse,
        TaskType::Length,
        TaskType::LessThan,
        TaskType::Lookup,
        TaskType::Lowercase,
        TaskType::Mean,
        TaskType::Median,
        TaskType::Memo,
        TaskType::Merge,
        TaskType::Mode,
        TaskType::Multiply,
        TaskType::Sum,
        TaskType::Uppercase,
    ];

    /// The lower-case name written in `type=…`.
    pub fn name(self) -> &'static str {
        match self {
            TaskType::Http => "http",
            TaskType::Bridge => "bridge",
            TaskType::JsonParse => "jsonparse",
            TaskType::Multiply => "multiply",
            TaskType::Divide => "divide",
            TaskType::Sum => "sum",
            TaskType::Mean => "mean",
            TaskType::Median => "median",
            TaskType::Mode => "mode",
            TaskType::Any => "any",
            TaskType::LessThan => "lessthan",
            TaskType::Length => "length",
            TaskType::Lowercase => "lowercase",
            TaskType::Uppercase => "uppercase",
            TaskType::Lookup => "lookup",
            TaskType::Conditional => "conditional",
            TaskType::Merge => "merge",
            TaskType::Memo => "memo",
            TaskType::HexEncode => "hexencode",
            TaskType::HexDecode => "hexdecode",
            TaskType::Base64Encode => "base64encode",
            TaskType::Base64Decode => "base64decode",
        }
    }

    /// The type named `name` after lower-casing (the reference lower-cases `type`).
    pub fn from_name(name: &str) -> Option<TaskType> {
        let lower = name.to_lowercase();
        TaskType::ALL.into_iter().find(|t| t.name() == lower)
    }

    /// The task's own parameters in canonical spelling (matched case-insensitively).
    pub fn parameters(self) -> &'static [&'static str] {
        match self {
            TaskType::Http => &[
                "method",
                "url",
                "requestData",
                "headers",
                "allowUnrestrictedNetworkAccess",
            ],
            TaskType::Bridge => &[
                "name",
                "requestData",
                "includeInputAtKey",
                "async",
                "cacheTTL",
                "headers",
            ],
            TaskType::JsonParse => &["data", "path", "separator", "lax"],
            TaskType::Multiply => &["input", "times"],
            TaskType::Divide => &["input", "divisor", "precision"],
            TaskType::Sum | TaskType::Mode => &["values", "allowedFaults"],
            TaskType::Mean => &["values", "allowedFaults", "precision"],
            TaskType::Median => &["values", "allowedFaults", "lax"],
            TaskType::Any => &[],
            TaskType::LessThan => &["left", "right"],
            TaskType::Length
            | TaskType::Lowercase
            | TaskType::Uppercase
            | TaskType::HexEncode
            | TaskType::HexDecode
            | TaskType::Base64Encode
            | TaskType::Base64Decode => &["input"],
            TaskType::Lookup => &["key"],
            TaskType::Conditional => &["data"],
            TaskType::Merge => &["left", "right"],
            TaskType::Memo => &["value"],
        }
    }

    /// Aggregates tolerate errored inputs (up to `allowedFaults`); `any` skips them.
    pub fn tolerates_errored_inputs(self) -> bool {
        matches!(
            self,
            TaskType::Sum | TaskType::Mean | TaskType::Median | TaskType::Mode | TaskType::Any
        )
    }
}

impl fmt::Display for TaskType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_case_insensitively() {
        for t in TaskType::ALL {
            assert_eq!(TaskType::from_name(&t.name().to_uppercase()), Some(t));
        }
        assert_eq!(TaskType::from_name("JSONParse"), Some(TaskType::JsonParse));
        assert_eq!(TaskType::from_name("ethtx"), None);
        let mut names: Vec<_> = TaskType::ALL.iter().map(|t| t.name()).collect();
        let sorted = {
            let mut s = names.clone();
            s.sort_unstable();
            s
        };
        assert_eq!(names, sorted);
        names.dedup();
        assert_eq!(names.len(), TaskType::ALL.len());
    }
}
