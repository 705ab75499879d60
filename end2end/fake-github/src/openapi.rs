//! Checks JSON against GitHub's official OpenAPI description (`@octokit/openapi`,
//! `generated/api.github.com.json`): request bodies by operationId, responses, and webhook
//! payloads (`x-webhooks`). `$ref`s are inlined and OpenAPI 3.0's `nullable` turned into JSON
//! Schema before the `jsonschema` crate validates (draft 4, whose `exclusiveMinimum` is the
//! boolean OpenAPI 3.0 uses).

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Map, Value, json};

#[derive(Debug, thiserror::Error)]
pub enum OpenApiError {
    #[error("cannot read the OpenAPI description {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("the OpenAPI description {path} is not JSON: {source}")]
    Parse { path: String, source: serde_json::Error },
    #[error("no operation `{0}` in the OpenAPI description")]
    UnknownOperation(String),
    #[error("no webhook `{0}` in the OpenAPI description's x-webhooks")]
    UnknownWebhook(String),
    #[error("`{0}` has no application/json schema for that part")]
    NoJsonSchema(String),
    #[error("cannot resolve `{0}`")]
    BadRef(String),
    #[error("the schema of `{what}` does not compile: {message}")]
    Schema { what: String, message: String },
    #[error("{what} does not match GitHub's schema:\n  {}", problems.join("\n  "))]
    Invalid { what: String, problems: Vec<String> },
}

pub struct OpenApi {
    doc: Value,
}

/// OpenAPI-only keywords that mean nothing to a validator.
const DROPPED: [&str; 9] = [
    "nullable",
    "discriminator",
    "example",
    "examples",
    "readOnly",
    "writeOnly",
    "xml",
    "externalDocs",
    "deprecated",
];

impl OpenApi {
    pub fn load(path: &Path) -> Result<Self, OpenApiError> {
        let shown = path.display().to_string();
        let text = std::fs::read(path).map_err(|source| OpenApiError::Read {
            path: shown.clone(),
            source,
        })?;
        let doc = serde_json::from_slice(&text).map_err(|source| OpenApiError::Parse { path: shown, source })?;
        Ok(OpenApi { doc })
    }

    pub fn from_value(doc: Value) -> Self {
        OpenApi { doc }
    }

    fn operation(&self, operation_id: &str) -> Result<&Value, OpenApiError> {
        let paths = self.doc["paths"].as_object().into_iter().flat_map(|p| p.values());
        paths
            .filter_map(Value::as_object)
            .flat_map(|methods| methods.values())
            .find(|op| op["operationId"] == operation_id)
            .ok_or_else(|| OpenApiError::UnknownOperation(operation_id.into()))
    }

    fn deref<'a>(&'a self, v: &'a Value) -> Result<&'a Value, OpenApiError> {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => self.pointer(r),
            None => Ok(v),
        }
    }

    fn pointer(&self, r: &str) -> Result<&Value, OpenApiError> {
        let ptr = r.strip_prefix('#').ok_or_else(|| OpenApiError::BadRef(r.into()))?;
        self.doc.pointer(ptr).ok_or_else(|| OpenApiError::BadRef(r.into()))
    }

    fn json_schema_of(&self, what: &str, holder: &Value) -> Result<Value, OpenApiError> {
        let holder = self.deref(holder)?;
        let schema = holder
            .pointer("/content/application~1json/schema")
            .ok_or_else(|| OpenApiError::NoJsonSchema(what.into()))?;
        self.to_json_schema(schema, &mut vec![])
    }

    /// The JSON Schema of an operation's request body.
    pub fn request_schema(&self, operation_id: &str) -> Result<Value, OpenApiError> {
        let op = self.operation(operation_id)?;
        let body = op
            .get("requestBody")
            .ok_or_else(|| OpenApiError::NoJsonSchema(operation_id.into()))?;
        self.json_schema_of(operation_id, body)
    }

    /// The JSON Schema of an operation's response with this status.
    pub fn response_schema(&self, operation_id: &str, status: u16) -> Result<Value, OpenApiError> {
        let op = self.operation(operation_id)?;
        let response = op["responses"]
            .get(status.to_string())
            .ok_or_else(|| OpenApiError::NoJsonSchema(format!("{operation_id} {status}")))?;
        self.json_schema_of(operation_id, response)
    }

    /// The JSON Schema of a webhook payload; `name` is the `x-webhooks` key, e.g. `push`,
    /// `ping`, `pull-request-opened`.
    pub fn webhook_schema(&self, name: &str) -> Result<Value, OpenApiError> {
        let hook = self.doc["x-webhooks"]
            .get(name)
            .ok_or_else(|| OpenApiError::UnknownWebhook(name.into()))?;
        let body = hook
            .pointer("/post/requestBody")
            .ok_or_else(|| OpenApiError::UnknownWebhook(name.into()))?;
        self.json_schema_of(name, body)
    }

    pub fn validate_request(&self, operation_id: &str, body: &Value) -> Result<(), OpenApiError> {
        validate(
            &format!("request body of {operation_id}"),
            &self.request_schema(operation_id)?,
            body,
        )
    }

    pub fn validate_response(&self, operation_id: &str, status: u16, body: &Value) -> Result<(), OpenApiError> {
        let what = format!("{status} response of {operation_id}");
        validate(&what, &self.response_schema(operation_id, status)?, body)
    }

    pub fn validate_webhook(&self, name: &str, payload: &Value) -> Result<(), OpenApiError> {
        validate(
            &format!("`{name}` webhook payload"),
            &self.webhook_schema(name)?,
            payload,
        )
    }

    /// OpenAPI 3.0 schema → JSON Schema: inline `$ref`s (a cycle becomes `{}`, accepting
    /// anything), turn `nullable` into a `null` type, drop OpenAPI-only keywords, and read a
    /// `oneOf` with a `discriminator` as `anyOf` (the discriminator, not exclusivity, picks).
    fn to_json_schema(&self, schema: &Value, stack: &mut Vec<String>) -> Result<Value, OpenApiError> {
        let Some(obj) = schema.as_object() else {
            return Ok(schema.clone());
        };
        if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
            if stack.iter().any(|s| s == r) {
                return Ok(json!({}));
            }
            stack.push(r.to_string());
            let out = self.to_json_schema(self.pointer(r)?, stack);
            stack.pop();
            return out;
        }
        let mut out = Map::new();
        for (key, value) in obj {
            if DROPPED.contains(&key.as_str()) || key.starts_with("x-") {
                continue;
            }
            let converted = match key.as_str() {
                "properties" | "patternProperties" => {
                    let mut props = Map::new();
                    for (name, s) in value.as_object().into_iter().flatten() {
                        props.insert(name.clone(), self.to_json_schema(s, stack)?);
                    }
                    Value::Object(props)
                }
                "items" | "additionalProperties" | "not" if value.is_object() => self.to_json_schema(value, stack)?,
                "allOf" | "anyOf" | "oneOf" => Value::Array(
                    value
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|s| self.to_json_schema(s, stack))
                        .collect::<Result<_, _>>()?,
                ),
                _ => value.clone(),
            };
            let key = if key == "oneOf" && obj.contains_key("discriminator") {
                "anyOf"
            } else {
                key.as_str()
            };
            out.insert(key.to_string(), converted);
        }
        if obj.get("nullable") == Some(&Value::Bool(true)) {
            return Ok(nullable(out));
        }
        Ok(Value::Object(out))
    }

    /// A smaller description with only these operations and webhooks and what they refer to
    /// (examples left out), for a test fixture.
    pub fn subset(&self, operation_ids: &[&str], webhooks: &[&str]) -> Result<Value, OpenApiError> {
        let mut paths = Map::new();
        let mut refs = BTreeSet::new();
        for id in operation_ids {
            let op = self.operation(id)?;
            let (path, method) = self.doc["paths"]
                .as_object()
                .into_iter()
                .flatten()
                .find_map(|(p, methods)| {
                    let (m, _) = methods.as_object()?.iter().find(|(_, o)| std::ptr::eq(*o, op))?;
                    Some((p.clone(), m.clone()))
                })
                .expect("the operation was found in paths");
            let op = strip_examples(op);
            self.collect_refs(&op, &mut refs)?;
            let entry = paths.entry(path).or_insert_with(|| json!({}));
            entry[method] = op;
        }
        let mut hooks = Map::new();
        for name in webhooks {
            let hook = self.doc["x-webhooks"]
                .get(*name)
                .ok_or_else(|| OpenApiError::UnknownWebhook((*name).into()))?;
            let hook = strip_examples(hook);
            self.collect_refs(&hook, &mut refs)?;
            hooks.insert((*name).into(), hook);
        }
        let mut components = json!({});
        for r in &refs {
            let parts: Vec<&str> = r.trim_start_matches("#/").split('/').collect();
            if let ["components", kind, name] = parts[..] {
                components[kind][name] = strip_examples(self.pointer(r)?);
            }
        }
        Ok(json!({
            "openapi": self.doc["openapi"],
            "info": self.doc["info"],
            "paths": paths,
            "x-webhooks": hooks,
            "components": components
        }))
    }

    fn collect_refs(&self, v: &Value, refs: &mut BTreeSet<String>) -> Result<(), OpenApiError> {
        match v {
            Value::Object(o) => {
                if let Some(r) = o.get("$ref").and_then(Value::as_str)
                    && refs.insert(r.to_string())
                {
                    self.collect_refs(&strip_examples(self.pointer(r)?), refs)?;
                }
                o.values().try_for_each(|v| self.collect_refs(v, refs))
            }
            Value::Array(a) => a.iter().try_for_each(|v| self.collect_refs(v, refs)),
            _ => Ok(()),
        }
    }
}

/// Adds `null` to a converted schema's type (or enum); without a type, `anyOf` it with null.
fn nullable(mut schema: Map<String, Value>) -> Value {
    if let Some(values) = schema.get_mut("enum").and_then(Value::as_array_mut)
        && !values.contains(&Value::Null)
    {
        values.push(Value::Null);
    }
    match schema.get("type").cloned() {
        Some(Value::String(t)) => {
            schema.insert("type".into(), json!([t, "null"]));
            Value::Object(schema)
        }
        Some(Value::Array(mut types)) => {
            if !types.contains(&json!("null")) {
                types.push(json!("null"));
            }
            schema.insert("type".into(), Value::Array(types));
            Value::Object(schema)
        }
        _ => json!({"anyOf": [Value::Object(schema), {"type": "null"}]}),
    }
}

/// Drops `example`/`examples` (media-type examples refer to large example components).
fn strip_examples(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| *k != "examples" && *k != "example")
                .map(|(k, v)| {
                    // Property maps may name a property `example`; keep their keys.
                    let v = if k == "properties" {
                        Value::Object(
                            v.as_object()
                                .into_iter()
                                .flatten()
                                .map(|(n, s)| (n.clone(), strip_examples(s)))
                                .collect(),
                        )
                    } else {
                        strip_examples(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_examples).collect()),
        other => other.clone(),
    }
}

/// Validates `instance` against a (converted) JSON Schema, listing every problem with its path.
pub fn validate(what: &str, schema: &Value, instance: &Value) -> Result<(), OpenApiError> {
    let validator = jsonschema::draft4::options()
        .should_validate_formats(true)
        .build(schema)
        .map_err(|e| OpenApiError::Schema {
            what: what.into(),
            message: e.to_string(),
        })?;
    let problems: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| {
            let at = e.instance_path().as_str();
            format!("at `{}`: {e}", if at.is_empty() { "/" } else { at })
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(OpenApiError::Invalid {
            what: what.into(),
            problems,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The full file when `FAKE_GITHUB_OPENAPI` names it, else the fixture cut from it.
    fn spec() -> OpenApi {
        let path = std::env::var("FAKE_GITHUB_OPENAPI")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/openapi-subset.json").into());
        OpenApi::load(Path::new(&path)).expect("the OpenAPI fixture loads")
    }

    fn problems(result: Result<(), OpenApiError>) -> Vec<String> {
        match result {
            Err(OpenApiError::Invalid { problems, .. }) => problems,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn accepts_the_hook_sicuro_creates() {
        let body = json!({
            "name": "web", "active": true, "events": ["push", "pull_request"],
            "config": {"url": "http://127.0.0.1:3000/gh/webhook", "content_type": "json", "secret": "s3cret", "insecure_ssl": "0"}
        });
        spec().validate_request("repos/create-webhook", &body).unwrap();
    }

    #[test]
    fn rejects_unknown_keys_and_wrong_types_in_a_hook() {
        let spec = spec();
        let extra = json!({"name": "web", "config": {"url": "http://x/"}, "event": ["push"]});
        assert!(problems(spec.validate_request("repos/create-webhook", &extra))[0].contains("event"));
        let wrong_type = json!({"name": "web", "active": "yes", "config": {"url": "http://x/"}});
        assert!(problems(spec.validate_request("repos/create-webhook", &wrong_type))[0].contains("/active"));
        let events_not_list = json!({"events": "push", "config": {"url": "http://x/"}});
        assert!(problems(spec.validate_request("repos/create-webhook", &events_not_list))[0].contains("/events"));
    }

    #[test]
    fn accepts_a_status_with_null_description() {
        let body = json!({"state": "pending", "target_url": "http://127.0.0.1:3000/ci/a/b/c", "description": null, "context": "SicuroCI"});
        spec().validate_request("repos/create-commit-status", &body).unwrap();
    }

    #[test]
    fn rejects_a_status_without_state_or_with_an_unknown_one() {
        let spec = spec();
        let missing = json!({"context": "SicuroCI"});
        assert!(problems(spec.validate_request("repos/create-commit-status", &missing))[0].contains("state"));
        let unknown = json!({"state": "passed", "context": "SicuroCI"});
        assert!(problems(spec.validate_request("repos/create-commit-status", &unknown))[0].contains("/state"));
        let number = json!({"state": "success", "description": 42});
        assert!(problems(spec.validate_request("repos/create-commit-status", &number))[0].contains("/description"));
    }

    #[test]
    fn names_what_it_cannot_find() {
        let spec = spec();
        assert!(matches!(
            spec.request_schema("repos/no-such-thing"),
            Err(OpenApiError::UnknownOperation(_))
        ));
        assert!(matches!(
            spec.webhook_schema("no-such-event"),
            Err(OpenApiError::UnknownWebhook(_))
        ));
    }

    #[test]
    fn converts_nullable_refs_and_cycles() {
        let doc = json!({"components": {"schemas": {
            "node": {"type": "object", "properties": {"next": {"$ref": "#/components/schemas/node"}}},
            "maybe": {"type": "string", "nullable": true, "enum": ["a"]}
        }}});
        let api = OpenApi::from_value(doc);
        let node = api
            .to_json_schema(&json!({"$ref": "#/components/schemas/node"}), &mut vec![])
            .unwrap();
        assert_eq!(node, json!({"type": "object", "properties": {"next": {}}}));
        let maybe = api
            .to_json_schema(&json!({"$ref": "#/components/schemas/maybe"}), &mut vec![])
            .unwrap();
        assert_eq!(maybe, json!({"type": ["string", "null"], "enum": ["a", null]}));
    }
}
