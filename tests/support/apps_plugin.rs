//! The Apps plugin's own rules (v1.2.2), written here from its source rather than taken from
//! the host, so that tests hold the host to them.

use serde_json::Value;

/// The name the Apps plugin invokes (`upstream/upaws/client_lambda.go`, `LambdaName`, v1.2.2),
/// written here from its rule rather than taken from the host: dots of the app id and version
/// and spaces of the function's name become dashes; a name over 64 characters is replaced by
/// `<app id>_<version>_<sha256 of the name>` (unsanitised), cut to 64.
pub fn plugin_lambda_name(app_id: &str, version: &str, function: &str) -> String {
    let name = format!(
        "{}_{}_{}",
        app_id.replace('.', "-"),
        version.replace('.', "-"),
        function.replace(' ', "-")
    );
    if name.len() <= 64 {
        return name;
    }
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(name.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let room = 64 - app_id.len() - version.len() - 2;
    format!("{app_id}_{version}_{}", &hash[..room.min(hash.len())])
}

/// The function the plugin invokes for a call (`upstream/upaws/upstream.go`, `match`): the
/// manifest function whose `path` is the longest prefix of the call path.
pub fn plugin_match(call_path: &str, manifest: &Value) -> Option<String> {
    manifest["aws_lambda"]["functions"]
        .as_array()?
        .iter()
        .filter(|f| call_path.starts_with(f["path"].as_str().unwrap()))
        .max_by_key(|f| f["path"].as_str().unwrap().len())
        .map(|f| {
            plugin_lambda_name(
                manifest["app_id"].as_str().unwrap(),
                manifest["version"].as_str().unwrap(),
                f["name"].as_str().unwrap(),
            )
        })
}
