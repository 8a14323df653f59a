//! Tensor-name lists of IR ports: comma separated, a literal comma escaped as `\,`.

use std::collections::BTreeSet;

/// Splits a `names` attribute, honouring the `\,` escape; empty entries are dropped.
pub(crate) fn split_names(s: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut current = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&',') => {
                current.push(',');
                chars.next();
            }
            ',' => push_name(&mut names, &mut current),
            _ => current.push(c),
        }
    }
    push_name(&mut names, &mut current);
    names
}

fn push_name(names: &mut BTreeSet<String>, current: &mut String) {
    let name = std::mem::take(current);
    let trimmed = name.trim();
    if !trimmed.is_empty() {
        names.insert(trimmed.to_string());
    }
}

/// Joins tensor names into a `names` attribute, escaping commas inside names.
pub(crate) fn join_names<'a>(names: impl IntoIterator<Item = &'a String>) -> String {
    names
        .into_iter()
        .map(|n| n.replace(',', "\\,"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_honours_escaped_commas() {
        let names = split_names(r"a,b\,c, d ,,");
        assert_eq!(names.into_iter().collect::<Vec<_>>(), ["a", "b,c", "d"]);
        assert!(split_names("").is_empty());
    }

    #[test]
    fn join_round_trips() {
        let names: BTreeSet<String> = ["x,y".to_string(), "z".to_string()].into();
        let joined = join_names(&names);
        assert_eq!(joined, r"x\,y,z");
        assert_eq!(split_names(&joined), names);
    }
}
