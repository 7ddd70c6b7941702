//! The command line, as clap derive types. Values that clap cannot check on its own
//! (selectors, labels, endpoints, listen addresses) stay strings here and are parsed by the
//! commands, so their errors read the same whether they came from a flag or a variable.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Run and operate a Job Distributor (JD) and its nodes.
#[derive(Debug, Parser)]
#[command(name = "offchain", version, about, propagate_version = true)]
pub struct Cli {
    /// Log lines on stderr as readable text or as JSON objects (for log collectors).
    #[arg(long, global = true, env = "OFFCHAIN_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Text,
    /// One JSON object per event.
    Json,
}

/// Top-level command groups.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The Job Distributor: run one, or operate a running one.
    #[command(subcommand)]
    Jd(JdCommand),
    /// The node agent: its keys.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Job specs, locally: check them before proposing (needs no JD or node).
    #[command(subcommand)]
    Job(JobCommand),
    /// The whole network in one process: a JD, N nodes linked to it, the coin-market
    /// adapter; prints endpoints and tokens and runs until SIGINT/SIGTERM.
    #[command(after_help = "Environment:\n  \
        API_URL, API_KEY  the coin-market adapter's real data provider (both set); otherwise\n  \
                          a built-in mock answers every price as 3012.55\n  \
        RUST_LOG          log filter (default: warn)")]
    Up(UpArgs),
    /// The whole flow once on a throw-away `up` network: propose the example job to every
    /// node by label, wait for the approvals, trigger a webhook run on each node, print
    /// each step and a node → run table, stop. Exit 0 when every run gives price × 100.
    #[command(after_help = "Environment:\n  \
        API_URL, API_KEY  the coin-market adapter's real data provider (both set); otherwise\n  \
                          a built-in mock answers every price as 3012.55")]
    Demo(DemoArgs),
}

/// Options of `offchain demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How many nodes (`node-1` … `node-N`).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=200))]
    pub nodes: u16,
}

/// Options of `offchain up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// How many nodes (`node-1` … `node-N`).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=200))]
    pub nodes: u16,
    /// Once every node is connected, write the endpoints and tokens here as JSON
    /// (`{"jd", "nodes", "adapters"}`), atomically. A file left from an earlier run is
    /// removed at start, so its presence means "ready".
    #[arg(long, value_name = "FILE")]
    pub state_file: Option<PathBuf>,
    /// Keep nothing: in-memory JD, throw-away keys and tokens in a temporary directory that
    /// is removed on exit.
    #[arg(long, conflicts_with = "data_dir")]
    pub ephemeral: bool,
    /// Where the JD database, node keys, stores and tokens are kept across restarts.
    #[arg(long, value_name = "DIR", default_value = "./offchain-data/up")]
    pub data_dir: PathBuf,
    /// The JD's gRPC port on 127.0.0.1 (default: a free one).
    #[arg(long, value_name = "PORT")]
    pub jd_grpc_port: Option<u16>,
    /// The JD's node-link port on 127.0.0.1 (default: a free one).
    #[arg(long, value_name = "PORT")]
    pub jd_node_port: Option<u16>,
    /// Node i's API listens on 127.0.0.1:(PORT + i - 1) (default: free ones).
    #[arg(long, value_name = "PORT")]
    pub api_port_base: Option<u16>,
}

/// `offchain job …`
#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Parse and check job spec files as a node would: exit 0 when all are valid, else one
    /// `FILE:LINE:COL: message` line per error on stderr and exit 2.
    Validate(ValidateArgs),
    /// Run a spec's pipeline once, for real (HTTP to the given bridges and the spec's URLs):
    /// each task's output, error and duration, then the final outputs. Exit 0 completed,
    /// 1 errored, 3 suspended (an async bridge answered pending), 2 invalid spec or flags.
    #[command(after_help = "Environment:\n  \
        OFFCHAIN_BRIDGE_TOKEN_<NAME>  outgoing token of bridge NAME (upper case, other than\n  \
                                      A-Z and 0-9 as `_`), sent as `Authorization: Bearer`")]
    Run(RunArgs),
}

/// Options of `offchain job run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The TOML job spec file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// A bridge the spec's `bridge` tasks may call, `NAME=URL` (http or https); repeat for
    /// more.
    #[arg(long = "bridge", value_name = "NAME=URL")]
    pub bridges: Vec<String>,
    /// Webhook specs: the raw request body, `$(jobRun.requestBody)` (nested access works when
    /// it is JSON). Default: empty.
    #[arg(long, value_name = "TEXT")]
    pub request_body: Option<String>,
    /// Webhook specs: the run's meta, a JSON object (`$(jobRun.meta)`, sent to bridges as
    /// `meta`). Default: none (null).
    #[arg(long, value_name = "JSON")]
    pub meta: Option<String>,
    /// `table`: one row per task (output cut to fit), then the final outputs in full;
    /// `json`: one object, `{"state", "outputs", "errors", "tasks": [{"name", "type",
    /// "output", "error", "duration_ms"}]}`.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Options of `offchain job validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The TOML job spec files.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// `table`: `FILE: ok (TYPE, N tasks)` lines on stdout and positioned errors on stderr;
    /// `json`: one array on stdout, `[{"file", "valid", "errors": [{"line", "column", "message"}]}]`.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `offchain jd …`
#[derive(Debug, Subcommand)]
pub enum JdCommand {
    /// Run a JD server until SIGINT or SIGTERM.
    #[command(after_help = "Environment:\n  \
        CSA_KEY_ENCRYPTION_SECRET  seals the JD's CSA private key (required unless --dev)\n  \
        JD_AUTH_TOKEN_HASHES       comma-separated SHA-256 hex of allowed operator tokens\n  \
        RUST_LOG                   log filter (default: info)")]
    Serve(ServeArgs),
    /// Print the SHA-256 hex of an operator token, the form a token hash file holds.
    HashToken {
        /// The token; `-` reads it from standard input (keeps it out of the shell history).
        token: String,
    },
    /// Register, inspect, change, enable and disable nodes.
    Nodes {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: NodesCommand,
    },
    /// Propose job specs to nodes; list, revoke, delete and relabel jobs.
    Jobs {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Inspect job proposals.
    Proposals {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: ProposalsCommand,
    },
    /// Show the JD's CSA (communication) keys.
    Csa {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: CsaCommand,
    },
}

/// Options of `offchain jd serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to serve gRPC on; port 0 picks a free port (the real one is printed).
    /// A non-loopback address needs operator tokens or --insecure-no-auth.
    #[arg(
        long,
        env = "JD_GRPC_LISTEN",
        default_value = "127.0.0.1:14231",
        value_name = "HOST:PORT"
    )]
    pub grpc_listen: String,

    /// Database: sqlite:PATH, sqlite::memory: or postgres://… [default: sqlite:./offchain-data/jd.db]
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Throw-away JD: in-memory database and a random CSA secret; nothing is kept.
    #[arg(long)]
    pub dev: bool,

    /// File of allowed operator token hashes (one SHA-256 hex per line, `#` comments).
    /// Without it (and without JD_AUTH_TOKEN_HASHES) operator calls need no token.
    #[arg(long, env = "JD_AUTH_TOKEN_HASHES_FILE", value_name = "FILE")]
    pub auth_token_hashes_file: Option<PathBuf>,

    /// Serve the operator API without tokens on a non-loopback address: anyone who can
    /// reach it can operate the JD. Logs a warning on every start.
    #[arg(long)]
    pub insecure_no_auth: bool,

    /// PEM certificate (chain) to serve gRPC over TLS with; needs --tls-key.
    #[arg(long, env = "JD_TLS_CERT", value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, env = "JD_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Longest a call may run before it is answered CANCELLED: `90`, `90s`, `500ms`, `2m`.
    #[arg(long, env = "JD_REQUEST_TIMEOUT", value_name = "DURATION",
          default_value = "60s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Calls in progress at once across all connections; more are answered
    /// RESOURCE_EXHAUSTED at once.
    #[arg(long, env = "JD_MAX_CONCURRENT_REQUESTS", value_name = "N", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_concurrent_requests: u32,

    /// Address nodes connect to (wsrpc: mutual TLS with the nodes' CSA keys, so only
    /// registered, enabled nodes get in); port 0 picks a free port (the real one is printed).
    #[arg(
        long,
        env = "JD_NODE_LISTEN",
        default_value = "0.0.0.0:8080",
        value_name = "HOST:PORT"
    )]
    pub node_listen: std::net::SocketAddr,

    /// Serve plain-HTTP `GET /healthz` (200) for the node listener on this address [default: off].
    #[arg(long, env = "JD_NODE_HEALTH_LISTEN", value_name = "HOST:PORT")]
    pub node_health_listen: Option<std::net::SocketAddr>,
}

/// The longest request timeout accepted: a day.
const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// `N` or `Ns` (seconds), `Nms`, `Nm`; more than zero and at most a day.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 60s or 500ms"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(value),
        "s" => Duration::from_secs(value),
        "m" => Duration::from_secs(value.saturating_mul(60)),
        _ => return Err(format!("unknown unit in {text:?}: use ms, s or m")),
    };
    if duration.is_zero() || duration > MAX_DURATION {
        return Err(format!(
            "{text:?} must be more than zero and at most 24 hours"
        ));
    }
    Ok(duration)
}

/// How to reach the JD and how to print its answers; accepted after any client subcommand.
#[derive(Debug, Args)]
#[command(next_help_heading = "Connection and output")]
pub struct ClientArgs {
    /// The JD's gRPC endpoint: http://host:port, or https://host:port for TLS.
    #[arg(
        long,
        global = true,
        env = "JD_GRPC",
        default_value = "http://127.0.0.1:14231",
        value_name = "URL"
    )]
    pub endpoint: String,

    /// Operator token sent as `authorization: Bearer …`.
    #[arg(long, global = true, env = "JD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// PEM CA certificate to trust for an https:// endpoint instead of the system roots.
    #[arg(long, global = true, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// How answers are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// JSON for scripts (for JD answers: the protobuf JSON mapping of the response).
    Json,
}

/// `offchain jd nodes …`
#[derive(Debug, Subcommand)]
pub enum NodesCommand {
    /// List nodes, optionally filtered by labels and state.
    List {
        /// Label selector, kubectl style: `env=prod,type!=bootstrap`, `env in (a,b)`, `flag`, `!flag`.
        #[arg(short = 'l', long = "selector", value_name = "SELECTOR")]
        selectors: Vec<String>,
        /// Only enabled nodes.
        #[arg(long, conflicts_with = "disabled")]
        enabled: bool,
        /// Only disabled nodes.
        #[arg(long)]
        disabled: bool,
        /// Page to show, from 1 (needs --page-size).
        #[arg(long, value_name = "N", requires = "page_size",
              value_parser = clap::value_parser!(i32).range(1..))]
        page: Option<i32>,
        /// Nodes per page; without it every match is shown.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..))]
        page_size: Option<i32>,
    },
    /// Show one node, by id or by public key.
    Get {
        /// The node id (node_…).
        #[arg(required_unless_present = "public_key", conflicts_with = "public_key")]
        id: Option<String>,
        /// The node's CSA public key (hex) instead of its id.
        #[arg(long, value_name = "KEY")]
        public_key: Option<String>,
    },
    /// Register a node.
    Register {
        /// A name for people.
        #[arg(long)]
        name: String,
        /// The node's CSA public key (64 hex characters).
        #[arg(long, value_name = "KEY")]
        public_key: String,
        /// A label, `key=value` or a bare `key`; repeat for more.
        #[arg(long = "label", value_name = "LABEL")]
        labels: Vec<String>,
    },
    /// Change a node's name, public key or labels (given labels replace the whole set).
    #[command(group(clap::ArgGroup::new("changes").required(true).multiple(true).args(["name", "public_key", "labels"])))]
    Update {
        /// The node id.
        id: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// New CSA public key.
        #[arg(long, value_name = "KEY")]
        public_key: Option<String>,
        /// A label, `key=value` or `key`; repeat for more. Replaces every label of the node.
        #[arg(long = "label", value_name = "LABEL")]
        labels: Vec<String>,
    },
    /// Enable a node.
    Enable {
        /// The node id.
        id: String,
    },
    /// Disable a node: it gets no proposals until enabled again.
    Disable {
        /// The node id.
        id: String,
    },
    /// List the chain configs nodes reported.
    ChainConfigs {
        /// Only this node's configs; repeat for more.
        #[arg(long = "node", value_name = "ID")]
        nodes: Vec<String>,
    },
}

/// `offchain jd jobs …`
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List jobs.
    List {
        /// Label selector on the job's labels (kubectl style).
        #[arg(short = 'l', long = "selector", value_name = "SELECTOR")]
        selectors: Vec<String>,
        /// Only jobs on this node; repeat for more.
        #[arg(long = "node", value_name = "ID")]
        nodes: Vec<String>,
        /// Only jobs with this uuid (externalJobID); repeat for more.
        #[arg(long = "uuid", value_name = "UUID")]
        uuids: Vec<String>,
        /// Also list deleted jobs.
        #[arg(long)]
        include_deleted: bool,
    },
    /// Show one job.
    Get {
        /// The job id (job_…).
        id: String,
    },
    /// Propose a job spec to nodes chosen by id or by label selector.
    #[command(group(clap::ArgGroup::new("targets").required(true).args(["nodes", "selectors"])))]
    Propose {
        /// The TOML job spec (must carry an externalJobID).
        #[arg(long, value_name = "FILE")]
        spec: PathBuf,
        /// A node to propose to; repeat for more.
        #[arg(long = "node", value_name = "ID", conflicts_with = "selectors")]
        nodes: Vec<String>,
        /// Propose to every enabled node matching this selector (kubectl style).
        #[arg(short = 'l', long = "selector", value_name = "SELECTOR")]
        selectors: Vec<String>,
        /// A label for new jobs, `key=value` or `key`; repeat for more.
        #[arg(long = "label", value_name = "LABEL")]
        labels: Vec<String>,
        /// Send the spec without checking it first as `offchain job validate` does.
        #[arg(long)]
        no_validate: bool,
    },
    /// Revoke a job's latest proposal (while it is still proposed or cancelled).
    Revoke {
        /// The job id.
        id: String,
    },
    /// Delete a job (soft delete: its proposals are kept).
    Delete {
        /// The job id.
        id: String,
    },
    /// Change a job's labels (given labels replace the set) or rollback policy.
    #[command(group(clap::ArgGroup::new("changes").required(true).multiple(true).args(["labels", "rollback_policy_id"])))]
    Update {
        /// The job id.
        id: String,
        /// A label, `key=value` or `key`; repeat for more.
        #[arg(long = "label", value_name = "LABEL")]
        labels: Vec<String>,
        /// Rollback policy id to set.
        #[arg(long, value_name = "N")]
        rollback_policy_id: Option<i64>,
    },
}

/// `offchain jd proposals …`
#[derive(Debug, Subcommand)]
pub enum ProposalsCommand {
    /// List proposals.
    List {
        /// Only proposals of this job; repeat for more.
        #[arg(long = "job", value_name = "ID")]
        jobs: Vec<String>,
        /// Only this proposal; repeat for more.
        #[arg(long = "id", value_name = "ID")]
        ids: Vec<String>,
    },
    /// Show one proposal with its spec.
    Get {
        /// The proposal id (prop_…).
        id: String,
    },
}

/// `offchain jd csa …`
#[derive(Debug, Subcommand)]
pub enum CsaCommand {
    /// The JD's active CSA keypair (its public key is what nodes must trust).
    Get,
    /// Every CSA keypair of the JD.
    List,
}

/// `offchain node …`
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Create the node's keys if absent and print what to register at the JD: the CSA
    /// public key (hex) and the P2P peer id.
    #[command(after_help = "Environment:\n  \
        OFFCHAIN_NODE_PASSWORD  the node password that seals the keys (or --password-file)")]
    Keys(NodeKeysArgs),
    /// Run the node until SIGINT or SIGTERM: link to its JDs and serve the approval API.
    #[command(after_help = "Environment:\n  \
        OFFCHAIN_NODE_PASSWORD   the node password that seals the keys (or --password-file)\n  \
        OFFCHAIN_NODE_API_TOKEN  bearer token of the approval API (without it: loopback only)\n  \
        RUST_LOG                 log filter (default: info)")]
    Run(NodeRunArgs),
    /// List, show, approve, reject and cancel the node's proposals (through its API).
    #[command(after_help = "Environment:\n  \
        OFFCHAIN_NODE_API_TOKEN  bearer token of the node's API, if it has one")]
    Proposals {
        #[command(flatten)]
        api: NodeApiArgs,
        #[command(subcommand)]
        command: NodeProposalsCommand,
    },
    /// Create, list, show and delete the node's bridges to external adapters (its API).
    #[command(after_help = "Environment:\n  \
        OFFCHAIN_NODE_API_TOKEN  bearer token of the node's API, if it has one")]
    Bridges {
        #[command(flatten)]
        api: NodeApiArgs,
        #[command(subcommand)]
        command: NodeBridgesCommand,
    },
    /// List the node's running jobs, or run a webhook job (through its API).
    #[command(after_help = "Environment:\n  \
        OFFCHAIN_NODE_API_TOKEN  bearer token of the node's API, if it has one")]
    Jobs {
        #[command(flatten)]
        api: NodeApiArgs,
        #[command(subcommand)]
        command: NodeJobsCommand,
    },
    /// A job's runs, newest first, or one run with its tasks (through the node's API).
    #[command(after_help = "Environment:\n  \
        OFFCHAIN_NODE_API_TOKEN  bearer token of the node's API, if it has one")]
    Runs {
        #[command(flatten)]
        api: NodeApiArgs,
        /// The job's externalJobID.
        job: String,
        /// One run's id.
        run: Option<String>,
        /// Runs per page (default 50, at most 1000).
        #[arg(long, conflicts_with = "run")]
        limit: Option<u32>,
        /// Continue after a previous page (its `next`).
        #[arg(long, conflicts_with = "run")]
        cursor: Option<String>,
    },
}

/// `offchain node jobs …`
#[derive(Debug, Subcommand)]
pub enum NodeJobsCommand {
    /// The running jobs.
    List,
    /// Run a webhook job once and show the run (exit 0 completed, 1 errored, 3 suspended).
    Run {
        /// The job's externalJobID.
        job: String,
        /// The request body, `$(jobRun.requestBody)` (sent as is).
        #[arg(long, value_name = "JSON")]
        body: Option<String>,
    },
}

/// Options of `offchain node run`.
#[derive(Debug, Args)]
pub struct NodeRunArgs {
    /// The node's configuration file (node.toml).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,

    /// File whose first line is the node password; without it OFFCHAIN_NODE_PASSWORD is used.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

/// How `offchain node proposals` reaches the node's API.
#[derive(Debug, Args)]
pub struct NodeApiArgs {
    /// The node's API (`[api] listen`).
    #[arg(
        long,
        value_name = "URL",
        default_value = "http://127.0.0.1:6688",
        global = true
    )]
    pub api: String,

    /// Output format; JSON is the API's own shape.
    #[arg(long, value_enum, default_value_t = Format::Table, global = true)]
    pub format: Format,
}

/// `offchain node proposals …`
#[derive(Debug, Subcommand)]
pub enum NodeProposalsCommand {
    /// Every proposal with its latest version.
    List,
    /// One proposal with all its versions and specs.
    Show { uuid: String },
    /// Approve the latest version (tells the JD; undone if the JD does not take it).
    // Its `--version` is the proposal's, not the program's.
    #[command(disable_version_flag = true)]
    Approve {
        uuid: String,
        /// The version to approve; it must be the latest.
        #[arg(long)]
        version: Option<i64>,
    },
    /// Reject the latest pending version.
    Reject { uuid: String },
    /// Cancel the active job.
    Cancel { uuid: String },
}

/// `offchain node bridges …`
#[derive(Debug, Subcommand)]
pub enum NodeBridgesCommand {
    /// Create a bridge; prints its incoming token, shown only this once.
    Create(NodeBridgeCreateArgs),
    /// Every bridge (no secrets).
    List,
    /// One bridge (no secrets).
    Show { name: String },
    /// Delete a bridge; refused while an approved job uses it.
    Delete { name: String },
}

/// `offchain node bridges create`. The outgoing token is read from a variable or a file,
/// never taken on the command line (where `ps` and shell history would show it).
#[derive(Debug, Args)]
pub struct NodeBridgeCreateArgs {
    /// The bridge's name, `[a-zA-Z0-9_-]+` (case-insensitive).
    pub name: String,
    /// The adapter's URL (http or https).
    pub url: String,
    /// The environment variable holding the token the node sends as `Authorization: Bearer`.
    #[arg(long, value_name = "VAR", conflicts_with = "outgoing_token_file")]
    pub outgoing_token_env: Option<String>,
    /// A file whose first line is the token the node sends as `Authorization: Bearer`.
    #[arg(long, value_name = "FILE")]
    pub outgoing_token_file: Option<PathBuf>,
    /// Confirmations (kept for compatibility; not used by webhook and cron jobs).
    #[arg(long)]
    pub confirmations: Option<u32>,
    /// Minimum contract payment, a non-negative integer.
    #[arg(long, value_name = "X")]
    pub minimum_contract_payment: Option<String>,
}

/// Options of `offchain node keys`.
#[derive(Debug, Args)]
pub struct NodeKeysArgs {
    /// The node's configuration file (node.toml).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,

    /// File whose first line is the node password; without it OFFCHAIN_NODE_PASSWORD is used.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// Output format: `csa_public_key` and `p2p_peer_id` as lines or as a JSON object.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_take_a_unit_or_mean_seconds() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        for bad in [
            "",
            "0",
            "0ms",
            "s",
            "1h",
            "-1",
            "1.5s",
            "25000m",
            "99999999999999999999",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
