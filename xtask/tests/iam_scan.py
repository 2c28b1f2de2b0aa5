"""Static privilege-escalation scan of IAM policy documents with cloudsplaining (its
policy_sentry database of every action's access level and escalation paths).

usage: iam_scan.py POLICY.json [...]

Statements scoped to ARNs are scanned too (`flag_resource_arn_statements`: the deploy policy
scopes everything risky to names, which would otherwise hide it); statements with conditions are
left out, as cloudsplaining does by default (it cannot read them). Prints, per file, the findings
of each kind: PrivilegeEscalation, ResourceExposure, DataExfiltration,
InfrastructureModification (each a list of actions, or of escalation paths).
"""
import json
import sys

from cloudsplaining.command.scan_policy_file import scan_policy
from cloudsplaining.shared.constants import DEFAULT_EXCLUSIONS_CONFIG

out = {}
for path in sys.argv[1:]:
    report = scan_policy(json.load(open(path)), DEFAULT_EXCLUSIONS_CONFIG, flag_resource_arn_statements=True)
    out[path] = {
        kind: sorted(f["type"] if isinstance(f, dict) else f for f in v.get("findings", []))
        for kind, v in report.items()
        if isinstance(v, dict) and "findings" in v
    }
print(json.dumps(out, indent=1))
