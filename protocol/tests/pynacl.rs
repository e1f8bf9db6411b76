//! The sealed box against an independent implementation: PyNaCl (libsodium's bindings).
//!
//! PyNaCl opens the `sealed_secret` vector's box of `specs/protocol.md` with the witness's
//! key, derived from its ed25519 seed by libsodium, and must read the vector's brief; then it
//! seals a message of its own to the witness, which this implementation must open. When
//! `python3` or its `nacl` module is missing, the test says so and passes without checking
//! (`.ci/run` installs PyNaCl first, where it can).

use std::collections::BTreeMap;
use std::process::Command;

use ed25519_dalek::SigningKey;
use vtune_protocol::seal;

const SPEC: &str = include_str!("../../specs/protocol.md");

/// Checks the vector with libsodium, then prints `SEALED <hex>`: a box of its own.
const SCRIPT: &str = r#"
import json, sys
try:
    import nacl.public, nacl.signing
except ImportError:
    print("NO-NACL")
    sys.exit(0)
v = json.loads(sys.argv[1])
signing = nacl.signing.SigningKey(bytes.fromhex(v["witness_seed"]))
assert signing.verify_key.encode().hex() == v["witness_public_key"], "ed25519 public key"
public = signing.verify_key.to_curve25519_public_key()
secret = signing.to_curve25519_private_key()
assert public.encode().hex() == v["witness_x25519_public"], "x25519 public key"
# libsodium clamps the scalar it derives; X25519 clamps it anyway.
raw = bytearray(bytes.fromhex(v["witness_x25519_secret"]))
raw[0] &= 248; raw[31] &= 127; raw[31] |= 64
assert secret.encode() == bytes(raw), "x25519 secret key"
opened = nacl.public.SealedBox(secret).decrypt(bytes.fromhex(v["box"]))
assert opened.hex() == v["brief"], "the box opens to the brief"
print("OPENED", len(opened))
print("SEALED", nacl.public.SealedBox(public).encrypt(b"sealed by PyNaCl").hex())
"#;

/// The fields of the spec's vector `name`.
fn vector(name: &str) -> BTreeMap<String, String> {
    let block = SPEC
        .split(&format!("```vector {name}\n"))
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap_or_else(|| panic!("specs/protocol.md has no vector {name}"));
    block
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn pynacl_opens_our_box_and_we_open_pynacls() {
    let fields = vector("sealed_secret");
    let json = serde_json::to_string(&fields).unwrap();
    let output = match Command::new("python3").args(["-c", SCRIPT, &json]).output() {
        Ok(output) => output,
        Err(e) => {
            println!("SKIPPED: python3 cannot run ({e}); the sealed box was not cross-checked");
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "PyNaCl check failed:\n{stdout}\n{stderr}"
    );
    if stdout.contains("NO-NACL") {
        println!(
            "SKIPPED: python3 has no `nacl` module (pip install pynacl); the sealed box was \
             not cross-checked"
        );
        return;
    }
    assert!(stdout.contains("OPENED"), "{stdout}");
    let sealed = stdout
        .lines()
        .find_map(|line| line.strip_prefix("SEALED "))
        .expect("PyNaCl printed its box");
    let witness = SigningKey::from_bytes(
        &hex::decode(&fields["witness_seed"])
            .unwrap()
            .try_into()
            .unwrap(),
    );
    let opened = seal::open(&witness, &hex::decode(sealed.trim()).unwrap())
        .expect("PyNaCl's box opens here");
    assert_eq!(opened, b"sealed by PyNaCl");
    println!("PyNaCl opened the spec's box, and its own box opened here");
}
