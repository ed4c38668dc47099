//! No input makes convert panic: arbitrary bytes, arbitrary YAML trees in
//! the shape of an SME, alias-expansion bombs and absurd nesting. Bombs and
//! nesting are refused with a clear error instead of being expanded.

use proptest::prelude::*;
use sme2wasm::conversion::convert::Options;
use sme2wasm::conversion::stream::{convert_inputs, Format, Input};
use sme2wasm::yaml::{self, Mapping, Value};

fn run(text: String) -> sme2wasm::conversion::stream::Outcome {
    let input = Input {
        name: "fuzz.yaml".into(),
        text: text.into(),
    };
    convert_inputs(&[input], &Options::default(), Format::Yaml, false)
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| Value::Number(i.into())),
        any::<f64>().prop_map(|f| Value::Number(f.into())),
        ".{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "PreAuthN",
            "PostAuthN",
            "PreAuthZ",
            "PostAuthZ",
            "PreStats",
            "PostStats",
            "Never",
            "maistra.io/v1",
            "maistra.io/v1alpha1",
            "ServiceMeshExtension",
            "{\"a\": 1}",
            "raw_v1alpha1_config",
            "istio-system",
            "ingressgateway",
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ]
}

fn tree() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Sequence),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "name",
                        "namespace",
                        "labels",
                        "annotations",
                        "image",
                        "phase",
                        "priority",
                        "config",
                        "workloadSelector",
                        "imagePullSecrets",
                        "imagePullPolicy",
                        "status",
                        "deployment",
                        "ready",
                        "x",
                    ]),
                    inner
                ),
                0..5
            )
            .prop_map(|kv| {
                let mut m = Mapping::new();
                for (k, v) in kv {
                    m.insert(Value::String(k.to_string()), v);
                }
                Value::Mapping(m)
            }),
        ]
    })
}

fn sme_like() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec![
            "maistra.io/v1",
            "maistra.io/v1alpha1",
            "maistra.io/v9",
        ]),
        tree(),
        tree(),
        tree(),
    )
        .prop_map(|(api, metadata, spec, status)| {
            let mut m = Mapping::new();
            m.insert("apiVersion".into(), api.into());
            m.insert("kind".into(), "ServiceMeshExtension".into());
            m.insert("metadata".into(), metadata);
            m.insert("spec".into(), spec);
            m.insert("status".into(), status);
            Value::Mapping(m)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let text = format!("kind: ServiceMeshExtension\n{}", String::from_utf8_lossy(&bytes));
        let _ = run(text);
    }

    #[test]
    fn arbitrary_sme_trees_never_panic(docs in prop::collection::vec(sme_like(), 1..4)) {
        let text: String = docs.iter().map(|d| format!("---\n{}", yaml::emit(d))).collect();
        let out = run(text);
        // Whatever was written parses back.
        for doc in yaml::split_documents(&out.output) {
            if !doc.is_blank() {
                prop_assert!(yaml::parse(doc.text).is_ok(), "{}", doc.text);
            }
        }
    }
}

#[test]
fn alias_bomb_is_refused_with_a_clear_error() {
    let mut text = String::from("apiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata: {name: bomb}\nspec:\n  config:\n    a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        text.push_str(&format!(
            "    a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let out = run(text);
    assert_eq!(out.unreadable, 1);
    assert!(
        out.notifications[0].message.contains("alias"),
        "{:?}",
        out.notifications
    );
}

#[test]
fn absurd_nesting_is_refused_with_a_clear_error() {
    let depth = 10_000;
    let text = format!(
        "kind: ServiceMeshExtension\nspec:\n  config: {}{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let out = run(text);
    assert_eq!(out.unreadable, 1);
    assert!(
        out.notifications[0].message.contains("nesting"),
        "{:?}",
        out.notifications
    );
}
