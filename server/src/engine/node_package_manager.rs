//! Which package manager a Node project uses, as its own CI would: the `packageManager` field
//! of `package.json` (`"pnpm@10.28.0"`, Corepack's convention) or, without it, the lockfile it
//! commits (`pnpm-lock.yaml`, `yarn.lock`, else npm). Node 25+ ships no Corepack, so pnpm and
//! Yarn are installed from the npm registry (`npm install -g`) at the version the field names.

use serde::Deserialize;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PackageManager {
    Npm,
    /// The version `packageManager` names, if any.
    Pnpm(Option<String>),
    Yarn(Option<String>),
}

#[derive(Deserialize)]
struct PackageJson {
    #[serde(default, rename = "packageManager")]
    package_manager: Option<String>,
}

/// The package manager, from `package.json`'s contents (if read) and the root's file names.
pub fn detect(root_files: &[String], package_json: Option<&str>) -> PackageManager {
    let declared = package_json
        .and_then(|text| serde_json::from_str::<PackageJson>(text).ok())
        .and_then(|p| p.package_manager);
    if let Some(declared) = declared {
        // "pnpm@10.28.0+sha512.…": the name, then the version without Corepack's hash.
        let (name, version) = declared.split_once('@').unwrap_or((declared.as_str(), ""));
        let version = version.split('+').next().filter(|v| is_version(v)).map(str::to_string);
        match name {
            "pnpm" => return PackageManager::Pnpm(version),
            "yarn" => return PackageManager::Yarn(version),
            _ => {}
        }
    }
    let has = |name: &str| root_files.iter().any(|f| f == name);
    if has("pnpm-lock.yaml") {
        PackageManager::Pnpm(None)
    } else if has("yarn.lock") {
        PackageManager::Yarn(None)
    } else {
        PackageManager::Npm
    }
}

/// Only plain versions reach a shell command: digits, dots and a pre-release suffix.
fn is_version(v: &str) -> bool {
    !v.is_empty()
        && v.starts_with(|c: char| c.is_ascii_digit())
        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

impl PackageManager {
    /// The setup commands: the package manager itself when it is not npm, then the install
    /// (frozen to the lockfile when there is one, as CI runs it).
    pub fn setup(&self, root_files: &[String]) -> Vec<String> {
        let has = |name: &str| root_files.iter().any(|f| f == name);
        match self {
            Self::Npm if has("package-lock.json") || has("npm-shrinkwrap.json") => vec!["npm ci".into()],
            Self::Npm => vec!["npm install".into()],
            Self::Pnpm(version) => vec![
                format!("npm install -g pnpm@{}", version.as_deref().unwrap_or("latest")),
                if has("pnpm-lock.yaml") {
                    "pnpm install --frozen-lockfile".into()
                } else {
                    "pnpm install".into()
                },
            ],
            Self::Yarn(version) => {
                // Yarn 2+ ("berry") is published as @yarnpkg/cli-dist; `yarn` on npm is Yarn 1.
                let berry = version.as_deref().is_some_and(|v| !v.starts_with("1."));
                let install = match (version, berry) {
                    (Some(v), true) => format!("npm install -g @yarnpkg/cli-dist@{v}"),
                    (Some(v), false) => format!("npm install -g yarn@{v}"),
                    (None, _) => "npm install -g yarn".into(),
                };
                let frozen = if berry {
                    "yarn install --immutable"
                } else {
                    "yarn install --frozen-lockfile"
                };
                vec![
                    install,
                    if has("yarn.lock") {
                        frozen.into()
                    } else {
                        "yarn install".into()
                    },
                ]
            }
        }
    }

    pub fn test(&self) -> String {
        match self {
            Self::Npm => "npm test".into(),
            Self::Pnpm(_) => "pnpm test".into(),
            Self::Yarn(_) => "yarn test".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_package_manager_field_wins_then_the_lockfile() {
        let root = files(&["package.json", "pnpm-lock.yaml"]);
        let pm = detect(&root, Some(r#"{"packageManager": "pnpm@10.28.0+sha512.abc"}"#));
        assert_eq!(pm, PackageManager::Pnpm(Some("10.28.0".into())));
        assert_eq!(
            pm.setup(&root),
            ["npm install -g pnpm@10.28.0", "pnpm install --frozen-lockfile"]
        );
        assert_eq!(pm.test(), "pnpm test");
        assert_eq!(detect(&root, None), PackageManager::Pnpm(None));
        assert_eq!(detect(&root, None).setup(&root)[0], "npm install -g pnpm@latest");
        let yarn = files(&["package.json", "yarn.lock"]);
        assert_eq!(
            detect(&yarn, Some("{}")).setup(&yarn),
            ["npm install -g yarn", "yarn install --frozen-lockfile"]
        );
        let berry = detect(&yarn, Some(r#"{"packageManager": "yarn@4.5.1"}"#));
        assert_eq!(
            berry.setup(&yarn),
            ["npm install -g @yarnpkg/cli-dist@4.5.1", "yarn install --immutable"]
        );
        let npm = files(&["package.json", "package-lock.json"]);
        assert_eq!(detect(&npm, Some(r#"{"name": "x"}"#)).setup(&npm), ["npm ci"]);
        assert_eq!(detect(&npm, None).test(), "npm test");
    }

    #[test]
    fn a_version_that_is_not_plain_is_not_used() {
        let root = files(&["package.json"]);
        let pm = detect(&root, Some(r#"{"packageManager": "pnpm@9; rm -rf /"}"#));
        assert_eq!(pm, PackageManager::Pnpm(None));
        assert_eq!(detect(&root, Some("not json")), PackageManager::Npm);
    }
}
