//! `docs/EVENTS.md` shows the bytes the codecs really write.

#[allow(dead_code, reason = "the example's `main` is not used here")]
#[path = "../../examples/event_samples.rs"]
mod event_samples;

#[test]
fn events_md_shows_the_real_bytes() {
    let doc = std::fs::read_to_string(event_samples::DOC).expect("docs/EVENTS.md exists");
    let expected = event_samples::splice(&doc, &event_samples::render())
        .expect("docs/EVENTS.md has the samples:begin and samples:end markers");
    assert!(
        doc == expected,
        "docs/EVENTS.md is out of date: run `cargo run -p fluxkv-schemas --example event_samples -- --bless`"
    );
}

#[test]
fn events_md_states_the_current_fingerprint() {
    let doc = std::fs::read_to_string(event_samples::DOC).expect("docs/EVENTS.md exists");
    let fingerprint = fluxkv_schemas::codec::avro::FINGERPRINT;
    let bytes: Vec<String> = fingerprint
        .to_le_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        doc.contains(&format!("`{fingerprint:#018x}`")),
        "docs/EVENTS.md: update the fingerprint"
    );
    assert!(
        doc.contains(&format!("`{}`", bytes.join(" "))),
        "docs/EVENTS.md: update the fingerprint bytes"
    );
}
