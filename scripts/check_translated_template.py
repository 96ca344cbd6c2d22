"""Translates template.yaml as `sam deploy` submits it (aws-sam-translator), lints the result
with cfn-lint, and checks the IAM it creates: no SQS, Lambda or DynamoDB statement on a `*`
resource (but an app's functions by their `<app>_` prefix), no managed policy but basic
logging, and no role that may invoke a function.

Usage: check_translated_template.py template.yaml
"""

import json
import os
import re
import subprocess
import sys
import tempfile

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

# CloudWatch Logs only; every other grant is an inline statement the template test checks.
ALLOWED_MANAGED = {"arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}
# Invoking a function: no role of the stack may, or a tenant alias could be called past its
# resource policy (identity policies in the same account bypass it).
INVOKE = {"lambda:InvokeFunction", "lambda:InvokeFunctionUrl", "lambda:*", "*"}


class NoManagedPolicyLookups:
    def load(self):
        return {}


def resources(statement):
    r = statement.get("Resource", [])
    return r if isinstance(r, list) else [r]


# The functions the Apps plugin invokes are named `<app>_<version>_<function>`, one set per
# account and region: an app's are granted by that prefix.
APP_FUNCTIONS = re.compile(r":function:[a-z0-9][a-z0-9-]*_\*")


def wildcard(resource):
    """A resource that is `*`, or an ARN whose name part is a wildcard. A tenant-alias
    qualifier (`<function ARN>:t-*`) and an app's functions (`function:<app>_*`) are
    allowed."""
    text = json.dumps(resource)
    if resource == "*" or '"*"' in text:
        return True
    return "*" in APP_FUNCTIONS.sub(":function:app", text.replace(":t-*", ""))


def translate(path, code_uri="s3://bucket/key"):
    """The template as `sam deploy` submits it, its code packaged at `code_uri`."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template = yaml_parse(open(path).read())
    for r in template["Resources"].values():
        if r["Type"] == "AWS::Serverless::Function":
            # What `sam package` puts there.
            r["Properties"]["CodeUri"] = code_uri
    return transform(template, {}, NoManagedPolicyLookups())


def main(path):
    translated = translate(path)

    problems = []
    for name, r in translated["Resources"].items():
        if r["Type"] != "AWS::IAM::Role":
            continue
        props = r["Properties"]
        for arn in props.get("ManagedPolicyArns", []):
            if json.dumps(arn).strip('"') not in ALLOWED_MANAGED:
                problems.append(f"{name}: managed policy {arn}")
        for policy in props.get("Policies", []):
            for s in policy["PolicyDocument"]["Statement"]:
                actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
                if s.get("Effect") == "Allow" and INVOKE & set(actions):
                    problems.append(f"{name}: may invoke functions: {actions}")
                services = {a.split(":")[0] for a in actions}
                if services & {"sqs", "lambda", "dynamodb", "*"}:
                    for res in resources(s):
                        if wildcard(res):
                            problems.append(f"{name}: {actions} on {json.dumps(res)}")

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as out:
        json.dump(translated, out, indent=1)
    try:
        lint = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), "cfn-lint"), out.name]
        )
    finally:
        os.unlink(out.name)
    if lint.returncode != 0:
        problems.append("cfn-lint found problems in the translated template (above)")

    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        sys.exit(1)
    print("translated template: cfn-lint clean, no wildcard SQS/Lambda/DynamoDB grants, no invoke")


if __name__ == "__main__":
    main(sys.argv[1])
