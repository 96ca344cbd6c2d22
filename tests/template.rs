//! `template.yaml` against the code: every function binary has exactly one resource, each
//! resource builds a binary that exists, its HTTP API events are the routes the binary serves,
//! and its policy grants no more than the reads request handling needs.

use std::collections::{BTreeMap, BTreeSet};

use cloudapps::host::FUNCTIONS;
use cloudapps_tests::workspace_root;
use serde_yaml::Value;

fn template() -> Value {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml"))
        .expect("read template.yaml");
    serde_yaml::from_str(&text).expect("template.yaml is YAML")
}

fn function_resources(t: &Value) -> BTreeMap<String, Value> {
    t["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(_, r)| {
            (
                r["Metadata"]["BuildProperties"]["Binary"]
                    .as_str()
                    .expect("a Binary per function")
                    .to_owned(),
                r.clone(),
            )
        })
        .collect()
}

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

#[test]
fn every_binary_has_a_resource_and_every_resource_a_binary() {
    let resources: BTreeSet<String> = function_resources(&template()).into_keys().collect();
    let listed: BTreeSet<String> = FUNCTIONS.iter().map(|f| f.name.to_owned()).collect();
    assert_eq!(
        binaries(),
        listed,
        "functions/src/bin and cloudapps::host::FUNCTIONS disagree"
    );
    assert_eq!(
        resources, listed,
        "template.yaml and cloudapps::host::FUNCTIONS disagree"
    );
}

#[test]
fn each_resource_routes_exactly_what_its_binary_serves() {
    let resources = function_resources(&template());
    for f in FUNCTIONS {
        let r = &resources[f.name];
        assert_eq!(
            r["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{}",
            f.name
        );
        let mut events: BTreeSet<(String, String)> = r["Properties"]["Events"]
            .as_mapping()
            .expect("events")
            .values()
            .filter(|e| e["Type"].as_str() != Some("SQS"))
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

/// The actions a function's policy grants, by the kind of resource they are granted on.
#[derive(Default)]
struct Granted {
    table: BTreeSet<String>,
    lambda: BTreeSet<String>,
    queue: BTreeSet<String>,
    dead_letter_queue: BTreeSet<String>,
}

fn granted(name: &str, r: &Value) -> Granted {
    let mut g = Granted::default();
    for policy in r["Properties"]["Policies"]
        .as_sequence()
        .expect("explicit policies")
    {
        for statement in policy["Statement"]
            .as_sequence()
            .expect("inline statements only")
        {
            assert_eq!(statement["Effect"].as_str(), Some("Allow"), "{name}");
            let resource = serde_yaml::to_string(&statement["Resource"]).unwrap();
            let actions = statement["Action"]
                .as_sequence()
                .expect("a list of actions")
                .iter()
                .map(|a| a.as_str().unwrap().to_owned());
            if resource.contains("InstallTable.Arn") {
                assert!(!resource.contains('*'), "{name}: {resource}");
                g.table.extend(actions);
            } else if resource.contains("EventsQueue.Arn") {
                g.queue.extend(actions);
            } else if resource.contains("EventsDeadLetterQueue.Arn") {
                g.dead_letter_queue.extend(actions);
            } else {
                assert!(
                    resource.contains("function:${AWS::StackName}-*"),
                    "{name}: Lambda actions only on this stack's functions: {resource}"
                );
                g.lambda.extend(actions);
            }
        }
    }
    g
}

#[test]
fn policies_grant_exactly_what_each_function_calls() {
    let resources = function_resources(&template());
    for f in FUNCTIONS {
        let g = granted(f.name, &resources[f.name]);
        let set = |actions: &[&str]| {
            actions
                .iter()
                .map(|a| (*a).to_owned())
                .collect::<BTreeSet<String>>()
        };
        assert_eq!(g.table, set(f.table_actions()), "{}: table actions", f.name);
        assert_eq!(
            g.lambda,
            set(f.lambda_actions()),
            "{}: Lambda actions",
            f.name
        );
        assert_eq!(g.queue, set(f.queue_actions()), "{}: queue actions", f.name);
        assert_eq!(
            g.dead_letter_queue,
            set(f.dead_letter_queue_actions()),
            "{}: dead-letter queue actions",
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
    assert!(
        redrive["maxReceiveCount"]
            .as_u64()
            .is_some_and(|n| (1..=10).contains(&n))
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

#[test]
fn only_the_fanout_consumes_the_queue_and_reports_partial_failures() {
    let resources = function_resources(&template());
    for f in FUNCTIONS {
        let sqs: Vec<&Value> = resources[f.name]["Properties"]["Events"]
            .as_mapping()
            .expect("events")
            .values()
            .filter(|e| e["Type"].as_str() == Some("SQS"))
            .collect();
        if f.serves != cloudapps::host::functions::Serves::FanOut {
            assert!(sqs.is_empty(), "{}: consumes the queue", f.name);
            continue;
        }
        assert_eq!(sqs.len(), 1, "{}", f.name);
        let p = &sqs[0]["Properties"];
        assert!(
            serde_yaml::to_string(&p["Queue"])
                .unwrap()
                .contains("EventsQueue.Arn")
        );
        assert_eq!(
            p["FunctionResponseTypes"][0].as_str(),
            Some("ReportBatchItemFailures")
        );
        // A batch must finish within the queue's visibility timeout, or it is redelivered
        // while still being handled.
        let timeout = resources[f.name]["Properties"]["Timeout"].as_u64().unwrap();
        let visibility = template()["Resources"]["EventsQueue"]["Properties"]["VisibilityTimeout"]
            .as_u64()
            .unwrap();
        assert!(
            visibility >= 6 * timeout,
            "visibility {visibility} s, timeout {timeout} s"
        );
    }
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
    let resources = function_resources(&t);
    let fanout = FUNCTIONS
        .iter()
        .find(|f| f.serves == cloudapps::host::functions::Serves::FanOut)
        .expect("a fan-out function");
    let sqs = resources[fanout.name]["Properties"]["Events"]
        .as_mapping()
        .expect("events")
        .values()
        .find(|e| e["Type"].as_str() == Some("SQS"))
        .expect("an SQS event");
    let queue = arn_of(&sqs["Properties"]["Queue"]);
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
fn provisioning_functions_know_every_app_function_by_name() {
    let resources = function_resources(&template());
    for f in FUNCTIONS.iter().filter(|f| !f.lambda_actions().is_empty()) {
        let spec = serde_yaml::to_string(
            &resources[f.name]["Properties"]["Environment"]["Variables"]["CLOUDAPPS_FUNCTIONS"],
        )
        .unwrap();
        for app_fn in FUNCTIONS.iter().filter(|a| a.app().is_some()) {
            assert!(
                spec.contains(&format!("{}=${{", app_fn.name)),
                "{}: CLOUDAPPS_FUNCTIONS lacks {}",
                f.name,
                app_fn.name
            );
        }
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
