//! Printing answers: aligned tables for people, the protobuf JSON mapping for scripts.
//!
//! JSON goes through `prost-reflect` rather than serde derives on the generated types, so
//! field names, enums, int64s and timestamps follow the canonical protobuf JSON mapping that
//! other JD tooling (grpcurl, the Go client) prints.

use std::io::{self, Write};

use anyhow::{Context, Result, anyhow};
use comfy_table::{Table, presets};
use offchain::proto::csa::Keypair;
use offchain::proto::delivery::ProposalDelivery;
use offchain::proto::job::{Job, Proposal, ProposalDeliveryStatus, ProposalStatus};
use offchain::proto::label::Label;
use offchain::proto::node::{ChainConfig, ChainType, Node};
use offchain::proto::{FILE_DESCRIPTOR_SET, Timestamp};
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};

use crate::args::Format;

/// A generated message whose protobuf full name is known, so it can be printed as JSON.
pub trait ApiMessage: prost::Message + Sized {
    /// e.g. `api.node.v1.ListNodesResponse`.
    const FULL_NAME: &'static str;
}

/// Declares the full names of response messages, package by package; the generated types
/// carry no names of their own.
macro_rules! api_messages {
    ($($package:literal => $module:ident { $($message:ident),* $(,)? })*) => {
        $($(
            impl ApiMessage for offchain::proto::$module::$message {
                const FULL_NAME: &'static str = concat!($package, ".", stringify!($message));
            }
        )*)*

        #[cfg(test)]
        const ALL_FULL_NAMES: &[&str] = &[$($(concat!($package, ".", stringify!($message))),*),*];
    };
}

api_messages! {
    "api.node.v1" => node {
        ListNodesResponse, GetNodeResponse, RegisterNodeResponse, UpdateNodeResponse,
        EnableNodeResponse, DisableNodeResponse, ListNodeChainConfigsResponse,
    }
    "api.job.v1" => job {
        ListJobsResponse, GetJobResponse, BatchProposeJobResponse, RevokeJobResponse,
        DeleteJobResponse, UpdateJobResponse, ListProposalsResponse, GetProposalResponse,
    }
    "api.csa.v1" => csa { GetKeypairResponse, ListKeypairsResponse }
    "offchain.jd.v1" => delivery { GetProposalDeliveryResponse, ListProposalDeliveriesResponse }
}

/// `message` in the protobuf JSON mapping (camelCase names, enum names, int64 as strings,
/// RFC 3339 timestamps), pretty-printed in field-number order, with default-valued fields
/// included so scripts can rely on `isEnabled: false` or `totalCount: 0` being present.
pub fn to_json<M: ApiMessage>(message: &M) -> Result<String> {
    let pool = DescriptorPool::decode(FILE_DESCRIPTOR_SET)
        .context("the built-in protobuf descriptors are unreadable (a build problem)")?;
    let descriptor = pool
        .get_message_by_name(M::FULL_NAME)
        .ok_or_else(|| anyhow!("no protobuf descriptor for {}", M::FULL_NAME))?;
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .with_context(|| format!("cannot re-read a {} for JSON output", M::FULL_NAME))?;
    let options = SerializeOptions::new().skip_default_fields(false);
    // Straight to text rather than through serde_json::Value, whose map would sort the keys.
    let mut json = Vec::new();
    let mut serializer = serde_json::Serializer::pretty(&mut json);
    dynamic
        .serialize_with_options(&mut serializer, &options)
        .with_context(|| format!("cannot write a {} as JSON", M::FULL_NAME))?;
    String::from_utf8(json).context("JSON output is not UTF-8")
}

/// Two pretty-printed JSON objects with distinct keys as one, `a`'s fields first. Done on
/// the text because `serde_json::Value` would sort the keys out of field-number order.
fn merge_objects(a: &str, b: &str) -> String {
    let head = a.trim_end().strip_suffix('}').map(str::trim_end);
    let tail = b.trim_start().strip_prefix('{');
    match (head, tail) {
        (Some("{"), _) => b.to_owned(),
        (_, Some(tail)) if tail.trim() == "}" => a.to_owned(),
        (Some(head), Some(tail)) => format!("{head},{tail}"),
        // Not objects: cannot happen for messages; keep the main answer.
        _ => a.to_owned(),
    }
}

/// Writes to stdout without panicking when the reader went away (`offchain … | head`).
pub fn write_stdout(text: &str) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        stdout.write_all(b"\n")?;
    }
    stdout.flush()
}

/// Notes for people (empty results, paging) go to stderr, so stdout holds only the answer.
pub fn note(text: &str) {
    let _ = writeln!(io::stderr(), "{text}");
}

/// Prints answers in the chosen format.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    format: Format,
}

impl Printer {
    /// A printer for `format`.
    pub fn new(format: Format) -> Self {
        Printer { format }
    }

    /// Prints `message` as JSON, or as the table `view` makes of it.
    pub fn print<M: ApiMessage>(&self, message: &M, view: impl FnOnce(&M) -> View) -> Result<()> {
        match self.format {
            Format::Json => write_stdout(&to_json(message)?)?,
            Format::Table => view(message).print()?,
        }
        Ok(())
    }

    /// Like [`print`](Printer::print), with the fields of `extra` (an extension's answer,
    /// when there is one) added to the JSON object beside `message`'s.
    pub fn print_with<M: ApiMessage, E: ApiMessage>(
        &self,
        message: &M,
        extra: Option<&E>,
        view: impl FnOnce(&M) -> View,
    ) -> Result<()> {
        match (self.format, extra) {
            (Format::Json, Some(extra)) => {
                write_stdout(&merge_objects(&to_json(message)?, &to_json(extra)?))?
            }
            _ => self.print(message, view)?,
        }
        Ok(())
    }
}

/// A table for people, with what to say when it has no rows.
#[derive(Debug, Default)]
pub struct View {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    /// Plural noun for the "no … found" note.
    noun: &'static str,
    notes: Vec<String>,
    trailer: Option<String>,
}

impl View {
    /// An empty table with these column titles.
    pub fn new(noun: &'static str, header: Vec<&'static str>) -> Self {
        View {
            header,
            noun,
            ..Default::default()
        }
    }

    /// A two-column `field  value` listing without titles, for one object.
    pub fn fields(noun: &'static str, fields: Vec<(&'static str, String)>) -> Self {
        let mut view = View::new(noun, Vec::new());
        for (name, value) in fields {
            view.row(vec![format!("{name}:"), value]);
        }
        view
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Adds a line for stderr, printed after the table.
    pub fn note(&mut self, text: String) {
        self.notes.push(text);
    }

    /// Adds text printed on stdout after the table and a blank line.
    pub fn trailer(&mut self, text: String) {
        self.trailer = Some(text);
    }

    /// The table as text, columns aligned, no trailing spaces.
    pub fn render(&self) -> String {
        let mut table = Table::new();
        table.load_preset(presets::NOTHING).force_no_tty();
        if !self.header.is_empty() {
            table.set_header(self.header.clone());
        }
        for row in &self.rows {
            table.add_row(row.clone());
        }
        let columns = table.column_count();
        for (i, column) in table.column_iter_mut().enumerate() {
            let gap = if i + 1 == columns { 0 } else { 3 };
            column.set_padding((0, gap));
        }
        let mut text = String::new();
        for line in table.lines() {
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text
    }

    fn print(&self) -> io::Result<()> {
        if self.rows.is_empty() {
            note(&format!("no {} found", self.noun));
        } else {
            write_stdout(&self.render())?;
        }
        if let Some(trailer) = &self.trailer {
            write_stdout(&format!("\n{trailer}"))?;
        }
        for line in &self.notes {
            note(line);
        }
        Ok(())
    }
}

/// RFC 3339 in UTC to the second, `-` when absent.
pub fn timestamp(ts: Option<&Timestamp>) -> String {
    match ts {
        Some(ts) => Timestamp {
            seconds: ts.seconds,
            nanos: 0,
        }
        .to_string(),
        None => "-".into(),
    }
}

/// `k=v,flag`, `-` when there are none.
pub fn labels(labels: &[Label]) -> String {
    if labels.is_empty() {
        return "-".into();
    }
    labels
        .iter()
        .map(|l| match &l.value {
            Some(value) => format!("{}={value}", l.key),
            None => l.key.clone(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.into()
}

fn or_dash(text: &str) -> String {
    if text.is_empty() { "-" } else { text }.into()
}

/// The short name of a protobuf enum value (`PROPOSAL_STATUS_PROPOSED` → `PROPOSED`),
/// or the number when this build does not know it.
fn enum_name(name: Option<&str>, prefix: &str, value: i32) -> String {
    match name {
        Some(name) => name.strip_prefix(prefix).unwrap_or(name).to_string(),
        None => value.to_string(),
    }
}

fn proposal_status(value: i32) -> String {
    let name = ProposalStatus::try_from(value)
        .ok()
        .map(|s| s.as_str_name());
    enum_name(name, "PROPOSAL_STATUS_", value)
}

fn delivery_status(value: i32) -> String {
    let name = ProposalDeliveryStatus::try_from(value)
        .ok()
        .map(|s| s.as_str_name());
    enum_name(name, "PROPOSAL_DELIVERY_STATUS_", value)
}

/// Nodes, one per row.
pub fn nodes(nodes: &[Node]) -> View {
    let header = vec![
        "ID",
        "NAME",
        "PUBLIC KEY",
        "ENABLED",
        "CONNECTED",
        "VERSION",
        "LABELS",
        "CREATED",
    ];
    let mut view = View::new("nodes", header);
    for n in nodes {
        view.row(vec![
            n.id.clone(),
            n.name.clone(),
            n.public_key.clone(),
            yes_no(n.is_enabled),
            yes_no(n.is_connected),
            or_dash(&n.version),
            labels(&n.labels),
            timestamp(n.created_at.as_ref()),
        ]);
    }
    view
}

/// One node (absent when the JD answered without one).
pub fn node(node: Option<&Node>) -> View {
    nodes(node.map(std::slice::from_ref).unwrap_or_default())
}

/// Jobs, one per row.
pub fn jobs(jobs: &[Job]) -> View {
    let header = vec![
        "ID",
        "UUID",
        "NODE",
        "PROPOSALS",
        "LABELS",
        "CREATED",
        "DELETED",
    ];
    let mut view = View::new("jobs", header);
    for j in jobs {
        view.row(vec![
            j.id.clone(),
            j.uuid.clone(),
            j.node_id.clone(),
            j.proposal_ids.len().to_string(),
            labels(&j.labels),
            timestamp(j.created_at.as_ref()),
            timestamp(j.deleted_at.as_ref()),
        ]);
    }
    view
}

/// One job, with its proposal ids and rollback policy, which the row form leaves out.
pub fn job(job: Option<&Job>) -> View {
    let Some(j) = job else {
        return View::new("jobs", Vec::new());
    };
    View::fields(
        "jobs",
        vec![
            ("id", j.id.clone()),
            ("uuid", j.uuid.clone()),
            ("node", j.node_id.clone()),
            ("labels", labels(&j.labels)),
            (
                "rollback policy",
                j.rollback_policy_id
                    .map_or_else(|| "-".into(), |id| id.to_string()),
            ),
            ("created", timestamp(j.created_at.as_ref())),
            ("updated", timestamp(j.updated_at.as_ref())),
            ("deleted", timestamp(j.deleted_at.as_ref())),
            ("proposals", or_dash(&j.proposal_ids.join(","))),
        ],
    )
}

/// Widest node error shown in a proposals table; the JSON output has it whole.
pub const ERROR_COLUMN_CHARS: usize = 60;

/// Proposals, one per row; with an ERROR column when the JD answered `deliveries` (its
/// delivery extension), naming what the node refused.
pub fn proposals(proposals: &[Proposal], deliveries: Option<&[ProposalDelivery]>) -> View {
    let mut header = vec!["ID", "JOB", "REVISION", "STATUS", "DELIVERY", "CREATED"];
    if deliveries.is_some() {
        header.push("ERROR");
    }
    let mut view = View::new("proposals", header);
    for p in proposals {
        let mut row = vec![
            p.id.clone(),
            p.job_id.clone(),
            p.revision.to_string(),
            proposal_status(p.status),
            delivery_status(p.delivery_status),
            timestamp(p.created_at.as_ref()),
        ];
        if let Some(deliveries) = deliveries {
            let delivery = deliveries.iter().find(|d| d.proposal_id == p.id);
            let error = delivery.and_then(node_complaint).unwrap_or_default();
            row.push(or_dash(&shortened(&error, ERROR_COLUMN_CHARS)));
        }
        view.row(row);
    }
    view
}

/// What the node said against a proposal: its refusal of the proposal, else its refusal
/// of a revoke/delete (`RevokeJob refused: …`).
fn node_complaint(delivery: &ProposalDelivery) -> Option<String> {
    match (&delivery.delivery_error, &delivery.node_refusal) {
        (Some(error), _) if !error.is_empty() => Some(error.clone()),
        (_, Some(refusal)) => Some(format!("{} refused: {}", refusal.method, refusal.error)),
        _ => None,
    }
}

/// `text` on one line (control characters as spaces), cut to `max` characters with `…`.
pub fn shortened(text: &str, max: usize) -> String {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match line.char_indices().nth(max.saturating_sub(1)) {
        Some((end, _)) if line.chars().count() > max => format!("{}…", &line[..end]),
        _ => line,
    }
}

/// One proposal with every field, its spec after the table; the node's error text and its
/// refusal of a revoke/delete when the JD's delivery extension answered with them.
pub fn proposal(proposal: Option<&Proposal>, delivery: Option<&ProposalDelivery>) -> View {
    let Some(p) = proposal else {
        return View::new("proposals", Vec::new());
    };
    let mut fields = vec![
        ("id", p.id.clone()),
        ("job", p.job_id.clone()),
        ("revision", p.revision.to_string()),
        ("status", proposal_status(p.status)),
        ("delivery", delivery_status(p.delivery_status)),
    ];
    if let Some(error) = delivery.and_then(|d| d.delivery_error.as_deref()) {
        fields.push(("delivery error", shortened(error, usize::MAX)));
    }
    if let Some(refusal) = delivery.and_then(|d| d.node_refusal.as_ref()) {
        let text = format!(
            "{} refused at {}: {}",
            refusal.method,
            timestamp(refusal.refused_at.as_ref()),
            refusal.error
        );
        fields.push(("node refusal", shortened(&text, usize::MAX)));
    }
    fields.extend([
        ("created", timestamp(p.created_at.as_ref())),
        ("updated", timestamp(p.updated_at.as_ref())),
        ("acked", timestamp(p.acked_at.as_ref())),
        (
            "response received",
            timestamp(p.response_received_at.as_ref()),
        ),
    ]);
    let mut view = View::fields("proposals", fields);
    if !p.spec.is_empty() {
        view.trailer(p.spec.clone());
    }
    view
}

/// CSA keypairs, one per row.
pub fn keypairs(keypairs: &[Keypair]) -> View {
    let mut view = View::new("keypairs", vec!["ID", "PUBLIC KEY", "CREATED"]);
    for k in keypairs {
        view.row(vec![
            k.id.to_string(),
            k.public_key.clone(),
            timestamp(k.created_at.as_ref()),
        ]);
    }
    view
}

/// Chain configs, one per row; OCR details stay in the JSON form.
pub fn chain_configs(configs: &[ChainConfig]) -> View {
    let header = vec![
        "NODE", "CHAIN", "TYPE", "ACCOUNT", "ADMIN", "FLUX", "OCR1", "OCR2",
    ];
    let mut view = View::new("chain configs", header);
    for c in configs {
        let (chain_id, chain_type) = match &c.chain {
            Some(chain) => {
                let name = ChainType::try_from(chain.r#type)
                    .ok()
                    .map(|t| t.as_str_name());
                (
                    chain.id.clone(),
                    enum_name(name, "CHAIN_TYPE_", chain.r#type),
                )
            }
            None => ("-".into(), "-".into()),
        };
        let ocr = |enabled: bool, bootstrap: bool| match (enabled, bootstrap) {
            (false, _) => "no".to_string(),
            (true, false) => "yes".into(),
            (true, true) => "bootstrap".into(),
        };
        view.row(vec![
            c.node_id.clone(),
            chain_id,
            chain_type,
            or_dash(&c.account_address),
            or_dash(&c.admin_address),
            yes_no(c.flux_monitor_config.as_ref().is_some_and(|f| f.enabled)),
            c.ocr1_config
                .as_ref()
                .map_or("no".into(), |o| ocr(o.enabled, o.is_bootstrap)),
            c.ocr2_config
                .as_ref()
                .map_or("no".into(), |o| ocr(o.enabled, o.is_bootstrap)),
        ]);
    }
    view
}

/// What proposing did on each node: `(node id, node name, proposal or error)`.
pub fn outcomes(rows: &[(String, String, Result<Proposal, String>)]) -> View {
    let mut view = View::new("nodes", vec!["NODE", "NAME", "RESULT"]);
    for (node_id, name, result) in rows {
        let result = match result {
            Ok(p) => format!("proposed {} (revision {})", p.id, p.revision),
            Err(error) => format!("failed: {error}"),
        };
        view.row(vec![node_id.clone(), or_dash(name), result]);
    }
    view
}

#[cfg(test)]
mod tests {
    use super::*;
    use offchain::proto::node::ListNodesResponse;

    #[test]
    fn every_declared_message_is_in_the_descriptor_pool() {
        let pool = DescriptorPool::decode(FILE_DESCRIPTOR_SET).unwrap();
        for name in ALL_FULL_NAMES {
            assert!(pool.get_message_by_name(name).is_some(), "{name}");
        }
    }

    #[test]
    fn json_follows_the_protobuf_mapping() {
        let response = ListNodesResponse {
            nodes: vec![Node {
                id: "node_1".into(),
                public_key: "ab".into(),
                labels: vec![Label::flag("bootstrap")],
                created_at: Some(Timestamp {
                    seconds: 1_700_000_000,
                    nanos: 0,
                }),
                ..Default::default()
            }],
            total_count: 1,
        };
        let text = to_json(&response).unwrap();
        // Field-number order, as protoc-based tools print it.
        assert!(text.find("\"nodes\"").unwrap() < text.find("\"totalCount\"").unwrap());
        assert!(text.find("\"id\"").unwrap() < text.find("\"name\"").unwrap());
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["totalCount"], 1);
        let node = &json["nodes"][0];
        assert_eq!(node["publicKey"], "ab");
        // Defaults are written out rather than omitted.
        assert_eq!(node["isEnabled"], false);
        assert_eq!(node["createdAt"], "2023-11-14T22:13:20Z");
        assert_eq!(node["labels"][0]["key"], "bootstrap");
        assert!(node["labels"][0].get("value").is_none());
    }

    #[test]
    fn tables_are_aligned_without_trailing_spaces() {
        let mut view = View::new("things", vec!["A", "LONGER"]);
        view.row(vec!["wide value".into(), "x".into()]);
        view.row(vec!["v".into(), "y".into()]);
        let text = view.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        let column = lines[0].find("LONGER").unwrap();
        assert_eq!(lines[1].find('x'), Some(column), "{text}");
        assert_eq!(lines[2].find('y'), Some(column), "{text}");
        assert!(lines.iter().all(|l| !l.ends_with(' ')), "{text:?}");
        assert!(lines[0].starts_with('A'), "{text}");
    }

    #[test]
    fn json_objects_merge_in_order() {
        let a = "{\n  \"proposal\": {\n    \"id\": \"p\"\n  }\n}";
        let b = "{\n  \"delivery\": {\n    \"proposalId\": \"p\"\n  }\n}";
        let merged = merge_objects(a, b);
        let json: serde_json::Value = serde_json::from_str(&merged).unwrap();
        assert_eq!(json["proposal"]["id"], "p");
        assert_eq!(json["delivery"]["proposalId"], "p");
        assert!(merged.find("proposal").unwrap() < merged.find("delivery").unwrap());
        assert_eq!(merge_objects("{}", b), b);
        assert_eq!(merge_objects(a, "{}"), a);
    }

    #[test]
    fn long_errors_are_cut_to_one_short_line() {
        assert_eq!(shortened("a\nb", 60), "a b");
        let long = "é".repeat(100);
        let cut = shortened(&long, 60);
        assert_eq!(cut.chars().count(), 60);
        assert!(cut.ends_with('…'));
        assert_eq!(shortened(&"x".repeat(60), 60), "x".repeat(60));
    }

    #[test]
    fn the_error_column_shows_what_the_node_refused() {
        use offchain::proto::delivery::NodeRefusal;
        let proposal = Proposal {
            id: "prop_1".into(),
            ..Default::default()
        };
        let failed = ProposalDelivery {
            proposal_id: "prop_1".into(),
            delivery_error: Some("unsupported job type".into()),
            ..Default::default()
        };
        let text = proposals(std::slice::from_ref(&proposal), Some(&[failed])).render();
        assert!(text.lines().next().unwrap().ends_with("ERROR"), "{text}");
        assert!(text.contains("unsupported job type"), "{text}");
        let refused = ProposalDelivery {
            proposal_id: "prop_1".into(),
            node_refusal: Some(NodeRefusal {
                method: "RevokeJob".into(),
                error: "approved".into(),
                refused_at: None,
            }),
            ..Default::default()
        };
        let text = proposals(std::slice::from_ref(&proposal), Some(&[refused])).render();
        assert!(text.contains("RevokeJob refused: approved"), "{text}");
        // Without the extension: no ERROR column.
        let text = proposals(&[proposal], None).render();
        assert!(!text.contains("ERROR"), "{text}");
    }

    #[test]
    fn labels_and_timestamps_read_well() {
        assert_eq!(
            labels(&[Label::new("env", "prod"), Label::flag("bootstrap")]),
            "env=prod,bootstrap"
        );
        assert_eq!(labels(&[]), "-");
        let ts = Timestamp {
            seconds: 0,
            nanos: 5,
        };
        assert_eq!(timestamp(Some(&ts)), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(None), "-");
        assert_eq!(proposal_status(1), "PROPOSED");
        assert_eq!(proposal_status(99), "99");
    }
}
