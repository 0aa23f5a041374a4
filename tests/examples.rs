//! The Sonobuoy plugin examples in examples/sonobuoy must keep working: every variable set
//! on the toss container is a setting toss knows, toss's own parser accepts the whole set,
//! and the volumes line up (the plugin writes where toss reads; toss writes where the worker
//! reads). A renamed setting cannot silently break an example.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;

use toss::settings::{self, Command, HostFacts, SPECS};

/// Read by the HTTP client, not settings of toss's own.
const PROXY_VARS: &[&str] = &["HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "ALL_PROXY"];

fn plugins() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/sonobuoy");
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| fs::read_to_string(p).unwrap().contains("sonobuoy-config:"))
        .collect();
    files.sort();
    files
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The `env:` list under the first line matching `anchor`: name -> literal value, or
/// `None` for `valueFrom`.
fn env_after(text: &str, anchor: &str) -> HashMap<String, Option<String>> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim() == anchor)
        .unwrap_or_else(|| panic!("no {anchor:?}"));
    let env_at = (start..lines.len())
        .find(|&i| lines[i].trim() == "env:")
        .expect("an env: list");
    let base = indent(lines[env_at]);
    let mut env = HashMap::new();
    let mut i = env_at + 1;
    while i < lines.len()
        && (lines[i].trim().is_empty()
            || lines[i].trim_start().starts_with('#')
            || indent(lines[i]) > base)
    {
        if let Some(name) = lines[i].trim().strip_prefix("- name: ") {
            let next = lines.get(i + 1).map(|l| l.trim()).unwrap_or("");
            let value = next
                .strip_prefix("value: ")
                .map(|v| v.trim_matches('"').to_string());
            env.insert(name.to_string(), value);
        }
        i += 1;
    }
    env
}

/// `mountPath` of the volume `name` in the block after `anchor`.
fn mount_after(text: &str, anchor: &str, volume: &str) -> Option<String> {
    let after = &text[text.find(anchor)?..];
    let at = after.find(&format!("- name: {volume}\n"))?;
    let rest = &after[at..];
    let line = rest.lines().nth(1)?.trim();
    line.strip_prefix("mountPath: ").map(str::to_string)
}

#[test]
fn every_example_sets_only_settings_toss_accepts() {
    let known: Vec<&str> = SPECS.iter().flat_map(|s| s.env.iter().copied()).collect();
    assert!(plugins().len() >= 5, "{:?}", plugins());
    for file in plugins() {
        let text = fs::read_to_string(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let env = env_after(&text, "- name: toss");
        assert!(!env.is_empty(), "{name}: no env on the toss container");
        for var in env.keys() {
            assert!(
                known.contains(&var.as_str()) || PROXY_VARS.contains(&var.as_str()),
                "{name}: {var} is not a toss setting"
            );
        }
        // toss's own parser takes the set; values from the downward API or a Secret are
        // stand-ins here.
        let values: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.clone().unwrap_or_else(|| "from-the-cluster".into()),
                )
            })
            .collect();
        let parsed = settings::parse(&[], &|k| values.get(k).cloned(), &HostFacts::default());
        match parsed {
            Ok((Command::Sidecar, Some(_))) => {}
            other => panic!("{name}: toss refuses these settings: {:?}", other.err()),
        }
    }
}

#[test]
fn every_example_wires_the_plugin_toss_and_the_worker_together() {
    for file in plugins() {
        let text = fs::read_to_string(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let toss = env_after(&text, "- name: toss");
        let plugin = env_after(&text, "name: plugin");
        let read = toss["READ_RESULTS_DIR"].clone().unwrap();
        let write = toss["WRITE_RESULTS_DIR"].clone().unwrap();
        assert_eq!(
            write, "/tmp/sonobuoy/results",
            "{name}: toss must write where the worker reads"
        );
        assert_eq!(
            mount_after(&text, "- name: toss", "results").as_deref(),
            Some("/tmp/sonobuoy/results"),
            "{name}: toss must mount the worker's `results` volume"
        );
        for var in ["RESULTS_DIR", "SONOBUOY_RESULTS_DIR"] {
            assert_eq!(
                plugin[var].as_deref(),
                Some(read.as_str()),
                "{name}: the plugin must write where toss reads"
            );
        }
        // The same volume, at the same path, in both containers: the done file names paths.
        let volume = text[text.find("name: plugin").unwrap()..]
            .lines()
            .skip_while(|l| l.trim() != "volumeMounts:")
            .nth(1)
            .and_then(|l| l.trim().strip_prefix("- name: "))
            .unwrap()
            .to_string();
        assert_eq!(
            mount_after(&text, "name: plugin", &volume).as_deref(),
            Some(read.as_str()),
            "{name}"
        );
        assert_eq!(
            mount_after(&text, "- name: toss", &volume).as_deref(),
            Some(read.as_str()),
            "{name}"
        );
    }
}
