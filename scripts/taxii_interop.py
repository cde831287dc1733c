"""Interoperability check: the OASIS reference TAXII client (taxii2-client) and stix2 against a
live borderlog ledger (read side) and a live `borderlog gateway`, as a platform would use them.

Run by scripts/taxii-interop.sh, which starts both and passes their addresses:

    python3 scripts/taxii_interop.py LEDGER_URL GATEWAY_URL KEYS_DIR
"""

import json
import sys
import uuid

import stix2
from taxii2client.v21 import Server, as_pages

ledger_url, gateway_url, keys = sys.argv[1:4]
ca = f"{keys}/ca.crt"
# TLP 2.0 GREEN (FIRST's marking id); the guard refuses stix2.TLP_GREEN, which is TLP 1.0.
TLP2_GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"


def password(name):
    with open(f"{keys}/{name}.taxii-password") as f:
        return f.read().strip()


def check(condition, what):
    if not condition:
        print(f"FAILED: {what}")
        sys.exit(1)
    print(f"ok: {what}")


# The sender's platform pushes two STIX 2.1 objects made with stix2 through the gateway.
gateway = Server(gateway_url, user="vendor-research", password=password("vendor-research"), verify=ca)
root = gateway.api_roots[0]
check(root.max_content_length > 0, f"gateway API root advertises max_content_length {root.max_content_length}")
outbox = root.collections[0]
check(outbox.can_write and not outbox.can_read, f"gateway collection '{outbox.title}' is write-only")
run = uuid.uuid4()
indicator = stix2.Indicator(
    name="Emotet C2",
    pattern=f"[domain-name:value = 'c2-{run}.badcdn.example']",
    pattern_type="stix",
    indicator_types=["malicious-activity"],
    object_marking_refs=[TLP2_GREEN],
)
malware = stix2.Malware(name="Emotet", is_family=True)
envelope = {"objects": [json.loads(o.serialize()) for o in (indicator, malware)]}
status = outbox.add_objects(envelope, wait_for_completion=True, poll_interval=0.2, timeout=30)
check(status.status == "complete" and status.success_count == 2, f"add_objects: {status.success_count} of {status.total_count} disclosed")
print("   ", status.successes[0]["message"])
again = outbox.add_objects(envelope, wait_for_completion=True, poll_interval=0.2, timeout=30)
check(again.id == status.id, "the same envelope again gets the same status (not disclosed twice)")

# A refused push: a private address is the inside of somebody's network.
inside = stix2.Indicator(
    pattern="[ipv4-addr:value = '10.1.2.3']", pattern_type="stix", object_marking_refs=[TLP2_GREEN]
)
refused = outbox.add_objects({"objects": [json.loads(inside.serialize())]}, poll_interval=0.2, timeout=30)
message = refused.failures[0]["message"] if refused.failures else ""
check(refused.failure_count == 1 and "inside.ip/1" in message and "10.1.2.3" not in message,
      f"a refused object names the rule and path, not the value: {message}")

# The recipient's platform reads its collection on the ledger.
ledger = Server(ledger_url, user="police-network", password=password("police-network"), verify=ca)
check(ledger.api_roots[0].versions == ["application/taxii+json;version=2.1"], "ledger API root speaks TAXII 2.1")
inbox = [c for c in ledger.api_roots[0].collections if c.id == outbox.id]
check(len(inbox) == 1 and inbox[0].can_read and not inbox[0].can_write, "the ledger's collection has the gateway's id")
inbox = inbox[0]
objects = []
pages = 0
for page in as_pages(inbox.get_objects, per_request=1):
    pages += 1
    objects.extend(page.get("objects", []))
ids = [o["id"] for o in objects]
check(indicator.id in ids and malware.id in ids, f"as_pages read {len(objects)} objects in {pages} pages, the pushed ones among them")
parsed = [stix2.parse(o, allow_custom=True) for o in objects]
check(all(p.spec_version == "2.1" for p in parsed), "every object parses with stix2")
one = inbox.get_object(indicator.id)
check(one["objects"][0]["id"] == indicator.id, "get_object")
versions = inbox.object_versions(indicator.id)
check(len(versions["versions"]) == 1, f"object_versions: {versions['versions']}")
manifest = inbox.get_manifest()
record = [r for r in manifest["objects"] if r["id"] == indicator.id][0]
check(record["media_type"] == "application/stix+json;version=2.1" and "entry" in record["x_borderlog_provenance"],
      f"manifest record with provenance: entry {record['x_borderlog_provenance']['entry']}")
filtered = inbox.get_objects(type="malware")
check([o["type"] for o in filtered["objects"]] == ["malware"], "get_objects(type='malware')")
print("taxii2-client and stix2 interoperate with the ledger and the gateway")
