use std::fs;

use super::*;

const KEY: &str = "1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";

fn minimal() -> String {
    format!(
        "name = \"node-1\"\ndata_dir = \"data\"\n\n[[job_distributors]]\nuri = \"jd.example.com:8080\"\npublic_key = \"{KEY}\"\n"
    )
}

/// Writes `text` as `node.toml` in a fresh directory and loads it.
fn load(text: &str) -> (tempfile::TempDir, Result<NodeConfig, ConfigError>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    fs::write(&path, text).unwrap();
    let loaded = NodeConfig::load(&path);
    (dir, loaded)
}

fn error_of(text: &str) -> String {
    let (_dir, loaded) = load(text);
    let error = loaded.unwrap_err().to_string();
    assert_eq!(error.lines().count(), 1, "one line: {error}");
    error
}

#[test]
fn a_minimal_config_gets_the_defaults_and_an_absolute_data_dir() {
    let (dir, loaded) = load(&minimal());
    let config = loaded.unwrap();
    assert_eq!(config.name.as_str(), "node-1");
    assert_eq!(config.data_dir, dir.path().join("data"));
    assert_eq!(config.api.listen, "127.0.0.1:6688".parse().unwrap());
    assert_eq!(config.approval.policy, ApprovalPolicy::Manual);
    assert_eq!(config.job_distributors.len(), 1);
    assert_eq!(
        config.job_distributors[0].uri.as_str(),
        "jd.example.com:8080"
    );
    assert_eq!(config.job_distributors[0].public_key.to_string(), KEY);
    assert!(config.chains.is_empty());
}

#[test]
fn an_absolute_data_dir_is_kept() {
    let text = minimal().replace("\"data\"", "\"/var/lib/offchain-node\"");
    let (_dir, loaded) = load(&text);
    assert_eq!(
        loaded.unwrap().data_dir,
        Path::new("/var/lib/offchain-node")
    );
}

#[test]
fn every_section_is_read() {
    let text = format!(
        "{}\n[api]\nlisten = \"0.0.0.0:7000\"\n\n[approval]\npolicy = \"auto\"\n\n\
         [[chains]]\nid = \"11155111\"\ntype = \"evm\"\naccount_address = \"0xabc\"\n\
         admin_address = \"0xdef\"\n[chains.flux_monitor_config]\nenabled = true\n\
         [chains.ocr2_config]\nenabled = true\nis_bootstrap = false\nforwarder_address = \"0x1\"\n\
         plugins = {{ median = true }}\n",
        minimal()
    );
    let config = NodeConfig::parse(&text).unwrap();
    assert_eq!(config.api.listen, "0.0.0.0:7000".parse().unwrap());
    assert_eq!(config.approval.policy, ApprovalPolicy::Auto);
    let chain = &config.chains[0];
    assert_eq!(chain.id.as_str(), "11155111");
    assert_eq!(chain.chain_type, ChainType::Evm);
    assert_eq!(chain.admin_address.as_ref().unwrap().as_str(), "0xdef");
    assert_eq!(
        chain.flux_monitor_config,
        Some(FluxMonitorConfig { enabled: true })
    );
    assert_eq!(chain.ocr1_config, None);
    let ocr2 = chain.ocr2_config.as_ref().unwrap();
    assert!(ocr2.enabled && ocr2.plugins.median && !ocr2.plugins.commit);
    assert_eq!(ocr2.forwarder_address.as_ref().unwrap().as_str(), "0x1");
}

#[test]
fn a_bad_value_is_one_line_with_file_line_column_and_key() {
    let text = minimal().replace(KEY, "abc");
    let error = error_of(&text);
    assert!(error.contains("node.toml:6:14: "), "{error}");
    assert!(
        error.ends_with("job_distributors[0].public_key: expected 64 hex characters"),
        "{error}"
    );
}

#[test]
fn unknown_keys_are_refused_by_name() {
    let error = error_of(&format!("{}\n[api]\nlisten_on = \"x\"\n", minimal()));
    assert!(error.contains("node.toml:9:1: "), "{error}");
    assert!(error.contains("unknown field `listen_on`"), "{error}");
    let error = error_of(&format!("colour = \"blue\"\n{}", minimal()));
    assert!(error.contains("unknown field `colour`"), "{error}");
}

#[test]
fn bad_values_name_their_keys() {
    let cases = [
        (
            minimal().replace("jd.example.com:8080", "wss://jd:80"),
            "job_distributors[0].uri: expected host:port without a scheme",
        ),
        (
            format!("{}[approval]\npolicy = \"sometimes\"\n", minimal()),
            "approval.policy: unknown variant `sometimes`",
        ),
        (
            format!("{}[api]\nlisten = \"nowhere\"\n", minimal()),
            "api.listen: ",
        ),
        (
            minimal().replace("\"node-1\"", "\"\""),
            "name: must not be empty",
        ),
        (
            minimal().replace("\"node-1\"", &format!("\"{}\"", "n".repeat(300))),
            "name: at most 255 bytes",
        ),
        (
            format!(
                "{}[[chains]]\nid = \"1\"\ntype = \"cobol\"\naccount_address = \"0x\"\n",
                minimal()
            ),
            "chains[0].type: unknown variant `cobol`",
        ),
        (
            minimal().replace("name = \"node-1\"\n", ""),
            "missing field `name`",
        ),
        (
            minimal().replace("\"data\"", "\"\""),
            "node.toml:2:12: data_dir: must not be empty",
        ),
        ("name = \n".to_owned(), "node.toml:1:"),
    ];
    for (text, needle) in cases {
        let error = error_of(&text);
        assert!(error.contains(needle), "{needle:?} not in {error:?}");
    }
}

#[test]
fn counts_and_file_size_are_bounded() {
    let jd = format!("[[job_distributors]]\nuri = \"jd:1\"\npublic_key = \"{KEY}\"\n");
    let text = format!(
        "name = \"n\"\ndata_dir = \"d\"\n{}",
        jd.repeat(MAX_JOB_DISTRIBUTORS + 1)
    );
    let error = error_of(&text);
    assert!(
        error.contains("job_distributors: at most 32 entries"),
        "{error}"
    );

    let mut huge = minimal();
    huge.push_str(&"# padding\n".repeat(MAX_CONFIG_BYTES as usize / 10 + 1));
    let (_dir, loaded) = load(&huge);
    assert!(matches!(loaded, Err(ConfigError::TooLarge { .. })));
}

#[test]
fn positions_count_lines_and_characters() {
    assert_eq!(line_and_column("ab\ncdé f", 0), (1, 1));
    assert_eq!(line_and_column("ab\ncdé f", 3), (2, 1));
    assert_eq!(line_and_column("ab\ncdé f", 8), (2, 5));
}

#[test]
fn public_url_is_an_http_url_without_its_trailing_slash() {
    assert_eq!(NodeConfig::parse(&minimal()).unwrap().api.public_url, None);
    let config = NodeConfig::parse(&format!(
        "{}\n[api]\npublic_url = \"https://node.example.com/\"\n",
        minimal()
    ))
    .unwrap();
    assert_eq!(
        config.api.public_url.as_deref(),
        Some("https://node.example.com")
    );
    for bad in [
        "ftp://x",
        "http://",
        "node.example.com",
        "http://a b",
        "http://x/?q=1",
    ] {
        let error = error_of(&format!("{}\n[api]\npublic_url = \"{bad}\"\n", minimal()));
        assert!(error.contains("api.public_url"), "{bad}: {error}");
    }
}
