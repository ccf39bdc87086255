//! Errors raised while loading a recipe: each names where the bad value came from (a file, an
//! environment variable, a `--set` argument, a sweep point), the key path, and what was expected.

use std::path::PathBuf;

use thiserror::Error;

use crate::recipe::legacy::MigrateError;

/// Everything that can go wrong turning a file (plus overrides) into a validated [`super::Recipe`].
#[derive(Debug, Error)]
pub enum RecipeError {
    /// The file could not be read.
    #[error("cannot read recipe {}: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The extension is neither `.toml` nor `.json`.
    #[error("{}: unsupported recipe extension {found:?}; expected .toml or .json", file.display())]
    Extension {
        /// The file.
        file: PathBuf,
        /// The extension found.
        found: String,
    },
    /// TOML or JSON syntax error.
    #[error("{}:{line}:{column}: {format} syntax error: {message}", file.display())]
    Syntax {
        /// The file.
        file: PathBuf,
        /// `TOML` or `JSON`.
        format: &'static str,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// A value does not fit the recipe's types (unknown key, wrong type, wrong length...).
    #[error("{origin}: key `{path}`: {message}")]
    Invalid {
        /// Where the value came from (file, environment variable, `--set`, sweep point).
        origin: String,
        /// Dotted key path, with list indices (`sequence.layers[1][0]`).
        path: String,
        /// What was found and what was expected.
        message: String,
    },
    /// A value has the right type but breaks a rule of the recipe (see `recipe::validate`).
    #[error("{origin}: key `{path}`: found {found}, expected {expected}")]
    Semantic {
        /// Where the value came from.
        origin: String,
        /// Dotted key path.
        path: String,
        /// The offending value.
        found: String,
        /// The rule.
        expected: String,
    },
    /// The `version` key is not one this runner can read.
    #[error("{}: key `version`: found {found}, expected a recipe format version from 1 to {supported}", file.display())]
    Version {
        /// The file.
        file: PathBuf,
        /// The version found.
        found: String,
        /// The newest version this runner reads.
        supported: u32,
    },
    /// A `--set` argument is not `KEY=VALUE`.
    #[error("--set {arg:?}: expected KEY=VALUE with a dotted recipe key, e.g. ppo.clip=0.1")]
    SetSyntax {
        /// The argument.
        arg: String,
    },
    /// The sweep grid is malformed.
    #[error("{}: key `sweep.\"{axis}\"`: {message}", file.display())]
    Sweep {
        /// The file.
        file: PathBuf,
        /// The axis.
        axis: String,
        /// What is wrong.
        message: String,
    },
    /// The file is a legacy (Python) config that could not be converted.
    #[error(transparent)]
    Legacy(#[from] MigrateError),
}
