"""Creates the stack `sam deploy` would submit (template.yaml translated by aws-sam-translator)
in moto server's CloudFormation, and checks that what was created fits together: every function
of the template exists under the name the template gives it (`<stack>-<binary>`, or for a
function the Apps plugin invokes, the name it derives, such as `hello_v1-1-0_send`), each
environment variable that names the table or a queue resolves to one that exists, the event
source mapping feeds the events queue to the fan-out, and the events queue dead-letters to its
queue.

moto cannot create the HTTP API, its stage, the CloudWatch alarm or the custom resource (it
would run the catalog step's code); those are listed, not checked. The routes are held to the
code by tests/template.rs, the alarm and the custom resource there too.

Usage: check_stack_on_moto.py template.yaml   (AWS_ENDPOINT_URL points at moto server)
"""

import io
import json
import os
import sys
import uuid
import zipfile

import boto3
import botocore.exceptions

from check_translated_template import translate
from samtranslator.yaml_helper import yaml_parse


def client(service):
    return boto3.client(
        service,
        endpoint_url=os.environ["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def main(path):
    stack = "stack" + uuid.uuid4().hex[:8]
    bucket = f"{stack}-code"
    s3 = client("s3")
    s3.create_bucket(Bucket=bucket)
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("bootstrap", "")
    s3.put_object(Bucket=bucket, Key="code.zip", Body=code.getvalue())

    translated = translate(path, f"s3://{bucket}/code.zip")
    not_run = sorted(
        name
        for name, r in translated["Resources"].items()
        if r["Type"] == "AWS::CloudFormation::CustomResource"
    )
    for name in not_run:
        del translated["Resources"][name]

    cfn = client("cloudformation")
    cfn.create_stack(
        StackName=stack,
        TemplateBody=json.dumps(translated),
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[{"ParameterKey": "OperatorTokenSha256", "ParameterValue": "0" * 64}],
    )
    try:
        cfn.get_waiter("stack_create_complete").wait(
            StackName=stack, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )
    except botocore.exceptions.WaiterError:
        pass  # reported below, with the failed resources
    status = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    problems = []
    if status["StackStatus"] != "CREATE_COMPLETE":
        problems.append(f"stack {status['StackStatus']}: {status.get('StackStatusReason')}")
        for e in cfn.describe_stack_events(StackName=stack)["StackEvents"]:
            if "FAILED" in e["ResourceStatus"]:
                problems.append(f"  {e['LogicalResourceId']}: {e.get('ResourceStatusReason')}")
        report(problems)

    created = cfn.list_stack_resources(StackName=stack)["StackResourceSummaries"]
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in created}
    unsupported = sorted(set(translated["Resources"]) - {r["LogicalResourceId"] for r in created if r["ResourceType"]})

    lam, sqs, ddb = client("lambda"), client("sqs"), client("dynamodb")
    template = yaml_parse(open(path).read())
    declared = {
        name: r["Properties"]["FunctionName"]
        for name, r in template["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function"
    }
    functions = set()
    for name, function_name in declared.items():
        # `!Sub "${AWS::StackName}-<binary>"` or a fixed name.
        if isinstance(function_name, dict):
            expected = function_name["Fn::Sub"].replace("${AWS::StackName}", stack)
        else:
            expected = function_name
        deployed = physical.get(name)
        if deployed != expected:
            problems.append(f"{name}: deployed as {deployed!r}, not {expected!r}")
            continue
        try:
            config = lam.get_function(FunctionName=deployed)["Configuration"]
        except lam.exceptions.ResourceNotFoundException:
            problems.append(f"{name}: no function {deployed}")
            continue
        functions.add(deployed)
        env = config.get("Environment", {}).get("Variables", {})
        table = env.get("TABLE_NAME")
        if table != physical.get("InstallTable"):
            problems.append(f"{name}: TABLE_NAME {table!r} is not the stack's table")
        for var in ("EVENTS_QUEUE_URL", "EVENTS_DLQ_URL"):
            if var in env:
                try:
                    sqs.get_queue_attributes(QueueUrl=env[var], AttributeNames=["QueueArn"])
                except Exception as e:  # noqa: BLE001 - any failure means it does not resolve
                    problems.append(f"{name}: {var} {env[var]!r} is no queue: {e}")
        if env.get("CLOUDAPPS_PROVISIONER", "lambda") != "lambda":
            problems.append(f"{name}: CLOUDAPPS_PROVISIONER {env['CLOUDAPPS_PROVISIONER']!r}")
    ddb.describe_table(TableName=physical["InstallTable"])

    queues = {
        q: sqs.get_queue_attributes(QueueUrl=physical[q], AttributeNames=["All"])["Attributes"]
        for q in ("EventsQueue", "EventsDeadLetterQueue")
    }
    redrive = json.loads(queues["EventsQueue"].get("RedrivePolicy", "{}"))
    if redrive.get("deadLetterTargetArn") != queues["EventsDeadLetterQueue"]["QueueArn"]:
        problems.append(f"EventsQueue dead-letters to {redrive.get('deadLetterTargetArn')!r}")
    mappings = lam.list_event_source_mappings()["EventSourceMappings"]
    ours = [m for m in mappings if m["FunctionArn"].split(":")[-1] in functions]
    if [
        (m["EventSourceArn"], m["FunctionArn"].split(":")[-1]) for m in ours
    ] != [(queues["EventsQueue"]["QueueArn"], f"{stack}-events-fanout")]:
        problems.append(f"event source mappings: {ours}")

    print(
        f"stack on moto: {len(functions)} functions, table, queues and event source mapping "
        f"created and wired; not created by moto: {', '.join(unsupported + not_run)}"
    )
    report(problems)


def report(problems):
    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1])
