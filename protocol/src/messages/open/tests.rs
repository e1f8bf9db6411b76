use ed25519_dalek::{Signer, SigningKey};

use super::*;
use crate::envelope::{ENVELOPE_VERSION, pae};
use crate::ids::SignatureBytes;
use crate::messages::{AnyMessage, Commitment, Reveal, check_reveal, open_any, samples};

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn public(key: &SigningKey) -> PublicKey {
    PublicKey(key.verifying_key().to_bytes())
}

fn sealed_commitment(key: &SigningKey) -> Vec<u8> {
    Envelope::seal(&samples::commitment(public(key), "acme"), key)
        .unwrap()
        .to_bytes()
}

#[test]
fn pae_is_dsse_style() {
    assert_eq!(pae("t/x", b"hi"), b"VTUNEv1 3 t/x 2 hi".to_vec());
    assert_eq!(pae("", b""), b"VTUNEv1 0  0 ".to_vec());
}

#[test]
fn commitment_round_trips_and_has_a_stable_id() {
    let k = key(1);
    let bytes = sealed_commitment(&k);
    let verified = open::<Commitment>(&bytes).unwrap();
    assert_eq!(verified.message(), &samples::commitment(public(&k), "acme"));
    assert_eq!(verified.signer(), public(&k));
    assert_eq!(verified.id(), MessageId::of(&bytes));
    assert_eq!(verified.envelope().to_bytes(), bytes);
    assert!(
        bytes.len() < 1024,
        "commitment envelope is {} bytes",
        bytes.len()
    );
}

#[test]
fn reveal_round_trips_and_opens_its_commitment() {
    let k = key(2);
    let commitment = open::<Commitment>(&sealed_commitment(&k)).unwrap();
    let bytes = Envelope::seal(&samples::reveal(), &k).unwrap().to_bytes();
    let reveal = open::<Reveal>(&bytes).unwrap();
    check_reveal(&reveal, &commitment).unwrap();

    let mut wrong = samples::reveal();
    wrong.secret_set.push(b'!');
    let wrong = open::<Reveal>(&Envelope::seal(&wrong, &k).unwrap().to_bytes()).unwrap();
    let err = check_reveal(&wrong, &commitment).unwrap_err();
    assert!(err.to_string().contains("commitment digest"), "{err}");

    let stranger = key(3);
    let foreign = Envelope::seal(&samples::reveal(), &stranger)
        .unwrap()
        .to_bytes();
    let err = check_reveal(&open::<Reveal>(&foreign).unwrap(), &commitment).unwrap_err();
    assert!(err.to_string().contains("signed by"), "{err}");
}

#[test]
fn every_flipped_byte_is_rejected() {
    let bytes = sealed_commitment(&key(4));
    for i in 0..bytes.len() {
        for bit in [0x01, 0x80] {
            let mut tampered = bytes.clone();
            tampered[i] ^= bit;
            assert!(
                open_any(&tampered).is_err(),
                "flipping bit {bit:#x} of byte {i} still opens"
            );
        }
    }
}

#[test]
fn rejects_unknown_versions_types_and_trailing_bytes() {
    let k = key(5);
    let envelope = Envelope::seal(&samples::commitment(public(&k), "acme"), &k).unwrap();

    let mut v2 = envelope.clone();
    v2.version = 2;
    assert!(matches!(
        open_any(&v2.to_bytes()),
        Err(OpenError::Envelope(EnvelopeError::UnknownVersion(2)))
    ));

    let mut unknown = envelope.clone();
    unknown.payload_type = "application/vnd.vtune.commitment.v2".into();
    unknown.signature = SignatureBytes(
        k.sign(&pae(&unknown.payload_type, &unknown.payload))
            .to_bytes(),
    );
    assert!(matches!(
        open_any(&unknown.to_bytes()),
        Err(OpenError::UnknownPayloadType(_))
    ));

    let mut trailing = envelope.to_bytes();
    trailing.push(0);
    assert!(matches!(
        open_any(&trailing),
        Err(OpenError::Envelope(EnvelopeError::Decode(
            DecodeError::TrailingBytes { extra: 1, .. }
        )))
    ));

    let as_reveal = open::<Reveal>(&envelope.to_bytes()).unwrap_err();
    assert!(
        matches!(as_reveal, OpenError::WrongPayloadType { .. }),
        "{as_reveal}"
    );
}

#[test]
fn rejects_a_payload_over_its_type_limit_even_if_signed() {
    let k = key(6);
    let mut commitment = samples::commitment(public(&k), "acme");
    commitment.base_model = "m".repeat(2000);
    let err = Envelope::seal(&commitment, &k).unwrap_err();
    assert!(matches!(err, SealError::TooLarge { .. }), "{err}");

    // Signed by hand, bypassing `seal`.
    let payload = codec::encode(&commitment);
    let envelope = Envelope {
        version: ENVELOPE_VERSION,
        payload_type: Commitment::PAYLOAD_TYPE.into(),
        signature: SignatureBytes(k.sign(&pae(Commitment::PAYLOAD_TYPE, &payload)).to_bytes()),
        payload,
        signer: public(&k),
    };
    assert!(matches!(
        open_any(&envelope.to_bytes()),
        Err(OpenError::Envelope(EnvelopeError::PayloadTooLarge { .. }))
    ));
    assert!(matches!(
        Envelope::decode_gossip(&vec![0u8; MAX_GOSSIP_ENVELOPE_BYTES + 1]),
        Err(OpenError::Envelope(EnvelopeError::Decode(
            DecodeError::TooLarge { .. }
        )))
    ));
}

#[test]
fn refuses_to_sign_for_someone_else() {
    let k = key(7);
    let commitment = samples::commitment(public(&key(8)), "acme");
    let err = Envelope::seal(&commitment, &k).unwrap_err();
    assert!(err.to_string().contains("buyer"), "{err}");
}

#[test]
fn a_valid_signature_on_an_inconsistent_message_is_rejected() {
    let k = key(9);
    let mut commitment = samples::commitment(public(&k), "acme");
    commitment.pass_threshold = 51;
    let payload = codec::encode(&commitment);
    let envelope = Envelope {
        version: ENVELOPE_VERSION,
        payload_type: Commitment::PAYLOAD_TYPE.into(),
        signature: SignatureBytes(k.sign(&pae(Commitment::PAYLOAD_TYPE, &payload)).to_bytes()),
        payload,
        signer: public(&k),
    };
    let err = open_any(&envelope.to_bytes()).unwrap_err();
    assert!(err.to_string().contains("pass_threshold"), "{err}");
}

#[test]
fn attestation_round_trips_and_fits_the_gossip_limit() {
    let k = key(10);
    let att = samples::attestation(public(&k), MessageId([3; 32]), "acme", samples::SAMPLE_TIME);
    let bytes = Envelope::seal(&att, &k).unwrap().to_bytes();
    assert!(
        bytes.len() < 2048,
        "attestation envelope is {} bytes",
        bytes.len()
    );
    let verified = open_any(&bytes).unwrap();
    assert_eq!(verified.message(), &AnyMessage::Attestation(att));
}

#[test]
fn attestation_with_a_doctored_p_value_or_verdict_is_rejected() {
    let k = key(11);
    let att = samples::attestation(public(&k), MessageId([3; 32]), "acme", samples::SAMPLE_TIME);

    let mut p = att.clone();
    p.log10_p_value -= 1.0;
    let err = Envelope::seal(&p, &k).unwrap_err();
    assert!(
        err.to_string().contains("does not follow from the groups"),
        "{err}"
    );

    let mut verdict = att.clone();
    verdict.verdict = crate::verdict::Verdict::Fail;
    let err = Envelope::seal(&verdict, &k).unwrap_err();
    assert!(err.to_string().contains("verdict"), "{err}");

    let mut group = att.clone();
    group.groups[0].checks = 5;
    assert!(Envelope::seal(&group, &k).is_err());

    let mut stats = att;
    stats.groups[0].distinct_prefixes.pop();
    let err = Envelope::seal(&stats, &k).unwrap_err();
    assert!(err.to_string().contains("distinct_prefixes"), "{err}");
}

#[test]
fn attestation_json_view_uses_hex() {
    let k = key(12);
    let att = samples::attestation(public(&k), MessageId([3; 32]), "acme", samples::SAMPLE_TIME);
    let verified = open_any(&Envelope::seal(&att, &k).unwrap().to_bytes()).unwrap();
    let json = serde_json::to_value(crate::messages::MessageView::new(&verified)).unwrap();
    assert_eq!(json["kind"], "attestation");
    assert_eq!(json["signer"], public(&k).to_string());
    assert_eq!(json["message"]["commitment_id"], "03".repeat(32));
    assert_eq!(json["message"]["verdict"], "pass");
    assert_eq!(json["message"]["role"], "buyer");
}
