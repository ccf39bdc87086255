//! `metrics.csv`: one row per logged update, columns fixed by the first row. Appends survive a
//! resume: an existing file keeps its rows up to the resumed update and continues.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// Appends rows of named scalars to a CSV file.
pub struct MetricsCsv {
    path: PathBuf,
    columns: Option<Vec<String>>,
}

impl MetricsCsv {
    /// Opens `path`, dropping rows logged after `resume_update` (they are re-done after a resume).
    pub fn open(path: &Path, resume_update: Option<u64>) -> std::io::Result<Self> {
        let mut columns = None;
        if path.is_file() {
            let file = std::fs::File::open(path)?;
            let mut lines = BufReader::new(file).lines();
            if let Some(header) = lines.next() {
                let header = header?;
                let cols: Vec<String> = header.split(',').map(str::to_string).collect();
                let mut kept = vec![header];
                for line in lines {
                    let line = line?;
                    let update: u64 = line
                        .split(',')
                        .next()
                        .and_then(|u| u.parse().ok())
                        .unwrap_or(u64::MAX);
                    if resume_update.is_some_and(|r| update <= r) {
                        kept.push(line);
                    }
                }
                let mut text = kept.join("\n");
                text.push('\n');
                super::atomic::write_atomic(path, text.as_bytes())?;
                columns = Some(cols);
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            columns,
        })
    }

    /// Appends one row; the first row fixes the columns (`update` first, then the given names).
    pub fn append(&mut self, update: u64, values: &[(String, f64)]) -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        if self.columns.is_none() {
            let mut cols = vec!["update".to_string()];
            cols.extend(values.iter().map(|(k, _)| k.clone()));
            writeln!(file, "{}", cols.join(","))?;
            self.columns = Some(cols);
        }
        let cols = self.columns.as_ref().expect("columns set above");
        let row: Vec<String> = cols
            .iter()
            .map(|c| {
                if c == "update" {
                    update.to_string()
                } else {
                    values
                        .iter()
                        .find(|(k, _)| k == c)
                        .map(|(_, v)| format!("{v}"))
                        .unwrap_or_default()
                }
            })
            .collect();
        writeln!(file, "{}", row.join(","))
    }
}
