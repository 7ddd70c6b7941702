//! Health follows the database: a JD over PostgreSQL reports `NOT_SERVING` while its
//! database refuses connections, and `SERVING` again once it accepts them.
//!
//! Needs PostgreSQL at `OFFCHAIN_TEST_POSTGRES_URL`; without it the test prints a note and
//! passes, unless `CI` is set and the variable names a server that does not answer. The
//! test works on a database of its own (created, made unreachable, dropped), never on the
//! shared server's other databases.

use std::str::FromStr;
use std::time::{Duration, Instant};

use offchain_jd::server::{ServeOptions, ServerConfig, start_with};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Executor};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const URL_VAR: &str = "OFFCHAIN_TEST_POSTGRES_URL";
/// Generous: the machine is shared with other builds.
const FLIP_DEADLINE: Duration = Duration::from_secs(30);

async fn admin_connection() -> Option<(PgConnectOptions, PgConnection)> {
    let Ok(url) = std::env::var(URL_VAR) else {
        eprintln!("note: {URL_VAR} is not set; skipping the PostgreSQL health test");
        return None;
    };
    let options = PgConnectOptions::from_str(&url).expect("a PostgreSQL URL");
    match options.connect().await {
        Ok(conn) => Some((options, conn)),
        Err(error) if std::env::var_os("CI").is_some() => {
            panic!("{URL_VAR} is set but PostgreSQL does not answer: {error}")
        }
        Err(error) => {
            eprintln!("note: PostgreSQL at {URL_VAR} does not answer ({error}); skipping");
            None
        }
    }
}

/// Asks health about the whole server until it reports `want` or the deadline passes.
async fn wait_for(
    health: &mut HealthClient<tonic::transport::Channel>,
    want: ServingStatus,
) -> Result<(), String> {
    let started = Instant::now();
    let mut last = None;
    while started.elapsed() < FLIP_DEADLINE {
        let request = HealthCheckRequest {
            service: String::new(),
        };
        match health.check(request).await {
            Ok(answer) if answer.get_ref().status == want as i32 => return Ok(()),
            Ok(answer) => last = Some(format!("{:?}", answer.get_ref().status())),
            Err(status) => last = Some(status.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!(
        "health did not report {want:?} within {FLIP_DEADLINE:?}; last: {last:?}"
    ))
}

#[tokio::test]
async fn health_is_not_serving_while_the_database_is_unreachable() {
    let Some((admin_options, mut admin)) = admin_connection().await else {
        return;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let database = format!("jd_health_{}_{nanos}", std::process::id());
    admin
        .execute(format!("CREATE DATABASE {database}").as_str())
        .await
        .unwrap();
    let jd_url = admin_options
        .clone()
        .database(&database)
        .to_url_lossy()
        .to_string();

    let outcome = async {
        let server = start_with(
            ServerConfig {
                listen: ([127, 0, 0, 1], 0).into(),
                database_url: jd_url,
                csa_secret: "health test secret".into(),
                auth: None,
            },
            ServeOptions {
                health_probe_interval: Duration::from_millis(100),
                ..ServeOptions::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
        let channel =
            tonic::transport::Channel::from_shared(format!("http://{}", server.local_addr()))
                .map_err(|e| e.to_string())?
                .connect()
                .await
                .map_err(|e| e.to_string())?;
        let mut health = HealthClient::new(channel);
        wait_for(&mut health, ServingStatus::Serving).await?;

        // Unreachable: no new connections, and the JD's open ones are cut.
        admin
            .execute(format!("ALTER DATABASE {database} ALLOW_CONNECTIONS false").as_str())
            .await
            .map_err(|e| e.to_string())?;
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&database)
        .execute(&mut admin)
        .await
        .map_err(|e| e.to_string())?;
        wait_for(&mut health, ServingStatus::NotServing).await?;

        admin
            .execute(format!("ALTER DATABASE {database} ALLOW_CONNECTIONS true").as_str())
            .await
            .map_err(|e| e.to_string())?;
        wait_for(&mut health, ServingStatus::Serving).await?;
        server.shutdown().await.map_err(|e| e.to_string())
    }
    .await;

    let dropped = admin
        .execute(format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)").as_str())
        .await;
    outcome.unwrap();
    dropped.unwrap();
}
