//! Progress display: an `indicatif` bar per running job plus a total when stdout is a terminal,
//! plain log lines otherwise (CI, files).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::job::Progress;

/// Shared display for a sweep.
pub struct SweepProgress {
    multi: Option<MultiProgress>,
    total: Option<ProgressBar>,
}

impl SweepProgress {
    /// Bars when `interactive`, lines otherwise; `total_steps` over all jobs.
    pub fn new(interactive: bool, total_steps: u64) -> Self {
        if !interactive {
            return Self {
                multi: None,
                total: None,
            };
        }
        let multi = MultiProgress::new();
        let total = multi.add(ProgressBar::new(total_steps));
        total.set_style(
            ProgressStyle::with_template(
                "total       [{bar:30}] {pos}/{len} env steps  {elapsed_precise} ETA {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        Self {
            multi: Some(multi),
            total: Some(total),
        }
    }

    /// A reporter for one job labelled `label`.
    pub fn job(&self, label: &str) -> Box<dyn Progress> {
        match &self.multi {
            Some(multi) => {
                let bar = multi.add(ProgressBar::new(1));
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix:<30} [{bar:30}] {pos}/{len} {msg} ETA {eta}",
                    )
                    .expect("valid template")
                    .progress_chars("=> "),
                );
                bar.set_prefix(label.to_string());
                Box::new(BarJob {
                    bar,
                    total: self.total.clone(),
                    last: Mutex::new(0),
                })
            }
            None => Box::new(LineJob {
                label: label.to_string(),
                last: Mutex::new(None),
            }),
        }
    }

    /// Prints a line above the bars (or plainly).
    pub fn println(&self, text: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(text);
            }
            None => println!("{text}"),
        }
    }

    /// Removes the bars.
    pub fn finish(&self) {
        if let Some(t) = &self.total {
            t.finish();
        }
    }
}

struct BarJob {
    bar: ProgressBar,
    total: Option<ProgressBar>,
    last: Mutex<u64>,
}

impl Progress for BarJob {
    fn start(&self, env_steps: u64, total: u64) {
        self.bar.set_length(total);
        self.bar.set_position(env_steps);
        *self.last.lock().expect("lock") = env_steps;
        if let Some(t) = &self.total {
            t.inc(env_steps);
        }
    }

    fn update(&self, env_steps: u64, steps_per_s: f64, mean_return: Option<f64>) {
        let mut last = self.last.lock().expect("lock");
        if let Some(t) = &self.total {
            t.inc(env_steps.saturating_sub(*last));
        }
        *last = env_steps;
        self.bar.set_position(env_steps);
        let ret = mean_return.map_or("-".to_string(), |r| format!("{r:.2}"));
        self.bar
            .set_message(format!("{steps_per_s:.0} steps/s, return {ret}"));
    }

    fn message(&self, text: &str) {
        self.bar.println(format!("{}: {text}", self.bar.prefix()));
    }

    fn finish(&self, text: &str) {
        self.bar.finish_with_message(text.to_string());
    }
}

struct LineJob {
    label: String,
    last: Mutex<Option<Instant>>,
}

impl Progress for LineJob {
    fn start(&self, env_steps: u64, total: u64) {
        println!("[{}] start at {env_steps}/{total} env steps", self.label);
    }

    fn update(&self, env_steps: u64, steps_per_s: f64, mean_return: Option<f64>) {
        let mut last = self.last.lock().expect("lock");
        if last.is_some_and(|t| t.elapsed() < Duration::from_secs(10)) {
            return;
        }
        *last = Some(Instant::now());
        let ret = mean_return.map_or("-".to_string(), |r| format!("{r:.2}"));
        println!(
            "[{}] {env_steps} env steps, {steps_per_s:.0} steps/s, mean return {ret}",
            self.label
        );
    }

    fn message(&self, text: &str) {
        println!("[{}] {text}", self.label);
    }

    fn finish(&self, text: &str) {
        println!("[{}] {text}", self.label);
    }
}
