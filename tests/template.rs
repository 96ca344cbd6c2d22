//! `template.yaml` against the code: every function binary has exactly one resource, each
//! resource builds a binary that exists, its HTTP API events are the routes the binary serves,
//! its Lambda settings are complete, and the deploy step publishes the catalog the code carries.
//! What each function is granted is held to what it calls in `iam_from_use`.

use std::collections::BTreeSet;

use cloudapps::marketplace::catalog;
use cloudapps_tests::template::{
    all_function_resources, code_uri, function_resources, generate, resource_name, sub_text,
    template,
};
use cloudapps_tests::workspace_root;
use serde_yaml::Value;

fn binaries() -> BTreeSet<String> {
    std::fs::read_dir(workspace_root().join("functions/src/bin"))
        .expect("functions/src/bin")
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".rs")
                .map(str::to_owned)
        })
        .collect()
}

/// Set to rewrite the generated files instead of failing on them.
const BLESS: &str = "CLOUDAPPS_BLESS";

#[test]
fn the_binaries_and_the_template_are_generated_from_the_function_list() {
    let bless = std::env::var_os(BLESS).is_some();
    let functions = cloudapps::functions::all();
    let mut stale = Vec::new();
    let dir = workspace_root().join("functions/src/bin");
    for name in binaries() {
        if !functions.iter().any(|f| f.name == name) {
            let path = dir.join(format!("{name}.rs"));
            if bless {
                std::fs::remove_file(&path).unwrap();
            } else {
                stale.push(format!("{} serves no listed function", path.display()));
            }
        }
    }
    let mut check = |path: std::path::PathBuf, want: String| {
        if std::fs::read_to_string(&path).ok().as_deref() == Some(want.as_str()) {
            return;
        }
        if bless {
            std::fs::write(&path, want).unwrap();
        } else {
            stale.push(format!(
                "{} is not what the function list makes",
                path.display()
            ));
        }
    };
    for f in functions {
        check(dir.join(format!("{}.rs", f.name)), f.binary_source());
    }
    let template = workspace_root().join("template.yaml");
    let text = std::fs::read_to_string(&template).unwrap();
    check(template, generate(&text, functions));
    assert!(
        stale.is_empty(),
        "{}\nrun `{BLESS}=1 cargo test -p cloudapps-tests --test template` and commit the result",
        stale.join("\n")
    );
}

#[test]
fn every_binary_has_a_resource_and_every_resource_a_binary() {
    let resources: BTreeSet<String> = function_resources(&template()).into_keys().collect();
    let listed: BTreeSet<String> = cloudapps::functions::all()
        .iter()
        .map(|f| f.name.to_owned())
        .collect();
    assert_eq!(
        binaries(),
        listed,
        "functions/src/bin and cloudapps::functions disagree"
    );
    assert_eq!(
        resources, listed,
        "template.yaml and cloudapps::functions disagree"
    );
}

#[test]
fn each_resource_routes_exactly_what_its_binary_serves() {
    let resources = function_resources(&template());
    for f in cloudapps::functions::all() {
        let r = &resources[f.name];
        assert_eq!(
            r["Properties"]["CodeUri"].as_str(),
            Some(code_uri(f.name).as_str()),
            "{}: sam deploy packages what cargo lambda built",
            f.name
        );
        let mut events: BTreeSet<(String, String)> = r["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flat_map(|events| events.values())
            .map(|e| {
                assert_eq!(e["Type"].as_str(), Some("HttpApi"), "{}", f.name);
                (
                    e["Properties"]["Method"].as_str().unwrap().to_owned(),
                    e["Properties"]["Path"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        for (method, path) in f.http_routes() {
            assert!(
                events.remove(&(method.to_owned(), path.clone())),
                "{}: no {method} {path} event",
                f.name
            );
        }
        assert!(
            events.is_empty(),
            "{}: routes it does not serve: {events:?}",
            f.name
        );
    }
}

#[test]
fn the_events_queue_has_a_dead_letter_queue_and_an_alarm_on_it() {
    let t = template();
    let redrive = &t["Resources"]["EventsQueue"]["Properties"]["RedrivePolicy"];
    assert!(
        serde_yaml::to_string(&redrive["deadLetterTargetArn"])
            .unwrap()
            .contains("EventsDeadLetterQueue.Arn")
    );
    assert_eq!(
        redrive["maxReceiveCount"].as_u64(),
        Some(u64::from(cloudapps::events::queue::MAX_RECEIVES)),
        "SQS dead-letters after as many receives as the code and the local queue assume"
    );
    let alarm = &t["Resources"]["EventsDeadLetterAlarm"]["Properties"];
    assert_eq!(
        alarm["MetricName"].as_str(),
        Some("ApproximateNumberOfMessagesVisible")
    );
    assert!(
        serde_yaml::to_string(&alarm["Dimensions"])
            .unwrap()
            .contains("EventsDeadLetterQueue.QueueName")
    );
}

/// The resource id of the function the function list names as the fan-out.
fn fanout_resource(t: &Value) -> String {
    let fanout = cloudapps::functions::all()
        .iter()
        .find(|f| f.serves == cloudapps::functions::Serves::FanOut)
        .expect("a fan-out function");
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .find(|(_, r)| r["Metadata"]["Binary"].as_str() == Some(fanout.name))
        .map(|(id, _)| id.as_str().unwrap().to_owned())
        .expect("the fan-out's resource")
}

#[test]
fn only_the_fanout_consumes_the_queue_and_reports_partial_failures() {
    let t = template();
    let fanout = fanout_resource(&t);
    let mappings: Vec<&Value> = t["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Lambda::EventSourceMapping"))
        .collect();
    assert_eq!(mappings.len(), 1, "one event source mapping");
    let p = &mappings[0]["Properties"];
    assert_eq!(
        serde_yaml::to_string(&p["FunctionName"]).unwrap().trim(),
        format!("!Ref {fanout}")
    );
    assert!(
        serde_yaml::to_string(&p["EventSourceArn"])
            .unwrap()
            .contains("EventsQueue.Arn")
    );
    assert_eq!(
        p["FunctionResponseTypes"][0].as_str(),
        Some("ReportBatchItemFailures")
    );
    // SAM's SQS events would attach a managed policy on every queue; none are used.
    for (name, r) in function_resources(&t) {
        let events = r["Properties"]["Events"].as_mapping();
        assert!(
            events.is_none_or(|e| e.values().all(|e| e["Type"].as_str() == Some("HttpApi"))),
            "{name}: only HTTP API events"
        );
    }
    // A batch must finish within the queue's visibility timeout, or it is redelivered while
    // still being handled.
    let timeout = t["Resources"][fanout.as_str()]["Properties"]["Timeout"]
        .as_u64()
        .unwrap();
    let visibility = t["Resources"]["EventsQueue"]["Properties"]["VisibilityTimeout"]
        .as_u64()
        .unwrap();
    assert!(
        visibility >= 6 * timeout,
        "visibility {visibility} s, timeout {timeout} s"
    );
    // Deliveries run in parallel, each under the delivery timeout: a batch whose slowest
    // subscriber times out must still finish, with time left to settle its messages.
    let delivery = cloudapps::events::fanout::DELIVERY_TIMEOUT.as_secs();
    assert!(
        timeout >= 2 * delivery,
        "the fan-out's timeout {timeout} s leaves no room after a {delivery} s delivery"
    );
}

#[test]
fn the_table_expires_items_by_the_field_the_code_writes() {
    let t = template();
    let ttl = &t["Resources"]["InstallTable"]["Properties"]["TimeToLiveSpecification"];
    assert_eq!(ttl["Enabled"].as_bool(), Some(true));
    assert_eq!(
        ttl["AttributeName"].as_str(),
        Some(cloudapps::store::EXPIRES_AT_FIELD),
        "delivery records and tombstones would never expire"
    );
}

/// The functions the Apps plugin invokes are named as it derives them, once per version of
/// their app (one set per account and region); only the current version's is routed, and the
/// older ones run with its role. Every other function is named after the stack.
#[test]
fn functions_are_named_as_the_apps_plugin_invokes_them_or_after_the_stack() {
    let t = template();
    let resources = all_function_resources(&t);
    let mut expected = BTreeSet::new();
    for f in cloudapps::functions::all() {
        let versions = f.deployed_versions();
        if versions.is_empty() {
            let r = &resources[&resource_name(f, None)];
            assert_eq!(
                sub_text(&r["Properties"]["FunctionName"]),
                format!("${{AWS::StackName}}-{}", f.name)
            );
            expected.insert(resource_name(f, None));
            continue;
        }
        let current = resource_name(f, Some(&versions[0]));
        for (i, v) in versions.iter().enumerate() {
            let name = resource_name(f, Some(v));
            let p = &resources[&name]["Properties"];
            assert_eq!(
                p["FunctionName"].as_str(),
                f.deployed_name(v).as_deref(),
                "{name}"
            );
            assert_eq!(p["CodeUri"].as_str(), Some(code_uri(f.name).as_str()));
            if i > 0 {
                assert!(p["Events"].is_null(), "{name}: routed");
                assert!(p["Policies"].is_null(), "{name}: a role of its own");
                assert_eq!(
                    serde_yaml::to_string(&p["Role"]).unwrap().trim(),
                    format!("!GetAtt {current}Role.Arn"),
                    "{name}"
                );
            }
            expected.insert(name);
        }
    }
    let deployed: BTreeSet<String> = resources.into_keys().collect();
    assert_eq!(deployed, expected);
}

#[test]
fn each_deploy_with_a_new_catalog_runs_the_publish_step() {
    let t = template();
    let (publisher, _) = t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .find(|(_, r)| r["Metadata"]["Binary"].as_str() == Some("catalog-publish"))
        .expect("a catalog-publish function");
    let publisher = publisher.as_str().unwrap();
    let custom: Vec<&Value> = t["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::CloudFormation::CustomResource"))
        .collect();
    assert_eq!(custom.len(), 1);
    let p = &custom[0]["Properties"];
    assert_eq!(
        serde_yaml::to_string(&p["ServiceToken"]).unwrap().trim(),
        format!("!GetAtt {publisher}.Arn")
    );
    // CloudFormation runs it again only when a property changes: the catalog's.
    assert_eq!(
        p["Generation"].as_str(),
        Some(catalog::GENERATION.to_string().as_str()),
        "template.yaml's Catalog.Generation"
    );
    assert_eq!(
        p["CatalogSha256"].as_str(),
        Some(catalog::content_sha256(&catalog::shipped().unwrap()).as_str()),
        "template.yaml's Catalog.CatalogSha256"
    );
}

/// The resource a `!GetAtt <Name>.Arn` names.
fn arn_of(v: &Value) -> String {
    let Value::Tagged(t) = v else {
        panic!("not a !GetAtt: {v:?}")
    };
    let target = t.value.as_str().expect("!GetAtt Name.Arn");
    target.strip_suffix(".Arn").expect(".Arn").to_owned()
}

fn retention(t: &Value, queue: &str) -> u64 {
    t["Resources"][queue]["Properties"]["MessageRetentionPeriod"]
        .as_u64()
        .unwrap_or_else(|| panic!("{queue}: an explicit MessageRetentionPeriod"))
}

/// Delivery records are kept for as long as the code believes events wait on the queue the
/// fan-out consumes and on its dead-letter queue.
#[test]
fn the_queues_keep_messages_as_long_as_the_code_assumes() {
    use cloudapps::events::queue::{DEAD_LETTER_RETENTION_SECONDS, QUEUE_RETENTION_SECONDS};
    let t = template();
    // The queue the fan-out consumes: the event source mapping that names its resource.
    let resource = fanout_resource(&t);
    let mapping = t["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .find(|r| {
            r["Type"].as_str() == Some("AWS::Lambda::EventSourceMapping")
                && serde_yaml::to_string(&r["Properties"]["FunctionName"])
                    .unwrap()
                    .trim()
                    == format!("!Ref {resource}")
        })
        .expect("an event source mapping for the fan-out");
    let queue = arn_of(&mapping["Properties"]["EventSourceArn"]);
    let dead_letters = arn_of(
        &t["Resources"][queue.as_str()]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"],
    );
    assert_eq!(retention(&t, &queue), QUEUE_RETENTION_SECONDS, "{queue}");
    assert_eq!(
        retention(&t, &dead_letters),
        DEAD_LETTER_RETENTION_SECONDS,
        "{dead_letters}"
    );
}

#[test]
fn the_functions_that_may_alias_the_app_functions_provision_them() {
    // The functions whose policies may act on the app functions' aliases (what they call is
    // held to use in `iam_from_use`) run the Lambda provisioner, and no others.
    for (name, r) in function_resources(&template()) {
        let policies = serde_yaml::to_string(&r["Properties"]["Policies"]).unwrap();
        let provisioner = &r["Properties"]["Environment"]["Variables"]["CLOUDAPPS_PROVISIONER"];
        assert_eq!(
            policies.contains("lambda:"),
            provisioner.as_str() == Some("lambda"),
            "{name}: CLOUDAPPS_PROVISIONER {provisioner:?}"
        );
    }
}

#[test]
fn functions_run_on_al2023_with_the_table_name() {
    let t = template();
    let globals = &t["Globals"]["Function"];
    assert_eq!(globals["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(globals["Handler"].as_str(), Some("bootstrap"));
    assert!(
        matches!(
            globals["Environment"]["Variables"]["TABLE_NAME"],
            Value::Tagged(_)
        ),
        "TABLE_NAME comes from the table"
    );
    assert_eq!(
        t["Resources"]["InstallTable"]["Type"].as_str(),
        Some("AWS::DynamoDB::Table")
    );
}

/// Mattermost calls every path a manifest names (the lifecycle calls, `/ping`, the bindings
/// call, what the bindings' forms submit to, what the app subscribes with), so each one of a
/// built-in app has a function with an API route, for every listed version.
#[test]
fn every_call_path_a_manifest_names_has_a_function() {
    use cloudapps::functions::{Function, Serves};
    use cloudapps::paths::AppRoute;
    let listings = catalog::shipped().unwrap();
    let apps = cloudapps::apps::BuiltinApps::all();
    let mut missing = Vec::new();
    for (app_id, app) in apps.iter() {
        let mut manifests = vec![app.manifest()];
        let listed = listings.iter().filter(|l| l.id == app_id);
        manifests.extend(listed.flat_map(|l| l.versions.iter().map(|v| v.manifest.clone())));
        let paths = cloudapps_tests::call_paths(app.as_ref(), &manifests);
        for path in paths {
            let served = Function::of_app(app_id).any(|f| {
                matches!(f.serves, Serves::App { route: AppRoute::Call(p), .. } if p == path)
                    && !f.http_routes().is_empty()
            });
            if !served {
                missing.push(format!("{app_id} {path}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "call paths Mattermost calls with no function: {missing:?}"
    );
}
