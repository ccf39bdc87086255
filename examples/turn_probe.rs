//! Can the gait prior steer? Trots 10 s on flat ground with a constant residual and prints the
//! heading change and the displacement, per seed with domain randomisation on: the steering a
//! policy could learn through `env.action_mode = "trot_residual"`. With `env.diagonal_act` the
//! 6 outputs drive the pairs FR=RL (0..3) and FL=RR (3..6); without, the 12 outputs drive FR, FL,
//! RR, RL in turn.
use locomamba::recipe::{ActionMode, EnvConfig, Task};
use locomamba::sim::Env;
use locomamba::sim::privileged::yaw_of;

fn heading_deg(env: &Env) -> f32 {
    yaw_of(&env.trunk_pose().rotation).to_degrees()
}

fn trial(c: &EnvConfig, seed: u64, action: &[f32]) -> (f32, f32, f32, bool) {
    let mut env = Env::new(c, seed, 1.0).expect("env");
    for _ in 0..250 {
        if env.step(action).terminated {
            let p = env.trunk_pose().translation;
            return (p.x, p.y, heading_deg(&env), true);
        }
    }
    let p = env.trunk_pose().translation;
    (p.x, p.y, heading_deg(&env), false)
}

fn report(name: &str, c: &EnvConfig, action: &[f32]) {
    let runs: Vec<_> = (0..4).map(|s| trial(c, 10 + s, action)).collect();
    let n = runs.len() as f32;
    let mean = |f: fn(&(f32, f32, f32, bool)) -> f32| runs.iter().map(f).sum::<f32>() / n;
    let falls = runs.iter().filter(|r| r.3).count();
    println!(
        "{name:>34}: x {:+.2} m, y {:+.2} m, heading {:+.1} deg (seeds: {}), {falls} falls",
        mean(|r| r.0),
        mean(|r| r.1),
        mean(|r| r.2),
        runs.iter()
            .map(|r| format!("{:+.0}", r.2))
            .collect::<Vec<_>>()
            .join(" ")
    );
}

fn main() {
    let diag = EnvConfig {
        task: Task::Flat,
        action_mode: ActionMode::TrotResidual,
        start_xy_range: 0.0,
        ..EnvConfig::default()
    };
    println!("diagonal action space (6 outputs), domain randomisation on, 10 s:");
    let mut cases: Vec<(String, [f32; 6])> = vec![("trot alone".into(), [0.0; 6])];
    for (j, joint) in ["abduction", "hip", "knee"].iter().enumerate() {
        for v in [0.1f32, 0.3, 1.0] {
            let mut a = [0.0; 6];
            a[j] = v;
            a[3 + j] = -v;
            cases.push((format!("{joint} FR=RL +{v}, FL=RR -{v}"), a));
            let mut b = [0.0; 6];
            b[j] = -v;
            b[3 + j] = v;
            cases.push((format!("{joint} FR=RL -{v}, FL=RR +{v}"), b));
        }
    }
    for (name, a) in &cases {
        report(name, &diag, a);
    }
    // The same trot started half a period later (pair FL + RR swings first): a drift that
    // comes from the gait's phase order flips sign, one from the simulator does not.
    let joint = EnvConfig {
        action_mode: ActionMode::JointTargets,
        ..diag.clone()
    };
    let trot = locomamba::sim::gait::Trot::from(&diag.trot);
    let half = (diag.trot.period_steps / 2.0).round() as usize;
    let drift = |shift: usize| {
        let runs: Vec<f32> = (0..4)
            .map(|s| {
                let mut env = Env::new(&joint, 10 + s, 1.0).expect("env");
                for t in 0..250 {
                    env.step(&trot.action(&joint, t + shift));
                }
                heading_deg(&env)
            })
            .collect();
        runs.iter().sum::<f32>() / 4.0
    };
    println!(
        "trot through joint targets: heading {:+.1} deg; started half a period later: {:+.1} deg",
        drift(0),
        drift(half)
    );
    // Where the heading changes: its course over a 40 s episode of the plain trot.
    let mut env = Env::new(&diag, 10, 1.0).expect("env");
    let mut course = Vec::new();
    for t in 1..=1000 {
        env.step(&[0.0; 6]);
        if [25, 50, 125, 250, 500, 750, 1000].contains(&t) {
            course.push(format!(
                "{:.0} s {:+.0}",
                t as f32 * 0.04,
                heading_deg(&env)
            ));
        }
    }
    println!("heading of the trot over 40 s (deg): {}", course.join(", "));
    let full = EnvConfig {
        diagonal_act: false,
        ..diag.clone()
    };
    println!("12 outputs (diagonal_act = false), left legs against right legs:");
    for v in [0.1f32, 0.3] {
        for (j, joint) in ["abduction", "hip"].iter().enumerate() {
            let mut a = [0.0; 12];
            // FR (0), FL (1), RR (2), RL (3): right legs +v, left legs -v.
            for (leg, sign) in [(0, 1.0), (1, -1.0), (2, 1.0), (3, -1.0)] {
                a[leg * 3 + j] = sign * v;
            }
            report(&format!("{joint} right +{v}, left -{v}"), &full, &a);
        }
    }
}
