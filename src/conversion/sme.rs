//! ServiceMeshExtension as read: both apiVersions (maistra.io/v1 with an
//! object config, maistra.io/v1alpha1 with a string config), the status a
//! cluster dump carries, and every field the API knows (SPEC §1). Fields it
//! does not know are kept by name so that nothing is dropped silently.

use crate::yaml::{self, Mapping, Value};

pub const KIND: &str = "ServiceMeshExtension";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    V1,
    V1Alpha1,
}

impl ApiVersion {
    pub fn parse(s: &str) -> Option<ApiVersion> {
        match s {
            "maistra.io/v1" => Some(ApiVersion::V1),
            "maistra.io/v1alpha1" => Some(ApiVersion::V1Alpha1),
            _ => None,
        }
    }
}

/// `spec.config` in its three shapes.
#[derive(Debug, Clone, PartialEq)]
pub enum Config {
    Absent,
    Object(Mapping),
    /// v1alpha1's string form (or a v1 value that is not a mapping).
    Text(String),
    /// A value that is neither a mapping nor a string.
    Other(Value),
}

impl From<Value> for Config {
    fn from(v: Value) -> Config {
        match v {
            Value::Null => Config::Absent,
            Value::Mapping(m) => Config::Object(m),
            Value::String(s) => Config::Text(s),
            other => Config::Other(other),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Status {
    pub phase: Option<String>,
    pub priority: Option<i64>,
    pub ready: Option<bool>,
}

/// A ServiceMeshExtension, as the user wrote it (or the cluster returned it).
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceMeshExtension {
    pub api_version: ApiVersion,
    pub name: String,
    pub namespace: Option<String>,
    pub labels: Mapping,
    pub annotations: Mapping,
    pub image: Option<String>,
    pub image_pull_policy: Option<String>,
    pub image_pull_secrets: Vec<String>,
    /// Label selector in the order written; empty selects every workload.
    pub selector: Vec<(String, String)>,
    pub phase: Option<String>,
    /// Priority as written; may exceed int32, which conversion checks.
    pub priority: Option<i64>,
    pub config: Config,
    pub status: Option<Status>,
    /// Dotted paths of fields this tool does not carry over and that are not
    /// server-set noise: each gets a notification.
    pub unknown_fields: Vec<String>,
    /// Dotted paths of fields that had the wrong type: each is an error.
    pub invalid_fields: Vec<(String, String)>,
}

/// metadata fields the API server sets; dropping them is expected (SPEC §3).
pub const SERVER_SET_METADATA: [&str; 7] = [
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "ownerReferences",
    "selfLink",
];

pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// True when the object is a ServiceMeshExtension of an apiVersion Maistra
/// served (`maistra.io/v1` or `maistra.io/v1alpha1`).
pub fn is_sme(value: &Value) -> bool {
    kind_of(value) == Some(KIND) && ApiVersion::parse(api_version_of(value)).is_some()
}

/// True when the object is of kind ServiceMeshExtension under any other
/// apiVersion (`remaining::unknown_group` says why it is not converted).
pub fn is_other_sme(value: &Value) -> bool {
    kind_of(value) == Some(KIND) && ApiVersion::parse(api_version_of(value)).is_none()
}

/// The apiVersion as written, or "" (also for one that is not a string).
pub fn api_version_of(value: &Value) -> &str {
    value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub fn kind_of(value: &Value) -> Option<&str> {
    value.get("kind").and_then(Value::as_str)
}

/// `namespace/name` or `name`, for notifications.
pub fn object_name(value: &Value) -> String {
    let meta = value.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("<unnamed>");
    match meta
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
    {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
}

fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl ServiceMeshExtension {
    /// The identity used in notifications.
    pub fn object(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }

    /// Read an SME from a parsed object. Errors are for objects that cannot
    /// be read at all (no name, unknown apiVersion); field-level problems are
    /// collected in `invalid_fields` so that all of them are reported.
    pub fn from_value(value: &Value) -> Result<ServiceMeshExtension, String> {
        let root = value
            .as_mapping()
            .ok_or("a ServiceMeshExtension must be a mapping")?;
        let av = root.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let api_version = ApiVersion::parse(av).ok_or_else(|| {
            format!("apiVersion {av:?} is not maistra.io/v1 or maistra.io/v1alpha1")
        })?;
        let mut sme = ServiceMeshExtension {
            api_version,
            name: String::new(),
            namespace: None,
            labels: Mapping::new(),
            annotations: Mapping::new(),
            image: None,
            image_pull_policy: None,
            image_pull_secrets: Vec::new(),
            selector: Vec::new(),
            phase: None,
            priority: None,
            config: Config::Absent,
            status: None,
            unknown_fields: Vec::new(),
            invalid_fields: Vec::new(),
        };
        for (k, v) in root {
            match &*yaml::key_str(k) {
                "apiVersion" | "kind" => {}
                "metadata" => sme.read_metadata(v)?,
                "spec" => sme.read_spec(v),
                "status" => sme.read_status(v),
                other => sme.unknown_fields.push(other.to_string()),
            }
        }
        if sme.name.is_empty() {
            return Err("metadata.name is missing".into());
        }
        Ok(sme)
    }

    /// As `from_value`, moving `spec.config` out of `value` (it is left
    /// null) instead of copying it.
    pub fn from_value_taking_config(value: &mut Value) -> Result<ServiceMeshExtension, String> {
        let config = value
            .get_mut("spec")
            .and_then(|spec| spec.get_mut("config"))
            .map(std::mem::take);
        let mut sme = ServiceMeshExtension::from_value(value)?;
        if let Some(config) = config {
            sme.config = Config::from(config);
        }
        Ok(sme)
    }

    fn invalid(&mut self, path: &str, why: impl Into<String>) {
        self.invalid_fields.push((path.to_string(), why.into()));
    }

    fn read_metadata(&mut self, v: &Value) -> Result<(), String> {
        let m = v.as_mapping().ok_or("metadata must be a mapping")?;
        for (k, v) in m {
            let key = yaml::key_str(k);
            match &*key {
                "name" => self.name = as_string(v).ok_or("metadata.name must be a string")?,
                "namespace" => self.namespace = as_string(v),
                "labels" => match v {
                    Value::Mapping(l) => self.labels = l.clone(),
                    Value::Null => {}
                    _ => self.invalid("metadata.labels", "must be a mapping"),
                },
                "annotations" => match v {
                    Value::Mapping(a) => {
                        self.annotations = a.clone();
                        self.annotations.remove(LAST_APPLIED);
                    }
                    Value::Null => {}
                    _ => self.invalid("metadata.annotations", "must be a mapping"),
                },
                k if SERVER_SET_METADATA.contains(&k) => {}
                other => self.unknown_fields.push(format!("metadata.{other}")),
            }
        }
        Ok(())
    }

    fn read_spec(&mut self, v: &Value) {
        let m = match v {
            Value::Mapping(m) => m,
            Value::Null => return,
            _ => return self.invalid("spec", "must be a mapping"),
        };
        for (k, v) in m {
            let key = yaml::key_str(k);
            match &*key {
                "image" => match as_string(v) {
                    Some(s) => self.image = Some(s),
                    None if v.is_null() => {}
                    None => self.invalid("spec.image", "must be a string"),
                },
                "imagePullPolicy" => match as_string(v) {
                    Some(s) => self.image_pull_policy = Some(s),
                    None if v.is_null() => {}
                    None => self.invalid("spec.imagePullPolicy", "must be a string"),
                },
                "imagePullSecrets" => self.read_pull_secrets(v),
                "workloadSelector" => self.read_selector(v),
                "phase" => match as_string(v) {
                    Some(s) => self.phase = Some(s),
                    None if v.is_null() => {}
                    None => self.invalid("spec.phase", "must be a string"),
                },
                "priority" => match v {
                    Value::Number(n) => match n.as_i64() {
                        Some(i) => self.priority = Some(i),
                        None => self.invalid(
                            "spec.priority",
                            format!("{n} is not a whole number that fits in 64 bits"),
                        ),
                    },
                    Value::Null => {}
                    _ => self.invalid("spec.priority", "must be a whole number"),
                },
                "config" => self.config = Config::from(v.clone()),
                other => self.unknown_fields.push(format!("spec.{other}")),
            }
        }
    }

    fn read_pull_secrets(&mut self, v: &Value) {
        let seq = match v {
            Value::Sequence(s) => s,
            Value::Null => return,
            _ => return self.invalid("spec.imagePullSecrets", "must be a list of {name: SECRET}"),
        };
        for item in seq {
            match item.get("name").and_then(as_string_ref) {
                Some(name) => self.image_pull_secrets.push(name),
                None => self.invalid("spec.imagePullSecrets", "every item must be {name: SECRET}"),
            }
        }
    }

    fn read_selector(&mut self, v: &Value) {
        let m = match v {
            Value::Mapping(m) => m,
            Value::Null => return,
            _ => return self.invalid("spec.workloadSelector", "must be a mapping with labels"),
        };
        for (k, v) in m {
            match &*yaml::key_str(k) {
                "labels" => match v {
                    Value::Mapping(labels) => {
                        for (lk, lv) in labels {
                            match as_string(lv) {
                                Some(val) => self.selector.push((yaml::key_string(lk), val)),
                                None => self.invalid(
                                    "spec.workloadSelector.labels",
                                    format!(
                                        "label {} must have a string value",
                                        yaml::key_string(lk)
                                    ),
                                ),
                            }
                        }
                    }
                    Value::Null => {}
                    _ => self.invalid("spec.workloadSelector.labels", "must be a mapping"),
                },
                other => self
                    .unknown_fields
                    .push(format!("spec.workloadSelector.{other}")),
            }
        }
    }

    fn read_status(&mut self, v: &Value) {
        let Some(m) = v.as_mapping() else { return };
        let mut status = Status::default();
        if let Some(p) = m.get("phase").and_then(as_string_ref) {
            status.phase = Some(p);
        }
        if let Some(p) = m.get("priority").and_then(Value::as_i64) {
            status.priority = Some(p);
        }
        if let Some(r) = m
            .get("deployment")
            .and_then(|d| d.get("ready"))
            .and_then(Value::as_bool)
        {
            status.ready = Some(r);
        }
        self.status = Some(status);
    }
}

fn as_string_ref(v: &Value) -> Option<String> {
    as_string(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> ServiceMeshExtension {
        ServiceMeshExtension::from_value(&yaml::parse(text).unwrap()).unwrap()
    }

    #[test]
    fn reads_every_field() {
        let s = read(
            "apiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata:\n  name: a\n  namespace: ns\n  uid: x\n  finalizers: [f]\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{}'\n    keep: me\nspec:\n  image: i\n  imagePullPolicy: Never\n  imagePullSecrets: [{name: s1}, {name: s2}]\n  workloadSelector:\n    labels: {app: x}\n  phase: PreAuthZ\n  priority: 7\n  config: {k: v}\n  extra: 1\nstatus:\n  phase: PostAuthZ\n  priority: 3\n  deployment: {ready: false}\n",
        );
        assert_eq!(s.object(), "ns/a");
        assert_eq!(s.image_pull_secrets, vec!["s1", "s2"]);
        assert_eq!(s.selector, vec![("app".to_string(), "x".to_string())]);
        assert_eq!(s.annotations.len(), 1);
        assert_eq!(s.unknown_fields, vec!["metadata.finalizers", "spec.extra"]);
        let st = s.status.unwrap();
        assert_eq!(
            (st.phase.as_deref(), st.priority, st.ready),
            (Some("PostAuthZ"), Some(3), Some(false))
        );
    }

    #[test]
    fn taking_the_config_reads_the_same_sme() {
        for config in ["{k: [v, {x: 1}]}", "'{\"a\": 1}'", "[1]", "null", "~"] {
            let text = format!("apiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata: {{name: a}}\nspec:\n  image: i\n  config: {config}\n");
            let mut value = yaml::parse(&text).unwrap();
            let copied = ServiceMeshExtension::from_value(&value).unwrap();
            let taken = ServiceMeshExtension::from_value_taking_config(&mut value).unwrap();
            assert_eq!(copied, taken);
        }
        let mut value = yaml::parse("apiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata: {name: a}\nspec: [x]\n").unwrap();
        assert_eq!(
            ServiceMeshExtension::from_value(&value),
            ServiceMeshExtension::from_value_taking_config(&mut value)
        );
    }

    #[test]
    fn wrong_types_are_collected() {
        let s = read("apiVersion: maistra.io/v1alpha1\nkind: ServiceMeshExtension\nmetadata: {name: a}\nspec:\n  priority: high\n  imagePullSecrets: s\n");
        assert_eq!(s.invalid_fields.len(), 2);
        assert_eq!(s.api_version, ApiVersion::V1Alpha1);
    }
}
