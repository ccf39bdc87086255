//! README.md stays true to the command line and the recipe format: every `runner ...` command in
//! its code blocks and inline code (also written `cargo run --release -- ...`) names a subcommand
//! and flags the CLI has (checked against `runner <subcommand> --help`), every `--set key=...`
//! and every dotted recipe key it mentions (`env.depth.frame_spacing`) is a key of
//! `schemas/recipe.schema.json`, and every `recipes/*.toml` it names exists.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

const SECTIONS: [&str; 8] = [
    "experiment",
    "env",
    "encoder",
    "sequence",
    "head",
    "ppo",
    "backend",
    "logging",
];

/// What README writes for "some key" in a command synopsis (`--set k=v`).
const PLACEHOLDER_KEYS: [&str; 3] = ["k", "key", "KEY"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The texts of the fenced code blocks and of the inline code spans outside them.
fn code_texts(markdown: &str) -> Vec<String> {
    let mut texts = Vec::new();
    let mut block: Option<String> = None;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            match block.take() {
                Some(b) => texts.push(b),
                None => block = Some(String::new()),
            }
            continue;
        }
        if let Some(b) = block.as_mut() {
            b.push_str(line);
            b.push('\n');
            continue;
        }
        let mut parts = line.split('`');
        parts.next();
        while let (Some(span), Some(_)) = (parts.next(), parts.next()) {
            texts.push(span.to_string());
        }
    }
    texts
}

/// Shell-like words: whitespace-separated, single or double quotes grouping, `\|` (a pipe
/// escaped in a Markdown table) read as `|`.
fn words(line: &str) -> Vec<String> {
    let line = line.replace("\\|", "|");
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            (_, c) => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// The `runner` commands of the texts, as the words after `runner`.
fn runner_commands(texts: &[String]) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    for text in texts {
        // Join continuation lines.
        let joined = text.replace("\\\n", " ");
        for line in joined.lines() {
            let w = words(line);
            let start = match w.iter().map(String::as_str).collect::<Vec<_>>()[..] {
                ["runner", ..] | ["target/release/runner", ..] => 1,
                ["cargo", "run", "--release", "--", ..] => 4,
                _ => continue,
            };
            if w.len() > start {
                commands.push(w[start..].to_vec());
            }
        }
    }
    commands
}

/// `runner <args> --help`.
fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(args)
        .arg("--help")
        .output()
        .expect("run runner --help");
    assert!(out.status.success(), "runner {args:?} --help failed");
    String::from_utf8(out.stdout).expect("utf-8 help")
}

/// The subcommands `runner --help` lists.
fn subcommands() -> Vec<String> {
    help(&[])
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Whether `flag` (`--name` or `-x`) is an option in a help text.
fn help_has_flag(help: &str, flag: &str) -> bool {
    help.lines()
        .any(|l| l.split([',', ' ', '=']).any(|token| token == flag))
}

/// Follows a `$ref` into the schema's `$defs`.
fn deref<'a>(node: &'a Value, schema: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.trim_start_matches("#/$defs/");
            deref(&schema["$defs"][name], schema)
        }
        None => node,
    }
}

/// Whether the dotted `path` is a key below `node`.
fn schema_has(node: &Value, schema: &Value, path: &[&str]) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return true;
    };
    let node = deref(node, schema);
    for branches in ["allOf", "anyOf", "oneOf"] {
        if let Some(list) = node.get(branches).and_then(Value::as_array)
            && list.iter().any(|b| schema_has(b, schema, path))
        {
            return true;
        }
    }
    if let Some(child) = node.get("properties").and_then(|p| p.get(*first)) {
        return schema_has(child, schema, rest);
    }
    match node.get("additionalProperties") {
        Some(Value::Bool(true)) => true,
        Some(child @ Value::Object(_)) => schema_has(child, schema, rest),
        _ => false,
    }
}

/// The key path of a `--set` value or of a key mentioned in prose (`sequence.layers[1][0]`,
/// `env.friction = ...`): the dotted segments without indices.
fn key_path(text: &str) -> Vec<String> {
    let key = text.split(['=', ' ']).next().unwrap_or("").trim();
    key.split('.')
        .map(|s| s.split('[').next().unwrap_or("").to_string())
        .collect()
}

/// Whether an inline span names a recipe key: `section.key...`, optionally `= value`.
fn is_recipe_key(span: &str) -> bool {
    let key = span.split(['=', ' ']).next().unwrap_or("");
    let mut segments = key.split('.');
    let first = segments.next().unwrap_or("");
    SECTIONS.contains(&first)
        && key.contains('.')
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.[]".contains(c))
}

#[test]
fn every_command_flag_key_and_recipe_in_the_readme_exists() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schemas/recipe.schema.json")).expect("schema"),
    )
    .expect("schema JSON");
    let texts = code_texts(&readme);
    let commands = runner_commands(&texts);
    assert!(
        commands.len() >= 10,
        "README shows {} runner commands",
        commands.len()
    );
    let subcommands = subcommands();
    let mut helps: BTreeMap<String, String> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut keys = Vec::new();
    for command in &commands {
        let sub = &command[0];
        if sub.starts_with('<') {
            continue; // a placeholder: `runner <command>`
        }
        if !subcommands.contains(sub) {
            problems.push(format!(
                "`runner {}`: no subcommand `{sub}`",
                command.join(" ")
            ));
            continue;
        }
        let help = helps
            .entry(sub.clone())
            .or_insert_with(|| help(&[sub.as_str()]));
        let mut words = command.iter().skip(1).peekable();
        let mut previous = "";
        while let Some(word) = words.next() {
            let after_output = ["-o", "--output"].contains(&previous);
            previous = word.as_str();
            let word = word.trim_start_matches('[').trim_end_matches(']');
            if let Some(flag) = word
                .strip_prefix('-')
                .map(|_| word.split('=').next().unwrap())
            {
                if flag.len() > 1 && !help_has_flag(help, flag) {
                    problems.push(format!(
                        "`runner {}`: `{sub}` has no `{flag}`",
                        command.join(" ")
                    ));
                }
                if flag == "--set"
                    && let Some(value) = words.peek()
                    && !PLACEHOLDER_KEYS.contains(&key_path(value)[0].as_str())
                {
                    keys.push(value.trim_start_matches('[').to_string());
                }
            } else if word.ends_with(".toml")
                && word.starts_with("recipes/")
                && !after_output
                && !root().join(word).exists()
            {
                problems.push(format!("`runner {}`: no file {word}", command.join(" ")));
            }
        }
        // `runner bench nets|env|train|scan`: each alternative is a benchmark.
        if sub == "bench" {
            let what = command.get(1).map_or("", String::as_str);
            for what in what.split('|') {
                if !help.contains(&format!("- {what}:")) {
                    problems.push(format!("`runner bench {what}`: not a benchmark"));
                }
            }
        }
    }
    keys.extend(
        texts
            .iter()
            .filter(|t| !t.contains('\n') && is_recipe_key(t))
            .cloned(),
    );
    assert!(keys.len() >= 10, "README names {} recipe keys", keys.len());
    for key in &keys {
        let path = key_path(key);
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        if !schema_has(&schema, &schema, &path) {
            problems.push(format!(
                "recipe key `{}` (from `{key}`) is not in the schema",
                path.join(".")
            ));
        }
    }
    assert!(problems.is_empty(), "README.md:\n{}", problems.join("\n"));
}

#[test]
fn the_readme_checker_catches_what_does_not_exist() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schemas/recipe.schema.json")).expect("schema"),
    )
    .expect("schema JSON");
    let has = |k: &str| {
        let path = key_path(k);
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        schema_has(&schema, &schema, &path)
    };
    assert!(has("env.depth.frame_spacing"));
    assert!(has("sequence.layers[1][0]"));
    assert!(has("sequence.model=mamba"));
    assert!(has("sweep.anything"));
    assert!(!has("env.depth.nonsense"));
    assert!(!has("ppo.learning_rate"));
    let help = help(&["sweep"]);
    assert!(help_has_flag(&help, "--jobs"));
    assert!(!help_has_flag(&help, "--job"));
    let md = "Run `runner sweep recipes/quick.toml --jobs 2`.\n\n```sh\nrunner train R \\\n  --set a.b=1\n```\n";
    let commands = runner_commands(&code_texts(md));
    let want: Vec<Vec<String>> = [
        vec!["sweep", "recipes/quick.toml", "--jobs", "2"],
        vec!["train", "R", "--set", "a.b=1"],
    ]
    .iter()
    .map(|c| c.iter().map(|w| w.to_string()).collect())
    .collect();
    assert_eq!(commands, want);
    assert!(is_recipe_key("env.friction"));
    assert!(is_recipe_key("env.sphere_obstacles = \"thin\""));
    assert!(!is_recipe_key("runs/quick/summary.md"));
    assert!(!is_recipe_key("env"));
}
