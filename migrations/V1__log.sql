-- borderlog's log in PostgreSQL (src/store/postgres/). Laid out after transparency-dev/tessera's
-- PostgreSQL driver: the Merkle tree as tiles (one row per 256 node hashes of one level), and a
-- single-row tree state; unlike tessera, entries are one row each, because the read paths
-- filter them by kind, party and time with SQL indexes.

-- The one row of tree state, and the writer's fencing epoch: every append transaction locks
-- this row, checks that `epoch` is still the one its process set when it took the writer role
-- and that `size` is the size it builds on, and moves `size` on.
CREATE TABLE tree_state (
    id smallint PRIMARY KEY CHECK (id = 0),
    size bigint NOT NULL,
    -- Leaf hash of the last entry (32 zero bytes while empty).
    tip bytea NOT NULL,
    -- Server time of the last entry: the next may not be earlier.
    last_time_ms bigint NOT NULL,
    epoch bigint NOT NULL,
    -- Who took the writer role at `epoch` (host and process id), for operators and refusals.
    writer text NOT NULL
);
INSERT INTO tree_state VALUES (0, 0, decode(repeat('00', 32), 'hex'), -9223372036854775808, 0, '');

-- Merkle nodes: row (level, idx) holds the hashes of nodes idx*256 .. idx*256+255 of `level`
-- (level 0: the leaf hashes), 32 bytes each, grown until full and then never changed.
CREATE TABLE subtree (
    level smallint NOT NULL,
    idx bigint NOT NULL,
    nodes bytea NOT NULL,
    PRIMARY KEY (level, idx)
);

-- Entries exactly as signed into the log (encoded pb.Entry), with what reads filter on.
CREATE TABLE entries (
    idx bigint PRIMARY KEY,
    leaf bytea NOT NULL,
    time_ms bigint NOT NULL,
    kind integer NOT NULL,
    bytes bytea NOT NULL
);
CREATE INDEX entries_leaf ON entries (leaf);
CREATE INDEX entries_time ON entries (time_ms, idx);
CREATE INDEX entries_kind ON entries (kind, idx);

-- The parties each entry involves, for per-party scans.
CREATE TABLE entry_parties (
    party text NOT NULL,
    idx bigint NOT NULL,
    PRIMARY KEY (party, idx)
);

-- Once-only claims (a sender's nonce, a receipt, an erasure): the key is Claim::key().
CREATE TABLE claims (
    claim bytea PRIMARY KEY,
    idx bigint NOT NULL
);

-- Lookups by STIX id ('s' || id) and by item commitment ('c' || commitment).
CREATE TABLE lookups (
    key bytea NOT NULL,
    idx bigint NOT NULL,
    PRIMARY KEY (key, idx)
);

-- Item payloads beside their commitments. Erasure overwrites the row in place (salt and
-- content emptied, erased set) in the transaction of the Redaction entry.
CREATE TABLE payloads (
    commitment bytea PRIMARY KEY,
    salt bytea NOT NULL,
    content bytea NOT NULL,
    erased boolean NOT NULL DEFAULT false
);

-- Every signed checkpoint, by tree size.
CREATE TABLE checkpoints (
    size bigint PRIMARY KEY,
    note text NOT NULL
);

-- Witnesses' cosignatures; `key` is tree size || key id || name, the order they are read in.
CREATE TABLE cosignatures (
    key bytea PRIMARY KEY,
    size bigint NOT NULL,
    line text NOT NULL
);
