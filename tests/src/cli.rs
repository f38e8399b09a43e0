//! Running the `samordna` command as staff would, for the tests: `--json` on, the exit code and
//! the parsed output back, and a test failure that shows the relay's log when a step that had to
//! work did not.

use serde_json::Value;

use crate::{relay::TestRelay, run};

/// Runs `samordna --json …` as `profile`: (exit code, JSON output). Panics when the output is not
/// JSON, since every command promises JSON with `--json`, errors included.
pub fn samordna(relay: &TestRelay, profile: &str, args: &[&str]) -> (i32, Value) {
    let out = run(relay.client(profile).arg("--json").args(args));
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "{args:?}: not JSON: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

/// Runs `samordna --json …` as `profile`, requires exit 0, and returns the JSON output.
pub fn ok(relay: &TestRelay, profile: &str, args: &[&str]) -> Value {
    let (code, json) = samordna(relay, profile, args);
    assert_eq!(code, 0, "{profile} {args:?}: {json}\nrelay log:\n{}", relay.log());
    json
}

/// The string at `key` of a JSON object; panics naming the key when it is not there.
pub fn string(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}")).to_owned()
}
