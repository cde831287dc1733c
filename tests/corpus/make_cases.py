#!/usr/bin/env python3
"""Writes the guard's hand-labelled corpus: tests/corpus/cases/*.json (STIX bundles of our own
cases) and tests/corpus/expected.toml (the expected verdict of every object, OASIS and ours).

The expectations below are written by hand, case by case, from the policy's rules; they are not
produced by running the guard. Re-run after editing: python3 tests/corpus/make_cases.py
"""
import json, os, uuid

HERE = os.path.dirname(os.path.abspath(__file__))
NS = uuid.UUID("6b1c5f0e-5c1d-4d43-9a57-2a4b3f0c9e11")
TS = "2026-03-01T10:00:00.000Z"
GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
AMBER = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"


def sid(t, name):
    return f"{t}--{uuid.uuid5(NS, name)}"


def sdo(t, key, **props):
    o = {"type": t, "spec_version": "2.1", "id": sid(t, key), "created": TS, "modified": TS,
         "object_marking_refs": [GREEN]}
    o.update(props)
    return o


def ind(key, pattern, **kw):
    return sdo("indicator", key, name=key, pattern=pattern, pattern_type="stix",
               valid_from=TS, indicator_types=["malicious-activity"], **kw)


def sco(t, key, **props):
    o = {"type": t, "spec_version": "2.1", "id": sid(t, key), "object_marking_refs": [GREEN]}
    o.update(props)
    return o


# Each case: (object, expected rules or [] for accept, reason, offending values)
FILES = {}


def case(file, obj, rules, reason, values=(), context=None):
    FILES.setdefault(file, []).append(dict(obj=obj, rules=sorted(set(rules)), reason=reason,
                                           values=list(values), context=context))


F = "cases/customer-evasions.json"
case(F, ind("customer domain in pattern", "[domain-name:value = 'login.acme-bank.example']"),
     ["customer.domain/1"], "a subdomain of a registered customer domain, plain", ["acme-bank.example"])
case(F, ind("mixed case and trailing dot", "[domain-name:value = 'LOGIN.Acme-Bank.EXAMPLE.']"),
     ["customer.domain/1"], "customer domain in mixed case with a trailing dot", ["Acme-Bank.EXAMPLE"])
case(F, sdo("malware", "defanged in description", name="LoaderX", is_family=True,
            description="Beacons to portal[.]acme-bank[.]example every hour."),
     ["customer.domain/1"], "customer domain defanged with [.] in a description", ["acme-bank[.]example"])
case(F, sdo("malware", "dot-word defanged", name="LoaderY", is_family=True,
            description="C2 list includes acme-bank (dot) example as a decoy."),
     ["customer.domain/1"], "customer domain defanged with (dot)", ["acme-bank (dot) example"])
case(F, sdo("attack-pattern", "hxxp url in external reference", name="Credential phishing",
            external_references=[{"source_name": "lure", "url": "hxxps://vpn.acme-bank[.]example/login"}]),
     ["customer.domain/1"], "defanged hxxps URL to a customer host in an external reference", ["acme-bank"])
case(F, sdo("attack-pattern", "percent-encoded redirect", name="Open redirect abuse",
            external_references=[{"source_name": "sample",
                                  "url": "https://redirector.evil-cdn.example/r?u=https%3A%2F%2Fportal.acme%2Dbank%2Eexample%2F"}]),
     ["customer.domain/1"], "customer host percent-encoded inside a redirect URL", ["acme%2Dbank%2Eexample"])
case(F, sdo("campaign", "double percent-encoded", name="Op Redirect",
            description="Lure link https://evil.example/?next=portal.acme%252Dbank%252Eexample"),
     ["customer.domain/1"], "customer host double percent-encoded", ["acme%252Dbank"])
case(F, sdo("malware", "idn unicode", name="LoaderZ", is_family=True,
            description="Targets webmail.bücherhaus.example users' sessions."),
     ["customer.domain/1"], "IDN customer domain in Unicode (registered as punycode)", ["bücherhaus"])
case(F, sdo("malware", "idn upper unicode", name="LoaderW", is_family=True,
            description="Config string WEBMAIL.BÜCHERHAUS.EXAMPLE found in sample."),
     ["customer.domain/1"], "IDN customer domain in upper-case Unicode", ["BÜCHERHAUS"])
case(F, ind("idn punycode", "[domain-name:value = 'sso.xn--bcherhaus-q9a.example']"),
     ["customer.domain/1"], "IDN customer domain already in punycode", ["xn--bcherhaus-q9a"])
case(F, sdo("intrusion-set", "idn fullwidth dots", name="Set FW",
            description="Staging host cdn\uff0eglobex-insurance\u3002example seen."),
     ["customer.domain/1"], "customer domain with full-width dots", ["globex-insurance"])
case(F, ind("customer email mixed case plus tag", "[email-addr:value = 'attacker@evil-mail.example']",
            description="Lure sent from attacker@evil-mail.example to J.Doe.Personal+alerts@Mailbox.Example."),
     ["customer.email/1"], "registered customer e-mail address, mixed case with a +tag", ["J.Doe.Personal"])
case(F, sdo("report", "customer email defanged in report", name="Weekly phishing report", published=TS,
            object_refs=[sid("indicator", "customer domain in pattern")],
            description="The lure reached j.doe.personal[at]mailbox[.]example."),
     ["customer.email/1", "inside.mailbox/1"], "defanged customer e-mail in a report (also a victim mailbox)", ["j.doe.personal"])
case(F, ind("customer ip in pattern", "[ipv4-addr:value = '203.0.113.45']"),
     ["customer.network/1"], "address inside a registered customer /24", ["203.0.113.45"])
case(F, ind("ipv4-mapped ipv6", "[ipv6-addr:value = '::ffff:203.0.113.45']"),
     ["customer.network/1"], "customer address written IPv4-mapped IPv6", ["::ffff:203.0.113.45"])
case(F, ind("ipv4-mapped ipv6 hex", "[ipv6-addr:value = '::FFFF:CB00:712D']"),
     ["customer.network/1"], "customer address as IPv4-mapped IPv6 in hex groups", ["CB00:712D"])
case(F, ind("nat64", "[ipv6-addr:value = '64:ff9b::cb00:712d']"),
     ["customer.network/1"], "customer address embedded in a NAT64 address", ["cb00:712d"])
case(F, ind("decimal ipv4", "[ipv4-addr:value = '3405803821']"),
     ["customer.network/1"], "customer address in decimal notation", ["3405803821"])
case(F, sdo("malware", "octal ipv4 in description", name="LoaderO", is_family=True,
            description="Hard-coded C2 0313.0.0161.055 (octal)."),
     ["customer.network/1"], "customer address in octal dotted notation", ["0313.0.0161.055"])
case(F, sdo("tool", "hex ip url host", name="Downloader",
            description="Fetches http://0xcb007139/payload.bin"),
     ["customer.network/1"], "customer address as a hex URL host", ["0xcb007139"])
case(F, ind("wider cidr overlaps", "[ipv4-addr:value = '203.0.0.0/16']"),
     ["customer.network/1"], "a /16 that contains a customer /24 (overlap the other way)", ["203.0.0.0/16"])
case(F, ind("narrower cidr overlaps", "[ipv4-addr:value = '203.0.113.128/26']"),
     ["customer.network/1"], "a /26 inside a customer /24", ["203.0.113.128/26"])
case(F, ind("adjacent cidr does not overlap", "[ipv4-addr:value = '203.0.114.0/24']"),
     [], "the /24 next to a customer's: no overlap, and not special-use")
case(F, sdo("infrastructure", "customer ipv6", name="Relay",
            description="Proxy chain ends at 2001:db8:acce:12::7."),
     ["customer.network/1"], "address inside a registered customer IPv6 /48", ["2001:db8:acce:12::7"])
case(F, sdo("sighting", "customer account id", sighting_of_ref=sid("indicator", "customer ip in pattern"),
            count=3, description="Matched on support ticket for account VRC-004211."),
     ["customer.account/1"], "a string matching the sender's customer account-id format", ["VRC-004211"])
case(F, sdo("identity", "customer name as identity", name="ACME  bank", identity_class="organization"),
     ["customer.name/1"], "a registered customer name as an organisation identity", ["ACME  bank"])
case(F, sdo("vulnerability", "customer in vulnerability", name="CVE-2026-0001",
            description="Unpatched on gw.globex-insurance.example",
            external_references=[{"source_name": "cve", "external_id": "CVE-2026-0001"}]),
     ["customer.domain/1"], "a vulnerability that points at a customer host", ["globex-insurance"])
case(F, sco("file", "customer domain as a dictionary key",
            hashes={"SHA-256": "0" * 64, "acme-bank.example": "1" * 64}),
     ["customer.domain/1"], "customer domain hidden as a hashes key (path shows its position only)", ["acme-bank"])
case(F, sdo("malware", "custom property with customer", name="LoaderC", is_family=True,
            x_victim_host="mail.initech.example"),
     ["allow.property/1", "customer.domain/1"], "unknown custom property, and it names a customer host", ["initech", "x_victim_host"])
case(F, sco("url", "customer url sco", value="https://sso.initech.example/saml?RelayState=1"),
     ["customer.domain/1"], "URL observable on a customer host", ["initech"])

F = "cases/inside.json"
case(F, ind("rfc1918 in pattern", "[ipv4-addr:value = '192.168.10.5']"),
     ["inside.ip/1"], "RFC 1918 address: some network's inside", ["192.168.10.5"])
case(F, ind("rfc1918 cidr", "[ipv4-addr:value = '10.20.0.0/16']"),
     ["inside.ip/1"], "RFC 1918 range", ["10.20.0.0/16"])
case(F, sco("ipv4-addr", "decimal private sco", value="167772161"),
     ["inside.ip/1", "schema.value/1"] if False else ["inside.ip/1"], "10.0.0.1 written in decimal in an ipv4-addr value", ["167772161"])
case(F, ind("cgnat", "[ipv4-addr:value = '100.64.3.2']"),
     ["inside.ip/1"], "RFC 6598 shared address space", ["100.64.3.2"])
case(F, sdo("malware", "link-local and mapped private", name="LoaderL", is_family=True,
            description="Listens on fe80::1ff:fe23:4567:890a and ::ffff:192.168.1.10"),
     ["inside.ip/1"], "IPv6 link-local and IPv4-mapped private addresses", ["fe80::1ff:fe23:4567:890a", "192.168.1.10"])
case(F, sdo("malware", "unc path", name="Worm", is_family=True,
            description="Copies itself to \\\\FILESRV01\\share\\drop.exe"),
     ["inside.host/1"], "single-label file server in a UNC path", ["FILESRV01"])
case(F, ind("corp host", "[domain-name:value = 'dc01.acme.corp']"),
     ["inside.host/1"], "a .corp internal host name", ["dc01.acme.corp"])
case(F, ind("single label domain-name", "[domain-name:value = 'exchange01']"),
     ["inside.host/1"], "a single-label host name as a domain-name value", ["exchange01"])
case(F, sdo("tool", "intranet url", name="Stealer",
            description="Posts to http://intranet/login.aspx"),
     ["inside.host/1"], "single-label host in a URL", ["intranet"])
case(F, ind("home path in pattern", "[file:parent_directory_ref.path = 'C:\\\\Users\\\\jsmith\\\\AppData\\\\Roaming']"),
     ["inside.home-path/1"], "a victim's Windows home directory", ["jsmith"])
case(F, sdo("malware", "unix home path", name="Miner", is_family=True,
            description="Persists via /home/alice/.config/autostart/x.desktop"),
     ["inside.home-path/1"], "a victim's Unix home directory", ["alice"])
case(F, sdo("malware", "placeholder home path", name="Dropper", is_family=True,
            description="Drops C:\\Users\\%USERNAME%\\AppData\\Roaming\\svc.exe and /home/<user>/.cache/x"),
     [], "home paths with placeholders are intelligence, not a user")
case(F, ind("user-account pattern", "[user-account:account_login = 'jsmith']"),
     ["inside.account/1"], "a user account of a monitored environment", ["jsmith"])
case(F, sdo("report", "domain user in report", name="IR summary", published=TS,
            object_refs=[sid("indicator", "rfc1918 in pattern")],
            description="Lateral movement as ACMEBANK\\svc_backup was observed."),
     ["inside.account/1"], "DOMAIN\\user account in a victim-context report", ["svc_backup"])
case(F, ind("phishing recipient", "[email-message:to_refs[*].value = 'payroll@somecorp-mail.example' AND email-message:from_ref.value = 'ceo@lookalike-payroll.example']"),
     ["inside.mailbox/1"], "the recipient of a phishing mail is a victim's mailbox", ["payroll@somecorp-mail.example"])
case(F, ind("test-net documentation address", "[ipv4-addr:value = '192.0.2.10']"),
     [], "RFC 5737 documentation address: no one's network (policy: documentation values allowed)")

F = "cases/personal.json"
case(F, sdo("sighting", "victim card", sighting_of_ref=sid("indicator", "rfc1918 in pattern"),
            description="Skimmer captured card 4111 1111 1111 1111 at checkout."),
     ["personal.card/1"], "a victim's payment card in a sighting", ["4111 1111 1111 1111"])
case(F, sdo("report", "victim bank details", name="Fraud report", published=TS,
            object_refs=[sid("indicator", "rfc1918 in pattern")],
            description="Funds moved from IBAN GB82 WEST 1234 5698 7654 32; holder SSN 123-45-6789, NINO JG 12 34 56 C, phone +44 20 7946 0958."),
     ["personal.iban/1", "personal.ssn/1", "personal.nino/1", "personal.phone/1"],
     "a victim's IBAN, SSN, NINO and phone in a report", ["GB82 WEST", "123-45-6789", "JG 12 34 56 C", "7946 0958"])
case(F, sdo("threat-actor", "actor phone", name="Cobalt Kestrel", threat_actor_types=["criminal"],
            description="Operator registered domains with phone +7 495 555 01 23 and paid with card 5500 0000 0000 0004."),
     [], "an actor's own phone and card are intelligence (threat context)")
case(F, sdo("threat-actor", "actor about victim phone", name="Cobalt Heron", threat_actor_types=["criminal"],
            description="The actor called the victim on +44 20 7946 0000 to push the transfer."),
     ["personal.phone/1"], "a string about a victim inside a threat object is victim context", ["7946 0000"])
case(F, sdo("vulnerability", "invalid luhn not a card", name="CVE-2026-0002",
            description="Build 4111111111111112 is affected."),
     [], "a 16-digit number failing Luhn is not a card")

F = "cases/threat-intel.json"
case(F, ind("phishing sender", "[email-message:from_ref.value = 'billing@secure-payments-update.example']",
            description="Phishing sender billing@secure-payments-update.example"),
     [], "a phishing sender's address in an indicator is intelligence")
case(F, ind("phishing sender email-addr", "[email-addr:value = 'hr-dept@paycheck-portal.example']"),
     [], "a malicious sender address as email-addr in an indicator")
case(F, sdo("identity", "actor persona", name="Ugly Kestrel persona", identity_class="individual",
            contact_information="kestrel.persona@freemail.example", sectors=["government-national"]),
     [], "a named threat actor's persona e-mail under a law-enforcement purpose")
case(F, sdo("identity", "actor persona wrong purpose", name="Ugly Kestrel alias", identity_class="individual",
            contact_information="kestrel.alias@freemail.example"),
     ["allow.identity/1", "inside.mailbox/1"], "an individual under a purpose not listed for suspects' data is no persona: its e-mail is a mailbox", ["kestrel.alias"], context="research")
case(F, sdo("identity", "individual victim", name="Jane Roe", identity_class="individual",
            description="Victim of the wire fraud", contact_information="jane.roe@freemail.example"),
     ["allow.identity/1", "inside.mailbox/1"], "an individual described as a victim is not a persona", ["jane.roe"])
case(F, sdo("threat-actor", "actor with persona email", name="Kestrel", threat_actor_types=["criminal"],
            description="Registers infrastructure with kestrel.ops@freemail.example", aliases=["K3str3l"]),
     [], "a threat actor's persona e-mail in its description")
case(F, ind("public c2", "[ipv4-addr:value = '198.18.0.1'] OR [ipv4-addr:value = '45.33.32.156']"),
     ["inside.ip/1"], "198.18.0.0/15 is the benchmarking range (special-use)", ["198.18.0.1"])
case(F, ind("public c2 only", "[ipv4-addr:value = '45.33.32.156'] OR [domain-name:value = 'update.evil-cdn.example']"),
     [], "public C2 address and actor domain")
F = "cases/schema.json"
case(F, {k: v for k, v in ind("no tlp", "[domain-name:value = 'evil.example']").items() if k != "object_marking_refs"},
     ["tlp.count/1"], "no TLP marking")
case(F, ind("two tlp", "[domain-name:value = 'evil2.example']") | {"object_marking_refs": [GREEN, AMBER]},
     ["tlp.count/1"], "two TLP markings")
case(F, ind("red to unnamed recipient", "[domain-name:value = 'evil3.example']") | {"object_marking_refs": [RED]},
     ["tlp.red-recipient/1"], "TLP:RED to a recipient the policy does not name")
case(F, ind("id type mismatch", "[domain-name:value = 'evil4.example']") | {"id": sid("malware", "x")},
     ["schema.id/1"], "id prefix is not the object's type")
case(F, {k: v for k, v in ind("no spec version", "[domain-name:value = 'evil5.example']").items() if k != "spec_version"},
     ["schema.spec-version/1"], "SDO without spec_version")
case(F, ind("bad timestamp", "[domain-name:value = 'evil6.example']") | {"valid_from": "2026-02-30T10:00:00Z"},
     ["schema.timestamp/1"], "valid_from on a day that does not exist")
case(F, {k: v for k, v in ind("no pattern", "x").items() if k != "pattern"},
     ["schema.required/1"], "indicator without pattern")
case(F, sdo("malware", "is_family string", name="M", is_family="yes"),
     ["schema.value/1"], "is_family must be a boolean")
case(F, sco("user-account", "user account sco", account_login="jsmith"),
     ["allow.type/1"], "user-account may not cross", ["jsmith"])
case(F, sdo("location", "location sdo", country="GB"),
     ["allow.type/1"], "location may not cross")
case(F, sdo("sighting", "sighting where", sighting_of_ref=sid("indicator", "no tlp"),
            where_sighted_refs=[sid("identity", "victim org")]),
     ["allow.property/1"], "where_sighted_refs points at a victim")
case(F, ind("granular markings", "[domain-name:value = 'evil7.example']") | {"granular_markings": [{"marking_ref": AMBER, "selectors": ["description"]}]},
     ["allow.property/1"], "granular markings are not allowed")
case(F, ind("pcre pattern type", "rule x { condition: true }") | {"pattern_type": "pcre"},
     ["allow.pattern-type/1"], "pcre is not an allowed pattern type")
case(F, {k: v for k, v in sdo("marking-definition", "statement marking").items() if k not in ("object_marking_refs", "modified")} | {"definition_type": "statement", "definition": {"statement": "Copyright Acme"}},
     ["allow.type/1"], "a non-TLP marking definition")
case(F, ind("undeclared context", "[domain-name:value = 'evil8.example']"),
     ["context.declared/1"], "no purpose or legal basis declared", context="undeclared")

RAW = [
    ("cases/raw/duplicate-key.json",
     '{"type":"indicator","spec_version":"2.1","id":"%s","created":"%s","modified":"%s","name":"dup","pattern":"[domain-name:value = \'evil.example\']","pattern":"[domain-name:value = \'login.acme-bank.example\']","pattern_type":"stix","valid_from":"%s","object_marking_refs":["%s"]}'
     % (sid("indicator", "dup"), TS, TS, TS, GREEN),
     ["schema.duplicate-key/1"], "a repeated key could smuggle a value past a parser that keeps the first", ["acme-bank"]),
    ("cases/raw/not-json.json", "{\"type\": \"indicator\", ", ["schema.json/1"], "truncated JSON", []),
    ("cases/raw/array.json", "[1, 2, 3]", ["schema.json/1"], "an array, not one STIX object", []),
    # A bundle drops the marking-definitions its objects reference, so this one is sent alone.
    ("cases/raw/tlp-green-definition.json", json.dumps({
        "type": "marking-definition", "spec_version": "2.1", "id": GREEN, "created": "2022-10-01T00:00:00.000Z",
        "name": "TLP:GREEN", "extensions": {"extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
            "extension_type": "property-extension", "tlp_2_0": "green"}}}, indent=2),
     [], "the FIRST TLP 2.0 GREEN marking definition itself may cross", []),
]


def toml_str(s):
    return json.dumps(s, ensure_ascii=False)


def main():
    out = []
    out.append("# Expected verdicts of the guard's corpus, object by object (hand-labelled; see make_cases.py).")
    out.append("# tests/guard_corpus.rs screens every object of every file below and asserts these verdicts.")
    out.append("#")
    out.append("# Screening: policy = tests/corpus/policy.toml (the default policy + the register built from")
    out.append("# customers.csv under register_key); every file is also screened under policy/default.toml")
    out.append("# except the customer cases (which need the register). OASIS objects carry no TLP 2.0")
    out.append("# marking: with mark = \"green\" the test adds TLP:GREEN to objects that have no")
    out.append("# object_marking_refs, as the sender's tooling would; objects with markings keep theirs.")
    out.append("# refuse = the exact set of rule ids expected; values = offending strings that must never appear")
    out.append("# in a finding's path, rule or hint.")
    out.append("")
    out.append('register_key = "borderlog-test-register-key-2026"')
    out.append('register_key_id = "test-2026"')
    out.append("")
    out.append("[contexts.investigation]")
    out.append('sender = "vendor-research"\nrecipient = "police-network"\npurpose = "cybercrime investigation support"\nlegal_basis = "data sharing agreement 2026-04; GDPR Art. 6(1)(f)"')
    out.append("[contexts.research]")
    out.append('sender = "vendor-research"\nrecipient = "police-network"\npurpose = "threat research exchange"\nlegal_basis = "data sharing agreement 2026-04"')
    out.append("[contexts.undeclared]")
    out.append('sender = "vendor-research"\nrecipient = "police-network"\npurpose = ""\nlegal_basis = ""')
    out.append("")
    # OASIS bundles: hand-labelled refusals; everything else in them is expected accepted.
    oasis_refusals = {
        "indicator--33fe3b22-0201-47cf-85d0-97c02164528d": (["inside.ip/1"], "C2 'address' 10.0.0.0 is RFC 1918: meaningful only inside one network, for this sender a customer's", "10.0.0.0"),
        "indicator--c43a0a05-e8d2-4f64-ae37-3f3fb153f8d9": (["inside.ip/1"], "C2 'address' 10.0.0.0 is RFC 1918 (inside some network)", "10.0.0.0"),
        "indicator--53fe3b22-0201-47cf-85d0-97c02164528d": (["inside.ip/1"], "C2 'address' 10.0.0.0 is RFC 1918 (inside some network)", "10.0.0.0"),
        "campaign--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061": (["tlp.count/1", "tlp.foreign/1"], "two non-TLP-2.0 markings and no TLP 2.0 marking (kept as marked in the source)", None),
    }
    notes = {
        "identity--a9119a87-6576-46af-bfd7-4fbe55926671": "APT1 persona (individual) with e-mail: suspect data, accepted under a law-enforcement purpose",
        "identity--e88ab115-7768-4630-baa3-3d49a7d946ea": "APT1 persona (individual) with e-mail: suspect data, accepted under a law-enforcement purpose",
        "identity--0e9d20d9-fb11-42e3-94bc-b89fb5b007ca": "APT1 persona (individual) with e-mail: suspect data, accepted under a law-enforcement purpose",
        "identity--ecf1c7de-d96c-41c6-a510-b9c65cdc9e3b": "APT1 persona (individual) with e-mail: suspect data, accepted under a law-enforcement purpose",
        "ipv4-addr--1e4ffad7-0b88-41d4-ba4d-77d27490b956": "198.51.100.3 is RFC 5737 documentation space: accepted by policy choice",
        "domain-name--ecb120bf-2694-4902-a737-62b74539a41b": "example.com is RFC 2606 documentation: accepted by policy choice",
    }
    oasis_files = ["oasis/indicator-for-c2-ip-address.json", "oasis/indicator-to-campaign-relationship.json",
                   "oasis/indicators-for-C2-with-COA.json", "oasis/infrastructure.json",
                   "oasis/interop-objectmarking-test.json", "oasis/malicious-email-indicator-with-attachment.json",
                   "oasis/threat-reports/apt1.json", "oasis/threat-reports/poisonivy.json"]
    for f in oasis_files:
        d = json.load(open(os.path.join(HERE, f)))
        objs = d["objects"] if d.get("type") == "bundle" else [d]
        out.append("[[file]]")
        out.append(f"path = {toml_str(f)}")
        out.append('mark = "green"')
        out.append('context = "investigation"')
        for o in objs:
            out.append("[[file.object]]")
            out.append(f"id = {toml_str(o['id'])}")
            if o["id"] in oasis_refusals:
                rules, reason, val = oasis_refusals[o["id"]]
                out.append(f"refuse = {json.dumps(rules)}")
                out.append(f"reason = {toml_str(reason)}")
                if val:
                    out.append(f"values = [{toml_str(val)}]")
            else:
                out.append("accept = true")
                if o["id"] in notes:
                    out.append(f"note = {toml_str(notes[o['id']])}")
        out.append("")
    for f, cases in FILES.items():
        bundle = {"type": "bundle", "id": sid("bundle", f), "objects": [c["obj"] for c in cases]}
        with open(os.path.join(HERE, f), "w", encoding="utf-8") as fh:
            json.dump(bundle, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
        out.append("[[file]]")
        out.append(f"path = {toml_str(f)}")
        out.append('context = "investigation"')
        out.append("customer_cases = true")
        for c in cases:
            out.append("[[file.object]]")
            out.append(f"id = {toml_str(c['obj']['id'])}")
            if c["context"]:
                out.append(f"context = {toml_str(c['context'])}")
            if c["rules"]:
                out.append(f"refuse = {json.dumps(c['rules'])}")
            else:
                out.append("accept = true")
            out.append(f"{'reason' if c['rules'] else 'note'} = {toml_str(c['reason'])}")
            if c["values"]:
                out.append(f"values = [{', '.join(toml_str(v) for v in c['values'])}]")
        out.append("")
    for f, raw, rules, reason, values in RAW:
        with open(os.path.join(HERE, f), "w", encoding="utf-8") as fh:
            fh.write(raw)
        out.append("[[file]]")
        out.append(f"path = {toml_str(f)}")
        out.append('context = "investigation"')
        out.append("raw = true")
        out.append("customer_cases = true")
        out.append("[[file.object]]")
        out.append('id = "-"')
        if rules:
            out.append(f"refuse = {json.dumps(rules)}")
            out.append(f"reason = {toml_str(reason)}")
        else:
            out.append("accept = true")
            out.append(f"note = {toml_str(reason)}")
        if values:
            out.append(f"values = [{', '.join(toml_str(v) for v in values)}]")
        out.append("")
    with open(os.path.join(HERE, "expected.toml"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(out))


main()
