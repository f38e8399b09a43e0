//! `samordna-relay dev-federation` makes profiles the client accepts as they are.

use std::{os::unix::fs::PermissionsExt, process::Command};

use samordna_tests::{binaries, run};

#[test]
fn dev_federation_writes_four_profiles_that_the_client_loads() {
    let bins = binaries();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fed");
    let res = run(Command::new(&bins.relay).arg("dev-federation").arg("--out").arg(&out));
    assert!(res.status.success());

    let expected = [
        ("region", "Anna Lind (SE2321000032-al01), Region Östergötland [SE2321000032]"),
        ("municipality", "Karin Berg (SE2120000449-kb01), Linköpings kommun [SE2120000449]"),
        ("school", "Lars Ek (SE5569875437-le01), Stångåskolan AB [SE5569875437]"),
        ("auditor", "Maria Gran (SE2321000032-mg01), Region Östergötland [SE2321000032]"),
    ];
    for (profile, who) in expected {
        let p = out.join("profiles").join(profile);
        let mode = std::fs::metadata(p.join("key.pem")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{profile}/key.pem");
        let res = run(Command::new(&bins.client).arg("--profile").arg(&p).arg("whoami"));
        assert!(res.status.success());
        assert_eq!(String::from_utf8_lossy(&res.stdout).trim(), who);
    }

    // A key that others can read is refused, with the command that fixes it.
    let key = out.join("profiles/region/key.pem");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let res = Command::new(&bins.client)
        .arg("--profile")
        .arg(out.join("profiles/region"))
        .arg("whoami")
        .output()
        .unwrap();
    assert!(!res.status.success());
    assert!(
        String::from_utf8_lossy(&res.stderr).contains("chmod 600"),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );

    // Running it again never overwrites the keys.
    let again = Command::new(&bins.relay).arg("dev-federation").arg("--out").arg(&out).output().unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
}
