//! The steps of a conversion, in the order [`super::convert`] runs them. Each reads the legacy
//! keys of one concern and writes recipe keys and notes into an [`Output`].

use std::path::Path;

use serde_json::{Map, Value, json};

use super::table::{self, Rule, TERRAINS};
use super::{Converted, Ctx, LegacyModel, MigrateError, MigrationReport, set};

/// The recipe value tree under construction and the report.
pub(super) struct Output {
    tree: Value,
    report: MigrationReport,
}

impl Output {
    /// An empty recipe of the current version, its experiment named after the file.
    pub(super) fn new(file: &Path) -> Self {
        let name = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("migrated")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>();
        Self {
            tree: json!({ "version": crate::recipe::CURRENT_VERSION, "experiment": { "name": name } }),
            report: MigrationReport {
                file: file.to_path_buf(),
                ..Default::default()
            },
        }
    }

    fn set(&mut self, key: &str, value: Value) {
        set(&mut self.tree, key, value);
    }

    fn note(&mut self, note: impl Into<String>) {
        self.report.notes.push(note.into());
    }

    /// The finished conversion.
    pub(super) fn finish(self) -> Converted {
        Converted {
            value: self.tree,
            report: self.report,
        }
    }
}

/// Whether the config renders depth images (`get_image`, absent = true); without them it is the
/// State-Only setup.
fn renders_images(ctx: &Ctx) -> Result<bool, MigrateError> {
    ctx.flag("env.env_build.get_image", true)
}

/// Refuses the original's MPC system, anything that is not an A1 ground config, and a config
/// without its `env` object (the environment's settings, `env.env_build...`).
pub(super) fn check_environment(ctx: &Ctx, legacy: &Value) -> Result<(), MigrateError> {
    match legacy.get("env") {
        Some(Value::Object(_)) => {}
        found => {
            let found = found.map_or("no `env` key".to_string(), Value::to_string);
            return Err(ctx.wrong_text(
                "env",
                &found,
                "an object holding the environment's settings (env_build, reward scales); \
                 without it the config describes no task",
            ));
        }
    }
    match ctx.get("env_name") {
        None => Ok(()),
        Some(v) if v == "A1MoveGround" => Ok(()),
        Some(v) if v == "A1MoveGroundMPC" => Err(MigrateError::MpcEnvironment {
            file: ctx.file.to_path_buf(),
        }),
        Some(v) => Err(ctx.unsupported(
            "env_name",
            v,
            "\"A1MoveGround\" (the joint-target A1 environment)",
        )),
    }
}

/// Copies the keys the table maps one to one, checks the required values, and collects the keys
/// with no counterpart.
pub(super) fn apply_table(ctx: &Ctx, out: &mut Output) -> Result<(), MigrateError> {
    for (key, value) in &ctx.flat {
        match table::rule(key) {
            Some(Rule::Copy(target)) => {
                out.set(target, value.clone());
                out.report.origins.push((target.to_string(), key.clone()));
            }
            Some(Rule::Require(expected)) => {
                let ok = match key.as_str() {
                    "env.env_build.motor_control_mode" => value == "POSITION",
                    "env.env_build.rgbd"
                    | "env.env_build.grayscale"
                    | "env.env_build.enable_action_interpolation"
                    | "env.env_build.enable_action_filter" => !ctx.bool(key, value)?,
                    "env.env_build.get_image_interval" => ctx.uint(key, value)? == 1,
                    other => unreachable!("no check written for required key {other}"),
                };
                if !ok {
                    return Err(ctx.unsupported(key, value, expected));
                }
            }
            Some(Rule::Special(_)) => {}
            None => out.report.unmapped.push((key.clone(), value.clone())),
        }
    }
    Ok(())
}

/// The displacement sensor (`no_displacement`, absent = false in the original's builder).
pub(super) fn observation(ctx: &Ctx, out: &mut Output) -> Result<(), MigrateError> {
    let key = "env.env_build.no_displacement";
    let displacement = !ctx.flag(key, false)?;
    out.set("env.displacement_in_obs", json!(displacement));
    if displacement {
        out.note(
            "no_displacement = false (or absent): the base displacement sensor is in the observation \
             (env.displacement_in_obs = true, 9 more values)",
        );
    }
    Ok(())
}

/// Depth: images on or off, normalisation, and the frame stacking keys.
pub(super) fn depth(ctx: &Ctx, out: &mut Output) -> Result<(), MigrateError> {
    let get_image = renders_images(ctx)?;
    let depth_image = ctx.flag("env.env_build.depth_image", true)?;
    if get_image && !depth_image {
        return Err(ctx.unsupported(
            "env.env_build.depth_image",
            "false with get_image = true",
            "true (depth images; RGB input is not built)",
        ));
    }
    if let Some(v) = ctx.get("env.env_build.depth_norm") {
        let transform = if ctx.bool("env.env_build.depth_norm", v)? {
            "log_sqrt"
        } else {
            "linear"
        };
        if get_image {
            out.set("env.depth.transform", json!(transform));
        }
    }
    let random = ctx.flag("env.env_build.reset_frame_idx", false)?;
    let fixed = ctx.flag("env.env_build.fixed_delay_observation", false)?;
    if random {
        out.set(
            "env.depth.frame_offsets",
            json!(if fixed { "fixed_delay" } else { "random" }),
        );
    }
    if fixed {
        out.set("env.fixed_latency", json!(true));
        out.note(
            "fixed_delay_observation: the control latency is fixed at 0.04 s (env.fixed_latency)",
        );
    }
    Ok(())
}

/// Friction: rapier has one coefficient; the spinning and rolling ones stay as a comment.
pub(super) fn friction(ctx: &Ctx, out: &mut Output) -> Result<(), MigrateError> {
    let path = "env.env_build.fric_coeff";
    let Some(v) = ctx.get(path) else {
        return Ok(());
    };
    let list = v
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ctx.wrong(path, v, "a list of friction coefficients"))?;
    let first = list[0]
        .as_f64()
        .ok_or_else(|| ctx.wrong(&format!("{path}[0]"), &list[0], "a number"))?;
    out.set("env.friction", json!(first));
    if list.len() > 1 {
        out.report
            .unmapped
            .push((format!("{path}[1..]"), Value::Array(list[1..].to_vec())));
    }
    Ok(())
}

/// Terrain, moving obstacles and the checks the original ties to terrains -> `env.task`.
pub(super) fn task(ctx: &Ctx, out: &mut Output) -> Result<(), MigrateError> {
    let terrain = match ctx.get("env.env_build.terrain_type") {
        None => {
            out.note("no env.env_build.terrain_type: using the flat task");
            "plane".to_string()
        }
        Some(Value::String(t)) => t.clone(),
        Some(other) => {
            return Err(ctx.wrong("env.env_build.terrain_type", other, "a terrain name string"));
        }
    };
    let Some((_, task)) = TERRAINS.iter().find(|(k, _)| *k == terrain) else {
        return Err(MigrateError::UnknownTerrain {
            file: ctx.file.to_path_buf(),
            found: terrain,
        });
    };
    let mut task = *task;
    if ctx.flag("env.env_build.moving", false)? {
        match task {
            "thin_obstacles" => task = "moving_obstacles",
            "heightfield" | "wide_obstacles" => out.set("env.moving", json!(true)),
            other => out.note(format!(
                "moving: true has no effect on the {other} terrain in the original; the obstacles stay put"
            )),
        }
    }
    if terrain == "mount" {
        out.set("env.check_contact", json!(true));
        out.note("terrain mount: the original forces check_contact on (env.check_contact = true)");
    }
    if terrain == "random_hill" {
        out.note(
            "terrain random_hill: the original's heightmap is not in its repository; the hill \
             task is a procedural stand-in of similar size",
        );
    }
    out.set("env.task", json!(task));
    Ok(())
}

/// Horizon: the collector's episode cap also limits episodes.
pub(super) fn horizon(ctx: &Ctx, out: &mut Output) -> Result<(), MigrateError> {
    let Some(v) = ctx.get("collector.max_episode_frames") else {
        return Ok(());
    };
    let cap = ctx.uint("collector.max_episode_frames", v)?;
    let horizon = match ctx.get("env.horizon") {
        Some(h) => ctx.uint("env.horizon", h)?,
        None => cap,
    };
    if cap != horizon {
        out.note(format!(
            "env.horizon = {} (the smaller of env.horizon {horizon} and collector.max_episode_frames {cap})",
            cap.min(horizon)
        ));
    }
    out.set("env.horizon", json!(cap.min(horizon)));
    Ok(())
}

/// The GAE switch.
pub(super) fn advantages(ctx: &Ctx, out: &mut Output) -> Result<(), MigrateError> {
    if !ctx.flag("general_setting.gae", true)? {
        out.set("ppo.gae_lambda", json!(1.0));
        out.note("general_setting.gae = false: ppo.gae_lambda = 1 (Monte-Carlo advantages)");
    }
    Ok(())
}

/// Budget: epochs x frames per epoch.
pub(super) fn budget(ctx: &Ctx, out: &mut Output) -> Result<(), MigrateError> {
    let Some(v) = ctx.get("general_setting.num_epochs") else {
        return Ok(());
    };
    let epochs = ctx.uint("general_setting.num_epochs", v)?;
    let frames = match ctx.get("collector.epoch_frames") {
        Some(f) => ctx.uint("collector.epoch_frames", f)?,
        None => crate::recipe::PpoConfig::default().rollout_steps as u64,
    };
    out.set("experiment.total_env_steps", json!(epochs * frames));
    Ok(())
}

/// Encoder: the state MLP (or the State-Only MLP), or none for vision-only configs.
pub(super) fn encoder(ctx: &Ctx, out: &mut Output) -> Result<(), MigrateError> {
    let state_only = !renders_images(ctx)?;
    let hidden = if state_only {
        ctx.get("net.hidden_shapes")
            .or_else(|| ctx.get("encoder.hidden_shapes"))
    } else {
        ctx.get("encoder.hidden_shapes")
    };
    let vision_only = hidden
        .and_then(Value::as_array)
        .is_none_or(|a| a.is_empty());
    if vision_only && !state_only {
        out.set("encoder.kind", json!("vision_only"));
        out.note("no encoder.hidden_shapes (no state MLP): a vision-only encoder");
    } else if let Some(h) = hidden {
        out.set("encoder.hidden_shapes", h.clone());
    }
    Ok(())
}

/// The network: the model `--model` names (State-Only whenever the config renders no images).
pub(super) fn network(
    ctx: &Ctx,
    out: &mut Output,
    requested: LegacyModel,
) -> Result<(), MigrateError> {
    let state_only = !renders_images(ctx)?;
    let model = if state_only {
        if requested != LegacyModel::StateOnly && requested != LegacyModel::default() {
            out.note(format!(
                "get_image = false: the State-Only model, whatever --model asked ({requested:?})"
            ));
        }
        LegacyModel::StateOnly
    } else {
        requested
    };
    let visual_dim = match ctx.get("encoder.visual_dim") {
        Some(v) => ctx.uint("encoder.visual_dim", v)?,
        None => {
            if !state_only {
                out.note("no encoder.visual_dim: using 256");
            }
            out.set("encoder.visual_dim", json!(256));
            256
        }
    };
    let transformer = ctx
        .get("net.transformer_params")
        .map(|t| ctx.layer_lists("net.transformer_params", t, 2))
        .transpose()?;
    let mamba = ctx
        .get("net.mamba_params")
        .map(|m| ctx.layer_lists("net.mamba_params", m, 4))
        .transpose()?;
    let sequence = match (model, mamba, transformer) {
        (LegacyModel::StateOnly, _, _) => {
            out.note("the State-Only baseline: an MLP on proprioception, no depth rendered");
            json!({ "model": "state_only" })
        }
        (LegacyModel::Concat, _, _) => {
            out.note(
                "the State-Depth-Concat baseline: state token and visual tokens concatenated, no fusion layers",
            );
            json!({ "model": "concat" })
        }
        (LegacyModel::Mamba | LegacyModel::Transformer, Some(layers), _) => {
            out.note(format!(
                "net.mamba_params: {} Mamba layers carried over as given",
                layers.len()
            ));
            json!({ "model": "mamba", "layers": layers })
        }
        (LegacyModel::Transformer, None, Some(layers)) => {
            out.note(format!(
                "net.transformer_params: {} Transformer layers kept (--model transformer)",
                layers.len()
            ));
            json!({ "model": "transformer", "layers": layers })
        }
        (LegacyModel::Mamba, None, Some(layers)) => {
            out.note(format!(
                "net.transformer_params: {} Transformer layers became Mamba layers [{visual_dim}, 16, 4, 2]; \
                 pass --model transformer to keep the Transformer",
                layers.len()
            ));
            let mamba: Vec<_> = layers
                .iter()
                .map(|_| json!([visual_dim, 16, 4, 2]))
                .collect();
            json!({ "model": "mamba", "layers": mamba })
        }
        (LegacyModel::Mamba | LegacyModel::Transformer, None, None) => {
            out.note("no net.transformer_params or net.mamba_params: default sequence model");
            Value::Object(Map::new())
        }
    };
    if sequence.as_object().is_some_and(|m| !m.is_empty()) {
        out.set("sequence", sequence);
    }
    let fused = matches!(model, LegacyModel::Mamba | LegacyModel::Transformer);
    if fused && ctx.get("net.transformer_params").is_some() {
        out.note(
            "the Python LocoTransformer ignored encoder.visual_dim and ran at token width 64; \
             set encoder.visual_dim = 64 (and d_model = 64 for Mamba) to reproduce it",
        );
    }
    Ok(())
}

/// The original's physics step, whatever `time_step_s` said.
pub(super) fn timing(ctx: &Ctx, out: &mut Output) -> Result<(), MigrateError> {
    if let Some(v) = ctx.get("env.env_build.time_step_s") {
        let dt = v
            .as_f64()
            .ok_or_else(|| ctx.wrong("env.env_build.time_step_s", v, "a number"))?;
        if (dt - 0.001).abs() > 1e-9 {
            out.note(format!(
                "the original stepped its physics at 1 ms whatever time_step_s ({dt}) said (its \
                 builder set a field the simulator never read), so a policy step lasted \
                 num_action_repeat ms of simulated time while its rewards divided by \
                 time_step_s x num_action_repeat; this recipe steps at env.time_step_s = {dt} as \
                 written; set env.time_step_s = 0.001 to reproduce the original's timing"
            ));
        }
    }
    Ok(())
}
