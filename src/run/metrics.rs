//! `metrics.csv`: one row per logged update, `update,env_steps` then one column per scalar. A scalar
//! seen for the first time (e.g. episode returns once an episode has ended, or evaluation results)
//! adds a column: the file is rewritten atomically with the wider header and empty cells in earlier
//! rows. A resume keeps the rows up to the resumed update and continues after them.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::atomic::write_atomic;

/// The leading columns every row has.
const FIXED: [&str; 2] = ["update", "env_steps"];

/// Appends rows of named scalars to a CSV file.
pub struct MetricsCsv {
    path: PathBuf,
    /// Scalar columns after the fixed ones; empty until the first row.
    columns: Vec<String>,
}

impl MetricsCsv {
    /// Opens `path`, dropping rows logged after `resume_update` (they are re-done after a resume;
    /// `None` means a fresh run, so every earlier row is dropped).
    pub fn open(path: &Path, resume_update: Option<u64>) -> std::io::Result<Self> {
        let mut columns = Vec::new();
        if path.is_file() {
            let text = std::fs::read_to_string(path)?;
            let mut lines = text.lines();
            if let Some(header) = lines.next() {
                columns = header
                    .split(',')
                    .skip(FIXED.len())
                    .map(str::to_string)
                    .collect();
                let mut kept = vec![header.to_string()];
                for line in lines {
                    let update: u64 = line
                        .split(',')
                        .next()
                        .and_then(|u| u.parse().ok())
                        .unwrap_or(u64::MAX);
                    if resume_update.is_some_and(|r| update <= r) {
                        kept.push(line.to_string());
                    }
                }
                write_atomic(path, (kept.join("\n") + "\n").as_bytes())?;
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            columns,
        })
    }

    /// The scalar columns so far (after `update,env_steps`).
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Appends one row, widening the header first when `values` has names not seen before.
    pub fn append(
        &mut self,
        update: u64,
        env_steps: u64,
        values: &[(String, f64)],
    ) -> std::io::Result<()> {
        let new: Vec<String> = values
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| !self.columns.contains(k))
            .collect();
        if !new.is_empty() {
            self.widen(new)?;
        }
        let mut row = vec![update.to_string(), env_steps.to_string()];
        row.extend(self.columns.iter().map(|c| {
            values
                .iter()
                .find(|(k, _)| k == c)
                .map(|(_, v)| format!("{v}"))
                .unwrap_or_default()
        }));
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        writeln!(file, "{}", row.join(","))
    }

    /// Adds columns: rewrites the header and pads the existing rows.
    fn widen(&mut self, new: Vec<String>) -> std::io::Result<()> {
        let old_rows: Vec<String> = if self.path.is_file() {
            std::fs::read_to_string(&self.path)?
                .lines()
                .skip(1)
                .map(str::to_string)
                .collect()
        } else {
            Vec::new()
        };
        let pad = ",".repeat(new.len());
        self.columns.extend(new);
        let mut header: Vec<String> = FIXED.iter().map(|s| s.to_string()).collect();
        header.extend(self.columns.iter().cloned());
        let mut text = header.join(",") + "\n";
        for row in old_rows {
            text.push_str(&row);
            text.push_str(&pad);
            text.push('\n');
        }
        write_atomic(&self.path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, f64)]) -> Vec<(String, f64)> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn new_scalars_widen_the_header_and_pad_old_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.csv");
        let mut csv = MetricsCsv::open(&path, None).unwrap();
        csv.append(1, 10, &row(&[("loss", 0.5)])).unwrap();
        csv.append(2, 20, &row(&[("loss", 0.25), ("return", -3.0)]))
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "update,env_steps,loss,return\n1,10,0.5,\n2,20,0.25,-3\n"
        );
    }

    #[test]
    fn resume_drops_rows_after_the_checkpoint_and_keeps_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.csv");
        let mut csv = MetricsCsv::open(&path, None).unwrap();
        for u in 1..=4 {
            csv.append(u, u * 10, &row(&[("loss", u as f64)])).unwrap();
        }
        let mut resumed = MetricsCsv::open(&path, Some(2)).unwrap();
        assert_eq!(resumed.columns(), ["loss"]);
        resumed.append(3, 30, &row(&[("loss", 9.0)])).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "update,env_steps,loss\n1,10,1\n2,20,2\n3,30,9\n");
    }

    #[test]
    fn a_fresh_run_starts_an_empty_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.csv");
        std::fs::write(&path, "update,env_steps,loss\n1,10,1\n").unwrap();
        let mut csv = MetricsCsv::open(&path, None).unwrap();
        csv.append(1, 5, &row(&[("loss", 2.0)])).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "update,env_steps,loss\n1,5,2\n"
        );
    }
}
