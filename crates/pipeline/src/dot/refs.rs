//! `$(path)` references inside attribute text, found with the reference's pattern
//! `\$\(\s*([a-zA-Z0-9_\.]+)\s*\)` (§2.5).

/// One `$(…)` match in a decoded attribute value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VarRef<'a> {
    /// The path's part before the first `.` (a task name or `jobSpec`/`jobRun`).
    pub root: &'a str,
    /// The whole match, `$(` to `)`.
    pub text: &'a str,
}

pub(crate) fn var_refs(text: &str) -> Vec<VarRef<'_>> {
    // Go's `\s` is ASCII space, tab, newline, form feed and carriage return.
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c');
    let is_path = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'.';
    let bytes = text.as_bytes();
    let mut refs = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find("$(") {
        let open = from + found;
        let mut i = open + 2;
        from = i;
        while i < bytes.len() && is_space(bytes[i]) {
            i += 1;
        }
        let start = i;
        while i < bytes.len() && is_path(bytes[i]) {
            i += 1;
        }
        let end = i;
        while i < bytes.len() && is_space(bytes[i]) {
            i += 1;
        }
        if end > start && bytes.get(i) == Some(&b')') {
            let path = &text[start..end];
            refs.push(VarRef {
                root: path.split('.').next().unwrap_or(path),
                text: &text[open..=i],
            });
            from = i + 1;
        }
    }
    refs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(text: &str) -> Vec<&str> {
        var_refs(text).into_iter().map(|r| r.root).collect()
    }

    #[test]
    fn follows_the_reference_pattern() {
        assert_eq!(roots("$(a) $( b.c.0 ) x$(d)y"), vec!["a", "b", "d"]);
        assert_eq!(roots("$(my-task) $() $(a b) $(x"), Vec::<&str>::new());
        assert_eq!(roots("$(.x)"), vec![""]);
        assert_eq!(roots("$($(a))"), vec!["a"]);
        assert_eq!(var_refs("x $( a.b ) y")[0].text, "$( a.b )");
    }
}
