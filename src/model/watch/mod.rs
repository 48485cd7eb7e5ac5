//! `leaktop watch`, the pure part: the lineage of every process it can see
//! ([`lineage`]), the records it writes ([`record`]), the stories they tell in
//! `leaktop orphans` ([`story`]), and what a `[[policy]]` does ([`policy`]).

pub mod lineage;
pub mod policy;
pub mod record;
pub mod story;

/// The label a metric gives the job that died (`origin`): a name from a bounded set,
/// so a machine that orphans a thousand different commands still has at most
/// [`Origins::MAX`] series. The first names seen keep their label; later ones are
/// `other`.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    known: Vec<String>,
}

impl Origins {
    /// The most distinct labels.
    pub const MAX: usize = 16;

    /// The label for `name` (a policy's name or a process name): at most 32 of the
    /// characters Prometheus tools handle without quoting (`A-Za-z0-9_.:-`, others
    /// as `_`); `unknown` for an empty name; `other` once [`Origins::MAX`] are taken.
    pub fn label(&mut self, name: &str) -> String {
        let clean: String = name
            .chars()
            .take(32)
            .map(|c| {
                if c.is_ascii_alphanumeric() || "_.:-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let clean = if clean.is_empty() {
            "unknown".to_string()
        } else {
            clean
        };
        if self.known.contains(&clean) {
            return clean;
        }
        if self.known.len() < Self::MAX {
            self.known.push(clean.clone());
            return clean;
        }
        "other".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_labels_are_bounded_and_clean() {
        let mut o = Origins::default();
        assert_eq!(o.label("python3"), "python3");
        assert_eq!(o.label("cce serve\n"), "cce_serve_");
        assert_eq!(o.label(""), "unknown");
        for i in 0..40 {
            o.label(&format!("job{i}"));
        }
        assert_eq!(o.label("job3"), "job3");
        assert_eq!(o.label("job39"), "other");
        assert_eq!(o.label("python3"), "python3");
        assert_eq!(o.label(&"x".repeat(100)), "other");
        assert_eq!(Origins::default().label(&"x".repeat(100)).len(), 32);
    }
}
