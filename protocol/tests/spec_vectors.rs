//! The test vectors of `specs/protocol.md` against this implementation.
//!
//! The spec holds, for a key with a fixed seed, one message of each type with its payload,
//! PAE, signature, envelope and id in hex. This test rebuilds every one and compares; it fails
//! if the spec and the code diverge. `VTUNE_PRINT_VECTORS=1` prints the vectors in the
//! spec's format (to update the spec after a deliberate format change).

use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;
use vtune_protocol::envelope::{Envelope, pae};
use vtune_protocol::messages::Message;
use vtune_protocol::messages::{
    Attestation, Commitment, PublicKey, Reveal, SealedSecret, open_any, samples,
};
use vtune_protocol::seal;

const SPEC: &str = include_str!("../../specs/protocol.md");

/// The attestation vector's p-value, fixed here so that the vector does not depend on the
/// last bits of the statistics code (checkers allow a relative 1e-9).
const ATTESTATION_LOG10_P: f64 = -19.958156344171847;

fn key() -> SigningKey {
    SigningKey::from_bytes(&samples::VECTOR_SEED)
}

/// The vectors, by name, as `field -> hex` maps.
fn computed() -> Vec<(&'static str, BTreeMap<&'static str, String>)> {
    let key = key();
    let public = PublicKey(key.verifying_key().to_bytes());
    let witness = SigningKey::from_bytes(&samples::WITNESS_SEED);
    let witness_public = PublicKey(witness.verifying_key().to_bytes());
    let commitment = Envelope::seal(
        &samples::witnessed_commitment(public, "acme", vec![witness_public]),
        &key,
    )
    .unwrap();
    let mut attestation =
        samples::attestation(public, commitment.id(), "acme", samples::SAMPLE_TIME + 3600);
    assert!(
        (attestation.log10_p_value - ATTESTATION_LOG10_P).abs() < 1e-9 * 20.0,
        "the sample attestation's p-value moved to {}",
        attestation.log10_p_value
    );
    attestation.log10_p_value = ATTESTATION_LOG10_P;
    let attestation = Envelope::seal(&attestation, &key).unwrap();
    let reveal = Envelope::seal(&samples::reveal(), &key).unwrap();
    let verified_commitment =
        vtune_protocol::messages::open::<Commitment>(&commitment.to_bytes()).unwrap();
    let brief = samples::witness_brief(commitment.to_bytes());
    let sealed = SealedSecret::seal(
        &verified_commitment,
        &brief,
        || samples::SAMPLE_EPHEMERAL_SEED,
        samples::SAMPLE_TIME + 7200,
    )
    .unwrap();
    let sealed_envelope = Envelope::seal(&sealed, &key).unwrap();
    let mut sealed_fields = fields::<SealedSecret>(&sealed_envelope);
    sealed_fields.insert("witness_seed", hex::encode(samples::WITNESS_SEED));
    sealed_fields.insert("witness_public_key", witness_public.to_string());
    sealed_fields.insert(
        "witness_x25519_public",
        hex::encode(seal::x25519_public(&witness_public).unwrap()),
    );
    sealed_fields.insert(
        "witness_x25519_secret",
        hex::encode(seal::x25519_secret(&witness)),
    );
    sealed_fields.insert(
        "ephemeral_seed",
        hex::encode(samples::SAMPLE_EPHEMERAL_SEED),
    );
    sealed_fields.insert("brief", hex::encode(brief.encode()));
    sealed_fields.insert("box", hex::encode(&sealed.boxes[0].ciphertext));
    vec![
        ("key", {
            let mut m = BTreeMap::new();
            m.insert("seed", hex::encode(samples::VECTOR_SEED));
            m.insert("public_key", public.to_string());
            m
        }),
        ("commitment", fields::<Commitment>(&commitment)),
        ("attestation", fields::<Attestation>(&attestation)),
        ("reveal", fields::<Reveal>(&reveal)),
        ("sealed_secret", sealed_fields),
    ]
}

fn fields<T: Message>(envelope: &Envelope) -> BTreeMap<&'static str, String> {
    assert_eq!(envelope.payload_type, T::PAYLOAD_TYPE);
    let bytes = envelope.to_bytes();
    open_any(&bytes).expect("the vector opens");
    let mut m = BTreeMap::new();
    m.insert("payload_type", envelope.payload_type.clone());
    m.insert("payload", hex::encode(&envelope.payload));
    m.insert(
        "pae",
        hex::encode(pae(&envelope.payload_type, &envelope.payload)),
    );
    m.insert("signature", envelope.signature.to_string());
    m.insert("envelope", hex::encode(&bytes));
    m.insert("id", envelope.id().to_string());
    m
}

/// The vectors in the spec: blocks opening with "```vector NAME", lines "field: value".
fn from_spec() -> BTreeMap<String, BTreeMap<String, String>> {
    let mut vectors = BTreeMap::new();
    let mut current: Option<(String, BTreeMap<String, String>)> = None;
    for line in SPEC.lines() {
        if let Some(name) = line.strip_prefix("```vector ") {
            current = Some((name.trim().to_string(), BTreeMap::new()));
        } else if line.starts_with("```annotated") {
            continue;
        } else if line.starts_with("```") {
            if let Some((name, fields)) = current.take() {
                vectors.insert(name, fields);
            }
        } else if let Some((_, fields)) = current.as_mut() {
            let (field, value) = line
                .split_once(':')
                .expect("vector lines are `field: value`");
            fields.insert(field.trim().to_string(), value.trim().to_string());
        }
    }
    vectors
}

#[test]
fn spec_vectors_match_the_implementation() {
    let computed = computed();
    if std::env::var_os("VTUNE_PRINT_VECTORS").is_some() {
        for (name, fields) in &computed {
            println!("```vector {name}");
            for (field, value) in fields {
                println!("{field}: {value}");
            }
            println!("```\n");
        }
    }
    let spec = from_spec();
    assert_eq!(
        spec.len(),
        computed.len(),
        "the spec has vectors {:?}",
        spec.keys()
    );
    for (name, fields) in computed {
        let in_spec = spec
            .get(name)
            .unwrap_or_else(|| panic!("specs/protocol.md has no vector `{name}`"));
        assert_eq!(in_spec.len(), fields.len(), "fields of vector `{name}`");
        for (field, value) in fields {
            assert_eq!(
                in_spec.get(field).map(String::as_str),
                Some(value.as_str()),
                "vector `{name}`, field `{field}`"
            );
        }
    }
}

#[test]
fn spec_envelopes_open_as_given() {
    // Independent of the builders above: the spec's envelope bytes verify and have the id.
    for (name, fields) in from_spec().into_iter().filter(|(n, _)| n != "key") {
        let bytes = hex::decode(&fields["envelope"]).unwrap();
        let verified = open_any(&bytes).unwrap_or_else(|e| panic!("vector `{name}`: {e}"));
        assert_eq!(verified.id().to_string(), fields["id"], "vector `{name}`");
        assert_eq!(verified.message().kind(), name);
    }
}

#[test]
fn annotated_commitment_is_the_commitment_vector() {
    // The "annotated" block: each line is hex tokens, then the field's name and value.
    let block = SPEC
        .split("```annotated commitment")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("specs/protocol.md has the annotated commitment");
    let mut bytes = String::new();
    for line in block.lines() {
        for token in line.split_whitespace() {
            if token.len() % 2 != 0 || hex::decode(token).is_err() {
                break;
            }
            bytes.push_str(token);
        }
    }
    assert_eq!(bytes, from_spec()["commitment"]["payload"]);
}

#[test]
fn the_spec_box_opens_for_the_spec_witness_to_the_spec_brief() {
    // Independent of the builders: the vector's box, opened with the witness seed.
    let spec = from_spec();
    let vector = &spec["sealed_secret"];
    let witness = SigningKey::from_bytes(
        &hex::decode(&vector["witness_seed"])
            .unwrap()
            .try_into()
            .unwrap(),
    );
    let opened = seal::open(&witness, &hex::decode(&vector["box"]).unwrap()).unwrap();
    assert_eq!(hex::encode(opened), vector["brief"]);
    // And the box is the one in the signed message.
    assert!(vector["payload"].contains(&vector["box"]));
}
