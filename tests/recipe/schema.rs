//! The checked-in JSON Schema equals what `runner schema` prints, and documents every field.

use std::path::Path;

use locomamba::recipe::schema::schema_json;

#[test]
fn checked_in_schema_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/recipe.schema.json");
    let on_disk = std::fs::read_to_string(&path).expect("schemas/recipe.schema.json is checked in");
    assert!(
        on_disk == schema_json(),
        "schemas/recipe.schema.json is stale: regenerate it with `cargo run -- schema > schemas/recipe.schema.json`"
    );
}

#[test]
fn runner_schema_prints_the_schema() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_runner"))
        .arg("schema")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), schema_json());
}

/// Walks every object schema: each property must carry a description and (where the property is a
/// plain value rather than a whole section or tagged enum) a default.
fn check_properties(node: &serde_json::Value, path: &str, missing: &mut Vec<String>) {
    if let Some(obj) = node.as_object() {
        if let Some(props) = obj.get("properties").and_then(|p| p.as_object()) {
            for (name, prop) in props {
                let here = format!("{path}.{name}");
                if prop.get("description").is_none() {
                    missing.push(format!("{here}: description"));
                }
                // The `model` tag picks a variant (its default variant is the section's
                // default); a Mamba layer's `d_model` defaults to another key, encoder.visual_dim.
                let derived = name == "model" || name == "d_model";
                if !derived && prop.get("default").is_none() {
                    missing.push(format!("{here}: default"));
                }
            }
        }
        for (k, v) in obj {
            check_properties(v, &format!("{path}/{k}"), missing);
        }
    } else if let Some(list) = node.as_array() {
        for (i, v) in list.iter().enumerate() {
            check_properties(v, &format!("{path}[{i}]"), missing);
        }
    }
}

#[test]
fn every_field_has_a_description_and_default() {
    let schema: serde_json::Value = serde_json::from_str(&schema_json()).unwrap();
    let mut missing = Vec::new();
    check_properties(&schema, "", &mut missing);
    assert!(
        missing.is_empty(),
        "undocumented schema properties: {missing:#?}"
    );
}
