//! The tables `runner bench` prints, as aligned text for the terminal or as Markdown exactly as
//! README shows them (`--markdown`), headed by the machine and the command that measured them.

use std::fmt::Write as _;

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text: left-aligned.
    Left,
    /// Numbers: right-aligned.
    Right,
}

/// One benchmark table: named columns and rows of formatted cells, with notes printed below it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    /// Column headers and their alignment.
    pub columns: Vec<(String, Align)>,
    /// Rows of cells, one per column.
    pub rows: Vec<Vec<String>>,
    /// Lines printed after the table (units, what a cell means).
    pub notes: Vec<String>,
}

impl Table {
    /// An empty table with these columns.
    pub fn new(columns: &[(&str, Align)]) -> Self {
        Table {
            columns: columns.iter().map(|&(n, a)| (n.to_string(), a)).collect(),
            ..Table::default()
        }
    }

    /// Appends a row.
    ///
    /// # Panics
    /// When the row's length differs from the number of columns.
    pub fn push(&mut self, cells: Vec<String>) {
        assert_eq!(
            cells.len(),
            self.columns.len(),
            "bench table: a row of {} cells for {} columns",
            cells.len(),
            self.columns.len()
        );
        self.rows.push(cells);
    }

    /// Appends a note printed below the table.
    pub fn note(mut self, line: impl Into<String>) -> Self {
        self.notes.push(line.into());
        self
    }

    /// The table as space-aligned text.
    pub fn text(&self) -> String {
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r[c].chars().count())
                    .chain([self.columns[c].0.chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: Vec<&str>| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&self.columns)
                .zip(&widths)
                .map(|((cell, (_, align)), &w)| match align {
                    Align::Left => format!("{cell:<w$}"),
                    Align::Right => format!("{cell:>w$}"),
                })
                .collect();
            padded.join("  ").trim_end().to_string() + "\n"
        };
        let mut out = line(self.columns.iter().map(|(n, _)| n.as_str()).collect());
        for row in &self.rows {
            out += &line(row.iter().map(String::as_str).collect());
        }
        for note in &self.notes {
            out += note;
            out.push('\n');
        }
        out
    }

    /// The table in GitHub Markdown, numbers right-aligned, notes as a paragraph below it.
    pub fn markdown(&self) -> String {
        let escape = |cell: &str| cell.replace('|', "\\|");
        let mut out = String::new();
        let header: Vec<String> = self.columns.iter().map(|(n, _)| escape(n)).collect();
        let _ = writeln!(out, "| {} |", header.join(" | "));
        let rule: Vec<&str> = self
            .columns
            .iter()
            .map(|(_, a)| match a {
                Align::Left => "---",
                Align::Right => "---:",
            })
            .collect();
        let _ = writeln!(out, "| {} |", rule.join(" | "));
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(|c| escape(c)).collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        if !self.notes.is_empty() {
            out.push('\n');
            // One sentence each: a note without a full stop gets one.
            let sentences: Vec<String> = self
                .notes
                .iter()
                .map(|n| {
                    let n = n.trim_end();
                    if n.ends_with('.') {
                        n.to_string()
                    } else {
                        format!("{n}.")
                    }
                })
                .collect();
            out += &sentences.join(" ");
            out.push('\n');
        }
        out
    }
}

/// How `runner bench` prints its tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Aligned text for the terminal.
    #[default]
    Text,
    /// Markdown, headed by the machine and the command, as README shows it.
    Markdown,
}

/// The machine a benchmark ran on: what a table must say to be comparable.
#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    /// CPU model name (`/proc/cpuinfo`), or `unknown CPU`.
    pub cpu: String,
    /// The CPU's family and model numbers (`/proc/cpuinfo`), e.g. `family 25 model 17`: virtual
    /// machines often show only a vendor's series as the model name (`AMD EPYC`), where these
    /// numbers still tell its generation apart (AMD family 25 is Zen 3 and 4, 26 is Zen 5).
    pub cpu_id: Option<String>,
    /// The vector instructions the CPU kernels run with (`AVX-512`, `AVX2`, ...).
    pub vector: String,
    /// Logical CPUs this process may use.
    pub cpus: usize,
    /// Total memory in GiB (`/proc/meminfo`), when known.
    pub memory_gib: Option<f64>,
}

impl Machine {
    /// Reads the CPU model and memory from `/proc` (Linux; elsewhere they are unknown; a crate
    /// such as `sysinfo` would cost more build time than these two reads).
    pub fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Machine {
            cpu: cpu_model(&cpuinfo).unwrap_or_else(|| "unknown CPU".to_string()),
            cpu_id: cpu_family_model(&cpuinfo),
            vector: crate::kernels::simd_level().name().to_string(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: crate::run::memory::mem_total_bytes(&meminfo).map(|b| b / 1024f64.powi(3)),
        }
    }

    /// One line: `AMD EPYC 9R14 (family 25 model 17, AVX-512, 2 CPUs), 23.4 GiB`.
    pub fn describe(&self) -> String {
        let memory = self
            .memory_gib
            .map_or("unknown memory".to_string(), |g| format!("{g:.1} GiB"));
        let id = self
            .cpu_id
            .as_ref()
            .map_or(String::new(), |id| format!("{id}, "));
        format!(
            "{} ({id}{}, {} CPUs), {memory}",
            self.cpu, self.vector, self.cpus
        )
    }
}

/// The value of the first `name : value` line of a `/proc/cpuinfo` text whose key is `name`.
fn cpuinfo_field(cpuinfo: &str, name: &str) -> Option<String> {
    cpuinfo
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim().to_string())
}

/// The first `model name` of a `/proc/cpuinfo` text.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo_field(cpuinfo, "model name")
}

/// `family F model M` from the first processor of a `/proc/cpuinfo` text (x86), when both are
/// there.
fn cpu_family_model(cpuinfo: &str) -> Option<String> {
    let field = |name| cpuinfo_field(cpuinfo, name);
    Some(format!(
        "family {} model {}",
        field("cpu family")?,
        field("model")?
    ))
}

/// What one `runner bench` call measured: a title, its tables, and where they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// What was measured and on which backend.
    pub title: String,
    /// The command line that produced it (`runner bench ...`).
    pub command: String,
    /// The machine it ran on.
    pub machine: Machine,
    /// The tables, in order.
    pub tables: Vec<Table>,
}

impl Report {
    /// The report in `format`.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Text => {
                let mut out = format!("# {} on {}\n", self.title, self.machine.describe());
                for t in &self.tables {
                    out += &t.text();
                }
                out
            }
            Format::Markdown => {
                let mut out = format!(
                    "Measured on {} with `{}` ({}).\n",
                    self.machine.describe(),
                    self.command,
                    self.title
                );
                for t in &self.tables {
                    out.push('\n');
                    out += &t.markdown();
                }
                out
            }
        }
    }
}

/// A number with `decimals` places.
pub fn num(value: f64, decimals: usize) -> String {
    format!("{value:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut t = Table::new(&[("task", Align::Left), ("steps/s", Align::Right)]);
        t.push(vec!["flat".into(), num(1209.04, 1)]);
        t.push(vec!["thin|obstacles".into(), num(98.0, 1)]);
        t.note("random actions")
    }

    #[test]
    fn markdown_right_aligns_numbers_and_escapes_pipes() {
        assert_eq!(
            sample().markdown(),
            "| task | steps/s |\n| --- | ---: |\n| flat | 1209.0 |\n| thin\\|obstacles | 98.0 |\n\n\
             random actions.\n"
        );
        // Several notes read as sentences.
        let two = sample().note("ms per call.").markdown();
        assert!(two.ends_with("random actions. ms per call.\n"), "{two}");
    }

    #[test]
    fn text_pads_every_column_to_its_widest_cell() {
        let text = sample().text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "task            steps/s");
        assert_eq!(lines[1], "flat             1209.0");
        assert_eq!(lines[3], "random actions");
    }

    #[test]
    fn machine_facts_are_read_from_proc_texts() {
        let cpuinfo = "processor\t: 0\nmodel name\t: AMD EPYC 9R14 96-Core Processor\nflags\t: x\n";
        assert_eq!(
            cpu_model(cpuinfo).as_deref(),
            Some("AMD EPYC 9R14 96-Core Processor")
        );
        assert_eq!(cpu_model("flags: x"), None);
        let epyc = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\n\
                    model name\t: AMD EPYC\nprocessor\t: 1\ncpu family\t: 25\nmodel\t\t: 17\n";
        assert_eq!(
            cpu_family_model(epyc).as_deref(),
            Some("family 25 model 17")
        );
        // `model name` is not `model`; without a family there is no answer.
        assert_eq!(
            cpu_family_model("model name\t: AMD EPYC\nmodel\t: 17\n"),
            None
        );
    }

    #[test]
    fn the_machine_line_names_the_cpu_generation_and_vector_width() {
        let machine = Machine {
            cpu: "AMD EPYC".into(),
            cpu_id: Some("family 25 model 17".into()),
            vector: "AVX-512".into(),
            cpus: 2,
            memory_gib: Some(23.5),
        };
        assert_eq!(
            machine.describe(),
            "AMD EPYC (family 25 model 17, AVX-512, 2 CPUs), 23.5 GiB"
        );
        let bare = Machine {
            cpu_id: None,
            memory_gib: None,
            ..machine
        };
        assert_eq!(
            bare.describe(),
            "AMD EPYC (AVX-512, 2 CPUs), unknown memory"
        );
    }

    #[test]
    #[should_panic(expected = "a row of 1 cells for 2 columns")]
    fn a_short_row_is_refused() {
        Table::new(&[("a", Align::Left), ("b", Align::Right)]).push(vec!["x".into()]);
    }
}
