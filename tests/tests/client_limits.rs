//! The client library repeats the JD's limits (it does not depend on the JD crate unless a
//! provider feature asks for it): every repeated constant must equal the JD's own, so a dry
//! run refuses exactly what the JD refuses and the client reads every answer the JD sends.

use offchain::limits as client;
use offchain_jd::limits as jd;

#[test]
fn the_client_limits_are_the_jds() {
    let pairs = [
        ("MAX_LABELS", client::MAX_LABELS, jd::MAX_LABELS),
        (
            "MAX_LABEL_KEY_BYTES",
            client::MAX_LABEL_KEY_BYTES,
            jd::MAX_LABEL_KEY_BYTES,
        ),
        (
            "MAX_LABEL_VALUE_BYTES",
            client::MAX_LABEL_VALUE_BYTES,
            jd::MAX_LABEL_VALUE_BYTES,
        ),
        ("MAX_NAME_BYTES", client::MAX_NAME_BYTES, jd::MAX_NAME_BYTES),
        ("MAX_ID_BYTES", client::MAX_ID_BYTES, jd::MAX_ID_BYTES),
        ("MAX_SPEC_BYTES", client::MAX_SPEC_BYTES, jd::MAX_SPEC_BYTES),
        (
            "MAX_BATCH_NODES",
            client::MAX_BATCH_NODES,
            jd::MAX_BATCH_NODES,
        ),
        (
            "MAX_BATCH_BYTES",
            client::MAX_BATCH_BYTES,
            jd::MAX_BATCH_BYTES,
        ),
        ("MAX_SELECTORS", client::MAX_SELECTORS, jd::MAX_SELECTORS),
        (
            "MAX_SELECTOR_VALUE_BYTES",
            client::MAX_SELECTOR_VALUE_BYTES,
            jd::MAX_SELECTOR_VALUE_BYTES,
        ),
        (
            "MAX_FILTER_VALUES",
            client::MAX_FILTER_VALUES,
            jd::MAX_FILTER_VALUES,
        ),
    ];
    for (name, client, jd) in pairs {
        assert_eq!(client, jd, "{name}: the client says {client}, the JD {jd}");
    }
}

#[test]
fn the_client_reads_and_sends_messages_as_large_as_the_jd_does() {
    assert_eq!(
        client::MAX_MESSAGE_SIZE,
        offchain_jd::server::MAX_MESSAGE_SIZE
    );
}
