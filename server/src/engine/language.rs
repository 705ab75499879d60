//! Languages Sicuro has defaults for, detected from the files at the repository's root.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Language {
    Ruby,
    Node,
    Python,
    Go,
    Rust,
}

impl Language {
    pub const NAMES: &[&str] = &["ruby", "node", "python", "go", "rust"];

    pub fn name(self) -> &'static str {
        match self {
            Self::Ruby => "ruby",
            Self::Node => "node",
            Self::Python => "python",
            Self::Go => "go",
            Self::Rust => "rust",
        }
    }

    /// Our names, plus GitHub's language names (`Ruby`, `JavaScript`, `TypeScript`, …).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "ruby" => Some(Self::Ruby),
            "node" | "nodejs" | "javascript" | "typescript" => Some(Self::Node),
            "python" => Some(Self::Python),
            "go" | "golang" => Some(Self::Go),
            "rust" => Some(Self::Rust),
            _ => None,
        }
    }

    /// The job image for this language.
    pub fn image(self) -> &'static str {
        match self {
            Self::Ruby => "sicuro/ruby",
            Self::Node => "sicuro/node",
            Self::Python => "sicuro/python",
            Self::Go => "sicuro/go",
            Self::Rust => "sicuro/rust",
        }
    }

    /// Detects the language from the names of the files at the repository's root. When several
    /// marker files are present the first rule wins: `package.json` comes last because it so
    /// often sits beside another language's project for front-end tooling.
    pub fn detect(root_files: &[String]) -> Option<Self> {
        let has = |name: &str| root_files.iter().any(|f| f == name);
        if has("Gemfile") {
            Some(Self::Ruby)
        } else if has("go.mod") {
            Some(Self::Go)
        } else if has("Cargo.toml") {
            Some(Self::Rust)
        } else if has("pyproject.toml") || has("setup.py") || !requirements_files(root_files).is_empty() {
            Some(Self::Python)
        } else if has("package.json") {
            Some(Self::Node)
        } else {
            None
        }
    }
}

/// `requirements.txt`, `requirements-dev.txt`, … in name order.
pub fn requirements_files(root_files: &[String]) -> Vec<&str> {
    let mut files: Vec<&str> = root_files
        .iter()
        .map(String::as_str)
        .filter(|f| f.starts_with("requirements") && f.ends_with(".txt"))
        .collect();
    files.sort_unstable();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn detects_each_language_from_its_marker() {
        assert_eq!(Language::detect(&files(&["Gemfile", "Rakefile"])), Some(Language::Ruby));
        assert_eq!(Language::detect(&files(&["package.json"])), Some(Language::Node));
        assert_eq!(Language::detect(&files(&["pyproject.toml"])), Some(Language::Python));
        assert_eq!(Language::detect(&files(&["setup.py"])), Some(Language::Python));
        assert_eq!(
            Language::detect(&files(&["requirements-dev.txt"])),
            Some(Language::Python)
        );
        assert_eq!(Language::detect(&files(&["go.mod", "main.go"])), Some(Language::Go));
        assert_eq!(Language::detect(&files(&["Cargo.toml"])), Some(Language::Rust));
        assert_eq!(Language::detect(&files(&["README.md"])), None);
    }

    #[test]
    fn package_json_beside_another_project_is_tooling() {
        assert_eq!(
            Language::detect(&files(&["package.json", "Gemfile"])),
            Some(Language::Ruby)
        );
        assert_eq!(
            Language::detect(&files(&["package.json", "Cargo.toml"])),
            Some(Language::Rust)
        );
    }

    #[test]
    fn github_language_names_map_to_ours() {
        assert_eq!(Language::parse("JavaScript"), Some(Language::Node));
        assert_eq!(Language::parse("TypeScript"), Some(Language::Node));
        assert_eq!(Language::parse("Go"), Some(Language::Go));
        assert_eq!(Language::parse("Haskell"), None);
    }
}
