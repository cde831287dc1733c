#!/usr/bin/env bash
# Rebuilds fuzz/seeds/<target>/ from real data: the repository's vectors, corpus and examples,
# and a log written by a real `borderlog serve` (a disclosure, a refusal, a receipt, a
# redaction, the policy entry and their checkpoints). The seeds are committed; run this after a format change.
#
# usage: fuzz/seed.sh [path/to/borderlog]   (default: builds and uses the debug binary)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seeds="$root/fuzz/seeds"
bin=${1:-}
if [[ -z $bin ]]; then
  (cd "$root" && cargo build --quiet --bin borderlog)
  bin="${CARGO_TARGET_DIR:-$root/target}/debug/borderlog"
fi

work=$(mktemp -d)
server=""
cleanup() {
  [[ -n $server ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# A real log: the README walkthrough (and an erasure) on a private port.
port=$((20000 + RANDOM % 20000))
addr="127.0.0.1:$port"
cd "$work"
"$bin" init --keys keys >/dev/null
"$bin" serve --keys keys --data data --addr "$addr" 2>serve.log &
server=$!
for _ in $(seq 100); do
  "$bin" checkpoint --keys keys --addr "$addr" >/dev/null 2>&1 && break
  sleep 0.2
done
"$bin" submit "$root/examples/malicious-email-indicator-with-attachment.json" --tlp green \
  --keys keys --addr "$addr" >/dev/null
"$bin" submit "$root/examples/indicator-to-campaign-relationship.json" --tlp green \
  --keys keys --addr "$addr" >/dev/null 2>&1 || true # refused: a Refusal entry
"$bin" ack 2 --keys keys --addr "$addr" >/dev/null
"$bin" redact --entry 2 --item 0 --reason "fuzz seed" --keys keys --addr "$addr" >/dev/null
"$bin" checkpoint --keys keys --addr "$addr" --json >checkpoint.json
"$bin" export --out export.bin --keys keys --addr "$addr" >/dev/null
kill "$server" && wait "$server" 2>/dev/null || true
# A policy with a customer register in force (written after the run, so the log above used
# the published default).
"$bin" policy customers --keys keys --in "$root/tests/corpus/customers.csv" --write >/dev/null
server=""

rm -rf "$seeds" && mkdir -p "$seeds"/{entry,note,checkpoint,proof,guard,policy,segment,export}
python3 - "$root" "$seeds" "$work" <<'EOF'
import base64, glob, hashlib, json, os, struct, sys
root, seeds, work = sys.argv[1:]

def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(seeds, target, name), "wb") as f:
        f.write(data)

# The auditor's export of that log, whole and cut short.
export = open(os.path.join(work, "export.bin"), "rb").read()
put("export", export)
put("export", export[: len(export) // 2])

# The real log's records: entries, checkpoint notes; the segment itself (one file, prefix 0).
seg = open(os.path.join(work, "data/segments/00000000.seg"), "rb").read()
put("segment", b"\x00" + seg)
off, ends, erased = 0, [], []
while off < len(seg):
    length, _crc, kind = struct.unpack_from("<IIB", seg, off)
    if kind == 5:
        erased.append(off)
    body = seg[off + 9: off + 9 + length]
    off += 9 + length
    if kind == 1:
        put("entry", body)
    elif kind == 3:
        put("note", body)
        put("checkpoint", body)
        ends.append(off)
# An erasure torn by a crash (its checksum no longer matches): recovery must finish it.
for at in erased:
    torn = bytearray(seg)
    torn[at + 4] ^= 0xFF
    put("segment", b"\x00" + bytes(torn))
# The same log torn inside its last batch, and split over two segments at a batch boundary.
put("segment", b"\x00" + seg[: (ends[-2] + ends[-1]) // 2])
first = seg[: ends[0]]
put("segment", b"\x01" + struct.pack("<H", len(first)) + first + seg[ends[0]:])

# Signed-note and checkpoint vectors (tests/note_vectors.rs).
vec = open(os.path.join(root, "tests/note_vectors.rs"), encoding="utf-8").read()
consts = {}
for line in vec.replace("\n    \"", " \"").splitlines():
    if line.startswith("const ") and '"' in line:
        name = line.split()[1].rstrip(":")
        consts[name] = json.loads(line[line.index('"'): line.rindex('"') + 1].replace("\\u{2014}", "\u2014"))
for k, v in consts.items():
    put("note", v)
put("note", consts["PETER_TEXT"] + "\n" + consts["PETER_SIG"] + consts["ENOCH_SIG"])
put("note", "\n".join([consts["PETER_SKEY"], consts["PETER_VKEY"], consts["COSIG_VKEY"]]))
put("checkpoint", consts["TESSERA_BODY"])
put("checkpoint", consts["TESSERA_BODY"] + "\n" + consts["COSIG_LINE"])
# A body under the harness's log key name, so the sign-then-open path starts from a valid one.
put("checkpoint", "PeterNeumann\n15\nrKbDipCvhuX1GZ7g5BBe8sA6BbJ7ja/1nk427v383cs=\next one\n")

# RFC 6962 proof vectors (transparency-dev/merkle) in the proof target's layout.
def h(b64):
    return base64.b64decode(b64) if b64 else b"\x00" * 32
for path in glob.glob(os.path.join(root, "tests/vectors/merkle/inclusion/*/*.json")):
    v = json.load(open(path))
    put("proof", b"\x00" + struct.pack("<QQ", v["leafIdx"] & (2**64 - 1), v["treeSize"] & (2**64 - 1))
        + h(v.get("leafHash")) + h(v.get("root")) + b"".join(h(p) for p in v.get("proof") or []))
for path in glob.glob(os.path.join(root, "tests/vectors/merkle/consistency/*/*.json")):
    v = json.load(open(path))
    put("proof", b"\x01" + struct.pack("<QQ", v["size1"] & (2**64 - 1), v["size2"] & (2**64 - 1))
        + h(v.get("root1")) + h(v.get("root2")) + b"".join(h(p) for p in v.get("proof") or []))

# The guard: every example and corpus file as bytes.
for pattern in ["examples/*.json", "tests/corpus/cases/*.json", "tests/corpus/cases/raw/*",
                "tests/corpus/oasis/*.json", "tests/corpus/oasis/*/*.json"]:
    for path in glob.glob(os.path.join(root, pattern)):
        put("guard", open(path, "rb").read())

# Policies: the default, the corpus's, and the one the real server published.
for path in [os.path.join(root, "policy/default.toml"), os.path.join(root, "tests/corpus/policy.toml")] \
        + glob.glob(os.path.join(work, "keys/*.policy.toml")):
    put("policy", open(path, "rb").read())
EOF
for t in "$seeds"/*; do echo "$(basename "$t"): $(ls "$t" | wc -l) seeds"; done
